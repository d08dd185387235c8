//! `~/.dotsync/config`: the frontend's file (the seed's "frontend config"), shared by two writers.
//!
//! The daemon keeps the app's settings there (`backend_addr`, `theme`, `notifications`, through
//! `GET/PUT /v1/settings`); the desktop app keeps its own keys beside them (`start_at_login`, and
//! `last_seen`: the configs and files it last saw, so it can show them while the daemon is
//! unreachable). Each writer owns its keys and keeps everyone else's: an update reads the whole
//! object, changes its keys and writes the whole object back, under an exclusive lock
//! (`~/.dotsync/.config.lock`), so two writers never lose each other's keys. The file is replaced
//! atomically with mode 0600, so a reader without the lock still sees one whole write.

use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

/// The object the file holds.
pub type Object = Map<String, Value>;

/// Why the frontend's file cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum FrontendConfigError {
    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a JSON object ({why}); fix it, or delete it to start from the defaults")]
    Invalid { path: PathBuf, why: String },
}

/// Why a `backend_addr` is refused: the daemon listens on loopback only, at a real port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BadAddr {
    #[error("is not a loopback address (the daemon listens on loopback only)")]
    NotLoopback,
    #[error("has port 0")]
    PortZero,
    #[error("has no valid port")]
    NoPort,
    #[error("is not an address")]
    NotAnAddress,
}

/// Checks a `backend_addr`: a loopback IP address or `localhost`, with a port other than 0.
/// The one rule for the daemon's settings route and the desktop app.
pub fn check_backend_addr(addr: &str) -> Result<(), BadAddr> {
    if let Ok(sa) = addr.parse::<std::net::SocketAddr>() {
        return match (sa.ip().is_loopback(), sa.port()) {
            (false, _) => Err(BadAddr::NotLoopback),
            (true, 0) => Err(BadAddr::PortZero),
            (true, _) => Ok(()),
        };
    }
    match addr.split_once(':') {
        Some((host, port)) if host.eq_ignore_ascii_case("localhost") => match port.parse::<u16>() {
            Ok(p) if p != 0 => Ok(()),
            _ => Err(BadAddr::NoPort),
        },
        _ => Err(BadAddr::NotAnAddress),
    }
}

fn io_err(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> FrontendConfigError {
    let path = path.to_path_buf();
    move |source| FrontendConfigError::Io {
        action,
        path,
        source,
    }
}

/// Reads the file; a missing or empty file is an empty object.
pub fn read(path: &Path) -> Result<Object, FrontendConfigError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Object::new()),
        Err(e) => return Err(io_err("read", path)(e)),
    };
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Object::new());
    }
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(other) => Err(FrontendConfigError::Invalid {
            path: path.to_path_buf(),
            why: format!("it holds a JSON {}", kind(&other)),
        }),
        Err(e) => Err(FrontendConfigError::Invalid {
            path: path.to_path_buf(),
            why: e.to_string(),
        }),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Changes the file under its lock: reads it, lets `change` edit the object, and writes the
/// result back atomically (mode 0600). Keys `change` does not touch are kept as they were.
/// Returns the object as written.
pub fn update(
    path: &Path,
    change: impl FnOnce(&mut Object),
) -> Result<Object, FrontendConfigError> {
    let lock_path = lock_path(path);
    let lock = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&lock_path)
        .map_err(io_err("open", &lock_path))?;
    lock.lock().map_err(io_err("lock", &lock_path))?;
    let mut obj = read(path)?;
    change(&mut obj);
    let mut text = serde_json::to_vec_pretty(&obj).map_err(|e| FrontendConfigError::Invalid {
        path: path.to_path_buf(),
        why: e.to_string(),
    })?;
    text.push(b'\n');
    crate::fs::write_atomic(path, &text, 0o600).map_err(io_err("write", path))?;
    drop(lock);
    Ok(obj)
}

/// `~/.dotsync/.config.lock` beside `~/.dotsync/config`.
fn lock_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map_or_else(|| "config".into(), |n| n.to_string_lossy());
    path.with_file_name(format!(".{name}.lock"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn only_a_loopback_address_with_a_port_is_a_backend_addr() {
        for ok in [
            "127.0.0.1:11000",
            "[::1]:8080",
            "localhost:11000",
            "LOCALHOST:1",
        ] {
            assert_eq!(check_backend_addr(ok), Ok(()), "{ok}");
        }
        for (bad, why) in [
            ("0.0.0.0:11000", BadAddr::NotLoopback),
            ("192.168.1.2:11000", BadAddr::NotLoopback),
            ("127.0.0.1:0", BadAddr::PortZero),
            ("localhost:0", BadAddr::NoPort),
            ("localhost:http", BadAddr::NoPort),
            ("example.com:11000", BadAddr::NotAnAddress),
            ("127.0.0.1", BadAddr::NotAnAddress),
            ("", BadAddr::NotAnAddress),
        ] {
            assert_eq!(check_backend_addr(bad), Err(why), "{bad}");
        }
    }

    #[test]
    fn a_missing_file_is_an_empty_object_and_a_broken_one_says_how_to_recover() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        assert!(read(&path).unwrap().is_empty());
        std::fs::write(&path, "[1, 2]").unwrap();
        let e = read(&path).unwrap_err().to_string();
        assert!(
            e.contains("holds a JSON array") && e.contains("delete it"),
            "{e}"
        );
        std::fs::write(&path, "{\"theme\": ").unwrap();
        assert!(matches!(
            read(&path),
            Err(FrontendConfigError::Invalid { .. })
        ));
    }

    #[test]
    fn each_writer_keeps_the_keys_of_the_other() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        update(&path, |m| {
            m.insert("theme".into(), "dark".into());
        })
        .unwrap();
        update(&path, |m| {
            m.insert("last_seen".into(), serde_json::json!({"configs": []}));
        })
        .unwrap();
        let m = read(&path).unwrap();
        assert_eq!(m["theme"], "dark");
        assert_eq!(m["last_seen"], serde_json::json!({"configs": []}));
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn concurrent_updates_of_different_keys_all_survive() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        std::thread::scope(|s| {
            for i in 0..8 {
                let path = &path;
                s.spawn(move || {
                    for j in 0..10 {
                        update(path, |m| {
                            m.insert(format!("k{i}"), j.into());
                        })
                        .unwrap();
                    }
                });
            }
        });
        let m = read(&path).unwrap();
        for i in 0..8 {
            assert_eq!(m[&format!("k{i}")], 9, "{m:?}");
        }
    }
}
