//! The app's state and its one background loop (the monitor): it asks the daemon how things
//! are, signs the window in, keeps the tray and `~/.dotsync/config`'s `last_seen` up to date,
//! and raises notifications for what is new. It wakes on every daemon event (`GET /v1/events`),
//! on a menu action, and every 30 s; while the daemon is unreachable, every 2 s.

use std::path::PathBuf;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::Serialize;
use tauri::{AppHandle, Manager as _};

use crate::backend::{Backend, BackendError};
use crate::frontend::ConfigFile;
use crate::glance::{Glance, LastSeen, headline};
use crate::hook::Hook;
use crate::menus::Menus;

/// Where the app is with the daemon.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "phase", content = "message", rename_all = "snake_case")]
pub enum Phase {
    /// Looking for the daemon.
    Connecting,
    /// Starting `dotsync daemon`.
    Starting,
    /// The window shows the app, signed in.
    Online,
    /// Nothing answers (the daemon stopped); the app retries and shows what it last saw.
    Offline(String),
    /// Something the person must fix (the daemon could not be started, refuses the token).
    Failed(String),
}

pub struct Inner {
    pub phase: Phase,
    pub seen: Option<LastSeen>,
    /// The last `last_seen` written to the file, to write only what changed.
    saved: Option<LastSeen>,
    /// Start the daemon at the next failed contact (at launch, and when the person asks).
    pub may_start: bool,
    /// The window shows the daemon's app (not the local page).
    pub showing_app: bool,
    pub notifications: bool,
}

