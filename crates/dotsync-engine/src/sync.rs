//! One sync of one config: scan → remote check/fetch → plan → commit → push → apply → record.
//!
//! The home is written only after the push succeeded (or was not needed), and a file's base is
//! recorded only once the file really holds that version, in one transaction at the end. So a
//! sync killed anywhere is harmless: the next run recomputes its plan from (base, local, remote)
//! and converges. A rejected push (another machine was faster) goes back to the fetch; nothing
//! in the home was touched yet.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;
use std::time::Instant;

use dotsync_core::SyncConfig;
use dotsync_core::paths::{Coverage, Ignore, RepoPath};
use dotsync_core::plan::{self, ConflictWhy, Decision, Kind, Side, Version};
use dotsync_core::remote::expand_remote;

use crate::apply::{ApplyError, Target};
use crate::git::{Repo, git_mode, tracking_ref};
use crate::meta::{META_PATH, Meta};
use crate::records::{self, ConflictRecord, Outcome, encode_version};
use crate::scan::{LocalEntry, Scanner, is_racy};
use crate::{Engine, FileAction, SyncError, SyncEvent, SyncOptions, SyncSummary};

/// How often a push rejected because another machine pushed first is retried.
const PUSH_ATTEMPTS: usize = 5;
/// Files larger than this never go through a text merge.
const MERGE_LIMIT: usize = 1 << 20;

