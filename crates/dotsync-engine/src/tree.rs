//! Building a commit's tree in-process: the base tree with some paths set or removed.
//!
//! Only the trees along the changed paths are read (through one `git cat-file --batch`) and
//! written (as loose objects), so a sync that changes one file of ten thousand touches a handful
//! of objects instead of a ten-thousand-entry index. Entries the engine does not touch are
//! copied byte for byte (modes, submodules and all), and the result is exactly the tree git's
//! own `read-tree` + `update-index` + `write-tree` would write (tested against it).

use std::collections::BTreeMap;

use crate::SyncError;
use crate::git::{BlobStream, Repo};

const DIR_MODE: &[u8] = b"40000";

/// What changes below one directory.
#[derive(Default)]
struct Node {
    entries: BTreeMap<Vec<u8>, Change>,
    /// The directory replaces a file set earlier: nothing of the base tree is below it.
    fresh: bool,
    /// A file at this path in the base was removed by an earlier change.
    drop_file: bool,
}

enum Change {
    /// A file or symlink: (git mode, blob id), or removed.
    Leaf(Option<(u32, String)>),
    /// Something below this directory changes.
    Dir(Node),
    /// Nothing at all is left at this path (a file set, then removed, replaced what was here).
    Gone,
}

/// One entry of a tree object.
struct Entry {
    mode: Vec<u8>,
    name: Vec<u8>,
    oid: [u8; 20],
}

impl Entry {
    fn is_dir(&self) -> bool {
        self.mode == DIR_MODE
    }
}

pub fn build(
    repo: &Repo,
    base: Option<&str>,
    changes: &[(String, Option<(u32, String)>)],
) -> Result<String, SyncError> {
    Ok(build_on(repo, base, changes)?.0)
}

/// [`build`], and the tree of `base` it started from (`None` without a base).
pub fn build_on(
    repo: &Repo,
    base: Option<&str>,
    changes: &[(String, Option<(u32, String)>)],
) -> Result<(String, Option<String>), SyncError> {
    // The changes apply one after another, as to git's index with `--index-info`: a file set
    // at a path replaces whatever was there (a directory too, with all below it) and any file
    // at a path above it; a removal removes a file at exactly that path, nothing else.
    let mut root = Node::default();
    'changes: for (path, change) in changes {
        let mut node = &mut root;
        let mut parts = path.split('/').peekable();
        while let Some(part) = parts.next() {
            let name = part.as_bytes().to_vec();
            if parts.peek().is_none() {
                let now = match (change, node.entries.get(&name)) {
                    (None, Some(Change::Dir(_))) => continue 'changes,
                    // The file set before had replaced whatever was here: removing it leaves
                    // nothing, not the base's directory.
                    (None, Some(Change::Leaf(Some(_)) | Change::Gone)) => Change::Gone,
                    (c, _) => Change::Leaf(c.clone()),
                };
                node.entries.insert(name, now);
                continue 'changes;
            }
            let next = node
                .entries
                .entry(name)
                .or_insert_with(|| Change::Dir(Node::default()));
            #[allow(
                clippy::match_same_arms,
                reason = "each case of what was there before is stated on its own"
            )]
            match next {
                // Nothing to remove below a file, or below nothing.
                Change::Leaf(Some(_)) | Change::Gone if change.is_none() => continue 'changes,
                Change::Gone => {
                    *next = Change::Dir(Node {
                        fresh: true,
                        ..Node::default()
                    });
                }
                // A file set here before: it gives way to a new directory, empty but for
                // what follows.
                Change::Leaf(Some(_)) => {
                    *next = Change::Dir(Node {
                        fresh: true,
                        ..Node::default()
                    });
                }
                // A file removed here before: if the base has a file at this path it stays
                // removed, whatever happens below.
                Change::Leaf(None) => {
                    *next = Change::Dir(Node {
                        drop_file: true,
                        ..Node::default()
                    });
                }
                Change::Dir(_) => {}
            }
            let Change::Dir(n) = next else {
                continue 'changes;
            };
            node = n;
        }
    }
    let mut objects = repo.blob_stream();
    let base_tree = match base {
        Some(commit) => Some(tree_of_commit(&mut objects, commit)?),
        None => None,
    };
    let tree = match apply(repo, &mut objects, base_tree.as_deref(), &root)? {
        Some(oid) => oid,
        // git writes the empty tree as an object of its own too.
        None => repo.write_object("tree", b"")?,
    };
    Ok((tree, base_tree))
}

/// The tree id of a commit, read from the commit object.
fn tree_of_commit(objects: &mut BlobStream, commit: &str) -> Result<String, SyncError> {
    let body = objects.read(commit)?;
    let first = body.split(|&b| b == b'\n').next().unwrap_or_default();
    let text = String::from_utf8_lossy(first);
    match text.strip_prefix("tree ") {
        Some(oid) if oid.len() == 40 => Ok(oid.to_owned()),
        // Already a tree (or something else): let the tree parser judge.
        _ => Ok(commit.to_owned()),
    }
}

