//! The object store: reading objects (loose ones in-process, the rest through one
//! `cat-file --batch`), writing blobs, trees and packs in-process.

use super::*;

/// Reads objects one at a time, so memory holds one object whatever the number of files: a
/// loose object is inflated in-process (what this engine wrote, and what small fetches
/// unpack); anything else goes to one `git cat-file --batch`, started on the first such read.
pub struct BlobStream {
    objects: PathBuf,
    git: Option<CatFile>,
    cmd: Option<Command>,
    /// How many objects were sent to git ahead of their reads ([`BlobStream::read_ahead`])
    /// and are not read yet. Each answer names its object, so a read out of order is seen.
    ahead: usize,
}

/// A running `git cat-file --batch`.
struct CatFile {
    child: std::process::Child,
    stdin: Option<std::process::ChildStdin>,
    stdout: BufReader<std::process::ChildStdout>,
    /// The thread writing the ids read ahead (it owns `stdin` then).
    feeder: Option<std::thread::JoinHandle<()>>,
}

/// Where the loose object `oid` would be under `objects`; `None` unless `oid` is a full object
/// id (40 hex digits, either case), so nothing else ever becomes a path.
fn loose_path(objects: &Path, oid: &str) -> Option<PathBuf> {
    let oid = full_id(oid)?;
    Some(objects.join(&oid[..2]).join(&oid[2..]))
}

/// A loose object's header, `<type> <size>` (without its NUL): the type and size.
fn parse_header(head: &[u8]) -> Option<(&str, u64)> {
    let (kind, size) = std::str::from_utf8(head).ok()?.split_once(' ')?;
    Some((kind, size.parse().ok()?))
}

/// The content of the loose object `oid` (40 hex digits) under `objects`, if it is there and
/// whole: the header's size must match what inflated, or git is asked instead.
fn read_loose(objects: &Path, oid: &str) -> Option<Vec<u8>> {
    let file = std::fs::File::open(loose_path(objects, oid)?).ok()?;
    let mut raw = Vec::new();
    flate2::read::ZlibDecoder::new(file)
        .take(crate::scan::MAX_FILE + 64)
        .read_to_end(&mut raw)
        .ok()?;
    let nul = raw.iter().position(|&b| b == 0)?;
    let (kind, size) = parse_header(&raw[..nul])?;
    if !matches!(kind, "blob" | "tree" | "commit" | "tag") {
        return None;
    }
    if (raw.len() - nul - 1) as u64 != size {
        return None;
    }
    raw.drain(..=nul);
    Some(raw)
}

/// The type and size of the loose object `oid` under `objects`, from its header alone.
pub(super) fn loose_header(objects: &Path, oid: &str) -> Option<(String, u64)> {
    let file = std::fs::File::open(loose_path(objects, oid)?).ok()?;
    let mut head = Vec::with_capacity(32);
    // "<type> <size>\0": at most 6 + 1 + 20 + 1 bytes.
    let mut z = flate2::read::ZlibDecoder::new(file).take(32);
    let mut byte = [0u8; 1];
    loop {
        if z.read(&mut byte).ok()? == 0 {
            return None;
        }
        if byte[0] == 0 {
            break;
        }
        head.push(byte[0]);
    }
    let (kind, size) = parse_header(&head)?;
    Some((kind.to_owned(), size))
}

impl BlobStream {
    /// Whether a `git cat-file` had to be started.
    #[cfg(test)]
    pub(crate) fn started_git(&self) -> bool {
        self.git.is_some()
    }

    /// Announces the objects the next reads ask for, in this order, all of them through git:
    /// a thread sends their ids at once, so git reads on while the caller writes files, with
    /// no round trip (two context switches) per object. Reads must then come in this order;
    /// after the last, only loose objects can be read.
    pub fn read_ahead(&mut self, oids: Vec<String>) -> Result<(), SyncError> {
        if oids.is_empty() || self.ahead > 0 {
            return Ok(());
        }
        let count = oids.len();
        let git = self.cat_file()?;
        let Some(stdin) = git.stdin.take() else {
            return Err(SyncError::Git("git cat-file is closed".into()));
        };
        git.feeder = Some(std::thread::spawn(move || {
            let mut w = std::io::BufWriter::new(stdin);
            for id in oids {
                if writeln!(w, "{id}").is_err() {
                    // git is gone (the reader stopped early): nothing more to send.
                    return;
                }
            }
            let _ = w.flush();
        }));
        self.ahead = count;
        Ok(())
    }

