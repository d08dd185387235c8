//! The object store: reading blobs through one `cat-file --batch`, writing blobs, trees and
//! packs in-process.

use super::*;

/// A running `git cat-file --batch`: blobs are read one at a time, so memory holds one blob,
/// whatever the number of files.
pub struct BlobStream {
    child: std::process::Child,
    stdin: Option<std::process::ChildStdin>,
    stdout: BufReader<std::process::ChildStdout>,
}

impl BlobStream {
    /// The bytes of one blob.
    pub fn read(&mut self, oid: &str) -> Result<Vec<u8>, SyncError> {
        let err = |e: std::io::Error| SyncError::Git(format!("reading blob {oid}: {e}"));
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| SyncError::Git("git cat-file is closed".into()))?;
        stdin
            .write_all(format!("{oid}\n").as_bytes())
            .map_err(err)?;
        stdin.flush().map_err(err)?;
        let mut header = String::new();
        self.stdout.read_line(&mut header).map_err(err)?;
        let mut parts = header.split_whitespace();
        let (_, kind, size) = (parts.next(), parts.next(), parts.next());
        if kind == Some("missing") || size.is_none() {
            return Err(SyncError::Git(format!(
                "object {oid} is missing from the repository"
            )));
        }
        let size: usize = size
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| SyncError::Git(format!("bad cat-file header {header:?}")))?;
        let mut buf = vec![0; size + 1];
        self.stdout.read_exact(&mut buf).map_err(err)?;
        buf.truncate(size);
        Ok(buf)
    }
}

impl Drop for BlobStream {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Repo {
    /// Reads blobs by id, in one `git cat-file --batch`.
    pub fn read_blobs(&self, oids: &[&str]) -> Result<Vec<Vec<u8>>, SyncError> {
        if oids.is_empty() {
            return Ok(Vec::new());
        }
        let mut stream = self.blob_stream()?;
        oids.iter().map(|oid| stream.read(oid)).collect()
    }

    /// Packs the loose objects when there are many (estimated, as `git gc --auto` does, from
    /// one of the 256 object directories): each sync leaves a few, and thousands of loose
    /// objects make every tree listing slow. Only `repack -d` (reachable loose objects into a
    /// pack): unreachable ones, such as the other side of a conflict, stay, and nothing is
    /// ever pruned.
    pub fn repack_if_needed(&self) {
        const LOOSE_LIMIT: usize = 1024;
        let sample = std::fs::read_dir(self.dir.join("objects/17")).map_or(0, Iterator::count);
        if sample * 256 <= LOOSE_LIMIT {
            return;
        }
        if let Err(e) = self.run(&["repack", "-d", "-q"], None) {
            tracing::warn!("packing the engine's repository failed: {e}");
        }
    }

