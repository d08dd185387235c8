//! `GET /v1/file/{name}`: which configs include a file.

use axum::Json;
use axum::extract::State;
use dotsync_core::paths::{self, Coverage};

use crate::App;
use crate::error::{ApiError, ErrorBody};
use crate::json::ApiPath;

/// The ids of the configs whose paths cover a file.
///
/// `name` is a URL-encoded path (`~/.zshrc`, `/home/me/.zshrc`) or a bare file name. A path is
/// covered when it is a listed file or lies inside a listed directory and no ignore pattern
/// matches it. A bare name (no `/`) is looked up as `~/name` and also matches a listed path
/// whose last component is that name.
#[utoipa::path(get, path = "/v1/file/{*name}", tag = "config",
    params(("name" = String, Path, description = "URL-encoded path or bare file name")),
    responses((status = 200, body = Vec<String>), (status = 400, body = ErrorBody)))]
pub async fn which(
    State(app): State<App>,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<Vec<String>>, ApiError> {
    let bare = !name.contains('/');
    let abs = paths::resolve_query_path(&name, &app.home)
        .map_err(|e| ApiError::invalid("name", e.to_string()))?;
    let mut ids = Vec::new();
    for cfg in app.blocking(|a| Ok(a.store.list_configs()?)).await? {
        let covered = Coverage::of(&cfg, &app.home)
            .map_err(ApiError::internal)?
            .covers_file(&abs)
            || (bare
                && cfg.paths.iter().any(|p| {
                    paths::resolve_config_path(p, &app.home)
                        .is_ok_and(|r| r.file_name().is_some_and(|f| f == name.as_str()))
                }));
        if covered {
            ids.push(cfg.id);
        }
    }
    Ok(Json(ids))
}
