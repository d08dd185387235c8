//! The notify channel: two daemons with the default interval (60 s) see each other's edits in
//! seconds because the pusher pokes the other (directly over UDP on loopback, or through a real
//! mosquitto), while forged, replayed and unknown pokes cost at most a remote check a second
//! and change nothing. Every daemon here listens on and announces 127.0.0.1 only (`util.rs`);
//! the test's own datagrams go to 127.0.0.1 only.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::util::{Machine, World, git, read_opt, wait_until};

fn cfg(remote: &Path) -> Value {
    // interval_s left at its default: 60 s.
    json!({"name": "dots", "paths": ["~/.zshrc"], "remote": remote.to_str().unwrap()})
}

fn status(m: &Machine) -> Value {
    let r = m.get("/v1/status");
    assert_eq!(r.status, 200, "{}", r.text);
    r.json["configs"][0].clone()
}

fn machines(m: &Machine) -> Value {
    let r = m.get("/v1/machines");
    assert_eq!(r.status, 200, "{}", r.text);
    r.json
}

fn peer<'a>(view: &'a Value, name: &str) -> Option<&'a Value> {
    view["remotes"][0]["machines"]
        .as_array()?
        .iter()
        .find(|x| x["name"] == name)
}

/// Two daemons on one bare remote, both synced once and each reachable for the other.
fn pair(w: &World, env: &[(&str, &str)]) -> (Machine, Machine, PathBuf) {
    let remote = w.bare_remote("dots");
    let mut a = w.machine("laptop");
    let mut b = w.machine("desktop");
    for m in [&mut a, &mut b] {
        m.env = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        m.write(".zshrc", "# start\n");
        m.start_daemon();
    }
    a.add_config(&cfg(&remote));
    wait_until(30, "A's first sync", || !status(&a)["last_sync"].is_null());
    b.add_config(&cfg(&remote));
    wait_until(30, "B's first sync", || !status(&b)["last_sync"].is_null());
    for (m, other) in [(&a, "desktop"), (&b, "laptop")] {
        wait_until(30, &format!("{} to see {other} reachable", m.name), || {
            peer(&machines(m), other).is_some_and(|p| p["reachable"] == true)
        });
    }
    (a, b, remote)
}

/// Edits ~/.zshrc on A three times; each must be on B within 10 s (the scheduler alone would
/// take up to 60 s). Returns the delays.
fn edits_arrive_fast(a: &Machine, b: &Machine) -> Vec<Duration> {
    let mut delays = Vec::new();
    for i in 1..=3 {
        let text = format!("# edit {i}\nexport N={i}\n");
        let t = Instant::now();
        a.write(".zshrc", &text);
        wait_until(10, &format!("edit {i} to reach B through a poke"), || {
            read_opt(b, ".zshrc").as_deref() == Some(text.as_str())
        });
        delays.push(t.elapsed());
        // Let A settle so the next edit is a new sync.
        wait_until(10, "A to be idle", || {
            let s = status(a);
            s["state"] == "idle" && s["pending_changes"] == 0
        });
    }
    eprintln!("write on A -> file on B: {delays:?}");
    delays
}

/// Every commit on the remote's main changes files: presence and the key live on refs of their
/// own.
fn assert_branch_holds_only_file_changes(remote: &Path) {
    let commits = git(remote, &["rev-list", "main"]);
    assert!(!commits.trim().is_empty());
    for c in commits.lines() {
        let changed = git(
            remote,
            &[
                "diff-tree",
                "--root",
                "--no-commit-id",
                "-r",
                "--name-only",
                c,
            ],
        );
        assert!(
            !changed.trim().is_empty(),
            "commit {c} on main changes no file"
        );
    }
    let refs = git(remote, &["for-each-ref", "--format=%(refname)"]);
    for r in [
        "refs/dotsync/key",
        "refs/dotsync/machines/laptop",
        "refs/dotsync/machines/desktop",
    ] {
        assert!(refs.lines().any(|l| l == r), "{r} missing from {refs}");
    }
}

