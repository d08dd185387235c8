// The sync routes answer with NDJSON: one JSON object per line, written as the sync goes. This
// splits a byte stream into lines (a line may arrive in pieces, or many in one chunk) and parses
// each one. The lines' types are the daemon's (`SyncLine` in types.ts, from its OpenAPI
// document): this file only names the variants.

import type { SyncLine } from "./types";

export type { SyncLine };
export type StartLine = Extract<SyncLine, { type: "start" }>;
export type ProgressLine = Extract<SyncLine, { type: "progress" }>;
export type FileLine = Extract<SyncLine, { type: "file" }>;
export type SummaryLine = Extract<SyncLine, { type: "summary" }>;
/** A line that was not a sync line; kept so the view can say so. */
export interface InvalidLine {
  type: "invalid";
  raw: string;
  reason: string;
}
/** What a line of the stream reads as. */
export type StreamLine = SyncLine | InvalidLine;

/** Splits text into lines; keeps a partial last line until more text (or `end`) comes. */
export class LineSplitter {
  private rest = "";

  push(chunk: string): string[] {
    const text = this.rest + chunk;
    const parts = text.split("\n");
    this.rest = parts.pop() ?? "";
    return parts.map(stripCr).filter((l) => l.trim() !== "");
  }

  end(): string[] {
    const last = stripCr(this.rest);
    this.rest = "";
    return last.trim() === "" ? [] : [last];
  }
}

function stripCr(l: string): string {
  return l.endsWith("\r") ? l.slice(0, -1) : l;
}

/** Every variant of `SyncLine` (the compiler says when the daemon's document has another). */
const TYPES: Record<SyncLine["type"], true> = { start: true, progress: true, file: true, summary: true };

export function parseLine(line: string): StreamLine {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch (e) {
    return { type: "invalid", raw: line, reason: `not JSON: ${(e as Error).message}` };
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    return { type: "invalid", raw: line, reason: "not a JSON object" };
  }
  const t = (v as { type?: unknown }).type;
  if (typeof t !== "string" || !Object.hasOwn(TYPES, t)) {
    return { type: "invalid", raw: line, reason: `unknown line type ${JSON.stringify(t)}` };
  }
  const run = (v as { run_id?: unknown }).run_id;
  if (typeof run !== "string" || run === "") {
    return { type: "invalid", raw: line, reason: "no run_id" };
  }
  return v as SyncLine;
}

/** Reads an NDJSON body as it arrives. */
export async function* readNdjson(body: ReadableStream<Uint8Array>): AsyncGenerator<StreamLine> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  const split = new LineSplitter();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      for (const l of split.push(decoder.decode(value, { stream: true }))) yield parseLine(l);
    }
    for (const l of split.push(decoder.decode())) yield parseLine(l);
    for (const l of split.end()) yield parseLine(l);
  } finally {
    reader.releaseLock();
  }
}
