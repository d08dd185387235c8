import { describe, expect, it } from "vitest";
import { appLine, eventLine, followEvent, MAX_OWN_RUNS, missedEvents, newFollow, triggerText, type Follow } from "../src/follow";
import { applyLine, finish, fraction, newRun, runOk, totals, type SyncRun } from "../src/syncrun";
import type { SyncLine } from "../src/ndjson";

const START = { run_id: "r1", type: "start", config: "dots", config_id: "cfg_a", remote: "/r.git", branch: "main", trigger: "watch" };
const PROGRESS = { run_id: "r1", type: "progress", config: "dots", phase: "commit", done: 1, total: 2 };
const FILE = { run_id: "r1", type: "file", config: "dots", path: ".zshrc", action: "pushed", bytes: 12 };
const SUMMARY = {
  run_id: "r1", type: "summary", config: "dots", config_id: "cfg_a", ok: true, commit: "abc", pushed: 1, pulled: 0, merged: 0,
  deleted: 0, conflicts: 0, resolved: 0, skipped: 0, failed: 0, files: 3, duration_ms: 40,
};

/** The same lines, of another run. */
function ofRun<T extends object>(run_id: string, l: T, more: object = {}): T {
  return { ...l, run_id, ...more };
}

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

/** Feeds lines of the app's own stream the way the store does. */
function stream(run: SyncRun, f: Follow, lines: object[]): { run: SyncRun; follow: Follow } {
  for (const l of lines as SyncLine[]) {
    f = appLine(f, l);
    run = applyLine(run, l);
  }
  return { run, follow: f };
}

const WHOLE: [string, object][] = [
  ["sync_started", START],
  ["sync_progress", PROGRESS],
  ["file", FILE],
  ["sync_finished", SUMMARY],
];

function whole(run_id: string, more: object = {}): [string, object][] {
  return WHOLE.map(([k, d]) => [k, ofRun(run_id, d, more)]);
}

