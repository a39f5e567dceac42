// Live: paper accounts (balances, positions, fills), signal pools (a builder for conditions), bindings
// (create, enable/disable, preview-run, delete) and the execution log (filters, detail). The visible
// tab polls its data every few seconds, so runs show up as the clock fires them.

import * as api from "./api.js";
import {
  TIMEFRAMES, badge, clear, errorBox, field, h, jsonBlock, money, num, parseJsonObject, poll, select, signClass, statusBadge, table, tabs, toast, when,
} from "./dom.js";
import { symbols } from "./programs.js";

const REFRESH_MS = 2000;
const METRIC_SUGGESTIONS = ["price", "change", "change(4)", "rsi(14)", "sma(20)", "sma(50)", "ema(20)", "atr(14)", "vwap", "obv",
  "macd.value", "macd.signal", "macd.histogram", "bbands(20,2).upper", "bbands(20,2).lower", "stoch.k", "stoch.d", "volume_spike", "volume"];
const OPERATORS = [["<", "<"], ["<=", "≤"], [">", ">"], [">=", "≥"], ["crosses_above", "crosses above"], ["crosses_below", "crosses below"]];

export async function render(main, { tab }) {
  const panel = h("div", { role: "tabpanel" });
  const names = [["accounts", "Accounts"], ["pools", "Signal pools"], ["bindings", "Bindings"], ["executions", "Executions"]];
  if (!names.some(([n]) => n === tab)) tab = "bindings";
  const bar = tabs(names, (name) => {
    history.replaceState(null, "", `#/live/${name}`);
    panel.setAttribute("aria-labelledby", `tab-${name}`);
    clear(panel);
    ({ accounts, pools, bindings, executions })[name](panel);
  }, tab);
  clear(main, h("h1", {}, "Live trading"),
    h("p", { class: "muted" }, "Paper accounts only: fills at the current price with the backtests' broker; nothing goes to an exchange."),
    bar.el, panel);
}

const lookups = async () => {
  const [programs, accountsList, poolsList] = await Promise.all([
    api.all("/api/programs/", { limit: 500 }, 2000).catch(() => []),
    api.all("accounts", { limit: 500 }, 2000).catch(() => []),
    api.all("signal-pools", { limit: 500 }, 2000).catch(() => []),
  ]);
  return { programs, accounts: accountsList, pools: poolsList };
};

// ---- accounts -------------------------------------------------------------------------------------

