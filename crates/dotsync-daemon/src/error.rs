//! The one error shape of the API: `{"error": {"code": "...", "message": "...", "field": "..."}}`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// An API failure: a status, a stable machine-readable code and a sentence for a person.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<&'static str>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable code: `bad_request`, `invalid`, `duplicate_name`, `not_found`, `unauthorized`,
    /// `forbidden`, `method_not_allowed`, `unsupported_media_type`, `payload_too_large`,
    /// `conflict`, `internal`.
    pub code: &'static str,
    pub message: String,
    /// The request field the problem is in, for validation errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<&'static str>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            field: None,
        }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field: Some(field),
            ..Self::new(StatusCode::BAD_REQUEST, "invalid", message)
        }
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }
    /// A failure of dotsync itself. The detail is logged; the client gets the sentence.
    pub fn internal(err: impl std::fmt::Display) -> Self {
        tracing::error!("internal error: {err}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("dotsync failed: {err}"),
        )
    }
    pub fn no_config(key: &str) -> Self {
        Self::not_found(format!(
            "no config has the id or name {key:?}; `dotsync config list` shows the configs"
        ))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message,
                field: self.field,
            },
        };
        let mut resp = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer realm=\"dotsync\""),
            );
        }
        resp
    }
}

impl From<dotsync_state::StoreError> for ApiError {
    fn from(e: dotsync_state::StoreError) -> Self {
        ApiError::internal(e)
    }
}

impl From<dotsync_state::ConfigStoreError> for ApiError {
    fn from(e: dotsync_state::ConfigStoreError) -> Self {
        use dotsync_core::config::ConflictWithOthers;
        use dotsync_state::ConfigStoreError as E;
        match e {
            E::Store(s) => s.into(),
            E::NotFound(k) => ApiError::no_config(&k),
            E::Conflict(c @ ConflictWithOthers::DuplicateName(_)) => ApiError {
                field: Some("name"),
                ..ApiError::new(StatusCode::BAD_REQUEST, "duplicate_name", c.to_string())
            },
            E::Conflict(c @ ConflictWithOthers::OverlappingPaths { .. }) => {
                ApiError::invalid("paths", c.to_string())
            }
        }
    }
}

impl From<dotsync_core::ValidationError> for ApiError {
    fn from(e: dotsync_core::ValidationError) -> Self {
        ApiError::invalid(e.field, e.message)
    }
}
