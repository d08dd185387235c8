//! The engine driven directly: several machines (homes + state stores) in one process, one
//! real bare git remote. Faster than the end-to-end tests and closer to the algorithm.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use common::*;
use dotsync_core::ConfigInput;
use dotsync_engine::{Engine, FileAction, Resolution, RewindChoice, SyncEvent, SyncOptions};
use dotsync_state::Layout;

#[test]
fn first_push_then_first_pull_carries_content_modes_and_symlinks() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two(dir.path());
    a.write(".zshrc", "export EDITOR=nvim\n");
    a.write(".config/nvim/init.lua", "vim.o.number = true\n");
    a.write(".config/nvim/lua/my plugins/é.lua", "");
    a.write(".ssh/config", "Host *\n  User me\n");
    std::fs::set_permissions(a.home.join(".ssh"), std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::set_permissions(
        a.home.join(".ssh/config"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    a.write(".config/nvim/bin/tool", "#!/bin/sh\necho hi\n");
    std::fs::set_permissions(
        a.home.join(".config/nvim/bin/tool"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    std::os::unix::fs::symlink("init.lua", a.home.join(".config/nvim/link.lua")).unwrap();
    let big: Vec<u8> = (0..2 * 1024 * 1024)
        .map(|i: u32| u8::try_from(i * 7 % 256).unwrap())
        .collect();
    std::fs::write(a.home.join(".config/nvim/blob.bin"), &big).unwrap();

    let (s, _) = a.sync();
    assert_eq!(s.pushed, 7, "{s:?}");
    assert!(s.commit.is_some());

    let (s, _) = b.sync();
    assert_eq!(s.pulled, 7, "{s:?}");
    assert_eq!(b.read(".zshrc"), "export EDITOR=nvim\n");
    assert_eq!(b.read(".config/nvim/lua/my plugins/é.lua"), "");
    assert_eq!(
        std::fs::read(b.home.join(".config/nvim/blob.bin")).unwrap(),
        big
    );
    let mode = |p: &str| {
        std::fs::symlink_metadata(b.home.join(p))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode(".ssh/config"), 0o600);
    assert_eq!(mode(".ssh"), 0o700);
    assert_eq!(mode(".config/nvim/bin/tool"), 0o755);
    assert_eq!(
        std::fs::read_link(b.home.join(".config/nvim/link.lua")).unwrap(),
        PathBuf::from("init.lua")
    );

    // Nothing changed: nothing travels, and no file is read again.
    let (s, ev) = a.sync();
    assert!(actions(&ev).is_empty(), "{ev:?}");
    assert_eq!(s.pushed + s.pulled, 0);
}

#[test]
fn edits_travel_both_ways_and_deletions_propagate() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two(dir.path());
    a.write(".zshrc", "one\n");
    a.sync();
    b.sync();
    b.write(".zshrc", "two\n");
    assert_eq!(b.sync().0.pushed, 1);
    assert_eq!(a.sync().0.pulled, 1);
    assert_eq!(a.read(".zshrc"), "two\n");
    std::fs::remove_file(a.home.join(".zshrc")).unwrap();
    assert_eq!(a.sync().0.deleted, 1);
    assert_eq!(b.sync().0.deleted, 1);
    assert!(!b.home.join(".zshrc").exists());
}

#[test]
fn what_arrives_from_the_remote_names_the_machine_that_made_it() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two(dir.path());
    let machine_of = |events: &[SyncEvent], path: &str| {
        events.iter().find_map(|e| match e {
            SyncEvent::File {
                path: p, machine, ..
            } if p == path => Some(machine.clone()),
            _ => None,
        })
    };
    a.write(".zshrc", "one\n");
    let (_, ev) = a.sync();
    assert_eq!(
        machine_of(&ev, ".zshrc"),
        Some(None),
        "pushed: this machine's own"
    );
    let (_, ev) = b.sync();
    assert_eq!(machine_of(&ev, ".zshrc"), Some(Some("laptop".into())));
    std::fs::remove_file(a.home.join(".zshrc")).unwrap();
    a.sync();
    let (_, ev) = b.sync();
    assert_eq!(machine_of(&ev, ".zshrc"), Some(Some("laptop".into())));
}

#[test]
fn edits_to_different_lines_merge_on_both_machines() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two(dir.path());
    a.write(".zshrc", "a\nb\nc\nd\ne\nf\n");
    a.sync();
    b.sync();
    a.write(".zshrc", "A\nb\nc\nd\ne\nf\n");
    b.write(".zshrc", "a\nb\nc\nd\ne\nF\n");
    a.sync();
    let (s, _) = b.sync();
    assert_eq!(s.merged, 1, "{s:?}");
    assert_eq!(b.read(".zshrc"), "A\nb\nc\nd\ne\nF\n");
    a.sync();
    assert_eq!(a.read(".zshrc"), "A\nb\nc\nd\ne\nF\n");
}

#[test]
fn the_same_line_edited_twice_is_a_conflict_kept_and_resolvable() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two(dir.path());
    a.write(".zshrc", "alias ll='ls -l'\n");
    a.sync();
    b.sync();
    a.write(".zshrc", "alias ll='ls -la'\n");
    b.write(".zshrc", "alias ll='exa -l'\n");
    a.sync();
    let (s, _) = b.sync();
    assert_eq!(s.conflicts, 1, "{s:?}");
    assert_eq!(
        b.read(".zshrc"),
        "alias ll='exa -l'\n",
        "this machine's file stays in place"
    );
    let cs = b.engine.conflicts(std::slice::from_ref(&b.cfg)).unwrap();
    assert_eq!(cs.len(), 1);
    assert_eq!(
        b.engine
            .conflict_content(&b.cfg, ".zshrc", "remote")
            .unwrap()
            .unwrap(),
        b"alias ll='ls -la'\n"
    );
    // Neither side syncs while the conflict is open.
    assert_eq!(b.sync().0.pushed, 0);
    assert_eq!(a.sync().0.pulled, 0);
    b.engine
        .resolve(&b.cfg, ".zshrc", Resolution::Local)
        .unwrap();
    assert_eq!(b.sync().0.pushed, 1);
    a.sync();
    assert_eq!(a.read(".zshrc"), "alias ll='exa -l'\n");
    // Both versions are in history.
    let h = a.engine.history(&a.cfg, ".zshrc").unwrap();
    assert!(h.len() >= 3, "{h:?}");
    assert!(h.iter().any(|e| e.machine == "laptop") && h.iter().any(|e| e.machine == "desktop"));
}

