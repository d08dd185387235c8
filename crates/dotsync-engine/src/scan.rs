//! The scan: what the config's paths hold in the home right now.
//! (Over 600 lines only with its tests, which cover the walker's edge cases at the bottom.)
//!
//! Never follows a symlink (a symlink is an entry of its own), skips nested `.git` directories,
//! ignored paths, dotsync's own state and special files, and uses the stat cache so that an
//! unchanged file is not read again.

use std::collections::{BTreeMap, HashMap};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use dotsync_core::SyncConfig;
use dotsync_core::paths::{Ignore, RepoPath, resolve_config_path};
use dotsync_core::plan::{Kind, Version};

use crate::git::blob_id;
use crate::meta::{dir_perm, file_perm};

/// Files larger than this are skipped (dotfiles are small; this is not a backup tool).
pub const MAX_FILE: u64 = 100 << 20;

/// What identifies an unchanged file without reading it, as git's index does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatKey {
    pub size: u64,
    pub mtime_ns: i64,
    pub ctime_ns: i64,
    pub ino: u64,
    pub mode: u32,
}

impl StatKey {
    pub fn of(m: &std::fs::Metadata) -> Self {
        Self {
            size: m.len(),
            // Saturating: a file dated after 2262 or before 1678 must not overflow.
            mtime_ns: m
                .mtime()
                .saturating_mul(1_000_000_000)
                .saturating_add(m.mtime_nsec()),
            ctime_ns: m
                .ctime()
                .saturating_mul(1_000_000_000)
                .saturating_add(m.ctime_nsec()),
            ino: m.ino(),
            mode: m.mode(),
        }
    }
}

/// A cached hash: the stat it was taken at and the resulting version.
#[derive(Debug, Clone)]
pub struct Cached {
    pub stat: StatKey,
    pub version: Version,
}

/// The stat cache of a config as loaded for a sync, by repository path. Hashed with `FxHash`:
/// the keys are this machine's own paths, and it is looked up once per file of every scan.
pub type StatCache = HashMap<String, Cached, rustc_hash::FxBuildHasher>;

/// One file found in the home.
#[derive(Debug, Clone)]
pub struct LocalEntry {
    pub version: Version,
    pub size: u64,
    pub stat: StatKey,
    /// Whether the stat cache supplied the hash (the file was not read).
    pub cached: bool,
}

/// The result of a scan.
#[derive(Debug, Default)]
pub struct Scan {
    pub files: BTreeMap<RepoPath, LocalEntry>,
    /// Paths that exist but could not be read or are not syncable, with the reason. They are
    /// left out of the plan entirely: never pushed as deleted, never overwritten.
    pub skipped: Vec<(String, String)>,
    /// Directory modes worth recording (anything but 0755), repository-relative.
    pub dir_modes: BTreeMap<String, u32>,
    /// Files whose content was read (not served from the stat cache).
    pub hashed: u64,
    /// Files of `files` whose path the stat cache knew (whatever their stat): when it equals
    /// the cache's size, no row of the cache is stale.
    pub in_cache: u64,
    /// A scan thread died: the scan is incomplete and must not be planned from (missing
    /// files would read as deletions).
    pub incomplete: bool,
    /// dotsync's own temporary files left by a sync of this config that was killed
    /// mid-write (their names carry a token recorded before they were created).
    pub stale_temps: Vec<PathBuf>,
    /// Files that changed while they were read: a write in progress, never a version.
    pub unstable: Vec<String>,
}

impl Scan {
    /// The files and directory modes of this scan, each entry marked as served by the stat
    /// cache when `cached` says so: what a sync that reuses the scan must not record again.
    pub fn for_reuse(&self, cached: impl Fn(&LocalEntry) -> bool) -> Scan {
        Scan {
            files: self
                .files
                .iter()
                .map(|(p, e)| {
                    (
                        p.clone(),
                        LocalEntry {
                            cached: cached(e),
                            ..e.clone()
                        },
                    )
                })
                .collect(),
            dir_modes: self.dir_modes.clone(),
            ..Scan::default()
        }
    }
}