function accounts(panel) {
  const name = h("input", { required: true, maxlength: 100, placeholder: "Main account", "data-testid": "account-name" });
  const capital = h("input", { type: "number", min: "1", step: "any", value: "10000" });
  const fee = h("input", { type: "number", min: "0", max: "0.1", step: "any", value: "0.0005" });
  const leverage = h("input", { type: "number", min: "1", max: "100", step: "any", value: "1" });
  const formOut = h("div");
  const listBox = h("div");
  const detail = h("div");
  let current = null;
  let rows = [];
  const view = table([
    { key: "name", label: "Account" }, { key: "mode", label: "Mode", render: (a) => badge(a.mode) },
    { key: "balance", label: "Balance", num: true, render: (a) => money(a.balance) }, { key: "equity", label: "Equity", num: true, render: (a) => money(a.equity) },
    { key: "realized_pnl", label: "Realized P&L", num: true, render: (a) => h("span", { class: signClass(a.realized_pnl) }, money(a.realized_pnl)) },
    { key: "fees_paid", label: "Fees", num: true, render: (a) => money(a.fees_paid) },
    { key: "positions", label: "Positions", num: true, sort: (a) => a.positions.length, render: (a) => String(a.positions.length) },
  ], rows, { caption: "Accounts", empty: "No accounts yet.", onRow: (a) => { current = a.id; showDetail(); } });
  clear(listBox, view);

  const load = async () => {
    rows = await api.all("accounts", { limit: 500 }, 2000);
    view.update(rows);
  };
  async function showDetail() {
    if (!current) return;
    let account, fills;
    try {
      [account, { items: fills }] = await Promise.all([api.get(`accounts/${current}`), api.page(`accounts/${current}/fills`, { limit: 100 })]);
    } catch (err) { clear(detail, errorBox(err)); return; }
    clear(detail, h("div", { class: "panel" },
      h("div", { class: "row center" }, h("h2", { class: "grow" }, `Account “${account.name}” (#${account.id})`),
        h("button", { type: "button", onclick: async () => {
          if (!confirm("Reset this account to its initial capital? Its positions are dropped.")) return;
          try { await api.post(`accounts/${account.id}/reset`); toast("Account reset"); showDetail(); } catch (err) { toast(err.message, "bad"); }
        } }, "Reset"),
        h("button", { type: "button", class: "danger", onclick: async () => {
          if (!confirm("Delete this account, its disabled bindings and its fills?")) return;
          try { await api.del(`accounts/${account.id}`); current = null; clear(detail); load(); } catch (err) { toast(err.message, "bad"); }
        } }, "Delete")),
      h("dl", { class: "kv" },
        h("dt", {}, "Balance / equity"), h("dd", {}, `${money(account.balance)} / ${money(account.equity)}`),
        h("dt", {}, "Initial capital"), h("dd", {}, money(account.initial_capital)),
        h("dt", {}, "Fee rate / leverage"), h("dd", {}, `${num(account.fee_rate * 100, 4)} % / ${num(account.leverage, 2)}×`),
        h("dt", {}, "Realized P&L / fees"), h("dd", {}, `${money(account.realized_pnl)} / ${money(account.fees_paid)}`),
        h("dt", {}, "Created"), h("dd", {}, when(account.created_at)), account.reset_at ? [h("dt", {}, "Reset"), h("dd", {}, when(account.reset_at))] : null),
      h("h3", {}, "Positions"),
      table([{ key: "symbol", label: "Symbol" }, { key: "side", label: "Side" }, { key: "size", label: "Size", num: true, render: (p) => num(p.size, 6) },
        { key: "entry_price", label: "Entry", num: true, render: (p) => money(p.entry_price) },
        { key: "unrealized_pnl", label: "Unrealized", num: true, render: (p) => h("span", { class: signClass(p.unrealized_pnl) }, money(p.unrealized_pnl)) },
        { key: "take_profit", label: "TP", num: true, render: (p) => money(p.take_profit) }, { key: "stop_loss", label: "SL", num: true, render: (p) => money(p.stop_loss) }],
      account.positions, { caption: "Positions", empty: "No open positions." }),
      h("h3", {}, "Fills (latest 100)"),
      table([{ key: "time", label: "Time", render: (f) => when(f.time) }, { key: "symbol", label: "Symbol" }, { key: "side", label: "Side" },
        { key: "quantity", label: "Qty", num: true, render: (f) => num(f.quantity, 6) }, { key: "price", label: "Price", num: true, render: (f) => money(f.price) },
        { key: "fee", label: "Fee", num: true, render: (f) => money(f.fee) },
        { key: "realized_pnl", label: "Realized", num: true, render: (f) => h("span", { class: signClass(f.realized_pnl) }, money(f.realized_pnl)) },
        { key: "reason", label: "Reason" }, { key: "execution_id", label: "Execution", render: (f) => (f.execution_id ? `#${f.execution_id}` : "—") }],
      fills, { caption: "Fills", empty: "No fills yet." })));
  }
  const form = h("form", { onsubmit: async (e) => {
    e.preventDefault();
    clear(formOut);
    try {
      const created = await api.post("accounts", { name: name.value.trim(), initial_capital: Number(capital.value), fee_rate: Number(fee.value), leverage: Number(leverage.value) });
      toast(`Account “${created.name}” created`, "good");
      name.value = "";
      current = created.id;
      await load();
      showDetail();
    } catch (err) { clear(formOut, errorBox(err)); }
  } }, h("div", { class: "row" }, field("Name", name), field("Initial capital (USD)", capital), field("Fee rate", fee), field("Leverage", leverage),
    h("button", { type: "submit", class: "primary", "data-testid": "account-create" }, "Create paper account")), formOut);
  clear(panel, h("div", { class: "panel" }, h("h2", {}, "New paper account"), form), h("div", { class: "panel" }, h("h2", {}, "Accounts"), listBox), detail);
  load().catch((err) => clear(listBox, errorBox(err)));
  poll(listBox, REFRESH_MS * 2, async () => { await load(); await showDetail(); });
}

