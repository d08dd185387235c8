//! The side of the coordinator that acts: the run loop of a config (checks of the watcher's
//! paths, syncs on a blocking thread), and publishing what a run does (NDJSON lines to API
//! callers, daemon events, the recent lines).

use super::*;
use dotsync_api::{DaemonEvent, SyncConflict, SyncFailed, SyncLine};

pub(super) async fn load_config(app: &App, id: &str) -> Option<SyncConfig> {
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

pub(super) async fn run_loop(app: App, id: String) {
    loop {
        match app.sync.next_job(&id) {
            Job::Done => break,
            Job::Drain(q) => {
                let msg = RequestError::ShuttingDown.to_string();
                let cfg = load_config(&app, &id).await;
                fail_subscribers(&app, cfg.as_ref(), &id, &q, ErrorKind::Cancelled, &msg);
            }
            Job::Run(q) => {
                if let Some(cfg) = load_config(&app, &id).await {
                    run(&app, cfg, q).await;
                } else {
                    let msg = format!("config {id} was deleted before its sync could start");
                    fail_subscribers(&app, None, &id, &q, ErrorKind::NotFound, &msg);
                    app.sync.forget_when_done(&id);
                }
            }
            Job::Check { paths, rescan } => {
                let Some(cfg) = load_config(&app, &id).await else {
                    app.sync.forget_when_done(&id);
                    continue;
                };
                let engine = app.engine.clone();
                let cfg2 = cfg.clone();
                let changed =
                    tokio::task::spawn_blocking(move || engine.changed_under(&cfg2, paths))
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

pub(super) async fn run(app: &App, cfg: SyncConfig, q: Queued) {
    let cancel = Arc::new(AtomicBool::new(false));
    app.sync.begin_run(&cfg.id, &q.trigger, cancel.clone());
    publish_status(app, &cfg);
    let subs = Arc::new(q.subscribers);
    let run_id = new_run_id();
    // A sync the daemon starts by itself waits for files to stop changing; one a person asks
    // for runs at once (a file that changes while it is read is held either way). Only `api`
    // is asked for: the sync after a resolution or a restore (`local-edit`) is started by the
    // daemon, and another file of the config may be half saved right then.
    let automatic = q.trigger != "api";
    // The watcher may vouch that nothing changed under the config's paths since its last
    // sync (then the engine reuses that sync's scan); a rescan, or one that is due, walks.
    let force_walk = q.trigger == "rescan" || app.sync.walk_due(&cfg.id);
    let unchanged_since = app.quiet.vouch(&cfg.id).await;
    let opts = SyncOptions {
        allow_mass_delete: q.allow_mass_delete,
        trigger: Trigger::from_name(&q.trigger),
        cancel: Some(cancel),
        rewind: q.rewind,
        settle: if automatic { settle() } else { Duration::ZERO },
        dry_run: false,
        unchanged_since,
        force_walk,
    };
    let (app2, cfg2, subs2, run2) = (app.clone(), cfg.clone(), subs.clone(), run_id.clone());
    let started = Instant::now();
    let joined =
        tokio::task::spawn_blocking(move || execute(&app2, &cfg2, &opts, &subs2, &run2)).await;
    let summary = match joined {
        Ok(s) => s,
        Err(e) => {
            let s = failed_summary(
                &cfg,
                ErrorKind::Internal,
                format!("the sync stopped unexpectedly: {e}"),
            );
            app.sync.finish_run(&cfg, &s);
            publish(app, &subs, &run_id, &SyncEvent::Summary(s.clone()));
            s
        }
    };
    drop(subs);
    let ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
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
            commit = summary.commit.as_deref().map_or("-", short),
            ms,
            "sync ok"
        );
    } else {
        tracing::warn!(
            config = %cfg.name,
            trigger = %q.trigger,
            kind = summary.error_kind.map_or("error", ErrorKind::as_str),
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

pub(super) fn short(c: &str) -> &str {
    c.get(..12).unwrap_or(c)
}

/// Runs the engine and makes the stream well formed whatever happens: a `start` line first and
/// exactly one `summary` line last. The config's status is updated before the summary goes out,
/// so a client that reads the summary and then asks for the status sees the outcome.
pub(super) fn execute(
    app: &App,
    cfg: &SyncConfig,
    opts: &SyncOptions,
    subs: &[mpsc::UnboundedSender<Line>],
    run_id: &str,
) -> SyncSummary {
    let mut saw_start = false;
    let mut seen_summary: Option<SyncSummary> = None;
    let result = app.engine.sync(cfg, opts, &mut |ev: &SyncEvent| match ev {
        SyncEvent::Summary(s) => seen_summary = Some(s.clone()),
        SyncEvent::Start { .. } if saw_start => {}
        other => {
            if !saw_start && !matches!(other, SyncEvent::Start { .. }) {
                publish(app, subs, run_id, &start_event(cfg, opts.trigger));
            }
            saw_start = true;
            publish(app, subs, run_id, other);
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
        publish(app, subs, run_id, &start_event(cfg, opts.trigger));
    }
    app.sync.finish_run(cfg, &summary);
    publish(app, subs, run_id, &SyncEvent::Summary(summary.clone()));
    if !app.short_lived {
        crate::memory::release_free_memory(&app.store);
    }
    summary
}

/// A new run's id: every line of the run carries it.
pub(crate) fn new_run_id() -> String {
    format!("run_{}", dotsync_state::random_hex(8))
}

pub(super) fn start_event(cfg: &SyncConfig, trigger: Trigger) -> SyncEvent {
    SyncEvent::Start {
        config: cfg.name.clone(),
        config_id: cfg.id.clone(),
        remote: cfg.remote.clone(),
        branch: cfg.branch.clone(),
        trigger,
    }
}

pub(super) fn failed_summary(cfg: &SyncConfig, kind: ErrorKind, error: String) -> SyncSummary {
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
pub(super) fn fail_subscribers(
    app: &App,
    cfg: Option<&SyncConfig>,
    id: &str,
    q: &Queued,
    kind: ErrorKind,
    msg: &str,
) {
    if q.subscribers.is_empty() {
        return;
    }
    let placeholder;
    let cfg = if let Some(c) = cfg {
        c
    } else {
        let mut input = dotsync_core::ConfigInput::new(id, "", Vec::new());
        input.auto = false;
        placeholder = input.into_config_unchecked(id.to_owned());
        &placeholder
    };
    let run_id = new_run_id();
    let trigger = Trigger::from_name(&q.trigger);
    publish(app, &q.subscribers, &run_id, &start_event(cfg, trigger));
    let s = failed_summary(cfg, kind, msg.to_owned());
    publish(app, &q.subscribers, &run_id, &SyncEvent::Summary(s));
}

/// Sends one line of run `run_id` to the waiting streams and to the event hub.
pub(super) fn publish(
    app: &App,
    subs: &[mpsc::UnboundedSender<Line>],
    run_id: &str,
    ev: &SyncEvent,
) {
    app.recent.push(ev);
    let line = SyncLine {
        run_id: run_id.to_owned(),
        event: ev.clone(),
    };
    if !subs.is_empty() {
        let mut bytes = match serde_json::to_vec(&line) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!("cannot serialize a sync line: {e}");
                return;
            }
        };
        bytes.push(b'\n');
        let bytes = Bytes::from(bytes);
        for s in subs {
            // A caller that went away only loses its stream; the sync goes on.
            let _ = s.send(bytes.clone());
        }
    }
    if app.short_lived {
        return;
    }
    let extra = match ev {
        SyncEvent::File {
            config,
            path,
            action: FileAction::Conflict,
            detail,
            ..
        } => Some(DaemonEvent::Conflict(SyncConflict {
            config: config.clone(),
            path: path.clone(),
            detail: detail.clone(),
        })),
        SyncEvent::Summary(s) if !s.ok => Some(DaemonEvent::Error(SyncFailed {
            config: s.config.clone(),
            config_id: s.config_id.clone(),
            error: s.error.clone(),
            error_kind: s.error_kind,
        })),
        _ => None,
    };
    app.events.emit(&match ev {
        SyncEvent::Start { .. } => DaemonEvent::SyncStarted(line),
        SyncEvent::Progress { .. } => DaemonEvent::SyncProgress(line),
        SyncEvent::File { .. } => DaemonEvent::File(line),
        SyncEvent::Summary(_) => DaemonEvent::SyncFinished(line),
    });
    if let Some(extra) = extra {
        app.events.emit(&extra);
    }
}

pub(super) fn publish_status(app: &App, cfg: &SyncConfig) {
    if app.short_lived {
        // A CLI command's in-process API: no one can be listening for it.
        return;
    }
    let mut st = app.sync.status_of(cfg, None, None);
    st.failed_files = failed_files(app, cfg);
    if let Ok(facts) = app.engine.summaries()
        && let Some(&(files, bytes)) = facts.files.get(&cfg.id)
    {
        (st.files, st.bytes) = (files, bytes);
    }
    app.events.emit(&DaemonEvent::Status(st));
}
