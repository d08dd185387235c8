//! A process killed at every step of a sync (the engine's crash points, compiled in for tests
//! only), then started again: the next syncs converge, no edit is lost, no temporary file stays.
//!
//! Crash points are process-wide, so this binary's tests take `fail::FailScenario`'s lock.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;

const POINTS: &[&str] = &[
    "sync::after-scan",
    "sync::after-commit",
    "sync::after-push",
    "sync::between-files",
    "apply::temp-written",
    "sync::before-record",
];

fn crash_once(point: &str) {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two(dir.path());
    for (i, f) in ["a.lua", "b.lua", "c.lua", "d.lua"].iter().enumerate() {
        a.write(&format!(".config/nvim/{f}"), &format!("{i}\n"));
    }
    a.write(".zshrc", "one\ntwo\nthree\n");
    a.sync();
    b.sync();
    // The desktop edits three files and pushes; the laptop edits others and a line of .zshrc.
    for f in ["a.lua", "b.lua", "c.lua"] {
        b.write(&format!(".config/nvim/{f}"), &format!("desktop {f}\n"));
    }
    b.write(".zshrc", "one\ntwo\nthree\nfour from the desktop\n");
    b.sync();
    a.write(".config/nvim/d.lua", "laptop d\n");
    a.write(".config/nvim/new.lua", "laptop new\n");
    a.write(".zshrc", "ONE\ntwo\nthree\n");

    let scenario = fail::FailScenario::setup();
    fail::cfg(point, "panic").unwrap();
    let died = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        a.sync_with(&dotsync_engine::SyncOptions::default())
    }));
    fail::remove(point);
    assert!(died.is_err(), "{point}: the crash point was never reached");
    scenario.teardown();

    let a = a.restart();
    for _ in 0..2 {
        let (s, ev) = a.sync();
        assert_eq!(s.conflicts, 0, "{point}: {ev:?}");
        b.sync();
    }
    let tip = |p: &str| git(&remote_dir(dir.path()), &["show", &format!("main:{p}")]);
    for (path, want) in [
        (".config/nvim/a.lua", "desktop a.lua\n"),
        (".config/nvim/d.lua", "laptop d\n"),
        (".config/nvim/new.lua", "laptop new\n"),
        (".zshrc", "ONE\ntwo\nthree\nfour from the desktop\n"),
    ] {
        assert_eq!(tip(path), want, "{point}: {path} on the remote");
        assert_eq!(a.read(path), want, "{point}: {path} on the laptop");
        assert_eq!(b.read(path), want, "{point}: {path} on the desktop");
    }
    for m in [&a, &b] {
        let leftovers: Vec<_> = m
            .files()
            .into_keys()
            .filter(|k| k.contains(".dotsync-tmp-"))
            .collect();
        assert!(leftovers.is_empty(), "{point}: {leftovers:?}");
    }
    assert_eq!(a.files(), b.files(), "{point}: the machines differ");
}

#[test]
fn a_sync_killed_at_any_step_converges_after_a_restart_and_loses_nothing() {
    for point in POINTS {
        crash_once(point);
    }
}

/// Runs one sync of `m` that dies at `point`.
fn die_at(m: &Machine, point: &str) {
    let scenario = fail::FailScenario::setup();
    fail::cfg(point, "panic").unwrap();
    let died = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        m.sync_with(&dotsync_engine::SyncOptions::default())
    }));
    fail::remove(point);
    scenario.teardown();
    assert!(died.is_err(), "{point}: the crash point was never reached");
}

const FIVE: &str = "one\ntwo\nthree\nfour\nfive\n";

/// The laptop and the desktop synced on [`FIVE`], then the desktop's edit of line five
/// (`FIVE`) pushed: the start of most tests of a killed pull.
fn desktop_edited_line_five(dir: &std::path::Path) -> (Machine, Machine) {
    let (a, b) = two(dir);
    a.write(".zshrc", FIVE);
    a.sync();
    b.sync();
    b.write(".zshrc", "one\ntwo\nthree\nfour\nFIVE\n");
    b.sync();
    (a, b)
}

/// The laptop's push lands but the sync dies before recording it; the desktop builds on the
/// pushed version while the laptop edits on. The laptop's pushed version is the base of the
/// merge: two edits on different lines merge, and the laptop does not conflict with its own
/// earlier version (with the older base both sides seem to change line three).
#[test]
fn a_push_that_landed_unrecorded_is_the_base_of_the_next_merge() {
    for second_kill in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = two(dir.path());
        a.write(".zshrc", FIVE);
        a.sync();
        b.sync();
        a.write(".zshrc", "one\ntwo\nTHREE\nfour\nfive\n");
        die_at(&a, "sync::after-push");
        let a = a.restart();
        a.write(".zshrc", "one\nTWO\nTHREE\nfour\nfive\n");
        if second_kill {
            // A second sync dies before its push leaves: its commit never lands, and the
            // version the first one pushed is still the newest of this machine's own there.
            die_at(&a, "sync::after-commit");
        }
        let a = a.restart();
        b.sync();
        assert_eq!(b.read(".zshrc"), "one\ntwo\nTHREE\nfour\nfive\n");
        b.write(".zshrc", "one\ntwo\nTHREE\nFOUR\nfive\n");
        b.sync();
        let (s, ev) = a.sync();
        assert_eq!(s.conflicts, 0, "second kill {second_kill}: {ev:?}");
        b.sync();
        let want = "one\nTWO\nTHREE\nFOUR\nfive\n";
        assert_eq!(a.read(".zshrc"), want, "second kill {second_kill}");
        assert_eq!(b.read(".zshrc"), want, "second kill {second_kill}");
    }
}

/// The laptop's push lands but the sync dies before recording it; the desktop then puts the
/// file back as it was. The laptop takes that: its own version is not pushed over it again.
#[test]
fn a_version_put_back_after_an_unrecorded_push_is_not_undone() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two(dir.path());
    a.write(".zshrc", FIVE);
    a.sync();
    b.sync();
    a.write(".zshrc", "one\ntwo\nthree\nfour\nfive\nsix\n");
    die_at(&a, "sync::after-push");
    let a = a.restart();
    b.sync();
    b.write(".zshrc", FIVE);
    b.sync();
    let (s, ev) = a.sync();
    assert_eq!(s.conflicts, 0, "{ev:?}");
    b.sync();
    assert_eq!(a.read(".zshrc"), FIVE);
    assert_eq!(b.read(".zshrc"), FIVE);
    let tip = git(&remote_dir(dir.path()), &["show", "main:.zshrc"]);
    assert_eq!(tip, FIVE);
}

/// However many syncs die before their push leaves after one push landed unrecorded, that
/// push stays this machine's newest on the remote: a put-back elsewhere is still taken.
#[test]
fn a_put_back_is_taken_after_many_syncs_that_died_before_their_push() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two(dir.path());
    a.write(".zshrc", FIVE);
    a.sync();
    b.sync();
    a.write(".zshrc", "one\ntwo\nthree\nfour\nfive\nsix\n");
    die_at(&a, "sync::after-push");
    let mut a = a.restart();
    for i in 0..12 {
        a.write(".config/nvim/init.lua", &format!("{i}\n"));
        die_at(&a, "sync::after-commit");
        a = a.restart();
    }
    b.sync();
    assert_eq!(b.read(".zshrc"), "one\ntwo\nthree\nfour\nfive\nsix\n");
    b.write(".zshrc", FIVE);
    b.sync();
    let (s, ev) = a.sync();
    assert_eq!(s.conflicts, 0, "{ev:?}");
    b.sync();
    let tip = git(&remote_dir(dir.path()), &["show", "main:.zshrc"]);
    assert_eq!(tip, FIVE, "the put-back was pushed over");
    assert_eq!(a.read(".zshrc"), FIVE);
    assert_eq!(a.read(".config/nvim/init.lua"), "11\n");
    assert_eq!(b.read(".config/nvim/init.lua"), "11\n");
}

/// A merge pushed by a sync that died before writing it into the home: the file still holds
/// what the merge started from, which is this machine's own. Another machine putting the file
/// back is taken, not merged with again.
#[test]
fn a_put_back_after_an_unrecorded_merge_is_taken() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = desktop_edited_line_five(dir.path());
    a.write(".zshrc", "ONE\ntwo\nthree\nfour\nfive\n");
    die_at(&a, "sync::after-push");
    let a = a.restart();
    b.sync();
    assert_eq!(b.read(".zshrc"), "ONE\ntwo\nthree\nfour\nFIVE\n");
    b.write(".zshrc", "one\ntwo\nthree\nfour\nFIVE\n");
    b.sync();
    let (s, ev) = a.sync();
    assert_eq!(s.conflicts, 0, "{ev:?}");
    b.sync();
    let want = "one\ntwo\nthree\nfour\nFIVE\n";
    let tip = git(&remote_dir(dir.path()), &["show", "main:.zshrc"]);
    assert_eq!(tip, want, "the put-back was merged with again");
    assert_eq!(a.read(".zshrc"), want);
    // What the merge started from is in the laptop's history: nothing it had is lost.
    let merged_from = blob_of("ONE\ntwo\nthree\nfour\nfive\n");
    assert!(
        history_blobs(&a, ".zshrc").contains(&Some(merged_from)),
        "{:?}",
        history_blobs(&a, ".zshrc")
    );
}

/// A merge reaches the remote and the laptop's home, but the sync dies before its record. The
/// desktop then takes back its own edit: the file is exactly the laptop's version the merge
/// started from. That version was never on the remote by itself: the laptop takes the
/// desktop's undo (found by a review: announced like a pushed version, it was the base).
#[test]
fn an_undo_elsewhere_equal_to_a_merge_input_is_taken() {
    let point = "sync::before-record";
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two(dir.path());
    a.write(".zshrc", FIVE);
    a.write(".vimrc", "v\n");
    a.sync();
    b.sync();
    b.write(".zshrc", "one\ntwo\nthree\nfour\nFIVE\n");
    b.write(".vimrc", "v from b\n");
    b.sync();
    // L1: the laptop's version; the merge with the desktop's is pushed and written home.
    let l1 = "ONE\ntwo\nthree\nfour\nfive\n";
    a.write(".zshrc", l1);
    die_at(&a, point);
    let a = a.restart();
    assert_eq!(a.read(".zshrc"), "ONE\ntwo\nthree\nfour\nFIVE\n", "{point}");
    b.sync();
    // The desktop takes back its own edit: the file is now exactly L1.
    b.write(".zshrc", l1);
    b.sync();
    let (s, ev) = a.sync();
    assert_eq!(s.conflicts, 0, "{point}: {ev:?}");
    b.sync();
    let tip = git(&remote_dir(dir.path()), &["show", "main:.zshrc"]);
    assert_eq!(
        tip, l1,
        "{point}: the desktop's undo was pushed over: {ev:?}"
    );
    assert_eq!(a.read(".zshrc"), l1, "{point}");
}

/// A push lands on remote X unrecorded; the config is pointed at another remote Y, whose first
/// sync dies before its push leaves; the config goes back to X. The push to X is still known
/// as this machine's own there: the desktop putting the file back on X is taken (found by a
/// review: read against Y's history, it was dropped).
#[test]
fn a_put_back_is_taken_after_a_remote_switch_and_back() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two(dir.path());
    a.write(".zshrc", FIVE);
    a.sync();
    b.sync();
    let six = "one\ntwo\nthree\nfour\nfive\nsix\n";
    a.write(".zshrc", six);
    die_at(&a, "sync::after-push");
    let mut a = a.restart();
    let x = a.cfg.remote.clone();
    let y = bare_named(dir.path(), "fresh.git");
    a.cfg.remote = y.to_str().unwrap().to_owned();
    die_at(&a, "sync::after-commit");
    let mut a = a.restart();
    a.cfg.remote = x;
    b.sync();
    assert_eq!(b.read(".zshrc"), six);
    b.write(".zshrc", FIVE);
    b.sync();
    let (s, ev) = a.sync();
    assert_eq!(s.conflicts, 0, "{ev:?}");
    b.sync();
    let tip = git(&remote_dir(dir.path()), &["show", "main:.zshrc"]);
    assert_eq!(tip, FIVE, "the put-back was pushed over: {ev:?}");
    assert_eq!(a.read(".zshrc"), FIVE);
}

/// The same without a second kill: remote Y refuses pushes (a hook, a read-only mirror), its
/// sync fails, the config goes back to X.
#[test]
fn a_put_back_is_taken_after_a_failed_sync_on_another_remote() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two(dir.path());
    a.write(".zshrc", FIVE);
    a.sync();
    b.sync();
    let six = "one\ntwo\nthree\nfour\nfive\nsix\n";
    a.write(".zshrc", six);
    die_at(&a, "sync::after-push");
    let mut a = a.restart();
    let x = a.cfg.remote.clone();
    let y = bare_named(dir.path(), "readonly.git");
    let hook = y.join("hooks/pre-receive");
    std::fs::write(&hook, "#!/bin/sh\nexit 1\n").unwrap();
    let mut p = std::fs::metadata(&hook).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut p, 0o755);
    std::fs::set_permissions(&hook, p).unwrap();
    a.cfg.remote = y.to_str().unwrap().to_owned();
    let (r, ev) = a.sync_with(&dotsync_engine::SyncOptions::default());
    assert!(r.is_err(), "the push to Y is refused: {ev:?}");
    a.cfg.remote = x;
    b.sync();
    b.write(".zshrc", FIVE);
    b.sync();
    let (s, ev) = a.sync();
    assert_eq!(s.conflicts, 0, "{ev:?}");
    let tip = git(&remote_dir(dir.path()), &["show", "main:.zshrc"]);
    assert_eq!(tip, FIVE, "the put-back was pushed over: {ev:?}");
}

/// The laptop's merge is pushed, but the person saves the file while the push is under way, so
/// the merge is not written (changed since the scan) and the sync records. The file's base is
/// then what the merge started from: the desktop taking the laptop's line back out is taken,
/// not merged with again (found by a review: the base stayed the one before the merge).
#[test]
fn a_put_back_after_a_merge_not_written_home_is_taken() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = desktop_edited_line_five(dir.path());
    a.write(".zshrc", "ONE\ntwo\nthree\nfour\nfive\n");
    let mut saved = false;
    let s = a
        .engine
        .sync(&a.cfg, &dotsync_engine::SyncOptions::default(), &mut |e| {
            if let dotsync_engine::SyncEvent::Progress { phase, .. } = e
                && *phase == dotsync_engine::Phase::Push
                && !saved
            {
                saved = true;
                // The person saves while the push is under way (line three; a new size, so
                // the change shows in any stat).
                std::fs::write(a.home.join(".zshrc"), "ONE\ntwo\nTHREE!\nfour\nfive\n").unwrap();
            }
        })
        .unwrap();
    assert!(saved && s.ok, "{s:?}");
    b.sync();
    assert_eq!(b.read(".zshrc"), "ONE\ntwo\nthree\nfour\nFIVE\n");
    // The desktop takes the laptop's ONE back out.
    b.write(".zshrc", "one\ntwo\nthree\nfour\nFIVE\n");
    b.sync();
    let (s, ev) = a.sync();
    assert_eq!(s.conflicts, 0, "{ev:?}");
    let tip = git(&remote_dir(dir.path()), &["show", "main:.zshrc"]);
    assert_eq!(
        tip, "one\ntwo\nTHREE!\nfour\nFIVE\n",
        "the put-back was merged with again: {ev:?}"
    );
}

/// A merge is pushed, then the sync is cancelled before writing it home (the daemon stops).
/// The next sync takes the merge; what the merge started from stays in this machine's
/// history (found by a review: after a cancel nothing kept it).
#[test]
fn a_merge_input_is_kept_after_a_cancel_before_the_write() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let dir = tempfile::tempdir().unwrap();
    let (a, _desktop) = desktop_edited_line_five(dir.path());
    let l1 = "ONE\ntwo\nthree\nfour\nfive\n";
    a.write(".zshrc", l1);
    let cancel = Arc::new(AtomicBool::new(false));
    let opts = dotsync_engine::SyncOptions {
        cancel: Some(cancel.clone()),
        ..Default::default()
    };
    let r = a.engine.sync(&a.cfg, &opts, &mut |e| {
        if let dotsync_engine::SyncEvent::Progress { phase, .. } = e
            && *phase == dotsync_engine::Phase::Push
        {
            cancel.store(true, Ordering::SeqCst);
        }
    });
    assert!(
        matches!(r, Err(dotsync_engine::SyncError::Cancelled)),
        "{r:?}"
    );
    let merged = "ONE\ntwo\nthree\nfour\nFIVE\n";
    let tip = git(&remote_dir(dir.path()), &["show", "main:.zshrc"]);
    assert_eq!(tip, merged, "the merge was pushed");
    assert_eq!(a.read(".zshrc"), l1, "and not written home");
    let (s, ev) = a.sync();
    assert_eq!(s.conflicts, 0, "{ev:?}");
    assert_eq!(a.read(".zshrc"), merged);
    let merged_from = blob_of(l1);
    assert!(
        history_blobs(&a, ".zshrc").contains(&Some(merged_from)),
        "what the merge started from is in no history: {:?}",
        history_blobs(&a, ".zshrc")
    );
}

/// The laptop deletes a file and its sync dies before the push leaves; the person puts the
/// file back as it was; the desktop deletes it. The deletion that never reached the remote
/// is not the laptop's own there: the desktop's deletion is taken, not undone (found by a
/// review).
#[test]
fn an_unlanded_deletion_does_not_resurrect_over_a_deletion_elsewhere() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two(dir.path());
    a.write(".zshrc", FIVE);
    a.write(".config/nvim/init.lua", "x\n");
    a.sync();
    b.sync();
    std::fs::remove_file(a.home.join(".zshrc")).unwrap();
    die_at(&a, "sync::after-commit");
    let a = a.restart();
    // Put back exactly as it was (the base).
    a.write(".zshrc", FIVE);
    std::fs::remove_file(b.home.join(".zshrc")).unwrap();
    b.sync();
    let (s, ev) = a.sync();
    assert_eq!(s.conflicts, 0, "{ev:?}");
    let tree = git(
        &remote_dir(dir.path()),
        &["ls-tree", "-r", "--name-only", "main"],
    );
    assert!(
        !tree.lines().any(|l| l == ".zshrc"),
        "the desktop's deletion was undone: {:?}",
        actions(&ev)
    );
}

/// The killed merge of an encrypted file and of a settings file merged by key: the put-back
/// elsewhere is taken, the merge input kept (in plaintext, in a kept ref only), and the
/// remote never holds the plaintext.
#[test]
fn killed_merges_of_secret_and_key_merged_files_take_a_put_back() {
    for (path, base, theirs, ours, merged) in [
        (
            ".ssh/config",
            FIVE,
            "one\ntwo\nthree\nfour\nFIVE\n",
            "ONE\ntwo\nthree\nfour\nfive\n",
            "ONE\ntwo\nthree\nfour\nFIVE\n",
        ),
        (
            ".config/nvim/settings.json",
            "{\n  \"a\": 1,\n  \"b\": 2\n}\n",
            "{\n  \"a\": 1,\n  \"b\": 3\n}\n",
            "{\n  \"a\": 5,\n  \"b\": 2\n}\n",
            "{\n  \"a\": 5,\n  \"b\": 3\n}\n",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let remote = bare(dir.path());
        let cfg = serde_json::json!({"name": "dots", "paths": ["~/.zshrc", "~/.config/nvim", "~/.ssh"],
            "encrypt": [".ssh/**"], "structured_merge": true});
        let a = machine(dir.path(), "laptop", &remote, cfg.clone());
        let b = machine(dir.path(), "desktop", &remote, cfg);
        a.engine.key_init().unwrap();
        let exported = a.engine.key_export("pass phrase").unwrap();
        b.engine.key_import(&exported, "pass phrase").unwrap();
        a.write(path, base);
        a.sync();
        b.sync();
        b.write(path, theirs);
        b.sync();
        a.write(path, ours);
        die_at(&a, "sync::after-push");
        let a = a.restart();
        b.sync();
        assert_eq!(b.read(path), merged, "{path}");
        b.write(path, theirs);
        b.sync();
        let (s, ev) = a.sync();
        assert_eq!(s.conflicts, 0, "{path}: {ev:?}");
        b.sync();
        assert_eq!(a.read(path), theirs, "{path}: {ev:?}");
        assert_eq!(b.read(path), theirs, "{path}");
        assert!(
            history_blobs(&a, path).contains(&Some(blob_of(ours))),
            "{path}: {:?}",
            history_blobs(&a, path)
        );
        if path.starts_with(".ssh") {
            let all = git(&remote_dir(dir.path()), &["rev-list", "--objects", "--all"]);
            assert!(!all.contains(&blob_of(ours)), "plaintext on the remote");
        }
    }
}

/// The laptop's push lands unrecorded (killed); its next sync pulls the desktop's edit on top
/// and is killed before its record too; the desktop takes its edit back out. The laptop's
/// home holds exactly what it pulled, which is newer than its push: the undo is taken, not
/// pushed over (found by a review: the push's rule came first).
#[test]
fn a_pull_killed_after_an_unrecorded_push_is_not_pushed_back() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two(dir.path());
    a.write(".zshrc", FIVE);
    a.sync();
    b.sync();
    let six = "one\ntwo\nthree\nfour\nfive\nsix\n";
    a.write(".zshrc", six);
    die_at(&a, "sync::after-push");
    let a = a.restart();
    b.sync();
    let seven = "one\ntwo\nthree\nfour\nfive\nsix\nseven\n";
    b.write(".zshrc", seven);
    b.sync();
    die_at(&a, "sync::before-record");
    let a = a.restart();
    assert_eq!(a.read(".zshrc"), seven, "the pull was written");
    // The desktop takes its line back out: the file is the laptop's pushed version again.
    b.write(".zshrc", six);
    b.sync();
    let (s, ev) = a.sync();
    assert_eq!(s.conflicts, 0, "{ev:?}");
    let tip = git(&remote_dir(dir.path()), &["show", "main:.zshrc"]);
    assert_eq!(
        tip,
        six,
        "the desktop's undo was pushed over: {:?}",
        actions(&ev)
    );
    assert_eq!(a.read(".zshrc"), six);
}

/// The same with a deletion: the laptop's deletion lands unrecorded, its next sync pulls the
/// file the desktop put back and is killed before its record, the desktop deletes the file
/// again. The pulled file is not new here: the deletion is taken.
#[test]
fn a_pull_killed_after_an_unrecorded_deletion_is_not_pushed_back() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two(dir.path());
    a.write(".zshrc", FIVE);
    a.write(".config/nvim/init.lua", "x\n");
    a.sync();
    b.sync();
    std::fs::remove_file(a.home.join(".zshrc")).unwrap();
    die_at(&a, "sync::after-push");
    let a = a.restart();
    b.sync();
    b.write(".zshrc", "back\n");
    b.sync();
    die_at(&a, "sync::before-record");
    let a = a.restart();
    assert_eq!(a.read(".zshrc"), "back\n", "the pull was written");
    std::fs::remove_file(b.home.join(".zshrc")).unwrap();
    b.sync();
    let (s, ev) = a.sync();
    assert_eq!(s.conflicts, 0, "{ev:?}");
    let tree = git(
        &remote_dir(dir.path()),
        &["ls-tree", "-r", "--name-only", "main"],
    );
    assert!(
        !tree.lines().any(|l| l == ".zshrc"),
        "the desktop's deletion was undone: {:?}",
        actions(&ev)
    );
}

/// A merge is pushed and the sync cancelled before writing it home, and keeping what the
/// merge started from fails (a file in the way of the kept ref). Nothing is recorded then:
/// the next sync still knows the merge's input as its own, keeps it, and takes the merge
/// (found by a review: the cancel recorded first, and the input was in no history).
#[test]
fn a_merge_input_survives_a_keep_that_fails_after_a_cancel() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let dir = tempfile::tempdir().unwrap();
    let (a, _desktop) = desktop_edited_line_five(dir.path());
    let l1 = "ONE\ntwo\nthree\nfour\nfive\n";
    a.write(".zshrc", l1);
    let cancel = Arc::new(AtomicBool::new(false));
    let opts = dotsync_engine::SyncOptions {
        cancel: Some(cancel.clone()),
        ..Default::default()
    };
    let repos = a.home.join(".dotsync/state/repos");
    let blocked: Vec<std::path::PathBuf> = std::fs::read_dir(&repos)
        .unwrap()
        .flatten()
        .map(|e| e.path().join("refs/dotsync/kept/cfg_00000000000000aa"))
        .collect();
    let r = a.engine.sync(&a.cfg, &opts, &mut |e| {
        if let dotsync_engine::SyncEvent::Progress { phase, .. } = e
            && *phase == dotsync_engine::Phase::Push
        {
            cancel.store(true, Ordering::SeqCst);
            for p in &blocked {
                assert!(!p.exists(), "no kept refs yet: {p:?}");
                std::fs::create_dir_all(p.parent().unwrap()).unwrap();
                std::fs::write(p, "in the way\n").unwrap();
            }
        }
    });
    assert!(r.is_err(), "{r:?}");
    for p in &blocked {
        std::fs::remove_file(p).unwrap();
    }
    let merged = "ONE\ntwo\nthree\nfour\nFIVE\n";
    assert_eq!(a.read(".zshrc"), l1, "not written home");
    let (s, ev) = a.sync();
    assert_eq!(s.conflicts, 0, "{ev:?}");
    assert_eq!(a.read(".zshrc"), merged);
    assert!(
        history_blobs(&a, ".zshrc").contains(&Some(blob_of(l1))),
        "what the merge started from is in no history: {:?}",
        history_blobs(&a, ".zshrc")
    );
}

