//! Running git against the engine's own bare repositories.
//!
//! Network operations (ls-remote, fetch, push) shell out to the `git` binary so that the user's
//! ssh config, agent, credential helpers and `insteadOf` rules apply, exactly as for their own
//! `git push`. Everything that could run code or wait for a person is neutralised: no hooks, no
//! signing, no fsmonitor, no `ext::`/`fd::` transports, no terminal prompt, ssh in batch mode.
//! Blobs are hashed and written in-process (SHA-1 + zlib loose objects), so that a sync with
//! local changes spawns a handful of processes, not one per file.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::SyncError;

mod listing;
mod objects;
mod problem;

pub use objects::BlobStream;
pub use problem::classify;
pub(crate) use problem::offline;

/// The all-zero object id, which `update-index --index-info` reads as "remove".
#[cfg(test)]
pub const ZERO_OID: &str = "0000000000000000000000000000000000000000";

/// A bare repository of the engine, and how to call git on it.
#[derive(Clone)]
pub struct Repo {
    pub dir: PathBuf,
    /// `GIT_SSH_COMMAND` to set, when the user configured none.
    ssh_command: Option<String>,
    /// While set, new objects go into this pack instead of loose files.
    pack: std::sync::Arc<std::sync::Mutex<Option<crate::pack::PackWriter>>>,
}

impl std::fmt::Debug for Repo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Repo")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

/// One entry of `ls-tree -r -l`.
#[derive(Debug, Clone)]
pub struct TreeEntry {
    pub mode: u32,
    pub oid: String,
    /// Size in bytes, read from the tree listing without reading the blob.
    pub size: u64,
    /// The path as raw bytes (git allows any).
    pub name: Vec<u8>,
}

/// What a git command printed, when it failed.
#[derive(Debug)]
pub struct GitFailure {
    pub code: Option<i32>,
    pub stderr: String,
    /// What git printed on stdout (push's porcelain report).
    pub stdout: String,
}

impl Repo {
    /// Opens the bare repository at `dir`, creating it if needed, and clears lock files a killed
    /// git may have left (the caller holds the state lock, so no other git runs here).
    pub fn open_or_init(dir: &Path) -> Result<Self, SyncError> {
        let ssh_command = if std::env::var_os("GIT_SSH_COMMAND").is_some()
            || std::env::var_os("GIT_SSH").is_some()
        {
            None
        } else {
            Some("ssh -o BatchMode=yes".to_owned())
        };
        let repo = Self {
            dir: dir.to_path_buf(),
            ssh_command,
            pack: std::sync::Arc::default(),
        };
        if !dir.join("HEAD").exists() {
            std::fs::create_dir_all(dir).map_err(|source| SyncError::Io {
                path: dir.to_path_buf(),
                source,
            })?;
            repo.run(&["init", "--quiet", "--bare"], None)?;
        }
        Ok(repo)
    }

    /// Removes lock files a killed git left behind. Only under the engine's repository lock
    /// (a sync, a resolve), when no other git can be running on this repository.
    pub fn clear_stale_locks(&self) {
        fn walk(dir: &Path) {
            let Ok(rd) = std::fs::read_dir(dir) else {
                return;
            };
            for e in rd.flatten() {
                let p = e.path();
                match e.file_type() {
                    Ok(t) if t.is_dir() => walk(&p),
                    Ok(t) if t.is_file() && p.extension().is_some_and(|x| x == "lock") => {
                        tracing::warn!("removing stale git lock {}", p.display());
                        let _ = std::fs::remove_file(&p);
                    }
                    _ => {}
                }
            }
        }
        for f in [
            "HEAD.lock",
            "config.lock",
            "packed-refs.lock",
            "shallow.lock",
            "index.lock",
        ] {
            let _ = std::fs::remove_file(self.dir.join(f));
        }
        walk(&self.dir.join("refs"));
    }

    /// A git command on this repository with the engine's safety settings.
    pub fn command(&self) -> Command {
        let mut c = Command::new("git");
        c.env("GIT_DIR", &self.dir)
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_ASKPASS", "")
            .env("SSH_ASKPASS", "")
            .env("GCM_INTERACTIVE", "never")
            .env("GIT_OPTIONAL_LOCKS", "0")
            .env("LC_ALL", "C")
            .env_remove("GIT_WORK_TREE")
            .env_remove("GIT_INDEX_FILE")
            .env_remove("GIT_EDITOR")
            .env_remove("GIT_CONFIG_PARAMETERS")
            .args([
                "-c",
                "core.hooksPath=/dev/null",
                "-c",
                "commit.gpgSign=false",
                "-c",
                "tag.gpgSign=false",
                "-c",
                "push.gpgSign=false",
                "-c",
                "core.fsmonitor=false",
                "-c",
                "protocol.ext.allow=never",
                "-c",
                "protocol.fd.allow=never",
                "-c",
                "credential.interactive=false",
                "-c",
                "core.askPass=",
                "-c",
                "gc.auto=0",
                "-c",
                "maintenance.auto=false",
            ])
            .stdin(Stdio::null());
        if let Some(ssh) = &self.ssh_command {
            c.env("GIT_SSH_COMMAND", ssh);
        }
        c
    }

