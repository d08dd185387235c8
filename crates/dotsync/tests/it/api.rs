//! The `/v1` API over real HTTP: every route of the seed's table, the name-or-id rule, every
//! error a client can provoke (each with the `{"error":{"code","message"}}` shape), and the
//! checks that keep other programs and web pages out.

use serde_json::{Value, json};

use crate::util::{Machine, World, enc, raw_http, send, send_raw};
use std::fmt::Write as _;

/// A machine with a running daemon.
fn running(world: &World) -> Machine {
    let mut m = world.machine("m");
    m.start_daemon();
    m
}

/// The config the API stores for `body` under `id`: the body with every default filled in.
fn with_defaults(id: &str, body: &Value) -> Value {
    let mut full = json!({
        "id": id,
        "ignore": [],
        "branch": "main",
        "direction": "both",
        "on_conflict": "keep-both",
        "auto": true,
        "interval_s": 60,
        "notify": true,
        "structured_merge": true,
        "merge_formats": {}, "machines": [], "encrypt": [], "per_machine": [], "plaintext": [],
    });
    for (k, v) in body.as_object().unwrap() {
        full[k] = v.clone();
    }
    full
}

#[test]
fn a_config_goes_through_create_read_replace_and_delete() {
    let w = World::new();
    let m = running(&w);

    let r = m.get("/v1/config");
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json, json!([]), "a fresh daemon has no configs");

    let body = json!({
        "name": "dotfiles",
        "paths": ["~/.zshrc", "~/.config/nvim"],
        "ignore": ["*.swp"],
        "remote": "git@github.com:me/dotfiles.git",
    });
    let r = m.post("/v1/config", &body);
    assert_eq!(r.status, 201, "{}", r.text);
    assert!(r.content_type.starts_with("application/json"));
    let obj = r.json.as_object().expect("POST answers an object");
    assert_eq!(obj.len(), 1, "POST answers only the id: {}", r.text);
    let id = obj["id"].as_str().expect("id is a string").to_owned();
    assert!(
        id.starts_with("cfg_") && id.len() == 20,
        "ids look like cfg_ + 16 hex digits: {id}"
    );
    let expected = with_defaults(&id, &body);

    let r = m.get(&format!("/v1/config/{id}"));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json, expected, "GET returns the config with its defaults");

    let second = json!({"name": "work", "paths": ["~/.gitconfig"], "remote": "/srv/work.git",
        "branch": "laptop", "direction": "pull", "on_conflict": "remote", "auto": false,
        "interval_s": 3600});
    let id2 = m.add_config(&second);
    assert_ne!(id, id2, "every config gets its own id");
    let r = m.get("/v1/config");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json,
        json!([expected, with_defaults(&id2, &second)]),
        "GET /v1/config lists every config, oldest first"
    );

    // PUT replaces the whole config: omitted optional fields return to their defaults.
    let replaced = json!({"name": "dotfiles", "paths": ["~/.bashrc"], "remote": "/srv/dots.git",
        "direction": "push"});
    let r = m.put(&format!("/v1/config/{id}"), &replaced);
    assert_eq!(r.status, 204, "{}", r.text);
    assert!(r.text.is_empty(), "204 has no body: {:?}", r.text);
    assert_eq!(
        m.get(&format!("/v1/config/{id}")).json,
        with_defaults(&id, &replaced)
    );

    // What GET returns can be sent back with PUT as is (its id matches the URL).
    let mut fetched = m.get(&format!("/v1/config/{id2}")).json;
    fetched["interval_s"] = json!(120);
    let r = m.put(&format!("/v1/config/{id2}"), &fetched);
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(m.get(&format!("/v1/config/{id2}")).json, fetched);

    // ... but not with another config's id.
    let mut wrong = fetched.clone();
    wrong["id"] = json!(id);
    let r = m.put(&format!("/v1/config/{id2}"), &wrong);
    r.assert_error(400, "invalid");
    assert_eq!(r.error_field(), Some("id"));
    assert_eq!(m.get(&format!("/v1/config/{id2}")).json, fetched);

    let r = m.delete(&format!("/v1/config/{id}"));
    assert_eq!(r.status, 204, "{}", r.text);
    assert!(r.text.is_empty());
    m.get(&format!("/v1/config/{id}"))
        .assert_error(404, "not_found");
    let r = m.get("/v1/config");
    assert_eq!(r.json.as_array().unwrap().len(), 1);
    assert_eq!(r.json[0]["id"], id2.as_str());
}

