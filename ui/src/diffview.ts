// Renders a line diff as a table with both line numbers, as text nodes only.

import { diffLines, splitLines, stats, toHunks, type DiffOp } from "./diff";
import { h } from "./dom";

export function diffView(oldText: string, newText: string, labels: [string, string]): HTMLElement {
  const { ops, approximate } = diffLines(splitLines(oldText), splitLines(newText));
  const hunks = toHunks(ops, 3);
  const { added, removed } = stats(ops);
  const head = h(
    "div",
    { class: "diff-head" },
    h("span", { class: "diff-label del" }, `− ${labels[0]}`),
    h("span", { class: "diff-label ins" }, `+ ${labels[1]}`),
    h("span", { class: "diff-stats" }, h("span", { class: "ins" }, `+${added}`), " ", h("span", { class: "del" }, `−${removed}`)),
  );
  if (hunks.length === 0) {
    const same = oldText === newText;
    return h(
      "div",
      { class: "diff", "data-testid": "diff" },
      head,
      h("p", { class: "muted diff-none" }, same ? "No differences: this version is the same as the current file." : "The versions differ only in line endings or the final newline."),
    );
  }
  const table = h("table", { class: "diff-table" });
  const body = h("tbody");
  table.appendChild(body);
  for (const hunk of hunks) {
    body.appendChild(
      h(
        "tr",
        { class: "diff-hunk" },
        h("td", { colspan: "3" }, `@@ −${hunk.aStart},${hunk.aLines} +${hunk.bStart},${hunk.bLines} @@`),
      ),
    );
    for (const op of hunk.ops) body.appendChild(row(op));
  }
  return h(
    "div",
    { class: "diff", "data-testid": "diff" },
    head,
    approximate ? h("p", { class: "muted" }, "These versions differ a lot; the diff shown is not the smallest one.") : null,
    h("div", { class: "diff-scroll" }, table),
  );
}

function row(op: DiffOp): HTMLElement {
  const cls = op.kind === "equal" ? "eq" : op.kind === "delete" ? "del" : "ins";
  const sign = op.kind === "equal" ? " " : op.kind === "delete" ? "−" : "+";
  return h(
    "tr",
    { class: `diff-line ${cls}` },
    h("td", { class: "ln" }, op.a >= 0 ? String(op.a + 1) : ""),
    h("td", { class: "ln" }, op.b >= 0 ? String(op.b + 1) : ""),
    h("td", { class: "code" }, h("span", { class: "sign" }, sign), op.text),
  );
}

/** A file's text with each line numbered; lines in `marked` get the class `mark`. */
export function numbered(text: string, marked: Set<number> = new Set(), markClass = "mark"): HTMLElement {
  const lines = splitLines(text);
  const body = h("tbody");
  lines.forEach((l, i) =>
    body.appendChild(
      h("tr", { class: marked.has(i) ? markClass : "" }, h("td", { class: "ln" }, String(i + 1)), h("td", { class: "code" }, l)),
    ),
  );
  if (lines.length === 0) body.appendChild(h("tr", null, h("td", { class: "ln" }, ""), h("td", { class: "code muted" }, "(empty file)")));
  return h("div", { class: "diff-scroll" }, h("table", { class: "diff-table numbered" }, body));
}

/** Line indexes that differ between two texts, on each side. */
export function changedLines(a: string, b: string): { a: Set<number>; b: Set<number> } {
  const { ops } = diffLines(splitLines(a), splitLines(b));
  const sa = new Set<number>();
  const sb = new Set<number>();
  for (const o of ops) {
    if (o.kind === "delete") sa.add(o.a);
    if (o.kind === "insert") sb.add(o.b);
  }
  return { a: sa, b: sb };
}
