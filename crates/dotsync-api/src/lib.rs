//! dotsync's wire contract.
//!
//! Every type that crosses the `/v1` API between the daemon and its clients lives here, once:
//! the daemon builds its answers from them, the CLI reads the answers into them, and the
//! daemon's OpenAPI document (`GET /v1/openapi.json`, from which the web app's types come) is
//! derived from them. A renamed field is therefore a compile error in the CLI, not a blank
//! column.
//!
//! The JSON shapes are the API's: changing a type here changes the wire. Enums that a client
//! reads and that may grow (a newer daemon answering an older CLI) have an `unknown` variant
//! that unknown names read as; the daemon never sends it.
//!
//! Domain types that already exist in `dotsync-core` (a config and its `direction` and
//! `on_conflict`, a file's kind) are re-exported, not copied. No I/O, no HTTP.

mod error;
mod events;
mod files;
mod machines;
mod misc;
mod remote;
mod status;
mod sync;

pub use dotsync_core::plan::Kind as FileKind;
pub use dotsync_core::{ConfigInput, Direction, OnConflict, SyncConfig};

pub use error::{ErrorBody, ErrorCode, ErrorDetail};
pub use events::{
    ConfigChange, ConfigChanged, ConflictResolved, DaemonEvent, Event, Missed, RestoredEvent,
    SyncConflict, SyncFailed,
};
pub use files::{
    ConflictInfo, ConflictReason, FileState, FileStatus, HistoryEntry, Keep, ResolveRequest,
    Resolved, RestoreRequest, Restored, Side,
};
pub use machines::{MachineView, Machines, NotifyStats, RemoteView, ThisMachine, Via};
pub use misc::{
    Created, ExportInput, Exported, Health, ImportInput, Imported, KeyState, LoginCode, PauseState,
    SessionInfo, Settings, Theme, TrustInput,
};
pub use remote::{
    CheckRequest, CheckedFile, Comparison, LogKind, LogLine, RemoteCheck, RemoteKind,
};
pub use status::{ConfigStatus, FailedFile, Status, SyncState, WatchState, WatcherStatus};
pub use sync::{
    ErrorKind, FileAction, Phase, RewindChoice, SyncEvent, SyncLine, SyncRequest, SyncSummary,
    Trigger,
};
