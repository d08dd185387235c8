//! How the CLI reaches the API: over HTTP to a running daemon, or, when none runs, through the
//! daemon's own router in this process while holding the state lock. Either way every command
//! goes through the same `/v1` routes, checks and errors.

use std::io::Read;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use dotsync_api::{ErrorBody, ErrorCode};
use dotsync_state::{Layout, LayoutError, StateLock};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

pub const DEFAULT_ADDR: &str = "127.0.0.1:11000";

/// A response: status and a body that can be read as it streams.
pub struct Response {
    pub status: u16,
    pub body: Box<dyn Read + Send>,
}

impl Response {
    /// The body as JSON, exactly as sent (for `--json`); an empty body is `null`.
    pub fn json(self) -> Result<Value> {
        self.read()
    }

    /// The body read into a wire type of `dotsync-api`. An answer of another shape (a daemon
    /// of another version) is an internal error naming what did not fit.
    pub fn read<T: DeserializeOwned>(mut self) -> Result<T> {
        let mut s = String::new();
        self.body.read_to_string(&mut s)?;
        let text = if s.is_empty() { "null" } else { s.as_str() };
        serde_json::from_str(text).map_err(|e| {
            anyhow::Error::from(crate::error::CommandError::new(
                crate::error::Kind::Internal,
                anyhow!("the daemon's answer does not read as this dotsync's API ({e}): {s}"),
            ))
        })
    }
}

pub enum Client {
    Http {
        base: String,
        token: String,
        agent: ureq::Agent,
    },
    InProcess {
        rt: tokio::runtime::Runtime,
        router: axum::Router,
        token: String,
        _lock: StateLock,
    },
}

/// An API error, as the daemon described it.
#[derive(Debug)]
pub struct ApiFailure {
    pub status: u16,
    pub code: ErrorCode,
    pub message: String,
    pub field: Option<String>,
}

/// The daemon holds the state lock, but nothing answers at its address.
#[derive(Debug)]
pub struct Unreachable {
    pub base: String,
    pub detail: String,
}

impl Unreachable {
    #[allow(
        clippy::unused_self,
        reason = "the hint belongs to the error it explains"
    )]
    pub fn hint(&self) -> String {
        "its state lock is held, so it should be running; check `dotsync daemon`'s log, or set \
         DOTSYNC_ADDR"
            .to_owned()
    }
}

impl std::fmt::Display for Unreachable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "cannot reach the dotsync daemon at {}: {}",
            self.base, self.detail
        )
    }
}
impl std::error::Error for Unreachable {}

