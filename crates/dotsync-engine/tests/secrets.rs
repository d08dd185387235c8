//! Issue 16: secrets encrypted on the remote, files that differ per machine on purpose, and
//! configs that apply to some machines only. Several machines in one process against one real
//! bare remote, like `engine.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

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