    /// Runs git with `args` (and optional stdin), returning stdout or the failure.
    pub fn try_run(&self, args: &[&str], stdin: Option<&[u8]>) -> Result<Vec<u8>, GitFailure> {
        self.try_run_env(args, stdin, &[])
    }

    /// Runs git. Only the network commands (ls-remote, fetch, push) read the person's own git
    /// configuration, which they need for credentials, `insteadOf` and ssh settings; everything
    /// else runs without it, so that a broken `~/.gitconfig` (one dotsync may itself be syncing)
    /// never stops dotsync from pulling the fix. If even a network command fails on an
    /// unreadable configuration, it is retried once without it.
    pub fn try_run_env(
        &self,
        args: &[&str],
        stdin: Option<&[u8]>,
        env: &[(&str, &std::ffi::OsStr)],
    ) -> Result<Vec<u8>, GitFailure> {
        let network = matches!(args.first(), Some(&("ls-remote" | "fetch" | "push")));
        match self.spawn_git(args, stdin, env, !network) {
            Err(f) if network && is_config_error(&f.stderr) => {
                tracing::warn!(
                    "git cannot read your git configuration ({}); retrying without it",
                    f.stderr.lines().next().unwrap_or("")
                );
                self.spawn_git(args, stdin, env, true)
            }
            other => other,
        }
    }

    fn spawn_git(
        &self,
        args: &[&str],
        stdin: Option<&[u8]>,
        env: &[(&str, &std::ffi::OsStr)],
        isolated: bool,
    ) -> Result<Vec<u8>, GitFailure> {
        let mut cmd = self.command();
        if isolated {
            cmd.env("GIT_CONFIG_GLOBAL", "/dev/null")
                .env("GIT_CONFIG_NOSYSTEM", "1");
        }
        cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        if stdin.is_some() {
            cmd.stdin(Stdio::piped());
        }
        tracing::trace!(?args, "git");
        let mut child = cmd.spawn().map_err(|e| GitFailure {
            stdout: String::new(),
            code: None,
            stderr: format!("cannot run git: {e}; is git installed and on PATH?"),
        })?;
        // Feed stdin from a thread so a large input cannot deadlock against a full stdout pipe.
        let writer = match (stdin, child.stdin.take()) {
            (Some(data), Some(mut pipe)) => {
                let data = data.to_vec();
                Some(std::thread::spawn(move || {
                    let _ = pipe.write_all(&data);
                }))
            }
            _ => None,
        };
        let out = child.wait_with_output().map_err(|e| GitFailure {
            stdout: String::new(),
            code: None,
            stderr: e.to_string(),
        })?;
        if let Some(w) = writer {
            let _ = w.join();
        }
        if out.status.success() {
            Ok(out.stdout)
        } else {
            Err(GitFailure {
                stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                code: out.status.code(),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            })
        }
    }

    /// Like [`try_run`](Self::try_run), with a failure as [`SyncError::Git`].
    pub fn run(&self, args: &[&str], stdin: Option<&[u8]>) -> Result<Vec<u8>, SyncError> {
        self.try_run(args, stdin).map_err(|f| {
            SyncError::Git(format!("git {}: {}", args.first().unwrap_or(&""), f.stderr))
        })
    }

    /// The commit `refs/heads/<branch>` points at on the remote, `None` if it has no such branch.
    pub fn ls_remote(&self, url: &str, branch: &str) -> Result<Option<String>, SyncError> {
        let refname = format!("refs/heads/{branch}");
        let out = self
            .try_run(&["ls-remote", "--", url, &refname], None)
            .map_err(|f| offline(url, f))?;
        let text = String::from_utf8_lossy(&out);
        Ok(text
            .lines()
            .filter_map(|l| l.split_once('\t'))
            .find(|(_, r)| *r == refname)
            .map(|(oid, _)| oid.to_owned()))
    }

