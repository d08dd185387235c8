//! The lines of a sync run (`POST /v1/sync`, `POST /v1/preview`: NDJSON, one [`SyncLine`] per
//! line) and the words they use.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Generates `as_str` and `from_name` for an enum of unit variants named like its JSON.
macro_rules! names {
    ($ty:ident { $($variant:ident => $name:literal),* $(,)? }) => {
        impl $ty {
            /// The name on the wire.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $name,)*
                }
            }
        }
        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
    ($ty:ident { $($variant:ident => $name:literal),* $(,)? } else $unknown:ident) => {
        impl $ty {
            /// The name on the wire.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $name,)*
                    $ty::$unknown => "unknown",
                }
            }

            /// The variant of a name on the wire; `unknown` for a name this version does not
            /// know.
            pub fn from_name(name: &str) -> Self {
                match name {
                    $($name => $ty::$variant,)*
                    _ => $ty::$unknown,
                }
            }
        }
        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use names;

/// What happened to one file in a sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
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

names!(FileAction {
    Pushed => "pushed", Pulled => "pulled", Merged => "merged", Deleted => "deleted",
    Conflict => "conflict", Resolved => "resolved", Skipped => "skipped", Failed => "failed",
});

/// The phase a `progress` line reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Scan,
    Fetch,
    Plan,
    Commit,
    Push,
    Apply,
}

names!(Phase {
    Scan => "scan", Fetch => "fetch", Plan => "plan", Commit => "commit", Push => "push",
    Apply => "apply",
});

/// What started a sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Trigger {
    /// Asked for through the API (`dotsync sync`, the web app).
    #[default]
    Api,
    /// The watcher saw a file change.
    Watch,
    /// The config was rescanned (the watch limit, or the periodic full scan).
    Rescan,
    /// The remote check found the remote moved.
    Schedule,
    /// Another machine said it pushed.
    Poke,
    /// A retry after a failure.
    Retry,
    /// The person resumed the config.
    Resume,
    /// The daemon started.
    Start,
    /// The config was created or changed.
    Config,
    /// A resolution or a restore wrote into the home.
    LocalEdit,
    /// A plan only (`dry_run`).
    DryRun,
    /// A newer daemon's trigger this client does not know.
    #[serde(other)]
    Unknown,
}

names!(Trigger {
    Api => "api", Watch => "watch", Rescan => "rescan", Schedule => "schedule", Poke => "poke",
    Retry => "retry", Resume => "resume", Start => "start", Config => "config",
    LocalEdit => "local-edit", DryRun => "dry-run",
} else Unknown);

/// Why a sync (or a remote check) failed: each kind has its own way out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The remote cannot be reached; retried by itself.
    Offline,
    /// The remote refused who we are (ssh key, token).
    Auth,
    /// There is no repository at the remote.
    RemoteNotFound,
    /// The remote refused the push.
    Rejected,
    /// The remote's branch is locked.
    RemoteLocked,
    /// A disk is full.
    DiskFull,
    /// The remote's branch was moved back: `rewind` says how to go on.
    Rewound,
    /// git failed.
    Git,
    /// The sync would delete most of the config's files: `allow_mass_delete`.
    MassDelete,
    /// The state database failed.
    Store,
    /// Reading or writing a file failed.
    Io,
    /// Writing into the home failed.
    Apply,
    /// The sync was stopped (shutdown, a deleted config); it runs again later.
    Cancelled,
    /// No such config, file or version.
    NotFound,
    /// An invalid request.
    Invalid,
    /// dotsync itself failed.
    Internal,
    /// A newer daemon's kind this client does not know.
    #[serde(other)]
    Unknown,
}

names!(ErrorKind {
    Offline => "offline", Auth => "auth", RemoteNotFound => "remote_not_found",
    Rejected => "rejected", RemoteLocked => "remote_locked", DiskFull => "disk_full",
    Rewound => "rewound", Git => "git", MassDelete => "mass_delete", Store => "store", Io => "io",
    Apply => "apply", Cancelled => "cancelled", NotFound => "not_found", Invalid => "invalid",
    Internal => "internal",
} else Unknown);

/// The two ways out of a rewound remote. Both keep every version in this machine's history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
#[schema(as = Rewind)]
pub enum RewindChoice {
    /// Put this machine's files back on the remote (a new commit on top of its branch).
    PushLocal,
    /// Take the remote's files; this machine's versions are kept in its history first.
    TakeRemote,
}

/// Options of a sync, as an optional JSON body of `POST /v1/sync[/{id}]` or as query
/// parameters.
#[derive(Debug, Default, Clone, Serialize, Deserialize, ToSchema, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SyncRequest {
    /// Go on even if the sync would delete most of a config's files.
    #[serde(default)]
    pub allow_mass_delete: bool,
    /// After the remote's branch was moved back (`error_kind: "rewound"`): `push-local` puts
    /// this machine's files back on the remote, `take-remote` takes the remote's files (this
    /// machine's versions stay in its history).
    #[serde(default)]
    pub rewind: Option<RewindChoice>,
    /// Plan only: the stream says what the sync would do (`summary.dry_run: true`); nothing
    /// is committed, pushed, written into the home or recorded.
    #[serde(default)]
    pub dry_run: bool,
}

