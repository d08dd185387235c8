//! What the scheduler asks the coordinator: whether a config's timer should sync, check the
//! remote or do nothing, and when it should wake next.

use std::time::Instant;

use super::*;

impl Coordinator {
    /// What the scheduler should do when its timer fires for `cfg`.
    pub(crate) fn schedule_decision(&self, id: &str) -> ScheduleDecision {
        let inner = self.lock();
        if inner.paused.is_paused(id) {
            return ScheduleDecision::Skip;
        }
        let Some(e) = inner.entries.get(id) else {
            return ScheduleDecision::Check;
        };
        // A retry that was just set (the sync the last wake-up asked for already failed again)
        // is waited for, not run at once.
        if e.running || e.state == SyncState::Syncing || e.in_backoff(self.now()) {
            return ScheduleDecision::Skip;
        }
        if e.failures > 0 {
            return ScheduleDecision::Sync("retry");
        }
        if !e.pending.is_empty() || e.rescan || matches!(e.watch, WatchMode::Rescan(_)) {
            return ScheduleDecision::Sync("schedule");
        }
        // The safety net under the watcher: a change it missed (a directory created in the
        // instant before its watch was placed, a file system without events) is found by a
        // full look at least this often.
        if e.last_scan
            .is_some_and(|t| self.now().saturating_duration_since(t) >= full_scan_every())
        {
            return ScheduleDecision::Sync("rescan");
        }
        ScheduleDecision::Check
    }

    /// When the scheduler should next wake for `id`, given its regular time `regular`.
    pub(crate) fn next_due(&self, id: &str, regular: Instant) -> Instant {
        let inner = self.lock();
        match inner.entries.get(id) {
            // While a run is on, its end says when to look again (a retry time that passed
            // meanwhile would wake the scheduler at once, again and again).
            Some(e) if e.running => regular,
            Some(Entry {
                retry_at: Some(t), ..
            }) => *t,
            _ => regular,
        }
    }
}

pub(crate) enum ScheduleDecision {
    /// A sync runs or is queued; nothing to do.
    Skip,
    /// Sync without asking the remote first (retry, pending changes, rescan).
    Sync(&'static str),
    /// Ask the remote whether it moved.
    Check,
}
