//! The remote side of a sync: what the fetched tip holds for the config, and whether the
//! recorded bases still fit it (a remote moved back, emptied or replaced is never read as edits
//! or deletions).

use std::collections::{BTreeMap, BTreeSet};

use dotsync_core::SyncConfig;
use dotsync_core::paths::{Coverage, RepoPath};
use dotsync_core::plan::{Kind, Version};

use super::Emitter;
use crate::content::{NEEDS_KEY, RECIPIENTS_PATH, Sealer, is_sealed};
use crate::git::{Repo, git_mode, tracking_ref};
use crate::meta::{META_PATH, Meta};
use crate::scan::LocalEntry;
use crate::{Engine, FileAction, SyncError, SyncOptions};

/// The remote side of a sync: the fetched tip and what it holds for this config.
pub(super) struct RemoteState {
    pub tip: Option<String>,
    pub files: BTreeMap<RepoPath, Version>,
    pub meta: Meta,
    /// Covered paths the remote has but this machine cannot take (too large, names that
    /// differ only in case on a case-insensitive file system): left out of the plan, so they
    /// are neither pulled nor read as deleted.
    pub skipped: BTreeSet<String>,
    /// Paths of the tree the config does not cover (ignored here, or another config's).
    pub others: BTreeSet<String>,
    /// The repository's recipients file (`.dotsync/recipients.txt`), empty when absent.
    pub recipients: String,
    /// Encrypts and decrypts this config's `encrypt` files for this sync.
    pub sealer: Sealer,
    /// Files the config encrypts that the remote holds in plaintext (written before the file
    /// was listed in `encrypt`): encrypted with this machine's next push of the branch.
    pub plain_on_remote: BTreeSet<String>,
}

/// The remote's tip (`None`: no such branch), with its objects already fetched when this
/// repository lacks them. It runs beside the walk, so a sync that brings in another machine's
/// change does not wait for the fetch after the walk. A fetch that fails here is only logged:
/// [`Engine::load_remote`] fetches again and reports what went wrong.
pub(super) fn check_remote(
    repo: &Repo,
    url: &str,
    branch: &str,
) -> Result<Option<String>, SyncError> {
    let head = repo.ls_remote(url, branch)?;
    if let Some(h) = &head
        && !repo.has_object_here(h)
        && let Err(e) = repo.fetch(url, branch)
    {
        tracing::debug!("fetching beside the walk failed (the sync fetches again): {e}");
    }
    Ok(head)
}

impl Engine {
    /// The other machines whose commits lie between `from` (the commit this machine last
    /// synced, if any) and the remote's `tip`, newest first, comma-separated; `None` when the
    /// remote did not move or only this machine committed. Read from the commits' machine
    /// trailer (or their author, for commits older than the trailer).
    pub(super) fn machines_between(
        &self,
        repo: &Repo,
        from: Option<&str>,
        tip: &str,
    ) -> Option<String> {
        if from == Some(tip) {
            return None;
        }
        let range = match from {
            Some(f) if repo.has_commit(f) => format!("{f}..{tip}"),
            _ => tip.to_owned(),
        };
        let out = repo
            .run(
                &[
                    "log",
                    "-n",
                    "50",
                    "--format=%an%x1f%(trailers:key=Dotsync-Machine,valueonly,separator=%x2C)",
                    &range,
                    "--",
                ],
                None,
            )
            .ok()?;
        let mut names: Vec<String> = Vec::new();
        for line in String::from_utf8_lossy(&out).lines() {
            let (author, trailer) = line.split_once('\x1f').unwrap_or((line, ""));
            let name = if trailer.trim().is_empty() {
                author.trim_end_matches(" (dotsync)").trim()
            } else {
                trailer.trim()
            };
            if !name.is_empty() && name != self.machine && !names.iter().any(|n| n == name) {
                names.push(name.to_owned());
            }
        }
        (!names.is_empty()).then(|| names.join(", "))
    }

