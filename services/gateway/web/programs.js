// Programs: the list, and one program's page: the editor (highlighting, live diagnostics), save and
// delete, a test-run against a chosen symbol, the versions with a diff, and the AI chat beside it.

import * as api from "./api.js";
import { createChat } from "./chat.js";
import { diffView } from "./diff.js";
import { createEditor } from "./editor.js";
import {
  TIMEFRAMES, badge, clear, errorBox, errorText, field, h, jsonBlock, money, num, parseJsonObject, select, statusBadge, table, tabs, toast, when,
} from "./dom.js";

const TEMPLATE = `fn run(ctx) {
    let rsi = ctx.rsi(14);
    if is_null(rsi) {
        return;
    }
    if rsi < 30 && ctx.position() == null {
        ctx.buy(ctx.symbol, 0.01, "oversold");
    } else if rsi > 70 && ctx.position() != null {
        ctx.close(ctx.symbol, "overbought");
    } else {
        ctx.hold("rsi " + str(round(rsi, 1)));
    }
}
`;

let firstListRender = true;
let symbolsCache = null;

export async function symbols() {
  if (!symbolsCache) symbolsCache = api.get("available-symbols").then((r) => r.symbols).catch(() => { symbolsCache = null; return ["BTC", "ETH"]; });
  return symbolsCache;
}

export async function render(main, { id }) {
  if (id === undefined) return renderList(main);
  return renderEditor(main, id);
}

async function renderList(main) {
  const list = h("div", {}, h("p", { class: "muted" }, "Loading programs…"));
  clear(main,
    h("div", { class: "row center" }, h("h1", { class: "grow" }, "Programs"), h("a", { class: "button primary", href: "#/programs/new" }, "New program")),
    list);
  let rows = [];
  let cursor = null;
  const columns = [
    { key: "name", label: "Name", render: (p) => h("a", { href: `#/programs/${p.id}` }, p.name) },
    { key: "description", label: "Description", render: (p) => h("span", { class: "muted" }, p.description || "") },
    { key: "version", label: "Version", num: true },
    { key: "enabled", label: "Enabled", render: (p) => (p.enabled ? badge("enabled", "good") : badge("disabled")) },
    { key: "updated_at", label: "Updated", render: (p) => when(p.updated_at || p.created_at) },
  ];
  const more = h("button", { type: "button", hidden: true, onclick: () => load() }, "Load more");
  let view = null;
  async function load() {
    try {
      const { items, next } = await api.page("/api/programs/", { limit: 100, cursor });
      rows = rows.concat(items);
      cursor = next;
    } catch (err) {
      clear(list, errorBox(err));
      return;
    }
    if (!view) {
      view = table(columns, rows, { caption: "Programs", empty: "No programs yet: create one.", onRow: (p) => { location.hash = `#/programs/${p.id}`; } });
      clear(list, h("div", { class: "panel" }, view, more));
    } else view.update(rows);
    more.hidden = !cursor;
  }
  await load();
  if (firstListRender) {
    firstListRender = false;
    performance.mark("programs-rendered");
  }
}

