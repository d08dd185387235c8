//! Starting the backend when none answers: `dotsync daemon --addr ADDR`, detached, its output in
//! `~/.dotsync/state/daemon-desktop.log`. The daemon outlives the app (quitting the app does not
//! stop syncing); `dotsync service install` makes it start at login instead.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::backend::Backend;

/// The `dotsync` binary: `$DOTSYNC_BIN`, else the one installed beside the app (the .deb puts
/// both in `/usr/bin`), else the first on `PATH`.
pub fn find_cli() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("DOTSYNC_BIN").map(PathBuf::from) {
        return p.is_file().then_some(p);
    }
    let beside = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(|d| d.join("dotsync")))
        .filter(|p| p.is_file());
    beside.or_else(|| {
        std::env::var_os("PATH").and_then(|path| {
            std::env::split_paths(&path)
                .map(|d| d.join("dotsync"))
                .find(|p| p.is_file())
        })
    })
}

/// Why the backend could not be started.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error(
        "the dotsync command is not installed (not beside the app, not on PATH); install it \
         with the dotsync package, or set DOTSYNC_BIN to its path"
    )]
    NoCli,
    #[error("cannot start {cli}: {source}")]
    Spawn {
        cli: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`dotsync daemon` stopped at once ({status}); its log says:\n{log}")]
    Exited { status: String, log: String },
    #[error("`dotsync daemon` started but did not answer at {addr} within {secs} s; see {log}")]
    Silent {
        addr: String,
        secs: u64,
        log: String,
    },
}

/// Starts `dotsync daemon` on the backend's address and waits until it answers.
pub fn start_daemon(backend: &Backend, state_dir: &Path) -> Result<(), LaunchError> {
    let cli = find_cli().ok_or(LaunchError::NoCli)?;
    let log_path = state_dir.join("daemon-desktop.log");
    let open_log = || {
        std::fs::create_dir_all(state_dir)?;
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
    };
    let spawn_err = |source| LaunchError::Spawn {
        cli: cli.display().to_string(),
        source,
    };
    let log = open_log().map_err(spawn_err)?;
    let log2 = log.try_clone().map_err(spawn_err)?;
    let start_len = log.metadata().map(|m| m.len()).unwrap_or(0);
    let mut cmd = Command::new(&cli);
    cmd.args(["daemon", "--addr", &backend.addr])
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2);
    // Its own process group: a terminal's Ctrl-C or the app's exit does not stop syncing.
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let mut child = cmd.spawn().map_err(spawn_err)?;
    let secs = 20;
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if backend.healthy() {
            // Reap it when it exits, so it never lingers as a zombie of the app.
            std::thread::spawn(move || child.wait());
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            let text = std::fs::read(&log_path).unwrap_or_default();
            let tail = String::from_utf8_lossy(text.get(start_len as usize..).unwrap_or(&[]))
                .trim()
                .to_owned();
            return Err(LaunchError::Exited {
                status: status.to_string(),
                log: tail,
            });
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::spawn(move || child.wait());
    Err(LaunchError::Silent {
        addr: backend.addr.clone(),
        secs,
        log: log_path.display().to_string(),
    })
}

/// `dotsync service install`: the daemon as a user service that starts at login.
pub fn install_service() -> Result<String, String> {
    let cli = find_cli().ok_or_else(|| LaunchError::NoCli.to_string())?;
    let out = Command::new(&cli)
        .args(["service", "install"])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", cli.display()))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        Ok(text.trim().to_owned())
    } else {
        Err(text.trim().to_owned())
    }
}
