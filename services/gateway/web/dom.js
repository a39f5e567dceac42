// Small DOM helpers: an element builder (text is always set as text, never parsed as HTML), number
// and time formatting, toasts, tabs and a sortable table. Everything the pages share.

/** h("button", {class: "primary", onclick: fn}, "Save") */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key === "value" || key === "checked" || key === "selected" || key === "disabled" || key === "hidden") el[key] = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function clear(el, ...children) { el.replaceChildren(); return append(el, children); }

let uid = 0;
export const nextId = (prefix = "f") => `${prefix}-${++uid}`;

/** A labelled form field: returns the wrapper; the control is `.control`. */
export function field(labelText, control, { hint, cls } = {}) {
  if (!control.id) control.id = nextId();
  const wrap = h("div", { class: "field " + (cls || "") }, h("label", { for: control.id }, labelText), control);
  if (hint) {
    const hintEl = h("span", { class: "editor-hint", id: control.id + "-hint" }, hint);
    control.setAttribute("aria-describedby", hintEl.id);
    wrap.append(hintEl);
  }
  wrap.control = control;
  return wrap;
}

export function select(options, value, attrs = {}) {
  const el = h("select", attrs);
  for (const option of options) {
    const [v, label] = Array.isArray(option) ? option : [option, option];
    el.append(h("option", { value: v, selected: String(v) === String(value) }, label));
  }
  return el;
}

export const TIMEFRAMES = ["1m", "5m", "15m", "30m", "1h", "4h", "1d"];

const numberFormats = new Map();
export function num(value, digits = 2) {
  if (value === null || value === undefined || Number.isNaN(value)) return "—";
  if (typeof value !== "number") return String(value);
  let f = numberFormats.get(digits);
  if (!f) { f = new Intl.NumberFormat("en-US", { maximumFractionDigits: digits, minimumFractionDigits: 0 }); numberFormats.set(digits, f); }
  return f.format(value);
}
export const money = (v) => (v === null || v === undefined ? "—" : num(v, 2));
export const pct = (v, digits = 2) => (v === null || v === undefined ? "—" : num(v, digits) + " %");
export const ratio = (v) => (v === null || v === undefined ? "—" : num(v * 100, 1) + " %");
export function when(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return d.toISOString().replace("T", " ").replace(/\.\d+Z$|Z$/, " UTC");
}
export const signClass = (v) => (v > 0 ? "good" : v < 0 ? "bad" : "");

export function toast(message, kind = "") {
  const box = document.getElementById("toasts");
  const el = h("div", { class: "toast " + kind }, message);
  box.append(el);
  setTimeout(() => el.remove(), kind === "bad" ? 8000 : 4000);
}

/** The message of an error for a person: the API's message, with the field it names. */
export function errorText(err) {
  if (!err) return "";
  const field = err.field ? ` (field: ${err.field})` : "";
  return (err.message || String(err)) + field;
}
export const errorBox = (err) => h("div", { class: "error-box", role: "alert" }, errorText(err));

export function badge(text, kind = "") { return h("span", { class: "badge " + kind }, text); }
export function statusBadge(status) {
  const kind = { completed: "good", ok: "good", running: "warn", queued: "", failed: "bad", error: "bad", cancelled: "", rejected: "warn" }[status] || "";
  return badge(status, kind);
}

/** Accessible tabs: arrow keys move between tabs; returns {el, select(name)}. */
export function tabs(items, onSelect, initial) {
  const list = h("div", { class: "tabs", role: "tablist" });
  const buttons = items.map(([name, label]) =>
    h("button", { type: "button", role: "tab", id: `tab-${name}`, "aria-selected": "false", tabindex: "-1", dataset: { tab: name },
      onclick: () => choose(name) }, label));
  list.append(...buttons);
  list.addEventListener("keydown", (e) => {
    const i = buttons.indexOf(document.activeElement);
    if (i < 0) return;
    const j = e.key === "ArrowRight" ? (i + 1) % buttons.length : e.key === "ArrowLeft" ? (i - 1 + buttons.length) % buttons.length : -1;
    if (j >= 0) { e.preventDefault(); buttons[j].focus(); choose(buttons[j].dataset.tab); }
  });
  function choose(name) {
    for (const b of buttons) {
      const on = b.dataset.tab === name;
      b.setAttribute("aria-selected", String(on));
      b.tabIndex = on ? 0 : -1;
    }
    onSelect(name);
  }
  if (initial) queueMicrotask(() => choose(initial));
  return { el: list, select: choose };
}

