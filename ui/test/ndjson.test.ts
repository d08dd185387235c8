import { describe, expect, it } from "vitest";
import { LineSplitter, parseLine, readNdjson, type StreamLine, type SyncLine } from "../src/ndjson";
import { applyLine, finish, fraction, newRun, runOk, totals } from "../src/syncrun";

function streamOf(chunks: (string | Uint8Array)[]): ReadableStream<Uint8Array> {
  const enc = new TextEncoder();
  return new ReadableStream({
    start(c) {
      for (const ch of chunks) c.enqueue(typeof ch === "string" ? enc.encode(ch) : ch);
      c.close();
    },
  });
}

async function collect(s: ReadableStream<Uint8Array>): Promise<StreamLine[]> {
  const out: StreamLine[] = [];
  for await (const l of readNdjson(s)) out.push(l);
  return out;
}

describe("LineSplitter", () => {
  it("joins lines split across chunks and splits chunks holding many", () => {
    const s = new LineSplitter();
    expect(s.push('{"a":')).toEqual([]);
    expect(s.push('1}\n{"b":2}\n{"c"')).toEqual(['{"a":1}', '{"b":2}']);
    expect(s.push(":3}")).toEqual([]);
    expect(s.end()).toEqual(['{"c":3}']);
  });

  it("drops CR and blank lines", () => {
    const s = new LineSplitter();
    expect(s.push('{"a":1}\r\n\r\n\n{"b":2}\r\n')).toEqual(['{"a":1}', '{"b":2}']);
    expect(s.end()).toEqual([]);
  });
});

describe("parseLine", () => {
  it("accepts the sync lines and flags anything else", () => {
    expect(parseLine('{"run_id":"r1","type":"file","config":"d","path":"x","action":"pushed","bytes":3}')).toMatchObject({ type: "file", run_id: "r1" });
    expect(parseLine('{"type":"file","config":"d","path":"x","action":"pushed","bytes":3}')).toMatchObject({ type: "invalid", reason: "no run_id" });
    expect(parseLine('{"run_id":"","type":"start","config":"d"}')).toMatchObject({ type: "invalid", reason: "no run_id" });
    expect(parseLine("not json")).toMatchObject({ type: "invalid" });
    expect(parseLine("[1]")).toMatchObject({ type: "invalid", reason: "not a JSON object" });
    expect(parseLine('{"type":"bogus"}')).toMatchObject({ type: "invalid" });
  });
});

describe("readNdjson", () => {
  it("reads a stream whose multi-byte characters are cut between chunks", async () => {
    const line = '{"run_id":"r1","type":"file","config":"d","path":"é/ß.txt","action":"pulled","bytes":1}\n';
    const bytes = new TextEncoder().encode(line);
    const cut = bytes.indexOf(0xc3) + 1; // in the middle of "é"
    const lines = await collect(streamOf([bytes.slice(0, cut), bytes.slice(cut)]));
    expect(lines).toEqual([{ run_id: "r1", type: "file", config: "d", path: "é/ß.txt", action: "pulled", bytes: 1 }]);
  });

  it("reads a last line without a newline", async () => {
    const lines = await collect(streamOf(['{"run_id":"r1","type":"progress","config":"d","phase":"scan","done":1,"total":2}']));
    expect(lines[0]).toMatchObject({ type: "progress", done: 1 });
  });
});

describe("a sync run", () => {
  const lines: SyncLine[] = [
    { run_id: "r1", type: "start", config: "dots", config_id: "cfg_1", remote: "/r.git", branch: "main", trigger: "api" },
    { run_id: "r1", type: "progress", config: "dots", phase: "scan", done: 1, total: 2 },
    { run_id: "r1", type: "file", config: "dots", path: ".zshrc", action: "pushed", bytes: 10 },
    { run_id: "r1", type: "progress", config: "dots", phase: "push", done: 0, total: null },
    {
      run_id: "r1", type: "summary", config: "dots", config_id: "cfg_1", ok: true, commit: "abc", pushed: 1, pulled: 0, merged: 0,
      deleted: 0, conflicts: 0, resolved: 0, skipped: 0, failed: 0, files: 1, duration_ms: 12,
    },
  ];

  it("tracks the phase, the current file and the totals", () => {
    let r = newRun("cfg_1", "dots", 0);
    r = applyLine(r, lines[0]);
    r = applyLine(r, lines[1]);
    expect(fraction(r)).toBeCloseTo(0.5 / 6);
    r = applyLine(r, lines[2]);
    expect(r.current_file).toBe(".zshrc");
    r = applyLine(r, lines[3]);
    expect(fraction(r)).toBeCloseTo(4 / 6);
    r = applyLine(r, lines[4]);
    expect(fraction(r)).toBe(1);
    r = finish(r);
    expect(runOk(r)).toBe(true);
    expect(totals(r)).toMatchObject({ pushed: 1, files: 1 });
  });

  it("is not ok when the stream broke or a config failed", () => {
    let r = lines.slice(0, 3).reduce(applyLine, newRun(null, "all", 0));
    expect(runOk(finish(r, "network error"))).toBe(false);
    r = applyLine(r, { ...(lines[4] as Extract<SyncLine, { type: "summary" }>), ok: false, error: "offline" });
    expect(runOk(finish(r))).toBe(false);
  });
});