// ---- signal pools ---------------------------------------------------------------------------------

function describeSignal(s) {
  const op = (OPERATORS.find(([v]) => v === s.operator) || [, s.operator])[1];
  return `${s.symbol} ${s.timeframe}: ${s.metric} ${op} ${s.value}`;
}

function signalRow(symbolList, onRemove, initial = {}) {
  const symbol = select(symbolList, initial.symbol || "BTC", { "aria-label": "Symbol" });
  const timeframe = select(TIMEFRAMES, initial.timeframe || "1m", { "aria-label": "Timeframe" });
  const metric = h("input", { value: initial.metric || "rsi(14)", list: "metric-suggestions", "aria-label": "Metric", required: true });
  const operator = select(OPERATORS, initial.operator || "crosses_below", { "aria-label": "Operator" });
  const value = h("input", { value: initial.value ?? "30", list: "metric-suggestions", "aria-label": "Value: a number or a metric", required: true });
  const row = h("div", { class: "signal-row", role: "group", "aria-label": "Condition" },
    field("Symbol", symbol), field("Timeframe", timeframe), field("Metric", metric), field("Operator", operator), field("Value (number or metric)", value),
    h("button", { type: "button", class: "small danger", "aria-label": "Remove this condition", onclick: () => onRemove(row) }, "✕"));
  row.read = () => {
    const v = value.value.trim();
    return { symbol: symbol.value, timeframe: timeframe.value, metric: metric.value.trim(), operator: operator.value, value: v !== "" && !Number.isNaN(Number(v)) ? Number(v) : v };
  };
  return row;
}

