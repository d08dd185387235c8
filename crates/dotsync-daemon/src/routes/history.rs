//! Conflicts, history, old versions and restore: what a person needs to see every version and
//! get any of them back.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use dotsync_core::SyncConfig;
use dotsync_core::paths::{Coverage, HomePath, RepoPath, resolve_query_path};
use dotsync_engine::{ConflictInfo, FileStatus, HistoryEntry, Resolution, SyncError};
use serde::{Deserialize, Serialize};

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
    let cfg = match config {
        Some(key) => app.config(key)?,
        None => {
            let abs = rel.under(&app.home);
            app.store
                .list_configs()?
                .into_iter()
                .find(|c| Coverage::of(c, &app.home).is_ok_and(|cov| cov.covers_file(&abs)))
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

/// An open conflict (the engine's `ConflictInfo`, as the API serializes it).
#[derive(utoipa::ToSchema)]
#[schema(as = Conflict)]
#[allow(dead_code)]
pub struct ConflictDoc {
    /// The config's name.
    pub config: String,
    pub config_id: String,
    /// The repository path (`~/` + it in the home).
    pub path: String,
    /// `both_changed`, `delete_vs_change` or `no_base`.
    pub reason: String,
    /// Unix seconds.
    pub detected_at: i64,
    pub local_exists: bool,
    pub remote_exists: bool,
    pub base_exists: bool,
    /// The remote commit whose version conflicts.
    #[schema(required = true)]
    pub remote_commit: Option<String>,
    /// The machine that made the other side ("theirs"), when known.
    #[schema(required = true)]
    pub remote_machine: Option<String>,
    /// Whether either side is binary (no text view, no edited result).
    pub binary: bool,
}

/// One version of a file in the history (the engine's `HistoryEntry`).
#[derive(utoipa::ToSchema)]
#[schema(as = HistoryEntry)]
#[allow(dead_code)]
pub struct HistoryEntryDoc {
    pub commit: String,
    /// Unix seconds.
    pub time: i64,
    /// The machine that made the commit.
    pub machine: String,
    pub message: String,
    /// Bytes; `null` where this commit deleted the file.
    #[schema(required = true)]
    pub size: Option<u64>,
    /// The git blob id; `null` where this commit deleted the file.
    #[schema(required = true)]
    pub blob: Option<String>,
}

/// The state of one covered file (the engine's `FileStatus`).
#[derive(utoipa::ToSchema)]
#[schema(as = FileStatus)]
#[allow(dead_code)]
pub struct FileStatusDoc {
    /// The repository path.
    pub path: String,
    /// Bytes, when the file exists here.
    #[schema(required = true)]
    pub size: Option<u64>,
    /// Octal permission bits, such as `644`, when the file exists here.
    #[schema(required = true)]
    pub mode: Option<String>,
    /// `file` or `symlink`, when the file exists here.
    #[schema(required = true, value_type = Option<FileKindDoc>)]
    pub kind: Option<String>,
    #[schema(value_type = FileStateDoc)]
    pub state: String,
}

#[derive(utoipa::ToSchema)]
#[schema(as = FileKind)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum FileKindDoc {
    File,
    Symlink,
}

#[derive(utoipa::ToSchema)]
#[schema(as = FileState)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum FileStateDoc {
    Synced,
    Modified,
    New,
    Deleted,
    Conflict,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Resolved {
    /// Always true.
    pub resolved: bool,
    /// The config's name.
    pub config: String,
    /// The repository path.
    pub path: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Restored {
    /// Always true.
    pub restored: bool,
    /// The config's name.
    pub config: String,
    /// The repository path.
    pub path: String,
    /// The commit whose version was brought back.
    pub rev: String,
    /// The size of the restored file.
    pub bytes: u64,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ConfigQuery {
    /// A config's id or name; all configs when omitted.
    pub config: Option<String>,
}

/// The open conflicts.
#[utoipa::path(get, path = "/v1/conflicts", tag = "sync", params(ConfigQuery),
    responses((status = 200, description = "Open conflicts, oldest first", body = Vec<ConflictDoc>),
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
    #[param(value_type = SideDoc)]
    pub side: String,
}

/// A side of a conflict.
#[derive(utoipa::ToSchema)]
#[schema(as = ConflictSide)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum SideDoc {
    Local,
    Remote,
    Base,
}

/// What to keep when resolving a conflict.
#[derive(utoipa::ToSchema)]
#[schema(as = Keep)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum KeepDoc {
    Local,
    Remote,
    Content,
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
    #[schema(value_type = KeepDoc)]
    pub keep: String,
    /// The edited result, with `keep: "content"`.
    pub content: Option<String>,
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
    responses((status = 200, description = "Versions, newest first", body = Vec<HistoryEntryDoc>),
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
    app.events.emit(
        "restored",
        serde_json::json!({"config": cfg.name, "config_id": cfg.id, "path": path, "rev": body.rev, "bytes": bytes}),
    );
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
    responses((status = 200, description = "Files and their state", body = Vec<FileStatusDoc>),
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
#[allow(clippy::unwrap_used)]
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
    fn assert_documents(name: &str, value: impl Serialize) {
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
                reason: "both_changed".into(),
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
