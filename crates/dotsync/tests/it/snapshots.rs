//! The CLI's human output as a person reads it, kept as reviewed snapshots (`insta`): a change of
//! wording or layout shows up as a diff of the snapshot. Times, ids, commits and temporary
//! paths are replaced by placeholders so that only the wording is compared.
//!
//! To accept a deliberate change: `INSTA_UPDATE=always cargo nextest run -p dotsync --test it
//! snapshots` (or `cargo insta review`), then commit the `.snap` files.

use crate::util::*;
use std::fmt::Write as _;

/// Replaces what differs from run to run.
fn settings(w: &World) -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.set_snapshot_path("snapshots");
    s.set_prepend_module_to_snapshot(false);
    let root = regex_escape(&w.path().display().to_string());
    s.add_filter(&root, "[TMP]");
    s.add_filter(r"\b[0-9a-f]{40}\b", "[COMMIT]");
    s.add_filter(r"\b[0-9a-f]{7,12}\b", "[SHORT]");
    s.add_filter(r"cfg_[0-9a-f]{16}", "[ID]");
    s.add_filter(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}(:\d{2})?", "[DATE]");
    s.add_filter(r"\b\d+(\.\d+)?\s?(ms|s|m|h|d) ago\b", "[AGO]");
    s.add_filter(r"\bjust now\b", "[AGO]");
    s.add_filter(r"\bin \d+(\.\d+)?\s?(ms|s)\b", "in [TIME]");
    s.add_filter(r"\(\d+(\.\d+)?\s?(ms|s)\)", "([TIME])");
    s
}

/// What the person sees: the command's output and its messages, and how it exited.
fn seen(m: &Machine, args: &[&str]) -> String {
    let out = m.run(args);
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    let err = String::from_utf8_lossy(&out.stderr);
    if !err.is_empty() {
        text.push_str("--- stderr ---\n");
        text.push_str(&err);
    }
    if !out.status.success() {
        let _ = writeln!(text, "--- exit: {:?} ---", out.status.code());
    }
    text
}

fn regex_escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            if "\\.+*?()|[]{}^$#&-~".contains(c) {
                vec!['\\', c]
            } else {
                vec![c]
            }
        })
        .collect()
}

#[test]
fn what_a_person_reads_from_setup_to_a_resolved_conflict() {
    let w = World::new();
    let remote = w.bare_remote("dots");
    let remote_s = remote.to_str().unwrap();
    let a = w.machine("laptop");
    let b = w.machine("desktop");
    a.write(".zshrc", "export EDITOR=vim\nalias ll='ls -l'\n");
    a.write(".gitconfig", "[user]\n\tname = me\n");
    let settings = settings(&w);
    settings.bind(|| {
        insta::assert_snapshot!(
            "config_add",
            seen(
                &a,
                &[
                    "config",
                    "add",
                    "dots",
                    "--remote",
                    remote_s,
                    "~/.zshrc",
                    "~/.gitconfig",
                ]
            )
        );
        insta::assert_snapshot!("first_sync", seen(&a, &["sync", "dots"]));
        insta::assert_snapshot!("config_list", seen(&a, &["config", "list"]));
        // The second machine has its own ~/.zshrc: a conflict, both versions kept.
        b.write(".zshrc", "export EDITOR=nano\n");
        b.ok(&[
            "config",
            "add",
            "dots",
            "--remote",
            remote_s,
            "~/.zshrc",
            "~/.gitconfig",
        ]);
        insta::assert_snapshot!("sync_with_a_conflict", seen(&b, &["sync", "dots"]));
        insta::assert_snapshot!("status_with_a_conflict", seen(&b, &["status"]));
        insta::assert_snapshot!("conflicts", seen(&b, &["conflicts"]));
        insta::assert_snapshot!("conflict_diff", seen(&b, &["conflicts", "~/.zshrc"]));
        insta::assert_snapshot!(
            "resolve",
            seen(&b, &["resolve", "~/.zshrc", "--keep", "remote"])
        );
        insta::assert_snapshot!("files", seen(&b, &["files", "dots"]));
        // An edit on the first machine, then its history.
        a.write(".zshrc", "export EDITOR=hx\nalias ll='ls -l'\n");
        insta::assert_snapshot!("sync_an_edit", seen(&a, &["sync", "dots"]));
        insta::assert_snapshot!("log", seen(&a, &["log", "~/.zshrc"]));
    });
}