#[test]
fn a_joining_machine_with_its_own_copy_gets_a_conflict_not_an_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two(dir.path());
    a.write(".zshrc", "from laptop\n");
    a.sync();
    b.write(".zshrc", "desktop's own\n");
    let (s, _) = b.sync();
    assert_eq!(s.conflicts, 1);
    assert_eq!(b.read(".zshrc"), "desktop's own\n");
    b.engine
        .resolve(&b.cfg, ".zshrc", Resolution::Remote)
        .unwrap();
    assert_eq!(b.read(".zshrc"), "from laptop\n");
    let (s, _) = b.sync();
    assert_eq!(s.conflicts, 0);
}

#[test]
fn restore_brings_an_old_version_back_as_an_edit() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two(dir.path());
    a.write(".zshrc", "v1\n");
    a.sync();
    a.write(".zshrc", "v2\n");
    a.sync();
    let h = a.engine.history(&a.cfg, ".zshrc").unwrap();
    assert_eq!(h.len(), 2);
    let old = &h[1].commit;
    assert_eq!(
        a.engine.content(&a.cfg, ".zshrc", Some(old)).unwrap(),
        b"v1\n"
    );
    a.engine.restore(&a.cfg, ".zshrc", old).unwrap();
    assert_eq!(a.read(".zshrc"), "v1\n");
    assert_eq!(a.sync().0.pushed, 1);
    b.sync();
    assert_eq!(b.read(".zshrc"), "v1\n");
}

#[test]
fn a_mass_delete_waits_for_confirmation() {
    let dir = tempfile::tempdir().unwrap();
    let (a, _b) = two(dir.path());
    for i in 0..5 {
        a.write(&format!(".config/nvim/f{i}.lua"), "x\n");
    }
    a.sync();
    std::fs::remove_dir_all(a.home.join(".config/nvim")).unwrap();
    let (r, _) = a.sync_with(&SyncOptions::default());
    assert!(
        matches!(
            r,
            Err(dotsync_engine::SyncError::MassDelete { count: 5, .. })
        ),
        "{r:?}"
    );
    let (r, _) = a.sync_with(&SyncOptions {
        allow_mass_delete: true,
        ..Default::default()
    });
    assert_eq!(r.unwrap().deleted, 5);
}

#[test]
fn on_conflict_remote_keeps_the_local_version_in_history() {
    let dir = tempfile::tempdir().unwrap();
    let remote = bare(dir.path());
    let cfg = serde_json::json!({"name": "dots", "paths": ["~/.zshrc"], "on_conflict": "remote"});
    let a = machine(dir.path(), "laptop", &remote, cfg.clone());
    let b = machine(dir.path(), "desktop", &remote, cfg);
    a.write(".zshrc", "laptop\n");
    a.sync();
    b.write(".zshrc", "desktop\n");
    let (s, _) = b.sync();
    assert_eq!(s.resolved, 1, "{s:?}");
    assert_eq!(b.read(".zshrc"), "laptop\n");
    let h = b.engine.history(&b.cfg, ".zshrc").unwrap();
    let versions: Vec<Vec<u8>> = h
        .iter()
        .map(|e| b.engine.content(&b.cfg, ".zshrc", Some(&e.commit)).unwrap())
        .collect();
    assert!(versions.contains(&b"desktop\n".to_vec()), "{h:?}");
    let _ = &b.store;
}

#[test]
fn narrowing_a_config_forgets_files_instead_of_deleting_them() {
    let dir = tempfile::tempdir().unwrap();
    let (mut a, b) = two(dir.path());
    a.write(".zshrc", "z\n");
    a.write(".config/nvim/init.lua", "n\n");
    a.sync();
    b.sync();
    // The laptop stops syncing ~/.config/nvim and starts ignoring nothing else.
    a.cfg.paths = vec!["~/.zshrc".into()];
    a.store.replace_config(&a.cfg, &a.home).unwrap();
    let (s, ev) = a.sync();
    assert_eq!(s.deleted, 0, "{ev:?}");
    b.sync();
    assert_eq!(b.read(".config/nvim/init.lua"), "n\n");
    assert!(a.home.join(".config/nvim/init.lua").exists());
}

fn pair_with(dir: &Path, a_cfg: serde_json::Value, b_cfg: serde_json::Value) -> (Machine, Machine) {
    let remote = bare(dir);
    (
        machine(dir, "laptop", &remote, a_cfg),
        machine(dir, "desktop", &remote, b_cfg),
    )
}

#[test]
fn a_pull_only_machine_merges_remote_edits_and_never_loses_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = pair_with(
        dir.path(),
        serde_json::json!({"name": "dots", "paths": ["~/.zshrc"]}),
        serde_json::json!({"name": "dots", "paths": ["~/.zshrc"], "direction": "pull"}),
    );
    a.write(".zshrc", "1\n2\n3\n4\n5\n");
    a.sync();
    b.sync();
    b.write(".zshrc", "one\n2\n3\n4\n5\n");
    a.write(".zshrc", "1\n2\n3\n4\nfive\n");
    a.sync();
    let (s, _) = b.sync();
    assert_eq!(s.merged, 1, "{s:?}");
    assert_eq!(b.read(".zshrc"), "one\n2\n3\n4\nfive\n");
    assert_eq!(s.pushed, 0);
    // The remote moves again: the desktop's own line survives, still held back.
    a.write(".zshrc", "1\n2\nthree\n4\nfive\n");
    a.sync();
    b.sync();
    assert_eq!(b.read(".zshrc"), "one\n2\nthree\n4\nfive\n");
    a.sync();
    assert_eq!(
        a.read(".zshrc"),
        "1\n2\nthree\n4\nfive\n",
        "a pull-only machine pushes nothing"
    );
}