/// The remote side of a sync: the fetched tip and what it holds for this config.
struct RemoteState {
    tip: Option<String>,
    files: BTreeMap<RepoPath, Version>,
    meta: Meta,
    /// Covered paths the remote has but this machine cannot take (too large, names that
    /// differ only in case on a case-insensitive file system): left out of the plan, so they
    /// are neither pulled nor read as deleted.
    skipped: BTreeSet<String>,
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

struct Emitter<'a> {
    sink: &'a mut dyn FnMut(&SyncEvent),
    summary: SyncSummary,
    /// The files that failed, with the reason: shown in the status until they succeed.
    failures: Vec<(String, String)>,
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
        (self.sink)(&SyncEvent::File {
            config: s.config.clone(),
            path: path.to_owned(),
            action,
            bytes,
            detail,
        });
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
        };
        let result = self.sync_inner(cfg, opts, &url, &repo_dir, &mut em);
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
        let cache = records::load_stat_cache(&self.store, &cfg.id)?;
        let open_conflicts: BTreeMap<String, ConflictRecord> =
            records::load_conflicts(&self.store, Some(&cfg.id))?
                .into_iter()
                .map(|c| (c.path.clone(), c))
                .collect();
        let last_commit = records::last_commit(&self.store, &cfg.id)?;
        let synced = records::synced(&self.store, &cfg.id)?;
        let pushed = records::load_pushed(&self.store, &cfg.id)?;
        let queued_preserve = records::load_preserve(&self.store, &cfg.id)?;
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
        let (scan, remote_check) = std::thread::scope(|scope| {
            let check = scope.spawn(|| repo.ls_remote(url, &cfg.branch));
            let sink_progress = &mut |n: u64| em.progress("scan", n, None);
            let scan = Scanner {
                home: &self.home,
                state_dir: &state_dir,
                ignore: &ignore,
                cache: &cache,
                temps: &temps,
                progress: sink_progress,
            }
            .scan(cfg);
            let check = check
                .join()
                .unwrap_or_else(|_| Err(SyncError::Git("the remote check panicked".into())));
            (scan, check)
        });
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
        for tmp in &scan.stale_temps {
            match std::fs::remove_file(tmp) {
                Ok(()) => tracing::info!("removed a leftover temporary file {}", tmp.display()),
                Err(e) => tracing::warn!("cannot remove leftover {}: {e}", tmp.display()),
            }
        }
        if !own_tokens.is_empty() {
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
        let mut unreadable: BTreeSet<String> =
            scan.skipped.iter().map(|(p, _)| p.clone()).collect();
        unreadable.extend(unstable.iter().cloned());

        let mut outcome = Outcome::default();
        outcome
            .bases
            .extend(forgotten.into_keys().map(|k| (k, None)));
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
        if head.is_some() && head == last_commit && !local_dirty && open_conflicts.is_empty() {
            outcome.stats = stat_rows(&scan.files);
            outcome.stats.extend(stale_stats);
            em.summary.commit = head.clone();
            em.summary.files = scan.files.len() as u64;
            // Nothing moved: write only if the stat cache learned something (no fsync else).
            if !outcome.only_commit() {
                outcome.commit = head;
                records::record(&self.store, &cfg.id, &outcome)?;
            }
            return Ok(());
        }

        let mut attempt = 0;
        loop {
            attempt += 1;
            let remote = self.load_remote(&repo, url, cfg, &coverage, head.as_deref(), em)?;
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
                events,
            } = planned;

            // Versions a resolution replaced go into history with this push.
            let mut preserved_now = Vec::new();
            if cfg.direction == dotsync_core::Direction::Pull {
                // Never pushed from here (the config was turned to pull-only since): the kept
                // refs made at resolution time are their history.
                preserved_now.extend(queued_preserve.keys().cloned());
            } else {
                for (path, v) in &queued_preserve {
                    preserved_now.push(path.clone());
                    let on_remote = RepoPath::parse(path)
                        .ok()
                        .and_then(|rp| remote.files.get(&rp));
                    if on_remote != Some(v) && !preserve.iter().any(|(p, _)| p == path) {
                        preserve.push((
                            path.clone(),
                            Some((git_mode(v.kind, v.mode), v.blob.clone())),
                        ));
                    }
                }
            }
            // The commit after a preserving one puts back what the plan wants for each
            // preserved path: the remote's version, unless the plan changes it anyway.
            for (path, _) in &preserve {
                if tree_changes.iter().any(|(p, _)| p == path) {
                    continue;
                }
                let on_remote = RepoPath::parse(path)
                    .ok()
                    .and_then(|rp| remote.files.get(&rp))
                    .map(|rv| (git_mode(rv.kind, rv.mode), rv.blob.clone()));
                tree_changes.push((path.clone(), on_remote));
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
            let mut new_tip = remote.tip.clone();
            let meta_changed = meta != remote.meta;
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
                    let tree = repo.build_tree(parent.as_deref(), &preserve)?;
                    let names: Vec<String> =
                        preserve.iter().map(|(p, _)| message_path(p)).collect();
                    let msg = format!(
                        "{machine}: keep this machine's version of {} before taking the remote's\n\n\
                         on_conflict = remote replaced it; this commit keeps it in history.\n\n\
                         Dotsync-Machine: {machine}\n",
                        names.join(", ")
                    );
                    parent = Some(repo.commit_tree(
                        &tree,
                        parent.as_deref(),
                        &msg,
                        (&author.0, &author.1),
                    )?);
                }
                let mut changes = tree_changes.clone();
                if meta_changed
                    || (remote.tip.is_none() && !meta.modes.is_empty())
                    || (remote.tip.is_none() && !meta.dirs.is_empty())
                {
                    let oid = repo.write_blob(&meta.to_bytes())?;
                    changes.push((META_PATH.to_owned(), Some((0o100644, oid))));
                }
                let tree = repo.build_tree(parent.as_deref(), &changes)?;
                let unchanged_tree = match &remote.tip {
                    Some(t) => preserve.is_empty() && repo.tree_of(t)? == tree,
                    None => false,
                };
                if !unchanged_tree {
                    let msg = commit_message(machine, &events);
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
                        records::record_pushed(&self.store, &cfg.id, &carried)?;
                    }
                    fail::fail_point!("sync::after-commit");
                    em.progress("push", 0, None);
                    if !repo.push(url, &commit, &cfg.branch, remote.tip.as_deref())? {
                        if attempt >= PUSH_ATTEMPTS {
                            return Err(SyncError::Git(format!(
                                "the remote kept moving: {PUSH_ATTEMPTS} pushes were rejected \
                                 because other machines pushed first; try again"
                            )));
                        }
                        tracing::info!(config = %cfg.name, attempt, "push rejected, fetching again");
                        head = repo.ls_remote(url, &cfg.branch)?;
                        continue;
                    }
                    fail::fail_point!("sync::after-push");
                    repo.update_ref(&tracking_ref(&cfg.branch), &commit)?;
                    new_tip = Some(commit);
                }
            }

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
            outcome.conflicts_cleared = conflicts_cleared;
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
            if home_changes
                .iter()
                .any(|c| matches!(c, HomeChange::Write { .. }))
            {
                records::add_apply_token(&self.store, &cfg.id, &token)?;
            }
            let dir_mode = |rel: &str| meta.dir_mode(rel);
            let target = Target {
                home: &self.home,
                state_dir: &state_dir,
                roots: &roots,
                dir_mode: &dir_mode,
                token: &token,
            };
            // Remote blobs are read one at a time as they are written: memory holds one file,
            // whatever the number of files.
            let mut blobs: Option<crate::git::BlobStream> = None;
            let total = home_changes.len() as u64;
            let mut failed = false;
            for (i, change) in home_changes.into_iter().enumerate() {
                if let Some(c) = &opts.cancel
                    && c.load(Ordering::SeqCst)
                {
                    // What is applied so far is recorded; the rest comes next time.
                    outcome.failures = Some(em.failures.clone());
                    records::record(&self.store, &cfg.id, &outcome)?;
                    return Err(SyncError::Cancelled);
                }
                if total > 20 && i % 100 == 0 {
                    em.progress("apply", i as u64, Some(total));
                }
                if i > 0 {
                    fail::fail_point!("sync::between-files");
                }
                match change {
                    HomeChange::Write {
                        path,
                        version,
                        content,
                        action,
                        detail,
                        base,
                    } => {
                        let content = match content {
                            Some(c) => c,
                            None => {
                                if blobs.is_none() {
                                    blobs = Some(repo.blob_stream()?);
                                }
                                match blobs.as_mut() {
                                    Some(b) => b.read(&version.blob)?,
                                    None => continue,
                                }
                            }
                        };
                        let abs = path.under(&self.home);
                        let expected = scan.files.get(&path).map(|e| e.stat);
                        match target.write(&abs, version.kind, version.mode, &content, expected) {
                            Ok(stat) => {
                                let base = base.unwrap_or_else(|| version.clone());
                                outcome.bases.push((path.to_string(), Some(base)));
                                outcome
                                    .stats
                                    .push((path.to_string(), Some((stat, version))));
                                em.file(path.as_str(), action, content.len() as u64, detail);
                            }
                            Err(e) => {
                                report_apply_error(em, path.as_str(), e);
                                // Skipped or failed, the home is behind the remote: the next
                                // check must sync again, not trust "nothing moved".
                                failed = true;
                            }
                        }
                    }
                    HomeChange::Remove { path, detail } => {
                        let abs = path.under(&self.home);
                        let expected = scan.files.get(&path).map(|e| e.stat);
                        match target.remove(&abs, expected) {
                            Ok(()) => {
                                target.remove_empty_parents(&abs);
                                outcome.bases.push((path.to_string(), None));
                                outcome.stats.push((path.to_string(), None));
                                em.file(path.as_str(), FileAction::Deleted, 0, detail);
                            }
                            Err(e) => {
                                report_apply_error(em, path.as_str(), e);
                                // Skipped or failed, the home is behind the remote: the next
                                // check must sync again, not trust "nothing moved".
                                failed = true;
                            }
                        }
                    }
                }
            }
            drop(blobs);

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
            if outcome.commit.is_none() {
                records::forget_commit(&self.store, &cfg.id)?;
            }
            em.summary.commit = new_tip;
            em.summary.files = self.count_files(&cfg.id)?;
            return Ok(());
        }
    }

    fn count_files(&self, config_id: &str) -> Result<u64, SyncError> {
        Ok(records::load_bases(&self.store, config_id)?.len() as u64)
    }

    /// Fetches `head` if needed and reads the config's files in it.
    fn load_remote(
        &self,
        repo: &Repo,
        url: &str,
        cfg: &SyncConfig,
        coverage: &Coverage,
        head: Option<&str>,
        em: &mut Emitter<'_>,
    ) -> Result<RemoteState, SyncError> {
        let Some(head) = head else {
            return Ok(RemoteState {
                tip: None,
                files: BTreeMap::new(),
                meta: Meta::default(),
                skipped: BTreeSet::new(),
            });
        };
        if repo.rev_parse(head).is_none() {
            repo.fetch(url, &cfg.branch)?;
        }
        if repo.rev_parse(head).is_none() {
            return Err(SyncError::Git(format!(
                "the remote announced commit {head} for {} but did not send it",
                cfg.branch
            )));
        }
        repo.update_ref(&tracking_ref(&cfg.branch), head)?;
        let entries = repo.ls_tree(head)?;
        let mut meta = Meta::default();
        let mut files = BTreeMap::new();
        let mut skipped = BTreeSet::new();
        for crate::git::TreeEntry {
            mode,
            oid,
            size,
            name: raw,
        } in entries
        {
            let Ok(name) = String::from_utf8(raw) else {
                em.file(
                    "(a name that is not UTF-8)",
                    FileAction::Skipped,
                    0,
                    Some("the remote has a file whose name is not UTF-8; it is left alone".into()),
                );
                continue;
            };
            if name == META_PATH {
                meta = Meta::parse(&repo.read_blob(&oid)?);
                continue;
            }
            let path = match RepoPath::parse(&name) {
                Ok(p) => p,
                Err(e) => {
                    em.file(
                        &name,
                        FileAction::Skipped,
                        0,
                        Some(format!("unsafe path in the remote, never written: {e}")),
                    );
                    continue;
                }
            };
            if !coverage.covers(path.as_str()) {
                continue;
            }
            if size > crate::scan::MAX_FILE {
                // Judged by the size in the tree listing: the blob is never read.
                em.file(
                    path.as_str(),
                    FileAction::Skipped,
                    0,
                    Some(format!(
                        "larger than {} MiB on the remote ({} MiB); dotsync does not sync files that large",
                        crate::scan::MAX_FILE >> 20,
                        size >> 20
                    )),
                );
                skipped.insert(path.to_string());
                continue;
            }
            let kind = if mode == 0o120000 {
                Kind::Symlink
            } else {
                Kind::File
            };
            files.insert(path, (kind, oid, mode));
        }
        let mut files: BTreeMap<RepoPath, Version> = files
            .into_iter()
            .map(|(p, (kind, blob, mode))| {
                let m = meta.file_mode(p.as_str(), mode);
                (
                    p,
                    Version {
                        kind,
                        blob,
                        mode: m,
                    },
                )
            })
            .collect();
        // Names that differ only in case are one file on a case-insensitive file system:
        // writing both would make them overwrite each other on every sync.
        if self.case_insensitive() {
            for clash in case_clashes(files.keys().map(RepoPath::as_str)) {
                em.file(&clash, FileAction::Skipped, 0, Some(CASE_CLASH.into()));
                em.failures.push((clash.clone(), CASE_CLASH.into()));
                skipped.insert(clash);
            }
            files.retain(|p: &RepoPath, _| !skipped.contains(p.as_str()));
        }
        Ok(RemoteState {
            tip: Some(head.to_owned()),
            files,
            meta,
            skipped,
        })
    }

    /// The bases to plan from, when the recorded ones no longer fit the remote (`None`: they
    /// do). The bases are relative to the commit this machine last synced; if the remote's
    /// branch is gone, was replaced by another repository, or no longer contains that commit,
    /// reading the difference as edits would delete or revert files everywhere.
    #[allow(clippy::too_many_arguments)]
    fn bases_for_remote(
        &self,
        cfg: &SyncConfig,
        opts: &SyncOptions,
        repo: &Repo,
        url: &str,
        synced: Option<&(String, Option<String>)>,
        remote: &RemoteState,
        bases: &BTreeMap<String, Version>,
        local: &BTreeMap<RepoPath, LocalEntry>,
    ) -> Result<Option<BTreeMap<String, Version>>, SyncError> {
        if let Some((s, Some(old))) = synced
            && old != url
            && repo.rev_parse(s).is_none()
        {
            // The bases were synced through another repository (the config's remote was
            // changed): history synced there stays readable here.
            self.import_history(repo, cfg, old, s);
        }
        let known = synced.filter(|(s, _)| repo.rev_parse(s).is_some());
        let Some(tip) = &remote.tip else {
            // No branch on the remote: a new, empty remote (the branch was deleted, the remote
            // recreated, or the config pointed at a new one). Nothing was deleted: this
            // machine's files go to it as on a first sync.
            if let Some((s, _)) = known {
                self.keep(repo, cfg, s)?;
            }
            return Ok((!bases.is_empty()).then(BTreeMap::new));
        };
        let Some((s, old_url)) = synced else {
            return Ok(None);
        };
        if s == tip {
            return Ok(None);
        }
        if known.is_none() || old_url.as_deref().is_some_and(|o| o != url) {
            // Synced through another repository: this machine joins this one as a machine
            // that never synced with it (its differing files become conflicts, none is
            // deleted or overwritten).
            return Ok(Some(BTreeMap::new()));
        }
        if repo.is_ancestor(s, tip)? {
            return Ok(None);
        }
        if !repo.have_common_history(s, tip)? {
            // A history unrelated to the one synced: the remote was recreated (and another
            // machine pushed its files there first). Joining it is safe; the old history is
            // kept here.
            self.keep(repo, cfg, s)?;
            return Ok(Some(BTreeMap::new()));
        }
        // Moved back (or rewritten): the versions since stay in this machine's history.
        self.keep(repo, cfg, s)?;
        let same_files = bases.len() == remote.files.len()
            && remote
                .files
                .iter()
                .all(|(p, v)| bases.get(p.as_str()) == Some(v));
        if same_files {
            // The remote holds exactly what this machine last synced (another machine pushed
            // its files back): nothing here would change, so there is nothing to choose.
            return Ok(None);
        }
        let remote_of = |k: &str| RepoPath::parse(k).ok().and_then(|rp| remote.files.get(&rp));
        match opts.rewind {
            None => Err(SyncError::Rewound {
                branch: cfg.branch.clone(),
                synced: s.clone(),
            }),
            Some(crate::RewindChoice::PushLocal) => {
                if cfg.direction == dotsync_core::Direction::Pull {
                    return Err(SyncError::Invalid(format!(
                        "config {} only pulls, so it cannot push its files back; take the remote's files instead",
                        cfg.name
                    )));
                }
                // Every file this machine knows counts as changed here since the remote's
                // version: its version goes out, its deletions too.
                let mut out = BTreeMap::new();
                for k in bases
                    .keys()
                    .cloned()
                    .chain(local.keys().map(RepoPath::to_string))
                {
                    if let Some(rv) = remote_of(&k) {
                        out.insert(k, rv.clone());
                    }
                }
                Ok(Some(out))
            }
            Some(crate::RewindChoice::TakeRemote) => {
                // This machine's versions are kept in its own history first, then every
                // difference counts as changed on the remote.
                self.keep_local(repo, cfg, tip, local)?;
                Ok(Some(
                    local
                        .iter()
                        .map(|(p, e)| (p.to_string(), e.version.clone()))
                        .collect(),
                ))
            }
        }
    }

    /// Keeps `commit` (and so its history) in the engine's repository under a ref of its own,
    /// whatever the remote does with it.
    fn keep(&self, repo: &Repo, cfg: &SyncConfig, commit: &str) -> Result<(), SyncError> {
        repo.update_ref(&crate::inspect::kept_ref(&cfg.id, commit), commit)
    }

    /// Commits this machine's files of the config (on top of `tip`) to a kept ref, not pushed.
    fn keep_local(
        &self,
        repo: &Repo,
        cfg: &SyncConfig,
        tip: &str,
        local: &BTreeMap<RepoPath, LocalEntry>,
    ) -> Result<(), SyncError> {
        let mut changes = Vec::new();
        for (path, e) in local {
            let Ok(bytes) = crate::scan::read_entry(&path.under(&self.home), e.version.kind) else {
                continue;
            };
            let oid = repo.write_blob(&bytes)?;
            changes.push((
                path.to_string(),
                Some((git_mode(e.version.kind, e.version.mode), oid)),
            ));
        }
        let tree = repo.build_tree(Some(tip), &changes)?;
        let machine = &self.machine;
        let msg = format!(
            "{machine}: this machine's files before taking the remote's\n\n\
             The remote's branch had been moved back; these versions are kept in this\n\
             machine's history only.\n\nDotsync-Machine: {machine}\n"
        );
        let commit = repo.commit_tree(
            &tree,
            Some(tip),
            &msg,
            (
                &format!("{machine} (dotsync)"),
                &format!("dotsync@{machine}"),
            ),
        )?;
        self.keep(repo, cfg, &commit)
    }

    /// Brings the history synced through a previous remote of the config into this one's
    /// repository, so `dotsync log` keeps showing it. Best effort: a failure only logs.
    fn import_history(&self, repo: &Repo, cfg: &SyncConfig, old_url: &str, synced: &str) {
        let old_dir = self.repo_dir(old_url);
        let Ok(old) = Repo::open_or_init(&old_dir) else {
            return;
        };
        if old.rev_parse(synced).is_none() {
            return;
        }
        let prefix = crate::inspect::kept_prefix(&cfg.id);
        if let Err(e) = old
            .update_ref(&crate::inspect::kept_ref(&cfg.id, synced), synced)
            .and_then(|()| {
                let spec = format!("+{prefix}*:{prefix}*");
                let dir = old_dir.to_string_lossy();
                repo.run(&["fetch", "--quiet", "--no-tags", "--", &dir, &spec], None)
                    .map(|_| ())
            })
        {
            tracing::warn!(config = %cfg.name, "cannot bring the previous remote's history along: {e}");
        }
    }

    /// Changed files whose last write is more recent than `settle`: looked at again once they
    /// are that old; those that changed meanwhile are returned (held, retried later).
    fn unsettled(
        &self,
        files: &BTreeMap<RepoPath, LocalEntry>,
        settle: std::time::Duration,
    ) -> Vec<String> {
        if settle.is_zero() {
            return Vec::new();
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        let settle_ns = i64::try_from(settle.as_nanos()).unwrap_or(i64::MAX);
        let recent: Vec<(&RepoPath, &LocalEntry)> = files
            .iter()
            .filter(|(_, e)| !e.cached)
            .filter(|(_, e)| now.saturating_sub(e.stat.mtime_ns.max(e.stat.ctime_ns)) < settle_ns)
            .collect();
        let Some(newest) = recent
            .iter()
            .map(|(_, e)| e.stat.mtime_ns.max(e.stat.ctime_ns))
            .max()
        else {
            return Vec::new();
        };
        let wait = newest.saturating_add(settle_ns).saturating_sub(now);
        if wait > 0 {
            std::thread::sleep(std::time::Duration::from_nanos(wait.cast_unsigned()));
        }
        recent
            .into_iter()
            .filter(|(p, e)| {
                std::fs::symlink_metadata(p.under(&self.home))
                    .map(|m| crate::scan::StatKey::of(&m))
                    .ok()
                    != Some(e.stat)
            })
            .map(|(p, _)| p.to_string())
            .collect()
    }
}