/// A cancel after a pulled file was written home and before a merge was, with the keep of the
/// merge's input failing: nothing is recorded although the home was written. The next sync
/// takes that as this machine's state (the `pulled` row), neither pushes the old version back
/// nor conflicts; the merge input is kept; both machines converge.
#[test]
fn a_cancel_after_a_write_with_a_failed_keep_converges() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two(dir.path());
    a.write(".config/nvim/a.lua", "a\n");
    a.write(".zshrc", FIVE);
    a.sync();
    b.sync();
    b.write(".config/nvim/a.lua", "desktop a\n");
    b.write(".zshrc", "one\ntwo\nthree\nfour\nFIVE\n");
    b.sync();
    let l1 = "ONE\ntwo\nthree\nfour\nfive\n";
    a.write(".zshrc", l1);
    let cancel = Arc::new(AtomicBool::new(false));
    let opts = dotsync_engine::SyncOptions {
        cancel: Some(cancel.clone()),
        ..Default::default()
    };
    let repos = a.home.join(".dotsync/state/repos");
    let blocked: Vec<std::path::PathBuf> = std::fs::read_dir(&repos)
        .unwrap()
        .flatten()
        .map(|e| e.path().join("refs/dotsync/kept/cfg_00000000000000aa"))
        .collect();
    let r = a.engine.sync(&a.cfg, &opts, &mut |e| {
        if let dotsync_engine::SyncEvent::File { path, action, .. } = e
            && path == ".config/nvim/a.lua"
            && *action == dotsync_engine::FileAction::Pulled
        {
            cancel.store(true, Ordering::SeqCst);
            for p in &blocked {
                std::fs::create_dir_all(p.parent().unwrap()).unwrap();
                std::fs::write(p, "in the way\n").unwrap();
            }
        }
    });
    assert!(r.is_err(), "{r:?}");
    assert!(
        !matches!(r, Err(dotsync_engine::SyncError::Cancelled)),
        "the keep failed: {r:?}"
    );
    for p in &blocked {
        std::fs::remove_file(p).unwrap();
    }
    assert_eq!(a.read(".config/nvim/a.lua"), "desktop a\n", "written home");
    assert_eq!(a.read(".zshrc"), l1, "not written home");
    let merged = "ONE\ntwo\nthree\nfour\nFIVE\n";
    let a = a.restart();
    let (s, ev) = a.sync();
    assert_eq!(s.conflicts, 0, "{ev:?}");
    assert!(
        !actions(&ev).iter().any(|(p, _)| p == ".config/nvim/a.lua"),
        "the unrecorded write is this machine's state: {:?}",
        actions(&ev)
    );
    assert_eq!(a.read(".zshrc"), merged);
    assert!(
        history_blobs(&a, ".zshrc").contains(&Some(blob_of(l1))),
        "what the merge started from is in no history: {:?}",
        history_blobs(&a, ".zshrc")
    );
    b.sync();
    assert_eq!(a.files(), b.files());
    let leftovers: Vec<_> = a
        .files()
        .into_keys()
        .filter(|k| k.contains(".dotsync-tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// A push announced by a database from before pushes carried their commit (attempt 0, no
/// commit, no remote) still counts where the remote holds exactly its version, after a later
/// sync dies before its push leaves: the person's next edit is pushed, not taken for a
/// conflict with the machine's own earlier version (found by a review: the new push dropped
/// such rows as not in the remote's history).
#[test]
fn a_push_announced_before_commits_were_recorded_outlives_a_later_push() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two(dir.path());
    a.write(".zshrc", FIVE);
    a.sync();
    b.sync();
    a.write(".zshrc", "one\ntwo\nTHREE\nfour\nfive\n");
    die_at(&a, "sync::after-push");
    let a = a.restart();
    // As a database from before migration 5 would hold it.
    let db = rusqlite::Connection::open(a.home.join(".dotsync/state/dotsync.db")).unwrap();
    let moved = db
        .execute(
            "UPDATE pushed SET attempt = 0, commit_id = '', url = ''",
            [],
        )
        .unwrap();
    assert_eq!(moved, 1);
    drop(db);
    a.write(".config/nvim/init.lua", "new\n");
    die_at(&a, "sync::after-commit");
    let a = a.restart();
    // Next to the pushed line three: against the version before it, both sides changed it.
    a.write(".zshrc", "one\nTWO\nTHREE\nfour\nfive\n");
    let (s, ev) = a.sync();
    assert_eq!(s.conflicts, 0, "{ev:?}");
    b.sync();
    assert_eq!(b.read(".zshrc"), "one\nTWO\nTHREE\nfour\nfive\n");
    assert_eq!(b.read(".config/nvim/init.lua"), "new\n");
}

/// A pull machine (a server) merges the desktop's edit into its own held one and is killed
/// before its record. What it wrote is the desktop's version plus its held line, so the
/// desktop's version is the next sync's base: the desktop's next edit, on the line next to
/// its first, merges without a conflict, and the desktop taking its first edit back is taken
/// here too (with the older base the server held that line as its own for good).
#[test]
fn a_pull_only_merge_killed_before_its_record_keeps_the_remote_version_as_base() {
    for (desktop_next, want) in [
        (
            "one\ntwo\nthree\nFOUR\nFIVE\n",
            "ONE\ntwo\nthree\nFOUR\nFIVE\n",
        ),
        (FIVE, "ONE\ntwo\nthree\nfour\nfive\n"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let remote = bare(dir.path());
        let cfg = serde_json::json!({"name": "dots", "paths": ["~/.zshrc"]});
        let mut pull = cfg.clone();
        pull["direction"] = serde_json::json!("pull");
        let server = machine(dir.path(), "server", &remote, pull);
        let desktop = machine(dir.path(), "desktop", &remote, cfg);
        desktop.write(".zshrc", FIVE);
        desktop.sync();
        server.sync();
        server.write(".zshrc", "ONE\ntwo\nthree\nfour\nfive\n");
        desktop.write(".zshrc", "one\ntwo\nthree\nfour\nFIVE\n");
        desktop.sync();
        die_at(&server, "sync::before-record");
        let server = server.restart();
        assert_eq!(server.read(".zshrc"), "ONE\ntwo\nthree\nfour\nFIVE\n");
        desktop.write(".zshrc", desktop_next);
        desktop.sync();
        let (s, ev) = server.sync();
        assert_eq!(s.conflicts, 0, "{desktop_next:?}: {:?}", actions(&ev));
        assert_eq!(server.read(".zshrc"), want, "{:?}", actions(&ev));
    }
}

/// The laptop merges its edit with the desktop's and pushes the merge, then is killed before
/// its record; the remote is moved back to the desktop's commit (past the merge, not past
/// what the laptop last recorded), and the desktop takes its edit back. The merge's remote
/// side is what the laptop's next sync measures against: its own line goes out again and
/// the desktop's take-back stays (with the older recorded base the laptop pushed the
/// desktop's line back as its own).
#[test]
fn a_merge_the_remote_lost_is_measured_against_what_it_merged_with() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = desktop_edited_line_five(dir.path());
    let desktops = git(&remote_dir(dir.path()), &["rev-parse", "main"]);
    a.write(".zshrc", "ONE\ntwo\nthree\nfour\nfive\n");
    die_at(&a, "sync::before-record");
    let a = a.restart();
    assert_eq!(a.read(".zshrc"), "ONE\ntwo\nthree\nfour\nFIVE\n", "merged");
    move_main_back(dir.path(), &desktops);
    b.write(".zshrc", FIVE);
    b.sync();
    let (s, ev) = a.sync();
    assert_eq!(s.conflicts, 0, "{:?}", actions(&ev));
    let want = "ONE\ntwo\nthree\nfour\nfive\n";
    assert_eq!(a.read(".zshrc"), want, "{:?}", actions(&ev));
    let tip = git(&remote_dir(dir.path()), &["show", "main:.zshrc"]);
    assert_eq!(tip, want, "{:?}", actions(&ev));
}

/// As above, when the same push carried a kept version first (`on_conflict = remote` on
/// another file): the merge's commit sits on that one, not on the remote's tip it was made
/// on, and the desktop's take-back must still be taken.
#[test]
fn a_merge_the_remote_lost_after_a_keep_commit_is_measured_against_what_it_merged_with() {
    let dir = tempfile::tempdir().unwrap();
    let remote = bare(dir.path());
    let cfg = serde_json::json!({"name": "dots", "paths": ["~/.zshrc", "~/.ssh"]});
    let mut laptop = cfg.clone();
    laptop["on_conflict"] = serde_json::json!("remote");
    let a = machine(dir.path(), "laptop", &remote, laptop);
    let b = machine(dir.path(), "desktop", &remote, cfg);
    a.write(".zshrc", FIVE);
    a.write(".ssh/config", "x\n");
    a.sync();
    b.sync();
    b.write(".zshrc", "one\ntwo\nthree\nfour\nFIVE\n");
    b.write(".ssh/config", "desktop\n");
    b.sync();
    let desktops = git(&remote_dir(dir.path()), &["rev-parse", "main"]);
    a.write(".zshrc", "ONE\ntwo\nthree\nfour\nfive\n");
    a.write(".ssh/config", "laptop\n");
    die_at(&a, "sync::before-record");
    let a = a.restart();
    assert_eq!(a.read(".zshrc"), "ONE\ntwo\nthree\nfour\nFIVE\n", "merged");
    move_main_back(dir.path(), &desktops);
    b.write(".zshrc", FIVE);
    b.sync();
    let (_, ev) = a.sync();
    let tip = git(&remote_dir(dir.path()), &["show", "main:.zshrc"]);
    assert_eq!(tip, "ONE\ntwo\nthree\nfour\nfive\n", "{:?}", actions(&ev));
}

/// A merge the remote lost is merged again and pushed, and that sync is killed before the new
/// merge is written; the remote loses that one too and the desktop takes an edit back. The
/// home still holds the first merge: the base it was planned with goes on with the new row.
#[test]
fn a_merge_redone_after_a_lost_one_and_not_written_keeps_the_base_of_the_first() {
    let nine = "1\n2\n3\n4\n5\n6\n7\n8\n9\n";
    let dir = tempfile::tempdir().unwrap();
    let (a, b, _) = merge_lost_then_desktop_edits(dir.path(), nine);
    let second = git(&remote_dir(dir.path()), &["rev-parse", "main"]);
    die_at(&a, "apply::temp-written");
    let a = a.restart();
    assert_eq!(
        a.read(".zshrc"),
        "ONE\n2\n3\n4\n5\n6\n7\n8\nNINE\n",
        "the second merge is not written"
    );
    move_main_back(dir.path(), &second);
    b.write(".zshrc", "1\n2\n3\n4\nFIVE\n6\n7\n8\n9\n");
    b.sync();
    let (_, ev) = a.sync();
    let tip = git(&remote_dir(dir.path()), &["show", "main:.zshrc"]);
    assert_eq!(
        tip,
        "ONE\n2\n3\n4\nFIVE\n6\n7\n8\n9\n",
        "{:?}",
        actions(&ev)
    );
}

/// As above, but the remote is then moved back past the tip the redone merge was made on, to
/// the first merge's: the redone merge says nothing any more, and what the home held before it
/// (the first merge, with its base) still does.
#[test]
fn a_redone_merge_lost_past_its_own_tip_keeps_the_base_of_the_first() {
    let nine = "1\n2\n3\n4\n5\n6\n7\n8\n9\n";
    let dir = tempfile::tempdir().unwrap();
    let (a, b, first) = merge_lost_then_desktop_edits(dir.path(), nine);
    die_at(&a, "apply::temp-written");
    let a = a.restart();
    assert_eq!(
        a.read(".zshrc"),
        "ONE\n2\n3\n4\n5\n6\n7\n8\nNINE\n",
        "the second merge is not written"
    );
    move_main_back(dir.path(), &first);
    let (r, _) = b.sync_with(&dotsync_engine::SyncOptions {
        rewind: Some(dotsync_engine::RewindChoice::TakeRemote),
        ..Default::default()
    });
    r.unwrap();
    assert_eq!(b.read(".zshrc"), "1\n2\n3\n4\n5\n6\n7\n8\nNINE\n");
    b.write(".zshrc", nine);
    b.sync();
    let (_, ev) = a.sync();
    let tip = git(&remote_dir(dir.path()), &["show", "main:.zshrc"]);
    assert_eq!(tip, "ONE\n2\n3\n4\n5\n6\n7\n8\n9\n", "{:?}", actions(&ev));
}

/// Moves the remote's `main` back to `commit` (a force-push or reset elsewhere).
fn move_main_back(dir: &std::path::Path, commit: &str) {
    git(
        &remote_dir(dir),
        &["update-ref", "refs/heads/main", commit.trim()],
    );
}

/// The start of the redone-merge tests: the desktop changes line nine of `nine`; the laptop
/// changes line one, merges, pushes and writes the merge, and is killed before its record;
/// the remote is moved back to the desktop's commit (returned), and the desktop changes line
/// five on top of it.
fn merge_lost_then_desktop_edits(dir: &std::path::Path, nine: &str) -> (Machine, Machine, String) {
    let (a, b) = two(dir);
    a.write(".zshrc", nine);
    a.sync();
    b.sync();
    b.write(".zshrc", "1\n2\n3\n4\n5\n6\n7\n8\nNINE\n");
    b.sync();
    let first = git(&remote_dir(dir), &["rev-parse", "main"]);
    a.write(".zshrc", "ONE\n2\n3\n4\n5\n6\n7\n8\n9\n");
    die_at(&a, "sync::before-record");
    let a = a.restart();
    move_main_back(dir, &first);
    b.write(".zshrc", "1\n2\n3\n4\nFIVE\n6\n7\n8\nNINE\n");
    b.sync();
    (a, b, first)
}

/// The laptop pulls the desktop's edit of line five and is killed before its record; the
/// person then edits line one. The pull was written, so the desktop's version is the base:
/// the desktop taking its edit back is taken, and the laptop's own line goes out (with the
/// older base the laptop pushed the desktop's line back over the take-back as its own).
#[test]
fn an_edit_after_a_pull_killed_before_its_record_does_not_undo_a_take_back() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = desktop_edited_line_five(dir.path());
    die_at(&a, "sync::before-record");
    let a = a.restart();
    assert_eq!(
        a.read(".zshrc"),
        "one\ntwo\nthree\nfour\nFIVE\n",
        "the pull was written"
    );
    a.write(".zshrc", "ONE\ntwo\nthree\nfour\nFIVE\n");
    b.write(".zshrc", FIVE);
    b.sync();
    let (s, ev) = a.sync();
    let tip = git(&remote_dir(dir.path()), &["show", "main:.zshrc"]);
    assert_eq!(tip, "ONE\ntwo\nthree\nfour\nfive\n", "{:?}", actions(&ev));
    assert_eq!(s.conflicts, 0);
    b.sync();
    assert_eq!(b.read(".zshrc"), tip);
}

/// The same on a pull machine (a server): with the older base, the desktop's line pulled
/// before the kill was held there as the server's own edit for good.
#[test]
fn a_pull_machine_edit_after_a_killed_pull_takes_a_take_back() {
    let dir = tempfile::tempdir().unwrap();
    let remote = bare(dir.path());
    let cfg = serde_json::json!({"name": "dots", "paths": ["~/.zshrc"]});
    let mut pull = cfg.clone();
    pull["direction"] = serde_json::json!("pull");
    let server = machine(dir.path(), "server", &remote, pull);
    let desktop = machine(dir.path(), "desktop", &remote, cfg);
    desktop.write(".zshrc", FIVE);
    desktop.sync();
    server.sync();
    desktop.write(".zshrc", "one\ntwo\nthree\nfour\nFIVE\n");
    desktop.sync();
    die_at(&server, "sync::before-record");
    let server = server.restart();
    assert_eq!(server.read(".zshrc"), "one\ntwo\nthree\nfour\nFIVE\n");
    server.write(".zshrc", "ONE\ntwo\nthree\nfour\nFIVE\n");
    desktop.write(".zshrc", FIVE);
    desktop.sync();
    let (s, ev) = server.sync();
    assert_eq!(s.conflicts, 0, "{:?}", actions(&ev));
    server.sync();
    assert_eq!(
        server.read(".zshrc"),
        "ONE\ntwo\nthree\nfour\nfive\n",
        "{:?}",
        actions(&ev)
    );
}

/// The laptop merges its line one with the desktop's line five, pushes and writes the merge,
/// and is killed before its record; the person edits line three, and the desktop takes its
/// line five back. The merge was written, so it is the base: the take-back stays.
#[test]
fn an_edit_after_a_merge_killed_before_its_record_does_not_undo_a_take_back() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = desktop_edited_line_five(dir.path());
    a.write(".zshrc", "ONE\ntwo\nthree\nfour\nfive\n");
    die_at(&a, "sync::before-record");
    let a = a.restart();
    assert_eq!(a.read(".zshrc"), "ONE\ntwo\nthree\nfour\nFIVE\n", "merged");
    a.write(".zshrc", "ONE\ntwo\nTHREE\nfour\nFIVE\n");
    b.sync();
    b.write(".zshrc", "ONE\ntwo\nthree\nfour\nfive\n");
    b.sync();
    let (s, ev) = a.sync();
    let tip = git(&remote_dir(dir.path()), &["show", "main:.zshrc"]);
    assert_eq!(tip, "ONE\ntwo\nTHREE\nfour\nfive\n", "{:?}", actions(&ev));
    assert_eq!(s.conflicts, 0);
}

/// The laptop is killed after writing the pull's temporary file, before putting it in place:
/// the pull never reached `.zshrc`. The person's edit of line one is on the older version, so
/// the desktop's line five (still on the remote) is merged in, not reverted.
#[test]
fn an_edit_after_a_pull_killed_before_its_write_keeps_the_other_machines_line() {
    let dir = tempfile::tempdir().unwrap();
    let (a, _desktop) = desktop_edited_line_five(dir.path());
    die_at(&a, "apply::temp-written");
    let a = a.restart();
    assert_eq!(a.read(".zshrc"), FIVE, "the pull was not written");
    a.write(".zshrc", "ONE\ntwo\nthree\nfour\nfive\n");
    let (s, ev) = a.sync();
    let tip = git(&remote_dir(dir.path()), &["show", "main:.zshrc"]);
    assert_eq!(tip, "ONE\ntwo\nthree\nfour\nFIVE\n", "{:?}", actions(&ev));
    assert_eq!(s.conflicts, 0);
    assert_eq!(a.read(".zshrc"), tip);
}

/// The person's edit after a killed pull sits right next to the pulled line, so the content
/// cannot tell whether the pull was written; the desktop takes its line back. Whether the
/// laptop's file is pushed or merged depends on that, so it is a conflict: both versions are
/// kept and nothing is pushed over the take-back.
#[test]
fn an_edit_next_to_a_pull_killed_before_its_record_is_a_conflict_when_it_matters() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = desktop_edited_line_five(dir.path());
    die_at(&a, "sync::before-record");
    let a = a.restart();
    a.write(".zshrc", "one\ntwo\nthree\nFOUR\nFIVE\n");
    b.write(".zshrc", FIVE);
    b.sync();
    let (s, ev) = a.sync();
    assert_eq!(s.conflicts, 1, "{:?}", actions(&ev));
    let tip = git(&remote_dir(dir.path()), &["show", "main:.zshrc"]);
    assert_eq!(tip, FIVE, "the take-back stays on the remote");
    assert_eq!(
        a.read(".zshrc"),
        "one\ntwo\nthree\nFOUR\nFIVE\n",
        "and the edit here"
    );
}

/// A pull of a new file killed before its write leaves the home as it was: the file is still
/// absent, and the next sync pulls it. With `on_conflict = local` a wrong "cannot tell" made it
/// a conflict settled by deleting the other machine's file on the remote.
#[test]
fn a_new_file_whose_pull_died_before_its_write_is_pulled_not_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let remote = bare(dir.path());
    let cfg = serde_json::json!({"name": "dots", "paths": ["~/.zshrc"]});
    let mut local = cfg.clone();
    local["on_conflict"] = serde_json::json!("local");
    let laptop = machine(dir.path(), "laptop", &remote, local);
    let desktop = machine(dir.path(), "desktop", &remote, cfg);
    desktop.write(".zshrc", FIVE);
    desktop.sync();
    die_at(&laptop, "apply::temp-written");
    let laptop = laptop.restart();
    assert!(
        !laptop.home.join(".zshrc").exists(),
        "the pull was not written"
    );
    let (s, ev) = laptop.sync();
    assert_eq!(s.conflicts, 0, "{:?}", actions(&ev));
    assert_eq!(laptop.read(".zshrc"), FIVE, "{:?}", actions(&ev));
    let tip = git(&remote_dir(dir.path()), &["show", "main:.zshrc"]);
    assert_eq!(tip, FIVE, "the desktop's file stays on the remote");
}

fn mode_of(m: &Machine, rel: &str) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(m.home.join(rel))
        .unwrap()
        .permissions()
        .mode()
        & 0o777
}

/// The desktop makes a script executable; the laptop's pull of that is killed before its
/// write, and the person then edits the script. The mode still the old one says the write
/// never happened (the content cannot: it did not change): the desktop's mode is merged in,
/// not taken back.
#[test]
fn an_edit_after_a_mode_pull_killed_before_its_write_keeps_the_other_machines_mode() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two(dir.path());
    a.write(".config/nvim/tool.sh", FIVE);
    std::fs::set_permissions(
        a.home.join(".config/nvim/tool.sh"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    a.sync();
    b.sync();
    std::fs::set_permissions(
        b.home.join(".config/nvim/tool.sh"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    b.sync();
    die_at(&a, "apply::temp-written");
    let a = a.restart();
    assert_eq!(mode_of(&a, ".config/nvim/tool.sh"), 0o644, "not written");
    a.write(".config/nvim/tool.sh", "ONE\ntwo\nthree\nfour\nfive\n");
    let (s, ev) = a.sync();
    assert_eq!(s.conflicts, 0, "{:?}", actions(&ev));
    b.sync();
    for m in [&a, &b] {
        assert_eq!(
            mode_of(m, ".config/nvim/tool.sh"),
            0o755,
            "{:?}",
            actions(&ev)
        );
        assert_eq!(
            m.read(".config/nvim/tool.sh"),
            "ONE\ntwo\nthree\nfour\nfive\n"
        );
    }
}

/// The desktop adds a file; the laptop's pull of it is killed before its write, and the
/// person makes a file of their own at that path. Whose it is cannot be told: a conflict,
/// both kept, not the laptop's pushed over the desktop's.
#[test]
fn a_file_made_here_after_a_new_file_pull_killed_before_its_write_is_a_conflict() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two(dir.path());
    a.write(".zshrc", FIVE);
    a.sync();
    b.sync();
    b.write(".config/nvim/init.lua", "desktop\n");
    b.sync();
    die_at(&a, "apply::temp-written");
    let a = a.restart();
    a.write(".config/nvim/init.lua", "laptop\n");
    let (s, ev) = a.sync();
    assert_eq!(s.conflicts, 1, "{:?}", actions(&ev));
    let tip = git(
        &remote_dir(dir.path()),
        &["show", "main:.config/nvim/init.lua"],
    );
    assert_eq!(tip, "desktop\n");
    assert_eq!(a.read(".config/nvim/init.lua"), "laptop\n");
}

/// A symlink's new target pulled but not written (killed before the write), the home
/// untouched: it is pulled, even under `on_conflict = local` (the content test cannot read a
/// link, and the untouched home needs none).
#[test]
fn a_symlink_pull_killed_before_its_write_is_pulled_under_on_conflict_local() {
    let dir = tempfile::tempdir().unwrap();
    let remote = bare(dir.path());
    let cfg = serde_json::json!({"name": "dots", "paths": ["~/.config/nvim"]});
    let mut local = cfg.clone();
    local["on_conflict"] = serde_json::json!("local");
    let a = machine(dir.path(), "laptop", &remote, local);
    let b = machine(dir.path(), "desktop", &remote, cfg);
    a.write(".config/nvim/one.lua", "1\n");
    std::os::unix::fs::symlink("one.lua", a.home.join(".config/nvim/link.lua")).unwrap();
    a.sync();
    b.sync();
    std::fs::remove_file(b.home.join(".config/nvim/link.lua")).unwrap();
    std::os::unix::fs::symlink("two.lua", b.home.join(".config/nvim/link.lua")).unwrap();
    b.sync();
    die_at(&a, "apply::temp-written");
    let a = a.restart();
    let (s, ev) = a.sync();
    assert_eq!(s.conflicts, 0, "{:?}", actions(&ev));
    let tip = git(
        &remote_dir(dir.path()),
        &["show", "main:.config/nvim/link.lua"],
    );
    assert_eq!(tip, "two.lua", "{:?}", actions(&ev));
    let link = std::fs::read_link(a.home.join(".config/nvim/link.lua")).unwrap();
    assert_eq!(link, std::path::Path::new("two.lua"));
}

/// A pull killed before its record, then a sync with nothing new killed too (it only settles
/// the file), then the person's edit and the desktop's take-back. The second sync's row must
/// not replace the first's (it would forget what the home held before the write): the
/// take-back stays.
#[test]
fn an_edit_after_two_killed_syncs_does_not_undo_a_take_back() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = desktop_edited_line_five(dir.path());
    die_at(&a, "sync::before-record");
    let a = a.restart();
    assert_eq!(a.read(".zshrc"), "one\ntwo\nthree\nfour\nFIVE\n", "pulled");
    die_at(&a, "sync::before-record");
    let a = a.restart();
    a.write(".zshrc", "ONE\ntwo\nthree\nfour\nFIVE\n");
    b.write(".zshrc", FIVE);
    b.sync();
    let (s, ev) = a.sync();
    let tip = git(&remote_dir(dir.path()), &["show", "main:.zshrc"]);
    assert_eq!(tip, "ONE\ntwo\nthree\nfour\nfive\n", "{:?}", actions(&ev));
    assert_eq!(s.conflicts, 0);
}

/// The same with a merge, then the remote moved back past it: the merge's row (its commit,
/// what it merged with) outlives the second kill, and the laptop's own line is kept.
#[test]
fn a_merge_then_a_killed_settle_then_a_rewind_keeps_this_machines_line() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = desktop_edited_line_five(dir.path());
    let desktops = git(&remote_dir(dir.path()), &["rev-parse", "main"]);
    a.write(".zshrc", "ONE\ntwo\nthree\nfour\nfive\n");
    die_at(&a, "sync::before-record");
    let a = a.restart();
    die_at(&a, "sync::before-record");
    let a = a.restart();
    move_main_back(dir.path(), &desktops);
    b.write(".zshrc", FIVE);
    b.sync();
    let (s, ev) = a.sync();
    let tip = git(&remote_dir(dir.path()), &["show", "main:.zshrc"]);
    assert_eq!(tip, "ONE\ntwo\nthree\nfour\nfive\n", "{:?}", actions(&ev));
    assert_eq!(a.read(".zshrc"), "ONE\ntwo\nthree\nfour\nfive\n");
    assert_eq!(s.conflicts, 0);
}

