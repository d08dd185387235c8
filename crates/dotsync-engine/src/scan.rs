//! The scan: what the config's paths hold in the home right now.
//!
//! Never follows a symlink (a symlink is an entry of its own), skips nested `.git` directories,
//! ignored paths, dotsync's own state and special files, and uses the stat cache so that an
//! unchanged file is not read again.

use std::collections::{BTreeMap, HashMap};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, mpsc};

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
    pub cache: &'a HashMap<String, Cached>,
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
        let seen = AtomicU64::new(0);
        // A config's own paths are looked at here, one by one: the walk below only lists
        // directories (and would follow a path that is a symlink to one).
        let mut dirs = Vec::new();
        for p in &cfg.paths {
            let Ok(root) = resolve_config_path(p, self.home) else {
                continue;
            };
            walker.record_ancestor_modes(&root, &mut out);
            if walker.visit(&root, true, &mut out, &seen) {
                dirs.push(root);
            }
        }
        if !dirs.is_empty() {
            walker.walk(&dirs, &seen, &mut out, &mut *self.progress);
        }
        out.skipped.sort();
        (self.progress)(seen.load(Ordering::Relaxed));
        out
    }
}

/// The read-only part of a scan, shared by its threads.
#[derive(Clone, Copy)]
struct Walker<'a> {
    home: &'a Path,
    state_dir: &'a Path,
    ignore: &'a Ignore,
    cache: &'a HashMap<String, Cached>,
    temps: &'a [(String, bool)],
    cfg: &'a SyncConfig,
    machine: &'a str,
}

/// What one walk thread found, and the directories whose listing failed half way.
type Part = (Scan, Vec<PathBuf>);

