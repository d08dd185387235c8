//! The sync engine end to end: real daemons on two or three machines, a real bare git remote,
//! HTTP and the CLI.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::util::{Machine, World, git};

/// POSTs a sync of `config` and returns the NDJSON lines.
fn sync(m: &Machine, config: &str) -> Vec<Value> {
    sync_with(m, &format!("/v1/sync/{config}"))
}

fn sync_with(m: &Machine, path: &str) -> Vec<Value> {
    let r = m.req("POST", path, None);
    assert_eq!(r.status, 200, "sync {path}: {}", r.text);
    assert!(
        r.content_type.starts_with("application/x-ndjson"),
        "{}",
        r.content_type
    );
    r.text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad line {l:?}: {e}")))
        .collect()
}

fn summary(lines: &[Value]) -> &Value {
    let last = lines.last().expect("lines");
    assert_eq!(last["type"], "summary", "{lines:#?}");
    last
}

fn ok_summary(lines: &[Value]) -> &Value {
    let s = summary(lines);
    assert_eq!(s["ok"], true, "sync failed: {lines:#?}");
    s
}

fn files_with(lines: &[Value], action: &str) -> Vec<String> {
    let mut v: Vec<String> = lines
        .iter()
        .filter(|l| l["type"] == "file" && l["action"] == action)
        .map(|l| l["path"].as_str().unwrap().to_owned())
        .collect();
    v.sort();
    v
}

fn cfg(remote: &Path, paths: &[&str]) -> Value {
    json!({"name": "dots", "paths": paths, "remote": remote.to_str().unwrap(), "auto": false})
}

/// Two machines with daemons and the same config on one bare remote.
fn pair(w: &World, paths: &[&str]) -> (Machine, Machine, PathBuf) {
    let remote = w.bare_remote("dots");
    let mut a = w.machine("laptop");
    let mut b = w.machine("desktop");
    a.start_daemon();
    b.start_daemon();
    a.add_config(&cfg(&remote, paths));
    b.add_config(&cfg(&remote, paths));
    (a, b, remote)
}