describe("following syncs the daemon started", () => {
  it("reads the sync line an event carries, and nothing else", () => {
    expect(eventLine("file", FILE)).toMatchObject({ type: "file", path: ".zshrc", run_id: "r1" });
    expect(eventLine("sync_finished", SUMMARY)).toMatchObject({ type: "summary", pushed: 1 });
    expect(eventLine("status", { config: "dots" })).toBeNull();
    expect(eventLine("conflict", { run_id: "r1", config: "dots", path: "x" })).toBeNull();
    expect(eventLine("file", { run_id: "r1", path: ".zshrc" })).toBeNull();
    expect(eventLine("file", { run_id: "r1", config: "dots" })).toBeNull();
    // Every sync line carries its run.
    expect(eventLine("file", { ...FILE, run_id: undefined })).toBeNull();
    expect(eventLine("sync_started", { ...START, run_id: "" })).toBeNull();
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
    const work = { config: "work", config_id: "cfg_b" };
    st = events(st.run, st.follow, [
      ["sync_started", ofRun("r2", START, { ...work, trigger: "schedule" })],
      ["file", FILE],
      ["file", ofRun("r2", FILE, { config: "work", path: ".gitconfig" })],
      ["sync_finished", SUMMARY],
    ]);
    expect(st.run!.finished).toBe(false);
    st = events(st.run, st.follow, [["sync_finished", ofRun("r2", SUMMARY, { ...work, pushed: 2 })]]);
    expect(st.run!.finished).toBe(true);
    expect(st.run!.files.map((f) => f.path)).toEqual([".zshrc", ".gitconfig"]);
    expect(totals(st.run!).pushed).toBe(3);
  });

  it("ignores lines of a run whose start it never saw, even of the config it shows", () => {
    expect(events(null, newFollow(), [["file", FILE], ["sync_finished", SUMMARY]]).run).toBeNull();
    // Following r2 of "dots": late lines of r1, the config's run before, are not r2's.
    let st = events(null, newFollow(), [["sync_started", ofRun("r2", START)]]);
    st = events(st.run, st.follow, [["file", ofRun("r1", FILE, { path: "old" })], ["sync_finished", SUMMARY]]);
    expect(st.run!.files).toEqual([]);
    expect(st.run!.finished).toBe(false);
    st = events(st.run, st.follow, [["file", ofRun("r2", FILE)], ["sync_finished", ofRun("r2", SUMMARY)]]);
    expect(st.run!.files.map((f) => f.path)).toEqual([".zshrc"]);
    expect(st.run!.finished).toBe(true);
  });

  it("shows the app's own sync once when its events arrive while its stream runs", () => {
    let run = newRun("cfg_a", "dots", 1000);
    let f = newFollow();
    // Interleaved: the event of the start first, the stream first for the rest.
    ({ run, follow: f } = events(run, f, [["sync_started", START]]) as { run: SyncRun; follow: Follow });
    ({ run, follow: f } = stream(run, f, [START, PROGRESS, FILE]));
    expect([...f.own]).toEqual(["r1"]);
    ({ run, follow: f } = events(run, f, [["sync_progress", PROGRESS], ["file", FILE]]) as { run: SyncRun; follow: Follow });
    ({ run, follow: f } = stream(run, f, [SUMMARY]));
    run = finish(run);
    ({ run, follow: f } = events(run, f, [["sync_finished", SUMMARY]]) as { run: SyncRun; follow: Follow });
    expect(run.source).toBe("app");
    expect(run.starts).toHaveLength(1);
    expect(run.files).toHaveLength(1);
    expect(run.summaries).toHaveLength(1);
  });

  it("shows the app's own sync once when its events arrive after its stream ended, and the next run again", () => {
    let { run, follow: f } = stream(newRun("cfg_a", "dots", 1000), newFollow(), [START, PROGRESS, FILE, SUMMARY]);
    run = finish(run);
    const st = events(run, f, WHOLE);
    expect(st.run).toBe(run);
    expect([...st.follow.own]).toEqual(["r1"]);
    // The next sync of the same config, by the watcher, is another run: shown.
    const next = events(st.run, st.follow, [["sync_started", ofRun("w1", START)], ["file", ofRun("w1", FILE)]]);
    expect(next.run).toMatchObject({ source: "daemon", finished: false });
    expect(next.run!.files).toHaveLength(1);
    // A late event of the app's run does not join it, nor end it.
    const late = events(next.run, next.follow, [["file", FILE], ["sync_finished", SUMMARY]]);
    expect(late.run).toBe(next.run);
  });

  it("during the app's 'sync all', ignores every config's events, before and after their lines", () => {
    const work = { config: "work", config_id: "cfg_b" };
    const run = newRun(null, "all configs", 1000);
    // The events of the first config come before the stream's lines: the app's run stays.
    let st = events(run, newFollow(), WHOLE);
    expect(st.run).toBe(run);
    let mine = stream(run, st.follow, [START, PROGRESS, FILE, SUMMARY, ofRun("r2", START, work), ofRun("r2", FILE, work), ofRun("r2", SUMMARY, work)]);
    expect([...mine.follow.own]).toEqual(["r1", "r2"]);
    mine = { ...mine, run: finish(mine.run) };
    // The second config's events come after the stream ended: still the app's.
    st = events(mine.run, mine.follow, whole("r2", work));
    expect(st.run).toBe(mine.run);
    expect(st.run!.starts).toHaveLength(2);
    expect(st.run!.files).toHaveLength(2);
  });

  it("does not let a daemon's sync take over the app's running one, nor an unrelated config's", () => {
    const run = newRun("cfg_a", "dots", 1000);
    const work = { config: "work", config_id: "cfg_b" };
    const st = events(run, newFollow(), [["sync_started", ofRun("w1", START, work)], ["file", ofRun("w1", FILE, work)]]);
    expect(st.run).toBe(run);
    expect(st.run!.files).toEqual([]);
    expect(st.follow.own.size).toBe(0);
  });

  it("remembers the app's last runs only", () => {
    let f = newFollow();
    for (let i = 0; i < MAX_OWN_RUNS + 2; i++) f = appLine(f, ofRun(`r${i}`, START) as SyncLine);
    expect(f.own.size).toBe(MAX_OWN_RUNS);
    expect(f.own.has("r0")).toBe(false);
    expect(f.own.has("r1")).toBe(false);
    expect(f.own.has("r2")).toBe(true);
    expect(f.own.has(`r${MAX_OWN_RUNS + 1}`)).toBe(true);
    // A line of a known run changes nothing; a line that could not be read is no run.
    expect(appLine(f, ofRun("r5", FILE) as SyncLine)).toBe(f);
    expect(appLine(f, { type: "invalid", raw: "x", reason: "not JSON" })).toBe(f);
  });

  it("ends a followed sync with a note when the event stream lost events, and keeps the app's runs", () => {
    const own = appLine(newFollow(), ofRun("a1", START) as SyncLine);
    const st = events(null, own, [["sync_started", START]]);
    const after = missedEvents(st.run, st.follow);
    expect(after.run!.finished).toBe(true);
    expect(after.run!.error).toMatch(/lost/);
    expect(runOk(after.run!)).toBe(false);
    expect(after.follow.own.has("a1")).toBe(true);
    const app = newRun("cfg_a", "dots");
    expect(missedEvents(app, own).run).toBe(app);
    // A late event of the app's run is still the app's after the loss.
    expect(events(null, after.follow, [["sync_started", ofRun("a1", START)]]).run).toBeNull();
  });

  it("says who started a sync", () => {
    expect(triggerText("watch")).toMatch(/change/);
    expect(triggerText("schedule")).toBe("the schedule");
    expect(triggerText(undefined)).toBe("the daemon");
  });
});