/// Permission bits dotsync keeps: rwx for user, group, other. Never setuid, setgid or sticky.
pub fn perm(mode: u32) -> u32 {
    mode & 0o777
}

pub struct Scanner<'a> {
    pub home: &'a Path,
    pub state_dir: &'a Path,
    pub ignore: &'a Ignore,
    /// The stat cache, which may still be loading when the walk starts: files found before
    /// it is there wait in a list and are looked up once their thread's walk is done.
    pub cache: &'a OnceLock<StatCache>,
    /// The tokens in the names of dotsync's temporary files: (token, whether it is a leftover
    /// of this config's own killed sync, to remove). Names with another token, or none, are
    /// the person's files like any other.
    pub temps: &'a [(String, bool)],
    /// Called now and then with the number of entries seen.
    pub progress: &'a mut dyn FnMut(u64),
    /// This machine's name: per-machine files are scanned as its variant.
    pub machine: &'a str,
}

impl Scanner<'_> {
    pub fn scan(&mut self, cfg: &SyncConfig) -> Scan {
        let walker = Walker {
            home: self.home,
            state_dir: self.state_dir,
            ignore: self.ignore,
            cache: self.cache,
            temps: self.temps,
            cfg,
            machine: self.machine,
        };
        let mut out = Scan::default();
        let mut roots = Vec::new();
        for p in &cfg.paths {
            let Ok(root) = resolve_config_path(p, self.home) else {
                continue;
            };
            walker.record_ancestor_modes(&root, &mut out);
            roots.push(Work::Visit(root));
        }
        // The walk is mostly stat calls; a few threads hide their latency (git does the same
        // with its preloaded index). Each thread fills its own Scan; they merge at the end.
        let threads = std::thread::available_parallelism()
            .map_or(1, std::num::NonZero::get)
            .clamp(1, 4);
        let queue = Mutex::new(roots);
        let active = AtomicUsize::new(0);
        let seen = AtomicU64::new(0);
        let progress = &mut *self.progress;
        let parts: Vec<Scan> = std::thread::scope(|scope| {
            let helpers: Vec<_> = (1..threads)
                .map(|_| {
                    scope.spawn(|| {
                        let mut part = Scan::default();
                        walker.work(&queue, &active, &seen, &mut part, &mut |_| {});
                        part
                    })
                })
                .collect();
            let mut mine = Scan::default();
            let mut reported = 0;
            walker.work(&queue, &active, &seen, &mut mine, &mut |n| {
                if n >= reported + 1000 {
                    reported = n;
                    progress(n);
                }
            });
            let mut parts = vec![mine];
            for h in helpers {
                match h.join() {
                    Ok(part) => parts.push(part),
                    Err(_) => parts[0].incomplete = true,
                }
            }
            parts
        });
        for mut part in parts {
            // Both in path order: merged in one pass.
            out.files.append(&mut part.files);
            out.skipped.extend(part.skipped);
            out.dir_modes.extend(part.dir_modes);
            out.hashed += part.hashed;
            out.in_cache += part.in_cache;
            out.incomplete |= part.incomplete;
            out.stale_temps.extend(part.stale_temps);
            out.unstable.extend(part.unstable);
        }
        out.skipped.sort();
        progress(seen.load(Ordering::Relaxed));
        out
    }
}

struct Busy<'a>(&'a AtomicUsize);

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A unit of the walk: an entry to look at, or a directory (already looked at) to list.
enum Work {
    Visit(PathBuf),
    List(PathBuf),
}

/// A file the walk found, before the stat cache or its content says which version it is.
struct Found {
    repo: RepoPath,
    stat: StatKey,
    kind: Kind,
    mode: u32,
}

/// The read-only part of a scan, shared by its threads.
#[derive(Clone, Copy)]
struct Walker<'a> {
    home: &'a Path,
    state_dir: &'a Path,
    ignore: &'a Ignore,
    cache: &'a OnceLock<StatCache>,
    temps: &'a [(String, bool)],
    cfg: &'a SyncConfig,
    machine: &'a str,
}

