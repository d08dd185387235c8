//! What the coordinator shows of each config and of the watcher (`GET /v1/status`), and what
//! the watcher and `serve` tell it about them.

use super::*;

impl Coordinator {
    pub(crate) fn set_watch(&self, id: &str, mode: WatchMode) {
        let mut inner = self.lock();
        inner.entries.entry(id.to_owned()).or_default().watch = mode;
    }

    pub(crate) fn update_watcher(&self, f: impl FnOnce(&mut WatcherStatus)) {
        f(&mut self.lock().watcher);
    }

    pub(crate) fn set_background(&self, on: bool) {
        self.lock().background = on;
    }

    /// Whether the watcher and the scheduler run.
    pub fn background(&self) -> bool {
        self.lock().background
    }

    pub fn watcher_status(&self) -> WatcherStatus {
        self.lock().watcher.clone()
    }

    /// The status of `cfg`. `stored_last_sync` and `stored_conflicts` come from the state
    /// database, so that a restarted daemon still knows them.
    pub fn status_of(
        &self,
        cfg: &SyncConfig,
        stored_last_sync: Option<i64>,
        stored_conflicts: Option<u64>,
    ) -> ConfigStatus {
        let inner = self.lock();
        let default = Entry::default();
        let e = inner.entries.get(&cfg.id).unwrap_or(&default);
        let conflicts = stored_conflicts.unwrap_or(e.conflicts);
        let state = match e.state {
            SyncState::Idle if conflicts > 0 => SyncState::Conflict,
            SyncState::Conflict if conflicts == 0 && stored_conflicts.is_some() => SyncState::Idle,
            s => s,
        };
        let now = self.now();
        let (watch, watch_detail) = match (&e.watch, inner.background && cfg.auto) {
            (_, false) | (WatchMode::Off, true) => (WatchState::Off, None),
            (WatchMode::Watching, true) => (WatchState::Watching, None),
            (WatchMode::Rescan(why), true) => (WatchState::Rescan, Some(why.clone())),
        };
        let pending: HashSet<&PathBuf> = e.pending.iter().chain(&e.in_flight).collect();
        ConfigStatus {
            id: cfg.id.clone(),
            name: cfg.name.clone(),
            auto: cfg.auto,
            state,
            trigger: e.trigger.as_deref().map(Trigger::from_name),
            last_sync: match (e.last_ok, stored_last_sync) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            },
            last_error: e.last_error.clone(),
            last_error_kind: e.last_error_kind,
            pending_changes: pending.len() as u64,
            conflicts,
            commit: e.commit.clone(),
            watch,
            watch_detail,
            retry_in_s: e.retry_at.filter(|t| *t > now).map(|t| {
                // Whole seconds, rounded up.
                let d = t.duration_since(now);
                d.as_secs() + u64::from(d.subsec_nanos() > 0)
            }),
            failures: e.failures,
            failed_files: Vec::new(),
            files: 0,
            bytes: 0,
            not_here: None,
            paused: inner.paused.is_paused(&cfg.id),
        }
    }
}
