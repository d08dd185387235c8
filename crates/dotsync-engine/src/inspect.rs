//! What the API and CLI ask of the engine besides syncing: conflicts and their resolution, a
//! file's history, old versions and their restore, and the state of a config's files.

use std::collections::BTreeMap;

use dotsync_core::SyncConfig;
use dotsync_core::paths::{Ignore, RepoPath};
use dotsync_core::plan::{Kind, Version};

use crate::apply::Target;
use crate::git::{Repo, tracking_ref};
use crate::meta::{META_PATH, Meta};
use crate::records::{self, Outcome, decode_version};
use crate::scan::{Scanner, StatKey};
use crate::{Engine, SyncError};

pub use dotsync_api::{ConflictInfo, ConflictReason, FileState, FileStatus, HistoryEntry};

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

fn is_hex_rev(rev: &str) -> bool {
    (4..=40).contains(&rev.len()) && rev.bytes().all(|b| b.is_ascii_hexdigit())
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
        let ignore = Ignore::new(&cfg.ignore).map_err(|e| SyncError::Invalid(e.to_string()))?;
        if !dotsync_core::paths::covers(&cfg.paths, &ignore, &rp.under(&self.home), &self.home) {
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
        let _guard = lock.lock().unwrap_or_else(|p| p.into_inner());
        let c = self.conflict_record(cfg, path)?;
        let rp = parse_path(path)?;
        let ignore = Ignore::new(&cfg.ignore).map_err(|e| SyncError::Invalid(e.to_string()))?;
        if !dotsync_core::paths::covers(&cfg.paths, &ignore, &rp.under(&self.home), &self.home) {
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
            Resolution::Remote => match &remote {
                Some(v) => {
                    let content = crate::local::for_home(&abs, v.kind, repo.read_blob(&v.blob)?);
                    let stat = target
                        .write(&abs, v.kind, v.mode, &content, current)
                        .map_err(fail)?;
                    outcome
                        .stats
                        .push((path.to_owned(), Some((stat, v.clone()))));
                }
                None => {
                    target.remove(&abs, current).map_err(fail)?;
                    outcome.stats.push((path.to_owned(), None));
                }
            },
            Resolution::Content(bytes) => {
                let mode = current
                    .map(|s| s.mode & 0o777)
                    .or(remote.as_ref().map(|v| v.mode))
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

    /// Keeps the home's current version of `rp` in history before it is replaced: a commit
    /// on top of `on` (or on nothing) under a kept ref at once, and the version returned for
    /// the `preserve` queue, which the next push commits to the remote. Nothing when there is
    /// no file, or its version is already the base (so already in history).
    fn preserve_current(
        &self,
        repo: &Repo,
        cfg: &SyncConfig,
        rp: &RepoPath,
        on: Option<&str>,
    ) -> Result<Vec<(String, Version)>, SyncError> {
        let abs = rp.under(&self.home);
        let Ok(m) = std::fs::symlink_metadata(&abs) else {
            return Ok(Vec::new());
        };
        let kind = if m.file_type().is_symlink() {
            Kind::Symlink
        } else if m.is_file() {
            Kind::File
        } else {
            return Ok(Vec::new());
        };
        let bytes = crate::scan::read_synced(&abs, kind).map_err(|source| SyncError::Io {
            path: abs.clone(),
            source,
        })?;
        let oid = repo.write_blob(&bytes)?;
        let mode = if kind == Kind::Symlink {
            0o777
        } else {
            crate::meta::file_perm(std::os::unix::fs::PermissionsExt::mode(&m.permissions()))
        };
        let version = Version {
            kind,
            blob: oid.clone(),
            mode,
        };
        let base = records::load_bases(&self.store, &cfg.id)?.remove(rp.as_str());
        if base.as_ref().is_some_and(|b| b.blob == oid) {
            return Ok(Vec::new());
        }
        let on = on.filter(|c| repo.rev_parse(c).is_some());
        let tree = repo.build_tree(
            on,
            &[(
                rp.to_string(),
                Some((crate::git::git_mode(kind, mode), oid)),
            )],
        )?;
        let machine = self.machine();
        let msg = format!(
            "{machine}: keep this machine's version of {rp} before replacing it\n\n\
             Dotsync-Machine: {machine}\n"
        );
        let commit = repo.commit_tree(
            &tree,
            on,
            &msg,
            (
                &format!("{machine} (dotsync)"),
                &format!("dotsync@{machine}"),
            ),
        )?;
        repo.update_ref(&kept_ref(&cfg.id, &commit), &commit)?;
        if cfg.direction == dotsync_core::Direction::Pull {
            // Never pushed from here: the kept commit is its history.
            return Ok(Vec::new());
        }
        Ok(vec![(rp.to_string(), version)])
    }

    fn meta_at(&self, repo: &Repo, commit: Option<&str>) -> Meta {
        let Some(commit) = commit else {
            return Meta::default();
        };
        let spec = format!("{commit}:{META_PATH}");
        match repo.try_run(&["cat-file", "blob", &spec], None) {
            Ok(bytes) => Meta::parse(&bytes),
            Err(_) => Meta::default(),
        }
    }

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
                message.push_str(&format!(" (merged by key: {keys})"));
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

    /// A covered file's bytes (a symlink's target) in the home now, `None` if it does not exist.
    /// Refuses files the config does not cover and paths that pass through a symlink from the
    /// config's root down: the API never becomes a way to read anything else in the home.
    fn read_home(&self, cfg: &SyncConfig, rp: &RepoPath) -> Result<Option<Vec<u8>>, SyncError> {
        let ignore = Ignore::new(&cfg.ignore).map_err(|e| SyncError::Invalid(e.to_string()))?;
        let abs = rp.under(&self.home);
        if !dotsync_core::paths::covers(&cfg.paths, &ignore, &abs, &self.home) {
            return Err(SyncError::Invalid(format!(
                "~/{rp} is not one of config {}'s files",
                cfg.name
            )));
        }
        let roots = self.config_roots(cfg);
        let none = |_: &str| None;
        let state_dir = self.layout.state_dir();
        let target = Target {
            home: &self.home,
            state_dir: &state_dir,
            roots: &roots,
            dir_mode: &none,
            token: "",
        };
        target
            .check_no_symlink_parents(&abs)
            .map_err(|e| SyncError::Invalid(format!("~/{rp}: {e}")))?;
        let Ok(m) = std::fs::symlink_metadata(&abs) else {
            return Ok(None);
        };
        let kind = if m.file_type().is_symlink() {
            Kind::Symlink
        } else if m.is_file() {
            Kind::File
        } else {
            return Err(SyncError::Invalid(format!("~/{rp} is not a file")));
        };
        crate::scan::read_synced(&abs, kind)
            .map(Some)
            .map_err(|source| SyncError::Io { path: abs, source })
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
        let ignore = Ignore::new(&cfg.ignore).map_err(|e| SyncError::Invalid(e.to_string()))?;
        if !dotsync_core::paths::covers(&cfg.paths, &ignore, &abs, &self.home) {
            return Err(SyncError::Invalid(format!(
                "~/{path} is not one of config {}'s files",
                cfg.name
            )));
        }
        let (bytes, version) = self.version_at(cfg, &rp, rev)?;
        let (repo_dir, lock) = self.repo_and_lock(cfg);
        let _guard = lock.lock().unwrap_or_else(|p| p.into_inner());
        // The version being replaced may never have synced: it goes into history first, so
        // a restore cannot lose an edit.
        let repo = Repo::open_or_init(&repo_dir)?;
        let tip = repo.rev_parse(&tracking_ref(&cfg.branch));
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

    /// The files a config covers, here or in its last synced state, with their state.
    pub fn files(&self, cfg: &SyncConfig) -> Result<Vec<FileStatus>, SyncError> {
        let ignore = Ignore::new(&cfg.ignore).map_err(|e| SyncError::Invalid(e.to_string()))?;
        let bases = records::load_bases(&self.store, &cfg.id)?;
        let cache = records::load_stat_cache(&self.store, &cfg.id)?;
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

/// A repository path from a client: `.zshrc`, `~/.zshrc` or an absolute path in the home are
/// all accepted by the API layer, which normalises before calling; here it must be relative.
/// Where the engine keeps commits of a config that the remote may no longer have.
pub(crate) fn kept_prefix(config_id: &str) -> String {
    format!("refs/dotsync/kept/{config_id}/")
}

pub(crate) fn kept_ref(config_id: &str, commit: &str) -> String {
    format!("{}{commit}", kept_prefix(config_id))
}

impl Engine {
    /// The repository path whose history a file has: for a per-machine file named by its
    /// home path, this machine's variant; another machine's variant is named in full
    /// (`PATH##machine.NAME`).
    fn history_path(&self, cfg: &SyncConfig, path: &str) -> Result<RepoPath, SyncError> {
        let rp = parse_path(path)?;
        if cfg.is_per_machine(path) && dotsync_core::paths::machine_variant(path).is_none() {
            return rp.for_machine(&self.machine).ok_or_else(|| {
                SyncError::Invalid(format!(
                    "this machine's name {:?} cannot be part of a path",
                    self.machine
                ))
            });
        }
        Ok(rp)
    }
}

fn parse_path(path: &str) -> Result<RepoPath, SyncError> {
    RepoPath::parse(path).map_err(|e| SyncError::Invalid(e.to_string()))
}
