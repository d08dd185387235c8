// The shapes of the daemon's /v1 API that the app uses.

export type Direction = "both" | "push" | "pull";
export type OnConflict = "keep-both" | "local" | "remote";

export interface SyncConfig {
  id: string;
  name: string;
  paths: string[];
  ignore: string[];
  remote: string;
  branch: string;
  direction: Direction;
  on_conflict: OnConflict;
  auto: boolean;
  interval_s: number;
  /** Pokes to and from the other machines right after a push (older daemons: absent). */
  notify?: boolean;
  /** Settings files whose edits touch the same lines are merged key by key (older daemons: absent). */
  structured_merge?: boolean;
  /** Extra globs to merge by key, mapped to "json", "toml", "yaml" or "ini". */
  merge_formats?: Record<string, string>;
  /** Globs of files stored encrypted on the remote (age); older daemons: absent. */
  encrypt?: string[];
  /** Globs of files each machine keeps its own version of (`PATH##machine.NAME`). */
  per_machine?: string[];
  plaintext?: string[];
  /** The machines this config applies to; empty or absent: every machine. */
  machines?: string[];
}

export type ConfigInput = Omit<SyncConfig, "id"> & { id?: string };

export type ConfigState = "idle" | "syncing" | "conflict" | "error" | "offline";

export interface ConfigStatus {
  id: string;
  name: string;
  state: ConfigState;
  last_sync: number | string | null;
  last_error: string | null;
  /** Local changes not yet pushed (`pending_changes` in the daemon's answer). */
  pending?: number | null;
  pending_changes?: number;
  conflicts: number;
  trigger?: string;
  last_error_kind?: string | null;
  retry_in_s?: number;
  watch?: string;
  /** Files the home could not take at the last sync, with why; listed until they succeed. */
  failed_files?: { path: string; reason: string; since: number }[];
  /** Files of the config on this machine and their total size, as of its last sync. */
  files?: number;
  bytes?: number;
  /** Paused by the person (or everything is): the daemon does not sync it by itself. */
  paused?: boolean;
  [more: string]: unknown;
}

export interface DaemonStatus {
  version: string;
  uptime_s: number;
  configs: ConfigStatus[];
  watcher?: { running: boolean; watches: number; [more: string]: unknown };
  /** Every config is paused. */
  paused?: boolean;
  /** This machine's name. */
  machine?: string;
}

/** One line of GET /v1/log. */
export interface LogLine {
  seq: number;
  at: number;
  config: string;
  kind: "start" | "file" | "summary";
  action: string;
  path?: string;
  /** For a file: the machine whose edit it was (this one for what it sent). */
  machine?: string;
  text: string;
}

export interface Conflict {
  config: string;
  config_id: string;
  path: string;
  detected_at: number | string;
  local_exists: boolean;
  remote_exists: boolean;
  base_exists: boolean;
  remote_commit: string | null;
  /** The machine that made the other side ("theirs"), when known. */
  remote_machine?: string | null;
  binary: boolean;
}

export interface HistoryEntry {
  commit: string;
  time: number | string;
  machine: string | null;
  message: string;
  size: number | null;
  blob: string | null;
}

export type FileState = "synced" | "modified" | "new" | "conflict" | "deleted";

export interface FileEntry {
  path: string;
  size: number | null;
  mode: number | string | null;
  state: FileState;
}

export interface FsEntry {
  name: string;
  path: string;
  kind: "file" | "dir" | "symlink" | "other";
  size: number | null;
}

export interface FsListing {
  path: string;
  parent: string | null;
  entries: FsEntry[];
  truncated: boolean;
}

export type Theme = "light" | "dark" | "system";

export interface Settings {
  backend_addr: string;
  theme: Theme;
  notifications: boolean;
}

export interface ApiErrorBody {
  error: { code: string; message: string; field?: string };
}

/** GET /v1/machines: every machine of each remote. */
export interface MachinesView {
  this_machine: {
    name: string;
    version: string;
    running: boolean;
    direct: boolean;
    listen: string | null;
    addrs: string[];
    listen_error: string | null;
    relay: string | null;
    relay_connected: boolean;
    relay_error: string | null;
  };
  remotes: {
    remote: string;
    configs: string[];
    remote_id: string | null;
    error: string | null;
    machines: MachineInfo[];
  }[];
  notify: Record<string, number>;
}

export interface MachineInfo {
  name: string;
  this_machine: boolean;
  version: string | null;
  last_seen: number | null;
  addrs: string[];
  reachable: boolean;
  via: string | null;
}
