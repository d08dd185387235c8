// Whole API answers for tests, with the fields a test cares about given as overrides: the types
// are generated from the daemon's OpenAPI document, so a fixture has every field an answer has.

import type { ConfigStatus, DaemonStatus } from "../src/types";

export function configStatus(over: Partial<ConfigStatus> = {}): ConfigStatus {
  return {
    id: "cfg_1",
    name: "dots",
    auto: true,
    state: "idle",
    last_sync: null,
    last_error: null,
    pending_changes: 0,
    conflicts: 0,
    watch: "watching",
    failures: 0,
    paused: false,
    failed_files: [],
    files: 0,
    bytes: 0,
    ...over,
  };
}

export function daemonStatus(over: Partial<DaemonStatus> = {}): DaemonStatus {
  return {
    version: "0.1.0",
    uptime_s: 100,
    pid: 1,
    background: true,
    watcher: { running: true, watches: 1, overflows: 0 },
    paused: false,
    machine: "laptop",
    configs: [],
    ...over,
  };
}
