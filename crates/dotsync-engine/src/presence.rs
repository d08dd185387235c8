//! Presence and the repository key, kept in the remote on refs of their own, never on the branch.
//!
//! - `refs/dotsync/key`: a parentless commit with the empty tree whose message carries a random
//!   32-byte key in hex. It is created once, by whichever machine finds it missing first, with
//!   a push that may only create it (`--force-with-lease=refs/dotsync/key:`), and read with a
//!   fetch. Everyone who can read the repository can read it: it proves "holds the repository",
//!   nothing more. The daemon signs its pokes with it.
//! - `refs/dotsync/machines/<name>`: one parentless empty-tree commit per machine whose message
//!   is JSON ([`Presence`]: name, addresses to poke, version, last seen), force-pushed by that
//!   machine only. Read all at once with one fetch into the engine's repository under
//!   `refs/dotsync/peers/`.
//!
//! Everything here is the remote's word: the key is checked to be 64 hex digits, a presence is
//! bounded in size, parsed as JSON and dropped unless its name matches its ref.

use std::collections::BTreeMap;

use dotsync_core::SyncConfig;
use serde::{Deserialize, Serialize};

use crate::git::Repo;
use crate::{Engine, SyncError};

/// Where the repository key lives, on the remote and in the engine's repository.
pub const KEY_REF: &str = "refs/dotsync/key";
/// Each machine's presence on the remote: `refs/dotsync/machines/<ref name>`.
pub const MACHINES_PREFIX: &str = "refs/dotsync/machines/";
/// The presences as last fetched, in the engine's repository.
const PEERS_PREFIX: &str = "refs/dotsync/peers/";
/// A presence message larger than this is not one.
const MAX_PRESENCE: usize = 4096;
/// At most this many machines are read.
const MAX_MACHINES: usize = 256;
/// At most this many addresses per machine are kept.
pub const MAX_ADDRS: usize = 8;

/// The repository's 32-byte key. Its `Debug` never shows the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct RepoKey([u8; 32]);

impl std::fmt::Debug for RepoKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RepoKey(..)")
    }
}

impl RepoKey {
    /// The key's bytes, for signing.
    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Parses the first line of `text` that is exactly 64 hex digits.
    pub fn from_message(text: &str) -> Option<Self> {
        text.lines().map(str::trim).find_map(Self::from_hex)
    }

    fn from_hex(s: &str) -> Option<Self> {
        if s.len() != 64 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, o) in out.iter_mut().enumerate() {
            *o = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Some(Self(out))
    }
}

/// One machine's presence: where it can be poked and what it runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Presence {
    /// The machine's name (`DOTSYNC_MACHINE`, else the host name).
    pub name: String,
    /// `ip:port` addresses its listener for pokes takes datagrams on; empty if it has none.
    #[serde(default)]
    pub addrs: Vec<String>,
    /// dotsync's version on it.
    #[serde(default)]
    pub version: String,
    /// Unix seconds when it published this.
    #[serde(default)]
    pub last_seen: i64,
    /// Whether it listens on a relay.
    #[serde(default)]
    pub relay: bool,
}

/// What a presence round found on the remote.
#[derive(Debug, Clone)]
pub struct RemoteMachines {
    pub key: RepoKey,
    /// Every machine with a valid presence, this one included, by name.
    pub machines: Vec<Presence>,
    /// Why this machine's presence could not be pushed (a read-only remote), if so.
    pub publish_error: Option<String>,
}

/// The ref name component for a machine name: letters, digits, `-`, `_` and `.` kept, anything
/// else `_`; never empty, never starting with `.` or ending with `.lock`.
pub fn machine_ref_name(name: &str) -> String {
    let mut s: String = name
        .chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    while s.contains("..") {
        s = s.replace("..", "_.");
    }
    if s.is_empty() || s.starts_with('.') {
        s.insert(0, '_');
    }
    #[allow(
        clippy::case_sensitive_file_extension_comparisons,
        reason = "git refuses a ref ending in `.lock`, in exactly that case"
    )]
    if s.ends_with(".lock") || s.ends_with('.') {
        s.push('_');
    }
    s
}

