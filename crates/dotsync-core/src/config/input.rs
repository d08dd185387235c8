//! The input of a config (`ConfigInput`, the API's body) and every rule it must follow on its
//! own; what needs the other configs is `others.rs`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{
    Direction, INTERVAL_RANGE, MAX_MACHINE_LEN, MAX_NAME_LEN, MERGE_FORMATS, OnConflict,
    SyncConfig, default_true,
};
use crate::paths::{self, Ignore};
use crate::remote;

/// The body of `POST /v1/config` and `PUT /v1/config/{id}`; omitted optional fields take their
/// defaults, unknown fields are refused.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ConfigInput {
    /// Accepted so that a config read with GET can be sent back with PUT; it must then match the
    /// URL. Refused on create, where the server assigns it.
    #[serde(default)]
    pub id: Option<String>,
    pub name: String,
    pub paths: Vec<String>,
    #[serde(default)]
    pub ignore: Vec<String>,
    pub remote: String,
    #[serde(default = "default_branch")]
    pub branch: String,
    #[serde(default)]
    pub direction: Direction,
    #[serde(default)]
    pub on_conflict: OnConflict,
    #[serde(default = "default_true")]
    pub auto: bool,
    #[serde(default = "default_interval")]
    pub interval_s: u64,
    #[serde(default = "default_true")]
    pub notify: bool,
    #[serde(default = "default_true")]
    pub structured_merge: bool,
    #[serde(default)]
    pub merge_formats: BTreeMap<String, String>,
    #[serde(default)]
    pub machines: Vec<String>,
    #[serde(default)]
    pub encrypt: Vec<String>,
    #[serde(default)]
    pub per_machine: Vec<String>,
    #[serde(default)]
    pub plaintext: Vec<String>,
}

fn default_branch() -> String {
    "main".to_owned()
}
fn default_interval() -> u64 {
    60
}

/// An input field that broke a rule, with a sentence a person can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ValidationError {
    /// The JSON field the problem is in (`paths`, `remote`, ...).
    pub field: &'static str,
    pub message: String,
}

impl ValidationError {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

impl ConfigInput {
    /// Checks every rule that needs nothing but the input and the home directory, and returns
    /// the config it describes under `id`.
    ///
    /// Rules that involve other configs (unique names, overlapping paths on one remote) are
    /// checked by [`check_against_others`].
    pub fn validate(self, id: String, home: &Path) -> Result<SyncConfig, ValidationError> {
        if let Some(given) = &self.id
            && *given != id
        {
            return Err(ValidationError::new(
                "id",
                format!("the body's id {given:?} does not match the config being written ({id})"),
            ));
        }
        validate_name(&self.name)?;
        if self.paths.is_empty() {
            return Err(ValidationError::new(
                "paths",
                "a config needs at least one path, such as \"~/.zshrc\" or \"~/.config/nvim\"",
            ));
        }
        let mut resolved: Vec<(PathBuf, &str)> = Vec::with_capacity(self.paths.len());
        for p in &self.paths {
            let abs = paths::resolve_config_path(p, home)
                .map_err(|e| ValidationError::new("paths", e.to_string()))?;
            if abs.starts_with(home.join(".dotsync")) {
                return Err(ValidationError::new(
                    "paths",
                    format!("{p:?} is inside ~/.dotsync, dotsync's own state, which never syncs"),
                ));
            }
            for (other, other_src) in &resolved {
                if paths::overlaps(&abs, other) {
                    return Err(ValidationError::new(
                        "paths",
                        format!("{p:?} overlaps {other_src:?}; list each file or directory once"),
                    ));
                }
            }
            resolved.push((abs, p));
        }
        Ignore::new(&self.ignore).map_err(|e| ValidationError::new("ignore", e.to_string()))?;
        remote::validate_remote(&self.remote)
            .map_err(|e| ValidationError::new("remote", e.to_string()))?;
        validate_branch(&self.branch)?;
        if !INTERVAL_RANGE.contains(&self.interval_s) {
            return Err(ValidationError::new(
                "interval_s",
                format!(
                    "must be between {} and {} seconds, got {}",
                    INTERVAL_RANGE.start(),
                    INTERVAL_RANGE.end(),
                    self.interval_s
                ),
            ));
        }
        for (glob, format) in &self.merge_formats {
            globset::Glob::new(glob).map_err(|e| {
                ValidationError::new(
                    "merge_formats",
                    format!("{glob:?} is not a valid glob: {e}"),
                )
            })?;
            if !MERGE_FORMATS.contains(&format.as_str()) {
                return Err(ValidationError::new(
                    "merge_formats",
                    format!(
                        "{glob:?} maps to {format:?}, which is not a format dotsync merges by \
                         key; use one of {}",
                        MERGE_FORMATS.join(", ")
                    ),
                ));
            }
        }
        for m in &self.machines {
            validate_machine(m)?;
        }
        for g in &self.encrypt {
            globset::Glob::new(g).map_err(|e| {
                ValidationError::new("encrypt", format!("{g:?} is not a valid glob: {e}"))
            })?;
        }
        for g in &self.per_machine {
            globset::Glob::new(g).map_err(|e| {
                ValidationError::new("per_machine", format!("{g:?} is not a valid glob: {e}"))
            })?;
        }
        for g in &self.plaintext {
            globset::Glob::new(g).map_err(|e| {
                ValidationError::new("plaintext", format!("{g:?} is not a valid glob: {e}"))
            })?;
        }
        Ok(self.into_config_unchecked(id))
    }

