// A line diff: Myers' O(ND) algorithm ("An O(ND) Difference Algorithm and Its Variations",
// 1986), with the common prefix and suffix taken off first. It finds a shortest edit script,
// so the diff shows as few changed lines as possible.

export type DiffKind = "equal" | "delete" | "insert";

export interface DiffOp {
  kind: DiffKind;
  /** Index of the line in the old text (equal, delete), else -1. */
  a: number;
  /** Index of the line in the new text (equal, insert), else -1. */
  b: number;
  text: string;
}

export interface DiffResult {
  ops: DiffOp[];
  /** True when the texts differed too much for a shortest script within the limit: the result
   * is then "delete everything that differs, insert the rest", still correct but not minimal. */
  approximate: boolean;
}

/** Lines of a text; a final newline does not start another line. */
export function splitLines(text: string): string[] {
  if (text === "") return [];
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  return lines;
}

/** Edit distance above which the diff gives up on being minimal (memory grows as its square). */
export const MAX_EDIT_DISTANCE = 4000;

export function diffLines(a: string[], b: string[], maxD = MAX_EDIT_DISTANCE): DiffResult {
  let pre = 0;
  while (pre < a.length && pre < b.length && a[pre] === b[pre]) pre++;
  let suf = 0;
  while (
    suf < a.length - pre &&
    suf < b.length - pre &&
    a[a.length - 1 - suf] === b[b.length - 1 - suf]
  )
    suf++;

  const ops: DiffOp[] = [];
  for (let i = 0; i < pre; i++) ops.push({ kind: "equal", a: i, b: i, text: a[i] });
  const A = a.slice(pre, a.length - suf);
  const B = b.slice(pre, b.length - suf);
  const middle = myers(A, B, maxD);
  const approximate = middle === null;
  for (const op of middle ?? wholesale(A, B)) {
    ops.push({
      kind: op.kind,
      a: op.a < 0 ? -1 : op.a + pre,
      b: op.b < 0 ? -1 : op.b + pre,
      text: op.text,
    });
  }
  for (let i = suf; i > 0; i--) {
    ops.push({ kind: "equal", a: a.length - i, b: b.length - i, text: a[a.length - i] });
  }
  return { ops, approximate };
}

function wholesale(A: string[], B: string[]): DiffOp[] {
  return [
    ...A.map((text, i): DiffOp => ({ kind: "delete", a: i, b: -1, text })),
    ...B.map((text, i): DiffOp => ({ kind: "insert", a: -1, b: i, text })),
  ];
}

/** Myers' greedy forward search, keeping each round's diagonal frontier for the walk back. */
function myers(A: string[], B: string[], maxD: number): DiffOp[] | null {
  const n = A.length;
  const m = B.length;
  if (n === 0 && m === 0) return [];
  const max = Math.min(n + m, maxD);
  const off = max + 1;
  const v = new Int32Array(2 * max + 3);
  // trace[d] holds v[k] for k in [-d, d] as it was before round d.
  const trace: Int32Array[] = [];
  for (let d = 0; d <= max; d++) {
    trace.push(v.slice(off - d, off + d + 1));
    for (let k = -d; k <= d; k += 2) {
      let x =
        k === -d || (k !== d && v[off + k - 1] < v[off + k + 1]) ? v[off + k + 1] : v[off + k - 1] + 1;
      let y = x - k;
      while (x < n && y < m && A[x] === B[y]) {
        x++;
        y++;
      }
      v[off + k] = x;
      if (x >= n && y >= m) return walkBack(A, B, trace, d);
    }
  }
  return null;
}

function walkBack(A: string[], B: string[], trace: Int32Array[], dEnd: number): DiffOp[] {
  const out: DiffOp[] = [];
  let x = A.length;
  let y = B.length;
  for (let d = dEnd; d >= 0; d--) {
    const snap = trace[d];
    const at = (k: number) => snap[k + d];
    const k = x - y;
    let prevK: number;
    if (d === 0) prevK = 0;
    else prevK = k === -d || (k !== d && at(k - 1) < at(k + 1)) ? k + 1 : k - 1;
    const prevX = d === 0 ? 0 : at(prevK);
    const prevY = prevX - prevK;
    while (x > prevX && y > prevY) {
      x--;
      y--;
      out.push({ kind: "equal", a: x, b: y, text: A[x] });
    }
    if (d > 0) {
      if (x === prevX) out.push({ kind: "insert", a: -1, b: y - 1, text: B[y - 1] });
      else out.push({ kind: "delete", a: x - 1, b: -1, text: A[x - 1] });
    }
    x = prevX;
    y = prevY;
  }
  return out.reverse();
}

export interface Hunk {
  /** 1-based first line in the old and new texts, as in a unified diff header. */
  aStart: number;
  aLines: number;
  bStart: number;
  bLines: number;
  ops: DiffOp[];
}

/** Groups changes with `context` unchanged lines around them, like `diff -u`. */
export function toHunks(ops: DiffOp[], context = 3): Hunk[] {
  const changed = ops.map((o) => o.kind !== "equal");
  const hunks: Hunk[] = [];
  let i = 0;
  while (i < ops.length) {
    if (!changed[i]) {
      i++;
      continue;
    }
    // Hunks never overlap: changes closer than 2*context lines join one hunk.
    const start = Math.max(0, i - context);
    let end = i;
    // Extend while the next change is within 2*context unchanged lines.
    for (;;) {
      while (end < ops.length && changed[end]) end++;
      let gap = 0;
      while (end + gap < ops.length && !changed[end + gap]) gap++;
      if (end + gap < ops.length && gap <= 2 * context) {
        end += gap;
        continue;
      }
      end = Math.min(ops.length, end + context);
      break;
    }
    const slice = ops.slice(start, end);
    hunks.push(makeHunk(slice, ops, start));
    i = end;
  }
  return hunks;
}

function makeHunk(slice: DiffOp[], ops: DiffOp[], start: number): Hunk {
  // Line numbers of the hunk's start: count the lines of each side before it.
  let aBefore = 0;
  let bBefore = 0;
  for (let j = 0; j < start; j++) {
    if (ops[j].kind !== "insert") aBefore++;
    if (ops[j].kind !== "delete") bBefore++;
  }
  const aLines = slice.filter((o) => o.kind !== "insert").length;
  const bLines = slice.filter((o) => o.kind !== "delete").length;
  return {
    aStart: aLines ? aBefore + 1 : aBefore,
    aLines,
    bStart: bLines ? bBefore + 1 : bBefore,
    bLines,
    ops: slice,
  };
}

/** Counts of added and removed lines. */
export function stats(ops: DiffOp[]): { added: number; removed: number } {
  let added = 0;
  let removed = 0;
  for (const o of ops) {
    if (o.kind === "insert") added++;
    else if (o.kind === "delete") removed++;
  }
  return { added, removed };
}

/** Renders hunks as unified-diff text (used by tests and "copy diff"). */
export function unified(hunks: Hunk[], aName = "a", bName = "b"): string {
  if (hunks.length === 0) return "";
  const out = [`--- ${aName}`, `+++ ${bName}`];
  for (const h of hunks) {
    out.push(`@@ -${h.aStart},${h.aLines} +${h.bStart},${h.bLines} @@`);
    for (const o of h.ops) out.push((o.kind === "equal" ? " " : o.kind === "delete" ? "-" : "+") + o.text);
  }
  return out.join("\n") + "\n";
}