#[test]
fn a_pull_only_machine_with_on_conflict_remote_keeps_a_conflict_instead_of_overwriting() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = pair_with(
        dir.path(),
        serde_json::json!({"name": "dots", "paths": ["~/.zshrc"]}),
        serde_json::json!({"name": "dots", "paths": ["~/.zshrc"], "direction": "pull", "on_conflict": "remote"}),
    );
    a.write(".zshrc", "x\n");
    a.sync();
    b.write(".zshrc", "mine\n");
    let (s, _) = b.sync();
    assert_eq!(s.conflicts, 1, "{s:?}");
    assert_eq!(b.read(".zshrc"), "mine\n");
}

#[test]
fn a_push_only_machine_wins_and_its_home_is_never_written() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = pair_with(
        dir.path(),
        serde_json::json!({"name": "dots", "paths": ["~/.zshrc", "~/.vimrc"]}),
        serde_json::json!({"name": "dots", "paths": ["~/.zshrc", "~/.vimrc"], "direction": "push"}),
    );
    a.write(".zshrc", "base\n");
    a.sync();
    b.write(".zshrc", "desktop\n");
    // The desktop joins with its own copy: a push-only machine's version wins.
    assert_eq!(b.sync().0.pushed, 1);
    a.sync();
    assert_eq!(a.read(".zshrc"), "desktop\n");
    a.write(".vimrc", "only on the laptop\n");
    a.sync();
    b.write(".zshrc", "desktop again\n");
    let (s, _) = b.sync();
    assert_eq!(s.pushed, 1, "{s:?}");
    assert!(
        !b.home.join(".vimrc").exists(),
        "a push-only home is never written"
    );
    a.sync();
    assert_eq!(a.read(".zshrc"), "desktop again\n");
}

#[test]
fn a_widened_config_brings_in_what_it_did_not_cover_though_neither_side_moved() {
    let dir = tempfile::tempdir().unwrap();
    let (a, mut b) = pair_with(
        dir.path(),
        serde_json::json!({"name": "dots", "paths": ["~/.zshrc", "~/.config/nvim"]}),
        serde_json::json!({"name": "dots", "paths": ["~/.zshrc", "~/.config/nvim"],
            "direction": "push", "ignore": ["*.lua"]}),
    );
    a.write(".zshrc", "shared\n");
    a.write(".config/nvim/init.lua", "lua\n");
    a.sync();
    // The push-only desktop syncs: its home is never written, the .lua is not its config's.
    b.sync();
    assert!(!b.home.join(".zshrc").exists());
    let widen = |b: &mut common::Machine, change: &dyn Fn(&mut ConfigInput)| {
        let mut input = ConfigInput::from(b.cfg.clone());
        change(&mut input);
        b.cfg = input.validate(b.cfg.id.clone(), &b.home).unwrap();
    };
    // Pushing and pulling now: the remote's files come in, though the remote did not move.
    widen(&mut b, &|c| c.direction = dotsync_core::Direction::Both);
    b.sync();
    assert_eq!(b.read(".zshrc"), "shared\n");
    assert!(
        !b.home.join(".config/nvim/init.lua").exists(),
        "still ignored"
    );
    // The glob taken out: the file it hid comes in.
    widen(&mut b, &|c| c.ignore.clear());
    let (s, _) = b.sync();
    assert_eq!(b.read(".config/nvim/init.lua"), "lua\n", "{s:?}");
    // Nothing of the laptop's was touched on the way.
    a.sync();
    assert_eq!(a.read(".zshrc"), "shared\n");
    assert_eq!(a.read(".config/nvim/init.lua"), "lua\n");
}

#[test]
fn machines_with_different_directory_modes_do_not_commit_forever() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two(dir.path());
    a.write(".ssh/config", "Host *\n");
    std::fs::set_permissions(a.home.join(".ssh"), std::fs::Permissions::from_mode(0o700)).unwrap();
    a.sync();
    b.write(".ssh/known_hosts", "h\n");
    std::fs::set_permissions(b.home.join(".ssh"), std::fs::Permissions::from_mode(0o750)).unwrap();
    b.sync();
    let c1 = a.sync().0.commit;
    let c2 = b.sync().0.commit;
    let c3 = a.sync().0.commit;
    assert_eq!(c1, c2);
    assert_eq!(c2, c3);
}

#[test]
fn a_branch_rewound_on_purpose_stops_the_sync_and_changes_nothing_here() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two(dir.path());
    a.write(".zshrc", "ok\n");
    a.sync();
    let clean = a.engine.last_synced_commit(&a.cfg).unwrap().unwrap();
    a.write(".config/nvim/secret.lua", "token = 'leaked'\n");
    a.sync();
    b.sync();
    let leaked = b.engine.last_synced_commit(&b.cfg).unwrap().unwrap();
    // Someone removes the leak by force-pushing the branch back.
    git(
        &remote_dir(dir.path()),
        &["update-ref", "refs/heads/main", &clean],
    );
    // The laptop, which still has the leaked commit as its base, edits something else.
    a.write(".zshrc", "ok, edited\n");
    let e = sync_err(&a, &SyncOptions::default());
    assert_eq!(e.kind().as_str(), "rewound", "{e}");
    assert!(e.to_string().contains("moved back"), "{e}");
    // Nothing changed in the home, nothing went to the remote.
    assert_eq!(a.read(".zshrc"), "ok, edited\n");
    assert_eq!(a.read(".config/nvim/secret.lua"), "token = 'leaked'\n");
    assert_eq!(
        git(&remote_dir(dir.path()), &["rev-parse", "main"]).trim(),
        clean
    );
    // The same on the desktop: its files stay, and the versions stay in its log.
    assert_eq!(
        sync_err(&b, &SyncOptions::default()).kind().as_str(),
        "rewound"
    );
    assert!(b.home.join(".config/nvim/secret.lua").exists());
    assert_eq!(history_blobs(&b, ".config/nvim/secret.lua").len(), 1);

    // The laptop takes the remote's files: the leak is gone here too, its edit is kept in its
    // own history, and nothing of the leaked commit goes back to the remote.
    let (r, _) = a.sync_with(&SyncOptions {
        rewind: Some(RewindChoice::TakeRemote),
        ..Default::default()
    });
    r.unwrap();
    assert_eq!(a.read(".zshrc"), "ok\n");
    assert!(!a.home.join(".config/nvim/secret.lua").exists());
    let log = git(&remote_dir(dir.path()), &["log", "--format=%H", "main"]);
    assert!(
        !log.contains(&leaked),
        "the leaked commit is in the history again"
    );
    assert!(!remote_blobs(dir.path()).contains(&blob_of("token = 'leaked'\n")));
    assert!(
        history_blobs(&a, ".zshrc").contains(&Some(blob_of("ok, edited\n"))),
        "this machine's edit stays in its history"
    );
    assert!(
        history_blobs(&a, ".config/nvim/secret.lua").contains(&Some(blob_of("token = 'leaked'\n")))
    );
    a.sync();
    // The desktop pushes its files back instead: they are on the remote again, in a new commit.
    let (r, _) = b.sync_with(&SyncOptions {
        rewind: Some(RewindChoice::PushLocal),
        ..Default::default()
    });
    r.unwrap();
    let tree = git(
        &remote_dir(dir.path()),
        &["ls-tree", "-r", "--name-only", "main"],
    );
    assert!(tree.contains("secret.lua"), "{tree}");
    a.sync();
    assert_eq!(a.read(".config/nvim/secret.lua"), "token = 'leaked'\n");
}

