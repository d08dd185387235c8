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
