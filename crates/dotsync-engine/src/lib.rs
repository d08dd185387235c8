//! dotsync's sync engine.
//!
//! One sync of one config: scan the home, fetch the remote into the engine's own bare
//! repository, plan every file from (base, local, remote), build the new commit without a work
//! tree, push it, then write the remote's changes into the home atomically and record the new
//! bases. See ARCHITECTURE.md for the invariants.

mod apply;
pub use apply::ApplyError;
pub mod content;
mod event;
mod git;
mod inspect;
mod local;
mod meta;
mod pack;
mod presence;
mod probe;
mod records;
mod scan;
mod secrets;
mod sync;
mod tree;
mod watched;

pub use event::{ErrorKind, FileAction, Phase, SyncEvent, SyncSummary, Trigger};
pub use inspect::{ConflictInfo, FileState, FileStatus, HistoryEntry, Resolution};
pub use presence::{MAX_ADDRS, Presence, RemoteMachines, RepoKey, machine_ref_name};
pub use probe::{Comparison, RemoteFile, RemoteKind, RemoteProbe};
pub use records::ConflictRecord;
pub use scan::MAX_FILE;
pub use watched::ChangeScope;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use dotsync_core::SyncConfig;
use dotsync_state::{Layout, Store};

/// What the records say of every config, for a status at a glance.
#[derive(Debug, Clone, Default)]
pub struct Summaries {
    /// Config id → unix seconds of its last completed sync.
    pub last_sync: HashMap<String, i64>,
    /// Config id → files in conflict.
    pub conflicts: HashMap<String, u64>,
    /// Config id → (files, total bytes) as the last sync saw them.
    pub files: HashMap<String, (u64, u64)>,
}

/// A file a sync could not write or remove, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FileFailure {
    pub path: String,
    pub reason: String,
    /// Unix time of the first sync it failed in.
    pub since: i64,
}

/// Options of one sync run.
#[derive(Debug, Clone, Default)]
pub struct SyncOptions {
    /// Go on even when the sync would delete most of the config's files.
    pub allow_mass_delete: bool,
    /// Why the sync runs, recorded in its `start` line.
    pub trigger: Trigger,
    /// Set to stop the sync at the next safe point (between two files; never mid-write). A
    /// cancelled sync reports `ok: false, error_kind: "cancelled"` and is simply run again later.
    pub cancel: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    /// How to go on after the remote's branch was moved back (see [`SyncError::Rewound`]).
    pub rewind: Option<RewindChoice>,
    /// How long a file must have stopped changing before it is pushed: a changed file whose
    /// last write is more recent is looked at again once it is this old, and held (retried
    /// later, not pushed) if it changed meanwhile. Zero: only a change during the scan holds it.
    pub settle: std::time::Duration,
    /// Plan only: report what the sync would do (`file` events and the summary's counts, with
    /// `dry_run: true`) and stop before anything is committed, pushed, written or recorded.
    /// The remote's branch is still fetched into the engine's own repository.
    pub dry_run: bool,
    /// What the daemon's file watcher vouches for (git's fsmonitor idea): a generation that
    /// changes whenever anything may have changed under the config's paths. A sync run with
    /// the same value as the last successful one that kept its scan reuses that scan instead
    /// of walking the home; a sync that walks keeps its scan under this value for the next.
    /// `None` (the CLI, a config nothing watches): walk, keep nothing.
    pub unchanged_since: Option<u64>,
    /// Walk the home whatever `unchanged_since` says (the periodic full scan).
    pub force_walk: bool,
}

pub use dotsync_api::RewindChoice;

/// What went wrong talking to a remote, for the person: each kind has its own way out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RemoteProblem {
    /// Cannot connect (no network, host down, DNS): retried by itself.
    Offline,
    /// The remote refused who we are (ssh key, token, 403).
    Auth,
    /// The remote answered, but there is no repository there.
    NotFound,
    /// The remote refused the push (a protected branch, a hook on the server).
    Rejected,
    /// The remote's branch is locked (a stale `.lock` file on the server).
    Locked,
    /// The disk (here or on the remote) is full.
    DiskFull,
}

