use std::path::Path;

use super::*;

fn input(json: serde_json::Value) -> ConfigInput {
    serde_json::from_value(json).expect("test input parses")
}

fn id() -> String {
    "cfg_0123456789abcdef".into()
}

#[test]
fn a_new_input_has_the_defaults_of_a_body_that_omits_every_optional_field() {
    let home = Path::new("/home/me");
    let parsed = input(
        serde_json::json!({"name": "dots", "paths": ["~/.zshrc"], "remote": "/srv/dots.git"}),
    )
    .validate(id(), home)
    .expect("valid");
    let built = ConfigInput::new("dots", "/srv/dots.git", vec!["~/.zshrc".into()])
        .validate(id(), home)
        .expect("valid");
    assert_eq!(built, parsed);
    // And a stored config sent back is the same config.
    assert_eq!(
        ConfigInput::from(built.clone())
            .validate(id(), home)
            .expect("valid"),
        built
    );
}

#[test]
fn defaults_fill_in_omitted_fields() {
    let cfg = input(
        serde_json::json!({"name": "dots", "paths": ["~/.zshrc"], "remote": "/srv/dots.git"}),
    )
    .validate(id(), Path::new("/home/me"))
    .expect("valid");
    assert_eq!(cfg.branch, "main");
    assert_eq!(cfg.direction, Direction::Both);
    assert_eq!(cfg.on_conflict, OnConflict::KeepBoth);
    assert!(cfg.auto);
    assert_eq!(cfg.interval_s, 60);
    assert!(cfg.notify);
    assert!(cfg.structured_merge);
    assert!(cfg.merge_formats.is_empty());
    assert!(cfg.machines.is_empty());
    assert!(cfg.encrypt.is_empty());
    assert!(cfg.applies_to("anything"));
}

#[test]
fn machines_name_where_a_config_applies() {
    let cfg = input(serde_json::json!({
        "name": "gui", "paths": ["~/.config/i3"], "remote": "/r", "machines": ["laptop", "desk"]
    }))
    .validate(id(), Path::new("/home/me"))
    .expect("valid");
    assert!(cfg.applies_to("laptop"));
    assert!(!cfg.applies_to("server"));
}

#[test]
fn encrypt_globs_match_paths_or_names() {
    let cfg = input(serde_json::json!({
        "name": "dots", "paths": ["~/.ssh", "~/.npmrc"], "remote": "/r",
        "encrypt": [".ssh/**", ".npmrc"]
    }))
    .validate(id(), Path::new("/home/me"))
    .expect("valid");
    assert!(cfg.encrypts(".ssh/config"));
    assert!(cfg.encrypts(".ssh/keys/id_ed25519"));
    assert!(cfg.encrypts(".npmrc"));
    assert!(cfg.encrypts("work/.npmrc"));
    assert!(!cfg.encrypts(".zshrc"));
}

#[test]
fn merge_formats_map_globs_to_formats() {
    let cfg = input(serde_json::json!({
        "name": "dots", "paths": ["~/.config"], "remote": "/r",
        "merge_formats": {"*.conf": "ini", ".config/app/settings": "json"}
    }))
    .validate(id(), Path::new("/home/me"))
    .expect("valid");
    assert_eq!(
        cfg.merge_format_for(".config/kitty/kitty.conf"),
        Some("ini")
    );
    assert_eq!(cfg.merge_format_for(".config/app/settings"), Some("json"));
    assert_eq!(cfg.merge_format_for(".config/app/other"), None);
}

#[test]
fn configs_stored_before_notify_existed_read_as_notify_on() {
    let cfg: SyncConfig = serde_json::from_value(serde_json::json!({
        "id": "cfg_0123456789abcdef", "name": "dots", "paths": ["~/.zshrc"], "ignore": [],
        "remote": "/r", "branch": "main", "direction": "both", "on_conflict": "keep-both",
        "auto": true, "interval_s": 60
    }))
    .expect("an old stored config parses");
    assert!(cfg.notify);
    assert!(cfg.structured_merge);
    assert!(cfg.merge_formats.is_empty());
}

