//! The daemon keeping files in sync by itself: two real daemons, one bare remote, short
//! intervals. Files are written the way people and editors write them, and nobody calls sync.
//! Also: the shape of the sync routes' NDJSON streams, the event stream, `GET /v1/status`, the
//! `sync`, `status` and `service` commands.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::util::{Machine, World, config_status, git, read_opt, wait_synced, wait_until};

// ---- helpers ----

fn auto_cfg(remote: &Path, name: &str, paths: &[&str], interval_s: u64) -> Value {
    json!({"name": name, "paths": paths, "remote": remote.to_str().unwrap(),
        "auto": true, "interval_s": interval_s})
}

fn manual_cfg(remote: &Path, name: &str, paths: &[&str]) -> Value {
    json!({"name": name, "paths": paths, "remote": remote.to_str().unwrap(), "auto": false})
}

/// Commits on the remote's `main` (0 before the first push).
fn remote_commits(remote: &Path) -> usize {
    let out = std::process::Command::new("git")
        .args(["rev-list", "--count", "main"])
        .current_dir(remote)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}

/// A file's content at the remote's `main`, if it is there.
fn remote_file(remote: &Path, path: &str) -> Option<String> {
    let out = std::process::Command::new("git")
        .args(["show", &format!("main:{path}")])
        .current_dir(remote)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .unwrap();
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn now_unix() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    i64::try_from(now.as_secs()).unwrap()
}

/// POSTs to a sync route and returns the NDJSON lines.
fn sync_lines(m: &Machine, path: &str, body: Option<&Value>) -> Vec<Value> {
    let r = m.req("POST", path, body);
    assert_eq!(r.status, 200, "POST {path}: {}", r.text);
    assert!(
        r.content_type.starts_with("application/x-ndjson"),
        "{}",
        r.content_type
    );
    assert!(
        r.text.is_empty() || r.text.ends_with('\n'),
        "every line ends with a newline: {:?}",
        r.text
    );
    r.text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad line {l:?}: {e}")))
        .collect()
}

/// One Server-Sent Event.
#[derive(Debug, Clone)]
struct Sse {
    id: Option<u64>,
    event: String,
    data: Value,
}

/// A connection to `GET /v1/events`, read by a thread.
struct EventStream {
    rx: mpsc::Receiver<Sse>,
}

impl EventStream {
    fn connect(m: &Machine, last_id: Option<u64>) -> Self {
        let mut req = m.authed("GET", "/v1/events");
        if let Some(id) = last_id {
            req = req.set("Last-Event-ID", &id.to_string());
        }
        let resp = req.call().expect("GET /v1/events");
        assert_eq!(resp.status(), 200);
        assert!(
            resp.header("content-type")
                .unwrap_or("")
                .starts_with("text/event-stream")
        );
        let (tx, rx) = mpsc::channel();
        let reader = BufReader::new(resp.into_reader());
        std::thread::spawn(move || {
            let mut cur = Sse {
                id: None,
                event: String::new(),
                data: Value::Null,
            };
            let mut data = String::new();
            for line in reader.lines() {
                let Ok(line) = line else { return };
                if line.is_empty() {
                    if !data.is_empty() {
                        cur.data = serde_json::from_str(&data).unwrap_or(Value::Null);
                        if tx.send(cur.clone()).is_err() {
                            return;
                        }
                    }
                    cur = Sse {
                        id: None,
                        event: String::new(),
                        data: Value::Null,
                    };
                    data.clear();
                } else if let Some(v) = line.strip_prefix("id:") {
                    cur.id = v.trim().parse().ok();
                } else if let Some(v) = line.strip_prefix("event:") {
                    v.trim().clone_into(&mut cur.event);
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.strip_prefix(' ').unwrap_or(v));
                }
            }
        });
        Self { rx }
    }

    fn next(&self, timeout: Duration) -> Option<Sse> {
        self.rx.recv_timeout(timeout).ok()
    }

    /// Events until `stop` matches one (included), within `secs`.
    fn until(&self, secs: u64, what: &str, mut stop: impl FnMut(&Sse) -> bool) -> Vec<Sse> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        let mut out = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let ev = self
                .next(left)
                .unwrap_or_else(|| panic!("timed out waiting for {what}; got {out:#?}"));
            let done = stop(&ev);
            out.push(ev);
            if done {
                return out;
            }
        }
    }

    /// Everything that arrives within `d`.
    fn collect_for(&self, d: Duration) -> Vec<Sse> {
        let deadline = Instant::now() + d;
        let mut out = Vec::new();
        while let Some(ev) = self.next(deadline.saturating_duration_since(Instant::now())) {
            out.push(ev);
        }
        out
    }
}

/// Two machines with daemons and the same auto config on one bare remote; B checks the remote
/// every second.
fn pair(w: &World, name: &str, paths: &[&str]) -> (Machine, Machine, PathBuf) {
    let remote = w.bare_remote(name);
    let mut a = w.machine("laptop");
    let mut b = w.machine("desktop");
    a.start_daemon();
    b.start_daemon();
    // Created after the daemons started: they must pick the configs up by themselves.
    a.add_config(&auto_cfg(&remote, name, paths, 1));
    b.add_config(&auto_cfg(&remote, name, paths, 1));
    wait_synced(&a, name);
    wait_synced(&b, name);
    (a, b, remote)
}

// ---- the issue's scenarios ----

#[test]
fn a_file_written_on_a_arrives_on_b() {
    let w = World::new();
    let (a, b, remote) = pair(&w, "dots", &["~/.zshrc", "~/.config/nvim"]);
    let t = Instant::now();
    a.write(".zshrc", "export EDITOR=nvim\n");
    a.write(".config/nvim/init.lua", "vim.o.number = true\n");
    wait_until(20, "the files to reach B", || {
        read_opt(&b, ".zshrc").as_deref() == Some("export EDITOR=nvim\n")
            && read_opt(&b, ".config/nvim/init.lua").as_deref() == Some("vim.o.number = true\n")
    });
    eprintln!("write on A -> file on B: {:?}", t.elapsed());
    assert_eq!(
        remote_file(&remote, ".zshrc").as_deref(),
        Some("export EDITOR=nvim\n")
    );
    // A new file in a watched directory, and an edit, travel too.
    a.write(".config/nvim/lua/plugins.lua", "return {}\n");
    a.write(".zshrc", "export EDITOR=hx\n");
    wait_until(20, "the new file and the edit to reach B", || {
        read_opt(&b, ".config/nvim/lua/plugins.lua").as_deref() == Some("return {}\n")
            && read_opt(&b, ".zshrc").as_deref() == Some("export EDITOR=hx\n")
    });
    // And back the other way.
    b.write(".config/nvim/init.lua", "vim.o.number = false\n");
    wait_until(20, "B's edit to reach A", || {
        read_opt(&a, ".config/nvim/init.lua").as_deref() == Some("vim.o.number = false\n")
    });
    // The status counts the config's files and their size, as the last sync saw them.
    let size = "export EDITOR=hx\n".len() + "vim.o.number = false\n".len() + "return {}\n".len();
    wait_until(20, "A's status to count the three files", || {
        let st = config_status(&a, "dots");
        st["files"] == 3 && st["bytes"] == size
    });
}

