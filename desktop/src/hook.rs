//! The app's test hook, on only when `DOTSYNC_DESKTOP_TEST_HOOK` names a directory: what the
//! app does is appended there to `events.jsonl` (tray states, notifications, pages), and
//! `control.sock` takes one command per connection (`menu ID` runs a menu item as a click on it
//! would; `tray` answers the tray's state and menu texts). It lets the end-to-end test click the
//! tray menu, which no WebDriver can reach, and see the notifications it sent.

use std::io::{BufRead as _, BufReader, Write as _};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::sync::Mutex;

/// The hook's directory, when on.
pub struct Hook {
    dir: PathBuf,
    events: Mutex<()>,
}

impl Hook {
    pub fn from_env() -> Option<Self> {
        let dir = PathBuf::from(std::env::var_os("DOTSYNC_DESKTOP_TEST_HOOK")?);
        dir.is_dir().then(|| Self {
            dir,
            events: Mutex::new(()),
        })
    }

    /// Appends one event line.
    pub fn event(&self, value: &serde_json::Value) {
        let _guard = self.events.lock();
        let line = format!("{value}\n");
        let _ = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("events.jsonl"))
            .and_then(|mut f| f.write_all(line.as_bytes()));
    }

    /// Serves `control.sock` on a thread: each connection sends one line and gets one line.
    pub fn serve(&self, answer: impl Fn(&str) -> String + Send + 'static) {
        let path = self.dir.join("control.sock");
        let _ = std::fs::remove_file(&path);
        let listener = match UnixListener::bind(&path) {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!("test hook: cannot listen on {}: {e}", path.display());
                return;
            }
        };
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut line = String::new();
                if BufReader::new(&stream).read_line(&mut line).is_err() {
                    continue;
                }
                let reply = answer(line.trim());
                let _ = (&stream).write_all(format!("{reply}\n").as_bytes());
            }
        });
    }
}
