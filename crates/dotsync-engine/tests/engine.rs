//! The engine driven directly: several machines (homes + state stores) in one process, one
//! real bare git remote. Faster than the end-to-end tests and closer to the algorithm.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use dotsync_core::{ConfigInput, SyncConfig};
use dotsync_engine::{Engine, FileAction, Resolution, SyncEvent, SyncOptions, SyncSummary};
use dotsync_state::{Layout, Store};

struct Machine {
    home: PathBuf,
    engine: Engine,
    store: Arc<Store>,
    cfg: SyncConfig,
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .expect("git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn bare(dir: &Path) -> PathBuf {
    let r = dir.join("remote.git");
    git(
        dir,
        &["init", "-q", "--bare", "-b", "main", r.to_str().unwrap()],
    );
    r
}

fn machine(dir: &Path, name: &str, remote: &Path, cfg_json: serde_json::Value) -> Machine {
    let home = dir.join(name);
    std::fs::create_dir_all(&home).unwrap();
    let layout = Layout::new(home.join(".dotsync"));
    layout.ensure().unwrap();
    let store = Arc::new(Store::open(&layout.db_path()).unwrap());
    let mut body = cfg_json;
    body["remote"] = serde_json::json!(remote.to_str().unwrap());
    let input: ConfigInput = serde_json::from_value(body).unwrap();
    let cfg = input
        .validate("cfg_00000000000000aa".into(), &home)
        .unwrap();
    store.create_config(&cfg, &home).unwrap();
    let engine = Engine::new(layout, store.clone(), home.clone()).with_machine(name);
    Machine {
        home,
        engine,
        store,
        cfg,
    }
}

impl Machine {
    fn sync_with(
        &self,
        opts: &SyncOptions,
    ) -> (
        Result<SyncSummary, dotsync_engine::SyncError>,
        Vec<SyncEvent>,
    ) {
        let mut events = Vec::new();
        let r = self
            .engine
            .sync(&self.cfg, opts, &mut |e| events.push(e.clone()));
        (r, events)
    }
    fn sync(&self) -> (SyncSummary, Vec<SyncEvent>) {
        let (r, ev) = self.sync_with(&SyncOptions::default());
        (
            r.unwrap_or_else(|e| panic!("sync failed: {e}; events: {ev:?}")),
            ev,
        )
    }
    fn write(&self, rel: &str, content: &str) {
        let p = self.home.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }
    fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.home.join(rel)).unwrap()
    }
}

fn actions(ev: &[SyncEvent]) -> Vec<(String, FileAction)> {
    ev.iter()
        .filter_map(|e| match e {
            SyncEvent::File { path, action, .. } => Some((path.clone(), *action)),
            _ => None,
        })
        .collect()
}

fn two(dir: &Path) -> (Machine, Machine) {
    let remote = bare(dir);
    let cfg =
        serde_json::json!({"name": "dots", "paths": ["~/.zshrc", "~/.config/nvim", "~/.ssh"]});
    (
        machine(dir, "laptop", &remote, cfg.clone()),
        machine(dir, "desktop", &remote, cfg),
    )
}

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
    let big: Vec<u8> = (0..2 * 1024 * 1024).map(|i| (i * 7 % 256) as u8).collect();
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
fn a_branch_rewound_on_purpose_is_not_silently_fast_forwarded_back() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two(dir.path());
    a.write(".zshrc", "ok\n");
    a.sync();
    let clean = a.engine.last_synced_commit(&a.cfg).unwrap().unwrap();
    a.write(".config/nvim/secret.lua", "token = 'leaked'\n");
    a.sync();
    b.sync();
    // Someone removes the leak by force-pushing the branch back.
    git(
        &dir.path().join("remote.git"),
        &["update-ref", "refs/heads/main", &clean],
    );
    // The laptop, which still has the leaked commit as its base, edits something else.
    a.write(".zshrc", "ok, edited\n");
    let (s, _) = a.sync();
    assert!(s.commit.is_some());
    let tree = git(
        &dir.path().join("remote.git"),
        &["ls-tree", "-r", "--name-only", "main"],
    );
    assert!(
        !tree.contains("secret.lua"),
        "the rewound commit came back: {tree}"
    );
    let log = git(
        &dir.path().join("remote.git"),
        &["log", "--format=%H", "main"],
    );
    let leaked = b.engine.last_synced_commit(&b.cfg).unwrap().unwrap();
    assert!(
        !log.contains(&leaked),
        "the leaked commit is in the history again"
    );
}

#[test]
fn temporary_files_left_by_a_killed_write_are_never_synced_and_old_ones_are_removed() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two(dir.path());
    a.write(".config/nvim/init.lua", "ok\n");
    a.write(".config/nvim/.init.lua.dotsync-tmp-0a1b2c", "half a fi");
    a.write(".config/nvim/.x.lua.dotsync-tmp-ffeedd", "in flight");
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(a.home.join(".config/nvim/.init.lua.dotsync-tmp-0a1b2c"))
        .unwrap()
        .set_modified(old)
        .unwrap();
    let (s, _) = a.sync();
    assert_eq!(s.pushed, 1, "{s:?}");
    assert!(
        !a.home
            .join(".config/nvim/.init.lua.dotsync-tmp-0a1b2c")
            .exists(),
        "an old leftover is removed"
    );
    assert!(
        a.home
            .join(".config/nvim/.x.lua.dotsync-tmp-ffeedd")
            .exists(),
        "a fresh one may belong to a running write"
    );
    b.sync();
    let names: Vec<_> = std::fs::read_dir(b.home.join(".config/nvim"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("init.lua")]);
}