async function pools(panel) {
  const symbolList = await symbols();
  const name = h("input", { required: true, maxlength: 100, placeholder: "Oversold BTC", "data-testid": "pool-name" });
  const logic = select([["AND", "all conditions (AND)"], ["OR", "any condition (OR)"]], "AND");
  const rowsBox = h("div");
  const summary = h("p", { class: "muted", "aria-live": "polite" });
  const formOut = h("div");
  const updateSummary = () => {
    const signals = [...rowsBox.children].map((r) => r.read());
    summary.textContent = signals.length ? `Fires when ${signals.map(describeSignal).join(logic.value === "AND" ? " and " : " or ")} (at a candle close, on the edge).` : "Add a condition.";
  };
  const remove = (row) => { if (rowsBox.children.length > 1) row.remove(); updateSummary(); };
  const addRow = (initial) => { rowsBox.append(signalRow(symbolList, remove, initial)); updateSummary(); };
  rowsBox.addEventListener("input", updateSummary);
  rowsBox.addEventListener("change", updateSummary);
  logic.addEventListener("change", updateSummary);
  addRow();
  const listBox = h("div");
  let rows = [];
  const view = table([
    { key: "name", label: "Pool" }, { key: "logic", label: "Logic" },
    { key: "signals", label: "Conditions", nosort: true, render: (p) => h("div", {}, p.signals.map((s) => h("div", { class: "mono" }, describeSignal(s)))) },
    { key: "last_fired_at", label: "Last fired", render: (p) => when(p.last_fired_at) },
    { key: "enabled", label: "Enabled", render: (p) => h("input", { type: "checkbox", checked: p.enabled, "aria-label": `Enable pool ${p.name}`,
      onchange: async (e) => { try { await api.put(`signal-pools/${p.id}`, { enabled: e.target.checked }); load(); } catch (err) { toast(err.message, "bad"); e.target.checked = !e.target.checked; } } }) },
    { key: "id", label: "", nosort: true, render: (p) => h("button", { type: "button", class: "small danger", onclick: async () => {
      if (!confirm(`Delete pool “${p.name}”?`)) return;
      try { await api.del(`signal-pools/${p.id}`); load(); } catch (err) { toast(err.message, "bad"); }
    } }, "Delete") },
  ], rows, { caption: "Signal pools", empty: "No pools yet." });
  clear(listBox, view);
  const load = async () => { rows = await api.all("signal-pools", { limit: 500 }, 2000); view.update(rows); };
  const form = h("form", { onsubmit: async (e) => {
    e.preventDefault();
    clear(formOut);
    try {
      const created = await api.post("signal-pools", { name: name.value.trim(), logic: logic.value, signals: [...rowsBox.children].map((r) => r.read()) });
      toast(`Pool “${created.name}” created`, "good");
      name.value = "";
      load();
    } catch (err) { clear(formOut, errorBox(err)); }
  } },
  h("datalist", { id: "metric-suggestions" }, METRIC_SUGGESTIONS.map((m) => h("option", { value: m }))),
  h("div", { class: "row" }, field("Name", name), field("Logic", logic)),
  h("h3", {}, "Conditions"), rowsBox,
  h("div", { class: "row" }, h("button", { type: "button", onclick: () => addRow() }, "+ Add condition"), h("span", { class: "grow" }),
    h("button", { type: "submit", class: "primary", "data-testid": "pool-create" }, "Create pool")),
  summary, formOut);
  clear(panel, h("div", { class: "panel" }, h("h2", {}, "New signal pool"), form), h("div", { class: "panel" }, h("h2", {}, "Signal pools"), listBox));
  load().catch((err) => clear(listBox, errorBox(err)));
  poll(listBox, REFRESH_MS * 3, load);
}

// ---- bindings -------------------------------------------------------------------------------------