/// Everything a plan decided.
struct Planned {
    tree_changes: Vec<(String, Option<(u32, String)>)>,
    meta: Meta,
    /// Local versions replaced under `on_conflict = remote`, committed first so history keeps them.
    preserve: Vec<(String, Option<(u32, String)>)>,
    home_changes: Vec<HomeChange>,
    /// Bases that hold once the push succeeded.
    pushed_bases: Vec<(String, Option<Version>)>,
    /// Bases that hold already (both sides agree).
    settled_bases: Vec<(String, Option<Version>)>,
    conflicts_set: Vec<ConflictRecord>,
    conflicts_cleared: Vec<String>,
    /// File events to report once the push is in.
    events: Vec<(String, FileAction, u64, Option<String>)>,
}

impl Planned {
    /// Writes the remote's version of `path` into the home after the push. Its bytes are read
    /// as it is written, every pulled blob through one `git cat-file --batch`.
    fn pull(&mut self, path: RepoPath, rv: &Version, action: FileAction, detail: Option<String>) {
        self.home_changes.push(HomeChange::Write {
            path,
            version: rv.clone(),
            content: None,
            action,
            detail,
            base: None,
        });
    }
}

impl Engine {
    #[allow(clippy::too_many_arguments)]
    fn plan(
        &self,
        cfg: &SyncConfig,
        opts: &SyncOptions,
        repo: &Repo,
        bases: &BTreeMap<String, Version>,
        local: &BTreeMap<RepoPath, LocalEntry>,
        unreadable: &BTreeSet<String>,
        remote: &RemoteState,
        open_conflicts: &BTreeMap<String, ConflictRecord>,
        pushed: &BTreeMap<String, Version>,
        em: &mut Emitter<'_>,
    ) -> Result<Planned, SyncError> {
        let mut p = Planned {
            tree_changes: Vec::new(),
            meta: remote.meta.clone(),
            preserve: Vec::new(),
            home_changes: Vec::new(),
            pushed_bases: Vec::new(),
            settled_bases: Vec::new(),
            conflicts_set: Vec::new(),
            conflicts_cleared: Vec::new(),
            events: Vec::new(),
        };
        let mut all: BTreeSet<RepoPath> = local.keys().cloned().collect();
        all.extend(remote.files.keys().cloned());
        all.extend(bases.keys().filter_map(|k| RepoPath::parse(k).ok()));
        all.retain(|path| {
            !unreadable.contains(path.as_str())
                && !unreadable
                    .iter()
                    .any(|u| path.as_str().starts_with(&format!("{u}/")))
        });
        let mut deletions = 0usize;
        let total = all.len() as u64;
        let policy = plan::settle(cfg.on_conflict, cfg.direction);

        for (n, path) in all.into_iter().enumerate() {
            if total > 1000 && n % 1000 == 0 {
                em.progress("plan", n as u64, Some(total));
            }
            let key = path.to_string();
            let l = local.get(&path).map(|e| &e.version);
            let r = remote.files.get(&path);
            // A version this machine pushed but did not get to record (killed in between) is
            // its own: when the remote holds exactly it, it is the base, not the other side.
            let b = match (pushed.get(&key), r) {
                (Some(pv), Some(rv)) if pv == rv => Some(rv),
                _ => bases.get(&key),
            };
            let size = local.get(&path).map(|e| e.size).unwrap_or(0);

            if let Some(c) = open_conflicts.get(&key) {
                if l == r {
                    p.conflicts_cleared.push(key.clone());
                    p.settled_bases.push((key.clone(), l.cloned()));
                    p.events.push((
                        key,
                        FileAction::Resolved,
                        0,
                        Some("both sides now agree".into()),
                    ));
                } else {
                    let mut c = c.clone();
                    c.local = l.map(encode_version);
                    c.remote = r.map(encode_version);
                    c.remote_commit = remote.tip.clone();
                    if let Some(l) = l
                        && l.kind == Kind::File
                    {
                        // Keep this side's bytes in the object store too, as they were now.
                        if let Ok(bytes) = std::fs::read(path.under(&self.home)) {
                            repo.write_blob(&bytes)?;
                        }
                    }
                    p.conflicts_set.push(c);
                    p.events.push((
                        key,
                        FileAction::Conflict,
                        size,
                        Some("still in conflict; resolve it with `dotsync resolve`".into()),
                    ));
                }
                continue;
            }

            let mut decision = plan::decide(b, l, r, cfg.direction, true);
            let mut merged: Option<Vec<u8>> = None;
            if decision == Decision::Merge {
                // The three versions must be text files small enough to merge.
                let (Some(bv), Some(lv), Some(rv)) = (b, l, r) else {
                    unreachable_merge()
                };
                if bv.kind == Kind::File && lv.kind == Kind::File && rv.kind == Kind::File {
                    let ours = std::fs::read(path.under(&self.home));
                    if !ours
                        .as_ref()
                        .is_ok_and(|o| crate::git::blob_id(o) == lv.blob)
                    {
                        // Written to since the scan (an append while the sync ran): not a
                        // conflict, just not this sync's business. The next sync merges it.
                        em.file(
                            &key,
                            FileAction::Skipped,
                            0,
                            Some("changed during the sync; it will sync next time".into()),
                        );
                        em.summary.retry = true;
                        continue;
                    }
                    let blobs = repo.read_blobs(&[bv.blob.as_str(), rv.blob.as_str()]);
                    if let (Ok(blobs), Ok(ours)) = (blobs, ours)
                        && let [base_bytes, theirs] = &blobs[..]
                        && is_text(base_bytes)
                        && is_text(&ours)
                        && is_text(theirs)
                    {
                        merged = repo.merge_text(&ours, base_bytes, theirs)?;
                    }
                }
                if merged.is_none() {
                    decision = Decision::Conflict(ConflictWhy::BothChanged);
                }
            }

            match decision {
                Decision::InSync => {
                    if b != l {
                        p.settled_bases.push((key, l.cloned()));
                    }
                }
                Decision::Hold(why) => {
                    p.events
                        .push((key, FileAction::Skipped, 0, Some(why.into())));
                }
                Decision::Push => match l {
                    Some(lv) => {
                        if !self.stage_local(repo, &path, lv, &mut p)? {
                            em.file(
                                &key,
                                FileAction::Skipped,
                                0,
                                Some("changed during the sync; it will sync next time".into()),
                            );
                            em.summary.retry = true;
                            continue;
                        }
                        p.pushed_bases.push((key.clone(), Some(lv.clone())));
                        p.events.push((key, FileAction::Pushed, size, None));
                    }
                    None => {
                        deletions += 1;
                        p.tree_changes.push((key.clone(), None));
                        p.meta.modes.remove(&key);
                        p.pushed_bases.push((key.clone(), None));
                        p.events.push((
                            key,
                            FileAction::Deleted,
                            0,
                            Some("deleted here; removed from the remote".into()),
                        ));
                    }
                },
                Decision::Pull => match r {
                    Some(rv) => p.pull(path, rv, FileAction::Pulled, None),
                    None => {
                        deletions += 1;
                        p.home_changes.push(HomeChange::Remove {
                            path,
                            detail: Some("deleted on another machine".into()),
                        });
                    }
                },
                Decision::Merge => {
                    let (Some(bv), Some(lv), Some(rv), Some(m)) = (b, l, r, merged) else {
                        unreachable_merge()
                    };
                    // Each side's mode change wins over an unchanged mode.
                    let mode = if lv.mode != bv.mode { lv.mode } else { rv.mode };
                    let blob = repo.write_blob(&m)?;
                    let v = Version {
                        kind: Kind::File,
                        blob: blob.clone(),
                        mode,
                    };
                    let pull_only = cfg.direction == dotsync_core::Direction::Pull;
                    if !pull_only {
                        p.tree_changes
                            .push((key.clone(), Some((git_mode(Kind::File, mode), blob))));
                        p.meta.set_file_mode(&key, mode);
                    }
                    p.home_changes.push(HomeChange::Write {
                        path,
                        version: v,
                        content: Some(m),
                        action: FileAction::Merged,
                        detail: Some(if pull_only {
                            "the remote's edits merged into this machine's file line by line".into()
                        } else {
                            "edits from both machines merged line by line".into()
                        }),
                        base: pull_only.then(|| rv.clone()),
                    });
                }
                Decision::Conflict(why) => {
                    let reason = match why {
                        ConflictWhy::BothChanged => "both_changed",
                        ConflictWhy::DeleteVsChange => "delete_vs_change",
                        ConflictWhy::NoBase => "no_base",
                    };
                    match policy {
                        None => {
                            if let Some(lv) = l
                                && lv.kind == Kind::File
                                && let Ok(bytes) = std::fs::read(path.under(&self.home))
                            {
                                repo.write_blob(&bytes)?;
                            }
                            p.conflicts_set.push(ConflictRecord {
                                config_id: cfg.id.clone(),
                                path: key.clone(),
                                reason: reason.into(),
                                base: b.map(encode_version),
                                local: l.map(encode_version),
                                remote: r.map(encode_version),
                                remote_commit: remote.tip.clone(),
                                detected_at: dotsync_state::now_unix(),
                            });
                            let detail = match why {
                                ConflictWhy::NoBase => {
                                    "this machine has its own copy, different from the remote's; both kept"
                                }
                                ConflictWhy::DeleteVsChange => {
                                    "deleted on one side, changed on the other; both kept"
                                }
                                ConflictWhy::BothChanged => {
                                    "both machines changed the same lines; both kept"
                                }
                            };
                            p.events
                                .push((key, FileAction::Conflict, size, Some(detail.into())));
                        }
                        Some(Side::Local) if cfg.direction == dotsync_core::Direction::Pull => {
                            // This machine's file stays; taking the remote's version as base
                            // keeps it a held local change instead of a conflict.
                            p.settled_bases.push((key.clone(), r.cloned()));
                            p.events.push((key, FileAction::Resolved, size, Some("kept this machine's version (on_conflict = local); this config only pulls, so it stays here".into())));
                        }
                        Some(Side::Local) => {
                            match l {
                                Some(lv) => {
                                    if !self.stage_local(repo, &path, lv, &mut p)? {
                                        em.file(
                                            &key,
                                            FileAction::Skipped,
                                            0,
                                            Some(
                                                "changed during the sync; it will sync next time"
                                                    .into(),
                                            ),
                                        );
                                        continue;
                                    }
                                }
                                None => {
                                    p.tree_changes.push((key.clone(), None));
                                    p.meta.modes.remove(&key);
                                }
                            }
                            p.pushed_bases.push((key.clone(), l.cloned()));
                            p.events.push((key, FileAction::Resolved, size, Some("kept this machine's version (on_conflict = local); the other stays in history".into())));
                        }
                        Some(_) => {
                            // The remote wins; this machine's version is committed first so
                            // that history keeps it.
                            if let Some(lv) = l {
                                let bytes =
                                    crate::scan::read_entry(&path.under(&self.home), lv.kind)
                                        .map_err(|source| SyncError::Io {
                                            path: path.under(&self.home),
                                            source,
                                        })?;
                                let oid = repo.write_blob(&bytes)?;
                                p.preserve
                                    .push((key.clone(), Some((git_mode(lv.kind, lv.mode), oid))));
                            }
                            match r {
                                Some(rv) => p.pull(
                                    path,
                                    rv,
                                    FileAction::Resolved,
                                    Some("took the remote's version (on_conflict = remote); this machine's stays in history".into()),
                                ),
                                None => p.home_changes.push(HomeChange::Remove {
                                    path,
                                    detail: Some("deleted on another machine (on_conflict = remote); this machine's version stays in history".into()),
                                }),
                            }
                        }
                    }
                }
            }
        }

        drop_file_dir_clashes(&remote.files, &mut p, em);
        let tracked = bases.len().max(local.len());
        if deletions >= 2 && deletions * 2 > tracked && !opts.allow_mass_delete {
            return Err(SyncError::MassDelete {
                config: cfg.name.clone(),
                count: deletions,
                total: tracked,
            });
        }
        Ok(p)
    }

