//! What the coordinator shows of each config and of the watcher (`GET /v1/status`).

use super::*;

pub use dotsync_api::{ConfigStatus, FailedFile, SyncState, WatcherStatus};

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