#[test]
fn an_edit_reaches_the_other_machine_in_seconds_with_the_default_interval() {
    let w = World::new();
    let (a, b, remote) = pair(&w, &[]);
    for m in [&a, &b] {
        let v = machines(m);
        let me = &v["this_machine"];
        assert_eq!(me["direct"], true);
        assert!(
            me["listen"].as_str().unwrap().starts_with("127.0.0.1:"),
            "{v}"
        );
        let list = v["remotes"][0]["machines"].as_array().unwrap();
        assert_eq!(list.len(), 2, "{v}");
        for x in list {
            assert_eq!(x["version"], env!("CARGO_PKG_VERSION"), "{v}");
            assert_eq!(x["reachable"], true, "{v}");
            for addr in x["addrs"].as_array().unwrap() {
                assert!(addr.as_str().unwrap().starts_with("127.0.0.1:"), "{v}");
            }
        }
        assert_eq!(list[0]["this_machine"], true);
        assert!(v["remotes"][0]["remote_id"].as_str().unwrap().len() == 32);
    }
    edits_arrive_fast(&a, &b);
    // And back.
    let t = Instant::now();
    b.write(".zshrc", "# from B\n");
    wait_until(10, "B's edit to reach A", || {
        read_opt(&a, ".zshrc").as_deref() == Some("# from B\n")
    });
    eprintln!("write on B -> file on A: {:?}", t.elapsed());
    assert_eq!(status(&b)["trigger"], Value::Null);
    assert!(machines(&b)["notify"]["pokes_sent"].as_u64().unwrap() >= 1);
    assert!(machines(&b)["notify"]["checks"].as_u64().unwrap() >= 3);
    assert_branch_holds_only_file_changes(&remote);

    // The CLI shows the same.
    let out = a.ok(&["machines"]);
    assert!(out.contains("laptop") && out.contains("desktop"), "{out}");
    assert!(
        out.contains("this machine") && out.contains("yes (direct)"),
        "{out}"
    );
    let j = a.ok_json(&["machines", "--json"]);
    assert_eq!(j["remotes"][0]["machines"].as_array().unwrap().len(), 2);

    // Without a daemon the CLI answers from the presences B last fetched (B published after
    // A, so its round saw A's): A is known, not reachable.
    let mut b = b;
    b.stop_daemon();
    let j = b.ok_json(&["machines", "--json"]);
    assert_eq!(j["this_machine"]["running"], false, "{j}");
    let other = peer(&j, "laptop").unwrap_or_else(|| panic!("laptop missing: {j}"));
    assert_eq!(other["reachable"], false, "{j}");
    assert_eq!(other["version"], env!("CARGO_PKG_VERSION"), "{j}");
    assert!(b.ok(&["machines"]).contains("no daemon running"));
    // notify is a config field like any other.
    b.ok(&["config", "edit", "dots", "--notify", "false"]);
    assert_eq!(
        b.ok_json(&["config", "show", "dots", "--json"])["notify"],
        false
    );
}

// ---- hostile pokes ----

fn key_of(remote: &Path) -> [u8; 32] {
    let msg = git(remote, &["log", "-1", "--format=%B", "refs/dotsync/key"]);
    let hex = msg
        .lines()
        .map(str::trim)
        .find(|l| l.len() == 64)
        .expect("a key line");
    let mut key = [0u8; 32];
    for (i, k) in key.iter_mut().enumerate() {
        *k = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap();
    }
    key
}

/// The remote id and a signed poke, built from the documented wire format alone.
fn remote_id(key: &[u8; 32]) -> String {
    let mut h = Sha256::new();
    h.update(b"dotsync-remote-id\n");
    h.update(key);
    h.finalize()
        .iter()
        .take(16)
        .fold(String::new(), |mut s, b| {
            write!(s, "{b:02x}").unwrap();
            s
        })
}

fn poke(key: &[u8; 32], id: &str, ts: i64) -> Vec<u8> {
    let body = json!({"v": 1, "k": "poke", "r": id, "b": "main", "c": "0".repeat(40),
        "n": "intruder", "ts": ts, "a": [], "ver": "0"})
    .to_string();
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap();
    mac.update(b"dotsync-notify-v1\n");
    mac.update(body.as_bytes());
    let tag: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .fold(String::new(), |mut s, b| {
            write!(s, "{b:02x}").unwrap();
            s
        });
    format!("{body}\n{tag}").into_bytes()
}

fn now_unix() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    i64::try_from(now.as_secs()).unwrap()
}

fn counter(m: &Machine, name: &str) -> u64 {
    machines(m)["notify"][name].as_u64().unwrap()
}