#[test]
fn a_deleted_branch_is_a_new_empty_remote_not_a_deletion_of_every_file() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two(dir.path());
    a.write(".zshrc", "z1\n");
    a.write(".config/nvim/init.lua", "n1\n");
    a.sync();
    b.sync();
    a.write(".zshrc", "z2\n");
    a.sync();
    b.sync();
    git(
        &remote_dir(dir.path()),
        &["update-ref", "-d", "refs/heads/main"],
    );
    let (s, ev) = b.sync();
    assert_eq!(s.deleted, 0, "{ev:?}");
    assert_eq!(s.pushed, 2, "{ev:?}");
    assert_eq!(b.read(".zshrc"), "z2\n");
    assert_eq!(b.read(".config/nvim/init.lua"), "n1\n");
    let (s, ev) = a.sync();
    assert_eq!(s.deleted, 0, "{ev:?}");
    assert_eq!(a.read(".zshrc"), "z2\n");
    // History synced before the branch went is still listed.
    let h = history_blobs(&a, ".zshrc");
    assert!(h.contains(&Some(blob_of("z1\n"))), "{h:?}");
}

#[test]
fn a_remote_replaced_by_a_new_empty_repository_gets_this_machines_files() {
    let dir = tempfile::tempdir().unwrap();
    let (a, _b) = two(dir.path());
    a.write(".zshrc", "z1\n");
    a.write(".config/nvim/init.lua", "n1\n");
    a.sync();
    a.write(".zshrc", "z2\n");
    a.sync();
    // `dotsync config edit dots --remote <new empty repo>`
    let fresh = bare_named(dir.path(), "fresh.git");
    let mut cfg = a.cfg.clone();
    cfg.remote = fresh.to_str().unwrap().to_owned();
    let mut events = Vec::new();
    let s = a
        .engine
        .sync(&cfg, &SyncOptions::default(), &mut |e| {
            events.push(e.clone());
        })
        .unwrap();
    assert_eq!(s.deleted, 0, "{events:?}");
    assert_eq!(s.pushed, 2, "{events:?}");
    assert_eq!(a.read(".zshrc"), "z2\n");
    let h: Vec<_> = a
        .engine
        .history(&cfg, ".zshrc")
        .unwrap()
        .into_iter()
        .map(|h| h.blob)
        .collect();
    assert!(
        h.contains(&Some(blob_of("z1\n"))),
        "versions synced through the old remote: {h:?}"
    );
}

#[test]
fn a_config_switched_back_and_forth_between_two_remotes_keeps_every_version_in_its_log() {
    let dir = tempfile::tempdir().unwrap();
    let (a, _b) = two(dir.path());
    let fresh = bare_named(dir.path(), "fresh.git");
    let first = a.cfg.remote.clone();
    let second = fresh.to_str().unwrap().to_owned();
    let mut cfg = a.cfg.clone();
    let sync = |cfg: &dotsync_core::SyncConfig| {
        let s = a
            .engine
            .sync(cfg, &SyncOptions::default(), &mut |_| {})
            .unwrap();
        assert!(s.ok, "{s:?}");
        s
    };
    let listed = |cfg: &dotsync_core::SyncConfig| -> Vec<Option<String>> {
        a.engine
            .history(cfg, ".zshrc")
            .unwrap()
            .into_iter()
            .map(|h| h.blob)
            .collect()
    };
    // A -> B -> A -> B, one new version of ~/.zshrc pushed in each stay (joining a remote
    // that holds another version is a conflict, settled for this machine's).
    let mut seen: Vec<Option<String>> = Vec::new();
    for (i, remote) in [&first, &second, &first, &second].into_iter().enumerate() {
        cfg.remote = remote.clone();
        a.write(".zshrc", &format!("v{i}\n"));
        if sync(&cfg).conflicts > 0 {
            a.engine.resolve(&cfg, ".zshrc", Resolution::Local).unwrap();
            sync(&cfg);
        }
        let now = listed(&cfg);
        for v in &seen {
            assert!(now.contains(v), "stay {i}: {v:?} left the log: {now:?}");
        }
        assert!(
            now.contains(&Some(blob_of(&format!("v{i}\n")))),
            "stay {i}: {now:?}"
        );
        seen = now;
    }
}

