use std::fmt::Write as _;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Errors about the state directory itself.
#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    #[error("cannot find your home directory: $HOME is not set; set HOME or DOTSYNC_HOME")]
    NoHome,
    #[error("cannot use {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the dotsync state in {state} is in use by another dotsync process{}; \
         stop it first, or point DOTSYNC_HOME elsewhere",
        .holder.as_ref().map(|h| format!(" (pid {})", h.pid)).unwrap_or_default()
    )]
    Locked {
        state: PathBuf,
        holder: Option<LockInfo>,
    },
    #[error("{path} exists but is not a directory; move it away so dotsync can create its state")]
    NotADirectory { path: PathBuf },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> LayoutError + '_ {
    move |source| LayoutError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Where dotsync keeps its files.
#[derive(Debug, Clone)]
pub struct Layout {
    /// `$DOTSYNC_HOME`, by default `~/.dotsync`.
    pub root: PathBuf,
}

/// What the holder of the state lock wrote into it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockInfo {
    pub pid: u32,
    /// The address the daemon listens on, when the holder is a daemon.
    pub addr: Option<String>,
}

/// Proof that this process owns the state. Dropping it releases the lock.
#[derive(Debug)]
pub struct StateLock {
    file: File,
    path: PathBuf,
}

impl StateLock {
    /// Records the daemon's listening address so that the CLI can find it.
    pub fn set_addr(&mut self, addr: &str) -> Result<(), LayoutError> {
        let text = format!("{} {addr}\n", std::process::id());
        self.file.set_len(0).map_err(io(&self.path))?;
        std::os::unix::fs::FileExt::write_all_at(&self.file, text.as_bytes(), 0)
            .map_err(io(&self.path))?;
        Ok(())
    }
}

impl Layout {
    /// `$DOTSYNC_HOME` if set, else `$HOME/.dotsync`.
    pub fn from_env() -> Result<Self, LayoutError> {
        if let Some(root) = std::env::var_os("DOTSYNC_HOME").filter(|v| !v.is_empty()) {
            return Ok(Self::new(PathBuf::from(root)));
        }
        let home = home_dir()?;
        Ok(Self::new(home.join(".dotsync")))
    }

    pub fn new(root: PathBuf) -> Self {
        Self { root }
    }

    pub fn state_dir(&self) -> PathBuf {
        self.root.join("state")
    }
    pub fn db_path(&self) -> PathBuf {
        self.state_dir().join("dotsync.db")
    }
    pub fn token_path(&self) -> PathBuf {
        self.state_dir().join("token")
    }
    pub fn lock_path(&self) -> PathBuf {
        self.state_dir().join("lock")
    }
    pub fn repos_dir(&self) -> PathBuf {
        self.state_dir().join("repos")
    }
    /// The frontend's settings file (`~/.dotsync/config`).
    pub fn frontend_config_path(&self) -> PathBuf {
        self.root.join("config")
    }