impl Walker<'_> {
    /// Walks the directories `dirs` (already looked at) with `ignore`'s parallel walker: the
    /// walk is mostly stat calls, and a few threads hide their latency (git does the same with
    /// its preloaded index). Each thread fills its own `Scan`; they merge into `out` at the end.
    fn walk(
        &self,
        dirs: &[PathBuf],
        seen: &AtomicU64,
        out: &mut Scan,
        progress: &mut dyn FnMut(u64),
    ) {
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .clamp(1, 4);
        let mut builder = ignore::WalkBuilder::new(&dirs[0]);
        for d in &dirs[1..] {
            builder.add(d);
        }
        // None of ripgrep's filters (hidden files, .gitignore, ...): the config's ignore rules
        // are the only ones, applied by `visit`. Symlinks are entries, never followed.
        builder
            .standard_filters(false)
            .follow_links(false)
            .threads(threads)
            .filter_entry(|e| e.file_name() != ".git");
        let parallel = builder.build_parallel();
        let parts = Mutex::new(Vec::new());
        let (tick, ticks) = mpsc::channel();
        let walked = std::thread::scope(|scope| {
            let parts = &parts;
            let handle = scope.spawn(move || {
                parallel.visit(&mut Visitors {
                    walker: self,
                    seen,
                    parts,
                    tick,
                });
            });
            // `progress` is called on this thread only; the walk threads say when the count
            // passed another thousand, and the channel closes when the walk ends.
            let mut reported = 0;
            for n in ticks {
                if n >= reported + 1000 {
                    reported = n;
                    progress(n);
                }
            }
            handle.join().is_ok()
        });
        let mut torn = Vec::new();
        for (part, cut) in parts.into_inner().unwrap_or_else(|p| p.into_inner()) {
            out.files.extend(part.files);
            out.skipped.extend(part.skipped);
            out.dir_modes.extend(part.dir_modes);
            out.hashed += part.hashed;
            out.incomplete |= part.incomplete;
            out.stale_temps.extend(part.stale_temps);
            out.unstable.extend(part.unstable);
            torn.extend(cut);
        }
        out.incomplete |= !walked;
        // A listing that failed half way must not make the missing entries look deleted: the
        // whole directory is skipped (reported by the visitor), and what the walk already
        // found inside it is dropped, as if it could not be listed at all.
        for dir in torn {
            let Ok(rel) = dir.strip_prefix(self.home) else {
                continue;
            };
            let under = format!("{}/", rel.to_string_lossy());
            let inside = |p: &str| p.starts_with(&under);
            out.files.retain(|p, e| {
                let keep = !inside(p.as_str());
                if !keep && !e.cached {
                    out.hashed = out.hashed.saturating_sub(1);
                }
                keep
            });
            out.dir_modes.retain(|p, _| !inside(p));
            out.skipped.retain(|(p, _)| !inside(p));
            out.unstable.retain(|p| !inside(p));
            out.stale_temps
                .retain(|p| !p.starts_with(&dir) || *p == dir);
        }
    }

    /// `abs` relative to the home, as the scan reports it.
    fn rel(&self, abs: &Path) -> String {
        abs.strip_prefix(self.home)
            .unwrap_or(abs)
            .to_string_lossy()
            .into_owned()
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
    /// `is_root` for a config's own path, whose ancestors were not walked.
    fn visit(&self, abs: &Path, is_root: bool, out: &mut Scan, seen: &AtomicU64) -> bool {
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
        let meta = match std::fs::symlink_metadata(abs) {
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
            match repo.for_machine(self.machine) {
                Some(v) => v,
                None => {
                    out.skipped.push((
                        rel_str.to_owned(),
                        "this machine's name cannot be part of a path (a slash?); per-machine files need another DOTSYNC_MACHINE".into(),
                    ));
                    return false;
                }
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
        if let Some(c) = self.cache.get(repo.as_str())
            && c.stat == stat
            && c.version.kind == kind
        {
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
            return false;
        }
        let content = match read_synced(abs, kind) {
            Ok(c) => c,
            Err(e) => {
                out.skipped
                    .push((repo.to_string(), format!("cannot read: {e}")));
                return false;
            }
        };
        // A file that changed while it was read is being written: what was read may be half
        // of it. It is held and looked at again by the next sync.
        if std::fs::symlink_metadata(abs).map(|m| StatKey::of(&m)).ok() != Some(stat) {
            out.unstable.push(repo.to_string());
            return false;
        }
        out.hashed += 1;
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
        false
    }
}

/// Makes one [`Visitor`] per walk thread.
struct Visitors<'s> {
    walker: &'s Walker<'s>,
    seen: &'s AtomicU64,
    parts: &'s Mutex<Vec<Part>>,
    tick: mpsc::Sender<u64>,
}

impl<'s> ignore::ParallelVisitorBuilder<'s> for Visitors<'s> {
    fn build(&mut self) -> Box<dyn ignore::ParallelVisitor + 's> {
        Box::new(Visitor {
            walker: self.walker,
            seen: self.seen,
            parts: self.parts,
            tick: self.tick.clone(),
            told: 0,
            part: Scan::default(),
            cut: Vec::new(),
            listing: None,
        })
    }
}

/// One walk thread's view: looks at every entry the walk finds, with [`Walker::visit`].
struct Visitor<'s> {
    walker: &'s Walker<'s>,
    seen: &'s AtomicU64,
    parts: &'s Mutex<Vec<Part>>,
    tick: mpsc::Sender<u64>,
    /// The count last sent on `tick`.
    told: u64,
    part: Scan,
    /// Directories whose listing failed half way.
    cut: Vec<PathBuf>,
    /// The directory this thread is listing: the walk reports a failure to list a directory
    /// (or one of its entries) on the thread that listed it, right after the directory itself.
    listing: Option<PathBuf>,
}