    /// Fetches `head` if needed and reads the config's files in it.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn load_remote(
        &self,
        repo: &Repo,
        url: &str,
        cfg: &SyncConfig,
        coverage: &Coverage,
        head: Option<&str>,
        identities: &[age::x25519::Identity],
        em: &mut Emitter<'_>,
    ) -> Result<RemoteState, SyncError> {
        let Some(head) = head else {
            return Ok(RemoteState {
                tip: None,
                files: BTreeMap::new(),
                meta: Meta::default(),
                skipped: BTreeSet::new(),
                others: BTreeSet::new(),
                recipients: String::new(),
                sealer: Sealer::new(identities.to_vec(), "", &[]),
                plain_on_remote: BTreeSet::new(),
            });
        };
        // Not seen here: fetch (a pack missed while it was replaced costs one fetch too many).
        if !repo.has_object_here(head) {
            repo.fetch(url, &cfg.branch)?;
            if !repo.has_commit(head) {
                return Err(SyncError::Git(format!(
                    "the remote announced commit {head} for {} but did not send it",
                    cfg.branch
                )));
            }
        }
        repo.set_ref(&tracking_ref(&cfg.branch), head)?;
        // What changed since the tree listed last time, not the whole tree again.
        let entries = repo.ls_tree_kept(head)?;
        let mut meta = Meta::default();
        let mut files = BTreeMap::new();
        let mut skipped = BTreeSet::new();
        let mut others = BTreeSet::new();
        let mut recipients = String::new();
        for crate::git::TreeEntry {
            mode,
            oid,
            size,
            name: raw,
        } in entries
        {
            let Ok(name) = String::from_utf8(raw) else {
                em.file(
                    "(a name that is not UTF-8)",
                    FileAction::Skipped,
                    0,
                    Some("the remote has a file whose name is not UTF-8; it is left alone".into()),
                );
                continue;
            };
            if name == META_PATH {
                meta = Meta::parse(&repo.read_blob(&oid)?);
                continue;
            }
            if name == RECIPIENTS_PATH {
                // Bounded: a list of public keys, never megabytes.
                if size <= 1 << 20 {
                    recipients = String::from_utf8_lossy(&repo.read_blob(&oid)?).into_owned();
                }
                continue;
            }
            let path = match RepoPath::parse(&name) {
                Ok(p) => p,
                Err(e) => {
                    em.file(
                        &name,
                        FileAction::Skipped,
                        0,
                        Some(format!("unsafe path in the remote, never written: {e}")),
                    );
                    continue;
                }
            };
            // Per-machine files: only this machine's variant is planned here; the others'
            // stay in the tree (visible in history) and are never written into this home.
            let foreign_variant = match dotsync_core::paths::machine_variant(path.as_str()) {
                Some((_, machine)) => machine != self.machine || !cfg.is_per_machine(path.as_str()),
                None => cfg.is_per_machine(path.as_str()),
            };
            if foreign_variant || !coverage.covers(path.as_str()) {
                // Not this config's (another config's, or ignored here), but it is in the tree:
                // nothing this machine pushes may replace it (a file where it is a directory).
                others.insert(path.to_string());
                continue;
            }
            if size > crate::scan::MAX_FILE {
                // Judged by the size in the tree listing: the blob is never read.
                em.file(
                    path.as_str(),
                    FileAction::Skipped,
                    0,
                    Some(format!(
                        "larger than {} MiB on the remote ({} MiB); dotsync does not sync files that large",
                        crate::scan::MAX_FILE >> 20,
                        size >> 20
                    )),
                );
                skipped.insert(path.to_string());
                continue;
            }
            let kind = if mode == 0o120000 {
                Kind::Symlink
            } else {
                Kind::File
            };
            files.insert(path, (kind, oid, mode));
        }
        let mut files: BTreeMap<RepoPath, Version> = files
            .into_iter()
            .map(|(p, (kind, blob, mode))| {
                let m = meta.file_mode(p.as_str(), mode);
                (
                    p,
                    Version {
                        kind,
                        blob,
                        mode: m,
                    },
                )
            })
            .collect();
        // Encrypted files are planned by their plaintext: the ciphertext blob is mapped to the
        // blob of its plaintext (decrypted once, then remembered); a file no key of this
        // machine opens is left out of the plan, neither written here nor pushed over.
        let trusted = if identities.is_empty() {
            Vec::new()
        } else {
            crate::content::load_trusted(&self.trusted_path())
                .map_err(|e| SyncError::Invalid(e.to_string()))?
        };
        let sealer = Sealer::new(identities.to_vec(), &recipients, &trusted);
        if sealer.has_key() {
            for key in sealer.untrusted(&recipients) {
                em.file(
                    crate::content::RECIPIENTS_PATH,
                    FileAction::Skipped,
                    0,
                    Some(format!(
                        "the remote lists a machine key this machine does not encrypt to: \
                         {key}; if it is one of your machines, `dotsync key trust {}` adds it",
                        key.split(' ').next().unwrap_or(&key)
                    )),
                );
            }
        }
        let mut plain_on_remote = BTreeSet::new();
        let mut needs_key = Vec::new();
        for (p, v) in &mut files {
            if v.kind != Kind::File || !cfg.encrypts(p.as_str()) {
                continue;
            }
            if let Some(plain) = crate::records::plain_of(&self.store, &v.blob)? {
                v.blob = plain;
                continue;
            }
            let stored = repo.read_blob(&v.blob)?;
            if !is_sealed(&stored) {
                plain_on_remote.insert(p.to_string());
                continue;
            }
            match sealer.open(&stored) {
                Some(plain) => {
                    let plain_oid = repo.write_blob(&plain)?;
                    crate::records::put_sealed(&self.store, &v.blob, &plain_oid)?;
                    v.blob = plain_oid;
                }
                None => needs_key.push(p.clone()),
            }
        }
        for p in needs_key {
            files.remove(&p);
            em.file(p.as_str(), FileAction::Skipped, 0, Some(NEEDS_KEY.into()));
            if !em.failures.iter().any(|(f, _)| f == p.as_str()) {
                em.failures.push((p.to_string(), NEEDS_KEY.into()));
            }
            skipped.insert(p.to_string());
        }
        // Names that differ only in case are one file on a case-insensitive file system:
        // writing both would make them overwrite each other on every sync.
        if self.case_insensitive() {
            for clash in case_clashes(files.keys().map(RepoPath::as_str)) {
                em.file(&clash, FileAction::Skipped, 0, Some(CASE_CLASH.into()));
                em.failures.push((clash.clone(), CASE_CLASH.into()));
                skipped.insert(clash);
            }
            files.retain(|p: &RepoPath, _| !skipped.contains(p.as_str()));
        }
        Ok(RemoteState {
            tip: Some(head.to_owned()),
            files,
            meta,
            skipped,
            others,
            recipients,
            sealer,
            plain_on_remote,
        })
    }

    /// The bases to plan from, when the recorded ones no longer fit the remote (`None`: they
    /// do). The bases are relative to the commit this machine last synced; if the remote's
    /// branch is gone, was replaced by another repository, or no longer contains that commit,
    /// reading the difference as edits would delete or revert files everywhere. A sync killed
    /// before its record may have written files from a newer commit (`lost_row_commit`, one
    /// the remote no longer holds): that is a rewind too, even when the remote is back exactly
    /// where the record says.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn bases_for_remote(
        &self,
        cfg: &SyncConfig,
        opts: &SyncOptions,
        repo: &Repo,
        url: &str,
        synced: Option<&(String, Option<String>)>,
        remote: &RemoteState,
        bases: &BTreeMap<String, Version>,
        local: &BTreeMap<RepoPath, LocalEntry>,
        lost_row_commit: Option<&str>,
    ) -> Result<Option<BTreeMap<String, Version>>, SyncError> {
        // Where the remote still holds what the record says: a rewind only if a killed sync's
        // rows came from a commit it lost.
        let fits = || match lost_row_commit {
            None => Ok(None),
            Some(lost) => {
                self.keep(repo, cfg, lost)?;
                self.after_rewind(cfg, opts, repo, lost, remote, bases, local)
            }
        };
        if let (Some(tip), Some((s, synced_url))) = (&remote.tip, synced)
            && s == tip
            && synced_url.as_deref().is_none_or(|u| u == url)
        {
            // The usual case: the remote is where this machine left it.
            return fits();
        }
        let known = synced.filter(|(s, _)| repo.has_commit(s));
        let Some(tip) = &remote.tip else {
            // No branch on the remote: a new, empty remote (the branch was deleted, the remote
            // recreated, or the config pointed at a new one). Nothing was deleted: this
            // machine's files go to it as on a first sync.
            if let Some((s, _)) = known {
                self.keep(repo, cfg, s)?;
            }
            return Ok((!bases.is_empty()).then(BTreeMap::new));
        };
        let Some((s, old_url)) = synced else {
            // Never synced: a first sync killed before its record may still have written
            // files from a commit the remote lost since.
            return fits();
        };
        if s == tip {
            return fits();
        }
        if known.is_none() || old_url.as_deref().is_some_and(|o| o != url) {
            // Synced through another repository: this machine joins this one as a machine
            // that never synced with it (its differing files become conflicts, none is
            // deleted or overwritten).
            return Ok(Some(BTreeMap::new()));
        }
        if repo.is_ancestor(s, tip)? {
            return fits();
        }
        if !repo.have_common_history(s, tip)? {
            // A history unrelated to the one synced: the remote was recreated (and another
            // machine pushed its files there first). Joining it is safe; the old history is
            // kept here.
            self.keep(repo, cfg, s)?;
            return Ok(Some(BTreeMap::new()));
        }
        // Moved back (or rewritten): the versions since stay in this machine's history.
        self.keep(repo, cfg, s)?;
        let same_files = bases.len() == remote.files.len()
            && remote
                .files
                .iter()
                .all(|(p, v)| bases.get(p.as_str()) == Some(v));
        if same_files {
            // The remote holds exactly what this machine last synced (another machine pushed
            // its files back): nothing here would change, so there is nothing to choose.
            return fits();
        }
        self.after_rewind(cfg, opts, repo, s, remote, bases, local)
    }

    /// The bases after the remote was moved back past `synced`, as the person chose (none
    /// chosen yet: the sync stops and asks).
    #[allow(clippy::too_many_arguments)]
    fn after_rewind(
        &self,
        cfg: &SyncConfig,
        opts: &SyncOptions,
        repo: &Repo,
        synced: &str,
        remote: &RemoteState,
        bases: &BTreeMap<String, Version>,
        local: &BTreeMap<RepoPath, LocalEntry>,
    ) -> Result<Option<BTreeMap<String, Version>>, SyncError> {
        let remote_of = |k: &str| RepoPath::parse(k).ok().and_then(|rp| remote.files.get(&rp));
        let Some(tip) = &remote.tip else {
            return Ok(Some(BTreeMap::new()));
        };
        match opts.rewind {
            None => Err(SyncError::Rewound {
                branch: cfg.branch.clone(),
                synced: synced.to_owned(),
            }),
            Some(crate::RewindChoice::PushLocal) => {
                if cfg.direction == dotsync_core::Direction::Pull {
                    return Err(SyncError::Invalid(format!(
                        "config {} only pulls, so it cannot push its files back; take the remote's files instead",
                        cfg.name
                    )));
                }
                // Every file this machine knows counts as changed here since the remote's
                // version: its version goes out, its deletions too.
                let mut out = BTreeMap::new();
                for k in bases
                    .keys()
                    .cloned()
                    .chain(local.keys().map(RepoPath::to_string))
                {
                    if let Some(rv) = remote_of(&k) {
                        out.insert(k, rv.clone());
                    }
                }
                Ok(Some(out))
            }
            Some(crate::RewindChoice::TakeRemote) => {
                // This machine's versions are kept in its own history first, then every
                // difference counts as changed on the remote.
                self.keep_local(repo, cfg, tip, local)?;
                Ok(Some(
                    local
                        .iter()
                        .map(|(p, e)| (p.to_string(), e.version.clone()))
                        .collect(),
                ))
            }
        }
    }

    /// Keeps `commit` (and so its history) in the engine's repository under a ref of its own,
    /// whatever the remote does with it.
    #[allow(clippy::unused_self, reason = "one of the engine's steps of a sync")]
    pub(super) fn keep(
        &self,
        repo: &Repo,
        cfg: &SyncConfig,
        commit: &str,
    ) -> Result<(), SyncError> {
        repo.update_ref(&crate::inspect::kept_ref(&cfg.id, commit), commit)
    }

    /// Commits this machine's files of the config (on top of `tip`) to a kept ref, not pushed.
    fn keep_local(
        &self,
        repo: &Repo,
        cfg: &SyncConfig,
        tip: &str,
        local: &BTreeMap<RepoPath, LocalEntry>,
    ) -> Result<(), SyncError> {
        let mut changes = Vec::new();
        for (path, e) in local {
            let Ok(bytes) = crate::scan::read_synced(&path.under(&self.home), e.version.kind)
            else {
                continue;
            };
            let oid = repo.write_blob(&bytes)?;
            changes.push((
                path.to_string(),
                Some((git_mode(e.version.kind, e.version.mode), oid)),
            ));
        }
        self.keep_tree(
            repo,
            cfg,
            Some(tip),
            &changes,
            "this machine's files before taking the remote's",
            "The remote's branch had been moved back; these versions are kept in this\n\
             machine's history only.",
        )
    }

    /// Keeps versions whose blobs are in `repo` (what a merge started from) in a kept ref on
    /// top of `tip`; `why` is the commit message's body.
    pub(super) fn keep_versions(
        &self,
        repo: &Repo,
        cfg: &SyncConfig,
        tip: Option<&str>,
        versions: &[(String, Version)],
        why: &str,
    ) -> Result<(), SyncError> {
        let mut changes = Vec::new();
        for (path, v) in versions {
            if !repo.has_object(&v.blob) {
                tracing::warn!(config = %cfg.name, "the version of {path} a merge started from ({}) is not in the repository; it cannot be kept", v.blob);
                continue;
            }
            changes.push((
                path.clone(),
                Some((git_mode(v.kind, v.mode), v.blob.clone())),
            ));
        }
        let names: Vec<String> = changes
            .iter()
            .map(|(p, _)| super::message::message_path(p))
            .collect();
        self.keep_tree(
            repo,
            cfg,
            tip,
            &changes,
            &format!(
                "this machine's version of {} that a merge started from",
                names.join(", ")
            ),
            why,
        )
    }

    /// Commits `changes` (path, mode and blob, all in `repo`) on top of `tip` to a kept ref:
    /// this machine's history only, never pushed.
    pub(super) fn keep_tree(
        &self,
        repo: &Repo,
        cfg: &SyncConfig,
        tip: Option<&str>,
        changes: &[(String, Option<(u32, String)>)],
        title: &str,
        why: &str,
    ) -> Result<(), SyncError> {
        if changes.is_empty() {
            return Ok(());
        }
        let tree = repo.build_tree(tip, changes)?;
        repo.finish_pack()?;
        let machine = &self.machine;
        let msg = format!("{machine}: {title}\n\n{why}\n\nDotsync-Machine: {machine}\n");
        let commit = repo.commit_tree(
            &tree,
            tip,
            &msg,
            (
                &format!("{machine} (dotsync)"),
                &format!("dotsync@{machine}"),
            ),
        )?;
        self.keep(repo, cfg, &commit)
    }

    /// Brings the history synced through a previous remote of the config into this one's
    /// repository, so `dotsync log` keeps showing it. Whether it is here now (or there was
    /// nothing to bring); a failure only logs, and the caller keeps naming the old remote so
    /// that the next sync tries again.
    pub(super) fn import_history(
        &self,
        repo: &Repo,
        cfg: &SyncConfig,
        old_url: &str,
        synced: Option<&str>,
    ) -> bool {
        Self::import_from(repo, cfg, &self.repo_dir(old_url), synced, false)
    }

    /// This machine's repositories besides `repo`, opened (never created: each has a `HEAD`).
    fn other_repos(&self, repo: &Repo) -> Vec<Repo> {
        let Ok(dirs) = std::fs::read_dir(self.layout.repos_dir()) else {
            return Vec::new();
        };
        dirs.flatten()
            .map(|e| e.path())
            .filter(|d| *d != repo.dir && d.join("HEAD").is_file())
            .filter_map(|d| Repo::open_or_init(&d).ok())
            .collect()
    }

    /// Brings along the history of every other repository of this machine where the config
    /// worked without a sync of it completing there: a sync killed after its push, a restore
    /// made there. The records name the remote of the last completed sync only; such a
    /// repository is known by the config's kept refs, which the import at the start of any
    /// sync there left in it. Whether all of it is here now.
    pub(super) fn import_worked_in(&self, repo: &Repo, cfg: &SyncConfig, old_url: &str) -> bool {
        let old_dir = self.repo_dir(old_url);
        let prefix = crate::inspect::kept_prefix(&cfg.id);
        let mut all_here = true;
        for other in self.other_repos(repo) {
            let worked_here = other.dir != old_dir
                && other
                    .try_run(
                        &["for-each-ref", "--count=1", "--format=%(refname)", &prefix],
                        None,
                    )
                    .is_ok_and(|out| !out.is_empty());
            if worked_here {
                all_here &= Self::import_from(repo, cfg, &other.dir, None, true);
            }
        }
        all_here
    }

    /// Fetches into `repo` what the config kept in the repository at `old_dir` and that
    /// repository's branches as last fetched, the branches under names carrying the old
    /// remote's mark (the end of the repository's name, from its URL: see `repo_dir`). With
    /// `synced`, that commit is kept there first.
    ///
    /// From a repository the config only `worked` in (not the one its records name), only
    /// its commit-named kept refs and the config's own branch come: the branches of other
    /// remotes it kept (`previous-*`) may be older than those already here, and a fetch
    /// would move them back; other branches there may be another config's.
    fn import_from(
        repo: &Repo,
        cfg: &SyncConfig,
        old_dir: &std::path::Path,
        synced: Option<&str>,
        worked: bool,
    ) -> bool {
        if !old_dir.join("HEAD").exists() {
            return true;
        }
        let Some(mark) = old_dir
            .file_stem()
            .and_then(|n| n.to_str())
            .and_then(|n| n.rsplit_once('-'))
            .map(|(_, m)| m)
        else {
            return false;
        };
        let Ok(old) = Repo::open_or_init(old_dir) else {
            return false;
        };
        let prefix = crate::inspect::kept_prefix(&cfg.id);
        let keep_synced = match synced {
            Some(s) if old.has_commit(s) => {
                old.update_ref(&crate::inspect::kept_ref(&cfg.id, s), s)
            }
            _ => Ok(()),
        };
        if let Err(e) = keep_synced.and_then(|()| {
            // What was kept there, and the old remote's branches as last fetched (a sync
            // that died before its record may have seen more than `synced`). Their names
            // carry the old remote's own mark: a config switched twice keeps both remotes'
            // branches (the first one's came along in `kept`), not one in place of the other.
            let kept = format!("+{prefix}*:{prefix}*");
            let dir = old_dir.to_string_lossy();
            let mut args = vec![
                "fetch".to_owned(),
                "--quiet".to_owned(),
                "--no-tags".to_owned(),
                "--".to_owned(),
                dir.into_owned(),
                kept,
            ];
            if worked {
                args.push(format!("^{prefix}previous-*"));
                let branch = &cfg.branch;
                let tracking = tracking_ref(branch);
                // A sync killed before its push there never fetched the branch.
                if old.rev_parse(&tracking).is_some() {
                    args.push(format!("+{tracking}:{prefix}previous-{mark}-{branch}"));
                }
            } else {
                // What the old repository kept of an earlier stay on this same remote (A -> B
                // -> A -> B) has the name the branches are fetched to now: the branches win.
                args.push(format!("^{prefix}previous-{mark}-*"));
                args.push(format!("+refs/dotsync/remote/*:{prefix}previous-{mark}-*"));
            }
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            repo.run(&args, None).map(|_| ())
        }) {
            tracing::warn!(config = %cfg.name, "cannot bring the previous remote's history along: {e}");
            return false;
        }
        true
    }

    /// Whether `repo` has the blob `oid`, after copying it from another of this machine's
    /// repositories if it lacked it. Versions a machine recorded (a restore's or a
    /// resolution's replaced version, queued to go into history) were written into the
    /// repository of the remote the config named then; the config may name another now.
    /// The copy is checked: the bytes must hash to `oid`.
    pub(super) fn bring_blob(&self, repo: &Repo, oid: &str) -> bool {
        if repo.has_object(oid) {
            return true;
        }
        self.other_repos(repo).iter().any(|other| {
            other.has_object(oid)
                && other
                    .read_blob(oid)
                    .and_then(|bytes| repo.write_blob(&bytes))
                    .is_ok_and(|written| written == oid)
        })
    }
}

