//! What a sync reports, line by line: the wire types of `dotsync-api`, which the engine emits
//! as they are.

pub use dotsync_api::{ErrorKind, FileAction, Phase, SyncEvent, SyncSummary, Trigger};
