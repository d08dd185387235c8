// The Overview's live state: a snapshot from GET /v1/status, then kept current by the daemon's
// event stream. `reduce` is pure; when an event says more than it carries (a sync finished, a
// conflict appeared, events were missed) it sets `needsRefresh`, and the app fetches the status
// again for the exact counts.

import type { ConfigStatus, DaemonEvent, DaemonStatus, SyncConfig } from "./types";
import type { SummaryLine } from "./ndjson";

export interface LiveConfig extends ConfigStatus {
  /** The file a running sync last reported. */
  current_file: string | null;
  /** Files reported by the running sync so far. */
  files_done: number;
  last_summary: SummaryLine | null;
}

export interface LiveState {
  version: string | null;
  uptime_s: number | null;
  watcher: DaemonStatus["watcher"] | null;
  /** When the status snapshot was taken (ms), to advance the uptime between snapshots. */
  status_at: number | null;
  configs: LiveConfig[];
  last_event_id: number;
  needs_refresh: boolean;
  /** Every config is paused. */
  paused_all: boolean;
  /** This machine's name. */
  machine: string | null;
}

export interface LiveEvent {
  id: number;
  kind: string;
  /** What the event says: the hub's `data` ([eventPayload]). */
  data: unknown;
}

export function initialState(): LiveState {
  return {
    version: null,
    uptime_s: null,
    watcher: null,
    status_at: null,
    configs: [],
    last_event_id: 0,
    needs_refresh: true,
    paused_all: false,
    machine: null,
  };
}

function live(c: ConfigStatus, old?: LiveConfig): LiveConfig {
  const syncing = c.state === "syncing";
  return {
    ...c,
    current_file: syncing ? (old?.current_file ?? null) : null,
    files_done: syncing ? (old?.files_done ?? 0) : 0,
    last_summary: old?.last_summary ?? null,
  };
}

/** Takes a status snapshot, keeping what only events know (the current file, last summary). */
export function applyStatus(s: LiveState, status: DaemonStatus, now: number): LiveState {
  const byId = new Map(s.configs.map((c) => [c.id, c]));
  return {
    ...s,
    version: status.version,
    uptime_s: status.uptime_s,
    watcher: status.watcher,
    status_at: now,
    configs: status.configs.map((c) => live(c, byId.get(c.id))),
    needs_refresh: false,
    paused_all: status.paused,
    machine: status.machine,
  };
}

type Obj = Record<string, unknown>;