/// A pull machine's merge killed before its record, then a sync that completes and holds the
/// file (with or without a new edit of the server's): the base the row gave is recorded, so
/// the desktop taking its line back is taken, not held as the server's for good.
#[test]
fn a_held_file_after_a_killed_pull_only_merge_takes_a_take_back() {
    for edit in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let remote = bare(dir.path());
        let cfg = serde_json::json!({"name": "dots", "paths": ["~/.zshrc"]});
        let mut pull = cfg.clone();
        pull["direction"] = serde_json::json!("pull");
        let server = machine(dir.path(), "server", &remote, pull);
        let desktop = machine(dir.path(), "desktop", &remote, cfg);
        desktop.write(".zshrc", FIVE);
        desktop.sync();
        server.sync();
        server.write(".zshrc", "ONE\ntwo\nthree\nfour\nfive\n");
        desktop.write(".zshrc", "one\ntwo\nthree\nfour\nFIVE\n");
        desktop.sync();
        die_at(&server, "sync::before-record");
        let server = server.restart();
        assert_eq!(server.read(".zshrc"), "ONE\ntwo\nthree\nfour\nFIVE\n");
        if edit {
            server.write(".zshrc", "ONE\ntwo\nTHREE\nfour\nFIVE\n");
        }
        let (s, ev) = server.sync();
        assert_eq!(s.conflicts, 0, "edit {edit}: {:?}", actions(&ev));
        desktop.write(".zshrc", FIVE);
        desktop.sync();
        let (s, ev) = server.sync();
        assert_eq!(s.conflicts, 0, "edit {edit}: {:?}", actions(&ev));
        let want = if edit {
            "ONE\ntwo\nTHREE\nfour\nfive\n"
        } else {
            "ONE\ntwo\nthree\nfour\nfive\n"
        };
        assert_eq!(
            server.read(".zshrc"),
            want,
            "edit {edit}: {:?}",
            actions(&ev)
        );
    }
}

/// A conflict the content could not vouch for (the person's edit of the line a killed pull
/// was to change), settled by `on_conflict = remote` and killed before the write: the next
/// sync asks again and takes the remote's, as without the second kill; the unsure base was
/// not carried on as a certain one (it pushed the laptop's line over the desktop's).
#[test]
fn an_unsure_conflict_taken_from_the_remote_is_not_pushed_after_a_kill() {
    let dir = tempfile::tempdir().unwrap();
    let remote = bare(dir.path());
    let cfg = serde_json::json!({"name": "dots", "paths": ["~/.zshrc"]});
    let mut theirs = cfg.clone();
    theirs["on_conflict"] = serde_json::json!("remote");
    let a = machine(dir.path(), "laptop", &remote, theirs);
    let b = machine(dir.path(), "desktop", &remote, cfg);
    a.write(".zshrc", FIVE);
    a.sync();
    b.sync();
    b.write(".zshrc", "one\ntwo\nthree\nfour\nFIVE\n");
    b.sync();
    die_at(&a, "apply::temp-written");
    let a = a.restart();
    assert_eq!(a.read(".zshrc"), FIVE, "not written");
    a.write(".zshrc", "one\ntwo\nthree\nfour\n5\n");
    die_at(&a, "apply::temp-written");
    let a = a.restart();
    let (_, ev) = a.sync();
    let tip = git(&remote_dir(dir.path()), &["show", "main:.zshrc"]);
    assert_eq!(tip, "one\ntwo\nthree\nfour\nFIVE\n", "{:?}", actions(&ev));
    assert_eq!(a.read(".zshrc"), tip);
}

/// A key edited after a killed pull of a settings file: keys sit on adjacent lines, so a line
/// merge cannot tell whether the pull was written; the key-level merge can. No conflict.
#[test]
fn a_key_edit_after_a_killed_pull_of_a_json_file_is_not_a_conflict() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two(dir.path());
    let p = ".config/nvim/settings.json";
    a.write(p, "{\n  \"a\": 1,\n  \"b\": 2\n}\n");
    a.sync();
    b.sync();
    b.write(p, "{\n  \"a\": 1,\n  \"b\": 3\n}\n");
    b.sync();
    die_at(&a, "sync::before-record");
    let a = a.restart();
    a.write(p, "{\n  \"a\": 5,\n  \"b\": 3\n}\n");
    let (s, ev) = a.sync();
    assert_eq!(s.conflicts, 0, "{:?}", actions(&ev));
    b.sync();
    assert_eq!(b.read(p), "{\n  \"a\": 5,\n  \"b\": 3\n}\n");
}

/// The person appends below a line a killed pull appended (the commonest edit of a shell rc
/// file): the line merge calls the two appends a conflict, but the home carries the pulled
/// line, so the pull was written and the person's line goes out. No conflict.
#[test]
fn an_append_after_a_killed_pull_of_an_append_is_not_a_conflict() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two(dir.path());
    a.write(".zshrc", FIVE);
    a.sync();
    b.sync();
    b.write(".zshrc", "one\ntwo\nthree\nfour\nfive\nalias a=1\n");
    b.sync();
    die_at(&a, "sync::before-record");
    let a = a.restart();
    let mine = "one\ntwo\nthree\nfour\nfive\nalias a=1\nalias b=2\n";
    a.write(".zshrc", mine);
    let (s, ev) = a.sync();
    assert_eq!(s.conflicts, 0, "{:?}", actions(&ev));
    b.sync();
    assert_eq!(b.read(".zshrc"), mine);
}

/// The other way round: the pull of an append was killed before its write and the person
/// appended a line of their own. The home does not carry the pulled line: both appends
/// meet at the end of the file, a conflict with both kept, not the pulled line lost.
#[test]
fn an_append_after_a_pull_of_an_append_killed_before_its_write_keeps_both() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two(dir.path());
    a.write(".zshrc", FIVE);
    a.sync();
    b.sync();
    b.write(".zshrc", "one\ntwo\nthree\nfour\nfive\nalias a=1\n");
    b.sync();
    die_at(&a, "apply::temp-written");
    let a = a.restart();
    let mine = "one\ntwo\nthree\nfour\nfive\nalias b=2\n";
    a.write(".zshrc", mine);
    let (s, ev) = a.sync();
    assert_eq!(s.conflicts, 1, "{:?}", actions(&ev));
    let tip = git(&remote_dir(dir.path()), &["show", "main:.zshrc"]);
    assert_eq!(tip, "one\ntwo\nthree\nfour\nfive\nalias a=1\n");
    assert_eq!(a.read(".zshrc"), mine);
}

/// The laptop's pull of the desktop's line five is written and the sync killed before its
/// record; the desktop takes its line back; the laptop's next sync plans to pull that (the
/// row says the home holds the pulled version) but is cancelled before the write (the daemon
/// stops). The take-back must still be taken, not the desktop's line pushed back over it.
#[test]
fn a_cancel_after_a_pull_killed_before_its_record_does_not_undo_a_take_back() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = desktop_edited_line_five(dir.path());
    die_at(&a, "sync::before-record");
    let a = a.restart();
    assert_eq!(a.read(".zshrc"), "one\ntwo\nthree\nfour\nFIVE\n", "pulled");
    b.write(".zshrc", FIVE);
    b.sync();
    let cancel = Arc::new(AtomicBool::new(false));
    let opts = dotsync_engine::SyncOptions {
        cancel: Some(cancel.clone()),
        ..Default::default()
    };
    let r = a.engine.sync(&a.cfg, &opts, &mut |e| {
        if let dotsync_engine::SyncEvent::Progress { phase, .. } = e
            && *phase == dotsync_engine::Phase::Fetch
        {
            cancel.store(true, Ordering::SeqCst);
        }
    });
    assert!(
        matches!(r, Err(dotsync_engine::SyncError::Cancelled)),
        "{r:?}"
    );
    assert_eq!(
        a.read(".zshrc"),
        "one\ntwo\nthree\nfour\nFIVE\n",
        "not written"
    );
    let (s, ev) = a.sync();
    let tip = git(&remote_dir(dir.path()), &["show", "main:.zshrc"]);
    assert_eq!(
        tip,
        FIVE,
        "the take-back was pushed over: {:?}",
        actions(&ev)
    );
    assert_eq!(a.read(".zshrc"), FIVE);
    assert_eq!(s.conflicts, 0);
}

/// The same, but the write is skipped because the person saves the file while the sync runs
/// (changed since the scan): the sync records, and the row's base must outlive it.
#[test]
fn a_write_skipped_after_a_pull_killed_before_its_record_does_not_undo_a_take_back() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = desktop_edited_line_five(dir.path());
    die_at(&a, "sync::before-record");
    let a = a.restart();
    b.write(".zshrc", FIVE);
    b.sync();
    let mut saved = false;
    let s = a
        .engine
        .sync(&a.cfg, &dotsync_engine::SyncOptions::default(), &mut |e| {
            if let dotsync_engine::SyncEvent::Progress { phase, .. } = e
                && *phase == dotsync_engine::Phase::Fetch
                && !saved
            {
                saved = true;
                std::fs::write(a.home.join(".zshrc"), "one\ntwo\nTHREE!\nfour\nFIVE\n").unwrap();
            }
        })
        .unwrap();
    assert!(saved && s.ok, "{s:?}");
    assert_eq!(
        a.read(".zshrc"),
        "one\ntwo\nTHREE!\nfour\nFIVE\n",
        "skipped"
    );
    let (s, ev) = a.sync();
    let tip = git(&remote_dir(dir.path()), &["show", "main:.zshrc"]);
    assert_eq!(
        tip,
        "one\ntwo\nTHREE!\nfour\nfive\n",
        "the take-back was pushed over: {:?}",
        actions(&ev)
    );
    assert_eq!(s.conflicts, 0);
}

/// A pull killed before its record, the person's edit, then a sync killed before its push
/// leaves (after announcing it). The desktop takes its line back. The push never landed, so
/// the pulled row is still what tells the base: the take-back stays.
#[test]
fn a_push_that_never_left_after_a_killed_pull_does_not_undo_a_take_back() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = desktop_edited_line_five(dir.path());
    die_at(&a, "sync::before-record");
    let a = a.restart();
    a.write(".zshrc", "ONE\ntwo\nthree\nfour\nFIVE\n");
    die_at(&a, "sync::after-commit");
    let a = a.restart();
    b.write(".zshrc", FIVE);
    b.sync();
    let (s, ev) = a.sync();
    let tip = git(&remote_dir(dir.path()), &["show", "main:.zshrc"]);
    assert_eq!(
        tip,
        "ONE\ntwo\nthree\nfour\nfive\n",
        "the take-back was pushed over: {:?}",
        actions(&ev)
    );
    assert_eq!(s.conflicts, 0);
}

/// The same with a push the remote refuses (a hook; a network error does the same): the sync
/// fails after announcing its push.
#[test]
fn a_failed_push_after_a_killed_pull_does_not_undo_a_take_back() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = desktop_edited_line_five(dir.path());
    die_at(&a, "sync::before-record");
    let a = a.restart();
    a.write(".zshrc", "ONE\ntwo\nthree\nfour\nFIVE\n");
    let hook = remote_dir(dir.path()).join("hooks/pre-receive");
    std::fs::write(&hook, "#!/bin/sh\nexit 1\n").unwrap();
    let mut p = std::fs::metadata(&hook).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut p, 0o755);
    std::fs::set_permissions(&hook, p).unwrap();
    let (r, ev) = a.sync_with(&dotsync_engine::SyncOptions::default());
    assert!(r.is_err(), "the push is refused: {ev:?}");
    std::fs::remove_file(&hook).unwrap();
    b.write(".zshrc", FIVE);
    b.sync();
    let (s, ev) = a.sync();
    let tip = git(&remote_dir(dir.path()), &["show", "main:.zshrc"]);
    assert_eq!(
        tip,
        "ONE\ntwo\nthree\nfour\nfive\n",
        "the take-back was pushed over: {:?}",
        actions(&ev)
    );
    assert_eq!(s.conflicts, 0);
}

/// The desktop adds the `fi` its shell file lacked; the laptop's pull of that is killed
/// before its write, and the person appends a block of their own, which ends in a `fi` too.
/// The home does not hold the desktop's fix (its `fi` is the person's block's): both appends
/// meet at the end, a conflict with both kept, not the desktop's fix pushed over.
#[test]
fn an_append_ending_like_a_pulled_append_killed_before_its_write_keeps_both() {
    for kill in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = two(dir.path());
        let broken = "if [ -f ~/.a ]; then\n  . ~/.a\nif [ -f ~/.b ]; then\n  . ~/.b\nfi\n";
        a.write(".zshrc", broken);
        a.sync();
        b.sync();
        let fixed = format!("{broken}fi\n");
        b.write(".zshrc", &fixed);
        b.sync();
        let a = if kill {
            die_at(&a, "apply::temp-written");
            let a = a.restart();
            assert_eq!(a.read(".zshrc"), broken, "not written");
            a
        } else {
            a
        };
        let mine = format!("{broken}if [ -f ~/.c ]; then\n  . ~/.c\nfi\n");
        a.write(".zshrc", &mine);
        let (s, ev) = a.sync();
        let tip = git(&remote_dir(dir.path()), &["show", "main:.zshrc"]);
        assert_eq!(
            tip,
            fixed,
            "kill {kill}: the desktop's fix was pushed over: {:?}",
            actions(&ev)
        );
        assert_eq!(s.conflicts, 1, "kill {kill}: {:?}", actions(&ev));
        assert_eq!(a.read(".zshrc"), mine, "kill {kill}");
    }
}

/// The desktop deletes a line; the laptop's pull of that is killed before its write, and the
/// person edits that very line. Without the kill this is a conflict (changed here, deleted
/// there), both kept; after it, the home "carries every line change" of the deletion (the
/// old line is gone: edited), so the write read as done and the edited line was pushed over
/// the desktop's deletion without a word.
#[test]
fn an_edit_of_a_line_whose_deletion_was_pulled_but_not_written_is_a_conflict() {
    for kill in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = two(dir.path());
        let base = "export A=1\nexport PROXY=http://old:3128\nexport B=2\n";
        a.write(".zshrc", base);
        a.sync();
        b.sync();
        let deleted = "export A=1\nexport B=2\n";
        b.write(".zshrc", deleted);
        b.sync();
        let a = if kill {
            die_at(&a, "apply::temp-written");
            let a = a.restart();
            assert_eq!(a.read(".zshrc"), base, "not written");
            a
        } else {
            a
        };
        let mine = "export A=1\nexport PROXY=http://new:3128\nexport B=2\n";
        a.write(".zshrc", mine);
        let (s, ev) = a.sync();
        let tip = git(&remote_dir(dir.path()), &["show", "main:.zshrc"]);
        assert_eq!(
            tip,
            deleted,
            "kill {kill}: the deletion was pushed over: {:?}",
            actions(&ev)
        );
        assert_eq!(s.conflicts, 1, "kill {kill}: {:?}", actions(&ev));
        assert_eq!(a.read(".zshrc"), mine, "kill {kill}");
    }
}

/// The laptop merges its line one with the desktop's line five, pushes and writes the merge,
/// and is killed before its record; the desktop builds on the merge (line three); the
/// laptop's next sync pulls that and is killed before the write. The remote is then moved
/// back to the desktop's first commit, past the merge. The merge the home still holds is no
/// longer the remote's: the laptop's line one is its own edit and goes out again (as when
/// the second sync is not there), not lost to the desktop's older version. (The pull from the
/// lost commit was never written: nothing here came from it, so there is no rewind to ask
/// about.)
#[test]
fn a_pull_killed_before_its_write_on_a_killed_merge_then_a_rewind_keeps_this_machines_line() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = desktop_edited_line_five(dir.path());
    let desktops = git(&remote_dir(dir.path()), &["rev-parse", "main"]);
    a.write(".zshrc", "ONE\ntwo\nthree\nfour\nfive\n");
    die_at(&a, "sync::before-record");
    let a = a.restart();
    let merged = "ONE\ntwo\nthree\nfour\nFIVE\n";
    assert_eq!(a.read(".zshrc"), merged, "merged");
    b.sync();
    b.write(".zshrc", "ONE\ntwo\nTHREE\nfour\nFIVE\n");
    b.sync();
    die_at(&a, "apply::temp-written");
    let a = a.restart();
    assert_eq!(a.read(".zshrc"), merged, "the pull is not written");
    move_main_back(dir.path(), &desktops);
    let (s, ev) = a.sync();
    let tip = git(&remote_dir(dir.path()), &["show", "main:.zshrc"]);
    assert_eq!(
        tip,
        merged,
        "this machine's line was lost: {:?}",
        actions(&ev)
    );
    assert_eq!(a.read(".zshrc"), merged);
    assert_eq!(s.conflicts, 0);
}

/// Guard (passes on HEAD): the person edits the line just above a pulled line after the
/// pull was written and the sync killed before its record. The home holds the write: no
/// conflict, the edit goes out. (A stricter "holds the write" test must keep this.)
#[test]
fn an_edit_above_a_pulled_line_after_a_killed_pull_is_pushed() {
    let dir = tempfile::tempdir().unwrap();
    let (a, _desktop) = desktop_edited_line_five(dir.path());
    die_at(&a, "sync::before-record");
    let a = a.restart();
    let mine = "one\ntwo\nthree\nFOUR\nFIVE\n";
    a.write(".zshrc", mine);
    let (s, ev) = a.sync();
    assert_eq!(s.conflicts, 0, "{:?}", actions(&ev));
    let tip = git(&remote_dir(dir.path()), &["show", "main:.zshrc"]);
    assert_eq!(tip, mine);
}

/// A pull killed before its record; the person's line one goes out and lands, the
/// sync killed after the push; the person's line three is announced in a push that never
/// leaves (killed after the commit). The desktop takes line one back. The push of line one
/// landed, so it is the base: the take-back stays and line three goes out (when the second
/// push's mark replaced the first one's, the pulled row spoke again and its older base read
/// line one as this machine's edit, pushed over the take-back).
#[test]
fn a_push_that_never_left_after_a_landed_one_does_not_wake_the_pulled_row() {
    for kill in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = desktop_edited_line_five(dir.path());
        die_at(&a, "sync::before-record");
        let a = a.restart();
        a.write(".zshrc", "ONE\ntwo\nthree\nfour\nFIVE\n");
        let a = if kill {
            die_at(&a, "sync::after-push");
            a.restart()
        } else {
            a.sync();
            a
        };
        assert_eq!(
            git(&remote_dir(dir.path()), &["show", "main:.zshrc"]),
            "ONE\ntwo\nthree\nfour\nFIVE\n",
            "kill {kill}: landed"
        );
        a.write(".zshrc", "ONE\ntwo\nTHREE\nfour\nFIVE\n");
        die_at(&a, "sync::after-commit");
        let a = a.restart();
        b.sync();
        assert_eq!(b.read(".zshrc"), "ONE\ntwo\nthree\nfour\nFIVE\n");
        b.write(".zshrc", "one\ntwo\nthree\nfour\nFIVE\n");
        b.sync();
        let (s, ev) = a.sync();
        let tip = git(&remote_dir(dir.path()), &["show", "main:.zshrc"]);
        assert_eq!(
            tip,
            "one\ntwo\nTHREE\nfour\nFIVE\n",
            "kill {kill}: the take-back was pushed over: {:?}",
            actions(&ev)
        );
        assert_eq!(s.conflicts, 0, "kill {kill}");
    }
}

/// A pull killed before its record; the desktop takes its line back; the person edits line
/// one, and the next sync skips the file (too large for a moment: not planned, like a file
/// still being written or unreadable). That sync records, and keeps the pulled row of the
/// file it did not plan (clearing it, the older base spoke again and the desktop's line five
/// went over its take-back as this machine's edit). Without the kill the take-back is merged
/// in too.
#[test]
fn a_file_not_planned_after_a_killed_pull_does_not_undo_a_take_back() {
    for kill in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = desktop_edited_line_five(dir.path());
        let a = if kill {
            die_at(&a, "sync::before-record");
            a.restart()
        } else {
            a.sync();
            a
        };
        assert_eq!(a.read(".zshrc"), "one\ntwo\nthree\nfour\nFIVE\n", "pulled");
        b.write(".zshrc", FIVE);
        b.sync();
        let mine = "ONE\ntwo\nthree\nfour\nFIVE\n";
        a.write(".zshrc", mine);
        make_huge(&a, ".zshrc");
        let (_, ev) = a.sync();
        assert!(
            ev.iter().any(
                |e| matches!(e, dotsync_engine::SyncEvent::File { path, action, .. }
                if path == ".zshrc" && *action == dotsync_engine::FileAction::Skipped)
            ),
            "kill {kill}: skipped: {:?}",
            actions(&ev)
        );
        shrink_back(&a, ".zshrc", mine);
        let (s, ev) = a.sync();
        let tip = git(&remote_dir(dir.path()), &["show", "main:.zshrc"]);
        assert_eq!(
            tip,
            "ONE\ntwo\nthree\nfour\nfive\n",
            "kill {kill}: the take-back was pushed over: {:?}",
            actions(&ev)
        );
        assert_eq!(s.conflicts, 0, "kill {kill}");
    }
}

/// Makes `rel` a sparse file over the largest size dotsync syncs, so the next scan skips it
/// (the sync does not plan it); [`shrink_back`] cuts it back to `content`.
fn make_huge(m: &Machine, rel: &str) {
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(m.home.join(rel))
        .unwrap();
    f.set_len(101 << 20).unwrap();
}

fn shrink_back(m: &Machine, rel: &str, content: &str) {
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(m.home.join(rel))
        .unwrap();
    f.set_len(content.len() as u64).unwrap();
    assert_eq!(m.read(rel), content);
}

/// A push that landed but was killed before its record, then a sync that skips the file
/// (too large for a moment): the push's own record outlives that sync's record, so the
/// pushed version stays this machine's base and the desktop's take-back is taken.
#[test]
fn a_file_not_planned_after_a_killed_push_does_not_undo_a_take_back() {
    for kill in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = two(dir.path());
        a.write(".zshrc", FIVE);
        a.sync();
        b.sync();
        let mine = "ONE\ntwo\nthree\nfour\nfive\n";
        a.write(".zshrc", mine);
        let a = if kill {
            die_at(&a, "sync::after-push");
            a.restart()
        } else {
            a.sync();
            a
        };
        make_huge(&a, ".zshrc");
        a.sync();
        shrink_back(&a, ".zshrc", mine);
        b.sync();
        assert_eq!(b.read(".zshrc"), mine);
        b.write(".zshrc", FIVE);
        b.sync();
        let (s, ev) = a.sync();
        let tip = git(&remote_dir(dir.path()), &["show", "main:.zshrc"]);
        assert_eq!(tip, FIVE, "kill {kill}: {:?}", actions(&ev));
        assert_eq!(a.read(".zshrc"), FIVE, "kill {kill}");
        assert_eq!(s.conflicts, 0, "kill {kill}");
    }
}

/// A pull killed before its record, then the config pointed at another remote while the file
/// is skipped: the row made against the first remote says nothing against the second. The
/// laptop joins it as any machine joins: its differing file is a conflict, both kept, not
/// overwritten by the other remote's.
#[test]
fn a_kept_row_does_not_speak_against_a_remote_joined_since() {
    for kill in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = two(dir.path());
        a.write(".zshrc", FIVE);
        a.sync();
        b.sync();
        let pulled = "one\ntwo\nthree\nfour\nFIVE\n";
        b.write(".zshrc", pulled);
        b.sync();
        let mut a = if kill {
            die_at(&a, "sync::before-record");
            a.restart()
        } else {
            a.sync();
            a
        };
        assert_eq!(a.read(".zshrc"), pulled);
        let other = bare_named(dir.path(), "other.git");
        let c = machine(
            dir.path(),
            "server",
            &other,
            serde_json::json!({"name": "dots", "paths": ["~/.zshrc"]}),
        );
        c.write(".zshrc", "the server's own\n");
        c.sync();
        a.cfg.remote = other.to_str().unwrap().to_owned();
        make_huge(&a, ".zshrc");
        a.sync();
        shrink_back(&a, ".zshrc", pulled);
        let (s, ev) = a.sync();
        assert_eq!(a.read(".zshrc"), pulled, "kill {kill}: {:?}", actions(&ev));
        assert_eq!(s.conflicts, 1, "kill {kill}: {:?}", actions(&ev));
    }
}

/// A pull killed before its record, the file skipped by the next sync, then the remote moved
/// back and the laptop's choice is "push local": its file goes out, the row made against the
/// lost history does not pull the older version over it. (After the kill, the file the pull
/// wrote from the lost commit is read again only once it is back: the question comes again
/// then, and gets the same answer.)
#[test]
fn a_kept_row_does_not_undo_push_local_after_a_rewind() {
    for kill in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = two(dir.path());
        a.write(".zshrc", FIVE);
        a.sync();
        b.sync();
        let first = git(&remote_dir(dir.path()), &["rev-parse", "main"]);
        let pulled = "one\ntwo\nthree\nfour\nFIVE\n";
        b.write(".zshrc", pulled);
        b.sync();
        let a = if kill {
            die_at(&a, "sync::before-record");
            a.restart()
        } else {
            a.sync();
            a
        };
        assert_eq!(a.read(".zshrc"), pulled);
        make_huge(&a, ".zshrc");
        a.sync();
        move_main_back(dir.path(), &first);
        let (r, ev) = a.sync_with(&dotsync_engine::SyncOptions {
            rewind: Some(dotsync_engine::RewindChoice::PushLocal),
            ..Default::default()
        });
        r.unwrap_or_else(|e| panic!("kill {kill}: {e} {ev:?}"));
        shrink_back(&a, ".zshrc", pulled);
        let (r, ev) = a.sync_with(&dotsync_engine::SyncOptions::default());
        let asked = matches!(r, Err(dotsync_engine::SyncError::Rewound { .. }));
        assert_eq!(asked, kill, "{r:?}");
        let ev = if asked {
            let (r, ev) = a.sync_with(&dotsync_engine::SyncOptions {
                rewind: Some(dotsync_engine::RewindChoice::PushLocal),
                ..Default::default()
            });
            r.unwrap();
            ev
        } else {
            ev
        };
        let tip = git(&remote_dir(dir.path()), &["show", "main:.zshrc"]);
        assert_eq!(
            (a.read(".zshrc"), tip),
            (pulled.to_owned(), pulled.to_owned()),
            "kill {kill}: {:?}",
            actions(&ev)
        );
    }
}

