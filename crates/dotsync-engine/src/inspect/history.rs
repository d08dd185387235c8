//! A file's history (what the remote and the kept refs hold of it), its bytes at a version,
//! and restoring a version into the home.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use dotsync_core::SyncConfig;
use dotsync_core::paths::RepoPath;
use dotsync_core::plan::{Kind, Version};

use super::kept_prefix;
use crate::apply::Target;
use crate::git::{Repo, tracking_ref};
use crate::records::{self, Outcome};
use crate::scan::StatKey;
use crate::{Engine, SyncError};

pub use dotsync_api::HistoryEntry;

fn is_hex_rev(rev: &str) -> bool {
    (4..=40).contains(&rev.len()) && rev.bytes().all(|b| b.is_ascii_hexdigit())
}

impl Engine {
    /// Every version of a file in the remote's history (as last fetched), newest first.
    pub fn history(&self, cfg: &SyncConfig, path: &str) -> Result<Vec<HistoryEntry>, SyncError> {
        let rp = self.history_path(cfg, path)?;
        let repo = self.repo_for(cfg)?;
        // The remote's history as last fetched, and what this machine kept of histories the
        // remote no longer has (moved back, replaced): what `log` shows never depends on the
        // remote keeping its commits.
        let tip = tracking_ref(&cfg.branch);
        let kept_glob = format!("--glob={}*", kept_prefix(&cfg.id));
        let mut starts: Vec<&str> = vec![&kept_glob];
        if repo.rev_parse(&tip).is_some() {
            starts.push(&tip);
        } else {
            let kept = repo.run(
                &[
                    "for-each-ref",
                    "--count=1",
                    "--format=%(objectname)",
                    &kept_prefix(&cfg.id),
                ],
                None,
            )?;
            if kept.iter().all(u8::is_ascii_whitespace) {
                // Nothing to start from: `git log` would fall back to HEAD.
                return Ok(Vec::new());
            }
        }
        let format = format!(
            "--format=%x1e%H%x1f%ct%x1f%an%x1f%s%x1f%(trailers:key=Dotsync-Machine,valueonly,separator=%x2C)%x1f%(trailers:key={},valueonly,separator=%x1d)",
            crate::sync::message::KEY_MERGE_TRAILER
        );
        // The trailer for this file, if it was merged by key in that commit.
        let merged_prefix = format!("{}: ", crate::sync::message::message_path(rp.as_str()));
        let mut args = vec![
            "--literal-pathspecs",
            "log",
            "--no-renames",
            "--raw",
            "-z",
            "--no-abbrev",
            "--date-order",
            &format,
        ];
        args.extend(starts);
        args.extend(["--", rp.as_str()]);
        let out = repo.run(&args, None)?;
        let mut entries = Vec::new();
        for rec in out.split(|&b| b == 0x1e).filter(|r| !r.is_empty()) {
            // "<header>\0\n" then ":<modes> <old> <new> <status>\0<path>\0" per change;
            // with -z names are not quoted, whatever characters they hold.
            let mut fields = rec.split(|&b| b == 0);
            let Some(head) = fields.next() else { continue };
            let head = String::from_utf8_lossy(head);
            let f: Vec<&str> = head.split('\x1f').collect();
            if f.len() < 5 {
                continue;
            }
            let mut blob = None;
            let mut found = false;
            while let Some(meta) = fields.next() {
                let meta = String::from_utf8_lossy(meta);
                let Some(meta) = meta.trim_start_matches('\n').strip_prefix(':') else {
                    continue;
                };
                let Some(p) = fields.next() else { break };
                if p != rp.as_str().as_bytes() {
                    continue;
                }
                let parts: Vec<&str> = meta.split_whitespace().collect();
                if parts.len() >= 5 {
                    found = true;
                    blob = if parts[4].starts_with('D') {
                        None
                    } else {
                        Some(parts[3].to_owned())
                    };
                }
            }
            if !found {
                continue;
            }
            let machine = if f[4].trim().is_empty() {
                f[2].trim_end_matches(" (dotsync)").to_owned()
            } else {
                f[4].trim().to_owned()
            };
            let mut message = f[3].to_owned();
            if let Some(keys) = f.get(5).and_then(|t| {
                t.split('\x1d')
                    .find_map(|v| v.trim().strip_prefix(&merged_prefix))
            }) {
                let _ = write!(message, " (merged by key: {keys})");
            }
            entries.push(HistoryEntry {
                commit: f[0].to_owned(),
                time: f[1].parse().unwrap_or(0),
                machine,
                message,
                size: None,
                blob,
            });
        }
        let blobs: Vec<&str> = entries.iter().filter_map(|e| e.blob.as_deref()).collect();
        if !blobs.is_empty() {
            let mut input = blobs.join("\n");
            input.push('\n');
            let sizes = repo.run(
                &["cat-file", "--batch-check=%(objectname) %(objectsize)"],
                Some(input.as_bytes()),
            )?;
            let sizes: BTreeMap<String, u64> = String::from_utf8_lossy(&sizes)
                .lines()
                .filter_map(|l| {
                    let (o, s) = l.split_once(' ')?;
                    Some((o.to_owned(), s.parse().ok()?))
                })
                .collect();
            for e in &mut entries {
                e.size = e.blob.as_ref().and_then(|b| sizes.get(b).copied());
            }
        }
        Ok(entries)
    }

