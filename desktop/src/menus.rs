//! The tray icon and its menu, and the window's menu bar with the same actions (not every
//! desktop shows a tray): *Sync now*, *Pause syncing* / *Resume syncing*, *Open dotsync*,
//! *Start at login*, *Quit*. Both menus send their clicks to [`run`].

use std::sync::Arc;

use tauri::image::Image;
use tauri::menu::{CheckMenuItem, Menu, MenuItem, PredefinedMenuItem, Submenu};
use tauri::tray::{TrayIcon, TrayIconBuilder};
use tauri::{AppHandle, Manager as _, Wry};

use crate::app::{Phase, Shared};
use crate::glance::Glance;
use crate::icons;

pub const SYNC_NOW: &str = "sync_now";
pub const PAUSE: &str = "pause";
pub const OPEN: &str = "open";
pub const START_AT_LOGIN: &str = "start_at_login";
pub const QUIT: &str = "quit";

/// The menu items whose text or check mark follows the state.
pub struct Menus {
    tray: Option<TrayIcon>,
    tray_status: MenuItem<Wry>,
    pauses: Vec<MenuItem<Wry>>,
    logins: Vec<CheckMenuItem<Wry>>,
    glance: std::sync::Mutex<Option<Glance>>,
}

fn icon(g: Glance) -> Image<'static> {
    Image::new_owned(icons::rgba(g), icons::SIZE, icons::SIZE)
}

/// The actions both menus offer. Each menu gets its own items (an item belongs to one menu),
/// made here so that the two never differ.
struct Actions {
    sync_now: MenuItem<Wry>,
    pause: MenuItem<Wry>,
    login: CheckMenuItem<Wry>,
    quit: MenuItem<Wry>,
}

impl Actions {
    /// `shortcuts`: the menu bar's keyboard shortcuts (a tray menu has none).
    fn new(app: &AppHandle, start_at_login: bool, shortcuts: bool) -> tauri::Result<Self> {
        let key = |k: &'static str| shortcuts.then_some(k);
        Ok(Self {
            sync_now: MenuItem::with_id(app, SYNC_NOW, "Sync now", true, key("CmdOrCtrl+R"))?,
            pause: MenuItem::with_id(app, PAUSE, "Pause syncing", true, None::<&str>)?,
            login: CheckMenuItem::with_id(
                app,
                START_AT_LOGIN,
                "Start at login",
                true,
                start_at_login,
                None::<&str>,
            )?,
            quit: MenuItem::with_id(app, QUIT, "Quit", true, key("CmdOrCtrl+Q"))?,
        })
    }
}

/// The window's menu bar.
pub fn window_menu(
    app: &AppHandle,
    start_at_login: bool,
) -> tauri::Result<(Menu<Wry>, MenuItem<Wry>, CheckMenuItem<Wry>)> {
    let a = Actions::new(app, start_at_login, true)?;
    let file = Submenu::with_items(
        app,
        "dotsync",
        true,
        &[
            &a.sync_now,
            &a.pause,
            &PredefinedMenuItem::separator(app)?,
            &a.login,
            &PredefinedMenuItem::separator(app)?,
            &a.quit,
        ],
    )?;
    Ok((Menu::with_items(app, &[&file])?, a.pause, a.login))
}

/// Builds the tray (when the desktop has one) and keeps the items of both menus.
pub fn install(
    app: &AppHandle,
    icon_dir: std::path::PathBuf,
    start_at_login: bool,
    window_pause: MenuItem<Wry>,
    window_login: CheckMenuItem<Wry>,
) -> tauri::Result<Menus> {
    let status = MenuItem::with_id(app, "status", "Connecting…", false, None::<&str>)?;
    let a = Actions::new(app, start_at_login, false)?;
    let menu = Menu::with_items(
        app,
        &[
            &status,
            &PredefinedMenuItem::separator(app)?,
            &a.sync_now,
            &a.pause,
            &MenuItem::with_id(app, OPEN, "Open dotsync", true, None::<&str>)?,
            &PredefinedMenuItem::separator(app)?,
            &a.login,
            &a.quit,
        ],
    )?;
    let tray = TrayIconBuilder::with_id("dotsync")
        .icon(icon(Glance::Offline))
        .tooltip("dotsync")
        .menu(&menu)
        .show_menu_on_left_click(true)
        // On Linux the tray takes its icon from a file: this user's, not a shared /tmp.
        .temp_dir_path(icon_dir)
        .build(app)
        .map_err(|e| {
            tracing::warn!("no tray icon on this desktop ({e}); the window has every action")
        })
        .ok();
    Ok(Menus {
        tray,
        tray_status: status,
        pauses: vec![a.pause, window_pause],
        logins: vec![a.login, window_login],
        glance: std::sync::Mutex::new(None),
    })
}

impl Menus {
    /// Shows the state: the tray's icon, tooltip and first line, and *Pause*/*Resume*.
    pub fn show(&self, glance: Glance, text: &str, paused: bool) {
        let mut last = self
            .glance
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(t) = &self.tray {
            if *last != Some(glance) {
                let _ = t.set_icon(Some(icon(glance)));
            }
            let _ = t.set_tooltip(Some(format!("dotsync: {text}")));
        }
        *last = Some(glance);
        let _ = self.tray_status.set_text(text);
        for p in &self.pauses {
            let _ = p.set_text(if paused {
                "Resume syncing"
            } else {
                "Pause syncing"
            });
        }
    }

    pub fn set_start_at_login(&self, on: bool) {
        for l in &self.logins {
            let _ = l.set_checked(on);
        }
    }

    /// Whether the desktop took the tray icon.
    pub fn has_tray(&self) -> bool {
        self.tray.is_some()
    }

    /// The tray's texts, for the test hook.
    pub fn texts(&self) -> Vec<String> {
        let mut out = vec![self.tray_status.text().unwrap_or_default()];
        out.extend(self.pauses.first().and_then(|p| p.text().ok()));
        out
    }
}

/// Shows and focuses the window.
pub fn open_window(app: &AppHandle) {
    if let Some(w) = app.get_webview_window("main") {
        let _ = w.show();
        let _ = w.unminimize();
        let _ = w.set_focus();
    }
}

/// Runs a menu item (from the tray, the menu bar or the test hook). Slow work runs on a thread;
/// the monitor is woken after, so the tray shows the result.
pub fn run(app: &AppHandle, shared: &Arc<Shared>, id: &str) {
    shared.hook_event(serde_json::json!({"kind": "menu", "id": id}));
    match id {
        SYNC_NOW | PAUSE => {
            let online = shared.guard().phase == Phase::Online;
            if !online {
                shared.notify(
                    "dotsync is not running",
                    "Open dotsync to start it; nothing can sync until it runs.",
                );
                return;
            }
            let me = Arc::clone(shared);
            let id = id.to_owned();
            std::thread::spawn(move || {
                let r = if id == SYNC_NOW {
                    me.backend.sync_all()
                } else {
                    let paused = me.guard().seen.as_ref().is_some_and(|s| s.paused);
                    me.backend.set_paused(!paused)
                };
                if let Err(e) = r {
                    me.notify("dotsync: the sync failed", &e.to_string());
                }
                me.wake();
            });
        }
        OPEN => open_window(app),
        START_AT_LOGIN => {
            let on = !shared
                .file
                .load()
                .map(|c| c.start_at_login)
                .unwrap_or(false);
            crate::set_start_at_login(shared, on);
        }
        QUIT => app.exit(0),
        _ => {}
    }
}
