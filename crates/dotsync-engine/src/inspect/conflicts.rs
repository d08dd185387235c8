//! Conflicts as clients see them, one side's content, and their resolution.

use std::collections::BTreeMap;

use dotsync_core::SyncConfig;
use dotsync_core::plan::Kind;

use super::parse_path;
use crate::apply::Target;
use crate::git::Repo;
use crate::records::{self, Outcome, decode_version};
use crate::scan::StatKey;
use crate::{Engine, SyncError};

pub use dotsync_api::{ConflictInfo, ConflictReason};

/// How a person resolves a conflict.
#[derive(Debug, Clone)]
pub enum Resolution {
    /// Keep this machine's version; the next sync pushes it.
    Local,
    /// Take the other machine's version into the home now.
    Remote,
    /// Write this content (an edited merge) into the home; the next sync pushes it.
    Content(Vec<u8>),
}

impl Engine {
    /// The open conflicts, of one config or all.
    pub fn conflicts(&self, cfgs: &[SyncConfig]) -> Result<Vec<ConflictInfo>, SyncError> {
        let by_id: BTreeMap<&str, &SyncConfig> = cfgs.iter().map(|c| (c.id.as_str(), c)).collect();
        let mut out = Vec::new();
        for c in records::load_conflicts(&self.store, None)? {
            let Some(cfg) = by_id.get(c.config_id.as_str()) else {
                continue;
            };
            let binary = self.conflict_side_binary(cfg, &c);
            let remote_machine = c
                .remote_commit
                .as_deref()
                .and_then(|commit| self.last_author(cfg, commit, &c.path));
            out.push(ConflictInfo {
                config: cfg.name.clone(),
                config_id: cfg.id.clone(),
                path: c.path.clone(),
                reason: ConflictReason::from_name(&c.reason),
                detected_at: c.detected_at,
                local_exists: self.home.join(&c.path).symlink_metadata().is_ok(),
                remote_exists: c.remote.is_some(),
                base_exists: c.base.is_some(),
                remote_commit: c.remote_commit.clone(),
                remote_machine,
                binary,
            });
        }
        Ok(out)
    }

    /// The machine of the last commit up to `commit` that changed `path`.
    fn last_author(&self, cfg: &SyncConfig, commit: &str, path: &str) -> Option<String> {
        let repo = self.repo_for(cfg).ok()?;
        let out = repo
            .run(
                &[
                    "--literal-pathspecs",
                    "log",
                    "-1",
                    "--format=%an%x1f%(trailers:key=Dotsync-Machine,valueonly,separator=%x2C)",
                    commit,
                    "--",
                    path,
                ],
                None,
            )
            .ok()?;
        let text = String::from_utf8_lossy(&out);
        let (author, trailer) = text.trim_end().split_once('\x1f')?;
        let name = if trailer.trim().is_empty() {
            author.trim_end_matches(" (dotsync)")
        } else {
            trailer.trim()
        };
        (!name.is_empty()).then(|| name.to_owned())
    }

    fn conflict_side_binary(&self, cfg: &SyncConfig, c: &records::ConflictRecord) -> bool {
        let local_bin = std::fs::read(self.home.join(&c.path)).is_ok_and(|b| b.contains(&0));
        let remote_bin = c
            .remote
            .as_deref()
            .and_then(decode_version)
            .and_then(|v| self.repo_for(cfg).ok()?.read_blob(&v.blob).ok())
            .is_some_and(|b| b.contains(&0));
        local_bin || remote_bin
    }

    fn conflict_record(
        &self,
        cfg: &SyncConfig,
        path: &str,
    ) -> Result<records::ConflictRecord, SyncError> {
        records::load_conflicts(&self.store, Some(&cfg.id))?
            .into_iter()
            .find(|c| c.path == path)
            .ok_or_else(|| {
                SyncError::NotFound(format!("{path} of config {} is not in conflict", cfg.name))
            })
    }