/// A pull killed before its record; the person edits the pulled line itself (the content
/// cannot tell whether the pull was written); the desktop takes its line back. With
/// `on_conflict = remote` the laptop's sync takes the take-back (the person's file kept in
/// history), and is killed before that write. The next sync must still take the take-back,
/// not push the person's file (with the desktop's line) over it.
#[test]
fn an_unsure_take_back_taken_from_the_remote_is_not_pushed_over_after_a_kill() {
    for second_kill in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let remote = bare(dir.path());
        let cfg = serde_json::json!({"name": "dots", "paths": ["~/.zshrc"]});
        let mut theirs = cfg.clone();
        theirs["on_conflict"] = serde_json::json!("remote");
        let a = machine(dir.path(), "laptop", &remote, theirs);
        let b = machine(dir.path(), "desktop", &remote, cfg);
        a.write(".zshrc", FIVE);
        a.sync();
        b.sync();
        b.write(".zshrc", "one\ntwo\nthree\nfour\nFIVE\n");
        b.sync();
        die_at(&a, "sync::before-record");
        let a = a.restart();
        let mine = "one\ntwo\nthree\nfour\nFIVE!\n";
        a.write(".zshrc", mine);
        b.write(".zshrc", FIVE);
        b.sync();
        let a = if second_kill {
            die_at(&a, "apply::temp-written");
            let a = a.restart();
            assert_eq!(a.read(".zshrc"), mine, "not written");
            a
        } else {
            a
        };
        let (_, ev) = a.sync();
        let tip = git(&remote_dir(dir.path()), &["show", "main:.zshrc"]);
        assert_eq!(
            tip,
            FIVE,
            "second kill {second_kill}: the take-back was pushed over: {:?}",
            actions(&ev)
        );
        assert_eq!(a.read(".zshrc"), FIVE, "second kill {second_kill}");
        assert!(history_blobs(&a, ".zshrc").contains(&Some(blob_of(mine))));
    }
}

/// A pull killed before its record, then the remote moved back to exactly the commit this
/// machine last recorded: the record fits the remote, but the home holds a version from a
/// commit the remote lost. That is a rewind, asked like one (the pull's row must not make the
/// remote's older version read as its change, nor the home's as the person's edit); each
/// answer does what it says, and nothing is lost.
#[test]
fn a_remote_moved_back_past_a_killed_pull_is_a_rewind() {
    for choice in [
        dotsync_engine::RewindChoice::PushLocal,
        dotsync_engine::RewindChoice::TakeRemote,
    ] {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = two(dir.path());
        a.write(".zshrc", FIVE);
        a.sync();
        b.sync();
        let first = git(&remote_dir(dir.path()), &["rev-parse", "main"]);
        let pulled = "one\ntwo\nthree\nfour\nFIVE\n";
        b.write(".zshrc", pulled);
        b.sync();
        die_at(&a, "sync::before-record");
        let a = a.restart();
        assert_eq!(a.read(".zshrc"), pulled, "the pull was written");
        move_main_back(dir.path(), &first);
        let (r, ev) = a.sync_with(&dotsync_engine::SyncOptions::default());
        assert!(
            matches!(r, Err(dotsync_engine::SyncError::Rewound { .. })),
            "{choice:?}: {r:?} {:?}",
            actions(&ev)
        );
        let tip = || git(&remote_dir(dir.path()), &["show", "main:.zshrc"]);
        assert_eq!(
            (a.read(".zshrc"), tip()),
            (pulled.to_owned(), FIVE.to_owned())
        );
        let (r, ev) = a.sync_with(&dotsync_engine::SyncOptions {
            rewind: Some(choice),
            ..Default::default()
        });
        r.unwrap_or_else(|e| panic!("{choice:?}: {e} {:?}", actions(&ev)));
        let now = match choice {
            dotsync_engine::RewindChoice::PushLocal => pulled,
            dotsync_engine::RewindChoice::TakeRemote => FIVE,
        };
        assert_eq!((a.read(".zshrc"), tip()), (now.to_owned(), now.to_owned()));
        assert!(history_blobs(&a, ".zshrc").contains(&Some(blob_of(pulled))));
        let (_, ev) = a.sync();
        assert!(
            actions(&ev).is_empty(),
            "{choice:?}: settled: {:?}",
            actions(&ev)
        );
        let (r, _) = b.sync_with(&dotsync_engine::SyncOptions {
            rewind: Some(dotsync_engine::RewindChoice::TakeRemote),
            ..Default::default()
        });
        r.unwrap();
        assert_eq!(b.read(".zshrc"), now);
    }
}

/// As in the unsure take-back above, but the write `on_conflict = remote` decided does not
/// happen because the person edits the file again while the sync runs (it is skipped as
/// changed since the scan). The sync's record keeps its row, so the next sync asks the same
/// question and takes the take-back, instead of pushing the person's file over it.
#[test]
fn an_unsure_take_back_not_written_is_asked_again() {
    let dir = tempfile::tempdir().unwrap();
    let remote = bare(dir.path());
    let cfg = serde_json::json!({"name": "dots", "paths": ["~/.zshrc"]});
    let mut theirs = cfg.clone();
    theirs["on_conflict"] = serde_json::json!("remote");
    let a = machine(dir.path(), "laptop", &remote, theirs);
    let b = machine(dir.path(), "desktop", &remote, cfg);
    a.write(".zshrc", FIVE);
    a.sync();
    b.sync();
    b.write(".zshrc", "one\ntwo\nthree\nfour\nFIVE\n");
    b.sync();
    die_at(&a, "sync::before-record");
    let a = a.restart();
    let mine = "one\ntwo\nthree\nfour\nFIVE!\n";
    a.write(".zshrc", mine);
    b.write(".zshrc", FIVE);
    b.sync();
    // The person's second edit lands between the scan and the write.
    let again = "ONE\ntwo\nthree\nfour\nFIVE!\n";
    let file = a.home.join(".zshrc");
    let scenario = fail::FailScenario::setup();
    fail::cfg_callback("sync::after-scan", move || {
        std::fs::write(&file, again).unwrap();
    })
    .unwrap();
    let (_, ev) = a.sync();
    fail::remove("sync::after-scan");
    scenario.teardown();
    assert_eq!(a.read(".zshrc"), again, "not written: {:?}", actions(&ev));
    let (_, ev) = a.sync();
    let tip = git(&remote_dir(dir.path()), &["show", "main:.zshrc"]);
    assert_eq!(
        tip,
        FIVE,
        "the take-back was pushed over: {:?}",
        actions(&ev)
    );
    assert_eq!(a.read(".zshrc"), FIVE);
    // The person's file as the sync read it (`mine` was gone by then) stays in history.
    assert!(history_blobs(&a, ".zshrc").contains(&Some(blob_of(again))));
}

/// The remote's `main` replaced by a commit of the same tree on the same parent (the desktop
/// amended its commit's message and force-pushed): the commit is gone, its files are not.
fn amend_main(dir: &std::path::Path) -> String {
    let r = remote_dir(dir);
    let tree = git(&r, &["rev-parse", "main^{tree}"]);
    let parent = git(&r, &["rev-parse", "main~1"]);
    let amended = git(
        &r,
        &[
            "-c",
            "user.name=desktop",
            "-c",
            "user.email=desktop@example.invalid",
            "commit-tree",
            tree.trim(),
            "-p",
            parent.trim(),
            "-m",
            "the same change, its message amended",
        ],
    );
    move_main_back(dir, &amended);
    amended
}

/// A pull killed before its record; the desktop then amends the commit it pulled (same files,
/// another message) and force-pushes it. The remote lost that commit but holds exactly what
/// the pull wrote here: the home holds nothing the remote lost, so there is nothing to ask,
/// as when the pull had recorded.
#[test]
fn an_amended_commit_with_the_same_files_after_a_killed_pull_is_no_rewind() {
    for kill in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = desktop_edited_line_five(dir.path());
        let pulled = "one\ntwo\nthree\nfour\nFIVE\n";
        let a = if kill {
            die_at(&a, "sync::before-record");
            a.restart()
        } else {
            a.sync();
            a
        };
        assert_eq!(a.read(".zshrc"), pulled);
        amend_main(dir.path());
        let (r, ev) = a.sync_with(&dotsync_engine::SyncOptions::default());
        assert!(
            r.is_ok(),
            "kill {kill}: asked about a rewind that lost nothing here: {r:?} {:?}",
            actions(&ev)
        );
        let tip = git(&remote_dir(dir.path()), &["show", "main:.zshrc"]);
        assert_eq!(
            (a.read(".zshrc"), tip),
            (pulled.to_owned(), pulled.to_owned())
        );
        let (r, _) = b.sync_with(&dotsync_engine::SyncOptions::default());
        assert!(r.is_ok(), "kill {kill}: the desktop: {r:?}");
    }
}

/// The laptop pulls the desktop's edit of line five (killed before its record) and the person
/// then edits line one; meanwhile the remote is moved back past the desktop's commit (someone
/// discarded it). The home holds what the remote lost, as when the pull had recorded: the
/// laptop asks (a rewind), and does not push the discarded line five back as its own edit.
#[test]
fn an_edit_after_a_killed_pull_the_remote_lost_is_a_rewind_not_a_push() {
    for kill in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = two(dir.path());
        a.write(".zshrc", FIVE);
        a.sync();
        b.sync();
        let first = git(&remote_dir(dir.path()), &["rev-parse", "main"]);
        let pulled = "one\ntwo\nthree\nfour\nFIVE\n";
        b.write(".zshrc", pulled);
        b.sync();
        let a = if kill {
            die_at(&a, "sync::before-record");
            a.restart()
        } else {
            a.sync();
            a
        };
        assert_eq!(a.read(".zshrc"), pulled, "the pull was written");
        let mine = "ONE\ntwo\nthree\nfour\nFIVE\n";
        a.write(".zshrc", mine);
        move_main_back(dir.path(), &first);
        let (r, ev) = a.sync_with(&dotsync_engine::SyncOptions::default());
        let tip = git(&remote_dir(dir.path()), &["show", "main:.zshrc"]);
        assert!(
            matches!(r, Err(dotsync_engine::SyncError::Rewound { .. })),
            "kill {kill}: not asked: {r:?} {:?}; the remote now holds {tip:?}",
            actions(&ev)
        );
        assert_eq!(tip, FIVE, "kill {kill}: the discarded line went back out");
        assert_eq!(a.read(".zshrc"), mine);
    }
}

/// The laptop's first sync pulls the desktop's files, among them one the desktop just added,
/// and is killed before its record; then the remote is moved back past that commit (the new
/// file discarded). The home holds what the remote lost, as when the first sync had recorded:
/// the laptop asks, and does not push the discarded file back as its own new file.
#[test]
fn a_killed_first_sync_then_a_rewind_does_not_push_the_discarded_file_back() {
    for kill in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = two(dir.path());
        b.write(".zshrc", FIVE);
        b.sync();
        let first = git(&remote_dir(dir.path()), &["rev-parse", "main"]);
        b.write(".config/nvim/new.lua", "the desktop's new file\n");
        b.sync();
        let a = if kill {
            die_at(&a, "sync::before-record");
            a.restart()
        } else {
            a.sync();
            a
        };
        assert_eq!(a.read(".config/nvim/new.lua"), "the desktop's new file\n");
        move_main_back(dir.path(), &first);
        let (r, ev) = a.sync_with(&dotsync_engine::SyncOptions::default());
        let on_remote = git(
            &remote_dir(dir.path()),
            &["ls-tree", "-r", "--name-only", "main"],
        );
        assert!(
            !on_remote.contains("new.lua"),
            "kill {kill}: the discarded file went back out: {r:?} {:?}",
            actions(&ev)
        );
        assert!(
            matches!(r, Err(dotsync_engine::SyncError::Rewound { .. })),
            "kill {kill}: not asked: {r:?} {:?}",
            actions(&ev)
        );
        assert_eq!(a.read(".config/nvim/new.lua"), "the desktop's new file\n");
    }
}

/// The config moved to a mirror of its remote (same commits) and synced there; the desktop
/// did too and pushed an edit there; the laptop's pull of it is killed before its record. The
/// config goes back to the first remote, which nobody moved (it is still at the commit the
/// laptop last recorded). Without the kill this is a machine joining a remote, not a rewind;
/// with it, it is no question about the first remote having been moved back either, and the
/// home keeps the file it holds.
#[test]
fn rows_of_another_remote_are_no_rewind_of_this_one() {
    for kill in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = two(dir.path());
        a.write(".zshrc", FIVE);
        a.sync();
        b.sync();
        let first = remote_dir(dir.path());
        let x_tip = git(&first, &["rev-parse", "main"]);
        let mirror = bare_named(dir.path(), "mirror.git");
        git(&first, &["push", "-q", mirror.to_str().unwrap(), "main"]);
        let (mut a, mut b) = (a, b);
        let x = a.cfg.remote.clone();
        a.cfg.remote = mirror.to_str().unwrap().to_owned();
        b.cfg.remote = mirror.to_str().unwrap().to_owned();
        a.sync();
        b.sync();
        let theirs = "one\ntwo\nthree\nfour\nFIVE\n";
        b.write(".zshrc", theirs);
        b.sync();
        let mut a = if kill {
            die_at(&a, "sync::before-record");
            a.restart()
        } else {
            a.sync();
            a
        };
        assert_eq!(a.read(".zshrc"), theirs);
        a.cfg.remote = x;
        assert_eq!(
            git(&first, &["rev-parse", "main"]),
            x_tip,
            "nobody moved it"
        );
        let (r, ev) = a.sync_with(&dotsync_engine::SyncOptions::default());
        assert!(
            !matches!(r, Err(dotsync_engine::SyncError::Rewound { .. })),
            "kill {kill}: asked about a rewind of a remote nobody moved: {r:?} {:?}",
            actions(&ev)
        );
        r.unwrap();
        assert_eq!(a.read(".zshrc"), theirs, "kill {kill}: {:?}", actions(&ev));
    }
}

/// A sync against another remote (a server's, with thousands of files) killed before its
/// record, then the config back on the first remote: the next sync reads the killed sync's
/// thousands of rows, whose commit this repository does not hold. Reading them must not start
/// one git process per row. Counted by running the scenario again in a child of this test
/// with a `git` first on PATH that logs its calls (the crate has no `unsafe` to set PATH here).
#[test]
fn thousands_of_rows_of_a_commit_not_here_are_read_without_a_git_process_each() {
    const ROWS: usize = 2000;
    if let Ok(log) = std::env::var("DOTSYNC_TEST_GIT_LOG") {
        let dir = tempfile::tempdir().unwrap();
        let (a, _b) = two(dir.path());
        a.write(".zshrc", FIVE);
        a.sync();
        let other = bare_named(dir.path(), "other.git");
        let c = machine(
            dir.path(),
            "server",
            &other,
            serde_json::json!({"name": "dots", "paths": ["~/.config/nvim"]}),
        );
        for i in 0..ROWS {
            c.write(&format!(".config/nvim/f{i}.lua"), &format!("{i}\n"));
        }
        c.sync();
        let mut a = a;
        let x = a.cfg.remote.clone();
        a.cfg.remote = other.to_str().unwrap().to_owned();
        die_at(&a, "sync::before-record");
        let mut a = a.restart();
        a.cfg.remote = x;
        std::fs::write(&log, "").unwrap();
        let (s, ev) = a.sync();
        assert_eq!(s.pushed, ROWS as u64, "{:?}", &actions(&ev)[..3]);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let real = std::process::Command::new("sh")
        .args(["-c", "command -v git"])
        .output()
        .unwrap();
    let real = String::from_utf8(real.stdout).unwrap();
    let shim = dir.path().join("bin");
    std::fs::create_dir_all(&shim).unwrap();
    let log = dir.path().join("git-calls");
    std::fs::write(
        shim.join("git"),
        format!(
            "#!/bin/sh\necho \"$*\" >> \"$DOTSYNC_TEST_GIT_LOG\"\nexec {} \"$@\"\n",
            real.trim()
        ),
    )
    .unwrap();
    let mut p = std::fs::metadata(shim.join("git")).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut p, 0o755);
    std::fs::set_permissions(shim.join("git"), p).unwrap();
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "thousands_of_rows_of_a_commit_not_here_are_read_without_a_git_process_each",
            "--exact",
            "--nocapture",
        ])
        .env(
            "PATH",
            format!("{}:{}", shim.display(), std::env::var("PATH").unwrap()),
        )
        .env("DOTSYNC_TEST_GIT_LOG", &log)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr)
    );
    let calls = std::fs::read_to_string(&log).unwrap();
    let cat_file = calls.lines().filter(|l| l.contains("cat-file")).count();
    assert!(
        calls.lines().count() < 100,
        "the sync after the kill ran {} git processes for {ROWS} rows ({cat_file} of them \
         `cat-file`)",
        calls.lines().count()
    );
}

/// Runs one sync of `m` answering a rewind with `choice`, that dies at `point`.
fn die_answering(m: &Machine, point: &str, choice: dotsync_engine::RewindChoice) {
    let scenario = fail::FailScenario::setup();
    fail::cfg(point, "panic").unwrap();
    let died = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        m.sync_with(&dotsync_engine::SyncOptions {
            rewind: Some(choice),
            ..Default::default()
        })
    }));
    fail::remove(point);
    scenario.teardown();
    assert!(died.is_err(), "{point}: the crash point was never reached");
}

/// A pull killed before its record (or recorded), then the remote moved back past it: the
/// laptop is asked, and the person answers "take the remote's files". That sync is killed
/// before its write reached the home. The next sync does not push the discarded line back
/// as the person's edit: it asks again (as it does when the pull had recorded), and the
/// answer takes the remote's file.
#[test]
fn take_remote_killed_before_its_write_does_not_push_the_discarded_line_back() {
    for pull_killed in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = two(dir.path());
        a.write(".zshrc", FIVE);
        a.sync();
        b.sync();
        let first = git(&remote_dir(dir.path()), &["rev-parse", "main"]);
        let pulled = "one\ntwo\nthree\nfour\nFIVE\n";
        b.write(".zshrc", pulled);
        b.sync();
        let a = if pull_killed {
            die_at(&a, "sync::before-record");
            a.restart()
        } else {
            a.sync();
            a
        };
        assert_eq!(a.read(".zshrc"), pulled);
        move_main_back(dir.path(), &first);
        let (r, _) = a.sync_with(&dotsync_engine::SyncOptions::default());
        assert!(
            matches!(r, Err(dotsync_engine::SyncError::Rewound { .. })),
            "pull killed {pull_killed}: {r:?}"
        );
        die_answering(
            &a,
            "apply::temp-written",
            dotsync_engine::RewindChoice::TakeRemote,
        );
        let a = a.restart();
        assert_eq!(a.read(".zshrc"), pulled, "not written");
        let (r, ev) = a.sync_with(&dotsync_engine::SyncOptions::default());
        let tip = git(&remote_dir(dir.path()), &["show", "main:.zshrc"]);
        assert_eq!(
            tip,
            FIVE,
            "pull killed {pull_killed}: the discarded line went back out after the person \
             chose to take the remote's files: {r:?} {:?}",
            actions(&ev)
        );
        assert!(
            matches!(r, Err(dotsync_engine::SyncError::Rewound { .. })),
            "pull killed {pull_killed}: asked again: {r:?}"
        );
        let (r, ev) = a.sync_with(&dotsync_engine::SyncOptions {
            rewind: Some(dotsync_engine::RewindChoice::TakeRemote),
            ..Default::default()
        });
        r.unwrap_or_else(|e| panic!("{e} {:?}", actions(&ev)));
        assert_eq!(a.read(".zshrc"), FIVE, "pull killed {pull_killed}");
        assert!(history_blobs(&a, ".zshrc").contains(&Some(blob_of(pulled))));
        let (r, ev) = a.sync_with(&dotsync_engine::SyncOptions::default());
        r.unwrap_or_else(|e| panic!("answered once: {e} {:?}", actions(&ev)));
    }
}

/// Two kills in a row: the laptop's pull of the desktop's line five is killed before its
/// record; its next sync, pulling the desktop's following edit of line one, is killed before
/// that write. Then the remote is moved back past both commits (someone discarded them). The
/// home still holds line five from a commit the remote lost, as when the first pull had
/// recorded: the laptop asks, and does not push the discarded line back as its own edit.
#[test]
fn two_killed_pulls_then_a_rewind_past_both_is_asked_not_pushed() {
    for first_killed in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = two(dir.path());
        a.write(".zshrc", FIVE);
        a.sync();
        b.sync();
        let first = git(&remote_dir(dir.path()), &["rev-parse", "main"]);
        let pulled = "one\ntwo\nthree\nfour\nFIVE\n";
        b.write(".zshrc", pulled);
        b.sync();
        let a = if first_killed {
            die_at(&a, "sync::before-record");
            a.restart()
        } else {
            a.sync();
            a
        };
        assert_eq!(a.read(".zshrc"), pulled, "the first pull was written");
        b.write(".zshrc", "ONE\ntwo\nthree\nfour\nFIVE\n");
        b.sync();
        die_at(&a, "apply::temp-written");
        let a = a.restart();
        assert_eq!(a.read(".zshrc"), pulled, "the second pull was not written");
        move_main_back(dir.path(), &first);
        let (r, ev) = a.sync_with(&dotsync_engine::SyncOptions::default());
        let tip = git(&remote_dir(dir.path()), &["show", "main:.zshrc"]);
        assert_eq!(
            tip,
            FIVE,
            "first killed {first_killed}: the discarded line went back out: {r:?} {:?}",
            actions(&ev)
        );
        assert!(
            matches!(r, Err(dotsync_engine::SyncError::Rewound { .. })),
            "first killed {first_killed}: not asked: {r:?} {:?}",
            actions(&ev)
        );
        assert_eq!(a.read(".zshrc"), pulled);
    }
}

/// A pull-only laptop: its pull of the desktop's line five is killed before its record; the
/// person edits line one; the next sync holds that edit (a pull machine keeps its own) and is
/// killed before its record too. Then the remote is moved back past the desktop's commit. The
/// home holds the discarded line five, as when the pull had recorded: the laptop asks (and
/// taking the remote's files keeps the person's file in history), instead of holding the
/// discarded line for ever as if it were the person's.
#[test]
fn a_pull_machine_held_edit_after_two_kills_then_a_rewind_is_asked() {
    for first_killed in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let remote = bare(dir.path());
        let cfg = serde_json::json!({"name": "dots", "paths": ["~/.zshrc"]});
        let mut pull = cfg.clone();
        pull["direction"] = serde_json::json!("pull");
        let b = machine(dir.path(), "desktop", &remote, cfg);
        let a = machine(dir.path(), "laptop", &remote, pull);
        b.write(".zshrc", FIVE);
        b.sync();
        a.sync();
        let first = git(&remote_dir(dir.path()), &["rev-parse", "main"]);
        let pulled = "one\ntwo\nthree\nfour\nFIVE\n";
        b.write(".zshrc", pulled);
        b.sync();
        let a = if first_killed {
            die_at(&a, "sync::before-record");
            a.restart()
        } else {
            a.sync();
            a
        };
        assert_eq!(a.read(".zshrc"), pulled);
        let mine = "ONE\ntwo\nthree\nfour\nFIVE\n";
        a.write(".zshrc", mine);
        die_at(&a, "sync::before-record");
        let a = a.restart();
        move_main_back(dir.path(), &first);
        let (r, ev) = a.sync_with(&dotsync_engine::SyncOptions::default());
        assert!(
            matches!(r, Err(dotsync_engine::SyncError::Rewound { .. })),
            "first killed {first_killed}: not asked: {r:?} {:?}",
            actions(&ev)
        );
        let (r, ev) = a.sync_with(&dotsync_engine::SyncOptions {
            rewind: Some(dotsync_engine::RewindChoice::TakeRemote),
            ..Default::default()
        });
        r.unwrap_or_else(|e| panic!("{e} {:?}", actions(&ev)));
        assert_eq!(a.read(".zshrc"), FIVE, "first killed {first_killed}");
        assert!(history_blobs(&a, ".zshrc").contains(&Some(blob_of(mine))));
    }
}

/// The laptop's pull of the desktop's line five in `.zshrc` is killed before its record (or
/// recorded); the person then takes `.zshrc` out of the config (it is no longer synced), and
/// the remote is moved back past the desktop's commit. The config's files on the remote are
/// exactly what the laptop last synced: without the kill the laptop asks nothing, and a file
/// the config no longer covers is nothing the sync may ask about.
#[test]
fn a_file_taken_out_of_the_config_after_a_killed_pull_is_no_rewind() {
    for kill in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = two(dir.path());
        a.write(".zshrc", FIVE);
        a.write(".config/nvim/init.lua", "init\n");
        a.sync();
        b.sync();
        let first = git(&remote_dir(dir.path()), &["rev-parse", "main"]);
        let pulled = "one\ntwo\nthree\nfour\nFIVE\n";
        b.write(".zshrc", pulled);
        b.sync();
        let mut a = if kill {
            die_at(&a, "sync::before-record");
            a.restart()
        } else {
            a.sync();
            a
        };
        assert_eq!(a.read(".zshrc"), pulled);
        let n = a.cfg.paths.len();
        a.cfg.paths.retain(|p| p != "~/.zshrc");
        assert_eq!(a.cfg.paths.len(), n - 1, "{:?}", a.cfg.paths);
        move_main_back(dir.path(), &first);
        let (r, ev) = a.sync_with(&dotsync_engine::SyncOptions::default());
        assert!(
            r.is_ok(),
            "kill {kill}: asked about a file the config no longer syncs: {r:?} {:?}",
            actions(&ev)
        );
        assert_eq!(a.read(".zshrc"), pulled, "kill {kill}: left alone");
    }
}

/// Two pulls in a row on the laptop (the desktop's line five, then its line one), both
/// killed before their record (or both recorded). The desktop then rewords its older commit
/// and force-pushes (same files, new commits). The remote holds exactly what the laptop's
/// home holds: nothing here was lost, and without the kills the laptop asks nothing.
#[test]
fn a_reworded_older_commit_after_two_killed_pulls_is_no_rewind() {
    for kill in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = two(dir.path());
        a.write(".zshrc", FIVE);
        a.sync();
        b.sync();
        let r = remote_dir(dir.path());
        let first = git(&r, &["rev-parse", "main"]);
        b.write(".zshrc", "one\ntwo\nthree\nfour\nFIVE\n");
        b.sync();
        let a = if kill {
            die_at(&a, "sync::before-record");
            a.restart()
        } else {
            a.sync();
            a
        };
        let both = "ONE\ntwo\nthree\nfour\nFIVE\n";
        b.write(".zshrc", both);
        b.sync();
        let a = if kill {
            die_at(&a, "sync::before-record");
            a.restart()
        } else {
            a.sync();
            a
        };
        assert_eq!(a.read(".zshrc"), both);
        // `git rebase -i` rewording main~1: the same trees on new commits.
        let commit = |tree: &str, parent: &str| {
            git(
                &r,
                &[
                    "-c",
                    "user.name=desktop",
                    "-c",
                    "user.email=desktop@example.invalid",
                    "commit-tree",
                    tree,
                    "-p",
                    parent,
                    "-m",
                    "reworded",
                ],
            )
            .trim()
            .to_owned()
        };
        let t1 = git(&r, &["rev-parse", "main~1^{tree}"]);
        let t2 = git(&r, &["rev-parse", "main^{tree}"]);
        let c1 = commit(t1.trim(), first.trim());
        let c2 = commit(t2.trim(), &c1);
        move_main_back(dir.path(), &c2);
        let (r, ev) = a.sync_with(&dotsync_engine::SyncOptions::default());
        assert!(
            r.is_ok(),
            "kill {kill}: asked about a rewind though the remote holds what this home holds: \
             {r:?} {:?}",
            actions(&ev)
        );
        assert_eq!(a.read(".zshrc"), both);
    }
}

