//! Writing into the home, the one place the engine changes a person's files.
//!
//! Every write is atomic (a temporary file created with its final mode in the same directory,
//! fsync, rename over the target, fsync of the directory), re-checks that the target is still as
//! the scan saw it, and walks from the config's root down without following symlinks, so that a
//! remote that turns a directory into a symlink cannot make dotsync write elsewhere.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use dotsync_core::plan::Kind;

use crate::scan::{StatKey, perm, set_perm};

/// Why a file could not be written or removed. Per file: the sync goes on.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("changed since the scan; it will sync next time")]
    ChangedSinceScan,
    #[error("{0} is a symlink; dotsync never writes through a symlink")]
    SymlinkInPath(PathBuf),
    #[error("{0} is in the way: it is not a directory")]
    NotADirectory(PathBuf),
    #[error("a directory is where the file should be")]
    DirectoryInTheWay,
    #[error("outside every path of the config")]
    OutsideConfig,
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Where a write may go: the home and the roots the config lists.
pub struct Target<'a> {
    pub home: &'a Path,
    /// dotsync's own state (`DOTSYNC_HOME/state`), never written through a config, wherever
    /// `DOTSYNC_HOME` points.
    pub state_dir: &'a Path,
    pub roots: &'a [PathBuf],
    /// Mode for a directory that has to be created (repository-relative path → mode).
    pub dir_mode: &'a dyn Fn(&str) -> Option<u32>,
    /// The random part of this sync's temporary names, recorded before the first was
    /// created: only names with a recorded token are ever removed as leftovers.
    pub token: &'a str,
}

