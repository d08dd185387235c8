//! One sync of one config: scan → remote check/fetch → plan → commit → push → apply → record.
//!
//! The home is written only after the push succeeded (or was not needed), and a file's base is
//! recorded only once the file really holds that version, in one transaction at the end. So a
//! sync killed anywhere is harmless: the next run recomputes its plan from (base, local, remote)
//! and converges. A rejected push (another machine was faster) goes back to the fetch; nothing
//! in the home was touched yet.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use dotsync_core::SyncConfig;
use dotsync_core::paths::{Coverage, Ignore, RepoPath};
use dotsync_core::plan::Version;
use dotsync_core::remote::expand_remote;

mod home;
pub(crate) mod message;
mod planner;
mod remote;

use crate::apply::Target;
use crate::git::{Repo, git_mode, tracking_ref};
use crate::meta::META_PATH;
use crate::records::{self, ConflictRecord, Outcome};

use crate::scan::{LocalEntry, Scan, Scanner, is_racy};
use crate::{Engine, FileAction, SyncError, SyncEvent, SyncOptions, SyncSummary};
use message::{commit_message, message_path};
use planner::Planned;
use remote::RemoteState;

/// How often a push rejected because another machine pushed first is retried.
const PUSH_ATTEMPTS: usize = 5;

/// How a commit and push ended.
enum Pushed {
    /// In (or nothing to push): the remote's tip now.
    Tip(Option<String>),
    /// Another machine pushed first.
    Rejected,
}

/// A change to make in the home after the push.
enum HomeChange {
    Write {
        path: RepoPath,
        version: Version,
        /// The bytes to write; `None`: the remote blob `version.blob`, read when written.
        content: Option<Vec<u8>>,
        action: FileAction,
        detail: Option<String>,
        /// The base to record once written, when it is not `version` (a pull-only merge keeps
        /// the remote's version as base, so this machine's part stays a held local change).
        base: Option<Version>,
    },
    Remove {
        path: RepoPath,
        detail: Option<String>,
    },
}

/// The scan of a config's last clean sync, reused instead of walking the home while the
/// daemon's watcher vouches that nothing changed under the config's paths since it was taken
/// (see [`SyncOptions::unchanged_since`]). Kept only after a sync that wrote nothing into the
/// home and held nothing back, so it is exactly what a walk would find now.
pub(crate) struct KeptScan {
    token: u64,
    cfg: SyncConfig,
    scan: Arc<Scan>,
}

/// How a file deleted by another machine is described (the planner's words).
const DELETED_ELSEWHERE: &str = "deleted on another machine";

struct Emitter<'a> {
    sink: &'a mut dyn FnMut(&SyncEvent),
    summary: SyncSummary,
    /// The files that failed, with the reason: shown in the status until they succeed.
    failures: Vec<(String, String)>,
    /// The other machines whose commits this sync takes from the remote.
    others: Option<String>,
    /// This sync's scan, to keep for the next one: set only where the sync ends clean.
    keep: Option<Arc<Scan>>,
}

impl Emitter<'_> {
    fn file(&mut self, path: &str, action: FileAction, bytes: u64, detail: Option<String>) {
        let s = &mut self.summary;
        match action {
            FileAction::Pushed => s.pushed += 1,
            FileAction::Pulled => s.pulled += 1,
            FileAction::Merged => s.merged += 1,
            FileAction::Deleted => s.deleted += 1,
            FileAction::Conflict => s.conflicts += 1,
            FileAction::Resolved => s.resolved += 1,
            FileAction::Skipped => s.skipped += 1,
            FileAction::Failed => {
                s.failed += 1;
                self.failures
                    .push((path.to_owned(), detail.clone().unwrap_or_default()));
            }
        }
        let from_remote = match action {
            FileAction::Pulled | FileAction::Merged | FileAction::Conflict => true,
            FileAction::Deleted => detail
                .as_deref()
                .is_some_and(|d| d.contains(DELETED_ELSEWHERE)),
            _ => false,
        };
        (self.sink)(&SyncEvent::File {
            config: s.config.clone(),
            path: path.to_owned(),
            action,
            bytes,
            detail,
            machine: if from_remote {
                self.others.clone()
            } else {
                None
            },
        });
    }

    /// A file that changed while this sync looked at it: skipped, and synced again soon.
    fn changed_during_sync(&mut self, path: &str) {
        self.file(
            path,
            FileAction::Skipped,
            0,
            Some("changed during the sync; it will sync next time".into()),
        );
        self.summary.retry = true;
    }

    fn progress(&mut self, phase: &'static str, done: u64, total: Option<u64>) {
        (self.sink)(&SyncEvent::Progress {
            config: self.summary.config.clone(),
            phase,
            done,
            total,
        });
    }
}

