//! Issue 16: secrets encrypted on the remote, files that differ per machine on purpose, and
//! configs that apply to some machines only. Several machines in one process against one real
//! bare remote, like `engine.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;

#[test]
fn a_config_for_other_machines_is_not_synced_here_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let remote = bare(dir.path());
    let cfg = serde_json::json!({"name": "gui", "paths": ["~/.config/i3"], "machines": ["laptop", "desk"]});
    let laptop = machine(dir.path(), "laptop", &remote, cfg.clone());
    let server = machine(dir.path(), "server", &remote, cfg);
    laptop.write(".config/i3/config", "bindsym $mod+Return exec kitty\n");
    server.write(".config/i3/config", "server's own\n");
    assert_eq!(laptop.sync().0.pushed, 1);
    let (s, ev) = server.sync();
    assert!(actions(&ev).is_empty(), "{ev:?}");
    assert!(s.ok);
    assert!(
        s.not_here
            .as_deref()
            .is_some_and(|m| m.contains("laptop, desk")),
        "{s:?}"
    );
    assert_eq!(server.read(".config/i3/config"), "server's own\n");
}

const NPMRC: &str = "registry=https://registry.npmjs.org/\n//registry.npmjs.org/:_authToken=npm_SECRETTOKEN1234\ncolor=true\n";

