//! The sync coordinator: the one place that decides when a config syncs.
//!
//! The API (`POST /v1/sync`), the watcher and the scheduler all ask it for syncs. Per config it
//! keeps the state `GET /v1/status` shows, runs at most one sync at a time, and folds every
//! request that arrives during a sync into ONE follow-up run (an API caller that asked during a
//! sync gets that follow-up's stream). The engine serializes syncs of one repository across
//! configs; the coordinator makes sure a config never queues more than one run behind it.
//!
//! A run's events go, as they happen, to the NDJSON streams of the API callers waiting for it and
//! to the event hub. A caller that goes away only loses its stream: the run goes on.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use dotsync_api::{ErrorKind, Trigger, WatchState};
use dotsync_core::SyncConfig;
use dotsync_engine::{FileAction, SyncError, SyncEvent, SyncOptions, SyncSummary};
use tokio::sync::{Notify, mpsc, watch};

use crate::App;

mod report;
mod run;
mod schedule;
mod status;
mod timing;

use run::run_loop;
pub(crate) use run::{new_run_id, one_line};
pub(crate) use schedule::ScheduleDecision;
pub use status::*;
pub use timing::*;

/// One line of a sync's NDJSON stream, serialized once and shared by every stream.
pub type Line = Bytes;

/// Why the coordinator refused a request.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("the daemon is shutting down; run the sync again once it is back")]
    ShuttingDown,
}

/// What a caller asks of one run.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunOptions {
    pub allow_mass_delete: bool,
    pub rewind: Option<dotsync_engine::RewindChoice>,
    /// Plan only (answered by the route without the coordinator: a dry run never queues).
    pub dry_run: bool,
}

struct Queued {
    allow_mass_delete: bool,
    rewind: Option<dotsync_engine::RewindChoice>,
    trigger: String,
    /// API callers waiting for this run's lines. Explicit requests win the trigger's name.
    subscribers: Vec<mpsc::UnboundedSender<Line>>,
}

#[derive(Default)]
struct Entry {
    state: SyncState,
    /// The state to go back to if a running sync is cancelled.
    state_before: SyncState,
    /// A run loop exists for this config (it owns running syncs and follow-ups).
    running: bool,
    /// Whether a sync (not a check) is in progress, and what started it.
    trigger: Option<String>,
    cancel: Option<Arc<AtomicBool>>,
    queued: Option<Queued>,
    /// Paths the watcher reported, not yet compared with what the engine last synced.
    dirty: HashSet<PathBuf>,
    /// Sync without looking at paths: events were lost, or a directory moved away.
    rescan: bool,
    /// Local changes known to be real and not yet synced.
    pending: HashSet<PathBuf>,
    /// `pending` taken by the running sync, given back if it fails.
    in_flight: HashSet<PathBuf>,
    last_ok: Option<i64>,
    /// When the last successful sync that walked the config's paths finished (a sync the
    /// watcher vouched for reuses the scan before it and does not count).
    last_scan: Option<Instant>,
    last_error: Option<String>,
    last_error_kind: Option<ErrorKind>,
    commit: Option<String>,
    conflicts: u64,
    failures: u32,
    retry_at: Option<Instant>,
    watch: WatchMode,
}

impl Entry {
    fn in_backoff(&self, now: Instant) -> bool {
        self.retry_at.is_some_and(|t| t > now)
    }
}

#[derive(Default)]
struct Inner {
    entries: HashMap<String, Entry>,
    shutting_down: bool,
    /// The watcher and scheduler run (only under `serve`).
    background: bool,
    watcher: WatcherStatus,
    /// What the person paused.
    paused: crate::pause::Paused,
}

/// See the module documentation.
pub struct Coordinator {
    inner: Mutex<Inner>,
    shutdown: watch::Sender<bool>,
    /// Bumped whenever a retry time is set or cleared, so the scheduler recomputes its timer.
    retry: watch::Sender<u64>,
    /// Notified whenever a run loop ends.
    idle: Notify,
    /// What time it is: the system's monotonic clock, or a test's.
    clock: Box<dyn Fn() -> Instant + Send + Sync>,
}

impl Default for Coordinator {
    fn default() -> Self {
        Self::with_clock(Instant::now)
    }
}

