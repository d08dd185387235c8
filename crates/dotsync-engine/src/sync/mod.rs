//! One sync of one config: scan → remote check/fetch → plan → commit → push → apply → record.
//!
//! The home is written only after the push succeeded (or was not needed), and a file's base is
//! recorded only once the file really holds that version, in one transaction at the end. So a
//! sync killed anywhere is harmless: the next run recomputes its plan from (base, local, remote)
//! and converges. A rejected push (another machine was faster) goes back to the fetch; nothing
//! in the home was touched yet.
//!
//! Longer than 600 lines on purpose: `sync_inner` is the phases of one sync read top to bottom
//! (their parts live in `emit`, `home`, `planner`, `push`, `remote`, `stage`); the kept-scan
//! reuse at its end is the next candidate to move out.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use dotsync_core::SyncConfig;
use dotsync_core::paths::{Coverage, Ignore, RepoPath};
use dotsync_core::plan::Version;
use dotsync_core::remote::expand_remote;

mod emit;
mod home;
pub(crate) mod message;
mod planner;
mod push;
mod remote;
mod stage;

use crate::apply::Target;
use crate::git::Repo;
use crate::records::{self, ConflictRecord, Outcome};

use crate::scan::{LocalEntry, Scan, Scanner, is_racy};
use crate::{Engine, FileAction, Phase, SyncError, SyncEvent, SyncOptions, SyncSummary};
use emit::Emitter;
use home::HomeChange;
use planner::Planned;
use push::Pushed;
use remote::RemoteState;

/// How often a push rejected because another machine pushed first is retried.
const PUSH_ATTEMPTS: usize = 5;