fn mode(m: &Machine, rel: &str) -> u32 {
    std::fs::symlink_metadata(m.home.join(rel))
        .unwrap()
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn first_push_and_a_second_machines_first_pull_carry_everything() {
    let w = World::new();
    let (a, b, remote) = pair(&w, &["~/.zshrc", "~/.ssh", "~/.config/app", "~/.local/bin"]);
    a.write(".zshrc", "export EDITOR=nvim\n");
    a.write(".ssh/config", "Host *\n  IdentitiesOnly yes\n");
    std::fs::set_permissions(
        a.home.join(".ssh/config"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    std::fs::set_permissions(a.home.join(".ssh"), std::fs::Permissions::from_mode(0o700)).unwrap();
    a.write(".local/bin/hello", "#!/bin/sh\necho hello\n");
    std::fs::set_permissions(
        a.home.join(".local/bin/hello"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    std::os::unix::fs::symlink("../../.zshrc", a.home.join(".config/app/zshrc-link")).ok();
    a.write(".config/app/my settings ünïcödé.conf", "colour = blue\n");
    a.write(".config/app/empty", "");
    let big: Vec<u8> = (0..2 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 24) as u8)
        .collect();
    std::fs::write(a.home.join(".config/app/blob.bin"), &big).unwrap();
    std::os::unix::fs::symlink("../../.zshrc", a.home.join(".config/app/zshrc-link")).ok();

    let lines = sync(&a, "dots");
    assert_eq!(lines[0]["type"], "start");
    let s = ok_summary(&lines);
    assert_eq!(s["pushed"], 7, "{lines:#?}");
    // The remote is an ordinary repository a person can clone and read: ~/X lives at X.
    let clone = w.path().join("clone");
    git(
        w.path(),
        &[
            "clone",
            "-q",
            remote.to_str().unwrap(),
            clone.to_str().unwrap(),
        ],
    );
    assert_eq!(
        std::fs::read_to_string(clone.join(".zshrc")).unwrap(),
        "export EDITOR=nvim\n"
    );
    let log = git(&clone, &["log", "--format=%an %s"]);
    assert!(log.contains("laptop"), "commits name the machine: {log}");

    let lines = sync(&b, "dots");
    assert_eq!(ok_summary(&lines)["pulled"], 7, "{lines:#?}");
    assert_eq!(b.read(".zshrc"), "export EDITOR=nvim\n");
    assert_eq!(
        b.read(".config/app/my settings ünïcödé.conf"),
        "colour = blue\n"
    );
    assert_eq!(b.read(".config/app/empty"), "");
    assert_eq!(
        std::fs::read(b.home.join(".config/app/blob.bin")).unwrap(),
        big
    );
    assert_eq!(mode(&b, ".ssh/config"), 0o600);
    assert_eq!(mode(&b, ".ssh"), 0o700);
    assert_eq!(mode(&b, ".local/bin/hello"), 0o755);
    assert_eq!(
        std::fs::read_link(b.home.join(".config/app/zshrc-link")).unwrap(),
        PathBuf::from("../../.zshrc")
    );
    // A sync with nothing to do moves nothing.
    let lines = sync(&b, "dots");
    assert!(files_with(&lines, "pulled").is_empty() && files_with(&lines, "pushed").is_empty());
}

#[test]
fn edits_travel_each_way_and_deletions_follow() {
    let w = World::new();
    let (a, b, _) = pair(&w, &["~/.gitconfig"]);
    a.write(".gitconfig", "[user]\n\tname = Me\n");
    ok_summary(&sync(&a, "dots"));
    ok_summary(&sync(&b, "dots"));
    b.write(".gitconfig", "[user]\n\tname = Me Too\n");
    assert_eq!(files_with(&sync(&b, "dots"), "pushed"), vec![".gitconfig"]);
    assert_eq!(files_with(&sync(&a, "dots"), "pulled"), vec![".gitconfig"]);
    assert_eq!(a.read(".gitconfig"), "[user]\n\tname = Me Too\n");
    std::fs::remove_file(a.home.join(".gitconfig")).unwrap();
    assert_eq!(files_with(&sync(&a, "dots"), "deleted"), vec![".gitconfig"]);
    assert_eq!(files_with(&sync(&b, "dots"), "deleted"), vec![".gitconfig"]);
    assert!(!b.exists(".gitconfig"));
}

#[test]
fn edits_to_different_lines_are_merged_on_both_machines() {
    let w = World::new();
    let (a, b, _) = pair(&w, &["~/.zshrc"]);
    let base = "# zshrc\nexport A=1\nexport B=2\nexport C=3\nexport D=4\nexport E=5\n";
    a.write(".zshrc", base);
    ok_summary(&sync(&a, "dots"));
    ok_summary(&sync(&b, "dots"));
    a.write(".zshrc", base.replace("A=1", "A=laptop"));
    b.write(".zshrc", base.replace("E=5", "E=desktop"));
    ok_summary(&sync(&a, "dots"));
    let lines = sync(&b, "dots");
    assert_eq!(files_with(&lines, "merged"), vec![".zshrc"], "{lines:#?}");
    let merged = base.replace("A=1", "A=laptop").replace("E=5", "E=desktop");
    assert_eq!(b.read(".zshrc"), merged);
    ok_summary(&sync(&a, "dots"));
    assert_eq!(a.read(".zshrc"), merged);
}

#[test]
fn the_same_line_edited_on_two_machines_is_kept_listed_and_resolvable() {
    let w = World::new();
    let (a, b, _) = pair(&w, &["~/.config/app"]);
    a.write(".config/app/settings.conf", "theme = light\n");
    ok_summary(&sync(&a, "dots"));
    ok_summary(&sync(&b, "dots"));
    a.write(".config/app/settings.conf", "theme = dark\n");
    b.write(".config/app/settings.conf", "theme = solarized\n");
    ok_summary(&sync(&a, "dots"));
    let lines = sync(&b, "dots");
    assert_eq!(
        files_with(&lines, "conflict"),
        vec![".config/app/settings.conf"]
    );
    // This machine's file stays in place; no conflict copy lands in the directory.
    assert_eq!(b.read(".config/app/settings.conf"), "theme = solarized\n");
    let names: Vec<_> = std::fs::read_dir(b.home.join(".config/app"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");

    let list = b.get("/v1/conflicts");
    assert_eq!(list.status, 200);
    assert_eq!(list.json[0]["path"], ".config/app/settings.conf");
    let theirs = b.get("/v1/conflicts/content?path=.config/app/settings.conf&side=remote");
    assert_eq!(theirs.text, "theme = dark\n");
    let out = b.ok(&["conflicts"]);
    assert!(out.contains(".config/app/settings.conf"), "{out}");
    let both = b.ok(&["conflicts", "~/.config/app/settings.conf"]);
    assert!(
        both.contains("theme = dark") && both.contains("theme = solarized"),
        "{both}"
    );

    // Neither side of the file syncs while the conflict is open.
    assert!(files_with(&sync(&b, "dots"), "pushed").is_empty());
    assert_eq!(a.read(".config/app/settings.conf"), "theme = dark\n");

    let bad = b.post(
        "/v1/conflicts/resolve",
        &json!({"path": ".config/app/settings.conf", "keep": "both"}),
    );
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json["error"]["field"], "keep");
    b.ok(&["resolve", "~/.config/app/settings.conf", "--keep", "remote"]);
    assert_eq!(b.read(".config/app/settings.conf"), "theme = dark\n");
    assert_eq!(b.get("/v1/conflicts").json, json!([]));
    ok_summary(&sync(&b, "dots"));
    // Both versions remain retrievable from history.
    let hist = a.get("/v1/history?path=~/.config/app/settings.conf");
    let versions: Vec<String> = hist
        .json
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            a.get(&format!(
                "/v1/content?path=.config/app/settings.conf&rev={}",
                h["commit"].as_str().unwrap()
            ))
            .text
        })
        .collect();
    assert!(
        versions.contains(&"theme = dark\n".to_owned())
            && versions.contains(&"theme = light\n".to_owned()),
        "{versions:?}"
    );
}

#[test]
fn resolving_with_an_edited_result_pushes_it() {
    let w = World::new();
    let (a, b, _) = pair(&w, &["~/.zshrc"]);
    a.write(".zshrc", "x=1\n");
    ok_summary(&sync(&a, "dots"));
    ok_summary(&sync(&b, "dots"));
    a.write(".zshrc", "x=2\n");
    b.write(".zshrc", "x=3\n");
    ok_summary(&sync(&a, "dots"));
    assert_eq!(files_with(&sync(&b, "dots"), "conflict"), vec![".zshrc"]);
    let r = b.post(
        "/v1/conflicts/resolve",
        &json!({"config": "dots", "path": "~/.zshrc", "keep": "content", "content": "x=23\n"}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(files_with(&sync(&b, "dots"), "pushed"), vec![".zshrc"]);
    ok_summary(&sync(&a, "dots"));
    assert_eq!(a.read(".zshrc"), "x=23\n");
}

#[test]
fn a_joining_machine_with_its_own_different_file_gets_a_conflict_not_an_overwrite() {
    let w = World::new();
    let (a, b, _) = pair(&w, &["~/.vimrc", "~/.inputrc"]);
    a.write(".vimrc", "set number\n");
    a.write(".inputrc", "set bell-style none\n");
    ok_summary(&sync(&a, "dots"));
    b.write(".vimrc", "set relativenumber\n");
    b.write(".inputrc", "set bell-style none\n");
    let lines = sync(&b, "dots");
    assert_eq!(files_with(&lines, "conflict"), vec![".vimrc"], "{lines:#?}");
    assert_eq!(b.read(".vimrc"), "set relativenumber\n");
    // An identical copy is simply adopted.
    assert!(files_with(&lines, "pulled").is_empty());
    assert_eq!(a.read(".vimrc"), "set number\n");
}

#[test]
fn an_old_version_is_listed_and_restored_then_synced() {
    let w = World::new();
    let (a, b, _) = pair(&w, &["~/.zshrc"]);
    for v in ["v1\n", "v2\n", "v3\n"] {
        a.write(".zshrc", v);
        ok_summary(&sync(&a, "dots"));
    }
    let hist = a.get("/v1/history?config=dots&path=.zshrc");
    assert_eq!(hist.status, 200);
    let h = hist.json.as_array().unwrap();
    assert_eq!(h.len(), 3, "{h:?}");
    assert_eq!(h[0]["machine"], "laptop");
    assert_eq!(h[2]["size"], 3);
    let log = a.ok(&["log", "~/.zshrc"]);
    assert!(log.contains("laptop"), "{log}");
    let first = h[2]["commit"].as_str().unwrap();
    a.ok(&["restore", "~/.zshrc", "--rev", first]);
    assert_eq!(a.read(".zshrc"), "v1\n");
    assert_eq!(files_with(&sync(&a, "dots"), "pushed"), vec![".zshrc"]);
    ok_summary(&sync(&b, "dots"));
    assert_eq!(b.read(".zshrc"), "v1\n");
    let bad = a.post(
        "/v1/restore",
        &json!({"path": ".zshrc", "rev": "--upload-pack=x"}),
    );
    assert_eq!(bad.status, 400, "{}", bad.text);
    // A directory where the file should go: the person's to move, not a server error.
    std::fs::remove_file(a.home.join(".zshrc")).unwrap();
    std::fs::create_dir(a.home.join(".zshrc")).unwrap();
    std::fs::write(a.home.join(".zshrc/keep"), "mine\n").unwrap();
    let blocked = a.post("/v1/restore", &json!({"path": ".zshrc", "rev": first}));
    assert_eq!(blocked.status, 409, "{}", blocked.text);
    assert!(
        blocked.text.contains("in the way") || blocked.text.contains("directory"),
        "{}",
        blocked.text
    );
    assert_eq!(a.read(".zshrc/keep"), "mine\n", "nothing of it was touched");
}

#[test]
fn a_push_race_between_two_machines_converges_with_both_edits() {
    let w = World::new();
    let (a, b, _) = pair(&w, &["~/.config/app"]);
    a.write(".config/app/a.conf", "0\n");
    ok_summary(&sync(&a, "dots"));
    ok_summary(&sync(&b, "dots"));
    for round in 0..3 {
        a.write(&format!(".config/app/from-laptop-{round}"), "laptop\n");
        b.write(&format!(".config/app/from-desktop-{round}"), "desktop\n");
        let (ra, rb) = std::thread::scope(|s| {
            let ta = s.spawn(|| sync(&a, "dots"));
            let tb = s.spawn(|| sync(&b, "dots"));
            (ta.join().unwrap(), tb.join().unwrap())
        });
        ok_summary(&ra);
        ok_summary(&rb);
    }
    ok_summary(&sync(&a, "dots"));
    ok_summary(&sync(&b, "dots"));
    for m in [&a, &b] {
        for round in 0..3 {
            assert_eq!(
                m.read(&format!(".config/app/from-laptop-{round}")),
                "laptop\n"
            );
            assert_eq!(
                m.read(&format!(".config/app/from-desktop-{round}")),
                "desktop\n"
            );
        }
    }
}

/// Writes a commit into the bare remote whose tree has an entry named `..` holding `evil`, and
/// a normal `.zshrc`, built with git's plumbing (git itself would refuse such a path).
fn push_malicious_tree(remote: &Path) {
    let run = |args: &[&str], input: &[u8]| -> String {
        use std::io::Write;
        let mut c = Command::new("git")
            .args(args)
            .env("GIT_DIR", remote)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_AUTHOR_NAME", "attacker")
            .env("GIT_AUTHOR_EMAIL", "a@example.invalid")
            .env("GIT_COMMITTER_NAME", "attacker")
            .env("GIT_COMMITTER_EMAIL", "a@example.invalid")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        c.stdin.take().unwrap().write_all(input).unwrap();
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    let blob = run(&["hash-object", "-w", "--stdin"], b"pwned\n");
    let good = run(&["hash-object", "-w", "--stdin"], b"fine\n");
    let hex = |h: &str| {
        (0..20)
            .map(|i| u8::from_str_radix(&h[2 * i..2 * i + 2], 16).unwrap())
            .collect::<Vec<u8>>()
    };
    let mut inner = b"100644 evil\0".to_vec();
    inner.extend(hex(&blob));
    let inner_tree = run(
        &["hash-object", "-w", "-t", "tree", "--literally", "--stdin"],
        &inner,
    );
    let mut root = b"100644 .zshrc\0".to_vec();
    root.extend(hex(&good));
    root.extend(b"40000 ..\0");
    root.extend(hex(&inner_tree));
    let root_tree = run(
        &["hash-object", "-w", "-t", "tree", "--literally", "--stdin"],
        &root,
    );
    let commit = run(&["commit-tree", &root_tree, "-m", "evil"], b"");
    run(&["update-ref", "refs/heads/main", &commit], b"");
}

#[test]
fn a_remote_with_a_dotdot_path_writes_nothing_outside() {
    let w = World::new();
    let remote = w.bare_remote("dots");
    push_malicious_tree(&remote);
    let mut b = w.machine("desktop");
    b.start_daemon();
    b.add_config(&json!({"name": "dots", "paths": ["~/.zshrc"], "remote": remote.to_str().unwrap(), "auto": false}));
    let lines = sync(&b, "dots");
    let s = summary(&lines);
    assert_eq!(b.read(".zshrc"), "fine\n", "{lines:#?}");
    assert!(s["ok"] == true || s["error"].is_string());
    // Nothing named `evil` anywhere around the home.
    for dir in [
        b.home.clone(),
        b.home.parent().unwrap().to_path_buf(),
        w.path().to_path_buf(),
    ] {
        assert!(
            !dir.join("evil").exists(),
            "written outside: {}",
            dir.display()
        );
    }
}

#[test]
fn a_directory_turned_into_a_symlink_cannot_redirect_writes() {
    let w = World::new();
    let (a, b, _) = pair(&w, &["~/.config/nvim"]);
    let outside = w.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    // On the desktop, a symlink points the synced directory's subdirectory elsewhere...
    a.write(".config/nvim/init.lua", "-- init\n");
    ok_summary(&sync(&a, "dots"));
    ok_summary(&sync(&b, "dots"));
    std::os::unix::fs::symlink(&outside, b.home.join(".config/nvim/lua")).unwrap();
    // ...and the laptop adds files under that subdirectory.
    a.write(".config/nvim/lua/plugins.lua", "return {}\n");
    ok_summary(&sync(&a, "dots"));
    let lines = sync(&b, "dots");
    assert!(
        std::fs::read_dir(&outside).unwrap().next().is_none(),
        "dotsync wrote through a symlink: {lines:#?}"
    );
    // The desktop's symlink is its own (pushed as a symlink would clash with the laptop's
    // directory): the clash and the refused write are both reported, nothing is lost.
    assert_eq!(
        b.home.join(".config/nvim/lua").read_link().unwrap(),
        outside
    );
    assert!(lines.iter().any(|l| l["action"] == "failed"), "{lines:#?}");
}

#[test]
fn an_unreachable_remote_is_a_clear_error_keeps_local_edits_and_recovers() {
    let w = World::new();
    let (a, _b, remote) = pair(&w, &["~/.zshrc"]);
    a.write(".zshrc", "one\n");
    ok_summary(&sync(&a, "dots"));
    let moved = w.path().join("moved.git");
    std::fs::rename(&remote, &moved).unwrap();
    a.write(".zshrc", "two\n");
    // A folder that is not there is no repository: said so, with how to make one.
    let lines = sync(&a, "dots");
    let s = summary(&lines);
    assert_eq!(s["ok"], false);
    assert_eq!(s["error_kind"], "remote_not_found", "{s}");
    assert!(
        s["error"].as_str().unwrap().contains("git init --bare"),
        "{s}"
    );
    assert_eq!(a.read(".zshrc"), "two\n");
    std::fs::rename(&moved, &remote).unwrap();
    let lines = sync(&a, "dots");
    assert_eq!(files_with(&lines, "pushed"), vec![".zshrc"]);
}

#[test]
fn a_remote_server_that_is_down_is_offline_keeps_local_edits_and_recovers() {
    let w = World::new();
    let _remote = w.bare_remote("dots");
    let gd = crate::util::git_daemon(w.path(), None);
    let port = gd.1;
    let url = format!("git://127.0.0.1:{port}/dots.git");
    let mut a = w.machine("laptop");
    a.start_daemon();
    a.add_config(&json!({"name": "dots", "paths": ["~/.zshrc"], "remote": url, "auto": false}));
    a.write(".zshrc", "one\n");
    ok_summary(&sync(&a, "dots"));
    drop(gd);
    a.write(".zshrc", "two\n");
    let s = summary(&sync(&a, "dots")).clone();
    assert_eq!(s["ok"], false);
    assert_eq!(s["error_kind"], "offline", "{s}");
    assert!(
        s["error"].as_str().unwrap().contains("cannot be reached"),
        "{s}"
    );
    assert_eq!(a.read(".zshrc"), "two\n");
    let _gd = crate::util::git_daemon(w.path(), Some(port));
    let lines = sync(&a, "dots");
    assert_eq!(files_with(&lines, "pushed"), vec![".zshrc"]);
}

#[test]
fn sync_all_streams_every_config_and_the_cli_renders_it() {
    let w = World::new();
    let remote = w.bare_remote("dots");
    let mut a = w.machine("laptop");
    a.start_daemon();
    a.add_config(&json!({"name": "shell", "paths": ["~/.zshrc"], "remote": remote.to_str().unwrap(), "auto": false}));
    a.add_config(&json!({"name": "git", "paths": ["~/.gitconfig"], "remote": remote.to_str().unwrap(), "auto": false}));
    a.write(".zshrc", "z\n");
    a.write(".gitconfig", "g\n");
    let lines = sync_with(&a, "/v1/sync");
    let summaries: Vec<&Value> = lines.iter().filter(|l| l["type"] == "summary").collect();
    assert_eq!(summaries.len(), 2, "{lines:#?}");
    assert!(summaries.iter().all(|s| s["ok"] == true));
    a.write(".zshrc", "z2\n");
    let out = a.ok(&["sync", "shell", "--json"]);
    let last: Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert_eq!(last["type"], "summary");
    assert_eq!(last["pushed"], 1);
}

#[test]
fn machines_sync_over_a_real_network_transport() {
    let w = World::new();
    let _remote = w.bare_remote("dots");
    let gd = crate::util::git_daemon(w.path(), None);
    let url = format!("git://127.0.0.1:{}/dots.git", gd.1);
    let mut a = w.machine("laptop");
    let mut b = w.machine("desktop");
    a.start_daemon();
    b.start_daemon();
    for m in [&a, &b] {
        m.add_config(&json!({"name": "dots", "paths": ["~/.zshrc"], "remote": url, "auto": false}));
    }
    a.write(".zshrc", "over the wire\n");
    assert_eq!(files_with(&sync(&a, "dots"), "pushed"), vec![".zshrc"]);
    assert_eq!(files_with(&sync(&b, "dots"), "pulled"), vec![".zshrc"]);
    assert_eq!(b.read(".zshrc"), "over the wire\n");
    b.write(".zshrc", "and back\n");
    ok_summary(&sync(&b, "dots"));
    ok_summary(&sync(&a, "dots"));
    assert_eq!(a.read(".zshrc"), "and back\n");
}

#[test]
fn a_broken_gitconfig_in_the_home_does_not_stop_the_sync_that_fixes_it() {
    let w = World::new();
    let (a, b, _) = pair(&w, &["~/.gitconfig"]);
    // git reads $HOME/.gitconfig, which here is the very file being synced.
    a.write(".gitconfig", "[user\n\tbroken =\n");
    ok_summary(&sync(&a, "dots"));
    ok_summary(&sync(&b, "dots"));
    assert_eq!(b.read(".gitconfig"), "[user\n\tbroken =\n");
    a.write(".gitconfig", "[user]\n\tname = Fixed\n");
    ok_summary(&sync(&a, "dots"));
    ok_summary(&sync(&b, "dots"));
    assert_eq!(b.read(".gitconfig"), "[user]\n\tname = Fixed\n");
}

#[test]
fn malformed_queries_and_unknown_configs_answer_json_errors() {
    let w = World::new();
    let mut a = w.machine("laptop");
    a.start_daemon();
    for path in [
        "/v1/history",
        "/v1/history?path=.zshrc&colour=blue",
        "/v1/files",
        "/v1/conflicts/content?path=.zshrc",
    ] {
        let r = a.get(path);
        assert_eq!(r.status, 400, "{path}: {}", r.text);
        assert_eq!(r.json["error"]["code"], "bad_request", "{path}: {}", r.text);
    }
    let r = a.get("/v1/history?path=.zshrc");
    assert_eq!(r.status, 404, "{}", r.text);
    assert!(
        r.json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no config syncs")
    );
    let r = a.get("/v1/history?path=../etc/passwd");
    assert_eq!(r.status, 400, "{}", r.text);
    let r = a.req("POST", "/v1/sync/%FF", None);
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.json["error"]["code"], "bad_request");
}

#[test]
fn a_rewound_remote_is_reported_by_sync_and_status_and_settled_by_the_persons_choice() {
    let w = World::new();
    let (a, b, remote) = pair(&w, &["~/.zshrc", "~/.config/nvim"]);
    a.write(".zshrc", "one\n");
    ok_summary(&sync(&a, "dots"));
    let old = git(&remote, &["rev-parse", "main"]);
    a.write(".config/nvim/init.lua", "new since\n");
    ok_summary(&sync(&a, "dots"));
    ok_summary(&sync(&b, "dots"));
    git(&remote, &["update-ref", "refs/heads/main", old.trim()]);
    // The CLI says what happened and the two ways out, exits non-zero, and changes nothing.
    let out = b.run(&["sync", "dots"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("moved back"), "{err}");
    assert!(
        err.contains("--push-local") && err.contains("--take-remote"),
        "{err}"
    );
    assert_eq!(b.read(".config/nvim/init.lua"), "new since\n");
    // The status shows it too.
    let st = b.ok_json(&["status", "--json"]);
    assert_eq!(st["configs"][0]["last_error_kind"], "rewound", "{st}");
    // The log still lists the version the remote dropped.
    let log = b.ok_json(&["log", "~/.config/nvim/init.lua", "--json"]);
    assert_eq!(log.as_array().map(Vec::len), Some(1), "{log}");
    // Push this machine's files back: the remote has them again, and A keeps its files.
    b.ok(&["sync", "dots", "--push-local"]);
    let tree = git(&remote, &["ls-tree", "-r", "--name-only", "main"]);
    assert!(tree.contains(".config/nvim/init.lua"), "{tree}");
    let st = b.ok_json(&["status", "--json"]);
    assert!(st["configs"][0]["last_error"].is_null(), "{st}");
    ok_summary(&sync(&a, "dots"));
    assert_eq!(a.read(".config/nvim/init.lua"), "new since\n");
}

#[test]
fn a_file_the_home_cannot_take_fails_the_sync_and_stays_in_the_status() {
    let w = World::new();
    let (a, b, _remote) = pair(&w, &["~/.config/nvim"]);
    a.write(".config/nvim/init.lua", "i\n");
    a.write(".config/nvim/x", "a file\n");
    ok_summary(&sync(&a, "dots"));
    b.write(".config/nvim/x/mine.txt", "keep me\n");
    let out = b.run(&["sync", "dots"]);
    assert!(
        !out.status.success(),
        "a sync with failed files must not exit 0"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("failed"), "{err}");
    let st = b.ok_json(&["status", "--json"]);
    let failed = &st["configs"][0]["failed_files"];
    assert!(
        failed
            .as_array()
            .is_some_and(|f| f.iter().any(|f| f["path"] == ".config/nvim/x")),
        "{st}"
    );
    let human = b.ok(&["status"]);
    assert!(human.contains("failed: ~/.config/nvim/x"), "{human}");
    assert_eq!(b.read(".config/nvim/x/mine.txt"), "keep me\n");
    // Once the way is clear, the file arrives and the list empties.
    std::fs::remove_dir_all(b.home.join(".config/nvim/x")).unwrap();
    b.ok(&["sync", "dots"]);
    assert_eq!(b.read(".config/nvim/x"), "a file\n");
    let st = b.ok_json(&["status", "--json"]);
    assert_eq!(st["configs"][0]["failed_files"], json!([]), "{st}");
}
