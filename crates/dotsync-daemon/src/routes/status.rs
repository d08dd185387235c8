//! `GET /v1/status`: the daemon and every config at a glance. Cheap enough for a shell prompt:
//! it reads memory and two small queries, never git or the network.

use crate::App;
use crate::error::ApiError;
use axum::Json;
use axum::extract::State;

pub use dotsync_api::Status;

/// What the engine remembers across restarts: per config, the last successful sync (unix
/// seconds) and the number of unresolved conflicts. Unreadable records give nothing.
fn stored_facts(app: &App) -> Option<dotsync_engine::Summaries> {
    app.engine
        .summaries()
        .map_err(|e| tracing::warn!("cannot read the sync records for the status: {e}"))
        .ok()
}

/// The daemon's version and uptime, and per config its state (`idle`, `syncing`, `conflict`,
/// `error`, `offline`), last successful sync, last error, pending local changes and conflicts.
#[utoipa::path(get, path = "/v1/status", tag = "daemon",
    responses((status = 200, body = Status)))]
pub async fn status(State(app): State<App>) -> Result<Json<Status>, ApiError> {
    app.blocking(|app| Ok(Json(status_now(app)?))).await
}

fn status_now(app: &App) -> Result<Status, ApiError> {
    let configs = app.store.list_configs()?;
    let facts = stored_facts(app);
    let known = facts.is_some();
    let facts = facts.unwrap_or_default();
    let configs = configs
        .iter()
        .map(|c| {
            let mut st = app.sync.status_of(
                c,
                facts.last_sync.get(&c.id).copied(),
                known.then(|| facts.conflicts.get(&c.id).copied().unwrap_or(0)),
            );
            st.failed_files = crate::coordinator::failed_files(app, c);
            (st.files, st.bytes) = facts.files.get(&c.id).copied().unwrap_or((0, 0));
            if !c.applies_to(app.engine.machine()) {
                st.not_here = Some(dotsync_engine::not_here_message(c, app.engine.machine()));
            }
            st
        })
        .collect();
    Ok(Status {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        uptime_s: app.started.elapsed().as_secs(),
        pid: std::process::id(),
        background: app.sync.background(),
        watcher: app.sync.watcher_status(),
        paused: app.sync.paused().all,
        machine: app.engine.machine().to_owned(),
        configs,
    })
}