#[test]
fn every_id_route_takes_the_name_too() {
    let w = World::new();
    let m = running(&w);
    let body = json!({"name": "shell", "paths": ["~/.zshrc"], "remote": "/srv/s.git"});
    let id = m.add_config(&body);

    // GET
    let by_id = m.get(&format!("/v1/config/{id}"));
    let by_name = m.get("/v1/config/shell");
    assert_eq!(by_name.status, 200, "{}", by_name.text);
    assert_eq!(by_name.json, by_id.json);

    // PUT by name, renaming: the id stays and the new name works at once.
    let renamed =
        json!({"name": "zsh", "paths": ["~/.zshrc", "~/.zshenv"], "remote": "/srv/s.git"});
    let r = m.put("/v1/config/shell", &renamed);
    assert_eq!(r.status, 204, "{}", r.text);
    let r = m.get("/v1/config/zsh");
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json, with_defaults(&id, &renamed));
    m.get("/v1/config/shell").assert_error(404, "not_found");

    // PUT by id.
    let r = m.put(&format!("/v1/config/{id}"), &body);
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(m.get("/v1/config/shell").json, with_defaults(&id, &body));

    // DELETE by name.
    let r = m.delete("/v1/config/shell");
    assert_eq!(r.status, 204, "{}", r.text);
    m.get(&format!("/v1/config/{id}"))
        .assert_error(404, "not_found");

    // DELETE by id.
    let id = m.add_config(&body);
    let r = m.delete(&format!("/v1/config/{id}"));
    assert_eq!(r.status, 204, "{}", r.text);
    m.get("/v1/config/shell").assert_error(404, "not_found");
}

#[test]
fn unknown_ids_and_routes_are_404() {
    let w = World::new();
    let m = running(&w);
    m.add_config(&json!({"name": "dots", "paths": ["~/.zshrc"], "remote": "/srv/d.git"}));
    let valid = json!({"name": "other", "paths": ["~/.vimrc"], "remote": "/srv/o.git"});
    for key in ["nope", "cfg_0123456789abcdef", "DOTS"] {
        let msg = m
            .get(&format!("/v1/config/{key}"))
            .assert_error(404, "not_found")
            .to_owned();
        assert!(msg.contains(key), "the message names what was asked: {msg}");
        m.put(&format!("/v1/config/{key}"), &valid)
            .assert_error(404, "not_found");
        m.delete(&format!("/v1/config/{key}"))
            .assert_error(404, "not_found");
    }
    assert_eq!(
        m.get("/v1/config").json.as_array().unwrap().len(),
        1,
        "a PUT to an unknown id creates nothing"
    );
    for path in ["/v1/nothing", "/v2/config", "/v1/config/a/b", "/v1"] {
        m.get(path).assert_error(404, "not_found");
    }
}

#[test]
fn file_lookup_finds_every_config_that_covers_a_file() {
    let w = World::new();
    let m = running(&w);
    let home = m.home_str().to_owned();
    let dots = m.add_config(&json!({
        "name": "dots",
        "paths": ["~/.zshrc", "~/.config/nvim", format!("{home}/.gitconfig")],
        "ignore": ["*.bak", "~/.config/nvim/plugin/**"],
        "remote": "/srv/dots.git",
    }));
    // Another repository may hold the same file: both configs answer.
    let mirror = m.add_config(&json!({
        "name": "mirror", "paths": ["~/.zshrc"], "remote": "/srv/mirror.git",
    }));

    let which = |q: &str| {
        let r = m.get(&format!("/v1/file/{}", enc(q)));
        assert_eq!(r.status, 200, "{q}: {}", r.text);
        let mut ids: Vec<String> = r
            .json
            .as_array()
            .unwrap_or_else(|| panic!("{q}: not an array: {}", r.text))
            .iter()
            .map(|v| v.as_str().expect("ids are strings").to_owned())
            .collect();
        ids.sort();
        ids
    };
    let mut both = vec![dots.clone(), mirror.clone()];
    both.sort();

    assert_eq!(which("~/.zshrc"), both, "~/ path");
    assert_eq!(which(&format!("{home}/.zshrc")), both, "absolute path");
    assert_eq!(which(".zshrc"), both, "bare file name");
    assert_eq!(which("~/.gitconfig"), [dots.as_str()], "listed as absolute");
    assert_eq!(which(".gitconfig"), [dots.as_str()]);
    assert_eq!(
        which("~/.config/nvim/init.lua"),
        [dots.as_str()],
        "file in a listed directory"
    );
    assert_eq!(
        which(&format!("{home}/.config/nvim/lua/plugins/lsp.lua")),
        [dots.as_str()],
        "file deep in a listed directory"
    );
    assert_eq!(
        which("~/.config/nvim"),
        [dots.as_str()],
        "the directory itself"
    );
    assert!(
        which("~/.config/nvim/init.lua.bak").is_empty(),
        "ignored by name"
    );
    assert!(
        which("~/.config/nvim/plugin/packer.lua").is_empty(),
        "ignored by path"
    );
    assert!(
        which("~/.config/nvimrc").is_empty(),
        "a sibling is not inside"
    );
    assert!(
        which("~/.zshrc.local").is_empty(),
        "a longer name is not the file"
    );
    assert!(which("~/.config").is_empty(), "a parent is not covered");
    assert!(which(".bashrc").is_empty());

    // The lookup follows edits and deletes.
    let r = m.delete("/v1/config/mirror");
    assert_eq!(r.status, 204);
    assert_eq!(which("~/.zshrc"), [dots.as_str()]);

    // A query that cannot name a file in the home is a 400, not an empty answer.
    for q in ["~/../etc/passwd", "/etc/passwd", "~/a/../../b"] {
        let r = m.get(&format!("/v1/file/{}", enc(q)));
        r.assert_error(400, "invalid");
    }
}

