//! Conflicts, history, old versions and restore: what a person needs to see every version and
//! get any of them back.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use dotsync_core::SyncConfig;
use dotsync_core::paths::{HomePath, Ignore, RepoPath, covers, resolve_query_path};
use dotsync_engine::{ConflictInfo, FileStatus, HistoryEntry, Resolution, SyncError};
use serde::Deserialize;

use crate::App;
use crate::error::{ApiError, ErrorBody};
use crate::json::{ApiJson, ApiQuery};

impl From<SyncError> for ApiError {
    fn from(e: SyncError) -> Self {
        match e {
            SyncError::NotFound(m) => ApiError::not_found(m),
            SyncError::Invalid(m) => ApiError::bad_request(m),
            SyncError::Offline { .. } | SyncError::Remote { .. } => {
                let kind = e.kind();
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, kind, e.to_string())
            }
            SyncError::Rewound { .. } => ApiError::conflict(e.to_string()),
            SyncError::MassDelete { .. } => ApiError::conflict(e.to_string()),
            other => ApiError::internal(other),
        }
    }
}

/// Runs blocking engine work off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(ApiError::internal)?
}

/// Finds the config and repository path a request means. `path` may be `~/x`, an absolute
/// path in the home, or a repository path (`.config/nvim/init.lua`); without `config`, the
/// first config that covers the path is taken.
pub fn locate(
    app: &App,
    config: Option<&str>,
    path: &str,
) -> Result<(SyncConfig, String), ApiError> {
    let rel = if path.starts_with('/') || path.starts_with("~/") {
        let abs = resolve_query_path(path, &app.home)
            .map_err(|e| ApiError::invalid("path", e.to_string()))?;
        HomePath::from_abs(&abs, &app.home)
            .map_err(|e| ApiError::invalid("path", e.to_string()))?
            .repo
    } else {
        RepoPath::parse(path).map_err(|e| ApiError::invalid("path", e.to_string()))?
    };
    let cfg = match config {
        Some(key) => app.config(key)?,
        None => {
            let abs = rel.under(&app.home);
            app.store
                .list_configs()?
                .into_iter()
                .find(|c| {
                    Ignore::new(&c.ignore).is_ok_and(|ig| covers(&c.paths, &ig, &abs, &app.home))
                })
                .ok_or_else(|| ApiError::not_found(format!("no config syncs ~/{rel}")))?
        }
    };
    Ok((cfg, rel.to_string()))
}

fn bytes_response(bytes: Vec<u8>) -> Response {
    let binary = bytes.contains(&0);
    let mut resp = Body::from(bytes).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(
        "x-dotsync-binary",
        HeaderValue::from_static(if binary { "true" } else { "false" }),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ConfigQuery {
    /// A config's id or name; all configs when omitted.
    pub config: Option<String>,
}

/// The open conflicts.
#[utoipa::path(get, path = "/v1/conflicts", tag = "sync", params(ConfigQuery),
    responses((status = 200, description = "Open conflicts, oldest first")))]
pub async fn conflicts(
    State(app): State<App>,
    ApiQuery(q): ApiQuery<ConfigQuery>,
) -> Result<Json<Vec<ConflictInfo>>, ApiError> {
    let cfgs = match &q.config {
        Some(k) => vec![app.config(k)?],
        None => app.store.list_configs()?,
    };
    let engine = app.engine.clone();
    Ok(Json(blocking(move || Ok(engine.conflicts(&cfgs)?)).await?))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct SideQuery {
    pub config: Option<String>,
    /// The conflicted file (`~/.zshrc` or `.zshrc`).
    pub path: String,
    /// `local` (this machine's file now), `remote` (the other machine's) or `base`.
    pub side: String,
}

/// One side of a conflict, as raw bytes.
#[utoipa::path(get, path = "/v1/conflicts/content", tag = "sync", params(SideQuery),
    responses((status = 200, description = "The bytes of that side", content_type = "application/octet-stream"),
        (status = 404, body = ErrorBody)))]
