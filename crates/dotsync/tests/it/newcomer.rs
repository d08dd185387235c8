//! The newcomer's path, as a person follows it: `dotsync init`, `add`, the first sync, a second
//! machine joining with its own differing file, the conflict shown as a diff and resolved;
//! `config add`'s checks; pause and resume; completions and the man page.

use std::process::Output;

use serde_json::{Value, json};

use crate::util::{Machine, World, git, wait_until};

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Runs `dotsync ARGS`, asserts success, returns stderr (where messages go).
fn says(m: &Machine, args: &[&str]) -> String {
    let out = m.run(args);
    assert!(
        out.status.success(),
        "dotsync {args:?} failed:\nstdout: {}\nstderr: {}",
        stdout(&out),
        stderr(&out)
    );
    stderr(&out)
}

/// The files of the remote's branch.
fn remote_files(w: &World, remote: &std::path::Path) -> String {
    git(
        w.path(),
        &[
            "--git-dir",
            remote.to_str().unwrap(),
            "ls-tree",
            "-r",
            "--name-only",
            "main",
        ],
    )
}

#[test]
fn a_newcomer_inits_adds_syncs_and_a_second_machine_joins_with_its_own_differing_file() {
    let w = World::new();
    let remote = w.bare_remote("dots");
    let remote_s = remote.to_str().unwrap();

    // Machine a: init checks git, creates the state, finds the remote empty.
    let a = w.machine("a");
    a.write(".zshrc", "export A=1\n");
    a.write(".gitconfig", "[user]\n  name = me\n");
    let err = says(&a, &["init", remote_s]);
    assert!(err.contains("ok: git version"), "{err}");
    assert!(err.contains("state in ~/.dotsync (created)"), "{err}");
    assert!(err.contains("empty repository"), "{err}");
    assert!(err.contains("dotsync add"), "says what comes next: {err}");
    assert!(
        err.contains("dotsync service install"),
        "offers the service: {err}"
    );

    // add creates the default config with the remote init checked; a path that does not
    // exist is accepted with a warning.
    let err = says(&a, &["add", "~/.zshrc", "~/.gitconfig", "~/.config/later"]);
    assert!(
        err.contains("~/.config/later does not exist yet; it will be synced when it appears"),
        "{err}"
    );
    assert!(err.contains("created config dotfiles"), "{err}");
    assert!(
        err.contains("`dotsync sync dotfiles` syncs it now"),
        "no daemon: {err}"
    );
    let cfg = a.ok_json(&["config", "show", "dotfiles", "--json"]);
    assert_eq!(cfg["remote"], remote_s);
    assert_eq!(
        cfg["paths"],
        json!(["~/.zshrc", "~/.gitconfig", "~/.config/later"])
    );

    // A dry run changes nothing; the first sync pushes.
    let err = says(&a, &["sync", "--dry-run"]);
    assert!(err.contains("would push     ~/.zshrc"), "{err}");
    assert!(
        err.contains("dry run: would push 2; nothing was changed"),
        "{err}"
    );
    let remote_has_branch = std::process::Command::new("git")
        .args(["--git-dir", remote_s, "rev-parse", "--verify", "-q", "main"])
        .output()
        .unwrap();
    assert!(
        !remote_has_branch.status.success(),
        "the dry run pushed nothing"
    );
    a.ok(&["sync"]);
    assert_eq!(remote_files(&w, &remote), ".gitconfig\n.zshrc\n");

    // `files` without a name when there is one config; paths shown as ~/...
    let files = a.ok(&["files"]);
    assert!(files.contains("~/.zshrc"), "{files}");

    // Machine b has its own .zshrc. init shows what differs before anything is touched, and
    // (no terminal, no --yes) creates nothing.
    let b = w.machine("b");
    b.write(".zshrc", "export B=1\n");
    b.write(".gitconfig", "[user]\n  name = me\n");
    let err = says(&b, &["init", remote_s]);
    assert!(err.contains("a dotsync repository"), "{err}");
    assert!(
        err.contains("2 files: 1 the same here, 0 that this machine lacks, 1 that differ"),
        "{err}"
    );
    assert!(
        err.contains("\n  ~/.zshrc\n"),
        "names the differing file: {err}"
    );
    assert!(err.contains("never synced before"), "no jargon: {err}");
    assert!(err.contains("--yes"), "{err}");
    assert_eq!(b.ok_json(&["config", "list", "--json"]), json!([]));
    assert_eq!(b.read(".zshrc"), "export B=1\n");

    // --yes creates the config; a dry run shows the conflict to come and changes nothing.
    let err = says(&b, &["init", remote_s, "--yes"]);
    assert!(err.contains("created config dotfiles"), "{err}");
    let err = says(&b, &["sync", "--dry-run"]);
    assert!(err.contains("would conflict ~/.zshrc"), "{err}");
    assert_eq!(b.read(".zshrc"), "export B=1\n");
    assert_eq!(b.ok_json(&["conflicts", "--json"]), json!([]));

    // The first sync keeps both; the conflict reads as a sentence and names machine a.
    b.run(&["sync"]);
    let list = b.run(&["conflicts"]);
    let table = stdout(&list);
    assert!(
        table.contains("this machine's file and the remote's differ, and were never synced before"),
        "{table}"
    );
    assert!(table.contains("~/.zshrc"), "{table}");
    assert!(!table.contains("no base"), "{table}");
    let conflicts = b.ok_json(&["conflicts", "--json"]);
    assert_eq!(conflicts[0]["remote_machine"], "a", "{conflicts}");

    // conflicts PATH: a unified diff (no colour: not a terminal), theirs named.
    let out = b.run(&["conflicts", "~/.zshrc"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let diff = stdout(&out);
    assert!(diff.contains("--- ~/.zshrc (theirs, from a)"), "{diff}");
    assert!(diff.contains("+++ ~/.zshrc (yours)"), "{diff}");
    assert!(diff.contains("\n-export A=1\n+export B=1\n"), "{diff}");
    assert!(!diff.contains('\x1b'), "no colour off a terminal: {diff}");
    // A file that is not in conflict: said so, non-zero.
    let err = b.fails(&["conflicts", "~/.gitconfig"]);
    assert!(err.contains("~/.gitconfig is not in conflict"), "{err}");
    // Raw bytes of one side stay available.
    assert_eq!(
        b.ok(&["conflicts", "~/.zshrc", "--side", "remote"]),
        "export A=1\n"
    );

    b.ok(&["resolve", "~/.zshrc", "--keep", "local"]);
    b.ok(&["sync"]);
    a.ok(&["sync"]);
    assert_eq!(a.read(".zshrc"), "export B=1\n");

    // forget: the config no longer syncs the file, which stays.
    let err = says(&a, &["forget", "~/.gitconfig"]);
    assert!(err.contains("no longer syncs ~/.gitconfig"), "{err}");
    assert!(a.exists(".gitconfig"));
    let paths = a.ok_json(&["config", "show", "dotfiles", "--json"])["paths"].clone();
    assert_eq!(paths, json!(["~/.zshrc", "~/.config/later"]));
    let err = a.fails(&["forget", "~/.nothing"]);
    assert!(err.contains("no config lists ~/.nothing"), "{err}");
}

#[test]
fn init_and_config_add_say_what_is_wrong_with_a_remote_at_once() {
    let w = World::new();
    let m = w.machine("m");
    let missing = w.path().join("nowhere.git");
    let missing_s = missing.to_str().unwrap();

    // Not a repository: init fails and says how to create one.
    let err = m.fails(&["init", missing_s]);
    assert!(err.contains("git init --bare -b main"), "{err}");

    // add without init or config: says how to start.
    let err = m.fails(&["add", "~/.zshrc"]);
    assert!(err.contains("dotsync init REMOTE"), "{err}");

    // config add: created, and the remote's problem named at once.
    m.write(".zshrc", "x\n");
    let out = m.run(&["config", "add", "dots", "--remote", missing_s, "~/.zshrc"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("created config dots"), "{err}");
    assert!(
        err.contains("warning: there is no git repository at"),
        "the remote checked at once: {err}"
    );

    // A path already in another config of the same remote: refused, naming that config.
    let err = m.fails(&[
        "config",
        "add",
        "other",
        "--remote",
        missing_s,
        "~/.zshrc",
        "--no-check",
    ]);
    assert!(err.contains("config \"dots\""), "{err}");

    // --dry-run creates nothing.
    let remote = w.bare_remote("real");
    let err = says(
        &m,
        &[
            "config",
            "add",
            "real",
            "--remote",
            remote.to_str().unwrap(),
            "~/.zshrc",
            "--dry-run",
        ],
    );
    assert!(err.contains("dry run"), "{err}");
    assert!(m.fails(&["config", "show", "real"]).contains("real"));
}

#[test]
fn pause_stops_the_daemon_syncing_by_itself_survives_a_restart_and_resume_catches_up() {
    let w = World::new();
    let remote = w.bare_remote("dots");
    let remote_s = remote.to_str().unwrap();
    let mut m = w.machine("m");
    m.env.push(("DOTSYNC_SETTLE_MS".into(), "0".into()));
    m.write(".zshrc", "1\n");
    m.write(".vimrc", "1\n");
    m.start_daemon_with(&["--debounce-ms", "50"]);
    let err = says(
        &m,
        &["config", "add", "z", "--remote", remote_s, "~/.zshrc"],
    );
    assert!(
        err.contains("the daemon syncs it now"),
        "no `dotsync sync` hint when the daemon does it: {err}"
    );
    says(
        &m,
        &["config", "add", "v", "--remote", remote_s, "~/.vimrc"],
    );
    wait_until(30, "both files pushed", || {
        remote_files(&w, &remote).lines().count() == 2
    });

    // Nothing paused yet: the cheap answer `dotsync sync` asks first says so.
    let p = m.get("/v1/pause").json;
    assert_eq!(p["all"], false, "{p}");
    assert_eq!(p["configs"], serde_json::json!([]), "{p}");
    let err = says(&m, &["sync", "v"]);
    assert!(!err.contains("paused"), "{err}");

    let err = says(&m, &["pause", "z"]);
    assert!(err.contains("paused"), "{err}");
    let z_id = m.get("/v1/config/z").json["id"].clone();
    let p = m.get("/v1/pause").json;
    assert_eq!(p["all"], false, "{p}");
    assert_eq!(p["configs"], serde_json::json!([z_id]), "{p}");
    // An explicit sync of a config that is not paused says nothing of the one that is.
    let err = says(&m, &["sync", "v"]);
    assert!(!err.contains("paused"), "{err}");
    let st = m.get("/v1/status").json;
    let z = st["configs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "z")
        .unwrap();
    assert_eq!(z["paused"], true);
    assert_eq!(st["paused"], false);

    // Both files change; only the config that is not paused syncs by itself.
    m.write(".zshrc", "2\n");
    m.write(".vimrc", "2\n");
    let show = |f: &str| {
        git(
            w.path(),
            &["--git-dir", remote_s, "show", &format!("main:{f}")],
        )
    };
    wait_until(30, "the edit of the running config pushed", || {
        show(".vimrc") == "2\n"
    });
    assert_eq!(show(".zshrc"), "1\n", "the paused config did not sync");

    // A restart keeps the pause.
    m.stop_daemon();
    m.start_daemon_with(&["--debounce-ms", "50"]);
    let st = m.get("/v1/status").json;
    let z = st["configs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "z")
        .unwrap();
    assert_eq!(z["paused"], true, "{st}");

    // Pausing everything, then resuming one config while all are paused: refused.
    says(&m, &["pause"]);
    assert_eq!(m.get("/v1/status").json["paused"], true);
    assert_eq!(m.get("/v1/pause").json["all"], true);
    let err = m.fails(&["resume", "v"]);
    assert!(err.contains("every config is paused"), "{err}");
    // An explicit sync still runs, and says the config is paused.
    let err = says(&m, &["sync", "v"]);
    assert!(err.contains("note: v is paused"), "{err}");

    // Resume: what changed meanwhile syncs at once.
    says(&m, &["resume"]);
    wait_until(30, "the paused edit pushed after resume", || {
        show(".zshrc") == "2\n"
    });
    assert_eq!(m.get("/v1/status").json["paused"], false);

    // The log holds the daemon's recent sync lines, as sentences.
    let log = m.get("/v1/log").json;
    let texts: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l["text"].as_str())
        .collect();
    assert!(texts.contains(&"sent ~/.zshrc"), "{texts:?}");
    assert!(
        texts
            .iter()
            .any(|t| t.starts_with("sync of z started (resumed)")),
        "{texts:?}"
    );
    let last = log.as_array().unwrap().last().unwrap()["seq"]
        .as_u64()
        .unwrap();
    // `after` gives the lines past a seq: here the last one read, and any a sync still running
    // (the other config's resumed sync) added since.
    let tail = m.get(&format!("/v1/log?after={}", last - 1)).json;
    let seqs: Vec<u64> = tail
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs.first(), Some(&last), "{tail}");
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{tail}");
}

#[test]
fn completions_and_the_man_page_come_from_the_cli() {
    let w = World::new();
    let m = w.machine("m");
    for (shell, marker) in [
        ("bash", "_dotsync()"),
        ("zsh", "#compdef dotsync"),
        ("fish", "complete -c dotsync"),
    ] {
        let out = m.ok(&["completions", shell]);
        assert!(out.contains(marker), "{shell}: {out}");
        assert!(out.contains("init"), "{shell} knows the commands");
    }
    let page = m.ok(&["man"]);
    assert!(page.contains(".TH dotsync 1"), "{page}");
    let dir = w.path().join("man");
    m.ok(&["man", "--dir", dir.to_str().unwrap()]);
    let init = std::fs::read_to_string(dir.join("dotsync-init.1")).unwrap();
    assert!(init.contains("\\-\\-yes"), "{init}");

    // Every flag and argument of every command is described.
    let help = m.ok(&["config", "edit", "--help"]);
    assert!(
        !help.contains("[default:"),
        "no misleading defaults: {help}"
    );
    for cmd in [
        vec!["conflicts"],
        vec!["log"],
        vec!["files"],
        vec!["machines"],
        vec!["config", "list"],
        vec!["resolve"],
    ] {
        let mut args = cmd.clone();
        args.push("--help");
        let help = m.ok(&args);
        for line in help.lines().filter(|l| l.trim_start().starts_with("--")) {
            let flag = line.split_whitespace().next().unwrap_or("");
            assert!(
                line.trim_start().len() > flag.len() + 2 || flag == "--help",
                "{cmd:?}: {flag} has no description:\n{help}"
            );
        }
    }
    let _ = Value::Null;
}
