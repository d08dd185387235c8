//! `GET /v1/status`: the daemon and every config at a glance.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::sync::{ErrorKind, Trigger, names};

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Status {
    /// The daemon's version.
    pub version: String,
    /// Seconds since the daemon (or the CLI's in-process API) started.
    pub uptime_s: u64,
    pub pid: u32,
    /// Whether configs sync by themselves (watching and scheduling): true in the daemon, false
    /// when the CLI answers without a daemon.
    pub background: bool,
    pub watcher: WatcherStatus,
    /// Every config is paused (`POST /v1/pause`); each config's `paused` says it too.
    pub paused: bool,
    /// This machine's name, as commits carry it and other machines see it.
    pub machine: String,
    pub configs: Vec<ConfigStatus>,
}

/// What a config is doing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SyncState {
    /// Nothing to do, or waiting for the next check.
    #[default]
    Idle,
    /// A sync runs now.
    Syncing,
    /// The last sync finished, but files are in conflict until resolved.
    Conflict,
    /// The last sync failed; retried with backoff. `last_error` says why.
    Error,
    /// The remote cannot be reached; retried with backoff, recovers by itself.
    Offline,
    /// A newer daemon's state this client does not know.
    #[serde(other)]
    Unknown,
}

names!(SyncState {
    Idle => "idle", Syncing => "syncing", Conflict => "conflict", Error => "error",
    Offline => "offline",
} else Unknown);

/// How the daemon notices a config's local changes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WatchState {
    /// File system notifications.
    Watching,
    /// The watch limit was hit: changes are found by rescanning every interval.
    Rescan,
    /// Not watched: `auto` is off, or no daemon runs.
    #[default]
    Off,
    /// A newer daemon's way this client does not know.
    #[serde(other)]
    Unknown,
}

/// The status of one config.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct ConfigStatus {
    pub id: String,
    pub name: String,
    /// Whether the daemon syncs it by itself.
    pub auto: bool,
    pub state: SyncState,
    /// What started the running sync.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<Trigger>,
    /// Unix seconds of the last successful sync.
    pub last_sync: Option<i64>,
    /// Why the last sync or remote check failed; cleared by the next success.
    pub last_error: Option<String>,
    /// With `last_error`.
    pub last_error_kind: Option<ErrorKind>,
    /// Local files changed since the last successful sync and not yet pushed.
    pub pending_changes: u64,
    /// Files in conflict, waiting to be resolved.
    pub conflicts: u64,
    /// The commit the config last synced with.
    pub commit: Option<String>,
    pub watch: WatchState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watch_detail: Option<String>,
    /// Seconds until the next retry of a failed sync.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_in_s: Option<u64>,
    /// Failed attempts in a row.
    pub failures: u32,
    /// The person paused it (or paused everything): the daemon does not sync it by itself
    /// until it is resumed; a sync asked for by name still runs.
    pub paused: bool,
    /// Files the home could not take (or the remote holds in a form this machine cannot),
    /// each with its reason, listed until a sync succeeds for it.
    pub failed_files: Vec<FailedFile>,
    /// Files of the config on this machine, as of its last sync (0 before the first).
    pub files: u64,
    /// Their total size in bytes, as of the last sync.
    pub bytes: u64,
    /// Set when the config does not apply to this machine (its `machines` do not name it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_here: Option<String>,
}

/// A file that failed at the last sync.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FailedFile {
    /// Repository-relative path (`~/` + path in the home).
    pub path: String,
    pub reason: String,
    /// Unix seconds of the first sync it failed in.
    pub since: i64,
}

/// The watcher's own health.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct WatcherStatus {
    /// Whether file system notifications are running.
    pub running: bool,
    /// Directories watched.
    pub watches: usize,
    /// How often the kernel's event queue overflowed, each answered by a rescan of every
    /// watched config.
    pub overflows: u64,
    /// Unix seconds of the last overflow.
    pub last_overflow: Option<i64>,
    /// A problem of the watcher itself, such as the kernel's watch limit.
    pub error: Option<String>,
}