/// The scan of a config's last clean sync, reused instead of walking the home while the
/// daemon's watcher vouches that nothing changed under the config's paths since it was taken
/// (see [`SyncOptions::unchanged_since`]). Kept only after a sync that wrote nothing into the
/// home and held nothing back, so it is exactly what a walk would find now.
pub(crate) struct KeptScan {
    token: u64,
    cfg: SyncConfig,
    scan: Arc<Scan>,
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
        let _guard = lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        sink(&SyncEvent::Start {
            config: cfg.name.clone(),
            config_id: cfg.id.clone(),
            remote: cfg.remote.clone(),
            branch: cfg.branch.clone(),
            trigger: opts.trigger,
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
            let mut kept = self
                .kept_scans
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
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
        summary.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
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
        // The records are read beside the walk: first the stat cache (the walk's files wait
        // for it), then what only the plan needs.
        let load_records = || self.load_records(cfg, opts, url, &repo, &coverage);
        let cache = OnceLock::new();
        let load_all = || {
            // The walk waits for the cache: it is filled however this ends.
            let filled = FillOnDrop(&cache);
            let loaded = records::load_stat_cache(&self.store, &cfg.id);
            let loaded = loaded.map(|c| {
                let _ = cache.set(c);
            });
            drop(filled);
            loaded
                .map_err(SyncError::from)
                .and_then(|()| load_records())
        };
        // The watcher saw nothing under the config's paths since the scan kept by its last
        // clean sync: that scan is what a walk would find, and the stat cache is not needed.
        let reused = self.reusable_scan(cfg, opts);
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
        let (mut scan, remote_check, loaded) = match reused {
            Some(scan) => {
                em.summary.walk_skipped = true;
                tracing::debug!(
                    config = %cfg.name,
                    "nothing changed under the config's paths since the last sync: no walk"
                );
                std::thread::scope(|scope| {
                    let check = scope.spawn(|| remote::check_remote(&repo, url, &cfg.branch));
                    let loaded = load_records();
                    let check = check.join().unwrap_or_else(|_| {
                        Err(SyncError::Git("the remote check panicked".into()))
                    });
                    (scan, check, loaded)
                })
            }
            None => std::thread::scope(|scope| {
                let check = scope.spawn(|| remote::check_remote(&repo, url, &cfg.branch));
                let loaded = scope.spawn(load_all);
                let sink_progress = &mut |n: u64| em.progress(Phase::Scan, n, None);
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
                let loaded = loaded.join().unwrap_or_else(|_| {
                    Err(SyncError::Git("reading the sync's records panicked".into()))
                });
                (Arc::new(scan), check, loaded)
            }),
        };
        let Records {
            bases,
            forgotten,
            open_conflicts,
            uncovered_conflicts,
            last_commit,
            synced,
            joined_before_any_sync,
            pushed,
            pulled,
            written_from,
            queued_preserve,
        } = loaded?;
        let cache = cache.into_inner().unwrap_or_default();
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
            .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
        let stat_rows = |files: &BTreeMap<RepoPath, LocalEntry>| -> Vec<(String, Option<(crate::scan::StatKey, Version)>)> {
            files
                .iter()
                .filter(|(_, e)| !e.cached && !is_racy(&e.stat, now_ns))
                .map(|(p, e)| (p.to_string(), Some((e.stat, e.version.clone()))))
                .collect()
        };
        // Stat rows of files that are gone or no longer covered (none when every row of the
        // cache was matched by a file the scan found).
        let stale_stats: Vec<(String, Option<(crate::scan::StatKey, Version)>)> =
            if scan.in_cache == cache.len() as u64 {
                Vec::new()
            } else {
                cache
                    .keys()
                    .filter(|k| !scan.files.contains_key(k.as_str()))
                    .map(|k| (k.clone(), None))
                    .collect()
            };

        let local_dirty = !unstable.is_empty()
            || !queued_preserve.is_empty()
            || differs_from_bases(&scan.files, &bases, &unreadable);

        fail::fail_point!("sync::after-scan");
        // 2. The remote check's answer. Nothing else to do if neither side moved.
        em.progress(Phase::Fetch, 0, None);
        let mut head = remote_check?;
        // The rules that decide what a sync does changed since the last full sync (a glob
        // taken out of `ignore`, added to `encrypt`): every file is looked at again.
        let rules = self.sync_rules(cfg);
        let rules_changed = records::content_rules(&self.store, &cfg.id)? != rules;
        // Nor after the config's remote was changed: the previous remote's history must come
        // along first, even when the new one's tip is the commit last synced (A -> B -> A).
        let same_remote = synced
            .as_ref()
            .is_none_or(|(_, u)| u.as_deref().is_none_or(|u| u == url));
        if head.is_some()
            && head == last_commit
            && same_remote
            && !local_dirty
            && !rules_changed
            && open_conflicts.is_empty()
        {
            outcome.stats = stat_rows(&scan.files);
            outcome.stats.extend(stale_stats);
            if clean_scan && opts.unchanged_since.is_some() {
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
        // The bases were synced through another repository (the config's remote was changed):
        // history synced or kept there is brought here first, even when this repository has the
        // synced commit already (A -> B -> A brings B's along). Until it is here, the records
        // keep naming the old remote, so a failed import is tried again by the next sync.
        // The config may also have worked in another repository since (a sync killed after
        // its push, a restore there): that history comes along too.
        let history_here = match &synced {
            Some((s, Some(old))) if old != url => {
                let synced_history = self.import_history(&repo, cfg, old, Some(s));
                self.import_worked_in(&repo, cfg, old) && synced_history
            }
            _ => true,
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
            // A sync killed before its record may have written files from a commit the
            // remote has lost since: the home holds what the remote dropped, a rewind too.
            let lost_row_commit = if joined_before_any_sync || written_from.is_empty() {
                None
            } else {
                self.lost_row_commit(
                    cfg,
                    &repo,
                    &written_from,
                    &remote,
                    url,
                    &scan.files,
                    &excluded,
                )
            };
            let replaced_bases = self.bases_for_remote(
                cfg,
                opts,
                &repo,
                url,
                synced.as_ref(),
                &remote,
                &bases,
                &scan.files,
                lost_row_commit.as_deref(),
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
            // a branch that was replaced), one of them would read as deleted there. A remote
            // without the branch (a new, empty one; the branch deleted) holds none of them:
            // this machine's files go to it as on a first sync, even when it had no bases to
            // replace (its only sync that wrote files was killed before recording them).
            let pulled_here = match remote.tip.as_deref() {
                Some(tip) if replaced_bases.is_none() && !joined_before_any_sync => {
                    planner::pulled_from_remote(&repo, &pulled, tip)
                }
                _ => BTreeMap::new(),
            };
            let own_pushes = planner::OwnPushes::read(&repo, &pushed, url, remote.tip.as_deref());
            let planned = self.plan(
                cfg,
                &plan_opts,
                &repo,
                plan_bases,
                &scan.files,
                &excluded,
                &remote,
                &open_conflicts,
                &own_pushes,
                &pulled_here,
                em,
            )?;
            let Planned {
                mut tree_changes,
                mut meta,
                mut preserve,
                mut home_changes,
                pushed_bases,
                settled_bases,
                merged_from,
                keep_home,
                merged_with,
                row_bases,
                passing_bases,
                unsure_bases,
                base_on,
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
                            em.file(path.as_str(), FileAction::Deleted, 0, detail.clone());
                        }
                    }
                }
                em.summary.dry_run = true;
                em.summary.commit = head.clone();
                em.summary.files = scan.files.len() as u64;
                return Ok(());
            }

            // What a merge pushed by a sync that died before writing it here started from:
            // in no history yet, and about to be replaced by the remote's.
            self.keep_versions(
                &repo,
                cfg,
                remote.tip.as_deref(),
                &keep_home,
                "A sync pushed the merge but stopped before writing it here; this sync takes\n\
                 the remote's version. This commit keeps the one the merge started from, in\n\
                 this machine's history only.",
            )?;
            // Versions a resolution replaced go into history with this push.
            let preserved_now =
                self.preserve_queued(cfg, &repo, &remote, &queued_preserve, &mut preserve)?;
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
                &mut tree_changes,
                &meta,
                &preserve,
                &pushed_bases,
                &merged_from,
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
            // A merge this push carried has, until it is written here, the file it started
            // from as base: the remote holds the merge, the home that file (or the person's
            // edit of it). A write that is skipped, fails or is cancelled leaves it so; one
            // that happens records the merge after it.
            outcome.bases.extend(
                merged_from
                    .iter()
                    .map(|(p, v)| (p.clone(), Some(v.clone()))),
            );
            // What this sync settles without a write (the home already holds the remote's
            // version; a pull machine keeps its own over the remote's) is announced like a
            // write: killed before its record, the next sync would read the older base and
            // take the home's version for the person's edit.
            let settled_rows: Vec<(String, records::Pulled)> = settled_bases
                .iter()
                .filter_map(|(key, base)| {
                    let local = RepoPath::parse(key)
                        .ok()
                        .and_then(|p| scan.files.get(&p))
                        .map(|e| e.version.clone());
                    // A row of a sync killed before that gave this very base says so already,
                    // and more (what the home held before its write, a merge's commit):
                    // replacing it would lose that.
                    if *base == local && row_bases.get(key.as_str()) == Some(&local) {
                        return None;
                    }
                    let base = match base {
                        b if *b == local => None,
                        Some(b) => Some(b.clone()),
                        // "No base while the home holds this file" has no row; the next sync
                        // plans it as this one did.
                        None => return None,
                    };
                    Some((
                        key.clone(),
                        records::Pulled {
                            version: local,
                            base,
                            planned_on: remote.tip.clone(),
                            planned_url: Some(url.to_owned()),
                            settled: true,
                            ..records::Pulled::default()
                        },
                    ))
                })
                .collect();
            outcome.bases.extend(settled_bases);
            outcome.preserved = preserved_now;
            outcome.settled = true;
            // A file this sync did not plan (still being written, unreadable, or below such a
            // directory) keeps the rows a sync killed before left for it (`pulled`, `pushed`):
            // the next sync that plans it needs their word. Only rows this sync could have
            // read: against a remote joined since, or a replaced history, they say nothing.
            let rows_speak_here =
                replaced_bases.is_none() && !joined_before_any_sync && remote.tip.is_some();
            if rows_speak_here {
                outcome.keep_rows = pulled
                    .keys()
                    .chain(pushed.iter().flat_map(|a| a.versions.keys()))
                    .filter(|p| planner::below_any(&excluded, p))
                    .cloned()
                    .collect();
            }
            if let Some(tip) = &new_tip {
                outcome.synced = Some((tip.clone(), url.to_owned()));
            } else if history_here
                && let Some((s, old)) = &synced
                && old.as_deref() != Some(url)
            {
                // Nothing on this remote yet and nothing pushed (a pull machine, or nothing to
                // push): the synced commit stays, but this remote's repository is now the one
                // that holds this config's history, so the next switch brings it along.
                outcome.synced = Some((s.clone(), url.to_owned()));
            }
            outcome.conflicts_set = conflicts_set;
            outcome
                .conflicts_cleared
                .extend(conflicts_cleared.iter().cloned());
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
            // What the home is about to hold, announced before the first write or removal: a
            // removal too, or the next sync after a kill reads the missing file as the
            // person's deletion (and a pull machine holds it for ever). A merge is the
            // remote's only as long as the remote holds the commit this sync pushed it in.
            // A pull-only merge keeps the remote's version as its base (this machine's part
            // stays held), not the version written. A write's row comes after a settled one.
            let mut writing = settled_rows;
            // Until its write or removal happens, the home holds what this sync planned from:
            // when a row of a sync killed before gave its base, that base goes on with it.
            // What the home held also tells the next sync, once the person edited the file,
            // whether the write happened.
            let planned_from = |path: &RepoPath| {
                let unsure = unsure_bases.get(path.as_str());
                Some(records::Held {
                    home: scan.files.get(path).map(|e| e.version.clone()),
                    base: row_bases
                        .get(path.as_str())
                        .filter(|_| !passing_bases.contains(path.as_str()))
                        .or(unsure.map(|(b, _)| b))
                        .cloned(),
                    alt: unsure.map(|(_, other)| other.clone()),
                    on: base_on.get(path.as_str()).cloned(),
                })
            };
            writing.extend(home_changes.iter().map(|c| match c {
                HomeChange::Write {
                    path,
                    version,
                    base,
                    action,
                    ..
                } => {
                    let pushed_merge = *action == FileAction::Merged && base.is_none();
                    let row = match new_tip.as_ref().filter(|_| pushed_merge) {
                        // What it started from is announced with the push too; that one
                        // speaks only while the push is in the remote's history.
                        Some(tip) => records::Pulled {
                            version: Some(version.clone()),
                            base: merged_with.get(path.as_str()).cloned(),
                            merge_commit: Some(tip.clone()),
                            merged_on: remote.tip.clone(),
                            held: planned_from(path),
                            pushed_over: Vec::new(),
                            planned_on: remote.tip.clone(),
                            planned_url: Some(url.to_owned()),
                            restored_over: None,
                            settled: false,
                        },
                        None => records::Pulled {
                            version: Some(version.clone()),
                            base: base.clone(),
                            held: planned_from(path),
                            planned_on: remote.tip.clone(),
                            planned_url: Some(url.to_owned()),
                            ..records::Pulled::default()
                        },
                    };
                    (path.to_string(), row)
                }
                HomeChange::Remove { path, .. } => (
                    path.to_string(),
                    records::Pulled {
                        held: planned_from(path),
                        planned_on: remote.tip.clone(),
                        planned_url: Some(url.to_owned()),
                        ..records::Pulled::default()
                    },
                ),
            }));
            // Every write goes through a temporary file named with the token, so the token is
            // recorded before any write (a pull-only merge included): a sync killed mid-write
            // leaves only files the next one can prove are dotsync's.
            if home_changes
                .iter()
                .any(|c| matches!(c, HomeChange::Write { .. }))
            {
                records::add_apply_token(&self.store, &cfg.id, &token)?;
            }
            // A conflict this sync clears because both sides agree now goes with the rows, not
            // at the record: killed before it, the next syncs read the rows (the settle's
            // base) as after a recorded clear, and the person is never asked about a conflict
            // the machines no longer have. (One of a file the config no longer covers goes at
            // the record, with the file's base: until then it still speaks.)
            if !writing.is_empty() || !conflicts_cleared.is_empty() {
                records::put_pulled(&self.store, &cfg.id, &writing, &conflicts_cleared)?;
            }
            // Each write and removal is also kept apart, under the commit it came from, until
            // a record: a later sync's row of the path must not hide that the home may hold
            // what a commit the remote lost since had.
            if let Some(tip) = &remote.tip {
                let announced: Vec<records::WrittenFrom> = home_changes
                    .iter()
                    .map(|c| {
                        let (path, version) = match c {
                            HomeChange::Write { path, version, .. } => {
                                (path, Some(version.clone()))
                            }
                            HomeChange::Remove { path, .. } => (path, None),
                        };
                        records::WrittenFrom {
                            path: path.to_string(),
                            commit: tip.clone(),
                            url: url.to_owned(),
                            version,
                            before: scan.files.get(path).map(|e| e.version.clone()),
                            pushed_over: Vec::new(),
                        }
                    })
                    .collect();
                if !announced.is_empty() {
                    records::put_written_from(&self.store, &cfg.id, &announced)?;
                }
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
            // A change planned on a base the content could not vouch for: if it does not
            // happen (failed, cancelled, changed since the scan), the row this sync wrote
            // stays, so the next sync asks the same question.
            let unsure_changes: Vec<String> = home_changes
                .iter()
                .map(|c| match c {
                    HomeChange::Write { path, .. } | HomeChange::Remove { path, .. } => {
                        path.to_string()
                    }
                })
                .filter(|p| unsure_bases.contains_key(p.as_str()))
                .collect();
            let written_from = outcome.bases.len();
            let applied = self.apply_changes(
                opts,
                &repo,
                &scan.files,
                home_changes,
                &target,
                &mut outcome,
                em,
            )?;
            // A merge this push carried that did not reach the home (the file changed
            // meanwhile, the write failed, the sync was cancelled): what it started from is in
            // no history, and the next sync takes the remote's version over it.
            let unwritten: Vec<(String, Version)> = merged_from
                .into_iter()
                .filter(|(p, _)| !outcome.bases[written_from..].iter().any(|(q, _)| q == p))
                .collect();
            self.keep_versions(
                &repo,
                cfg,
                new_tip.as_deref(),
                &unwritten,
                "This sync merged it and pushed the merge, but did not write the merge here;\n\
                 the next sync takes the remote's version. This commit keeps the one the merge\n\
                 started from, in this machine's history only.",
            )?;
            // A base a row of a sync killed before gave, for a file whose planned change did
            // not happen (cancelled, skipped as changed since the scan, failed, held): the
            // record clears the rows, so it is recorded itself, or the older base speaks again.
            if !row_bases.is_empty() {
                let recorded: BTreeSet<String> =
                    outcome.bases.iter().map(|(q, _)| q.clone()).collect();
                outcome.bases.extend(
                    row_bases
                        .iter()
                        .filter(|(k, _)| !recorded.contains(*k))
                        .map(|(k, b)| (k.clone(), b.clone())),
                );
            }
            if !unsure_changes.is_empty() {
                let recorded: BTreeSet<&str> =
                    outcome.bases.iter().map(|(q, _)| q.as_str()).collect();
                let unapplied: Vec<String> = unsure_changes
                    .into_iter()
                    .filter(|p| !recorded.contains(p.as_str()))
                    .collect();
                outcome.keep_rows.extend(unapplied);
            }
            let failed = match applied {
                home::Applied::Done { failed } => failed,
                home::Applied::Cancelled => {
                    // What is applied so far is recorded; the rest comes next time.
                    records::record(&self.store, &cfg.id, &outcome)?;
                    return Err(SyncError::Cancelled);
                }
            };

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

    /// The records of `cfg` a sync plans with, besides the stat cache: bases and conflicts
    /// (those the config no longer covers apart), what the last sync reached, and the versions
    /// an earlier sync announced. Read beside the walk.
    fn load_records(
        &self,
        cfg: &SyncConfig,
        opts: &SyncOptions,
        url: &str,
        repo: &Repo,
        coverage: &Coverage,
    ) -> Result<Records, SyncError> {
        // Bases of files the config no longer covers (a path removed from it, a new ignore
        // pattern) are forgotten, never read as deletions: narrowing a config must not delete
        // anything on the remote or on other machines.
        let (bases, forgotten): (BTreeMap<String, Version>, BTreeMap<String, Version>) =
            records::load_bases(&self.store, &cfg.id)?
                .into_iter()
                .partition(|(k, _)| coverage.covers(k));
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
                let here = match fetched_from {
                    Some(old) => self.import_history(repo, cfg, &old, None),
                    None => true,
                };
                if here {
                    records::set_synced_url(&self.store, &cfg.id, url)?;
                }
            }
        }
        let pushed = records::load_pushed(&self.store, &cfg.id)?;
        let pulled = records::load_pulled(&self.store, &cfg.id)?;
        // Only of files the config still covers: what it no longer syncs is no question of
        // its own.
        let mut written_from = records::load_written_from(&self.store, &cfg.id)?;
        written_from.retain(|w| coverage.covers(&w.path));
        let queued_preserve = records::load_preserve(&self.store, &cfg.id)?;
        Ok(Records {
            bases,
            forgotten,
            open_conflicts,
            uncovered_conflicts,
            last_commit,
            synced,
            joined_before_any_sync,
            pushed,
            pulled,
            written_from,
            queued_preserve,
        })
    }

    /// The kept scan of `cfg`, if the caller vouches that nothing changed under its paths since
    /// it was taken (the same watcher generation) and the config is the same.
    fn reusable_scan(&self, cfg: &SyncConfig, opts: &SyncOptions) -> Option<Arc<Scan>> {
        let token = opts.unchanged_since?;
        if opts.force_walk || opts.dry_run {
            return None;
        }
        let kept = self
            .kept_scans
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let k = kept.get(&cfg.id)?;
        (k.token == token && k.cfg == *cfg).then(|| k.scan.clone())
    }

    fn count_files(&self, config_id: &str) -> Result<u64, SyncError> {
        Ok(records::count_bases(&self.store, config_id)?)
    }
}

/// Whether the home differs from the bases: a file whose version is not its base (or that has
/// none), or a base whose file is gone (but not one that could not be read, nor one whose path
/// is not a repository path). One pass over the two maps, both in path order.
fn differs_from_bases(
    files: &BTreeMap<RepoPath, LocalEntry>,
    bases: &BTreeMap<String, Version>,
    unreadable: &BTreeSet<String>,
) -> bool {
    use std::cmp::Ordering;
    let gone = |p: &str| !unreadable.contains(p) && RepoPath::parse(p).is_ok();
    let mut files = files.iter().peekable();
    let mut bases = bases.iter().peekable();
    loop {
        match (files.peek(), bases.peek()) {
            (None, None) => return false,
            (Some(_), None) => return true,
            (None, Some((b, _))) => {
                if gone(b) {
                    return true;
                }
                bases.next();
            }
            (Some((f, e)), Some((b, v))) => match f.as_str().cmp(b.as_str()) {
                Ordering::Less => return true,
                Ordering::Greater => {
                    if gone(b) {
                        return true;
                    }
                    bases.next();
                }
                Ordering::Equal => {
                    if e.version != **v {
                        return true;
                    }
                    files.next();
                    bases.next();
                }
            },
        }
    }
}

/// Fills a stat cache still empty when dropped (with an empty cache): a walk waiting for it
/// never waits for ever, whatever happened to its loader.
struct FillOnDrop<'a>(&'a OnceLock<crate::scan::StatCache>);

impl Drop for FillOnDrop<'_> {
    fn drop(&mut self) {
        let _ = self.0.set(crate::scan::StatCache::default());
    }
}