#[test]
fn forged_replayed_flooded_and_unknown_pokes_cost_at_most_a_check_a_second_and_change_nothing() {
    let w = World::new();
    let (_a, b, remote) = pair(&w, &[]);
    let listen: std::net::SocketAddr = machines(&b)["this_machine"]["listen"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(listen.ip().is_loopback(), "pokes go to loopback only");
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let key = key_of(&remote);
    let id = remote_id(&key);
    let head = git(&remote, &["rev-parse", "main"]);
    let before = status(&b);
    let file = read_opt(&b, ".zshrc");
    let received0 = counter(&b, "received");
    let checks0 = counter(&b, "checks");

    // A forged poke (the right remote id, a wrong key), one for a remote B does not sync, one
    // replayed from long ago, and garbage.
    sock.send_to(&poke(&[9; 32], &id, now_unix()), listen)
        .unwrap();
    sock.send_to(&poke(&[9; 32], &remote_id(&[9; 32]), now_unix()), listen)
        .unwrap();
    sock.send_to(&poke(&key, &id, now_unix() - 3600), listen)
        .unwrap();
    sock.send_to(b"\x00\xffnot a poke", listen).unwrap();
    wait_until(10, "B to read the four datagrams", || {
        counter(&b, "received") >= received0 + 4
    });
    let m = machines(&b)["notify"].clone();
    assert!(m["rejected"].as_u64().unwrap() >= 1, "{m}");
    assert!(m["unknown_remote"].as_u64().unwrap() >= 1, "{m}");
    assert!(m["stale"].as_u64().unwrap() >= 1, "{m}");
    assert!(m["malformed"].as_u64().unwrap() >= 1, "{m}");
    assert_eq!(counter(&b, "checks"), checks0, "no check for any of them");

    // A flood: one valid poke replayed 1,000 times within a second.
    let valid = poke(&key, &id, now_unix());
    let t = Instant::now();
    for i in 0..1000 {
        sock.send_to(&valid, listen).unwrap();
        if i % 100 == 99 {
            std::thread::sleep(Duration::from_millis(90));
        }
    }
    let flood = t.elapsed();
    wait_until(10, "B to read the flood", || {
        counter(&b, "received") >= received0 + 4 + 900
    });
    // The last poke's check runs at most a second after the one before it; look a little
    // longer than that for any more.
    std::thread::sleep(Duration::from_millis(2500));
    let checks = counter(&b, "checks") - checks0;
    let window = t.elapsed().as_secs_f64();
    eprintln!("1,000 pokes in {flood:?}: {checks} remote checks in {window:.1} s");
    assert!(checks >= 1, "a valid poke is checked");
    assert!(
        f64::from(u32::try_from(checks).unwrap()) <= window.ceil() + 1.0,
        "{checks} checks in {window:.1} s: more than one a second"
    );
    // Nothing changed: the remote, B's file, B's last commit.
    assert_eq!(git(&remote, &["rev-parse", "main"]), head);
    assert_eq!(read_opt(&b, ".zshrc"), file);
    let after = status(&b);
    assert_eq!(after["commit"], before["commit"]);
    assert_eq!(after["last_error"], Value::Null);
}

// ---- the relay ----

/// A mosquitto on a free loopback port, stopped when dropped.
struct Mosquitto {
    child: std::process::Child,
    port: u16,
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn mosquitto_bin() -> Option<PathBuf> {
    [
        "/usr/sbin/mosquitto",
        "/usr/bin/mosquitto",
        "/usr/local/sbin/mosquitto",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
}

fn start_mosquitto(w: &World, bin: &Path) -> Mosquitto {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let conf = w.path().join("mosquitto.conf");
    std::fs::write(
        &conf,
        format!("listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"),
    )
    .unwrap();
    let child = std::process::Command::new(bin)
        .arg("-c")
        .arg(&conf)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start mosquitto");
    let m = Mosquitto { child, port };
    wait_until(20, "mosquitto to listen", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    m
}

#[test]
fn through_a_mosquitto_relay_with_direct_pokes_off() {
    let Some(bin) = mosquitto_bin() else {
        eprintln!(
            "SKIPPED: mosquitto is not installed (scripts/deps installs it: apt-get install mosquitto)"
        );
        return;
    };
    let w = World::new();
    let broker = start_mosquitto(&w, &bin);
    let relay = format!("mqtt://127.0.0.1:{}", broker.port);
    let (a, b, remote) = pair(&w, &[("DOTSYNC_NOTIFY", "off"), ("DOTSYNC_RELAY", &relay)]);
    for m in [&a, &b] {
        let v = machines(m);
        assert_eq!(v["this_machine"]["direct"], false, "{v}");
        assert_eq!(v["this_machine"]["listen"], Value::Null, "{v}");
        assert_eq!(v["this_machine"]["relay_connected"], true, "{v}");
        assert_eq!(v["this_machine"]["relay"], relay.as_str());
        let other = if m.name == "laptop" {
            "desktop"
        } else {
            "laptop"
        };
        assert_eq!(peer(&v, other).unwrap()["via"], "relay", "{v}");
    }
    edits_arrive_fast(&a, &b);
    assert_branch_holds_only_file_changes(&remote);
    drop(broker);
}

#[test]
fn with_notify_off_and_no_relay_nothing_but_the_branch_is_written_to_the_remote() {
    let w = World::new();
    let remote = w.bare_remote("dots");
    let mut a = w.machine("laptop");
    a.write(".zshrc", "# start\n");
    a.start_daemon();
    let mut body = cfg(&remote);
    body["notify"] = json!(false);
    a.add_config(&body);
    wait_until(30, "A's first sync", || !status(&a)["last_sync"].is_null());
    // The same machine with notify on publishes within a moment of its first sync (see the
    // tests above); give it well over that.
    std::thread::sleep(Duration::from_secs(2));
    let refs = git(&remote, &["for-each-ref", "--format=%(refname)"]);
    assert_eq!(refs.trim(), "refs/heads/main", "{refs}");
    let v = machines(&a);
    assert_eq!(v["remotes"][0]["remote_id"], Value::Null, "{v}");
    assert_eq!(v["remotes"][0]["machines"][0]["addrs"], json!([]), "{v}");
}
