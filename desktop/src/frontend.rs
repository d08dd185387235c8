//! The desktop app's keys in `~/.dotsync/config` (the frontend's file, shared with the daemon's
//! app settings through [`dotsync_state::frontend`]): the backend address, notifications and
//! theme (the app's settings, edited in the web app), start at login and the last seen state
//! (the desktop app's own).

use std::path::{Path, PathBuf};

use dotsync_state::frontend::{self, FrontendConfigError, Object};

use crate::glance::LastSeen;

/// The daemon's address when the file names none.
pub const DEFAULT_ADDR: &str = "127.0.0.1:11000";

/// What the desktop app reads from the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesktopConfig {
    pub backend_addr: String,
    pub notifications: bool,
    pub start_at_login: bool,
    pub last_seen: Option<LastSeen>,
}

/// The file, at `~/.dotsync/config`.
#[derive(Debug, Clone)]
pub struct ConfigFile {
    pub path: PathBuf,
}

impl ConfigFile {
    pub fn new(path: PathBuf) -> Self {
        Self { path }
    }

    /// Reads the desktop app's view of the file. A key of the wrong type is ignored (its
    /// default is used) rather than stopping the app; a `backend_addr` that is not on loopback
    /// is refused, as the daemon refuses it.
    pub fn load(&self) -> Result<DesktopConfig, FrontendConfigError> {
        Ok(from_object(&frontend::read(&self.path)?))
    }

    pub fn set_start_at_login(&self, on: bool) -> Result<(), FrontendConfigError> {
        frontend::update(&self.path, |o| {
            o.insert("start_at_login".into(), on.into());
        })
        .map(drop)
    }

    pub fn save_last_seen(&self, seen: &LastSeen) -> Result<(), FrontendConfigError> {
        let value = serde_json::to_value(seen).unwrap_or_default();
        frontend::update(&self.path, |o| {
            o.insert("last_seen".into(), value);
        })
        .map(drop)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn from_object(o: &Object) -> DesktopConfig {
    let flag = |k: &str, d: bool| o.get(k).and_then(serde_json::Value::as_bool).unwrap_or(d);
    let backend_addr = o
        .get("backend_addr")
        .and_then(serde_json::Value::as_str)
        .filter(|a| frontend::check_backend_addr(a).is_ok())
        .unwrap_or(DEFAULT_ADDR)
        .to_owned();
    DesktopConfig {
        backend_addr,
        notifications: flag("notifications", true),
        start_at_login: flag("start_at_login", false),
        last_seen: o
            .get("last_seen")
            .and_then(|v| serde_json::from_value(v.clone()).ok()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_the_daemons_keys_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let f = ConfigFile::new(dir.path().join("config"));
        let c = f.load().unwrap();
        assert_eq!(c.backend_addr, DEFAULT_ADDR);
        assert!(c.notifications && !c.start_at_login && c.last_seen.is_none());
        std::fs::write(
            f.path(),
            r#"{"backend_addr": "127.0.0.1:12345", "theme": "dark", "notifications": false}"#,
        )
        .unwrap();
        let c = f.load().unwrap();
        assert_eq!(c.backend_addr, "127.0.0.1:12345");
        assert!(!c.notifications);
    }

    #[test]
    fn a_non_loopback_address_is_never_used() {
        let dir = tempfile::tempdir().unwrap();
        let f = ConfigFile::new(dir.path().join("config"));
        std::fs::write(f.path(), r#"{"backend_addr": "10.0.0.1:11000"}"#).unwrap();
        assert_eq!(f.load().unwrap().backend_addr, DEFAULT_ADDR);
    }

    #[test]
    fn the_apps_keys_are_kept_when_the_desktop_writes_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let f = ConfigFile::new(dir.path().join("config"));
        std::fs::write(f.path(), r#"{"theme": "dark"}"#).unwrap();
        f.set_start_at_login(true).unwrap();
        let seen = LastSeen {
            at: 7,
            machine: "laptop".into(),
            ..LastSeen::default()
        };
        f.save_last_seen(&seen).unwrap();
        let c = f.load().unwrap();
        assert!(c.start_at_login);
        assert_eq!(c.last_seen, Some(seen));
        let raw = frontend::read(f.path()).unwrap();
        assert_eq!(raw["theme"], "dark");
    }
}
