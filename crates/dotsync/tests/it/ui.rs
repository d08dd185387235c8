//! The web app's side of the daemon: the embedded app and its headers, the one-time login that
//! becomes a session cookie, the CSRF header every cookie request needs, the home listing for the
//! path picker, and the app's settings file. (The app itself is tested in a browser by
//! `ui/test.sh`.)

use std::os::unix::fs::PermissionsExt;

use serde_json::{Value, json};

use crate::util::{Machine, Resp, World, send};

fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

fn no_redirects() -> ureq::Agent {
    ureq::AgentBuilder::new().redirects(0).build()
}

/// A signed-in web app: its session cookie header and CSRF token.
struct Session {
    cookie: String,
    csrf: String,
}

fn login(m: &Machine) -> Session {
    let r = m.post("/v1/session/code", &Value::Null);
    assert_eq!(r.status, 201, "{}", r.text);
    let path = r.json["path"].as_str().unwrap().to_owned();
    let resp = no_redirects().get(&m.url(&path)).call().unwrap();
    assert_eq!(resp.status(), 303);
    assert_eq!(resp.header("location"), Some("/"));
    let cookies: Vec<String> = resp
        .all("set-cookie")
        .iter()
        .map(|s| s.to_string())
        .collect();
    let port = m.d().addr.rsplit(':').next().unwrap().to_owned();
    let session = cookies
        .iter()
        .find(|c| c.starts_with(&format!("dotsync_session_{port}=")))
        .expect("session cookie");
    assert!(session.contains("HttpOnly"), "{session}");
    assert!(session.contains("SameSite=Strict"), "{session}");
    let csrf = cookies
        .iter()
        .find(|c| c.starts_with(&format!("dotsync_csrf_{port}=")))
        .expect("csrf cookie");
    assert!(!csrf.contains("HttpOnly"), "the app must read it: {csrf}");
    let pair = |c: &String| c.split(';').next().unwrap().to_owned();
    Session {
        cookie: format!("{}; {}", pair(session), pair(csrf)),
        csrf: pair(csrf).split_once('=').unwrap().1.to_owned(),
    }
}

fn with_session(m: &Machine, s: &Session, method: &str, path: &str, csrf: Option<&str>) -> Resp {
    let mut r = ureq::request(method, &m.url(path)).set("Cookie", &s.cookie);
    if let Some(c) = csrf {
        r = r.set("X-Dotsync-CSRF", c);
    }
    send(r, None)
}

