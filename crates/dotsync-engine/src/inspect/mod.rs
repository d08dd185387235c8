//! What the API and CLI ask of the engine besides syncing: conflicts and their resolution
//! (`conflicts.rs`), a file's history, old versions and their restore (`history.rs`), and the
//! state of a config's files (`files.rs`). Here: what more than one of them needs (reading a
//! covered file in the home, keeping the version a write replaces, naming paths and kept refs).

mod conflicts;
mod files;
mod history;

use dotsync_core::SyncConfig;
use dotsync_core::paths::RepoPath;
use dotsync_core::plan::{Kind, Version};

use crate::apply::Target;
use crate::git::Repo;
use crate::meta::{META_PATH, Meta};
use crate::records;
use crate::{Engine, SyncError};

pub use conflicts::{ConflictInfo, Resolution};
pub use files::{FileState, FileStatus};
pub use history::HistoryEntry;

/// The kind a sync would take a home entry for (`None`: neither a file nor a symlink).
fn synced_kind(m: &std::fs::Metadata) -> Option<Kind> {
    if m.file_type().is_symlink() {
        Some(Kind::Symlink)
    } else if m.is_file() {
        Some(Kind::File)
    } else {
        None
    }
}

impl Engine {
    /// Keeps the home's current version of `rp` in history before it is replaced: a commit
    /// on top of `on` (or on nothing) under a kept ref at once, and the version returned for
    /// the `preserve` queue, which the next push commits to the remote. Nothing when there is
    /// no file, or its version is already the base (so already in history).
    fn preserve_current(
        &self,
        repo: &Repo,
        cfg: &SyncConfig,
        rp: &RepoPath,
        on: Option<&str>,
    ) -> Result<Vec<(String, Version)>, SyncError> {
        let Some(version) = self.home_version(repo, rp)? else {
            return Ok(Vec::new());
        };
        let (kind, oid, mode) = (version.kind, version.blob.clone(), version.mode);
        let base = records::load_bases(&self.store, &cfg.id)?.remove(rp.as_str());
        if base.as_ref().is_some_and(|b| b.blob == oid) {
            return Ok(Vec::new());
        }
        let on = on.filter(|c| repo.has_commit(c));
        let tree = repo.build_tree(
            on,
            &[(
                rp.to_string(),
                Some((crate::git::git_mode(kind, mode), oid)),
            )],
        )?;
        let machine = self.machine();
        let msg = format!(
            "{machine}: keep this machine's version of {rp} before replacing it\n\n\
             Dotsync-Machine: {machine}\n"
        );
        let commit = repo.commit_tree(
            &tree,
            on,
            &msg,
            (
                &format!("{machine} (dotsync)"),
                &format!("dotsync@{machine}"),
            ),
        )?;
        repo.update_ref(&kept_ref(&cfg.id, &commit), &commit)?;
        if cfg.direction == dotsync_core::Direction::Pull {
            // Never pushed from here: the kept commit is its history.
            return Ok(Vec::new());
        }
        Ok(vec![(rp.to_string(), version)])
    }

    /// The home's version of `rp` (its blob written to `repo`), as a scan reads it; `None`
    /// when there is no file (or not one a config syncs).
    fn home_version(&self, repo: &Repo, rp: &RepoPath) -> Result<Option<Version>, SyncError> {
        let abs = rp.under(&self.home);
        let Ok(m) = std::fs::symlink_metadata(&abs) else {
            return Ok(None);
        };
        let Some(kind) = synced_kind(&m) else {
            return Ok(None);
        };
        let bytes = crate::scan::read_synced(&abs, kind).map_err(|source| SyncError::Io {
            path: abs.clone(),
            source,
        })?;
        let blob = repo.write_blob(&bytes)?;
        let mode = if kind == Kind::Symlink {
            0o777
        } else {
            crate::meta::file_perm(std::os::unix::fs::PermissionsExt::mode(&m.permissions()))
        };
        Ok(Some(Version { kind, blob, mode }))
    }

    #[allow(
        clippy::unused_self,
        reason = "one of the engine's readers of a commit"
    )]
    fn meta_at(&self, repo: &Repo, commit: Option<&str>) -> Meta {
        let Some(commit) = commit else {
            return Meta::default();
        };
        let spec = format!("{commit}:{META_PATH}");
        match repo.try_run(&["cat-file", "blob", &spec], None) {
            Ok(bytes) => Meta::parse(&bytes),
            Err(_) => Meta::default(),
        }
    }

    /// A covered file's bytes (a symlink's target) in the home now, `None` if it does not exist.
    /// Refuses files the config does not cover and paths that pass through a symlink from the
    /// config's root down: the API never becomes a way to read anything else in the home.
    fn read_home(&self, cfg: &SyncConfig, rp: &RepoPath) -> Result<Option<Vec<u8>>, SyncError> {
        let abs = rp.under(&self.home);
        if !self.coverage(cfg)?.covers_file(&abs) {
            return Err(SyncError::Invalid(format!(
                "~/{rp} is not one of config {}'s files",
                cfg.name
            )));
        }
        let roots = self.config_roots(cfg);
        let none = |_: &str| None;
        let state_dir = self.layout.state_dir();
        let target = Target {
            home: &self.home,
            state_dir: &state_dir,
            roots: &roots,
            dir_mode: &none,
            token: "",
        };
        target
            .check_no_symlink_parents(&abs)
            .map_err(|e| SyncError::Invalid(format!("~/{rp}: {e}")))?;
        let Ok(m) = std::fs::symlink_metadata(&abs) else {
            return Ok(None);
        };
        let Some(kind) = synced_kind(&m) else {
            return Err(SyncError::Invalid(format!("~/{rp} is not a file")));
        };
        crate::scan::read_synced(&abs, kind)
            .map(Some)
            .map_err(|source| SyncError::Io { path: abs, source })
    }
}

/// Where the engine keeps commits of a config that the remote may no longer have.
pub(crate) fn kept_prefix(config_id: &str) -> String {
    format!("refs/dotsync/kept/{config_id}/")
}

pub(crate) fn kept_ref(config_id: &str, commit: &str) -> String {
    format!("{}{commit}", kept_prefix(config_id))
}

impl Engine {
    /// The repository path whose history a file has: for a per-machine file named by its
    /// home path, this machine's variant; another machine's variant is named in full
    /// (`PATH##machine.NAME`).
    fn history_path(&self, cfg: &SyncConfig, path: &str) -> Result<RepoPath, SyncError> {
        let rp = parse_path(path)?;
        if cfg.is_per_machine(path) && dotsync_core::paths::machine_variant(path).is_none() {
            return rp.for_machine(&self.machine).ok_or_else(|| {
                SyncError::Invalid(format!(
                    "this machine's name {:?} cannot be part of a path",
                    self.machine
                ))
            });
        }
        Ok(rp)
    }
}

/// A repository path from a client: `.zshrc`, `~/.zshrc` or an absolute path in the home are
/// all accepted by the API layer, which normalises before calling; here it must be relative.
fn parse_path(path: &str) -> Result<RepoPath, SyncError> {
    RepoPath::parse(path).map_err(|e| SyncError::Invalid(e.to_string()))
}
