//! Looking at a remote before any config uses it: can it be reached, is it empty, is it a
//! dotsync repository, and which of its files differ from this machine's. Nothing in the home
//! and nothing on the remote is written; the remote's branch is fetched into the engine's own
//! repository (as a sync would), so the files can be listed.

use dotsync_core::paths::RepoPath;
use dotsync_core::remote::expand_remote;

use crate::git::{Repo, blob_id, tracking_ref};
use crate::meta::META_PATH;
use crate::{Engine, SyncError};

pub use dotsync_api::{Comparison, RemoteKind};

/// One file of the remote's branch.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RemoteFile {
    /// `~/` and the path in the home.
    pub path: String,
    pub size: u64,
    pub here: Comparison,
}

/// The answer of [`Engine::probe_remote`].
#[derive(Debug, Clone, serde::Serialize)]
pub struct RemoteProbe {
    pub kind: RemoteKind,
    /// The commit the branch points at, if it exists.
    pub commit: Option<String>,
    /// The branch's files (none for an empty remote), in path order.
    pub files: Vec<RemoteFile>,
}

impl Engine {
    /// Looks at `remote`'s `branch`: see the module documentation. Errors are those of a sync's
    /// remote check (`offline`, `auth`, `remote_not_found`, ...), with their way out.
    pub fn probe_remote(&self, remote: &str, branch: &str) -> Result<RemoteProbe, SyncError> {
        let url = expand_remote(remote, &self.home);
        let repo_dir = self.repo_dir(&url);
        let lock = self.repo_lock(&repo_dir);
        let _guard = lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let repo = Repo::open_or_init(&repo_dir)?;
        let refname = format!("refs/heads/{branch}");
        // A person waits for this answer: an ssh host that does not answer is given up on
        // after a while instead of the system's TCP timeout (minutes).
        let quick_ssh = std::ffi::OsString::from("ssh -o BatchMode=yes -o ConnectTimeout=10");
        let env: Vec<(&str, &std::ffi::OsStr)> = if std::env::var_os("GIT_SSH_COMMAND").is_none()
            && std::env::var_os("GIT_SSH").is_none()
        {
            vec![("GIT_SSH_COMMAND", quick_ssh.as_os_str())]
        } else {
            Vec::new()
        };
        let out = repo
            .try_run_env(
                &["ls-remote", "--", &url, &refname, "refs/dotsync/key"],
                None,
                &env,
            )
            .map_err(|f| crate::git::offline(&url, f))?;
        let text = String::from_utf8_lossy(&out);
        let mut commit = None;
        let mut has_key = false;
        for (oid, r) in text.lines().filter_map(|l| l.split_once('\t')) {
            if r == refname {
                commit = Some(oid.to_owned());
            } else if r == "refs/dotsync/key" {
                has_key = true;
            }
        }
        let Some(tip) = commit.clone() else {
            return Ok(RemoteProbe {
                kind: if has_key {
                    RemoteKind::Dotsync
                } else {
                    RemoteKind::Empty
                },
                commit: None,
                files: Vec::new(),
            });
        };
        repo.fetch(&url, branch)?;
        let tracking = repo
            .rev_parse(&tracking_ref(branch))
            .unwrap_or_else(|| tip.clone());
        let mut has_meta = false;
        let mut files = Vec::new();
        for e in repo.ls_tree(&tracking)? {
            let Ok(name) = std::str::from_utf8(&e.name) else {
                continue;
            };
            if name == META_PATH {
                has_meta = true;
                continue;
            }
            let Ok(rp) = RepoPath::parse(name) else {
                continue;
            };
            let here = rp.under(&self.home);
            let here = match std::fs::symlink_metadata(&here) {
                Err(_) => Comparison::OnlyRemote,
                Ok(m) if e.mode == 0o120000 => {
                    let same = m.file_type().is_symlink()
                        && std::fs::read_link(&here)
                            .is_ok_and(|t| blob_id(t.as_os_str().as_encoded_bytes()) == e.oid);
                    if same {
                        Comparison::Same
                    } else {
                        Comparison::Differs
                    }
                }
                Ok(m) if m.is_file() && m.len() == e.size => match std::fs::read(&here) {
                    Ok(bytes) if blob_id(&bytes) == e.oid => Comparison::Same,
                    _ => Comparison::Differs,
                },
                Ok(_) => Comparison::Differs,
            };
            files.push(RemoteFile {
                path: format!("~/{name}"),
                size: e.size,
                here,
            });
        }
        files.sort_by(|a, b| a.path.cmp(&b.path));
        // Commits dotsync makes carry the machine's name as a trailer.
        let by_dotsync = repo
            .run(&["cat-file", "commit", &tracking], None)
            .is_ok_and(|raw| String::from_utf8_lossy(&raw).contains("\nDotsync-Machine: "));
        Ok(RemoteProbe {
            kind: if has_key || has_meta || by_dotsync {
                RemoteKind::Dotsync
            } else {
                RemoteKind::Other
            },
            commit,
            files,
        })
    }
}
