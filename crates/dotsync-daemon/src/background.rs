//! The daemon's background work: the watcher, one scheduler per `auto` config, and the task that
//! keeps both in line with the configs. Started by [`crate::serve`] only: the CLI's in-process
//! API never syncs by itself.
//!
//! Config changes arrive as `config_changed` events on the hub (whoever made them: the API, the
//! web app); a created or edited `auto` config is watched, scheduled and synced at once, a
//! deleted one is dropped. At start every `auto` config syncs once, which picks up whatever
//! changed while the daemon was not running.

use std::collections::HashMap;

use dotsync_core::SyncConfig;
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;

use crate::App;
use crate::watch::{Msg, WatchOptions, Watcher};

pub(crate) struct Background {
    supervisor: JoinHandle<()>,
    watcher: Watcher,
    notify: crate::notify::Tasks,
}

impl Background {
    pub(crate) fn start(
        app: &App,
        opts: WatchOptions,
        notify: &crate::notify::NotifyOptions,
    ) -> Self {
        app.sync.set_background(true);
        let shutdown = app.sync.shutdown_signal();
        let watcher = crate::watch::start(app.clone(), opts, shutdown.clone());
        let notify = crate::notify::start(app, notify, shutdown.clone());
        // Subscribed before the first look at the configs, so no change falls in between.
        let (_, _, events) = app.events.subscribe(None);
        let supervisor = tokio::spawn(supervise(app.clone(), events, watcher.sender(), shutdown));
        Self {
            supervisor,
            watcher,
            notify,
        }
    }

    pub(crate) async fn stop(self) {
        self.supervisor.abort();
        let _ = self.supervisor.await;
        self.watcher.stop().await;
        self.notify.stop().await;
    }
}

struct Scheduled {
    cfg: SyncConfig,
    task: JoinHandle<()>,
}

impl Drop for Scheduled {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn supervise(
    app: App,
    mut events: broadcast::Receiver<std::sync::Arc<crate::events::Event>>,
    watcher: mpsc::UnboundedSender<Msg>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut scheduled: HashMap<String, Scheduled> = HashMap::new();
    reconcile(&app, &mut scheduled, &watcher, "start").await;
    loop {
        tokio::select! {
            ev = events.recv() => match ev {
                Ok(ev) if ev.kind == "config_changed" => {
                    reconcile(&app, &mut scheduled, &watcher, "config").await;
                }
                Ok(_) => {}
                // Too many events at once (a large sync): look at the configs again, in case a
                // change was among the lost ones.
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    reconcile(&app, &mut scheduled, &watcher, "config").await;
                }
                Err(broadcast::error::RecvError::Closed) => break,
            },
            _ = shutdown.changed() => break,
        }
    }
}

async fn reconcile(
    app: &App,
    scheduled: &mut HashMap<String, Scheduled>,
    watcher: &mpsc::UnboundedSender<Msg>,
    trigger: &'static str,
) {
    let store = app.store.clone();
    let configs = match tokio::task::spawn_blocking(move || store.list_configs()).await {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => {
            tracing::error!("cannot read the configs: {e}");
            return;
        }
        Err(e) => {
            tracing::error!("reading the configs failed: {e}");
            return;
        }
    };
    let current: HashMap<&str, &SyncConfig> = configs.iter().map(|c| (c.id.as_str(), c)).collect();
    scheduled.retain(|id, s| {
        let keep = current
            .get(id.as_str())
            .is_some_and(|c| c.auto && c.applies_to(app.engine.machine()) && **c == s.cfg);
        if !keep && !current.contains_key(id.as_str()) {
            app.sync.forget(id);
        } else if !keep {
            app.sync.config_edited(id);
        }
        keep
    });
    for cfg in &configs {
        if !cfg.auto || !cfg.applies_to(app.engine.machine()) || scheduled.contains_key(&cfg.id) {
            continue;
        }
        let task = tokio::spawn(crate::schedule::schedule_loop(
            app.clone(),
            cfg.clone(),
            app.sync.shutdown_signal(),
        ));
        scheduled.insert(
            cfg.id.clone(),
            Scheduled {
                cfg: cfg.clone(),
                task,
            },
        );
        tracing::debug!(config = %cfg.name, interval_s = cfg.interval_s, "scheduled");
        let _ = app.sync.request(
            app,
            &cfg.id,
            crate::coordinator::RunOptions::default(),
            trigger,
            None,
        );
    }
    let _ = watcher.send(Msg::Configs(configs));
}