impl Walker<'_> {
    /// Takes work from the queue until it is empty and no other thread can add to it.
    fn work(
        &self,
        queue: &Mutex<Vec<Work>>,
        active: &AtomicUsize,
        seen: &AtomicU64,
        out: &mut Scan,
        tick: &mut dyn FnMut(u64),
    ) {
        let mut pending = Vec::new();
        self.walk_queue(queue, active, seen, out, &mut pending, tick);
        if !pending.is_empty() {
            // Files found before the stat cache was loaded; the loader always fills it, with
            // an empty cache if it failed (then every file is read, and the sync fails after).
            let cache = self.cache.wait();
            for (abs, file) in pending {
                Self::settle(cache, &abs, file, out);
            }
        }
    }

    fn walk_queue(
        &self,
        queue: &Mutex<Vec<Work>>,
        active: &AtomicUsize,
        seen: &AtomicU64,
        out: &mut Scan,
        pending: &mut Vec<(PathBuf, Found)>,
        tick: &mut dyn FnMut(u64),
    ) {
        let mut idle = 0u32;
        loop {
            let item = {
                let mut q = queue
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let item = q.pop();
                if item.is_some() {
                    active.fetch_add(1, Ordering::SeqCst);
                }
                item
            };
            let Some(item) = item else {
                if active.load(Ordering::SeqCst) == 0 {
                    return;
                }
                idle += 1;
                if idle < 50 {
                    std::thread::yield_now();
                } else {
                    std::thread::sleep(std::time::Duration::from_micros(200));
                }
                continue;
            };
            idle = 0;
            // Decrements `active` however this item ends, a panic included, so the other
            // threads never wait for work that will not come.
            let busy = Busy(active);
            let mut subdirs = Vec::new();
            match item {
                Work::Visit(abs) => {
                    if self.visit(&abs, None, out, pending, seen) {
                        subdirs.push(Work::List(abs));
                    }
                }
                Work::List(dir) => {
                    for entry in self.list(&dir, out) {
                        let child = entry.path();
                        if self.visit(&child, Some(&entry), out, pending, seen) {
                            subdirs.push(Work::List(child));
                        }
                    }
                }
            }
            if !subdirs.is_empty() {
                queue
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .extend(subdirs);
            }
            drop(busy);
            tick(seen.load(Ordering::Relaxed));
        }
    }

    /// The entries of a directory, but its `.git`.
    fn list(&self, dir: &Path, out: &mut Scan) -> Vec<std::fs::DirEntry> {
        // A listing that fails half way must not make the missing entries look deleted: the
        // whole directory is then skipped (left out of the plan), as if unreadable.
        match std::fs::read_dir(dir).and_then(std::iter::Iterator::collect::<Result<Vec<_>, _>>) {
            Ok(entries) => entries
                .into_iter()
                .filter(|e| e.file_name() != ".git")
                .collect(),
            Err(e) => {
                let rel = dir.strip_prefix(self.home).unwrap_or(dir);
                out.skipped.push((
                    rel.to_string_lossy().into_owned(),
                    format!("cannot list: {e}"),
                ));
                Vec::new()
            }
        }
    }

    fn record_ancestor_modes(&self, root: &Path, out: &mut Scan) {
        let mut dir = root.parent();
        while let Some(d) = dir {
            if d == self.home || !d.starts_with(self.home) {
                break;
            }
            if let (Ok(m), Ok(rel)) = (std::fs::symlink_metadata(d), d.strip_prefix(self.home))
                && m.is_dir()
                && dir_perm(m.mode()) != 0o755
                && let Some(rel) = rel.to_str()
            {
                out.dir_modes.insert(rel.to_owned(), dir_perm(m.mode()));
            }
            dir = d.parent();
        }
    }

    /// Looks at one entry: records a file, or returns true for a directory to list.
    /// `entry` is its directory's listing of it; `None` for a config's own path, whose
    /// ancestors were not walked.
    fn visit(
        &self,
        abs: &Path,
        entry: Option<&std::fs::DirEntry>,
        out: &mut Scan,
        pending: &mut Vec<(PathBuf, Found)>,
        seen: &AtomicU64,
    ) -> bool {
        let is_root = entry.is_none();
        if abs.starts_with(self.state_dir) {
            return false;
        }
        let Ok(rel) = abs.strip_prefix(self.home) else {
            return false;
        };
        let Some(rel_str) = rel.to_str() else {
            out.skipped.push((
                rel.to_string_lossy().into_owned(),
                "the name is not UTF-8".into(),
            ));
            return false;
        };
        let repo = match RepoPath::parse(rel_str) {
            Ok(r) => r,
            Err(e) => {
                // Nested `.git` directories land here; they are skipped silently by design.
                if !rel_str.split('/').any(|c| c.eq_ignore_ascii_case(".git")) {
                    out.skipped.push((rel_str.to_owned(), e.to_string()));
                }
                return false;
            }
        };
        let ignored = if is_root {
            self.ignore.is_ignored(repo.as_str())
        } else {
            self.ignore.is_ignored_entry(repo.as_str())
        };
        if ignored {
            return false;
        }
        if let Some(leftover) = own_temp(repo.file_name(), self.temps) {
            if leftover && std::fs::symlink_metadata(abs).is_ok_and(|m| !m.is_dir()) {
                out.stale_temps.push(abs.to_path_buf());
            }
            return false;
        }
        // Through the listing, the entry is looked at relative to its open directory
        // (`fstatat`): the kernel does not walk the whole path again for each of them.
        let meta = match entry.map_or_else(
            || std::fs::symlink_metadata(abs),
            std::fs::DirEntry::metadata,
        ) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return false,
            Err(e) => {
                out.skipped
                    .push((rel_str.to_owned(), format!("cannot read: {e}")));
                return false;
            }
        };
        seen.fetch_add(1, Ordering::Relaxed);
        let ft = meta.file_type();
        if ft.is_dir() {
            if dir_perm(meta.mode()) != 0o755 {
                out.dir_modes
                    .insert(rel_str.to_owned(), dir_perm(meta.mode()));
            }
            return true;
        }
        // A per-machine file is this machine's variant in the repository; a name that looks
        // like a variant would be read as one, so it is not synced.
        if dotsync_core::paths::machine_variant(repo.as_str()).is_some() {
            out.skipped.push((
                rel_str.to_owned(),
                format!(
                    "a name with {:?} is how dotsync stores per-machine files; rename it to sync it",
                    dotsync_core::paths::MACHINE_MARK
                ),
            ));
            return false;
        }
        let repo = if self.cfg.is_per_machine(repo.as_str()) {
            if let Some(v) = repo.for_machine(self.machine) {
                v
            } else {
                out.skipped.push((
                    rel_str.to_owned(),
                    "this machine's name cannot be part of a path (a slash?); per-machine files need another DOTSYNC_MACHINE".into(),
                ));
                return false;
            }
        } else {
            repo
        };
        let stat = StatKey::of(&meta);
        let kind = if ft.is_symlink() {
            Kind::Symlink
        } else if ft.is_file() {
            Kind::File
        } else {
            out.skipped.push((
                repo.to_string(),
                "not a regular file, directory or symlink".into(),
            ));
            return false;
        };
        if kind == Kind::File && meta.len() > MAX_FILE {
            out.skipped.push((
                repo.to_string(),
                format!("larger than {} MiB", MAX_FILE >> 20),
            ));
            return false;
        }
        // The bits that travel (never group- or world-writable): another machine could not
        // apply the others, and comparing them would make two machines rewrite each other.
        let mode = if kind == Kind::Symlink {
            0o777
        } else {
            file_perm(meta.mode())
        };
        let found = Found {
            repo,
            stat,
            kind,
            mode,
        };
        match self.cache.get() {
            Some(cache) => Self::settle(cache, abs, found, out),
            None => pending.push((abs.to_path_buf(), found)),
        }
        false
    }

    /// Records a file the walk found: from the stat cache when its stat is the cached one,
    /// else read and hashed.
    fn settle(cache: &StatCache, abs: &Path, found: Found, out: &mut Scan) {
        let Found {
            repo,
            stat,
            kind,
            mode,
        } = found;
        let known = cache.get(repo.as_str());
        if let Some(c) = known
            && c.stat == stat
            && c.version.kind == kind
        {
            out.in_cache += 1;
            out.files.insert(
                repo,
                LocalEntry {
                    version: Version {
                        mode,
                        ..c.version.clone()
                    },
                    size: stat.size,
                    stat,
                    cached: true,
                },
            );
            return;
        }
        let content = match read_synced(abs, kind) {
            Ok(c) => c,
            Err(e) => {
                out.skipped
                    .push((repo.to_string(), format!("cannot read: {e}")));
                return;
            }
        };
        // A file that changed while it was read is being written: what was read may be half
        // of it. It is held and looked at again by the next sync.
        if std::fs::symlink_metadata(abs).map(|m| StatKey::of(&m)).ok() != Some(stat) {
            out.unstable.push(repo.to_string());
            return;
        }
        out.hashed += 1;
        out.in_cache += u64::from(known.is_some());
        out.files.insert(
            repo,
            LocalEntry {
                version: Version {
                    kind,
                    blob: blob_id(&content),
                    mode,
                },
                size: content.len() as u64,
                stat,
                cached: false,
            },
        );
    }
}

