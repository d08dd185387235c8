//! The scheduler: each `auto` config asks its remote every `interval_s` whether it moved.
//!
//! The check is one `git ls-remote` ([`dotsync_engine::Engine::remote_head`]) compared with the
//! commit the config last synced with; only a moved remote, local changes still pending, or a
//! config that has to be rescanned (its watch is degraded) start a sync. A failed sync or check
//! is retried with capped exponential backoff ([`crate::coordinator::backoff`]), and the config shows
//! `offline` or `error` until a retry succeeds. Between two checks the task sleeps: no timer
//! fires for nothing.

use std::time::Duration;

use dotsync_core::SyncConfig;
use dotsync_engine::SyncError;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::App;
use crate::coordinator::ScheduleDecision;

pub(crate) async fn schedule_loop(app: App, cfg: SyncConfig, mut shutdown: watch::Receiver<bool>) {
    let interval = Duration::from_secs(cfg.interval_s.max(1));
    let mut retry_changed = app.sync.retry_changes();
    let mut regular = Instant::now() + interval;
    loop {
        let due = Instant::from_std(app.sync.next_due(&cfg.id, regular.into_std()));
        tokio::select! {
            () = tokio::time::sleep_until(due) => {}
            // A failure set a retry time, or a success cleared it: compute the next one again.
            r = retry_changed.changed() => {
                if r.is_err() {
                    return;
                }
                continue;
            }
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
        regular = Instant::now() + interval;
        match app.sync.schedule_decision(&cfg.id) {
            ScheduleDecision::Skip => {}
            ScheduleDecision::Sync(trigger) => {
                let _ = app.sync.request(
                    &app,
                    &cfg.id,
                    crate::coordinator::RunOptions::default(),
                    trigger,
                    None,
                );
            }
            ScheduleDecision::Check => check(&app, &cfg).await,
        }
    }
}

async fn check(app: &App, cfg: &SyncConfig) {
    let engine = app.engine.clone();
    let c = cfg.clone();
    let r = tokio::task::spawn_blocking(move || {
        let head = engine.remote_head(&c)?;
        let last = engine.last_synced_commit(&c)?;
        Ok::<_, SyncError>((head, last))
    })
    .await;
    match r {
        Ok(Ok((head, last))) => {
            if head != last {
                tracing::debug!(config = %cfg.name, ?head, ?last, "the remote moved");
                let _ = app.sync.request(
                    app,
                    &cfg.id,
                    crate::coordinator::RunOptions::default(),
                    "schedule",
                    None,
                );
            }
        }
        Ok(Err(e)) => {
            tracing::warn!(
                config = %cfg.name,
                "checking the remote failed: {}",
                crate::coordinator::one_line(&e.to_string())
            );
            app.sync.check_failed(cfg, &e);
            let st = app.sync.status_of(cfg, None, None);
            app.events.emit(&dotsync_api::DaemonEvent::Status(st));
        }
        Err(e) => tracing::error!(config = %cfg.name, "the remote check stopped: {e}"),
    }
}
