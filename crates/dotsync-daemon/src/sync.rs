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
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use dotsync_core::SyncConfig;
use dotsync_engine::{FileAction, SyncError, SyncEvent, SyncOptions, SyncSummary};
use serde::Serialize;
use tokio::sync::{Notify, mpsc, watch};

use crate::App;

/// One line of a sync's NDJSON stream, serialized once and shared by every stream.
pub type Line = Bytes;

/// What a config is doing, as `GET /v1/status` reports it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SyncState {
    /// Nothing to do, or waiting for the next check.
    #[default]
    Idle,
    /// A sync runs now.
    Syncing,
    /// The last sync finished, but files are in conflict until resolved.
    Conflict,
    /// The last sync failed; retried with backoff. `last_error` says why.
    Error,
    /// The remote cannot be reached; retried with backoff, recovers by itself.
    Offline,
}

/// How the daemon notices local changes of a config.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum WatchMode {
    /// Not watched: `auto` is off, or no daemon runs (the CLI in-process).
    #[default]
    Off,
    /// Watched with file system notifications.
    Watching,
    /// Notifications are not reliable for this config (the kernel's watch limit); the daemon
    /// rescans it every `interval_s` instead. The text says why and what to do.
    Rescan(String),
}

/// The status of one config.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ConfigStatus {
    pub id: String,
    pub name: String,
    /// Whether the daemon syncs it by itself.
    pub auto: bool,
    pub state: SyncState,
    /// What started the running sync (`api`, `watch`, `schedule`, `retry`, `start`, `config`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trigger: Option<String>,
    /// Unix seconds of the last successful sync.
    pub last_sync: Option<i64>,
    /// Why the last sync or remote check failed; cleared by the next success.
    pub last_error: Option<String>,
    /// `offline`, `git`, `mass_delete`, `io`, ...; with `last_error`.
    pub last_error_kind: Option<String>,
    /// Local files changed since the last successful sync and not yet pushed.
    pub pending_changes: u64,
    /// Files in conflict, waiting to be resolved.
    pub conflicts: u64,
    /// The commit the config last synced with.
    pub commit: Option<String>,
    /// `watching`, `rescan` (the watch limit was hit; changes are found by rescanning every
    /// interval) or `off`.
    pub watch: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub watch_detail: Option<String>,
    /// Seconds until the next retry of a failed sync.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_in_s: Option<u64>,
    /// Failed attempts in a row.
    pub failures: u32,
    /// The person paused it (or paused everything): the daemon does not sync it by itself
    /// until it is resumed; a sync asked for by name still runs.
    pub paused: bool,
    /// Files the home could not take (or the remote holds in a form this machine cannot),
    /// each with its reason, listed until a sync succeeds for it.
    pub failed_files: Vec<FailedFile>,
    /// Files of the config on this machine, as of its last sync (0 before the first).
    pub files: u64,
    /// Their total size in bytes, as of the last sync.
    pub bytes: u64,
    /// Set when the config does not apply to this machine (its `machines` do not name it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_here: Option<String>,
}

/// The files of `cfg` that failed at its last sync (one small query of the engine's records).
pub(crate) fn failed_files(app: &App, cfg: &SyncConfig) -> Vec<FailedFile> {
    app.engine
        .failures(cfg)
        .unwrap_or_default()
        .into_iter()
        .map(|f| FailedFile {
            path: f.path,
            reason: f.reason,
            since: f.since,
        })
        .collect()
}

/// A file that failed at the last sync.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FailedFile {
    /// Repository-relative path (`~/` + path in the home).
    pub path: String,
    pub reason: String,
    /// Unix seconds of the first sync it failed in.
    pub since: i64,
}

/// The watcher's own health.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct WatcherStatus {
    /// Whether file system notifications are running.
    pub running: bool,
    /// Directories watched.
    pub watches: usize,
    /// How often the kernel's event queue overflowed, each answered by a rescan of every
    /// watched config.
    pub overflows: u64,
    /// Unix seconds of the last overflow.
    pub last_overflow: Option<i64>,
    /// A problem of the watcher itself, such as the kernel's watch limit.
    pub error: Option<String>,
}

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

