//! Test harness: machines (home + state + daemon), HTTP helpers, git remotes.

#![allow(dead_code)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_dotsync");

/// A temporary directory that holds everything of one test: machines and remotes. Removed
/// when the test ends, whatever it left running a moment ago.
pub struct World {
    pub dir: tempfile::TempDir,
}

impl Drop for World {
    fn drop(&mut self) {
        // A process that was still finishing (a git child of a killed daemon) may create a
        // file while the tree is removed: try again until the tree is gone.
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.dir.path().exists() && Instant::now() < deadline {
            if std::fs::remove_dir_all(self.dir.path()).is_err() {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

impl World {
    pub fn new() -> Self {
        Self {
            dir: tempfile::Builder::new()
                .prefix("dotsync-test-")
                .tempdir()
                .expect("tempdir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A machine named `name`: `<world>/<name>/home` as HOME, `<home>/.dotsync` as `DOTSYNC_HOME`.
    pub fn machine(&self, name: &str) -> Machine {
        let home = self.path().join(name).join("home");
        std::fs::create_dir_all(&home).expect("create home");
        Machine {
            name: name.to_owned(),
            dotsync_home: home.join(".dotsync"),
            home,
            daemon: None,
            env: Vec::new(),
        }
    }

    /// An empty bare git repository at `<world>/<name>.git` (its default branch `main`).
    pub fn bare_remote(&self, name: &str) -> PathBuf {
        let p = self.path().join(format!("{name}.git"));
        git(
            self.path(),
            &["init", "-q", "--bare", "-b", "main", p.to_str().unwrap()],
        );
        p
    }
}

/// Runs git in `dir`, isolated from the user's global config, and returns stdout; panics on
/// failure.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "test")
        .env("GIT_AUTHOR_EMAIL", "test@example.invalid")
        .env("GIT_COMMITTER_NAME", "test")
        .env("GIT_COMMITTER_EMAIL", "test@example.invalid")
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub struct Machine {
    pub name: String,
    pub home: PathBuf,
    pub dotsync_home: PathBuf,
    pub daemon: Option<Daemon>,
    /// Extra environment for this machine's commands and daemon.
    pub env: Vec<(String, String)>,
}

pub struct Daemon {
    pub child: Child,
    pub addr: String,
    pub token: String,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // The daemon leads a process group of its own: its git children go with it.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A response: status and parsed JSON body (`Value::Null` when empty or not JSON), raw text.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub json: Value,
    pub text: String,
    pub content_type: String,
}

impl Machine {
    /// A `dotsync` command with this machine's environment (and no `DOTSYNC_ADDR`).
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(BIN);
        c.env("HOME", &self.home)
            .env("DOTSYNC_HOME", &self.dotsync_home)
            .env_remove("DOTSYNC_ADDR")
            .env("DOTSYNC_LOG", "info,dotsync=debug")
            .env("NO_COLOR", "1")
            .env("DOTSYNC_MACHINE", &self.name)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", "test")
            .env("GIT_AUTHOR_EMAIL", "test@example.invalid")
            .env("GIT_COMMITTER_NAME", "test")
            .env("GIT_COMMITTER_EMAIL", "test@example.invalid")
            // Pokes between test daemons stay on loopback: each listens on, and announces,
            // 127.0.0.1 only; nothing is relayed unless a test says so.
            .env("DOTSYNC_NOTIFY_ADDR", "127.0.0.1:0")
            .env_remove("DOTSYNC_NOTIFY")
            .env_remove("DOTSYNC_RELAY")
            .stdin(Stdio::null());
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }

    /// Runs `dotsync ARGS` to completion.
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().expect("run dotsync")
    }

    /// Runs `dotsync ARGS`, asserts success, returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "dotsync {args:?} failed ({}):\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Starts `dotsync daemon` on a free loopback port (extra args appended) and waits until it
    /// answers /v1/health.
    pub fn start_daemon_with(&mut self, extra: &[&str]) -> &Daemon {
        let mut cmd = self.cmd();
        cmd.args(["daemon", "--addr", "127.0.0.1:0"]).args(extra);
        self.spawn_daemon(cmd)
    }

    /// Like [`Machine::start_daemon_with`], with the daemon's open-file limit (`ulimit -n`) set
    /// to `nofile`, as a launchd service gets by default (256).
    pub fn start_daemon_with_nofile(&mut self, nofile: u32, extra: &[&str]) -> &Daemon {
        let plain = self.cmd();
        let mut cmd = Command::new("sh");
        for (k, v) in plain.get_envs() {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        cmd.args([
            "-c",
            &format!("ulimit -n {nofile} && exec \"$0\" \"$@\""),
            BIN,
            "daemon",
            "--addr",
            "127.0.0.1:0",
        ])
        .args(extra)
        .stdin(Stdio::null());
        self.spawn_daemon(cmd)
    }

    fn spawn_daemon(&mut self, mut cmd: Command) -> &Daemon {
        assert!(self.daemon.is_none(), "daemon already running");
        let log = std::fs::File::create(self.home.parent().unwrap().join("daemon.log"))
            .expect("log file");
        let child = std::os::unix::process::CommandExt::process_group(
            cmd.stdout(Stdio::null()).stderr(log),
            0,
        )
        .spawn()
        .expect("spawn daemon");
        let mut d = Daemon {
            child,
            addr: String::new(),
            token: String::new(),
        };
        let lock = self.dotsync_home.join("state/lock");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = d.child.try_wait().expect("try_wait") {
                panic!("daemon exited early ({status}):\n{}", self.daemon_log());
            }
            if let Ok(s) = std::fs::read_to_string(&lock) {
                let mut parts = s.split_whitespace();
                if let (Some(_pid), Some(addr)) = (parts.next(), parts.next()) {
                    let url = format!("http://{addr}/v1/health");
                    if ureq::get(&url).call().is_ok() {
                        addr.clone_into(&mut d.addr);
                        break;
                    }
                }
            }
            assert!(
                Instant::now() < deadline,
                "daemon did not start:\n{}",
                self.daemon_log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        std::fs::read_to_string(self.dotsync_home.join("state/token"))
            .expect("token")
            .trim()
            .clone_into(&mut d.token);
        self.daemon = Some(d);
        self.daemon.as_ref().unwrap()
    }

    pub fn start_daemon(&mut self) -> &Daemon {
        self.start_daemon_with(&[])
    }

    /// Stops the daemon with SIGKILL.
    pub fn kill_daemon(&mut self) {
        self.daemon = None;
    }

    /// Sends SIGTERM and waits for the daemon to exit; returns its exit status.
    pub fn stop_daemon(&mut self) -> std::process::ExitStatus {
        let mut d = self.daemon.take().expect("daemon running");
        let pid = d.child.id();
        Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("kill");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(st) = d.child.try_wait().expect("wait") {
                return st;
            }
            assert!(Instant::now() < deadline, "daemon ignored SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn daemon_log(&self) -> String {
        std::fs::read_to_string(self.home.parent().unwrap().join("daemon.log")).unwrap_or_default()
    }

    pub fn d(&self) -> &Daemon {
        self.daemon.as_ref().expect("daemon running")
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.d().addr)
    }

    /// An authorised request; any status is returned, never an Err.
    pub fn req(&self, method: &str, path: &str, body: Option<&Value>) -> Resp {
        let r = ureq::request(method, &self.url(path))
            .set("Authorization", &format!("Bearer {}", self.d().token));
        send(r, body)
    }

    pub fn get(&self, path: &str) -> Resp {
        self.req("GET", path, None)
    }
    pub fn post(&self, path: &str, body: &Value) -> Resp {
        self.req("POST", path, Some(body))
    }
    pub fn put(&self, path: &str, body: &Value) -> Resp {
        self.req("PUT", path, Some(body))
    }
    pub fn delete(&self, path: &str) -> Resp {
        self.req("DELETE", path, None)
    }

    /// Creates a config through the API and returns its id.
    pub fn add_config(&self, body: &Value) -> String {
        let r = self.post("/v1/config", body);
        assert_eq!(r.status, 201, "create config: {}", r.text);
        r.json["id"].as_str().expect("id").to_owned()
    }

    /// Writes a file under the home (creating parents).
    pub fn write(&self, rel: &str, content: impl AsRef<[u8]>) {
        let p = self.home.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.home.join(rel))
            .unwrap_or_else(|e| panic!("{}: read {rel}: {e}", self.name))
    }

    pub fn exists(&self, rel: &str) -> bool {
        self.home.join(rel).symlink_metadata().is_ok()
    }
}

/// Sends a ureq request, turning HTTP error statuses into a normal [`Resp`].
pub fn send(r: ureq::Request, body: Option<&Value>) -> Resp {
    let res = match body {
        Some(b) => r
            .set("Content-Type", "application/json")
            .send_string(&b.to_string()),
        None => r.call(),
    };
    let resp = match res {
        Ok(r) | Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("request failed: {e}"),
    };
    let status = resp.status();
    let content_type = resp.header("content-type").unwrap_or("").to_owned();
    let text = resp.into_string().unwrap_or_default();
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    Resp {
        status,
        json,
        text,
        content_type,
    }
}

/// Polls `f` every 50 ms until it returns true or `secs` pass.
pub fn wait_until(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

// ---- Helpers for the API, CLI and durability tests ----

impl Machine {
    /// A request carrying this machine's bearer token, for tests that set their own headers or
    /// body; send it with [`send`] or [`send_raw`].
    pub fn authed(&self, method: &str, path: &str) -> ureq::Request {
        ureq::request(method, &self.url(path))
            .set("Authorization", &format!("Bearer {}", self.d().token))
    }

    /// A request without credentials.
    pub fn anon(&self, method: &str, path: &str) -> ureq::Request {
        ureq::request(method, &self.url(path))
    }

    /// Runs `dotsync ARGS`, asserts that it fails with nothing on stdout, and returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            !out.status.success(),
            "dotsync {args:?} succeeded but should have failed:\nstdout: {}\nstderr: {stderr}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert!(
            out.stdout.is_empty(),
            "dotsync {args:?} failed but printed data on stdout: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        stderr
    }

    /// Runs `dotsync ARGS`, asserts success, and parses stdout as JSON.
    pub fn ok_json(&self, args: &[&str]) -> Value {
        let out = self.ok(args);
        serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("dotsync {args:?} printed invalid JSON ({e}):\n{out}"))
    }

    /// The pid of the running daemon.
    pub fn daemon_pid(&self) -> u32 {
        self.d().child.id()
    }

    /// The home path as a string, for building absolute paths.
    pub fn home_str(&self) -> &str {
        self.home.to_str().expect("UTF-8 home")
    }
}

/// Sends a request with a raw body and an optional Content-Type, turning HTTP error statuses
/// into a normal [`Resp`]. A transport error (such as the server closing the connection while a
/// large body is still being written) is returned as `Err`.
pub fn send_raw(r: ureq::Request, content_type: Option<&str>, body: &[u8]) -> Result<Resp, String> {
    let r = match content_type {
        Some(ct) => r.set("Content-Type", ct),
        None => r,
    };
    let resp = match r.send_bytes(body) {
        Ok(r) | Err(ureq::Error::Status(_, r)) => r,
        Err(ureq::Error::Transport(t)) => return Err(t.to_string()),
    };
    let status = resp.status();
    let content_type = resp.header("content-type").unwrap_or("").to_owned();
    let text = resp.into_string().unwrap_or_default();
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    Ok(Resp {
        status,
        json,
        text,
        content_type,
    })
}

impl Resp {
    /// Asserts the API's error shape: `status`, a JSON body `{"error":{"code","message"}}` with
    /// this `code` and a non-empty message. Returns the message.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) -> &str {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.text
        );
        assert!(
            self.content_type.starts_with("application/json"),
            "error bodies are JSON, got {:?}: {}",
            self.content_type,
            self.text
        );
        let err = &self.json["error"];
        assert_eq!(err["code"], code, "error code; body: {}", self.text);
        let msg = err["message"]
            .as_str()
            .unwrap_or_else(|| panic!("error.message is not a string: {}", self.text));
        assert!(!msg.trim().is_empty(), "empty error message: {}", self.text);
        msg
    }

    /// The `error.field` of an error body, if any.
    pub fn error_field(&self) -> Option<&str> {
        self.json["error"]["field"].as_str()
    }
}

/// Percent-encodes one URL path segment (everything but unreserved characters).
pub fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// The permission bits of a file or directory.
pub fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o7777
}

/// `git daemon` on a free loopback port, serving `base` with push enabled.
pub struct GitDaemon(pub std::process::Child, pub u16);

impl Drop for GitDaemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// On `port`, or a free one.
pub fn git_daemon(base: &Path, port: Option<u16>) -> GitDaemon {
    let port = port.unwrap_or_else(|| {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    });
    // The daemon binary itself: `git daemon` is a wrapper whose child (the real daemon) would
    // outlive a kill of the wrapper and keep serving.
    let exec_path = git(Path::new("/"), &["--exec-path"]);
    let child = std::process::Command::new(Path::new(exec_path.trim()).join("git-daemon"))
        .args([
            "--reuseaddr",
            "--export-all",
            "--enable=receive-pack",
            "--listen=127.0.0.1",
            &format!("--port={port}"),
            &format!("--base-path={}", base.display()),
            base.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("git daemon (is git's daemon installed?)");
    wait_until(20, "git daemon to listen", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    GitDaemon(child, port)
}

/// Sends `request` as raw bytes to `addr` (`127.0.0.1:PORT`) and reads the answer until the
/// server closes the connection (send `Connection: close`); returns the status code (0 if the
/// server closed without answering) and the whole response text.
pub fn raw_http(addr: &str, request: &[u8]) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("read timeout");
    s.write_all(request).expect("write request");
    let mut buf = Vec::new();
    // A reset after a refusal still leaves what was read.
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .strip_prefix("HTTP/1.1 ")
        .and_then(|r| r.get(..3))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, text)
}

/// Reads from `s` until the server closes the connection (EOF or reset), at most `within`;
/// returns what was read, or `Err` with it if the connection is still open at the deadline.
pub fn read_until_closed(
    s: &mut std::net::TcpStream,
    within: Duration,
) -> Result<Vec<u8>, Vec<u8>> {
    use std::io::{ErrorKind, Read};
    let deadline = Instant::now() + within;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(got);
        }
        s.set_read_timeout(Some(left)).expect("read timeout");
        match s.read(&mut buf) {
            Ok(0) => return Ok(got),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Err(got);
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return Ok(got),
        }
    }
}

/// What `GET /v1/status` says of the config named `name`.
pub fn config_status(m: &Machine, name: &str) -> Value {
    let r = m.get("/v1/status");
    assert_eq!(r.status, 200, "{}", r.text);
    r.json["configs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no config {name} in {}", r.text))
        .clone()
}

/// Waits until `name` has synced successfully at least once and is not syncing now.
pub fn wait_synced(m: &Machine, name: &str) {
    wait_until(30, &format!("{} to finish syncing {name}", m.name), || {
        let s = config_status(m, name);
        !s["last_sync"].is_null() && s["state"] != "syncing" && s["pending_changes"] == 0
    });
}

/// The file at `rel` in the machine's home, if there is one.
pub fn read_opt(m: &Machine, rel: &str) -> Option<String> {
    std::fs::read_to_string(m.home.join(rel)).ok()
}