    /// A file's bytes at a commit of the history, or in the home now when `rev` is None.
    pub fn content(
        &self,
        cfg: &SyncConfig,
        path: &str,
        rev: Option<&str>,
    ) -> Result<Vec<u8>, SyncError> {
        let rp = self.history_path(cfg, path)?;
        match rev {
            None => self.read_home(cfg, &rp)?.ok_or_else(|| {
                SyncError::NotFound(format!("~/{path} does not exist on this machine"))
            }),
            Some(rev) => {
                let (bytes, _) = self.version_at(cfg, &rp, rev)?;
                Ok(bytes)
            }
        }
    }

    fn version_at(
        &self,
        cfg: &SyncConfig,
        rp: &RepoPath,
        rev: &str,
    ) -> Result<(Vec<u8>, Version), SyncError> {
        if !is_hex_rev(rev) {
            return Err(SyncError::Invalid(format!(
                "{rev:?} is not a commit id (4 to 40 hex digits)"
            )));
        }
        let repo = self.repo_for(cfg)?;
        let commit = repo.rev_parse(rev).ok_or_else(|| {
            SyncError::NotFound(format!("no commit {rev} in the history of {}", cfg.name))
        })?;
        let out = repo
            .try_run(&["ls-tree", "-z", &commit, "--", rp.as_str()], None)
            .map_err(|f| SyncError::Git(f.stderr))?;
        let rec = out
            .split(|&b| b == 0)
            .find(|r| !r.is_empty())
            .ok_or_else(|| {
                SyncError::NotFound(format!("{} does not exist in commit {}", rp, &commit[..12]))
            })?;
        let head = String::from_utf8_lossy(rec.split(|&b| b == b'\t').next().unwrap_or(&[]));
        let parts: Vec<&str> = head.split(' ').collect();
        if parts.len() < 3 || parts[1] != "blob" {
            return Err(SyncError::NotFound(format!(
                "{rp} is not a file in commit {}",
                &commit[..12]
            )));
        }
        let git_mode = u32::from_str_radix(parts[0], 8).unwrap_or(0o100644);
        let meta = self.meta_at(&repo, Some(&commit));
        let kind = if git_mode == 0o120000 {
            Kind::Symlink
        } else {
            Kind::File
        };
        let mut version = Version {
            kind,
            blob: parts[2].to_owned(),
            mode: meta.file_mode(rp.as_str(), git_mode),
        };
        let mut bytes = repo.read_blob(parts[2])?;
        if kind == Kind::File && cfg.encrypts(rp.as_str()) && crate::content::is_sealed(&bytes) {
            // Shown and restored as plaintext, here only.
            let ids = crate::content::load_identities(&self.key_path())
                .map_err(|e| SyncError::Invalid(e.to_string()))?;
            bytes = crate::content::Sealer::new(ids, "", &[])
                .open(&bytes)
                .ok_or_else(|| {
                    SyncError::Invalid(format!("~/{rp}: {}", crate::content::NEEDS_KEY))
                })?;
            version.blob = repo.write_blob(&bytes)?;
        }
        Ok((bytes, version))
    }