/// What [`Engine::load_records`] reads.
struct Records {
    /// Bases of the files the config covers.
    bases: BTreeMap<String, Version>,
    /// Bases of files the config no longer covers (a path removed from it, a new ignore
    /// pattern): forgotten, never read as deletions.
    forgotten: BTreeMap<String, Version>,
    open_conflicts: BTreeMap<String, ConflictRecord>,
    /// Conflicts on files the config no longer covers: forgotten with the file.
    uncovered_conflicts: BTreeMap<String, ConflictRecord>,
    last_commit: Option<String>,
    synced: Option<(String, Option<String>)>,
    /// This config fetched from another remote before any of its syncs completed.
    joined_before_any_sync: bool,
    /// What the pushes that were not recorded carried, newest first.
    pushed: Vec<records::PushAttempt>,
    /// What a sync killed before its record was leaving in the home.
    pulled: BTreeMap<String, records::Pulled>,
    /// Every write or removal announced since the last record (see `records::WrittenFrom`).
    written_from: Vec<records::WrittenFrom>,
    queued_preserve: BTreeMap<String, Version>,
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

#[cfg(test)]
mod tests {
    use super::*;
    use dotsync_core::plan::Kind;

    /// A file version whose blob id is `blob` in hex (the sync's randomized tests).
    pub(super) fn version(blob: u64) -> Version {
        Version {
            kind: Kind::File,
            blob: format!("{blob:040x}"),
            mode: 0o644,
        }
    }

