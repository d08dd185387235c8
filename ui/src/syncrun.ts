// One run of "Sync now": the NDJSON lines of POST /v1/sync[/{id}] folded into what the Live
// sync view shows. For "sync all" the daemon streams one config after another, each with its own
// start, progress, files and summary. Syncs the daemon started are followed from its event
// stream into the same shape (follow.ts).

import type { FileLine, StartLine, StreamLine, SummaryLine } from "./ndjson";

export const PHASES = ["scan", "fetch", "plan", "commit", "push", "apply"] as const;

export interface SyncRun {
  /** "app": this tab's "Sync now", fed by its NDJSON stream; "daemon": a sync someone else
   * started (the watcher, the schedule, the CLI), followed on the event stream. */
  source: "app" | "daemon";
  /** Config id, or null for all configs. */
  target: string | null;
  label: string;
  started_at: number;
  starts: StartLine[];
  files: FileLine[];
  summaries: SummaryLine[];
  /** The config being synced now, its phase and count. */
  config: string | null;
  phase: string | null;
  done: number;
  total: number | null;
  current_file: string | null;
  finished: boolean;
  /** Why the run failed as a whole (the request failed, or the stream broke). */
  error: string | null;
  invalid_lines: number;
}

export function newRun(target: string | null, label: string, now = Date.now(), source: SyncRun["source"] = "app"): SyncRun {
  return {
    source,
    target,
    label,
    started_at: now,
    starts: [],
    files: [],
    summaries: [],
    config: null,
    phase: null,
    done: 0,
    total: null,
    current_file: null,
    finished: false,
    error: null,
    invalid_lines: 0,
  };
}

export function applyLine(r: SyncRun, l: StreamLine): SyncRun {
  switch (l.type) {
    case "start":
      return { ...r, starts: [...r.starts, l], config: l.config, phase: "start", done: 0, total: null, current_file: null };
    case "progress":
      return { ...r, config: l.config, phase: l.phase, done: l.done, total: l.total ?? null };
    case "file":
      return { ...r, files: [...r.files, l], current_file: l.path };
    case "summary":
      return { ...r, summaries: [...r.summaries, l], current_file: null, phase: "done" };
    case "invalid":
      return { ...r, invalid_lines: r.invalid_lines + 1 };
  }
}

export function finish(r: SyncRun, error: string | null = null): SyncRun {
  return { ...r, finished: true, error: error ?? r.error, current_file: null };
}

/** How far the config being synced is, 0..1: phases in order, each its own share. */
export function fraction(r: SyncRun): number {
  if (r.finished || r.phase === "done") return 1;
  const i = PHASES.indexOf(r.phase as (typeof PHASES)[number]);
  if (i === -1) return 0;
  const within = r.total && r.total > 0 ? Math.min(1, r.done / r.total) : 0;
  return (i + within) / PHASES.length;
}

/** Totals over all summaries of the run. */
export function totals(r: SyncRun): Record<string, number> {
  const keys = ["pushed", "pulled", "merged", "deleted", "conflicts", "resolved", "skipped", "failed", "files"] as const;
  const t: Record<string, number> = {};
  for (const k of keys) t[k] = r.summaries.reduce((n, s) => n + (Number(s[k]) || 0), 0);
  return t;
}

export function runOk(r: SyncRun): boolean {
  return r.finished && r.error === null && r.summaries.length > 0 && r.summaries.every((s) => s.ok);
}
