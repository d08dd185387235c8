//! Conflicts, history, old versions and restore: what a person needs to see every version and
//! get any of them back.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use dotsync_core::SyncConfig;
use dotsync_core::paths::{Coverage, HomePath, RepoPath, resolve_query_path};
use dotsync_engine::{Resolution, SyncError};
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
                let code = e.kind().into();
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, code, e.to_string())
            }
            SyncError::Rewound { .. } | SyncError::MassDelete { .. } => {
                ApiError::conflict(e.to_string())
            }
            // Something in the home is in the way, or the file changed meanwhile: the person
            // can act (or simply try again), so it is no server error.
            SyncError::Apply {
                source:
                    ref a @ (dotsync_engine::ApplyError::ChangedSinceScan
                    | dotsync_engine::ApplyError::SymlinkInPath(_)
                    | dotsync_engine::ApplyError::NotADirectory(_)
                    | dotsync_engine::ApplyError::DirectoryInTheWay),
                ..
            } => {
                let hint = if matches!(a, dotsync_engine::ApplyError::ChangedSinceScan) {
                    "; try again"
                } else {
                    "; move it away, then try again"
                };
                ApiError::conflict(format!("{e}{hint}"))
            }
            SyncError::Apply {
                source: dotsync_engine::ApplyError::OutsideConfig,
                ..
            } => ApiError::bad_request(e.to_string()),
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
    let rel = if path.starts_with('/') || path == "~" || path.starts_with("~/") {
        let abs = resolve_query_path(path, &app.home)
            .map_err(|e| ApiError::invalid("path", e.to_string()))?;
        HomePath::from_abs(&abs, &app.home)
            .map_err(|e| ApiError::invalid("path", e.to_string()))?
            .repo
    } else {
        RepoPath::parse(path).map_err(|e| ApiError::invalid("path", e.to_string()))?
    };
    let cfg = if let Some(key) = config {
        app.config(key)?
    } else {
        let abs = rel.under(&app.home);
        app.store
            .list_configs()?
            .into_iter()
            .find(|c| Coverage::of(c, &app.home).is_ok_and(|cov| cov.covers_file(&abs)))
            .ok_or_else(|| ApiError::not_found(format!("no config syncs ~/{rel}")))?
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

pub use dotsync_api::{
    ConflictInfo, FileStatus, HistoryEntry, Keep, ResolveRequest as ResolveBody, Resolved,
    RestoreRequest as RestoreBody, Restored, Side,
};
use dotsync_api::{ConflictResolved, DaemonEvent, RestoredEvent};

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ConfigQuery {
    /// A config's id or name; all configs when omitted.
    pub config: Option<String>,
}

/// The open conflicts.
#[utoipa::path(get, path = "/v1/conflicts", tag = "sync", params(ConfigQuery),
    responses((status = 200, description = "Open conflicts, oldest first", body = Vec<ConflictInfo>),
        (status = 404, body = ErrorBody, description = "No such config")))]
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
    pub side: Side,
}

/// One side of a conflict, as raw bytes.
#[utoipa::path(get, path = "/v1/conflicts/content", tag = "sync", params(SideQuery),
    responses((status = 200, description = "The bytes of that side", content_type = "application/octet-stream",
        body = crate::openapi::Binary),
        (status = 400, body = ErrorBody, description = "An invalid path or side"),
        (status = 404, body = ErrorBody, description = "No such config or conflict, or that side has no file")))]
pub async fn conflict_content(
    State(app): State<App>,
    ApiQuery(q): ApiQuery<SideQuery>,
) -> Result<Response, ApiError> {
    if q.side == Side::Unknown {
        return Err(ApiError::invalid(
            "side",
            "side must be local, remote or base",
        ));
    }
    let (cfg, path) = locate(&app, q.config.as_deref(), &q.path)?;
    let engine = app.engine.clone();
    let side = q.side.as_str();
    let bytes = blocking(move || Ok(engine.conflict_content(&cfg, &path, side)?)).await?;
    match bytes {
        Some(b) => Ok(bytes_response(b)),
        None => Err(ApiError::not_found(format!(
            "the {} side of {} has no file (it was deleted there)",
            q.side, q.path
        ))),
    }
}

/// Resolves a conflict: keep this machine's version, the other's, or an edited result.
#[utoipa::path(post, path = "/v1/conflicts/resolve", tag = "sync", request_body = ResolveBody,
    responses((status = 200, description = "Resolved; the next sync carries the result", body = Resolved),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "Something in the home is in the way of the file, or it changed meanwhile")))]