    /// A scanned file holding [`version`]`(blob)`.
    pub(super) fn entry(blob: u64) -> LocalEntry {
        LocalEntry {
            version: version(blob),
            size: 1,
            stat: crate::scan::StatKey {
                size: 1,
                mtime_ns: 0,
                ctime_ns: 0,
                ino: 1,
                mode: 0o100_644,
            },
            cached: true,
        }
    }

    /// A xorshift generator from `seed`: the randomized tests' cases, the same every run.
    pub(super) fn xorshift(mut seed: u64) -> impl FnMut() -> u64 {
        move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        }
    }

    /// The definition `differs_from_bases` must keep: every file looked up in the bases, every
    /// base looked up in the files.
    fn by_lookups(
        files: &BTreeMap<RepoPath, LocalEntry>,
        bases: &BTreeMap<String, Version>,
        unreadable: &BTreeSet<String>,
    ) -> bool {
        files
            .iter()
            .any(|(p, e)| bases.get(p.as_str()) != Some(&e.version))
            || bases.keys().any(|p| {
                !unreadable.contains(p.as_str())
                    && !files.contains_key(p.as_str())
                    && RepoPath::parse(p).is_ok()
            })
    }

    #[test]
    fn the_one_pass_comparison_with_the_bases_agrees_with_looking_each_path_up() {
        // Paths whose byte order is not their component order ("a-b" sorts between "a" and
        // "a/b"), a base that is not a repository path, an unreadable file.
        let names = ["a", "a-b", "a/b", "a/c", "b", ".git/x", "c/d/e", "z"];
        let mut next = xorshift(0x2545_f491_4f6c_dd1d);
        let mut differing = 0;
        for _ in 0..4000 {
            let mut files = BTreeMap::new();
            let mut bases = BTreeMap::new();
            let mut unreadable = BTreeSet::new();
            // Mostly a home as its bases, with a few differences: a file without a base, a
            // base without a file, another version, an unreadable path.
            for n in names {
                let r = next();
                let base = (!r.is_multiple_of(5)).then(|| version(r % 3));
                let present = if base.is_some() {
                    !(r >> 8).is_multiple_of(13)
                } else {
                    (r >> 8).is_multiple_of(17)
                };
                let changed = (r >> 16).is_multiple_of(13);
                if present && let Ok(p) = RepoPath::parse(n) {
                    files.insert(p, entry(r % 3 + u64::from(changed)));
                }
                if let Some(b) = base {
                    bases.insert(n.to_owned(), b);
                }
                if (r >> 24).is_multiple_of(11) {
                    unreadable.insert(n.to_owned());
                }
            }
            let want = by_lookups(&files, &bases, &unreadable);
            assert_eq!(
                differs_from_bases(&files, &bases, &unreadable),
                want,
                "files {:?} bases {:?} unreadable {unreadable:?}",
                files.keys().collect::<Vec<_>>(),
                bases
            );
            differing += usize::from(want);
            // The same home as its bases: nothing differs.
            let same: BTreeMap<String, Version> = files
                .iter()
                .map(|(p, e)| (p.to_string(), e.version.clone()))
                .collect();
            assert!(!differs_from_bases(&files, &same, &BTreeSet::new()));
        }
        assert!(
            differing > 100 && differing < 3900,
            "both answers come up: {differing}"
        );
    }
}