impl Engine {
    pub(crate) fn run_sync(
        &self,
        cfg: &SyncConfig,
        opts: &SyncOptions,
        sink: &mut dyn FnMut(&SyncEvent),
    ) -> Result<SyncSummary, SyncError> {
        let started = Instant::now();
        let url = expand_remote(&cfg.remote, &self.home);
        let repo_dir = self.repo_dir(&url);
        let lock = self.repo_lock(&repo_dir);
        let _guard = lock.lock().unwrap_or_else(|p| p.into_inner());
        sink(&SyncEvent::Start {
            config: cfg.name.clone(),
            config_id: cfg.id.clone(),
            remote: cfg.remote.clone(),
            branch: cfg.branch.clone(),
            trigger: if opts.trigger.is_empty() {
                "api".into()
            } else {
                opts.trigger.clone()
            },
        });
        let mut em = Emitter {
            sink,
            summary: SyncSummary {
                config: cfg.name.clone(),
                config_id: cfg.id.clone(),
                ..SyncSummary::default()
            },
            failures: Vec::new(),
            others: None,
            keep: None,
        };
        let result = if cfg.applies_to(&self.machine) {
            self.sync_inner(cfg, opts, &url, &repo_dir, &mut em)
        } else {
            // Not this machine's config: nothing is scanned, fetched or written.
            em.summary.not_here = Some(crate::not_here_message(cfg, &self.machine));
            Ok(())
        };
        if !opts.dry_run {
            let mut kept = self.kept_scans.lock().unwrap_or_else(|p| p.into_inner());
            match (&result, em.keep.take(), opts.unchanged_since) {
                (Ok(()), Some(scan), Some(token)) => {
                    kept.insert(
                        cfg.id.clone(),
                        KeptScan {
                            token,
                            cfg: cfg.clone(),
                            scan,
                        },
                    );
                }
                // Failed, or not clean: the next sync walks.
                _ => {
                    kept.remove(&cfg.id);
                }
            }
        }
        let mut summary = em.summary.clone();
        summary.duration_ms = started.elapsed().as_millis() as u64;
        match &result {
            Ok(()) => summary.ok = true,
            Err(e) => {
                summary.ok = false;
                summary.error = Some(e.to_string());
                summary.error_kind = Some(e.kind());
            }
        }
        (em.sink)(&SyncEvent::Summary(summary.clone()));
        result.map(|()| summary)
    }