/// The laptop's pull of the desktop's line five is killed before its record (or recorded);
/// the person does not want it and puts the previous version back with `dotsync restore`.
/// A restore is the person's edit like any other (its doc: "the next sync pushes it"): the
/// next sync pushes it, and does not pull the desktop's line back over it.
#[test]
fn a_restore_after_a_killed_pull_is_the_persons_edit() {
    for kill in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = two(dir.path());
        a.write(".zshrc", FIVE);
        a.sync();
        b.sync();
        let first = git(&remote_dir(dir.path()), &["rev-parse", "main"]);
        let pulled = "one\ntwo\nthree\nfour\nFIVE\n";
        b.write(".zshrc", pulled);
        b.sync();
        let a = if kill {
            die_at(&a, "sync::before-record");
            a.restart()
        } else {
            a.sync();
            a
        };
        assert_eq!(a.read(".zshrc"), pulled);
        a.engine.restore(&a.cfg, ".zshrc", first.trim()).unwrap();
        assert_eq!(a.read(".zshrc"), FIVE);
        let (r, ev) = a.sync_with(&dotsync_engine::SyncOptions::default());
        let tip = git(&remote_dir(dir.path()), &["show", "main:.zshrc"]);
        assert_eq!(
            (a.read(".zshrc"), tip),
            (FIVE.to_owned(), FIVE.to_owned()),
            "kill {kill}: the restore was undone: {r:?} {:?}",
            actions(&ev)
        );
        b.sync();
        assert_eq!(
            b.read(".zshrc"),
            FIVE,
            "kill {kill}: the desktop takes the restore"
        );
    }
}

/// The laptop's pull of the desktop's line five is killed before its record (or recorded);
/// the person puts the previous version back with `dotsync restore`, then edits line one of
/// it before syncing. The file is the person's edit (the restore, then the edit): the next
/// sync pushes it as it is, and does not merge the desktop's line five back into it.
#[test]
fn an_edit_after_a_restore_after_a_killed_pull_is_pushed_as_it_is() {
    for kill in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = two(dir.path());
        a.write(".zshrc", FIVE);
        a.sync();
        b.sync();
        let first = git(&remote_dir(dir.path()), &["rev-parse", "main"]);
        let pulled = "one\ntwo\nthree\nfour\nFIVE\n";
        b.write(".zshrc", pulled);
        b.sync();
        let a = if kill {
            die_at(&a, "sync::before-record");
            a.restart()
        } else {
            a.sync();
            a
        };
        assert_eq!(a.read(".zshrc"), pulled);
        a.engine.restore(&a.cfg, ".zshrc", first.trim()).unwrap();
        assert_eq!(a.read(".zshrc"), FIVE);
        let mine = "ONE\ntwo\nthree\nfour\nfive\n";
        a.write(".zshrc", mine);
        let (r, ev) = a.sync_with(&dotsync_engine::SyncOptions::default());
        let tip = git(&remote_dir(dir.path()), &["show", "main:.zshrc"]);
        assert_eq!(
            (a.read(".zshrc"), tip),
            (mine.to_owned(), mine.to_owned()),
            "kill {kill}: the restore was undone: {r:?} {:?}",
            actions(&ev)
        );
    }
}

/// The same, with a second `dotsync restore` (of an older version) instead of an edit: the
/// file is what the person restored last, and the next sync pushes it as it is.
#[test]
fn two_restores_after_a_killed_pull_push_the_last_one() {
    for kill in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = two(dir.path());
        let six = "one\ntwo\nthree\nfour\nfive\nsix\n";
        a.write(".zshrc", six);
        a.sync();
        let zero = git(&remote_dir(dir.path()), &["rev-parse", "main"]);
        a.write(".zshrc", FIVE);
        a.sync();
        b.sync();
        let first = git(&remote_dir(dir.path()), &["rev-parse", "main"]);
        let pulled = "one\ntwo\nthree\nfour\nFIVE\n";
        b.write(".zshrc", pulled);
        b.sync();
        let a = if kill {
            die_at(&a, "sync::before-record");
            a.restart()
        } else {
            a.sync();
            a
        };
        assert_eq!(a.read(".zshrc"), pulled);
        a.engine.restore(&a.cfg, ".zshrc", first.trim()).unwrap();
        a.engine.restore(&a.cfg, ".zshrc", zero.trim()).unwrap();
        assert_eq!(a.read(".zshrc"), six);
        let (r, ev) = a.sync_with(&dotsync_engine::SyncOptions::default());
        let tip = git(&remote_dir(dir.path()), &["show", "main:.zshrc"]);
        assert_eq!(
            (a.read(".zshrc"), tip),
            (six.to_owned(), six.to_owned()),
            "kill {kill}: the restore was not pushed as it is: {r:?} {:?}",
            actions(&ev)
        );
    }
}

/// The desktop deletes `.zshrc`; the laptop's pull of that deletion is killed before its
/// record (or recorded). The person wants the file back and restores it from history. A
/// restore is the person's edit: the next sync pushes the file back, it does not delete it
/// again.
#[test]
fn a_restore_of_a_file_whose_deletion_a_killed_pull_made_is_pushed() {
    for kill in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = two(dir.path());
        a.write(".zshrc", FIVE);
        a.write(".config/nvim/init.lua", "init\n");
        a.sync();
        b.sync();
        let first = git(&remote_dir(dir.path()), &["rev-parse", "main"]);
        std::fs::remove_file(b.home.join(".zshrc")).unwrap();
        b.sync();
        let a = if kill {
            die_at(&a, "sync::before-record");
            a.restart()
        } else {
            a.sync();
            a
        };
        assert!(!a.home.join(".zshrc").exists(), "the deletion was pulled");
        a.engine.restore(&a.cfg, ".zshrc", first.trim()).unwrap();
        assert_eq!(a.read(".zshrc"), FIVE);
        let (r, ev) = a.sync_with(&dotsync_engine::SyncOptions::default());
        let here = std::fs::read_to_string(a.home.join(".zshrc")).ok();
        let tip = git(&remote_dir(dir.path()), &["ls-tree", "main", ".zshrc"]);
        assert_eq!(
            here.as_deref(),
            Some(FIVE),
            "kill {kill}: the restored file was deleted again: {r:?} {:?}",
            actions(&ev)
        );
        assert!(
            !tip.is_empty(),
            "kill {kill}: not pushed: {:?}",
            actions(&ev)
        );
    }
}

/// The laptop's pull of the desktop's line five is killed before its record (or recorded);
/// the person edits line one and the push of that lands, its sync killed before its record.
/// Then the person restores the desktop's commit, then the original version (two restores).
/// The file is the original version, restored by the person: the next sync pushes it as it
/// is, and does not merge the laptop's own older line one back into it.
#[test]
fn a_restore_after_a_landed_push_over_a_killed_pull_is_pushed_as_it_is() {
    for kill in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = two(dir.path());
        a.write(".zshrc", FIVE);
        a.sync();
        b.sync();
        let first = git(&remote_dir(dir.path()), &["rev-parse", "main"]);
        let pulled = "one\ntwo\nthree\nfour\nFIVE\n";
        b.write(".zshrc", pulled);
        b.sync();
        let desktops = git(&remote_dir(dir.path()), &["rev-parse", "main"]);
        let a = if kill {
            die_at(&a, "sync::before-record");
            a.restart()
        } else {
            a.sync();
            a
        };
        assert_eq!(a.read(".zshrc"), pulled);
        let mine = "ONE\ntwo\nthree\nfour\nFIVE\n";
        a.write(".zshrc", mine);
        die_at(&a, "sync::after-push");
        let a = a.restart();
        let tip = git(&remote_dir(dir.path()), &["show", "main:.zshrc"]);
        assert_eq!(tip, mine, "the push landed");
        a.engine.restore(&a.cfg, ".zshrc", desktops.trim()).unwrap();
        a.engine.restore(&a.cfg, ".zshrc", first.trim()).unwrap();
        assert_eq!(a.read(".zshrc"), FIVE);
        let (r, ev) = a.sync_with(&dotsync_engine::SyncOptions::default());
        let tip = git(&remote_dir(dir.path()), &["show", "main:.zshrc"]);
        assert_eq!(
            (a.read(".zshrc"), tip),
            (FIVE.to_owned(), FIVE.to_owned()),
            "kill {kill}: the restore was not pushed as it is: {r:?} {:?}",
            actions(&ev)
        );
    }
}

/// A restore after a killed pull (as in `a_restore_after_a_killed_pull_is_the_persons_edit`),
/// then the sync that pushes it killed at each step, then one more sync: the restore is out.
#[test]
fn a_restore_after_a_killed_pull_survives_a_second_kill() {
    for point in POINTS {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = two(dir.path());
        a.write(".zshrc", FIVE);
        a.sync();
        b.sync();
        let first = git(&remote_dir(dir.path()), &["rev-parse", "main"]);
        let pulled = "one\ntwo\nthree\nfour\nFIVE\n";
        b.write(".zshrc", pulled);
        b.write(".config/nvim/init.lua", "desktop\n");
        b.sync();
        die_at(&a, "sync::before-record");
        let a = a.restart();
        a.engine.restore(&a.cfg, ".zshrc", first.trim()).unwrap();
        b.write(".config/nvim/other.lua", "desktop again\n");
        b.sync();
        // Killed there, where the sync reaches that point (one write: never between files).
        let scenario = fail::FailScenario::setup();
        fail::cfg(*point, "panic").unwrap();
        let died = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            a.sync_with(&dotsync_engine::SyncOptions::default())
        }));
        fail::remove(*point);
        scenario.teardown();
        assert_eq!(died.is_err(), *point != "sync::between-files", "{point}");
        let a = a.restart();
        let (r, ev) = a.sync_with(&dotsync_engine::SyncOptions::default());
        let tip = git(&remote_dir(dir.path()), &["show", "main:.zshrc"]);
        assert_eq!(
            (a.read(".zshrc"), tip),
            (FIVE.to_owned(), FIVE.to_owned()),
            "{point}: the restore was undone: {r:?} {:?}",
            actions(&ev)
        );
    }
}

/// The laptop's push of its line one lands but its sync dies before the record; the desktop
/// pulls it and edits line five; the laptop's pull of that is killed before its record (or
/// recorded). The person restores the version from before both edits. The restore is the
/// person's edit: the next sync pushes it as it is; it does not merge the desktop's line five
/// back in (the unrecorded push is older news than the killed pull's row, whose base the
/// restore records).
#[test]
fn a_restore_after_a_killed_pull_over_an_unrecorded_push_is_pushed_as_it_is() {
    for kill in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = two(dir.path());
        a.write(".zshrc", FIVE);
        a.sync();
        b.sync();
        let first = git(&remote_dir(dir.path()), &["rev-parse", "main"]);
        a.write(".zshrc", "ONE\ntwo\nthree\nfour\nfive\n");
        die_at(&a, "sync::after-push");
        let a = a.restart();
        b.sync();
        let pulled = "ONE\ntwo\nthree\nfour\nFIVE\n";
        assert_eq!(b.read(".zshrc"), "ONE\ntwo\nthree\nfour\nfive\n");
        b.write(".zshrc", pulled);
        b.sync();
        let a = if kill {
            die_at(&a, "sync::before-record");
            a.restart()
        } else {
            a.sync();
            a
        };
        assert_eq!(a.read(".zshrc"), pulled);
        a.engine.restore(&a.cfg, ".zshrc", first.trim()).unwrap();
        assert_eq!(a.read(".zshrc"), FIVE);
        let (r, ev) = a.sync_with(&dotsync_engine::SyncOptions::default());
        let tip = git(&remote_dir(dir.path()), &["show", "main:.zshrc"]);
        assert_eq!(
            (a.read(".zshrc"), tip),
            (FIVE.to_owned(), FIVE.to_owned()),
            "kill {kill}: the restore was not pushed as it is: {r:?} {:?}",
            actions(&ev)
        );
    }
}

/// The laptop's pull of the desktop's line five is killed before its record (or recorded);
/// the person edits line one of the pulled file, then puts the original version back with
/// `dotsync restore`. The restore is the person's edit: the next sync pushes it as it is,
/// and does not pull the desktop's line five over it.
#[test]
fn a_restore_after_an_edit_after_a_killed_pull_is_pushed_as_it_is() {
    for kill in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = two(dir.path());
        a.write(".zshrc", FIVE);
        a.sync();
        b.sync();
        let first = git(&remote_dir(dir.path()), &["rev-parse", "main"]);
        let pulled = "one\ntwo\nthree\nfour\nFIVE\n";
        b.write(".zshrc", pulled);
        b.sync();
        let a = if kill {
            die_at(&a, "sync::before-record");
            a.restart()
        } else {
            a.sync();
            a
        };
        assert_eq!(a.read(".zshrc"), pulled);
        a.write(".zshrc", "ONE\ntwo\nthree\nfour\nFIVE\n");
        a.engine.restore(&a.cfg, ".zshrc", first.trim()).unwrap();
        assert_eq!(a.read(".zshrc"), FIVE);
        let (r, ev) = a.sync_with(&dotsync_engine::SyncOptions::default());
        let tip = git(&remote_dir(dir.path()), &["show", "main:.zshrc"]);
        assert_eq!(
            (a.read(".zshrc"), tip),
            (FIVE.to_owned(), FIVE.to_owned()),
            "kill {kill}: the restore was undone: {r:?} {:?}",
            actions(&ev)
        );
    }
}

/// A pull-only server (`on_conflict = local`) and the desktop both change line five; the
/// server's sync keeps its own line (a held edit) and is killed before its record (or
/// recorded). The person puts the original version back with `dotsync restore`: a pull-only
/// machine holds it as the person's edit, the next sync does not pull the desktop's line.
#[test]
fn a_restore_on_a_pull_machine_after_a_killed_keep_local_is_held() {
    for kill in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let remote = bare(dir.path());
        let cfg = serde_json::json!({"name": "dots", "paths": ["~/.zshrc"]});
        let mut pull = cfg.clone();
        pull["direction"] = serde_json::json!("pull");
        pull["on_conflict"] = serde_json::json!("local");
        let server = machine(dir.path(), "server", &remote, pull);
        let desktop = machine(dir.path(), "desktop", &remote, cfg);
        desktop.write(".zshrc", FIVE);
        desktop.sync();
        server.sync();
        let first = git(&remote, &["rev-parse", "main"]);
        let mine = "one\ntwo\nthree\nfour\nfive (server)\n";
        server.write(".zshrc", mine);
        desktop.write(".zshrc", "one\ntwo\nthree\nfour\nFIVE\n");
        desktop.sync();
        let server = if kill {
            die_at(&server, "sync::before-record");
            server.restart()
        } else {
            server.sync();
            server
        };
        assert_eq!(
            server.read(".zshrc"),
            mine,
            "kill {kill}: its own line kept"
        );
        server
            .engine
            .restore(&server.cfg, ".zshrc", first.trim())
            .unwrap();
        assert_eq!(server.read(".zshrc"), FIVE);
        let (r, ev) = server.sync_with(&dotsync_engine::SyncOptions::default());
        assert_eq!(
            server.read(".zshrc"),
            FIVE,
            "kill {kill}: the restore was undone: {r:?} {:?}",
            actions(&ev)
        );
    }
}

/// Both machines change a different line; the laptop's sync merges them, pushes the merge and
/// writes it, and is killed before its record (or records). The person restores the original
/// version: the restore is the person's edit, pushed as it is (a completed sync records the
/// merge as the base; a killed one's row says the same while the remote holds the merge).
#[test]
fn a_restore_after_a_killed_pushed_merge_is_pushed_as_it_is() {
    for kill in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = two(dir.path());
        a.write(".zshrc", FIVE);
        a.sync();
        b.sync();
        let first = git(&remote_dir(dir.path()), &["rev-parse", "main"]);
        b.write(".zshrc", "one\ntwo\nthree\nfour\nFIVE\n");
        b.sync();
        a.write(".zshrc", "ONE\ntwo\nthree\nfour\nfive\n");
        let a = if kill {
            die_at(&a, "sync::before-record");
            a.restart()
        } else {
            a.sync();
            a
        };
        let merged = "ONE\ntwo\nthree\nfour\nFIVE\n";
        assert_eq!(a.read(".zshrc"), merged);
        let tip = git(&remote_dir(dir.path()), &["show", "main:.zshrc"]);
        assert_eq!(tip, merged, "the merge was pushed");
        a.engine.restore(&a.cfg, ".zshrc", first.trim()).unwrap();
        assert_eq!(a.read(".zshrc"), FIVE);
        let (r, ev) = a.sync_with(&dotsync_engine::SyncOptions::default());
        let tip = git(&remote_dir(dir.path()), &["show", "main:.zshrc"]);
        assert_eq!(
            (a.read(".zshrc"), tip),
            (FIVE.to_owned(), FIVE.to_owned()),
            "kill {kill}: the restore was not pushed as it is: {r:?} {:?}",
            actions(&ev)
        );
    }
}

/// The laptop's pull of the desktop's line five is killed before its record; the person edits
/// line one and the sync that pushes it dies before its push leaves (or its push fails). The
/// person then restores the original version. The restore is the person's edit of the file
/// holding line one: the next sync pushes it as it is, and does not pull line five back over it.
#[test]
fn a_restore_after_a_push_that_never_left_over_a_killed_pull_is_pushed() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two(dir.path());
    a.write(".zshrc", FIVE);
    a.sync();
    b.sync();
    let first = git(&remote_dir(dir.path()), &["rev-parse", "main"]);
    let pulled = "one\ntwo\nthree\nfour\nFIVE\n";
    b.write(".zshrc", pulled);
    b.sync();
    die_at(&a, "sync::before-record");
    let a = a.restart();
    assert_eq!(a.read(".zshrc"), pulled);
    a.write(".zshrc", "ONE\ntwo\nthree\nfour\nFIVE\n");
    die_at(&a, "sync::after-commit");
    let a = a.restart();
    a.engine.restore(&a.cfg, ".zshrc", first.trim()).unwrap();
    assert_eq!(a.read(".zshrc"), FIVE);
    let (r, ev) = a.sync_with(&dotsync_engine::SyncOptions::default());
    let tip = git(&remote_dir(dir.path()), &["show", "main:.zshrc"]);
    assert_eq!(
        (a.read(".zshrc"), tip),
        (FIVE.to_owned(), FIVE.to_owned()),
        "the restore was undone: {r:?} {:?}",
        actions(&ev)
    );
}

/// As `a_restore_after_a_push_that_never_left_over_a_killed_pull_is_pushed`, with the
/// push failing for real (the remote refuses it) instead of a kill, and with a restore of a
/// version that is not the one the home held before the pull: the restore replaced the
/// person's edit of the pulled file, so it is pushed as it is; the desktop's line five is not
/// merged back into it.
#[test]
fn a_restore_after_a_failed_push_over_a_killed_pull_is_pushed_as_it_is() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two(dir.path());
    let six = "zero\none\ntwo\nthree\nfour\nfive\n";
    a.write(".zshrc", six);
    a.sync();
    let zero = git(&remote_dir(dir.path()), &["rev-parse", "main"]);
    a.write(".zshrc", FIVE);
    a.sync();
    b.sync();
    let pulled = "one\ntwo\nthree\nfour\nFIVE\n";
    b.write(".zshrc", pulled);
    b.sync();
    die_at(&a, "sync::before-record");
    let a = a.restart();
    assert_eq!(a.read(".zshrc"), pulled);
    a.write(".zshrc", "ONE\ntwo\nthree\nfour\nFIVE\n");
    let hook = remote_dir(dir.path()).join("hooks/pre-receive");
    std::fs::create_dir_all(hook.parent().unwrap()).unwrap();
    std::fs::write(&hook, "#!/bin/sh\nexit 1\n").unwrap();
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    let (r, _) = a.sync_with(&dotsync_engine::SyncOptions::default());
    assert!(r.is_err(), "the push failed: {r:?}");
    std::fs::remove_file(&hook).unwrap();
    a.engine.restore(&a.cfg, ".zshrc", zero.trim()).unwrap();
    assert_eq!(a.read(".zshrc"), six);
    let (r, ev) = a.sync_with(&dotsync_engine::SyncOptions::default());
    let tip = git(&remote_dir(dir.path()), &["show", "main:.zshrc"]);
    assert_eq!(
        (a.read(".zshrc"), tip),
        (six.to_owned(), six.to_owned()),
        "the restore was not pushed as it is: {r:?} {:?}",
        actions(&ev)
    );
}

/// The laptop merges its line one with the desktop's line nine, pushes the merge and writes
/// it, and is killed before its record. The remote is then moved back to the desktop's
/// commit (past the merge, not past what the laptop recorded) — before or after the person
/// restores an older version of the laptop's own (line one changed, line nine not). The
/// merge the remote lost is this machine's edit on top of the desktop's version (as
/// `a_merge_the_remote_lost_is_measured_against_what_it_merged_with` says), so the restore
/// is the person's edit on top of it too: pushed as it is, not merged with the remote "taking
/// line one back".
#[test]
fn a_restore_after_a_killed_pushed_merge_the_remote_lost_is_pushed_as_it_is() {
    for rewind_first in [false, true] {
        let nine = "1\n2\n3\n4\n5\n6\n7\n8\n9\n";
        let old_mine = "ONE\n2\n3\n4\n5\n6\n7\n8\n9\nten\n";
        let mine = "ONE\n2\n3\n4\n5\n6\n7\n8\n9\n";
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = two(dir.path());
        a.write(".zshrc", old_mine);
        a.sync();
        let old = git(&remote_dir(dir.path()), &["rev-parse", "main"]);
        a.write(".zshrc", nine);
        a.sync();
        b.sync();
        b.write(".zshrc", "1\n2\n3\n4\n5\n6\n7\n8\nNINE\n");
        b.sync();
        let desktops = git(&remote_dir(dir.path()), &["rev-parse", "main"]);
        a.write(".zshrc", mine);
        die_at(&a, "sync::before-record");
        let a = a.restart();
        assert_eq!(
            a.read(".zshrc"),
            "ONE\n2\n3\n4\n5\n6\n7\n8\nNINE\n",
            "merged"
        );
        if rewind_first {
            move_main_back(dir.path(), &desktops);
        }
        a.engine.restore(&a.cfg, ".zshrc", old.trim()).unwrap();
        if !rewind_first {
            move_main_back(dir.path(), &desktops);
        }
        assert_eq!(a.read(".zshrc"), old_mine);
        let (r, ev) = a.sync_with(&dotsync_engine::SyncOptions::default());
        let tip = git(&remote_dir(dir.path()), &["show", "main:.zshrc"]);
        assert_eq!(
            (a.read(".zshrc"), tip),
            (old_mine.to_owned(), old_mine.to_owned()),
            "rewind first {rewind_first}: the restore was not pushed as it is: {r:?} {:?}",
            actions(&ev)
        );
    }
}

/// Both machines make the same edit (line one); the laptop's sync only settles the file
/// (a row, no write) and is killed before its record. The remote is then moved back past the
/// desktop's commit, and the person restores an older version of the laptop's (line one
/// changed, a line six). The laptop's line one is its own edit on the remote that lost it:
/// the next sync pushes the restore as it is (or asks about the rewind); it does not merge
/// "line one taken back" into the restore.
#[test]
fn a_restore_after_a_killed_settle_then_a_rewind_is_not_merged() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two(dir.path());
    let old = "ONE\ntwo\nthree\nfour\nfive\nsix\n";
    a.write(".zshrc", old);
    a.sync();
    let zero = git(&remote_dir(dir.path()), &["rev-parse", "main"]);
    a.write(".zshrc", FIVE);
    a.write(".config/nvim/init.lua", "1\n");
    a.sync();
    b.sync();
    let synced = git(&remote_dir(dir.path()), &["rev-parse", "main"]);
    let same = "ONE\ntwo\nthree\nfour\nfive\n";
    b.write(".zshrc", same);
    b.sync();
    a.write(".zshrc", same);
    die_at(&a, "sync::before-record");
    let a = a.restart();
    move_main_back(dir.path(), &synced);
    a.engine.restore(&a.cfg, ".zshrc", zero.trim()).unwrap();
    assert_eq!(a.read(".zshrc"), old);
    let (r, ev) = a.sync_with(&dotsync_engine::SyncOptions::default());
    if let Err(dotsync_engine::SyncError::Rewound { .. }) = r {
        return;
    }
    let tip = git(&remote_dir(dir.path()), &["show", "main:.zshrc"]);
    assert_eq!(
        (a.read(".zshrc"), tip),
        (old.to_owned(), old.to_owned()),
        "the restore was merged with the rewind: {r:?} {:?}",
        actions(&ev)
    );
}

/// The desktop makes a script executable; the laptop's pull of that mode is killed before its
/// record. The person restores the original version (mode 0644): a mode-only restore is the
/// person's edit of the pulled file, pushed as it is.
#[test]
fn a_mode_only_restore_after_a_killed_mode_pull_is_pushed() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two(dir.path());
    let p = ".config/nvim/tool.sh";
    a.write(p, FIVE);
    std::fs::set_permissions(a.home.join(p), std::fs::Permissions::from_mode(0o644)).unwrap();
    a.sync();
    b.sync();
    let first = git(&remote_dir(dir.path()), &["rev-parse", "main"]);
    std::fs::set_permissions(b.home.join(p), std::fs::Permissions::from_mode(0o755)).unwrap();
    b.sync();
    die_at(&a, "sync::before-record");
    let a = a.restart();
    assert_eq!(mode_of(&a, p), 0o755, "written");
    a.engine.restore(&a.cfg, p, first.trim()).unwrap();
    assert_eq!(mode_of(&a, p), 0o644, "restored");
    let (r, ev) = a.sync_with(&dotsync_engine::SyncOptions::default());
    b.sync();
    assert_eq!(
        (mode_of(&a, p), mode_of(&b, p)),
        (0o644, 0o644),
        "the restore was undone: {r:?} {:?}",
        actions(&ev)
    );
}

