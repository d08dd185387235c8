//! The seed's sync routes: `POST /v1/sync/{id}` and `POST /v1/sync`, answered with an NDJSON
//! stream of the sync as it runs.

use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::sync::mpsc;
use tokio_stream::StreamExt as _;
use tokio_stream::wrappers::UnboundedReceiverStream;

use crate::App;
use crate::coordinator::{Line, RequestError, RunOptions};
use crate::error::{ApiError, ErrorBody};
use crate::json::ApiPath;

pub use dotsync_api::{SyncLine, SyncRequest};

fn run_options(q: &SyncRequest) -> RunOptions {
    RunOptions {
        allow_mass_delete: q.allow_mass_delete,
        rewind: q.rewind,
        dry_run: q.dry_run,
    }
}

impl From<RequestError> for ApiError {
    fn from(e: RequestError) -> Self {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            crate::error::ErrorCode::Unavailable,
            e.to_string(),
        )
    }
}

/// Reads the optional JSON body: empty or `null` means defaults; otherwise it must be a JSON
/// object.
fn options(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    query: &SyncRequest,
) -> Result<RunOptions, ApiError> {
    let body = body.map_err(crate::json::body_rejection)?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(run_options(query));
    }
    if !crate::json::is_json(headers) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            crate::error::ErrorCode::UnsupportedMediaType,
            "send the body as JSON with the header Content-Type: application/json, or send no body",
        ));
    }
    let req: SyncRequest = if body.trim_ascii() == b"null" {
        SyncRequest::default()
    } else {
        crate::json::from_object(&body)?
    };
    Ok(RunOptions {
        allow_mass_delete: req.allow_mass_delete || query.allow_mass_delete,
        rewind: req.rewind.or(query.rewind),
        dry_run: req.dry_run || query.dry_run,
    })
}

pub(crate) fn ndjson(rx: mpsc::UnboundedReceiver<Line>) -> Response {
    let stream = UnboundedReceiverStream::new(rx).map(Ok::<_, std::convert::Infallible>);
    let mut resp = Body::from_stream(stream).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // Proxies must pass the lines on as they come.
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    resp
}

fn query_options(
    q: Result<Query<SyncRequest>, axum::extract::rejection::QueryRejection>,
) -> Result<SyncRequest, ApiError> {
    match q {
        Ok(Query(q)) => Ok(q),
        Err(e) => Err(ApiError::bad_request(format!(
            "invalid query string: {}; the parameters are allow_mass_delete=true|false, rewind=push-local|take-remote and dry_run=true|false",
            e.body_text()
        ))),
    }
}

/// Syncs one config (by id or name), streaming the sync as NDJSON.
///
/// The answer is `200` with `Content-Type: application/x-ndjson` once the config is found; the
/// lines follow while the sync runs (see `SyncLine`): `start` first, `summary` last. If a sync of
/// the config is already running, this request waits for it and gets the one follow-up run.
/// A client that disconnects does not stop the sync.
#[utoipa::path(post, path = "/v1/sync/{id}", tag = "sync",
    params(("id" = String, Path, description = "The config's id or name"), SyncRequest),
    request_body(content = Option<SyncRequest>, content_type = "application/json"),
    responses(
        (status = 200, description = "One JSON object per line: start, progress, file..., summary",
            content_type = "application/x-ndjson", body = SyncLine),
        (status = 404, body = ErrorBody),
        (status = 503, body = ErrorBody, description = "The daemon is shutting down"),
    ))]
pub async fn sync_one(
    State(app): State<App>,
    ApiPath(key): ApiPath<String>,
    query: Result<Query<SyncRequest>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let allow = options(&headers, body, &query_options(query)?)?;
    let cfg = app.blocking(move |a| a.config(&key)).await?;
    if allow.dry_run {
        return Ok(crate::routes::remote::dry_run_stream(
            &app,
            vec![cfg],
            dry_run_options(allow),
        ));
    }
    let (tx, rx) = mpsc::unbounded_channel();
    app.sync.request(&app, &cfg.id, allow, "api", Some(tx))?;
    Ok(ndjson(rx))
}

/// Syncs every config, one after another, in one NDJSON stream (each config's lines from its
/// `start` to its `summary`). No configs: an empty stream.
#[utoipa::path(post, path = "/v1/sync", tag = "sync",
    params(SyncRequest),
    request_body(content = Option<SyncRequest>, content_type = "application/json"),
    responses(
        (status = 200, description = "Each config's start, progress, file... and summary lines",
            content_type = "application/x-ndjson", body = SyncLine),
        (status = 503, body = ErrorBody, description = "The daemon is shutting down"),
    ))]
pub async fn sync_all(
    State(app): State<App>,
    query: Result<Query<SyncRequest>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let allow = options(&headers, body, &query_options(query)?)?;
    let configs = app.blocking(|a| Ok(a.store.list_configs()?)).await?;
    if allow.dry_run {
        return Ok(crate::routes::remote::dry_run_stream(
            &app,
            configs,
            dry_run_options(allow),
        ));
    }
    // Refuse at once rather than with a stream of failures.
    if app.sync.shutdown_signal().borrow().to_owned() {
        return Err(RequestError::ShuttingDown.into());
    }
    let (out, rx) = mpsc::unbounded_channel::<Line>();
    let app2 = app.clone();
    tokio::spawn(async move {
        for cfg in configs {
            let (tx, mut one) = mpsc::unbounded_channel();
            if app2
                .sync
                .request(&app2, &cfg.id, allow, "api", Some(tx))
                .is_err()
            {
                break;
            }
            // Every config runs to its end even if the client went away: it asked for all.
            while let Some(line) = one.recv().await {
                let _ = out.send(line);
            }
        }
    });
    Ok(ndjson(rx))
}

/// The engine's options for a dry run asked for through the API.
fn dry_run_options(o: RunOptions) -> dotsync_engine::SyncOptions {
    dotsync_engine::SyncOptions {
        allow_mass_delete: o.allow_mass_delete,
        rewind: o.rewind,
        trigger: dotsync_api::Trigger::DryRun,
        dry_run: true,
        ..dotsync_engine::SyncOptions::default()
    }
}