async function renderEditor(main, id) {
  let program = { id: null, name: "", description: "", code: TEMPLATE, enabled: true, version: 0 };
  if (id !== "new") {
    try {
      program = await api.get(String(id));
    } catch (err) {
      clear(main, h("h1", {}, `Program ${id}`), errorBox(err), h("a", { href: "#/programs" }, "Back to programs"));
      return;
    }
  }
  let saved = program.code;
  const title = h("h1", { class: "grow" }, program.id ? program.name : "New program");
  const versionBadge = h("span", { class: "muted" }, program.id ? `version ${program.version}` : "not saved yet");
  const name = h("input", { value: program.name, required: true, maxlength: 100, "data-testid": "name" });
  const description = h("input", { value: program.description });
  const enabled = h("input", { type: "checkbox", checked: program.enabled, id: "prog-enabled" });
  const dirtyNote = h("span", { class: "editor-hint warn", "aria-live": "polite" });
  const editor = createEditor({ value: program.code, onChange: () => markDirty() });
  const saveError = h("div");
  const markDirty = () => { dirtyNote.textContent = editor.value !== saved ? "Unsaved changes" : ""; };

  const saveButton = h("button", { type: "button", class: "primary", onclick: save, "data-testid": "save" }, "Save");
  const deleteButton = h("button", { type: "button", class: "danger", onclick: remove, hidden: !program.id }, "Delete");
  const backtestLink = h("a", { class: "button", href: program.id ? `#/backtests?program=${program.id}` : "#/backtests", hidden: !program.id }, "Backtest…");

  async function save() {
    clear(saveError);
    const body = { name: name.value.trim(), code: editor.value, description: description.value, enabled: enabled.checked };
    saveButton.disabled = true;
    try {
      if (!program.id) {
        const created = await api.post("/api/programs/", body);
        toast(`Saved “${body.name}”`, "good");
        location.hash = `#/programs/${created.id}`;
        return;
      }
      program = await api.put(String(program.id), body);
      saved = program.code;
      title.textContent = program.name;
      versionBadge.textContent = `version ${program.version}`;
      markDirty();
      toast(`Saved version ${program.version}`, "good");
      versions.reload();
    } catch (err) {
      clear(saveError, errorBox(err));
      const errors = err.details && err.details.errors;
      if (errors && errors[0]) editor.goTo(errors[0].line, errors[0].column);
    } finally {
      saveButton.disabled = false;
    }
  }

  async function remove() {
    if (!confirm(`Delete “${program.name}” and all its versions?`)) return;
    try {
      await api.del(String(program.id));
      toast(`Deleted “${program.name}”`);
      location.hash = "#/programs";
    } catch (err) {
      clear(saveError, errorBox(err));
    }
  }

  editor.textarea.addEventListener("keydown", (e) => {
    if ((e.ctrlKey || e.metaKey) && e.key === "s") { e.preventDefault(); save(); }
  });

  const testRun = testRunPanel(() => program, () => editor.value !== saved || !program.id ? editor.value : null, editor);
  const versions = versionsPanel(() => program, editor);
  const panes = h("div", { role: "tabpanel" });
  const tabBar = tabs([["test", "Test-run"], ["versions", "Versions"]], (name) => {
    panes.setAttribute("aria-labelledby", `tab-${name}`);
    clear(panes, name === "test" ? testRun : versions.el);
    if (name === "versions") versions.reload();
  }, "test");

  const chat = createChat({
    programId: () => program.id,
    onUseCode: (code) => { editor.value = code; markDirty(); editor.textarea.focus(); toast("The proposed code is in the editor (not saved yet)"); },
  });

  clear(main,
    h("div", { class: "row center" }, h("a", { href: "#/programs" }, "← Programs")),
    h("div", { class: "split" },
      h("section", { "aria-label": "Program" },
        h("div", { class: "row center" }, title, versionBadge),
        h("div", { class: "panel" },
          h("div", { class: "fields" }, field("Name", name), field("Description", description),
            h("div", { class: "field" }, h("label", { class: "inline", for: "prog-enabled" }, enabled, "Enabled"))),
          h("div", { style: "margin-top:.6rem" }, editor.el),
          saveError,
          h("div", { class: "row center" }, saveButton, dirtyNote, h("span", { class: "grow" }), backtestLink, deleteButton)),
        h("div", { class: "panel" }, tabBar.el, panes)),
      chat.el));
  if (!program.id) name.focus();
}

function testRunPanel(getProgram, getUnsavedCode, editor) {
  const symbol = select(["BTC"], "BTC", { "data-testid": "test-symbol" });
  symbols().then((list) => { clear(symbol, list.map((s) => h("option", { value: s, selected: s === "BTC" }, s))); });
  const timeframe = select(TIMEFRAMES, "1h");
  const balance = h("input", { type: "number", min: "0", step: "any", value: "10000" });
  const params = h("textarea", { rows: 2, placeholder: '{"size": 0.01}', class: "mono" });
  const out = h("div", { "aria-live": "polite", "data-testid": "test-result" });
  const run = h("button", { type: "button", class: "primary", onclick: go, "data-testid": "test-run" }, "Run once");

  async function go() {
    const program = getProgram();
    const code = getUnsavedCode();
    let body;
    try {
      body = { symbol: symbol.value, timeframe: timeframe.value, params: parseJsonObject(params.value, "params"),
        account: { balance: Number(balance.value || 0) } };
    } catch (err) { clear(out, errorBox(err)); return; }
    if (code !== null) body.code = code; else body.program_id = program.id;
    run.disabled = true;
    clear(out, h("p", { class: "muted" }, "Running…"));
    try {
      clear(out, testResult(await api.post("test-run", body), editor));
    } catch (err) {
      clear(out, errorBox(err));
    } finally {
      run.disabled = false;
    }
  }

  return h("div", {},
    h("p", { class: "muted" }, "Runs the program once against the market now and a paper account. Nothing is sent anywhere."),
    h("div", { class: "row" }, field("Symbol", symbol), field("Timeframe", timeframe), field("Paper balance (USD)", balance),
      field("Params (JSON)", params, { cls: "grow" }), run),
    out);
}