    /// A config's body with every optional field at the default the server gives it.
    pub fn new(name: impl Into<String>, remote: impl Into<String>, paths: Vec<String>) -> Self {
        Self {
            id: None,
            name: name.into(),
            paths,
            ignore: Vec::new(),
            remote: remote.into(),
            branch: default_branch(),
            direction: Direction::default(),
            on_conflict: OnConflict::default(),
            auto: true,
            interval_s: default_interval(),
            notify: true,
            structured_merge: true,
            merge_formats: BTreeMap::new(),
            machines: Vec::new(),
            encrypt: Vec::new(),
            per_machine: Vec::new(),
            plaintext: Vec::new(),
        }
    }

    /// The config this input describes under `id`, with no rule checked: for a placeholder
    /// or a test. Whatever a person wrote goes through [`ConfigInput::validate`].
    pub fn into_config_unchecked(self, id: String) -> SyncConfig {
        SyncConfig {
            id,
            name: self.name,
            paths: self.paths,
            ignore: self.ignore,
            remote: self.remote,
            branch: self.branch,
            direction: self.direction,
            on_conflict: self.on_conflict,
            auto: self.auto,
            interval_s: self.interval_s,
            notify: self.notify,
            structured_merge: self.structured_merge,
            merge_formats: self.merge_formats,
            machines: self.machines,
            encrypt: self.encrypt,
            per_machine: self.per_machine,
            plaintext: self.plaintext,
        }
    }
}

impl From<SyncConfig> for ConfigInput {
    /// A stored config as a body to send back with `PUT`.
    fn from(c: SyncConfig) -> Self {
        Self {
            id: Some(c.id),
            name: c.name,
            paths: c.paths,
            ignore: c.ignore,
            remote: c.remote,
            branch: c.branch,
            direction: c.direction,
            on_conflict: c.on_conflict,
            auto: c.auto,
            interval_s: c.interval_s,
            notify: c.notify,
            structured_merge: c.structured_merge,
            merge_formats: c.merge_formats,
            machines: c.machines,
            encrypt: c.encrypt,
            per_machine: c.per_machine,
            plaintext: c.plaintext,
        }
    }
}

/// Whether `s` has the shape of a server-assigned id.
pub fn looks_like_id(s: &str) -> bool {
    s.len() == 20 && s.starts_with("cfg_") && s[4..].bytes().all(|b| b.is_ascii_hexdigit())
}

fn validate_name(name: &str) -> Result<(), ValidationError> {
    let ok_chars = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if name.is_empty()
        || name.len() > MAX_NAME_LEN
        || !ok_chars
        || !name.as_bytes()[0].is_ascii_alphanumeric()
    {
        return Err(ValidationError::new(
            "name",
            format!(
                "{name:?} is not a valid name: use 1 to {MAX_NAME_LEN} letters, digits, '-', '_' \
                 or '.', starting with a letter or digit (for example \"dotfiles\")"
            ),
        ));
    }
    if name.starts_with("cfg_") {
        return Err(ValidationError::new(
            "name",
            "names starting with \"cfg_\" are reserved for config ids",
        ));
    }
    Ok(())
}

/// A machine name in `machines`: what `DOTSYNC_MACHINE` or a host name can be, no commas,
/// spaces or control characters.
fn validate_machine(m: &str) -> Result<(), ValidationError> {
    let ok = !m.is_empty()
        && m.len() <= MAX_MACHINE_LEN
        && m.chars()
            .all(|c| !c.is_control() && !c.is_whitespace() && c != ',' && c != '/');
    if ok {
        Ok(())
    } else {
        Err(ValidationError::new(
            "machines",
            format!(
                "{m:?} is not a machine name: 1 to {MAX_MACHINE_LEN} characters without spaces, \
                 commas or slashes, as `dotsync status` shows this machine's name"
            ),
        ))
    }
}

/// Git's rules for a branch name (`git check-ref-format --branch`), checked without running git.
fn validate_branch(branch: &str) -> Result<(), ValidationError> {
    #[allow(
        clippy::case_sensitive_file_extension_comparisons,
        reason = "git refuses a ref ending in `.lock`, in exactly that case"
    )]
    let bad = branch.is_empty()
        || branch.len() > 200
        || branch.starts_with('-')
        || branch.starts_with('/')
        || branch.ends_with('/')
        || branch.ends_with('.')
        || branch.ends_with(".lock")
        || branch.contains("..")
        || branch.contains("@{")
        || branch.contains("//")
        || branch == "@"
        || branch
            .chars()
            .any(|c| c.is_control() || c == ' ' || "~^:?*[\\".contains(c))
        || branch.split('/').any(|c| c.starts_with('.'));
    if bad {
        return Err(ValidationError::new(
            "branch",
            format!("{branch:?} is not a valid git branch name"),
        ));
    }
    Ok(())
}
