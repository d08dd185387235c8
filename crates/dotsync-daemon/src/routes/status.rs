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
    pub configs: Vec<ConfigStatus>,
}

/// What the state database remembers across restarts: per config, the last successful sync
/// (unix seconds) and the number of unresolved conflicts. Missing tables (an older schema)
/// simply give nothing.
fn stored_facts(app: &App) -> (HashMap<String, i64>, Option<HashMap<String, u64>>) {
    let conn = app.store.conn();
    let mut last = HashMap::new();
    if let Ok(mut st) = conn
        .prepare("SELECT config_id, last_sync_at FROM sync_state WHERE last_sync_at IS NOT NULL")
        && let Ok(rows) = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
    {
        last.extend(rows.flatten());
    }
    let mut conflicts = None;
    if let Ok(mut st) = conn.prepare("SELECT config_id, COUNT(*) FROM conflicts GROUP BY config_id")
        && let Ok(rows) = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
    {
        conflicts = Some(
            rows.flatten()
                .map(|(id, n)| (id, n.max(0) as u64))
                .collect::<HashMap<_, _>>(),
        );
    }
    (last, conflicts)
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
        configs,
    }))
}