/// How long a file must have stopped changing before a sync the daemon starts by itself pushes
/// it (`DOTSYNC_SETTLE_MS`, default 1000): a save that pauses half way is not a version.
pub fn settle() -> Duration {
    std::env::var("DOTSYNC_SETTLE_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .map_or(Duration::from_millis(1000), Duration::from_millis)
}

/// How often an `auto` config is looked at whole even when the watcher saw nothing
/// (`DOTSYNC_FULL_SCAN_S`, default 600).
pub fn full_scan_every() -> Duration {
    std::env::var("DOTSYNC_FULL_SCAN_S")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .map_or(Duration::from_secs(600), Duration::from_secs)
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
    /// When the last successful sync (each one looks at every file) finished.
    last_scan: Option<Instant>,
    last_error: Option<String>,
    last_error_kind: Option<String>,
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
}

impl Default for Coordinator {
    fn default() -> Self {
        Self {
            inner: Mutex::default(),
            shutdown: watch::channel(false).0,
            retry: watch::channel(0).0,
            idle: Notify::new(),
        }
    }
}

/// The delay before retry number `failures` (1-based) of a config checked every `interval_s`:
/// doubling from the interval (at most 30 s) up to the interval or 5 minutes, whichever is
/// longer.
/// When to try again after a failure: soon and backing off for a remote that cannot be
/// reached (it comes back by itself), slowly for everything that needs the person (a missing
/// repository, a refused key, a rewound branch): at most every five minutes, or the interval.
pub fn retry_delay(interval_s: u64, failures: u32, transient: bool) -> Duration {
    if transient {
        backoff(interval_s, failures)
    } else {
        Duration::from_secs(interval_s.max(300))
    }
}

pub fn backoff(interval_s: u64, failures: u32) -> Duration {
    let base = interval_s.clamp(1, 30);
    let cap = interval_s.max(300);
    let exp = failures.saturating_sub(1).min(20);
    Duration::from_secs(base.saturating_mul(1u64 << exp).min(cap))
}

enum Job {
    Run(Queued),
    Check { paths: Vec<PathBuf>, rescan: bool },
    Drain(Queued),
    Done,
}

impl Coordinator {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The map holds plain data; a panic elsewhere cannot leave it half updated in a way
        // that matters more than refusing every later request would.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
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
        let mut inner = self.lock();
        if inner.shutting_down {
            return Err(RequestError::ShuttingDown);
        }
        // Paused: only a sync asked for by name runs; whatever else wanted one is caught up
        // with by the sync that resuming starts.
        if inner.paused.is_paused(cfg_id) && !is_explicit(trigger) {
            tracing::debug!(config = cfg_id, trigger, "paused: no sync");
            return Ok(());
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
                q.trigger = trigger.to_owned();
            }
            q.subscribers.push(s);
        }
        self.ensure_loop(app, cfg_id, e);
        Ok(())
    }

    /// The watcher reports paths that changed under `cfg_id` (after its quiet period). With
    /// `rescan`, the config syncs even if no path looks changed.
    pub fn local_changes(&self, app: &App, cfg_id: &str, paths: Vec<PathBuf>, rescan: bool) {
        let mut inner = self.lock();
        if inner.shutting_down {
            return;
        }
        let paused = inner.paused.is_paused(cfg_id);
        let e = inner.entries.entry(cfg_id.to_owned()).or_default();
        e.dirty.extend(paths);
        e.rescan |= rescan;
        if !paused {
            self.ensure_loop(app, cfg_id, e);
        }
    }

    fn ensure_loop(&self, app: &App, cfg_id: &str, e: &mut Entry) {
        if !e.running {
            e.running = true;
            tokio::spawn(run_loop(app.clone(), cfg_id.to_owned()));
        }
    }

    fn next_job(&self, id: &str) -> Job {
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
        // Paused: local changes wait (they stay in `dirty`) for the sync resuming starts.
        if !paused && (!e.dirty.is_empty() || e.rescan) {
            let rescan = std::mem::take(&mut e.rescan);
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
        if e.in_backoff(Instant::now()) {
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
            e.last_scan = Some(Instant::now());
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
                e.retry_at = Some(Instant::now() + settle().max(Duration::from_millis(200)));
                self.retry.send_modify(|n| *n += 1);
            }
            return;
        }
        let in_flight: Vec<_> = e.in_flight.drain().collect();
        e.pending.extend(in_flight);
        if s.error_kind == Some("cancelled") {
            e.state = e.state_before;
            return;
        }
        let transient = s.error_kind == Some("offline");
        e.state = if transient {
            SyncState::Offline
        } else {
            SyncState::Error
        };
        e.last_error = s.error.clone();
        e.last_error_kind = s.error_kind.map(str::to_owned);
        e.failures = e.failures.saturating_add(1);
        e.retry_at = Some(Instant::now() + retry_delay(cfg.interval_s, e.failures, transient));
        self.retry.send_modify(|n| *n += 1);
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
        e.last_error_kind = Some(error_kind(err).to_owned());
        e.failures = e.failures.saturating_add(1);
        e.retry_at = Some(Instant::now() + retry_delay(cfg.interval_s, e.failures, transient));
        self.retry.send_modify(|n| *n += 1);
    }

    /// Changes whenever a retry time is set or cleared.
    pub(crate) fn retry_changes(&self) -> watch::Receiver<u64> {
        self.retry.subscribe()
    }

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
        if e.running || e.state == SyncState::Syncing || e.in_backoff(Instant::now()) {
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
            .is_some_and(|t| Instant::now().saturating_duration_since(t) >= full_scan_every())
        {
            return ScheduleDecision::Sync("rescan");
        }
        ScheduleDecision::Check
    }

    /// When the scheduler should next wake for `id`, given its regular time `regular`.
    pub(crate) fn next_due(&self, id: &str, regular: Instant) -> Instant {
        let inner = self.lock();
        match inner.entries.get(id).and_then(|e| e.retry_at) {
            Some(t) => t,
            None => regular,
        }
    }

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
        let now = Instant::now();
        let (watch, watch_detail) = match (&e.watch, inner.background && cfg.auto) {
            (_, false) => ("off", None),
            (WatchMode::Off, true) => ("off", None),
            (WatchMode::Watching, true) => ("watching", None),
            (WatchMode::Rescan(why), true) => ("rescan", Some(why.clone())),
        };
        let pending: HashSet<&PathBuf> = e.pending.iter().chain(&e.in_flight).collect();
        ConfigStatus {
            id: cfg.id.clone(),
            name: cfg.name.clone(),
            auto: cfg.auto,
            state,
            trigger: e.trigger.clone(),
            last_sync: match (e.last_ok, stored_last_sync) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            },
            last_error: e.last_error.clone(),
            last_error_kind: e.last_error_kind.clone(),
            pending_changes: pending.len() as u64,
            conflicts,
            commit: e.commit.clone(),
            watch,
            watch_detail,
            retry_in_s: e
                .retry_at
                .filter(|t| *t > now)
                .map(|t| t.duration_since(now).as_secs_f64().ceil() as u64),
            failures: e.failures,
            failed_files: Vec::new(),
            files: 0,
            not_here: None,
            bytes: 0,
            paused: inner.paused.is_paused(&cfg.id),
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