/// Errors that stop a whole sync. Per-file trouble is reported as `file` events instead.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("the remote {remote} cannot be reached: {detail}")]
    Offline { remote: String, detail: String },
    #[error("{}", remote_message(*.problem, remote, detail))]
    Remote {
        problem: RemoteProblem,
        remote: String,
        detail: String,
    },
    #[error(
        "the remote's branch {branch} was moved back: commit {}, which this machine last \
         synced with or took files from, is no longer in its history (someone force-pushed or \
         reset it). Nothing was changed here. Choose one: push this machine's files back to \
         the remote, or take the remote's files (this machine's versions stay in its history)",
        synced.get(..12).unwrap_or(synced)
    )]
    Rewound { branch: String, synced: String },
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
    /// A file of the home could not be written or removed (a restore, a resolution).
    #[error("{}: {source}", path.display())]
    Apply {
        path: PathBuf,
        #[source]
        source: ApplyError,
    },
    #[error("the sync was cancelled (the daemon is stopping); it resumes on the next run")]
    Cancelled,
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
}

impl SyncError {
    /// A stable one-word kind for clients: `offline`, `auth`, `remote_not_found`, `rejected`,
    /// `remote_locked`, `disk_full`, `rewound`, `mass_delete`, `git`, `io`, `store`,
    /// `apply`, `cancelled`, `not_found`, `invalid`.
    pub fn kind(&self) -> ErrorKind {
        match self {
            SyncError::Offline { .. } => ErrorKind::Offline,
            SyncError::Remote { problem, .. } => match problem {
                RemoteProblem::Offline => ErrorKind::Offline,
                RemoteProblem::Auth => ErrorKind::Auth,
                RemoteProblem::NotFound => ErrorKind::RemoteNotFound,
                RemoteProblem::Rejected => ErrorKind::Rejected,
                RemoteProblem::Locked => ErrorKind::RemoteLocked,
                RemoteProblem::DiskFull => ErrorKind::DiskFull,
            },
            SyncError::Rewound { .. } => ErrorKind::Rewound,
            SyncError::Git(_) => ErrorKind::Git,
            SyncError::MassDelete { .. } => ErrorKind::MassDelete,
            SyncError::Store(_) => ErrorKind::Store,
            SyncError::Io { .. } => ErrorKind::Io,
            SyncError::Apply { .. } => ErrorKind::Apply,
            SyncError::Cancelled => ErrorKind::Cancelled,
            SyncError::NotFound(_) => ErrorKind::NotFound,
            SyncError::Invalid(_) => ErrorKind::Invalid,
        }
    }
}

impl SyncError {
    /// Whether trying again soon may help by itself (the network came back). Everything else
    /// needs the person (or at least a change somewhere) and is retried only slowly.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            SyncError::Offline { .. }
                | SyncError::Remote {
                    problem: RemoteProblem::Offline,
                    ..
                }
                | SyncError::Cancelled
        )
    }
}

