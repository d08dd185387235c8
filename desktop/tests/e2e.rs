//! End to end: the real desktop app, under Xvfb with a private D-Bus session, against real
//! `dotsync daemon`s and a real git remote. The window is driven through WebKitWebDriver (the
//! driver tauri-driver wraps, spoken to directly with the capabilities it would send), the tray
//! menu through the app's test hook (no WebDriver reaches a tray), and notifications are captured
//! on the bus by `dbus-monitor`.
//!
//! Needs: Xvfb, WebKitWebDriver (Debian: webkit2gtk-driver), dbus-daemon and dbus-monitor, git,
//! and the `dotsync` binary (`$DOTSYNC_BIN`, default `../target/debug/dotsync`; `scripts/test`
//! builds it first). `UPDATE_SCREENSHOTS=1` writes the window's screenshots to
//! `docs/screenshots/`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const APP: &str = env!("CARGO_BIN_EXE_dotsync-desktop");

fn dotsync_bin() -> PathBuf {
    let p = std::env::var_os("DOTSYNC_BIN").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/debug/dotsync"),
        PathBuf::from,
    );
    assert!(
        p.is_file(),
        "{} is missing: build it first (`cargo build -p dotsync` at the workspace root) or set DOTSYNC_BIN",
        p.display()
    );
    p
}

/// Child processes, each the leader of its own process group; dropping kills the groups.
#[derive(Default)]
struct Procs(Vec<Child>);

impl Procs {
    fn spawn(&mut self, cmd: &mut Command) -> &mut Child {
        std::os::unix::process::CommandExt::process_group(cmd, 0);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {:?}: {e}", cmd.get_program()));
        self.0.push(child);
        self.0.last_mut().unwrap()
    }
}

fn kill_group(child: &mut Child, signal: &str) {
    let _ = Command::new("kill")
        .args([signal, "--", &format!("-{}", child.id())])
        .stderr(Stdio::null())
        .status();
    let _ = child.wait();
}

impl Drop for Procs {
    fn drop(&mut self) {
        // Last started, first stopped: the app before its driver, the bus and the display.
        while let Some(mut c) = self.0.pop() {
            kill_group(&mut c, "-KILL");
        }
    }
}