/// The tree `base` with `node`'s changes, written; `None` when it ends up empty.
fn apply(
    repo: &Repo,
    objects: &mut BlobStream,
    base: Option<&str>,
    node: &Node,
) -> Result<Option<String>, SyncError> {
    let mut entries: BTreeMap<Vec<u8>, Entry> = BTreeMap::new();
    if let Some(oid) = base.filter(|_| !node.fresh) {
        for e in parse_tree(&objects.read(oid)?, oid)? {
            entries.insert(e.name.clone(), e);
        }
    }
    for (name, change) in &node.entries {
        match change {
            Change::Gone => {
                entries.remove(name);
            }
            Change::Leaf(None) => {
                // Removing a path removes a file there, never a directory of that name.
                if entries.get(name).is_some_and(|e| !e.is_dir()) {
                    entries.remove(name);
                }
            }
            Change::Leaf(Some((mode, oid))) => {
                entries.insert(
                    name.clone(),
                    Entry {
                        mode: format!("{mode:o}").into_bytes(),
                        name: name.clone(),
                        oid: hex_oid(oid)?,
                    },
                );
            }
            Change::Dir(sub) => {
                let below = entries
                    .get(name)
                    .filter(|e| e.is_dir())
                    .map(|e| to_hex(&e.oid));
                match apply(repo, objects, below.as_deref(), sub)? {
                    Some(oid) => {
                        entries.insert(
                            name.clone(),
                            Entry {
                                mode: DIR_MODE.to_vec(),
                                name: name.clone(),
                                oid: hex_oid(&oid)?,
                            },
                        );
                    }
                    None => {
                        if entries
                            .get(name)
                            .is_some_and(|e| e.is_dir() || sub.drop_file || sub.fresh)
                        {
                            entries.remove(name);
                        }
                    }
                }
            }
        }
    }
    if entries.is_empty() {
        return Ok(None);
    }
    let mut sorted: Vec<Entry> = entries.into_values().collect();
    sorted.sort_by_key(sort_key);
    let mut data = Vec::new();
    for e in &sorted {
        data.extend_from_slice(&e.mode);
        data.push(b' ');
        data.extend_from_slice(&e.name);
        data.push(0);
        data.extend_from_slice(&e.oid);
    }
    repo.write_object("tree", &data).map(Some)
}

/// Git orders tree entries by name, a directory's name as if it ended in `/`.
fn sort_key(e: &Entry) -> Vec<u8> {
    let mut k = e.name.clone();
    if e.is_dir() {
        k.push(b'/');
    }
    k
}

fn parse_tree(data: &[u8], oid: &str) -> Result<Vec<Entry>, SyncError> {
    let bad = || SyncError::Git(format!("tree {oid} is malformed"));
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let sp = rest.iter().position(|&b| b == b' ').ok_or_else(bad)?;
        let nul = rest.iter().position(|&b| b == 0).ok_or_else(bad)?;
        if nul < sp || rest.len() < nul + 21 {
            return Err(bad());
        }
        let mut id = [0u8; 20];
        id.copy_from_slice(&rest[nul + 1..nul + 21]);
        out.push(Entry {
            mode: rest[..sp].to_vec(),
            name: rest[sp + 1..nul].to_vec(),
            oid: id,
        });
        rest = &rest[nul + 21..];
    }
    Ok(out)
}

fn hex_oid(hex: &str) -> Result<[u8; 20], SyncError> {
    let bytes = hex.as_bytes();
    if bytes.len() != 40 {
        return Err(SyncError::Git(format!("{hex:?} is not an object id")));
    }
    let mut out = [0u8; 20];
    for (i, pair) in bytes.chunks(2).enumerate() {
        let digit = |c: u8| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        };
        match (digit(pair[0]), digit(pair[1])) {
            (Some(h), Some(l)) => out[i] = h << 4 | l,
            _ => return Err(SyncError::Git(format!("{hex:?} is not an object id"))),
        }
    }
    Ok(out)
}

fn to_hex(oid: &[u8; 20]) -> String {
    crate::git::hex(oid)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator (the test must not depend on a seed source).
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
            xs[usize::try_from(self.next() % xs.len() as u64).unwrap()]
        }
    }

    #[test]
    fn trees_built_in_process_are_the_trees_git_builds() {
        let dir = tempfile::tempdir().expect("tempdir");
        let repo = Repo::open_or_init(&dir.path().join("r.git")).expect("init");
        let names = [
            "a", "a.b", "a-b", "b", ".zshrc", ".config", "nvim", "init.lua", "x y", "ü", "a0",
        ];
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut commit: Option<String> = None;
        for round in 0..250 {
            let mut changes = Vec::new();
            for _ in 0..=(rng.next() % 6) {
                let depth = 1 + rng.next() % 3;
                let path: Vec<&str> = (0..depth).map(|_| rng.pick(&names)).collect();
                let path = path.join("/");
                let change = if rng.next().is_multiple_of(4) {
                    None
                } else {
                    let blob = repo
                        .write_blob(format!("{round} {path}").as_bytes())
                        .expect("blob");
                    let mode = [0o100644, 0o100755, 0o120000][(rng.next() % 3) as usize];
                    Some((mode, blob))
                };
                changes.push((path, change));
            }
            // Paths that are a file in one change and a directory in another make git's index
            // refuse; the engine never asks for that (it drops such clashes before), so
            // neither does the test.
            let files: Vec<&String> = changes
                .iter()
                .filter(|(_, c)| c.is_some())
                .map(|(p, _)| p)
                .collect();
            if files
                .iter()
                .any(|f| files.iter().any(|g| g.starts_with(&format!("{f}/"))))
            {
                continue;
            }
            let ours = build(&repo, commit.as_deref(), &changes);
            let git = repo.build_tree_with_index(commit.as_deref(), &changes);
            match (ours, git) {
                (Ok(a), Ok(b)) => {
                    assert_eq!(a, b, "round {round}: {changes:?}");
                    commit = Some(
                        repo.commit_tree(&a, commit.as_deref(), "m", ("t", "t@x"))
                            .expect("commit"),
                    );
                }
                // git refuses a file where the base tree has a directory (or the other way
                // round); such a change is never planned either.
                (_, Err(_)) => {}
                (Err(e), Ok(_)) => panic!("round {round}: {e}; {changes:?}"),
            }
        }
        assert!(commit.is_some());
    }
}