    /// Fetches the remote branch into `refs/dotsync/remote/<branch>`.
    pub fn fetch(&self, url: &str, branch: &str) -> Result<(), SyncError> {
        let spec = format!("+refs/heads/{branch}:{}", tracking_ref(branch));
        self.try_run(
            &[
                "fetch",
                "--quiet",
                "--no-tags",
                "--no-write-fetch-head",
                "--",
                url,
                &spec,
            ],
            None,
        )
        .map_err(|f| offline(url, f))?;
        Ok(())
    }

    /// Pushes `commit` to the remote branch, which must still be at `expected` (None: must not
    /// exist yet). `Ok(false)` when the remote moved meanwhile (another machine pushed first,
    /// or someone rewrote the branch): fetch, re-plan and try again. The lease also keeps a
    /// branch that was force-pushed back (say, to drop a leaked secret) from being silently
    /// fast-forwarded to what it had before.
    pub fn push(
        &self,
        url: &str,
        commit: &str,
        branch: &str,
        expected: Option<&str>,
    ) -> Result<bool, SyncError> {
        let spec = format!("{commit}:refs/heads/{branch}");
        let lease = format!(
            "--force-with-lease=refs/heads/{branch}:{}",
            expected.unwrap_or("")
        );
        let (report, failure) =
            match self.try_run(&["push", "--porcelain", &lease, "--", url, &spec], None) {
                Ok(out) => (String::from_utf8_lossy(&out).into_owned(), None),
                Err(f) => (f.stdout.clone(), Some(f)),
            };
        // Porcelain lines: "<flag>\t<from>:<to>\t<summary> (<reason>)"; "!" is a rejected ref.
        if let Some(line) = report.lines().find(|l| l.starts_with('!')) {
            let summary = line.splitn(3, '\t').nth(2).unwrap_or(line);
            // "[rejected]": the remote moved (non-fast-forward, fetch first, stale lease). A
            // remote that could not lock or update the ref lost a race with another push.
            if summary.starts_with("[rejected]") {
                return Ok(false);
            }
            // A remote that could not lock the ref either lost a race with another push (the
            // ref moved: fetch and try again) or holds a stale lock file (the ref did not move:
            // nothing will change by retrying, and it is not "other machines pushed first").
            let lock = summary.contains("failed to update ref")
                || summary.contains("cannot lock ref")
                || summary.contains("failed to lock");
            let detail = summary.trim_start_matches("[remote rejected]").trim();
            if lock {
                let now = self.ls_remote(url, branch)?;
                if now.as_deref() != expected {
                    return Ok(false);
                }
                return Err(SyncError::Remote {
                    problem: crate::RemoteProblem::Locked,
                    remote: url.to_owned(),
                    detail: detail.to_owned(),
                });
            }
            let problem = match classify(detail) {
                crate::RemoteProblem::Offline => crate::RemoteProblem::Rejected,
                p => p,
            };
            return Err(SyncError::Remote {
                problem,
                remote: url.to_owned(),
                detail: detail.to_owned(),
            });
        }
        match failure {
            None => Ok(true),
            Some(f) => Err(offline(url, f)),
        }
    }

    /// Resolves a ref or revision to a commit id, `None` if it does not exist.
    pub fn rev_parse(&self, rev: &str) -> Option<String> {
        let spec = format!("{rev}^{{commit}}");
        self.try_run(&["rev-parse", "--verify", "--quiet", &spec], None)
            .ok()
            .map(|o| String::from_utf8_lossy(&o).trim().to_owned())
            .filter(|s| !s.is_empty())
    }

    /// Whether `ancestor` is in the history of `commit` (both must exist).
    pub fn is_ancestor(&self, ancestor: &str, commit: &str) -> Result<bool, SyncError> {
        match self.try_run(&["merge-base", "--is-ancestor", ancestor, commit], None) {
            Ok(_) => Ok(true),
            Err(f) if f.code == Some(1) => Ok(false),
            Err(f) => Err(SyncError::Git(format!("git merge-base: {}", f.stderr))),
        }
    }

    /// Whether two commits share any history (have a merge base).
    pub fn have_common_history(&self, a: &str, b: &str) -> Result<bool, SyncError> {
        match self.try_run(&["merge-base", a, b], None) {
            Ok(_) => Ok(true),
            Err(f) if f.code == Some(1) => Ok(false),
            Err(f) => Err(SyncError::Git(format!("git merge-base: {}", f.stderr))),
        }
    }

    /// Every blob and symlink of a commit's tree: (git mode, blob id, size, path as raw bytes).
    pub fn ls_tree(&self, commit: &str) -> Result<Vec<TreeEntry>, SyncError> {
        let out = self.run(&["ls-tree", "-r", "-l", "-z", "--full-tree", commit], None)?;
        Ok(listing::parse_ls_tree(&out))
    }

