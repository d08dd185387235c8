//! The one error shape of the API: `{"error": {"code": "...", "message": "...", "field": "..."}}`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// An API failure: a status, a stable machine-readable code and a sentence for a person.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: ErrorCode,
    pub message: String,
    pub field: Option<&'static str>,
}

pub use dotsync_api::{ErrorBody, ErrorCode, ErrorDetail};

impl ApiError {
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            field: None,
        }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, ErrorCode::BadRequest, message)
    }
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field: Some(field),
            ..Self::new(StatusCode::BAD_REQUEST, ErrorCode::Invalid, message)
        }
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, message)
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, ErrorCode::Conflict, message)
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, ErrorCode::Forbidden, message)
    }
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized, message)
    }
    /// A failure of dotsync itself. The detail is logged; the client gets the sentence.
    pub fn internal(err: impl std::fmt::Display) -> Self {
        tracing::error!("internal error: {err}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Internal,
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
                field: self.field.map(str::to_owned),
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
                ..ApiError::new(
                    StatusCode::BAD_REQUEST,
                    ErrorCode::DuplicateName,
                    c.to_string(),
                )
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