    fn sync_inner(
        &self,
        cfg: &SyncConfig,
        opts: &SyncOptions,
        url: &str,
        repo_dir: &std::path::Path,
        em: &mut Emitter<'_>,
    ) -> Result<(), SyncError> {
        let repo = Repo::open_or_init(repo_dir)?;
        repo.clear_stale_locks();
        let ignore = Ignore::new(&cfg.ignore).map_err(|e| SyncError::Git(e.to_string()))?;
        let roots = self.config_roots(cfg);
        let coverage = Coverage::new(&cfg.paths, ignore.clone(), &self.home);
        // Bases of files the config no longer covers (a path removed from it, a new ignore
        // pattern) are forgotten, never read as deletions: narrowing a config must not delete
        // anything on the remote or on other machines.
        let (bases, forgotten): (BTreeMap<String, Version>, BTreeMap<String, Version>) =
            records::load_bases(&self.store, &cfg.id)?
                .into_iter()
                .partition(|(k, _)| coverage.covers(k));
        // The watcher saw nothing under the config's paths since the scan kept by its last
        // clean sync: that scan is what a walk would find, and the stat cache is not needed.
        let reused = self.reusable_scan(cfg, opts);
        let cache = match reused {
            Some(_) => HashMap::new(),
            None => records::load_stat_cache(&self.store, &cfg.id)?,
        };
        // A conflict on a file the config no longer covers (a path removed, an ignore added)
        // is forgotten with the file: nothing of it may be written any more.
        let (open_conflicts, uncovered_conflicts): (
            BTreeMap<String, ConflictRecord>,
            BTreeMap<String, ConflictRecord>,
        ) = records::load_conflicts(&self.store, Some(&cfg.id))?
            .into_iter()
            .map(|c| (c.path.clone(), c))
            .partition(|(k, _)| coverage.covers(k));
        let last_commit = records::last_commit(&self.store, &cfg.id)?;
        let synced = records::synced(&self.store, &cfg.id)?;
        // Whether this config fetched from another remote before any of its syncs completed
        // (its remote was changed since): nothing that sync wrote stands in for a base here.
        let fetched_from = if synced.is_none() {
            records::synced_url(&self.store, &cfg.id)?
        } else {
            None
        };
        let joined_before_any_sync = fetched_from.as_deref().is_some_and(|f| f != url);
        if synced.is_none() && !opts.dry_run {
            // No sync of this config completed yet, but one may have fetched from another
            // remote (the config's remote changed since): what that one showed in `log` comes
            // along. The URL is remembered from the first sync on.
            if fetched_from.as_deref() != Some(url) {
                if let Some(old) = fetched_from {
                    self.import_history(&repo, cfg, &old, None);
                }
                records::set_synced_url(&self.store, &cfg.id, url)?;
            }
        }
        let pushed = records::load(&self.store, records::Versions::Pushed, &cfg.id)?;
        let pulled = records::load(&self.store, records::Versions::Pulled, &cfg.id)?;
        let queued_preserve = records::load(&self.store, records::Versions::Preserve, &cfg.id)?;
        // Temporary files: this config's tokens belong to a sync of it that was killed (syncs
        // of one config never overlap); other configs' may belong to a sync running now.
        let own_tokens: BTreeSet<String> = records::apply_tokens(&self.store, Some(&cfg.id))?
            .into_iter()
            .collect();
        let temps: Vec<(String, bool)> = records::apply_tokens(&self.store, None)?
            .into_iter()
            .map(|t| {
                let mine = own_tokens.contains(&t);
                (t, mine)
            })
            .collect();

        // 1. Scan.
        let state_dir = self.layout.state_dir();
        // The remote check (one `git ls-remote`, a network round trip) runs while the home is
        // scanned: a sync with nothing to do costs the longer of the two, not their sum.
        let (mut scan, remote_check) = match reused {
            Some(scan) => {
                em.summary.walk_skipped = true;
                tracing::debug!(
                    config = %cfg.name,
                    "nothing changed under the config's paths since the last sync: no walk"
                );
                (scan, repo.ls_remote(url, &cfg.branch))
            }
            None => std::thread::scope(|scope| {
                let check = scope.spawn(|| repo.ls_remote(url, &cfg.branch));
                let sink_progress = &mut |n: u64| em.progress("scan", n, None);
                let scan = Scanner {
                    home: &self.home,
                    state_dir: &state_dir,
                    ignore: &ignore,
                    cache: &cache,
                    temps: &temps,
                    progress: sink_progress,
                    machine: &self.machine,
                }
                .scan(cfg);
                let check = check
                    .join()
                    .unwrap_or_else(|_| Err(SyncError::Git("the remote check panicked".into())));
                (Arc::new(scan), check)
            }),
        };
        if scan.incomplete {
            return Err(SyncError::Io {
                path: self.home.clone(),
                source: std::io::Error::other(
                    "the scan of the home stopped half way; nothing was synced, try again",
                ),
            });
        }
        // Leftovers of a sync of this config killed mid-write: their names carry a token it
        // recorded before creating them, so they are provably dotsync's. The file they were
        // for is intact (the rename never happened), so they are only clutter.
        // A root that is a file (`~/.gitconfig`) is written through a temporary file beside
        // it, outside every root, where the scan does not look.
        let mut leftovers = scan.stale_temps.clone();
        for root in &roots {
            let (Some(dir), Some(name)) = (root.parent(), root.file_name()) else {
                continue;
            };
            for token in &own_tokens {
                let tmp = dir.join(format!(
                    ".{}{}{token}",
                    name.to_string_lossy(),
                    crate::scan::TEMP_MARK
                ));
                if std::fs::symlink_metadata(&tmp).is_ok_and(|m| !m.is_dir()) {
                    leftovers.push(tmp);
                }
            }
        }
        if opts.dry_run {
            leftovers.clear();
        }
        let mut all_gone = true;
        for tmp in &leftovers {
            match std::fs::remove_file(tmp) {
                Ok(()) => tracing::info!("removed a leftover temporary file {}", tmp.display()),
                Err(e) => {
                    all_gone = false;
                    tracing::warn!("cannot remove leftover {}: {e}", tmp.display());
                }
            }
        }
        // The tokens are forgotten only once their files are gone: a leftover that stays must
        // never be taken for the person's file.
        if !own_tokens.is_empty() && all_gone && !opts.dry_run {
            records::clear_apply_tokens(&self.store, &cfg.id)?;
        }
        for (path, why) in &scan.skipped {
            em.file(path, FileAction::Skipped, 0, Some(why.clone()));
        }
        // Files still being written are held: a file whose last write is recent is looked at
        // again once it has settled, and one that changed meanwhile is not a version yet.
        let mut unstable: BTreeSet<String> = scan.unstable.iter().cloned().collect();
        unstable.extend(self.unsettled(&scan.files, opts.settle));
        for path in &unstable {
            em.file(
                path,
                FileAction::Skipped,
                0,
                Some("still being written; it will sync once it stops changing".into()),
            );
        }
        em.summary.retry = !unstable.is_empty();
        // What a next sync may reuse instead of walking: a scan that found everything readable
        // and settled, with nothing of dotsync's own left to clean up.
        let clean_scan = !scan.incomplete
            && scan.skipped.is_empty()
            && unstable.is_empty()
            && leftovers.is_empty();
        let mut unreadable: BTreeSet<String> =
            scan.skipped.iter().map(|(p, _)| p.clone()).collect();
        unreadable.extend(unstable.iter().cloned());

        let mut outcome = Outcome::default();
        outcome
            .bases
            .extend(forgotten.into_keys().map(|k| (k, None)));
        outcome
            .conflicts_cleared
            .extend(uncovered_conflicts.into_keys());
        let now_ns = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as i64)
            .unwrap_or(0);
        let stat_rows = |files: &BTreeMap<RepoPath, LocalEntry>| -> Vec<(String, Option<(crate::scan::StatKey, Version)>)> {
            files
                .iter()
                .filter(|(_, e)| !e.cached && !is_racy(&e.stat, now_ns))
                .map(|(p, e)| (p.to_string(), Some((e.stat, e.version.clone()))))
                .collect()
        };
        // Stat rows of files that are gone or no longer covered.
        let stale_stats: Vec<(String, Option<(crate::scan::StatKey, Version)>)> = cache
            .keys()
            .filter(|k| RepoPath::parse(k).map_or(true, |rp| !scan.files.contains_key(&rp)))
            .map(|k| (k.clone(), None))
            .collect();

