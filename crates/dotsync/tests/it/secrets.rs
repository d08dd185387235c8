//! Encrypted files between three real daemons (issue 16): two with the key merge an encrypted
//! file edited on both, a third without it syncs the rest and lists the encrypted file until
//! `dotsync key import`; the remote never holds the plaintext.

use std::path::Path;

use serde_json::json;

use crate::util::*;

fn all_objects(remote: &Path) -> Vec<u8> {
    let out = std::process::Command::new("git")
        .args(["cat-file", "--batch-all-objects", "--batch"])
        .current_dir(remote)
        .output()
        .unwrap();
    assert!(out.status.success());
    out.stdout
}

fn holds(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

const NPMRC: &str = "registry=https://registry.npmjs.org/\n//registry.npmjs.org/:_authToken=npm_E2ESECRET42\nfund=false\ncolor=true\n";

#[test]
fn two_machines_with_the_key_merge_a_secret_and_a_third_receives_it_after_import() {
    let w = World::new();
    let remote = w.bare_remote("dots");
    let r = remote.to_str().unwrap();
    let mut a = w.machine("laptop");
    let mut b = w.machine("desk");
    let mut c = w.machine("server");
    a.start_daemon();
    b.start_daemon();
    c.start_daemon();

    // The first machine: a key, and a config that encrypts .npmrc (set from the CLI).
    let public = a.ok(&["key", "init"]);
    assert!(public.trim().starts_with("age1"), "{public}");
    a.write(".npmrc", NPMRC);
    a.write(".zshrc", "export EDITOR=nvim\n");
    a.ok(&[
        "config",
        "add",
        "dots",
        "--remote",
        r,
        "--encrypt",
        ".npmrc",
        "--interval",
        "1",
        "~/.npmrc",
        "~/.zshrc",
    ]);
    let shown = a.ok_json(&["config", "show", "dots", "--json"]);
    assert_eq!(shown["encrypt"], json!([".npmrc"]), "{shown}");
    wait_until(30, "the files on the remote", || {
        std::process::Command::new("git")
            .args(["cat-file", "-e", "main:.npmrc"])
            .current_dir(&remote)
            .status()
            .is_ok_and(|s| s.success())
    });

    // The second machine imports the key; the third has none.
    let pass = w.path().join("pass");
    std::fs::write(&pass, "a long passphrase\n").unwrap();
    let exported = w.path().join("key.age");
    a.ok(&[
        "key",
        "export",
        "--passphrase-file",
        pass.to_str().unwrap(),
        "-o",
        exported.to_str().unwrap(),
    ]);
    b.ok(&[
        "key",
        "import",
        exported.to_str().unwrap(),
        "--passphrase-file",
        pass.to_str().unwrap(),
    ]);
    let wrong = w.path().join("wrong");
    std::fs::write(&wrong, "not it\n").unwrap();
    c.fails(&[
        "key",
        "import",
        exported.to_str().unwrap(),
        "--passphrase-file",
        wrong.to_str().unwrap(),
    ]);
    let cfg = json!({"name": "dots", "paths": ["~/.npmrc", "~/.zshrc"], "remote": r,
        "encrypt": [".npmrc"], "interval_s": 1});
    b.add_config(&cfg);
    c.add_config(&cfg);
    wait_until(30, "the secret on the machine with the key", || {
        read_opt(&b, ".npmrc").as_deref() == Some(NPMRC)
    });
    wait_until(30, "the plain file on the machine without the key", || {
        read_opt(&c, ".zshrc").as_deref() == Some("export EDITOR=nvim\n")
    });
    wait_until(30, "the encrypted file listed as needing a key", || {
        config_status(&c, "dots")["failed_files"]
            .as_array()
            .is_some_and(|f| {
                f.iter().any(|x| {
                    x["path"] == ".npmrc"
                        && x["reason"]
                            .as_str()
                            .is_some_and(|r| r.starts_with("needs a key"))
                })
            })
    });
    assert!(!c.exists(".npmrc"), "never garbage in the home");

    // Both machines with the key edit different lines at once: merged, encrypted again.
    a.write(".npmrc", NPMRC.replace("registry=https", "registry=http"));
    b.write(".npmrc", NPMRC.replace("color=true", "color=false"));
    let both = NPMRC
        .replace("registry=https", "registry=http")
        .replace("color=true", "color=false");
    wait_until(60, "both machines to hold both edits", || {
        read_opt(&a, ".npmrc").as_deref() == Some(both.as_str())
            && read_opt(&b, ".npmrc").as_deref() == Some(both.as_str())
    });

    // The third machine imports the key and receives the merged file.
    c.ok(&[
        "key",
        "import",
        exported.to_str().unwrap(),
        "--passphrase-file",
        pass.to_str().unwrap(),
    ]);
    c.ok(&["sync", "dots"]);
    wait_until(30, "the secret on the third machine", || {
        read_opt(&c, ".npmrc").as_deref() == Some(both.as_str())
    });
    assert_eq!(config_status(&c, "dots")["failed_files"], json!([]));

    // History shows plaintext here; the remote never had it.
    let log = a.ok(&["log", "~/.npmrc"]);
    assert!(log.lines().count() >= 2, "{log}");
    let objects = all_objects(&remote);
    for secret in ["npm_E2ESECRET42", "registry=http:", "color=false"] {
        assert!(!holds(&objects, secret), "{secret} reached the remote");
    }
    assert!(holds(&objects, "export EDITOR=nvim"));
}

#[test]
fn a_token_in_plaintext_is_held_and_a_local_only_block_stays_home_between_two_daemons() {
    let w = World::new();
    let remote = w.bare_remote("dots");
    let r = remote.to_str().unwrap();
    let mut a = w.machine("laptop");
    let mut b = w.machine("desk");
    a.start_daemon();
    b.start_daemon();
    let cfg = json!({"name": "dots", "paths": ["~/.gitconfig", "~/.npmrc"], "remote": r,
        "auto": true, "interval_s": 1});
    a.write(
        ".gitconfig",
        "[user]\n\tname = me\n# dotsync:local-begin\n\temail = me@work.example\n# dotsync:local-end\n",
    );
    a.write(".npmrc", NPMRC);
    a.add_config(&cfg);
    b.add_config(&cfg);
    wait_until(30, "the config to reach the desk", || {
        read_opt(&b, ".gitconfig").is_some_and(|t| t.contains("name = me"))
    });
    let on_b = read_opt(&b, ".gitconfig").unwrap_or_default();
    assert!(!on_b.contains("work.example"), "{on_b}");
    assert!(
        on_b.contains("# dotsync:local-begin\n# dotsync:local-end\n"),
        "{on_b}"
    );
    // The token is held on the laptop, said in its status, and nowhere on the remote.
    wait_until(20, "the held token in the laptop's status", || {
        config_status(&a, "dots")["failed_files"]
            .as_array()
            .is_some_and(|f| {
                f.iter().any(|x| {
                    x["path"] == ".npmrc"
                        && x["reason"]
                            .as_str()
                            .is_some_and(|r| r.contains("auth token") && r.contains("--encrypt"))
                })
            })
    });
    assert!(read_opt(&b, ".npmrc").is_none());
    let objects = all_objects(&remote);
    assert!(!holds(&objects, "E2ESECRET42") && !holds(&objects, "work.example"));
    let status = a.ok(&["status"]);
    eprintln!("{status}");
    assert!(
        status.contains(".npmrc") || status.contains("failing"),
        "{status}"
    );
}