    /// Creates `root` and `state/` with mode 0700 (and tightens them if they exist).
    pub fn ensure(&self) -> Result<(), LayoutError> {
        for dir in [self.root.clone(), self.state_dir(), self.repos_dir()] {
            match fs::symlink_metadata(&dir) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => return Err(LayoutError::NotADirectory { path: dir }),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    fs::DirBuilder::new()
                        .recursive(true)
                        .mode(0o700)
                        .create(&dir)
                        .map_err(io(&dir))?;
                }
                Err(e) => return Err(io(&dir)(e)),
            }
            fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).map_err(io(&dir))?;
        }
        Ok(())
    }

    /// Takes the state lock without waiting. Fails with [`LayoutError::Locked`] naming the
    /// holder when another process has it.
    pub fn try_lock(&self) -> Result<StateLock, LayoutError> {
        self.ensure()?;
        let path = self.lock_path();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(io(&path))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(LayoutError::Locked {
                    state: self.state_dir(),
                    holder: self.lock_holder(),
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(&path)(e)),
        }
        let mut lock = StateLock { file, path };
        lock.file.set_len(0).map_err(io(&lock.path))?;
        let text = format!("{}\n", std::process::id());
        std::os::unix::fs::FileExt::write_all_at(&lock.file, text.as_bytes(), 0)
            .map_err(io(&lock.path))?;
        lock.file.flush().map_err(io(&lock.path))?;
        Ok(lock)
    }

    /// Who holds the lock, as they wrote it; `None` if nobody wrote anything readable.
    pub fn lock_holder(&self) -> Option<LockInfo> {
        let mut s = String::new();
        File::open(self.lock_path())
            .ok()?
            .read_to_string(&mut s)
            .ok()?;
        let mut parts = s.split_whitespace();
        let pid = parts.next()?.parse().ok()?;
        Some(LockInfo {
            pid,
            addr: parts.next().map(str::to_owned),
        })
    }

    /// Reads the API token, creating it (0600) on first use.
    pub fn load_or_create_token(&self) -> Result<String, LayoutError> {
        self.ensure()?;
        let path = self.token_path();
        match fs::read_to_string(&path) {
            Ok(t) if t.trim().len() >= 32 => {
                fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).map_err(io(&path))?;
                return Ok(t.trim().to_owned());
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(&path)(e)),
        }
        let token = random_hex(32);
        // Written whole and renamed, so a reader never sees half a token.
        crate::fs::write_atomic(&path, format!("{token}\n").as_bytes(), 0o600)
            .map_err(io(&path))?;
        Ok(token)
    }

    /// Reads the token without creating it.
    pub fn read_token(&self) -> Result<Option<String>, LayoutError> {
        let path = self.token_path();
        match fs::read_to_string(&path) {
            Ok(t) => Ok(Some(t.trim().to_owned())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(&path)(e)),
        }
    }
}

/// The user's home directory, from `$HOME`.
pub fn home_dir() -> Result<PathBuf, LayoutError> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .ok_or(LayoutError::NoHome)
}

/// `n` random bytes from the OS, hex encoded.
///
/// # Panics
///
/// When the operating system's random number source fails.
pub fn random_hex(n: usize) -> String {
    let mut buf = vec![0u8; n];
    // The OS random source failing is not something dotsync can recover from or work around.
    #[allow(
        clippy::expect_used,
        reason = "a failing OS random source is no input's doing and leaves nothing to fall back on"
    )]
    getrandom::fill(&mut buf).expect("the operating system's random number source failed");
    buf.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_is_private_and_the_token_stable() {
        let dir = tempfile::tempdir().expect("tempdir");
        let layout = Layout::new(dir.path().join("dots"));
        let t1 = layout.load_or_create_token().expect("token");
        let t2 = layout.load_or_create_token().expect("token");
        assert_eq!(t1, t2);
        assert_eq!(t1.len(), 64);
        let mode = |p: PathBuf| fs::metadata(p).expect("exists").permissions().mode() & 0o777;
        assert_eq!(mode(layout.root.clone()), 0o700);
        assert_eq!(mode(layout.state_dir()), 0o700);
        assert_eq!(mode(layout.token_path()), 0o600);
    }

    #[test]
    fn a_second_lock_is_refused_and_names_the_holder() {
        let dir = tempfile::tempdir().expect("tempdir");
        let layout = Layout::new(dir.path().to_path_buf());
        let mut first = layout.try_lock().expect("first lock");
        first.set_addr("127.0.0.1:4567").expect("write addr");
        match layout.try_lock() {
            Err(LayoutError::Locked {
                holder: Some(h), ..
            }) => {
                assert_eq!(h.pid, std::process::id());
                assert_eq!(h.addr.as_deref(), Some("127.0.0.1:4567"));
            }
            other => panic!("expected Locked, got {other:?}"),
        }
        drop(first);
        layout.try_lock().expect("lock is free again once dropped");
    }
}