/// POSTs a raw JSON text and returns the response.
fn post_text(m: &Machine, path: &str, text: &str) -> crate::util::Resp {
    send_raw(
        m.authed("POST", path),
        Some("application/json"),
        text.as_bytes(),
    )
    .expect("request sent")
}

#[test]
fn malformed_bodies_are_400_with_the_error_shape() {
    let w = World::new();
    let m = running(&w);
    let ok = r#"{"name":"a","paths":["~/.a"],"remote":"/srv/a.git"}"#;
    // (body, what the case is)
    let cases = [
        ("{", "truncated JSON"),
        ("", "empty body"),
        ("not json", "not JSON at all"),
        (
            r#"{"name":"a","paths":["~/.a"],"remote":"/srv/a.git",}"#,
            "trailing comma",
        ),
        ("[]", "an array"),
        ("null", "null"),
        (
            r#"{"name":"a","paths":["~/.a"],"remote":"/srv/a.git","colour":"red"}"#,
            "unknown field",
        ),
        (
            r#"{"name":"a","paths":["~/.a"],"remote":"/srv/a.git","Name":"b"}"#,
            "unknown field by case",
        ),
        (
            r#"{"paths":["~/.a"],"remote":"/srv/a.git"}"#,
            "missing name",
        ),
        (r#"{"name":"a","remote":"/srv/a.git"}"#, "missing paths"),
        (r#"{"name":"a","paths":["~/.a"]}"#, "missing remote"),
        (
            r#"{"name":"a","paths":"~/.a","remote":"/srv/a.git"}"#,
            "paths is a string",
        ),
        (
            r#"{"name":7,"paths":["~/.a"],"remote":"/srv/a.git"}"#,
            "name is a number",
        ),
        (
            r#"{"name":"a","paths":[1],"remote":"/srv/a.git"}"#,
            "path is a number",
        ),
        (
            r#"{"name":"a","paths":["~/.a"],"remote":"/srv/a.git","auto":"yes"}"#,
            "auto is a string",
        ),
        (
            r#"{"name":"a","paths":["~/.a"],"remote":"/srv/a.git","interval_s":-5}"#,
            "negative interval",
        ),
        (
            r#"{"name":"a","paths":["~/.a"],"remote":"/srv/a.git","interval_s":1.5}"#,
            "fractional interval",
        ),
        (
            r#"{"name":"a","paths":["~/.a"],"remote":"/srv/a.git","direction":"sideways"}"#,
            "unknown direction",
        ),
        (
            r#"{"name":"a","paths":["~/.a"],"remote":"/srv/a.git","on_conflict":"merge"}"#,
            "unknown on_conflict",
        ),
        (
            r#"{"name":"a","paths":["~/.a"],"remote":null}"#,
            "null remote",
        ),
    ];
    let id = m.add_config(&serde_json::from_str(ok).unwrap());
    let before = m.get("/v1/config").json;
    for (body, what) in cases {
        let r = post_text(&m, "/v1/config", body);
        assert_eq!(r.status, 400, "POST with {what}: {}", r.text);
        r.assert_error(400, "bad_request");
        let r = send_raw(
            m.authed("PUT", &format!("/v1/config/{id}")),
            Some("application/json"),
            body.as_bytes(),
        )
        .unwrap();
        assert_eq!(r.status, 400, "PUT with {what}: {}", r.text);
        r.assert_error(400, "bad_request");
    }
    // The unknown field is named, so a person can find their typo.
    let msg = post_text(
        &m,
        "/v1/config",
        r#"{"name":"b","paths":["~/.b"],"remote":"/srv/b.git","colour":"red"}"#,
    )
    .assert_error(400, "bad_request")
    .to_owned();
    assert!(msg.contains("colour"), "{msg}");
    let msg = post_text(&m, "/v1/config", r#"{"name":"b","paths":["~/.b"]}"#)
        .assert_error(400, "bad_request")
        .to_owned();
    assert!(msg.contains("remote"), "{msg}");
    assert_eq!(m.get("/v1/config").json, before, "nothing was written");
}

#[test]
fn invalid_configs_are_400_naming_the_field() {
    let w = World::new();
    let m = running(&w);
    let home = m.home_str().to_owned();
    let base = json!({"name": "ok", "paths": ["~/.zshrc"], "remote": "/srv/ok.git"});
    let with = |k: &str, v: Value| {
        let mut b = base.clone();
        b[k] = v;
        b
    };
    let cases = [
        (with("paths", json!([])), "paths", "empty paths"),
        (
            with("paths", json!(["~/a/../../etc/passwd"])),
            "paths",
            ".. segment",
        ),
        (
            with("paths", json!(["~/../other/.zshrc"])),
            "paths",
            ".. leaving home",
        ),
        (
            with("paths", json!([format!("{home}/../x")])),
            "paths",
            "absolute with ..",
        ),
        (
            with("paths", json!(["/etc/passwd"])),
            "paths",
            "outside the home",
        ),
        (with("paths", json!(["/"])), "paths", "the root"),
        (with("paths", json!(["~"])), "paths", "the whole home"),
        (with("paths", json!([".zshrc"])), "paths", "relative path"),
        (
            with("paths", json!(["~/.config", "~/.config/nvim"])),
            "paths",
            "self-overlap",
        ),
        (
            with("remote", json!("ext::sh -c touch% /tmp/pwned")),
            "remote",
            "ext:: transport",
        ),
        (with("remote", json!("fd::3")), "remote", "fd:: transport"),
        (
            with("remote", json!("-oProxyCommand=touch /tmp/pwned")),
            "remote",
            "option-like",
        ),
        (
            with("remote", json!("--upload-pack=touch /tmp/pwned")),
            "remote",
            "long option",
        ),
        (with("remote", json!("")), "remote", "empty remote"),
        (
            with("remote", json!("ftp://host/x.git")),
            "remote",
            "unsupported scheme",
        ),
        (with("name", json!("")), "name", "empty name"),
        (with("name", json!("my dots")), "name", "space in name"),
        (
            with("name", json!("cfg_0123456789abcdef")),
            "name",
            "id-like name",
        ),
        (with("name", json!("a".repeat(65))), "name", "long name"),
        (with("branch", json!("a..b")), "branch", "bad branch"),
        (with("branch", json!("-x")), "branch", "option-like branch"),
        (with("interval_s", json!(0)), "interval_s", "zero interval"),
        (with("ignore", json!(["a["])), "ignore", "bad glob"),
        (
            with("id", json!("cfg_0123456789abcdef")),
            "id",
            "id on create",
        ),
    ];
    for (body, field, what) in &cases {
        let r = m.post("/v1/config", body);
        assert_eq!(r.status, 400, "{what}: {}", r.text);
        r.assert_error(400, "invalid");
        assert_eq!(r.error_field(), Some(*field), "{what}: {}", r.text);
    }
    assert_eq!(
        m.get("/v1/config").json,
        json!([]),
        "no refused config was stored"
    );

    // The same rules hold for PUT, and a refused PUT leaves the config as it was.
    let id = m.add_config(&base);
    let stored = m.get(&format!("/v1/config/{id}")).json;
    for (body, field, what) in &cases {
        if *field == "id" {
            continue;
        }
        let r = m.put(&format!("/v1/config/{id}"), body);
        assert_eq!(r.status, 400, "PUT {what}: {}", r.text);
        r.assert_error(400, "invalid");
        assert_eq!(r.error_field(), Some(*field), "PUT {what}: {}", r.text);
    }
    assert_eq!(m.get(&format!("/v1/config/{id}")).json, stored);
}

#[test]
fn names_are_unique_and_one_repository_holds_a_file_once() {
    let w = World::new();
    let m = running(&w);
    let home = m.home_str().to_owned();
    let a = m.add_config(&json!({"name": "a", "paths": ["~/.config"], "remote": "~/dots.git"}));

    let r = m.post(
        "/v1/config",
        &json!({"name": "a", "paths": ["~/.vimrc"], "remote": "/srv/other.git"}),
    );
    let msg = r.assert_error(400, "duplicate_name").to_owned();
    assert_eq!(r.error_field(), Some("name"));
    assert!(msg.contains("\"a\""), "{msg}");

    // The same file through the same repository and branch, spelled differently.
    for (paths, remote) in [
        (json!(["~/.config/nvim"]), json!("~/dots.git")),
        (
            json!([format!("{home}/.config/git/config")]),
            json!(format!("{home}/dots.git")),
        ),
        (
            json!(["~/.config"]),
            json!(format!("file://{home}/dots.git/")),
        ),
        (
            json!(["~/.zshrc", "~/.config/x"]),
            json!(format!("{home}/dots")),
        ),
    ] {
        let r = m.post(
            "/v1/config",
            &json!({"name": "b", "paths": paths, "remote": remote}),
        );
        let msg = r.assert_error(400, "invalid").to_owned();
        assert_eq!(r.error_field(), Some("paths"), "{}", r.text);
        assert!(
            msg.contains("\"a\""),
            "the message names the other config: {msg}"
        );
    }

    // Another branch, or another repository, may hold the same files.
    let b = m.add_config(
        &json!({"name": "b", "paths": ["~/.config/nvim"], "remote": "~/dots.git",
        "branch": "laptop"}),
    );
    let c = m.add_config(&json!({"name": "c", "paths": ["~/.config"], "remote": "/srv/c.git"}));
    let d = m.add_config(&json!({"name": "d", "paths": ["~/.zshrc"], "remote": "~/dots.git"}));

    // PUT obeys the same rules and a refused PUT changes nothing.
    let before = m.get("/v1/config").json;
    m.put(
        &format!("/v1/config/{b}"),
        &json!({"name": "a", "paths": ["~/.config/nvim"], "remote": "~/dots.git", "branch": "laptop"}),
    )
    .assert_error(400, "duplicate_name");
    let r = m.put(
        &format!("/v1/config/{d}"),
        &json!({"name": "d", "paths": ["~/.zshrc", "~/.config/fish"], "remote": "~/dots.git"}),
    );
    r.assert_error(400, "invalid");
    assert_eq!(r.error_field(), Some("paths"));
    assert_eq!(m.get("/v1/config").json, before);

    // A config does not conflict with itself.
    let r = m.put(
        &format!("/v1/config/{a}"),
        &json!({"name": "a", "paths": ["~/.config", "~/.bashrc"], "remote": "~/dots.git"}),
    );
    assert_eq!(r.status, 204, "{}", r.text);
    let _ = c;
}

#[test]
fn wrong_methods_are_405() {
    let w = World::new();
    let m = running(&w);
    let id = m.add_config(&json!({"name": "a", "paths": ["~/.a"], "remote": "/srv/a.git"}));
    for (method, path) in [
        ("PATCH", "/v1/config".to_owned()),
        ("DELETE", "/v1/config".to_owned()),
        ("PUT", "/v1/config".to_owned()),
        ("POST", format!("/v1/config/{id}")),
        ("PATCH", format!("/v1/config/{id}")),
        ("POST", "/v1/file/.zshrc".to_owned()),
        ("DELETE", "/v1/file/.zshrc".to_owned()),
        ("POST", "/v1/health".to_owned()),
        ("PUT", "/v1/openapi.json".to_owned()),
    ] {
        let r = send(m.authed(method, &path), None);
        let msg = r.assert_error(405, "method_not_allowed").to_owned();
        assert!(msg.contains(method), "{method} {path}: {msg}");
    }
    assert_eq!(m.get("/v1/config").json.as_array().unwrap().len(), 1);
}

#[test]
fn bodies_must_be_declared_json_415() {
    let w = World::new();
    let m = running(&w);
    let id = m.add_config(&json!({"name": "a", "paths": ["~/.a"], "remote": "/srv/a.git"}));
    let body = br#"{"name":"b","paths":["~/.b"],"remote":"/srv/b.git"}"#;
    for ct in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
        Some("application/jsonp"),
    ] {
        let r = send_raw(m.authed("POST", "/v1/config"), ct, body).unwrap();
        r.assert_error(415, "unsupported_media_type");
        let r = send_raw(m.authed("PUT", &format!("/v1/config/{id}")), ct, body).unwrap();
        r.assert_error(415, "unsupported_media_type");
    }
    // A charset parameter and upper case are still JSON.
    let r = send_raw(
        m.authed("POST", "/v1/config"),
        Some("Application/JSON; charset=utf-8"),
        body,
    )
    .unwrap();
    assert_eq!(r.status, 201, "{}", r.text);
    let names: Vec<Value> = m
        .get("/v1/config")
        .json
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].clone())
        .collect();
    assert_eq!(
        names,
        [json!("a"), json!("b")],
        "only the JSON request wrote"
    );
}