    /// Writes a local file's content into the object store and stages it. `false` when the file
    /// no longer has the content the scan hashed.
    fn stage_local(
        &self,
        repo: &Repo,
        path: &RepoPath,
        lv: &Version,
        p: &mut Planned,
    ) -> Result<bool, SyncError> {
        let abs = path.under(&self.home);
        let bytes = match crate::scan::read_entry(&abs, lv.kind) {
            Ok(b) => b,
            Err(_) => return Ok(false),
        };
        let oid = repo.write_blob(&bytes)?;
        if oid != lv.blob {
            return Ok(false);
        }
        p.tree_changes
            .push((path.to_string(), Some((git_mode(lv.kind, lv.mode), oid))));
        if lv.kind == Kind::File {
            p.meta.set_file_mode(path.as_str(), lv.mode);
        } else {
            p.meta.modes.remove(path.as_str());
        }
        Ok(true)
    }
}

/// Reports a file the home could not take. A file edited since the scan is only skipped (the
/// next sync plans it again, three-way); anything else is a failure. Returns whether it failed.
fn report_apply_error(em: &mut Emitter<'_>, path: &str, e: ApplyError) -> bool {
    let changed = matches!(e, ApplyError::ChangedSinceScan);
    let action = if changed {
        FileAction::Skipped
    } else {
        FileAction::Failed
    };
    em.file(path, action, 0, Some(e.to_string()));
    !changed
}