    /// The running `git cat-file --batch`, started on first use.
    fn cat_file(&mut self) -> Result<&mut CatFile, SyncError> {
        if self.git.is_none() {
            let mut cmd = self
                .cmd
                .take()
                .ok_or_else(|| SyncError::Git("git cat-file is closed".into()))?;
            let mut child = cmd
                .spawn()
                .map_err(|e| SyncError::Git(format!("cannot run git cat-file: {e}")))?;
            let stdin = child.stdin.take();
            let stdout = child
                .stdout
                .take()
                .ok_or_else(|| SyncError::Git("git cat-file has no output".into()))?;
            self.git = Some(CatFile {
                child,
                stdin,
                stdout: BufReader::new(stdout),
                feeder: None,
            });
        }
        self.git
            .as_mut()
            .ok_or_else(|| SyncError::Git("git cat-file is closed".into()))
    }

    /// The bytes of one object (a blob, or the tree or commit a tree build reads).
    pub fn read(&mut self, oid: &str) -> Result<Vec<u8>, SyncError> {
        // Announced: its answer is the next one (which names it, or this read fails).
        let sent = self.ahead > 0;
        self.ahead = self.ahead.saturating_sub(1);
        if !sent && let Some(bytes) = read_loose(&self.objects, oid) {
            return Ok(bytes);
        }
        let git = self.cat_file()?;
        let err = |e: std::io::Error| SyncError::Git(format!("reading blob {oid}: {e}"));
        if !sent {
            let stdin = git
                .stdin
                .as_mut()
                .ok_or_else(|| SyncError::Git("git cat-file is closed".into()))?;
            stdin
                .write_all(format!("{oid}\n").as_bytes())
                .map_err(err)?;
            stdin.flush().map_err(err)?;
        }
        let mut header = String::new();
        git.stdout.read_line(&mut header).map_err(err)?;
        let mut parts = header.split_whitespace();
        let (id, kind, size) = (parts.next(), parts.next(), parts.next());
        let answers = |id: &str| {
            id.get(..oid.len())
                .is_some_and(|p| p.eq_ignore_ascii_case(oid))
        };
        if !id.is_some_and(answers) {
            return Err(SyncError::Git(format!(
                "git cat-file answered {header:?} for object {oid}"
            )));
        }
        if kind == Some("missing") || size.is_none() {
            return Err(SyncError::Git(format!(
                "object {oid} is missing from the repository"
            )));
        }
        let size: usize = size
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| SyncError::Git(format!("bad cat-file header {header:?}")))?;
        let mut buf = vec![0; size + 1];
        git.stdout.read_exact(&mut buf).map_err(err)?;
        buf.truncate(size);
        Ok(buf)
    }
}

impl Drop for CatFile {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Its pipe is closed now: a feeder still writing stops at once.
        if let Some(f) = self.feeder.take() {
            let _ = f.join();
        }
    }
}

impl Repo {
    /// Reads blobs by id (at most one `git cat-file --batch`).
    pub fn read_blobs(&self, oids: &[&str]) -> Result<Vec<Vec<u8>>, SyncError> {
        if oids.is_empty() {
            return Ok(Vec::new());
        }
        let mut stream = self.blob_stream();
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

    /// A reader of many objects one by one (`cat-file --batch` started only if needed).
    pub fn blob_stream(&self) -> BlobStream {
        let mut cmd = self.command();
        cmd.env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .args(["cat-file", "--batch"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        BlobStream {
            objects: self.dir.join("objects"),
            git: None,
            cmd: Some(cmd),
            ahead: 0,
        }
    }

    /// Whether this repository has the commit `id`, known to be a commit id (one this engine
    /// recorded or the remote announced). Found in-process when it can be (a loose object, or
    /// a pack index): most syncs ask this several times, and each `rev-parse` is a process.
    /// Not found that way, git decides (a pack replaced while it was being looked for).
    pub fn has_commit(&self, id: &str) -> bool {
        self.has_object_here(id) || self.rev_parse(id).is_some()
    }

    /// Whether `oid` (40 hex digits) is a loose object or listed in a pack index of this
    /// repository. `false` is "not seen", never proof of absence.
    pub(crate) fn has_object_here(&self, oid: &str) -> bool {
        let objects = self.dir.join("objects");
        let Some(loose) = loose_path(&objects, oid) else {
            return false;
        };
        if loose.is_file() {
            return true;
        }
        let Ok(packs) = std::fs::read_dir(objects.join("pack")) else {
            return false;
        };
        packs.flatten().any(|e| {
            let p = e.path();
            p.extension().is_some_and(|x| x == "idx")
                && crate::pack::index_lists(&p, oid).unwrap_or(false)
        })
    }

    /// Whether this repository has the object `oid` (40 hex digits, any kind): found
    /// in-process when it can be, else git decides (`cat-file -e`).
    pub fn has_object(&self, oid: &str) -> bool {
        full_id(oid).is_some()
            && (self.has_object_here(oid) || self.try_run(&["cat-file", "-e", oid], None).is_ok())
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
