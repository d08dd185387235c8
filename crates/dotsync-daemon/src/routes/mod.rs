//! Every route of the daemon, registered together with its OpenAPI operation.
//!
//! [`api`] is the one list: each `routes!(...)` takes handlers annotated with
//! `#[utoipa::path]` and adds both the axum route and the operation, so a route cannot exist
//! without its entry in `GET /v1/openapi.json` (nor an entry without its route). Handlers sharing
//! a path go in one `routes!`.

use axum::Router;
use axum::http::{Method, StatusCode, Uri};
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::App;
use crate::error::ApiError;
use crate::openapi::ApiDoc;

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

/// The routes and their OpenAPI operations, before `openapi.rs` adds the shared answers
/// (`openapi::document`) and before the fallbacks and security layers (`App::router`).
pub(crate) fn api() -> OpenApiRouter<App> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(health::health))
        .routes(routes!(health::openapi))
        .routes(routes!(config::list, config::create))
        .routes(routes!(config::show, config::replace, config::delete))
        .routes(routes!(pause::pause_one))
        .routes(routes!(pause::resume_one))
        .routes(routes!(key::show))
        .routes(routes!(key::init))
        .routes(routes!(key::export))
        .routes(routes!(key::import))
        .routes(routes!(key::trust))
        .routes(routes!(pause::pause_state, pause::pause_all))
        .routes(routes!(pause::resume_all))
        .routes(routes!(remote::check))
        .routes(routes!(remote::preview))
        .routes(routes!(remote::log))
        .routes(routes!(file::which))
        .routes(routes!(history::conflicts))
        .routes(routes!(history::conflict_content))
        .routes(routes!(history::resolve))
        .routes(routes!(history::history))
        .routes(routes!(history::content))
        .routes(routes!(history::restore))
        .routes(routes!(history::files))
        .routes(routes!(sync::sync_all))
        .routes(routes!(sync::sync_one))
        .routes(routes!(status::status))
        .routes(routes!(machines::machines))
        .routes(routes!(events::events))
        .routes(routes!(ui::index))
        .routes(routes!(ui::index_html))
        .routes(routes!(ui::app_js))
        .routes(routes!(ui::app_css))
        .routes(routes!(ui::favicon))
        .routes(routes!(session::show))
        .routes(routes!(session::create_code))
        .routes(routes!(session::login))
        .routes(routes!(session::logout))
        .routes(routes!(fs::list))
        .routes(routes!(settings::show, settings::replace))
}

/// The routes with the JSON answers for an unknown path or method (no security layers yet).
pub fn router() -> Router<App> {
    let (router, _) = api().split_for_parts();
    router
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
