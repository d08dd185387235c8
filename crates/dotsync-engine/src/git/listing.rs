//! The listing of the remote's tree, kept between syncs so that the next one reads only what
//! changed (`git diff-tree`) instead of listing the whole tree again (`git ls-tree -r`): the
//! cost follows the change, not the number of files.
//!
//! The kept listing is a cache: it names the commit it lists and carries a SHA-1 of its body,
//! and anything that does not check out (another commit git cannot diff against, a torn write)
//! is ignored and the tree is listed whole, as before.

use std::collections::BTreeMap;

use super::*;

/// The file in the engine's repository that holds the last listing.
const LISTING_FILE: &str = "dotsync-listing";

/// (git mode, blob id, size) by raw path.
type Listing = BTreeMap<Vec<u8>, (u32, String, u64)>;

impl Repo {
    /// Every blob and symlink of a commit's tree, as [`Repo::ls_tree`] lists them (same
    /// entries, same order), read from the kept listing of an earlier commit and the
    /// difference between the two when there is one; the result is kept for the next time.
    pub fn ls_tree_kept(&self, commit: &str) -> Result<Vec<TreeEntry>, SyncError> {
        if let Some(listing) = self.listing_from_kept(commit) {
            return Ok(to_entries(listing));
        }
        let out = self.run(&["ls-tree", "-r", "-l", "-z", "--full-tree", commit], None)?;
        let entries = parse_ls_tree(&out);
        self.keep_listing(commit, &out);
        Ok(entries)
    }

    fn listing_from_kept(&self, commit: &str) -> Option<Listing> {
        let kept = std::fs::read(self.dir.join(LISTING_FILE)).ok()?;
        let nl = kept.iter().position(|&b| b == b'\n')?;
        let header = std::str::from_utf8(&kept[..nl]).ok()?;
        let (old, sum) = header.split_once(' ')?;
        let body = &kept[nl + 1..];
        if crate::git::hex(&<sha1::Sha1 as sha1::Digest>::digest(body)) != sum {
            return None;
        }
        let mut listing: Listing = parse_ls_tree(body)
            .into_iter()
            .map(|e| (e.name, (e.mode, e.oid, e.size)))
            .collect();
        if old == commit {
            return Some(listing);
        }
        let diff = self
            .try_run(
                &[
                    "diff-tree",
                    "-r",
                    "-z",
                    "--raw",
                    "--no-renames",
                    "--no-commit-id",
                    old,
                    commit,
                ],
                None,
            )
            .ok()?;
        // ":<old mode> <new mode> <old oid> <new oid> <status>" NUL "<path>" NUL, per change.
        let mut fields = diff.split(|&b| b == 0);
        let mut sized: Vec<Vec<u8>> = Vec::new();
        while let Some(meta) = fields.next() {
            if meta.is_empty() {
                continue;
            }
            let path = fields.next()?.to_vec();
            let meta = std::str::from_utf8(meta).ok()?.strip_prefix(':')?;
            let mut parts = meta.split(' ');
            let (_, new_mode, _, new_oid) =
                (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
            let new_mode = u32::from_str_radix(new_mode, 8).ok()?;
            // Gone, or a submodule (a commit, not listed): not in the listing.
            if new_mode == 0 || new_mode == 0o160000 {
                listing.remove(&path);
                continue;
            }
            listing.insert(path.clone(), (new_mode, new_oid.to_owned(), 0));
            sized.push(path);
        }
        // Loose blobs (what small fetches unpack) are sized from their headers here.
        let objects = self.dir.join("objects");
        sized.retain(|p| {
            let Some(e) = listing.get_mut(p) else {
                return true;
            };
            match super::objects::loose_header(&objects, &e.1) {
                Some((kind, size)) if kind == "blob" => {
                    e.2 = size;
                    false
                }
                _ => true,
            }
        });
        if !sized.is_empty() {
            let mut ask = String::new();
            for p in &sized {
                ask.push_str(&listing.get(p)?.1);
                ask.push('\n');
            }
            let out = self
                .try_run(&["cat-file", "--batch-check"], Some(ask.as_bytes()))
                .ok()?;
            let mut lines = out.split(|&b| b == b'\n');
            for p in &sized {
                // "<oid> blob <size>"
                let line = std::str::from_utf8(lines.next()?).ok()?;
                let mut parts = line.split(' ');
                let (oid, kind, size) = (parts.next()?, parts.next()?, parts.next()?);
                let e = listing.get_mut(p)?;
                if oid != e.1 || kind != "blob" {
                    return None;
                }
                e.2 = size.parse().ok()?;
            }
        }
        let mut body = Vec::new();
        for (name, (mode, oid, size)) in &listing {
            body.extend_from_slice(format!("{mode:06o} blob {oid} {size:>7}\t").as_bytes());
            body.extend_from_slice(name);
            body.push(0);
        }
        self.keep_listing(commit, &body);
        Some(listing)
    }

    /// Keeps `body` (`ls-tree -r -l -z` records) as the listing of `commit`: through a
    /// temporary file and a rename, unsynced (a listing lost or torn fails its check).
    fn keep_listing(&self, commit: &str, body: &[u8]) {
        let sum = crate::git::hex(&<sha1::Sha1 as sha1::Digest>::digest(body));
        let tmp = self.dir.join(format!("{LISTING_FILE}.tmp"));
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(format!("{commit} {sum}\n").as_bytes())?;
            f.write_all(body)?;
            drop(f);
            std::fs::rename(&tmp, self.dir.join(LISTING_FILE))
        };
        if let Err(e) = write() {
            tracing::debug!("cannot keep the tree listing: {e}");
            let _ = std::fs::remove_file(&tmp);
        }
    }
}