/// A path cannot be a file in one place and a directory in another of the same tree (a local
/// `~/.config/nvim` symlink while the remote has files under `.config/nvim/`). Such changes are
/// dropped from the commit and reported; the rest of the sync goes on, and nothing is lost.
fn drop_file_dir_clashes(
    remote: &BTreeMap<RepoPath, Version>,
    p: &mut Planned,
    em: &mut Emitter<'_>,
) {
    let mut files: BTreeSet<String> = remote.keys().map(|k| k.to_string()).collect();
    let mut ours: BTreeSet<String> = BTreeSet::new();
    for (path, entry) in &p.tree_changes {
        if entry.is_some() {
            files.insert(path.clone());
            ours.insert(path.clone());
        } else {
            files.remove(path);
        }
    }
    let mut bad: BTreeSet<String> = BTreeSet::new();
    for f in &files {
        let mut end = 0;
        while let Some(i) = f[end..].find('/') {
            let ancestor = &f[..end + i];
            if files.contains(ancestor) {
                // Drop whichever side is ours: the new file, or the new children.
                if ours.contains(ancestor) {
                    bad.insert(ancestor.to_owned());
                }
                if ours.contains(f) {
                    bad.insert(f.clone());
                }
            }
            end += i + 1;
        }
    }
    if bad.is_empty() {
        return;
    }
    p.tree_changes.retain(|(path, _)| !bad.contains(path));
    p.pushed_bases.retain(|(path, _)| !bad.contains(path));
    p.events.retain(|(path, _, _, _)| !bad.contains(path));
    for path in bad {
        em.file(
            &path,
            FileAction::Failed,
            0,
            Some("a file here is a directory on the remote, or the other way round; rename one of them".into()),
        );
    }
}