pub struct Shared {
    pub backend: Backend,
    pub layout: dotsync_state::Layout,
    pub file: ConfigFile,
    pub inner: Mutex<Inner>,
    wake: Mutex<Sender<()>>,
    pub hook: Option<Hook>,
    pub menus: Mutex<Option<Menus>>,
    /// The local page's URL (`tauri://localhost/index.html` on Linux).
    pub local_url: Mutex<Option<tauri::Url>>,
    pub home: PathBuf,
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl Shared {
    pub fn new(
        backend: Backend,
        layout: dotsync_state::Layout,
        file: ConfigFile,
        seen: Option<LastSeen>,
        notifications: bool,
        home: PathBuf,
    ) -> (Arc<Self>, Receiver<()>) {
        let (tx, rx) = std::sync::mpsc::channel();
        let shared = Arc::new(Self {
            backend,
            layout,
            file,
            inner: Mutex::new(Inner {
                phase: Phase::Connecting,
                saved: seen.clone(),
                seen,
                may_start: true,
                showing_app: false,
                notifications,
            }),
            wake: Mutex::new(tx),
            hook: Hook::from_env(),
            menus: Mutex::new(None),
            local_url: Mutex::new(None),
            home,
        });
        (shared, rx)
    }

    pub fn guard(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Wakes the monitor now.
    pub fn wake(&self) {
        let tx = self
            .wake
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let _ = tx.send(());
    }

    pub fn hook_event(&self, value: serde_json::Value) {
        if let Some(h) = &self.hook {
            h.event(&value);
        }
    }

    /// The state at a glance and the headline, now.
    pub fn headline(&self) -> (Glance, String) {
        let inner = self.guard();
        headline(inner.seen.as_ref(), inner.phase == Phase::Online, now())
    }

    /// Shows a desktop notification (if the app's notification setting allows it).
    pub fn notify(&self, title: &str, body: &str) {
        let allowed = self.guard().notifications;
        self.hook_event(serde_json::json!({
            "kind": "notification", "title": title, "body": body, "shown": allowed,
        }));
        if !allowed {
            return;
        }
        let (title, body) = (title.to_owned(), body.to_owned());
        std::thread::spawn(move || {
            let r = notify_rust::Notification::new()
                .appname("dotsync")
                .summary(&title)
                .body(&body)
                .icon("dotsync-desktop")
                .show();
            if let Err(e) = r {
                tracing::warn!("cannot show a desktop notification ({e}): {title}");
            }
        });
    }

    fn set_phase(&self, app: &AppHandle, phase: Phase) {
        let changed = {
            let mut inner = self.guard();
            let changed = inner.phase != phase;
            inner.phase = phase.clone();
            changed
        };
        if changed {
            self.hook_event(serde_json::to_value(&phase).unwrap_or_default());
            if phase != Phase::Online {
                self.show_local_page(app);
            }
        }
        self.refresh_tray();
    }

    /// Puts the local page (connecting, offline, error) in the window, if the app is there.
    fn show_local_page(&self, app: &AppHandle) {
        let was_app = std::mem::replace(&mut self.guard().showing_app, false);
        let url = self
            .local_url
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        if let (true, Some(url), Some(w)) = (was_app, url, app.get_webview_window("main")) {
            let _ = w.navigate(url);
            self.hook_event(serde_json::json!({"kind": "page", "page": "local"}));
        }
    }

    /// Signs the window in with a fresh one-time code.
    fn show_app(&self, app: &AppHandle) -> Result<(), BackendError> {
        let url = self.backend.login_url()?;
        let parsed = tauri::Url::parse(&url).map_err(|e| BackendError::Answer {
            call: "POST /v1/session/code".into(),
            why: e.to_string(),
        })?;
        if let Some(w) = app.get_webview_window("main") {
            let _ = w.navigate(parsed);
        }
        self.guard().showing_app = true;
        self.hook_event(serde_json::json!({"kind": "page", "page": "app"}));
        Ok(())
    }

    pub fn refresh_tray(&self) {
        let (glance, text) = self.headline();
        let paused = self.guard().seen.as_ref().is_some_and(|s| s.paused);
        if let Some(m) = self
            .menus
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
        {
            m.show(glance, &text, paused);
        }
    }

    /// One look at the daemon: status, conflicts, and the files of configs whose state moved.
    fn look(&self) -> Result<(), BackendError> {
        let status = self.backend.status()?;
        let conflicts = self.backend.conflicts()?;
        let prev = self.guard().seen.clone();
        let mut files = Vec::new();
        for c in &status.configs {
            let old = prev
                .as_ref()
                .and_then(|p| p.configs.iter().find(|o| o.id == c.id));
            let moved = old.is_none_or(|o| {
                o.last_sync != c.last_sync
                    || o.state != c.state
                    || o.conflicts.len() as u64 != c.conflicts
                    || o.files.is_empty()
            }) || c.pending_changes > 0;
            if moved && c.state != "syncing" {
                match self.backend.files(&c.id) {
                    Ok(f) => files.push((c.id.clone(), f)),
                    Err(e) => tracing::debug!("cannot list the files of {}: {e}", c.name),
                }
            }
        }
        let seen = LastSeen::from_answers(
            now(),
            &self.backend.addr,
            &status,
            &conflicts,
            &files,
            prev.as_ref(),
        );
        let news = seen.news_since(prev.as_ref());
        let notifications = self.file.load().map(|c| c.notifications).unwrap_or(true);
        let save = {
            let mut inner = self.guard();
            inner.notifications = notifications;
            inner.seen = Some(seen.clone());
            // The time alone moving is written at most once a minute.
            let save = inner.saved.as_ref().is_none_or(|s| {
                let mut s2 = s.clone();
                s2.at = seen.at;
                s2 != seen || seen.at - s.at >= 60
            });
            if save {
                inner.saved = Some(seen.clone());
            }
            save
        };
        if save && let Err(e) = self.file.save_last_seen(&seen) {
            tracing::warn!("cannot keep the last seen state: {e}");
        }
        for n in news {
            self.notify(&n.title, &n.body);
        }
        Ok(())
    }

    /// The monitor: runs until the app exits.
    pub fn monitor(self: Arc<Self>, app: AppHandle, rx: Receiver<()>) {
        let follower = Arc::new(Mutex::new(false));
        loop {
            let wait = match self.look() {
                Ok(()) => {
                    let online = self.guard().phase == Phase::Online;
                    if !online {
                        match self.show_app(&app) {
                            Ok(()) => self.set_phase(&app, Phase::Online),
                            Err(e) => self.set_phase(&app, Phase::Failed(e.to_string())),
                        }
                    }
                    self.guard().may_start = false;
                    self.refresh_tray();
                    self.follow_events(&follower);
                    Duration::from_secs(30)
                }
                Err(e @ (BackendError::Unreachable { .. } | BackendError::NoToken { .. })) => {
                    let may_start = std::mem::replace(&mut self.guard().may_start, false);
                    if may_start && !self.backend.healthy() {
                        self.set_phase(&app, Phase::Starting);
                        match crate::launch::start_daemon(&self.backend, &self.layout.state_dir()) {
                            Ok(()) => continue,
                            Err(e) => self.set_phase(&app, Phase::Failed(e.to_string())),
                        }
                    } else if !matches!(self.guard().phase, Phase::Failed(_)) {
                        self.set_phase(&app, Phase::Offline(e.to_string()));
                    }
                    Duration::from_secs(2)
                }
                Err(e) => {
                    self.set_phase(&app, Phase::Failed(e.to_string()));
                    Duration::from_secs(5)
                }
            };
            match rx.recv_timeout(wait) {
                Ok(()) | Err(RecvTimeoutError::Timeout) => {
                    // Many events arrive together during a sync: one look covers them all.
                    std::thread::sleep(Duration::from_millis(150));
                    while rx.try_recv().is_ok() {}
                }
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
    }

    /// Follows the daemon's events on a thread (one at a time), waking the monitor on each.
    fn follow_events(self: &Arc<Self>, running: &Arc<Mutex<bool>>) {
        {
            let mut r = running
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if *r {
                return;
            }
            *r = true;
        }
        let me = Arc::clone(self);
        let running = Arc::clone(running);
        std::thread::spawn(move || {
            let _ = me.backend.follow_events(|| me.wake());
            *running
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = false;
            // The stream ended: the daemon stopped, or restarts. Look at once.
            me.wake();
        });
    }
}