#[test]
fn bodies_over_one_mib_are_413() {
    const MIB: usize = 1 << 20;
    let w = World::new();
    let m = running(&w);
    let id = m.add_config(&json!({"name": "a", "paths": ["~/.a"], "remote": "/srv/a.git"}));
    // A valid JSON document just over the limit: a long (invalid) name.
    let over = format!(
        r#"{{"name":"{}","paths":["~/.x"],"remote":"/srv/x.git"}}"#,
        "n".repeat(MIB + 16)
    );
    for (method, path) in [
        ("POST", "/v1/config".to_owned()),
        ("PUT", format!("/v1/config/{id}")),
    ] {
        match send_raw(
            m.authed(method, &path),
            Some("application/json"),
            over.as_bytes(),
        ) {
            Ok(r) => {
                r.assert_error(413, "payload_too_large");
            }
            // The daemon may answer 413 and close before the client has written everything;
            // what matters is that it refused and is still well.
            Err(t) => eprintln!("{method} {path}: connection closed while sending: {t}"),
        }
    }
    // Just under the limit the body is read and judged on its content.
    let under = format!(
        r#"{{"name":"{}","paths":["~/.x"],"remote":"/srv/x.git"}}"#,
        "n".repeat(MIB - 100)
    );
    assert!(under.len() <= MIB);
    let r = post_text(&m, "/v1/config", &under);
    r.assert_error(400, "invalid");
    assert_eq!(r.error_field(), Some("name"));

    let r = m.get("/v1/health");
    assert_eq!(r.status, 200, "the daemon survives large bodies");
    assert_eq!(m.get("/v1/config").json.as_array().unwrap().len(), 1);
}