/**
 * A sortable table. columns: [{key, label, num?, render?(row), sort?(row)}]. onRow(row, tr) makes
 * rows clickable (and keyboard-activatable with Enter/Space).
 */
export function table(columns, rows, { onRow, caption, empty = "Nothing yet.", initialSort } = {}) {
  let sortKey = initialSort ? initialSort[0] : null;
  let dir = initialSort ? initialSort[1] : 1;
  const wrap = h("div", { class: "table-wrap" });
  const render = () => {
    const sorted = [...rows];
    if (sortKey) {
      const col = columns.find((c) => c.key === sortKey);
      const value = col.sort || ((r) => r[col.key]);
      sorted.sort((a, b) => {
        const x = value(a), y = value(b);
        if (x === y) return 0;
        if (x === null || x === undefined) return 1;
        if (y === null || y === undefined) return -1;
        return (x < y ? -1 : 1) * dir;
      });
    }
    const head = h("tr", {}, columns.map((c) => {
      const state = c.key === sortKey ? (dir > 0 ? "ascending" : "descending") : "none";
      return h("th", { class: c.num ? "num" : "", scope: "col", "aria-sort": c.nosort ? undefined : state },
        c.nosort ? c.label : h("button", { type: "button", class: "sort", onclick: () => {
          if (sortKey === c.key) dir = -dir; else { sortKey = c.key; dir = 1; }
          render();
        } }, c.label, c.key === sortKey ? (dir > 0 ? " ▲" : " ▼") : ""));
    }));
    const body = sorted.length ? sorted.map((row) => {
      const tr = h("tr", {}, columns.map((c) => h("td", { class: c.num ? "num" : "" }, c.render ? c.render(row) : fmtCell(row[c.key]))));
      if (onRow) {
        tr.className = "clickable";
        tr.tabIndex = 0;
        tr.addEventListener("click", () => onRow(row, tr));
        tr.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); onRow(row, tr); } });
      }
      return tr;
    }) : [h("tr", {}, h("td", { colspan: columns.length, class: "muted" }, empty))];
    clear(wrap, h("table", {}, caption ? h("caption", { class: "sr-only" }, caption) : null, h("thead", {}, head), h("tbody", {}, body)));
  };
  render();
  wrap.update = (newRows) => { rows = newRows; render(); };
  return wrap;
}

function fmtCell(v) {
  if (typeof v === "number") return num(v, 6);
  if (v === null || v === undefined) return "—";
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

/** JSON for people, in a <pre>. */
export const jsonBlock = (value) => h("pre", { class: "code-block" }, JSON.stringify(value, null, 2));

/** Parse a JSON object typed into a textarea; throws a readable Error. */
export function parseJsonObject(text, name) {
  if (!text.trim()) return {};
  let value;
  try { value = JSON.parse(text); } catch (e) { throw new Error(`${name}: not valid JSON (${e.message})`); }
  if (typeof value !== "object" || Array.isArray(value) || value === null) throw new Error(`${name}: must be a JSON object`);
  return value;
}

/** Run `fn` every `ms` while `el` is in the document; stops itself when the page changes. */
export function poll(el, ms, fn) {
  let timer = null;
  let stopped = false;
  const tick = async () => {
    if (stopped) return;
    if (!el.isConnected) { stopped = true; return; }
    try { await fn(); } catch (e) { console.warn("poll", e); }
    if (!stopped && el.isConnected) timer = setTimeout(tick, document.hidden ? ms * 4 : ms);
  };
  timer = setTimeout(tick, ms);
  return () => { stopped = true; clearTimeout(timer); };
}