/// Every object the remote holds, as `git cat-file --batch-all-objects --batch` prints them.
fn all_remote_objects(dir: &std::path::Path) -> Vec<u8> {
    let out = std::process::Command::new("git")
        .args(["cat-file", "--batch-all-objects", "--batch"])
        .current_dir(remote_dir(dir))
        .output()
        .unwrap();
    assert!(out.status.success());
    out.stdout
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

fn secret_cfg() -> serde_json::Value {
    serde_json::json!({"name": "dots", "paths": ["~/.npmrc", "~/.zshrc", "~/.ssh"],
        "encrypt": [".npmrc", ".ssh/**"]})
}

fn share_key(from: &Machine, to: &Machine) {
    let exported = from.engine.key_export("pass phrase").unwrap();
    to.engine.key_import(&exported, "pass phrase").unwrap();
}

#[test]
fn encrypted_files_never_reach_the_remote_in_plaintext_and_merge_in_memory() {
    let dir = tempfile::tempdir().unwrap();
    let remote = bare(dir.path());
    let a = machine(dir.path(), "laptop", &remote, secret_cfg());
    let b = machine(dir.path(), "desk", &remote, secret_cfg());
    a.engine.key_init().unwrap();
    share_key(&a, &b);

    a.write(".npmrc", NPMRC);
    a.write(".ssh/config", "Host secret-host-1\n  User me\n");
    a.write(".zshrc", "plain shell\n");
    let (s, ev) = a.sync();
    assert_eq!(s.pushed, 3, "{ev:?}");
    let (s, ev) = b.sync();
    assert_eq!(s.pulled, 3, "{ev:?}");
    assert_eq!(b.read(".npmrc"), NPMRC);
    assert_eq!(b.read(".ssh/config"), "Host secret-host-1\n  User me\n");

    // Nothing changed: nothing is encrypted again (no new ciphertext every sync).
    let tip = git(&remote_dir(dir.path()), &["rev-parse", "main"]);
    assert_eq!(a.sync().0.pushed, 0);
    assert_eq!(b.sync().0.pushed, 0);
    assert_eq!(git(&remote_dir(dir.path()), &["rev-parse", "main"]), tip);

    // Both edit the secret file on different lines: merged in memory, encrypted again.
    a.write(".npmrc", &NPMRC.replace("registry=https", "registry=http"));
    b.write(".npmrc", &NPMRC.replace("color=true", "color=false"));
    a.sync();
    let (s, ev) = b.sync();
    assert_eq!(s.merged, 1, "{ev:?}");
    let both = NPMRC
        .replace("registry=https", "registry=http")
        .replace("color=true", "color=false");
    assert_eq!(b.read(".npmrc"), both);
    a.sync();
    assert_eq!(a.read(".npmrc"), both);

    // More rounds of edits on both machines.
    for i in 0..5 {
        a.write(".ssh/config", &format!("Host secret-host-{i}\n  User me\n"));
        a.sync();
        b.sync();
        b.write(".npmrc", &format!("{both}# secret-comment-{i}\n"));
        b.sync();
        a.sync();
    }
    assert_eq!(a.read(".ssh/config"), b.read(".ssh/config"));
    assert_eq!(a.read(".npmrc"), b.read(".npmrc"));

    let objects = all_remote_objects(dir.path());
    for secret in [
        "npm_SECRETTOKEN1234",
        "secret-host-",
        "secret-comment-",
        "color=false",
    ] {
        assert!(!contains(&objects, secret), "{secret} reached the remote");
    }
    assert!(
        contains(&objects, "plain shell"),
        "the plaintext files are plain"
    );
    assert!(contains(&objects, "age-encryption.org/v1"));
    let recipients = git(
        &remote_dir(dir.path()),
        &["show", "main:.dotsync/recipients.txt"],
    );
    assert!(recipients.contains("# laptop"), "{recipients}");

    // History shows plaintext here.
    let h = a.engine.history(&a.cfg, ".npmrc").unwrap();
    assert!(h.len() >= 3, "{h:?}");
    let old = a
        .engine
        .content(&a.cfg, ".npmrc", Some(&h[h.len() - 1].commit))
        .unwrap();
    assert_eq!(old, NPMRC.as_bytes());
    a.engine
        .restore(&a.cfg, ".npmrc", &h[h.len() - 1].commit)
        .unwrap();
    assert_eq!(a.read(".npmrc"), NPMRC);
    a.sync();
    b.sync();
    assert_eq!(b.read(".npmrc"), NPMRC);
    assert!(!contains(
        &all_remote_objects(dir.path()),
        "secret-comment-"
    ));
}

#[test]
fn a_machine_without_the_key_lists_encrypted_files_and_receives_them_after_import() {
    let dir = tempfile::tempdir().unwrap();
    let remote = bare(dir.path());
    let a = machine(dir.path(), "laptop", &remote, secret_cfg());
    let c = machine(dir.path(), "server", &remote, secret_cfg());
    a.engine.key_init().unwrap();
    a.write(".npmrc", NPMRC);
    a.write(".zshrc", "shared\n");
    a.sync();

    // No key: the rest syncs; the encrypted file is listed, never written or pushed over.
    c.write(".npmrc", "the server's own npmrc\n");
    let (s, ev) = c.sync();
    assert_eq!(s.pulled, 1, "{ev:?}");
    assert_eq!(c.read(".zshrc"), "shared\n");
    assert_eq!(c.read(".npmrc"), "the server's own npmrc\n");
    let failures = c.engine.failures(&c.cfg).unwrap();
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0].path, ".npmrc");
    assert!(
        failures[0].reason.starts_with("needs a key"),
        "{failures:?}"
    );
    a.sync();
    assert_eq!(a.read(".npmrc"), NPMRC);

    // A new encrypted file on the keyless machine is held, not pushed in plaintext.
    c.write(".ssh/config", "Host server-only-secret\n");
    let (_, ev) = c.sync();
    assert!(
        actions(&ev).contains(&(".ssh/config".into(), dotsync_engine::FileAction::Skipped)),
        "{ev:?}"
    );
    assert!(!contains(
        &all_remote_objects(dir.path()),
        "server-only-secret"
    ));

    // After the import: the file arrives (a conflict with the server's own copy, both kept),
    // and the held file goes out encrypted.
    share_key(&a, &c);
    std::fs::remove_file(c.home.join(".npmrc")).unwrap();
    let (s, ev) = c.sync();
    assert_eq!((s.pulled, s.pushed), (1, 1), "{ev:?}");
    assert_eq!(c.read(".npmrc"), NPMRC);
    assert!(c.engine.failures(&c.cfg).unwrap().is_empty());
    a.sync();
    assert_eq!(a.read(".ssh/config"), "Host server-only-secret\n");
    assert!(!contains(
        &all_remote_objects(dir.path()),
        "server-only-secret"
    ));
}

#[test]
fn a_file_listed_in_encrypt_later_is_encrypted_on_the_remote_from_then_on() {
    let dir = tempfile::tempdir().unwrap();
    let remote = bare(dir.path());
    let mut a = machine(
        dir.path(),
        "laptop",
        &remote,
        serde_json::json!({"name": "dots", "paths": ["~/.npmrc"]}),
    );
    a.write(".npmrc", NPMRC);
    a.sync();
    a.cfg.encrypt = vec![".npmrc".into()];
    a.engine.key_init().unwrap();
    let (s, ev) = a.sync();
    assert_eq!(s.pushed, 1, "{ev:?}");
    let tip = git(&remote_dir(dir.path()), &["show", "main:.npmrc"]);
    assert!(tip.starts_with("age-encryption.org/v1"), "{tip}");
    assert_eq!(a.sync().0.pushed, 0);
}

