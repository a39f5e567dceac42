// The code editor: a plain <textarea> (so typing, selection, undo, screen readers and mobile keyboards
// all behave natively) over a highlighted copy of its text, with a line-number gutter. While typing,
// the code is sent to /validate (debounced; stale answers are dropped) and the diagnostics are shown
// at their line and column: underlined in the text, a dot in the gutter, a bubble under the first
// error, and a list below whose entries move the cursor to the spot.

import * as api from "./api.js";
import { h, clear, nextId } from "./dom.js";
import { highlight, offsetOf } from "./highlight.js";

const LINE_HEIGHT = 20;
const PAD_TOP = 8;
const PAD_LEFT = 10;

export function createEditor({ value = "", label = "Program code", onChange, validateDelay = 350 } = {}) {
  const id = nextId("code");
  const textarea = h("textarea", { id, spellcheck: "false", autocapitalize: "off", autocomplete: "off", wrap: "off",
    "aria-label": label, "aria-describedby": id + "-hint " + id + "-diags", "data-testid": "code" });
  const code = h("code");
  const pre = h("pre", { "aria-hidden": "true" }, code);
  const bubble = h("div", { class: "diag-bubble", hidden: true, "aria-hidden": "true" });
  const gutter = h("div", { class: "gutter", "aria-hidden": "true" });
  const box = h("div", { class: "editor" }, gutter, h("div", { class: "code" }, pre, textarea, bubble));
  const status = h("span", { class: "editor-hint", "aria-live": "polite", "data-testid": "validity" });
  const list = h("ul", { class: "diagnostics", id: id + "-diags", "data-testid": "diagnostics" });
  const hint = h("p", { class: "editor-hint", id: id + "-hint" },
    "Tab indents; press Esc, then Tab, to move on. Checked as you type.");
  const el = h("div", { class: "editor-wrap" }, box, h("div", { class: "row center" }, status, hint), list);

  let diagnostics = { errors: [], warnings: [] };
  let seq = 0;
  let timer = null;
  let releaseTab = false;
  let lastLines = 0;
  let charWidth = 0;

  function render() {
    const source = textarea.value;
    const marks = [
      ...diagnostics.warnings.map((d) => ({ ...d, kind: "warn" })),
      ...diagnostics.errors.map((d) => ({ ...d, kind: "err" })),
    ];
    code.innerHTML = highlight(source, marks);
    const lines = source.split("\n").length;
    const errLines = new Set(diagnostics.errors.map((d) => d.line));
    const warnLines = new Set(diagnostics.warnings.map((d) => d.line));
    if (lines !== lastLines || marks.length || gutter.dataset.marked) {
      clear(gutter, Array.from({ length: lines }, (_, i) =>
        h("div", { class: errLines.has(i + 1) ? "err" : warnLines.has(i + 1) ? "warn" : "" }, String(i + 1))));
      gutter.dataset.marked = marks.length ? "1" : "";
      lastLines = lines;
    }
    placeBubble();
    sync();
  }

  function placeBubble() {
    const first = diagnostics.errors[0];
    if (!first) { bubble.hidden = true; return; }
    if (!charWidth) {
      const probe = h("span", {}, "0".repeat(50));
      pre.append(probe);
      charWidth = probe.getBoundingClientRect().width / 50 || 7.8;
      probe.remove();
    }
    bubble.hidden = false;
    bubble.textContent = `${first.line}:${first.column} ${first.message}`;
    bubble.style.top = `${PAD_TOP + first.line * LINE_HEIGHT - textarea.scrollTop + 1}px`;
    bubble.style.left = `${Math.max(2, PAD_LEFT + (first.column - 1) * charWidth - textarea.scrollLeft)}px`;
  }

  function sync() {
    pre.scrollTop = textarea.scrollTop;
    pre.scrollLeft = textarea.scrollLeft;
    gutter.scrollTop = textarea.scrollTop;
  }

  function showList() {
    const items = [
      ...diagnostics.errors.map((d) => ["err", "error", d]),
      ...diagnostics.warnings.map((d) => ["warn", "warning", d]),
    ];
    clear(list, items.map(([cls, word, d]) => h("li", { class: cls },
      h("button", { type: "button", onclick: () => goTo(d.line, d.column) }, `Line ${d.line}, column ${d.column}: ${word}: ${d.message}`))));
    if (diagnostics.pending) status.textContent = "Checking…";
    else if (diagnostics.unavailable) status.textContent = "Could not check: " + diagnostics.unavailable;
    else status.textContent = diagnostics.errors.length
      ? `${diagnostics.errors.length} error${diagnostics.errors.length > 1 ? "s" : ""}`
      : `Valid${diagnostics.warnings.length ? `, ${diagnostics.warnings.length} warning${diagnostics.warnings.length > 1 ? "s" : ""}` : ""}`;
    status.className = "editor-hint " + (diagnostics.errors.length ? "bad" : diagnostics.unavailable ? "warn" : "good");
    status.dataset.state = diagnostics.errors.length ? "invalid" : diagnostics.unavailable ? "unknown" : "valid";
  }

  async function validate() {
    const mine = ++seq;
    const source = textarea.value;
    if (!source.trim()) { diagnostics = { errors: [], warnings: [] }; render(); showList(); return; }
    try {
      const result = await api.post("validate", { code: source });
      if (mine !== seq) return; // the text changed meanwhile: a newer check is on its way
      diagnostics = { errors: result.errors || [], warnings: result.warnings || [] };
    } catch (err) {
      if (mine !== seq) return;
      diagnostics = { errors: [], warnings: [], unavailable: err.message };
    }
    render();
    showList();
  }

  function schedule() {
    clearTimeout(timer);
    status.textContent = "Checking…";
    status.dataset.state = "pending";
    timer = setTimeout(validate, validateDelay);
  }

  function goTo(line, column) {
    const offset = offsetOf(textarea.value, line, column);
    textarea.focus();
    textarea.setSelectionRange(offset, offset);
    const top = (line - 1) * LINE_HEIGHT;
    if (top < textarea.scrollTop || top > textarea.scrollTop + textarea.clientHeight - 2 * LINE_HEIGHT) textarea.scrollTop = Math.max(0, top - 3 * LINE_HEIGHT);
    sync();
  }

  function insert(text) {
    // execCommand keeps the browser's undo history; setRangeText is the fallback
    if (!document.execCommand || !document.execCommand("insertText", false, text)) {
      textarea.setRangeText(text, textarea.selectionStart, textarea.selectionEnd, "end");
      textarea.dispatchEvent(new Event("input"));
    }
  }

  textarea.addEventListener("input", () => { render(); schedule(); if (onChange) onChange(textarea.value); });
  textarea.addEventListener("scroll", () => { sync(); placeBubble(); });
  textarea.addEventListener("keydown", (e) => {
    if (e.key === "Escape") { releaseTab = true; return; }
    if (e.key === "Tab" && !releaseTab && !e.ctrlKey && !e.altKey && !e.metaKey) {
      e.preventDefault();
      if (e.shiftKey) {
        const start = textarea.value.lastIndexOf("\n", textarea.selectionStart - 1) + 1;
        const spaces = /^ {1,4}/.exec(textarea.value.slice(start))?.[0].length || 0;
        if (spaces) { textarea.setSelectionRange(start, start + spaces); insert(""); }
      } else insert("    ");
      return;
    }
    if (e.key === "Enter" && !e.shiftKey) {
      // keep the indentation of the line
      const start = textarea.value.lastIndexOf("\n", textarea.selectionStart - 1) + 1;
      const indent = /^[ \t]*/.exec(textarea.value.slice(start))[0];
      const before = textarea.value.slice(start, textarea.selectionStart).trimEnd();
      e.preventDefault();
      insert("\n" + indent + (before.endsWith("{") ? "    " : ""));
    }
    if (e.key !== "Tab") releaseTab = false;
  });
  textarea.addEventListener("blur", () => { releaseTab = false; });

  textarea.value = value;
  render();
  if (value.trim()) validate(); else showList();

  return {
    el,
    textarea,
    get value() { return textarea.value; },
    set value(text) { textarea.value = text; render(); schedule(); },
    get diagnostics() { return diagnostics; },
    goTo,
    validateNow: validate,
  };
}
