//! Writing many objects as one pack instead of one loose file each.
//!
//! A first push of ten thousand files would otherwise leave ten thousand loose objects, each a
//! file of its own to create, and slow for every later git command to read (a tree listing with
//! sizes has to open each one). The pack is written as objects come (memory holds one object),
//! then its index (version 2) is written and both are renamed into `objects/pack/`, index last,
//! so a reader sees a whole pack or none. Objects are stored whole (no deltas): fast to write,
//! and `git repack` may improve them later.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::SyncError;
use crate::git::object_id;

/// A pack being written.
pub struct PackWriter {
    dir: PathBuf,
    tmp: tempfile::NamedTempFile,
    out: BufWriter<File>,
    offset: u64,
    /// Object id → (offset in the pack, CRC-32 of its packed bytes).
    objects: BTreeMap<[u8; 20], (u64, u32)>,
    /// One compressor for every object: setting one up costs more than compressing a small
    /// file.
    z: flate2::write::ZlibEncoder<Vec<u8>>,
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> SyncError + '_ {
    move |source| SyncError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn raw_oid(hex: &str) -> [u8; 20] {
    let mut out = [0u8; 20];
    for (i, pair) in hex.as_bytes().chunks(2).take(20).enumerate() {
        let d = |c: u8| {
            (c as char)
                .to_digit(16)
                .and_then(|v| u8::try_from(v).ok())
                .unwrap_or(0)
        };
        out[i] = d(pair[0]) << 4 | d(pair[1]);
    }
    out
}

impl PackWriter {
    /// Starts a pack in `objects_dir/pack`.
    pub fn new(objects_dir: &Path) -> Result<Self, SyncError> {
        let dir = objects_dir.join("pack");
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        let tmp = tempfile::Builder::new()
            .prefix("tmp_pack_")
            .tempfile_in(&dir)
            .map_err(io(&dir))?;
        let file = tmp.reopen().map_err(io(&dir))?;
        let mut out = BufWriter::new(file);
        // The object count is filled in when the pack is finished.
        out.write_all(b"PACK\0\0\0\x02\0\0\0\0").map_err(io(&dir))?;
        Ok(Self {
            dir,
            tmp,
            out,
            offset: 12,
            objects: BTreeMap::new(),
            z: flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast()),
        })
    }

    /// Adds an object of `kind` (`blob`, `tree`, `commit`); its id. An object added twice is
    /// stored once.
    pub fn add(&mut self, kind: &str, data: &[u8]) -> Result<String, SyncError> {
        let oid = object_id(kind, data);
        let key = raw_oid(&oid);
        if self.objects.contains_key(&key) {
            return Ok(oid);
        }
        let type_bits: u8 = match kind {
            "commit" => 1,
            "tree" => 2,
            "blob" => 3,
            _ => {
                return Err(SyncError::Git(format!(
                    "cannot pack an object of kind {kind}"
                )));
            }
        };
        let mut header = Vec::with_capacity(10);
        let mut size = data.len() as u64;
        let mut byte = (type_bits << 4) | (size & 0x0f) as u8;
        size >>= 4;
        while size > 0 {
            header.push(byte | 0x80);
            byte = (size & 0x7f) as u8;
            size >>= 7;
        }
        header.push(byte);
        self.z.write_all(data).map_err(io(&self.dir))?;
        // Finishes this object's stream and starts the next one afresh.
        let body = self.z.reset(Vec::new()).map_err(io(&self.dir))?;
        let mut crc = flate2::Crc::new();
        crc.update(&header);
        crc.update(&body);
        self.out.write_all(&header).map_err(io(&self.dir))?;
        self.out.write_all(&body).map_err(io(&self.dir))?;
        self.objects.insert(key, (self.offset, crc.sum()));
        self.offset += (header.len() + body.len()) as u64;
        Ok(oid)
    }

