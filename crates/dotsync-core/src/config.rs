//! Sync configs: what a person asks dotsync to keep in sync, and the rules an input must follow.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

mod input;
mod others;

pub use input::{ConfigInput, ValidationError, looks_like_id};
pub use others::{ConflictWithOthers, check_against_others};

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
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub notify: bool,
    /// Whether a settings file (JSON/JSONC, TOML, YAML, INI/gitconfig) whose line merge
    /// conflicts is merged key by key: a conflict only when both machines changed the same key.
    #[serde(default = "default_true")]
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub structured_merge: bool,
    /// Extra files to merge by key, by glob (matched against the path under the home, or the
    /// file name for a glob without `/`): `{"*.conf": "ini"}`. Formats: `json`, `toml`, `yaml`,
    /// `ini`.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub merge_formats: BTreeMap<String, String>,
    /// The machines this config applies to, by name (`DOTSYNC_MACHINE` or the host name);
    /// empty: every machine. A machine not listed never syncs it (its status says so).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub machines: Vec<String>,
    /// Files stored on the remote encrypted with age, by glob (matched against the path under
    /// the home, or the file name for a glob without `/`): `[".ssh/**", ".npmrc"]`. Every
    /// machine whose key is listed in the repository can read them; the remote never holds
    /// their plaintext.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub encrypt: Vec<String>,
    /// Files each machine keeps its own version of, by glob: synced to
    /// `PATH##machine.NAME` in the repository, so every machine's version is versioned and
    /// visible everywhere, and none replaces another's.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub per_machine: Vec<String>,
    /// Files pushed as they are even when they look like they hold a secret (a private key,
    /// an auth token), by glob. Without one, such a file is held and the sync says how to
    /// encrypt it.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(required = true))]
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
        let mut compiled = COMPILED
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
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
        if self.per_machine.is_empty() {
            return false;
        }
        let path = crate::paths::home_part(repo_path);
        self.per_machine.iter().any(|g| glob_hit(g, path))
    }

    /// Whether the file at `repo_path` is stored encrypted (an `encrypt` glob matches it).
    pub fn encrypts(&self, repo_path: &str) -> bool {
        if self.encrypt.is_empty() {
            return false;
        }
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

fn default_true() -> bool {
    true
}

#[cfg(test)]
mod tests;