async function bindings(panel) {
  const { programs, accounts: accountList, pools: poolList } = await lookups();
  const symbolList = await symbols();
  const programNames = new Map(programs.map((p) => [p.id, p.name]));
  const accountNames = new Map(accountList.map((a) => [a.id, a.name]));
  const program = select([["", "— program —"], ...programs.map((p) => [p.id, `${p.name} (#${p.id})`])], "", { required: true, "data-testid": "binding-program" });
  const account = select([["", "— account —"], ...accountList.map((a) => [a.id, `${a.name} (#${a.id})`])], "", { required: true, "data-testid": "binding-account" });
  const symbol = select([["", "from the first pool"], ...symbolList], "", { "data-testid": "binding-symbol" });
  const timeframe = select([["", "from the first pool (else 1h)"], ...TIMEFRAMES], "");
  const poolChecks = poolList.map((p) => h("label", { class: "inline" }, h("input", { type: "checkbox", value: p.id }), `${p.name} (#${p.id})`));
  const scheduleKind = select([["", "no schedule"], ["interval", "every…"], ["cron", "cron (UTC)"]], "", { "data-testid": "binding-schedule-kind" });
  const scheduleValue = h("input", { placeholder: "15m or */15 * * * *", "data-testid": "binding-schedule" });
  const params = h("textarea", { rows: 2, class: "mono", placeholder: '{"size": 0.01}' });
  const enabled = h("input", { type: "checkbox", checked: true, id: "binding-enabled" });
  const formOut = h("div");
  const previewOut = h("div", { "aria-live": "polite" });
  const listBox = h("div");
  let rows = [];
  const trigger = (b) => [
    b.signal_pool_ids.length ? `pools ${b.signal_pool_ids.map((id) => "#" + id).join(", ")}` : null,
    b.schedule ? (b.schedule.interval ? `every ${b.schedule.interval}` : `cron ${b.schedule.cron}`) : null,
  ].filter(Boolean).join(" + ");
  const view = table([
    { key: "id", label: "#", num: true },
    { key: "program_id", label: "Program", render: (b) => h("a", { href: `#/programs/${b.program_id}` }, programNames.get(b.program_id) || `#${b.program_id}`) },
    { key: "account_id", label: "Account", render: (b) => accountNames.get(b.account_id) || `#${b.account_id}` },
    { key: "symbol", label: "Market", render: (b) => `${b.symbol} ${b.timeframe}` },
    { key: "trigger", label: "Runs on", nosort: true, render: trigger },
    { key: "last_run_at", label: "Last run", render: (b) => when(b.last_run_at) },
    { key: "enabled", label: "Enabled", render: (b) => h("input", { type: "checkbox", checked: b.enabled, "aria-label": `Enable binding ${b.id}`, "data-testid": `binding-enabled-${b.id}`,
      onchange: async (e) => { try { await api.put(`bindings/${b.id}`, { enabled: e.target.checked }); toast(`Binding #${b.id} ${e.target.checked ? "enabled" : "disabled"}`); load(); } catch (err) { toast(err.message, "bad"); e.target.checked = !e.target.checked; } } }) },
    { key: "actions", label: "", nosort: true, render: (b) => h("div", { class: "row" },
      h("button", { type: "button", class: "small", onclick: () => preview(b) }, "Preview run"),
      h("a", { class: "button small", href: `#/live/executions`, onclick: () => sessionStorage.setItem("hyperoru.exec-filter", JSON.stringify({ binding_id: b.id })) }, "Executions"),
      h("button", { type: "button", class: "small danger", onclick: async () => {
        if (!confirm(`Delete binding #${b.id}?`)) return;
        try { await api.del(`bindings/${b.id}`); load(); } catch (err) { toast(err.message, "bad"); }
      } }, "Delete")) },
  ], rows, { caption: "Bindings", empty: "No bindings yet." });
  clear(listBox, view);
  const load = async () => { rows = await api.all("bindings", { limit: 500 }, 2000); view.update(rows); };

  async function preview(b) {
    clear(previewOut, h("p", { class: "muted" }, `Previewing binding #${b.id}…`));
    try {
      const r = await api.post(`bindings/${b.id}/preview-run`);
      clear(previewOut, h("div", { class: "panel", "data-testid": "preview" }, h("h2", {}, `Preview of binding #${b.id} (nothing placed)`),
        h("div", { class: "row center" }, statusBadge(r.status), h("strong", {}, `${r.action}${r.quantity ? " " + num(r.quantity, 8) : ""} ${r.symbol || ""}`),
          r.reason ? h("span", { class: "muted" }, `“${r.reason}”`) : null, h("span", { class: "muted" }, `at ${money(r.price)} · ${when(r.time)} · ${num(r.duration_ms, 1)} ms`)),
        r.error ? h("div", { class: "error-box" }, `${r.error.kind}: ${r.error.message}${r.error.line ? ` (line ${r.error.line}, column ${r.error.column})` : ""}`) : null,
        h("h3", {}, "Fills it would make"), table([{ key: "side", label: "Side" }, { key: "symbol", label: "Symbol" }, { key: "quantity", label: "Qty", num: true },
          { key: "price", label: "Price", num: true, render: (f) => money(f.price) }, { key: "fee", label: "Fee", num: true, render: (f) => money(f.fee) }, { key: "order_reason", label: "Reason" }],
        r.fills || [], { empty: "No fills." }),
        r.rejections && r.rejections.length ? [h("h3", {}, "Rejections"), table([{ key: "action", label: "Action" }, { key: "symbol", label: "Symbol" }, { key: "reason", label: "Why" }], r.rejections)] : null,
        h("h3", {}, "Log"), h("pre", { class: "code-block" }, (r.logs || []).join("\n") || "(empty)"),
        h("h3", {}, "State it would leave"), jsonBlock(r.state || {})));
    } catch (err) { clear(previewOut, errorBox(err)); }
  }

  const form = h("form", { onsubmit: async (e) => {
    e.preventDefault();
    clear(formOut);
    let body;
    try {
      body = { program_id: Number(program.value), account_id: Number(account.value), enabled: enabled.checked, params: parseJsonObject(params.value, "params"),
        signal_pool_ids: poolChecks.map((l) => l.querySelector("input")).filter((c) => c.checked).map((c) => Number(c.value)) };
      if (symbol.value) body.symbol = symbol.value;
      if (timeframe.value) body.timeframe = timeframe.value;
      if (scheduleKind.value) body.schedule = { [scheduleKind.value]: scheduleValue.value.trim() };
    } catch (err) { clear(formOut, errorBox(err)); return; }
    try {
      const created = await api.post("bindings", body);
      toast(`Binding #${created.id} created`, "good");
      load();
    } catch (err) { clear(formOut, errorBox(err)); }
  } },
  h("div", { class: "fields" }, field("Program", program), field("Account", account), field("Symbol", symbol), field("Timeframe", timeframe),
    field("Schedule", scheduleKind), field("Interval or cron", scheduleValue, { hint: "e.g. 1m, 15m, 1h; or 5-field cron" }), field("Params (JSON)", params)),
  h("fieldset", {}, h("legend", {}, "Signal pools that trigger it"), poolChecks.length ? poolChecks : h("span", { class: "muted" }, "No pools yet (see Signal pools).")),
  h("div", { class: "row center", style: "margin-top:.5rem" }, h("label", { class: "inline", for: "binding-enabled" }, enabled, "Enabled"), h("span", { class: "grow" }),
    h("button", { type: "submit", class: "primary", "data-testid": "binding-create" }, "Create binding")),
  h("p", { class: "muted" }, "A binding needs a trigger: at least one pool, or a schedule."), formOut);
  clear(panel, h("div", { class: "panel" }, h("h2", {}, "New binding"), form), previewOut, h("div", { class: "panel" }, h("h2", {}, "Bindings"), listBox));
  load().catch((err) => clear(listBox, errorBox(err)));
  poll(listBox, REFRESH_MS * 2, load);
}