#[test]
fn a_per_machine_file_keeps_each_machines_version_and_both_are_in_history() {
    const M: &str = ".config/monitors.xml";
    let dir = tempfile::tempdir().unwrap();
    let remote = bare(dir.path());
    let cfg = serde_json::json!({"name": "dots", "paths": ["~/.config", "~/.zshrc"],
        "per_machine": [".config/monitors.xml"]});
    let a = machine(dir.path(), "laptop", &remote, cfg.clone());
    let b = machine(dir.path(), "desk", &remote, cfg);
    a.write(M, "<laptop one screen/>\n");
    a.write(".zshrc", "shared\n");
    b.write(M, "<desk two screens/>\n");
    a.sync();
    let (s, ev) = b.sync();
    assert_eq!((s.pushed, s.pulled, s.conflicts), (1, 1, 0), "{ev:?}");
    a.sync();
    assert_eq!(a.read(M), "<laptop one screen/>\n");
    assert_eq!(b.read(M), "<desk two screens/>\n");
    assert_eq!(b.read(".zshrc"), "shared\n");
    let tree = git(
        &remote_dir(dir.path()),
        &["ls-tree", "-r", "--name-only", "main"],
    );
    assert!(
        tree.contains(".config/monitors.xml##machine.laptop"),
        "{tree}"
    );
    assert!(
        tree.contains(".config/monitors.xml##machine.desk"),
        "{tree}"
    );
    assert!(!tree.lines().any(|l| l == M), "{tree}");

    // Each machine edits its own: nothing travels into the other's home.
    a.write(M, "<laptop docked/>\n");
    a.sync();
    assert_eq!(b.sync().0.pulled, 0);
    assert_eq!(b.read(M), "<desk two screens/>\n");

    // History: this machine's by the home path, the other's by its variant, from anywhere.
    let own = a.engine.history(&a.cfg, M).unwrap();
    assert_eq!(own.len(), 2, "{own:?}");
    let other = a
        .engine
        .history(&a.cfg, ".config/monitors.xml##machine.desk")
        .unwrap();
    assert_eq!(other.len(), 1, "{other:?}");
    let desk = a
        .engine
        .content(
            &a.cfg,
            ".config/monitors.xml##machine.desk",
            Some(&other[0].commit),
        )
        .unwrap();
    assert_eq!(desk, b"<desk two screens/>\n");
    // Restorable: the desk's version into the laptop's file, then an edit of the laptop's own.
    a.engine
        .restore(
            &a.cfg,
            ".config/monitors.xml##machine.desk",
            &other[0].commit,
        )
        .unwrap();
    assert_eq!(a.read(M), "<desk two screens/>\n");
    a.sync();
    b.sync();
    assert_eq!(b.read(M), "<desk two screens/>\n");
    assert_eq!(
        git(
            &remote_dir(dir.path()),
            &["show", "main:.config/monitors.xml##machine.laptop"]
        ),
        "<desk two screens/>\n"
    );
}

#[test]
fn a_per_machine_file_can_be_encrypted_too() {
    let dir = tempfile::tempdir().unwrap();
    let remote = bare(dir.path());
    let cfg = serde_json::json!({"name": "dots", "paths": ["~/.gitconfig.local"],
        "per_machine": [".gitconfig.local"], "encrypt": [".gitconfig.local"]});
    let a = machine(dir.path(), "laptop", &remote, cfg.clone());
    let b = machine(dir.path(), "desk", &remote, cfg);
    a.engine.key_init().unwrap();
    share_key(&a, &b);
    a.write(
        ".gitconfig.local",
        "[user]\n  email = me@work-secret.example\n",
    );
    b.write(
        ".gitconfig.local",
        "[user]\n  email = me@home-secret.example\n",
    );
    a.sync();
    b.sync();
    a.sync();
    assert!(a.read(".gitconfig.local").contains("work-secret"));
    assert!(b.read(".gitconfig.local").contains("home-secret"));
    let objects = all_remote_objects(dir.path());
    assert!(!contains(&objects, "work-secret") && !contains(&objects, "home-secret"));
}

#[test]
fn a_machine_key_someone_added_to_the_remote_is_not_encrypted_to_until_it_is_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let remote = bare(dir.path());
    let a = machine(dir.path(), "laptop", &remote, secret_cfg());
    let b = machine(dir.path(), "desk", &remote, secret_cfg());
    a.engine.key_init().unwrap();
    // b makes its own key (or: whoever can push lists theirs): it lands in the recipients.
    let b_public = b.engine.key_init().unwrap();
    a.write(".zshrc", "plain\n");
    a.sync();
    b.sync();
    let (_, ev) = a.sync();
    let notice = ev.iter().any(|e| {
        matches!(e, dotsync_engine::SyncEvent::File { path, detail: Some(d), .. }
            if path == ".dotsync/recipients.txt" && d.contains(&b_public) && d.contains("key trust"))
    });
    assert!(notice, "a says it does not encrypt to b's key: {ev:?}");
    a.write(".npmrc", NPMRC);
    a.sync();
    b.sync();
    assert!(
        !b.home.join(".npmrc").exists(),
        "an untrusted key opens nothing encrypted after it was listed"
    );
    // Trusted on a: what a encrypts next opens on b.
    assert!(a.engine.key_trust(&b_public).unwrap());
    a.write(".npmrc", &format!("{NPMRC}save-exact=true\n"));
    a.sync();
    b.sync();
    assert_eq!(b.read(".npmrc"), format!("{NPMRC}save-exact=true\n"));
    assert!(!contains(&all_remote_objects(dir.path()), "SECRETTOKEN"));
    // Garbage is no key.
    assert!(a.engine.key_trust("age1nonsense").is_err());
}