#[test]
fn a_pull_machine_keeps_what_it_kept_on_an_empty_remote_when_it_switches_back() {
    // Seed 502372: a pull machine on an empty remote pushes nothing, so its synced commit
    // stayed the first remote's; a version it kept there (the one a restore replaced) was
    // left behind in that remote's repository on the next switch.
    let dir = tempfile::tempdir().unwrap();
    let remote = bare(dir.path());
    let cfg = serde_json::json!({"name": "dots", "paths": ["~/.zshrc"], "direction": "pull"});
    let a = machine(
        dir.path(),
        "a",
        &remote,
        serde_json::json!({"name": "dots", "paths": ["~/.zshrc"]}),
    );
    let p = machine(dir.path(), "p", &remote, cfg);
    a.write(".zshrc", "v1\n");
    a.sync();
    a.write(".zshrc", "v2\n");
    a.sync();
    p.sync();
    assert_eq!(p.read(".zshrc"), "v2\n");
    let first = p.cfg.clone();
    let fresh = bare_named(dir.path(), "fresh.git");
    let mut second = first.clone();
    second.remote = fresh.to_str().unwrap().to_owned();
    let sync = |cfg: &dotsync_core::SyncConfig| {
        let s = p
            .engine
            .sync(cfg, &SyncOptions::default(), &mut |_| {})
            .unwrap();
        assert!(s.ok, "{s:?}");
    };
    sync(&second);
    // An edit of its own, then v1 restored over it on the empty remote: the edit is kept in
    // this machine's history, in the second remote's repository.
    p.write(".zshrc", "mine\n");
    let v1 = p
        .engine
        .history(&second, ".zshrc")
        .unwrap()
        .into_iter()
        .find(|h| h.blob == Some(blob_of("v1\n")))
        .expect("v1 is listed on the second remote");
    p.engine.restore(&second, ".zshrc", &v1.commit).unwrap();
    assert_eq!(p.read(".zshrc"), "v1\n");
    let listed = |cfg: &dotsync_core::SyncConfig| -> Vec<Option<String>> {
        p.engine
            .history(cfg, ".zshrc")
            .unwrap()
            .into_iter()
            .map(|h| h.blob)
            .collect()
    };
    assert!(listed(&second).contains(&Some(blob_of("mine\n"))));
    // Back to the first remote, which already has the synced commit.
    sync(&first);
    let h = listed(&first);
    for v in ["v1\n", "v2\n", "mine\n"] {
        assert!(h.contains(&Some(blob_of(v))), "{v:?} left the log: {h:?}");
    }
}

#[test]
fn a_file_deleted_right_after_its_sync_is_a_change_for_the_watcher() {
    let dir = tempfile::tempdir().unwrap();
    let (a, _b) = two(dir.path());
    a.write(".zshrc", "one\n");
    a.sync();
    let abs = a.home.join(".zshrc");
    // Written within the racy window of the sync that pushed it, the file has no stat-cache
    // row; it is removed at once.
    a.store
        .with_conn(|c| c.execute("DELETE FROM stat_cache", []))
        .unwrap();
    std::fs::remove_file(&abs).unwrap();
    assert_eq!(
        a.engine.changed_under(&a.cfg, vec![abs.clone()]),
        vec![abs],
        "the deletion must start a sync"
    );
    // A path never synced that is gone is no change.
    let never = a.home.join(".ssh/never");
    assert!(a.engine.changed_under(&a.cfg, vec![never]).is_empty());
}

#[test]
fn on_conflict_remote_makes_every_machine_converge_on_the_remotes_version() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = serde_json::json!({"name": "dots", "paths": ["~/.zshrc"], "on_conflict": "remote"});
    let remote = bare(dir.path());
    let p = machine(dir.path(), "p", &remote, cfg.clone());
    let q = machine(dir.path(), "q", &remote, cfg.clone());
    p.write(".zshrc", "shared\n");
    p.sync();
    // A joiner with its own file.
    let j = machine(dir.path(), "j", &remote, cfg);
    j.write(".zshrc", "joiner's own\n");
    j.sync();
    assert_eq!(j.read(".zshrc"), "shared\n");
    q.sync();
    p.sync();
    assert_eq!(q.read(".zshrc"), "shared\n");
    assert_eq!(p.read(".zshrc"), "shared\n");
    assert!(remote_blobs(dir.path()).contains(&blob_of("joiner's own\n")));
    // The same line edited on two machines.
    p.write(".zshrc", "p's edit\n");
    q.write(".zshrc", "q's edit\n");
    p.sync();
    q.sync();
    p.sync();
    j.sync();
    let tip = git(&remote_dir(dir.path()), &["show", "main:.zshrc"]);
    for m in [&p, &q, &j] {
        assert_eq!(m.read(".zshrc"), tip, "machine {}", m.engine.machine());
    }
    assert_eq!(tip, "p's edit\n");
    assert!(remote_blobs(dir.path()).contains(&blob_of("q's edit\n")));
}

#[test]
fn resolving_a_conflict_with_the_remotes_version_keeps_this_machines_in_a_commit() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two(dir.path());
    a.write(".zshrc", "base\n");
    a.sync();
    b.sync();
    a.write(".zshrc", "laptop\n");
    b.write(".zshrc", "desktop\n");
    a.sync();
    let (s, _) = b.sync();
    assert_eq!(s.conflicts, 1);
    b.engine
        .resolve(&b.cfg, ".zshrc", Resolution::Remote)
        .unwrap();
    assert_eq!(b.read(".zshrc"), "laptop\n");
    // Kept in this machine's history at once...
    assert!(history_blobs(&b, ".zshrc").contains(&Some(blob_of("desktop\n"))));
    // ...and in a commit on the remote with the next sync.
    b.sync();
    assert!(remote_blobs(dir.path()).contains(&blob_of("desktop\n")));
    assert_eq!(
        git(&remote_dir(dir.path()), &["show", "main:.zshrc"]),
        "laptop\n"
    );
    a.sync();
    assert_eq!(a.read(".zshrc"), "laptop\n");
    // An edited result keeps the replaced version too.
    a.write(".zshrc", "laptop 2\n");
    b.write(".zshrc", "desktop 2\n");
    a.sync();
    b.sync();
    b.engine
        .resolve(&b.cfg, ".zshrc", Resolution::Content(b"both 2\n".to_vec()))
        .unwrap();
    b.sync();
    a.sync();
    assert!(remote_blobs(dir.path()).contains(&blob_of("desktop 2\n")));
    assert_eq!(a.read(".zshrc"), "both 2\n");
}

