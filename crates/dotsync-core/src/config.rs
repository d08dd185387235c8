//! Sync configs: what a person asks dotsync to keep in sync, and the rules an input must follow.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::paths::{self, Ignore};
use crate::remote;

/// Longest accepted config name.
pub const MAX_NAME_LEN: usize = 64;
/// Bounds for `interval_s`: at least a second, at most a week.
pub const INTERVAL_RANGE: std::ops::RangeInclusive<u64> = 1..=604_800;

/// Which way a config's changes travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    /// Local edits are pushed and remote edits are pulled.
    #[default]
    Both,
    /// Only local edits travel; the home is never written.
    Push,
    /// Only remote edits travel; nothing is ever pushed.
    Pull,
}

/// What a sync does when both sides changed the same lines of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "kebab-case")]
pub enum OnConflict {
    /// Keep this machine's file, keep the other version in history and list the conflict.
    #[default]
    KeepBoth,
    /// This machine's version wins and is pushed.
    Local,
    /// The remote version wins and is written into the home.
    Remote,
}

impl Direction {
    /// Every direction, in the order help lists them.
    pub const ALL: [Direction; 3] = [Direction::Both, Direction::Push, Direction::Pull];

    /// The name in a config's JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Both => "both",
            Direction::Push => "push",
            Direction::Pull => "pull",
        }
    }
}

impl OnConflict {
    /// Every policy, in the order help lists them.
    pub const ALL: [OnConflict; 3] = [OnConflict::KeepBoth, OnConflict::Local, OnConflict::Remote];

    /// The name in a config's JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            OnConflict::KeepBoth => "keep-both",
            OnConflict::Local => "local",
            OnConflict::Remote => "remote",
        }
    }
}

/// A stored sync config, as the API returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SyncConfig {
    /// Assigned by the server (`cfg_` and 16 hex digits).
    pub id: String,
    /// Unique short name a person types, such as `dotfiles`.
    pub name: String,
    /// Files or directories, written `~/...` or absolute inside the home, stored as given.
    pub paths: Vec<String>,
    /// Glob patterns of files to leave alone.
    pub ignore: Vec<String>,
    /// The git remote: a URL git accepts, or a path to a repository.
    pub remote: String,
    /// The remote branch.
    pub branch: String,
    pub direction: Direction,
    pub on_conflict: OnConflict,
    /// Whether the daemon syncs this config by itself.
    pub auto: bool,
    /// Seconds between two checks of the remote.
    pub interval_s: u64,
    /// Whether the daemon tells the other machines of this remote directly (a signed UDP
    /// "poke") right after it pushed, and takes their pokes, so edits arrive in about a second
    /// instead of at the next check. A relay (`DOTSYNC_RELAY`) works either way.
    #[serde(default = "default_true")]
    pub notify: bool,
    /// Whether a settings file (JSON/JSONC, TOML, YAML, INI/gitconfig) whose line merge
    /// conflicts is merged key by key: a conflict only when both machines changed the same key.
    #[serde(default = "default_true")]
    pub structured_merge: bool,
    /// Extra files to merge by key, by glob (matched against the path under the home, or the
    /// file name for a glob without `/`): `{"*.conf": "ini"}`. Formats: `json`, `toml`, `yaml`,
    /// `ini`.
    #[serde(default)]
    pub merge_formats: BTreeMap<String, String>,
    /// The machines this config applies to, by name (`DOTSYNC_MACHINE` or the host name);
    /// empty: every machine. A machine not listed never syncs it (its status says so).
    #[serde(default)]
    pub machines: Vec<String>,
    /// Files stored on the remote encrypted with age, by glob (matched against the path under
    /// the home, or the file name for a glob without `/`): `[".ssh/**", ".npmrc"]`. Every
    /// machine whose key is listed in the repository can read them; the remote never holds
    /// their plaintext.
    #[serde(default)]
    pub encrypt: Vec<String>,
    /// Files each machine keeps its own version of, by glob: synced to
    /// `PATH##machine.NAME` in the repository, so every machine's version is versioned and
    /// visible everywhere, and none replaces another's.
    #[serde(default)]
    pub per_machine: Vec<String>,
    /// Files pushed as they are even when they look like they hold a secret (a private key,
    /// an auth token), by glob. Without one, such a file is held and the sync says how to
    /// encrypt it.
    #[serde(default)]
    pub plaintext: Vec<String>,
}

