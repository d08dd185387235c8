//! Settings files merged by key between two real daemons (issue 15).

use std::path::Path;

use serde_json::{Value, json};

use crate::util::*;

fn auto_cfg(remote: &Path, paths: &[&str]) -> Value {
    json!({"name": "dots", "paths": paths, "remote": remote.to_str().unwrap(),
        "auto": true, "interval_s": 1})
}

const SETTINGS: &str = ".config/Code/User/settings.json";
const BASE: &str = "{\n    // my editor\n    \"editor.fontSize\": 13,\n    \"editor.tabSize\": 4,\n    \"workbench.colorTheme\": \"Default Dark+\"\n}\n";

#[test]
fn settings_json_edited_on_two_machines_in_the_same_minute_converges_by_key() {
    let w = World::new();
    let remote = w.bare_remote("dots");
    let mut a = w.machine("laptop");
    let mut b = w.machine("desktop");
    a.start_daemon();
    b.start_daemon();
    a.add_config(&auto_cfg(&remote, &["~/.config/Code/User"]));
    b.add_config(&auto_cfg(&remote, &["~/.config/Code/User"]));
    wait_synced(&a, "dots");
    wait_synced(&b, "dots");
    a.write(SETTINGS, BASE);
    wait_until(20, "the base on B", || {
        read_opt(&b, SETTINGS).as_deref() == Some(BASE)
    });
    wait_synced(&b, "dots");
    // Adjacent lines, both machines at once: the line merge alone would conflict.
    a.write(SETTINGS, BASE.replace("13", "15"));
    b.write(
        SETTINGS,
        BASE.replace("\"editor.tabSize\": 4", "\"editor.tabSize\": 2"),
    );
    let both = BASE
        .replace("13", "15")
        .replace("\"editor.tabSize\": 4", "\"editor.tabSize\": 2");
    wait_until(30, "both machines to hold both edits", || {
        read_opt(&a, SETTINGS).as_deref() == Some(both.as_str())
            && read_opt(&b, SETTINGS).as_deref() == Some(both.as_str())
    });
    for m in [&a, &b] {
        wait_synced(m, "dots");
        let s = config_status(m, "dots");
        assert_eq!(s["conflicts"], 0, "{s}");
    }
    // The machine that merged says so in the file's history.
    let merged = [&a, &b].iter().any(|m| {
        let h = m.ok(&["log", &format!("~/{SETTINGS}")]);
        h.contains("merged by key: editor.fontSize, editor.tabSize")
    });
    assert!(merged, "one machine merged by key");
}

#[test]
fn the_merge_fields_are_set_from_the_cli_and_checked_by_the_api() {
    let w = World::new();
    let mut m = w.machine("m");
    m.start_daemon();
    m.ok(&[
        "config",
        "add",
        "dots",
        "--remote",
        "/srv/dots.git",
        "~/.config",
        "--structured-merge",
        "false",
        "--merge-format",
        "*.conf=ini",
        "--merge-format",
        ".config/app/prefs=json",
    ]);
    let shown = m.ok_json(&["config", "show", "dots", "--json"]);
    assert_eq!(shown["structured_merge"], false);
    assert_eq!(
        shown["merge_formats"],
        json!({"*.conf": "ini", ".config/app/prefs": "json"})
    );
    // An edit keeps the map and adds to it.
    m.ok(&["config", "edit", "dots", "--merge-format", "*.yml=yaml"]);
    let shown = m.ok_json(&["config", "show", "dots", "--json"]);
    assert_eq!(shown["merge_formats"].as_object().unwrap().len(), 3);
    // A format dotsync does not merge, or a bad glob: a 400 naming the field.
    for bad in [json!({"*.x": "xml"}), json!({"a[": "json"})] {
        let r = m.post(
            "/v1/config",
            &json!({"name": "other", "paths": ["~/.zshrc"], "remote": "/srv/o.git",
                "merge_formats": bad}),
        );
        assert_eq!(r.error_field(), Some("merge_formats"), "{}", r.text);
        r.assert_error(400, "invalid");
    }
}
