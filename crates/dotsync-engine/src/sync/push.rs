//! The push side of a sync: what goes into the new commit besides the plan (versions a
//! resolution replaced, encrypted forms), the commit itself and the push with its lease.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use dotsync_core::SyncConfig;
use dotsync_core::paths::RepoPath;
use dotsync_core::plan::Version;

use super::message::{commit_message, message_path};
use super::{Emitter, RemoteState};
use crate::git::{Repo, git_mode, tracking_ref};
use crate::meta::META_PATH;
use crate::records;
use crate::{Engine, FileAction, Phase, SyncError, SyncOptions};

/// How a commit and push ended.
pub(super) enum Pushed {
    /// In (or nothing to push): the remote's tip now.
    Tip(Option<String>),
    /// Another machine pushed first.
    Rejected,
}

impl Engine {
    /// Commits the planned changes on top of the remote's tip (after a commit that keeps
    /// replaced versions, if any) and pushes with a lease on that tip. `Rejected` when another
    /// machine pushed first: fetch and plan again.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn commit_and_push(
        &self,
        cfg: &SyncConfig,
        opts: &SyncOptions,
        repo: &Repo,
        url: &str,
        remote: &RemoteState,
        tree_changes: &mut Vec<(String, Option<(u32, String)>)>,
        meta: &crate::meta::Meta,
        preserve: &[(String, Option<(u32, String)>)],
        pushed_bases: &[(String, Option<Version>)],
        merged_from: &[(String, Version)],
        events: &[(String, FileAction, u64, Option<String>)],
        key_merges: &[(String, String)],
        em: &mut Emitter<'_>,
    ) -> Result<Pushed, SyncError> {
        let meta_changed = *meta != remote.meta;
        if cfg.direction != dotsync_core::Direction::Pull
            && (!tree_changes.is_empty()
                || !preserve.is_empty()
                || (meta_changed && remote.tip.is_some()))
        {
            if let Some(c) = &opts.cancel
                && c.load(Ordering::SeqCst)
            {
                return Err(SyncError::Cancelled);
            }
            em.progress(Phase::Commit, 0, None);
            let mut parent = remote.tip.clone();
            let machine = &self.machine;
            let author = (format!("{machine} (dotsync)"), format!("dotsync@{machine}"));
            if !preserve.is_empty() {
                let tree = repo.build_tree(parent.as_deref(), preserve)?;
                repo.finish_pack()?;
                let names: Vec<String> = preserve.iter().map(|(p, _)| message_path(p)).collect();
                let msg = format!(
                    "{machine}: keep this machine's version of {} before taking the remote's\n\n\
                 on_conflict = remote replaced it; this commit keeps it in history.\n\n\
                 Dotsync-Machine: {machine}\n",
                    names.join(", ")
                );
                let kept =
                    repo.commit_tree(&tree, parent.as_deref(), &msg, (&author.0, &author.1))?;
                // Kept here before it leaves: if this sync dies and the remote is then moved
                // back, the replaced version is still in this machine's history.
                self.keep(repo, cfg, &kept)?;
                parent = Some(kept);
            }
            // The plan's own list, not a copy: a first push's holds an entry per file.
            let changes = tree_changes;
            if meta_changed
                || (remote.tip.is_none() && !meta.modes.is_empty())
                || (remote.tip.is_none() && !meta.dirs.is_empty())
            {
                let oid = repo.write_blob(&meta.to_bytes())?;
                changes.push((META_PATH.to_owned(), Some((0o100644, oid))));
            }
            // The commit's tree is the remote's with the planned changes, whatever a
            // preserving commit before it held: that one is history, not a base.
            let (tree, remote_tree) = repo.build_tree_on(remote.tip.as_deref(), changes)?;
            // git reads the objects from here on.
            repo.finish_pack()?;
            let unchanged_tree = preserve.is_empty() && remote_tree.as_deref() == Some(&tree);
            if !unchanged_tree {
                let msg = commit_message(machine, events, key_merges);
                let commit =
                    repo.commit_tree(&tree, parent.as_deref(), &msg, (&author.0, &author.1))?;
                // What this push carries from the home, recorded before it leaves: if the
                // process dies between the push and the record, the next sync recognises
                // these as this machine's own versions instead of conflicting with them.
                // Deletions too: the remote without the file is then this machine's doing.
                if !pushed_bases.is_empty() || !merged_from.is_empty() {
                    let earlier = super::planner::landed_attempts(
                        repo,
                        records::load_pushed(&self.store, &cfg.id)?,
                        url,
                        remote.tip.as_deref(),
                    );
                    let announced = pushed_bases
                        .iter()
                        .map(|(p, v)| (p.as_str(), v.as_ref(), false))
                        .chain(merged_from.iter().map(|(p, v)| (p.as_str(), Some(v), true)));
                    records::put_pushed(&self.store, &cfg.id, &earlier, url, &commit, announced)?;
                }
                fail::fail_point!("sync::after-commit");
                em.progress(Phase::Push, 0, None);
                if !repo.push(url, &commit, &cfg.branch, remote.tip.as_deref())? {
                    return Ok(Pushed::Rejected);
                }
                fail::fail_point!("sync::after-push");
                repo.update_ref(&tracking_ref(&cfg.branch), &commit)?;
                return Ok(Pushed::Tip(Some(commit)));
            }
        }
        Ok(Pushed::Tip(remote.tip.clone()))
    }

    /// What a config with `encrypt` globs adds to a push besides the plan: this machine's
    /// public key in the repository's recipients (so every machine encrypts to it from then
    /// on), and the encrypted form of covered files the remote still holds in plaintext (their
    /// earlier versions stay in history as they were).
    pub(super) fn seal_extras(
        &self,
        cfg: &SyncConfig,
        repo: &Repo,
        remote: &RemoteState,
        local: &BTreeMap<RepoPath, crate::scan::LocalEntry>,
        tree_changes: &mut Vec<(String, Option<(u32, String)>)>,
        events: &mut Vec<(String, FileAction, u64, Option<String>)>,
    ) -> Result<(), SyncError> {
        if let Some(list) = remote
            .sealer
            .recipients_with_ours(&remote.recipients, &self.machine)
        {
            let oid = repo.write_blob(list.as_bytes())?;
            tree_changes.push((
                crate::content::RECIPIENTS_PATH.to_owned(),
                Some((0o100644, oid)),
            ));
        }
        for path in &remote.plain_on_remote {
            if tree_changes.iter().any(|(p, _)| p == path) {
                continue;
            }
            let Ok(rp) = RepoPath::parse(path) else {
                continue;
            };
            let Some(rv) = remote.files.get(&rp) else {
                continue;
            };
            // Only a file this machine holds as the remote does: anything else is the plan's.
            if local.get(&rp).map(|e| &e.version) != Some(rv) {
                continue;
            }
            let plain = repo.read_blob(&rv.blob)?;
            let Some(stored) =
                self.to_repo(cfg, repo, remote, path, rv.kind, &plain, rv.blob.clone())?
            else {
                continue;
            };
            tree_changes.push((path.clone(), Some((git_mode(rv.kind, rv.mode), stored))));
            events.push((
                path.clone(),
                FileAction::Pushed,
                plain.len() as u64,
                Some(
                    "encrypted on the remote from now on; the versions before stay in its \
                     history as they were"
                        .into(),
                ),
            ));
        }
        Ok(())
    }
    /// The versions a resolution replaced (queued in `preserve`) that go into history with this
    /// push, added to `preserve`; returns the paths whose queue entry this push settles.
    pub(super) fn preserve_queued(
        &self,
        cfg: &SyncConfig,
        repo: &Repo,
        remote: &RemoteState,
        queued: &BTreeMap<String, Version>,
        preserve: &mut Vec<(String, Option<(u32, String)>)>,
    ) -> Result<Vec<String>, SyncError> {
        let mut preserved_now = Vec::new();
        if cfg.direction == dotsync_core::Direction::Pull {
            // Never pushed from here (the config was turned to pull-only since): the kept
            // refs made at resolution time are their history.
            preserved_now.extend(queued.keys().cloned());
        } else {
            for (path, v) in queued {
                let on_remote = RepoPath::parse(path)
                    .ok()
                    .and_then(|rp| remote.files.get(&rp));
                if on_remote != Some(v) && !preserve.iter().any(|(p, _)| p == path) {
                    // A restore or resolution made while the config named another remote
                    // wrote the version into that remote's repository. A commit naming a
                    // blob this repository lacks would be refused by every push from now on.
                    if !self.bring_blob(repo, &v.blob) {
                        tracing::warn!(
                            config = %cfg.name,
                            "the replaced version of {path} ({}) is in none of this machine's repositories; it stays queued",
                            v.blob
                        );
                        continue;
                    }
                    // An encrypted file's replaced version goes out encrypted too (its
                    // plaintext blob is only in this machine's repository).
                    let stored = if v.kind == dotsync_core::plan::Kind::File && cfg.encrypts(path) {
                        let plain = repo.read_blob(&v.blob)?;
                        match self.to_repo(
                            cfg,
                            repo,
                            remote,
                            path,
                            v.kind,
                            &plain,
                            v.blob.clone(),
                        )? {
                            Some(s) => s,
                            // No key: it stays queued (and in the kept refs) until one.
                            None => continue,
                        }
                    } else {
                        v.blob.clone()
                    };
                    preserve.push((path.clone(), Some((git_mode(v.kind, v.mode), stored))));
                }
                preserved_now.push(path.clone());
            }
        }
        Ok(preserved_now)
    }
}
