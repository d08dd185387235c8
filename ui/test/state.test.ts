import { describe, expect, it } from "vitest";
import { applyStatus, eventPayload, initialState, reduce, totalConflicts, uptimeNow, type LiveState } from "../src/state";
import { configStatus, daemonStatus } from "./fixtures";

const status = daemonStatus({
  configs: [
    configStatus({ id: "cfg_a", name: "dots", state: "idle", last_sync: 1000, last_error: null, pending_changes: 0, conflicts: 0 }),
    configStatus({ id: "cfg_b", name: "work", state: "error", last_sync: null, last_error: "offline", pending_changes: 2, conflicts: 0 }),
  ],
});

function start(): LiveState {
  return applyStatus(initialState(), status, 0);
}

describe("the live state", () => {
  it("starts from a status snapshot", () => {
    const s = start();
    expect(s.needs_refresh).toBe(false);
    expect(s.configs.map((c) => [c.name, c.state])).toEqual([["dots", "idle"], ["work", "error"]]);
    expect(uptimeNow(s, 5000)).toBe(105);
  });

  it("follows a sync from start to finish", () => {
    let s = start();
    s = reduce(s, { id: 1, kind: "sync_started", data: { config: "dots", config_id: "cfg_a", trigger: "manual" } });
    expect(s.configs[0].state).toBe("syncing");
    s = reduce(s, { id: 2, kind: "file", data: { config: "dots", path: ".zshrc", action: "pushed", bytes: 4 } });
    expect(s.configs[0].current_file).toBe(".zshrc");
    expect(s.configs[0].files_done).toBe(1);
    s = reduce(
      s,
      { id: 3, kind: "sync_finished", data: { config: "dots", config_id: "cfg_a", ok: true, conflicts: 0, pushed: 1 } },
      2_000_000,
    );
    expect(s.configs[0]).toMatchObject({ state: "idle", current_file: null, last_sync: 2000, last_error: null });
    expect(s.last_event_id).toBe(3);
    expect(s.needs_refresh).toBe(true);
  });

  it("shows a failed sync as error, or offline when the remote was unreachable", () => {
    let s = reduce(start(), { id: 1, kind: "sync_finished", data: { config_id: "cfg_a", ok: false, error: "boom", error_kind: "git" } });
    expect(s.configs[0]).toMatchObject({ state: "error", last_error: "boom" });
    s = reduce(s, { id: 2, kind: "sync_finished", data: { config_id: "cfg_a", ok: false, error: "no network", error_kind: "offline" } });
    expect(s.configs[0].state).toBe("offline");
  });

  it("keeps the kind of a failure, so a rewound remote can offer its two ways out", () => {
    let s = reduce(start(), {
      id: 1,
      kind: "sync_finished",
      data: { config_id: "cfg_a", ok: false, error: "the remote's branch main was moved back", error_kind: "rewound" },
    });
    expect(s.configs[0]).toMatchObject({ state: "error", last_error_kind: "rewound" });
    s = reduce(s, { id: 2, kind: "sync_finished", data: { config_id: "cfg_a", ok: true, conflicts: 0 } });
    expect(s.configs[0]).toMatchObject({ state: "idle", last_error_kind: null });
  });

  it("lists the files a sync could not write, from status events", () => {
    const failed = [{ path: ".config/x", reason: "a directory is where the file should be", since: 5 }];
    const s = reduce(start(), { id: 1, kind: "status", data: { config_id: "cfg_a", failed_files: failed } });
    expect(s.configs[0].failed_files).toEqual(failed);
  });

  it("marks conflicts and counts them", () => {
    const s = reduce(start(), { id: 1, kind: "conflict", data: { config: "work", path: ".gitconfig" } });
    expect(s.configs[1].state).toBe("conflict");
    expect(totalConflicts(s)).toBe(1);
  });

  it("adds, renames and removes configs as they change", () => {
    let s = start();
    const cfg = { id: "cfg_c", name: "new", paths: [], ignore: [], remote: "r", branch: "main" };
    s = reduce(s, { id: 1, kind: "config_changed", data: { change: "created", config: cfg } });
    expect(s.configs.map((c) => c.name)).toEqual(["dots", "work", "new"]);
    s = reduce(s, { id: 2, kind: "config_changed", data: { change: "updated", config: { ...cfg, name: "renamed" } } });
    expect(s.configs[2].name).toBe("renamed");
    s = reduce(s, { id: 3, kind: "config_changed", data: { change: "deleted", id: "cfg_c", name: "renamed" } });
    expect(s.configs).toHaveLength(2);
  });

  it("applies a config's status event to that config", () => {
    const s = reduce(start(), { id: 1, kind: "status", data: { id: "cfg_b", state: "idle", last_error: null } });
    expect(s.configs[1]).toMatchObject({ state: "idle", last_error: null });
    expect(s.configs[0]).toMatchObject({ name: "dots", state: "idle" });
  });

  it("reads what an event says from the hub's {id, time, kind, data}; `missed` as it is", () => {
    expect(eventPayload("file", { id: 9, time: 1, kind: "file", data: { path: "x" } })).toEqual({ path: "x" });
    expect(eventPayload("missed", { last_event_id: 3, first_available: 9 })).toEqual({ last_event_id: 3, first_available: 9 });
    expect(eventPayload("file", "not an event")).toBeNull();
    const s = reduce(start(), { id: 9, kind: "sync_started", data: eventPayload("sync_started", { id: 9, time: 1, kind: "sync_started", data: { config_id: "cfg_b" } }) });
    expect(s.configs[1].state).toBe("syncing");
  });

  it("asks for a refresh when an event names an unknown config or events were missed", () => {
    expect(reduce(start(), { id: 1, kind: "sync_started", data: { config: "ghost" } }).needs_refresh).toBe(true);
    expect(reduce(start(), { id: 1, kind: "missed", data: {} }).needs_refresh).toBe(true);
  });

  it("keeps the current file across a status snapshot taken mid-sync", () => {
    let s = reduce(start(), { id: 1, kind: "file", data: { config_id: "cfg_a", path: "a" } });
    s = applyStatus(s, { ...status, configs: [{ ...status.configs[0], state: "syncing" }] }, 0);
    expect(s.configs[0].current_file).toBe("a");
    s = applyStatus(s, status, 0);
    expect(s.configs[0].current_file).toBe(null);
  });
});
