//! What a sync reports as it goes: one event per file, progress, and the summary's counts.

use crate::{FileAction, Phase, SyncEvent, SyncSummary};

/// How a file deleted by another machine is described (the planner's words).
const DELETED_ELSEWHERE: &str = "deleted on another machine";

pub(super) struct Emitter<'a> {
    pub(super) sink: &'a mut dyn FnMut(&SyncEvent),
    pub(super) summary: SyncSummary,
    /// The files that failed, with the reason: shown in the status until they succeed.
    pub(super) failures: Vec<(String, String)>,
    /// The other machines whose commits this sync takes from the remote.
    pub(super) others: Option<String>,
    /// This sync's scan, to keep for the next one: set only where the sync ends clean.
    pub(super) keep: Option<std::sync::Arc<crate::scan::Scan>>,
}

impl Emitter<'_> {
    pub(super) fn file(
        &mut self,
        path: &str,
        action: FileAction,
        bytes: u64,
        detail: Option<String>,
    ) {
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
    pub(super) fn changed_during_sync(&mut self, path: &str) {
        self.file(
            path,
            FileAction::Skipped,
            0,
            Some("changed during the sync; it will sync next time".into()),
        );
        self.summary.retry = true;
    }

    pub(super) fn progress(&mut self, phase: Phase, done: u64, total: Option<u64>) {
        (self.sink)(&SyncEvent::Progress {
            config: self.summary.config.clone(),
            phase,
            done,
            total,
        });
    }
}
