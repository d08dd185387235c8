//! The web app's login.
//!
//! The app must not hold the API token (any script that reads it could use it anywhere), so it
//! gets a session instead:
//!
//! 1. `dotsync ui` asks for a one-time code with the bearer token (`POST /v1/session/code`);
//!    the code is good for [`CODE_TTL`] and for one use.
//! 2. It opens the browser on `/v1/session/login?code=...`. The daemon trades the code for a
//!    session: an `HttpOnly; SameSite=Strict` session cookie that no script can read, and a
//!    CSRF token handed to the app in the redirect's fragment (`/#csrf=...`). The app moves the
//!    token into `sessionStorage` and takes it out of the address bar.
//! 3. The app sends every API request with that token in the [`CSRF_HEADER`] header. A request
//!    that carries the session cookie is authorised only with that header matching the
//!    session's token, compared in constant time with the copy only the daemon holds.
//!
//! Why the token is in no cookie: browsers send the cookies of `127.0.0.1` and `localhost` to
//! every port, so any other HTTP server on this machine that the browser visits (another
//! user's service, a container's published port) receives this daemon's cookies and can replay
//! them from outside a browser, where neither `Origin` nor a custom header is out of reach. The
//! session cookie alone is therefore worth nothing; the token travels only where no other port
//! can read it: a URL fragment (never sent to any server) and `sessionStorage` (scoped to the
//! origin, port included). The price: a sign-in belongs to the browser tab it opened, and a new
//! tab signs in with `dotsync ui` again.
//!
//! Sessions live in the daemon's memory: restarting the daemon signs the app out.
//!
//! The cookie's name carries the daemon's port, so two daemons on one machine (two users, or a
//! test) never overwrite each other's session.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::App;
use crate::error::{ApiError, ErrorBody};
use crate::json::ApiQuery;
use crate::security;

/// How long a login code can be used.
pub const CODE_TTL: Duration = Duration::from_secs(60);
/// How long a session lasts after it was made.
pub const SESSION_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// The header that must carry the session's CSRF token.
pub const CSRF_HEADER: &str = "x-dotsync-csrf";
/// Codes not yet used are capped so that a loop calling `POST /v1/session/code` cannot grow
/// the daemon's memory without bound.
const MAX_PENDING_CODES: usize = 64;
const MAX_SESSIONS: usize = 256;

struct Session {
    csrf: String,
    created: Instant,
}

/// Pending login codes and live sessions.
#[derive(Default)]
pub struct Sessions {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Code -> when it was issued.
    codes: HashMap<String, Instant>,
    /// Session id -> session.
    sessions: HashMap<String, Session>,
}

impl Inner {
    fn prune(&mut self, now: Instant) {
        self.codes
            .retain(|_, issued| now.duration_since(*issued) < CODE_TTL);
        self.sessions
            .retain(|_, s| now.duration_since(s.created) < SESSION_TTL);
    }
}

impl Sessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Issues a one-time login code.
    pub fn new_code(&self) -> String {
        let code = dotsync_state::random_hex(24);
        let now = Instant::now();
        let mut inner = self.lock();
        inner.prune(now);
        if inner.codes.len() >= MAX_PENDING_CODES {
            // Drop the oldest: the newest code is the one a person is about to use.
            if let Some(oldest) = inner
                .codes
                .iter()
                .min_by_key(|(_, t)| **t)
                .map(|(c, _)| c.clone())
            {
                inner.codes.remove(&oldest);
            }
        }
        inner.codes.insert(code.clone(), now);
        code
    }

    /// Trades a code for a new session `(id, csrf)`; `None` when the code is unknown, used or
    /// expired. A code works once, whatever the outcome.
    fn redeem(&self, code: &str) -> Option<(String, String)> {
        let now = Instant::now();
        let mut inner = self.lock();
        inner.prune(now);
        // Compare in constant time against each pending code rather than hashing the guess.
        let found = inner
            .codes
            .keys()
            .find(|c| security::constant_time_eq(c.as_bytes(), code.as_bytes()))
            .cloned()?;
        inner.codes.remove(&found);
        if inner.sessions.len() >= MAX_SESSIONS
            && let Some(oldest) = inner
                .sessions
                .iter()
                .min_by_key(|(_, s)| s.created)
                .map(|(id, _)| id.clone())
        {
            inner.sessions.remove(&oldest);
        }
        let id = dotsync_state::random_hex(32);
        let csrf = dotsync_state::random_hex(32);
        inner.sessions.insert(
            id.clone(),
            Session {
                csrf: csrf.clone(),
                created: now,
            },
        );
        Some((id, csrf))
    }

    /// Whether the request carries a live session cookie together with its CSRF header. The
    /// cookie alone never is: other local servers receive it too (see the module's docs).
    pub fn authorized(&self, headers: &HeaderMap) -> bool {
        let Some(id) = cookie(headers, &session_cookie_name(headers)) else {
            return false;
        };
        let Some(sent) = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()) else {
            return false;
        };
        let now = Instant::now();
        let inner = self.lock();
        inner.sessions.get(id).is_some_and(|s| {
            now.duration_since(s.created) < SESSION_TTL
                && security::constant_time_eq(sent.as_bytes(), s.csrf.as_bytes())
        })
    }

    /// Ends the session the request's cookie names, if any.
    fn end(&self, headers: &HeaderMap) {
        if let Some(id) = cookie(headers, &session_cookie_name(headers)) {
            self.lock().sessions.remove(id);
        }
    }
}