pub(crate) enum ScheduleDecision {
    /// A sync runs or is queued; nothing to do.
    Skip,
    /// Sync without asking the remote first (retry, pending changes, rescan).
    Sync(&'static str),
    /// Ask the remote whether it moved.
    Check,
}

/// The `error_kind` of an engine error.
/// Whether a sync was asked for by a person (by name or with *Sync now*), not by the daemon.
fn is_explicit(trigger: &str) -> bool {
    trigger == "api"
}

pub fn error_kind(e: &SyncError) -> &'static str {
    e.kind()
}

async fn load_config(app: &App, id: &str) -> Option<SyncConfig> {
    let store = app.store.clone();
    let id = id.to_owned();
    match tokio::task::spawn_blocking(move || store.get_config(&id)).await {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => {
            tracing::error!("cannot read a config from the state database: {e}");
            None
        }
        Err(e) => {
            tracing::error!("reading a config failed: {e}");
            None
        }
    }
}

async fn run_loop(app: App, id: String) {
    loop {
        match app.sync.next_job(&id) {
            Job::Done => break,
            Job::Drain(q) => {
                let msg = RequestError::ShuttingDown.to_string();
                let cfg = load_config(&app, &id).await;
                fail_subscribers(&app, cfg.as_ref(), &id, q, "cancelled", &msg);
            }
            Job::Run(q) => match load_config(&app, &id).await {
                Some(cfg) => run(&app, cfg, q).await,
                None => {
                    let msg = format!("config {id} was deleted before its sync could start");
                    fail_subscribers(&app, None, &id, q, "not_found", &msg);
                    app.sync.forget_when_done(&id);
                }
            },
            Job::Check { paths, rescan } => {
                let Some(cfg) = load_config(&app, &id).await else {
                    app.sync.forget_when_done(&id);
                    continue;
                };
                let engine = app.engine.clone();
                let cfg2 = cfg.clone();
                let changed =
                    tokio::task::spawn_blocking(move || changed_paths(&engine, &cfg2, paths))
                        .await
                        .unwrap_or_default();
                if app.sync.after_check(&id, changed, rescan) {
                    let trigger = if rescan { "rescan" } else { "watch" };
                    let q = Queued {
                        allow_mass_delete: false,
                        rewind: None,
                        trigger: trigger.to_owned(),
                        subscribers: Vec::new(),
                    };
                    run(&app, cfg, q).await;
                }
            }
        }
    }
    app.sync.idle.notify_waiters();
}

