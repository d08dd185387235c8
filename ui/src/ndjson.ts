// The sync routes answer with NDJSON: one JSON object per line, written as the sync goes. This
// splits a byte stream into lines (a line may arrive in pieces, or many in one chunk) and parses
// each one.

import type { ErrorKind } from "./types";

export type FileAction =
  | "pushed"
  | "pulled"
  | "merged"
  | "deleted"
  | "conflict"
  | "resolved"
  | "skipped"
  | "failed";

export interface StartLine {
  type: "start";
  config: string;
  config_id: string;
  remote: string;
  branch: string;
  trigger: string;
}
export interface ProgressLine {
  type: "progress";
  config: string;
  phase: string;
  done: number;
  total: number | null;
}
export interface FileLine {
  type: "file";
  config: string;
  path: string;
  action: FileAction;
  bytes: number;
  detail?: string;
}
export interface SummaryLine {
  type: "summary";
  config: string;
  config_id: string;
  ok: boolean;
  error?: string;
  error_kind?: ErrorKind | null;
  commit: string | null;
  pushed: number;
  pulled: number;
  merged: number;
  deleted: number;
  conflicts: number;
  resolved: number;
  skipped: number;
  failed: number;
  files: number;
  duration_ms: number;
}
/** A line that was not a known sync event; kept so the view can say so. */
export interface InvalidLine {
  type: "invalid";
  raw: string;
  reason: string;
}
export type SyncLine = StartLine | ProgressLine | FileLine | SummaryLine | InvalidLine;

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

const TYPES = new Set(["start", "progress", "file", "summary"]);

export function parseLine(line: string): SyncLine {
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
  if (typeof t !== "string" || !TYPES.has(t)) {
    return { type: "invalid", raw: line, reason: `unknown line type ${JSON.stringify(t)}` };
  }
  return v as SyncLine;
}

/** Reads an NDJSON body as it arrives. */
export async function* readNdjson(body: ReadableStream<Uint8Array>): AsyncGenerator<SyncLine> {
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
