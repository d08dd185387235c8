//! The daemon's events (`GET /v1/events`, Server-Sent Events): one [`DaemonEvent`] per event,
//! in an [`Event`] with its id and time.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::SyncConfig;
use crate::files::Keep;
use crate::misc::{PauseState, Settings};
use crate::status::ConfigStatus;
use crate::sync::{ErrorKind, SyncLine};

/// One event as the stream sends it: each SSE `data:` is this object, and the SSE `event:` name
/// is its `kind`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Event {
    /// Increasing, starting at 1 for each daemon run.
    pub id: u64,
    /// Unix seconds.
    pub time: i64,
    #[serde(flatten)]
    pub event: DaemonEvent,
}

/// Everything the daemon tells its listeners, by `kind`, with its `data`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", content = "data", rename_all = "snake_case")]
pub enum DaemonEvent {
    /// A config was created, replaced or deleted.
    ConfigChanged(ConfigChange),
    /// A sync's `start` line.
    SyncStarted(SyncLine),
    /// A sync's `progress` line.
    SyncProgress(SyncLine),
    /// A sync's `file` line.
    File(SyncLine),
    /// A sync's `summary` line.
    SyncFinished(SyncLine),
    /// A file went into conflict (after its `file` event).
    Conflict(SyncConflict),
    /// A sync failed (after its `sync_finished` event).
    Error(SyncFailed),
    /// A config's status changed.
    Status(ConfigStatus),
    /// What is paused changed.
    Paused(PauseState),
    /// The web app's settings changed.
    SettingsChanged(Settings),
    /// A conflict was resolved through the API.
    ConflictResolved(ConflictResolved),
    /// An old version was restored through the API.
    Restored(RestoredEvent),
}

impl DaemonEvent {
    /// The event's `kind`, which is also its SSE `event:` name.
    pub fn kind(&self) -> &'static str {
        match self {
            DaemonEvent::ConfigChanged(_) => "config_changed",
            DaemonEvent::SyncStarted(_) => "sync_started",
            DaemonEvent::SyncProgress(_) => "sync_progress",
            DaemonEvent::File(_) => "file",
            DaemonEvent::SyncFinished(_) => "sync_finished",
            DaemonEvent::Conflict(_) => "conflict",
            DaemonEvent::Error(_) => "error",
            DaemonEvent::Status(_) => "status",
            DaemonEvent::Paused(_) => "paused",
            DaemonEvent::SettingsChanged(_) => "settings_changed",
            DaemonEvent::ConflictResolved(_) => "conflict_resolved",
            DaemonEvent::Restored(_) => "restored",
        }
    }
}

/// What happened to a config.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum ConfigChange {
    Created { config: SyncConfig },
    Updated { config: SyncConfig },
    Deleted { id: String, name: String },
}

/// The `data` of a `config_changed` event.
pub type ConfigChanged = ConfigChange;

/// The `data` of a `conflict` event.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SyncConflict {
    /// The config's name.
    pub config: String,
    /// The repository path.
    pub path: String,
    pub detail: Option<String>,
}

/// The `data` of an `error` event.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SyncFailed {
    /// The config's name.
    pub config: String,
    pub config_id: String,
    pub error: Option<String>,
    pub error_kind: Option<ErrorKind>,
}

/// The `data` of a `conflict_resolved` event.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ConflictResolved {
    /// The config's name.
    pub config: String,
    pub config_id: String,
    /// The repository path.
    pub path: String,
    pub keep: Keep,
}

/// The `data` of a `restored` event.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(as = RestoredEvent)]
pub struct RestoredEvent {
    /// The config's name.
    pub config: String,
    pub config_id: String,
    /// The repository path.
    pub path: String,
    /// The commit whose version was brought back.
    pub rev: String,
    pub bytes: u64,
}

/// The data of a `missed` event (it has no id): the client reconnected after events it had not
/// seen were dropped from the buffer, and should reload its view.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Missed {
    /// The `Last-Event-ID` the client sent.
    pub last_event_id: Option<u64>,
    /// The oldest event still buffered, if any.
    pub first_available: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_keep_kind_and_data() {
        let ev = Event {
            id: 7,
            time: 1,
            event: DaemonEvent::Paused(PauseState {
                all: true,
                configs: vec![],
            }),
        };
        let v = serde_json::to_value(&ev).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"id": 7, "time": 1, "kind": "paused",
                "data": {"all": true, "configs": []}})
        );
        let back: Event = serde_json::from_value(v).unwrap();
        assert_eq!(back.event.kind(), "paused");
        let deleted = DaemonEvent::ConfigChanged(ConfigChange::Deleted {
            id: "cfg_1".into(),
            name: "dots".into(),
        });
        assert_eq!(
            serde_json::to_value(&deleted).unwrap(),
            serde_json::json!({"kind": "config_changed",
                "data": {"change": "deleted", "id": "cfg_1", "name": "dots"}})
        );
    }
}