export function isObj(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** What an event of GET /v1/events says, from its parsed `data:` line: every event but `missed`
 * is the hub's `{id, time, kind, data}` and says its `data`; `missed` says itself. */
export function eventPayload(kind: string, raw: unknown): unknown {
  if (kind === "missed") return raw;
  return isObj(raw) ? (raw as DaemonEvent).data : null;
}

function str(v: unknown): string | null {
  return typeof v === "string" && v !== "" ? v : null;
}

/** The index of the config an event is about: by id first, then by name. */
function find(configs: LiveConfig[], d: Obj): number {
  const id = str(d.config_id) ?? (str(d.id)?.startsWith("cfg_") ? str(d.id) : null);
  if (id) {
    const i = configs.findIndex((c) => c.id === id);
    if (i !== -1) return i;
  }
  const name = str(d.config) ?? str(d.name);
  return name ? configs.findIndex((c) => c.name === name || c.id === name) : -1;
}

function update(s: LiveState, i: number, patch: Partial<LiveConfig>, extra: Partial<LiveState> = {}): LiveState {
  const configs = s.configs.slice();
  configs[i] = { ...configs[i], ...patch };
  return { ...s, ...extra, configs };
}

export function reduce(s0: LiveState, ev: LiveEvent, now = Date.now()): LiveState {
  const s = ev.id > s0.last_event_id ? { ...s0, last_event_id: ev.id } : s0;
  const d = isObj(ev.data) ? ev.data : {};
  switch (ev.kind) {
    case "config_changed": {
      const change = str(d.change);
      const cfg = isObj(d.config) ? (d.config as unknown as SyncConfig) : null;
      if (change === "deleted") {
        const id = str(d.id) ?? cfg?.id;
        return { ...s, configs: s.configs.filter((c) => c.id !== id) };
      }
      if (!cfg || typeof cfg.id !== "string") return { ...s, needs_refresh: true };
      const i = s.configs.findIndex((c) => c.id === cfg.id);
      if (i === -1) {
        // Shown at once; the status fetched next fills in what the event does not say.
        const fresh: LiveConfig = {
          id: cfg.id,
          name: cfg.name,
          auto: cfg.auto,
          state: "idle",
          last_sync: null,
          last_error: null,
          conflicts: 0,
          pending_changes: 0,
          failed_files: [],
          failures: 0,
          files: 0,
          bytes: 0,
          paused: false,
          watch: cfg.auto ? "watching" : "off",
          current_file: null,
          files_done: 0,
          last_summary: null,
        };
        return { ...s, configs: [...s.configs, fresh], needs_refresh: true };
      }
      return update(s, i, { name: cfg.name });
    }
    case "sync_started": {
      const i = find(s.configs, d);
      if (i === -1) return { ...s, needs_refresh: true };
      return update(s, i, { state: "syncing", current_file: null, files_done: 0 });
    }
    case "sync_progress": {
      const i = find(s.configs, d);
      if (i === -1 || s.configs[i].state === "syncing") return s;
      return update(s, i, { state: "syncing" });
    }
    case "file": {
      const i = find(s.configs, d);
      if (i === -1) return s;
      const c = s.configs[i];
      return update(s, i, {
        state: "syncing",
        current_file: str(d.path),
        files_done: c.files_done + 1,
      });
    }
    case "sync_finished": {
      const i = find(s.configs, d);
      if (i === -1) return { ...s, needs_refresh: true };
      const sum = d as unknown as SummaryLine;
      const c = s.configs[i];
      const ok = sum.ok !== false;
      const conflicts = typeof sum.conflicts === "number" ? Math.max(c.conflicts, sum.conflicts) : c.conflicts;
      return update(
        s,
        i,
        {
          state: !ok ? (sum.error_kind === "offline" ? "offline" : "error") : conflicts > 0 ? "conflict" : "idle",
          last_error: ok ? null : (str(sum.error) ?? "the sync failed"),
          last_error_kind: ok ? null : (sum.error_kind ?? null),
          last_sync: ok ? now / 1000 : c.last_sync,
          conflicts,
          current_file: null,
          last_summary: sum,
        },
        { needs_refresh: true },
      );
    }
    case "conflict": {
      const i = find(s.configs, d);
      if (i === -1) return { ...s, needs_refresh: true };
      const c = s.configs[i];
      return update(
        s,
        i,
        { state: c.state === "syncing" ? "syncing" : "conflict", conflicts: Math.max(c.conflicts, 1) },
        { needs_refresh: true },
      );
    }
    case "error": {
      const i = find(s.configs, d);
      if (i === -1) return { ...s, needs_refresh: true };
      return update(
        s,
        i,
        { state: "error", last_error: str(d.message) ?? str(d.error) ?? "an error occurred", current_file: null },
        { needs_refresh: true },
      );
    }
    case "status": {
      const i = find(s.configs, d);
      if (i === -1) return { ...s, needs_refresh: true };
      const patch: Partial<LiveConfig> = {};
      for (const k of ["state", "last_sync", "last_error", "last_error_kind", "pending_changes", "conflicts", "trigger", "retry_in_s", "failed_files", "files", "bytes"] as const) {
        if (k in d) (patch as Obj)[k] = d[k];
      }
      if (patch.state && patch.state !== "syncing") patch.current_file = null;
      return update(s, i, patch);
    }
    case "missed":
      return { ...s, needs_refresh: true };
    default:
      return s;
  }
}

/** The daemon's uptime now, advanced from the last snapshot. */
export function uptimeNow(s: LiveState, now: number): number | null {
  if (s.uptime_s === null || s.status_at === null) return null;
  return s.uptime_s + Math.max(0, (now - s.status_at) / 1000);
}

export function totalConflicts(s: LiveState): number {
  return s.configs.reduce((n, c) => n + (c.conflicts || 0), 0);
}


