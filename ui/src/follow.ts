// Syncs the app did not start: the watcher after a save, the schedule, the CLI, another tab.
// The daemon publishes every line of every sync on its event stream (`sync_started`,
// `sync_progress`, `file`, `sync_finished`, each carrying the NDJSON line), so the Live sync view
// follows those too. A sync the app started itself arrives twice — on its own NDJSON stream and
// as events, in either order — and must be shown once: the app's stream is the one shown, and
// `Follow` counts, per config, the starts it brought that the event stream has not echoed yet.

import type { StartLine, StreamLine, SyncLine } from "./ndjson";
import { isObj } from "./state";
import { applyLine, finish, newRun, type SyncRun } from "./syncrun";

export interface Follow {
  /** Per config name: starts the app's own stream brought that the event stream has not
   * echoed yet; negative when the events came first. */
  echoes: Record<string, number>;
  /** Configs whose current run on the event stream is one the app's stream carries: its
   * progress, files and summary events are skipped (until that summary). */
  skip: Record<string, boolean>;
}

export function newFollow(): Follow {
  return { echoes: {}, skip: {} };
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
  if (typeof d.config !== "string") return null;
  if (d.type !== undefined && d.type !== type) return null;
  if (type === "file" && typeof d.path !== "string") return null;
  return { ...d, type } as unknown as SyncLine;
}

function add(f: Follow, config: string, n: number): Follow {
  const echoes = { ...f.echoes, [config]: (f.echoes[config] ?? 0) + n };
  if (echoes[config] === 0) delete echoes[config];
  return { ...f, echoes };
}

function setSkip(f: Follow, config: string, on: boolean): Follow {
  const skip = { ...f.skip };
  if (on) skip[config] = true;
  else delete skip[config];
  return { ...f, skip };
}

/** A line of the app's own NDJSON stream. */
export function appLine(f: Follow, l: StreamLine): Follow {
  return l.type === "start" ? add(f, l.config, 1) : f;
}

/** The app's own stream ended: events it swallowed ahead of a start that never came (a sync
 * already running when the app asked) are owed nothing. */
export function appFinished(f: Follow): Follow {
  const echoes: Record<string, number> = {};
  for (const [k, n] of Object.entries(f.echoes)) if (n > 0) echoes[k] = n;
  return { ...f, echoes };
}

function appRunCovers(r: SyncRun | null, s: StartLine): boolean {
  return r !== null && r.source === "app" && !r.finished && (r.target === null || r.target === s.config_id);
}

/** The run the event stream feeds: a daemon's, still going. */
function following(r: SyncRun | null): SyncRun | null {
  return r !== null && r.source === "daemon" && !r.finished ? r : null;
}

/** One sync line from the event stream: what the Live sync view shows next. */
export function followEvent(run: SyncRun | null, f: Follow, l: SyncLine, now = Date.now()): { run: SyncRun | null; follow: Follow } {
  const cfg = l.config;
  if (l.type === "start") {
    if ((f.echoes[cfg] ?? 0) > 0 || appRunCovers(run, l)) {
      // The app's own stream has brought (or will bring) this run.
      return { run, follow: setSkip(add(f, cfg, -1), cfg, true) };
    }
    f = setSkip(f, cfg, false);
    const cur = following(run);
    if (cur) return { run: applyLine(cur, l), follow: f };
    if (run !== null && run.source === "app" && !run.finished) return { run, follow: f };
    const started = Math.max(now, (run?.started_at ?? 0) + 1);
    return { run: applyLine(newRun(l.config_id, l.config, started, "daemon"), l), follow: f };
  }
  if (f.skip[cfg]) return { run, follow: l.type === "summary" ? setSkip(f, cfg, false) : f };
  const cur = following(run);
  if (!cur || !cur.starts.some((s) => s.config === cfg)) return { run, follow: f };
  let r = applyLine(cur, l);
  if (l.type === "summary" && r.summaries.length >= r.starts.length) r = finish(r);
  return { run: r, follow: f };
}

/** The event stream lost events: a followed run may never see its summary. */
export function missedEvents(run: SyncRun | null): { run: SyncRun | null; follow: Follow } {
  const cur = following(run);
  if (cur) {
    return { run: finish(cur, "The event stream lost part of this sync; the Overview has its outcome."), follow: newFollow() };
  }
  return { run, follow: newFollow() };
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