/// Whether a request carries a session cookie at all (to word a 401 helpfully).
pub fn has_session_cookie(headers: &HeaderMap) -> bool {
    cookie(headers, &session_cookie_name(headers)).is_some()
}

/// `dotsync_session_PORT`, the port taken from the Host header (the guard has already checked
/// that it is a loopback name).
fn session_cookie_name(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let port = host
        .rsplit_once(':')
        .map(|(_, p)| p)
        .filter(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        .unwrap_or("80");
    format!("dotsync_session_{port}")
}

/// The value of cookie `name` in the request's `Cookie` headers.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

pub use dotsync_api::LoginCode;

/// Issues a one-time login code for the web app. Needs the bearer token itself: a web app
/// session cannot mint codes.
#[utoipa::path(post, path = "/v1/session/code", tag = "session",
    responses((status = 201, body = LoginCode), (status = 401, body = ErrorBody)))]
pub async fn create_code(
    State(app): State<App>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    let bearer_ok = security::bearer(&headers)
        .is_some_and(|t| security::constant_time_eq(t.as_bytes(), app.token.as_bytes()));
    if !bearer_ok {
        return Err(ApiError::unauthorized(
            "login codes are issued only with the bearer token; run `dotsync ui`",
        ));
    }
    let code = app.sessions.new_code();
    Ok((
        StatusCode::CREATED,
        Json(LoginCode {
            path: format!("/v1/session/login?code={code}"),
            code,
            expires_in_s: CODE_TTL.as_secs(),
        }),
    ))
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct LoginQuery {
    /// The one-time code from `POST /v1/session/code`.
    pub code: Option<String>,
}

/// Trades a one-time code for a session: sets the session cookie and redirects to the app
/// with the session's CSRF token in the URL fragment (`/#csrf=...`), which browsers never send
/// to any server. An unknown, used or expired code redirects to the app's sign-in page instead.
#[utoipa::path(get, path = "/v1/session/login", tag = "session", security(()),
    params(LoginQuery),
    responses((status = 303, description = "Redirect to `/#csrf=<token>` (signed in; the app \
        sends the token in the `X-Dotsync-CSRF` header) or to `/#/login?error=expired`")))]
pub async fn login(
    State(app): State<App>,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<LoginQuery>,
) -> Response {
    let redeemed = q.code.as_deref().and_then(|c| app.sessions.redeem(c));
    let Some((id, csrf)) = redeemed else {
        tracing::warn!("refused a web app login with an unknown, used or expired code");
        return redirect("/#/login?error=expired", None);
    };
    tracing::info!("web app signed in");
    let cookie = format!(
        "{}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}",
        session_cookie_name(&headers),
        SESSION_TTL.as_secs()
    );
    redirect(&format!("/#csrf={csrf}"), Some(&cookie))
}

