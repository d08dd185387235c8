//! What the coordinator shows of each config and of the watcher (`GET /v1/status`).

use super::*;

/// What a config is doing, as `GET /v1/status` reports it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
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
}

/// How the daemon notices local changes of a config.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum WatchMode {
    /// Not watched: `auto` is off, or no daemon runs (the CLI in-process).
    #[default]
    Off,
    /// Watched with file system notifications.
    Watching,
    /// Notifications are not reliable for this config (the kernel's watch limit); the daemon
    /// rescans it every `interval_s` instead. The text says why and what to do.
    Rescan(String),
}

/// The status of one config.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ConfigStatus {
    pub id: String,
    pub name: String,
    /// Whether the daemon syncs it by itself.
    pub auto: bool,
    pub state: SyncState,
    /// What started the running sync (`api`, `watch`, `schedule`, `retry`, `start`, `config`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trigger: Option<String>,
    /// Unix seconds of the last successful sync.
    pub last_sync: Option<i64>,
    /// Why the last sync or remote check failed; cleared by the next success.
    pub last_error: Option<String>,
    /// `offline`, `git`, `mass_delete`, `io`, ...; with `last_error`.
    pub last_error_kind: Option<String>,
    /// Local files changed since the last successful sync and not yet pushed.
    pub pending_changes: u64,
    /// Files in conflict, waiting to be resolved.
    pub conflicts: u64,
    /// The commit the config last synced with.
    pub commit: Option<String>,
    /// `watching`, `rescan` (the watch limit was hit; changes are found by rescanning every
    /// interval) or `off`.
    pub watch: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub watch_detail: Option<String>,
    /// Seconds until the next retry of a failed sync.
    #[serde(skip_serializing_if = "Option::is_none")]
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
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_here: Option<String>,
}

/// The files of `cfg` that failed at its last sync (one small query of the engine's records).
pub(crate) fn failed_files(app: &App, cfg: &SyncConfig) -> Vec<FailedFile> {
    app.engine
        .failures(cfg)
        .unwrap_or_default()
        .into_iter()
        .map(|f| FailedFile {
            path: f.path,
            reason: f.reason,
            since: f.since,
        })
        .collect()
}

/// A file that failed at the last sync.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FailedFile {
    /// Repository-relative path (`~/` + path in the home).
    pub path: String,
    pub reason: String,
    /// Unix seconds of the first sync it failed in.
    pub since: i64,
}

/// The watcher's own health.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
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