/// Longest accepted machine name in `machines`.
pub const MAX_MACHINE_LEN: usize = 64;

/// Whether `glob` matches `repo_path`, or its file name for a glob without `/`. A glob is
/// compiled once, not once per file: a sync asks this of every file of a config.
fn glob_hit(glob: &str, repo_path: &str) -> bool {
    type Compiled = std::collections::HashMap<String, Option<globset::GlobMatcher>>;
    /// Globs come from the stored configs; the bound only keeps a daemon that saw very many
    /// configs from growing for ever.
    const MAX_COMPILED: usize = 1024;
    static COMPILED: std::sync::LazyLock<std::sync::Mutex<Compiled>> =
        std::sync::LazyLock::new(Default::default);
    let matcher = {
        let mut compiled = COMPILED.lock().unwrap_or_else(|p| p.into_inner());
        if compiled.len() >= MAX_COMPILED && !compiled.contains_key(glob) {
            compiled.clear();
        }
        compiled
            .entry(glob.to_owned())
            .or_insert_with(|| globset::Glob::new(glob).ok().map(|g| g.compile_matcher()))
            .clone()
    };
    let name = repo_path.rsplit('/').next().unwrap_or(repo_path);
    matcher.is_some_and(|m| m.is_match(repo_path) || (!glob.contains('/') && m.is_match(name)))
}

/// The formats `merge_formats` may name.
pub const MERGE_FORMATS: [&str; 4] = ["json", "toml", "yaml", "ini"];

impl SyncConfig {
    /// The format `merge_formats` maps a repository path to, if any (the first glob in order
    /// that matches).
    pub fn merge_format_for(&self, repo_path: &str) -> Option<&str> {
        self.merge_formats
            .iter()
            .find_map(|(glob, format)| glob_hit(glob, repo_path).then_some(format.as_str()))
    }

    /// Whether the file at `repo_path` (a home path, or a per-machine variant) is per machine.
    pub fn is_per_machine(&self, repo_path: &str) -> bool {
        let path = crate::paths::home_part(repo_path);
        self.per_machine.iter().any(|g| glob_hit(g, path))
    }

    /// Whether the file at `repo_path` is stored encrypted (an `encrypt` glob matches it).
    pub fn encrypts(&self, repo_path: &str) -> bool {
        let path = crate::paths::home_part(repo_path);
        self.encrypt.iter().any(|g| glob_hit(g, path))
    }

    /// Whether the file at `repo_path` may be pushed in plaintext even if it looks like it
    /// holds a secret (a `plaintext` glob matches it).
    pub fn allows_plaintext(&self, repo_path: &str) -> bool {
        let path = crate::paths::home_part(repo_path);
        self.plaintext.iter().any(|g| glob_hit(g, path))
    }

    /// Whether this config syncs on the machine named `machine` (`machines` empty or naming it).
    pub fn applies_to(&self, machine: &str) -> bool {
        self.machines.is_empty() || self.machines.iter().any(|m| m == machine)
    }
}

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
fn default_true() -> bool {
    true
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
        Ok(SyncConfig {
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
        })
    }
}

/// Why a config cannot live beside the others.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConflictWithOthers {
    #[error("a config named {0:?} already exists; pick another name or edit that config")]
    DuplicateName(String),
    #[error(
        "path {path:?} overlaps {other_path:?} of config {other:?}, which syncs the same remote \
         and branch; a file may belong to one config of a repository only"
    )]
    OverlappingPaths {
        path: String,
        other: String,
        other_path: String,
    },
}