/// What of a home file syncs (a file without the lines of its local-only blocks; see
/// [`crate::local`]), or a symlink's target, as bytes: what the engine versions.
pub fn read_synced(abs: &Path, kind: Kind) -> std::io::Result<Vec<u8>> {
    let bytes = read_entry(abs, kind)?;
    Ok(match kind {
        Kind::File if crate::local::has_blocks(&bytes) => {
            crate::local::synced_form(&bytes).into_owned()
        }
        _ => bytes,
    })
}

/// A file's content, or a symlink's target, as bytes.
pub fn read_entry(abs: &Path, kind: Kind) -> std::io::Result<Vec<u8>> {
    match kind {
        Kind::File => std::fs::read(abs),
        Kind::Symlink => {
            use std::os::unix::ffi::OsStrExt;
            Ok(std::fs::read_link(abs)?.as_os_str().as_bytes().to_vec())
        }
    }
}

/// The marker in the names of the engine's temporary files, followed by a recorded token.
pub const TEMP_MARK: &str = ".dotsync-tmp-";

/// Whether `name` is one of dotsync's temporary files (its token is recorded): `Some(true)`
/// for a leftover to remove, `Some(false)` for one a running sync may still own, `None` for
/// the person's own file, whatever its name looks like.
pub fn own_temp(name: &str, temps: &[(String, bool)]) -> Option<bool> {
    let (_, token) = name.rsplit_once(TEMP_MARK)?;
    temps
        .iter()
        .find(|(t, _)| t == token)
        .map(|(_, leftover)| *leftover)
}

