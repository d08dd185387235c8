use serde::Serialize;

/// What happened to one file in a sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileAction {
    /// A local change was committed and pushed.
    Pushed,
    /// A remote change was written into the home.
    Pulled,
    /// Edits from both sides were merged (line by line, or key by key for a settings file; the
    /// detail says which keys); the result is in the home and pushed.
    Merged,
    /// The file was deleted on one side and the deletion propagated.
    Deleted,
    /// Both sides changed it incompatibly; kept as a conflict, neither side synced.
    Conflict,
    /// A conflict was resolved by the config's `on_conflict` policy or by the user.
    Resolved,
    /// Left alone, for the reason in `detail`.
    Skipped,
    /// Could not be synced, for the reason in `detail`; the rest of the sync went on.
    Failed,
}

/// One line of a sync's NDJSON stream.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SyncEvent {
    Start {
        config: String,
        config_id: String,
        remote: String,
        branch: String,
        trigger: String,
    },
    Progress {
        config: String,
        /// `scan`, `fetch`, `plan`, `commit`, `push`, `apply`.
        phase: &'static str,
        done: u64,
        total: Option<u64>,
    },
    File {
        config: String,
        /// Repository path, which is the path relative to the home (`.config/nvim/init.lua`).
        path: String,
        action: FileAction,
        bytes: u64,
        #[serde(skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
        /// For a change that came from the remote (pulled, merged, in conflict, deleted on
        /// another machine): the machines whose new commits brought it, comma-separated.
        #[serde(skip_serializing_if = "Option::is_none")]
        machine: Option<String>,
    },
    Summary(SyncSummary),
}

/// The last line of a sync: counts and the resulting commit.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SyncSummary {
    pub config: String,
    pub config_id: String,
    /// Whether the sync completed. A failed sync changed nothing it did not report.
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// [`SyncError::kind`](crate::SyncError::kind) when `ok` is false.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_kind: Option<&'static str>,
    /// The commit the remote branch points at after the sync.
    pub commit: Option<String>,
    pub pushed: u64,
    pub pulled: u64,
    pub merged: u64,
    pub deleted: u64,
    pub conflicts: u64,
    pub resolved: u64,
    pub skipped: u64,
    pub failed: u64,
    /// Files the config covers after the sync.
    pub files: u64,
    pub duration_ms: u64,
    /// Some file was still being written and was held: sync again soon.
    pub retry: bool,
    /// A plan only (see `SyncOptions::dry_run`): nothing was changed.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
    /// The home was not walked: the daemon's file watcher saw nothing change under the
    /// config's paths since the sync whose scan this one reused (see
    /// `SyncOptions::unchanged_since`). Only the remote side was looked at.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub walk_skipped: bool,
    /// Set when the config does not apply to this machine (its `machines` do not name it):
    /// nothing was looked at, and this says why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_here: Option<String>,
}
