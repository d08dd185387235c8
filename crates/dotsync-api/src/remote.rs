//! Looking at a remote before a config uses it (`POST /v1/remote/check`) and the daemon's
//! recent sync lines (`GET /v1/log`).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::sync::{ErrorKind, names};

/// A remote to look at.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckRequest {
    /// The git remote, as a config would name it.
    pub remote: String,
    /// The branch (`main` when left out).
    #[serde(default)]
    pub branch: Option<String>,
}

/// What a remote holds, as far as a newcomer needs to know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RemoteKind {
    /// A repository without the branch: the first sync pushes this machine's files.
    Empty,
    /// A repository another dotsync machine already syncs with.
    Dotsync,
    /// A repository with files on the branch that no dotsync machine wrote (a dotfiles repo
    /// kept by hand): joined like a machine that never synced.
    Other,
    /// A newer daemon's kind this client does not know.
    #[serde(other)]
    Unknown,
}

/// How a file of the remote compares with this machine's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Comparison {
    /// This machine's file holds the same bytes.
    Same,
    /// This machine has its own, different file: the first sync keeps both as a conflict.
    Differs,
    /// This machine has no such file: a sync would bring it.
    OnlyRemote,
    /// A newer daemon's answer this client does not know.
    #[serde(other)]
    Unknown,
}

/// One file of the remote's branch and how this machine's compares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CheckedFile {
    /// `~/...`
    pub path: String,
    pub size: u64,
    pub here: Comparison,
}

/// What the remote is.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RemoteCheck {
    /// Whether the remote answered as a git repository.
    pub ok: bool,
    /// When `ok`: what the branch holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<RemoteKind>,
    /// When not `ok`: `offline`, `auth`, `remote_not_found`, `disk_full`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<ErrorKind>,
    /// When not `ok`: what is wrong and what to do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The commit the branch points at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// The branch's files.
    pub files: Vec<CheckedFile>,
    /// Names of this machine's configs that already sync this remote and branch.
    pub configs: Vec<String>,
}

/// Which line of a sync a log line tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LogKind {
    Start,
    File,
    Summary,
    /// A newer daemon's line this client does not know.
    #[serde(other)]
    Unknown,
}

names!(LogKind { Start => "start", File => "file", Summary => "summary" } else Unknown);

/// One line of the daemon's recent log.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LogLine {
    /// Increases by one per line (and goes on across restarts): ask for `after` the last one
    /// seen to get only new lines.
    pub seq: u64,
    /// Unix seconds.
    pub at: i64,
    /// The config's name.
    pub config: String,
    pub kind: LogKind,
    /// For `file`: its action (`pushed`, `pulled`, ...; see `FileAction`); for `summary`:
    /// `ok` or `error`; for `start`: what started the sync (see `Trigger`).
    pub action: String,
    /// For `file`: the file (`~/...`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// For `file`: the machine whose edit it was (this machine for what it sent; the machines
    /// whose commits brought what it received).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine: Option<String>,
    /// One readable sentence.
    pub text: String,
}