    /// A `cat-file --batch` to read many blobs one by one.
    pub fn blob_stream(&self) -> Result<BlobStream, SyncError> {
        let mut cmd = self.command();
        cmd.env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .args(["cat-file", "--batch"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = cmd
            .spawn()
            .map_err(|e| SyncError::Git(format!("cannot run git cat-file: {e}")))?;
        let stdin = child.stdin.take();
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| SyncError::Git("git cat-file has no output".into()))?;
        Ok(BlobStream {
            child,
            stdin,
            stdout: BufReader::new(stdout),
        })
    }

    pub fn read_blob(&self, oid: &str) -> Result<Vec<u8>, SyncError> {
        self.read_blobs(&[oid])?
            .pop()
            .ok_or_else(|| SyncError::Git(format!("object {oid} is missing")))
    }

    /// Writes `data` as a loose blob object (if absent) and returns its id.
    pub fn write_blob(&self, data: &[u8]) -> Result<String, SyncError> {
        self.write_object("blob", data)
    }

    /// From now on, new objects go into one pack (many objects: one file, fast to read
    /// back) until [`finish_pack`](Self::finish_pack). Objects in it are readable by git only
    /// once it is finished.
    pub fn begin_pack(&self) -> Result<(), SyncError> {
        let mut pack = self
            .pack
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if pack.is_none() {
            *pack = Some(crate::pack::PackWriter::new(&self.dir.join("objects"))?);
        }
        Ok(())
    }

    /// Finishes the pack begun by [`begin_pack`](Self::begin_pack), if any: its objects become
    /// readable; later objects are loose again.
    pub fn finish_pack(&self) -> Result<(), SyncError> {
        let pack = self
            .pack
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        match pack {
            Some(p) => p.finish(),
            None => Ok(()),
        }
    }

    /// Writes an object of `kind` (`blob`, `tree`): into the open pack, or as a loose object
    /// (if absent); its id.
    pub fn write_object(&self, kind: &str, data: &[u8]) -> Result<String, SyncError> {
        {
            let mut pack = self
                .pack
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(p) = pack.as_mut() {
                let oid = object_id(kind, data);
                if self
                    .dir
                    .join("objects")
                    .join(&oid[..2])
                    .join(&oid[2..])
                    .exists()
                {
                    return Ok(oid);
                }
                return p.add(kind, data);
            }
        }
        let oid = object_id(kind, data);
        let dir = self.dir.join("objects").join(&oid[..2]);
        let path = dir.join(&oid[2..]);
        if path.exists() {
            return Ok(oid);
        }
        let io = |p: &Path| {
            let p = p.to_path_buf();
            move |source| SyncError::Io { path: p, source }
        };
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(format!("{kind} {}\0", data.len()).as_bytes())
            .and_then(|()| enc.write_all(data))
            .map_err(io(&path))?;
        let compressed = enc.finish().map_err(io(&path))?;
        let mut tmp = tempfile::NamedTempFile::new_in(&dir).map_err(io(&dir))?;
        tmp.write_all(&compressed).map_err(io(&path))?;
        tmp.persist(&path).map_err(|e| SyncError::Io {
            path: path.clone(),
            source: e.error,
        })?;
        Ok(oid)
    }

    /// The tree of `base` (a commit, or nothing) with `changes` made: a path set to
    /// (git mode, blob id), or removed (`None`). Built in-process: only the trees on the
    /// changed paths are read (through one `cat-file --batch`) and written, so the cost follows
    /// the change, not the size of the tree. Directories left empty disappear, as in git.
    pub fn build_tree(
        &self,
        base: Option<&str>,
        changes: &[(String, Option<(u32, String)>)],
    ) -> Result<String, SyncError> {
        crate::tree::build(self, base, changes)
    }

    /// [`Repo::build_tree`], and the tree of `base` (read on the way, no git process of its
    /// own).
    pub fn build_tree_on(
        &self,
        base: Option<&str>,
        changes: &[(String, Option<(u32, String)>)],
    ) -> Result<(String, Option<String>), SyncError> {
        crate::tree::build_on(self, base, changes)
    }

    /// The same with git's own index (`read-tree`, `update-index`, `write-tree`): the
    /// reference the in-process builder is tested against.
    #[cfg(test)]
    pub fn build_tree_with_index(
        &self,
        base: Option<&str>,
        changes: &[(String, Option<(u32, String)>)],
    ) -> Result<String, SyncError> {
        let index = tempfile::Builder::new()
            .prefix("dotsync-index-")
            .tempfile_in(&self.dir)
            .map_err(|source| SyncError::Io {
                path: self.dir.clone(),
                source,
            })?;
        let index_path = index.path().to_path_buf();
        // git wants to create the index itself.
        drop(index);
        let env = [("GIT_INDEX_FILE", index_path.as_os_str())];
        let result = (|| {
            match base {
                Some(c) => self.try_run_env(&["read-tree", c], None, &env),
                None => self.try_run_env(&["read-tree", "--empty"], None, &env),
            }
            .map_err(|f| SyncError::Git(format!("git read-tree: {}", f.stderr)))?;
            let mut info = Vec::new();
            for (path, entry) in changes {
                match entry {
                    Some((mode, oid)) => {
                        info.extend_from_slice(format!("{mode:o} {oid}\t").as_bytes());
                    }
                    None => info.extend_from_slice(format!("0 {ZERO_OID}\t").as_bytes()),
                }
                info.extend_from_slice(path.as_bytes());
                info.push(0);
            }
            self.try_run_env(&["update-index", "-z", "--index-info"], Some(&info), &env)
                .map_err(|f| SyncError::Git(format!("git update-index: {}", f.stderr)))?;
            let out = self
                .try_run_env(&["write-tree"], None, &env)
                .map_err(|f| SyncError::Git(format!("git write-tree: {}", f.stderr)))?;
            Ok(String::from_utf8_lossy(&out).trim().to_owned())
        })();
        let _ = std::fs::remove_file(&index_path);
        let _ = std::fs::remove_file(index_path.with_extension("lock"));
        result
    }
}