impl Engine {
    /// The repository key of `cfg`'s remote as this machine last fetched it (no network), if
    /// it has one.
    pub fn known_key(&self, cfg: &SyncConfig) -> Option<RepoKey> {
        let url = dotsync_core::remote::expand_remote(&cfg.remote, &self.home);
        let dir = self.repo_dir(&url);
        if !dir.join("HEAD").exists() {
            return None;
        }
        let repo = Repo::open_or_init(&dir).ok()?;
        read_key(&repo)
    }

    /// The presences of `cfg`'s remote as this machine last fetched them (no network).
    pub fn known_machines(&self, cfg: &SyncConfig) -> Vec<Presence> {
        let url = dotsync_core::remote::expand_remote(&cfg.remote, &self.home);
        let dir = self.repo_dir(&url);
        if !dir.join("HEAD").exists() {
            return Vec::new();
        }
        match Repo::open_or_init(&dir) {
            Ok(repo) => read_peers(&repo).unwrap_or_default(),
            Err(_) => Vec::new(),
        }
    }

    /// One presence round with `cfg`'s remote: makes sure the remote has a key (creating it if
    /// none), publishes `me` (if given) on this machine's own ref, then fetches and reads every
    /// machine's presence. Runs git on the network; holds the repository's lock, so it never
    /// overlaps a sync of that repository. A remote that refuses the presence push (read-only)
    /// still gives the key and the others' presences.
    pub fn presence_round(
        &self,
        cfg: &SyncConfig,
        me: Option<&Presence>,
    ) -> Result<RemoteMachines, SyncError> {
        let url = dotsync_core::remote::expand_remote(&cfg.remote, &self.home);
        let (dir, lock) = self.repo_and_lock(cfg);
        let _guard = lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let repo = Repo::open_or_init(&dir)?;
        let listing = ls_remote_refs(&repo, &url)?;
        let key = match listing.get(KEY_REF) {
            Some(oid) => fetch_key(&repo, &url, oid)?,
            None => create_key(&repo, &url, self.machine())?,
        };
        let mut publish_error = None;
        if let Some(me) = me
            && let Err(e) = publish(&repo, &url, me)
        {
            tracing::debug!("cannot publish this machine's presence: {e}");
            publish_error = Some(e.to_string());
        }
        // After publishing: a machine that published at the same time is seen by at least one
        // of the two (whoever fetches last), which then says hello to the other.
        let spec = format!("+{MACHINES_PREFIX}*:{PEERS_PREFIX}*");
        repo.try_run(
            &[
                "fetch",
                "--quiet",
                "--no-tags",
                "--no-write-fetch-head",
                "--prune",
                "--",
                &url,
                &spec,
            ],
            None,
        )
        .map_err(|f| crate::git::offline(&url, f))?;
        Ok(RemoteMachines {
            key,
            machines: read_peers(&repo)?,
            publish_error,
        })
    }
}

/// `refs/dotsync/key` and `refs/dotsync/machines/*` on the remote: ref name -> commit.
fn ls_remote_refs(repo: &Repo, url: &str) -> Result<BTreeMap<String, String>, SyncError> {
    let pattern = format!("{MACHINES_PREFIX}*");
    let out = repo
        .try_run(&["ls-remote", "--", url, KEY_REF, &pattern], None)
        .map_err(|f| crate::git::offline(url, f))?;
    Ok(String::from_utf8_lossy(&out)
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .filter(|(oid, _)| is_oid(oid))
        .map(|(oid, r)| (r.to_owned(), oid.to_owned()))
        .collect())
}