const CASE_CLASH: &str = "another file on the remote has the same name but for upper/lower case, and this file system cannot tell them apart; rename one of them";

/// Every path that has another with the same name but for case.
fn case_clashes<'a>(paths: impl Iterator<Item = &'a str>) -> BTreeSet<String> {
    let mut by_folded: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for p in paths {
        by_folded.entry(p.to_lowercase()).or_default().push(p);
    }
    by_folded
        .into_values()
        .filter(|v| v.len() > 1)
        .flatten()
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_remote_check_brings_in_a_tip_this_repository_lacks() {
        let dir = tempfile::tempdir().expect("tempdir");
        let remote = Repo::open_or_init(&dir.path().join("remote.git")).expect("remote");
        let here = Repo::open_or_init(&dir.path().join("here.git")).expect("here");
        let url = remote.dir.to_string_lossy().into_owned();
        // No branch yet: nothing to fetch.
        assert_eq!(check_remote(&here, &url, "main").expect("check"), None);
        let blob = remote.write_blob(b"pushed elsewhere\n").expect("blob");
        let tree = remote
            .build_tree(None, &[(".zshrc".into(), Some((0o100644, blob)))])
            .expect("tree");
        let tip = remote
            .commit_tree(&tree, None, "m", ("t", "t@x"))
            .expect("commit");
        remote.set_ref("refs/heads/main", &tip).expect("ref");
        assert!(!here.has_commit(&tip));
        assert_eq!(
            check_remote(&here, &url, "main").expect("check"),
            Some(tip.clone())
        );
        assert!(here.has_object_here(&tip), "fetched beside the walk");
        // An unreachable remote is the check's error, not a missing branch.
        let gone = dir.path().join("gone.git").to_string_lossy().into_owned();
        assert!(check_remote(&here, &gone, "main").is_err());
    }
}
