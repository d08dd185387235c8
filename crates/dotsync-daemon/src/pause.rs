//! Pausing: the person can stop the daemon from syncing one config, or every config, by itself
//! (watcher, remote checks, pokes, retries) without turning `auto` off and without losing what
//! changed meanwhile: resuming syncs it. A sync asked for by name (`dotsync sync`, *Sync now*)
//! still runs. Kept in `state/paused.json`, so a restart stays paused.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// What is paused.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Paused {
    /// Every config, whatever `configs` says.
    #[serde(default)]
    pub all: bool,
    /// Config ids paused one by one.
    #[serde(default)]
    pub configs: BTreeSet<String>,
}

impl Paused {
    pub fn is_paused(&self, id: &str) -> bool {
        self.all || self.configs.contains(id)
    }

    /// Where it is kept.
    pub fn path(layout: &dotsync_state::Layout) -> PathBuf {
        layout.state_dir().join("paused.json")
    }

    /// Reads it; a missing file is "nothing paused", an unreadable one is reported and read
    /// as "nothing paused" (the daemon must start).
    pub fn load(path: &Path) -> Self {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                tracing::warn!(
                    "cannot read {}: {e}; nothing is paused (pause again with `dotsync pause`)",
                    path.display()
                );
                Self::default()
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Self::default(),
            Err(e) => {
                tracing::warn!("cannot read {}: {e}; nothing is paused", path.display());
                Self::default()
            }
        }
    }

    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        crate::routes::settings::save_json(path, self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_pause_reads_back_and_garbage_reads_as_nothing_paused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("paused.json");
        assert_eq!(Paused::load(&path), Paused::default());
        let p = Paused {
            all: false,
            configs: ["cfg_1".to_owned()].into(),
        };
        p.save(&path).unwrap();
        assert_eq!(Paused::load(&path), p);
        assert!(p.is_paused("cfg_1") && !p.is_paused("cfg_2"));
        std::fs::write(&path, b"{not json").unwrap();
        assert_eq!(Paused::load(&path), Paused::default());
    }
}