/// Waits until `f` gives something, or fails saying what it waited for.
fn wait_for<T>(what: &str, secs: u64, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {secs} s waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One desktop session: a display, a session bus with a notification listener, a home.
struct Desk {
    // Dropped first: processes before the directory they use.
    procs: Procs,
    root: tempfile::TempDir,
    home: PathBuf,
    dotsync_home: PathBuf,
    display: String,
    bus: String,
    hook: PathBuf,
    notifications: PathBuf,
}

impl Desk {
    fn new() -> Self {
        let root = tempfile::Builder::new()
            .prefix("dotsync-test-desktop-")
            .tempdir()
            .unwrap();
        let home = root.path().join("home");
        let dotsync_home = home.join(".dotsync");
        let hook = root.path().join("hook");
        for d in [&home, &dotsync_home, &hook] {
            std::fs::create_dir_all(d).unwrap();
        }
        let mut procs = Procs::default();
        // Xvfb picks a free display and writes its number to stdout (-displayfd 1).
        let xvfb = procs.spawn(
            Command::new("Xvfb")
                .args([
                    "-displayfd",
                    "1",
                    "-screen",
                    "0",
                    "1280x860x24",
                    "-nolisten",
                    "tcp",
                ])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::null()),
        );
        let mut line = String::new();
        BufReader::new(xvfb.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let display = format!(":{}", line.trim());
        let bus_path = root.path().join("bus");
        let dbus = procs.spawn(
            Command::new("dbus-daemon")
                .args(["--session", "--nofork", "--print-address=1"])
                .arg(format!("--address=unix:path={}", bus_path.display()))
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::null()),
        );
        let mut bus = String::new();
        BufReader::new(dbus.stdout.take().unwrap())
            .read_line(&mut bus)
            .unwrap();
        let bus = bus.trim().to_owned();
        let notifications = root.path().join("notifications.log");
        let log = std::fs::File::create(&notifications).unwrap();
        procs.spawn(
            Command::new("dbus-monitor")
                .args([
                    "--address",
                    &bus,
                    "type='method_call',interface='org.freedesktop.Notifications',member='Notify'",
                ])
                .stdin(Stdio::null())
                .stdout(log)
                .stderr(Stdio::null()),
        );
        Self {
            procs,
            home,
            dotsync_home,
            display,
            bus,
            hook,
            notifications,
            root,
        }
    }

    /// The environment every process of this desktop gets.
    fn env(&self, cmd: &mut Command) {
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &self.home)
            .env("DOTSYNC_HOME", &self.dotsync_home)
            .env("XDG_CONFIG_HOME", self.root.path().join("xdg"))
            .env("XDG_RUNTIME_DIR", self.root.path())
            .env("TMPDIR", self.root.path())
            .env("DISPLAY", &self.display)
            .env("DBUS_SESSION_BUS_ADDRESS", &self.bus)
            .env("NO_AT_BRIDGE", "1")
            .env("DOTSYNC_BIN", dotsync_bin())
            .env("DOTSYNC_DESKTOP_TEST_HOOK", &self.hook)
            .env("DOTSYNC_MACHINE", "laptop")
            .env("DOTSYNC_NOTIFY_ADDR", "127.0.0.1:0")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", "test")
            .env("GIT_AUTHOR_EMAIL", "test@example.invalid")
            .env("GIT_COMMITTER_NAME", "test")
            .env("GIT_COMMITTER_EMAIL", "test@example.invalid");
    }

    fn set_backend(&self, addr: &str) {
        std::fs::write(
            self.dotsync_home.join("config"),
            json!({ "backend_addr": addr }).to_string(),
        )
        .unwrap();
    }

    /// The hook's events so far.
    fn events(&self) -> Vec<Value> {
        std::fs::read_to_string(self.hook.join("events.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    fn wait_event(&self, what: &str, secs: u64, f: impl Fn(&Value) -> bool) -> Value {
        wait_for(what, secs, || self.events().into_iter().find(|e| f(e)))
    }

    /// Sends one command to the app's test hook.
    fn hook(&self, cmd: &str) -> String {
        use std::io::Write as _;
        let sock = self.hook.join("control.sock");
        let mut s = wait_for("the app's test hook", 30, || {
            std::os::unix::net::UnixStream::connect(&sock).ok()
        });
        s.write_all(format!("{cmd}\n").as_bytes()).unwrap();
        let mut line = String::new();
        BufReader::new(&s).read_line(&mut line).unwrap();
        line.trim().to_owned()
    }

    fn tray(&self) -> Value {
        serde_json::from_str(&self.hook("tray")).unwrap()
    }

    fn wait_tray(&self, glance: &str, secs: u64) -> Value {
        wait_for(&format!("the tray to show {glance}"), secs, || {
            let t = self.tray();
            (t["glance"] == glance).then_some(t)
        })
    }

    /// Starts the app directly (no WebDriver), for the tests that only need the hook.
    fn start_app(&mut self) {
        let mut cmd = Command::new(APP);
        self.env(&mut cmd);
        self.procs.spawn(
            cmd.stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        );
    }
}

impl Drop for Desk {
    fn drop(&mut self) {
        // A daemon the app started runs in a process group of its own: stop it by its lock,
        // if a live process still holds that (a stale pid may belong to anyone by now).
        let path = self.dotsync_home.join("state/lock");
        let held = std::fs::File::open(&path).is_ok_and(|f| f.try_lock().is_err());
        if let Ok(lock) = std::fs::read_to_string(&path)
            && let Some(pid) = lock.split_whitespace().next()
            && held
            && pid.parse::<u32>().is_ok()
        {
            let _ = Command::new("kill")
                .args(["-KILL", pid])
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// A `dotsync daemon` of one machine.
struct Daemon {
    child: Child,
    addr: String,
    token: String,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        kill_group(&mut self.child, "-KILL");
    }
}

fn start_daemon(
    desk: &Desk,
    home: &Path,
    dotsync_home: &Path,
    machine: &str,
    addr: &str,
) -> Daemon {
    let mut cmd = Command::new(dotsync_bin());
    desk.env(&mut cmd);
    cmd.env("HOME", home)
        .env("DOTSYNC_HOME", dotsync_home)
        .env("DOTSYNC_MACHINE", machine)
        .args(["daemon", "--addr", addr])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(home.with_extension(format!("{machine}.log"))).unwrap());
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let mut child = cmd.spawn().unwrap();
    let lock = dotsync_home.join("state/lock");
    let addr = wait_for("the daemon to listen", 20, || {
        if let Ok(Some(st)) = child.try_wait() {
            panic!("the daemon exited at once: {st}");
        }
        let s = std::fs::read_to_string(&lock).ok()?;
        let a = s.split_whitespace().nth(1)?.to_owned();
        ureq::get(&format!("http://{a}/v1/health")).call().ok()?;
        Some(a)
    });
    let token = std::fs::read_to_string(dotsync_home.join("state/token"))
        .unwrap()
        .trim()
        .to_owned();
    Daemon { child, addr, token }
}

impl Daemon {
    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let req = ureq::request(method, &format!("http://{}{path}", self.addr))
            .set("Authorization", &format!("Bearer {}", self.token));
        let r = match body {
            Some(b) => req.send_json(b.clone()),
            None => req.call(),
        };
        let text = r
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
            .into_string()
            .unwrap();
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    }

    /// Syncs every config and waits for the end of the run.
    fn sync(&self) -> String {
        match self.call("POST", "/v1/sync", None) {
            Value::String(s) => s,
            v => v.to_string(),
        }
    }

    /// SIGTERM, and wait for the exit.
    fn stop(mut self) {
        kill_group(&mut self.child, "-TERM");
    }
}

/// A WebDriver session with the app, through WebKitWebDriver.
struct Driver {
    base: String,
    session: String,
}

impl Driver {
    fn start(desk: &mut Desk) -> Self {
        let port = free_port();
        let mut cmd = Command::new("WebKitWebDriver");
        desk.env(&mut cmd);
        cmd.env("TAURI_WEBVIEW_AUTOMATION", "true")
            .args([format!("--port={port}"), "--host=127.0.0.1".to_owned()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        desk.procs.spawn(&mut cmd);
        let base = format!("http://127.0.0.1:{port}");
        wait_for("WebKitWebDriver to listen", 20, || {
            ureq::get(&format!("{base}/status")).call().ok()
        });
        let caps = json!({"capabilities": {"alwaysMatch": {
            "webkitgtk:browserOptions": {"binary": APP, "args": []}
        }}});
        let r: Value = ureq::post(&format!("{base}/session"))
            .send_json(caps)
            .expect("a WebDriver session with the app")
            .into_json()
            .unwrap();
        let session = r["value"]["sessionId"].as_str().unwrap().to_owned();
        Self { base, session }
    }

    fn get(&self, what: &str) -> Value {
        let r: Value = ureq::get(&format!("{}/session/{}/{what}", self.base, self.session))
            .call()
            .unwrap()
            .into_json()
            .unwrap();
        r["value"].clone()
    }

    fn url(&self) -> String {
        self.get("url").as_str().unwrap_or_default().to_owned()
    }

    fn script(&self, js: &str) -> Value {
        let r: Value = ureq::post(&format!(
            "{}/session/{}/execute/sync",
            self.base, self.session
        ))
        .send_json(json!({"script": js, "args": []}))
        .map(|r| r.into_json().unwrap())
        .unwrap_or(Value::Null);
        r["value"].clone()
    }

    fn text(&self) -> String {
        self.script("return document.body ? document.body.innerText : ''")
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    fn wait_text(&self, what: &str, needles: &[&str]) -> String {
        wait_for(what, 30, || {
            let t = self.text();
            needles.iter().all(|n| t.contains(n)).then_some(t)
        })
    }

    /// Saves the window as `docs/screenshots/NAME.png` when UPDATE_SCREENSHOTS=1.
    fn screenshot(&self, name: &str) {
        if std::env::var_os("UPDATE_SCREENSHOTS").is_none() {
            return;
        }
        use base64::Engine as _;
        let b64 = self.get("screenshot");
        let png = base64::engine::general_purpose::STANDARD
            .decode(b64.as_str().unwrap())
            .unwrap();
        let out =
            Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../docs/screenshots/{name}.png"));
        std::fs::write(out, png).unwrap();
    }

    fn quit(self) {
        let _ = ureq::delete(&format!("{}/session/{}", self.base, self.session)).call();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn git_bare(dir: &Path) {
    let ok = Command::new("git")
        .args(["init", "-q", "--bare", "-b", "main"])
        .arg(dir)
        .status()
        .unwrap()
        .success();
    assert!(ok, "git init --bare");
}

#[test]
fn the_app_signs_in_syncs_from_the_tray_notifies_a_conflict_and_survives_a_daemon_restart() {
    let mut desk = Desk::new();
    let remote = desk.root.path().join("dotfiles.git");
    git_bare(&remote);
    let config = json!({"name": "dotfiles", "paths": ["~/.zshrc"],
        "remote": remote.to_str().unwrap(), "auto": false});

    // The laptop (this desktop) and the desktop machine, each with its daemon. Neither syncs by
    // itself (`auto: false`), so each sync below is the one a test step asked for.
    std::fs::write(desk.home.join(".zshrc"), "export EDITOR=vim\n").unwrap();
    let a = start_daemon(
        &desk,
        &desk.home,
        &desk.dotsync_home,
        "laptop",
        "127.0.0.1:0",
    );
    a.call("POST", "/v1/config", Some(&config));
    let b_home = desk.root.path().join("b-home");
    std::fs::create_dir_all(&b_home).unwrap();
    let b = start_daemon(
        &desk,
        &b_home,
        &b_home.join(".dotsync"),
        "desktop",
        "127.0.0.1:0",
    );
    b.call("POST", "/v1/config", Some(&config));
    desk.set_backend(&a.addr);

    // The window opens on the daemon's app, signed in, showing the config; no login screen, and
    // the token is nowhere the page can read it.
    let driver = Driver::start(&mut desk);
    let url = wait_for("the window to sign in", 30, || {
        let u = driver.url();
        (u.starts_with(&format!("http://{}/", a.addr)) && !u.contains("/login")).then_some(u)
    });
    let text = driver.wait_text("the config in the window", &["dotfiles", "laptop"]);
    assert!(!text.contains("Sign in"), "no login screen: {text}");
    let leak = driver.script(&format!(
        "const t = {:?}; return [document.documentElement.outerHTML, document.cookie, \
         JSON.stringify(localStorage), JSON.stringify(sessionStorage), location.href] \
         .some(s => s.includes(t))",
        a.token
    ));
    assert_eq!(
        leak,
        Value::Bool(false),
        "the page never holds the token ({url})"
    );
    driver.screenshot("desktop-window");

    // The tray: in sync, with the last sync and the actions.
    let t = desk.wait_tray("in_sync", 30);
    assert!(
        t["items"][0].as_str().unwrap().starts_with("In sync"),
        "{t}"
    );
    assert_eq!(t["items"][1], "Pause syncing");

    // *Sync now* from the tray menu runs a sync: the edit reaches the other machine.
    std::fs::write(
        desk.home.join(".zshrc"),
        "export EDITOR=vim\nalias gs='git status'\n",
    )
    .unwrap();
    assert_eq!(desk.hook("menu sync_now"), "ok");
    wait_for("the laptop's edit to reach the desktop", 30, || {
        b.sync();
        let got = std::fs::read_to_string(b_home.join(".zshrc")).ok()?;
        got.contains("alias gs").then_some(())
    });
    let t = desk.wait_tray("in_sync", 30);
    assert!(
        t["items"][0].as_str().unwrap().contains("last sync"),
        "the tray says when it last synced: {t}"
    );

    // Both machines edit the same line: the laptop's next sync (from the tray) finds a
    // conflict, and the app raises a desktop notification (seen on the session bus).
    std::fs::write(
        b_home.join(".zshrc"),
        "export EDITOR=nvim\nalias gs='git status'\n",
    )
    .unwrap();
    b.sync();
    std::fs::write(
        desk.home.join(".zshrc"),
        "export EDITOR=hx\nalias gs='git status'\n",
    )
    .unwrap();
    desk.hook("menu sync_now");
    let n = desk.wait_event("a conflict notification", 30, |e| {
        e["kind"] == "notification"
    });
    assert_eq!(n["title"], "Conflict in ~/.zshrc", "{n}");
    assert!(
        n["body"].as_str().unwrap().contains("desktop"),
        "names the other machine: {n}"
    );
    assert_eq!(n["shown"], true);
    wait_for("the notification on the session bus", 20, || {
        let log = std::fs::read_to_string(&desk.notifications).ok()?;
        log.contains("Conflict in ~/.zshrc").then_some(())
    });
    desk.wait_tray("conflict", 30);
    driver.wait_text("the conflict in the window", &[".zshrc"]);
    driver.screenshot("desktop-conflict");

    // The daemon stops: the window shows what the app last saw, marked as such, and the tray
    // says offline.
    let addr = a.addr.clone();
    a.stop();
    desk.wait_tray("offline", 30);
    let text = driver.wait_text(
        "the last seen state",
        &["dotsync is not running", "Last seen", ".zshrc", "conflict"],
    );
    assert!(text.contains("dotfiles"), "{text}");
    driver.screenshot("desktop-offline");

    // It comes back (same address): the window signs in again by itself and the state is the
    // same as before the restart.
    let a = start_daemon(&desk, &desk.home, &desk.dotsync_home, "laptop", &addr);
    wait_for("the window to sign in again", 30, || {
        driver
            .url()
            .starts_with(&format!("http://{addr}/"))
            .then_some(())
    });
    driver.wait_text("the config after the restart", &["dotfiles"]);
    desk.wait_tray("conflict", 30);
    let saved: Value =
        serde_json::from_str(&std::fs::read_to_string(desk.dotsync_home.join("config")).unwrap())
            .unwrap();
    assert_eq!(
        saved["backend_addr"],
        addr.as_str(),
        "the daemon's keys are kept"
    );
    assert_eq!(
        saved["last_seen"]["configs"][0]["conflicts"][0]["path"], "~/.zshrc",
        "{saved}"
    );

    // *Pause syncing* from the tray pauses every config (the daemon says so, and the tray then
    // offers *Resume syncing*); clicking it again resumes.
    desk.hook("menu pause");
    wait_for("the daemon to pause", 20, || {
        (a.call("GET", "/v1/status", None)["paused"] == true).then_some(())
    });
    wait_for("the tray to offer Resume", 20, || {
        (desk.tray()["items"][1] == "Resume syncing").then_some(())
    });
    desk.hook("menu pause");
    wait_for("the daemon to resume", 20, || {
        (a.call("GET", "/v1/status", None)["paused"] == false).then_some(())
    });

    // *Start at login* writes the XDG autostart entry and remembers it in ~/.dotsync/config.
    desk.hook("menu start_at_login");
    let entry = desk.root.path().join("xdg/autostart/dotsync.desktop");
    wait_for("the autostart entry", 10, || entry.is_file().then_some(()));
    assert!(
        std::fs::read_to_string(&entry)
            .unwrap()
            .contains("--hidden")
    );
    let saved: Value =
        serde_json::from_str(&std::fs::read_to_string(desk.dotsync_home.join("config")).unwrap())
            .unwrap();
    assert_eq!(saved["start_at_login"], true);

    driver.quit();
    drop(a);
    drop(b);
}

#[test]
fn the_app_starts_the_daemon_when_none_answers() {
    let mut desk = Desk::new();
    desk.set_backend(&format!("127.0.0.1:{}", free_port()));
    desk.start_app();
    desk.wait_event("the app to start the daemon", 30, |e| {
        e["phase"] == "starting"
    });
    desk.wait_event("the app to sign in", 30, |e| e["phase"] == "online");
    let lock = std::fs::read_to_string(desk.dotsync_home.join("state/lock")).unwrap();
    let pid = lock.split_whitespace().next().unwrap().to_owned();
    // The daemon it started is its own process group (it outlives the app); stop it here.
    let _ = Command::new("kill").args(["-TERM", &pid]).status();
    wait_for("the started daemon to stop", 20, || {
        (!Path::new(&format!("/proc/{pid}")).exists()).then_some(())
    });
    desk.wait_tray("offline", 30);
}

#[test]
fn the_app_says_what_to_do_when_the_daemon_cannot_start() {
    let mut desk = Desk::new();
    desk.set_backend(&format!("127.0.0.1:{}", free_port()));
    let mut cmd = Command::new(APP);
    desk.env(&mut cmd);
    cmd.env("DOTSYNC_BIN", desk.root.path().join("no-such-dotsync"))
        .env("PATH", "/usr/bin:/bin")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    desk.procs.spawn(&mut cmd);
    let failed = desk.wait_event("the app to give up starting", 30, |e| {
        e["phase"] == "failed"
    });
    assert!(
        failed["message"]
            .as_str()
            .unwrap()
            .contains("not installed"),
        "{failed}"
    );
    assert_eq!(desk.tray()["glance"], "offline");
}