impl Coordinator {
    fn forget_when_done(&self, id: &str) {
        let mut inner = self.lock();
        if let Some(e) = inner.entries.get_mut(id) {
            e.queued = None;
            e.dirty.clear();
            e.pending.clear();
            e.rescan = false;
        }
    }
}

/// The paths among `paths` whose content differs from what the engine last synced. A directory
/// stands for every file below it (its files may have appeared before the watch on it did).
fn changed_paths(
    engine: &dotsync_engine::Engine,
    cfg: &SyncConfig,
    paths: Vec<PathBuf>,
) -> Vec<PathBuf> {
    /// A directory dropped into a watched tree is looked into up to this many entries; beyond
    /// that it counts as changed as a whole.
    const MAX_WALK: usize = 100_000;
    let mut out = Vec::new();
    for p in paths {
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.is_dir() => {
                let mut seen = 0;
                if walk_changed(engine, cfg, &p, &mut out, &mut seen, MAX_WALK).is_err() {
                    out.push(p);
                }
            }
            _ => {
                if !engine.is_unchanged(cfg, &p) {
                    out.push(p);
                }
            }
        }
    }
    out
}

fn walk_changed(
    engine: &dotsync_engine::Engine,
    cfg: &SyncConfig,
    dir: &Path,
    out: &mut Vec<PathBuf>,
    seen: &mut usize,
    max: usize,
) -> Result<(), ()> {
    let rd = std::fs::read_dir(dir).map_err(|_| ())?;
    for entry in rd.flatten() {
        *seen += 1;
        if *seen > max {
            return Err(());
        }
        let p = entry.path();
        match entry.file_type() {
            Ok(t) if t.is_dir() => walk_changed(engine, cfg, &p, out, seen, max)?,
            _ => {
                if !engine.is_unchanged(cfg, &p) {
                    out.push(p);
                }
            }
        }
    }
    Ok(())
}

