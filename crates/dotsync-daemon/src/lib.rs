//! The dotsync daemon: the `/v1` HTTP API over the state store and the sync engine.
//!
//! [`App`] is everything a request handler needs. [`App::router`] builds the API as an axum
//! router; the CLI runs that same router in-process when no daemon is running, and
//! [`serve`] binds it to a loopback socket and starts the background work (watching, schedules).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::HeaderMap;
use dotsync_state::{Layout, Store};

mod background;
mod conn;
pub mod coordinator;
pub mod error;
pub mod events;
mod json;
mod memory;
mod notify;
mod openapi;
mod pause;
pub mod recent;
mod routes;
mod schedule;
mod security;
mod watch;

pub use notify::NotifyOptions;
pub use openapi::document as openapi_document;
pub use security::is_loopback_host;

/// Shared state of every request.
#[derive(Clone)]
pub struct App {
    inner: Arc<AppInner>,
}

pub struct AppInner {
    pub layout: Layout,
    pub store: Arc<Store>,
    /// The home directory that config paths resolve against (`$HOME` at start).
    pub home: PathBuf,
    token: String,
    pub events: events::Hub,
    pub started: Instant,
    pub engine: Arc<dotsync_engine::Engine>,
    /// Decides when configs sync; see [`coordinator::Coordinator`].
    pub sync: coordinator::Coordinator,
    /// The web app's login codes and sessions; see `routes/session.rs`.
    pub(crate) sessions: routes::session::Sessions,
    /// Pokes between machines; see `notify/`.
    pub(crate) notify: notify::Notifier,
    /// The recent sync lines (`GET /v1/log`).
    pub recent: recent::Recent,
    /// What the watcher vouches for, so a sync of an untouched config need not walk it.
    pub(crate) quiet: watch::Quiet,
    /// Opened for one CLI command ([`App::open_in_process`]): no one can subscribe to its
    /// events, and its memory goes back with the process.
    pub(crate) short_lived: bool,
}

impl std::ops::Deref for App {
    type Target = AppInner;
    fn deref(&self) -> &AppInner {
        &self.inner
    }
}

/// Errors of starting the daemon or the in-process API.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Layout(#[from] dotsync_state::LayoutError),
    #[error(transparent)]
    Store(#[from] dotsync_state::StoreError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "refusing to listen on {0}: dotsync listens on loopback only (127.0.0.1, [::1] or localhost)"
    )]
    NotLoopback(String),
}

impl App {
    /// Opens the state (creating it on first start). The caller must hold the state lock.
    pub fn open(layout: Layout, home: PathBuf) -> Result<Self, StartError> {
        Self::open_with(layout, home, false)
    }

    /// Opens the state for one CLI command run without a daemon: the same API, but no event
    /// stream is kept (the status events a daemon publishes around a sync are not computed)
    /// and memory is not handed back to the system after a sync (the process ends).
    pub fn open_in_process(layout: Layout, home: PathBuf) -> Result<Self, StartError> {
        Self::open_with(layout, home, true)
    }

    fn open_with(layout: Layout, home: PathBuf, short_lived: bool) -> Result<Self, StartError> {
        layout.ensure()?;
        let token = layout.load_or_create_token()?;
        let store = Arc::new(Store::open(&layout.db_path())?);
        let engine = Arc::new(dotsync_engine::Engine::new(
            layout.clone(),
            store.clone(),
            home.clone(),
        )?);
        let sync = coordinator::Coordinator::default();
        sync.set_paused(pause::Paused::load(&pause::Paused::path(&layout)));
        let recent =
            recent::Recent::open(layout.state_dir().join("recent.jsonl"), engine.machine());
        Ok(Self {
            inner: Arc::new(AppInner {
                engine,
                layout,
                store,
                home,
                token,
                events: events::Hub::default(),
                started: Instant::now(),
                sync,
                sessions: routes::session::Sessions::default(),
                notify: notify::Notifier::default(),
                recent,
                quiet: watch::Quiet::default(),
                short_lived,
            }),
        })
    }

