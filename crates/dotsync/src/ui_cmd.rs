//! `dotsync ui`: opens the web app in a browser, signed in.
//!
//! The CLI asks the running daemon (with the bearer token) for a one-time login code and opens
//! `http://ADDR/v1/session/login?code=...`; the daemon trades the code for a session cookie and
//! shows the app. The code works once and for a minute, so a link left in a terminal's
//! scrollback or a browser's history is useless afterwards.

use std::process::{Command, Stdio};

use anyhow::Result;
use dotsync_api::LoginCode;

use crate::client::Client;
use crate::error::CommandError;
use crate::out::outln;

pub fn run(print: bool) -> Result<()> {
    let client = Client::connect()?;
    let base = match &client {
        Client::Http { base, .. } => base.clone(),
        Client::InProcess { .. } => {
            return Err(CommandError::user(
                "the dotsync daemon is not running, and the app needs it: it serves the app and \
                 keeps the session",
            )
            .hint("start it with `dotsync daemon` (or your service manager), then run `dotsync ui` again")
            .into());
        }
    };
    let login: LoginCode = client.post_empty("/v1/session/code")?;
    let url = format!("{base}{}", login.path);
    let expires = login.expires_in_s;
    if print {
        outln!("{url}")?;
        eprintln!("open this link within {expires} s; it signs in once");
        return Ok(());
    }
    match open_browser(&url) {
        Ok(()) => eprintln!("opened the dotsync app in your browser"),
        Err(why) => {
            eprintln!("could not open a browser ({why}); open this link within {expires} s:");
            outln!("{url}")?;
        }
    }
    Ok(())
}

/// Hands the URL to the desktop's opener (`open` on macOS, `xdg-open` elsewhere).
fn open_browser(url: &str) -> std::result::Result<(), String> {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    let status = Command::new(opener)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| format!("{opener}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{opener} exited with {status}"))
    }
}