/// The desktop replaces a file by a symlink; the laptop's pull of that is killed before its
/// record. The person restores the file: the next sync pushes the file, not the link back.
#[test]
fn a_file_restored_over_a_killed_symlink_pull_is_pushed() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two(dir.path());
    let p = ".config/nvim/link.lua";
    a.write(".config/nvim/one.lua", "1\n");
    a.write(p, FIVE);
    a.sync();
    b.sync();
    let first = git(&remote_dir(dir.path()), &["rev-parse", "main"]);
    std::fs::remove_file(b.home.join(p)).unwrap();
    std::os::unix::fs::symlink("one.lua", b.home.join(p)).unwrap();
    b.sync();
    die_at(&a, "sync::before-record");
    let a = a.restart();
    assert!(a.home.join(p).is_symlink(), "written");
    a.engine.restore(&a.cfg, p, first.trim()).unwrap();
    assert!(!a.home.join(p).is_symlink());
    let (r, ev) = a.sync_with(&dotsync_engine::SyncOptions::default());
    b.sync();
    assert!(
        !a.home.join(p).is_symlink() && !b.home.join(p).is_symlink(),
        "the restore was undone: {r:?} {:?}",
        actions(&ev)
    );
    assert_eq!((a.read(p), b.read(p)), (FIVE.to_owned(), FIVE.to_owned()));
}

/// The reverse: the desktop replaces a symlink by a file; the laptop's pull is killed before
/// its record; the person restores the link.
#[test]
fn a_symlink_restored_over_a_killed_file_pull_is_pushed() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two(dir.path());
    let p = ".config/nvim/link.lua";
    a.write(".config/nvim/one.lua", "1\n");
    std::os::unix::fs::symlink("one.lua", a.home.join(p)).unwrap();
    a.sync();
    b.sync();
    let first = git(&remote_dir(dir.path()), &["rev-parse", "main"]);
    std::fs::remove_file(b.home.join(p)).unwrap();
    b.write(p, FIVE);
    b.sync();
    die_at(&a, "sync::before-record");
    let a = a.restart();
    assert!(!a.home.join(p).is_symlink(), "written");
    a.engine.restore(&a.cfg, p, first.trim()).unwrap();
    assert!(a.home.join(p).is_symlink());
    let (r, ev) = a.sync_with(&dotsync_engine::SyncOptions::default());
    b.sync();
    assert!(
        a.home.join(p).is_symlink() && b.home.join(p).is_symlink(),
        "the restore was undone: {r:?} {:?}",
        actions(&ev)
    );
}

/// A pull-only server merges the desktop's line five into its own line one (its line held),
/// killed before its record. The person restores the original version on the server: held
/// as the person's edit, the desktop's line five not merged back in, nothing pushed.
#[test]
fn a_restore_on_a_pull_machine_after_a_killed_pull_only_merge_is_held() {
    for kill in ["sync::before-record", "apply::temp-written"] {
        let dir = tempfile::tempdir().unwrap();
        let remote = bare(dir.path());
        let cfg = serde_json::json!({"name": "dots", "paths": ["~/.zshrc"]});
        let mut pull = cfg.clone();
        pull["direction"] = serde_json::json!("pull");
        let server = machine(dir.path(), "server", &remote, pull);
        let desktop = machine(dir.path(), "desktop", &remote, cfg);
        desktop.write(".zshrc", FIVE);
        desktop.sync();
        server.sync();
        let first = git(&remote, &["rev-parse", "main"]);
        server.write(".zshrc", "ONE\ntwo\nthree\nfour\nfive\n");
        desktop.write(".zshrc", "one\ntwo\nthree\nfour\nFIVE\n");
        desktop.sync();
        die_at(&server, kill);
        let server = server.restart();
        server
            .engine
            .restore(&server.cfg, ".zshrc", first.trim())
            .unwrap();
        assert_eq!(server.read(".zshrc"), FIVE);
        let (r, ev) = server.sync_with(&dotsync_engine::SyncOptions::default());
        let want = if kill == "sync::before-record" {
            FIVE
        } else {
            // Not written: the restore is the person's edit of the server's own line one,
            // which had not seen the desktop's line five yet.
            "one\ntwo\nthree\nfour\nFIVE\n"
        };
        assert_eq!(
            server.read(".zshrc"),
            want,
            "{kill}: {r:?} {:?}",
            actions(&ev)
        );
        let tip = git(&remote, &["show", "main:.zshrc"]);
        assert_eq!(tip, "one\ntwo\nthree\nfour\nFIVE\n", "{kill}");
    }
}

/// Two pulls killed in a row: the first (the desktop's line five) written, the second (the
/// desktop's line one, on top) killed before its write, so the home holds the first. The
/// person restores the original version: that is the person's edit of the first pull; the
/// desktop's line one, which this home never held, is merged in, line five is not.
#[test]
fn a_restore_after_two_killed_pulls_merges_only_the_unseen_edit() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two(dir.path());
    a.write(".zshrc", FIVE);
    a.sync();
    b.sync();
    let first = git(&remote_dir(dir.path()), &["rev-parse", "main"]);
    b.write(".zshrc", "one\ntwo\nthree\nfour\nFIVE\n");
    b.sync();
    die_at(&a, "sync::before-record");
    let a = a.restart();
    b.write(".zshrc", "ONE\ntwo\nthree\nfour\nFIVE\n");
    b.sync();
    die_at(&a, "apply::temp-written");
    let a = a.restart();
    assert_eq!(a.read(".zshrc"), "one\ntwo\nthree\nfour\nFIVE\n");
    a.engine.restore(&a.cfg, ".zshrc", first.trim()).unwrap();
    let (r, ev) = a.sync_with(&dotsync_engine::SyncOptions::default());
    let want = "ONE\ntwo\nthree\nfour\nfive\n";
    let tip = git(&remote_dir(dir.path()), &["show", "main:.zshrc"]);
    assert_eq!(
        (a.read(".zshrc"), tip),
        (want.to_owned(), want.to_owned()),
        "{r:?} {:?}",
        actions(&ev)
    );
}

/// The laptop's merge of its line one with the desktop's line five is pushed, and its sync
/// killed before the merge is written: the home still holds the laptop's edit. The person
/// restores the original version over it: that is the person's edit of the laptop's version
/// (line one taken back), the desktop's line five, which this home never held, merged in.
#[test]
fn a_restore_over_a_pushed_merge_not_written_keeps_the_desktops_line() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two(dir.path());
    a.write(".zshrc", FIVE);
    a.sync();
    b.sync();
    let first = git(&remote_dir(dir.path()), &["rev-parse", "main"]);
    b.write(".zshrc", "one\ntwo\nthree\nfour\nFIVE\n");
    b.sync();
    a.write(".zshrc", "ONE\ntwo\nthree\nfour\nfive\n");
    die_at(&a, "apply::temp-written");
    let a = a.restart();
    assert_eq!(
        a.read(".zshrc"),
        "ONE\ntwo\nthree\nfour\nfive\n",
        "not written"
    );
    a.engine.restore(&a.cfg, ".zshrc", first.trim()).unwrap();
    let (r, ev) = a.sync_with(&dotsync_engine::SyncOptions::default());
    b.sync();
    let want = "one\ntwo\nthree\nfour\nFIVE\n";
    let tip = git(&remote_dir(dir.path()), &["show", "main:.zshrc"]);
    assert_eq!(
        (a.read(".zshrc"), tip, b.read(".zshrc")),
        (want.to_owned(), want.to_owned(), want.to_owned()),
        "{r:?} {:?}",
        actions(&ev)
    );
    assert!(history_blobs(&a, ".zshrc").contains(&Some(blob_of("ONE\ntwo\nthree\nfour\nfive\n"))));
}

/// A restore after a killed pushed merge (as in
/// `a_restore_after_a_killed_pushed_merge_is_pushed_as_it_is`), then the sync that pushes it
/// killed at each step, then one more sync: the restore is out, as it is.
#[test]
fn a_restore_after_a_killed_pushed_merge_survives_a_second_kill() {
    for point in POINTS {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = two(dir.path());
        a.write(".zshrc", FIVE);
        a.sync();
        b.sync();
        let first = git(&remote_dir(dir.path()), &["rev-parse", "main"]);
        b.write(".zshrc", "one\ntwo\nthree\nfour\nFIVE\n");
        b.sync();
        a.write(".zshrc", "ONE\ntwo\nthree\nfour\nfive\n");
        die_at(&a, "sync::before-record");
        let a = a.restart();
        a.engine.restore(&a.cfg, ".zshrc", first.trim()).unwrap();
        b.write(".config/nvim/other.lua", "desktop again\n");
        b.sync();
        let scenario = fail::FailScenario::setup();
        fail::cfg(*point, "panic").unwrap();
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            a.sync_with(&dotsync_engine::SyncOptions::default())
        }));
        fail::remove(*point);
        scenario.teardown();
        let a = a.restart();
        let (r, ev) = a.sync_with(&dotsync_engine::SyncOptions::default());
        let tip = git(&remote_dir(dir.path()), &["show", "main:.zshrc"]);
        assert_eq!(
            (a.read(".zshrc"), tip),
            (FIVE.to_owned(), FIVE.to_owned()),
            "{point}: the restore was undone: {r:?} {:?}",
            actions(&ev)
        );
    }
}

/// A restore of a file whose deletion a killed pull made, then the sync that pushes it killed
/// at each step, then one more sync: the file is back on the remote.
#[test]
fn a_restore_of_a_killed_deletion_survives_a_second_kill() {
    for point in POINTS {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = two(dir.path());
        a.write(".zshrc", FIVE);
        a.write(".config/nvim/init.lua", "init\n");
        a.sync();
        b.sync();
        let first = git(&remote_dir(dir.path()), &["rev-parse", "main"]);
        std::fs::remove_file(b.home.join(".zshrc")).unwrap();
        b.sync();
        die_at(&a, "sync::before-record");
        let a = a.restart();
        a.engine.restore(&a.cfg, ".zshrc", first.trim()).unwrap();
        b.write(".config/nvim/other.lua", "desktop again\n");
        b.sync();
        let scenario = fail::FailScenario::setup();
        fail::cfg(*point, "panic").unwrap();
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            a.sync_with(&dotsync_engine::SyncOptions::default())
        }));
        fail::remove(*point);
        scenario.teardown();
        let a = a.restart();
        let (r, ev) = a.sync_with(&dotsync_engine::SyncOptions::default());
        let tip = git(&remote_dir(dir.path()), &["show", "main:.zshrc"]);
        assert_eq!(
            (a.read(".zshrc"), tip),
            (FIVE.to_owned(), FIVE.to_owned()),
            "{point}: the restore was undone: {r:?} {:?}",
            actions(&ev)
        );
    }
}

/// A restore after a killed pushed merge, then the person's edit of line three, and the
/// desktop's newer edit of line one meanwhile: the restore-then-edit is the person's edit of
/// the merge; the desktop's newer line one conflicts with it (both changed line one), it is
/// not pushed over.
#[test]
fn a_restore_then_edit_after_a_killed_pushed_merge_does_not_push_over_a_newer_edit() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two(dir.path());
    a.write(".zshrc", FIVE);
    a.sync();
    b.sync();
    let first = git(&remote_dir(dir.path()), &["rev-parse", "main"]);
    b.write(".zshrc", "one\ntwo\nthree\nfour\nFIVE\n");
    b.sync();
    a.write(".zshrc", "ONE\ntwo\nthree\nfour\nfive\n");
    die_at(&a, "sync::before-record");
    let a = a.restart();
    b.sync();
    b.write(".zshrc", "One!\ntwo\nthree\nfour\nFIVE\n");
    b.sync();
    a.engine.restore(&a.cfg, ".zshrc", first.trim()).unwrap();
    a.write(".zshrc", "one\ntwo\nTHREE\nfour\nfive\n");
    let (r, ev) = a.sync_with(&dotsync_engine::SyncOptions::default());
    let tip = git(&remote_dir(dir.path()), &["show", "main:.zshrc"]);
    assert_eq!(
        tip,
        "One!\ntwo\nthree\nfour\nFIVE\n",
        "{r:?} {:?}",
        actions(&ev)
    );
    assert_eq!(a.read(".zshrc"), "one\ntwo\nTHREE\nfour\nfive\n");
    assert_eq!(r.unwrap().conflicts, 1, "{:?}", actions(&ev));
}

/// A pull-only server (`on_conflict = local`) keeps its own line five over the desktop's
/// (killed before its record), then merges the desktop's next edit (line one) into it, killed
/// before that write. The person restores the original version: the server holds it as the
/// person's edit of its own file, with the desktop's line one (never seen here) merged in and
/// the desktop's line five not.
#[test]
fn a_restore_on_a_pull_machine_after_two_kills_merges_only_the_unseen_edit() {
    let dir = tempfile::tempdir().unwrap();
    let remote = bare(dir.path());
    let cfg = serde_json::json!({"name": "dots", "paths": ["~/.zshrc"]});
    let mut pull = cfg.clone();
    pull["direction"] = serde_json::json!("pull");
    pull["on_conflict"] = serde_json::json!("local");
    let server = machine(dir.path(), "server", &remote, pull);
    let desktop = machine(dir.path(), "desktop", &remote, cfg);
    desktop.write(".zshrc", FIVE);
    desktop.sync();
    server.sync();
    let first = git(&remote, &["rev-parse", "main"]);
    let mine = "one\ntwo\nthree\nfour\nfive (server)\n";
    server.write(".zshrc", mine);
    desktop.write(".zshrc", "one\ntwo\nthree\nfour\nFIVE\n");
    desktop.sync();
    die_at(&server, "sync::before-record");
    let server = server.restart();
    assert_eq!(server.read(".zshrc"), mine);
    desktop.write(".zshrc", "ONE\ntwo\nthree\nfour\nFIVE\n");
    desktop.sync();
    die_at(&server, "apply::temp-written");
    let server = server.restart();
    assert_eq!(server.read(".zshrc"), mine, "not written");
    server
        .engine
        .restore(&server.cfg, ".zshrc", first.trim())
        .unwrap();
    let (r, ev) = server.sync_with(&dotsync_engine::SyncOptions::default());
    assert_eq!(
        server.read(".zshrc"),
        "ONE\ntwo\nthree\nfour\nfive\n",
        "{r:?} {:?}",
        actions(&ev)
    );
}

/// Pull-only server: its pull of the desktop's line five is killed before its record; the
/// person restores the original version (the restore is held as the person's edit). The
/// next sync holds it (a settle row replaces the marked row) and is killed before its record
/// too; the person then edits line one. The restore must stay: line five is the person's.
#[test]
fn pull_machine_restore_then_killed_hold_then_edit_keeps_the_restore() {
    let dir = tempfile::tempdir().unwrap();
    let (server, desktop, remote) = pull_server(dir.path(), None);
    let first = git(&remote, &["rev-parse", "main"]);
    desktop.write(".zshrc", "one\ntwo\nthree\nfour\nFIVE\n");
    desktop.sync();
    die_at(&server, "sync::before-record");
    let server = server.restart();
    assert_eq!(server.read(".zshrc"), "one\ntwo\nthree\nfour\nFIVE\n");
    server
        .engine
        .restore(&server.cfg, ".zshrc", first.trim())
        .unwrap();
    assert_eq!(server.read(".zshrc"), FIVE);
    // Something else to pull, so that the next sync has a reason to run to its record.
    desktop.write(".config/nvim/init.lua", "desktop\n");
    desktop.sync();
    die_at(&server, "sync::before-record");
    let server = server.restart();
    assert_eq!(server.read(".zshrc"), FIVE, "held");
    let mine = "ONE\ntwo\nthree\nfour\nfive\n";
    server.write(".zshrc", mine);
    let (r, ev) = server.sync_with(&dotsync_engine::SyncOptions::default());
    assert_eq!(
        server.read(".zshrc"),
        mine,
        "the restore was undone: {r:?} {:?}",
        actions(&ev)
    );
}

/// Pull-only server with `on_conflict = local`: its pull of the desktop's line five is killed
/// before its record; the person restores the original version; the desktop changes line
/// five again. The next sync keeps the server's version (`on_conflict = local`: a settle row
/// with the remote's version as base replaces the marked row) and is killed before its
/// record; the person edits line one. The restored line five must stay.
#[test]
fn pull_keep_local_restore_then_killed_keep_then_edit_keeps_the_restore() {
    let dir = tempfile::tempdir().unwrap();
    let (server, desktop, remote) = pull_server(dir.path(), Some("local"));
    let first = git(&remote, &["rev-parse", "main"]);
    desktop.write(".zshrc", "one\ntwo\nthree\nfour\nFIVE\n");
    desktop.sync();
    die_at(&server, "sync::before-record");
    let server = server.restart();
    server
        .engine
        .restore(&server.cfg, ".zshrc", first.trim())
        .unwrap();
    assert_eq!(server.read(".zshrc"), FIVE);
    desktop.write(".zshrc", "one\ntwo\nthree\nfour\nFIVE!\n");
    desktop.sync();
    die_at(&server, "sync::before-record");
    let server = server.restart();
    assert_eq!(server.read(".zshrc"), FIVE, "kept");
    let mine = "ONE\ntwo\nthree\nfour\nfive\n";
    server.write(".zshrc", mine);
    let (r, ev) = server.sync_with(&dotsync_engine::SyncOptions::default());
    assert_eq!(
        server.read(".zshrc"),
        mine,
        "the restore was undone: {r:?} {:?}",
        actions(&ev)
    );
}

/// The same pull-only restore, with the sync after it recorded (not killed), then the edit
/// of line one: the restore stays.
#[test]
fn pull_machine_restore_then_hold_then_edit() {
    let dir = tempfile::tempdir().unwrap();
    let (server, desktop, remote) = pull_server(dir.path(), None);
    let first = git(&remote, &["rev-parse", "main"]);
    desktop.write(".zshrc", "one\ntwo\nthree\nfour\nFIVE\n");
    desktop.sync();
    die_at(&server, "sync::before-record");
    let server = server.restart();
    server
        .engine
        .restore(&server.cfg, ".zshrc", first.trim())
        .unwrap();
    desktop.write(".config/nvim/init.lua", "desktop\n");
    desktop.sync();
    server.sync();
    let mine = "ONE\ntwo\nthree\nfour\nfive\n";
    server.write(".zshrc", mine);
    let (r, ev) = server.sync_with(&dotsync_engine::SyncOptions::default());
    assert_eq!(server.read(".zshrc"), mine, "{r:?} {:?}", actions(&ev));
}

/// Binary: the desktop's new version of a binary file is pulled, killed before the record;
/// the person restores the original; the next sync pushes it as it is.
#[test]
fn binary_restore_after_killed_pull_is_pushed() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two(dir.path());
    let p = ".config/nvim/blob.bin";
    let one: Vec<u8> = vec![0, 1, 2, 3, 0, 255, 10];
    let two_: Vec<u8> = vec![0, 1, 2, 3, 0, 254, 10];
    std::fs::create_dir_all(a.home.join(".config/nvim")).unwrap();
    std::fs::write(a.home.join(p), &one).unwrap();
    a.sync();
    b.sync();
    let first = git(&remote_dir(dir.path()), &["rev-parse", "main"]);
    std::fs::write(b.home.join(p), &two_).unwrap();
    b.sync();
    die_at(&a, "sync::before-record");
    let a = a.restart();
    assert_eq!(std::fs::read(a.home.join(p)).unwrap(), two_);
    a.engine.restore(&a.cfg, p, first.trim()).unwrap();
    let (r, ev) = a.sync_with(&dotsync_engine::SyncOptions::default());
    b.sync();
    assert_eq!(
        (
            std::fs::read(a.home.join(p)).unwrap(),
            std::fs::read(b.home.join(p)).unwrap()
        ),
        (one.clone(), one.clone()),
        "{r:?} {:?}",
        actions(&ev)
    );
}

/// The desktop changes line five again after the laptop's restore: both changed line five,
/// a conflict, both kept (the laptop keeps its restore, the remote the desktop's line).
#[test]
fn restore_then_desktop_changes_same_line_is_a_conflict() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two(dir.path());
    a.write(".zshrc", FIVE);
    a.sync();
    b.sync();
    let first = git(&remote_dir(dir.path()), &["rev-parse", "main"]);
    b.write(".zshrc", "one\ntwo\nthree\nfour\nFIVE\n");
    b.sync();
    die_at(&a, "sync::before-record");
    let a = a.restart();
    a.engine.restore(&a.cfg, ".zshrc", first.trim()).unwrap();
    b.write(".zshrc", "one\ntwo\nthree\nfour\n5!\n");
    b.sync();
    let (r, ev) = a.sync_with(&dotsync_engine::SyncOptions::default());
    let tip = git(&remote_dir(dir.path()), &["show", "main:.zshrc"]);
    assert_eq!(a.read(".zshrc"), FIVE, "{r:?} {:?}", actions(&ev));
    assert_eq!(tip, "one\ntwo\nthree\nfour\n5!\n");
    assert_eq!(r.unwrap().conflicts, 1, "{:?}", actions(&ev));
}

/// The laptop's killed pull; the person edits line one and that push lands (sync killed
/// after the push); the person restores the original; the remote then loses the laptop's
/// push (moved back to the desktop's commit). The restore is pushed as it is (or a rewind
/// is asked); the desktop's line five is not pulled back over it.
#[test]
fn restore_after_a_landed_push_the_remote_then_lost() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two(dir.path());
    a.write(".zshrc", FIVE);
    a.sync();
    b.sync();
    let first = git(&remote_dir(dir.path()), &["rev-parse", "main"]);
    b.write(".zshrc", "one\ntwo\nthree\nfour\nFIVE\n");
    b.sync();
    let desktops = git(&remote_dir(dir.path()), &["rev-parse", "main"]);
    die_at(&a, "sync::before-record");
    let a = a.restart();
    a.write(".zshrc", "ONE\ntwo\nthree\nfour\nFIVE\n");
    die_at(&a, "sync::after-push");
    let a = a.restart();
    a.engine.restore(&a.cfg, ".zshrc", first.trim()).unwrap();
    move_main_back(dir.path(), &desktops);
    let (r, ev) = a.sync_with(&dotsync_engine::SyncOptions::default());
    if let Err(dotsync_engine::SyncError::Rewound { .. }) = r {
        assert_eq!(a.read(".zshrc"), FIVE);
        return;
    }
    let tip = git(&remote_dir(dir.path()), &["show", "main:.zshrc"]);
    assert_eq!(
        (a.read(".zshrc"), tip),
        (FIVE.to_owned(), FIVE.to_owned()),
        "{r:?} {:?}",
        actions(&ev)
    );
}

/// Pull-only server: killed pull of line five, restore, then the desktop changes line one;
/// the server's pull-only merge is killed before its write; the person edits line three.
/// The server keeps its restore of line five, gets the desktop's line one.
#[test]
fn pull_machine_restore_then_merge_killed_before_write_then_edit() {
    let dir = tempfile::tempdir().unwrap();
    let remote = bare(dir.path());
    let cfg = serde_json::json!({"name": "dots", "paths": ["~/.zshrc"]});
    let mut pull = cfg.clone();
    pull["direction"] = serde_json::json!("pull");
    let server = machine(dir.path(), "server", &remote, pull);
    let desktop = machine(dir.path(), "desktop", &remote, cfg);
    desktop.write(".zshrc", FIVE);
    desktop.sync();
    server.sync();
    let first = git(&remote, &["rev-parse", "main"]);
    desktop.write(".zshrc", "one\ntwo\nthree\nfour\nFIVE\n");
    desktop.sync();
    die_at(&server, "sync::before-record");
    let server = server.restart();
    server
        .engine
        .restore(&server.cfg, ".zshrc", first.trim())
        .unwrap();
    desktop.write(".zshrc", "ONE\ntwo\nthree\nfour\nFIVE\n");
    desktop.sync();
    die_at(&server, "apply::temp-written");
    let server = server.restart();
    assert_eq!(server.read(".zshrc"), FIVE, "not written");
    server.write(".zshrc", "one\ntwo\nTHREE\nfour\nfive\n");
    let (r, ev) = server.sync_with(&dotsync_engine::SyncOptions::default());
    assert_eq!(
        server.read(".zshrc"),
        "ONE\ntwo\nTHREE\nfour\nfive\n",
        "{r:?} {:?}",
        actions(&ev)
    );
}

/// A restore after a killed pull, then a sync that does not plan the file (too large for a
/// moment: the marked row is kept), while the desktop edits line one; then the file is back:
/// the restore is pushed with the desktop's line one merged, line five stays the person's.
#[test]
fn restore_kept_row_across_a_sync_that_skips_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two(dir.path());
    a.write(".zshrc", FIVE);
    a.sync();
    b.sync();
    let first = git(&remote_dir(dir.path()), &["rev-parse", "main"]);
    b.write(".zshrc", "one\ntwo\nthree\nfour\nFIVE\n");
    b.sync();
    die_at(&a, "sync::before-record");
    let a = a.restart();
    a.engine.restore(&a.cfg, ".zshrc", first.trim()).unwrap();
    make_huge(&a, ".zshrc");
    b.write(".config/nvim/init.lua", "x\n");
    b.sync();
    a.sync();
    shrink_back(&a, ".zshrc", FIVE);
    b.write(".zshrc", "ONE\ntwo\nthree\nfour\nFIVE\n");
    b.sync();
    let (r, ev) = a.sync_with(&dotsync_engine::SyncOptions::default());
    let want = "ONE\ntwo\nthree\nfour\nfive\n";
    let tip = git(&remote_dir(dir.path()), &["show", "main:.zshrc"]);
    assert_eq!(
        (a.read(".zshrc"), tip),
        (want.to_owned(), want.to_owned()),
        "{r:?} {:?}",
        actions(&ev)
    );
}

/// Push-only laptop: both machines make the same edit; the laptop's settle is killed before
/// its record; the person restores the original; the next sync pushes it.
#[test]
fn push_machine_restore_after_killed_settle_is_pushed() {
    let dir = tempfile::tempdir().unwrap();
    let remote = bare(dir.path());
    let cfg = serde_json::json!({"name": "dots", "paths": ["~/.zshrc", "~/.config/nvim"]});
    let mut push = cfg.clone();
    push["direction"] = serde_json::json!("push");
    let laptop = machine(dir.path(), "laptop", &remote, push);
    let desktop = machine(dir.path(), "desktop", &remote, cfg);
    laptop.write(".zshrc", FIVE);
    laptop.sync();
    desktop.sync();
    let first = git(&remote, &["rev-parse", "main"]);
    let same = "one\ntwo\nthree\nfour\nFIVE\n";
    desktop.write(".zshrc", same);
    desktop.sync();
    laptop.write(".zshrc", same);
    die_at(&laptop, "sync::before-record");
    let laptop = laptop.restart();
    laptop
        .engine
        .restore(&laptop.cfg, ".zshrc", first.trim())
        .unwrap();
    let (r, ev) = laptop.sync_with(&dotsync_engine::SyncOptions::default());
    let tip = git(&remote, &["show", "main:.zshrc"]);
    assert_eq!(
        (laptop.read(".zshrc"), tip),
        (FIVE.to_owned(), FIVE.to_owned()),
        "{r:?} {:?}",
        actions(&ev)
    );
}

