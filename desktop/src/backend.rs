//! Talking to the daemon (the backend) over its HTTP API on loopback.
//!
//! The app reads the daemon's bearer token from `~/.dotsync/state/token` (the same user's file)
//! and uses it only here, in the app's own process. The window never sees it: it is signed in
//! with a one-time login code the daemon trades for a session cookie, as `dotsync ui` does.

use std::io::{BufRead as _, BufReader, Read as _};
use std::time::Duration;

use serde::Deserialize;

/// Why a call to the daemon failed.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// Nothing answers at the address: the daemon is not running (or listens elsewhere).
    #[error("no dotsync daemon answers at {addr} ({why})")]
    Unreachable { addr: String, why: String },
    /// The daemon has never run on this machine under this `DOTSYNC_HOME`, so there is no token.
    #[error("dotsync has no API token yet in {path}; it is created when the daemon first starts")]
    NoToken { path: String },
    /// The daemon refused the token: it belongs to another `DOTSYNC_HOME`.
    #[error(
        "the daemon at {addr} refused this machine's token; it runs with another DOTSYNC_HOME, \
         or another program listens there"
    )]
    Refused { addr: String },
    #[error("the daemon answered {call} with {status}: {message}")]
    Status {
        call: String,
        status: u16,
        message: String,
    },
    #[error("cannot read the daemon's answer to {call}: {why}")]
    Answer { call: String, why: String },
    #[error(transparent)]
    State(#[from] dotsync_state::LayoutError),
}

/// Per config, what `GET /v1/status` says (the fields the app shows).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct ConfigStatus {
    pub id: String,
    pub name: String,
    pub state: String,
    pub last_sync: Option<i64>,
    pub last_error: Option<String>,
    pub last_error_kind: Option<String>,
    #[serde(default)]
    pub conflicts: u64,
    #[serde(default)]
    pub paused: bool,
    #[serde(default)]
    pub failed_files: Vec<FailedFile>,
    pub commit: Option<String>,
    #[serde(default)]
    pub pending_changes: u64,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct FailedFile {
    pub path: String,
    pub reason: String,
}

/// `GET /v1/status`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Status {
    pub paused: bool,
    pub machine: String,
    pub configs: Vec<ConfigStatus>,
}

/// One open conflict (`GET /v1/conflicts`).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Conflict {
    pub config: String,
    pub config_id: String,
    pub path: String,
    pub remote_machine: Option<String>,
}

/// One file of a config and its state (`GET /v1/files`).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct FileState {
    pub path: String,
    pub state: String,
}

/// The daemon at one address, with this machine's token.
#[derive(Clone)]
pub struct Backend {
    pub addr: String,
    layout: dotsync_state::Layout,
    agent: ureq::Agent,
}

