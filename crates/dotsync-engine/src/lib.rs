//! dotsync's sync engine.
//!
//! One sync of one config: scan the home, fetch the remote into the engine's own bare
//! repository, plan every file from (base, local, remote), build the new commit without a work
//! tree, push it, then write the remote's changes into the home atomically and record the new
//! bases. See ARCHITECTURE.md for the invariants.

mod apply;
mod event;
mod git;
mod inspect;
mod meta;
mod records;
mod scan;
mod sync;

pub use event::{FileAction, SyncEvent, SyncSummary};
pub use inspect::{ConflictInfo, FileState, FileStatus, HistoryEntry, Resolution};
pub use records::ConflictRecord;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

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
    #[error("the sync was cancelled (the daemon is stopping); it resumes on the next run")]
    Cancelled,
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
}

impl SyncError {
    /// A stable one-word kind for clients: `offline`, `mass_delete`, `git`, `io`, `store`,
    /// `cancelled`, `not_found`, `invalid`.
    pub fn kind(&self) -> &'static str {
        match self {
            SyncError::Offline { .. } => "offline",
            SyncError::Git(_) => "git",
            SyncError::MassDelete { .. } => "mass_delete",
            SyncError::Store(_) => "store",
            SyncError::Io { .. } => "io",
            SyncError::Cancelled => "cancelled",
            SyncError::NotFound(_) => "not_found",
            SyncError::Invalid(_) => "invalid",
        }
    }
}

/// The engine: one per state directory, shared by every request and background task.
pub struct Engine {
    layout: Layout,
    store: Arc<Store>,
    home: PathBuf,
    /// This machine's name, in commits and history (`DOTSYNC_MACHINE`, else the host name).
    machine: String,
    /// One lock per engine repository: syncs of one repository never overlap.
    repo_locks: Mutex<HashMap<PathBuf, Arc<Mutex<()>>>>,
}

impl Engine {
    pub fn new(layout: Layout, store: Arc<Store>, home: PathBuf) -> Self {
        Self {
            layout,
            store,
            home,
            machine: machine_name(),
            repo_locks: Mutex::new(HashMap::new()),
        }
    }

    /// Names this machine explicitly (tests run several machines in one process).
    pub fn with_machine(mut self, name: &str) -> Self {
        self.machine = name.to_owned();
        self
    }

    /// This machine's name as it appears in commits.
    pub fn machine(&self) -> &str {
        &self.machine
    }

    /// Syncs one config. Blocking; runs git. Syncs on one repository are serialized inside.
    /// `sink` sees every event as it happens, ending with the summary (also returned). On
    /// failure the summary line (`ok: false`) is still emitted before the error is returned.
    pub fn sync(
        &self,
        cfg: &SyncConfig,
        opts: &SyncOptions,
        sink: &mut dyn FnMut(&SyncEvent),
    ) -> Result<SyncSummary, SyncError> {
        self.run_sync(cfg, opts, sink)
    }

    /// The commit id the remote branch points at now (`git ls-remote`), `None` when the branch
    /// does not exist yet. The one cheap check for "did the remote move?".
    pub fn remote_head(&self, cfg: &SyncConfig) -> Result<Option<String>, SyncError> {
        let url = dotsync_core::remote::expand_remote(&cfg.remote, &self.home);
        let repo = git::Repo::open_or_init(&self.repo_dir(&url))?;
        repo.ls_remote(&url, &cfg.branch)
    }

    /// The commit this machine last completed a sync with for `cfg` (None after a sync that
    /// had failures, so that the next check syncs again).
    pub fn last_synced_commit(&self, cfg: &SyncConfig) -> Result<Option<String>, SyncError> {
        Ok(records::last_commit(&self.store, &cfg.id)?)
    }

    /// Whether the file at `path` (absolute) is exactly as the last sync left or saw it (or
    /// absent and unknown): used by the watcher to drop events of the engine's own writes.
    pub fn is_unchanged(&self, cfg: &SyncConfig, path: &Path) -> bool {
        let Ok(hp) = dotsync_core::HomePath::from_abs(path, &self.home) else {
            return true;
        };
        let cached = records::cached_stat(&self.store, &cfg.id, hp.repo.as_str());
        match (std::fs::symlink_metadata(path), cached) {
            (Ok(m), Some(c)) => scan::StatKey::of(&m) == c.stat,
            (Ok(m), None) => m.is_dir(),
            (Err(_), Some(_)) => false,
            (Err(_), None) => true,
        }
    }

    /// The engine's bare repository for a remote URL.
    fn repo_dir(&self, url: &str) -> PathBuf {
        let slug: String = url
            .rsplit(['/', ':'])
            .find(|s| !s.is_empty())
            .unwrap_or("remote")
            .trim_end_matches(".git")
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .take(32)
            .collect();
        let hash = git::blob_id(url.as_bytes());
        self.layout
            .repos_dir()
            .join(format!("{slug}-{}.git", &hash[..12]))
    }

    fn repo_lock(&self, dir: &Path) -> Arc<Mutex<()>> {
        let mut locks = self.repo_locks.lock().unwrap_or_else(|p| p.into_inner());
        locks.entry(dir.to_path_buf()).or_default().clone()
    }

    /// The config's roots, resolved against the home: where writes may go.
    fn config_roots(&self, cfg: &SyncConfig) -> Vec<PathBuf> {
        cfg.paths
            .iter()
            .filter_map(|p| dotsync_core::paths::resolve_config_path(p, &self.home).ok())
            .collect()
    }

    /// The engine repository of a config and its lock (held by whoever changes the repository
    /// or the config's files: a sync, a resolve, a restore).
    fn repo_and_lock(&self, cfg: &SyncConfig) -> (PathBuf, Arc<Mutex<()>>) {
        let url = dotsync_core::remote::expand_remote(&cfg.remote, &self.home);
        let dir = self.repo_dir(&url);
        let lock = self.repo_lock(&dir);
        (dir, lock)
    }

    fn repo_for(&self, cfg: &SyncConfig) -> Result<git::Repo, SyncError> {
        let url = dotsync_core::remote::expand_remote(&cfg.remote, &self.home);
        git::Repo::open_or_init(&self.repo_dir(&url))
    }
}

/// `DOTSYNC_MACHINE`, else the kernel's host name, else "unknown".
fn machine_name() -> String {
    std::env::var("DOTSYNC_MACHINE")
        .ok()
        .filter(|m| !m.trim().is_empty())
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}