#[test]
fn the_app_is_served_with_a_strict_content_security_policy() {
    let w = World::new();
    let mut m = w.machine("laptop");
    m.start_daemon();
    let r = ureq::get(&m.url("/")).call().unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    let csp = r.header("content-security-policy").unwrap().to_owned();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    let html = r.into_string().unwrap();
    assert!(html.contains(r#"src="/app.js""#), "{html}");
    assert!(!html.contains("<script>"), "no inline script: {html}");

    let js = ureq::get(&m.url("/app.js")).call().unwrap();
    assert_eq!(
        js.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    assert!(js.header("content-security-policy").is_some());
    let css = ureq::get(&m.url("/app.css")).call().unwrap();
    assert_eq!(css.header("content-type"), Some("text/css; charset=utf-8"));
    // The app's files are public; the API behind them is not.
    assert_eq!(send(ureq::get(&m.url("/v1/config")), None).status, 401);
}

#[test]
fn a_login_code_becomes_a_session_that_needs_its_csrf_header() {
    let w = World::new();
    let mut m = w.machine("laptop");
    m.start_daemon();

    // Codes come only with the bearer token.
    let r = send(ureq::post(&m.url("/v1/session/code")), None);
    assert_eq!(r.status, 401);

    let s = login(&m);
    assert_eq!(
        with_session(&m, &s, "GET", "/v1/config", Some(&s.csrf)).status,
        200
    );
    let who = with_session(&m, &s, "GET", "/v1/session", Some(&s.csrf));
    assert_eq!(who.json["via"], "session");

    // The cookie alone, or with a wrong header, is refused: that is what a forged cross-site
    // request would carry.
    let r = with_session(&m, &s, "GET", "/v1/config", None);
    assert_eq!(r.status, 401);
    assert!(
        r.json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("X-Dotsync-CSRF"),
        "{}",
        r.text
    );
    assert_eq!(
        with_session(&m, &s, "GET", "/v1/config", Some("0000")).status,
        401
    );
    // A wrong bearer token is not rescued by a good cookie.
    let r = ureq::get(&m.url("/v1/config"))
        .set("Cookie", &s.cookie)
        .set("X-Dotsync-CSRF", &s.csrf)
        .set("Authorization", "Bearer wrong");
    assert_eq!(send(r, None).status, 401);
    // Another site's page gets nothing, session or not.
    let r = ureq::get(&m.url("/v1/config"))
        .set("Cookie", &s.cookie)
        .set("X-Dotsync-CSRF", &s.csrf)
        .set("Origin", "http://evil.example");
    assert_eq!(send(r, None).status, 403);
    // A session cannot mint login codes.
    assert_eq!(
        with_session(&m, &s, "POST", "/v1/session/code", Some(&s.csrf)).status,
        401
    );

    // Signing out ends it.
    assert_eq!(
        with_session(&m, &s, "POST", "/v1/session/logout", Some(&s.csrf)).status,
        204
    );
    assert_eq!(
        with_session(&m, &s, "GET", "/v1/config", Some(&s.csrf)).status,
        401
    );
}

#[test]
fn a_login_link_works_once() {
    let w = World::new();
    let mut m = w.machine("laptop");
    m.start_daemon();
    let out = m.ok(&["ui", "--print"]);
    let url = out.trim();
    assert!(
        url.starts_with(&format!("http://{}/v1/session/login?code=", m.d().addr)),
        "{url}"
    );
    let first = no_redirects().get(url).call().unwrap();
    assert_eq!(first.header("location"), Some("/"));
    assert!(first.header("set-cookie").is_some());
    let second = no_redirects().get(url).call().unwrap();
    assert_eq!(second.status(), 303);
    assert_eq!(second.header("location"), Some("/#/login?error=expired"));
    assert!(second.header("set-cookie").is_none());
    let none = no_redirects()
        .get(&m.url("/v1/session/login?code=guess"))
        .call()
        .unwrap();
    assert_eq!(none.header("location"), Some("/#/login?error=expired"));
}

#[test]
fn dotsync_ui_needs_a_running_daemon() {
    let w = World::new();
    let m = w.machine("laptop");
    let out = m.run(&["ui", "--print"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("dotsync daemon"), "{err}");
}

#[test]
fn the_path_picker_lists_the_home_and_nothing_outside_it() {
    let w = World::new();
    let mut m = w.machine("laptop");
    m.write(".zshrc", "x");
    m.write(".config/nvim/init.lua", "-- hi");
    m.write("<img src=x onerror=alert(1)>", "");
    std::os::unix::fs::symlink("/etc", m.home.join("etc-link")).unwrap();
    std::os::unix::fs::symlink(w.path(), m.home.join("world-link")).unwrap();
    m.start_daemon();

    let r = m.get("/v1/fs");
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["path"], "~");
    assert_eq!(r.json["parent"], Value::Null);
    let entries = r.json["entries"].as_array().unwrap();
    let find = |name: &str| entries.iter().find(|e| e["name"] == name).cloned();
    assert_eq!(find(".config").unwrap()["kind"], "dir");
    assert_eq!(
        find(".zshrc").unwrap(),
        json!({"name": ".zshrc", "path": "~/.zshrc", "kind": "file", "size": 1})
    );
    assert_eq!(find("etc-link").unwrap()["kind"], "symlink");
    assert!(find("<img src=x onerror=alert(1)>").is_some());
    // Directories first.
    assert_eq!(entries[0]["kind"], "dir");

    let r = m.get("/v1/fs?path=~%2F.config%2Fnvim");
    assert_eq!(r.json["parent"], "~/.config");
    assert_eq!(r.json["entries"][0]["path"], "~/.config/nvim/init.lua");
    let abs = format!(
        "/v1/fs?path={}",
        enc(&m.home.join(".config").to_string_lossy())
    );
    assert_eq!(m.get(&abs).json["path"], "~/.config");

    for bad in [
        "~%2F..",
        "..",
        "~%2F.config%2F..%2F..",
        "%2Fetc",
        "~%2Fetc-link",
        "~%2Fworld-link",
        "~%2F.zshrc",
    ] {
        let r = m.get(&format!("/v1/fs?path={bad}"));
        assert_eq!(r.status, 400, "{bad}: {}", r.text);
        assert_eq!(r.json["error"]["field"], "path", "{bad}");
    }
    assert_eq!(m.get("/v1/fs?path=~%2Fnope").status, 404);
    assert_eq!(send(ureq::get(&m.url("/v1/fs")), None).status, 401);
}

#[test]
fn settings_live_in_the_frontend_config_file() {
    let w = World::new();
    let mut m = w.machine("laptop");
    m.start_daemon();
    let r = m.get("/v1/settings");
    assert_eq!(
        r.json,
        json!({"backend_addr": "127.0.0.1:11000", "theme": "system", "notifications": true})
    );

    let s = json!({"backend_addr": "127.0.0.1:12000", "theme": "dark", "notifications": false});
    let r = m.put("/v1/settings", &s);
    assert_eq!(r.status, 200, "{}", r.text);
    let file = m.dotsync_home.join("config");
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(saved, s);
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(m.get("/v1/settings").json, s);

    for (body, field) in [
        (
            json!({"backend_addr": "127.0.0.1:1", "theme": "neon", "notifications": true}),
            "theme",
        ),
        (
            json!({"backend_addr": "192.168.1.2:11000", "theme": "dark", "notifications": true}),
            "backend_addr",
        ),
    ] {
        let r = m.put("/v1/settings", &body);
        assert_eq!(r.status, 400, "{}", r.text);
        assert_eq!(r.json["error"]["field"], field);
    }
    let r = m.put(
        "/v1/settings",
        &json!({"backend_addr": "127.0.0.1:1", "theme": "dark", "notifications": true, "extra": 1}),
    );
    assert_eq!(r.status, 400);
    assert!(r.text.contains("extra"), "{}", r.text);
    // Refused writes left the file alone.
    assert_eq!(m.get("/v1/settings").json, s);
}
