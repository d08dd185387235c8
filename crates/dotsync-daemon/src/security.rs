//! The checks every request passes before it reaches a handler.
//!
//! 1. A request must carry exactly one `Host`, a loopback name (`127.0.0.1`, `localhost`,
//!    `[::1]`) with an optional port of digits 1–65535: a page on another site that re-binds its
//!    DNS name to 127.0.0.1 still sends its own name, and is refused (403); so is a request with
//!    two Hosts, of which a proxy or another server might read the other one.
//! 2. A browser's `Origin`, when sent, must be the daemon's own (`http://` + the Host): another
//!    site's page gets nothing, not even an error it can read (403).
//! 3. Every `/v1` route but `/v1/health` (and the UI's login exchange) needs the bearer token
//!    from `~/.dotsync/state/token`, or the web app's session cookie together with its CSRF
//!    header (401).

use axum::extract::{Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::App;
use crate::error::ApiError;

/// Routes reachable without credentials.
fn is_public(path: &str) -> bool {
    path == "/v1/health" || path == "/v1/session/login" || !path.starts_with("/v1/")
}

pub async fn guard(State(app): State<App>, req: Request, next: Next) -> Response {
    let headers = req.headers();
    let mut hosts = headers.get_all(header::HOST).iter();
    let (Some(host), None) = (hosts.next(), hosts.next()) else {
        return ApiError::forbidden(
            "requests must carry exactly one Host header naming 127.0.0.1, localhost or [::1]",
        )
        .into_response();
    };
    let Ok(host) = host.to_str() else {
        return ApiError::forbidden("the Host header is not a loopback name").into_response();
    };
    if !is_loopback_host(host) {
        return ApiError::forbidden(format!(
            "Host {host:?} is not a loopback name; dotsync answers only requests addressed to \
             127.0.0.1, localhost or [::1]"
        ))
        .into_response();
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let own = format!("http://{host}");
        if origin.as_bytes() != own.as_bytes() {
            return ApiError::forbidden("cross-origin requests are not allowed").into_response();
        }
    }
    if headers
        .get("sec-fetch-site")
        .is_some_and(|v| v.as_bytes() == b"cross-site")
    {
        return ApiError::forbidden("cross-site requests are not allowed").into_response();
    }
    if !is_public(req.uri().path()) && !app.authorized(req.headers()) {
        let msg = if !req.headers().contains_key(header::AUTHORIZATION)
            && crate::routes::session::has_session_cookie(req.headers())
        {
            "the web app's session is not valid for this request: a session cookie counts only \
             with the X-Dotsync-CSRF header holding the token the app got at sign-in, or the \
             session has ended; run `dotsync ui` to sign in again"
        } else if req.headers().contains_key(header::AUTHORIZATION) {
            "the bearer token is wrong; the current one is in ~/.dotsync/state/token"
        } else {
            "this route needs `Authorization: Bearer <token>`; the token is in \
             ~/.dotsync/state/token"
        };
        return ApiError::unauthorized(msg).into_response();
    }
    next.run(req).await
}

/// Whether a Host header names this machine's loopback interface: `127.0.0.1`, `localhost` (any
/// case) or `[::1]`, optionally followed by `:PORT` where PORT is digits only, 1 to 65535.
pub fn is_loopback_host(host: &str) -> bool {
    let (name, port) = if let Some(rest) = host.strip_prefix('[') {
        match rest.split_once(']') {
            Some(("::1", port)) => ("[::1]", port),
            _ => return false,
        }
    } else {
        match host.find(':') {
            Some(i) => host.split_at(i),
            None => (host, ""),
        }
    };
    let port_ok = port.is_empty() || port.strip_prefix(':').is_some_and(valid_port);
    port_ok && (name == "[::1]" || name == "127.0.0.1" || name.eq_ignore_ascii_case("localhost"))
}

/// A TCP port as a URL writes it: ASCII digits only, 1 to 65535.
fn valid_port(p: &str) -> bool {
    !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && p.parse::<u16>().is_ok_and(|n| n != 0)
}

/// The bearer token of a request, if it has one.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

/// Compares secrets in time independent of where they differ (`subtle`; only the length,
/// which is no secret, may show).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq as _;
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_hosts_pass() {
        for ok in [
            "127.0.0.1",
            "127.0.0.1:11000",
            "localhost",
            "LOCALHOST:8080",
            "[::1]",
            "[::1]:11000",
            "localhost:1",
            "127.0.0.1:65535",
            "127.0.0.1:080",
        ] {
            assert!(is_loopback_host(ok), "{ok}");
        }
        for bad in [
            "evil.example",
            "evil.example:11000",
            "127.0.0.1.evil.example",
            "localhost:abc",
            "[::2]:1",
            "127.0.0.2",
            "",
            "LOCALHOST:99999",
            "localhost:0",
            "127.0.0.1:00000",
            "127.0.0.1:65536",
            "127.0.0.1:4294967297",
            "localhost:",
            "localhost:+80",
            "localhost:-1",
            "localhost: 80",
            "localhost:80 ",
            "localhost:80:80",
            "[::1]:",
            "[::1]:0",
            "[::1]:99999",
            "[::1]80",
            "[::1",
            "::1",
            "localhost.",
        ] {
            assert!(!is_loopback_host(bad), "{bad}");
        }
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