impl Target<'_> {
    /// Makes sure the parent directories of `abs` exist, creating them as recorded, and that
    /// none from the config's root down is a symlink.
    fn prepare_parents(&self, abs: &Path) -> Result<(), ApplyError> {
        if abs.starts_with(self.state_dir) {
            return Err(ApplyError::OutsideConfig);
        }
        let root = self
            .roots
            .iter()
            .find(|r| abs == r.as_path() || abs.starts_with(r))
            .ok_or(ApplyError::OutsideConfig)?;
        let parent = abs.parent().ok_or(ApplyError::OutsideConfig)?;
        let rel = parent
            .strip_prefix(self.home)
            .map_err(|_| ApplyError::OutsideConfig)?;
        let mut cur = self.home.to_path_buf();
        for comp in rel.components() {
            cur.push(comp);
            // Above the config's root is the person's own layout (a `~/.config` symlinked by
            // stow is theirs to have); from the root down, the remote decides, so no symlinks.
            let strict = cur.starts_with(root);
            let meta = if strict {
                std::fs::symlink_metadata(&cur)
            } else {
                std::fs::metadata(&cur)
            };
            match meta {
                Ok(m) if m.file_type().is_symlink() => return Err(ApplyError::SymlinkInPath(cur)),
                Ok(m) if m.is_dir() => {}
                Ok(_) => return Err(ApplyError::NotADirectory(cur)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    let rel = cur
                        .strip_prefix(self.home)
                        .ok()
                        .and_then(Path::to_str)
                        .unwrap_or("");
                    let mode = (self.dir_mode)(rel).unwrap_or(0o755);
                    std::fs::DirBuilder::new().mode(perm(mode)).create(&cur)?;
                    set_perm(&cur, mode)?;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Replaces `abs` with `content` (a file's bytes or a symlink's target), provided it still
    /// has the stat `expected` (None: must not exist). Returns the new file's stat.
    pub fn write(
        &self,
        abs: &Path,
        kind: Kind,
        mode: u32,
        content: &[u8],
        expected: Option<StatKey>,
    ) -> Result<StatKey, ApplyError> {
        let staged = self.stage(abs, kind, mode, content, expected, true)?;
        let stat = self.commit(&staged)?;
        fsync_dir(&staged.dir);
        Ok(stat)
    }

    /// The first half of a write: the new bytes in a temporary file beside `abs`, created with
    /// their final mode. With `flush`, on disk before this returns; without, the caller makes
    /// them durable (one [`flush_all`] for a batch) before [`commit`](Self::commit).
    pub fn stage(
        &self,
        abs: &Path,
        kind: Kind,
        mode: u32,
        content: &[u8],
        expected: Option<StatKey>,
        flush: bool,
    ) -> Result<Staged, ApplyError> {
        self.prepare_parents(abs)?;
        if expected.is_none() {
            // An empty directory where the file goes (the other machine replaced a directory
            // by a file, and its files were removed just before) gives way; a directory that
            // still holds anything does not (rmdir refuses it).
            if std::fs::symlink_metadata(abs).is_ok_and(|m| m.is_dir()) {
                std::fs::remove_dir(abs).map_err(|_| ApplyError::DirectoryInTheWay)?;
            }
        }
        check_unchanged(abs, expected)?;
        let dir = abs.parent().ok_or(ApplyError::OutsideConfig)?;
        let name = abs.file_name().and_then(|n| n.to_str()).unwrap_or("file");
        let tmp = dir.join(format!(".{name}{}{}", crate::scan::TEMP_MARK, self.token));
        let written = (|| -> Result<(), ApplyError> {
            match kind {
                Kind::File => {
                    // Created with its final mode: a 0600 file is never readable by others,
                    // not even for the instant before a chmod.
                    let mut f = std::fs::OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .mode(perm(mode))
                        .open(&tmp)?;
                    f.write_all(content)?;
                    f.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(perm(mode)))?;
                    if flush {
                        f.sync_all()?;
                    }
                }
                Kind::Symlink => {
                    use std::os::unix::ffi::OsStrExt;
                    std::os::unix::fs::symlink(std::ffi::OsStr::from_bytes(content), &tmp)?;
                }
            }
            fail::fail_point!("apply::temp-written");
            Ok(())
        })();
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        Ok(Staged {
            tmp,
            abs: abs.to_path_buf(),
            dir: dir.to_path_buf(),
            expected,
        })
    }

    /// The second half: the staged bytes take the file's place, unless the file changed since
    /// the scan (then the temporary file goes and the edit wins). The directory is not synced
    /// here: the caller syncs each directory once. Returns the new file's stat.
    #[allow(
        clippy::unused_self,
        reason = "the second half of the applier's write, beside its first"
    )]
    pub fn commit(&self, staged: &Staged) -> Result<StatKey, ApplyError> {
        let done = (|| -> Result<StatKey, ApplyError> {
            // Last look before the rename: an edit that landed during the write wins.
            check_unchanged(&staged.abs, staged.expected)?;
            std::fs::rename(&staged.tmp, &staged.abs)?;
            Ok(StatKey::of(&std::fs::symlink_metadata(&staged.abs)?))
        })();
        if done.is_err() {
            let _ = std::fs::remove_file(&staged.tmp);
        }
        done
    }

    /// Removes `abs` if it still has the stat `expected`.
    pub fn remove(&self, abs: &Path, expected: Option<StatKey>) -> Result<(), ApplyError> {
        if abs.starts_with(self.state_dir) {
            return Err(ApplyError::OutsideConfig);
        }
        self.roots
            .iter()
            .find(|r| abs == r.as_path() || abs.starts_with(r))
            .ok_or(ApplyError::OutsideConfig)?;
        // The walk down must not pass a symlink either.
        self.check_no_symlink_parents(abs)?;
        check_unchanged(abs, expected)?;
        match std::fs::remove_file(abs) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
        if let Some(dir) = abs.parent() {
            fsync_dir(dir);
        }
        Ok(())
    }

    /// Removes the directories above `abs` that are now empty, up to (not including) the
    /// config's root: a directory whose files were all deleted on the other machine goes too,
    /// so that a file of the same name can take its place.
    pub fn remove_empty_parents(&self, abs: &Path) {
        let Some(root) = self
            .roots
            .iter()
            .find(|r| abs.starts_with(r) && abs != r.as_path())
        else {
            return;
        };
        let mut cur = abs.parent();
        while let Some(d) = cur {
            if d == root.as_path() || !d.starts_with(root) || d == self.home {
                break;
            }
            // rmdir removes only an empty directory, and never follows a symlink.
            if std::fs::remove_dir(d).is_err() {
                break;
            }
            if let Some(p) = d.parent() {
                fsync_dir(p);
            }
            cur = d.parent();
        }
    }

    /// Whether reading `abs` would pass through a symlink from the config's root down.
    pub fn check_no_symlink_parents(&self, abs: &Path) -> Result<(), ApplyError> {
        let root = self
            .roots
            .iter()
            .find(|r| abs.starts_with(r))
            .ok_or(ApplyError::OutsideConfig)?;
        let mut cur = abs.parent();
        while let Some(d) = cur {
            if !d.starts_with(root) {
                break;
            }
            if std::fs::symlink_metadata(d).is_ok_and(|m| m.file_type().is_symlink()) {
                return Err(ApplyError::SymlinkInPath(d.to_path_buf()));
            }
            cur = d.parent();
        }
        Ok(())
    }
}