#[test]
fn a_vim_style_save_is_noticed() {
    let w = World::new();
    let (a, b, remote) = pair(&w, "dots", &["~/.vimrc"]);
    a.write(".vimrc", "set number\n");
    wait_until(20, "the first version on B", || {
        read_opt(&b, ".vimrc").as_deref() == Some("set number\n")
    });
    // vim's default: write a new file next to the old one, then rename it over.
    let tmp = a.home.join(".vimrc~tmp4913");
    std::fs::write(&tmp, "set number\nset relativenumber\n").unwrap();
    std::fs::rename(&tmp, a.home.join(".vimrc")).unwrap();
    wait_until(20, "the renamed-over save on the remote", || {
        remote_file(&remote, ".vimrc").as_deref() == Some("set number\nset relativenumber\n")
    });
    wait_until(20, "the renamed-over save on B", || {
        read_opt(&b, ".vimrc").as_deref() == Some("set number\nset relativenumber\n")
    });
    // Saved that way twice more: each save is noticed, not just the first.
    for n in 0..2 {
        let text = format!("set number\nset tw={n}\n");
        std::fs::write(&tmp, &text).unwrap();
        std::fs::rename(&tmp, a.home.join(".vimrc")).unwrap();
        wait_until(20, "another renamed-over save on B", || {
            read_opt(&b, ".vimrc").as_deref() == Some(text.as_str())
        });
    }
    assert!(
        remote_file(&remote, ".vimrc~tmp4913").is_none(),
        "the editor's temporary file was pushed"
    );
}

#[test]
fn two_hundred_files_written_in_a_burst_make_one_commit() {
    let w = World::new();
    let remote = w.bare_remote("dots");
    let mut a = w.machine("laptop");
    a.start_daemon();
    a.add_config(&auto_cfg(
        &remote,
        "dots",
        &["~/.zshrc", "~/.config/app"],
        3600,
    ));
    a.write(".zshrc", "base\n");
    wait_until(20, "the first commit", || remote_commits(&remote) == 1);
    wait_synced(&a, "dots");
    let events = EventStream::connect(&a, None);
    // Like a `git pull` into a config directory: 200 files within a few milliseconds.
    for i in 0..200 {
        a.write(&format!(".config/app/part{:03}.conf", i / 50), "");
        a.write(
            &format!(".config/app/f{i:03}.conf"),
            format!("value = {i}\n"),
        );
    }
    wait_until(30, "the burst on the remote", || {
        remote_file(&remote, ".config/app/f199.conf").as_deref() == Some("value = 199\n")
    });
    // Whatever would come late has had time to come.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        remote_commits(&remote),
        2,
        "the burst became more than one commit"
    );
    let tree = git(&remote, &["ls-tree", "-r", "--name-only", "main"]);
    assert_eq!(
        tree.lines()
            .filter(|l| l.starts_with(".config/app/f"))
            .count(),
        200
    );
    let syncs: Vec<Sse> = events
        .collect_for(Duration::from_millis(200))
        .into_iter()
        .filter(|e| e.event == "sync_started")
        .collect();
    assert_eq!(syncs.len(), 1, "one sync for the burst: {syncs:#?}");
    // Started by the watcher (`rescan`: the burst also created ~/.config, above the listed
    // directory).
    let trigger = &syncs[0].data["data"]["trigger"];
    assert!(trigger == "watch" || trigger == "rescan", "{trigger}");
}

#[test]
fn an_edit_on_each_machine_in_the_same_minute_converges_with_both_edits() {
    let w = World::new();
    let (a, b, _remote) = pair(&w, "dots", &["~/.gitconfig"]);
    let base = "[user]\n  name = me\n[core]\n  editor = vim\n[pull]\n  rebase = false\n";
    a.write(".gitconfig", base);
    wait_until(20, "the base on B", || {
        read_opt(&b, ".gitconfig").as_deref() == Some(base)
    });
    std::thread::sleep(Duration::from_millis(300));
    // Both machines edit within the same second, on different lines.
    a.write(".gitconfig", base.replace("name = me", "name = Me Myself"));
    b.write(
        ".gitconfig",
        base.replace("rebase = false", "rebase = true"),
    );
    let both = "[user]\n  name = Me Myself\n[core]\n  editor = vim\n[pull]\n  rebase = true\n";
    wait_until(30, "both machines to hold both edits", || {
        read_opt(&a, ".gitconfig").as_deref() == Some(both)
            && read_opt(&b, ".gitconfig").as_deref() == Some(both)
    });
    for m in [&a, &b] {
        let s = config_status(m, "dots");
        assert_eq!(s["conflicts"], 0, "{s}");
    }
}

#[test]
fn the_same_line_edited_on_both_machines_shows_as_a_conflict_until_resolved() {
    let w = World::new();
    let (a, b, _remote) = pair(&w, "dots", &["~/.config/app"]);
    a.write(".config/app/settings.conf", "theme = light\n");
    wait_until(20, "the base on B", || {
        read_opt(&b, ".config/app/settings.conf").as_deref() == Some("theme = light\n")
    });
    wait_synced(&b, "dots");
    a.write(".config/app/settings.conf", "theme = dark\n");
    b.write(".config/app/settings.conf", "theme = solarized\n");
    // Whichever machine syncs second finds the conflict; the status shows it, with the count.
    let mut in_conflict = None;
    wait_until(30, "a machine to show the conflict", || {
        for m in [&a, &b] {
            let s = config_status(m, "dots");
            if s["state"] == "conflict" {
                assert_eq!(s["conflicts"], 1, "{s}");
                in_conflict = Some(m.name.clone());
                return true;
            }
        }
        false
    });
    let m = if in_conflict.as_deref() == Some("laptop") {
        &a
    } else {
        &b
    };
    let out = m.ok(&["status"]);
    assert!(
        out.lines()
            .any(|l| l.starts_with("dots") && l.contains("conflict")),
        "{out}"
    );
    // Settled on that machine: the daemon syncs the resolution and the state goes back.
    m.ok(&["resolve", "~/.config/app/settings.conf", "--keep", "local"]);
    wait_until(20, "the conflict to clear", || {
        let s = config_status(m, "dots");
        s["state"] == "idle" && s["conflicts"] == 0
    });
    let kept = read_opt(m, ".config/app/settings.conf").unwrap();
    wait_until(20, "both machines to agree", || {
        read_opt(&a, ".config/app/settings.conf").as_deref() == Some(kept.as_str())
            && read_opt(&b, ".config/app/settings.conf").as_deref() == Some(kept.as_str())
    });
}