#[test]
fn a_file_named_like_a_temporary_file_is_synced_like_any_other_and_never_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two(dir.path());
    a.write(".config/nvim/init.lua", "ok\n");
    a.write(".config/nvim/notes.dotsync-tmp-backup", "mine\n");
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(a.home.join(".config/nvim/notes.dotsync-tmp-backup"))
        .unwrap()
        .set_modified(old)
        .unwrap();
    let (s, _) = a.sync();
    assert_eq!(s.pushed, 2, "{s:?}");
    a.sync();
    assert_eq!(a.read(".config/nvim/notes.dotsync-tmp-backup"), "mine\n");
    b.sync();
    assert_eq!(b.read(".config/nvim/notes.dotsync-tmp-backup"), "mine\n");
}

#[test]
fn a_temporary_file_of_a_killed_write_is_removed_at_the_next_sync_and_never_synced() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two(dir.path());
    a.write(".config/nvim/init.lua", "ok\n");
    a.sync();
    b.sync();
    // What a write killed half way leaves: a token recorded before the temporary file was
    // created, and the temporary file.
    a.store
        .with_conn(|c| c.execute(
            "INSERT INTO apply_tokens (config_id, token, created_at) VALUES (?1, 'feedc0de12345678', 0)",
            [&a.cfg.id],
        ))
        .unwrap();
    a.write(
        ".config/nvim/.init.lua.dotsync-tmp-feedc0de12345678",
        "half a fi",
    );
    let (s, ev) = a.sync();
    assert_eq!(s.pushed, 0, "{ev:?}");
    assert!(
        !a.home
            .join(".config/nvim/.init.lua.dotsync-tmp-feedc0de12345678")
            .exists()
    );
    let (s, _) = b.sync();
    assert_eq!(s.pulled + s.deleted, 0);
}

#[test]
fn an_append_during_the_sync_is_merged_next_time_not_a_conflict() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two(dir.path());
    a.write(".zshrc", "one\ntwo\nthree\nfour\nfive\n");
    a.sync();
    b.sync();
    a.write(".zshrc", "ONE\ntwo\nthree\nfour\nfive\n");
    a.sync();
    b.write(".zshrc", "one\ntwo\nthree\nfour\nfive\nsix\n");
    // The file is appended to after the scan, while the sync runs.
    let path = b.home.join(".zshrc");
    let mut appended = false;
    let mut events = Vec::new();
    let r = b.engine.sync(&b.cfg, &SyncOptions::default(), &mut |e| {
        if !appended
            && matches!(
                e,
                SyncEvent::Progress {
                    phase: dotsync_engine::Phase::Fetch,
                    ..
                }
            )
        {
            use std::io::Write;
            appended = true;
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(&path)
                .unwrap();
            f.write_all(b"seven\n").unwrap();
        }
        events.push(e.clone());
    });
    let s = r.unwrap();
    assert_eq!(s.conflicts, 0, "{events:?}");
    assert!(s.retry);
    let (s, ev) = b.sync();
    assert_eq!(s.conflicts, 0, "{ev:?}");
    assert_eq!(
        b.read(".zshrc"),
        "ONE\ntwo\nthree\nfour\nfive\nsix\nseven\n"
    );
}

#[test]
fn a_kill_between_push_and_record_is_not_a_conflict_with_this_machines_own_version() {
    let dir = tempfile::tempdir().unwrap();
    let (a, _b) = two(dir.path());
    a.write(".zshrc", "v1\n");
    a.sync();
    a.write(".zshrc", "v2\n");
    // The process dies right after the push: the first event after it never returns.
    let died = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        a.engine.sync(&a.cfg, &SyncOptions::default(), &mut |e| {
            if matches!(e, SyncEvent::File { .. }) {
                panic!("killed after the push");
            }
        })
    }));
    assert!(died.is_err());
    assert_eq!(
        git(&remote_dir(dir.path()), &["show", "main:.zshrc"]),
        "v2\n"
    );
    a.write(".zshrc", "v3\n");
    let (s, ev) = a.sync();
    assert_eq!(s.conflicts, 0, "{ev:?}");
    assert_eq!(s.pushed, 1, "{ev:?}");
    assert_eq!(
        git(&remote_dir(dir.path()), &["show", "main:.zshrc"]),
        "v3\n"
    );
}

#[test]
fn a_directory_replaced_by_a_file_converges_on_the_other_machine() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two(dir.path());
    a.write(".zshrc", "z\n");
    a.write(".config/nvim/init.lua", "i\n");
    a.write(".config/nvim/lua/a.lua", "a\n");
    a.write(".config/nvim/lua/b.lua", "b\n");
    a.sync();
    b.sync();
    std::fs::remove_dir_all(a.home.join(".config/nvim/lua")).unwrap();
    a.write(".config/nvim/lua", "now a file\n");
    a.sync();
    let (s, ev) = b.sync();
    assert_eq!(s.failed, 0, "{ev:?}");
    assert_eq!(b.read(".config/nvim/lua"), "now a file\n");
    // And back.
    std::fs::remove_file(b.home.join(".config/nvim/lua")).unwrap();
    b.write(".config/nvim/lua/c.lua", "c\n");
    b.sync();
    let (s, ev) = a.sync();
    assert_eq!(s.failed, 0, "{ev:?}");
    assert_eq!(a.read(".config/nvim/lua/c.lua"), "c\n");
    assert!(b.engine.failures(&b.cfg).unwrap().is_empty());
}

#[test]
fn a_file_the_home_cannot_take_is_a_failure_listed_until_it_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two(dir.path());
    a.write(".config/nvim/x", "a file\n");
    // On the desktop a directory with a file of its own is where that file should go.
    b.write(".config/nvim/x/mine.txt", "keep me\n");
    a.sync();
    let (s, ev) = b.sync();
    assert!(s.failed >= 1, "{ev:?}");
    let failures = b.engine.failures(&b.cfg).unwrap();
    assert!(
        failures
            .iter()
            .any(|f| f.path == ".config/nvim/x" && !f.reason.is_empty()),
        "{failures:?}"
    );
    assert_eq!(b.read(".config/nvim/x/mine.txt"), "keep me\n");
    // A second sync does not call it done.
    let (s, _) = b.sync();
    assert!(s.failed >= 1);
    assert!(!b.engine.failures(&b.cfg).unwrap().is_empty());
    std::fs::remove_dir_all(b.home.join(".config/nvim/x")).unwrap();
    let (s, ev) = b.sync();
    assert_eq!(s.failed, 0, "{ev:?}");
    assert_eq!(b.read(".config/nvim/x"), "a file\n");
    assert!(b.engine.failures(&b.cfg).unwrap().is_empty());
}

