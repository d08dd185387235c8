//! Pause and resume: `GET /v1/pause` (what is paused), `POST /v1/pause`, `/v1/resume` (every
//! config) and `/v1/config/{id}/pause`, `/v1/config/{id}/resume`. See `pause.rs` for what pausing does.

use axum::Json;
use axum::extract::State;

use crate::App;
use crate::error::{ApiError, ErrorBody};
use crate::json::ApiPath;
use crate::pause::Paused;

use dotsync_api::DaemonEvent;
pub use dotsync_api::PauseState;

/// Held from a change of what is paused until it is saved: two changes at once are saved in
/// the order they were made, so the file always holds the last one.
static SAVING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn change(app: &App, f: impl FnOnce(&mut Paused)) -> Result<Json<PauseState>, ApiError> {
    let _saving = SAVING.lock().await;
    let configs = app.blocking(|a| Ok(a.store.list_configs()?)).await?;
    let now = app.sync.change_paused(app, f, &configs);
    // Ids of configs that no longer exist are dropped when saving.
    let mut saved = now.clone();
    saved
        .configs
        .retain(|id| configs.iter().any(|c| &c.id == id));
    let path = Paused::path(&app.layout);
    let to_save = saved.clone();
    tokio::task::spawn_blocking(move || to_save.save(&path))
        .await
        .map_err(ApiError::internal)?
        .map_err(|e| {
            ApiError::internal(format!(
                "cannot write {}: {e}",
                Paused::path(&app.layout).display()
            ))
        })?;
    let state = PauseState {
        all: saved.all,
        configs: saved.configs.into_iter().collect(),
    };
    app.events.emit(&DaemonEvent::Paused(state.clone()));
    for c in &configs {
        let st = app.sync.status_of(c, None, None);
        app.events.emit(&DaemonEvent::Status(st));
    }
    Ok(Json(state))
}

/// What is paused now: every config, or these configs by id. Cheap (no status is computed):
/// `dotsync sync` asks it to know whether to say that a config is paused.
#[utoipa::path(get, path = "/v1/pause", tag = "sync",
    responses((status = 200, body = PauseState), (status = 500, body = ErrorBody)))]
pub async fn pause_state(State(app): State<App>) -> Result<Json<PauseState>, ApiError> {
    let now = app.sync.paused();
    let configs = if now.configs.is_empty() {
        Vec::new()
    } else {
        // Ids of configs deleted since they were paused are not listed.
        let known = app.blocking(|a| Ok(a.store.list_configs()?)).await?;
        now.configs
            .into_iter()
            .filter(|id| known.iter().any(|c| &c.id == id))
            .collect()
    };
    Ok(Json(PauseState {
        all: now.all,
        configs,
    }))
}

/// Pauses every config: the daemon stops syncing by itself (watcher, remote checks, pokes,
/// retries) until `POST /v1/resume`. A sync asked for by name still runs. Survives a restart.
#[utoipa::path(post, path = "/v1/pause", tag = "sync",
    responses((status = 200, body = PauseState), (status = 500, body = ErrorBody)))]
pub async fn pause_all(State(app): State<App>) -> Result<Json<PauseState>, ApiError> {
    change(&app, |p| p.all = true).await
}

/// Resumes every config (also those paused one by one); each syncs at once what changed
/// while it was paused.
#[utoipa::path(post, path = "/v1/resume", tag = "sync",
    responses((status = 200, body = PauseState), (status = 500, body = ErrorBody)))]
pub async fn resume_all(State(app): State<App>) -> Result<Json<PauseState>, ApiError> {
    change(&app, |p| {
        p.all = false;
        p.configs.clear();
    })
    .await
}

/// Pauses one config (by id or name); see `POST /v1/pause`.
#[utoipa::path(post, path = "/v1/config/{id}/pause", tag = "sync",
    params(("id" = String, Path, description = "The config's id or name")),
    responses((status = 200, body = PauseState), (status = 404, body = ErrorBody)))]
pub async fn pause_one(
    State(app): State<App>,
    ApiPath(key): ApiPath<String>,
) -> Result<Json<PauseState>, ApiError> {
    let cfg = app.blocking(move |a| a.config(&key)).await?;
    change(&app, |p| {
        p.configs.insert(cfg.id.clone());
    })
    .await
}

/// Resumes one config (by id or name). While everything is paused (`POST /v1/pause`) it stays
/// paused with the rest: `409`.
#[utoipa::path(post, path = "/v1/config/{id}/resume", tag = "sync",
    params(("id" = String, Path, description = "The config's id or name")),
    responses((status = 200, body = PauseState), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "Every config is paused")))]
pub async fn resume_one(
    State(app): State<App>,
    ApiPath(key): ApiPath<String>,
) -> Result<Json<PauseState>, ApiError> {
    let cfg = app.blocking(move |a| a.config(&key)).await?;
    if app.sync.paused().all {
        return Err(ApiError::conflict(format!(
            "every config is paused, so {} stays paused; `dotsync resume` (or POST /v1/resume) \
             resumes them all",
            cfg.name
        )));
    }
    change(&app, |p| {
        p.configs.remove(&cfg.id);
    })
    .await
}
