//! File modes git cannot record, kept in the repository's own `.dotsync/meta.json`.
//!
//! Git stores 100644, 100755 and 120000 only; `~/.ssh/config` wants 0600 and `~/.ssh` 0700.
//! The repository path `.dotsync/` can never hold a synced file (`~/.dotsync` is dotsync's own
//! state and is refused as a config path), so the name cannot collide with a real dotfile.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub const META_PATH: &str = ".dotsync/meta.json";

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    #[serde(default = "one")]
    pub version: u32,
    /// File modes that differ from what git's own mode implies (0644 / 0755), as octal text.
    #[serde(default)]
    pub modes: BTreeMap<String, String>,
    /// Directory modes other than 0755, as octal text.
    #[serde(default)]
    pub dirs: BTreeMap<String, String>,
}

fn one() -> u32 {
    1
}

impl Meta {
    pub fn parse(bytes: &[u8]) -> Self {
        serde_json::from_slice(bytes).unwrap_or_else(|e| {
            tracing::warn!("ignoring unreadable {META_PATH}: {e}");
            Meta::default()
        })
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(self).unwrap_or_default();
        v.push(b'\n');
        v
    }

    /// The mode a file gets on this machine: the recorded one, else git's.
    pub fn file_mode(&self, path: &str, git_mode: u32) -> u32 {
        if git_mode == 0o120000 {
            return 0o777;
        }
        if let Some(m) = self
            .modes
            .get(path)
            .and_then(|s| u32::from_str_radix(s, 8).ok())
        {
            // A recorded mode only refines git's: the executable bit must agree.
            if (m & 0o100 != 0) == (git_mode & 0o111 != 0) {
                return file_perm(m);
            }
        }
        if git_mode & 0o111 != 0 { 0o755 } else { 0o644 }
    }

    pub fn set_file_mode(&mut self, path: &str, mode: u32) {
        if mode == 0o644 || mode == 0o755 || mode == 0o777 {
            self.modes.remove(path);
        } else {
            self.modes
                .insert(path.to_owned(), format!("{:o}", mode & 0o777));
        }
    }

    pub fn dir_mode(&self, path: &str) -> Option<u32> {
        self.dirs
            .get(path)
            .and_then(|s| u32::from_str_radix(s, 8).ok())
            .map(dir_perm)
    }
}

/// The permission bits a file may have when they come from another machine (or go to one):
/// never group- or world-writable, always readable by its owner. Owner and execute bits
/// travel, so 0600, 0700 and 0755 keep working; a remote cannot make a file 0666 or 0000.
pub fn file_perm(mode: u32) -> u32 {
    (mode & 0o755) | 0o400
}

/// The same for directories: never group- or world-writable, always usable by their owner.
pub fn dir_perm(mode: u32) -> u32 {
    (mode & 0o755) | 0o700
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_modes_round_trip_and_defaults_stay_implicit() {
        let mut m = Meta::default();
        m.set_file_mode(".ssh/config", 0o600);
        m.set_file_mode(".zshrc", 0o644);
        m.dirs.insert(".ssh".into(), "700".into());
        let back = Meta::parse(&m.to_bytes());
        assert_eq!(back.file_mode(".ssh/config", 0o100644), 0o600);
        assert_eq!(back.file_mode(".zshrc", 0o100644), 0o644);
        assert_eq!(back.file_mode("bin/x", 0o100755), 0o755);
        assert_eq!(back.dir_mode(".ssh"), Some(0o700));
        assert!(!back.modes.contains_key(".zshrc"));
    }

    #[test]
    fn a_remote_cannot_make_files_or_directories_writable_by_others_or_unreadable() {
        let m = Meta::parse(
            br#"{"modes":{"a":"666","b":"0","c":"600","d":"4755"},"dirs":{"x":"777","y":"0","z":"700"}}"#,
        );
        assert_eq!(m.file_mode("a", 0o100644), 0o644);
        assert_eq!(m.file_mode("b", 0o100644), 0o400, "0000 is not applied");
        assert_eq!(m.file_mode("c", 0o100644), 0o600);
        assert_eq!(m.file_mode("d", 0o100755), 0o755, "no setuid");
        assert_eq!(m.dir_mode("x"), Some(0o755));
        assert_eq!(m.dir_mode("y"), Some(0o700));
        assert_eq!(m.dir_mode("z"), Some(0o700));
    }

    #[test]
    fn a_recorded_mode_cannot_contradict_git() {
        let mut m = Meta::default();
        m.set_file_mode("x", 0o700);
        assert_eq!(m.file_mode("x", 0o100644), 0o644);
    }
}
