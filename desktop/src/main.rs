//! dotsync's desktop app: a window on the web app the daemon serves, signed in by itself, a
//! tray icon with the state at a glance, and desktop notifications for what needs the person.
//!
//! The app holds no sync logic. It finds the daemon at the `backend_addr` of `~/.dotsync/config`
//! (default `127.0.0.1:11000`), starts `dotsync daemon` when none answers, and signs the window
//! in with a one-time code (the token stays in this process). A local page (`local/`) shows
//! what it last saw while the daemon is unreachable.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

mod app;
mod autostart;
mod backend;
mod frontend;
mod glance;
mod hook;
mod icons;
mod launch;
mod menus;

use std::sync::Arc;

use tauri::{Manager as _, WebviewUrl, WebviewWindowBuilder};

use app::{Phase, Shared};

/// Turns "start at login" on or off: the autostart entry and the frontend's file agree.
pub(crate) fn set_start_at_login(shared: &Shared, on: bool) {
    let entry = autostart_entry(shared);
    let exe = std::env::current_exe().unwrap_or_else(|_| "dotsync-desktop".into());
    if let Err(e) = autostart::set(&entry, &exe, on) {
        shared.notify(
            "dotsync cannot change Start at login",
            &format!("{}: {e}", entry.display()),
        );
        return;
    }
    if let Err(e) = shared.file.set_start_at_login(on) {
        tracing::warn!("cannot keep Start at login in the config: {e}");
    }
    if let Some(m) = shared
        .menus
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .as_ref()
    {
        m.set_start_at_login(on);
    }
    shared.hook_event(serde_json::json!({"kind": "start_at_login", "on": on, "entry": entry}));
}

fn autostart_entry(shared: &Shared) -> std::path::PathBuf {
    let xdg = std::env::var_os("XDG_CONFIG_HOME").map(std::path::PathBuf::from);
    autostart::entry_path(&shared.home, xdg.as_deref())
}

/// What the local page shows.
#[derive(serde::Serialize)]
struct LocalState {
    #[serde(flatten)]
    phase: Phase,
    addr: String,
    glance: glance::Glance,
    headline: String,
    last_seen: Option<glance::LastSeen>,
    config_file: String,
}

#[tauri::command]
fn local_state(shared: tauri::State<'_, Arc<Shared>>) -> LocalState {
    let (glance, headline) = shared.headline();
    let inner = shared.guard();
    LocalState {
        phase: inner.phase.clone(),
        addr: shared.backend.addr.clone(),
        glance,
        headline,
        last_seen: inner.seen.clone(),
        config_file: shared.file.path().display().to_string(),
    }
}

/// "Start dotsync": starts the daemon on the next look.
#[tauri::command]
fn start_backend(shared: tauri::State<'_, Arc<Shared>>) {
    {
        let mut inner = shared.guard();
        inner.may_start = true;
        inner.phase = Phase::Connecting;
    }
    shared.wake();
}

/// "Try again".
#[tauri::command]
fn retry(shared: tauri::State<'_, Arc<Shared>>) {
    shared.guard().phase = Phase::Connecting;
    shared.wake();
}

/// "Install as a service": `dotsync service install`, then look again.
#[tauri::command]
async fn install_service(shared: tauri::State<'_, Arc<Shared>>) -> Result<String, String> {
    let out = tauri::async_runtime::spawn_blocking(launch::install_service)
        .await
        .map_err(|e| e.to_string())??;
    shared.wake();
    Ok(out)
}

#[tauri::command]
fn quit(app: tauri::AppHandle) {
    app.exit(0);
}

fn fail(why: &str) -> ! {
    #[allow(clippy::print_stderr)]
    {
        eprintln!("dotsync-desktop: {why}");
    }
    std::process::exit(1)
}