        let local_dirty = !unstable.is_empty()
            || !queued_preserve.is_empty()
            || scan
                .files
                .iter()
                .any(|(p, e)| bases.get(p.as_str()) != Some(&e.version))
            || bases.keys().any(|p| {
                !unreadable.contains(p.as_str())
                    && RepoPath::parse(p).is_ok_and(|rp| !scan.files.contains_key(&rp))
            });

        fail::fail_point!("sync::after-scan");
        // 2. The remote check's answer. Nothing else to do if neither side moved.
        em.progress("fetch", 0, None);
        let mut head = remote_check?;
        // The rules that map home bytes to repository bytes changed since the last full sync
        // (a glob added to `encrypt`): every file is looked at again.
        let rules = self.content_rules(cfg);
        let rules_changed = records::content_rules(&self.store, &cfg.id)? != rules;
        if head.is_some()
            && head == last_commit
            && !local_dirty
            && !rules_changed
            && open_conflicts.is_empty()
        {
            outcome.stats = stat_rows(&scan.files);
            outcome.stats.extend(stale_stats);
            if clean_scan {
                em.keep = Some(keep_scan(&mut scan, now_ns));
            }
            em.summary.commit = head.clone();
            em.summary.files = scan.files.len() as u64;
            // Nothing moved: write only if the stat cache learned something (no fsync else).
            if !outcome.only_commit() && !opts.dry_run {
                outcome.commit = head;
                records::record(&self.store, &cfg.id, &outcome)?;
            }
            return Ok(());
        }

