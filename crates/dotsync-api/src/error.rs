//! The one error shape of the API: `{"error": {"code": "...", "message": "...", "field": "..."}}`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::sync::{ErrorKind, names};

/// The body of every 4xx and 5xx answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    pub code: ErrorCode,
    /// A sentence for a person, saying what to do.
    pub message: String,
    /// The request field the problem is in, for validation errors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// The stable, machine-readable code of an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadRequest,
    /// A field of the request is invalid; `field` names it.
    Invalid,
    /// Another config has that name (`field`: `name`).
    DuplicateName,
    NotFound,
    Unauthorized,
    Forbidden,
    MethodNotAllowed,
    UnsupportedMediaType,
    PayloadTooLarge,
    /// The request cannot be done in the present state (something in the way, a change
    /// meanwhile, every config paused, a key that exists).
    Conflict,
    /// The daemon is shutting down.
    Unavailable,
    /// A remote this request needed cannot be reached (503), like a sync's `error_kind`.
    Offline,
    /// The remote refused who we are (503).
    Auth,
    /// There is no repository at the remote (503).
    RemoteNotFound,
    /// The remote refused the push (503).
    Rejected,
    /// The remote's branch is locked (503).
    RemoteLocked,
    /// A disk is full (503).
    DiskFull,
    Internal,
    /// A newer daemon's code this client does not know.
    #[serde(other)]
    Unknown,
}

names!(ErrorCode {
    BadRequest => "bad_request", Invalid => "invalid", DuplicateName => "duplicate_name",
    NotFound => "not_found", Unauthorized => "unauthorized", Forbidden => "forbidden",
    MethodNotAllowed => "method_not_allowed", UnsupportedMediaType => "unsupported_media_type",
    PayloadTooLarge => "payload_too_large", Conflict => "conflict", Unavailable => "unavailable",
    Offline => "offline", Auth => "auth", RemoteNotFound => "remote_not_found",
    Rejected => "rejected", RemoteLocked => "remote_locked", DiskFull => "disk_full",
    Internal => "internal",
} else Unknown);

impl From<ErrorKind> for ErrorCode {
    /// The code of an answer that failed for a sync's reason: the same word where the API has
    /// one (the remote's troubles), else `internal`.
    fn from(kind: ErrorKind) -> Self {
        match ErrorCode::from_name(kind.as_str()) {
            ErrorCode::Unknown => ErrorCode::Internal,
            code => code,
        }
    }
}