#[test]
fn a_remote_that_is_not_a_repository_or_is_locked_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let (a, _b) = two(dir.path());
    a.write(".zshrc", "x\n");
    let mut cfg = a.cfg.clone();
    cfg.remote = dir
        .path()
        .join("nothing-here.git")
        .to_str()
        .unwrap()
        .to_owned();
    let e = a
        .engine
        .sync(&cfg, &SyncOptions::default(), &mut |_| {})
        .unwrap_err();
    assert_eq!(e.kind().as_str(), "remote_not_found", "{e}");
    assert!(e.to_string().contains("git init --bare"), "{e}");
    assert!(!e.is_transient());
    a.sync();
    // A stale lock on the remote's branch is not "other machines pushed first".
    std::fs::write(remote_dir(dir.path()).join("refs/heads/main.lock"), "").unwrap();
    a.write(".zshrc", "y\n");
    let e = sync_err(&a, &SyncOptions::default());
    assert_eq!(e.kind().as_str(), "remote_locked", "{e}");
    assert!(e.to_string().contains(".lock"), "{e}");
}

#[test]
fn history_lists_files_whose_names_hold_tabs_quotes_and_backslashes() {
    let dir = tempfile::tempdir().unwrap();
    let (a, _b) = two(dir.path());
    let name = ".config/nvim/we\tird \"na\\me";
    a.write(name, "one\n");
    a.sync();
    a.write(name, "two\n");
    a.sync();
    let h = a.engine.history(&a.cfg, name).unwrap();
    assert_eq!(h.len(), 2, "{h:?}");
    assert!(
        h.iter().all(|e| e.blob.is_some() && e.size == Some(4)),
        "{h:?}"
    );
}

#[test]
fn files_dated_far_in_the_future_or_past_sync() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two(dir.path());
    a.write(".zshrc", "future\n");
    a.write(".config/nvim/old.lua", "past\n");
    let far = std::time::UNIX_EPOCH + std::time::Duration::from_secs(11_000_000_000);
    std::fs::File::options()
        .write(true)
        .open(a.home.join(".zshrc"))
        .unwrap()
        .set_modified(far)
        .unwrap();
    a.sync();
    a.sync();
    b.sync();
    assert_eq!(b.read(".zshrc"), "future\n");
}

#[test]
fn names_that_differ_only_in_case_are_reported_on_a_case_insensitive_file_system() {
    let dir = tempfile::tempdir().unwrap();
    let remote = bare(dir.path());
    let cfg = serde_json::json!({"name": "dots", "paths": ["~/.config/nvim"]});
    let a = machine(dir.path(), "linux", &remote, cfg.clone());
    a.write(".config/nvim/Init.lua", "upper\n");
    a.write(".config/nvim/init.lua", "lower\n");
    a.write(".config/nvim/other.lua", "other\n");
    a.sync();
    let m = machine(dir.path(), "mac", &remote, cfg);
    let m = Machine {
        engine: Engine::new(
            Layout::new(m.home.join(".dotsync")),
            m.store.clone(),
            m.home.clone(),
        )
        .unwrap()
        .with_machine("mac")
        .with_case_insensitive(true),
        ..m
    };
    let (s, ev) = m.sync();
    assert_eq!(s.failed, 0, "{ev:?}");
    let skipped: Vec<_> = actions(&ev)
        .into_iter()
        .filter(|(_, a)| *a == FileAction::Skipped)
        .map(|(p, _)| p)
        .collect();
    assert_eq!(
        skipped,
        vec![".config/nvim/Init.lua", ".config/nvim/init.lua"]
    );
    // Listed for the person until it is fixed, and the next sync does not fail either.
    let listed: Vec<_> = m
        .engine
        .failures(&m.cfg)
        .unwrap()
        .into_iter()
        .map(|f| f.path)
        .collect();
    assert_eq!(listed, skipped);
    let (s, ev) = m.sync();
    assert_eq!(s.failed, 0, "{ev:?}");
    assert_eq!(m.read(".config/nvim/other.lua"), "other\n");
    assert!(!m.home.join(".config/nvim/init.lua").exists());
}

#[test]
fn a_remote_cannot_make_files_writable_by_others() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two(dir.path());
    a.write(".zshrc", "x\n");
    std::fs::set_permissions(
        a.home.join(".zshrc"),
        std::fs::Permissions::from_mode(0o666),
    )
    .unwrap();
    a.sync();
    b.sync();
    let mode = std::fs::metadata(b.home.join(".zshrc"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o644);
    // And the laptop's own bits are not rewritten back and forth.
    let (s, _) = a.sync();
    assert_eq!(s.pushed + s.pulled, 0);
}

#[test]
fn a_file_over_100_mib_on_the_remote_is_skipped_by_its_size_and_never_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two(dir.path());
    a.write(".zshrc", "small\n");
    a.sync();
    // Someone commits a 101 MiB file into the repository by hand.
    let work = dir.path().join("work");
    git(
        dir.path(),
        &[
            "clone",
            "-q",
            remote_dir(dir.path()).to_str().unwrap(),
            work.to_str().unwrap(),
        ],
    );
    std::fs::create_dir_all(work.join(".config/nvim")).unwrap();
    let f = std::fs::File::create(work.join(".config/nvim/big.bin")).unwrap();
    f.set_len((101 << 20) as u64).unwrap();
    git(&work, &["add", "."]);
    git(
        &work,
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@x",
            "commit",
            "-qm",
            "big",
        ],
    );
    git(&work, &["push", "-q", "origin", "HEAD:main"]);
    for round in 0..2 {
        let (s, ev) = b.sync();
        let skipped: Vec<_> = actions(&ev)
            .into_iter()
            .filter(|(_, a)| *a == FileAction::Skipped)
            .map(|(p, _)| p)
            .collect();
        if round == 0 {
            assert_eq!(skipped, vec![".config/nvim/big.bin".to_owned()], "{ev:?}");
        }
        assert_eq!(s.deleted + s.failed, 0, "{ev:?}");
    }
    assert!(!b.home.join(".config/nvim/big.bin").exists());
    assert_eq!(b.read(".zshrc"), "small\n");
    // Nothing was taken off the remote either.
    let tree = git(
        &remote_dir(dir.path()),
        &["ls-tree", "-r", "--name-only", "main"],
    );
    assert!(tree.contains(".config/nvim/big.bin"), "{tree}");
}

