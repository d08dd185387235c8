//! The home side of a sync: files that are still being written, and writing the remote's
//! changes in (`apply.rs` does each write).

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use dotsync_core::paths::RepoPath;
use dotsync_core::plan::Version;

use super::Emitter;
use crate::apply::{ApplyError, Staged, Target};
use crate::git::Repo;
use crate::records::Outcome;
use crate::scan::LocalEntry;
use crate::{Engine, FileAction, SyncError, SyncOptions};

/// A change to make in the home after the push.
pub(super) enum HomeChange {
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

/// How applying the home's changes ended.
pub(super) enum Applied {
    /// Every change was tried; `failed`: some file was skipped or failed (the home is then
    /// behind the remote).
    Done { failed: bool },
    /// Cancelled between two files: what was applied is in the outcome, not yet recorded.
    Cancelled,
}

/// A staged write, waiting for its rename.
struct PendingWrite {
    path: RepoPath,
    version: dotsync_core::plan::Version,
    bytes: u64,
    action: FileAction,
    detail: Option<String>,
    base: Option<dotsync_core::plan::Version>,
}

impl Engine {
    /// Writes the remote's changes into the home, recording each file that made it in
    /// `outcome`. A cancel between two files stops there; the caller records what was applied.
    ///
    /// Removals come first (the caller sorted them so). Writes go in batches: each file's new
    /// bytes are staged in a temporary file beside it, one `syncfs` makes the batch durable,
    /// then each file is checked once more and renamed into place, and each directory is
    /// synced once. A few writes are each flushed on their own instead (a `syncfs` also
    /// flushes whatever else is waiting on the disk).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn apply_changes(
        &self,
        opts: &SyncOptions,
        repo: &Repo,
        scanned: &BTreeMap<RepoPath, LocalEntry>,
        home_changes: Vec<HomeChange>,
        target: &Target<'_>,
        outcome: &mut Outcome,
        em: &mut Emitter<'_>,
    ) -> Result<Applied, SyncError> {
        const BATCH: usize = 256;
        let writes = home_changes
            .iter()
            .filter(|c| matches!(c, HomeChange::Write { .. }))
            .count();
        let batched = writes >= 16;
        // Remote blobs are read one at a time as they are staged: memory holds one file,
        // whatever the number of files. Many of them are all asked for at once, so that git
        // reads the next while this writes one.
        let mut blobs: Option<crate::git::BlobStream> = None;
        if batched {
            let ids: Vec<String> = home_changes
                .iter()
                .filter_map(|c| match c {
                    HomeChange::Write {
                        content: None,
                        version,
                        ..
                    } => Some(version.blob.clone()),
                    _ => None,
                })
                .collect();
            let mut stream = repo.blob_stream();
            stream.read_ahead(ids)?;
            blobs = Some(stream);
        }
        let total = home_changes.len() as u64;
        let mut failed = false;
        let mut pending: Vec<(Staged, PendingWrite)> = Vec::new();
        for (i, change) in home_changes.into_iter().enumerate() {
            if let Some(c) = &opts.cancel
                && c.load(Ordering::SeqCst)
            {
                // What is applied so far is recorded (by the caller); the rest comes next time.
                for (staged, _) in pending {
                    staged.abandon();
                }
                outcome.failures = Some(em.failures.clone());
                return Ok(Applied::Cancelled);
            }
            if total > 20 && i % 100 == 0 {
                em.progress(crate::Phase::Apply, i as u64, Some(total));
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
                    let content = if let Some(c) = content {
                        c
                    } else {
                        if blobs.is_none() {
                            blobs = Some(repo.blob_stream());
                        }
                        match blobs.as_mut() {
                            Some(b) => b.read(&version.blob)?,
                            None => continue,
                        }
                    };
                    let abs = path.under(&self.home);
                    // This machine's local-only blocks go back into what it writes.
                    let content = crate::local::for_home(&abs, version.kind, content);
                    let expected = scanned.get(&path).map(|e| e.stat);
                    let staged = target.stage(
                        &abs,
                        version.kind,
                        version.mode,
                        &content,
                        expected,
                        !batched,
                    );
                    let write = PendingWrite {
                        path,
                        version,
                        bytes: content.len() as u64,
                        action,
                        detail,
                        base,
                    };
                    match staged {
                        Ok(staged) => pending.push((staged, write)),
                        Err(e) => {
                            report_apply_error(em, write.path.as_str(), &e);
                            // Skipped or failed, the home is behind the remote: the next
                            // check must sync again, not trust "nothing moved".
                            failed = true;
                        }
                    }
                    if pending.len() >= BATCH || !batched {
                        failed |= self.commit_batch(target, &mut pending, batched, outcome, em);
                    }
                }
                HomeChange::Remove { path, detail } => {
                    let abs = path.under(&self.home);
                    let expected = scanned.get(&path).map(|e| e.stat);
                    match target.remove(&abs, expected) {
                        Ok(()) => {
                            target.remove_empty_parents(&abs);
                            outcome.bases.push((path.to_string(), None));
                            outcome.stats.push((path.to_string(), None));
                            em.file(path.as_str(), FileAction::Deleted, 0, detail);
                        }
                        Err(e) => {
                            report_apply_error(em, path.as_str(), &e);
                            failed = true;
                        }
                    }
                }
            }
        }
        failed |= self.commit_batch(target, &mut pending, batched, outcome, em);
        drop(blobs);
        Ok(Applied::Done { failed })
    }

    /// Renames a batch of staged writes into place, after one flush of their bytes when they
    /// were not flushed one by one; syncs each directory once. Returns whether any failed.
    fn commit_batch(
        &self,
        target: &Target<'_>,
        pending: &mut Vec<(Staged, PendingWrite)>,
        batched: bool,
        outcome: &mut Outcome,
        em: &mut Emitter<'_>,
    ) -> bool {
        if pending.is_empty() {
            return false;
        }
        let mut failed = false;
        if batched && let Err(e) = crate::apply::flush_all(&self.home) {
            // Not durable: nothing of this batch may replace a file.
            for (staged, w) in pending.drain(..) {
                staged.abandon();
                em.file(
                    w.path.as_str(),
                    FileAction::Failed,
                    0,
                    Some(format!("cannot write to the disk: {e}")),
                );
            }
            return true;
        }
        let mut dirs = std::collections::BTreeSet::new();
        for (staged, w) in pending.drain(..) {
            match target.commit(&staged) {
                Ok(stat) => {
                    dirs.insert(staged.dir.clone());
                    let base = w.base.unwrap_or_else(|| w.version.clone());
                    outcome.bases.push((w.path.to_string(), Some(base)));
                    outcome
                        .stats
                        .push((w.path.to_string(), Some((stat, w.version))));
                    em.file(w.path.as_str(), w.action, w.bytes, w.detail);
                }
                Err(e) => {
                    report_apply_error(em, w.path.as_str(), &e);
                    failed = true;
                }
            }
        }
        for d in dirs {
            crate::apply::fsync_dir(&d);
        }
        failed
    }

    /// Changed files whose last write is more recent than `settle`: looked at again once they
    /// are that old; those that changed meanwhile are returned (held, retried later).
    pub(super) fn unsettled(
        &self,
        files: &BTreeMap<RepoPath, LocalEntry>,
        settle: std::time::Duration,
    ) -> Vec<String> {
        if settle.is_zero() {
            return Vec::new();
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
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

/// Reports a file the home could not take. A file edited since the scan is only skipped (the
/// next sync plans it again, three-way); anything else is a failure. Returns whether it failed.
fn report_apply_error(em: &mut Emitter<'_>, path: &str, e: &ApplyError) -> bool {
    let changed = matches!(e, ApplyError::ChangedSinceScan);
    let action = if changed {
        FileAction::Skipped
    } else {
        FileAction::Failed
    };
    em.file(path, action, 0, Some(e.to_string()));
    !changed
}