        // This machine's keys, for the config's encrypted files.
        let identities = if cfg.encrypt.is_empty() {
            Vec::new()
        } else {
            crate::content::load_identities(&self.key_path())
                .map_err(|e| SyncError::Invalid(e.to_string()))?
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            let remote =
                self.load_remote(&repo, url, cfg, &coverage, head.as_deref(), &identities, em)?;
            em.others = remote.tip.as_deref().and_then(|tip| {
                self.machines_between(&repo, synced.as_ref().map(|(c, _)| c.as_str()), tip)
            });
            let mut excluded = unreadable.clone();
            excluded.extend(remote.skipped.iter().cloned());
            // What the bases are relative to must still be in the remote's history; a remote
            // that was replaced, emptied or moved back is never read as edits or deletions.
            let replaced_bases = self.bases_for_remote(
                cfg,
                opts,
                &repo,
                url,
                synced.as_ref(),
                &remote,
                &bases,
                &scan.files,
            )?;
            let plan_bases = replaced_bases.as_ref().unwrap_or(&bases);
            let mut plan_opts = opts.clone();
            // Taking the remote's files after a rewind was asked for by name: the deletions it
            // brings are what the person chose.
            plan_opts.allow_mass_delete |=
                replaced_bases.is_some() && opts.rewind == Some(crate::RewindChoice::TakeRemote);
            // Many new versions (a first push): their blobs and trees go into one pack.
            let new_versions = scan
                .files
                .iter()
                .filter(|(p, e)| plan_bases.get(p.as_str()) != Some(&e.version))
                .count();
            if new_versions > 64 && !opts.dry_run {
                repo.begin_pack()?;
            }
            // Versions written into the home by a sync killed before its record stand in for
            // bases only against the remote they came from: against a remote joined since (or
            // a branch that was replaced), one of them would read as deleted there.
            let no_versions = BTreeMap::new();
            let pulled_here = if replaced_bases.is_some() || joined_before_any_sync {
                &no_versions
            } else {
                &pulled
            };
            let planned = self.plan(
                cfg,
                &plan_opts,
                &repo,
                plan_bases,
                &scan.files,
                &excluded,
                &remote,
                &open_conflicts,
                &pushed,
                pulled_here,
                em,
            )?;
            let Planned {
                mut tree_changes,
                mut meta,
                mut preserve,
                mut home_changes,
                pushed_bases,
                settled_bases,
                conflicts_set,
                conflicts_cleared,
                mut events,
                key_merges,
            } = planned;

            if opts.dry_run {
                // What the sync would do, as the events it would report; nothing is committed,
                // pushed, written or recorded.
                for (path, action, bytes, detail) in &events {
                    em.file(path, *action, *bytes, detail.clone());
                }
                for change in &home_changes {
                    match change {
                        HomeChange::Write {
                            path,
                            content,
                            action,
                            detail,
                            ..
                        } => em.file(
                            path.as_str(),
                            *action,
                            content.as_ref().map_or(0, |c| c.len() as u64),
                            detail.clone(),
                        ),
                        HomeChange::Remove { path, detail } => {
                            em.file(path.as_str(), FileAction::Deleted, 0, detail.clone())
                        }
                    }
                }
                em.summary.dry_run = true;
                em.summary.commit = head.clone();
                em.summary.files = scan.files.len() as u64;
                return Ok(());
            }

            // Versions a resolution replaced go into history with this push.
            let mut preserved_now = Vec::new();
            if cfg.direction == dotsync_core::Direction::Pull {
                // Never pushed from here (the config was turned to pull-only since): the kept
                // refs made at resolution time are their history.
                preserved_now.extend(queued_preserve.keys().cloned());
            } else {
                for (path, v) in &queued_preserve {
                    let on_remote = RepoPath::parse(path)
                        .ok()
                        .and_then(|rp| remote.files.get(&rp));
                    if on_remote != Some(v) && !preserve.iter().any(|(p, _)| p == path) {
                        // An encrypted file's replaced version goes out encrypted too (its
                        // plaintext blob is only in this machine's repository).
                        let stored =
                            if v.kind == dotsync_core::plan::Kind::File && cfg.encrypts(path) {
                                let plain = repo.read_blob(&v.blob)?;
                                match self.to_repo(
                                    cfg,
                                    &repo,
                                    &remote,
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
            if cfg.direction != dotsync_core::Direction::Pull && !cfg.encrypt.is_empty() {
                self.seal_extras(
                    cfg,
                    &repo,
                    &remote,
                    &scan.files,
                    &mut tree_changes,
                    &mut events,
                )?;
            }
            // Directory modes other than 0755 (`~/.ssh` at 0700) travel in the metadata too.
            if cfg.direction != dotsync_core::Direction::Pull {
                // Only modes the remote does not know yet: two machines whose umasks differ must
                // not take turns rewriting each other's record forever.
                for (d, m) in &scan.dir_modes {
                    meta.dirs
                        .entry(d.clone())
                        .or_insert_with(|| format!("{m:o}"));
                }
            }

            // 3. Commit and push, unless there is nothing to say.
            let new_tip = match self.commit_and_push(
                cfg,
                opts,
                &repo,
                url,
                &remote,
                &tree_changes,
                &meta,
                &preserve,
                &pushed_bases,
                &events,
                &key_merges,
                em,
            )? {
                Pushed::Tip(tip) => {
                    repo.finish_pack()?;
                    tip
                }
                Pushed::Rejected if attempt >= PUSH_ATTEMPTS => {
                    return Err(SyncError::Git(format!(
                        "the remote kept moving: {PUSH_ATTEMPTS} pushes were rejected because \
                         other machines pushed first; try again"
                    )));
                }
                Pushed::Rejected => {
                    tracing::info!(config = %cfg.name, attempt, "push rejected, fetching again");
                    head = repo.ls_remote(url, &cfg.branch)?;
                    continue;
                }
            };

            // 4. The push is in (or was not needed): report what travelled out.
            for (path, action, bytes, detail) in &events {
                em.file(path, *action, *bytes, detail.clone());
            }
            if let Some(replaced) = &replaced_bases {
                // The old bases no longer describe this remote: the replacement is recorded
                // first, what this sync settles on top of it.
                outcome.bases.extend(
                    bases
                        .keys()
                        .filter(|k| !replaced.contains_key(*k))
                        .map(|k| (k.clone(), None)),
                );
                outcome
                    .bases
                    .extend(replaced.iter().map(|(k, v)| (k.clone(), Some(v.clone()))));
            }
            outcome.bases.extend(pushed_bases);
            outcome.bases.extend(settled_bases);
            outcome.preserved = preserved_now;
            outcome.settled = true;
            if let Some(tip) = &new_tip {
                outcome.synced = Some((tip.clone(), url.to_owned()));
            }
            outcome.conflicts_set = conflicts_set;
            outcome.conflicts_cleared.extend(conflicts_cleared);
            outcome.stats = stat_rows(&scan.files);
            outcome.stats.extend(stale_stats.iter().cloned());

            // 5. Apply the remote's changes into the home. Removals first, deepest first, so
            // that a directory the other machine replaced by a file is gone (when empty) before
            // the file is written, and the other way round.
            home_changes.sort_by_key(|c| match c {
                HomeChange::Remove { path, .. } => (0, std::cmp::Reverse(path.to_string())),
                HomeChange::Write { .. } => (1, std::cmp::Reverse(String::new())),
            });
            let token = dotsync_state::random_hex(8);
            let writing: Vec<(String, Version)> = home_changes
                .iter()
                .filter_map(|c| match c {
                    // A pull-only merge keeps the remote's version as its base (this machine's
                    // part stays held): never the written version.
                    HomeChange::Write {
                        path,
                        version,
                        base: None,
                        ..
                    } => Some((path.to_string(), version.clone())),
                    HomeChange::Write { .. } => None,
                    HomeChange::Remove { .. } => None,
                })
                .collect();
            if !writing.is_empty() {
                records::add_apply_token(&self.store, &cfg.id, &token)?;
                records::put(&self.store, records::Versions::Pulled, &cfg.id, &writing)?;
            }
            let dir_mode = |rel: &str| meta.dir_mode(rel);
            let target = Target {
                home: &self.home,
                state_dir: &state_dir,
                roots: &roots,
                dir_mode: &dir_mode,
                token: &token,
            };
            let home_untouched = home_changes.is_empty();
            let failed = self.apply_changes(
                cfg,
                opts,
                &repo,
                &scan.files,
                home_changes,
                &target,
                &mut outcome,
                em,
            )?;

            // 6. Record. A sync with failures records no commit, so the next check runs a
            // full sync again instead of trusting "nothing moved".
            outcome.commit = if failed || em.summary.failed > 0 || em.summary.retry {
                None
            } else {
                new_tip.clone()
            };
            outcome.failures = Some(em.failures.clone());
            fail::fail_point!("sync::before-record");
            records::record(&self.store, &cfg.id, &outcome)?;
            if rules_changed {
                records::set_content_rules(&self.store, &cfg.id, &rules)?;
            }
            if outcome.commit.is_none() {
                records::forget_commit(&self.store, &cfg.id)?;
            }
            em.summary.commit = new_tip;
            em.summary.files = self.count_files(&cfg.id)?;
            if clean_scan
                && home_untouched
                && !failed
                && em.summary.failed == 0
                && !em.summary.retry
            {
                em.keep = Some(keep_scan(&mut scan, now_ns));
            }
            repo.repack_if_needed();
            return Ok(());
        }
    }

    /// Commits the planned changes on top of the remote's tip (after a commit that keeps
    /// replaced versions, if any) and pushes with a lease on that tip. `Rejected` when another
    /// machine pushed first: fetch and plan again.
    #[allow(clippy::too_many_arguments)]
    fn commit_and_push(
        &self,
        cfg: &SyncConfig,
        opts: &SyncOptions,
        repo: &Repo,
        url: &str,
        remote: &RemoteState,
        tree_changes: &[(String, Option<(u32, String)>)],
        meta: &crate::meta::Meta,
        preserve: &[(String, Option<(u32, String)>)],
        pushed_bases: &[(String, Option<Version>)],
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
            em.progress("commit", 0, None);
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
            let mut changes = tree_changes.to_vec();
            if meta_changed
                || (remote.tip.is_none() && !meta.modes.is_empty())
                || (remote.tip.is_none() && !meta.dirs.is_empty())
            {
                let oid = repo.write_blob(&meta.to_bytes())?;
                changes.push((META_PATH.to_owned(), Some((0o100644, oid))));
            }
            // The commit's tree is the remote's with the planned changes, whatever a
            // preserving commit before it held: that one is history, not a base.
            let (tree, remote_tree) = repo.build_tree_on(remote.tip.as_deref(), &changes)?;
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
                let carried: Vec<(String, Version)> = pushed_bases
                    .iter()
                    .filter_map(|(p, v)| v.clone().map(|v| (p.clone(), v)))
                    .collect();
                if !carried.is_empty() {
                    records::put(&self.store, records::Versions::Pushed, &cfg.id, &carried)?;
                }
                fail::fail_point!("sync::after-commit");
                em.progress("push", 0, None);
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

    /// The kept scan of `cfg`, if the caller vouches that nothing changed under its paths since
    /// it was taken (the same watcher generation) and the config is the same.
    fn reusable_scan(&self, cfg: &SyncConfig, opts: &SyncOptions) -> Option<Arc<Scan>> {
        let token = opts.unchanged_since?;
        if opts.force_walk || opts.dry_run {
            return None;
        }
        let kept = self.kept_scans.lock().unwrap_or_else(|p| p.into_inner());
        let k = kept.get(&cfg.id)?;
        (k.token == token && k.cfg == *cfg).then(|| k.scan.clone())
    }

    fn count_files(&self, config_id: &str) -> Result<u64, SyncError> {
        Ok(records::count_bases(&self.store, config_id)?)
    }

    /// What a config with `encrypt` globs adds to a push besides the plan: this machine's
    /// public key in the repository's recipients (so every machine encrypts to it from then
    /// on), and the encrypted form of covered files the remote still holds in plaintext (their
    /// earlier versions stay in history as they were).
    fn seal_extras(
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
}

/// The scan to keep for the next sync, each entry marked as in the stat cache if this sync
/// recorded it there (see `stat_rows`): a sync that reuses the scan records only the entries
/// that were too recent to cache then (git's racy rule) and are not now. That is what a walk
/// would record: the watcher vouches that none of them changed since they were read.
fn keep_scan(scan: &mut Arc<Scan>, now_ns: i64) -> Arc<Scan> {
    let recorded = |e: &LocalEntry| e.cached || !is_racy(&e.stat, now_ns);
    if let Some(s) = Arc::get_mut(scan) {
        for e in s.files.values_mut() {
            e.cached = recorded(e);
        }
    } else if scan.files.values().any(|e| e.cached != recorded(e)) {
        *scan = Arc::new(scan.for_reuse(recorded));
    }
    scan.clone()
}