#[test]
fn at_least_one_over_limit_request_reads_413() {
    // `bodies_over_one_mib_are_413` tolerates a closed connection; this one insists on seeing
    // the 413 for a body whose Content-Length announces the excess (the daemon can refuse it
    // before reading, and a small write fits in the socket buffers).
    let w = World::new();
    let m = running(&w);
    let over = vec![b' '; (1 << 20) + 1];
    let r = send_raw(
        m.authed("POST", "/v1/config"),
        Some("application/json"),
        &over,
    )
    .expect("a 1 MiB write fits the loopback socket buffers");
    r.assert_error(413, "payload_too_large");
}

/// The sync routes take no body, `null` or an options object. An array (which serde would read
/// as the fields in order: `[true]` was `allow_mass_delete`), any other JSON value, or a query
/// value outside the documented ones is a 400, and a body over 1 MiB a 413, each in the API's
/// error shape (found by scripts/api-fuzz).
#[test]
fn sync_bodies_are_empty_null_or_an_object() {
    let w = World::new();
    let remote = w.bare_remote("r");
    let m = running(&w);
    m.write(".a", "a");
    m.add_config(&json!({"name": "a", "paths": ["~/.a"],
        "remote": remote.to_str().unwrap(), "auto": false}));
    for path in ["/v1/sync", "/v1/sync/a"] {
        for body in [
            "",
            "null",
            " null\n",
            "{}",
            r#"{"allow_mass_delete":false}"#,
        ] {
            let r = post_text(&m, path, body);
            assert_eq!(r.status, 200, "{path} with {body:?}: {}", r.text);
            assert!(r.content_type.starts_with("application/x-ndjson"));
            assert!(r.text.contains(r#""type":"summary""#), "{}", r.text);
        }
        for body in ["[]", "[true]", "true", "1", r#""x""#] {
            let r = post_text(&m, path, body);
            r.assert_error(400, "bad_request");
        }
        let r = send_raw(m.authed("POST", &format!("{path}?rewind=")), None, b"").unwrap();
        r.assert_error(400, "bad_request");
        let over = vec![b' '; (1 << 20) + 1];
        let r = send_raw(m.authed("POST", path), Some("application/json"), &over)
            .expect("a 1 MiB write fits the loopback socket buffers");
        r.assert_error(413, "payload_too_large");
    }
}

/// `~` alone is the home itself, never a file named `~`.
#[test]
fn the_home_itself_is_no_file_path() {
    let w = World::new();
    let m = running(&w);
    for path in ["/v1/history?path=~", "/v1/content?path=~"] {
        let r = m.get(path);
        r.assert_error(400, "invalid");
        assert_eq!(r.error_field(), Some("path"), "{}", r.text);
    }
    let r = m.post("/v1/restore", &json!({"path": "~", "rev": "abcd"}));
    r.assert_error(400, "invalid");
}

#[test]
fn every_route_but_health_needs_the_token() {
    let w = World::new();
    let m = running(&w);
    let id = m.add_config(&json!({"name": "a", "paths": ["~/.a"], "remote": "/srv/a.git"}));
    let body = json!({"name": "b", "paths": ["~/.b"], "remote": "/srv/b.git"});
    let routes = [
        ("GET", "/v1/config".to_owned(), None),
        ("POST", "/v1/config".to_owned(), Some(&body)),
        ("GET", format!("/v1/config/{id}"), None),
        ("GET", "/v1/config/a".to_owned(), None),
        ("PUT", format!("/v1/config/{id}"), Some(&body)),
        ("DELETE", format!("/v1/config/{id}"), None),
        ("GET", "/v1/file/.a".to_owned(), None),
        ("GET", "/v1/openapi.json".to_owned(), None),
        ("GET", "/v1/nothing".to_owned(), None),
    ];
    let wrong = "0".repeat(64);
    for (method, path, body) in &routes {
        let r = send(m.anon(method, path), *body);
        let msg = r.assert_error(401, "unauthorized").to_owned();
        assert!(msg.contains("token"), "{method} {path}: {msg}");
        let r = send(
            m.anon(method, path)
                .set("Authorization", &format!("Bearer {wrong}")),
            *body,
        );
        r.assert_error(401, "unauthorized");
        // The right token in the wrong scheme, or a prefix of it, is still wrong.
        let token = &m.d().token;
        for header in [
            format!("Basic {token}"),
            token.clone(),
            format!("Bearer {}", &token[..token.len() - 1]),
            format!("Bearer {token}x"),
            "Bearer ".to_owned(),
        ] {
            let r = send(m.anon(method, path).set("Authorization", &header), *body);
            assert_eq!(r.status, 401, "{method} {path} with {header:?}: {}", r.text);
        }
    }
    match ureq::get(&m.url("/v1/config")).call() {
        Err(ureq::Error::Status(401, resp)) => {
            assert!(
                resp.header("www-authenticate")
                    .is_some_and(|h| h.starts_with("Bearer")),
                "401 names the scheme in WWW-Authenticate"
            );
        }
        other => panic!("expected 401, got {other:?}"),
    }
    // None of the refused requests changed anything.
    let r = m.get(&format!("/v1/config/{id}"));
    assert_eq!(r.status, 200);
    assert_eq!(r.json["name"], "a");
    assert_eq!(m.get("/v1/config").json.as_array().unwrap().len(), 1);
}

#[test]
fn health_needs_no_token() {
    let w = World::new();
    let m = running(&w);
    let r = send(m.anon("GET", "/v1/health"), None);
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.content_type.starts_with("application/json"));
    assert_eq!(r.json["status"], "ok");
    let version = r.json["version"].as_str().expect("version is a string");
    assert_eq!(version, env!("CARGO_PKG_VERSION"));
    // A wrong token does not break health either.
    let r = send(
        m.anon("GET", "/v1/health")
            .set("Authorization", "Bearer wrong"),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text);
}

#[test]
fn foreign_host_headers_are_403() {
    let w = World::new();
    let m = running(&w);
    let port = m.d().addr.rsplit(':').next().unwrap().to_owned();
    for host in [
        "evil.example".to_owned(),
        format!("evil.example:{port}"),
        format!("127.0.0.1.evil.example:{port}"),
        format!("localhost.evil.example:{port}"),
        format!("192.168.1.10:{port}"),
        format!("0.0.0.0:{port}"),
        format!("[::2]:{port}"),
    ] {
        for (method, path) in [("GET", "/v1/config"), ("GET", "/v1/health")] {
            let r = send(m.authed(method, path).set("Host", &host), None);
            let msg = r.assert_error(403, "forbidden").to_owned();
            assert!(msg.contains("Host"), "{host}: {msg}");
        }
        let r = send(
            m.authed("POST", "/v1/config").set("Host", &host),
            Some(&json!({"name": "x", "paths": ["~/.x"], "remote": "/srv/x.git"})),
        );
        r.assert_error(403, "forbidden");
    }
    assert_eq!(m.get("/v1/config").json, json!([]), "nothing got through");
    for host in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("LocalHost:{port}"),
        format!("[::1]:{port}"),
        "localhost".to_owned(),
    ] {
        let r = send(m.authed("GET", "/v1/config").set("Host", &host), None);
        assert_eq!(r.status, 200, "Host {host} is loopback: {}", r.text);
    }
}