#[test]
fn a_remote_that_goes_away_is_offline_and_recovers_by_itself() {
    let w = World::new();
    let _remote = w.bare_remote("dots");
    // The remote is a server on loopback, stopped and started again.
    let gd = crate::util::git_daemon(w.path(), None);
    let port = gd.1;
    let url = PathBuf::from(format!("git://127.0.0.1:{port}/dots.git"));
    let mut a = w.machine("laptop");
    let mut b = w.machine("desktop");
    a.start_daemon();
    b.start_daemon();
    a.add_config(&auto_cfg(&url, "dots", &["~/.zshrc"], 1));
    b.add_config(&auto_cfg(&url, "dots", &["~/.zshrc"], 1));
    wait_synced(&a, "dots");
    wait_synced(&b, "dots");
    a.write(".zshrc", "one\n");
    wait_until(20, "the first version on B", || {
        read_opt(&b, ".zshrc").as_deref() == Some("one\n")
    });
    drop(gd);
    // A's edit cannot be pushed; B's remote checks fail.
    a.write(".zshrc", "two\n");
    for m in [&a, &b] {
        wait_until(20, &format!("{} to show offline", m.name), || {
            config_status(m, "dots")["state"] == "offline"
        });
    }
    let s = config_status(&a, "dots");
    assert!(
        s["last_error"]
            .as_str()
            .unwrap()
            .contains("cannot be reached"),
        "{s}"
    );
    assert_eq!(s["last_error_kind"], "offline");
    assert_eq!(s["pending_changes"], 1, "A's unpushed edit is shown: {s}");
    assert_eq!(a.read(".zshrc"), "two\n", "the local edit is kept");
    let out = a.ok(&["status"]);
    assert!(out.contains("offline"), "{out}");
    let _gd = crate::util::git_daemon(w.path(), Some(port));
    // Nobody asks: the retries find the remote back.
    wait_until(40, "the edit to reach B after the remote came back", || {
        read_opt(&b, ".zshrc").as_deref() == Some("two\n")
    });
    for m in [&a, &b] {
        wait_until(20, &format!("{} to leave offline", m.name), || {
            let s = config_status(m, "dots");
            s["state"] == "idle" && s["last_error"].is_null()
        });
    }
}

#[test]
fn sigterm_during_a_sync_leaves_no_partial_file_and_no_stale_lock() {
    let w = World::new();
    let remote = w.bare_remote("dots");
    let mut a = w.machine("laptop");
    let mut b = w.machine("desktop");
    a.start_daemon();
    b.start_daemon();
    a.add_config(&manual_cfg(&remote, "dots", &["~/.config/big"]));
    b.add_config(&manual_cfg(&remote, "dots", &["~/.config/big"]));
    let mut expected = BTreeMap::new();
    for i in 0..1000 {
        let rel = format!(".config/big/d{:02}/file{i:04}.conf", i % 40);
        let text = format!("setting_{i} = {}\n", "x".repeat(i % 300));
        a.write(&rel, &text);
        expected.insert(rel, text);
    }
    let lines = sync_lines(&a, "/v1/sync/dots", None);
    assert_eq!(lines.last().unwrap()["ok"], true, "{:?}", lines.last());

    // B pulls the 1000 files; SIGTERM arrives while files are being written.
    let url = b.url("/v1/sync/dots");
    let token = b.d().token.clone();
    let (tx, rx) = mpsc::channel::<Value>();
    let reader = std::thread::spawn(move || {
        let resp = ureq::post(&url)
            .set("Authorization", &format!("Bearer {token}"))
            .call()
            .unwrap();
        for line in BufReader::new(resp.into_reader()).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(serde_json::from_str(&line).unwrap());
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let v = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("B's sync to start writing");
        if v["type"] == "file" && v["action"] == "pulled" {
            break;
        }
        assert_ne!(v["type"], "summary", "B's sync ended before any file: {v}");
    }
    let status = b.stop_daemon();
    assert!(
        status.success(),
        "the daemon exits cleanly on SIGTERM: {status}"
    );
    let rest: Vec<Value> = rx.iter().collect();
    reader.join().unwrap();
    let summary = rest.last().expect("the stream ended with a summary");
    assert_eq!(summary["type"], "summary", "{rest:?}");
    eprintln!(
        "summary after SIGTERM: ok={} kind={}",
        summary["ok"], summary["error_kind"]
    );

    // Every file in B's home is whole: absent, or exactly A's bytes; nothing else lies around.
    let mut present = 0;
    let root = b.home.join(".config/big");
    let mut stack = vec![root];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
                continue;
            }
            let rel = e
                .path()
                .strip_prefix(&b.home)
                .unwrap()
                .to_str()
                .unwrap()
                .to_owned();
            let want = expected
                .get(&rel)
                .unwrap_or_else(|| panic!("a stray file was left in the home: {rel}"));
            assert_eq!(
                &std::fs::read_to_string(e.path()).unwrap(),
                want,
                "{rel} is partial"
            );
            present += 1;
        }
    }
    eprintln!("files on B at SIGTERM: {present} of 1000");
    // No lock left behind: not git's, and not the state lock.
    let mut locks = Vec::new();
    let mut stack = vec![b.dotsync_home.clone()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else if e.file_name().to_string_lossy().ends_with(".lock") {
                locks.push(e.path());
            }
        }
    }
    assert!(locks.is_empty(), "stale git locks: {locks:?}");
    let out = b.ok(&["config", "list", "--json"]);
    assert!(
        out.contains("dots"),
        "the state is usable without the daemon"
    );
    // Started again, B finishes the job.
    b.start_daemon();
    let lines = sync_lines(&b, "/v1/sync/dots", None);
    assert_eq!(lines.last().unwrap()["ok"], true, "{:?}", lines.last());
    for (rel, text) in &expected {
        assert_eq!(read_opt(&b, rel).as_deref(), Some(text.as_str()), "{rel}");
    }
}

#[test]
fn the_event_stream_delivers_a_syncs_events_in_order_with_increasing_ids() {
    let w = World::new();
    let remote = w.bare_remote("dots");
    let mut a = w.machine("laptop");
    a.start_daemon();
    let events = EventStream::connect(&a, None);
    a.add_config(&manual_cfg(&remote, "dots", &["~/.zshrc", "~/.config/git"]));
    a.write(".zshrc", "z\n");
    a.write(".config/git/config", "[user]\n");
    a.write(".config/git/ignore", "*.swp\n");
    let lines = sync_lines(&a, "/v1/sync/dots", None);
    let got = events.until(20, "sync_finished", |e| e.event == "sync_finished");

    let ids: Vec<u64> = got
        .iter()
        .map(|e| e.id.expect("every event has an id"))
        .collect();
    assert!(ids.windows(2).all(|p| p[1] > p[0]), "ids increase: {ids:?}");
    for e in &got {
        assert_eq!(e.data["id"], e.id.unwrap(), "the id line matches the data");
        assert_eq!(e.data["kind"], e.event, "the event name is the kind");
    }
    assert_eq!(got[0].event, "config_changed");
    let sync: Vec<&Sse> = got
        .iter()
        .filter(|e| e.event != "status" && e.event != "config_changed")
        .collect();
    assert_eq!(sync.first().unwrap().event, "sync_started");
    assert_eq!(sync.last().unwrap().event, "sync_finished");
    // The same events, in the same order, as the NDJSON stream of the request.
    let from_hub: Vec<&Value> = sync.iter().map(|e| &e.data["data"]).collect();
    let from_stream: Vec<&Value> = lines.iter().collect();
    assert_eq!(from_hub, from_stream);
    let pushed: Vec<&str> = sync
        .iter()
        .filter(|e| e.event == "file")
        .map(|e| e.data["data"]["path"].as_str().unwrap())
        .collect();
    assert_eq!(pushed.len(), 3, "{pushed:?}");

    // A client that reconnects with Last-Event-ID gets what came after, and nothing twice.
    let started = sync[0].id.unwrap();
    let again = EventStream::connect(&a, Some(started));
    let replay = again.until(10, "the replayed sync_finished", |e| {
        e.event == "sync_finished"
    });
    assert_eq!(replay[0].id, Some(started + 1));
    let replay_ids: Vec<u64> = replay.iter().map(|e| e.id.unwrap()).collect();
    let expected: Vec<u64> = ids.iter().copied().filter(|&i| i > started).collect();
    assert_eq!(replay_ids, expected[..replay_ids.len()]);
}

