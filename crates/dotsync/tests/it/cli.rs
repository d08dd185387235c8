//! The `dotsync` CLI, run as a person or a script would: against a running daemon, and with no
//! daemon at all (the same API in-process, under the state lock).

use serde_json::{Value, json};

use crate::util::{Machine, World};

/// The person's day with configs, the same whether or not a daemon runs.
fn config_scenario(m: &Machine) {
    let home = m.home_str().to_owned();

    // Nothing yet: an empty list, a hint on stderr, nothing on stdout.
    let out = m.run(&["config", "list"]);
    assert!(out.status.success());
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("dotsync config add"),
        "the empty list says how to start"
    );
    assert_eq!(m.ok_json(&["config", "list", "--json"]), json!([]));

    // add, with every field flag.
    let out = m.run(&[
        "config",
        "add",
        "dots",
        "--remote",
        "git@example.com:me/dots.git",
        "~/.zshrc",
        "~/.config/nvim",
        "--ignore",
        "*.bak",
        "--ignore",
        "*.swp",
        "--branch",
        "laptop",
        "--direction",
        "push",
        "--on-conflict",
        "local",
        "--auto",
        "false",
        "--interval",
        "300",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("created config dots"), "{stderr}");
    let shown = m.ok_json(&["config", "show", "dots", "--json"]);
    let id = shown["id"].as_str().expect("id").to_owned();
    assert!(stderr.contains(&id), "add names the new id: {stderr}");
    assert_eq!(
        shown,
        json!({"id": id, "name": "dots", "paths": ["~/.zshrc", "~/.config/nvim"],
            "ignore": ["*.bak", "*.swp"], "remote": "git@example.com:me/dots.git",
            "branch": "laptop", "direction": "push", "on_conflict": "local", "auto": false,
            "interval_s": 300, "notify": true, "structured_merge": true, "merge_formats": {},
            "machines": [], "encrypt": [], "per_machine": [], "plaintext": []})
    );

    // add with the defaults.
    m.ok(&[
        "config",
        "add",
        "work",
        "--remote",
        "/srv/work.git",
        &format!("{home}/.gitconfig"),
    ]);
    let work = m.ok_json(&["config", "show", "work", "--json"]);
    assert_eq!(work["branch"], "main");
    assert_eq!(work["direction"], "both");
    assert_eq!(work["on_conflict"], "keep-both");
    assert_eq!(work["auto"], true);
    assert_eq!(work["interval_s"], 60);
    assert_eq!(
        work["paths"],
        json!([format!("{home}/.gitconfig")]),
        "paths stored as given"
    );
    let work_id = work["id"].as_str().unwrap().to_owned();

    // list: a table for people, JSON for scripts.
    let table = m.ok(&["config", "list"]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    for col in ["NAME", "ID", "REMOTE", "PATHS"] {
        assert!(lines[0].contains(col), "{table}");
    }
    assert!(
        lines[1].starts_with("dots ") && lines[1].contains(&id),
        "{table}"
    );
    assert!(
        lines[1].contains("manual") && lines[1].contains("~/.zshrc ~/.config/nvim"),
        "{table}"
    );
    assert!(
        lines[2].starts_with("work ") && lines[2].contains("auto"),
        "{table}"
    );
    let listed = m.ok_json(&["config", "list", "--json"]);
    assert_eq!(listed, json!([shown, work]));
    assert_eq!(m.ok_json(&["config", "ls", "--json"]), listed, "ls is list");

    // show, for people, by name or by id.
    let text = m.ok(&["config", "show", &id]);
    assert!(text.contains("name:        dots"), "{text}");
    assert!(
        text.contains("remote:      git@example.com:me/dots.git"),
        "{text}"
    );
    assert!(
        text.contains("paths:       ~/.zshrc, ~/.config/nvim"),
        "{text}"
    );
    assert!(text.contains("direction:   push"), "{text}");
    assert_eq!(m.ok_json(&["config", "show", &id, "--json"]), shown);

    // edit: only the fields given change.
    let out = m.run(&[
        "config",
        "edit",
        "dots",
        "--name",
        "dotfiles",
        "--add-path",
        "~/.vimrc",
        "--rm-path",
        "~/.zshrc",
        "--clear-ignore",
        "--ignore",
        "*.tmp",
        "--interval",
        "120",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("updated config dotfiles"));
    let edited = m.ok_json(&["config", "show", "dotfiles", "--json"]);
    assert_eq!(
        edited,
        json!({"id": id, "name": "dotfiles", "paths": ["~/.config/nvim", "~/.vimrc"],
            "ignore": ["*.tmp"], "remote": "git@example.com:me/dots.git", "branch": "laptop", "notify": true,
            "direction": "push", "on_conflict": "local", "auto": false, "interval_s": 120,
            "structured_merge": true, "merge_formats": {},
            "machines": [], "encrypt": [], "per_machine": [], "plaintext": []})
    );
    m.ok(&[
        "config",
        "edit",
        &id,
        "--path",
        "~/.zshrc",
        "--path",
        "~/.config/nvim",
        "--remote",
        "/srv/dots.git",
        "--direction",
        "both",
        "--auto",
        "true",
        "--branch",
        "main",
    ]);
    let edited = m.ok_json(&["config", "show", &id, "--json"]);
    assert_eq!(edited["paths"], json!(["~/.zshrc", "~/.config/nvim"]));
    assert_eq!(edited["remote"], "/srv/dots.git");
    assert_eq!(edited["direction"], "both");
    assert_eq!(edited["auto"], true);
    assert_eq!(edited["ignore"], json!(["*.tmp"]), "ignore kept");
    assert_eq!(edited["on_conflict"], "local", "on_conflict kept");

    // which: a ~/ path, an absolute path, a bare name, a file inside a listed directory; names
    // and ids, and a non-zero exit when no config syncs the file.
    let dots = json!([{"id": id, "name": "dotfiles"}]);
    assert_eq!(m.ok_json(&["which", "~/.zshrc", "--json"]), dots);
    assert_eq!(
        m.ok_json(&["which", &format!("{home}/.zshrc"), "--json"]),
        dots
    );
    assert_eq!(
        m.ok_json(&["which", ".gitconfig", "--json"]),
        json!([{"id": work_id, "name": "work"}])
    );
    assert_eq!(
        m.ok_json(&["which", "~/.config/nvim/lua/init.lua", "--json"]),
        dots
    );
    let out = m.run(&["which", "~/.config/nvim/x.tmp", "--json"]);
    assert!(!out.status.success(), "ignored: nothing syncs it");
    assert_eq!(
        serde_json::from_slice::<Value>(&out.stdout).unwrap(),
        json!([])
    );
    assert_eq!(m.ok(&["which", ".zshrc"]), format!("dotfiles\t{id}\n"));
    let out = m.run(&["which", "~/.nothing"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no config syncs ~/.nothing"));

    // rm, by name and by id.
    let out = m.run(&["config", "rm", "dotfiles"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("removed config dotfiles"));
    m.ok(&["config", "remove", &work_id]);
    assert_eq!(m.ok_json(&["config", "list", "--json"]), json!([]));
}

/// Every failure exits non-zero, prints nothing on stdout, and says on stderr what went wrong
/// and what to do.
fn failure_scenario(m: &Machine) {
    m.ok(&["config", "add", "y", "--remote", "/srv/y.git", "~/.y"]);
    let before = m.ok_json(&["config", "list", "--json"]);

    for args in [
        &["config", "show", "nope"][..],
        &["config", "show", "nope", "--json"],
        &["config", "rm", "nope"],
        &["config", "edit", "nope", "--interval", "5"],
    ] {
        let err = m.fails(args);
        assert!(err.starts_with("error: "), "{args:?}: {err}");
        assert!(
            err.contains("\"nope\""),
            "{args:?} names what was not found: {err}"
        );
        assert!(
            err.contains("dotsync config list"),
            "{args:?} says what to do: {err}"
        );
    }
    let cases: &[(&[&str], &[&str])] = &[
        (
            &[
                "config",
                "add",
                "x",
                "--remote",
                "ext::sh -c touch% /tmp/pwned",
                "~/.x",
            ],
            &["remote:", "ext::sh"],
        ),
        (
            &["config", "add", "x", "--remote=-oProxyCommand=x", "~/.x"],
            &["remote:", "option"],
        ),
        (
            &[
                "config",
                "add",
                "x",
                "--remote",
                "/srv/x.git",
                "/etc/passwd",
            ],
            &["paths:", "outside"],
        ),
        (
            &["config", "add", "x", "--remote", "/srv/x.git", "~/../x"],
            &["paths:", ".."],
        ),
        (
            &["config", "add", "x", "--remote", "/srv/x.git", ".x"],
            &["paths:", "~/"],
        ),
        (
            &["config", "add", "y", "--remote", "/srv/z.git", "~/.z"],
            &["name:", "already exists"],
        ),
        (
            &["config", "add", "x", "--remote", "/srv/y.git", "~/.y"],
            &["paths:", "\"y\""],
        ),
        (
            &["config", "add", "a b", "--remote", "/srv/x.git", "~/.x"],
            &["name:"],
        ),
        (
            &[
                "config",
                "add",
                "x",
                "--remote",
                "/srv/x.git",
                "~/.x",
                "--interval",
                "0",
            ],
            &["interval_s:"],
        ),
        (
            &["config", "edit", "y", "--rm-path", "~/.nothere"],
            &["no path", "dotsync config show y"],
        ),
        (&["config", "edit", "y", "--branch", "a..b"], &["branch:"]),
        (
            &["config", "edit", "y", "--rm-path", "~/.y"],
            &["paths:", "at least one path"],
        ),
        (&["which", "~/../etc/passwd"], &[".."]),
    ];
    for (args, needles) in cases {
        let err = m.fails(args);
        assert!(err.starts_with("error: "), "{args:?}: {err}");
        for n in *needles {
            assert!(err.contains(n), "{args:?}: stderr lacks {n:?}: {err}");
        }
        assert!(!err.contains("panicked"), "{err}");
    }
    // Usage errors come from the argument parser (exit 2), pointing at --help.
    for args in [
        &["config", "add", "x", "--remote", "/srv/x.git"][..],
        &["config", "add", "x", "~/.x"],
        &[
            "config",
            "add",
            "x",
            "--remote",
            "/r",
            "~/.x",
            "--direction",
            "sideways",
        ],
        &[
            "config",
            "add",
            "x",
            "--remote",
            "/r",
            "~/.x",
            "--interval",
            "soon",
        ],
        &["config", "frobnicate"],
    ] {
        let out = m.run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.starts_with("error: "), "{args:?}: {err}");
        assert!(err.contains("--help"), "{args:?}: {err}");
    }
    assert_eq!(
        m.ok_json(&["config", "list", "--json"]),
        before,
        "no failed command changed anything"
    );
    m.ok(&["config", "rm", "y"]);
}

#[test]
fn the_cli_works_against_a_running_daemon() {
    let w = World::new();
    let mut m = w.machine("m");
    m.start_daemon();
    config_scenario(&m);
    failure_scenario(&m);

    // The commands went through the daemon, not around it.
    let log = m.daemon_log();
    for line in [
        "config created config=dots",
        "config replaced config=dotfiles",
        "config deleted config=dotfiles",
    ] {
        assert!(log.contains(line), "daemon log lacks {line:?}:\n{log}");
    }
    // And the daemon and the CLI see the same configs, at once.
    let id = m.add_config(&json!({"name": "api", "paths": ["~/.api"], "remote": "/srv/a.git"}));
    assert_eq!(
        m.ok_json(&["config", "show", "api", "--json"])["id"],
        id.as_str()
    );
    m.ok(&["config", "add", "cli", "--remote", "/srv/c.git", "~/.cli"]);
    assert_eq!(m.get("/v1/config/cli").status, 200);
}

#[test]
fn the_cli_works_without_a_daemon() {
    let w = World::new();
    let mut m = w.machine("m");
    config_scenario(&m);
    failure_scenario(&m);
    assert!(
        !m.home.parent().unwrap().join("daemon.log").exists(),
        "no daemon was involved"
    );

    // What the CLI wrote alone, a daemon started later serves, and vice versa.
    m.ok(&[
        "config",
        "add",
        "offline",
        "--remote",
        "/srv/o.git",
        "~/.offline",
    ]);
    m.start_daemon();
    let r = m.get("/v1/config/offline");
    assert_eq!(r.status, 200, "{}", r.text);
    m.add_config(&json!({"name": "online", "paths": ["~/.online"], "remote": "/srv/o.git"}));
    m.stop_daemon();
    let names: Vec<Value> = m
        .ok_json(&["config", "list", "--json"])
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].clone())
        .collect();
    assert_eq!(names, [json!("offline"), json!("online")]);
}

#[test]
fn cli_commands_without_a_daemon_take_turns() {
    // Scripts may run several commands at once; without a daemon they share the state lock.
    let w = World::new();
    let m = w.machine("m");
    let children: Vec<_> = (0..6)
        .map(|i| {
            m.cmd()
                .args([
                    "config",
                    "add",
                    &format!("c{i}"),
                    "--remote",
                    "/srv/c.git",
                    &format!("~/.c{i}"),
                ])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let listed = m.ok_json(&["config", "list", "--json"]);
    assert_eq!(listed.as_array().unwrap().len(), 6, "{listed}");
}

#[test]
fn the_cli_says_when_the_daemon_cannot_be_reached() {
    let w = World::new();
    let mut m = w.machine("m");
    m.start_daemon();
    m.ok(&["config", "add", "a", "--remote", "/srv/a.git", "~/.a"]);

    // The daemon holds the state but the address given is wrong.
    let out = m
        .cmd()
        .args(["config", "list"])
        .env("DOTSYNC_ADDR", "127.0.0.1:1")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot reach the dotsync daemon at http://127.0.0.1:1"),
        "{err}"
    );
    assert!(err.contains("hint:"), "{err}");

    // DOTSYNC_ADDR pointing at the daemon is used as is.
    let out = m
        .cmd()
        .args(["config", "list", "--json"])
        .env("DOTSYNC_ADDR", &m.d().addr)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A token that is not the daemon's: refused, and the message says where the right one is.
    let token_path = m.dotsync_home.join("state/token");
    let token = std::fs::read_to_string(&token_path).unwrap();
    std::fs::write(&token_path, "f".repeat(64)).unwrap();
    let err = m.fails(&["config", "list"]);
    assert!(err.contains("token"), "{err}");
    std::fs::write(&token_path, token).unwrap();

    // Once the daemon is gone (even by kill -9), the CLI works on the state by itself.
    m.kill_daemon();
    let listed = m.ok_json(&["config", "list", "--json"]);
    assert_eq!(listed[0]["name"], "a");
    m.ok(&["config", "rm", "a"]);
    assert_eq!(m.ok_json(&["config", "list", "--json"]), json!([]));
}

/// Commits `files` (path, content) onto the bare `remote`'s `main` with git plumbing, so a path
/// can hold bytes no work tree would make easy; returns the commit.
fn plumbing_commit(
    remote: &std::path::Path,
    files: &[(&str, &str)],
    message: &str,
    parent: Option<&str>,
) -> String {
    let index = remote.join("hostile-index");
    let git = |args: &[&str]| {
        let out = std::process::Command::new("git")
            .args(args)
            .current_dir(remote)
            .env("GIT_INDEX_FILE", &index)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", "someone")
            .env("GIT_AUTHOR_EMAIL", "someone@example.invalid")
            .env("GIT_COMMITTER_NAME", "someone")
            .env("GIT_COMMITTER_EMAIL", "someone@example.invalid")
            .output()
            .expect("run git");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    let _ = std::fs::remove_file(&index);
    for (path, content) in files {
        let blob_file = remote.join("hostile-blob");
        std::fs::write(&blob_file, content).unwrap();
        let blob = git(&["hash-object", "-w", blob_file.to_str().unwrap()]);
        git(&[
            "update-index",
            "--add",
            "--cacheinfo",
            &format!("100644,{blob},{path}"),
        ]);
    }
    let tree = git(&["write-tree"]);
    let mut args = vec!["commit-tree", tree.as_str(), "-m", message];
    if let Some(p) = parent {
        args.extend(["-p", p]);
    }
    let commit = git(&args);
    git(&["update-ref", "refs/heads/main", &commit]);
    commit
}

/// Asserts that human output holds none of the bytes a hostile name would use to take over a
/// terminal, and that the name did not start a line of its own.
#[track_caller]
fn assert_terminal_safe(what: &str, bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    for (b, name) in [(0x1b, "ESC"), (0x07, "BEL"), (b'\r', "CR")] {
        assert!(
            !bytes.contains(&b),
            "{what} printed a raw {name}:\n{text:?}"
        );
    }
    assert!(
        !text.lines().any(|l| l.starts_with("2K-second-line")),
        "{what} let the name's newline start a line:\n{text}"
    );
}

/// A hostile (or merely careless) machine pushes a file whose name holds a terminal title
/// sequence, an erase-line sequence, CR and a newline. Every human output of it shows the name
/// escaped and quoted, as git and ls do; `--json` carries the exact name.
#[test]
fn a_remote_file_named_with_terminal_escapes_cannot_take_over_the_terminal() {
    let w = World::new();
    let remote = w.bare_remote("dots");
    let evil = "title\x1b]0;pwned\x07\x1b[2K\r\n2K-second-line";
    let path = format!(".config/app/{evil}");
    let first = plumbing_commit(
        &remote,
        &[(&path, "from the remote\n"), (".config/app/plain", "p\n")],
        "add files\x1b]0;commit-title\x07",
        None,
    );
    let m = w.machine("m");
    m.ok(&[
        "config",
        "add",
        "dots",
        "--remote",
        remote.to_str().unwrap(),
        "~/.config/app",
    ]);

    let out = m.run(&["sync", "dots"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_terminal_safe("sync (stdout)", &out.stdout);
    assert_terminal_safe("sync", &out.stderr);
    let quoted = r#""~/.config/app/title\e]0;pwned\x07\e[2K\r\n2K-second-line""#;
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(quoted),
        "sync shows the name quoted: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(m.home.join(&path)).unwrap(),
        "from the remote\n",
        "the file itself arrived under its exact name"
    );

    let out = m.run(&["files", "dots"]);
    assert!(out.status.success());
    assert_terminal_safe("files", &out.stdout);
    assert_terminal_safe("files (stderr)", &out.stderr);
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains(r#""~/.config/app/title\e]0;pwned\x07\e[2K\r\n2K-second-line""#),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let files = m.ok_json(&["files", "dots", "--json"]);
    let paths: Vec<&str> = files
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["path"].as_str())
        .collect();
    assert!(paths.contains(&path.as_str()), "--json is exact: {paths:?}");

    let out = m.run(&["log", &format!("~/{path}")]);
    assert!(out.status.success());
    assert_terminal_safe("log", &out.stdout);

    // Both machines edit it: a conflict, listed by conflicts and counted by status.
    m.write(&path, "edited here\n");
    plumbing_commit(
        &remote,
        &[(&path, "edited there\n"), (".config/app/plain", "p\n")],
        "edit",
        Some(&first),
    );
    let out = m.run(&["sync", "dots"]);
    assert_terminal_safe("sync with a conflict", &out.stderr);
    assert_terminal_safe("sync with a conflict (stdout)", &out.stdout);
    let json_lines = m.run(&["sync", "dots", "--json"]);
    assert_terminal_safe("sync --json (stderr)", &json_lines.stderr);

    let out = m.run(&["conflicts"]);
    assert!(out.status.success());
    assert_terminal_safe("conflicts", &out.stdout);
    assert_terminal_safe("conflicts (stderr)", &out.stderr);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(r"\e]0;pwned\x07"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let conflicts = m.ok_json(&["conflicts", "--json"]);
    assert_eq!(conflicts[0]["path"], path.as_str(), "--json is exact");

    let out = m.run(&["status"]);
    assert!(out.status.success());
    assert_terminal_safe("status", &out.stdout);
    assert_terminal_safe("status (stderr)", &out.stderr);
}

/// Runs `dotsync ARGS | head -c 1`: reads one byte of stdout, closes the pipe, and returns how
/// the command ended and what it said on stderr.
fn with_reader_gone(m: &Machine, args: &[&str]) -> (std::process::ExitStatus, String) {
    use std::io::Read;
    let mut child = m
        .cmd()
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut one = [0u8; 1];
    stdout.read_exact(&mut one).unwrap();
    drop(stdout);
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (child.wait().unwrap(), err)
}

#[test]
fn a_reader_that_goes_away_ends_the_cli_quietly_without_a_panic() {
    let w = World::new();
    let m = w.machine("laptop");
    let remote = w.bare_remote("dots");
    for i in 0..1500 {
        m.write(&format!(".config/nvim/plugin/p{i:04}.lua"), "x\n");
    }
    m.write(".zshrc", "v0\n");
    let out = m.run(&[
        "config",
        "add",
        "dots",
        "--remote",
        remote.to_str().unwrap(),
        "--auto",
        "false",
        "~/.config/nvim",
        "~/.zshrc",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    m.ok(&["sync", "dots"]);
    for v in 1..4 {
        m.write(".zshrc", format!("v{v}\n"));
        m.ok(&["sync", "dots"]);
    }
    // The file listings are larger than a pipe holds: the command is still writing when the
    // reader goes away. Every command ends as if it had finished: status 0, no signal, nothing
    // on stderr.
    for args in [
        &["files", "dots", "--json"][..],
        &["files", "dots"],
        &["log", "~/.zshrc", "--json"],
        &["sync", "dots", "--json"],
    ] {
        let (status, err) = with_reader_gone(&m, args);
        assert!(status.success(), "{args:?} ended with {status}: {err}");
        assert!(err.is_empty(), "{args:?} said: {err}");
    }
}

/// `dotsync completions bash | head -1`, `dotsync man | head`: output smaller than a pipe holds,
/// so the reader is gone before the first byte; the command still ends quietly with status 0.
#[test]
fn a_reader_that_goes_away_ends_completions_and_man_quietly() {
    let w = World::new();
    let m = w.machine("m");
    for args in [
        &["completions", "bash"][..],
        &["completions", "zsh"],
        &["man"],
    ] {
        // The reader is gone before the command writes a byte (a pipe's buffer would otherwise
        // take the whole page and the command would never see the reader go).
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = m
            .cmd()
            .args(args)
            .stdout(writer)
            .stderr(std::process::Stdio::piped())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{args:?}: {:?}: {stderr}", out.status);
        assert!(stderr.is_empty(), "{args:?} said: {stderr}");
    }
}