/// A request that names the daemon twice, or with a port no socket can have, is not "addressed
/// to this machine": a proxy or a rebinding page could pick either header. Sent raw, since HTTP
/// clients refuse to build such requests.
#[test]
fn duplicate_hosts_and_impossible_ports_are_refused() {
    let w = World::new();
    let m = running(&w);
    let addr = m.d().addr.clone();
    let port = addr.rsplit(':').next().unwrap().to_owned();
    let token = m.d().token.clone();
    let request = |hosts: &[&str]| {
        let mut r = format!("GET /v1/config HTTP/1.1\r\nAuthorization: Bearer {token}\r\n");
        for h in hosts {
            let _ = write!(r, "Host: {h}\r\n");
        }
        r.push_str("Connection: close\r\n\r\n");
        r
    };
    let own = format!("127.0.0.1:{port}");
    for hosts in [
        vec![own.as_str(), own.as_str()],
        vec![own.as_str(), "evil.example"],
        vec!["evil.example", own.as_str()],
        vec!["LOCALHOST:99999"],
        vec!["localhost:0"],
        vec!["127.0.0.1:65536"],
        vec!["127.0.0.1:+80"],
        vec!["localhost:"],
    ] {
        let (status, text) = raw_http(&addr, request(&hosts).as_bytes());
        assert!(
            status == 403 || status == 400,
            "Host {hosts:?} must be refused, got {status}:\n{text}"
        );
        if status == 403 {
            assert!(text.contains("\"code\":\"forbidden\""), "{hosts:?}: {text}");
            assert!(text.contains("Host"), "{hosts:?}: {text}");
        }
    }
    for hosts in [vec![own.as_str()], vec!["localhost:65535"], vec!["[::1]:1"]] {
        let (status, text) = raw_http(&addr, request(&hosts).as_bytes());
        assert_eq!(status, 200, "Host {hosts:?} is loopback:\n{text}");
    }
}