// ---- the sync routes' streams ----

#[test]
fn a_sync_stream_is_ndjson_with_start_first_and_summary_last() {
    let w = World::new();
    let remote = w.bare_remote("dots");
    let mut a = w.machine("laptop");
    a.start_daemon();
    let id = a.add_config(&manual_cfg(&remote, "dots", &["~/.zshrc", "~/.bashrc"]));
    a.write(".zshrc", "z\n");
    a.write(".bashrc", "b\n");
    // By name, with the option in the body.
    let lines = sync_lines(
        &a,
        "/v1/sync/dots",
        Some(&json!({"allow_mass_delete": false})),
    );
    assert_eq!(lines[0]["type"], "start", "{lines:#?}");
    assert_eq!(lines[0]["config"], "dots");
    assert_eq!(lines[0]["config_id"], id.as_str());
    assert_eq!(lines[0]["trigger"], "api");
    let last = lines.last().unwrap();
    assert_eq!(last["type"], "summary");
    assert_eq!(last["ok"], true);
    assert_eq!(last["pushed"], 2);
    assert!(last["commit"].as_str().unwrap().len() >= 40);
    assert_eq!(lines.iter().filter(|l| l["type"] == "start").count(), 1);
    assert_eq!(lines.iter().filter(|l| l["type"] == "summary").count(), 1);
    for l in &lines[1..lines.len() - 1] {
        assert!(
            l["type"] == "file" || l["type"] == "progress",
            "unexpected line {l}"
        );
    }
    // By id, with the option in the query: nothing to do, still start + summary.
    let lines = sync_lines(&a, &format!("/v1/sync/{id}?allow_mass_delete=true"), None);
    assert_eq!(lines[0]["type"], "start");
    assert_eq!(lines.last().unwrap()["type"], "summary");
    assert_eq!(lines.last().unwrap()["pushed"], 0);
    // The status reflects the sync as soon as the summary is read.
    let s = config_status(&a, "dots");
    assert_eq!(s["state"], "idle");
    assert_eq!(s["commit"], last["commit"]);
    assert!(s["last_sync"].as_i64().unwrap() > 0);
}

#[test]
fn syncing_an_unknown_config_is_a_404_before_any_stream() {
    let w = World::new();
    let mut a = w.machine("laptop");
    a.start_daemon();
    let r = a.req("POST", "/v1/sync/nope", None);
    let msg = r.assert_error(404, "not_found");
    assert!(msg.contains("nope"), "{msg}");
    let r = a.req("POST", "/v1/sync/cfg_0123456789abcdef", None);
    r.assert_error(404, "not_found");
    // Bad options are refused before anything runs, too.
    let remote = w.bare_remote("dots");
    a.add_config(&manual_cfg(&remote, "dots", &["~/.zshrc"]));
    let r = a.req(
        "POST",
        "/v1/sync/dots",
        Some(&json!({"allow_mass_delete": "yes"})),
    );
    r.assert_error(400, "bad_request");
    let r = a.req("POST", "/v1/sync/dots", Some(&json!({"force": true})));
    r.assert_error(400, "bad_request");
    let r =
        crate::util::send_raw(a.authed("POST", "/v1/sync/dots"), Some("text/plain"), b"x").unwrap();
    r.assert_error(415, "unsupported_media_type");
    // And without a token, nothing at all.
    let r = crate::util::send_raw(a.anon("POST", "/v1/sync/dots"), None, b"").unwrap();
    r.assert_error(401, "unauthorized");
    assert_eq!(remote_commits(&remote), 0);
}

