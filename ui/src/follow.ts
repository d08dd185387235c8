// Syncs the app did not start: the watcher after a save, the schedule, the CLI, another tab.
// The daemon publishes every line of every sync on its event stream (`sync_started`,
// `sync_progress`, `file`, `sync_finished`, each carrying the sync line), so the Live sync view
// follows those too. A sync the app started itself arrives twice — on its own NDJSON stream and
// as events, in either order — and must be shown once: the app's stream is the one shown.
// Every line of a run carries its `run_id`, so `Follow` is the set of run_ids the app's own
// streams brought, and an event of one of those runs is ignored.

import type { StartLine, StreamLine, SyncLine } from "./ndjson";
import { isObj } from "./state";
import { applyLine, finish, newRun, type SyncRun } from "./syncrun";

/** How many of the app's own run_ids are remembered (the oldest are forgotten first): enough for
 * a "sync all" of many configs, and for their events to arrive late. */
export const MAX_OWN_RUNS = 256;

export interface Follow {
  /** The run_ids the app's own NDJSON streams brought, oldest first. */
  own: ReadonlySet<string>;
}

export function newFollow(): Follow {
  return { own: new Set() };
}

const KINDS: Record<string, SyncLine["type"]> = {
  sync_started: "start",
  sync_progress: "progress",
  file: "file",
  sync_finished: "summary",
};

/** The sync line an event carries, or null when it is not one (or not well formed). */
export function eventLine(kind: string, data: unknown): SyncLine | null {
  const type = KINDS[kind];
  if (!type) return null;
  const d = isObj(data) ? data : {};
  if (typeof d.run_id !== "string" || d.run_id === "") return null;
  if (typeof d.config !== "string") return null;
  if (d.type !== undefined && d.type !== type) return null;
  if (type === "file" && typeof d.path !== "string") return null;
  return { ...d, type } as unknown as SyncLine;
}

/** A line of the app's own NDJSON stream: its run is the app's. */
export function appLine(f: Follow, l: StreamLine): Follow {
  if (l.type === "invalid" || f.own.has(l.run_id)) return f;
  const own = new Set(f.own);
  own.add(l.run_id);
  for (const old of own) {
    if (own.size <= MAX_OWN_RUNS) break;
    own.delete(old);
  }
  return { own };
}

/** The run the event stream feeds: a daemon's, still going. */
function following(r: SyncRun | null): SyncRun | null {
  return r !== null && r.source === "daemon" && !r.finished ? r : null;
}

function startOf(r: SyncRun, runId: string): StartLine | undefined {
  return r.starts.find((s) => s.run_id === runId);
}

/** One sync line from the event stream: what the Live sync view shows next. */
export function followEvent(run: SyncRun | null, f: Follow, l: SyncLine, now = Date.now()): { run: SyncRun | null; follow: Follow } {
  // The app's own stream brought (or brings) this run: it is shown from there.
  if (f.own.has(l.run_id)) return { run, follow: f };
  if (l.type === "start") {
    const cur = following(run);
    // Another config's run while a daemon's sync is shown (a "sync all" from the CLI): one view.
    if (cur) return { run: applyLine(cur, l), follow: f };
    // The app's own "Sync now" is running: it stays on screen. (This start may even be its own,
    // when the event came before the stream's line.)
    if (run !== null && run.source === "app" && !run.finished) return { run, follow: f };
    const started = Math.max(now, (run?.started_at ?? 0) + 1);
    return { run: applyLine(newRun(l.config_id, l.config, started, "daemon"), l), follow: f };
  }
  const cur = following(run);
  // Only lines of a run whose start was followed.
  if (!cur || !startOf(cur, l.run_id)) return { run, follow: f };
  let r = applyLine(cur, l);
  if (l.type === "summary" && r.summaries.length >= r.starts.length) r = finish(r);
  return { run: r, follow: f };
}

/** The event stream lost events: a followed run may never see its summary. The app's own
 * run_ids stay what they were. */
export function missedEvents(run: SyncRun | null, f: Follow): { run: SyncRun | null; follow: Follow } {
  const cur = following(run);
  if (cur) {
    return { run: finish(cur, "The event stream lost part of this sync; the Overview has its outcome."), follow: f };
  }
  return { run, follow: f };
}

/** Who started a sync, in words, from its `trigger`. */
export function triggerText(trigger: string | undefined): string {
  switch (trigger) {
    case "watch":
      return "a change the daemon saw";
    case "rescan":
      return "the daemon's rescan";
    case "schedule":
      return "the schedule";
    case "api":
      return "a request (the CLI or another client)";
    default:
      return trigger ? trigger : "the daemon";
  }
}
