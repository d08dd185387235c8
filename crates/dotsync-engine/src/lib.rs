//! dotsync's sync engine.
//!
//! One sync of one config: scan the home, fetch the remote into the engine's own bare
//! repository, plan every file from (base, local, remote), build the new commit without a work
//! tree, push it, then write the remote's changes into the home atomically and record the new
//! bases. See ARCHITECTURE.md for the invariants.

mod event;

pub use event::{FileAction, SyncEvent, SyncSummary};

use std::path::PathBuf;
use std::sync::Arc;

use dotsync_core::SyncConfig;
use dotsync_state::{Layout, Store};

/// Options of one sync run.
#[derive(Debug, Clone, Default)]
pub struct SyncOptions {
    /// Go on even when the sync would delete most of the config's files.
    pub allow_mass_delete: bool,
    /// Why the sync runs (`api`, `cli`, `watch`, `schedule`), recorded in events.
    pub trigger: String,
    /// Set to stop the sync at the next safe point (between two files; never mid-write). A
    /// cancelled sync reports `ok: false, error_kind: "cancelled"` and is simply run again later.
    pub cancel: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
}

/// Errors that stop a whole sync. Per-file trouble is reported as `file` events instead.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("the remote {remote} cannot be reached: {detail}")]
    Offline { remote: String, detail: String },
    #[error("git failed: {0}")]
    Git(String),
    #[error(
        "this sync would delete {count} of {total} files of config {config}; if that is what you \
         want, run it again with --allow-mass-delete"
    )]
    MassDelete {
        config: String,
        count: usize,
        total: usize,
    },
    #[error(transparent)]
    Store(#[from] dotsync_state::StoreError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("not implemented yet")]
    NotImplemented,
}

/// The engine: one per state directory, shared by every request and background task.
pub struct Engine {
    #[allow(dead_code)]
    layout: Layout,
    #[allow(dead_code)]
    store: Arc<Store>,
    #[allow(dead_code)]
    home: PathBuf,
}

impl Engine {
    pub fn new(layout: Layout, store: Arc<Store>, home: PathBuf) -> Self {
        Self {
            layout,
            store,
            home,
        }
    }

    /// Syncs one config. Blocking; runs git. Syncs on one repository are serialized inside.
    /// `sink` sees every event as it happens, ending with the summary (also returned).
    pub fn sync(
        &self,
        _cfg: &SyncConfig,
        _opts: &SyncOptions,
        _sink: &mut dyn FnMut(&SyncEvent),
    ) -> Result<SyncSummary, SyncError> {
        Err(SyncError::NotImplemented)
    }

    /// The commit id the remote branch points at now (`git ls-remote`), `None` when the branch
    /// does not exist yet. The one cheap check for "did the remote move?".
    pub fn remote_head(&self, _cfg: &SyncConfig) -> Result<Option<String>, SyncError> {
        Err(SyncError::NotImplemented)
    }

    /// The commit this machine last synced with for `cfg`.
    pub fn last_synced_commit(&self, _cfg: &SyncConfig) -> Result<Option<String>, SyncError> {
        Err(SyncError::NotImplemented)
    }

    /// Whether the file at `path` (absolute) is exactly as the last sync left it (or absent and
    /// unknown): used by the watcher to drop events of the engine's own writes.
    pub fn is_unchanged(&self, _cfg: &SyncConfig, _path: &std::path::Path) -> bool {
        false
    }
}
