//! The daemon's life: its state survives restarts and `kill -9`, only one process owns a state
//! directory at a time, and that directory is private.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::util::{BIN, Machine, World, enc, mode};

#[test]
fn configs_survive_a_restart() {
    let w = World::new();
    let mut m = w.machine("m");
    m.start_daemon();
    let token = m.d().token.clone();
    let a = m.add_config(
        &json!({"name": "a", "paths": ["~/.zshrc"], "remote": "/srv/a.git",
        "ignore": ["*.swp"], "direction": "push", "interval_s": 300}),
    );
    let b =
        m.add_config(&json!({"name": "b", "paths": ["~/.config/nvim"], "remote": "/srv/b.git"}));
    let c = m.add_config(&json!({"name": "c", "paths": ["~/.vimrc"], "remote": "/srv/c.git"}));
    let r = m.put(
        &format!("/v1/config/{b}"),
        &json!({"name": "nvim", "paths": ["~/.config/nvim"], "remote": "/srv/b.git", "auto": false}),
    );
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(m.delete(&format!("/v1/config/{c}")).status, 204);
    let before = m.get("/v1/config").json;
    assert_eq!(before.as_array().unwrap().len(), 2);

    let status = m.stop_daemon();
    assert!(status.success(), "SIGTERM is a clean stop: {status}");
    m.start_daemon();
    assert_eq!(m.d().token, token, "the token survives a restart");
    assert_eq!(m.get("/v1/config").json, before, "every config survives");
    assert_eq!(m.get("/v1/config/nvim").json["id"], b.as_str());
    assert_eq!(
        m.get(&format!("/v1/file/{}", enc("~/.zshrc"))).json,
        json!([a])
    );
    m.get(&format!("/v1/config/{c}"))
        .assert_error(404, "not_found");

    // After a kill -9 too, and the stale lock does not keep the next daemon out.
    m.kill_daemon();
    m.start_daemon();
    assert_eq!(m.get("/v1/config").json, before);
}

/// What one writer thread did: for each config name, the state it last saw acknowledged
/// (`None`: deleted), and the one request that was in flight when the daemon died.
#[derive(Default)]
struct Log {
    acked: BTreeMap<String, Option<Value>>,
    in_flight: Option<(String, InFlight)>,
    acks: usize,
}

/// A write that got no answer: it may or may not have happened, but never in part.
#[derive(Debug)]
enum InFlight {
    /// The config as it would be stored, without its (unknown) id.
    Create(Value),
    Replace(Value),
    Delete,
}

enum Outcome {
    Acked(u16, Value),
    Died,
}