pub async fn conflict_content(
    State(app): State<App>,
    ApiQuery(q): ApiQuery<SideQuery>,
) -> Result<Response, ApiError> {
    let (cfg, path) = locate(&app, q.config.as_deref(), &q.path)?;
    let engine = app.engine.clone();
    let side = q.side.clone();
    let bytes = blocking(move || Ok(engine.conflict_content(&cfg, &path, &side)?)).await?;
    match bytes {
        Some(b) => Ok(bytes_response(b)),
        None => Err(ApiError::not_found(format!(
            "the {} side of {} has no file (it was deleted there)",
            q.side, q.path
        ))),
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveBody {
    pub config: Option<String>,
    pub path: String,
    /// `local`, `remote` or `content`.
    pub keep: String,
    /// The edited result, with `keep: "content"`.
    pub content: Option<String>,
}

/// Resolves a conflict: keep this machine's version, the other's, or an edited result.
#[utoipa::path(post, path = "/v1/conflicts/resolve", tag = "sync", request_body = ResolveBody,
    responses((status = 200, description = "Resolved; the next sync carries the result"),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn resolve(
    State(app): State<App>,
    ApiJson(body): ApiJson<ResolveBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let how = match (body.keep.as_str(), body.content) {
        ("local", None) => Resolution::Local,
        ("remote", None) => Resolution::Remote,
        ("content", Some(c)) => Resolution::Content(c.into_bytes()),
        ("content", None) => {
            return Err(ApiError::invalid(
                "content",
                "keep: \"content\" needs the edited result in \"content\"",
            ));
        }
        ("local" | "remote", Some(_)) => {
            return Err(ApiError::invalid(
                "content",
                "\"content\" goes only with keep: \"content\"",
            ));
        }
        (other, _) => {
            return Err(ApiError::invalid(
                "keep",
                format!("keep must be local, remote or content, not {other:?}"),
            ));
        }
    };
    let (cfg, path) = locate(&app, body.config.as_deref(), &body.path)?;
    let engine = app.engine.clone();
    let (c2, p2) = (cfg.clone(), path.clone());
    blocking(move || Ok(engine.resolve(&c2, &p2, how)?)).await?;
    app.events.emit(
        "conflict_resolved",
        serde_json::json!({"config": cfg.name, "config_id": cfg.id, "path": path, "keep": body.keep}),
    );
    app.after_local_edit(&cfg);
    Ok(Json(
        serde_json::json!({"resolved": true, "config": cfg.name, "path": path}),
    ))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PathQuery {
    pub config: Option<String>,
    /// `~/.zshrc`, an absolute path in the home, or `.zshrc`.
    pub path: String,
}

/// Every version of a file in the remote's history, newest first.
#[utoipa::path(get, path = "/v1/history", tag = "sync", params(PathQuery),
    responses((status = 200, description = "Versions: commit, time, machine, message, size (null: deleted)")))]
pub async fn history(
    State(app): State<App>,
    ApiQuery(q): ApiQuery<PathQuery>,
) -> Result<Json<Vec<HistoryEntry>>, ApiError> {
    let (cfg, path) = locate(&app, q.config.as_deref(), &q.path)?;
    let engine = app.engine.clone();
    Ok(Json(
        blocking(move || Ok(engine.history(&cfg, &path)?)).await?,
    ))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ContentQuery {
    pub config: Option<String>,
    pub path: String,
    /// A commit id from the history; the file in the home now when omitted.
    pub rev: Option<String>,
}

/// A file's bytes at a version (or now).
#[utoipa::path(get, path = "/v1/content", tag = "sync", params(ContentQuery),
    responses((status = 200, description = "The bytes", content_type = "application/octet-stream"),
        (status = 404, body = ErrorBody)))]
pub async fn content(
    State(app): State<App>,
    ApiQuery(q): ApiQuery<ContentQuery>,
) -> Result<Response, ApiError> {
    let (cfg, path) = locate(&app, q.config.as_deref(), &q.path)?;
    let engine = app.engine.clone();
    let rev = q.rev.clone();
    let bytes = blocking(move || Ok(engine.content(&cfg, &path, rev.as_deref())?)).await?;
    Ok(bytes_response(bytes))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RestoreBody {
    pub config: Option<String>,
    pub path: String,
    /// The commit whose version to bring back.
    pub rev: String,
}

/// Puts an old version back into the home; it then syncs like any edit.
#[utoipa::path(post, path = "/v1/restore", tag = "sync", request_body = RestoreBody,
    responses((status = 200, description = "Restored"), (status = 404, body = ErrorBody)))]
pub async fn restore(
    State(app): State<App>,
    ApiJson(body): ApiJson<RestoreBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (cfg, path) = locate(&app, body.config.as_deref(), &body.path)?;
    let engine = app.engine.clone();
    let (c2, p2, rev) = (cfg.clone(), path.clone(), body.rev.clone());
    let bytes = blocking(move || Ok(engine.restore(&c2, &p2, &rev)?)).await?;
    app.events.emit(
        "restored",
        serde_json::json!({"config": cfg.name, "config_id": cfg.id, "path": path, "rev": body.rev, "bytes": bytes}),
    );
    app.after_local_edit(&cfg);
    Ok(Json(
        serde_json::json!({"restored": true, "config": cfg.name, "path": path, "rev": body.rev, "bytes": bytes}),
    ))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct FilesQuery {
    /// The config's id or name.
    pub config: String,
}

/// The files a config covers, with their state (synced, modified, new, deleted, conflict).
#[utoipa::path(get, path = "/v1/files", tag = "sync", params(FilesQuery),
    responses((status = 200, description = "Files and their state"), (status = 404, body = ErrorBody)))]
pub async fn files(
    State(app): State<App>,
    ApiQuery(q): ApiQuery<FilesQuery>,
) -> Result<Json<Vec<FileStatus>>, ApiError> {
    let cfg = app.config(&q.config)?;
    let engine = app.engine.clone();
    Ok(Json(blocking(move || Ok(engine.files(&cfg)?)).await?))
}

impl App {
    /// A resolve or restore changed what the next sync of `cfg` must carry: the daemon syncs
    /// it right away (a CLI command without a daemon leaves that to `dotsync sync`).
    pub(crate) fn after_local_edit(&self, cfg: &SyncConfig) {
        if self.sync.background() && cfg.auto {
            let _ = self.sync.request(
                self,
                &cfg.id,
                crate::sync::RunOptions::default(),
                "local-edit",
                None,
            );
        }
    }
}