#[test]
fn many_files_arrive_whole_with_their_modes_when_written_as_a_batch() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two(dir.path());
    for i in 0..300 {
        a.write(
            &format!(".config/nvim/d{}/f{i}.lua", i % 7),
            &format!("file {i}\n"),
        );
    }
    a.write(".ssh/config", "Host *\n");
    std::fs::set_permissions(
        a.home.join(".ssh/config"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    let (s, _) = a.sync();
    assert_eq!(s.pushed, 301);
    let (s, ev) = b.sync();
    assert_eq!(s.pulled, 301, "{ev:?}");
    assert_eq!(a.files(), b.files());
    let mode = std::fs::metadata(b.home.join(".ssh/config"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    // The engine's repositories hold the first push as a pack, not 300 loose objects.
    let objects = a.home.join(".dotsync/state/repos");
    let loose = walk_count(&objects, |p| {
        p.parent()
            .and_then(|d| d.file_name())
            .is_some_and(|n| n.len() == 2)
    });
    assert!(loose < 50, "{loose} loose objects after a first push");
    // And edits after it still travel.
    a.write(".config/nvim/d0/f0.lua", "edited\n");
    a.sync();
    b.sync();
    assert_eq!(b.read(".config/nvim/d0/f0.lua"), "edited\n");
}

fn walk_count(dir: &Path, f: impl Fn(&Path) -> bool + Copy) -> usize {
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if e.file_type().unwrap().is_dir() {
            n += walk_count(&p, f);
        } else if f(&p) {
            n += 1;
        }
    }
    n
}

fn settings_pair(dir: &Path, extra: &serde_json::Value) -> (Machine, Machine) {
    let remote = bare(dir);
    let mut cfg = serde_json::json!({"name": "dots", "paths": ["~/.config"]});
    if let (Some(c), Some(e)) = (cfg.as_object_mut(), extra.as_object()) {
        c.extend(e.clone());
    }
    (
        machine(dir, "laptop", &remote, cfg.clone()),
        machine(dir, "desktop", &remote, cfg),
    )
}

fn file_detail(ev: &[SyncEvent], want: &str) -> Option<String> {
    ev.iter().find_map(|e| match e {
        SyncEvent::File { path, detail, .. } if path == want => detail.clone(),
        _ => None,
    })
}

const SETTINGS: &str =
    "{\n    // editor\n    \"editor.fontSize\": 13,\n    \"editor.tabSize\": 4\n}\n";
const SETTINGS_PATH: &str = ".config/Code/User/settings.json";

#[test]
fn settings_edited_on_adjacent_lines_merge_by_key_and_history_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = settings_pair(dir.path(), &serde_json::json!({}));
    a.write(SETTINGS_PATH, SETTINGS);
    a.sync();
    b.sync();
    a.write(SETTINGS_PATH, &SETTINGS.replace("13", "15"));
    b.write(
        SETTINGS_PATH,
        &SETTINGS.replace("\"editor.tabSize\": 4", "\"editor.tabSize\": 2"),
    );
    a.sync();
    let (s, ev) = b.sync();
    assert_eq!((s.merged, s.conflicts), (1, 0), "{ev:?}");
    assert_eq!(
        file_detail(&ev, SETTINGS_PATH).as_deref(),
        Some("merged by key: editor.fontSize, editor.tabSize")
    );
    let both = SETTINGS
        .replace("13", "15")
        .replace("\"editor.tabSize\": 4", "\"editor.tabSize\": 2");
    assert_eq!(b.read(SETTINGS_PATH), both);
    a.sync();
    assert_eq!(a.read(SETTINGS_PATH), both);
    let history = b.engine.history(&b.cfg, SETTINGS_PATH).unwrap();
    assert!(
        history[0]
            .message
            .ends_with("(merged by key: editor.fontSize, editor.tabSize)"),
        "{history:?}"
    );
}

#[test]
fn the_same_key_changed_twice_is_a_conflict_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = settings_pair(dir.path(), &serde_json::json!({}));
    a.write(SETTINGS_PATH, SETTINGS);
    a.sync();
    b.sync();
    a.write(SETTINGS_PATH, &SETTINGS.replace("13", "15"));
    b.write(SETTINGS_PATH, &SETTINGS.replace("13", "16"));
    a.sync();
    let (s, ev) = b.sync();
    assert_eq!(s.conflicts, 1, "{ev:?}");
    assert_eq!(
        file_detail(&ev, SETTINGS_PATH).as_deref(),
        Some("both machines changed editor.fontSize; both kept")
    );
    assert_eq!(b.read(SETTINGS_PATH), SETTINGS.replace("13", "16"));
}

#[test]
fn structured_merge_off_and_extra_globs() {
    // Off: the line merge's conflict stays.
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = settings_pair(dir.path(), &serde_json::json!({"structured_merge": false}));
    a.write(SETTINGS_PATH, SETTINGS);
    a.sync();
    b.sync();
    a.write(SETTINGS_PATH, &SETTINGS.replace("13", "15"));
    b.write(SETTINGS_PATH, &SETTINGS.replace(": 4", ": 2"));
    a.sync();
    assert_eq!(b.sync().0.conflicts, 1);

    // A file without a known extension, mapped by glob.
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = settings_pair(
        dir.path(),
        &serde_json::json!({"merge_formats": {"*rc": "ini"}}),
    );
    let base = "[ui]\ncolor = auto\npager = less\n";
    a.write(".config/toolrc", base);
    a.sync();
    b.sync();
    a.write(".config/toolrc", &base.replace("auto", "always"));
    b.write(".config/toolrc", &base.replace("less", "more"));
    a.sync();
    let (s, ev) = b.sync();
    assert_eq!((s.merged, s.conflicts), (1, 0), "{ev:?}");
    assert_eq!(
        b.read(".config/toolrc"),
        "[ui]\ncolor = always\npager = more\n"
    );
}