/// Whether the stat of a file is recent enough that a change within the same timestamp tick
/// could go unnoticed (git's "racy" entries): such hashes are not cached.
pub fn is_racy(stat: &StatKey, now_ns: i64) -> bool {
    // As git does, only the content timestamp counts: a file copied or extracted a moment ago
    // has a fresh ctime but an old mtime, and any later write moves mtime (and ctime) again.
    now_ns - stat.mtime_ns < 2_000_000_000
}

/// Sets exact permission bits (umask does not apply).
pub fn set_perm(path: &Path, mode: u32) -> std::io::Result<()> {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(perm(mode)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use std::os::unix::fs::symlink;

    fn config(paths: &[&str], ignore: &[&str]) -> SyncConfig {
        serde_json::from_value(serde_json::json!({
            "id": "cfg_0000000000000001",
            "name": "t",
            "paths": paths,
            "ignore": ignore,
            "remote": "/nowhere",
            "branch": "main",
            "direction": "both",
            "on_conflict": "keep-both",
            "auto": false,
            "interval_s": 60,
        }))
        .unwrap()
    }

    fn write(home: &Path, rel: &str, text: &str) {
        let abs = home.join(rel);
        std::fs::create_dir_all(abs.parent().unwrap()).unwrap();
        std::fs::write(abs, text).unwrap();
    }

    /// The scan, and the last count its progress callback was given.
    fn scan(
        home: &Path,
        state_dir: &Path,
        cfg: &SyncConfig,
        cache: &StatCache,
        temps: &[(String, bool)],
    ) -> (Scan, u64) {
        let ignore = Ignore::new(&cfg.ignore).unwrap();
        let mut last = 0;
        let cache = OnceLock::from(cache.clone());
        let scan = Scanner {
            home,
            state_dir,
            ignore: &ignore,
            cache: &cache,
            temps,
            progress: &mut |n| last = n,
            machine: "here",
        }
        .scan(cfg);
        (scan, last)
    }

    /// The stat cache a sync would record from `scan`: every file as it was found.
    fn cache_of(scan: &Scan) -> StatCache {
        scan.files
            .iter()
            .map(|(p, e)| {
                let c = Cached {
                    stat: e.stat,
                    version: e.version.clone(),
                };
                (p.to_string(), c)
            })
            .collect()
    }

    fn kinds(scan: &Scan) -> Vec<(String, Kind)> {
        scan.files
            .iter()
            .map(|(p, e)| (p.to_string(), e.version.kind))
            .collect()
    }

    #[test]
    fn symlinks_are_entries_and_never_followed_even_as_a_configs_path() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path();
        write(home, ".config/app/real/a.txt", "a\n");
        symlink("real", home.join(".config/app/link")).unwrap();
        symlink(".config/app/real", home.join(".dirlink")).unwrap();
        symlink("nowhere", home.join(".dangling")).unwrap();
        let cfg = config(&["~/.config/app", "~/.dirlink", "~/.dangling"], &[]);
        let (s, _) = scan(
            home,
            &home.join(".dotsync"),
            &cfg,
            &StatCache::default(),
            &[],
        );
        assert_eq!(
            kinds(&s),
            [
                (".config/app/link".to_owned(), Kind::Symlink),
                (".config/app/real/a.txt".to_owned(), Kind::File),
                (".dangling".to_owned(), Kind::Symlink),
                (".dirlink".to_owned(), Kind::Symlink),
            ]
        );
        assert!(s.skipped.is_empty(), "{:?}", s.skipped);
        assert!(!s.incomplete);
    }

    #[test]
    fn ignored_directories_git_state_and_temporary_files_are_left_out() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path();
        write(home, ".config/app/keep", "k\n");
        for i in 0..50 {
            write(home, &format!(".config/app/cache/deep/f{i}"), "x\n");
        }
        write(home, ".config/app/plugin/.git/config", "[core]\n");
        write(home, ".config/app/plugin/init.lua", "--\n");
        write(home, ".config/app/state/db", "s\n");
        write(home, ".config/app/.x.dotsync-tmp-mine", "leftover\n");
        write(home, ".config/app/.y.dotsync-tmp-theirs", "in use\n");
        write(home, ".config/app/.z.dotsync-tmp-unknown", "the person's\n");
        std::fs::create_dir(home.join(".config/app/private")).unwrap();
        std::fs::set_permissions(
            home.join(".config/app/private"),
            std::fs::Permissions::from_mode(0o700),
        )
        .unwrap();
        write(home, ".gitconfig", "[user]\n");
        let cfg = config(&["~/.config/app", "~/.gitconfig", "~/.missing"], &["cache"]);
        let temps = [("mine".to_owned(), true), ("theirs".to_owned(), false)];
        let state = home.join(".config/app/state");
        let (s, seen) = scan(home, &state, &cfg, &StatCache::default(), &temps);
        let names: Vec<String> = s.files.keys().map(ToString::to_string).collect();
        assert_eq!(
            names,
            [
                ".config/app/.z.dotsync-tmp-unknown",
                ".config/app/keep",
                ".config/app/plugin/init.lua",
                ".gitconfig",
            ]
        );
        assert_eq!(
            s.stale_temps,
            [home.join(".config/app/.x.dotsync-tmp-mine")]
        );
        assert_eq!(s.dir_modes.get(".config/app/private").copied(), Some(0o700));
        assert!(s.skipped.is_empty(), "{:?}", s.skipped);
        assert_eq!(s.hashed, 4);
        // What was looked at: the two paths, app's four entries that are not ignored, temporary
        // or dotsync's state, and plugin's file. Nothing under the ignored directory.
        assert_eq!(seen, 2 + 4 + 1);

        // Unchanged files come from the stat cache, unread.
        let cache = cache_of(&s);
        let (again, _) = scan(home, &state, &cfg, &cache, &temps);
        assert_eq!(again.hashed, 0);
        assert!(again.files.values().all(|e| e.cached));
        assert_eq!(kinds(&again), kinds(&s));
    }

    #[test]
    fn a_stat_cache_that_arrives_during_the_walk_serves_every_file_it_knows() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path();
        for d in 0..20 {
            for f in 0..20 {
                write(home, &format!(".config/d{d}/f{f}"), &format!("{d} {f}\n"));
            }
        }
        let cfg = config(&["~/.config"], &[]);
        let state = home.join(".dotsync");
        let (first, _) = scan(home, &state, &cfg, &StatCache::default(), &[]);
        assert_eq!(first.hashed, 400);
        let cache = cache_of(&first);
        let ignore = Ignore::new(&cfg.ignore).unwrap();
        // The cache is loaded beside the walk and comes at any moment: before the first file,
        // half way, after the last. Files found before it wait for it, none is read.
        for spins in [0, 10, 100, 1_000, 10_000, 100_000] {
            let cell = OnceLock::new();
            let again = std::thread::scope(|scope| {
                scope.spawn(|| {
                    for _ in 0..spins {
                        std::thread::yield_now();
                    }
                    cell.set(cache.clone()).unwrap();
                });
                Scanner {
                    home,
                    state_dir: &state,
                    ignore: &ignore,
                    cache: &cell,
                    temps: &[],
                    progress: &mut |_| {},
                    machine: "here",
                }
                .scan(&cfg)
            });
            assert_eq!(again.hashed, 0, "after {spins} spins");
            assert_eq!(again.in_cache, 400);
            assert!(again.files.values().all(|e| e.cached));
            let versions = |s: &Scan| -> Vec<(String, Version)> {
                s.files
                    .iter()
                    .map(|(p, e)| (p.to_string(), e.version.clone()))
                    .collect()
            };
            assert_eq!(versions(&again), versions(&first));
        }
    }

    #[test]
    fn a_directory_that_cannot_be_listed_is_skipped_whole() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path();
        write(home, ".config/app/ok", "ok\n");
        write(home, ".config/app/locked/secret", "s\n");
        let locked = home.join(".config/app/locked");
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
        if std::fs::read_dir(&locked).is_ok() {
            // Running as root: permissions do not stop it.
            std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o755)).unwrap();
            return;
        }
        let cfg = config(&["~/.config/app"], &[]);
        let (s, _) = scan(
            home,
            &home.join(".dotsync"),
            &cfg,
            &StatCache::default(),
            &[],
        );
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o755)).unwrap();
        let names: Vec<String> = s.files.keys().map(ToString::to_string).collect();
        assert_eq!(names, [".config/app/ok"]);
        assert_eq!(s.skipped.len(), 1, "{:?}", s.skipped);
        assert_eq!(s.skipped[0].0, ".config/app/locked");
        assert!(
            s.skipped[0].1.starts_with("cannot list: "),
            "{:?}",
            s.skipped
        );
        assert!(!s.incomplete);
        // A config's own path too.
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
        let cfg = config(&["~/.config/app/locked"], &[]);
        let (s, _) = scan(
            home,
            &home.join(".dotsync"),
            &cfg,
            &StatCache::default(),
            &[],
        );
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert!(s.files.is_empty());
        assert_eq!(s.skipped.len(), 1, "{:?}", s.skipped);
        assert_eq!(s.skipped[0].0, ".config/app/locked");
    }
}
