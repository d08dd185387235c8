//! `GET/PUT /v1/settings`: the web app's own settings, kept in `~/.dotsync/config` (the seed's
//! "frontend config") as JSON, mode 0600.

use std::path::Path;

use axum::Json;
use axum::extract::State;

use crate::App;
use crate::error::{ApiError, ErrorBody};
use crate::json::ApiJson;

pub use dotsync_api::{DaemonEvent, Settings, Theme};

fn validate(s: &Settings) -> Result<(), ApiError> {
    validate_addr(&s.backend_addr)?;
    if s.theme == Theme::Unknown {
        return Err(ApiError::invalid(
            "theme",
            "that is not a theme; use light, dark or system",
        ));
    }
    Ok(())
}

fn validate_addr(addr: &str) -> Result<(), ApiError> {
    dotsync_state::frontend::check_backend_addr(addr).map_err(|why| {
        ApiError::invalid(
            "backend_addr",
            format!(
                "{addr:?} {why}; write a loopback address with a port, such as 127.0.0.1:11000"
            ),
        )
    })
}

/// The settings as the file holds them: keys the app has not saved yet take their defaults, and
/// keys of other writers (the desktop app's `start_at_login`, `last_seen`) are not the app's.
#[derive(serde::Deserialize)]
#[serde(default)]
struct SettingsInFile {
    backend_addr: String,
    theme: Theme,
    notifications: bool,
}

impl Default for SettingsInFile {
    fn default() -> Self {
        let d = Settings::default();
        Self {
            backend_addr: d.backend_addr,
            theme: d.theme,
            notifications: d.notifications,
        }
    }
}

/// Reads the settings from the frontend's file; a missing file means the defaults.
pub fn load(path: &Path) -> Result<Settings, ApiError> {
    let obj = dotsync_state::frontend::read(path).map_err(ApiError::internal)?;
    let s: SettingsInFile =
        serde_json::from_value(serde_json::Value::Object(obj)).map_err(|e| {
            ApiError::internal(format!(
                "{} does not hold valid settings ({e}); fix it, or delete it to start from the \
             defaults",
                path.display()
            ))
        })?;
    Ok(Settings {
        backend_addr: s.backend_addr,
        // A theme this version does not know (a hand edit) shows as the default.
        theme: if s.theme == Theme::Unknown {
            Theme::default()
        } else {
            s.theme
        },
        notifications: s.notifications,
    })
}

/// Writes `value` as JSON to `path` atomically, mode 0600 ([`dotsync_state::fs::write_atomic`]):
/// the file always holds one whole write, the last one renamed. For files dotsync alone writes.
pub(crate) fn save_json(path: &Path, value: &impl serde::Serialize) -> std::io::Result<()> {
    let mut text = serde_json::to_vec_pretty(value).map_err(std::io::Error::other)?;
    text.push(b'\n');
    dotsync_state::fs::write_atomic(path, &text, 0o600)
}

/// Writes the app's keys of `s` into the frontend's file, keeping every other key (the desktop
/// app's), atomically and mode 0600 ([`dotsync_state::frontend::update`]).
pub(crate) fn save(path: &Path, s: &Settings) -> std::io::Result<()> {
    let value = serde_json::to_value(s).map_err(std::io::Error::other)?;
    let serde_json::Value::Object(keys) = value else {
        return Err(std::io::Error::other("settings are not a JSON object"));
    };
    dotsync_state::frontend::update(path, |obj| obj.extend(keys))
        .map(drop)
        .map_err(std::io::Error::other)
}

/// The app's settings (the defaults until saved once).
#[utoipa::path(get, path = "/v1/settings", tag = "app",
    responses((status = 200, body = Settings), (status = 500, body = ErrorBody)))]
pub async fn show(State(app): State<App>) -> Result<Json<Settings>, ApiError> {
    Ok(Json(load(&app.layout.frontend_config_path())?))
}

/// Replaces the app's settings. Every field is required; unknown fields are refused.
#[utoipa::path(put, path = "/v1/settings", tag = "app", request_body = Settings,
    responses((status = 200, body = Settings), (status = 400, body = ErrorBody)))]
pub async fn replace(
    State(app): State<App>,
    ApiJson(s): ApiJson<Settings>,
) -> Result<Json<Settings>, ApiError> {
    validate(&s)?;
    let path = app.layout.frontend_config_path();
    let to_save = s.clone();
    tokio::task::spawn_blocking(move || save(&path, &to_save))
        .await
        .map_err(ApiError::internal)?
        .map_err(|e| {
            ApiError::internal(format!(
                "cannot write {}: {e}",
                app.layout.frontend_config_path().display()
            ))
        })?;
    app.events.emit(&DaemonEvent::SettingsChanged(s.clone()));
    Ok(Json(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_must_be_loopback_with_a_port() {
        for ok in [
            "127.0.0.1:11000",
            "[::1]:11000",
            "localhost:8080",
            "127.0.0.2:1",
        ] {
            assert!(validate_addr(ok).is_ok(), "{ok}");
        }
        for bad in [
            "0.0.0.0:11000",
            "10.0.0.1:11000",
            "127.0.0.1",
            "localhost:0",
            "example.com:1",
            "",
        ] {
            assert_eq!(
                validate_addr(bad).unwrap_err().field,
                Some("backend_addr"),
                "{bad}"
            );
        }
    }

    #[test]
    fn saved_settings_are_private_and_read_back() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        assert_eq!(load(&path).unwrap(), Settings::default());
        let s = Settings {
            backend_addr: "127.0.0.1:12000".into(),
            theme: Theme::Dark,
            notifications: false,
        };
        save(&path, &s).unwrap();
        assert_eq!(load(&path).unwrap(), s);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn concurrent_saves_leave_one_whole_write() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        let all: Vec<Settings> = (0..8)
            .map(|i| Settings {
                backend_addr: format!("127.0.0.1:{}", 12000 + i),
                // Lengths differ, so an interleaving of two writes cannot pass for one.
                theme: [Theme::Light, Theme::Dark, Theme::System][i % 3],
                notifications: i % 2 == 0,
            })
            .collect();
        std::thread::scope(|scope| {
            for s in &all {
                let path = &path;
                scope.spawn(move || {
                    for _ in 0..50 {
                        save(path, s).unwrap();
                    }
                });
            }
            scope.spawn(|| {
                for _ in 0..500 {
                    if path.exists() {
                        let got = load(&path).unwrap();
                        assert!(all.contains(&got), "{got:?}");
                    }
                }
            });
        });
        assert!(all.contains(&load(&path).unwrap()));
        let mut names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [".config.lock", "config"],
            "no temporary file is left behind"
        );
    }

    #[test]
    fn the_desktop_apps_keys_are_read_past_and_kept_by_a_save() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        std::fs::write(
            &path,
            r#"{"theme": "dark", "start_at_login": true, "last_seen": {"configs": []}}"#,
        )
        .unwrap();
        let s = load(&path).unwrap();
        assert_eq!(s.theme, Theme::Dark);
        assert_eq!(s.backend_addr, Settings::default().backend_addr);
        save(
            &path,
            &Settings {
                theme: Theme::Light,
                ..s
            },
        )
        .unwrap();
        let obj = dotsync_state::frontend::read(&path).unwrap();
        assert_eq!(obj["theme"], "light");
        assert_eq!(obj["start_at_login"], true);
        assert_eq!(obj["last_seen"], serde_json::json!({"configs": []}));
    }
}
