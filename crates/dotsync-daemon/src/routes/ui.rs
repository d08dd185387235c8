//! The web app, served at `/` from files embedded in the binary.
//!
//! `ui/` builds into `crates/dotsync-daemon/ui-dist/` with fixed file names, and that output is
//! committed, so `cargo build` needs no Node.js. The files are public: they hold no secret, and
//! the app signs in through `/v1/session/login` (see `session.rs`).
//!
//! Every answer carries a strict Content-Security-Policy: scripts and styles only from this
//! origin (no inline script), no plugins, no framing, and Trusted Types required, so that even a
//! slip that assigned a string to `innerHTML` would throw instead of running markup.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

const INDEX_HTML: &[u8] = include_bytes!("../../ui-dist/index.html");
const APP_JS: &[u8] = include_bytes!("../../ui-dist/app.js");
const APP_CSS: &[u8] = include_bytes!("../../ui-dist/app.css");
const FAVICON: &[u8] = include_bytes!("../../ui-dist/favicon.svg");

pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; font-src 'self'; manifest-src 'self'; \
    base-uri 'none'; form-action 'self'; frame-ancestors 'none'; \
    require-trusted-types-for 'script'; trusted-types 'none'";

fn asset(body: &'static [u8], content_type: &'static str, cache: &'static str) -> Response {
    let mut resp = body.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        "cross-origin-resource-policy",
        HeaderValue::from_static("same-origin"),
    );
    resp
}

/// The app's page. Never cached, so a new daemon's app is what loads after an upgrade.
#[utoipa::path(get, path = "/", tag = "app", security(()),
    responses((status = 200, description = "The web app", content_type = "text/html", body = String)))]
pub async fn index() -> Response {
    asset(INDEX_HTML, "text/html; charset=utf-8", "no-store")
}

/// The app's page under its file name.
#[utoipa::path(get, path = "/index.html", tag = "app", security(()),
    responses((status = 200, description = "The web app", content_type = "text/html", body = String)))]
pub async fn index_html() -> Response {
    index().await
}

// The assets keep fixed names, so browsers must revalidate them on every load.

/// The app's script.
#[utoipa::path(get, path = "/app.js", tag = "app", security(()),
    responses((status = 200, description = "The web app's script", content_type = "text/javascript",
        body = String)))]
pub async fn app_js() -> Response {
    asset(APP_JS, "text/javascript; charset=utf-8", "no-cache")
}

/// The app's stylesheet.
#[utoipa::path(get, path = "/app.css", tag = "app", security(()),
    responses((status = 200, description = "The web app's stylesheet", content_type = "text/css",
        body = String)))]
pub async fn app_css() -> Response {
    asset(APP_CSS, "text/css; charset=utf-8", "no-cache")
}

/// The app's icon.
#[utoipa::path(get, path = "/favicon.svg", tag = "app", security(()),
    responses((status = 200, description = "The web app's icon", content_type = "image/svg+xml",
        body = String)))]
pub async fn favicon() -> Response {
    asset(FAVICON, "image/svg+xml", "no-cache")
}