async fn run(app: &App, cfg: SyncConfig, q: Queued) {
    let cancel = Arc::new(AtomicBool::new(false));
    app.sync.begin_run(&cfg.id, &q.trigger, cancel.clone());
    publish_status(app, &cfg);
    let subs = Arc::new(q.subscribers);
    // A sync the daemon starts by itself waits for files to stop changing; one a person asks
    // for runs at once (a file that changes while it is read is held either way). Only `api`
    // is asked for: the sync after a resolution or a restore (`local-edit`) is started by the
    // daemon, and another file of the config may be half saved right then.
    let automatic = q.trigger != "api";
    let opts = SyncOptions {
        allow_mass_delete: q.allow_mass_delete,
        trigger: q.trigger.clone(),
        cancel: Some(cancel),
        rewind: q.rewind,
        settle: if automatic { settle() } else { Duration::ZERO },
        dry_run: false,
    };
    let (app2, cfg2, subs2) = (app.clone(), cfg.clone(), subs.clone());
    let started = Instant::now();
    let joined = tokio::task::spawn_blocking(move || execute(&app2, &cfg2, &opts, &subs2)).await;
    let summary = match joined {
        Ok(s) => s,
        Err(e) => {
            let s = failed_summary(
                &cfg,
                "internal",
                format!("the sync stopped unexpectedly: {e}"),
            );
            app.sync.finish_run(&cfg, &s);
            publish(app, &subs, &SyncEvent::Summary(s.clone()));
            s
        }
    };
    drop(subs);
    let ms = started.elapsed().as_millis() as u64;
    if summary.ok {
        tracing::info!(
            config = %cfg.name,
            trigger = %q.trigger,
            pushed = summary.pushed,
            pulled = summary.pulled,
            merged = summary.merged,
            deleted = summary.deleted,
            conflicts = summary.conflicts,
            failed = summary.failed,
            commit = summary.commit.as_deref().map(short).unwrap_or("-"),
            ms,
            "sync ok"
        );
    } else {
        tracing::warn!(
            config = %cfg.name,
            trigger = %q.trigger,
            kind = summary.error_kind.unwrap_or("error"),
            ms,
            "sync failed: {}",
            one_line(summary.error.as_deref().unwrap_or("no reason given"))
        );
    }
    publish_status(app, &cfg);
    crate::notify::after_sync(app, &cfg, &summary);
}

/// Git's multi-line messages as one log line.
pub(crate) fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn short(c: &str) -> &str {
    c.get(..12).unwrap_or(c)
}

/// Runs the engine and makes the stream well formed whatever happens: a `start` line first and
/// exactly one `summary` line last. The config's status is updated before the summary goes out,
/// so a client that reads the summary and then asks for the status sees the outcome.
fn execute(
    app: &App,
    cfg: &SyncConfig,
    opts: &SyncOptions,
    subs: &[mpsc::UnboundedSender<Line>],
) -> SyncSummary {
    let mut saw_start = false;
    let mut seen_summary: Option<SyncSummary> = None;
    let result = app.engine.sync(cfg, opts, &mut |ev: &SyncEvent| match ev {
        SyncEvent::Summary(s) => seen_summary = Some(s.clone()),
        SyncEvent::Start { .. } if saw_start => {}
        other => {
            if !saw_start && !matches!(other, SyncEvent::Start { .. }) {
                publish(app, subs, &start_event(cfg, &opts.trigger));
            }
            saw_start = true;
            publish(app, subs, other);
        }
    });
    let summary = match result {
        Ok(s) => s,
        Err(e) => match seen_summary {
            Some(s) if !s.ok => s,
            _ => failed_summary(cfg, error_kind(&e), e.to_string()),
        },
    };
    if !saw_start {
        publish(app, subs, &start_event(cfg, &opts.trigger));
    }
    app.sync.finish_run(cfg, &summary);
    publish(app, subs, &SyncEvent::Summary(summary.clone()));
    crate::memory::release_free_memory(&app.store);
    summary
}

fn start_event(cfg: &SyncConfig, trigger: &str) -> SyncEvent {
    SyncEvent::Start {
        config: cfg.name.clone(),
        config_id: cfg.id.clone(),
        remote: cfg.remote.clone(),
        branch: cfg.branch.clone(),
        trigger: trigger.to_owned(),
    }
}

fn failed_summary(cfg: &SyncConfig, kind: &'static str, error: String) -> SyncSummary {
    SyncSummary {
        config: cfg.name.clone(),
        config_id: cfg.id.clone(),
        ok: false,
        error: Some(error),
        error_kind: Some(kind),
        ..SyncSummary::default()
    }
}

