import { describe, expect, it } from "vitest";
import { appFinished, appLine, eventLine, followEvent, missedEvents, newFollow, triggerText, type Follow } from "../src/follow";
import { applyLine, finish, fraction, newRun, runOk, totals, type SyncRun } from "../src/syncrun";
import type { SyncLine } from "../src/ndjson";

const START = { type: "start", config: "dots", config_id: "cfg_a", remote: "/r.git", branch: "main", trigger: "watch" };
const PROGRESS = { type: "progress", config: "dots", phase: "commit", done: 1, total: 2 };
const FILE = { type: "file", config: "dots", path: ".zshrc", action: "pushed", bytes: 12 };
const SUMMARY = {
  type: "summary", config: "dots", config_id: "cfg_a", ok: true, commit: "abc", pushed: 1, pulled: 0, merged: 0,
  deleted: 0, conflicts: 0, resolved: 0, skipped: 0, failed: 0, files: 3, duration_ms: 40,
};

/** Feeds events to the follower the way the store does. */
function events(run: SyncRun | null, f: Follow, evs: [string, object][], now = 1000): { run: SyncRun | null; follow: Follow } {
  let st = { run, follow: f };
  for (const [kind, data] of evs) {
    const l = eventLine(kind, data);
    expect(l, kind).not.toBeNull();
    st = followEvent(st.run, st.follow, l!, now);
  }
  return st;
}

const WHOLE: [string, object][] = [
  ["sync_started", START],
  ["sync_progress", PROGRESS],
  ["file", FILE],
  ["sync_finished", SUMMARY],
];