fn redirect(to: &str, cookie: Option<&str>) -> Response {
    let mut resp = StatusCode::SEE_OTHER.into_response();
    let h = resp.headers_mut();
    // Both are made here from hex and fixed text, so they are always valid header values.
    if let Ok(v) = HeaderValue::from_str(to) {
        h.insert(header::LOCATION, v);
    }
    // The URLs hold secrets: keep them out of caches and out of the next page's Referer.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if let Some(v) = cookie.and_then(|c| HeaderValue::from_str(c).ok()) {
        h.insert(header::SET_COOKIE, v);
    }
    resp
}

pub use dotsync_api::SessionInfo;

/// How the request is signed in; a 401 means it is not.
#[utoipa::path(get, path = "/v1/session", operation_id = "show_session", tag = "session",
    responses((status = 200, body = SessionInfo), (status = 401, body = ErrorBody)))]
pub async fn show(headers: HeaderMap) -> Json<SessionInfo> {
    Json(SessionInfo {
        via: if security::bearer(&headers).is_some() {
            "bearer"
        } else {
            "session"
        }
        .to_owned(),
    })
}

/// Signs the web app out: forgets the session and clears its cookie.
#[utoipa::path(post, path = "/v1/session/logout", tag = "session",
    responses((status = 204), (status = 401, body = ErrorBody)))]
pub async fn logout(State(app): State<App>, headers: HeaderMap) -> Response {
    app.sessions.end(&headers);
    let mut resp = StatusCode::NO_CONTENT.into_response();
    let clear = format!(
        "{}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0",
        session_cookie_name(&headers)
    );
    if let Ok(v) = HeaderValue::from_str(&clear) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn a_code_works_once() {
        let s = Sessions::default();
        let code = s.new_code();
        assert!(s.redeem("not-a-code").is_none());
        assert!(s.redeem(&code).is_some());
        assert!(s.redeem(&code).is_none());
    }

    #[test]
    fn cookie_needs_matching_csrf_header() {
        let s = Sessions::default();
        let (id, csrf) = s.redeem(&s.new_code()).unwrap();
        let cookie = format!("other=1; dotsync_session_4000={id}");
        let host = ("host", "127.0.0.1:4000");
        // What another local server receives from the browser, and could replay: the cookie.
        assert!(!s.authorized(&headers(&[host, ("cookie", &cookie)])));
        assert!(!s.authorized(&headers(&[
            host,
            ("cookie", &cookie),
            (CSRF_HEADER, "wrong")
        ])));
        assert!(!s.authorized(&headers(&[host, ("cookie", &cookie), (CSRF_HEADER, "")])));
        // The token without the cookie is nothing either.
        assert!(!s.authorized(&headers(&[host, (CSRF_HEADER, &csrf)])));
        assert!(s.authorized(&headers(&[host, ("cookie", &cookie), (CSRF_HEADER, &csrf)])));
        // The same cookie sent to a daemon on another port is not that daemon's session.
        assert!(!s.authorized(&headers(&[
            ("host", "127.0.0.1:4001"),
            ("cookie", &cookie),
            (CSRF_HEADER, &csrf)
        ])));
        s.end(&headers(&[host, ("cookie", &cookie)]));
        assert!(!s.authorized(&headers(&[host, ("cookie", &cookie), (CSRF_HEADER, &csrf)])));
    }

    #[test]
    fn sessions_do_not_share_tokens() {
        let s = Sessions::default();
        let (a, a_csrf) = s.redeem(&s.new_code()).unwrap();
        let (b, b_csrf) = s.redeem(&s.new_code()).unwrap();
        assert_ne!(a_csrf, b_csrf);
        let host = ("host", "127.0.0.1:4000");
        let a_cookie = format!("dotsync_session_4000={a}");
        let b_cookie = format!("dotsync_session_4000={b}");
        assert!(!s.authorized(&headers(&[
            host,
            ("cookie", &a_cookie),
            (CSRF_HEADER, &b_csrf)
        ])));
        assert!(s.authorized(&headers(&[
            host,
            ("cookie", &b_cookie),
            (CSRF_HEADER, &b_csrf)
        ])));
    }

    #[test]
    fn pending_codes_are_bounded() {
        let s = Sessions::default();
        let first = s.new_code();
        for _ in 0..MAX_PENDING_CODES {
            s.new_code();
        }
        assert!(s.lock().codes.len() <= MAX_PENDING_CODES);
        assert!(s.redeem(&first).is_none(), "the oldest code was dropped");
    }
}