impl Backend {
    pub fn new(addr: String, layout: dotsync_state::Layout) -> Self {
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(2))
            .timeout_read(Duration::from_secs(30))
            .redirects(0)
            .build();
        Self {
            addr,
            layout,
            agent,
        }
    }

    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn token(&self) -> Result<String, BackendError> {
        self.layout
            .read_token()?
            .ok_or_else(|| BackendError::NoToken {
                path: self.layout.token_path().display().to_string(),
            })
    }

    /// Whether a dotsync daemon answers at the address (no token needed).
    pub fn healthy(&self) -> bool {
        #[derive(Deserialize)]
        struct Health {
            status: String,
        }
        let url = format!("{}/v1/health", self.base());
        self.agent
            .get(&url)
            .timeout(Duration::from_secs(2))
            .call()
            .ok()
            .and_then(|r| r.into_json::<Health>().ok())
            .is_some_and(|h| h.status == "ok")
    }

    fn call(
        &self,
        method: &str,
        path: &str,
        timeout: Duration,
    ) -> Result<ureq::Response, BackendError> {
        let token = self.token()?;
        let call = format!("{method} {path}");
        let req = self
            .agent
            .request(method, &format!("{}{path}", self.base()))
            .timeout(timeout)
            .set("Authorization", &format!("Bearer {token}"));
        match req.call() {
            Ok(r) => Ok(r),
            Err(ureq::Error::Status(401, _)) => Err(BackendError::Refused {
                addr: self.addr.clone(),
            }),
            Err(ureq::Error::Status(status, r)) => {
                #[derive(Deserialize)]
                struct Body {
                    error: Inner,
                }
                #[derive(Deserialize)]
                struct Inner {
                    message: String,
                }
                let message = r
                    .into_json::<Body>()
                    .map(|b| b.error.message)
                    .unwrap_or_else(|_| "no message".to_owned());
                Err(BackendError::Status {
                    call,
                    status,
                    message,
                })
            }
            Err(ureq::Error::Transport(t)) => Err(BackendError::Unreachable {
                addr: self.addr.clone(),
                why: t.to_string(),
            }),
        }
    }

    fn json<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, BackendError> {
        self.call("GET", path, Duration::from_secs(10))?
            .into_json()
            .map_err(|e| BackendError::Answer {
                call: format!("GET {path}"),
                why: e.to_string(),
            })
    }

    pub fn status(&self) -> Result<Status, BackendError> {
        self.json("/v1/status")
    }

    pub fn conflicts(&self) -> Result<Vec<Conflict>, BackendError> {
        self.json("/v1/conflicts")
    }

    pub fn files(&self, config_id: &str) -> Result<Vec<FileState>, BackendError> {
        self.json(&format!("/v1/files?config={config_id}"))
    }

    /// A one-time sign-in link for the window (`POST /v1/session/code`): the daemon trades it
    /// for a session cookie, so the page never holds the token.
    pub fn login_url(&self) -> Result<String, BackendError> {
        #[derive(Deserialize)]
        struct Code {
            path: String,
        }
        let code: Code = self
            .call("POST", "/v1/session/code", Duration::from_secs(10))?
            .into_json()
            .map_err(|e| BackendError::Answer {
                call: "POST /v1/session/code".into(),
                why: e.to_string(),
            })?;
        Ok(format!("{}{}", self.base(), code.path))
    }

    /// `POST /v1/sync`: syncs every config, reading the stream of the run to its end. Returns
    /// the error of the run's last line, if any.
    pub fn sync_all(&self) -> Result<(), BackendError> {
        let r = self.call("POST", "/v1/sync", Duration::from_secs(600))?;
        let mut failure = None;
        for line in BufReader::new(r.into_reader()).lines() {
            let line = line.map_err(|e| BackendError::Answer {
                call: "POST /v1/sync".into(),
                why: e.to_string(),
            })?;
            // Each config's run ends with a summary line; a failed one says why.
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line)
                && v.get("type").and_then(|t| t.as_str()) == Some("summary")
                && v.get("ok").and_then(serde_json::Value::as_bool) == Some(false)
            {
                let name = v
                    .get("config")
                    .and_then(|m| m.as_str())
                    .unwrap_or("a config");
                let why = v
                    .get("error")
                    .and_then(|m| m.as_str())
                    .unwrap_or("no reason given");
                failure = Some(format!("{name}: {why}"));
            }
        }
        match failure {
            Some(message) => Err(BackendError::Status {
                call: "POST /v1/sync".into(),
                status: 200,
                message,
            }),
            None => Ok(()),
        }
    }

    /// `POST /v1/pause` or `POST /v1/resume` for every config.
    pub fn set_paused(&self, paused: bool) -> Result<(), BackendError> {
        let path = if paused { "/v1/pause" } else { "/v1/resume" };
        let mut r = self
            .call("POST", path, Duration::from_secs(10))?
            .into_reader();
        let _ = std::io::copy(&mut r, &mut std::io::sink());
        Ok(())
    }

    /// Follows `GET /v1/events` and calls `wake` on every event, until the stream ends.
    pub fn follow_events(&self, mut wake: impl FnMut()) -> Result<(), BackendError> {
        let token = self.token()?;
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(2))
            .build();
        let r = agent
            .get(&format!("{}/v1/events", self.base()))
            .set("Authorization", &format!("Bearer {token}"))
            .set("Accept", "text/event-stream")
            .call()
            .map_err(|e| BackendError::Unreachable {
                addr: self.addr.clone(),
                why: e.to_string(),
            })?;
        let mut reader = BufReader::new(r.into_reader().take(u64::MAX));
        let mut line = String::new();
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return Ok(()),
                Ok(_) if line.starts_with("data:") => wake(),
                Ok(_) => {}
            }
        }
    }
}