#[test]
fn cross_origin_requests_are_403() {
    let w = World::new();
    let m = running(&w);
    let addr = m.d().addr.clone();
    let body = json!({"name": "x", "paths": ["~/.x"], "remote": "/srv/x.git"});
    for origin in [
        "http://evil.example".to_owned(),
        format!("http://evil.example:{}", addr.rsplit(':').next().unwrap()),
        format!("https://{addr}"),
        "null".to_owned(),
        "file://".to_owned(),
    ] {
        let r = send(m.authed("GET", "/v1/config").set("Origin", &origin), None);
        r.assert_error(403, "forbidden");
        let r = send(
            m.authed("POST", "/v1/config").set("Origin", &origin),
            Some(&body),
        );
        r.assert_error(403, "forbidden");
        let r = send(
            m.authed("DELETE", "/v1/config/x").set("Origin", &origin),
            None,
        );
        r.assert_error(403, "forbidden");
    }
    let r = send(
        m.authed("POST", "/v1/config")
            .set("Sec-Fetch-Site", "cross-site"),
        Some(&body),
    );
    r.assert_error(403, "forbidden");
    assert_eq!(m.get("/v1/config").json, json!([]), "nothing got through");

    // The daemon's own origin (its web app) is welcome.
    let r = send(
        m.authed("POST", "/v1/config")
            .set("Origin", &format!("http://{addr}")),
        Some(&body),
    );
    assert_eq!(r.status, 201, "same origin: {}", r.text);
    let r = send(
        m.authed("GET", "/v1/config")
            .set("Sec-Fetch-Site", "same-origin"),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text);
}