fn check_unchanged(abs: &Path, expected: Option<StatKey>) -> Result<(), ApplyError> {
    match (std::fs::symlink_metadata(abs), expected) {
        (Err(e), None) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        (Err(e), Some(_)) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(ApplyError::ChangedSinceScan)
        }
        (Err(e), _) => Err(e.into()),
        (Ok(m), _) if m.is_dir() => Err(ApplyError::DirectoryInTheWay),
        (Ok(m), Some(want)) if StatKey::of(&m) == want => Ok(()),
        (Ok(_), _) => Err(ApplyError::ChangedSinceScan),
    }
}

/// A write whose new bytes wait in a temporary file for [`Target::commit`].
#[derive(Debug)]
pub struct Staged {
    tmp: PathBuf,
    abs: PathBuf,
    pub dir: PathBuf,
    expected: Option<StatKey>,
}

impl Staged {
    /// Gives up on this write: the temporary file goes.
    pub fn abandon(self) {
        let _ = std::fs::remove_file(&self.tmp);
    }
}

/// Makes everything written to the file system holding `dir` durable: one `syncfs` for a
/// batch of staged files, instead of one `fsync` each.
#[allow(unsafe_code)]
pub fn flush_all(dir: &Path) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let d = std::fs::File::open(dir)?;
    // SAFETY: `d` is an open file descriptor for the whole call; syncfs only reads it.
    let rc = unsafe { libc::syncfs(d.as_raw_fd()) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

pub fn fsync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn target<'a>(home: &'a Path, roots: &'a [PathBuf]) -> Target<'a> {
        Target {
            home,
            state_dir: Path::new("/nonexistent-state"),
            roots,
            dir_mode: &|rel| (rel == ".ssh").then_some(0o700),
            token: "0123456789abcdef",
        }
    }

    #[test]
    fn writes_create_private_parents_with_final_modes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let home = dir.path();
        let roots = [home.join(".ssh/config")];
        let t = target(home, &roots);
        t.write(&roots[0], Kind::File, 0o600, b"Host *\n", None)
            .expect("write");
        let mode = |p: &Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode(&home.join(".ssh")), 0o700);
        assert_eq!(mode(&roots[0]), 0o600);
        assert_eq!(std::fs::read(&roots[0]).expect("read"), b"Host *\n");
    }

    #[test]
    fn a_symlinked_directory_below_the_root_is_never_written_through() {
        let dir = tempfile::tempdir().expect("tempdir");
        let home = dir.path().join("home");
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(home.join(".config")).expect("mkdir");
        std::fs::create_dir_all(&outside).expect("mkdir");
        std::os::unix::fs::symlink(&outside, home.join(".config/nvim")).expect("symlink");
        let roots = [home.join(".config")];
        let t = target(&home, &roots);
        let err = t
            .write(
                &home.join(".config/nvim/init.lua"),
                Kind::File,
                0o644,
                b"x",
                None,
            )
            .expect_err("must refuse");
        assert!(matches!(err, ApplyError::SymlinkInPath(_)), "{err}");
        assert!(std::fs::read_dir(&outside).expect("ls").next().is_none());
    }

    #[test]
    fn a_file_edited_since_the_scan_is_not_overwritten() {
        let dir = tempfile::tempdir().expect("tempdir");
        let home = dir.path();
        let f = home.join(".zshrc");
        std::fs::write(&f, "old").expect("write");
        let seen = StatKey::of(&std::fs::symlink_metadata(&f).expect("stat"));
        std::fs::write(&f, "edited meanwhile").expect("write");
        let roots = [f.clone()];
        let t = target(home, &roots);
        let err = t
            .write(&f, Kind::File, 0o644, b"remote", Some(seen))
            .expect_err("refuse");
        assert!(matches!(err, ApplyError::ChangedSinceScan));
        assert_eq!(
            std::fs::read_to_string(&f).expect("read"),
            "edited meanwhile"
        );
        let err = t
            .write(&f, Kind::File, 0o644, b"remote", None)
            .expect_err("refuse");
        assert!(matches!(err, ApplyError::ChangedSinceScan));
    }
}