    /// How many objects the pack holds.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.objects.len()
    }

    /// Finishes the pack and its index and moves them into place. An empty pack is dropped.
    pub fn finish(self) -> Result<(), SyncError> {
        let Self {
            dir,
            tmp,
            out,
            objects,
            ..
        } = self;
        if objects.is_empty() {
            return Ok(());
        }
        let mut file = out.into_inner().map_err(|e| SyncError::Io {
            path: dir.clone(),
            source: e.into_error(),
        })?;
        let count = u32::try_from(objects.len())
            .map_err(|_| SyncError::Git("too many objects for one pack".into()))?;
        file.seek(SeekFrom::Start(8)).map_err(io(&dir))?;
        file.write_all(&count.to_be_bytes()).map_err(io(&dir))?;
        // The trailer is the SHA-1 of everything before it.
        file.seek(SeekFrom::Start(0)).map_err(io(&dir))?;
        let mut hasher = <sha1::Sha1 as sha1::Digest>::new();
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = file.read(&mut buf).map_err(io(&dir))?;
            if n == 0 {
                break;
            }
            sha1::Digest::update(&mut hasher, &buf[..n]);
        }
        let pack_sum: [u8; 20] = sha1::Digest::finalize(hasher).into();
        file.seek(SeekFrom::End(0)).map_err(io(&dir))?;
        file.write_all(&pack_sum).map_err(io(&dir))?;
        file.sync_all().map_err(io(&dir))?;

        let mut idx = Vec::with_capacity(8 + 1024 + objects.len() * 28 + 40);
        idx.extend_from_slice(b"\xfftOc\0\0\0\x02");
        let mut fanout = [0u32; 256];
        for key in objects.keys() {
            fanout[key[0] as usize] += 1;
        }
        let mut total = 0u32;
        for n in fanout {
            total += n;
            idx.extend_from_slice(&total.to_be_bytes());
        }
        for key in objects.keys() {
            idx.extend_from_slice(key);
        }
        for (_, crc) in objects.values() {
            idx.extend_from_slice(&crc.to_be_bytes());
        }
        let mut large = Vec::new();
        for (offset, _) in objects.values() {
            let small = match u32::try_from(*offset) {
                Ok(o) if o < 0x8000_0000 => o,
                _ => {
                    let at = 0x8000_0000 | u32::try_from(large.len()).unwrap_or(u32::MAX);
                    large.push(*offset);
                    at
                }
            };
            idx.extend_from_slice(&small.to_be_bytes());
        }
        for offset in large {
            idx.extend_from_slice(&offset.to_be_bytes());
        }
        idx.extend_from_slice(&pack_sum);
        let idx_sum = <sha1::Sha1 as sha1::Digest>::digest(&idx);
        idx.extend_from_slice(&idx_sum);

        let name = crate::git::hex(&pack_sum);
        let pack_path = dir.join(format!("pack-{name}.pack"));
        let idx_path = dir.join(format!("pack-{name}.idx"));
        tmp.persist(&pack_path).map_err(|e| SyncError::Io {
            path: pack_path.clone(),
            source: e.error,
        })?;
        let mut idx_tmp = tempfile::Builder::new()
            .prefix("tmp_idx_")
            .tempfile_in(&dir)
            .map_err(io(&dir))?;
        idx_tmp.write_all(&idx).map_err(io(&dir))?;
        idx_tmp.as_file().sync_all().map_err(io(&dir))?;
        idx_tmp.persist(&idx_path).map_err(|e| SyncError::Io {
            path: idx_path.clone(),
            source: e.error,
        })?;
        if let Ok(d) = File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

/// Whether the pack index (version 2) at `idx` lists the object `oid` (40 hex digits): the
/// fan-out table narrows the search to the ids sharing its first byte, then a binary search
/// reads 20 bytes a step. `Ok(false)` for an index of another version (the caller asks git).
pub(crate) fn index_lists(idx: &Path, oid: &str) -> std::io::Result<bool> {
    use std::os::unix::fs::FileExt;
    let Some(oid) = crate::git::full_id(oid) else {
        return Ok(false);
    };
    let want = raw_oid(&oid);
    let f = File::open(idx)?;
    let mut head = [0u8; 8];
    f.read_exact_at(&mut head, 0)?;
    if head != *b"\xfftOc\0\0\0\x02" {
        return Ok(false);
    }
    let fanout_at = |i: usize| -> std::io::Result<u64> {
        let mut b = [0u8; 4];
        f.read_exact_at(&mut b, 8 + 4 * i as u64)?;
        Ok(u64::from(u32::from_be_bytes(b)))
    };
    let first = usize::from(want[0]);
    let (mut lo, mut hi) = (
        if first == 0 { 0 } else { fanout_at(first - 1)? },
        fanout_at(first)?,
    );
    let names_at = 8 + 4 * 256;
    let mut name = [0u8; 20];
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        f.read_exact_at(&mut name, names_at + 20 * mid)?;
        match name.cmp(&want) {
            std::cmp::Ordering::Equal => return Ok(true),
            std::cmp::Ordering::Less => lo = mid + 1,
            std::cmp::Ordering::Greater => hi = mid,
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::Repo;

    #[test]
    fn packs_written_here_are_read_and_verified_by_git() {
        let dir = tempfile::tempdir().expect("tempdir");
        let repo = Repo::open_or_init(&dir.path().join("r.git")).expect("init");
        let mut pack = PackWriter::new(&repo.dir.join("objects")).expect("pack");
        let mut oids = Vec::new();
        for i in 0..300 {
            let data = format!("file {i}\n").repeat(i % 7 + 1);
            oids.push((pack.add("blob", data.as_bytes()).expect("add"), data));
        }
        // A large one, whose size needs several header bytes.
        let big = vec![b'x'; 3 << 20];
        let big_oid = pack.add("blob", &big).expect("add");
        pack.add("blob", b"file 0\n").expect("a duplicate is fine");
        assert_eq!(pack.len(), 301);
        pack.finish().expect("finish");
        let packs: Vec<_> = std::fs::read_dir(repo.dir.join("objects/pack"))
            .expect("ls")
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "idx"))
            .collect();
        assert_eq!(packs.len(), 1);
        let idx = packs[0].to_str().expect("utf-8");
        repo.run(&["verify-pack", idx], None)
            .expect("git verifies the pack");
        for (oid, data) in &oids {
            assert_eq!(repo.read_blob(oid).expect("read"), data.as_bytes());
        }
        assert_eq!(repo.read_blob(&big_oid).expect("read").len(), 3 << 20);
        // The index is read back in-process: every id it holds, none it does not.
        let idx = std::path::Path::new(idx);
        for (oid, _) in &oids {
            assert!(index_lists(idx, oid).expect("read idx"), "{oid}");
        }
        assert!(index_lists(idx, &big_oid).expect("read idx"));
        assert!(index_lists(idx, &big_oid.to_ascii_uppercase()).expect("read idx"));
        for absent in [
            object_id("blob", b"never written"),
            "abc".to_owned(),
            format!("{}g", &big_oid[..39]),
            "0000000000000000000000000000000000000000".to_owned(),
            "ffffffffffffffffffffffffffffffffffffffff".to_owned(),
        ] {
            assert!(!index_lists(idx, &absent).expect("read idx"), "{absent}");
        }
    }
}
