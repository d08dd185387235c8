//! The one way dotsync replaces a small file of its own (the token, the app's settings, a
//! service definition): readers see the old file or the whole new one, never a part of either.
//!
//! Files in the person's home are written by the engine's apply step instead, which stages many
//! files and makes them durable together.

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

/// Writes `bytes` to `path` with permission bits `mode`: a temporary file of its own in the
/// same directory (a random name, created exclusively, so concurrent writers never share one
/// and a symlink planted there is never followed), fsync, rename over `path`, fsync the
/// directory. On failure the temporary file is removed and `path` is untouched.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map_or_else(|| "file".into(), |n| n.to_string_lossy());
    let (tmp, mut f) = create_temp(dir, &name, mode)?;
    let result = (|| {
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn create_temp(dir: &Path, name: &str, mode: u32) -> std::io::Result<(PathBuf, std::fs::File)> {
    let mut tries = 0;
    loop {
        let tmp = dir.join(format!(".{name}.tmp-{}", crate::random_hex(8)));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)
        {
            Ok(f) => return Ok((tmp, f)),
            // 64 random bits make a clash all but impossible; a few retries cover it anyway.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && tries < 3 => tries += 1,
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn the_file_is_replaced_whole_with_its_mode_and_no_temporary_file_stays() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("token");
        std::fs::write(&p, "old").expect("write");
        write_atomic(&p, b"new\n", 0o600).expect("write_atomic");
        assert_eq!(std::fs::read(&p).expect("read"), b"new\n");
        let mode = std::fs::metadata(&p).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .expect("ls")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("token")]);
    }

    #[test]
    fn a_failed_write_leaves_the_old_file_and_no_temporary_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        // The target is a non-empty directory: the rename fails after the data was written.
        let p = dir.path().join("settings");
        std::fs::create_dir(&p).expect("mkdir");
        std::fs::write(p.join("inside"), "x").expect("write");
        assert!(write_atomic(&p, b"new", 0o600).is_err());
        assert_eq!(std::fs::read(p.join("inside")).expect("read"), b"x");
        assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 1);
    }
}