    /// Creates a commit of `tree` on `parent` with `message`, authored as `author` (name, email).
    pub fn commit_tree(
        &self,
        tree: &str,
        parent: Option<&str>,
        message: &str,
        author: (&str, &str),
    ) -> Result<String, SyncError> {
        let mut args = vec!["commit-tree", tree];
        if let Some(p) = parent {
            args.push("-p");
            args.push(p);
        }
        let env = [
            ("GIT_AUTHOR_NAME", std::ffi::OsStr::new(author.0)),
            ("GIT_AUTHOR_EMAIL", std::ffi::OsStr::new(author.1)),
            ("GIT_COMMITTER_NAME", std::ffi::OsStr::new(author.0)),
            ("GIT_COMMITTER_EMAIL", std::ffi::OsStr::new(author.1)),
        ];
        let out = self
            .try_run_env(&args, Some(message.as_bytes()), &env)
            .map_err(|f| SyncError::Git(format!("git commit-tree: {}", f.stderr)))?;
        Ok(String::from_utf8_lossy(&out).trim().to_owned())
    }

    /// Moves a local ref unless it already points at `commit` (read from its loose file: the
    /// engine's refs are never packed; a ref it cannot read is simply written).
    pub fn set_ref(&self, name: &str, commit: &str) -> Result<(), SyncError> {
        let now = std::fs::read_to_string(self.dir.join(name)).unwrap_or_default();
        if now.trim() == commit {
            return Ok(());
        }
        self.update_ref(name, commit)
    }

    /// Moves a local ref (no reflog needed; the engine's refs are its own).
    pub fn update_ref(&self, name: &str, commit: &str) -> Result<(), SyncError> {
        self.run(&["update-ref", name, commit], None)?;
        Ok(())
    }

    /// A three-way line merge of `ours` and `theirs` against `base` with `git merge-file`.
    /// `Ok(Some(merged))` when clean, `Ok(None)` when the edits overlap.
    pub fn merge_text(
        &self,
        ours: &[u8],
        base: &[u8],
        theirs: &[u8],
    ) -> Result<Option<Vec<u8>>, SyncError> {
        let dir = tempfile::tempdir_in(&self.dir).map_err(|source| SyncError::Io {
            path: self.dir.clone(),
            source,
        })?;
        let write = |name: &str, data: &[u8]| -> Result<String, SyncError> {
            let p = dir.path().join(name);
            std::fs::write(&p, data).map_err(|source| SyncError::Io {
                path: p.clone(),
                source,
            })?;
            Ok(p.display().to_string())
        };
        let (o, b, t) = (
            write("ours", ours)?,
            write("base", base)?,
            write("theirs", theirs)?,
        );
        match self.try_run(&["merge-file", "-p", "--", &o, &b, &t], None) {
            Ok(out) => Ok(Some(out)),
            // The exit code is the number of conflicts, capped at 127; errors are negative (255).
            Err(f) if f.code.is_some_and(|c| (1..=127).contains(&c)) => Ok(None),
            Err(f) => Err(SyncError::Git(format!("git merge-file: {}", f.stderr))),
        }
    }
}

fn is_config_error(stderr: &str) -> bool {
    stderr.contains("bad config")
        || stderr.contains("bad numeric config")
        || stderr.contains("unable to parse")
}

/// `oid` in lower case if it is a full object id (40 hex digits, either case).
pub(crate) fn full_id(oid: &str) -> Option<String> {
    (oid.len() == 40 && oid.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| oid.to_ascii_lowercase())
}

/// Where the engine keeps the last fetched state of a remote branch.
pub fn tracking_ref(branch: &str) -> String {
    format!("refs/dotsync/remote/{branch}")
}

/// Git's blob id of `data`: SHA-1 of `blob <len>\0<data>`.
pub fn blob_id(data: &[u8]) -> String {
    object_id("blob", data)
}

/// Git's id of an object: SHA-1 of `<kind> <len>\0<data>`.
pub fn object_id(kind: &str, data: &[u8]) -> String {
    use sha1::Digest;
    let mut h = sha1::Sha1::new();
    h.update(format!("{kind} {}\0", data.len()).as_bytes());
    h.update(data);
    hex(&h.finalize())
}

/// Bytes as lowercase hexadecimal, the way git spells object ids and checksums.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

/// The git tree mode for a file kind and permission bits.
pub fn git_mode(kind: dotsync_core::plan::Kind, mode: u32) -> u32 {
    match kind {
        dotsync_core::plan::Kind::Symlink => 0o120000,
        dotsync_core::plan::Kind::File if mode & 0o100 != 0 => 0o100755,
        dotsync_core::plan::Kind::File => 0o100644,
    }
}

#[cfg(test)]
mod tests;
