//! The smaller answers: health, a created config, pause state, this machine's key, the web
//! app's settings.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::sync::names;

/// `GET /v1/health`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// Always `ok` when the daemon answers.
    pub status: String,
    /// The daemon's version.
    pub version: String,
}

/// `POST /v1/config`'s answer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Created {
    /// The new config's id.
    pub id: String,
}

/// What is paused after a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PauseState {
    /// Every config is paused.
    pub all: bool,
    /// The ids of the configs paused one by one.
    pub configs: Vec<String>,
}

/// Whether this machine has a key, and its public keys.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct KeyState {
    /// This machine's public keys (age X25519 recipients); empty: no key yet.
    pub public_keys: Vec<String>,
    /// Other machines' public keys this machine encrypts to (when the repository lists them).
    pub trusted: Vec<String>,
}

/// Another machine's public key to trust.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TrustInput {
    /// An age X25519 public key (`age1...`), as `dotsync key show` prints it on that machine.
    pub public_key: String,
}

/// A passphrase, for `export`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportInput {
    pub passphrase: String,
}

/// The key encrypted with the passphrase (age, scrypt), ASCII-armored.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Exported {
    pub armored: String,
}

/// An export and its passphrase, for `import`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportInput {
    pub armored: String,
    pub passphrase: String,
}

/// What an import added.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Imported {
    /// Public keys new on this machine (empty: it had them all).
    pub added: Vec<String>,
    pub public_keys: Vec<String>,
}

/// The web app's themes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Theme {
    Light,
    Dark,
    #[default]
    System,
    /// Not a theme: the daemon answers 400 naming the field.
    // Never sent, so not in the schema as a value to send.
    #[serde(other, skip_serializing)]
    Unknown,
}

names!(Theme { Light => "light", Dark => "dark", System => "system" } else Unknown);

/// The web app's settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The daemon's address as the desktop shell should reach it (`127.0.0.1:11000`); loopback
    /// only.
    pub backend_addr: String,
    pub theme: Theme,
    /// Whether the app shows desktop notifications for conflicts and failed syncs.
    pub notifications: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            backend_addr: "127.0.0.1:11000".to_owned(),
            theme: Theme::System,
            notifications: true,
        }
    }
}

/// A one-time login code for the web app (`POST /v1/session/code`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LoginCode {
    /// The one-time code.
    pub code: String,
    /// The path to open in a browser on the daemon's address.
    pub path: String,
    /// Seconds the code stays valid.
    pub expires_in_s: u64,
}

/// How a request is signed in (`GET /v1/session`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SessionInfo {
    /// `session` for the web app's cookie, `bearer` for the token.
    pub via: String,
}
