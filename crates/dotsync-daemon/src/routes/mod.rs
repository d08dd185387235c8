use axum::Router;
use axum::http::{Method, StatusCode, Uri};
use axum::routing::get;

use crate::App;
use crate::error::ApiError;

pub mod config;
pub mod events;
pub mod file;
pub mod fs;
pub mod health;
pub mod history;
pub mod key;
pub mod machines;
pub mod pause;
pub mod remote;
pub mod session;
pub mod settings;
pub mod status;
pub mod sync;
pub mod ui;

pub fn router() -> Router<App> {
    Router::new()
        .route("/v1/health", get(health::health))
        .route("/v1/openapi.json", get(health::openapi))
        .route("/v1/config", get(config::list).post(config::create))
        .route(
            "/v1/config/{id}",
            get(config::show)
                .put(config::replace)
                .delete(config::delete),
        )
        .route(
            "/v1/config/{id}/pause",
            axum::routing::post(pause::pause_one),
        )
        .route(
            "/v1/config/{id}/resume",
            axum::routing::post(pause::resume_one),
        )
        .route("/v1/key", get(key::show))
        .route("/v1/key/init", axum::routing::post(key::init))
        .route("/v1/key/export", axum::routing::post(key::export))
        .route("/v1/key/import", axum::routing::post(key::import))
        .route("/v1/key/trust", axum::routing::post(key::trust))
        .route("/v1/pause", axum::routing::post(pause::pause_all))
        .route("/v1/resume", axum::routing::post(pause::resume_all))
        .route("/v1/remote/check", axum::routing::post(remote::check))
        .route("/v1/preview", axum::routing::post(remote::preview))
        .route("/v1/log", get(remote::log))
        .route("/v1/file/{*name}", get(file::which))
        .route("/v1/conflicts", get(history::conflicts))
        .route("/v1/conflicts/content", get(history::conflict_content))
        .route(
            "/v1/conflicts/resolve",
            axum::routing::post(history::resolve),
        )
        .route("/v1/history", get(history::history))
        .route("/v1/content", get(history::content))
        .route("/v1/restore", axum::routing::post(history::restore))
        .route("/v1/files", get(history::files))
        .route("/v1/sync", axum::routing::post(sync::sync_all))
        .route("/v1/sync/{id}", axum::routing::post(sync::sync_one))
        .route("/v1/status", get(status::status))
        .route("/v1/machines", get(machines::machines))
        .route("/v1/events", get(events::events))
        .route("/", get(ui::index))
        .route("/index.html", get(ui::index))
        .route("/app.js", get(ui::app_js))
        .route("/app.css", get(ui::app_css))
        .route("/favicon.svg", get(ui::favicon))
        .route("/v1/session", get(session::show))
        .route(
            "/v1/session/code",
            axum::routing::post(session::create_code),
        )
        .route("/v1/session/login", get(session::login))
        .route("/v1/session/logout", axum::routing::post(session::logout))
        .route("/v1/fs", get(fs::list))
        .route("/v1/settings", get(settings::show).put(settings::replace))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
}

async fn not_found(uri: Uri) -> ApiError {
    ApiError::not_found(format!(
        "no such route {}; GET /v1/openapi.json lists the API",
        uri.path()
    ))
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        crate::error::ErrorCode::MethodNotAllowed,
        format!("{method} is not allowed on {}", uri.path()),
    )
}