impl Visitor<'_> {
    fn step(&mut self, entry: Result<ignore::DirEntry, ignore::Error>) -> ignore::WalkState {
        use ignore::WalkState::{Continue, Skip};
        let entry = match entry {
            Ok(entry) => entry,
            Err(err) => {
                self.failed(&err);
                return Continue;
            }
        };
        self.listing = None;
        // The config's own paths were looked at before the walk.
        if entry.depth() == 0 {
            self.listing = Some(entry.into_path());
            return Continue;
        }
        let is_dir = self
            .walker
            .visit(entry.path(), false, &mut self.part, self.seen);
        let n = self.seen.load(Ordering::Relaxed);
        if n >= self.told + 1000 {
            self.told = n;
            let _ = self.tick.send(n);
        }
        if !is_dir {
            return Skip;
        }
        if !entry.file_type().is_some_and(|t| t.is_dir()) {
            // It became a directory after its parent was listed: the walk will not list it.
            self.part.skipped.push((
                self.walker.rel(entry.path()),
                "cannot list: it changed while it was scanned".into(),
            ));
            return Skip;
        }
        self.listing = Some(entry.into_path());
        Continue
    }

    /// A directory, or an entry in it, that the walk could not read.
    fn failed(&mut self, err: &ignore::Error) {
        let why = match err.io_error() {
            Some(e) => format!("cannot list: {e}"),
            None => format!("cannot list: {err}"),
        };
        match (error_path(err), self.listing.as_deref()) {
            // An entry whose type the listing did not give: looked at on its own.
            (Some(p), Some(dir)) if p.parent() == Some(dir) => {
                if self.walker.visit(p, false, &mut self.part, self.seen) {
                    self.part.skipped.push((self.walker.rel(p), why));
                }
            }
            // A directory that could not be opened.
            (Some(p), _) => self.part.skipped.push((self.walker.rel(p), why)),
            // The listing of `dir` failed half way.
            (None, Some(dir)) => {
                self.part.skipped.push((self.walker.rel(dir), why));
                self.cut.push(dir.to_path_buf());
            }
            // Not an error a walk without ignore files or followed links reports: nothing
            // says what it left out.
            (None, None) => {
                tracing::warn!("the scan's walk failed: {err}");
                self.part.incomplete = true;
            }
        }
    }
}

impl ignore::ParallelVisitor for Visitor<'_> {
    fn visit(&mut self, entry: Result<ignore::DirEntry, ignore::Error>) -> ignore::WalkState {
        // A panic must stop the walk, not leave the other threads waiting for its work.
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.step(entry))) {
            Ok(state) => state,
            Err(_) => {
                self.part.incomplete = true;
                ignore::WalkState::Quit
            }
        }
    }
}

impl Drop for Visitor<'_> {
    fn drop(&mut self) {
        let part = (
            std::mem::take(&mut self.part),
            std::mem::take(&mut self.cut),
        );
        self.parts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(part);
    }
}

/// The path an error of the walk is about, if it names one.
fn error_path(err: &ignore::Error) -> Option<&Path> {
    match err {
        ignore::Error::WithPath { path, .. } => Some(path),
        ignore::Error::WithDepth { err, .. } | ignore::Error::WithLineNumber { err, .. } => {
            error_path(err)
        }
        _ => None,
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
        cache: &HashMap<String, Cached>,
        temps: &[(String, bool)],
    ) -> (Scan, u64) {
        let ignore = Ignore::new(&cfg.ignore).unwrap();
        let mut last = 0;
        let scan = Scanner {
            home,
            state_dir,
            ignore: &ignore,
            cache,
            temps,
            progress: &mut |n| last = n,
            machine: "here",
        }
        .scan(cfg);
        (scan, last)
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
        let (s, _) = scan(home, &home.join(".dotsync"), &cfg, &HashMap::new(), &[]);
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
        let (s, seen) = scan(home, &state, &cfg, &HashMap::new(), &temps);
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
        let cache: HashMap<String, Cached> = s
            .files
            .iter()
            .map(|(p, e)| {
                (
                    p.to_string(),
                    Cached {
                        stat: e.stat,
                        version: e.version.clone(),
                    },
                )
            })
            .collect();
        let (again, _) = scan(home, &state, &cfg, &cache, &temps);
        assert_eq!(again.hashed, 0);
        assert!(again.files.values().all(|e| e.cached));
        assert_eq!(kinds(&again), kinds(&s));
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
        let (s, _) = scan(home, &home.join(".dotsync"), &cfg, &HashMap::new(), &[]);
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
        let (s, _) = scan(home, &home.join(".dotsync"), &cfg, &HashMap::new(), &[]);
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert!(s.files.is_empty());
        assert_eq!(s.skipped.len(), 1, "{:?}", s.skipped);
        assert_eq!(s.skipped[0].0, ".config/app/locked");
    }
}