fn main() {
    tracing_subscriber_init();
    let hidden = std::env::args().any(|a| a == "--hidden");
    let layout = dotsync_state::Layout::from_env().unwrap_or_else(|e| fail(&e.to_string()));
    let home = dotsync_state::home_dir().unwrap_or_else(|e| fail(&e.to_string()));
    let file = frontend::ConfigFile::new(layout.frontend_config_path());
    let cfg = file.load().unwrap_or_else(|e| {
        tracing::warn!("{e}; using the defaults");
        frontend::DesktopConfig {
            backend_addr: frontend::DEFAULT_ADDR.to_owned(),
            notifications: true,
            start_at_login: false,
            last_seen: None,
        }
    });
    let backend = backend::Backend::new(cfg.backend_addr.clone(), layout.clone());
    let (shared, rx) = Shared::new(
        backend,
        layout,
        file,
        cfg.last_seen.clone(),
        cfg.notifications,
        home,
    );
    let start_at_login = cfg.start_at_login;

    let menu_shared = Arc::clone(&shared);
    let result = tauri::Builder::default()
        .plugin(tauri_plugin_single_instance::init(|app, _args, _cwd| {
            menus::open_window(app);
        }))
        .manage(Arc::clone(&shared))
        .invoke_handler(tauri::generate_handler![
            local_state,
            start_backend,
            retry,
            install_service,
            quit
        ])
        .on_menu_event(move |app, event| menus::run(app, &menu_shared, event.id().as_ref()))
        .setup(move |app| {
            let handle = app.handle().clone();
            let (menu, win_pause, win_login) = menus::window_menu(&handle, start_at_login)?;
            let window =
                WebviewWindowBuilder::new(app, "main", WebviewUrl::App("index.html".into()))
                    .title("dotsync")
                    .inner_size(1120.0, 780.0)
                    .min_inner_size(640.0, 480.0)
                    .visible(!hidden)
                    .menu(menu)
                    .build()?;
            *shared
                .local_url
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = window.url().ok();
            // The tray's icon files: the session's runtime directory, else dotsync's state.
            let icon_dir = std::env::var_os("XDG_RUNTIME_DIR")
                .map(std::path::PathBuf::from)
                .filter(|d| d.is_absolute() && d.is_dir())
                .map_or_else(
                    || shared.layout.state_dir().join("tray"),
                    |d| d.join("dotsync-tray"),
                );
            let menus = menus::install(&handle, icon_dir, start_at_login, win_pause, win_login)?;
            let has_tray = menus.has_tray();
            *shared
                .menus
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(menus);
            // With a tray, closing the window keeps the app (and its notifications) running.
            if has_tray {
                let w = window.clone();
                window.on_window_event(move |e| {
                    if let tauri::WindowEvent::CloseRequested { api, .. } = e {
                        api.prevent_close();
                        let _ = w.hide();
                    }
                });
            }
            // The file is the truth: an entry added or removed by hand follows it.
            let entry = autostart_entry(&shared);
            if autostart::is_set(&entry) != start_at_login {
                set_start_at_login(&shared, start_at_login);
            }
            shared.refresh_tray();
            if let Some(hook) = &shared.hook {
                let (h2, s2) = (handle.clone(), Arc::clone(&shared));
                hook.serve(move |cmd| hook_command(&h2, &s2, cmd));
                shared
                    .hook_event(serde_json::json!({"kind": "started", "pid": std::process::id()}));
            }
            let (h3, s3) = (handle, Arc::clone(&shared));
            std::thread::spawn(move || s3.monitor(h3, rx));
            Ok(())
        })
        .run(tauri::generate_context!());
    if let Err(e) = result {
        fail(&format!("cannot start the desktop app: {e}"));
    }
}

fn hook_command(app: &tauri::AppHandle, shared: &Arc<Shared>, cmd: &str) -> String {
    if let Some(id) = cmd.strip_prefix("menu ") {
        menus::run(app, shared, id);
        return "ok".into();
    }
    if cmd == "tray" {
        let (glance, text) = shared.headline();
        let texts = shared
            .menus
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
            .map(menus::Menus::texts)
            .unwrap_or_default();
        return serde_json::json!({"glance": glance, "text": text, "items": texts}).to_string();
    }
    if cmd == "window" {
        let visible = app
            .get_webview_window("main")
            .and_then(|w| w.is_visible().ok())
            .unwrap_or(false);
        return serde_json::json!({"visible": visible}).to_string();
    }
    format!("unknown command {cmd:?}")
}

fn tracing_subscriber_init() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(tracing::Level::WARN)
        .with_target(false)
        .init();
}