/// Makes the `pulled` rows of `m` look like rows a dotsync from before 1cb65c9 wrote (no
/// `held_*`, no `planned_on`/`planned_url`, no `written_from`): that dotsync wrote a plain
/// write row with `held` NULL.
fn as_rows_of_before_held(m: &Machine) {
    let db = dotsync_state::Layout::new(m.home.join(".dotsync")).db_path();
    let c = rusqlite::Connection::open(db).unwrap();
    c.execute_batch(
        "UPDATE pulled SET held_kind = NULL, held_blob = NULL, held_mode = NULL,
           held_base_kind = NULL, held_base_blob = NULL, held_base_mode = NULL,
           held_alt_kind = NULL, held_alt_blob = NULL, held_alt_mode = NULL, held_on = '',
           planned_on = '', planned_url = '';
         DELETE FROM written_from;",
    )
    .unwrap();
}

/// Upgrade with a killed pull: a dotsync from before 1cb65c9 (held NULL on plain write rows,
/// same schema up to migration 8) announced the pull of the desktop's line five and was killed
/// before writing it; the new dotsync starts. The home still holds the old version (the
/// person may edit line one). The row has no `held` as a settle row has none, but it is no
/// settle: the desktop's line is pulled (read as one, the old home would read as the person's
/// edit of the desktop's version and be pushed over it).
#[test]
fn legacy_write_row_killed_before_its_write_is_not_read_as_a_settle() {
    for edit in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = desktop_edited_line_five(dir.path());
        die_at(&a, "apply::temp-written");
        let a = a.restart();
        assert_eq!(a.read(".zshrc"), FIVE, "not written");
        as_rows_of_before_held(&a);
        let want = if edit {
            a.write(".zshrc", "ONE\ntwo\nthree\nfour\nfive\n");
            "ONE\ntwo\nthree\nfour\nFIVE\n"
        } else {
            "one\ntwo\nthree\nfour\nFIVE\n"
        };
        let (r, ev) = a.sync_with(&dotsync_engine::SyncOptions::default());
        let tip = git(&remote_dir(dir.path()), &["show", "main:.zshrc"]);
        assert_eq!(
            (a.read(".zshrc"), tip),
            (want.to_owned(), want.to_owned()),
            "edit {edit}: the desktop's line five was pushed over: {r:?} {:?}",
            actions(&ev)
        );
        b.sync();
        assert_eq!(b.read(".zshrc"), want);
    }
}

/// Upgrade with a killed merge: a dotsync from before migration 6 (a `pulled` row was only the
/// version to be written: no `held`, no `merge_commit`) merged the laptop's line one with the
/// desktop's line five, pushed the merge and was killed before writing it; the new dotsync
/// starts. The merge is written here (read as a settle, the merge input would read as the
/// person's edit of the merge and be pushed over it).
#[test]
fn legacy_row_of_a_pushed_merge_killed_before_its_write_is_not_read_as_a_settle() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = desktop_edited_line_five(dir.path());
    a.write(".zshrc", "ONE\ntwo\nthree\nfour\nfive\n");
    die_at(&a, "apply::temp-written");
    let a = a.restart();
    assert_eq!(
        a.read(".zshrc"),
        "ONE\ntwo\nthree\nfour\nfive\n",
        "not written"
    );
    let merged = "ONE\ntwo\nthree\nfour\nFIVE\n";
    assert_eq!(
        git(&remote_dir(dir.path()), &["show", "main:.zshrc"]),
        merged
    );
    as_rows_of_before_held(&a);
    let db = dotsync_state::Layout::new(a.home.join(".dotsync")).db_path();
    rusqlite::Connection::open(db)
        .unwrap()
        .execute_batch(
            "UPDATE pulled SET merge_commit = '', merged_on = '', base_kind = NULL,
               base_blob = NULL, base_mode = NULL;",
        )
        .unwrap();
    let (r, ev) = a.sync_with(&dotsync_engine::SyncOptions::default());
    let tip = git(&remote_dir(dir.path()), &["show", "main:.zshrc"]);
    assert_eq!(
        (a.read(".zshrc"), tip),
        (merged.to_owned(), merged.to_owned()),
        "the desktop's line five was pushed over: {r:?} {:?}",
        actions(&ev)
    );
    b.sync();
    assert_eq!(b.read(".zshrc"), merged, "the desktop keeps the merge");
}

/// A pull-only server (with `on_conflict` when given) and a desktop, both on `FIVE` in
/// `~/.zshrc` (their config has `~/.config/nvim` too): the server, the desktop, the remote.
fn pull_server(
    dir: &std::path::Path,
    on_conflict: Option<&str>,
) -> (Machine, Machine, std::path::PathBuf) {
    let remote = bare(dir);
    let cfg = serde_json::json!({"name": "dots", "paths": ["~/.zshrc", "~/.config/nvim"]});
    let mut pull = cfg.clone();
    pull["direction"] = serde_json::json!("pull");
    if let Some(on_conflict) = on_conflict {
        pull["on_conflict"] = serde_json::json!(on_conflict);
    }
    let server = machine(dir, "server", &remote, pull);
    let desktop = machine(dir, "desktop", &remote, cfg);
    desktop.write(".zshrc", FIVE);
    desktop.sync();
    server.sync();
    (server, desktop, remote)
}

/// Push-only laptop and the desktop make the same edit; the laptop's settle (`InSync`, base
/// brought forward) is killed or recorded; the person reverts it. The push machine pushes
/// its revert (as the recorded settle does).
#[test]
fn push_machine_same_edit_settle_then_revert_is_pushed() {
    for kill in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let remote = bare(dir.path());
        let cfg = serde_json::json!({"name": "dots", "paths": ["~/.zshrc", "~/.config/nvim"]});
        let mut push = cfg.clone();
        push["direction"] = serde_json::json!("push");
        let laptop = machine(dir.path(), "laptop", &remote, push);
        let desktop = machine(dir.path(), "desktop", &remote, cfg);
        laptop.write(".zshrc", FIVE);
        laptop.sync();
        desktop.sync();
        let same = "one\ntwo\nthree\nfour\nFIVE\n";
        desktop.write(".zshrc", same);
        desktop.sync();
        laptop.write(".zshrc", same);
        let laptop = if kill {
            die_at(&laptop, "sync::before-record");
            laptop.restart()
        } else {
            laptop.sync();
            laptop
        };
        laptop.write(".zshrc", FIVE);
        let (r, ev) = laptop.sync_with(&dotsync_engine::SyncOptions::default());
        let tip = git(&remote, &["show", "main:.zshrc"]);
        assert_eq!(tip, FIVE, "kill {kill}: {r:?} {:?}", actions(&ev));
    }
}

/// Pull-only server, `on_conflict = local`: both change line five, the server keeps its own
/// (settle row: its file, base the desktop's version), killed or recorded; the desktop then
/// changes line one, the person line three. The server merges the desktop's line one only.
#[test]
fn pull_keep_local_settle_then_both_edit_other_lines() {
    for kill in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let (server, desktop, _remote) = pull_server(dir.path(), Some("local"));
        desktop.write(".zshrc", "one\ntwo\nthree\nfour\nFIVE\n");
        desktop.sync();
        server.write(".zshrc", "one\ntwo\nthree\nfour\n5!\n");
        let server = if kill {
            die_at(&server, "sync::before-record");
            server.restart()
        } else {
            server.sync();
            server
        };
        desktop.write(".zshrc", "ONE\ntwo\nthree\nfour\nFIVE\n");
        desktop.sync();
        server.write(".zshrc", "one\ntwo\nTHREE\nfour\n5!\n");
        let (r, ev) = server.sync_with(&dotsync_engine::SyncOptions::default());
        assert_eq!(
            server.read(".zshrc"),
            "ONE\ntwo\nTHREE\nfour\n5!\n",
            "kill {kill}: {r:?} {:?}",
            actions(&ev)
        );
        assert_eq!(r.unwrap().conflicts, 0, "kill {kill}");
    }
}

/// Same keep-local settle, killed or recorded; the person deletes the file; the desktop
/// changes line one. Whatever the recorded sync does, the killed one does too.
#[test]
fn pull_keep_local_settle_then_person_deletes() {
    let mut outs = Vec::new();
    for kill in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let (server, desktop, remote) = pull_server(dir.path(), Some("local"));
        desktop.write(".zshrc", "one\ntwo\nthree\nfour\nFIVE\n");
        desktop.sync();
        server.write(".zshrc", "one\ntwo\nthree\nfour\n5!\n");
        let server = if kill {
            die_at(&server, "sync::before-record");
            server.restart()
        } else {
            server.sync();
            server
        };
        std::fs::remove_file(server.home.join(".zshrc")).unwrap();
        let (r1, _) = server.sync_with(&dotsync_engine::SyncOptions::default());
        let here1 = std::fs::read_to_string(server.home.join(".zshrc")).ok();
        desktop.write(".zshrc", "ONE\ntwo\nthree\nfour\nFIVE\n");
        desktop.sync();
        let (r2, ev) = server.sync_with(&dotsync_engine::SyncOptions::default());
        let here2 = std::fs::read_to_string(server.home.join(".zshrc")).ok();
        let tip = git(&remote, &["show", "main:.zshrc"]);
        outs.push((
            here1,
            r1.map(|s| s.conflicts).ok(),
            here2,
            r2.map(|s| s.conflicts).ok(),
            tip,
            actions(&ev),
        ));
    }
    assert_eq!(outs[0], outs[1]);
}

/// Both machines make the same change of line five; the laptop's settle (base brought
/// forward) is killed or recorded; the desktop takes its change back, the person edits line
/// one. The laptop merges: its line one, the desktop's take-back.
#[test]
fn same_change_settle_then_desktop_reverts_and_person_edits() {
    for kill in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = desktop_edited_line_five(dir.path());
        a.write(".zshrc", "one\ntwo\nthree\nfour\nFIVE\n");
        let a = if kill {
            die_at(&a, "sync::before-record");
            a.restart()
        } else {
            a.sync();
            a
        };
        b.write(".zshrc", FIVE);
        b.sync();
        a.write(".zshrc", "ONE\ntwo\nthree\nfour\nFIVE\n");
        let (r, ev) = a.sync_with(&dotsync_engine::SyncOptions::default());
        let want = "ONE\ntwo\nthree\nfour\nfive\n";
        let tip = git(&remote_dir(dir.path()), &["show", "main:.zshrc"]);
        assert_eq!(
            (a.read(".zshrc"), tip),
            (want.to_owned(), want.to_owned()),
            "kill {kill}: {r:?} {:?}",
            actions(&ev)
        );
    }
}

/// Keep-local settle killed or recorded; the person restores the original, edits line one;
/// the desktop edits line three. The server merges line three only; its line five stays.
#[test]
fn pull_keep_local_settle_then_restore_edit_and_desktop_edit() {
    for kill in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let (server, desktop, remote) = pull_server(dir.path(), Some("local"));
        let first = git(&remote, &["rev-parse", "main"]);
        desktop.write(".zshrc", "one\ntwo\nthree\nfour\nFIVE\n");
        desktop.sync();
        server.write(".zshrc", "one\ntwo\nthree\nfour\n5!\n");
        let server = if kill {
            die_at(&server, "sync::before-record");
            server.restart()
        } else {
            server.sync();
            server
        };
        server
            .engine
            .restore(&server.cfg, ".zshrc", first.trim())
            .unwrap();
        server.write(".zshrc", "ONE\ntwo\nthree\nfour\nfive\n");
        desktop.write(".zshrc", "one\ntwo\nTHREE\nfour\nFIVE\n");
        desktop.sync();
        let (r, ev) = server.sync_with(&dotsync_engine::SyncOptions::default());
        assert_eq!(
            server.read(".zshrc"),
            "ONE\ntwo\nTHREE\nfour\nfive\n",
            "kill {kill}: {r:?} {:?}",
            actions(&ev)
        );
    }
}

/// Keep-local settle killed or recorded; a recorded sync skips the file (too large: the
/// row is kept) while the desktop changes line one; the file is back and the person edits
/// line three. The server merges line one; its line five stays.
#[test]
fn pull_keep_local_settle_kept_row_across_a_skip_then_edits() {
    for kill in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let (server, desktop, _remote) = pull_server(dir.path(), Some("local"));
        desktop.write(".zshrc", "one\ntwo\nthree\nfour\nFIVE\n");
        desktop.sync();
        let mine = "one\ntwo\nthree\nfour\n5!\n";
        server.write(".zshrc", mine);
        let server = if kill {
            die_at(&server, "sync::before-record");
            server.restart()
        } else {
            server.sync();
            server
        };
        make_huge(&server, ".zshrc");
        desktop.write(".zshrc", "ONE\ntwo\nthree\nfour\nFIVE\n");
        desktop.write(".config/nvim/init.lua", "x\n");
        desktop.sync();
        server.sync();
        shrink_back(&server, ".zshrc", mine);
        server.write(".zshrc", "one\ntwo\nTHREE\nfour\n5!\n");
        let (r, ev) = server.sync_with(&dotsync_engine::SyncOptions::default());
        assert_eq!(
            server.read(".zshrc"),
            "ONE\ntwo\nTHREE\nfour\n5!\n",
            "kill {kill}: {r:?} {:?}",
            actions(&ev)
        );
    }
}

/// Keep-local settle killed or recorded; the desktop changes line one; the server's merge of
/// it is killed before its write (a write row replaces the settle row, carrying its base as
/// held); the person edits line three. The server merges line one; its line five stays.
#[test]
fn pull_keep_local_settle_then_merge_killed_before_write_then_edit() {
    for kill in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let (server, desktop, _remote) = pull_server(dir.path(), Some("local"));
        desktop.write(".zshrc", "one\ntwo\nthree\nfour\nFIVE\n");
        desktop.sync();
        let mine = "one\ntwo\nthree\nfour\n5!\n";
        server.write(".zshrc", mine);
        let server = if kill {
            die_at(&server, "sync::before-record");
            server.restart()
        } else {
            server.sync();
            server
        };
        desktop.write(".zshrc", "ONE\ntwo\nthree\nfour\nFIVE\n");
        desktop.sync();
        die_at(&server, "apply::temp-written");
        let server = server.restart();
        assert_eq!(server.read(".zshrc"), mine);
        server.write(".zshrc", "one\ntwo\nTHREE\nfour\n5!\n");
        let (r, ev) = server.sync_with(&dotsync_engine::SyncOptions::default());
        assert_eq!(
            server.read(".zshrc"),
            "ONE\ntwo\nTHREE\nfour\n5!\n",
            "kill {kill}: {r:?} {:?}",
            actions(&ev)
        );
    }
}

/// Two configs of the laptop cover ~/.zshrc, each with its own remote (allowed: overlap is
/// refused only on the same remote). The work desktop edits line five on the work remote;
/// the laptop's pull of it (config `work`) is killed before its record (or recorded); the
/// person puts the previous version back with `dotsync restore` through the other config
/// (`dots`, whose history has it too). The restore is the person's edit: the work config
/// pushes it; it does not pull the desktop's line back over it.
#[test]
fn restore_through_another_config_after_a_killed_pull_is_the_persons_edit() {
    for kill in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let remote = bare(dir.path());
        let work_remote = bare_named(dir.path(), "work.git");
        let cfg = serde_json::json!({"name": "dots", "paths": ["~/.zshrc"]});
        let a = machine(dir.path(), "laptop", &remote, cfg);
        let work = second_config(&a, &work_remote);
        let wcfg = serde_json::json!({"name": "work", "paths": ["~/.zshrc"]});
        let b = machine(dir.path(), "desktop", &work_remote, wcfg);
        a.write(".zshrc", FIVE);
        a.sync();
        sync_cfg(&a, &work);
        let first = git(&remote, &["rev-parse", "main"]);
        b.sync();
        let pulled = "one\ntwo\nthree\nfour\nFIVE\n";
        b.write(".zshrc", pulled);
        b.sync();
        let a = if kill {
            let scenario = fail::FailScenario::setup();
            fail::cfg("sync::before-record", "panic").unwrap();
            let died = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let mut ev = Vec::new();
                a.engine
                    .sync(&work, &dotsync_engine::SyncOptions::default(), &mut |e| {
                        ev.push(e.clone());
                    })
            }));
            fail::remove("sync::before-record");
            scenario.teardown();
            assert!(died.is_err());
            a.restart()
        } else {
            sync_cfg(&a, &work);
            a
        };
        assert_eq!(a.read(".zshrc"), pulled);
        a.engine.restore(&a.cfg, ".zshrc", first.trim()).unwrap();
        assert_eq!(a.read(".zshrc"), FIVE);
        let ev = sync_cfg(&a, &work);
        let tip = git(&work_remote, &["show", "main:.zshrc"]);
        assert_eq!(
            (a.read(".zshrc"), tip),
            (FIVE.to_owned(), FIVE.to_owned()),
            "kill {kill}: the restore was undone: {ev:?}"
        );
        a.sync();
        assert_eq!(git(&remote, &["show", "main:.zshrc"]), FIVE, "kill {kill}");
    }
}

fn share_key(from: &Machine, to: &Machine) {
    let exported = from.engine.key_export("pass phrase").unwrap();
    to.engine.key_import(&exported, "pass phrase").unwrap();
}

const R16_LOCAL: &str =
    "one\n# dotsync:local-begin\nsecret laptop\n# dotsync:local-end\nthree\nfour\nfive\n";

/// A second config of the laptop (`work`, another remote) that covers the same file.
fn second_config(m: &Machine, remote: &std::path::Path) -> dotsync_core::SyncConfig {
    let input: dotsync_core::ConfigInput = serde_json::from_value(serde_json::json!({
        "name": "work", "paths": ["~/.zshrc"], "remote": remote.to_str().unwrap()}))
    .unwrap();
    let cfg = input
        .validate("cfg_00000000000000bb".into(), &m.home)
        .unwrap();
    m.store.create_config(&cfg, &m.home).unwrap();
    cfg
}

fn sync_cfg(
    m: &Machine,
    cfg: &dotsync_core::SyncConfig,
) -> Vec<(String, dotsync_engine::FileAction)> {
    let mut events = Vec::new();
    m.engine
        .sync(cfg, &dotsync_engine::SyncOptions::default(), &mut |e| {
            events.push(e.clone());
        })
        .unwrap();
    actions(&events)
}

/// Encrypted file: the desktop edits line five; the laptop's pull is killed (or recorded);
/// the person restores the first version. The next sync pushes the restore (encrypted), the
/// desktop takes it.
#[test]
fn encrypted_restore_after_killed_pull_is_pushed() {
    for kill in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let remote = bare(dir.path());
        let cfg = serde_json::json!({"name": "dots", "paths": ["~/.zshrc", "~/.npmrc"],
            "encrypt": [".npmrc"]});
        let a = machine(dir.path(), "laptop", &remote, cfg.clone());
        let b = machine(dir.path(), "desktop", &remote, cfg);
        a.engine.key_init().unwrap();
        share_key(&a, &b);
        a.write(".npmrc", FIVE);
        a.sync();
        b.sync();
        assert_eq!(b.read(".npmrc"), FIVE);
        let first = git(&remote, &["rev-parse", "main"]);
        let pulled = "one\ntwo\nthree\nfour\nFIVE\n";
        b.write(".npmrc", pulled);
        b.sync();
        let a = if kill {
            die_at(&a, "sync::before-record");
            a.restart()
        } else {
            a.sync();
            a
        };
        assert_eq!(a.read(".npmrc"), pulled);
        a.engine.restore(&a.cfg, ".npmrc", first.trim()).unwrap();
        assert_eq!(a.read(".npmrc"), FIVE);
        let mine = "ONE\ntwo\nthree\nfour\nfive\n";
        a.write(".npmrc", mine);
        let (r, ev) = a.sync_with(&dotsync_engine::SyncOptions::default());
        assert_eq!(
            a.read(".npmrc"),
            mine,
            "kill {kill}: {r:?} {:?}",
            actions(&ev)
        );
        b.sync();
        assert_eq!(
            b.read(".npmrc"),
            mine,
            "kill {kill}: the desktop takes the restore"
        );
    }
}

/// Encrypted file: the desktop edits line five; the laptop's pull is killed (or recorded);
/// the person edits line one of the pulled file, then restores the first version (the mark
/// is the person's edit, read from the store as plaintext). The restore is pushed as it is.
#[test]
fn encrypted_edit_then_restore_after_killed_pull_is_pushed() {
    for kill in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let remote = bare(dir.path());
        let cfg = serde_json::json!({"name": "dots", "paths": ["~/.zshrc", "~/.npmrc"],
            "encrypt": [".npmrc"]});
        let a = machine(dir.path(), "laptop", &remote, cfg.clone());
        let b = machine(dir.path(), "desktop", &remote, cfg);
        a.engine.key_init().unwrap();
        share_key(&a, &b);
        a.write(".npmrc", FIVE);
        a.sync();
        b.sync();
        let first = git(&remote, &["rev-parse", "main"]);
        let pulled = "one\ntwo\nthree\nfour\nFIVE\n";
        b.write(".npmrc", pulled);
        b.sync();
        let a = if kill {
            die_at(&a, "sync::before-record");
            a.restart()
        } else {
            a.sync();
            a
        };
        assert_eq!(a.read(".npmrc"), pulled);
        a.write(".npmrc", "ONE\ntwo\nthree\nfour\nFIVE\n");
        a.engine.restore(&a.cfg, ".npmrc", first.trim()).unwrap();
        assert_eq!(a.read(".npmrc"), FIVE);
        b.write(".npmrc", "one\ntwo\nTHREE\nfour\nFIVE\n");
        b.sync();
        let (r, ev) = a.sync_with(&dotsync_engine::SyncOptions::default());
        let want = "one\ntwo\nTHREE\nfour\nfive\n";
        assert_eq!(
            a.read(".npmrc"),
            want,
            "kill {kill}: {r:?} {:?}",
            actions(&ev)
        );
        b.sync();
        assert_eq!(b.read(".npmrc"), want, "kill {kill}");
    }
}

/// A file with a local-only block: the desktop edits line five; the laptop's pull is killed
/// (or recorded); the person restores the first version and edits line one. The next sync
/// pushes it (the block stays here), the desktop takes it.
#[test]
fn local_block_restore_after_killed_pull_is_pushed() {
    for kill in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = two(dir.path());
        a.write(".zshrc", R16_LOCAL);
        a.sync();
        b.sync();
        let first = git(&remote_dir(dir.path()), &["rev-parse", "main"]);
        let synced = "one\n# dotsync:local-begin\n# dotsync:local-end\nthree\nfour\nfive\n";
        assert_eq!(b.read(".zshrc"), synced);
        b.write(".zshrc", &synced.replace("five", "FIVE"));
        b.sync();
        let a = if kill {
            die_at(&a, "sync::before-record");
            a.restart()
        } else {
            a.sync();
            a
        };
        assert_eq!(a.read(".zshrc"), R16_LOCAL.replace("five", "FIVE"));
        a.engine.restore(&a.cfg, ".zshrc", first.trim()).unwrap();
        assert_eq!(a.read(".zshrc"), R16_LOCAL);
        a.write(".zshrc", &R16_LOCAL.replace("one", "ONE"));
        let (r, ev) = a.sync_with(&dotsync_engine::SyncOptions::default());
        assert_eq!(
            a.read(".zshrc"),
            R16_LOCAL.replace("one", "ONE"),
            "kill {kill}: {r:?} {:?}",
            actions(&ev)
        );
        b.sync();
        assert_eq!(
            b.read(".zshrc"),
            synced.replace("one", "ONE"),
            "kill {kill}"
        );
    }
}

/// Local-only block: the desktop edits line five; the laptop's pull is killed (or
/// recorded); the person edits line one and the block, then restores the first version; the
/// desktop edits line three. The laptop merges line three into its restore only.
#[test]
fn local_block_edit_then_restore_after_killed_pull_merges_only_the_new_line() {
    for kill in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = two(dir.path());
        a.write(".zshrc", R16_LOCAL);
        a.sync();
        b.sync();
        let first = git(&remote_dir(dir.path()), &["rev-parse", "main"]);
        let synced = "one\n# dotsync:local-begin\n# dotsync:local-end\nthree\nfour\nfive\n";
        b.write(".zshrc", &synced.replace("five", "FIVE"));
        b.sync();
        let a = if kill {
            die_at(&a, "sync::before-record");
            a.restart()
        } else {
            a.sync();
            a
        };
        a.write(
            ".zshrc",
            &R16_LOCAL
                .replace("five", "FIVE")
                .replace("one", "ONE")
                .replace("secret laptop", "secret laptop 2"),
        );
        a.engine.restore(&a.cfg, ".zshrc", first.trim()).unwrap();
        let restored = R16_LOCAL.replace("secret laptop", "secret laptop 2");
        assert_eq!(a.read(".zshrc"), restored);
        b.write(
            ".zshrc",
            &synced.replace("five", "FIVE").replace("three", "THREE"),
        );
        b.sync();
        let (r, ev) = a.sync_with(&dotsync_engine::SyncOptions::default());
        assert_eq!(
            a.read(".zshrc"),
            restored.replace("three", "THREE"),
            "kill {kill}: {r:?} {:?}",
            actions(&ev)
        );
    }
}

/// Per-machine file: the laptop has an unsynced edit of its own variant and restores the
/// desk's variant into its file (supported, see secrets.rs). The laptop's edit is kept in
/// history, but must never travel into the desk's variant (the desk's home).
#[test]
fn restore_of_another_machines_variant_does_not_push_into_that_variant() {
    const M: &str = ".config/monitors.xml";
    let dir = tempfile::tempdir().unwrap();
    let remote = bare(dir.path());
    let cfg = serde_json::json!({"name": "dots", "paths": ["~/.config", "~/.zshrc"],
        "per_machine": [".config/monitors.xml"]});
    let a = machine(dir.path(), "laptop", &remote, cfg.clone());
    let b = machine(dir.path(), "desk", &remote, cfg);
    a.write(M, "<laptop one screen/>\n");
    b.write(M, "<desk two screens/>\n");
    a.sync();
    b.sync();
    a.sync();
    let other = a
        .engine
        .history(&a.cfg, ".config/monitors.xml##machine.desk")
        .unwrap();
    a.write(M, "<laptop unsynced edit/>\n");
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
    let desk_variant = git(
        &remote,
        &["show", "main:.config/monitors.xml##machine.desk"],
    );
    assert_eq!(
        (b.read(M), desk_variant),
        (
            "<desk two screens/>\n".to_owned(),
            "<desk two screens/>\n".to_owned()
        ),
        "the laptop's own edit went into the desk's variant"
    );
}

