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

pub mod error;
pub mod events;
mod json;
mod openapi;
mod routes;
mod security;

pub use openapi::ApiDoc;
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
        layout.ensure()?;
        let token = layout.load_or_create_token()?;
        let store = Arc::new(Store::open(&layout.db_path())?);
        let engine = Arc::new(dotsync_engine::Engine::new(
            layout.clone(),
            store.clone(),
            home.clone(),
        ));
        Ok(Self {
            inner: Arc::new(AppInner {
                engine,
                layout,
                store,
                home,
                token,
                events: events::Hub::default(),
                started: Instant::now(),
            }),
        })
    }

    /// Whether a request carries valid credentials.
    pub(crate) fn authorized(&self, headers: &HeaderMap) -> bool {
        security::bearer(headers)
            .is_some_and(|t| security::constant_time_eq(t.as_bytes(), self.token.as_bytes()))
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

/// Runs the daemon on `listener` until `shutdown` resolves.
pub async fn serve(
    app: App,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let router = app.router();
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}

/// Checks that an address to listen on is a loopback one.
pub fn check_loopback(addr: &std::net::SocketAddr) -> Result<(), StartError> {
    if addr.ip().is_loopback() {
        Ok(())
    } else {
        Err(StartError::NotLoopback(addr.to_string()))
    }
}