impl std::fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.field {
            Some(field) => write!(f, "{field}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}
impl std::error::Error for ApiFailure {}

impl Client {
    /// Connects to the daemon of this `DOTSYNC_HOME`, or opens the state in-process.
    pub fn connect() -> Result<Self> {
        let layout = Layout::from_env()?;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match layout.try_lock() {
                Ok(lock) => return Self::in_process(layout, lock),
                Err(LayoutError::Locked { holder, .. }) => {
                    let addr = std::env::var("DOTSYNC_ADDR")
                        .ok()
                        .filter(|a| !a.is_empty())
                        .or_else(|| holder.as_ref().and_then(|h| h.addr.clone()));
                    if let Some(addr) = addr {
                        let token = layout.read_token()?.ok_or_else(|| {
                            anyhow!(
                                "the daemon's token file {} is missing",
                                layout.token_path().display()
                            )
                        })?;
                        return Ok(Self::http(&addr, token));
                    }
                    // Another CLI command holds the state for a moment; wait for it.
                    if Instant::now() > deadline {
                        bail!(LayoutError::Locked {
                            state: layout.state_dir(),
                            holder
                        });
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    fn http(addr: &str, token: String) -> Self {
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(5))
            .build();
        Client::Http {
            base: format!("http://{addr}"),
            token,
            agent,
        }
    }

    fn in_process(layout: Layout, lock: StateLock) -> Result<Self> {
        let home = dotsync_state::home_dir()?;
        let app = dotsync_daemon::App::open_in_process(layout, home)?;
        let token = app.layout.load_or_create_token()?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .context("cannot start the async runtime")?;
        let router = app.router();
        Ok(Client::InProcess {
            rt,
            router,
            token,
            _lock: lock,
        })
    }

    /// Sends a request; 4xx and 5xx answers become [`ApiFailure`] errors.
    pub fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> Result<Response> {
        let payload = body.map(serde_json::to_vec).transpose()?;
        let resp = self.raw(method, path, payload)?;
        if resp.status >= 400 {
            let status = resp.status;
            let failure = match resp.read::<ErrorBody>() {
                Ok(b) => ApiFailure {
                    status,
                    code: b.error.code,
                    message: b.error.message,
                    field: b.error.field,
                },
                Err(_) => ApiFailure {
                    status,
                    code: if status >= 500 {
                        ErrorCode::Internal
                    } else {
                        ErrorCode::Unknown
                    },
                    message: format!("the daemon answered HTTP {status}"),
                    field: None,
                },
            };
            return Err(failure.into());
        }
        Ok(resp)
    }

    /// `GET path`, read into a wire type.
    pub fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        self.call("GET", path, None::<&()>)?.read()
    }

    /// `GET path` as the JSON the daemon sent (for `--json`).
    pub fn get_json(&self, path: &str) -> Result<Value> {
        self.call("GET", path, None::<&()>)?.json()
    }

    /// `POST path` with a JSON body, the answer read into a wire type.
    pub fn post<T: DeserializeOwned>(&self, path: &str, body: &impl Serialize) -> Result<T> {
        self.call("POST", path, Some(body))?.read()
    }

    /// `POST path` without a body, the answer read into a wire type.
    pub fn post_empty<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        self.call("POST", path, None::<&()>)?.read()
    }

    /// The running daemon's address; `None` when the API runs in this process.
    pub fn addr(&self) -> Option<&str> {
        match self {
            Client::Http { base, .. } => Some(base.trim_start_matches("http://")),
            Client::InProcess { .. } => None,
        }
    }

    fn raw(&self, method: &str, path: &str, payload: Option<Vec<u8>>) -> Result<Response> {
        match self {
            Client::Http { base, token, agent } => {
                let mut req = agent
                    .request(method, &format!("{base}{path}"))
                    .set("Authorization", &format!("Bearer {token}"));
                let sent = match payload {
                    Some(p) => {
                        req = req.set("Content-Type", "application/json");
                        req.send_bytes(&p)
                    }
                    None => req.call(),
                };
                match sent {
                    Ok(r) => Ok(Response {
                        status: r.status(),
                        body: Box::new(r.into_reader()),
                    }),
                    Err(ureq::Error::Status(status, r)) => Ok(Response {
                        status,
                        body: Box::new(r.into_reader()),
                    }),
                    Err(ureq::Error::Transport(t)) => Err(Unreachable {
                        base: base.clone(),
                        detail: t.to_string(),
                    }
                    .into()),
                }
            }
            Client::InProcess {
                rt, router, token, ..
            } => {
                use tower::ServiceExt;
                let mut req = axum::http::Request::builder()
                    .method(method)
                    .uri(path)
                    .header("host", "127.0.0.1")
                    .header("authorization", format!("Bearer {token}"));
                if payload.is_some() {
                    req = req.header("content-type", "application/json");
                }
                let req = req.body(axum::body::Body::from(payload.unwrap_or_default()))?;
                let router = router.clone();
                let resp = rt
                    .block_on(router.oneshot(req))
                    .map_err(|e| anyhow!("in-process request failed: {e}"))?;
                let status = resp.status().as_u16();
                let (tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
                let mut stream = resp.into_body().into_data_stream();
                rt.spawn(async move {
                    use futures_util::StreamExt;
                    while let Some(Ok(chunk)) = stream.next().await {
                        if tx.send(chunk.to_vec()).is_err() {
                            break;
                        }
                    }
                });
                Ok(Response {
                    status,
                    body: Box::new(ChannelReader {
                        rx,
                        buf: Vec::new(),
                        pos: 0,
                    }),
                })
            }
        }
    }
}

struct ChannelReader {
    rx: std::sync::mpsc::Receiver<Vec<u8>>,
    buf: Vec<u8>,
    pos: usize,
}

impl Read for ChannelReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.pos >= self.buf.len() {
            match self.rx.recv() {
                Ok(chunk) => {
                    self.buf = chunk;
                    self.pos = 0;
                }
                Err(_) => return Ok(0),
            }
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}