#[test]
fn a_file_that_looks_like_a_secret_is_held_until_it_is_encrypted_or_let_through() {
    let dir = tempfile::tempdir().unwrap();
    let remote = bare(dir.path());
    let cfg = serde_json::json!({"name": "dots", "paths": ["~/.npmrc", "~/.zshrc", "~/.ssh"]});
    let a = machine(dir.path(), "laptop", &remote, cfg.clone());
    a.write(".zshrc", "export EDITOR=nvim\n");
    a.write(".npmrc", NPMRC);
    let (s, ev) = a.sync();
    assert_eq!(s.pushed, 1, "{ev:?}");
    let held = ev.iter().find_map(|e| match e {
        dotsync_engine::SyncEvent::File {
            path,
            detail: Some(d),
            ..
        } if path == ".npmrc" => Some(d.clone()),
        _ => None,
    });
    assert!(
        held.as_deref()
            .is_some_and(|d| d.contains("auth token") && d.contains("--encrypt .npmrc")),
        "{held:?}"
    );
    assert!(!contains(&all_remote_objects(dir.path()), "SECRETTOKEN"));
    assert!(
        a.engine
            .failures(&a.cfg)
            .unwrap()
            .iter()
            .any(|f| f.path == ".npmrc"),
        "listed in the status until settled"
    );
    // Let through on purpose: pushed as it is.
    let mut plain = a.cfg.clone();
    plain.plaintext = vec![".npmrc".into()];
    let s = a
        .engine
        .sync(&plain, &dotsync_engine::SyncOptions::default(), &mut |_| {})
        .unwrap();
    assert_eq!(s.pushed, 1);
    assert!(contains(&all_remote_objects(dir.path()), "SECRETTOKEN"));
}

#[test]
fn a_local_only_block_stays_on_its_machine_through_edits_and_merges_around_it() {
    let dir = tempfile::tempdir().unwrap();
    let remote = bare(dir.path());
    let cfg = serde_json::json!({"name": "dots", "paths": ["~/.gitconfig"]});
    let laptop = machine(dir.path(), "laptop", &remote, cfg.clone());
    let desk = machine(dir.path(), "desk", &remote, cfg);
    laptop.write(
        ".gitconfig",
        "[user]\n\tname = me\n# dotsync:local-begin\n\temail = me@work.example\n# dotsync:local-end\n[core]\n\teditor = vim\n[pull]\n\trebase = true\n",
    );
    laptop.sync();
    desk.sync();
    // The desk gets the markers, not the laptop's lines, and fills in its own.
    let on_desk = desk.read(".gitconfig");
    assert!(!on_desk.contains("work.example"), "{on_desk}");
    desk.write(
        ".gitconfig",
        &on_desk.replace(
            "# dotsync:local-begin\n",
            "# dotsync:local-begin\n\temail = me@home.example\n",
        ),
    );
    desk.sync();
    // Lines around the block edited on both machines: merged, each keeps its block.
    laptop.write(
        ".gitconfig",
        &laptop
            .read(".gitconfig")
            .replace("name = me", "name = Me Myself"),
    );
    desk.write(
        ".gitconfig",
        &desk
            .read(".gitconfig")
            .replace("rebase = true", "rebase = false"),
    );
    laptop.sync();
    let (s, _) = desk.sync();
    assert_eq!(s.conflicts, 0, "{s:?}");
    laptop.sync();
    let l = laptop.read(".gitconfig");
    let d = desk.read(".gitconfig");
    for text in [&l, &d] {
        assert!(
            text.contains("name = Me Myself") && text.contains("rebase = false"),
            "{text}"
        );
    }
    assert!(
        l.contains("me@work.example") && !l.contains("me@home.example"),
        "{l}"
    );
    assert!(
        d.contains("me@home.example") && !d.contains("me@work.example"),
        "{d}"
    );
    // Neither block ever reached the remote.
    let objects = all_remote_objects(dir.path());
    assert!(!contains(&objects, "work.example") && !contains(&objects, "home.example"));
}