#[test]
fn odd_urls_get_json_errors_and_never_crash_the_daemon() {
    let w = World::new();
    let m = running(&w);
    for path in [
        "/v1/config/%FF",
        "/v1/config/%C3%28",
        "/v1/file/%FF%FE",
        "/v1/file/~%2F%FF",
    ] {
        let r = m.get(path);
        r.assert_error(400, "bad_request");
        let r = m.delete(path);
        assert!(r.status == 400 || r.status == 405, "{path}: {}", r.text);
        assert!(r.json["error"]["code"].is_string(), "{path}: {}", r.text);
    }
    for path in [
        "/v1/file/%00".to_owned(),
        format!("/v1/file/{}", "a".repeat(10_000)),
        format!("/v1/config/{}", "a".repeat(10_000)),
        "/v1/file/~%2F%2E%2E%2F%2E%2E".to_owned(),
    ] {
        let r = m.get(&path);
        assert!(
            r.status == 400 || r.status == 404 || r.status == 200,
            "{path}: {}",
            r.text
        );
        if r.status != 200 {
            assert!(r.json["error"]["code"].is_string(), "{path}: {}", r.text);
        }
    }
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    post_text(&m, "/v1/config", &deep).assert_error(400, "bad_request");
    let r = m.get("/v1/health");
    assert_eq!(r.status, 200, "the daemon is still up");
}

#[test]
fn openapi_document_is_served_and_its_routes_answer() {
    let w = World::new();
    let m = running(&w);
    let r = m.get("/v1/openapi.json");
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.content_type.starts_with("application/json"));
    let doc = &r.json;
    let version = doc["openapi"].as_str().expect("openapi version");
    assert!(version.starts_with("3."), "OpenAPI 3, got {version}");
    assert!(doc["info"]["title"].is_string());
    let paths = doc["paths"].as_object().expect("paths object");

    let mut documented: Vec<(String, String)> = Vec::new();
    for (path, item) in paths {
        for method in ["get", "post", "put", "delete", "patch"] {
            if item.get(method).is_some() {
                documented.push((method.to_owned(), path.clone()));
            }
        }
    }
    documented.sort();

    // The seed's table, at least.
    for (method, path) in [
        ("get", "/v1/config"),
        ("post", "/v1/config"),
        ("get", "/v1/config/{id}"),
        ("put", "/v1/config/{id}"),
        ("delete", "/v1/config/{id}"),
        ("get", "/v1/file/{name}"),
        ("get", "/v1/health"),
        ("get", "/v1/openapi.json"),
    ] {
        assert!(
            documented.contains(&(method.to_owned(), path.to_owned())),
            "{method} {path} is missing from the OpenAPI document"
        );
    }

    // And the running daemon answers every documented GET (no fallback 404 or 405). Bodies are
    // not read: a route may be a stream.
    let agent = ureq::AgentBuilder::new()
        .timeout(std::time::Duration::from_secs(10))
        .build();
    for (method, path) in documented.iter().filter(|(m, _)| m == "get") {
        let concrete = path
            .replace("{id}", "no-such-config")
            .replace("{name}", ".zshrc");
        let resp = agent
            .request("GET", &m.url(&concrete))
            .set("Authorization", &format!("Bearer {}", m.d().token))
            .call();
        let (status, body) = match resp {
            Ok(r) => (r.status(), String::new()),
            Err(ureq::Error::Status(s, r)) => (s, r.into_string().unwrap_or_default()),
            Err(e) => panic!("{method} {concrete}: {e}"),
        };
        assert_ne!(status, 405, "{method} {concrete}: {body}");
        assert!(
            !(status == 404 && body.contains("no such route")),
            "{method} {concrete} is documented but not routed: {body}"
        );
    }
    // Every schema a response refers to exists.
    let text = &r.text;
    let schemas = doc["components"]["schemas"].as_object();
    let mut rest = text.as_str();
    while let Some(i) = rest.find("#/components/schemas/") {
        rest = &rest[i + "#/components/schemas/".len()..];
        let name: String = rest.chars().take_while(|c| *c != '"').collect();
        assert!(
            schemas.is_some_and(|s| s.contains_key(&name)),
            "schema {name} is referenced but not defined"
        );
    }
}
