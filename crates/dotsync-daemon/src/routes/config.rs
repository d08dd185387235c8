//! Config CRUD: the seed's `/v1/config` routes.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use dotsync_core::{ConfigInput, SyncConfig};

use crate::App;
use crate::error::{ApiError, ErrorBody};
use crate::json::{ApiJson, ApiPath};

pub use dotsync_api::Created;
use dotsync_api::{ConfigChange, DaemonEvent};

impl App {
    /// The config with this id or name, or a 404.
    pub fn config(&self, key: &str) -> Result<SyncConfig, ApiError> {
        self.store
            .get_config(key)?
            .ok_or_else(|| ApiError::no_config(key))
    }

    /// Runs `f` (the state database, the file system, git) on a thread where blocking is
    /// allowed: a handler waiting for the database while a sync commits must not hold up the
    /// runtime's threads, which serve every other request.
    pub async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&App) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let app = self.clone();
        tokio::task::spawn_blocking(move || f(&app))
            .await
            .map_err(ApiError::internal)?
    }
}

/// All configs.
#[utoipa::path(get, path = "/v1/config", operation_id = "list_configs", tag = "config",
    responses((status = 200, body = Vec<SyncConfig>)))]
pub async fn list(State(app): State<App>) -> Result<Json<Vec<SyncConfig>>, ApiError> {
    Ok(Json(app.blocking(|a| Ok(a.store.list_configs()?)).await?))
}

/// Creates a config; the server assigns its id.
#[utoipa::path(post, path = "/v1/config", tag = "config", request_body = ConfigInput,
    responses((status = 201, body = Created), (status = 400, body = ErrorBody)))]
pub async fn create(
    State(app): State<App>,
    ApiJson(input): ApiJson<ConfigInput>,
) -> Result<impl IntoResponse, ApiError> {
    if input.id.is_some() {
        return Err(ApiError::invalid(
            "id",
            "the server assigns ids; leave \"id\" out when creating a config",
        ));
    }
    let id = format!("cfg_{}", dotsync_state::random_hex(8));
    let cfg = input.validate(id.clone(), &app.home)?;
    let cfg = app
        .blocking(move |a| {
            a.store.create_config(&cfg, &a.home)?;
            Ok(cfg)
        })
        .await?;
    tracing::info!(config = %cfg.name, id = %cfg.id, "config created");
    app.events
        .emit(&DaemonEvent::ConfigChanged(ConfigChange::Created {
            config: cfg,
        }));
    Ok((StatusCode::CREATED, Json(Created { id })))
}

/// One config, by id or name.
#[utoipa::path(get, path = "/v1/config/{id}", operation_id = "show_config", tag = "config",
    params(("id" = String, Path, description = "The config's id or name")),
    responses((status = 200, body = SyncConfig), (status = 404, body = ErrorBody)))]
pub async fn show(
    State(app): State<App>,
    ApiPath(key): ApiPath<String>,
) -> Result<Json<SyncConfig>, ApiError> {
    Ok(Json(app.blocking(move |a| a.config(&key)).await?))
}

/// Replaces a config (omitted optional fields take their defaults).
#[utoipa::path(put, path = "/v1/config/{id}", operation_id = "replace_config", tag = "config", request_body = ConfigInput,
    params(("id" = String, Path, description = "The config's id or name")),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn replace(
    State(app): State<App>,
    ApiPath(key): ApiPath<String>,
    ApiJson(input): ApiJson<ConfigInput>,
) -> Result<StatusCode, ApiError> {
    let cfg = app
        .blocking(move |a| {
            let existing = a.config(&key)?;
            let cfg = input.validate(existing.id.clone(), &a.home)?;
            a.store.replace_config(&cfg, &a.home)?;
            Ok(cfg)
        })
        .await?;
    tracing::info!(config = %cfg.name, id = %cfg.id, "config replaced");
    app.events
        .emit(&DaemonEvent::ConfigChanged(ConfigChange::Updated {
            config: cfg,
        }));
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes a config. Files in the home and the remote's history are left as they are.
#[utoipa::path(delete, path = "/v1/config/{id}", tag = "config",
    params(("id" = String, Path, description = "The config's id or name")),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete(
    State(app): State<App>,
    ApiPath(key): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let existing = app
        .blocking(move |a| {
            let existing = a.config(&key)?;
            if !a.store.delete_config(&existing.id)? {
                return Err(ApiError::no_config(&key));
            }
            Ok(existing)
        })
        .await?;
    tracing::info!(config = %existing.name, id = %existing.id, "config deleted");
    app.events
        .emit(&DaemonEvent::ConfigChanged(ConfigChange::Deleted {
            id: existing.id,
            name: existing.name,
        }));
    Ok(StatusCode::NO_CONTENT)
}