describe("following syncs the daemon started", () => {
  it("reads the sync line an event carries, and nothing else", () => {
    expect(eventLine("file", FILE)).toMatchObject({ type: "file", path: ".zshrc" });
    expect(eventLine("sync_finished", SUMMARY)).toMatchObject({ type: "summary", pushed: 1 });
    expect(eventLine("status", { config: "dots" })).toBeNull();
    expect(eventLine("conflict", { config: "dots", path: "x" })).toBeNull();
    expect(eventLine("file", { path: ".zshrc" })).toBeNull();
    expect(eventLine("file", { config: "dots" })).toBeNull();
  });

  it("shows a watcher's sync from its start to its summary", () => {
    let st = events(null, newFollow(), [["sync_started", START]]);
    expect(st.run).toMatchObject({ source: "daemon", target: "cfg_a", label: "dots", finished: false, config: "dots" });
    st = events(st.run, st.follow, [["sync_progress", PROGRESS]]);
    expect(fraction(st.run!)).toBeGreaterThan(0);
    expect(fraction(st.run!)).toBeLessThan(1);
    st = events(st.run, st.follow, [["file", FILE]]);
    expect(st.run!.current_file).toBe(".zshrc");
    expect(st.run!.files.map((f) => f.path)).toEqual([".zshrc"]);
    st = events(st.run, st.follow, [["sync_finished", SUMMARY]]);
    expect(st.run!.finished).toBe(true);
    expect(runOk(st.run!)).toBe(true);
    expect(totals(st.run!).pushed).toBe(1);
    expect(fraction(st.run!)).toBe(1);
  });

  it("replaces the last finished sync with the next one, and stays on a sync of two configs until both end", () => {
    const done = finish(newRun("cfg_a", "dots", 1000));
    let st = events(done, newFollow(), [["sync_started", START]], 1000);
    expect(st.run!.source).toBe("daemon");
    expect(st.run!.started_at).toBeGreaterThan(done.started_at);
    const other = { ...START, config: "work", config_id: "cfg_b", trigger: "schedule" };
    st = events(st.run, st.follow, [
      ["sync_started", other],
      ["file", FILE],
      ["file", { ...FILE, config: "work", path: ".gitconfig" }],
      ["sync_finished", SUMMARY],
    ]);
    expect(st.run!.finished).toBe(false);
    st = events(st.run, st.follow, [["sync_finished", { ...SUMMARY, config: "work", config_id: "cfg_b", pushed: 2 }]]);
    expect(st.run!.finished).toBe(true);
    expect(st.run!.files.map((f) => f.path)).toEqual([".zshrc", ".gitconfig"]);
    expect(totals(st.run!).pushed).toBe(3);
  });

  it("ignores lines of a sync whose start it never saw", () => {
    const st = events(null, newFollow(), [["file", FILE], ["sync_finished", SUMMARY]]);
    expect(st.run).toBeNull();
  });

  it("shows the app's own sync once when its events arrive while its stream runs", () => {
    let run = newRun("cfg_a", "dots", 1000);
    let f = newFollow();
    // Interleaved, events first for the start, the stream first for the rest.
    ({ run, follow: f } = events(run, f, [["sync_started", START]]) as { run: SyncRun; follow: Follow });
    for (const l of [START, PROGRESS, FILE] as SyncLine[]) {
      f = appLine(f, l);
      run = applyLine(run, l);
    }
    ({ run, follow: f } = events(run, f, [["sync_progress", PROGRESS], ["file", FILE]]) as { run: SyncRun; follow: Follow });
    f = appLine(f, SUMMARY as SyncLine);
    run = finish(applyLine(run, SUMMARY as SyncLine));
    f = appFinished(f);
    ({ run, follow: f } = events(run, f, [["sync_finished", SUMMARY]]) as { run: SyncRun; follow: Follow });
    expect(run.source).toBe("app");
    expect(run.files).toHaveLength(1);
    expect(run.summaries).toHaveLength(1);
    expect(f).toEqual({ echoes: {}, skip: {} });
  });

  it("shows the app's own sync once when its events arrive after its stream ended", () => {
    let run = newRun("cfg_a", "dots", 1000);
    let f = newFollow();
    for (const l of [START, PROGRESS, FILE, SUMMARY] as SyncLine[]) {
      f = appLine(f, l);
      run = applyLine(run, l);
    }
    run = finish(run);
    f = appFinished(f);
    const st = events(run, f, WHOLE);
    expect(st.run).toBe(run);
    expect(st.follow).toEqual({ echoes: {}, skip: {} });
    // The next sync, by the watcher, is shown again.
    const next = events(st.run, st.follow, [["sync_started", START], ["file", FILE]]);
    expect(next.run).toMatchObject({ source: "daemon", finished: false });
    expect(next.run!.files).toHaveLength(1);
  });

  it("during the app's 'sync all', swallows every config's events", () => {
    let run = newRun(null, "all configs", 1000);
    const st = events(run, newFollow(), [...WHOLE, ["sync_started", { ...START, config: "work", config_id: "cfg_b" }]]);
    expect(st.run).toBe(run);
    expect(st.follow.echoes).toEqual({ dots: -1, work: -1 });
    // The stream then brings both starts.
    let f = st.follow;
    for (const l of [START, { ...START, config: "work", config_id: "cfg_b" }] as SyncLine[]) {
      f = appLine(f, l);
      run = applyLine(run, l);
    }
    expect(appFinished(f).echoes).toEqual({});
  });

  it("does not let a daemon's sync take over the app's running one, nor an unrelated config's", () => {
    const run = newRun("cfg_a", "dots", 1000);
    const st = events(run, newFollow(), [["sync_started", { ...START, config: "work", config_id: "cfg_b" }], ["file", { ...FILE, config: "work" }]]);
    expect(st.run).toBe(run);
    expect(st.run!.files).toEqual([]);
  });

  it("ends a followed sync with a note when the event stream lost events", () => {
    const st = events(null, newFollow(), [["sync_started", START]]);
    const after = missedEvents(st.run);
    expect(after.run!.finished).toBe(true);
    expect(after.run!.error).toMatch(/lost/);
    expect(runOk(after.run!)).toBe(false);
    const app = newRun("cfg_a", "dots");
    expect(missedEvents(app).run).toBe(app);
  });

  it("says who started a sync", () => {
    expect(triggerText("watch")).toMatch(/change/);
    expect(triggerText("schedule")).toBe("the schedule");
    expect(triggerText(undefined)).toBe("the daemon");
  });
});