// ---- executions -----------------------------------------------------------------------------------

async function executions(panel) {
  const saved = JSON.parse(sessionStorage.getItem("hyperoru.exec-filter") || "{}");
  sessionStorage.removeItem("hyperoru.exec-filter");
  const { programs, accounts: accountList } = await lookups();
  const programId = select([["", "all"], ...programs.map((p) => [p.id, p.name])], saved.program_id || "");
  const bindingId = h("input", { type: "number", min: "1", value: saved.binding_id || "", placeholder: "any" });
  const accountId = select([["", "all"], ...accountList.map((a) => [a.id, a.name])], saved.account_id || "");
  const status = select([["", "any"], "ok", "error", "rejected"], "");
  const since = h("input", { type: "date" });
  const liveToggle = h("input", { type: "checkbox", checked: true, id: "exec-live" });
  const info = h("span", { class: "muted", "aria-live": "polite" });
  const listBox = h("div", { "data-testid": "executions" });
  const detail = h("div", { "aria-live": "polite" });
  let rows = [];
  let selected = null;
  const view = table([
    { key: "id", label: "#", num: true }, { key: "executed_at", label: "Time", render: (x) => when(x.executed_at) },
    { key: "status", label: "Status", render: (x) => statusBadge(x.status) },
    { key: "action", label: "Decision", render: (x) => `${x.action}${x.quantity ? " " + num(x.quantity, 8) : ""} ${x.symbol || ""}` },
    { key: "reason", label: "Reason", render: (x) => h("span", { class: "muted" }, x.reason || "") },
    { key: "trigger", label: "Trigger", sort: (x) => x.trigger && x.trigger.type, render: (x) => (x.trigger ? x.trigger.type : "—") },
    { key: "binding_id", label: "Binding", num: true }, { key: "program_id", label: "Program", num: true },
    { key: "duration_ms", label: "ms", num: true, render: (x) => num(x.duration_ms, 1) },
  ], rows, { caption: "Executions", empty: "No executions yet: a binding runs when its pool fires or its schedule is due.", onRow: (x) => { selected = x.id; showDetail(); } });
  clear(listBox, view);
  const load = async () => {
    const { items } = await api.page("executions", { limit: 100, program_id: programId.value, binding_id: bindingId.value, account_id: accountId.value,
      status: status.value, since: since.value });
    rows = items;
    view.update(rows);
    info.textContent = `${rows.length} shown · updated ${new Date().toLocaleTimeString()}`;
  };
  async function showDetail() {
    let x;
    try { x = await api.get(`executions/${selected}`); } catch (err) { clear(detail, errorBox(err)); return; }
    const known = new Set(["id", "orders", "fills", "rejections", "logs", "error", "trigger", "values", "context", "state", "account_after"]);
    const rest = Object.fromEntries(Object.entries(x).filter(([k]) => !known.has(k)));
    clear(detail, h("div", { class: "panel", "data-testid": "execution-detail" }, h("h2", {}, `Execution #${x.id}`),
      h("div", { class: "row center" }, statusBadge(x.status), h("strong", {}, `${x.action} ${x.symbol || ""}`), h("span", { class: "muted" }, when(x.executed_at))),
      x.error ? h("div", { class: "error-box" }, typeof x.error === "string" ? x.error : `${x.error.kind || "error"}: ${x.error.message}${x.error.line ? ` (line ${x.error.line}, column ${x.error.column})` : ""}`) : null,
      h("div", { class: "two" },
        h("div", {}, h("h3", {}, "Trigger"), jsonBlock(x.trigger || null)),
        h("div", {}, h("h3", {}, "Values the program read"), jsonBlock(x.values || x.context || null))),
      h("h3", {}, "Orders"), jsonBlock(x.orders || []),
      h("h3", {}, "Fills"), table([{ key: "side", label: "Side" }, { key: "symbol", label: "Symbol" }, { key: "quantity", label: "Qty", num: true },
        { key: "price", label: "Price", num: true, render: (f) => money(f.price) }, { key: "fee", label: "Fee", num: true, render: (f) => money(f.fee) },
        { key: "realized_pnl", label: "Realized", num: true, render: (f) => money(f.realized_pnl) }], x.fills || [], { empty: "No fills." }),
      x.rejections && x.rejections.length ? [h("h3", {}, "Rejections"), jsonBlock(x.rejections)] : null,
      h("h3", {}, "Log"), h("pre", { class: "code-block" }, (x.logs || []).join("\n") || "(empty)"),
      h("details", {}, h("summary", {}, "Everything else"), jsonBlock(rest))));
  }
  for (const control of [programId, bindingId, accountId, status, since]) control.addEventListener("change", () => load().catch((err) => clear(listBox, errorBox(err))));
  clear(panel, h("div", { class: "panel" },
    h("div", { class: "row" }, field("Program", programId), field("Binding #", bindingId), field("Account", accountId), field("Status", status), field("Since (UTC)", since),
      h("label", { class: "inline", for: "exec-live" }, liveToggle, "Live updates"), h("span", { class: "grow" }), info),
    listBox), detail);
  await load().catch((err) => clear(listBox, errorBox(err)));
  poll(listBox, REFRESH_MS, async () => { if (liveToggle.checked) await load(); });
}
