//! The rules a config must follow beside the others: a name of its own, and no file shared
//! with another config of the same remote and branch.

use std::path::Path;

use super::SyncConfig;
use crate::paths;

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
