//! Conflicts, a file's history and the state of a config's files (`/v1/conflicts*`,
//! `/v1/history`, `/v1/restore`, `/v1/files`).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::FileKind;
use crate::sync::names;

/// Why a file is in conflict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConflictReason {
    /// Both machines changed the same lines (or keys).
    BothChanged,
    /// Deleted on one machine, changed on the other.
    DeleteVsChange,
    /// This machine's file and the remote's differ and were never synced before.
    NoBase,
    /// A newer daemon's reason this client does not know.
    #[serde(other)]
    Unknown,
}

names!(ConflictReason {
    BothChanged => "both_changed", DeleteVsChange => "delete_vs_change", NoBase => "no_base",
} else Unknown);

/// An open conflict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = Conflict)]
pub struct ConflictInfo {
    /// The config's name.
    pub config: String,
    pub config_id: String,
    /// The repository path (`~/` + it in the home).
    pub path: String,
    pub reason: ConflictReason,
    /// Unix seconds.
    pub detected_at: i64,
    pub local_exists: bool,
    pub remote_exists: bool,
    pub base_exists: bool,
    /// The remote commit whose version conflicts.
    #[schema(required = true)]
    pub remote_commit: Option<String>,
    /// The machine that made the other side ("theirs"): the last commit of the remote that
    /// changed the file, as far as this machine fetched it.
    #[schema(required = true)]
    pub remote_machine: Option<String>,
    /// Whether either side is binary (no text view, no edited result).
    pub binary: bool,
}

/// A side of a conflict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = ConflictSide)]
pub enum Side {
    /// This machine's file now.
    Local,
    /// The other machine's version.
    Remote,
    /// The last version both had.
    Base,
    /// Not a side: the daemon answers 400 naming the field.
    // Never sent, so not in the schema as a value to send.
    #[serde(other, skip_serializing)]
    Unknown,
}

names!(Side { Local => "local", Remote => "remote", Base => "base" } else Unknown);

/// What to keep when resolving a conflict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Keep {
    /// This machine's version; the next sync pushes it.
    Local,
    /// The other machine's version, written into the home now.
    Remote,
    /// An edited result, in `content`.
    Content,
    /// Not a choice: the daemon answers 400 naming the field.
    // Never sent, so not in the schema as a value to send.
    #[serde(other, skip_serializing)]
    Unknown,
}

names!(Keep { Local => "local", Remote => "remote", Content => "content" } else Unknown);

/// `POST /v1/conflicts/resolve`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ResolveBody)]
pub struct ResolveRequest {
    /// A config's id or name; found by the path when left out.
    #[serde(default)]
    pub config: Option<String>,
    pub path: String,
    pub keep: Keep,
    /// The edited result, with `keep: "content"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Resolved {
    /// Always true.
    pub resolved: bool,
    /// The config's name.
    pub config: String,
    /// The repository path.
    pub path: String,
}

/// `POST /v1/restore`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = RestoreBody)]
pub struct RestoreRequest {
    #[serde(default)]
    pub config: Option<String>,
    pub path: String,
    /// The commit whose version to bring back.
    pub rev: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
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

/// One version of a file in the remote's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct HistoryEntry {
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

/// The state of one covered file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum FileState {
    Synced,
    Modified,
    New,
    Deleted,
    Conflict,
    /// A newer daemon's state this client does not know.
    #[serde(other)]
    Unknown,
}

names!(FileState {
    Synced => "synced", Modified => "modified", New => "new", Deleted => "deleted",
    Conflict => "conflict",
} else Unknown);

/// The state of one covered file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FileStatus {
    /// The repository path.
    pub path: String,
    /// Bytes, when the file exists here.
    #[schema(required = true)]
    pub size: Option<u64>,
    /// Octal permission bits, such as `644`, when the file exists here.
    #[schema(required = true)]
    pub mode: Option<String>,
    /// When the file exists here.
    #[schema(required = true)]
    pub kind: Option<FileKind>,
    pub state: FileState,
}