fn is_oid(s: &str) -> bool {
    (s.len() == 40 || s.len() == 64) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn read_key(repo: &Repo) -> Option<RepoKey> {
    let oid = repo.rev_parse(KEY_REF)?;
    let body = repo.read_blobs(&[&oid]).ok()?.pop()?;
    RepoKey::from_message(commit_message(&body)?)
}

/// The message of a raw commit object (after the first blank line), if it is UTF-8.
fn commit_message(raw: &[u8]) -> Option<&str> {
    let at = raw.windows(2).position(|w| w == b"\n\n")?;
    std::str::from_utf8(raw.get(at + 2..)?).ok()
}

fn fetch_key(repo: &Repo, url: &str, oid: &str) -> Result<RepoKey, SyncError> {
    if repo.rev_parse(KEY_REF).as_deref() != Some(oid) {
        let spec = format!("+{KEY_REF}:{KEY_REF}");
        repo.try_run(
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
        .map_err(|f| crate::git::offline(url, f))?;
    }
    read_key(repo).ok_or_else(|| {
        SyncError::Invalid(format!(
            "the remote {url} has a {KEY_REF} that holds no key (64 hex digits); delete that \
             ref on the remote and dotsync creates a new one"
        ))
    })
}

fn empty_tree(repo: &Repo) -> Result<String, SyncError> {
    let out = repo.run(&["mktree"], Some(b""))?;
    Ok(String::from_utf8_lossy(&out).trim().to_owned())
}

/// Pushes `commit` to `dst` on the remote. `lease`: `Some("")` only if `dst` does not exist
/// yet; `None`: force. `Ok(false)` when the lease failed (someone else was first).
fn push_ref(
    repo: &Repo,
    url: &str,
    commit: &str,
    dst: &str,
    lease: Option<&str>,
) -> Result<bool, SyncError> {
    // A `+` would override the lease: only a push without a lease is forced.
    let spec = match lease {
        Some(_) => format!("{commit}:{dst}"),
        None => format!("+{commit}:{dst}"),
    };
    let lease_arg = lease.map(|l| format!("--force-with-lease={dst}:{l}"));
    let mut args = vec!["push", "--porcelain"];
    if let Some(l) = &lease_arg {
        args.push(l);
    }
    args.extend(["--", url, &spec]);
    match repo.try_run(&args, None) {
        Ok(_) => Ok(true),
        Err(f) => {
            if let Some(line) = f.stdout.lines().find(|l| l.starts_with('!'))
                && line.contains("[rejected]")
                && lease.is_some()
            {
                return Ok(false);
            }
            Err(crate::git::offline(url, f))
        }
    }
}

fn create_key(repo: &Repo, url: &str, machine: &str) -> Result<RepoKey, SyncError> {
    let hex = dotsync_state::random_hex(32);
    let msg = format!(
        "dotsync repository key\n\nSigns the notifications between the machines that sync this \
         repository. Not a file; never on a branch.\n\n{hex}\n"
    );
    let tree = empty_tree(repo)?;
    let commit = repo.commit_tree(&tree, None, &msg, (machine, "dotsync@localhost"))?;
    if push_ref(repo, url, &commit, KEY_REF, Some(""))? {
        repo.update_ref(KEY_REF, &commit)?;
        tracing::info!("created the repository key on {url}");
        return RepoKey::from_message(&msg)
            .ok_or_else(|| SyncError::Git("the new key does not parse".into()));
    }
    // Another machine created it first: take theirs.
    let listing = ls_remote_refs(repo, url)?;
    match listing.get(KEY_REF) {
        Some(oid) => fetch_key(repo, url, oid),
        None => Err(SyncError::Git(format!(
            "the remote {url} refused {KEY_REF} and has none"
        ))),
    }
}

fn publish(repo: &Repo, url: &str, me: &Presence) -> Result<(), SyncError> {
    let msg = serde_json::to_string(me)
        .map_err(|e| SyncError::Git(format!("cannot encode the presence: {e}")))?;
    let tree = empty_tree(repo)?;
    let commit = repo.commit_tree(&tree, None, &msg, (&me.name, "dotsync@localhost"))?;
    let dst = format!("{MACHINES_PREFIX}{}", machine_ref_name(&me.name));
    push_ref(repo, url, &commit, &dst, None)?;
    Ok(())
}

/// Every valid presence under `refs/dotsync/peers/`.
fn read_peers(repo: &Repo) -> Result<Vec<Presence>, SyncError> {
    let out = repo.run(
        &[
            "for-each-ref",
            &format!("--count={MAX_MACHINES}"),
            "--format=%(objectname) %(objecttype) %(refname)",
            PEERS_PREFIX,
        ],
        None,
    )?;
    let text = String::from_utf8_lossy(&out);
    let refs: Vec<(&str, &str)> = text
        .lines()
        .filter_map(|l| {
            let mut p = l.splitn(3, ' ');
            let (oid, kind, name) = (p.next()?, p.next()?, p.next()?);
            (kind == "commit" && is_oid(oid)).then_some((oid, name.strip_prefix(PEERS_PREFIX)?))
        })
        .collect();
    if refs.is_empty() {
        return Ok(Vec::new());
    }
    let oids: Vec<&str> = refs.iter().map(|(o, _)| *o).collect();
    let bodies = repo.read_blobs(&oids)?;
    Ok(refs
        .iter()
        .zip(bodies)
        .filter_map(|((_, refname), body)| parse_presence(&body, refname))
        .collect())
}

fn parse_presence(raw: &[u8], refname: &str) -> Option<Presence> {
    let msg = commit_message(raw)?;
    if msg.len() > MAX_PRESENCE {
        return None;
    }
    let mut p: Presence = serde_json::from_str(msg.trim()).ok()?;
    if p.name.is_empty() || p.name.len() > 64 || machine_ref_name(&p.name) != refname {
        return None;
    }
    p.addrs
        .retain(|a| a.len() <= 64 && a.parse::<std::net::SocketAddr>().is_ok());
    p.addrs.truncate(MAX_ADDRS);
    p.version.truncate(32);
    Some(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machine_names_become_safe_ref_names() {
        assert_eq!(machine_ref_name("laptop"), "laptop");
        assert_eq!(machine_ref_name("my laptop/x"), "my_laptop_x");
        assert_eq!(machine_ref_name(""), "_");
        assert_eq!(machine_ref_name(".hidden"), "_.hidden");
        assert_eq!(machine_ref_name("a..b"), "a_.b");
        assert_eq!(machine_ref_name("x.lock"), "x.lock_");
        assert_eq!(machine_ref_name("ünï"), "_n_");
    }

    #[test]
    fn keys_parse_only_from_64_hex_digits() {
        let hex = "ab".repeat(32);
        let k = RepoKey::from_message(&format!("title\n\nsome text\n{hex}\n")).expect("key");
        assert_eq!(k.bytes(), &[0xab; 32]);
        assert!(RepoKey::from_message("no key here").is_none());
        assert!(RepoKey::from_message(&"g".repeat(64)).is_none());
        assert!(RepoKey::from_message(&"a".repeat(63)).is_none());
        assert_eq!(format!("{k:?}"), "RepoKey(..)");
    }

    #[test]
    fn presences_are_checked_against_their_ref() {
        let raw = b"tree x\nauthor y\n\n{\"name\":\"laptop\",\"addrs\":[\"127.0.0.1:5\",\"nope\"],\"version\":\"0.1.0\",\"last_seen\":7}";
        let p = parse_presence(raw, "laptop").expect("valid");
        assert_eq!(p.addrs, vec!["127.0.0.1:5".to_owned()]);
        assert_eq!(p.last_seen, 7);
        assert!(parse_presence(raw, "desktop").is_none());
        assert!(parse_presence(b"tree x\n\nnot json", "laptop").is_none());
        let mut big = b"tree x\n\n".to_vec();
        big.extend(vec![b' '; MAX_PRESENCE + 1]);
        assert!(parse_presence(&big, "laptop").is_none());
    }

    #[test]
    fn a_round_creates_one_key_publishes_and_reads_every_machine() {
        let dir = tempfile::tempdir().expect("tempdir");
        let remote = dir.path().join("r.git");
        let out = std::process::Command::new("git")
            .args(["init", "-q", "--bare"])
            .arg(&remote)
            .output()
            .expect("git init");
        assert!(out.status.success());
        let url = remote.to_str().expect("utf-8").to_owned();
        let a = Repo::open_or_init(&dir.path().join("a.git")).expect("a");
        let b = Repo::open_or_init(&dir.path().join("b.git")).expect("b");
        let ka = create_key(&a, &url, "a").expect("key a");
        // The second machine's create loses the lease and takes the first one's key.
        let kb = create_key(&b, &url, "b").expect("key b");
        assert_eq!(ka, kb);
        let me = Presence {
            name: "a".into(),
            addrs: vec!["127.0.0.1:9".into()],
            version: "1".into(),
            last_seen: 1,
            relay: false,
        };
        publish(&a, &url, &me).expect("publish");
        let listing = ls_remote_refs(&b, &url).expect("ls-remote");
        assert!(listing.contains_key("refs/dotsync/machines/a"));
        assert!(listing.contains_key(KEY_REF));
        let spec = format!("+{MACHINES_PREFIX}*:{PEERS_PREFIX}*");
        b.run(&["fetch", "--quiet", "--", &url, &spec], None)
            .expect("fetch");
        assert_eq!(read_peers(&b).expect("peers"), vec![me]);
    }
}
