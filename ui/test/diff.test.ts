import { describe, expect, it } from "vitest";
import { diffLines, splitLines, stats, toHunks, unified, type DiffOp } from "../src/diff";

/** Rebuilds both texts from a script: a diff that loses or invents a line is wrong. */
function sides(ops: DiffOp[]): [string[], string[]] {
  return [ops.filter((o) => o.kind !== "insert").map((o) => o.text), ops.filter((o) => o.kind !== "delete").map((o) => o.text)];
}

/** Length of the longest common subsequence, by dynamic programming: the minimal edit count
 * is len(a) + len(b) - 2 * lcs. */
function lcs(a: string[], b: string[]): number {
  const dp = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++)
      dp[i][j] = a[i - 1] === b[j - 1] ? dp[i - 1][j - 1] + 1 : Math.max(dp[i - 1][j], dp[i][j - 1]);
  return dp[a.length][b.length];
}

function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

describe("splitLines", () => {
  it("does not count the final newline as a line", () => {
    expect(splitLines("")).toEqual([]);
    expect(splitLines("a\nb\n")).toEqual(["a", "b"]);
    expect(splitLines("a\nb")).toEqual(["a", "b"]);
    expect(splitLines("\n")).toEqual([""]);
  });
});

describe("diffLines", () => {
  it("finds nothing between equal texts", () => {
    const { ops } = diffLines(["a", "b"], ["a", "b"]);
    expect(ops.every((o) => o.kind === "equal")).toBe(true);
    expect(toHunks(ops)).toEqual([]);
  });

  it("handles empty sides", () => {
    expect(diffLines([], []).ops).toEqual([]);
    expect(diffLines([], ["x"]).ops).toEqual([{ kind: "insert", a: -1, b: 0, text: "x" }]);
    expect(diffLines(["x"], []).ops).toEqual([{ kind: "delete", a: 0, b: -1, text: "x" }]);
  });

  it("shows one changed line as one delete and one insert", () => {
    const a = ["set number", "set tabstop=4", "syntax on"];
    const b = ["set number", "set tabstop=2", "syntax on"];
    const { ops } = diffLines(a, b);
    expect(stats(ops)).toEqual({ added: 1, removed: 1 });
    expect(unified(toHunks(ops), "old", "new")).toBe(
      "--- old\n+++ new\n@@ -1,3 +1,3 @@\n set number\n-set tabstop=4\n+set tabstop=2\n syntax on\n",
    );
  });

  it("is minimal and rebuilds both sides on random inputs", () => {
    const r = rng(42);
    for (let t = 0; t < 300; t++) {
      const alphabet = ["a", "b", "c", "d"];
      const gen = () => Array.from({ length: Math.floor(r() * 14) }, () => alphabet[Math.floor(r() * alphabet.length)]);
      const a = gen();
      const b = gen();
      const { ops, approximate } = diffLines(a, b);
      expect(approximate).toBe(false);
      expect(sides(ops)).toEqual([a, b]);
      const { added, removed } = stats(ops);
      expect(added + removed).toBe(a.length + b.length - 2 * lcs(a, b));
      // Indexes point at the right lines.
      for (const o of ops) {
        if (o.a >= 0) expect(a[o.a]).toBe(o.text);
        if (o.b >= 0) expect(b[o.b]).toBe(o.text);
      }
    }
  });

  it("stays correct, if not minimal, past its edit limit", () => {
    const a = Array.from({ length: 50 }, (_, i) => `a${i}`);
    const b = Array.from({ length: 50 }, (_, i) => `b${i}`);
    const { ops, approximate } = diffLines(a, b, 10);
    expect(approximate).toBe(true);
    expect(sides(ops)).toEqual([a, b]);
  });

  it("diffs a large file with a small change quickly", () => {
    const a = Array.from({ length: 20000 }, (_, i) => `line ${i}`);
    const b = a.slice();
    b[10000] = "changed";
    b.splice(15000, 1);
    const t0 = performance.now();
    const { ops } = diffLines(a, b);
    expect(performance.now() - t0).toBeLessThan(500);
    expect(stats(ops)).toEqual({ added: 1, removed: 2 });
  });
});

describe("toHunks", () => {
  it("keeps three lines of context and splits distant changes", () => {
    const a = Array.from({ length: 30 }, (_, i) => `l${i}`);
    const b = a.slice();
    b[2] = "X";
    b[25] = "Y";
    const hunks = toHunks(diffLines(a, b).ops, 3);
    expect(hunks).toHaveLength(2);
    expect([hunks[0].aStart, hunks[0].aLines, hunks[0].bStart, hunks[0].bLines]).toEqual([1, 6, 1, 6]);
    expect([hunks[1].aStart, hunks[1].aLines]).toEqual([23, 7]);
  });

  it("joins changes closer than twice the context", () => {
    const a = Array.from({ length: 20 }, (_, i) => `l${i}`);
    const b = a.slice();
    b[5] = "X";
    b[10] = "Y";
    expect(toHunks(diffLines(a, b).ops, 3)).toHaveLength(1);
  });

  it("numbers a hunk that only adds lines to an empty file like diff -u", () => {
    const hunks = toHunks(diffLines([], ["x", "y"]).ops);
    expect(unified(hunks)).toBe("--- a\n+++ b\n@@ -0,0 +1,2 @@\n+x\n+y\n");
  });
});