    /// Whether a request carries valid credentials: the bearer token, or the web app's session
    /// cookie together with the matching CSRF header. A request that sends a bearer token is
    /// judged by it alone, so a wrong token is never rescued by a cookie.
    pub(crate) fn authorized(&self, headers: &HeaderMap) -> bool {
        match security::bearer(headers) {
            Some(t) => security::constant_time_eq(t.as_bytes(), self.token.as_bytes()),
            None => self.sessions.authorized(headers),
        }
    }

    /// The whole API (and, later, the web app) as one router, security checks included.
    pub fn router(&self) -> Router {
        routes::router()
            .layer(DefaultBodyLimit::max(json::MAX_BODY))
            .layer(axum::middleware::from_fn_with_state(
                self.clone(),
                security::guard,
            ))
            .with_state(self.clone())
    }
}

/// Options of [`serve_with`].
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The quiet period after a burst of file events before the burst becomes one sync.
    pub debounce: std::time::Duration,
    /// At most this many directories are watched with inotify; configs beyond fall back to
    /// rescans every interval (as when the kernel's own limit is hit).
    pub watch_limit: Option<usize>,
    /// How long shutdown waits for running syncs to reach a safe point.
    pub shutdown_grace: std::time::Duration,
    /// How long a connection may take to send a request's headers, counted from when it opened
    /// or from the end of its previous response: a half-sent request or an idle keep-alive
    /// connection is closed after it. A response being sent (such as the event stream) is not
    /// limited.
    pub header_read_timeout: std::time::Duration,
    /// At most this many connections are served at once (fewer if the open-file limit would not
    /// allow them). Past it, the connection idle the longest is closed to make room; when every
    /// one is busy, new ones wait.
    pub max_connections: usize,
    /// Pokes between machines: the listener, the relay.
    pub notify: NotifyOptions,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            debounce: std::time::Duration::from_millis(500),
            watch_limit: None,
            shutdown_grace: std::time::Duration::from_secs(60),
            header_read_timeout: std::time::Duration::from_secs(30),
            max_connections: 256,
            notify: NotifyOptions::default(),
        }
    }
}

/// Runs the daemon on `listener` until `shutdown` resolves, with default options.
pub async fn serve(
    app: App,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(app, listener, shutdown, ServeOptions::default()).await
}

/// Runs the daemon: the API on `listener`, and the background work (watching, schedules) that
/// only a daemon does. Connections are served as `conn.rs` describes: a header timeout, a cap
/// on open connections. When `shutdown` resolves: no new connection or sync is accepted, idle
/// connections are closed, running syncs are cancelled and reach a safe point (between two
/// files, never mid-write), open streams end, and this returns.
pub async fn serve_with(
    app: App,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    opts: ServeOptions,
) -> std::io::Result<()> {
    let background = background::Background::start(
        &app,
        watch::WatchOptions {
            debounce: opts.debounce,
            limit: opts.watch_limit,
        },
        &opts.notify,
    );
    let router = app.router();
    let app2 = app.clone();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let limits = conn::Limits {
        header_read_timeout: opts.header_read_timeout,
        max_connections: opts.max_connections,
    };
    let server = async move {
        let signal = async move {
            shutdown.await;
            tracing::debug!("no new syncs; running ones stop at a safe point");
            app2.sync.begin_shutdown();
            let _ = stop_tx.send(true);
        };
        tokio::join!(conn::run(listener, router, limits, stop_rx), signal);
    };
    // Streams end when their sync does; a sync that does not stop in time is not waited for
    // forever.
    let mut stopping = app.sync.shutdown_signal();
    let grace = async move {
        let _ = stopping.wait_for(|s| *s).await;
        tokio::time::sleep(opts.shutdown_grace).await;
    };
    tokio::select! {
        () = server => {}
        () = grace => {}
    }
    // Syncs started by the watcher or the scheduler have no connection that waits for them.
    if !app.sync.wait_idle(opts.shutdown_grace).await {
        tracing::warn!(
            "a sync did not reach a safe point in time; it will run again at next start"
        );
    }
    background.stop().await;
    Ok(())
}

/// Checks that an address to listen on is a loopback one.
pub fn check_loopback(addr: &std::net::SocketAddr) -> Result<(), StartError> {
    if addr.ip().is_loopback() {
        Ok(())
    } else {
        Err(StartError::NotLoopback(addr.to_string()))
    }
}