#[test]
fn unknown_fields_are_refused() {
    let r: Result<ConfigInput, _> = serde_json::from_value(serde_json::json!({
        "name": "dots", "paths": ["~/.zshrc"], "remote": "/r", "colour": "blue"
    }));
    assert!(r.is_err());
}

#[test]
fn bad_inputs_name_their_field() {
    let home = Path::new("/home/me");
    let cases = [
        (
            serde_json::json!({"name": "a b", "paths": ["~/.x"], "remote": "/r"}),
            "name",
        ),
        (
            serde_json::json!({"name": "cfg_x", "paths": ["~/.x"], "remote": "/r"}),
            "name",
        ),
        (
            serde_json::json!({"name": "a", "paths": [], "remote": "/r"}),
            "paths",
        ),
        (
            serde_json::json!({"name": "a", "paths": ["~/../etc"], "remote": "/r"}),
            "paths",
        ),
        (
            serde_json::json!({"name": "a", "paths": ["/etc/passwd"], "remote": "/r"}),
            "paths",
        ),
        (
            serde_json::json!({"name": "a", "paths": ["~/.x", "~/.x/y"], "remote": "/r"}),
            "paths",
        ),
        (
            serde_json::json!({"name": "a", "paths": ["~/.x"], "remote": "ext::sh -c x"}),
            "remote",
        ),
        (
            serde_json::json!({"name": "a", "paths": ["~/.x"], "remote": "-oProxy=x"}),
            "remote",
        ),
        (
            serde_json::json!({"name": "a", "paths": ["~/.x"], "remote": "/r", "branch": "a..b"}),
            "branch",
        ),
        (
            serde_json::json!({"name": "a", "paths": ["~/.x"], "remote": "/r", "interval_s": 0}),
            "interval_s",
        ),
        (
            serde_json::json!({"name": "a", "paths": ["~/.x"], "remote": "/r", "ignore": ["a[" ]}),
            "ignore",
        ),
        (
            serde_json::json!({"name": "a", "paths": ["~/.x"], "remote": "/r", "merge_formats": {"a[": "json"}}),
            "merge_formats",
        ),
        (
            serde_json::json!({"name": "a", "paths": ["~/.x"], "remote": "/r", "merge_formats": {"*.x": "xml"}}),
            "merge_formats",
        ),
        (
            serde_json::json!({"name": "a", "paths": ["~/.x"], "remote": "/r", "machines": ["a b"]}),
            "machines",
        ),
        (
            serde_json::json!({"name": "a", "paths": ["~/.x"], "remote": "/r", "machines": [""]}),
            "machines",
        ),
        (
            serde_json::json!({"name": "a", "paths": ["~/.x"], "remote": "/r", "encrypt": ["a["]}),
            "encrypt",
        ),
    ];
    for (json, field) in cases {
        let err = input(json.clone())
            .validate(id(), home)
            .expect_err(&format!("{json} must be refused"));
        assert_eq!(err.field, field, "{json}: {err}");
    }
}

#[test]
fn two_configs_on_one_remote_may_not_share_files() {
    let home = Path::new("/home/me");
    let a = input(serde_json::json!({"name": "a", "paths": ["~/.config"], "remote": "/r"}))
        .validate("cfg_aaaaaaaaaaaaaaaa".into(), home)
        .expect("valid");
    let b =
        input(serde_json::json!({"name": "b", "paths": ["/home/me/.config/nvim"], "remote": "/r"}))
            .validate("cfg_bbbbbbbbbbbbbbbb".into(), home)
            .expect("valid");
    assert!(matches!(
        check_against_others(&b, [&a], home),
        Err(ConflictWithOthers::OverlappingPaths { .. })
    ));
    let mut c = b.clone();
    c.branch = "other".into();
    assert_eq!(check_against_others(&c, [&a], home), Ok(()));
    let mut d = b.clone();
    d.name = "a".into();
    d.paths = vec!["~/.zshrc".into()];
    assert!(matches!(
        check_against_others(&d, [&a], home),
        Err(ConflictWithOthers::DuplicateName(_))
    ));
}

#[test]
fn ids_are_recognised() {
    assert!(looks_like_id("cfg_0123456789abcdef"));
    assert!(!looks_like_id("dotfiles"));
    assert!(!looks_like_id("cfg_0123"));
}