/// What a sync run reports, line by line (without the run it belongs to: see [`SyncLine`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SyncEvent {
    /// Always first.
    Start {
        /// The config's name.
        config: String,
        config_id: String,
        remote: String,
        branch: String,
        trigger: Trigger,
    },
    Progress {
        config: String,
        phase: Phase,
        done: u64,
        total: Option<u64>,
    },
    File {
        config: String,
        /// Repository path, which is the path relative to the home (`.config/nvim/init.lua`).
        path: String,
        action: FileAction,
        bytes: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
        /// For a change that came from the remote (pulled, merged, in conflict, deleted on
        /// another machine): the machines whose new commits brought it, comma-separated.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        machine: Option<String>,
    },
    /// Always last.
    Summary(SyncSummary),
}

impl SyncEvent {
    /// The config's name, which every line carries.
    pub fn config(&self) -> &str {
        match self {
            SyncEvent::Start { config, .. }
            | SyncEvent::Progress { config, .. }
            | SyncEvent::File { config, .. } => config,
            SyncEvent::Summary(s) => &s.config,
        }
    }
}

/// The last line of a sync: counts and the resulting commit.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SyncSummary {
    /// The config's name.
    pub config: String,
    pub config_id: String,
    /// Whether the sync completed. A failed sync changed nothing it did not report.
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Why, when `ok` is false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_kind: Option<ErrorKind>,
    /// The commit the remote branch points at after the sync.
    #[serde(default)]
    pub commit: Option<String>,
    #[serde(default)]
    pub pushed: u64,
    #[serde(default)]
    pub pulled: u64,
    #[serde(default)]
    pub merged: u64,
    #[serde(default)]
    pub deleted: u64,
    #[serde(default)]
    pub conflicts: u64,
    #[serde(default)]
    pub resolved: u64,
    #[serde(default)]
    pub skipped: u64,
    #[serde(default)]
    pub failed: u64,
    /// Files the config covers after the sync.
    #[serde(default)]
    pub files: u64,
    #[serde(default)]
    pub duration_ms: u64,
    /// Some file was still being written and was held: sync again soon.
    #[serde(default)]
    pub retry: bool,
    /// A plan only: nothing was changed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
    /// The home was not walked: the daemon's file watcher saw nothing change under the
    /// config's paths since the sync whose scan this one reused. Only the remote side was
    /// looked at.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub walk_skipped: bool,
    /// Set when the config does not apply to this machine (its `machines` do not name it):
    /// nothing was looked at, and this says why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_here: Option<String>,
}

/// One line of a sync's NDJSON stream: a [`SyncEvent`] and the run it belongs to.
///
/// Every line of one run carries the same `run_id`, so lines of runs that interleave (the
/// event stream, `POST /v1/sync` of every config) can be told apart. `start` is first,
/// `summary` last.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SyncLine {
    /// Unique per sync run (per daemon run, and across restarts in practice).
    pub run_id: String,
    #[serde(flatten)]
    pub event: SyncEvent,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_keep_their_shape_and_read_back() {
        let line = SyncLine {
            run_id: "r1".into(),
            event: SyncEvent::File {
                config: "dots".into(),
                path: ".zshrc".into(),
                action: FileAction::Pulled,
                bytes: 3,
                detail: None,
                machine: None,
            },
        };
        let v = serde_json::to_value(&line).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"run_id": "r1", "type": "file", "config": "dots",
                "path": ".zshrc", "action": "pulled", "bytes": 3})
        );
        assert_eq!(serde_json::from_value::<SyncLine>(v).unwrap(), line);
        let start: SyncLine = serde_json::from_str(
            r#"{"run_id":"r","type":"start","config":"c","config_id":"i","remote":"x",
                "branch":"main","trigger":"local-edit"}"#,
        )
        .unwrap();
        assert!(matches!(
            start.event,
            SyncEvent::Start {
                trigger: Trigger::LocalEdit,
                ..
            }
        ));
    }

    #[test]
    fn names_a_newer_daemon_sends_read_as_unknown() {
        let k: ErrorKind = serde_json::from_str(r#""quota""#).unwrap();
        assert_eq!(k, ErrorKind::Unknown);
        assert_eq!(Trigger::from_name("dry-run"), Trigger::DryRun);
        assert_eq!(Trigger::from_name("later"), Trigger::Unknown);
        assert_eq!(
            serde_json::to_value(ErrorKind::RemoteNotFound).unwrap(),
            ErrorKind::RemoteNotFound.as_str()
        );
        for t in [Trigger::LocalEdit, Trigger::DryRun, Trigger::Api] {
            assert_eq!(serde_json::to_value(t).unwrap(), t.as_str());
        }
    }
}
