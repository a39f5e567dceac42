// Syntax highlighting of the program language (shared/LANGUAGE.md): a tokenizer that keeps every
// character (the highlighted copy must line up with the textarea above it), then HTML with spans.
// Diagnostics are marked on the token at their line and column.

const KEYWORDS = new Set(["fn", "const", "let", "if", "else", "for", "in", "while", "break", "continue", "return"]);
const LITERALS = new Set(["true", "false", "null"]);
const BUILTINS = new Set(["abs", "min", "max", "round", "floor", "ceil", "sqrt", "pow", "log", "exp", "clamp", "len", "str", "num", "is_null"]);

const TOKEN = /(\/\/[^\n]*)|(\/\*[\s\S]*?(?:\*\/|$))|("(?:[^"\\\n]|\\.)*"?)|(\b\d+(?:\.\d+)?(?:[eE][+-]?\d+)?\b)|([A-Za-z_][A-Za-z0-9_]*)|(\s+)|([\s\S])/g;

/** [{text, cls}] covering the whole source, in order. */
export function tokenize(source) {
  const out = [];
  TOKEN.lastIndex = 0;
  let m;
  while ((m = TOKEN.exec(source)) !== null) {
    const [text, line, block, str, number, ident] = m;
    let cls = "";
    if (line || block) cls = "tok-com";
    else if (str) cls = "tok-str";
    else if (number) cls = "tok-num";
    else if (ident) {
      if (KEYWORDS.has(ident)) cls = "tok-kw";
      else if (LITERALS.has(ident)) cls = "tok-lit";
      else if (ident === "ctx") cls = "tok-ctx";
      else if (BUILTINS.has(ident) || /^\s*\(/.test(source.slice(TOKEN.lastIndex, TOKEN.lastIndex + 3))) cls = "tok-fn";
    }
    out.push({ text, cls, start: m.index });
  }
  return out;
}

const ESC = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" };
export const escapeHtml = (s) => s.replace(/[&<>"]/g, (c) => ESC[c]);

/** Offset in `source` of 1-based line and column (clamped to the text). */
export function offsetOf(source, line, column) {
  let offset = 0;
  for (let l = 1; l < line; l++) {
    const next = source.indexOf("\n", offset);
    if (next < 0) return source.length;
    offset = next + 1;
  }
  const end = source.indexOf("\n", offset);
  const lineEnd = end < 0 ? source.length : end;
  return Math.min(offset + Math.max(0, column - 1), lineEnd);
}

/**
 * HTML for `source` with spans per token; `marks` = [{line, column, kind: "err"|"warn", message}] wraps
 * the token at each position (or the character there) in a `diag-<kind>` span with its message as title.
 */
export function highlight(source, marks = []) {
  const at = new Map();
  for (const mark of marks) {
    const offset = offsetOf(source, mark.line, mark.column);
    if (!at.has(offset) || mark.kind === "err") at.set(offset, mark);
  }
  const offsets = [...at.keys()].sort((a, b) => a - b);
  let next = 0;
  let html = "";
  for (const token of tokenize(source)) {
    const end = token.start + token.text.length;
    let piece = "";
    let cursor = token.start;
    // a mark inside this token: split there so the mark covers the rest of the token (at least one char)
    while (next < offsets.length && offsets[next] < end) {
      const offset = Math.max(offsets[next], cursor);
      const mark = at.get(offsets[next]);
      piece += escapeHtml(token.text.slice(cursor - token.start, offset - token.start));
      const span = (text) => `<span class="diag-${mark.kind}" title="${escapeHtml(mark.message)}">${text}</span>`;
      let markEnd = offset;
      if (token.text[offset - token.start] === "\n") {
        piece += span(" "); // never swallow the line break: a space before it shifts nothing
      } else {
        markEnd = token.cls === "" && /\s/.test(token.text) ? offset + 1 : end;
        piece += span(escapeHtml(token.text.slice(offset - token.start, markEnd - token.start)));
      }
      cursor = markEnd;
      next++;
    }
    piece += escapeHtml(token.text.slice(cursor - token.start));
    html += token.cls ? `<span class="${token.cls}">${piece}</span>` : piece;
  }
  // marks at the very end of the text (e.g. "expected `}`" after the last character)
  while (next < offsets.length) {
    const mark = at.get(offsets[next++]);
    html += `<span class="diag-${mark.kind}" title="${escapeHtml(mark.message)}"> </span>`;
  }
  return html + "\n";
}
