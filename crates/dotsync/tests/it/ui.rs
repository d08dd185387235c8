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

/// Signs in as `dotsync ui` does, and checks where the two secrets travel: the session in an
/// `HttpOnly; SameSite=Strict` cookie, the CSRF token only in the redirect's URL fragment (which
/// the browser keeps to itself) and in no cookie, since every other server on this machine
/// receives this host's cookies.
fn login(m: &Machine) -> Session {
    let r = m.post("/v1/session/code", &Value::Null);
    assert_eq!(r.status, 201, "{}", r.text);
    let path = r.json["path"].as_str().unwrap().to_owned();
    let resp = no_redirects().get(&m.url(&path)).call().unwrap();
    assert_eq!(resp.status(), 303);
    assert_eq!(resp.header("cache-control"), Some("no-store"));
    assert_eq!(resp.header("referrer-policy"), Some("no-referrer"));
    let location = resp.header("location").unwrap().to_owned();
    let csrf = location
        .strip_prefix("/#csrf=")
        .unwrap_or_else(|| panic!("the token goes in the fragment: {location}"))
        .to_owned();
    assert!(
        csrf.len() >= 32 && csrf.bytes().all(|b| b.is_ascii_hexdigit()),
        "{csrf}"
    );
    let cookies: Vec<String> = resp
        .all("set-cookie")
        .iter()
        .map(std::string::ToString::to_string)
        .collect();
    let port = m.d().addr.rsplit(':').next().unwrap().to_owned();
    assert_eq!(cookies.len(), 1, "only the session cookie: {cookies:?}");
    let session = &cookies[0];
    assert!(
        session.starts_with(&format!("dotsync_session_{port}=")),
        "{session}"
    );
    assert!(session.contains("HttpOnly"), "{session}");
    assert!(session.contains("SameSite=Strict"), "{session}");
    assert!(session.contains("Path=/;"), "{session}");
    assert!(
        !session.contains(&csrf),
        "the CSRF token is in no cookie: {session}"
    );
    let pair = session.split(';').next().unwrap().to_owned();
    assert!(!pair.contains(&csrf));
    Session { cookie: pair, csrf }
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

/// Browsers send the cookies of 127.0.0.1 to every port, so another local server the browser
/// visits receives the session cookie, and whatever other cookie the daemon set. Replayed from
/// outside a browser (no Origin, a loopback Host, any header it likes), that is still nothing.
#[test]
fn a_replayed_session_cookie_alone_reaches_nothing() {
    let w = World::new();
    let mut m = w.machine("laptop");
    m.start_daemon();
    let s = login(&m);
    // Everything the browser would hand to another port: the cookies this host holds.
    let leaked = s.cookie.clone();

    m.write(".zshrc", "x");
    let id = m.add_config(&json!({"name": "dots", "paths": ["~/.zshrc"],
        "remote": w.bare_remote("dots").to_string_lossy(), "auto": false}));
    let settings =
        json!({"backend_addr": "127.0.0.1:11000", "theme": "dark", "notifications": true});
    for (method, path, body) in [
        ("GET", "/v1/config".to_owned(), None),
        ("GET", "/v1/session".to_owned(), None),
        ("GET", "/v1/events".to_owned(), None),
        ("GET", "/v1/fs".to_owned(), None),
        ("GET", format!("/v1/files?config={id}"), None),
        ("POST", format!("/v1/sync/{id}"), None),
        ("PUT", "/v1/settings".to_owned(), Some(&settings)),
        ("POST", "/v1/session/logout".to_owned(), None),
        ("DELETE", format!("/v1/config/{id}"), None),
    ] {
        for csrf in [None, Some(""), Some("x"), Some(&s.csrf[..s.csrf.len() - 1])] {
            let mut r = ureq::request(method, &m.url(&path)).set("Cookie", &leaked);
            if let Some(c) = csrf {
                r = r.set("X-Dotsync-CSRF", c);
            }
            let resp = send(r, body);
            assert_eq!(
                resp.status, 401,
                "{method} {path} with {csrf:?}: {}",
                resp.text
            );
        }
    }
    // Nothing changed: the config is still there, the settings file was never written.
    assert_eq!(m.get(&format!("/v1/config/{id}")).status, 200);
    assert!(!m.dotsync_home.join("config").exists());
    // And with the token the app holds, the same cookie works.
    assert_eq!(
        with_session(&m, &s, "GET", &format!("/v1/config/{id}"), Some(&s.csrf)).status,
        200
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
    assert!(
        first.header("location").unwrap().starts_with("/#csrf="),
        "{:?}",
        first.header("location")
    );
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

/// Two windows saving settings at once never leave a torn file: every read finds one whole
/// body that some request sent, every request succeeds, and no temporary file stays behind.
#[test]
fn concurrent_settings_saves_keep_the_file_whole() {
    const THEMES: [&str; 3] = ["light", "dark", "system"];
    let w = World::new();
    let mut m = w.machine("laptop");
    m.start_daemon();
    let bodies: Vec<Value> = (0..6)
        .map(|i| {
            json!({
                "backend_addr": format!("127.0.0.1:{}", 12000 + i * 1111),
                "theme": THEMES[i % 3],
                "notifications": i % 2 == 0,
            })
        })
        .collect();
    let file = m.dotsync_home.join("config");
    let url = m.url("/v1/settings");
    let auth = format!("Bearer {}", m.d().token);
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        // Writers report failures instead of panicking, so that the reader is always told to
        // stop: a failing test fails, it never hangs.
        let writers: Vec<_> = bodies
            .iter()
            .map(|b| {
                let (url, auth) = (&url, &auth);
                scope.spawn(move || {
                    (0..15)
                        .map(|_| send(ureq::put(url).set("Authorization", auth), Some(b)))
                        .filter(|r| r.status != 200)
                        .map(|r| format!("{}: {}", r.status, r.text))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let reader = scope.spawn(|| {
            let mut reads = 0;
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
            while !done.load(std::sync::atomic::Ordering::Relaxed)
                && std::time::Instant::now() < deadline
            {
                if let Ok(text) = std::fs::read_to_string(&file) {
                    let v: Value = serde_json::from_str(&text)
                        .unwrap_or_else(|e| panic!("torn settings file ({e}): {text:?}"));
                    assert!(bodies.contains(&v), "{v}");
                    reads += 1;
                }
            }
            reads
        });
        let failures: Vec<String> = writers
            .into_iter()
            .flat_map(|t| {
                t.join()
                    .unwrap_or_else(|_| vec!["a writer panicked".to_owned()])
            })
            .collect();
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        let reads = reader.join().unwrap();
        assert_eq!(failures, Vec::<String>::new(), "every save succeeds");
        assert!(reads > 0, "the reader saw the file");
    });
    let last: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert!(bodies.contains(&last), "{last}");
    assert_eq!(m.get("/v1/settings").json, last);
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let leftovers: Vec<_> = std::fs::read_dir(&m.dotsync_home)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".config.tmp"))
        .collect();
    assert_eq!(leftovers, Vec::<String>::new());
}
