//! The state of a config's files: here, in its last synced state, or both.

use dotsync_core::SyncConfig;
use dotsync_core::paths::{Ignore, RepoPath};

use crate::records::{self};
use crate::scan::Scanner;
use crate::{Engine, SyncError};

pub use dotsync_api::{FileState, FileStatus};

impl Engine {
    /// The files a config covers, here or in its last synced state, with their state.
    pub fn files(&self, cfg: &SyncConfig) -> Result<Vec<FileStatus>, SyncError> {
        let ignore = Ignore::new(&cfg.ignore).map_err(|e| SyncError::Invalid(e.to_string()))?;
        let bases = records::load_bases(&self.store, &cfg.id)?;
        let cache = std::sync::OnceLock::from(records::load_stat_cache(&self.store, &cfg.id)?);
        let conflicts: std::collections::BTreeSet<String> =
            records::load_conflicts(&self.store, Some(&cfg.id))?
                .into_iter()
                .map(|c| c.path)
                .collect();
        let state_dir = self.layout.state_dir();
        let temps: Vec<(String, bool)> = records::apply_tokens(&self.store, None)?
            .into_iter()
            .map(|t| (t, false))
            .collect();
        let scan = Scanner {
            home: &self.home,
            state_dir: &state_dir,
            ignore: &ignore,
            cache: &cache,
            temps: &temps,
            progress: &mut |_| {},
            machine: &self.machine,
        }
        .scan(cfg);
        let mut out = Vec::new();
        for (p, e) in &scan.files {
            let key = p.to_string();
            let state = if conflicts.contains(&key) {
                FileState::Conflict
            } else {
                match bases.get(&key) {
                    None => FileState::New,
                    Some(b) if *b == e.version => FileState::Synced,
                    Some(_) => FileState::Modified,
                }
            };
            out.push(FileStatus {
                path: key,
                size: Some(e.size),
                mode: Some(format!("{:o}", e.version.mode)),
                kind: Some(e.version.kind),
                state,
            });
        }
        for (k, b) in &bases {
            if RepoPath::parse(k).is_ok_and(|rp| !scan.files.contains_key(&rp)) {
                out.push(FileStatus {
                    path: k.clone(),
                    size: None,
                    mode: Some(format!("{:o}", b.mode)),
                    kind: Some(b.kind),
                    state: if conflicts.contains(k) {
                        FileState::Conflict
                    } else {
                        FileState::Deleted
                    },
                });
            }
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }
}