    /// Puts the version of `path` at commit `rev` back into the home, atomically. It is then a
    /// local edit like any other, and the next sync pushes it. Returns the bytes written.
    pub fn restore(&self, cfg: &SyncConfig, path: &str, rev: &str) -> Result<u64, SyncError> {
        let rp = self.history_path(cfg, path)?;
        let abs = rp.under(&self.home);
        if !self.coverage(cfg)?.covers_file(&abs) {
            return Err(SyncError::Invalid(format!(
                "~/{path} is not one of config {}'s files",
                cfg.name
            )));
        }
        let (bytes, version) = self.version_at(cfg, &rp, rev)?;
        self.mark_restored_elsewhere(cfg, &abs)?;
        let (repo_dir, lock) = self.repo_and_lock(cfg);
        let _guard = lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // The version being replaced may never have synced: it goes into history first, so
        // a restore cannot lose an edit.
        let repo = Repo::open_or_init(&repo_dir)?;
        let tip = repo.rev_parse(&tracking_ref(&cfg.branch));
        let replaced = self.home_version(&repo, &rp)?;
        let preserve = self.preserve_current(&repo, cfg, &rp, tip.as_deref())?;
        if !preserve.is_empty() {
            records::record(
                &self.store,
                &cfg.id,
                &Outcome {
                    preserve_add: preserve,
                    ..Outcome::default()
                },
            )?;
        }
        // A sync killed before its record may have written (or removed) the version this
        // replaces, merged into it, or settled it: its `pulled` row reads the home against
        // the remote the next sync fetches. The restore is the person's edit of the version
        // it replaced: the row reads that version from now on, not the restored file (which
        // may be exactly what the home held before that sync, read as "never written").
        // Marked before the write (while the home is unchanged, the mark reads the same);
        // after a first restore everything is the person's, so the first mark stays.
        records::mark_restored(&self.store, &cfg.id, rp.as_str(), replaced.as_ref())?;
        let state_dir = self.layout.state_dir();
        let roots = self.config_roots(cfg);
        let none = |_: &str| None;
        let token = dotsync_state::random_hex(8);
        records::add_apply_token(&self.store, &cfg.id, &token)?;
        let target = Target {
            home: &self.home,
            state_dir: &state_dir,
            roots: &roots,
            dir_mode: &none,
            token: &token,
        };
        let current = std::fs::symlink_metadata(&abs)
            .ok()
            .map(|m| StatKey::of(&m));
        let bytes = crate::local::for_home(&abs, version.kind, bytes);
        target
            .write(&abs, version.kind, version.mode, &bytes, current)
            .map_err(|source| SyncError::Apply {
                path: abs.clone(),
                source,
            })?;
        records::remove_apply_token(&self.store, &cfg.id, &token)?;
        Ok(bytes.len() as u64)
    }

    /// Another config covering the same file (each on its own remote) may have a `pulled`
    /// row of it from a sync killed before its record: the restore is the person's edit for
    /// that config too, and its row is marked the same way (each under its own repository's
    /// lock, taken one at a time, before the file changes).
    fn mark_restored_elsewhere(&self, cfg: &SyncConfig, abs: &Path) -> Result<(), SyncError> {
        let Some(rel) = abs.strip_prefix(&self.home).ok().and_then(Path::to_str) else {
            return Ok(());
        };
        for other in self.store.list_configs()? {
            if other.id == cfg.id || !self.coverage(&other)?.covers_file(abs) {
                continue;
            }
            let Ok(rp) = self.history_path(&other, rel) else {
                continue;
            };
            if !records::load_pulled(&self.store, &other.id)?.contains_key(rp.as_str()) {
                continue;
            }
            let (repo_dir, lock) = self.repo_and_lock(&other);
            let _guard = lock
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let repo = Repo::open_or_init(&repo_dir)?;
            let replaced = self.home_version(&repo, &rp)?;
            records::mark_restored(&self.store, &other.id, rp.as_str(), replaced.as_ref())?;
        }
        Ok(())
    }
}