/// Checks the rules that involve other configs. `others` must not contain `cfg` itself.
pub fn check_against_others<'a>(
    cfg: &SyncConfig,
    others: impl IntoIterator<Item = &'a SyncConfig>,
    home: &Path,
) -> Result<(), ConflictWithOthers> {
    for other in others {
        if other.id == cfg.id {
            continue;
        }
        if other.name == cfg.name {
            return Err(ConflictWithOthers::DuplicateName(cfg.name.clone()));
        }
        if crate::remote::same_remote(&other.remote, &cfg.remote, home)
            && other.branch == cfg.branch
        {
            for p in &cfg.paths {
                for q in &other.paths {
                    let (Ok(a), Ok(b)) = (
                        paths::resolve_config_path(p, home),
                        paths::resolve_config_path(q, home),
                    ) else {
                        continue;
                    };
                    if paths::overlaps(&a, &b) {
                        return Err(ConflictWithOthers::OverlappingPaths {
                            path: p.clone(),
                            other: other.name.clone(),
                            other_path: q.clone(),
                        });
                    }
                }
            }
        }
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn input(json: serde_json::Value) -> ConfigInput {
        serde_json::from_value(json).expect("test input parses")
    }

    fn id() -> String {
        "cfg_0123456789abcdef".into()
    }

    #[test]
    fn defaults_fill_in_omitted_fields() {
        let cfg = input(
            serde_json::json!({"name": "dots", "paths": ["~/.zshrc"], "remote": "/srv/dots.git"}),
        )
        .validate(id(), Path::new("/home/me"))
        .expect("valid");
        assert_eq!(cfg.branch, "main");
        assert_eq!(cfg.direction, Direction::Both);
        assert_eq!(cfg.on_conflict, OnConflict::KeepBoth);
        assert!(cfg.auto);
        assert_eq!(cfg.interval_s, 60);
        assert!(cfg.notify);
        assert!(cfg.structured_merge);
        assert!(cfg.merge_formats.is_empty());
        assert!(cfg.machines.is_empty());
        assert!(cfg.encrypt.is_empty());
        assert!(cfg.applies_to("anything"));
    }

    #[test]
    fn machines_name_where_a_config_applies() {
        let cfg = input(serde_json::json!({
            "name": "gui", "paths": ["~/.config/i3"], "remote": "/r", "machines": ["laptop", "desk"]
        }))
        .validate(id(), Path::new("/home/me"))
        .expect("valid");
        assert!(cfg.applies_to("laptop"));
        assert!(!cfg.applies_to("server"));
    }

    #[test]
    fn encrypt_globs_match_paths_or_names() {
        let cfg = input(serde_json::json!({
            "name": "dots", "paths": ["~/.ssh", "~/.npmrc"], "remote": "/r",
            "encrypt": [".ssh/**", ".npmrc"]
        }))
        .validate(id(), Path::new("/home/me"))
        .expect("valid");
        assert!(cfg.encrypts(".ssh/config"));
        assert!(cfg.encrypts(".ssh/keys/id_ed25519"));
        assert!(cfg.encrypts(".npmrc"));
        assert!(cfg.encrypts("work/.npmrc"));
        assert!(!cfg.encrypts(".zshrc"));
    }

    #[test]
    fn merge_formats_map_globs_to_formats() {
        let cfg = input(serde_json::json!({
            "name": "dots", "paths": ["~/.config"], "remote": "/r",
            "merge_formats": {"*.conf": "ini", ".config/app/settings": "json"}
        }))
        .validate(id(), Path::new("/home/me"))
        .expect("valid");
        assert_eq!(
            cfg.merge_format_for(".config/kitty/kitty.conf"),
            Some("ini")
        );
        assert_eq!(cfg.merge_format_for(".config/app/settings"), Some("json"));
        assert_eq!(cfg.merge_format_for(".config/app/other"), None);
    }

    #[test]
    fn configs_stored_before_notify_existed_read_as_notify_on() {
        let cfg: SyncConfig = serde_json::from_value(serde_json::json!({
            "id": "cfg_0123456789abcdef", "name": "dots", "paths": ["~/.zshrc"], "ignore": [],
            "remote": "/r", "branch": "main", "direction": "both", "on_conflict": "keep-both",
            "auto": true, "interval_s": 60
        }))
        .expect("an old stored config parses");
        assert!(cfg.notify);
        assert!(cfg.structured_merge);
        assert!(cfg.merge_formats.is_empty());
    }

    #[test]
    fn unknown_fields_are_refused() {
        let r: Result<ConfigInput, _> = serde_json::from_value(serde_json::json!({
            "name": "dots", "paths": ["~/.zshrc"], "remote": "/r", "colour": "blue"
        }));
        assert!(r.is_err());
    }

    #[test]
    fn bad_inputs_name_their_field() {
        let home = Path::new("/home/me");
        let cases = [
            (
                serde_json::json!({"name": "a b", "paths": ["~/.x"], "remote": "/r"}),
                "name",
            ),
            (
                serde_json::json!({"name": "cfg_x", "paths": ["~/.x"], "remote": "/r"}),
                "name",
            ),
            (
                serde_json::json!({"name": "a", "paths": [], "remote": "/r"}),
                "paths",
            ),
            (
                serde_json::json!({"name": "a", "paths": ["~/../etc"], "remote": "/r"}),
                "paths",
            ),
            (
                serde_json::json!({"name": "a", "paths": ["/etc/passwd"], "remote": "/r"}),
                "paths",
            ),
            (
                serde_json::json!({"name": "a", "paths": ["~/.x", "~/.x/y"], "remote": "/r"}),
                "paths",
            ),
            (
                serde_json::json!({"name": "a", "paths": ["~/.x"], "remote": "ext::sh -c x"}),
                "remote",
            ),
            (
                serde_json::json!({"name": "a", "paths": ["~/.x"], "remote": "-oProxy=x"}),
                "remote",
            ),
            (
                serde_json::json!({"name": "a", "paths": ["~/.x"], "remote": "/r", "branch": "a..b"}),
                "branch",
            ),
            (
                serde_json::json!({"name": "a", "paths": ["~/.x"], "remote": "/r", "interval_s": 0}),
                "interval_s",
            ),
            (
                serde_json::json!({"name": "a", "paths": ["~/.x"], "remote": "/r", "ignore": ["a[" ]}),
                "ignore",
            ),
            (
                serde_json::json!({"name": "a", "paths": ["~/.x"], "remote": "/r", "merge_formats": {"a[": "json"}}),
                "merge_formats",
            ),
            (
                serde_json::json!({"name": "a", "paths": ["~/.x"], "remote": "/r", "merge_formats": {"*.x": "xml"}}),
                "merge_formats",
            ),
            (
                serde_json::json!({"name": "a", "paths": ["~/.x"], "remote": "/r", "machines": ["a b"]}),
                "machines",
            ),
            (
                serde_json::json!({"name": "a", "paths": ["~/.x"], "remote": "/r", "machines": [""]}),
                "machines",
            ),
            (
                serde_json::json!({"name": "a", "paths": ["~/.x"], "remote": "/r", "encrypt": ["a["]}),
                "encrypt",
            ),
        ];
        for (json, field) in cases {
            let err = input(json.clone())
                .validate(id(), home)
                .expect_err(&format!("{json} must be refused"));
            assert_eq!(err.field, field, "{json}: {err}");
        }
    }

    #[test]
    fn two_configs_on_one_remote_may_not_share_files() {
        let home = Path::new("/home/me");
        let a = input(serde_json::json!({"name": "a", "paths": ["~/.config"], "remote": "/r"}))
            .validate("cfg_aaaaaaaaaaaaaaaa".into(), home)
            .expect("valid");
        let b = input(
            serde_json::json!({"name": "b", "paths": ["/home/me/.config/nvim"], "remote": "/r"}),
        )
        .validate("cfg_bbbbbbbbbbbbbbbb".into(), home)
        .expect("valid");
        assert!(matches!(
            check_against_others(&b, [&a], home),
            Err(ConflictWithOthers::OverlappingPaths { .. })
        ));
        let mut c = b.clone();
        c.branch = "other".into();
        assert_eq!(check_against_others(&c, [&a], home), Ok(()));
        let mut d = b.clone();
        d.name = "a".into();
        d.paths = vec!["~/.zshrc".into()];
        assert!(matches!(
            check_against_others(&d, [&a], home),
            Err(ConflictWithOthers::DuplicateName(_))
        ));
    }

    #[test]
    fn ids_are_recognised() {
        assert!(looks_like_id("cfg_0123456789abcdef"));
        assert!(!looks_like_id("dotfiles"));
        assert!(!looks_like_id("cfg_0123"));
    }
}
