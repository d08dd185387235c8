//! The scan: what the config's paths hold in the home right now.
//!
//! Never follows a symlink (a symlink is an entry of its own), skips nested `.git` directories,
//! ignored paths, dotsync's own state and special files, and uses the stat cache so that an
//! unchanged file is not read again.

use std::collections::{BTreeMap, HashMap};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use dotsync_core::SyncConfig;
use dotsync_core::paths::{Ignore, RepoPath, resolve_config_path};
use dotsync_core::plan::{Kind, Version};

use crate::git::blob_id;

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
            mtime_ns: m.mtime() * 1_000_000_000 + m.mtime_nsec(),
            ctime_ns: m.ctime() * 1_000_000_000 + m.ctime_nsec(),
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
    /// Called now and then with the number of entries seen.
    pub progress: &'a mut dyn FnMut(u64),
}

impl Scanner<'_> {
    pub fn scan(&mut self, cfg: &SyncConfig) -> Scan {
        let mut out = Scan::default();
        let mut seen = 0u64;
        for p in &cfg.paths {
            let Ok(root) = resolve_config_path(p, self.home) else {
                continue;
            };
            self.record_ancestor_modes(&root, &mut out);
            self.visit(&root, true, &mut out, &mut seen);
        }
        (self.progress)(seen);
        out
    }

    fn record_ancestor_modes(&self, root: &Path, out: &mut Scan) {
        let mut dir = root.parent();
        while let Some(d) = dir {
            if d == self.home || !d.starts_with(self.home) {
                break;
            }
            if let (Ok(m), Ok(rel)) = (std::fs::symlink_metadata(d), d.strip_prefix(self.home))
                && m.is_dir()
                && perm(m.mode()) != 0o755
                && let Some(rel) = rel.to_str()
            {
                out.dir_modes.insert(rel.to_owned(), perm(m.mode()));
            }
            dir = d.parent();
        }
    }

    /// Visits `abs`; `is_root` for a config's own path, whose ancestors were not walked.
    fn visit(&mut self, abs: &Path, is_root: bool, out: &mut Scan, seen: &mut u64) {
        if abs.starts_with(self.state_dir) {
            return;
        }
        let Ok(rel) = abs.strip_prefix(self.home) else {
            return;
        };
        let Some(rel_str) = rel.to_str() else {
            out.skipped.push((
                rel.to_string_lossy().into_owned(),
                "the name is not UTF-8".into(),
            ));
            return;
        };
        let repo = match RepoPath::parse(rel_str) {
            Ok(r) => r,
            Err(e) => {
                // Nested `.git` directories land here; they are skipped silently by design.
                if !rel_str.split('/').any(|c| c.eq_ignore_ascii_case(".git")) {
                    out.skipped.push((rel_str.to_owned(), e.to_string()));
                }
                return;
            }
        };
        let ignored = if is_root {
            self.ignore.is_ignored(repo.as_str())
        } else {
            self.ignore.is_ignored_entry(repo.as_str())
        };
        if ignored || is_temp_name(repo.file_name()) {
            return;
        }
        let meta = match std::fs::symlink_metadata(abs) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
            Err(e) => {
                out.skipped
                    .push((rel_str.to_owned(), format!("cannot read: {e}")));
                return;
            }
        };
        *seen += 1;
        if (*seen).is_multiple_of(1000) {
            (self.progress)(*seen);
        }
        let ft = meta.file_type();
        if ft.is_dir() {
            if perm(meta.mode()) != 0o755 {
                out.dir_modes.insert(rel_str.to_owned(), perm(meta.mode()));
            }
            let entries = match std::fs::read_dir(abs) {
                Ok(rd) => rd,
                Err(e) => {
                    out.skipped
                        .push((rel_str.to_owned(), format!("cannot list: {e}")));
                    return;
                }
            };
            let mut names: Vec<_> = entries.flatten().map(|e| e.file_name()).collect();
            names.sort();
            for name in names {
                if name == ".git" {
                    continue;
                }
                self.visit(&abs.join(name), false, out, seen);
            }
            return;
        }
        let stat = StatKey::of(&meta);
        let kind = if ft.is_symlink() {
            Kind::Symlink
        } else if ft.is_file() {
            Kind::File
        } else {
            out.skipped.push((
                rel_str.to_owned(),
                "not a regular file, directory or symlink".into(),
            ));
            return;
        };
        if kind == Kind::File && meta.len() > MAX_FILE {
            out.skipped.push((
                rel_str.to_owned(),
                format!("larger than {} MiB", MAX_FILE >> 20),
            ));
            return;
        }
        let mode = if kind == Kind::Symlink {
            0o777
        } else {
            perm(meta.mode())
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
            return;
        }
        let content = match read_entry(abs, kind) {
            Ok(c) => c,
            Err(e) => {
                out.skipped
                    .push((rel_str.to_owned(), format!("cannot read: {e}")));
                return;
            }
        };
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
    }
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

/// The engine's temporary files, which a scan must never pick up.
pub fn is_temp_name(name: &str) -> bool {
    name.contains(".dotsync-tmp-")
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