export function testResult(r, editor) {
  const decision = r.result || {};
  const parts = [
    h("div", { class: "row center" }, statusBadge(r.status),
      h("strong", { "data-testid": "decision" }, decision.action ? `${decision.action}${decision.quantity ? " " + num(decision.quantity, 8) : ""} ${decision.symbol || ""}` : "no decision"),
      decision.reason ? h("span", { class: "muted" }, `“${decision.reason}”`) : null),
    h("dl", { class: "kv" },
      h("dt", {}, "Market"), h("dd", {}, `${r.symbol || ""} ${r.timeframe || ""} at ${money(r.price)} (${when(r.time)})`),
      h("dt", {}, "Data source"), h("dd", { "data-testid": "source" }, r.source || "—"),
      h("dt", {}, "Steps / time"), h("dd", {}, `${num(r.steps, 0)} steps, ${num(r.duration_ms, 2)} ms`),
      r.version ? [h("dt", {}, "Version"), h("dd", {}, String(r.version))] : null),
  ];
  if (r.note) parts.push(h("div", { class: "note-box" }, r.note));
  if (r.error) {
    const e = r.error;
    parts.push(h("div", { class: "error-box", role: "alert" },
      `${e.kind} error${e.line ? ` at line ${e.line}, column ${e.column}` : ""}: ${e.message} `,
      e.line && editor ? h("button", { type: "button", class: "small", onclick: () => editor.goTo(e.line, e.column) }, "Show in editor") : null));
  }
  parts.push(h("h3", {}, "Orders filled"), table([
    { key: "side", label: "Side" }, { key: "symbol", label: "Symbol" }, { key: "quantity", label: "Quantity", num: true },
    { key: "price", label: "Price", num: true, render: (f) => money(f.price) }, { key: "fee", label: "Fee", num: true, render: (f) => money(f.fee) },
    { key: "order_reason", label: "Reason" },
  ], r.fills || [], { caption: "Filled orders", empty: "No fills." }));
  if (r.rejected && r.rejected.length) parts.push(h("h3", {}, "Orders rejected"), table([
    { key: "action", label: "Action" }, { key: "symbol", label: "Symbol" }, { key: "quantity", label: "Quantity", num: true }, { key: "reason", label: "Why" },
  ], r.rejected, { caption: "Rejected orders" }));
  if (r.account_note) parts.push(h("p", { class: "muted" }, r.account_note));
  parts.push(h("h3", {}, "Log"), h("pre", { class: "code-block", "data-testid": "log" }, (r.logs || []).join("\n") || "(empty)"));
  if (r.state && Object.keys(r.state).length) parts.push(h("h3", {}, "State after the run"), jsonBlock(r.state));
  return h("div", {}, parts);
}

function versionsPanel(getProgram, editor) {
  const el = h("div", {}, h("p", { class: "muted" }, "Save the program to see its versions."));
  let loaded = [];
  async function reload() {
    const program = getProgram();
    if (!program.id) return;
    try {
      loaded = await api.all(`/api/programs/${program.id}/versions`, { limit: 100 }, 500);
    } catch (err) { clear(el, errorBox(err)); return; }
    if (loaded.length === 0) { clear(el, h("p", { class: "muted" }, "No versions.")); return; }
    const options = loaded.map((v) => [v.version, `version ${v.version} (${when(v.created_at)})`]);
    const from = select(options, loaded.length > 1 ? loaded[1].version : loaded[0].version);
    const to = select(options, loaded[0].version);
    const diff = h("div");
    const show = () => {
      const a = loaded.find((v) => String(v.version) === from.value);
      const b = loaded.find((v) => String(v.version) === to.value);
      clear(diff, diffView(a.code, b.code, `Changes from version ${a.version} to version ${b.version}`));
    };
    from.addEventListener("change", show);
    to.addEventListener("change", show);
    const open = h("button", { type: "button", onclick: () => {
      const v = loaded.find((x) => String(x.version) === to.value);
      editor.value = v.code;
      toast(`Version ${v.version} is in the editor; save to make it the latest`);
    } }, "Open the right-hand version in the editor");
    clear(el, h("div", { class: "row" }, field("From", from), field("To", to), open), diff);
    show();
  }
  return { el, reload };
}