enum Job {
    Run(Queued),
    Check { paths: Vec<PathBuf>, rescan: bool },
    Drain(Queued),
    Done,
}

impl Coordinator {
    /// A coordinator that reads the time from `clock` (tests move time by hand).
    pub(crate) fn with_clock(clock: impl Fn() -> Instant + Send + Sync + 'static) -> Self {
        Self {
            inner: Mutex::default(),
            shutdown: watch::channel(false).0,
            retry: watch::channel(0).0,
            idle: Notify::new(),
            clock: Box::new(clock),
        }
    }

    fn now(&self) -> Instant {
        (self.clock)()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The map holds plain data; a panic elsewhere cannot leave it half updated in a way
        // that matters more than refusing every later request would.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Asks for a sync of `cfg_id`. With `subscriber`, the run's NDJSON lines are sent to it
    /// (and the channel closes after the summary). A sync already running is not interrupted:
    /// the request joins the one follow-up run.
    pub fn request(
        &self,
        app: &App,
        cfg_id: &str,
        opts: RunOptions,
        trigger: &str,
        subscriber: Option<mpsc::UnboundedSender<Line>>,
    ) -> Result<(), RequestError> {
        if self.enqueue(cfg_id, opts, trigger, subscriber)? {
            tokio::spawn(run_loop(app.clone(), cfg_id.to_owned()));
        }
        Ok(())
    }

    /// The state change of [`Coordinator::request`]: whether the config's run loop must be
    /// started (none runs).
    fn enqueue(
        &self,
        cfg_id: &str,
        opts: RunOptions,
        trigger: &str,
        subscriber: Option<mpsc::UnboundedSender<Line>>,
    ) -> Result<bool, RequestError> {
        let mut inner = self.lock();
        if inner.shutting_down {
            return Err(RequestError::ShuttingDown);
        }
        // Paused: only a sync asked for by name runs; whatever else wanted one is caught up
        // with by the sync that resuming starts.
        if inner.paused.is_paused(cfg_id) && !is_explicit(trigger) {
            tracing::debug!(config = cfg_id, trigger, "paused: no sync");
            return Ok(false);
        }
        let e = inner.entries.entry(cfg_id.to_owned()).or_default();
        let q = e.queued.get_or_insert_with(|| Queued {
            allow_mass_delete: false,
            rewind: None,
            trigger: trigger.to_owned(),
            subscribers: Vec::new(),
        });
        q.allow_mass_delete |= opts.allow_mass_delete;
        q.rewind = opts.rewind.or(q.rewind);
        if let Some(s) = subscriber {
            if q.subscribers.is_empty() {
                trigger.clone_into(&mut q.trigger);
            }
            q.subscribers.push(s);
        }
        Ok(Self::claim_loop(e))
    }

    /// The watcher reports paths that changed under `cfg_id` (after its quiet period). With
    /// `rescan`, the config syncs even if no path looks changed.
    pub fn local_changes(&self, app: &App, cfg_id: &str, paths: Vec<PathBuf>, rescan: bool) {
        if self.note_changes(cfg_id, paths, rescan) {
            tokio::spawn(run_loop(app.clone(), cfg_id.to_owned()));
        }
    }

    /// The state change of [`Coordinator::local_changes`]: whether the run loop must start.
    fn note_changes(&self, cfg_id: &str, paths: Vec<PathBuf>, rescan: bool) -> bool {
        let mut inner = self.lock();
        if inner.shutting_down {
            return false;
        }
        let paused = inner.paused.is_paused(cfg_id);
        let e = inner.entries.entry(cfg_id.to_owned()).or_default();
        e.dirty.extend(paths);
        e.rescan |= rescan;
        !paused && Self::claim_loop(e)
    }

    /// Marks the config's run loop as running; whether it was not (the caller starts it).
    fn claim_loop(e: &mut Entry) -> bool {
        !std::mem::replace(&mut e.running, true)
    }

    fn next_job(&self, id: &str) -> Job {
        let now = self.now();
        let mut inner = self.lock();
        let shutting_down = inner.shutting_down;
        let paused = inner.paused.is_paused(id);
        let Some(e) = inner.entries.get_mut(id) else {
            return Job::Done;
        };
        if shutting_down {
            if let Some(q) = e.queued.take() {
                return Job::Drain(q);
            }
            e.running = false;
            return Job::Done;
        }
        if let Some(q) = e.queued.take() {
            return Job::Run(q);
        }
        // Paused: local changes wait (they stay in `dirty`) for the sync resuming starts. A
        // rescan waits out a backoff (or a file settling): the scheduler wakes for it then;
        // checking it now would only find the backoff again, at once and forever.
        let rescan_due = e.rescan && !e.in_backoff(now);
        if !paused && (!e.dirty.is_empty() || rescan_due) {
            let rescan = rescan_due && std::mem::take(&mut e.rescan);
            return Job::Check {
                paths: e.dirty.drain().collect(),
                rescan,
            };
        }
        e.running = false;
        Job::Done
    }

    /// Records the checked local changes; whether a sync should run for them now.
    fn after_check(&self, id: &str, changed: Vec<PathBuf>, rescan: bool) -> bool {
        let mut inner = self.lock();
        let Some(e) = inner.entries.get_mut(id) else {
            return false;
        };
        e.pending.extend(changed);
        if e.pending.is_empty() && !rescan {
            return false;
        }
        if e.in_backoff(self.now()) {
            // The scheduler retries when the backoff ends, and takes these along.
            e.rescan |= rescan;
            return false;
        }
        true
    }

    fn begin_run(&self, id: &str, trigger: &str, cancel: Arc<AtomicBool>) {
        let mut inner = self.lock();
        let e = inner.entries.entry(id.to_owned()).or_default();
        if e.state != SyncState::Syncing {
            e.state_before = e.state;
        }
        e.state = SyncState::Syncing;
        e.trigger = Some(trigger.to_owned());
        e.cancel = Some(cancel);
        // The sync's scan sees every change reported so far.
        e.in_flight.extend(e.pending.drain());
        e.dirty.clear();
        e.rescan = false;
        // This run is the retry: the scheduler must not keep waking for a time now past (the
        // run's end sets the next one, if any).
        if e.retry_at.take().is_some() {
            self.retry.send_modify(|n| *n += 1);
        }
    }

    fn finish_run(&self, cfg: &SyncConfig, s: &SyncSummary) {
        let mut inner = self.lock();
        let e = inner.entries.entry(cfg.id.clone()).or_default();
        e.cancel = None;
        e.trigger = None;
        if s.ok {
            e.state = if s.conflicts > 0 {
                SyncState::Conflict
            } else {
                SyncState::Idle
            };
            e.last_ok = Some(dotsync_state::now_unix());
            if !s.walk_skipped {
                e.last_scan = Some(self.now());
            }
            e.last_error = None;
            e.last_error_kind = None;
            e.commit = s.commit.clone().or(e.commit.take());
            e.conflicts = s.conflicts;
            e.failures = 0;
            if e.retry_at.take().is_some() {
                self.retry.send_modify(|n| *n += 1);
            }
            e.in_flight.clear();
            if s.retry {
                // A file was still being written: look again shortly.
                e.rescan = true;
                e.retry_at = Some(self.now() + settle().max(Duration::from_millis(200)));
                self.retry.send_modify(|n| *n += 1);
            }
            return;
        }
        let in_flight: Vec<_> = e.in_flight.drain().collect();
        e.pending.extend(in_flight);
        if s.error_kind == Some(ErrorKind::Cancelled) {
            e.state = e.state_before;
            return;
        }
        let transient = s.error_kind == Some(ErrorKind::Offline);
        e.state = if transient {
            SyncState::Offline
        } else {
            SyncState::Error
        };
        e.last_error.clone_from(&s.error);
        e.last_error_kind = s.error_kind;
        e.failures = e.failures.saturating_add(1);
        e.retry_at = Some(self.now() + retry_delay(cfg.interval_s, e.failures, transient));
        self.retry.send_modify(|n| *n += 1);
    }

    /// Whether a sync of `id` must walk its paths whatever the watcher saw: none did since the
    /// daemon started, or the last one is `DOTSYNC_FULL_SCAN_S` old.
    pub(crate) fn walk_due(&self, id: &str) -> bool {
        let now = self.now();
        self.lock()
            .entries
            .get(id)
            .and_then(|e| e.last_scan)
            .is_none_or(|t| now.saturating_duration_since(t) >= full_scan_every())
    }

    /// The scheduler's cheap remote check failed.
    pub(crate) fn check_failed(&self, cfg: &SyncConfig, err: &SyncError) {
        let mut inner = self.lock();
        let e = inner.entries.entry(cfg.id.clone()).or_default();
        if e.state == SyncState::Syncing {
            return;
        }
        let transient = err.is_transient();
        e.state = if transient {
            SyncState::Offline
        } else {
            SyncState::Error
        };
        e.last_error = Some(err.to_string());
        e.last_error_kind = Some(error_kind(err));
        e.failures = e.failures.saturating_add(1);
        e.retry_at = Some(self.now() + retry_delay(cfg.interval_s, e.failures, transient));
        self.retry.send_modify(|n| *n += 1);
    }

    /// Changes whenever a retry time is set or cleared.
    pub(crate) fn retry_changes(&self) -> watch::Receiver<u64> {
        self.retry.subscribe()
    }

    /// A config was edited: its old error (of the remote it had, maybe) is no longer news,
    /// and the next check runs at once.
    pub(crate) fn config_edited(&self, id: &str) {
        let mut inner = self.lock();
        if let Some(e) = inner.entries.get_mut(id)
            && !e.running
            && matches!(e.state, SyncState::Error | SyncState::Offline)
        {
            e.state = SyncState::Idle;
            e.last_error = None;
            e.last_error_kind = None;
            e.failures = 0;
            e.retry_at = None;
            e.rescan = true;
            self.retry.send_modify(|n| *n += 1);
        }
    }

    /// Drops what is known about a deleted config (a running sync of it finishes first).
    pub(crate) fn forget(&self, id: &str) {
        let mut inner = self.lock();
        if inner.entries.get(id).is_some_and(|e| !e.running) {
            inner.entries.remove(id);
        }
    }

    /// What is paused now.
    pub fn paused(&self) -> crate::pause::Paused {
        self.lock().paused.clone()
    }

    /// Sets what is paused (at start, from `state/paused.json`).
    pub(crate) fn set_paused(&self, p: crate::pause::Paused) {
        self.lock().paused = p;
    }

    /// Changes what is paused with `f` and returns the new value (the caller saves it). Configs
    /// no longer paused are synced at once when the daemon runs (what changed while paused).
    pub(crate) fn change_paused(
        &self,
        app: &App,
        f: impl FnOnce(&mut crate::pause::Paused),
        configs: &[SyncConfig],
    ) -> crate::pause::Paused {
        let mut inner = self.lock();
        let before = inner.paused.clone();
        f(&mut inner.paused);
        let now = inner.paused.clone();
        let background = inner.background;
        drop(inner);
        if background {
            for c in configs
                .iter()
                .filter(|c| c.auto && before.is_paused(&c.id) && !now.is_paused(&c.id))
            {
                let _ = self.request(app, &c.id, RunOptions::default(), "resume", None);
            }
        }
        now
    }

    /// Stops everything at the next safe point: running syncs are cancelled (they stop between
    /// two files, never mid-write), queued ones are answered with a failure, the event streams
    /// end, and no new sync starts.
    pub fn begin_shutdown(&self) {
        let mut inner = self.lock();
        inner.shutting_down = true;
        for e in inner.entries.values_mut() {
            if let Some(c) = &e.cancel {
                c.store(true, Ordering::SeqCst);
            }
        }
        drop(inner);
        let _ = self.shutdown.send(true);
    }

    /// Becomes true when the daemon begins to shut down.
    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    /// Waits until no sync runs (or `timeout` passes); whether it got there.
    pub async fn wait_idle(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.idle.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if !self.lock().entries.values().any(|e| e.running) {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return false;
            }
        }
    }
}

/// The `error_kind` of an engine error.
/// Whether a sync was asked for by a person (by name or with *Sync now*), not by the daemon.
fn is_explicit(trigger: &str) -> bool {
    trigger == "api"
}

pub fn error_kind(e: &SyncError) -> ErrorKind {
    e.kind()
}

#[cfg(test)]
mod tests;
