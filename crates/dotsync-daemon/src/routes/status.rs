//! `GET /v1/status`: the daemon and every config at a glance. Cheap enough for a shell prompt:
//! it reads memory and two small queries, never git or the network.

use std::collections::HashMap;

use axum::Json;
use axum::extract::State;
use serde::Serialize;

use crate::App;
use crate::error::ApiError;
use crate::sync::{ConfigStatus, WatcherStatus};

#[derive(Serialize, utoipa::ToSchema)]
pub struct Status {
    /// The daemon's version.
    pub version: &'static str,
    /// Seconds since the daemon (or the CLI's in-process API) started.
    pub uptime_s: u64,
    pub pid: u32,
    /// Whether configs sync by themselves (watching and scheduling): true in the daemon, false
    /// when the CLI answers without a daemon.
    pub background: bool,
    pub watcher: WatcherStatus,
    /// Every config is paused (`POST /v1/pause`); each config's `paused` says it too.
    pub paused: bool,
    /// This machine's name, as commits carry it and other machines see it.
    pub machine: String,
    pub configs: Vec<ConfigStatus>,
}

/// What the engine remembers across restarts: per config, the last successful sync (unix
/// seconds) and the number of unresolved conflicts. Unreadable records give nothing.
fn stored_facts(app: &App) -> (HashMap<String, i64>, Option<HashMap<String, u64>>) {
    match app.engine.summaries() {
        Ok(s) => (s.last_sync, Some(s.conflicts)),
        Err(e) => {
            tracing::warn!("cannot read the sync records for the status: {e}");
            (HashMap::new(), None)
        }
    }
}

/// The daemon's version and uptime, and per config its state (`idle`, `syncing`, `conflict`,
/// `error`, `offline`), last successful sync, last error, pending local changes and conflicts.
#[utoipa::path(get, path = "/v1/status", tag = "daemon",
    responses((status = 200, body = Status)))]
pub async fn status(State(app): State<App>) -> Result<Json<Status>, ApiError> {
    let configs = app.store.list_configs()?;
    let (last, conflicts) = stored_facts(&app);
    let configs = configs
        .iter()
        .map(|c| {
            let stored_conflicts = conflicts
                .as_ref()
                .map(|m| m.get(&c.id).copied().unwrap_or(0));
            let mut st = app
                .sync
                .status_of(c, last.get(&c.id).copied(), stored_conflicts);
            st.failed_files = crate::sync::failed_files(&app, c);
            st
        })
        .collect();
    Ok(Json(Status {
        version: env!("CARGO_PKG_VERSION"),
        uptime_s: app.started.elapsed().as_secs(),
        pid: std::process::id(),
        background: app.sync.background(),
        watcher: app.sync.watcher_status(),
        paused: app.sync.paused().all,
        machine: app.engine.machine().to_owned(),
        configs,
    }))
}
