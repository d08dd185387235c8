//! What a newcomer needs before a config syncs anything: `POST /v1/remote/check` (is this
//! remote usable, and how do its files compare with this machine's), `POST /v1/preview` (what
//! the first sync of a config not yet created would do) and `GET /v1/log` (the daemon's recent
//! sync lines).

use axum::Json;
use axum::extract::State;
use axum::response::Response;
use dotsync_core::{ConfigInput, SyncConfig};
use dotsync_engine::{SyncEvent, SyncOptions};
use serde::Deserialize;
use tokio::sync::mpsc;

use crate::App;
use crate::error::{ApiError, ErrorBody};
use crate::json::{ApiJson, ApiQuery};
use crate::recent::LogLine;
use dotsync_api::SyncLine;

pub use dotsync_api::{CheckRequest, CheckedFile, RemoteCheck};

/// Looks at a remote without changing anything on it or in the home: reachable? empty? a
/// dotsync repository? and which of its files differ from this machine's. A remote that cannot
/// be used is still a `200`, with `ok: false` and the reason.
#[utoipa::path(post, path = "/v1/remote/check", tag = "config", request_body = CheckRequest,
    responses((status = 200, body = RemoteCheck), (status = 400, body = ErrorBody)))]
pub async fn check(
    State(app): State<App>,
    ApiJson(req): ApiJson<CheckRequest>,
) -> Result<Json<RemoteCheck>, ApiError> {
    dotsync_core::remote::validate_remote(&req.remote)
        .map_err(|e| ApiError::invalid("remote", e.to_string()))?;
    let branch = req.branch.unwrap_or_else(|| "main".to_owned());
    let configs: Vec<String> = app
        .store
        .list_configs()?
        .into_iter()
        .filter(|c| {
            c.branch == branch
                && dotsync_core::remote::same_remote(&c.remote, &req.remote, &app.home)
        })
        .map(|c| c.name)
        .collect();
    let engine = app.engine.clone();
    let remote = req.remote.clone();
    let probed = tokio::task::spawn_blocking(move || engine.probe_remote(&remote, &branch))
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(match probed {
        Ok(p) => RemoteCheck {
            ok: true,
            kind: Some(p.kind),
            problem: None,
            message: None,
            commit: p.commit,
            files: p
                .files
                .into_iter()
                .map(|f| CheckedFile {
                    path: f.path,
                    size: f.size,
                    here: f.here,
                })
                .collect(),
            configs,
        },
        Err(e) => RemoteCheck {
            ok: false,
            kind: None,
            problem: Some(e.kind()),
            message: Some(e.to_string()),
            commit: None,
            files: Vec::new(),
            configs,
        },
    }))
}

/// Runs `configs` one after another as dry runs (plan only), as one NDJSON stream of the
/// sync lines (the summaries say `dry_run: true`).
pub(crate) fn dry_run_stream(app: &App, configs: Vec<SyncConfig>, opts: SyncOptions) -> Response {
    let (tx, rx) = mpsc::unbounded_channel();
    let engine = app.engine.clone();
    tokio::task::spawn_blocking(move || {
        for cfg in configs {
            let run_id = crate::coordinator::new_run_id();
            let mut send = |ev: &SyncEvent| {
                let line = SyncLine {
                    run_id: run_id.clone(),
                    event: ev.clone(),
                };
                if let Ok(mut line) = serde_json::to_vec(&line) {
                    line.push(b'\n');
                    let _ = tx.send(axum::body::Bytes::from(line));
                }
            };
            // The summary line (ok: false and the reason) is sent on failure too.
            let _ = engine.sync(&cfg, &opts, &mut send);
        }
    });
    crate::routes::sync::ndjson(rx)
}

/// What the first sync of a config would do, before it is created: the body is the config
/// to create (or, with the `id` of an existing config, that config as edited); nothing is
/// stored, committed, pushed or written. The answer is the sync's NDJSON
/// stream (`summary.dry_run: true`), or a `400` if the config could not be created.
#[utoipa::path(post, path = "/v1/preview", tag = "config", request_body = ConfigInput,
    responses(
        (status = 200, description = "One JSON object per line: start, file..., summary",
            content_type = "application/x-ndjson", body = crate::routes::sync::SyncLine),
        (status = 400, body = ErrorBody),
        (status = 404, description = "`id` names no config", body = ErrorBody)))]
pub async fn preview(
    State(app): State<App>,
    ApiJson(input): ApiJson<ConfigInput>,
) -> Result<Response, ApiError> {
    // With an existing config's id: that config as edited (its records are the base).
    let id = match &input.id {
        Some(id) => app.config(id)?.id,
        None => format!("cfg_{}", dotsync_state::random_hex(8)),
    };
    let cfg = input.validate(id, &app.home)?;
    let others = app.store.list_configs()?;
    dotsync_core::config::check_against_others(&cfg, &others, &app.home)
        .map_err(|e| ApiError::from(dotsync_state::ConfigStoreError::Conflict(e)))?;
    let opts = SyncOptions {
        trigger: dotsync_api::Trigger::DryRun,
        dry_run: true,
        ..SyncOptions::default()
    };
    Ok(dry_run_stream(&app, vec![cfg], opts))
}

/// Which lines of the log to send.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LogQuery {
    /// Only lines with a larger `seq` (0: from the oldest kept).
    #[serde(default)]
    pub after: u64,
    /// At most this many (the newest), 200 when left out, at most 1000.
    #[serde(default)]
    pub limit: Option<usize>,
}

/// The daemon's recent sync lines (the last 1000, kept across restarts; progress left out),
/// oldest first: each sync's start, its files (with the machine whose edit each was) and how it
/// ended.
#[utoipa::path(get, path = "/v1/log", tag = "daemon", params(LogQuery),
    responses((status = 200, body = Vec<LogLine>)))]
pub async fn log(State(app): State<App>, ApiQuery(q): ApiQuery<LogQuery>) -> Json<Vec<LogLine>> {
    let limit = q.limit.unwrap_or(200).min(crate::recent::CAPACITY);
    Json(app.recent.since(q.after, limit))
}