#[test]
fn sync_all_is_one_stream_with_each_config_from_start_to_summary() {
    let w = World::new();
    let remote = w.bare_remote("dots");
    let mut a = w.machine("laptop");
    a.start_daemon();
    // No configs: an empty stream, and the CLI says what to do.
    assert!(sync_lines(&a, "/v1/sync", None).is_empty());
    let out = a.run(&["sync"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("dotsync config add"));
    for (name, file) in [
        ("shell", ".zshrc"),
        ("git", ".gitconfig"),
        ("tmux", ".tmux.conf"),
    ] {
        a.add_config(&manual_cfg(&remote, name, &[&format!("~/{file}")]));
        a.write(file, format!("{name}\n"));
    }
    let lines = sync_lines(&a, "/v1/sync", None);
    let order: Vec<(String, String)> = lines
        .iter()
        .filter(|l| l["type"] == "start" || l["type"] == "summary")
        .map(|l| {
            (
                l["type"].as_str().unwrap().to_owned(),
                l["config"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let want: Vec<(String, String)> = ["shell", "git", "tmux"]
        .iter()
        .flat_map(|n| {
            [
                ("start".to_owned(), n.to_string()),
                ("summary".to_owned(), n.to_string()),
            ]
        })
        .collect();
    assert_eq!(order, want, "configs one after another, never interleaved");
    assert!(
        lines
            .iter()
            .filter(|l| l["type"] == "summary")
            .all(|s| s["ok"] == true)
    );
    assert_eq!(remote_commits(&remote), 3);
}

#[test]
fn requests_during_a_sync_are_coalesced_into_one_follow_up_run() {
    let w = World::new();
    let remote = w.bare_remote("dots");
    let mut a = w.machine("laptop");
    a.start_daemon();
    a.add_config(&manual_cfg(&remote, "dots", &["~/.config/big"]));
    for i in 0..1500 {
        a.write(
            &format!(".config/big/d{:02}/f{i:04}", i % 30),
            format!("{i}\n"),
        );
    }
    let events = EventStream::connect(&a, None);
    let (tx, rx) = mpsc::channel::<(usize, Vec<Value>)>();
    let spawn = |n: usize| {
        let url = a.url("/v1/sync/dots");
        let token = a.d().token.clone();
        let tx = tx.clone();
        std::thread::spawn(move || {
            let resp = ureq::post(&url)
                .set("Authorization", &format!("Bearer {token}"))
                .call()
                .unwrap();
            let lines: Vec<Value> = BufReader::new(resp.into_reader())
                .lines()
                .map(|l| serde_json::from_str(&l.unwrap()).unwrap())
                .collect();
            tx.send((n, lines)).unwrap();
        })
    };
    let first = spawn(0);
    events.until(30, "the first sync to start", |e| e.event == "sync_started");
    // Three more requests while it runs.
    let more: Vec<_> = (1..=3).map(spawn).collect();
    first.join().unwrap();
    for t in more {
        t.join().unwrap();
    }
    drop(tx);
    let mut results: Vec<(usize, Vec<Value>)> = rx.iter().collect();
    results.sort_by_key(|(n, _)| *n);
    assert_eq!(results.len(), 4);
    assert_eq!(results[0].1.last().unwrap()["pushed"], 1500);
    // The three waited for the one follow-up run, and all saw that same run.
    let follow: Vec<&Value> = results[1..]
        .iter()
        .map(|(_, l)| l.last().unwrap())
        .collect();
    assert!(follow.iter().all(|s| s["ok"] == true && s["pushed"] == 0));
    assert!(
        follow.iter().all(|s| *s == follow[0]),
        "one run, one summary: {follow:#?}"
    );
    let started = events
        .collect_for(Duration::from_millis(500))
        .into_iter()
        .filter(|e| e.event == "sync_started")
        .count();
    assert_eq!(started, 1, "after the first, exactly one more run");
}

// ---- watching details ----

#[test]
fn the_daemons_own_writes_do_not_sync_back() {
    let w = World::new();
    let (a, b, remote) = pair(&w, "dots", &["~/.zshrc", "~/.config/fish"]);
    a.write(".zshrc", "z\n");
    a.write(".config/fish/config.fish", "set -x A 1\n");
    wait_until(20, "the files on B", || {
        read_opt(&b, ".config/fish/config.fish").as_deref() == Some("set -x A 1\n")
    });
    let commits = remote_commits(&remote);
    let events = EventStream::connect(&b, None);
    a.write(".zshrc", "z2\n");
    wait_until(20, "the edit on B", || {
        read_opt(&b, ".zshrc").as_deref() == Some("z2\n")
    });
    // B wrote .zshrc itself; its watcher saw that, and must not take it for an edit.
    let seen = events.collect_for(Duration::from_secs(3));
    let watch_syncs: Vec<&Sse> = seen
        .iter()
        .filter(|e| {
            e.event == "sync_started"
                && (e.data["data"]["trigger"] == "watch" || e.data["data"]["trigger"] == "rescan")
        })
        .collect();
    assert!(
        watch_syncs.is_empty(),
        "B synced its own write back: {watch_syncs:#?}"
    );
    assert_eq!(remote_commits(&remote), commits + 1);
    assert_eq!(config_status(&b, "dots")["pending_changes"], 0);
}

#[test]
fn configs_edited_or_deleted_through_the_api_are_picked_up_at_once() {
    let w = World::new();
    let remote = w.bare_remote("dots");
    let mut a = w.machine("laptop");
    a.start_daemon();
    a.add_config(&auto_cfg(&remote, "dots", &["~/.zshrc"], 3600));
    a.write(".zshrc", "one\n");
    wait_until(20, "the first push", || {
        remote_file(&remote, ".zshrc").as_deref() == Some("one\n")
    });
    // A path added by an edit is watched from then on.
    let mut body = a.get("/v1/config/dots").json;
    body["paths"] = json!(["~/.zshrc", "~/.tmux.conf"]);
    assert_eq!(a.put("/v1/config/dots", &body).status, 204);
    wait_synced(&a, "dots");
    a.write(".tmux.conf", "set -g mouse on\n");
    wait_until(20, "the newly listed file on the remote", || {
        remote_file(&remote, ".tmux.conf").as_deref() == Some("set -g mouse on\n")
    });
    assert_eq!(config_status(&a, "dots")["watch"], "watching");
    // Turned to manual: no longer watched.
    body["auto"] = json!(false);
    assert_eq!(a.put("/v1/config/dots", &body).status, 204);
    wait_until(10, "the watch to stop", || {
        config_status(&a, "dots")["watch"] == "off"
    });
    // A sync the watcher asked for before the change may still be running: let it end.
    wait_synced(&a, "dots");
    let commits = remote_commits(&remote);
    a.write(".zshrc", "two\n");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        remote_commits(&remote),
        commits,
        "a manual config synced by itself"
    );
    // Deleted: gone from the status, never synced again.
    body["auto"] = json!(true);
    assert_eq!(a.put("/v1/config/dots", &body).status, 204);
    wait_until(20, "the auto config to push the pending edit", || {
        remote_file(&remote, ".zshrc").as_deref() == Some("two\n")
    });
    wait_synced(&a, "dots");
    assert_eq!(a.delete("/v1/config/dots").status, 204);
    let commits = remote_commits(&remote);
    a.write(".zshrc", "three\n");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(remote_commits(&remote), commits, "a deleted config synced");
    assert!(
        a.get("/v1/status").json["configs"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[test]
fn past_the_watch_limit_configs_are_rescanned_and_the_status_says_so() {
    let w = World::new();
    let remote = w.bare_remote("dots");
    let mut a = w.machine("laptop");
    std::fs::create_dir_all(a.home.join(".config/nvim/lua/plugins")).unwrap();
    // At most two watched directories; the tree needs more.
    a.start_daemon_with(&["--watch-limit", "2"]);
    a.add_config(&auto_cfg(&remote, "nvim", &["~/.config/nvim"], 1));
    wait_until(10, "the fallback to show", || {
        config_status(&a, "nvim")["watch"] == "rescan"
    });
    let s = config_status(&a, "nvim");
    assert!(
        s["watch_detail"]
            .as_str()
            .unwrap()
            .contains("max_user_watches"),
        "{s}"
    );
    let st = a.get("/v1/status").json;
    assert!(
        st["watcher"]["error"].as_str().unwrap().contains("limit"),
        "{st}"
    );
    let out = a.ok(&["status"]);
    assert!(out.contains("watch limit"), "{out}");
    // Changes are still found, by the rescans.
    a.write(".config/nvim/lua/plugins/lsp.lua", "return {}\n");
    wait_until(20, "the change found by a rescan", || {
        remote_file(&remote, ".config/nvim/lua/plugins/lsp.lua").as_deref() == Some("return {}\n")
    });
}

// ---- status and the CLI ----

#[test]
fn the_status_shows_the_daemon_and_every_config() {
    let w = World::new();
    let remote = w.bare_remote("dots");
    let mut a = w.machine("laptop");
    // Without a daemon: the CLI answers itself and says nothing syncs by itself.
    a.ok(&[
        "config",
        "add",
        "dots",
        "--remote",
        remote.to_str().unwrap(),
        "~/.zshrc",
    ]);
    let st = a.ok_json(&["status", "--json"]);
    assert_eq!(st["background"], false);
    assert_eq!(st["configs"][0]["watch"], "off");
    let out = a.ok(&["status"]);
    assert!(out.contains("no daemon running"), "{out}");

    a.start_daemon();
    a.write(".zshrc", "z\n");
    wait_until(20, "the push", || remote_file(&remote, ".zshrc").is_some());
    wait_synced(&a, "dots");
    let st = a.ok_json(&["status", "--json"]);
    assert_eq!(st["background"], true);
    assert_eq!(st["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(st["pid"], a.daemon_pid());
    assert!(st["uptime_s"].as_u64().is_some());
    assert_eq!(st["watcher"]["running"], true);
    let c = &st["configs"][0];
    assert_eq!(c["name"], "dots");
    assert_eq!(c["state"], "idle");
    assert_eq!(c["watch"], "watching");
    assert_eq!(c["pending_changes"], 0);
    assert_eq!(c["conflicts"], 0);
    assert!(c["last_error"].is_null());
    let age = now_unix() - c["last_sync"].as_i64().unwrap();
    assert!((0..60).contains(&age), "{c}");
    let out = a.ok(&["status"]);
    assert!(out.contains("daemon running"), "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("dots") && l.contains("idle")),
        "{out}"
    );

    // Fast enough for a shell prompt. Measured, not asserted tightly: a busy CI machine is slow.
    let mut times: Vec<Duration> = (0..15)
        .map(|_| {
            let t = Instant::now();
            a.ok(&["status"]);
            t.elapsed()
        })
        .collect();
    times.sort();
    eprintln!(
        "dotsync status (debug build): median {:?}",
        times[times.len() / 2]
    );
    assert!(times[times.len() / 2] < Duration::from_secs(1));

    // A restarted daemon still knows when the config last synced.
    let before = c["last_sync"].as_i64().unwrap();
    a.stop_daemon();
    a.start_daemon();
    let c = config_status(&a, "dots");
    assert!(c["last_sync"].as_i64().unwrap() >= before, "{c}");
}

#[test]
fn the_sync_command_passes_ndjson_through_and_fails_when_the_sync_does() {
    let w = World::new();
    let remote = w.bare_remote("dots");
    let mut a = w.machine("laptop");
    a.start_daemon();
    a.add_config(&manual_cfg(&remote, "dots", &["~/.zshrc"]));
    a.write(".zshrc", "z\n");
    let out = a.ok(&["sync", "dots", "--json"]);
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["type"], "start");
    assert_eq!(lines.last().unwrap()["type"], "summary");
    assert_eq!(lines.last().unwrap()["pushed"], 1);
    // Rendered for a person (stderr is not a terminal here: plain lines).
    a.write(".zshrc", "z2\n");
    let out = a.run(&["sync", "dots"]);
    assert!(out.status.success());
    assert!(out.stdout.is_empty(), "the report goes to stderr");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("pushed   ~/.zshrc"), "{err}");
    assert!(err.contains("dots: 1 pushed"), "{err}");
    // The remote is gone: non-zero exit, the reason and what to do.
    std::fs::rename(&remote, w.path().join("gone.git")).unwrap();
    a.write(".zshrc", "z3\n");
    let out = a.run(&["sync", "dots"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("dots: sync failed"), "{err}");
    assert!(err.contains("edits are kept"), "{err}");
    let out = a.run(&["sync", "dots", "--json"]);
    assert!(!out.status.success());
    let last: Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().last().unwrap()).unwrap();
    assert_eq!(last["error_kind"], "remote_not_found");
    // An unknown config: the API's 404, as a message.
    let err = a.fails(&["sync", "nope"]);
    assert!(err.contains("nope"), "{err}");
}

#[test]
fn a_sync_that_would_delete_most_files_asks_for_allow_mass_delete() {
    let w = World::new();
    let remote = w.bare_remote("dots");
    let mut a = w.machine("laptop");
    a.start_daemon();
    a.add_config(&manual_cfg(&remote, "dots", &["~/.config/app"]));
    for i in 0..10 {
        a.write(&format!(".config/app/f{i}.conf"), format!("{i}\n"));
    }
    a.ok(&["sync", "dots"]);
    for i in 1..10 {
        std::fs::remove_file(a.home.join(format!(".config/app/f{i}.conf"))).unwrap();
    }
    let out = a.run(&["sync", "dots"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--allow-mass-delete"), "{err}");
    assert_eq!(
        git(&remote, &["ls-tree", "-r", "--name-only", "main"])
            .lines()
            .count(),
        10,
        "nothing was deleted on the remote"
    );
    let s = config_status(&a, "dots");
    assert_eq!(s["state"], "error");
    assert_eq!(s["last_error_kind"], "mass_delete");
    let out = a.ok(&["sync", "dots", "--allow-mass-delete", "--json"]);
    let last: Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert_eq!(last["ok"], true, "{last}");
    assert_eq!(last["deleted"], 9, "{last}");
    assert_eq!(
        git(&remote, &["ls-tree", "-r", "--name-only", "main"]).trim(),
        ".config/app/f0.conf"
    );
    assert_eq!(config_status(&a, "dots")["state"], "idle");
}

#[test]
fn the_service_is_installed_as_a_systemd_user_unit_and_removed() {
    let w = World::new();
    let m = w.machine("laptop");
    let log = w.path().join("systemctl.log");
    let fake = w.path().join("systemctl");
    std::fs::write(
        &fake,
        format!(
            "#!/bin/sh\necho \"$@\" >> '{}'\necho active\n",
            log.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let run = |args: &[&str], systemctl: &Path| {
        m.cmd()
            .args(args)
            .env("DOTSYNC_SYSTEMCTL", systemctl)
            .env_remove("XDG_CONFIG_HOME")
            .output()
            .unwrap()
    };
    let out = run(&["service", "install"], &fake);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let unit_path = m.home.join(".config/systemd/user/dotsync.service");
    let unit = std::fs::read_to_string(&unit_path).unwrap();
    let bin = std::fs::canonicalize(crate::util::BIN).unwrap();
    assert!(
        unit.contains(&format!("ExecStart=\"{}\" daemon", bin.display())),
        "{unit}"
    );
    assert!(
        unit.contains(&format!("DOTSYNC_HOME={}", m.dotsync_home.display())),
        "{unit}"
    );
    assert!(unit.contains("WantedBy=default.target"));
    let calls = std::fs::read_to_string(&log).unwrap();
    assert_eq!(
        calls,
        "--user daemon-reload\n--user enable --now dotsync.service\n"
    );
    let out = run(&["service", "status"], &fake);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("installed"), "{text}");
    assert!(text.contains("daemon: not running"), "{text}");
    assert!(!out.status.success(), "status fails while no daemon runs");
    let out = run(&["service", "uninstall"], &fake);
    assert!(out.status.success());
    assert!(!unit_path.exists());
    assert!(
        std::fs::read_to_string(&log)
            .unwrap()
            .contains("--user disable --now dotsync.service")
    );
    // No systemctl (a container): the unit is still written, and the message says what to do.
    let out = run(&["service", "install"], &w.path().join("no-such-systemctl"));
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("systemctl is not available"), "{err}");
    assert!(err.contains("daemon"), "{err}");
    assert!(unit_path.exists());
    // A systemctl that fails: an error that says the unit is written and what to do.
    let broken = w.path().join("systemctl-broken");
    std::fs::write(
        &broken,
        "#!/bin/sh\necho 'Failed to connect to bus' >&2\nexit 1\n",
    )
    .unwrap();
    std::fs::set_permissions(&broken, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let out = run(&["service", "install"], &broken);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Failed to connect to bus"), "{err}");
    assert!(err.contains("dotsync daemon"), "{err}");
}

#[test]
fn a_save_that_pauses_half_way_never_reaches_the_other_machine_half_written() {
    let w = World::new();
    let (a, b, _remote) = pair(&w, "dots", &["~/.config/nvim"]);
    let full: String = (0..6).fold(String::new(), |mut s, i| {
        writeln!(s, "line {i} of a slow save").unwrap();
        s
    });
    a.write(".config/nvim/slow.lua", "");
    wait_until(20, "the empty file on B", || {
        read_opt(&b, ".config/nvim/slow.lua").as_deref() == Some("")
    });
    // A script writes the file in pieces with pauses longer than the watcher's quiet period
    // (500 ms) but shorter than the settle time (1 s).
    let path = a.home.join(".config/nvim/slow.lua");
    let writer = {
        let full = full.clone();
        std::thread::spawn(move || {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .truncate(true)
                .open(&path)
                .unwrap();
            for line in full.split_inclusive('\n') {
                f.write_all(line.as_bytes()).unwrap();
                f.flush().unwrap();
                std::thread::sleep(Duration::from_millis(650));
            }
        })
    };
    // Whatever B holds at any moment is the old or the whole new file.
    let mut seen = std::collections::BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if let Some(c) = read_opt(&b, ".config/nvim/slow.lua") {
            seen.insert(c.clone());
            if c == full && writer.is_finished() {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the whole file never arrived; B saw {seen:?}\nA's status: {}\nA's log:\n{}\nB's log:\n{}",
            a.get("/v1/status").text,
            a.daemon_log(),
            b.daemon_log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    writer.join().unwrap();
    let partial: Vec<_> = seen
        .iter()
        .filter(|c| !c.is_empty() && **c != full)
        .collect();
    assert!(
        partial.is_empty(),
        "B held a half-written file: {partial:?}"
    );
}

#[test]
fn a_remote_that_is_no_repository_is_an_error_that_says_so_and_editing_the_remote_clears_it() {
    let w = World::new();
    let mut a = w.machine("laptop");
    a.start_daemon();
    let missing = w.path().join("typo.git");
    a.add_config(&auto_cfg(&missing, "dots", &["~/.zshrc"], 1));
    a.write(".zshrc", "mine\n");
    wait_until(20, "the error to show", || {
        config_status(&a, "dots")["last_error_kind"] == "remote_not_found"
    });
    let s = config_status(&a, "dots");
    assert_eq!(
        s["state"], "error",
        "not offline: it will not fix itself: {s}"
    );
    assert!(
        s["last_error"]
            .as_str()
            .unwrap()
            .contains("git init --bare"),
        "{s}"
    );
    // Not retried every second like an offline remote.
    assert!(s["retry_in_s"].as_u64().unwrap_or(0) >= 60, "{s}");
    let remote = w.bare_remote("dots");
    let mut body = a.get("/v1/config/dots").json;
    body["remote"] = json!(remote.to_str().unwrap());
    assert_eq!(a.put("/v1/config/dots", &body).status, 204);
    wait_until(20, "the edit to reach the corrected remote", || {
        remote_file(&remote, ".zshrc").as_deref() == Some("mine\n")
    });
    wait_until(10, "the old error to go", || {
        let s = config_status(&a, "dots");
        s["last_error"].is_null() && s["state"] == "idle"
    });
}

// ---- connections: timeouts and the cap ----

/// Connects to the daemon and sends `bytes` (maybe nothing, maybe half a request).
fn open_raw(m: &Machine, bytes: &[u8]) -> std::net::TcpStream {
    use std::io::Write;
    let addr: std::net::SocketAddr = m.d().addr.parse().expect("daemon address");
    // A daemon that stopped accepting leaves new connections in the listen queue until it is
    // full; then connecting hangs.
    let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("the daemon does not take connections any more: {e}"));
    s.write_all(bytes).expect("write");
    s
}

/// Someone (a buggy tool, a hostile local process) holds hundreds of connections open without
/// sending anything. The daemon runs with the open-file limit a launchd service gets (256), so
/// before the cap it ran out of descriptors and `/v1/status` hung; now the connections idle the
/// longest make room, and a running event stream is never the one closed.
#[test]
fn four_hundred_idle_connections_do_not_lock_out_the_status() {
    let w = World::new();
    let mut m = w.machine("m");
    m.start_daemon_with_nofile(256, &[]);
    let events = EventStream::connect(&m, None);
    let idle: Vec<std::net::TcpStream> = (0..400).map(|_| open_raw(&m, b"")).collect();

    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(10))
        .build();
    let started = Instant::now();
    let r = agent
        .get(&m.url("/v1/status"))
        .set("Authorization", &format!("Bearer {}", m.d().token))
        .call();
    let took = started.elapsed();
    let r = r.unwrap_or_else(|e| {
        panic!(
            "/v1/status did not answer with 400 idle connections open ({e}):\n{}",
            m.daemon_log()
        )
    });
    assert_eq!(r.status(), 200);
    assert!(took < Duration::from_secs(5), "/v1/status took {took:?}");

    // The event stream, older than every idle connection, still delivers.
    let remote = w.bare_remote("dots");
    m.add_config(&manual_cfg(&remote, "dots", &["~/.zshrc"]));
    events.until(10, "config_changed", |e| e.event == "config_changed");
    drop(idle);
}

/// A client that sends part of a request and stops (`GET / HTTP/1.1`, a Host, no blank line), one
/// that sends nothing, and one that made a request and then sits idle on the keep-alive
/// connection are all closed once the header timeout passes.
#[test]
fn a_half_sent_request_is_closed_after_the_header_timeout() {
    let w = World::new();
    let mut m = w.machine("m");
    m.start_daemon_with(&["--header-timeout-ms", "1000"]);
    let half = open_raw(&m, b"GET / HTTP/1.1\r\nHost: 127.0.0.1");
    let silent = open_raw(&m, b"");
    let mut kept = open_raw(&m, b"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    // The keep-alive connection gets its answer first, and stays open for the next request.
    let mut first = Vec::new();
    while !String::from_utf8_lossy(&first).contains("\r\n\r\n{") {
        let mut buf = [0u8; 1024];
        let n = std::io::Read::read(&mut kept, &mut buf).expect("read the health answer");
        assert!(n > 0, "closed before answering");
        first.extend_from_slice(&buf[..n]);
    }
    assert!(first.starts_with(b"HTTP/1.1 200"));

    for (what, mut s) in [("half-sent", half), ("silent", silent), ("idle", kept)] {
        let got = crate::util::read_until_closed(&mut s, Duration::from_secs(10));
        let got = got.unwrap_or_else(|got| {
            panic!(
                "the {what} connection is still open 10 s after a 1 s header timeout; it got {:?}",
                String::from_utf8_lossy(&got)
            )
        });
        // Whatever the server said before closing, it served no request.
        assert!(!String::from_utf8_lossy(&got).contains(" 200 "), "{what}");
    }
}

/// The event stream sends only when something happens (and a comment every 15 s), so it is
/// idle for much longer than the header timeout: it must stay open, since it is a response
/// being sent, not a connection waiting for a request.
#[test]
fn the_event_stream_outlives_the_header_timeout() {
    let w = World::new();
    let mut m = w.machine("m");
    m.start_daemon_with(&["--header-timeout-ms", "1000"]);
    let events = EventStream::connect(&m, None);
    // A half-sent request opened after the stream; once it is closed, the stream has been
    // quiet for longer than the timeout.
    let mut probe = open_raw(&m, b"GET / HTTP/1.1\r\nHost: 127.0.0.1");
    crate::util::read_until_closed(&mut probe, Duration::from_secs(10))
        .expect("the half-sent request is closed after the timeout");
    let remote = w.bare_remote("dots");
    m.add_config(&manual_cfg(&remote, "dots", &["~/.zshrc"]));
    events.until(10, "config_changed on the old stream", |e| {
        e.event == "config_changed"
    });
}

/// SIGTERM stops the daemon at once even while clients hold connections on which they never
/// sent a request: there is nothing to finish on them.
#[test]
fn sigterm_does_not_wait_for_connections_that_never_sent_a_request() {
    let w = World::new();
    let mut m = w.machine("m");
    m.start_daemon();
    let _silent: Vec<std::net::TcpStream> = (0..3).map(|_| open_raw(&m, b"")).collect();
    let _half = open_raw(&m, b"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1");
    let started = Instant::now();
    let status = m.stop_daemon();
    assert!(status.success(), "{status}");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(10), "SIGTERM took {took:?}");
}

/// A restore (like a resolution) makes the daemon sync the config at once. That sync is one the
/// daemon starts by itself, so it too waits for the settle time: another file of the config that
/// is being saved at that moment is held, not pushed half written. (Found while writing the
/// soak test's check that no half-written version reaches the remote.)
#[test]
fn a_sync_after_a_restore_does_not_push_a_file_caught_half_written() {
    let w = World::new();
    let remote = w.bare_remote("dots");
    let mut a = w.machine("laptop");
    a.start_daemon();
    a.write(".config/app/x.conf", "x = 1\n");
    a.write(".config/app/y.conf", "y = old\n");
    a.add_config(&auto_cfg(&remote, "dots", &["~/.config/app"], 1));
    wait_synced(&a, "dots");
    a.write(".config/app/x.conf", "x = 2\n");
    wait_until(20, "x = 2 on the remote", || {
        remote_file(&remote, ".config/app/x.conf").as_deref() == Some("x = 2\n")
    });
    let versions = a.get("/v1/history?path=.config/app/x.conf");
    assert_eq!(versions.status, 200, "{}", versions.text);
    let first = versions.json.as_array().unwrap().last().unwrap()["commit"]
        .as_str()
        .unwrap()
        .to_owned();
    wait_synced(&a, "dots");

    // y.conf is being saved in two writes 600 ms apart (less than the settle time), and the
    // person restores x.conf in between.
    let full = "y = new\nz = 3\n";
    let y = a.home.join(".config/app/y.conf");
    let mut f = std::fs::File::create(&y).unwrap();
    std::io::Write::write_all(&mut f, b"y = new\n").unwrap();
    let r = a.post(
        "/v1/restore",
        &json!({"path": "~/.config/app/x.conf", "rev": first}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    std::thread::sleep(Duration::from_millis(600));
    std::io::Write::write_all(&mut f, b"z = 3\n").unwrap();
    drop(f);
    wait_until(30, "the restore and the whole save on the remote", || {
        remote_file(&remote, ".config/app/x.conf").as_deref() == Some("x = 1\n")
            && remote_file(&remote, ".config/app/y.conf").as_deref() == Some(full)
    });
    let log = git(
        &remote,
        &["log", "--format=%H", "main", "--", ".config/app/y.conf"],
    );
    for commit in log.lines() {
        let v = git(&remote, &["show", &format!("{commit}:.config/app/y.conf")]);
        assert!(
            v == "y = old\n" || v == full,
            "a half-written y.conf reached the remote in {commit}: {v:?}"
        );
    }
}

// ---- no walk when the watcher saw nothing ----

/// POST /v1/sync/NAME; its summary line.
fn sync_summary(m: &Machine, name: &str) -> Value {
    let lines = sync_lines(m, &format!("/v1/sync/{name}"), None);
    let s = lines.last().expect("a summary line").clone();
    assert_eq!(s["type"], "summary", "{lines:#?}");
    assert_eq!(s["ok"], true, "{lines:#?}");
    s
}

fn walked(s: &Value) -> bool {
    s["walk_skipped"] != true
}

/// A daemon with one watched config, synced, and a first sync the watcher vouches for.
fn quiet_machine(w: &World, env: &[(&str, &str)]) -> (Machine, PathBuf) {
    let remote = w.bare_remote("dots");
    let mut a = w.machine("laptop");
    for (k, v) in env {
        a.env.push(((*k).into(), (*v).into()));
    }
    a.write(".zshrc", "one\n");
    a.write(".config/nvim/init.lua", "vim.o.number = true\n");
    a.start_daemon();
    // An hour between remote checks: every sync below is one this test asks for.
    a.add_config(&auto_cfg(
        &remote,
        "dots",
        &["~/.zshrc", "~/.config/nvim"],
        3600,
    ));
    wait_synced(&a, "dots");
    wait_until(20, "the config to be watched", || {
        config_status(&a, "dots")["watch"] == "watching"
    });
    // The sync that started with the config may have run before its watches were placed: at
    // most one more walk, then the watcher vouches for the home.
    let mut skipped = false;
    for _ in 0..3 {
        if !walked(&sync_summary(&a, "dots")) {
            skipped = true;
            break;
        }
    }
    assert!(skipped, "no sync skipped its walk:\n{}", a.daemon_log());
    (a, remote)
}

#[test]
fn a_sync_the_watcher_saw_nothing_for_does_not_walk_and_misses_no_edit() {
    let w = World::new();
    let (a, remote) = quiet_machine(&w, &[]);
    // (a) Nothing changed: no walk, nothing to do, and the summary says so.
    let s = sync_summary(&a, "dots");
    assert!(!walked(&s), "{s}");
    assert_eq!(
        (s["pushed"].as_u64(), s["files"].as_u64()),
        (Some(0), Some(2))
    );
    // The CLI talking to the daemon gets the same.
    let out = a.ok(&["sync", "dots", "--json"]);
    let last: Value = serde_json::from_str(out.lines().last().expect("a line")).expect("json");
    assert_eq!(last["walk_skipped"], true, "{out}");

    // (b) An edit made just before the sync is in it: the watcher accounts for every event
    // that happened before the sync started, and then the home is walked.
    a.write(".zshrc", "two\n");
    let s = sync_summary(&a, "dots");
    assert!(walked(&s), "{s}");
    assert_eq!(s["pushed"], 1, "{s}");
    assert_eq!(remote_file(&remote, ".zshrc").as_deref(), Some("two\n"));
    // A file in a directory created a moment before (no watch on it yet when it was written).
    std::fs::create_dir_all(a.home.join(".config/nvim/lua/deep")).unwrap();
    a.write(".config/nvim/lua/deep/x.lua", "return 1\n");
    let s = sync_summary(&a, "dots");
    assert!(walked(&s), "{s}");
    assert_eq!(s["pushed"], 1, "{s}");
    assert_eq!(
        remote_file(&remote, ".config/nvim/lua/deep/x.lua").as_deref(),
        Some("return 1\n")
    );
    // Then quiet again (the watcher's own syncs of those edits, if any ran, changed nothing);
    // a file written inside the new directory is seen too.
    wait_synced(&a, "dots");
    let mut quiet = false;
    for _ in 0..3 {
        if !walked(&sync_summary(&a, "dots")) {
            quiet = true;
            break;
        }
    }
    assert!(quiet, "no sync skipped its walk after the edits");
    a.write(".config/nvim/lua/deep/y.lua", "return 2\n");
    let s = sync_summary(&a, "dots");
    assert!(walked(&s), "{s}");
    assert_eq!(
        remote_file(&remote, ".config/nvim/lua/deep/y.lua").as_deref(),
        Some("return 2\n")
    );
    // A removal is an edit like any other.
    std::fs::remove_file(a.home.join(".config/nvim/init.lua")).unwrap();
    let s = sync_summary(&a, "dots");
    assert!(walked(&s), "{s}");
    assert_eq!(s["deleted"], 1, "{s}");
    assert_eq!(remote_file(&remote, ".config/nvim/init.lua"), None);
}

#[test]
fn the_periodic_full_scan_walks_whatever_the_watcher_saw() {
    let w = World::new();
    // Every config is looked at whole at least every 3 seconds.
    let (a, _remote) = quiet_machine(&w, &[("DOTSYNC_FULL_SCAN_S", "3")]);
    wait_until(20, "a sync to walk again once the full scan is due", || {
        walked(&sync_summary(&a, "dots"))
    });
    // And right after that walk, the watcher vouches again.
    assert!(!walked(&sync_summary(&a, "dots")));
}