/// Pull-only server, `on_conflict = local`: the server deletes the file while the desktop
/// edits it; the server keeps its deletion (settle row: no file, base the desktop's), killed
/// or recorded; the person creates the file again; the desktop edits line one. Whatever the
/// recorded sync does, the killed one does too.
#[test]
fn pull_keep_local_kept_deletion_then_file_made_again() {
    let mut outs = Vec::new();
    for kill in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let (server, desktop, remote) = pull_server(dir.path(), Some("local"));
        desktop.write(".zshrc", "one\ntwo\nthree\nfour\nFIVE\n");
        desktop.sync();
        std::fs::remove_file(server.home.join(".zshrc")).unwrap();
        let server = if kill {
            die_at(&server, "sync::before-record");
            server.restart()
        } else {
            server.sync();
            server
        };
        assert!(!server.home.join(".zshrc").exists());
        server.write(".zshrc", "one\ntwo\nthree\nfour\nmine\n");
        let (r1, ev1) = server.sync_with(&dotsync_engine::SyncOptions::default());
        let here1 = std::fs::read_to_string(server.home.join(".zshrc")).ok();
        desktop.write(".zshrc", "ONE\ntwo\nthree\nfour\nFIVE\n");
        desktop.sync();
        let (r2, ev) = server.sync_with(&dotsync_engine::SyncOptions::default());
        let here2 = std::fs::read_to_string(server.home.join(".zshrc")).ok();
        let tip = git(&remote, &["show", "main:.zshrc"]);
        outs.push((
            here1,
            r1.map(|s| s.conflicts).ok(),
            actions(&ev1),
            here2,
            r2.map(|s| s.conflicts).ok(),
            tip,
            actions(&ev),
        ));
    }
    assert_eq!(outs[0], outs[1]);
}

/// The laptop's pull is killed (or recorded); the person restores the first version; the
/// file is taken out of the config (a sync) and put back (a sync). Whatever the recorded
/// history does, the killed one does too.
#[test]
fn restore_after_killed_pull_then_path_out_and_back() {
    let mut outs = Vec::new();
    for kill in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = desktop_edited_line_five(dir.path());
        let first = git(&remote_dir(dir.path()), &["rev-parse", "main~1"]);
        let mut a = if kill {
            die_at(&a, "sync::before-record");
            a.restart()
        } else {
            a.sync();
            a
        };
        a.engine.restore(&a.cfg, ".zshrc", first.trim()).unwrap();
        let full = a.cfg.clone();
        let mut input: dotsync_core::ConfigInput = serde_json::from_value(serde_json::json!({
            "name": "dots", "paths": ["~/.config/nvim", "~/.ssh"],
            "remote": remote_dir(dir.path()).to_str().unwrap()}))
        .unwrap();
        input.name = "dots".into();
        let narrow = input.validate(full.id.clone(), &a.home).unwrap();
        a.cfg = narrow;
        let (r0, _) = a.sync_with(&dotsync_engine::SyncOptions::default());
        a.cfg = full;
        let (r, ev) = a.sync_with(&dotsync_engine::SyncOptions::default());
        b.sync();
        let tip = git(&remote_dir(dir.path()), &["show", "main:.zshrc"]);
        outs.push((
            r0.map(|s| s.conflicts).ok(),
            a.read(".zshrc"),
            b.read(".zshrc"),
            tip,
            r.map(|s| s.conflicts).ok(),
            actions(&ev),
        ));
    }
    assert_eq!(outs[0], outs[1]);
}

/// Line five in conflict on the laptop; the desktop then takes the laptop's version (both
/// sides agree). The laptop's sync that clears the conflict is killed before its record (or
/// records); the person edits line one; then (`again`) the desktop changes line five once
/// more, or not. The outcome is the recorded clear's: the edit is pushed (no conflict the
/// machines no longer have), and a new change of the same line on both sides is a new
/// conflict with both kept.
#[test]
fn a_conflict_cleared_by_a_killed_sync_stays_cleared() {
    for again in [false, true] {
        let mut outs = Vec::new();
        for kill in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let (a, b) = desktop_edited_line_five(dir.path());
            let mine = "one\ntwo\nthree\nfour\n5!\n";
            a.write(".zshrc", mine);
            let (s, _) = a.sync();
            assert_eq!(s.conflicts, 1);
            b.write(".zshrc", mine);
            b.sync();
            let a = if kill {
                die_at(&a, "sync::before-record");
                a.restart()
            } else {
                a.sync();
                a
            };
            if again {
                b.write(".zshrc", "one\ntwo\nthree\nfour\n5?\n");
                b.sync();
            }
            let edit = if again {
                "ONE\ntwo\nthree\nfour\n5.\n"
            } else {
                "ONE\ntwo\nthree\nfour\n5!\n"
            };
            a.write(".zshrc", edit);
            let (r, ev) = a.sync_with(&dotsync_engine::SyncOptions::default());
            let tip = git(&remote_dir(dir.path()), &["show", "main:.zshrc"]);
            let open: Vec<String> = a
                .engine
                .conflicts(std::slice::from_ref(&a.cfg))
                .unwrap()
                .into_iter()
                .map(|c| c.path)
                .collect();
            if again {
                assert_eq!(open, [".zshrc"], "kill {kill}: both changed line five");
                assert_eq!(a.read(".zshrc"), edit, "kill {kill}: kept");
            } else {
                assert_eq!(
                    (a.read(".zshrc"), tip.clone(), open.len()),
                    (edit.to_owned(), edit.to_owned(), 0),
                    "kill {kill}: {r:?} {:?}",
                    actions(&ev)
                );
            }
            outs.push((a.read(".zshrc"), tip, open, actions(&ev)));
        }
        assert_eq!(outs[0], outs[1], "again {again}: killed as recorded");
    }
}

/// A conflict cleared by a killed sync; the person edits line one and the next sync (the
/// change clears the conflict and pushes the edit) is killed too, after its push; the person
/// edits line two. Recorded, the edit is pushed; killed twice, it should be the same.
#[test]
fn cleared_conflict_then_killed_push_then_edit() {
    for kill in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let (a, _b, _) = cleared_conflict_laptop(dir.path(), kill);
        a.write(".zshrc", "ONE\ntwo\nthree\nfour\n5!\n");
        let a = sync_or_die(a, kill);
        let tip = git(&remote_dir(dir.path()), &["show", "main:.zshrc"]);
        assert_eq!(
            tip, "ONE\ntwo\nthree\nfour\n5!\n",
            "kill {kill}: the push landed"
        );
        let edit = "ONE\nTWO\nthree\nfour\n5!\n";
        a.write(".zshrc", edit);
        let (r, ev) = a.sync_with(&dotsync_engine::SyncOptions::default());
        let tip = git(&remote_dir(dir.path()), &["show", "main:.zshrc"]);
        assert_eq!(
            (tip, open_conflicts_of(&a)),
            (edit.to_owned(), Vec::<String>::new()),
            "kill {kill}: {r:?} {:?}",
            actions(&ev)
        );
    }
}

/// A conflict cleared by a killed sync; the desktop changes line three; the laptop's next
/// sync pulls it (the change clears the conflict) and is killed after the write; the person
/// edits line one. Recorded, the edit is pushed.
#[test]
fn cleared_conflict_then_killed_pull_then_edit() {
    for kill in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let (a, b, _) = cleared_conflict_laptop(dir.path(), kill);
        let w = "one\ntwo\nTHREE\nfour\n5!\n";
        b.write(".zshrc", w);
        b.sync();
        let a = sync_or_die(a, kill);
        assert_eq!(a.read(".zshrc"), w, "kill {kill}: pulled");
        let edit = "ONE\ntwo\nTHREE\nfour\n5!\n";
        a.write(".zshrc", edit);
        let (r, ev) = a.sync_with(&dotsync_engine::SyncOptions::default());
        let tip = git(&remote_dir(dir.path()), &["show", "main:.zshrc"]);
        assert_eq!(
            (tip, open_conflicts_of(&a)),
            (edit.to_owned(), Vec::<String>::new()),
            "kill {kill}: {r:?} {:?}",
            actions(&ev)
        );
    }
}

/// A conflict cleared by a killed sync is gone from the list at once (it went with the
/// settle's row): there is nothing to resolve, and the next sync leaves the version both
/// machines agreed on as it is.
#[test]
fn a_conflict_cleared_by_a_killed_sync_is_not_listed() {
    let dir = tempfile::tempdir().unwrap();
    let (a, _b, mine) = cleared_conflict_laptop(dir.path(), true);
    assert_eq!(open_conflicts_of(&a), Vec::<String>::new());
    assert!(
        a.engine
            .resolve(&a.cfg, ".zshrc", dotsync_engine::Resolution::Remote)
            .is_err(),
        "nothing to resolve"
    );
    let (r, ev) = a.sync_with(&dotsync_engine::SyncOptions::default());
    let tip = git(&remote_dir(dir.path()), &["show", "main:.zshrc"]);
    assert_eq!(
        (tip, a.read(".zshrc")),
        (mine.to_owned(), mine.to_owned()),
        "{r:?} {:?}",
        actions(&ev)
    );
}

/// A conflict cleared by a killed sync (or recorded); the config then moves to a new, empty
/// remote. Recorded, the laptop's files go to it as on a first sync; killed, they should too.
#[test]
fn cleared_conflict_then_a_new_empty_remote() {
    for kill in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let (mut a, _b, mine) = cleared_conflict_laptop(dir.path(), kill);
        let y = bare_named(dir.path(), "fresh.git");
        a.cfg.remote = y.to_str().unwrap().to_owned();
        let (r, ev) = a.sync_with(&dotsync_engine::SyncOptions::default());
        let tip = std::process::Command::new("git")
            .args(["show", "main:.zshrc"])
            .current_dir(&y)
            .output()
            .unwrap();
        assert_eq!(
            (
                String::from_utf8_lossy(&tip.stdout).into_owned(),
                open_conflicts_of(&a)
            ),
            (mine.to_owned(), Vec::<String>::new()),
            "kill {kill}: {r:?} {:?}",
            actions(&ev)
        );
    }
}

/// The laptop deletes .zshrc while the desktop changed it: a conflict. The desktop deletes
/// it too; the laptop's clear (both sides: no file) is killed before its record (or
/// recorded). The desktop then makes a new .zshrc. Recorded, the laptop pulls it.
#[test]
fn cleared_deletion_conflict_then_new_file_elsewhere() {
    for kill in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = desktop_edited_line_five(dir.path());
        std::fs::remove_file(a.home.join(".zshrc")).unwrap();
        let (s, _) = a.sync();
        assert_eq!(s.conflicts, 1);
        std::fs::remove_file(b.home.join(".zshrc")).unwrap();
        b.sync();
        let a = sync_or_die(a, kill);
        b.write(".zshrc", "new\n");
        b.sync();
        let (r, ev) = a.sync_with(&dotsync_engine::SyncOptions::default());
        let home = std::fs::read_to_string(a.home.join(".zshrc")).ok();
        assert_eq!(
            (home, open_conflicts_of(&a)),
            (Some("new\n".to_owned()), Vec::<String>::new()),
            "kill {kill}: {r:?} {:?}",
            actions(&ev)
        );
    }
}

/// Pull-only server: a conflict on line five; the desktop takes the server's version; the
/// server's clear is killed (or recorded); the person edits line one on the server. Held as
/// the server's own change either way, no conflict.
#[test]
fn pull_machine_cleared_conflict_then_edit() {
    let mut outs = Vec::new();
    for kill in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let (s, d, remote) = pull_server(dir.path(), None);
        d.write(".zshrc", "one\ntwo\nthree\nfour\nFIVE\n");
        d.sync();
        let mine = "one\ntwo\nthree\nfour\n5!\n";
        s.write(".zshrc", mine);
        let (sum, ev) = s.sync();
        assert_eq!(sum.conflicts, 1, "{ev:?}");
        d.write(".zshrc", mine);
        d.sync();
        let s = sync_or_die(s, kill);
        let edit = "ONE\ntwo\nthree\nfour\n5!\n";
        s.write(".zshrc", edit);
        let (_, ev) = s.sync();
        let tip = git(&remote, &["show", "main:.zshrc"]);
        assert_eq!(
            (s.read(".zshrc"), tip.clone(), open_conflicts_of(&s)),
            (edit.to_owned(), mine.to_owned(), Vec::<String>::new()),
            "kill {kill}: {:?}",
            actions(&ev)
        );
        outs.push(actions(&ev));
    }
    assert_eq!(outs[0], outs[1]);
}

fn open_conflicts_of(a: &Machine) -> Vec<String> {
    a.engine
        .conflicts(std::slice::from_ref(&a.cfg))
        .unwrap()
        .into_iter()
        .map(|c| c.path)
        .collect()
}

/// The laptop's conflict on line five; the desktop takes the laptop's version; the laptop's
/// clear is killed before its record (or recorded). Returns the laptop, the desktop and the
/// agreed version.
fn cleared_conflict_laptop(dir: &std::path::Path, kill: bool) -> (Machine, Machine, &'static str) {
    let (a, b) = desktop_edited_line_five(dir);
    let mine = "one\ntwo\nthree\nfour\n5!\n";
    a.write(".zshrc", mine);
    let (s, _) = a.sync();
    assert_eq!(s.conflicts, 1);
    b.write(".zshrc", mine);
    b.sync();
    let a = if kill {
        die_at(&a, "sync::before-record");
        a.restart()
    } else {
        a.sync();
        a
    };
    (a, b, mine)
}

fn sync_or_die(a: Machine, kill: bool) -> Machine {
    if kill {
        die_at(&a, "sync::before-record");
        a.restart()
    } else {
        a.sync();
        a
    }
}

/// The desktop deletes .zshrc while the laptop changed it: a conflict on the laptop, whose
/// person then puts the file back as it was (the conflict stays: the remote has no file).
/// The config drops ~/.zshrc (that sync killed before its record, or recorded) and takes it
/// back; then the desktop changes another file. Recorded, the laptop's file is a new file and
/// stays (pushed back); killed, the same: the conflict of a file the config no longer covers
/// goes at the record, with its base, not before.
#[test]
fn uncovered_delete_conflict_killed_then_path_back() {
    for kill in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = two(dir.path());
        a.write(".zshrc", FIVE);
        a.sync();
        b.sync();
        std::fs::remove_file(b.home.join(".zshrc")).unwrap();
        b.sync();
        a.write(".zshrc", "one\ntwo\nthree\nfour\n5!\n");
        let (s, _) = a.sync();
        assert_eq!(s.conflicts, 1);
        a.write(".zshrc", FIVE);
        let (s, _) = a.sync();
        assert_eq!(s.conflicts, 1, "still in conflict");
        let full = a.cfg.clone();
        let mut a = a;
        a.cfg = narrowed(&a, dir.path());
        let mut a = sync_or_die(a, kill);
        a.cfg = full;
        let (r1, ev1) = a.sync_with(&dotsync_engine::SyncOptions::default());
        b.write(".config/nvim/init.lua", "x\n");
        b.sync();
        let (r2, ev2) = a.sync_with(&dotsync_engine::SyncOptions::default());
        let out = (
            std::fs::read_to_string(a.home.join(".zshrc")).ok(),
            open_conflicts_of(&a),
            r1.map(|s| s.conflicts).map_err(|e| e.to_string()),
            actions(&ev1),
            r2.map(|s| s.conflicts).map_err(|e| e.to_string()),
            actions(&ev2),
        );
        assert_eq!(
            out.0.as_deref(),
            Some(FIVE),
            "kill {kill}: the file kept through its conflict is deleted: {out:?}"
        );
        // Recorded, the file is new again and pushed; killed, the deletion against the
        // person's file is still a conflict (both kept): either way nothing is decided
        // for the person.
        let tip = std::process::Command::new("git")
            .args(["show", "main:.zshrc"])
            .current_dir(remote_dir(dir.path()))
            .output()
            .unwrap();
        assert!(
            out.1 == [".zshrc"] || tip.stdout == FIVE.as_bytes(),
            "kill {kill}: neither listed nor pushed: {out:?}"
        );
    }
}

/// Line five in conflict on the laptop; the person puts the file back as it was (the base),
/// the conflict stays (the desktop's line five differs). The config drops ~/.zshrc; that
/// sync (which forgets the conflict and the base) is killed before its record, or records;
/// the path is added back. Recorded, the file is a conflict again (no base, both differ);
/// killed, the same (the uncovered conflict and its base go together, at the record).
#[test]
fn uncovered_conflict_killed_then_path_back() {
    let mut outs = Vec::new();
    for kill in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let (a, _b) = desktop_edited_line_five(dir.path());
        a.write(".zshrc", "one\ntwo\nthree\nfour\n5!\n");
        let (s, _) = a.sync();
        assert_eq!(s.conflicts, 1);
        a.write(".zshrc", FIVE);
        let (s, _) = a.sync();
        assert_eq!(s.conflicts, 1, "still in conflict");
        let full = a.cfg.clone();
        let mut a = a;
        a.cfg = narrowed(&a, dir.path());
        let mut a = sync_or_die(a, kill);
        a.cfg = full;
        let (r, ev) = a.sync_with(&dotsync_engine::SyncOptions::default());
        let tip = git(&remote_dir(dir.path()), &["show", "main:.zshrc"]);
        let out = (
            a.read(".zshrc"),
            tip,
            open_conflicts_of(&a),
            r.map(|s| s.conflicts).ok(),
            actions(&ev),
        );
        assert!(
            !out.2.is_empty() || out.0 == out.1,
            "kill {kill}: the laptop differs from the remote and lists no conflict: {out:?}"
        );
        outs.push(out);
    }
    assert_eq!(outs[0], outs[1], "killed as recorded");
}

/// A conflict cleared by a killed sync (or recorded); the desktop then changes line five
/// again; the laptop's config moves to a mirror of the remote (the same commits, another
/// URL). Recorded, the laptop pulls the desktop's new line five (its base is the agreed
/// version); killed, it should too, not list a conflict the machines no longer have.
#[test]
fn cleared_conflict_then_a_mirror_remote() {
    let mut outs = Vec::new();
    for kill in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let (mut a, b, _mine) = cleared_conflict_laptop(dir.path(), kill);
        let w = "one\ntwo\nthree\nfour\n5?\n";
        b.write(".zshrc", w);
        b.sync();
        let mirror = dir.path().join("mirror.git");
        git(
            dir.path(),
            &[
                "clone",
                "-q",
                "--bare",
                remote_dir(dir.path()).to_str().unwrap(),
                mirror.to_str().unwrap(),
            ],
        );
        a.cfg.remote = mirror.to_str().unwrap().to_owned();
        let (r, ev) = a.sync_with(&dotsync_engine::SyncOptions::default());
        let out = (
            a.read(".zshrc"),
            open_conflicts_of(&a),
            r.map(|s| s.conflicts).ok(),
            actions(&ev),
        );
        outs.push(out);
    }
    assert_eq!(outs[0], outs[1], "killed as recorded");
}

/// Line five in conflict on the laptop; the desktop agrees and adds a file; the laptop's
/// sync that clears the conflict and pulls the file is killed at each point (or records);
/// the person edits line one, the desktop line three. Every kill ends as the recorded sync.
#[test]
fn cleared_conflict_with_a_pull_killed_anywhere() {
    let mut outs = Vec::new();
    // Killed after its scan, the sync never planned: the conflict is the person's to clear.
    for point in [None]
        .into_iter()
        .chain(POINTS[1..].iter().map(|p| Some(*p)))
    {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = desktop_edited_line_five(dir.path());
        let mine = "one\ntwo\nthree\nfour\n5!\n";
        a.write(".zshrc", mine);
        let (s, _) = a.sync();
        assert_eq!(s.conflicts, 1);
        b.write(".zshrc", mine);
        b.write(".config/nvim/new.lua", "new\n");
        b.write(".config/nvim/new2.lua", "new2\n");
        b.sync();
        let a = if let Some(p) = point {
            if !maybe_die_at(&a, p) {
                // The clear is planned after the scan: nothing to kill before it.
                continue;
            }
            a.restart()
        } else {
            a.sync();
            a
        };
        a.write(".zshrc", "ONE\ntwo\nthree\nfour\n5!\n");
        b.write(".zshrc", "one\ntwo\nTHREE\nfour\n5!\n");
        b.sync();
        let (r, _) = a.sync_with(&dotsync_engine::SyncOptions::default());
        a.sync();
        b.sync();
        let tip = git(&remote_dir(dir.path()), &["show", "main:.zshrc"]);
        let out = (
            a.read(".zshrc"),
            b.read(".zshrc"),
            tip,
            a.read(".config/nvim/new.lua"),
            open_conflicts_of(&a),
            r.map(|s| s.conflicts).map_err(|e| e.to_string()),
        );
        outs.push((point, out));
    }
    for (p, o) in &outs[1..] {
        assert_eq!(&outs[0].1, o, "{p:?} as recorded");
    }
}

/// The laptop deletes .zshrc while the desktop changed it; the desktop deletes it too; the
/// laptop's clear is killed (or recorded); the person makes a new .zshrc on the laptop.
/// Recorded, it is pushed as a new file.
#[test]
fn cleared_deletion_conflict_then_new_file_here() {
    let mut outs = Vec::new();
    for kill in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = desktop_edited_line_five(dir.path());
        std::fs::remove_file(a.home.join(".zshrc")).unwrap();
        let (s, _) = a.sync();
        assert_eq!(s.conflicts, 1);
        std::fs::remove_file(b.home.join(".zshrc")).unwrap();
        b.sync();
        let a = sync_or_die(a, kill);
        a.write(".zshrc", "mine\n");
        let (r, ev) = a.sync_with(&dotsync_engine::SyncOptions::default());
        b.sync();
        let out = (
            std::fs::read_to_string(b.home.join(".zshrc")).ok(),
            open_conflicts_of(&a),
            r.map(|s| s.conflicts).map_err(|e| e.to_string()),
            actions(&ev),
        );
        outs.push(out);
    }
    assert_eq!(outs[0], outs[1], "killed as recorded");
}

/// Line five in conflict on the laptop, whose config then becomes push-only; the desktop
/// agrees; the laptop's clear is killed (or recorded); the person edits line one, the
/// desktop line three. Compared with the recorded clear.
#[test]
fn push_machine_cleared_conflict_then_edits() {
    let mut outs = Vec::new();
    for kill in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let (mut a, b) = desktop_edited_line_five(dir.path());
        let mine = "one\ntwo\nthree\nfour\n5!\n";
        a.write(".zshrc", mine);
        let (s, _) = a.sync();
        assert_eq!(s.conflicts, 1);
        a.cfg.direction = dotsync_core::Direction::Push;
        b.write(".zshrc", mine);
        b.sync();
        let a = sync_or_die(a, kill);
        a.write(".zshrc", "ONE\ntwo\nthree\nfour\n5!\n");
        let (r, ev) = a.sync_with(&dotsync_engine::SyncOptions::default());
        b.sync();
        let tip = git(&remote_dir(dir.path()), &["show", "main:.zshrc"]);
        let out = (
            a.read(".zshrc"),
            b.read(".zshrc"),
            tip,
            open_conflicts_of(&a),
            r.map(|s| s.conflicts).map_err(|e| e.to_string()),
            actions(&ev),
        );
        outs.push(out);
    }
    assert_eq!(outs[0], outs[1], "killed as recorded");
}

/// A dry-run sync of a conflict both sides now agree on, and one of a config that no
/// longer covers a file in conflict, clear nothing.
#[test]
fn dry_run_clears_no_conflict() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = desktop_edited_line_five(dir.path());
    let mine = "one\ntwo\nthree\nfour\n5!\n";
    a.write(".zshrc", mine);
    let (s, _) = a.sync();
    assert_eq!(s.conflicts, 1);
    b.write(".zshrc", mine);
    b.sync();
    let dry = dotsync_engine::SyncOptions {
        dry_run: true,
        ..Default::default()
    };
    let (r, _) = a.sync_with(&dry);
    r.unwrap();
    assert_eq!(open_conflicts_of(&a), [".zshrc"]);
    let mut a = a;
    let full = a.cfg.clone();
    a.cfg = narrowed(&a, dir.path());
    let (r, _) = a.sync_with(&dry);
    r.unwrap();
    a.cfg = full;
    assert_eq!(open_conflicts_of(&a), [".zshrc"]);
}

/// A conflict cleared by a killed sync (or recorded) on a laptop whose config now says
/// `on_conflict` local or remote; the person edits line one, the desktop changes line five
/// again. Compared with the recorded clear.
#[test]
fn cleared_conflict_under_on_conflict_then_both_edit() {
    for how in [
        dotsync_core::OnConflict::Local,
        dotsync_core::OnConflict::Remote,
    ] {
        let mut outs = Vec::new();
        for kill in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let (mut a, b, _) = cleared_conflict_laptop(dir.path(), kill);
            a.cfg.on_conflict = how;
            b.write(".zshrc", "one\ntwo\nthree\nfour\n5?\n");
            b.sync();
            a.write(".zshrc", "ONE\ntwo\nthree\nfour\n5!\n");
            let (r, ev) = a.sync_with(&dotsync_engine::SyncOptions::default());
            b.sync();
            let tip = git(&remote_dir(dir.path()), &["show", "main:.zshrc"]);
            let out = (
                a.read(".zshrc"),
                b.read(".zshrc"),
                tip,
                open_conflicts_of(&a),
                r.map(|s| s.conflicts).map_err(|e| e.to_string()),
                actions(&ev),
            );
            outs.push(out);
        }
        assert_eq!(outs[0], outs[1], "{how:?}: killed as recorded");
    }
}

/// The config without ~/.zshrc (as `restore_after_killed_pull_then_path_out_and_back`).
fn narrowed(a: &Machine, dir: &std::path::Path) -> dotsync_core::SyncConfig {
    let mut input: dotsync_core::ConfigInput = serde_json::from_value(serde_json::json!({
        "name": "dots", "paths": ["~/.config/nvim", "~/.ssh"],
        "remote": remote_dir(dir).to_str().unwrap()}))
    .unwrap();
    input.name = "dots".into();
    input.validate(a.cfg.id.clone(), &a.home).unwrap()
}

/// Runs one sync of `m` that dies at `point`; false when it was never reached.
fn maybe_die_at(m: &Machine, point: &str) -> bool {
    let scenario = fail::FailScenario::setup();
    fail::cfg(point, "panic").unwrap();
    let died = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        m.sync_with(&dotsync_engine::SyncOptions::default())
    }));
    fail::remove(point);
    scenario.teardown();
    died.is_err()
}