/// Answers the callers of a run that will not happen with a well-formed stream.
fn fail_subscribers(
    app: &App,
    cfg: Option<&SyncConfig>,
    id: &str,
    q: Queued,
    kind: &'static str,
    msg: &str,
) {
    if q.subscribers.is_empty() {
        return;
    }
    let placeholder;
    let cfg = match cfg {
        Some(c) => c,
        None => {
            placeholder = SyncConfig {
                id: id.to_owned(),
                name: id.to_owned(),
                paths: Vec::new(),
                ignore: Vec::new(),
                remote: String::new(),
                branch: String::new(),
                direction: Default::default(),
                on_conflict: Default::default(),
                auto: false,
                interval_s: 60,
                notify: true,
                structured_merge: true,
                merge_formats: Default::default(),
                machines: Vec::new(),
                encrypt: Vec::new(),
                per_machine: Vec::new(),
            };
            &placeholder
        }
    };
    publish(app, &q.subscribers, &start_event(cfg, &q.trigger));
    let s = failed_summary(cfg, kind, msg.to_owned());
    publish(app, &q.subscribers, &SyncEvent::Summary(s));
}

/// Sends one event to the waiting streams and to the event hub.
fn publish(app: &App, subs: &[mpsc::UnboundedSender<Line>], ev: &SyncEvent) {
    app.recent.push(ev);
    let value = match serde_json::to_value(ev) {
        Ok(v) => v,
        Err(e) => {
            tracing::error!("cannot serialize a sync event: {e}");
            return;
        }
    };
    if !subs.is_empty() {
        let mut line = value.to_string().into_bytes();
        line.push(b'\n');
        let line = Bytes::from(line);
        for s in subs {
            // A caller that went away only loses its stream; the sync goes on.
            let _ = s.send(line.clone());
        }
    }
    let kind = match ev {
        SyncEvent::Start { .. } => "sync_started",
        SyncEvent::Progress { .. } => "sync_progress",
        SyncEvent::File { .. } => "file",
        SyncEvent::Summary(_) => "sync_finished",
    };
    match ev {
        SyncEvent::File {
            config,
            path,
            action: FileAction::Conflict,
            detail,
            ..
        } => {
            app.events.emit(kind, value);
            app.events.emit(
                "conflict",
                serde_json::json!({"config": config, "path": path, "detail": detail}),
            );
        }
        SyncEvent::Summary(s) if !s.ok => {
            let err = serde_json::json!({
                "config": s.config, "config_id": s.config_id,
                "error": s.error, "error_kind": s.error_kind,
            });
            app.events.emit(kind, value);
            app.events.emit("error", err);
        }
        _ => {
            app.events.emit(kind, value);
        }
    }
}

fn publish_status(app: &App, cfg: &SyncConfig) {
    let mut st = app.sync.status_of(cfg, None, None);
    st.failed_files = failed_files(app, cfg);
    if let Ok(facts) = app.engine.summaries()
        && let Some(&(files, bytes)) = facts.files.get(&cfg.id)
    {
        (st.files, st.bytes) = (files, bytes);
    }
    if let Ok(v) = serde_json::to_value(st) {
        app.events.emit("status", v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_the_interval_and_is_capped() {
        assert_eq!(backoff(1, 1), Duration::from_secs(1));
        assert_eq!(backoff(1, 2), Duration::from_secs(2));
        assert_eq!(backoff(1, 4), Duration::from_secs(8));
        assert_eq!(backoff(1, 30), Duration::from_secs(300));
        assert_eq!(backoff(60, 1), Duration::from_secs(30));
        assert_eq!(backoff(60, 5), Duration::from_secs(300));
        assert_eq!(backoff(3600, 10), Duration::from_secs(3600));
        assert_eq!(backoff(0, 0), Duration::from_secs(1));
    }

    #[test]
    fn a_config_the_watcher_saw_nothing_of_is_still_looked_at_whole_now_and_then() {
        let c = Coordinator::default();
        let decide = |ago: Duration| {
            c.lock().entries.insert(
                "cfg".into(),
                Entry {
                    watch: WatchMode::Watching,
                    last_scan: Instant::now().checked_sub(ago),
                    ..Entry::default()
                },
            );
            match c.schedule_decision("cfg") {
                ScheduleDecision::Check => "check",
                ScheduleDecision::Sync(t) => t,
                ScheduleDecision::Skip => "skip",
            }
        };
        assert_eq!(decide(Duration::from_secs(5)), "check");
        assert_eq!(decide(full_scan_every() + Duration::from_secs(1)), "rescan");
    }
}