fn remote_message(problem: RemoteProblem, remote: &str, detail: &str) -> String {
    let what = match problem {
        RemoteProblem::Offline => {
            format!("the remote {remote} cannot be reached; dotsync retries by itself")
        }
        RemoteProblem::Auth => format!(
            "the remote {remote} refused access: check that your ssh key or token works for it \
             (`git ls-remote {remote}` must work without a prompt)"
        ),
        RemoteProblem::NotFound => format!(
            "there is no git repository at {remote}: create it (for a folder or a server over \
             ssh: `git init --bare -b main PATH`; on a git host: a new empty repository), or \
             point the config at the right remote"
        ),
        RemoteProblem::Rejected => format!(
            "the remote {remote} refused the push (a protected branch, or a hook on the \
             server); allow pushes to the branch, or use another branch"
        ),
        RemoteProblem::Locked => format!(
            "the branch on {remote} is locked by a `.lock` file (a push that died on the \
             server); if no push is running there, remove that file on the server"
        ),
        RemoteProblem::DiskFull => {
            format!("no space left on a disk while syncing with {remote}; free some space")
        }
    };
    if detail.is_empty() {
        what
    } else {
        format!("{what} (git: {detail})")
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
    /// Whether the home's file system folds case (probed once).
    case_insensitive: std::sync::OnceLock<bool>,
    /// Per config id: the scan of its last clean sync and the watcher generation it is valid
    /// for (see [`SyncOptions::unchanged_since`]).
    kept_scans: Mutex<HashMap<String, sync::KeptScan>>,
}

impl Engine {
    /// The engine over a state directory's store. Creates or updates the engine's own tables
    /// in it first (`records/schema.rs`); a database whose engine tables are newer than this
    /// dotsync knows is refused.
    pub fn new(
        layout: Layout,
        store: Arc<Store>,
        home: PathBuf,
    ) -> Result<Self, dotsync_state::StoreError> {
        store.migrate(&records::schema::SCHEMA)?;
        Ok(Self {
            layout,
            store,
            home,
            machine: machine_name(),
            repo_locks: Mutex::new(HashMap::new()),
            case_insensitive: std::sync::OnceLock::new(),
            kept_scans: Mutex::new(HashMap::new()),
        })
    }

    /// Treats the home's file system as case-insensitive (or not) instead of probing it:
    /// tests of what macOS and Windows file systems do, on Linux.
    #[must_use]
    pub fn with_case_insensitive(self, yes: bool) -> Self {
        let _ = self.case_insensitive.set(yes);
        self
    }

    /// Whether names that differ only in case are one file here: probed once by creating a
    /// file in dotsync's state directory and looking it up with other case.
    fn case_insensitive(&self) -> bool {
        *self.case_insensitive.get_or_init(|| {
            let dir = self.layout.state_dir();
            let probe = dir.join(format!("CaseProbe-{}", dotsync_state::random_hex(4)));
            let upper = probe.clone();
            let lower = dir.join(
                probe
                    .file_name()
                    .map(|n| n.to_string_lossy().to_lowercase())
                    .unwrap_or_default(),
            );
            if std::fs::write(&upper, b"").is_err() {
                return false;
            }
            let folded = std::fs::symlink_metadata(&lower).is_ok();
            let _ = std::fs::remove_file(&upper);
            folded
        })
    }

    /// Names this machine explicitly (tests run several machines in one process).
    #[must_use]
    pub fn with_machine(mut self, name: &str) -> Self {
        name.clone_into(&mut self.machine);
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
        if records::content_rules(&self.store, &cfg.id)? != self.sync_rules(cfg) {
            // The config's rules changed since: a full sync is due whatever the remote did.
            return Ok(None);
        }
        Ok(records::last_commit(&self.store, &cfg.id)?)
    }

    /// Per config id: when its last completed sync ended (unix seconds), and how many files are
    /// in conflict. One small read of the engine's records, for the daemon's status.
    pub fn summaries(&self) -> Result<Summaries, SyncError> {
        Ok(records::summaries(&self.store)?)
    }

    /// Files of `cfg` the home could not take at the last sync (a name too long, a directory
    /// in the way, a full disk), with the reason. Each stays listed until a sync succeeds for it.
    pub fn failures(&self, cfg: &SyncConfig) -> Result<Vec<FileFailure>, SyncError> {
        Ok(records::load_failures(&self.store, &cfg.id)?
            .into_iter()
            .map(|(path, reason, since)| FileFailure {
                path,
                reason,
                since,
            })
            .collect())
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
            // Gone, and hashed too recently to be in the stat cache (its last write was within
            // the racy window of the sync that pushed it): still a deletion if it was synced.
            (Err(_), None) => !records::has_base(&self.store, &cfg.id, hp.repo.as_str()),
        }
    }

    /// This machine's age identities (`state/key.txt`).
    fn key_path(&self) -> PathBuf {
        self.layout.state_dir().join(content::KEY_FILE)
    }

    /// The other machines' public keys this machine encrypts to (`state/trusted-keys.txt`).
    fn trusted_path(&self) -> PathBuf {
        self.layout.state_dir().join(content::TRUSTED_FILE)
    }

    /// Trusts another machine's public key: files encrypted here from now on are encrypted
    /// to it too (when the repository lists it). Whether it was new.
    pub fn key_trust(&self, public: &str) -> Result<bool, content::KeyError> {
        content::trust(&self.trusted_path(), public)
    }

    /// The other machines' public keys this machine trusts.
    pub fn key_trusted(&self) -> Result<Vec<String>, content::KeyError> {
        content::load_trusted(&self.trusted_path())
    }

    /// Everything in `cfg` that decides what a sync does with a home and a remote that did
    /// not move: which files it covers (paths, ignore globs), which way they go, and the
    /// content rules (see [`content::rules_of`]). A sync whose rules differ from the last
    /// full sync's looks at every file again: a glob taken out of `ignore` brings in the
    /// remote's files it hid, though neither side moved.
    fn sync_rules(&self, cfg: &SyncConfig) -> String {
        let coverage = format!(
            "paths={:?} ignore={:?} direction={:?}",
            cfg.paths, cfg.ignore, cfg.direction
        );
        if cfg.encrypt.is_empty() && cfg.per_machine.is_empty() {
            return coverage;
        }
        // An unreadable key file reads as "changed": the sync then says what is wrong.
        let keys = self
            .key_public()
            .unwrap_or_else(|e| vec![format!("unreadable: {e}")]);
        format!("{coverage} {}", content::rules_of(cfg, &keys))
    }

    /// This machine's public keys (empty: no key yet).
    pub fn key_public(&self) -> Result<Vec<String>, content::KeyError> {
        Ok(content::load_identities(&self.key_path())?
            .iter()
            .map(|i| i.to_public().to_string())
            .collect())
    }

    /// Creates this machine's key; the next push of a config with `encrypt` globs adds its
    /// public key to the repository's recipients. Returns the public key.
    pub fn key_init(&self) -> Result<String, content::KeyError> {
        content::init(&self.key_path())
    }

    /// This machine's keys, encrypted with `passphrase`, ASCII-armored.
    pub fn key_export(&self, passphrase: &str) -> Result<String, content::KeyError> {
        content::export(&self.key_path(), passphrase)
    }

    /// Adds the keys of an export; returns the public keys that were new here.
    pub fn key_import(
        &self,
        armored: &str,
        passphrase: &str,
    ) -> Result<Vec<String>, content::KeyError> {
        content::import(&self.key_path(), armored, passphrase)
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
        let mut locks = self
            .repo_locks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        locks.entry(dir.to_path_buf()).or_default().clone()
    }

    /// What the config covers (see [`Coverage`](dotsync_core::paths::Coverage)); an ignore
    /// pattern that does not compile is an invalid config.
    fn coverage(&self, cfg: &SyncConfig) -> Result<dotsync_core::paths::Coverage, SyncError> {
        dotsync_core::paths::Coverage::of(cfg, &self.home)
            .map_err(|e| SyncError::Invalid(e.to_string()))
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

/// `DOTSYNC_MACHINE`, else the host name (`gethostname`, on every Unix), else "unknown".
/// Why `cfg` does not sync on `machine`, for the summary and the status.
pub fn not_here_message(cfg: &SyncConfig, machine: &str) -> String {
    format!(
        "config {} applies to {} only; this machine is {machine}, so it does not sync here",
        cfg.name,
        cfg.machines.join(", ")
    )
}

fn machine_name() -> String {
    std::env::var("DOTSYNC_MACHINE")
        .ok()
        .filter(|m| !m.trim().is_empty())
        .or_else(host_name)
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}

/// The kernel's host name through `gethostname(2)`.
#[allow(unsafe_code)]
fn host_name() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for `buf.len()` bytes; gethostname writes at most that many
    // and we read only up to the first NUL (or the whole buffer).
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return None;
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8(buf[..end].to_vec()).ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_host_name_comes_from_gethostname() {
        let name = super::host_name().unwrap_or_default();
        assert!(!name.is_empty());
        if let Ok(kernel) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
            assert_eq!(name, kernel.trim());
        }
    }
}