    /// One side of a conflict: `local` (the file in the home now), `remote` or `base`.
    /// `Ok(None)` when that side has no file.
    pub fn conflict_content(
        &self,
        cfg: &SyncConfig,
        path: &str,
        side: &str,
    ) -> Result<Option<Vec<u8>>, SyncError> {
        let c = self.conflict_record(cfg, path)?;
        let rp = parse_path(path)?;
        if !self.coverage(cfg)?.covers_file(&rp.under(&self.home)) {
            return Err(SyncError::Invalid(format!(
                "~/{path} is not one of config {}'s files any more; its conflict goes with the next sync",
                cfg.name
            )));
        }
        match side {
            "local" => self.read_home(cfg, &rp),
            "remote" | "base" => {
                let v = if side == "remote" { c.remote } else { c.base };
                match v.as_deref().and_then(decode_version) {
                    Some(v) => Ok(Some(self.repo_for(cfg)?.read_blob(&v.blob)?)),
                    None => Ok(None),
                }
            }
            other => Err(SyncError::Invalid(format!(
                "side must be local, remote or base, not {other:?}"
            ))),
        }
    }

    /// Resolves a conflict. The home is written at once (for `Remote` and `Content`); the
    /// conflict is cleared and the base moved to the remote's version, so the next sync pushes
    /// whatever the home now holds.
    pub fn resolve(&self, cfg: &SyncConfig, path: &str, how: Resolution) -> Result<(), SyncError> {
        let (repo_dir, lock) = self.repo_and_lock(cfg);
        let _guard = lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let c = self.conflict_record(cfg, path)?;
        let rp = parse_path(path)?;
        if !self.coverage(cfg)?.covers_file(&rp.under(&self.home)) {
            return Err(SyncError::Invalid(format!(
                "~/{path} is not one of config {}'s files any more; its conflict goes with the next sync",
                cfg.name
            )));
        }
        let remote = c.remote.as_deref().and_then(decode_version);
        let repo = Repo::open_or_init(&repo_dir)?;
        let abs = rp.under(&self.home);
        let current = std::fs::symlink_metadata(&abs)
            .ok()
            .map(|m| StatKey::of(&m));
        let roots = self.config_roots(cfg);
        let meta = self.meta_at(&repo, c.remote_commit.as_deref());
        let dir_mode = |rel: &str| meta.dir_mode(rel);
        let state_dir = self.layout.state_dir();
        let token = dotsync_state::random_hex(8);
        let target = Target {
            home: &self.home,
            state_dir: &state_dir,
            roots: &roots,
            dir_mode: &dir_mode,
            token: &token,
        };
        let mut outcome = Outcome {
            conflicts_cleared: vec![path.to_owned()],
            bases: vec![(path.to_owned(), remote.clone())],
            ..Outcome::default()
        };
        if !matches!(how, Resolution::Local) {
            // This machine's version is replaced: it goes into history first (kept here at
            // once, and committed to the remote by the next push).
            outcome.preserve_add =
                self.preserve_current(&repo, cfg, &rp, c.remote_commit.as_deref())?;
        }
        records::add_apply_token(&self.store, &cfg.id, &token)?;
        let fail = |source: crate::apply::ApplyError| SyncError::Apply {
            path: abs.clone(),
            source,
        };
        match how {
            Resolution::Local => {}
            Resolution::Remote => {
                if let Some(v) = &remote {
                    let content = crate::local::for_home(&abs, v.kind, repo.read_blob(&v.blob)?);
                    let stat = target
                        .write(&abs, v.kind, v.mode, &content, current)
                        .map_err(fail)?;
                    outcome
                        .stats
                        .push((path.to_owned(), Some((stat, v.clone()))));
                } else {
                    target.remove(&abs, current).map_err(fail)?;
                    outcome.stats.push((path.to_owned(), None));
                }
            }
            Resolution::Content(bytes) => {
                // The edited result is a regular file: it keeps the permissions of the file it
                // replaces, never those of a symlink (0777) or of anything else that is there.
                let mode = current
                    .filter(|s| s.mode & 0o170_000 == 0o100_000)
                    .map(|s| s.mode & 0o777)
                    .or(remote
                        .as_ref()
                        .filter(|v| v.kind == Kind::File)
                        .map(|v| v.mode))
                    .unwrap_or(0o644);
                // Kept in the object store too, so the edited result is never lost.
                repo.write_blob(&bytes)?;
                // This machine's local-only blocks stay what they are here.
                let bytes = crate::local::for_home(&abs, Kind::File, bytes);
                target
                    .write(&abs, Kind::File, mode, &bytes, current)
                    .map_err(fail)?;
            }
        }
        records::record(&self.store, &cfg.id, &outcome)?;
        records::remove_apply_token(&self.store, &cfg.id, &token)?;
        // The remote's version is the new base, so "the remote did not move" no longer holds.
        records::forget_commit(&self.store, &cfg.id)?;
        Ok(())
    }
}
