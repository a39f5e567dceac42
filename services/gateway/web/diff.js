// A line diff for program versions: common prefix and suffix trimmed, then a longest-common-
// subsequence table over what is left (programs are at most 64 KiB, so this stays small; past a
// million cells it falls back to "all removed, all added", which is still correct).

import { h } from "./dom.js";

/** [{op: " " | "-" | "+", text, a, b}] with 1-based line numbers in the old (a) and new (b) text. */
export function diffLines(oldText, newText) {
  const a = oldText.split("\n");
  const b = newText.split("\n");
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start++;
  let endA = a.length, endB = b.length;
  while (endA > start && endB > start && a[endA - 1] === b[endB - 1]) { endA--; endB--; }
  const out = [];
  for (let i = 0; i < start; i++) out.push({ op: " ", text: a[i], a: i + 1, b: i + 1 });
  const n = endA - start, m = endB - start;
  if (n * m > 1_000_000) {
    for (let i = start; i < endA; i++) out.push({ op: "-", text: a[i], a: i + 1 });
    for (let j = start; j < endB; j++) out.push({ op: "+", text: b[j], b: j + 1 });
  } else {
    const table = new Uint32Array((n + 1) * (m + 1));
    for (let i = n - 1; i >= 0; i--)
      for (let j = m - 1; j >= 0; j--)
        table[i * (m + 1) + j] = a[start + i] === b[start + j]
          ? table[(i + 1) * (m + 1) + j + 1] + 1
          : Math.max(table[(i + 1) * (m + 1) + j], table[i * (m + 1) + j + 1]);
    let i = 0, j = 0;
    while (i < n || j < m) {
      if (i < n && j < m && a[start + i] === b[start + j]) { out.push({ op: " ", text: a[start + i], a: start + i + 1, b: start + j + 1 }); i++; j++; }
      else if (j < m && (i === n || table[i * (m + 1) + j + 1] >= table[(i + 1) * (m + 1) + j])) { out.push({ op: "+", text: b[start + j], b: start + j + 1 }); j++; }
      else { out.push({ op: "-", text: a[start + i], a: start + i + 1 }); i++; }
    }
  }
  for (let i = endA, j = endB; i < a.length; i++, j++) out.push({ op: " ", text: a[i], a: i + 1, b: j + 1 });
  return out;
}

/** The diff as a block: added lines green, removed red, both line numbers shown. */
export function diffView(oldText, newText, label) {
  const rows = diffLines(oldText, newText);
  const added = rows.filter((r) => r.op === "+").length;
  const removed = rows.filter((r) => r.op === "-").length;
  return h("div", {},
    h("p", { class: "muted" }, `${label}: ${added} line${added === 1 ? "" : "s"} added, ${removed} removed.`),
    h("div", { class: "diff", role: "region", "aria-label": label, tabindex: "0" },
      rows.map((r) => h("div", { class: r.op === "+" ? "add" : r.op === "-" ? "del" : "" },
        h("span", { class: "ln" }, r.a ?? ""), h("span", { class: "ln" }, r.b ?? ""),
        h("span", { "aria-label": r.op === "+" ? "added" : r.op === "-" ? "removed" : undefined }, (r.op === " " ? "  " : r.op + " ") + r.text)))));
}
