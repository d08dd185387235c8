//! What a file watcher reported, looked at: which of the paths can matter to a config at all
//! ([`ChangeScope`], which the daemon's watcher asks for every event) and which of them really
//! changed since the last sync ([`Engine::changed_under`], asked before a sync starts), so that
//! the engine's own writes, ignored files and temporary files never start one.

use std::path::{Path, PathBuf};

use dotsync_core::SyncConfig;
use dotsync_core::paths::{Coverage, HomePath};

use crate::Engine;

/// Where a change can matter to one config: a path its [`Coverage`] covers, neither in
/// dotsync's state nor a temporary file of the engine's.
#[derive(Debug, Clone)]
pub struct ChangeScope {
    coverage: Coverage,
    home: PathBuf,
    state_dir: PathBuf,
}

impl ChangeScope {
    /// Whether a change at `p` (absolute) can matter to the config.
    pub fn matters(&self, p: &Path) -> bool {
        if p.starts_with(&self.state_dir) {
            return false;
        }
        let Ok(hp) = HomePath::from_abs(p, &self.home) else {
            return false;
        };
        let name = p.file_name().map(|n| n.to_string_lossy());
        if name.is_some_and(|n| n.contains(crate::scan::TEMP_MARK)) {
            return false;
        }
        self.coverage.covers(hp.repo.as_str())
    }
}

/// A directory dropped into a watched tree is looked into up to this many entries; beyond that
/// it counts as changed as a whole.
const MAX_WALK: usize = 100_000;

impl Engine {
    /// Of the `paths` (absolute; files or directories) a watcher reported under `cfg`, those
    /// whose content may differ from what the last sync left or saw. A directory is looked
    /// into (one moved into a watched tree has no events for its files), without following
    /// symlinks and up to [`MAX_WALK`] entries (beyond, the directory itself is returned).
    /// Paths the config does not cover (outside its roots, ignored), dotsync's state and its
    /// temporary files are left out: they are never a reason to sync.
    pub fn changed_under(&self, cfg: &SyncConfig, paths: Vec<PathBuf>) -> Vec<PathBuf> {
        let Ok(scope) = self.change_scope(cfg) else {
            // The sync itself reports the broken pattern.
            return paths;
        };
        let walk = Walk {
            engine: self,
            cfg,
            scope,
        };
        let mut out = Vec::new();
        for p in paths {
            if !walk.scope.matters(&p) {
                continue;
            }
            match std::fs::symlink_metadata(&p) {
                Ok(m) if m.is_dir() => {
                    let mut seen = 0;
                    if walk.dir(&p, &mut out, &mut seen).is_err() {
                        out.push(p);
                    }
                }
                _ => {
                    if !self.is_unchanged(cfg, &p) {
                        out.push(p);
                    }
                }
            }
        }
        out
    }

    /// Where a change can matter to `cfg`; fails on an ignore pattern that does not compile.
    pub fn change_scope(&self, cfg: &SyncConfig) -> Result<ChangeScope, crate::SyncError> {
        Ok(ChangeScope {
            coverage: self.coverage(cfg)?,
            home: self.home.clone(),
            state_dir: self.layout.state_dir(),
        })
    }
}

struct Walk<'a> {
    engine: &'a Engine,
    cfg: &'a SyncConfig,
    scope: ChangeScope,
}

/// The walk went past [`MAX_WALK`] entries, or a directory could not be read.
struct TooMuch;

impl Walk<'_> {
    fn dir(&self, dir: &Path, out: &mut Vec<PathBuf>, seen: &mut usize) -> Result<(), TooMuch> {
        let rd = std::fs::read_dir(dir).map_err(|_| TooMuch)?;
        for entry in rd.flatten() {
            *seen += 1;
            if *seen > MAX_WALK {
                return Err(TooMuch);
            }
            let p = entry.path();
            if !self.scope.matters(&p) {
                continue;
            }
            match entry.file_type() {
                Ok(t) if t.is_dir() => self.dir(&p, out, seen)?,
                _ => {
                    if !self.engine.is_unchanged(self.cfg, &p) {
                        out.push(p);
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_covered_files_that_differ_from_the_last_sync_count() {
        let dir = tempfile::tempdir().expect("tempdir");
        let home = dir.path().join("home");
        std::fs::create_dir_all(home.join(".config/app/.git")).expect("mkdir");
        let layout = dotsync_state::Layout::new(home.join(".dotsync"));
        std::fs::create_dir_all(layout.state_dir()).expect("mkdir");
        let store =
            std::sync::Arc::new(dotsync_state::Store::open(&layout.db_path()).expect("store"));
        let engine = Engine::new(layout.clone(), store, home.clone()).expect("engine");
        let cfg: SyncConfig = serde_json::from_value(serde_json::json!({
            "id": "cfg", "name": "app", "paths": ["~/.config/app"], "ignore": [".git", "*.swp"],
            "remote": "/nowhere.git", "branch": "main", "direction": "both",
            "on_conflict": "keep-both", "auto": true, "interval_s": 60, "notify": true,
        }))
        .expect("config");
        let app = home.join(".config/app");
        for (name, body) in [
            ("a.conf", "a"),
            (".git/HEAD", "ref"),
            (".a.conf.swp", "x"),
            (".a.conf.dotsync-tmp-0123abcd", "half"),
        ] {
            std::fs::write(app.join(name), body).expect("write");
        }
        std::fs::write(home.join(".bashrc"), "not covered").expect("write");
        // A directory reported whole (moved in): only the covered file inside counts.
        let changed = engine.changed_under(&cfg, vec![app.clone(), home.join(".bashrc")]);
        assert_eq!(changed, vec![app.join("a.conf")]);
        // A reported file that is ignored does not count either.
        assert!(
            engine
                .changed_under(&cfg, vec![app.join(".a.conf.swp")])
                .is_empty()
        );
    }
}
