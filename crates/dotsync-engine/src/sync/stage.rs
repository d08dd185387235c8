//! Putting this machine's version of a file into the commit: its bytes as the scan hashed them,
//! encrypted for a file the config encrypts (`to_repo`, the one way in for every home
//! version), or held and listed when it cannot go (changed since the scan, no key, looks like a
//! secret).

use dotsync_core::SyncConfig;
use dotsync_core::paths::RepoPath;
use dotsync_core::plan::{Kind, Version};

use super::Emitter;
use super::planner::Planned;
use super::remote::RemoteState;
use crate::git::{Repo, git_mode};
use crate::{Engine, FileAction, SyncError};

impl Engine {
    /// Writes a local file's content into the object store and stages it (encrypted, for a
    /// file the config encrypts).
    fn stage_local(
        &self,
        cfg: &SyncConfig,
        repo: &Repo,
        remote: &RemoteState,
        path: &RepoPath,
        lv: &Version,
        p: &mut Planned,
    ) -> Result<Stage, SyncError> {
        let abs = path.under(&self.home);
        let Ok(bytes) = crate::scan::read_synced(&abs, lv.kind) else {
            return Ok(Stage::Changed);
        };
        if lv.kind == Kind::File
            && !cfg.encrypts(path.as_str())
            && !cfg.allows_plaintext(path.as_str())
            && let Some(what) = crate::secrets::looks_secret(&bytes)
        {
            return Ok(Stage::LooksSecret(what));
        }
        let oid = repo.write_blob(&bytes)?;
        if oid != lv.blob {
            return Ok(Stage::Changed);
        }
        let Some(stored) = self.to_repo(cfg, repo, remote, path.as_str(), lv.kind, &bytes, oid)?
        else {
            return Ok(Stage::NeedsKey);
        };
        p.tree_changes
            .push((path.to_string(), Some((git_mode(lv.kind, lv.mode), stored))));
        if lv.kind == Kind::File {
            p.meta.set_file_mode(path.as_str(), lv.mode);
        } else {
            p.meta.modes.remove(path.as_str());
        }
        Ok(Stage::Staged)
    }

    /// The repository blob for a file's plaintext bytes (whose blob is `plain_oid`): the same
    /// blob, or for a file the config encrypts a new age ciphertext, remembered as holding
    /// that plaintext. `None` when it must be encrypted and this machine has no key.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn to_repo(
        &self,
        cfg: &SyncConfig,
        repo: &Repo,
        remote: &RemoteState,
        path: &str,
        kind: Kind,
        plain: &[u8],
        plain_oid: String,
    ) -> Result<Option<String>, SyncError> {
        if kind != Kind::File || !cfg.encrypts(path) {
            return Ok(Some(plain_oid));
        }
        let Some(sealed) = remote.sealer.seal(plain) else {
            return Ok(None);
        };
        let oid = repo.write_blob(&sealed)?;
        crate::records::put_sealed(&self.store, &oid, &plain_oid)?;
        Ok(Some(oid))
    }
}

/// What staging a local file came to.
enum Stage {
    Staged,
    /// The file no longer has the content the scan hashed.
    Changed,
    /// The file must be encrypted and this machine has no key.
    NeedsKey,
    /// The file looks like it holds a secret (what, in words) and the config neither
    /// encrypts it nor lets it through in plaintext: held.
    LooksSecret(&'static str),
}

impl Engine {
    /// Holds a file that must be encrypted while this machine has no key: listed, never pushed.
    /// Stages this machine's version of `path` for the commit ([`Engine::stage_local`]);
    /// when it cannot be pushed now (changed since the scan, no key to encrypt it, it looks
    /// like a secret), says why and returns false: the file is held, its base untouched.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn stage_or_hold(
        &self,
        cfg: &SyncConfig,
        repo: &Repo,
        remote: &RemoteState,
        path: &RepoPath,
        lv: &Version,
        p: &mut Planned,
        em: &mut Emitter<'_>,
    ) -> Result<bool, SyncError> {
        let key = path.to_string();
        match self.stage_local(cfg, repo, remote, path, lv, p)? {
            Stage::Staged => return Ok(true),
            Stage::Changed => em.changed_during_sync(&key),
            Stage::NeedsKey => Self::needs_key(key, p, em),
            Stage::LooksSecret(what) => Self::held_secret(cfg, key, what, p, em),
        }
        Ok(false)
    }

    /// Reports a file held because it looks like it holds a secret, with the two ways on.
    pub(super) fn held_secret(
        cfg: &SyncConfig,
        key: String,
        what: &str,
        p: &mut Planned,
        em: &mut Emitter<'_>,
    ) {
        let why = format!(
            "held, not pushed: it looks like it holds {what}. Encrypt it on the remote: \
             `dotsync config edit {name} --encrypt {key}` (with `dotsync key init` first), or \
             push it as it is: `dotsync config edit {name} --plaintext {key}`",
            name = cfg.name
        );
        if !em.failures.iter().any(|(f, _)| *f == key) {
            em.failures.push((key.clone(), why.clone()));
        }
        p.events.push((key, FileAction::Skipped, 0, Some(why)));
    }

    pub(super) fn needs_key(key: String, p: &mut Planned, em: &mut Emitter<'_>) {
        if !em.failures.iter().any(|(f, _)| *f == key) {
            em.failures
                .push((key.clone(), crate::content::NEEDS_KEY_TO_ENCRYPT.into()));
        }
        p.events.push((
            key,
            FileAction::Skipped,
            0,
            Some(crate::content::NEEDS_KEY_TO_ENCRYPT.into()),
        ));
    }
}