fn to_entries(listing: Listing) -> Vec<TreeEntry> {
    listing
        .into_iter()
        .map(|(name, (mode, oid, size))| TreeEntry {
            mode,
            oid,
            size,
            name,
        })
        .collect()
}

/// `git ls-tree -r -l -z` output: its blobs and symlinks (submodules are not synced).
pub(super) fn parse_ls_tree(out: &[u8]) -> Vec<TreeEntry> {
    let mut entries = Vec::new();
    for rec in out.split(|&b| b == 0).filter(|r| !r.is_empty()) {
        // "<mode> SP <type> SP <oid> TAB <path>"
        let Some(tab) = rec.iter().position(|&b| b == b'\t') else {
            continue;
        };
        let head = String::from_utf8_lossy(&rec[..tab]);
        let mut parts = head.split(' ');
        let (Some(mode), Some(kind), Some(oid)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        let size: u64 = parts
            .find(|p| !p.is_empty())
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        if kind != "blob" {
            continue; // submodules (commits) are not synced
        }
        let Ok(mode) = u32::from_str_radix(mode, 8) else {
            continue;
        };
        entries.push(TreeEntry {
            mode,
            oid: oid.to_owned(),
            size,
            name: rec[tab + 1..].to_vec(),
        });
    }
    entries
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A path and its new (git mode, content), or its removal.
    type Change<'a> = (&'a str, Option<(u32, &'a [u8])>);

    fn commit(repo: &Repo, parent: Option<&str>, changes: &[Change<'_>]) -> String {
        let changes: Vec<(String, Option<(u32, String)>)> = changes
            .iter()
            .map(|(p, c)| {
                (
                    (*p).to_owned(),
                    c.map(|(mode, data)| (mode, repo.write_blob(data).expect("blob"))),
                )
            })
            .collect();
        let tree = repo.build_tree(parent, &changes).expect("tree");
        repo.commit_tree(&tree, parent, "m", ("t", "t@x"))
            .expect("commit")
    }

    fn plain(entries: Vec<TreeEntry>) -> Vec<(u32, String, u64, Vec<u8>)> {
        entries
            .into_iter()
            .map(|e| (e.mode, e.oid, e.size, e.name))
            .collect()
    }

    #[test]
    fn a_kept_listing_plus_the_difference_is_the_listing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let repo = Repo::open_or_init(&dir.path().join("r.git")).expect("init");
        let c1 = commit(
            &repo,
            None,
            &[
                ("a/b.txt", Some((0o100644, b"b\n"))),
                ("a-b", Some((0o100644, b"dash\n"))),
                ("a/c/d", Some((0o100755, b"run\n"))),
                ("link", Some((0o120000, b"a/b.txt"))),
                ("x", Some((0o100644, b"x\n"))),
                ("gone/soon", Some((0o100644, b"bye\n"))),
            ],
        );
        let c2 = commit(
            &repo,
            Some(&c1),
            &[
                ("a/b.txt", Some((0o100644, b"b changed, longer\n"))),
                ("a/c/d", Some((0o100644, b"run\n"))),
                ("link", Some((0o100644, b"now a file\n"))),
                ("x", None),
                ("x/y", Some((0o100644, b"a directory where a file was\n"))),
                ("gone/soon", None),
                ("new", Some((0o100644, b"new\n"))),
            ],
        );
        // Unrelated history: diffed all the same.
        let c3 = commit(&repo, None, &[("only", Some((0o100644, b"o\n")))]);
        assert_eq!(
            plain(repo.ls_tree_kept(&c1).expect("c1")),
            plain(repo.ls_tree(&c1).expect("c1"))
        );
        for c in [&c2, &c1, &c2, &c3, &c2] {
            assert_eq!(
                plain(repo.ls_tree_kept(c).expect("kept")),
                plain(repo.ls_tree(c).expect("listed")),
                "{c}"
            );
        }
        // Blobs in a pack (git sizes them) and loose ones (sized here) mixed in one difference.
        repo.set_ref("refs/heads/main", &c2).expect("ref");
        repo.run(&["repack", "-a", "-d", "-q"], None)
            .expect("repack");
        repo.run(&["prune-packed"], None).expect("prune");
        let c4 = commit(
            &repo,
            Some(&c2),
            &[
                ("loose", Some((0o100644, b"written after the pack\n"))),
                ("a/b.txt", Some((0o100644, b"b\n"))),
                ("again", Some((0o100644, b"new\n"))),
            ],
        );
        for c in [&c1, &c4, &c2, &c4] {
            assert_eq!(
                plain(repo.ls_tree_kept(c).expect("kept")),
                plain(repo.ls_tree(c).expect("listed")),
                "{c}"
            );
        }
        // A damaged listing is not believed.
        let file = repo.dir.join(LISTING_FILE);
        let mut kept = std::fs::read(&file).expect("kept");
        let n = kept.len();
        kept[n - 3] ^= 1;
        std::fs::write(&file, &kept).expect("write");
        assert!(repo.listing_from_kept(&c2).is_none());
        assert_eq!(
            plain(repo.ls_tree_kept(&c1).expect("c1")),
            plain(repo.ls_tree(&c1).expect("c1"))
        );
        // A commit the repository does not have: listed whole (and failing like ls-tree).
        assert!(repo.listing_from_kept(&"0".repeat(40)).is_none());
    }
}