fn request(
    agent: &ureq::Agent,
    base: &str,
    token: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Outcome {
    let req = agent
        .request(method, &format!("{base}{path}"))
        .set("Authorization", &format!("Bearer {token}"));
    let res = match body {
        Some(b) => req.send_json(b),
        None => req.call(),
    };
    match res {
        Ok(r) => {
            let status = r.status();
            let text = r.into_string().unwrap_or_default();
            Outcome::Acked(status, serde_json::from_str(&text).unwrap_or(Value::Null))
        }
        Err(ureq::Error::Status(s, r)) => {
            panic!(
                "{method} {path} answered {s}: {}",
                r.into_string().unwrap_or_default()
            )
        }
        Err(ureq::Error::Transport(_)) => Outcome::Died,
    }
}

/// Creates, replaces and deletes configs named `{prefix}-{i}` until the daemon dies, recording
/// every acknowledged write.
#[allow(
    clippy::needless_pass_by_value,
    reason = "runs on a thread of its own, which owns its arguments"
)]
fn writer(base: String, token: String, prefix: String, total_acks: Arc<AtomicUsize>) -> Log {
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(20))
        .build();
    let mut log = Log::default();
    for i in 0..100_000usize {
        let name = format!("{prefix}-{i}");
        // Create.
        let direction = ["both", "push", "pull"][i % 3];
        let body = json!({
            "name": name,
            "paths": [format!("~/.{prefix}/f{i}"), format!("~/.{prefix}/d{i}")],
            "ignore": [format!("*.{i}")],
            "remote": format!("/srv/{prefix}.git"),
            "interval_s": 100 + i,
            "direction": direction,
        });
        let mut full = json!({
            "name": name, "paths": body["paths"], "ignore": body["ignore"],
            "remote": body["remote"], "branch": "main", "direction": body["direction"],
            "on_conflict": "keep-both", "auto": true, "interval_s": 100 + i, "notify": true,
            "structured_merge": true, "merge_formats": {}, "machines": [], "encrypt": [], "per_machine": [], "plaintext": [],
        });
        log.in_flight = Some((name.clone(), InFlight::Create(full.clone())));
        match request(&agent, &base, &token, "POST", "/v1/config", Some(&body)) {
            Outcome::Acked(201, v) => {
                full["id"] = v["id"].clone();
                assert!(full["id"].is_string(), "POST answered {v}");
                log.acked.insert(name.clone(), Some(full));
            }
            Outcome::Acked(s, v) => panic!("POST {name}: {s} {v}"),
            Outcome::Died => return log,
        }
        log.in_flight = None;
        log.acks += 1;
        total_acks.fetch_add(1, Ordering::SeqCst);

        // Replace the previous config, changing several fields at once.
        if i >= 1 && i % 2 == 1 {
            let target = format!("{prefix}-{}", i - 1);
            if let Some(Some(cur)) = log.acked.get(&target).cloned() {
                let mut next = cur.clone();
                next["interval_s"] = json!(5000 + i);
                next["auto"] = json!(false);
                next["on_conflict"] = json!("local");
                next["ignore"] = json!(["*.changed", format!("*.{i}")]);
                let id = cur["id"].as_str().unwrap().to_owned();
                log.in_flight = Some((target.clone(), InFlight::Replace(next.clone())));
                match request(
                    &agent,
                    &base,
                    &token,
                    "PUT",
                    &format!("/v1/config/{id}"),
                    Some(&next),
                ) {
                    Outcome::Acked(204, _) => {
                        log.acked.insert(target, Some(next));
                    }
                    Outcome::Acked(s, v) => panic!("PUT {id}: {s} {v}"),
                    Outcome::Died => return log,
                }
                log.in_flight = None;
                log.acks += 1;
                total_acks.fetch_add(1, Ordering::SeqCst);
            }
        }

        // Delete an older one now and then.
        if i >= 3 && i % 4 == 3 {
            let target = format!("{prefix}-{}", i - 3);
            if let Some(Some(cur)) = log.acked.get(&target).cloned() {
                let id = cur["id"].as_str().unwrap().to_owned();
                log.in_flight = Some((target.clone(), InFlight::Delete));
                match request(
                    &agent,
                    &base,
                    &token,
                    "DELETE",
                    &format!("/v1/config/{id}"),
                    None,
                ) {
                    Outcome::Acked(204, _) => {
                        log.acked.insert(target, None);
                    }
                    Outcome::Acked(s, v) => panic!("DELETE {id}: {s} {v}"),
                    Outcome::Died => return log,
                }
                log.in_flight = None;
                log.acks += 1;
                total_acks.fetch_add(1, Ordering::SeqCst);
            }
        }
    }
    panic!("the daemon was never killed");
}