#[allow(clippy::panic)]
fn unreachable_merge() -> ! {
    // `decide` returns Merge only when base, local and remote all exist.
    panic!("merge planned without all three versions")
}

const CASE_CLASH: &str = "another file on the remote has the same name but for upper/lower case, and this file system cannot tell them apart; rename one of them";

/// Every path that has another with the same name but for case.
fn case_clashes<'a>(paths: impl Iterator<Item = &'a str>) -> BTreeSet<String> {
    let mut by_folded: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for p in paths {
        by_folded.entry(p.to_lowercase()).or_default().push(p);
    }
    by_folded
        .into_values()
        .filter(|v| v.len() > 1)
        .flatten()
        .map(str::to_owned)
        .collect()
}

/// Text: no NUL byte and small enough to merge.
fn is_text(b: &[u8]) -> bool {
    b.len() <= MERGE_LIMIT && !b.contains(&0)
}

/// A path as it may appear in a commit message: control characters escaped, so that a file
/// name cannot add lines (or a forged trailer) to the message.
fn message_path(p: &str) -> String {
    if p.chars().any(char::is_control) {
        p.escape_default().to_string()
    } else {
        p.to_owned()
    }
}

fn commit_message(machine: &str, events: &[(String, FileAction, u64, Option<String>)]) -> String {
    let travelling: Vec<&(String, FileAction, u64, Option<String>)> = events
        .iter()
        .filter(|(_, a, _, _)| {
            matches!(
                a,
                FileAction::Pushed
                    | FileAction::Deleted
                    | FileAction::Merged
                    | FileAction::Resolved
            )
        })
        .collect();
    let names: Vec<String> = travelling
        .iter()
        .take(3)
        .map(|(p, _, _, _)| message_path(p))
        .collect();
    let mut subject = format!(
        "{machine}: {}",
        if names.is_empty() {
            "update".to_owned()
        } else {
            names.join(", ")
        }
    );
    if travelling.len() > 3 {
        subject.push_str(&format!(" and {} more", travelling.len() - 3));
    }
    let mut body = String::new();
    for (p, a, _, _) in &travelling {
        let verb = match a {
            FileAction::Deleted => "delete",
            FileAction::Merged => "merge",
            FileAction::Resolved => "resolve",
            _ => "update",
        };
        body.push_str(&format!("{verb} {}\n", message_path(p)));
    }
    format!("{subject}\n\n{body}\nDotsync-Machine: {machine}\n")
}