pub async fn resolve(
    State(app): State<App>,
    ApiJson(body): ApiJson<ResolveBody>,
) -> Result<Json<Resolved>, ApiError> {
    let how = match (body.keep, body.content) {
        (Keep::Local, None) => Resolution::Local,
        (Keep::Remote, None) => Resolution::Remote,
        (Keep::Content, Some(c)) => Resolution::Content(c.into_bytes()),
        (Keep::Content, None) => {
            return Err(ApiError::invalid(
                "content",
                "keep: \"content\" needs the edited result in \"content\"",
            ));
        }
        (Keep::Local | Keep::Remote, Some(_)) => {
            return Err(ApiError::invalid(
                "content",
                "\"content\" goes only with keep: \"content\"",
            ));
        }
        (Keep::Unknown, _) => {
            return Err(ApiError::invalid(
                "keep",
                "keep must be local, remote or content",
            ));
        }
    };
    let (cfg, path) = locate(&app, body.config.as_deref(), &body.path)?;
    let engine = app.engine.clone();
    let (c2, p2) = (cfg.clone(), path.clone());
    blocking(move || Ok(engine.resolve(&c2, &p2, how)?)).await?;
    app.events
        .emit(&DaemonEvent::ConflictResolved(ConflictResolved {
            config: cfg.name.clone(),
            config_id: cfg.id.clone(),
            path: path.clone(),
            keep: body.keep,
        }));
    app.after_local_edit(&cfg);
    Ok(Json(Resolved {
        resolved: true,
        config: cfg.name,
        path,
    }))
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
    responses((status = 200, description = "Versions, newest first", body = Vec<HistoryEntry>),
        (status = 400, body = ErrorBody, description = "An invalid path"),
        (status = 404, body = ErrorBody, description = "No such config, or no config syncs the path")))]
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
    responses((status = 200, description = "The bytes", content_type = "application/octet-stream",
        body = crate::openapi::Binary),
        (status = 400, body = ErrorBody, description = "An invalid path or rev"),
        (status = 404, body = ErrorBody, description = "No such config, file or version")))]
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

/// Puts an old version back into the home; it then syncs like any edit.
#[utoipa::path(post, path = "/v1/restore", tag = "sync", request_body = RestoreBody,
    responses((status = 200, description = "Restored", body = Restored),
        (status = 400, body = ErrorBody, description = "An invalid path or rev"),
        (status = 404, body = ErrorBody, description = "No such config, file or version"),
        (status = 409, body = ErrorBody, description = "Something in the home is in the way of the file, or it changed meanwhile")))]
pub async fn restore(
    State(app): State<App>,
    ApiJson(body): ApiJson<RestoreBody>,
) -> Result<Json<Restored>, ApiError> {
    let (cfg, path) = locate(&app, body.config.as_deref(), &body.path)?;
    let engine = app.engine.clone();
    let (c2, p2, rev) = (cfg.clone(), path.clone(), body.rev.clone());
    let bytes = blocking(move || Ok(engine.restore(&c2, &p2, &rev)?)).await?;
    app.events.emit(&DaemonEvent::Restored(RestoredEvent {
        config: cfg.name.clone(),
        config_id: cfg.id.clone(),
        path: path.clone(),
        rev: body.rev.clone(),
        bytes,
    }));
    app.after_local_edit(&cfg);
    Ok(Json(Restored {
        restored: true,
        config: cfg.name,
        path,
        rev: body.rev,
        bytes,
    }))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct FilesQuery {
    /// The config's id or name.
    pub config: String,
}

/// The files a config covers, with their state (synced, modified, new, deleted, conflict).
#[utoipa::path(get, path = "/v1/files", tag = "sync", params(FilesQuery),
    responses((status = 200, description = "Files and their state", body = Vec<FileStatus>),
        (status = 404, body = ErrorBody)))]
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
                crate::coordinator::RunOptions::default(),
                "local-edit",
                None,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The names of the properties of schema `name` in the API's document, and the required ones.
    fn schema_fields(name: &str) -> (Vec<String>, Vec<String>) {
        let doc = serde_json::to_value(crate::openapi_document()).unwrap();
        let schema = &doc["components"]["schemas"][name];
        let mut props: Vec<String> = schema["properties"]
            .as_object()
            .unwrap_or_else(|| panic!("no schema {name}"))
            .keys()
            .cloned()
            .collect();
        props.sort();
        let mut required: Vec<String> = schema["required"]
            .as_array()
            .map(|r| r.iter().map(|v| v.as_str().unwrap().to_owned()).collect())
            .unwrap_or_default();
        required.sort();
        (props, required)
    }

    /// The documented schema has exactly the fields the engine's type serializes, and requires
    /// every one (they are always present, `null` where optional).
    fn assert_documents(name: &str, value: impl serde::Serialize) {
        let v = serde_json::to_value(value).unwrap();
        let mut keys: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        let (props, required) = schema_fields(name);
        assert_eq!(
            keys, props,
            "the schema {name} lists other fields than the engine sends"
        );
        assert_eq!(keys, required, "the schema {name} must require every field");
    }

    #[test]
    fn the_documented_schemas_match_what_the_engine_serializes() {
        assert_documents(
            "Conflict",
            ConflictInfo {
                config: "c".into(),
                config_id: "cfg_1".into(),
                path: ".zshrc".into(),
                reason: dotsync_api::ConflictReason::BothChanged,
                detected_at: 1,
                local_exists: true,
                remote_exists: true,
                base_exists: true,
                remote_commit: None,
                remote_machine: None,
                binary: false,
            },
        );
        assert_documents(
            "HistoryEntry",
            HistoryEntry {
                commit: "c".into(),
                time: 1,
                machine: "m".into(),
                message: "x".into(),
                size: None,
                blob: None,
            },
        );
        assert_documents(
            "FileStatus",
            FileStatus {
                path: ".zshrc".into(),
                size: Some(1),
                mode: Some("644".into()),
                kind: Some(dotsync_core::plan::Kind::File),
                state: dotsync_engine::FileState::Synced,
            },
        );
    }
}