/// Runs `threads` writers against the daemon, SIGKILLs it once `kill_after` writes were
/// acknowledged, and returns the writers' logs.
fn burst_then_kill(m: &mut Machine, round: &str, threads: usize, kill_after: usize) -> Vec<Log> {
    let base = format!("http://{}", m.d().addr);
    let token = m.d().token.clone();
    let total = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (base, token, total) = (base.clone(), token.clone(), total.clone());
            let prefix = format!("{round}t{t}");
            std::thread::spawn(move || writer(base, token, prefix, total))
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    while total.load(Ordering::SeqCst) < kill_after {
        assert!(
            Instant::now() < deadline,
            "the writers made no progress:\n{}",
            m.daemon_log()
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    m.kill_daemon();
    let acked_at_kill = total.load(Ordering::SeqCst);
    let logs: Vec<Log> = handles
        .into_iter()
        .map(|h| h.join().expect("a writer failed"))
        .collect();
    // Requests answered between the load above and the kill are fine; there must not be many
    // more, or the daemon was not killed mid-burst.
    let acked: usize = logs.iter().map(|l| l.acks).sum();
    let in_flight = logs.iter().filter(|l| l.in_flight.is_some()).count();
    eprintln!(
        "round {round}: {acked} writes acknowledged, {in_flight} in flight when the daemon was killed"
    );
    assert!(
        acked >= kill_after && acked <= acked_at_kill + threads,
        "{acked} acks, {acked_at_kill} at kill"
    );
    logs
}

/// Checks the daemon's configs against what the writers saw acknowledged: every acknowledged
/// write is there; the one unanswered write of each writer happened wholly or not at all;
/// nothing else exists.
fn check_against_logs(m: &Machine, logs: &[&Log]) {
    let mut stored: BTreeMap<String, Value> = m
        .get("/v1/config")
        .json
        .as_array()
        .expect("the daemon lists its configs after the crash")
        .iter()
        .map(|c| (c["name"].as_str().unwrap().to_owned(), c.clone()))
        .collect();
    for log in logs {
        let mut names: Vec<&String> = log.acked.keys().collect();
        if let Some((n, _)) = &log.in_flight
            && !log.acked.contains_key(n)
        {
            names.push(n);
        }
        for name in names {
            let acked = log.acked.get(name).cloned().flatten();
            let got = stored.remove(name);
            let in_flight = log
                .in_flight
                .as_ref()
                .filter(|(n, _)| n == name)
                .map(|(_, f)| f);
            let ok = got == acked
                || match (in_flight, &got) {
                    (Some(InFlight::Replace(want)), Some(got)) => want == got,
                    (Some(InFlight::Delete), None) => true,
                    (Some(InFlight::Create(want)), Some(got)) => {
                        let mut got = got.clone();
                        let id = got.as_object_mut().unwrap().remove("id");
                        id.is_some_and(|i| i.as_str().is_some_and(|i| i.starts_with("cfg_")))
                            && *want == got
                    }
                    _ => false,
                };
            assert!(
                ok,
                "config {name}: acknowledged {acked:?}, in flight {in_flight:?}, stored {got:?}"
            );
        }
    }
    assert!(
        stored.is_empty(),
        "configs nobody wrote: {:?}",
        stored.keys().collect::<Vec<_>>()
    );
}

#[test]
fn kill_9_during_a_burst_of_writes_loses_no_acknowledged_write() {
    let w = World::new();
    let mut m = w.machine("m");
    m.start_daemon();
    let first = burst_then_kill(&mut m, "a", 4, 150);

    m.start_daemon();
    check_against_logs(&m, &first.iter().collect::<Vec<_>>());

    // A second crash on the recovered state.
    let second = burst_then_kill(&mut m, "b", 4, 150);
    m.start_daemon();
    let all: Vec<&Log> = first.iter().chain(second.iter()).collect();
    check_against_logs(&m, &all);

    // The recovered state takes new writes as usual.
    let id = m.add_config(&json!({"name": "after", "paths": ["~/.after"], "remote": "/srv/x.git"}));
    assert_eq!(m.get("/v1/config/after").json["id"], id.as_str());
}

/// Spawns `dotsync daemon ARGS` for machine `m` and waits (up to 20 s) for it to exit.
fn daemon_exit(
    m: &Machine,
    args: &[&str],
    env: &[(&str, &str)],
) -> (std::process::ExitStatus, String) {
    let mut cmd = m.cmd();
    cmd.arg("daemon")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            let mut err = String::new();
            std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
            return (status, err);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("dotsync daemon {args:?} kept running; it should have refused to start");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_second_daemon_on_the_same_state_refuses_to_start() {
    let w = World::new();
    let mut m = w.machine("m");
    m.start_daemon();
    let id = m.add_config(&json!({"name": "a", "paths": ["~/.a"], "remote": "/srv/a.git"}));
    let pid = m.daemon_pid();
    let addr = m.d().addr.clone();
    let lock = std::fs::read_to_string(m.dotsync_home.join("state/lock")).unwrap();

    let (status, err) = daemon_exit(&m, &["--addr", "127.0.0.1:0"], &[]);
    assert!(!status.success(), "a second daemon must fail");
    assert!(err.contains("error:"), "{err}");
    assert!(err.contains("in use by another dotsync process"), "{err}");
    assert!(
        err.contains(&format!("pid {pid}")),
        "names the holder: {err}"
    );
    assert!(err.contains("DOTSYNC_HOME"), "says what to do: {err}");
    assert!(!err.contains("panicked"), "{err}");

    // The first daemon is unharmed, and the CLI still finds it.
    assert_eq!(
        std::fs::read_to_string(m.dotsync_home.join("state/lock")).unwrap(),
        lock,
        "the refused daemon did not overwrite the lock's address"
    );
    assert_eq!(m.get(&format!("/v1/config/{id}")).status, 200);
    let listed = m.ok_json(&["config", "list", "--json"]);
    assert_eq!(listed[0]["id"], id.as_str());

    // Another state on the same port: a clear error too.
    let other = w.machine("other");
    let (status, err) = daemon_exit(&other, &["--addr", &addr], &[]);
    assert!(!status.success());
    assert!(err.contains(&format!("cannot listen on {addr}")), "{err}");
}

#[test]
fn the_daemon_listens_on_loopback_only() {
    let w = World::new();
    let m = w.machine("m");
    for addr in ["0.0.0.0:0", "[::]:0", "192.0.2.1:11000"] {
        let (status, err) = daemon_exit(&m, &["--addr", addr], &[]);
        assert!(!status.success(), "{addr}");
        assert!(err.contains("loopback only"), "{addr}: {err}");
    }
    // DOTSYNC_ADDR is read when --addr is not given.
    let (status, err) = daemon_exit(&m, &[], &[("DOTSYNC_ADDR", "0.0.0.0:0")]);
    assert!(!status.success());
    assert!(err.contains("0.0.0.0:0"), "{err}");
    let (status, err) = daemon_exit(&m, &[], &[("DOTSYNC_ADDR", "nowhere:xyz")]);
    assert!(!status.success());
    assert!(err.contains("nowhere:xyz"), "{err}");
}

#[test]
fn the_state_is_private_and_lives_in_dotsync_home() {
    use std::os::unix::fs::PermissionsExt;
    let w = World::new();
    let mut m = w.machine("m");
    // DOTSYNC_HOME moves everything; nothing appears in ~/.dotsync.
    m.dotsync_home = w.path().join("elsewhere/dotsync");
    m.start_daemon();
    let root = m.dotsync_home.clone();
    let state = root.join("state");
    assert_eq!(mode(&root), 0o700);
    assert_eq!(mode(&state), 0o700);
    assert_eq!(mode(&state.join("token")), 0o600);
    assert_eq!(mode(&state.join("dotsync.db")), 0o600);
    let token = std::fs::read_to_string(state.join("token")).unwrap();
    assert!(token.trim().len() >= 32, "a long random token: {token:?}");
    assert!(
        !m.home.join(".dotsync").exists(),
        "DOTSYNC_HOME moves the whole ~/.dotsync"
    );

    // Loosened permissions are tightened again at the next start; the token stays.
    m.stop_daemon();
    let set = |p: &std::path::Path, mode: u32| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    set(&root, 0o755);
    set(&state, 0o755);
    set(&state.join("token"), 0o644);
    m.start_daemon();
    assert_eq!(mode(&root), 0o700);
    assert_eq!(mode(&state), 0o700);
    assert_eq!(mode(&state.join("token")), 0o600);
    assert_eq!(m.d().token, token.trim());

    // Without DOTSYNC_HOME, the state is ~/.dotsync.
    let m2 = w.machine("m2");
    let out = Command::new(BIN)
        .args(["config", "list", "--json"])
        .env("HOME", &m2.home)
        .env_remove("DOTSYNC_HOME")
        .env_remove("DOTSYNC_ADDR")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let state2 = m2.home.join(".dotsync/state");
    assert_eq!(mode(&m2.home.join(".dotsync")), 0o700);
    assert_eq!(mode(&state2), 0o700);
    assert_eq!(mode(&state2.join("token")), 0o600);
}

#[test]
fn the_daemon_stops_cleanly_while_requests_arrive() {
    // SIGTERM in the middle of traffic: the daemon exits 0 and what it acknowledged is kept.
    let w = World::new();
    let mut m = w.machine("m");
    m.start_daemon();
    let base = format!("http://{}", m.d().addr);
    let token = m.d().token.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicUsize::new(0));
    let writer = {
        let (stop, acked) = (stop.clone(), acked.clone());
        std::thread::spawn(move || {
            let agent = ureq::AgentBuilder::new()
                .timeout(Duration::from_secs(20))
                .build();
            let mut names = Vec::new();
            for i in 0.. {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let body = json!({"name": format!("s{i}"), "paths": [format!("~/.s{i}")], "remote": "/srv/s.git"});
                match request(&agent, &base, &token, "POST", "/v1/config", Some(&body)) {
                    Outcome::Acked(201, _) => {
                        names.push(format!("s{i}"));
                        acked.fetch_add(1, Ordering::SeqCst);
                    }
                    Outcome::Acked(s, v) => panic!("{s} {v}"),
                    Outcome::Died => break,
                }
            }
            names
        })
    };
    wait_for(|| acked.load(Ordering::SeqCst) >= 10);
    let status = m.stop_daemon();
    stop.store(true, Ordering::SeqCst);
    assert!(status.success(), "{status}\n{}", m.daemon_log());
    let names = writer.join().unwrap();
    m.start_daemon();
    let stored: Vec<String> = m
        .get("/v1/config")
        .json
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect();
    for n in &names {
        assert!(stored.contains(n), "{n} was acknowledged but is gone");
    }
}

fn wait_for(mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !f() {
        assert!(Instant::now() < deadline, "timed out");
        std::thread::sleep(Duration::from_millis(5));
    }
}
