//! Extractors whose every rejection speaks the API's error shape: a JSON body ([`ApiJson`]) and
//! URL path parameters ([`ApiPath`]).

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Largest request body accepted (1 MiB).
pub const MAX_BODY: usize = 1 << 20;

/// Like `axum::Json`, but: 415 when the body is not `application/json`, 413 over [`MAX_BODY`],
/// and 400 (never 422) with serde's own words for malformed JSON, unknown, missing or mistyped
/// fields.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        if !is_json(req.headers()) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                crate::error::ErrorCode::UnsupportedMediaType,
                "send the body as JSON with the header Content-Type: application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(body_rejection)?;
        Ok(ApiJson(from_object(&bytes)?))
    }
}

/// Parses a body that must be one JSON object. serde would also read a struct from an array of
/// its fields in order (`["dots", ["~/.zshrc"]]`); the API documents objects only, so anything
/// but an object is refused before serde sees it.
pub fn from_object<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first.is_some() && first != Some(&b'{') {
        return Err(ApiError::bad_request(
            "invalid JSON body: the body must be a JSON object ({...})",
        ));
    }
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
}

/// Whether a request says its body is JSON (`application/json` or `application/*+json`).
pub fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| {
            let m = m.trim().to_ascii_lowercase();
            m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
        })
}

/// A body that could not be read, in the API's error shape: 413 over [`MAX_BODY`], else 400.
#[allow(
    clippy::needless_pass_by_value,
    reason = "a `map_err` adapter: takes the rejection as `map_err` hands it over"
)]
pub fn body_rejection(rej: BytesRejection) -> ApiError {
    if rej.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            crate::error::ErrorCode::PayloadTooLarge,
            format!("the request body is larger than {MAX_BODY} bytes"),
        )
    } else {
        ApiError::bad_request(format!("could not read the request body: {rej}"))
    }
}

/// Like `axum::extract::Path`, but a parameter that does not decode (invalid percent-encoding or
/// UTF-8) is a 400 in the API's error shape, not axum's plain-text rejection.
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(v)) => Ok(ApiPath(v)),
            Err(rej) if rej.status().is_client_error() => Err(ApiError::bad_request(format!(
                "the URL does not decode: {}; percent-encode it as UTF-8",
                rej.body_text()
            ))),
            Err(rej) => Err(ApiError::internal(rej.body_text())),
        }
    }
}

/// Like `axum::extract::Query`, but a malformed query (a missing, unknown or mistyped parameter)
/// answers 400 in the API's JSON error shape instead of plain text.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(ApiQuery(v)),
            Err(rej) => Err(ApiError::bad_request(format!(
                "invalid query: {}",
                rej.body_text()
                    .trim_start_matches("Failed to deserialize query string: ")
            ))),
        }
    }
}
