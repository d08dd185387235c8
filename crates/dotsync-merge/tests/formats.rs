//! Every bullet of issue 15's tests, per format: the merged text is checked byte for byte.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use dotsync_merge::{Format, Refusal, merge};

fn ok(format: Format, base: &str, ours: &str, theirs: &str) -> (String, Vec<String>) {
    match merge(format, base.as_bytes(), ours.as_bytes(), theirs.as_bytes()) {
        Ok(m) => (String::from_utf8(m.bytes).expect("utf-8"), m.keys),
        Err(e) => panic!("{format}: expected a merge, got {e:?}"),
    }
}

fn refused(format: Format, base: &str, ours: &str, theirs: &str) -> Refusal {
    match merge(format, base.as_bytes(), ours.as_bytes(), theirs.as_bytes()) {
        Ok(m) => panic!(
            "{format}: expected a refusal, got {:?}",
            String::from_utf8_lossy(&m.bytes)
        ),
        Err(e) => e,
    }
}

fn keys(k: &[&str]) -> Vec<String> {
    k.iter().map(|s| (*s).to_owned()).collect()
}

// ---------------------------------------------------------------- JSON / JSONC

const JSON_BASE: &str = r#"{
    // Editor
    "editor.fontSize": 13,
    "editor.tabSize": 4,
    /* Looks */
    "workbench.colorTheme": "Default Dark+",
    "files.exclude": {
        "**/.git": true
    },
}
"#;

#[test]
fn json_adjacent_lines_and_comments_preserved() {
    let ours = JSON_BASE.replace("\"editor.fontSize\": 13", "\"editor.fontSize\": 15");
    let theirs = JSON_BASE.replace("\"editor.tabSize\": 4", "\"editor.tabSize\": 2");
    let (m, k) = ok(Format::Json, JSON_BASE, &ours, &theirs);
    assert_eq!(
        m,
        JSON_BASE
            .replace("\"editor.fontSize\": 13", "\"editor.fontSize\": 15")
            .replace("\"editor.tabSize\": 4", "\"editor.tabSize\": 2")
    );
    assert_eq!(k, keys(&["editor.fontSize", "editor.tabSize"]));
}

#[test]
fn json_one_line_objects() {
    let base = r#"{"a": 1, "b": 2, "c": 3}"#;
    let (m, k) = ok(
        Format::Json,
        base,
        r#"{"a": 10, "b": 2, "c": 3}"#,
        r#"{"a": 1, "b": 2, "c": 30}"#,
    );
    assert_eq!(m, r#"{"a": 10, "b": 2, "c": 30}"#);
    assert_eq!(k, keys(&["a", "c"]));
    // A key added on each side, in a one-line object.
    let (m, _) = ok(
        Format::Json,
        base,
        r#"{"a": 1, "b": 2, "c": 3, "d": 4}"#,
        r#"{"a": 1, "b": 2, "c": 3, "e": 5}"#,
    );
    assert_eq!(m, r#"{"a": 1, "b": 2, "c": 3, "d": 4, "e": 5}"#);
}

#[test]
fn json_both_append_to_the_same_object() {
    let base = "{\n  \"a\": 1\n}\n";
    let ours = "{\n  \"a\": 1,\n  \"b\": 2\n}\n";
    let theirs = "{\n  \"a\": 1,\n  \"c\": 3\n}\n";
    let (m, k) = ok(Format::Json, base, ours, theirs);
    assert_eq!(m, "{\n  \"a\": 1,\n  \"b\": 2,\n  \"c\": 3\n}\n");
    assert_eq!(k, keys(&["b", "c"]));
    // Swapped: the same keys, in this side's order and format.
    let (m, _) = ok(Format::Json, base, theirs, ours);
    assert_eq!(m, "{\n  \"a\": 1,\n  \"c\": 3,\n  \"b\": 2\n}\n");
}

#[test]
fn json_nested_keys_changed_on_each_side() {
    let base = "{\n  \"x\": {\n    \"y\": 1,\n    \"z\": 2\n  }\n}\n";
    let ours = "{\n  \"x\": {\n    \"y\": 10,\n    \"z\": 2\n  }\n}\n";
    let theirs = "{\n  \"x\": {\n    \"y\": 1,\n    \"z\": 20\n  }\n}\n";
    let (m, k) = ok(Format::Json, base, ours, theirs);
    assert_eq!(m, "{\n  \"x\": {\n    \"y\": 10,\n    \"z\": 20\n  }\n}\n");
    assert_eq!(k, keys(&["x.y", "x.z"]));
}

#[test]
fn json_same_change_on_both_sides_is_no_conflict() {
    let ours = JSON_BASE.replace("13", "14");
    let theirs = JSON_BASE
        .replace("13", "14")
        .replace("\"editor.tabSize\": 4", "\"editor.tabSize\": 8");
    let (m, k) = ok(Format::Json, JSON_BASE, &ours, &theirs);
    assert_eq!(m, theirs);
    assert_eq!(k, keys(&["editor.fontSize", "editor.tabSize"]));
}

#[test]
fn json_true_conflict_names_the_key() {
    let ours = JSON_BASE.replace("13", "14");
    let theirs = JSON_BASE.replace("13", "16");
    assert_eq!(
        refused(Format::Json, JSON_BASE, &ours, &theirs),
        Refusal::Conflict {
            keys: keys(&["editor.fontSize"])
        }
    );
    // Deleted on one side, changed on the other.
    let deleted = JSON_BASE.replace("    \"editor.tabSize\": 4,\n", "");
    let changed = JSON_BASE.replace("\"editor.tabSize\": 4", "\"editor.tabSize\": 3");
    assert_eq!(
        refused(Format::Json, JSON_BASE, &deleted, &changed),
        Refusal::Conflict {
            keys: keys(&["editor.tabSize"])
        }
    );
}

#[test]
fn json_deletions_and_array_appends() {
    // Deleted on one side, unchanged on the other: deleted, its comments around kept.
    let theirs = JSON_BASE.replace("    \"editor.tabSize\": 4,\n", "");
    let ours = JSON_BASE.replace("13", "12");
    let (m, _) = ok(Format::Json, JSON_BASE, &ours, &theirs);
    assert_eq!(m, theirs.replace("13", "12"));
    // Arrays: both appended, both kept; otherwise a value.
    let base = "{\"p\": [1, 2], \"q\": 0}";
    let (m, _) = ok(
        Format::Json,
        base,
        "{\"p\": [1, 2, 3], \"q\": 0}",
        "{\"p\": [1, 2, 4], \"q\": 0}",
    );
    assert_eq!(m, "{\"p\": [1, 2, 3, 4], \"q\": 0}");
    assert!(matches!(
        refused(
            Format::Json,
            base,
            "{\"p\": [2, 1], \"q\": 0}",
            "{\"p\": [1], \"q\": 0}"
        ),
        Refusal::Conflict { .. }
    ));
}

#[test]
fn json_unparsable_side_is_refused() {
    assert!(matches!(
        refused(Format::Json, JSON_BASE, "{\"a\": ", JSON_BASE),
        Refusal::Unparsable { side: "local", .. }
    ));
}

// ---------------------------------------------------------------- TOML

const TOML_BASE: &str = r#"# starship
add_newline = false  # keep it tight
scan_timeout = 30

[character]
success_symbol = "[➜](bold green)"
error_symbol = "[✗](bold red)"

[git_branch]
symbol = "🌱 "
"#;

#[test]
fn toml_adjacent_lines_and_comments_preserved() {
    let ours = TOML_BASE.replace("add_newline = false", "add_newline = true");
    let theirs = TOML_BASE.replace("scan_timeout = 30", "scan_timeout = 10");
    let (m, k) = ok(Format::Toml, TOML_BASE, &ours, &theirs);
    assert_eq!(
        m,
        TOML_BASE
            .replace("add_newline = false", "add_newline = true")
            .replace("scan_timeout = 30", "scan_timeout = 10")
    );
    assert_eq!(k, keys(&["add_newline", "scan_timeout"]));
}

#[test]
fn toml_one_line_inline_tables() {
    let base = "font = { family = \"Mono\", size = 11 }\n";
    let (m, k) = ok(
        Format::Toml,
        base,
        "font = { family = \"Fira\", size = 11 }\n",
        "font = { family = \"Mono\", size = 13 }\n",
    );
    assert_eq!(m, "font = { family = \"Fira\", size = 13 }\n");
    assert_eq!(k, keys(&["font.family", "font.size"]));
}

#[test]
fn toml_both_append_to_the_same_table() {
    let base = "[a]\nx = 1\n\n[b]\ny = 2\n";
    let ours = "[a]\nx = 1\nmine = true\n\n[b]\ny = 2\n";
    let theirs = "[a]\nx = 1\ntheirs = \"t\"\n\n[b]\ny = 2\n";
    let (m, _) = ok(Format::Toml, base, ours, theirs);
    assert_eq!(m, "[a]\nx = 1\nmine = true\ntheirs = \"t\"\n\n[b]\ny = 2\n");
}

#[test]
fn toml_nested_keys_changed_on_each_side() {
    let base = "[editor]\n[editor.cursor]\nshape = \"block\"\nblink = false\n";
    let ours = "[editor]\n[editor.cursor]\nshape = \"bar\"\nblink = false\n";
    let theirs = "[editor]\n[editor.cursor]\nshape = \"block\"\nblink = true\n";
    let (m, k) = ok(Format::Toml, base, ours, theirs);
    assert_eq!(
        m,
        "[editor]\n[editor.cursor]\nshape = \"bar\"\nblink = true\n"
    );
    assert_eq!(k, keys(&["editor.cursor.blink", "editor.cursor.shape"]));
}

#[test]
fn toml_same_change_and_true_conflict() {
    let ours = TOML_BASE.replace("30", "5");
    let theirs = TOML_BASE.replace("30", "5").replace("false", "true");
    let (m, _) = ok(Format::Toml, TOML_BASE, &ours, &theirs);
    assert_eq!(m, theirs);
    let theirs = TOML_BASE.replace("30", "6");
    assert_eq!(
        refused(Format::Toml, TOML_BASE, &ours, &theirs),
        Refusal::Conflict {
            keys: keys(&["scan_timeout"])
        }
    );
    let ours = TOML_BASE.replace("🌱 ", "x");
    let theirs = TOML_BASE.replace("🌱 ", "y");
    assert_eq!(
        refused(Format::Toml, TOML_BASE, &ours, &theirs),
        Refusal::Conflict {
            keys: keys(&["git_branch.symbol"])
        }
    );
}

#[test]
fn toml_new_table_and_array_appends() {
    let base = "plugins = [\"a\"]\n\n[x]\nk = 1\n";
    let ours = "plugins = [\"a\", \"b\"]\n\n[x]\nk = 1\n";
    let theirs = "plugins = [\"a\", \"c\"]\n\n[x]\nk = 1\n\n[y]\nz = 2\n";
    let (m, _) = ok(Format::Toml, base, ours, theirs);
    assert_eq!(
        m,
        "plugins = [\"a\", \"b\", \"c\"]\n\n[x]\nk = 1\n\n[y]\nz = 2\n"
    );
}

#[test]
fn toml_unparsable_side_is_refused() {
    assert!(matches!(
        refused(Format::Toml, TOML_BASE, TOML_BASE, "[unclosed\n"),
        Refusal::Unparsable { side: "remote", .. }
    ));
}

// ---------------------------------------------------------------- YAML

const YAML_BASE: &str = "# lazygit\ngui:\n  theme:\n    activeBorderColor: [green, bold]\n  showIcons: false # icons\n  sidePanelWidth: 0.33\ngit:\n  paging:\n    colorArg: always\n  autoFetch: true\nplugins:\n  - one\n  - two\n";

#[test]
fn yaml_adjacent_lines_and_comments_preserved() {
    let ours = YAML_BASE.replace("showIcons: false", "showIcons: true");
    let theirs = YAML_BASE.replace("sidePanelWidth: 0.33", "sidePanelWidth: 0.25");
    let (m, k) = ok(Format::Yaml, YAML_BASE, &ours, &theirs);
    assert_eq!(
        m,
        YAML_BASE
            .replace("showIcons: false", "showIcons: true")
            .replace("sidePanelWidth: 0.33", "sidePanelWidth: 0.25")
    );
    assert_eq!(k, keys(&["gui.showIcons", "gui.sidePanelWidth"]));
}

#[test]
fn yaml_a_quoted_value_made_plain_is_an_edit() {
    // '1' (a string) and 1 (a number) differ: the other side's change of type is kept.
    let (m, k) = ok(
        Format::Yaml,
        "a: '1'\nb: 1\nc: x\n",
        "a: '1'\nb: 2\nc: x\n",
        "a: 1\nb: 1\nc: x\n",
    );
    assert_eq!(m, "a: 1\nb: 2\nc: x\n");
    assert_eq!(k, keys(&["a", "b"]));
}

#[test]
fn yaml_one_line_flow_collections_merge_key_by_key() {
    // Two different keys of one flow mapping: both kept, the line otherwise as it was.
    let base = "editor: {fontSize: 12, theme: 'dark'}  # mine\nb: 1\n";
    let (m, k) = ok(
        Format::Yaml,
        base,
        "editor: {fontSize: 14, theme: 'dark'}  # mine\nb: 1\n",
        "editor: {fontSize: 12, theme: 'light'}\nb: 1\n",
    );
    assert_eq!(m, "editor: {fontSize: 14, theme: 'light'}  # mine\nb: 1\n");
    assert_eq!(k, keys(&["editor.fontSize", "editor.theme"]));
    // A key added on each side, and one deleted.
    let (m, _) = ok(
        Format::Yaml,
        "a: {x: 1, y: 2, z: 3}\n",
        "a: {x: 1, y: 2, z: 3, mine: true}\n",
        "a: {x: 1, z: 3, theirs: \"yes\"}\n",
    );
    assert_eq!(m, "a: {x: 1, z: 3, mine: true, theirs: \"yes\"}\n");
    // Both append to a flow list: both appends kept.
    let (m, _) = ok(
        Format::Yaml,
        "plugins: [git, fzf]\n",
        "plugins: [git, fzf, zoxide]\n",
        "plugins: [git, fzf, starship]\n",
    );
    assert_eq!(m, "plugins: [git, fzf, zoxide, starship]\n");
    // Nested flow mappings.
    let (m, _) = ok(
        Format::Yaml,
        "ui: {colors: {bg: black, fg: white}, size: 1}\n",
        "ui: {colors: {bg: navy, fg: white}, size: 1}\n",
        "ui: {colors: {bg: black, fg: white}, size: 2}\n",
    );
    assert_eq!(m, "ui: {colors: {bg: navy, fg: white}, size: 2}\n");
    // The same key changed to two values: a conflict that names it.
    assert_eq!(
        refused(
            Format::Yaml,
            "a: {x: 1, y: 2}\nb: 1\n",
            "a: {x: 3, y: 2}\nb: 1\n",
            "a: {x: 4, y: 2}\nb: 1\n"
        ),
        Refusal::Conflict {
            keys: keys(&["a.x"])
        }
    );
}

#[test]
fn yaml_both_append_to_the_same_mapping_and_list() {
    let ours = YAML_BASE.replace("  autoFetch: true\n", "  autoFetch: true\n  mine: 1\n");
    let theirs = YAML_BASE
        .replace(
            "  autoFetch: true\n",
            "  autoFetch: true\n  theirs:\n    deep: 2\n",
        )
        .replace("  - two\n", "  - two\n  - three\n");
    let (m, _) = ok(Format::Yaml, YAML_BASE, &ours, &theirs);
    assert_eq!(
        m,
        YAML_BASE
            .replace(
                "  autoFetch: true\n",
                "  autoFetch: true\n  mine: 1\n  theirs:\n    deep: 2\n"
            )
            .replace("  - two\n", "  - two\n  - three\n")
    );
}

#[test]
fn yaml_nested_keys_same_change_and_conflict() {
    let ours = YAML_BASE.replace("colorArg: always", "colorArg: never");
    let theirs = YAML_BASE.replace("[green, bold]", "[blue, bold]");
    let (m, k) = ok(Format::Yaml, YAML_BASE, &ours, &theirs);
    assert_eq!(
        m,
        YAML_BASE
            .replace("colorArg: always", "colorArg: never")
            .replace("[green, bold]", "[blue, bold]")
    );
    assert_eq!(
        k,
        keys(&["git.paging.colorArg", "gui.theme.activeBorderColor"])
    );
    let (m, _) = ok(Format::Yaml, YAML_BASE, &ours, &ours);
    assert_eq!(m, ours);
    let theirs = YAML_BASE.replace("colorArg: always", "colorArg: auto");
    assert_eq!(
        refused(Format::Yaml, YAML_BASE, &ours, &theirs),
        Refusal::Conflict {
            keys: keys(&["git.paging.colorArg"])
        }
    );
}

#[test]
fn yaml_deletion_and_refusals() {
    let theirs = YAML_BASE.replace("  sidePanelWidth: 0.33\n", "");
    let ours = YAML_BASE.replace("autoFetch: true", "autoFetch: false");
    let (m, _) = ok(Format::Yaml, YAML_BASE, &ours, &theirs);
    assert_eq!(m, theirs.replace("autoFetch: true", "autoFetch: false"));
    assert!(matches!(
        refused(Format::Yaml, YAML_BASE, "a: &x 1\nb: *x\n", YAML_BASE),
        Refusal::CannotPreserve(_)
    ));
    assert!(matches!(
        refused(Format::Yaml, YAML_BASE, YAML_BASE, "a:\n  b: 1\n c: 2\n"),
        Refusal::Unparsable { .. }
    ));
}

// ---------------------------------------------------------------- INI / gitconfig

const INI_BASE: &str = "# my gitconfig\n[user]\n\tname = Ada\n\temail = ada@example.org ; work\n[core]\n\teditor = vim\n\tpager = less\n[remote \"origin\"]\n\turl = git@example.org:me/dots.git\n\tfetch = +refs/heads/*:refs/remotes/origin/*\n";

#[test]
fn ini_adjacent_lines_and_comments_preserved() {
    let ours = INI_BASE.replace("editor = vim", "editor = nvim");
    let theirs = INI_BASE.replace("pager = less", "pager = delta");
    let (m, k) = ok(Format::Ini, INI_BASE, &ours, &theirs);
    assert_eq!(
        m,
        INI_BASE
            .replace("editor = vim", "editor = nvim")
            .replace("pager = less", "pager = delta")
    );
    assert_eq!(k, keys(&["core.editor", "core.pager"]));
}

#[test]
fn ini_both_append_to_the_same_section() {
    let ours = INI_BASE.replace("\tpager = less\n", "\tpager = less\n\tautocrlf = input\n");
    let theirs = INI_BASE.replace(
        "\tpager = less\n",
        "\tpager = less\n  whitespace = trailing\n",
    );
    let (m, _) = ok(Format::Ini, INI_BASE, &ours, &theirs);
    assert_eq!(
        m,
        INI_BASE.replace(
            "\tpager = less\n",
            "\tpager = less\n\tautocrlf = input\n\twhitespace = trailing\n"
        )
    );
}

#[test]
fn ini_subsections_same_change_and_conflict() {
    let ours = INI_BASE.replace("me/dots", "me/dotfiles");
    let theirs = INI_BASE.replace("Ada", "Ada L.");
    let (m, k) = ok(Format::Ini, INI_BASE, &ours, &theirs);
    assert_eq!(m, ours.replace("Ada", "Ada L."));
    assert_eq!(k, keys(&["remote.origin.url", "user.name"]));
    let (m, _) = ok(Format::Ini, INI_BASE, &ours, &ours);
    assert_eq!(m, ours);
    let theirs = INI_BASE.replace("me/dots", "you/dots");
    assert_eq!(
        refused(Format::Ini, INI_BASE, &ours, &theirs),
        Refusal::Conflict {
            keys: keys(&["remote.origin.url"])
        }
    );
}

#[test]
fn ini_new_sections_repeated_keys_and_unparsable() {
    let ours = INI_BASE.replace(
        "\tfetch = +refs/heads/*:refs/remotes/origin/*\n",
        "\tfetch = +refs/heads/*:refs/remotes/origin/*\n\tfetch = +refs/tags/*:refs/tags/*\n",
    );
    let theirs =
        format!("{INI_BASE}\tfetch = +refs/notes/*:refs/notes/*\n[alias]\n\tst = status\n");
    let (m, k) = ok(Format::Ini, INI_BASE, &ours, &theirs);
    assert_eq!(
        m,
        format!("{ours}\tfetch = +refs/notes/*:refs/notes/*\n[alias]\n\tst = status\n")
    );
    assert_eq!(k, keys(&["alias", "remote.origin.fetch"]));
    assert!(matches!(
        refused(Format::Ini, INI_BASE, INI_BASE, "[broken\nx = 1\n"),
        Refusal::Unparsable { .. }
    ));
}

#[test]
fn editorconfig_root_keys() {
    let base = "root = true\n\n[*]\nindent_style = space\nindent_size = 2\n";
    let (m, _) = ok(
        Format::Ini,
        base,
        "root = true\n\n[*]\nindent_style = tab\nindent_size = 2\n",
        "root = true\n\n[*]\nindent_style = space\nindent_size = 4\n\n[*.md]\ntrim_trailing_whitespace = false\n",
    );
    assert_eq!(
        m,
        "root = true\n\n[*]\nindent_style = tab\nindent_size = 4\n\n[*.md]\ntrim_trailing_whitespace = false\n"
    );
}

#[test]
fn formats_are_detected_by_name() {
    assert_eq!(
        Format::detect(".config/Code/User/settings.json"),
        Some(Format::Json)
    );
    assert_eq!(Format::detect("a/b.jsonc"), Some(Format::Json));
    assert_eq!(Format::detect(".config/starship.toml"), Some(Format::Toml));
    assert_eq!(
        Format::detect(".config/lazygit/config.yml"),
        Some(Format::Yaml)
    );
    assert_eq!(Format::detect(".gitconfig"), Some(Format::Ini));
    assert_eq!(Format::detect(".config/git/config"), Some(Format::Ini));
    assert_eq!(Format::detect(".zshrc"), None);
    assert_eq!(Format::from_name("yaml"), Some(Format::Yaml));
    assert_eq!(Format::from_name("xml"), None);
}

#[test]
fn an_append_already_made_on_the_other_side_is_not_made_twice() {
    // One side went further than the other: the longer list, once.
    let (m, _) = ok(
        Format::Json,
        "{\n  \"a\": [1],\n  \"b\": 0\n}\n",
        "{\n  \"a\": [1, 2],\n  \"b\": 1\n}\n",
        "{\n  \"a\": [1, 2, 3],\n  \"b\": 0\n}\n",
    );
    assert_eq!(m, "{\n  \"a\": [1, 2, 3],\n  \"b\": 1\n}\n");
    // The same item appended on both sides: once.
    let (m, _) = ok(
        Format::Yaml,
        "plugins: [git]\nb: 0\n",
        "plugins: [git, fzf]\nb: 1\n",
        "plugins: [git, fzf]\nb: 0\n",
    );
    assert_eq!(m, "plugins: [git, fzf]\nb: 1\n");
    // gitconfig's repeated keys: the same include on both machines is one include.
    let (m, _) = ok(
        Format::Ini,
        "[include]\n\tpath = a\n[user]\n\tname = me\n",
        "[include]\n\tpath = a\n\tpath = b\n[user]\n\tname = Me\n",
        "[include]\n\tpath = a\n\tpath = b\n[user]\n\tname = me\n",
    );
    assert_eq!(
        m,
        "[include]\n\tpath = a\n\tpath = b\n[user]\n\tname = Me\n"
    );
}

#[test]
fn a_comment_edited_on_the_other_side_keeps_the_file_a_conflict() {
    // The other machine rewrote the comment above a key this machine changed.
    let base = "{\n  // old\n  \"a\": 1,\n  \"b\": 1\n}\n";
    let r = refused(
        Format::Json,
        base,
        "{\n  // old\n  \"a\": 2,\n  \"b\": 1\n}\n",
        "{\n  // new comment\n  \"a\": 1,\n  \"b\": 2\n}\n",
    );
    assert!(matches!(r, Refusal::CannotPreserve(_)), "{r:?}");
    let r = refused(
        Format::Toml,
        "# x\na = 1\nb = 1\n",
        "# x\na = 2\nb = 1\n",
        "# y\na = 1\nb = 2\n",
    );
    assert!(matches!(r, Refusal::CannotPreserve(_)), "{r:?}");
    // A comment this machine edited is its own: the merge goes on.
    let (m, _) = ok(
        Format::Toml,
        "# x\na = 1\nb = 1\n",
        "# mine\na = 2\nb = 1\n",
        "# x\na = 1\nb = 2\n",
    );
    assert_eq!(m, "# mine\na = 2\nb = 2\n");
}

#[test]
fn json_with_crlf_line_ends_keeps_them() {
    let (m, _) = ok(
        Format::Json,
        "{\r\n  \"a\": 1,\r\n  \"c\": 1\r\n}\r\n",
        "{\r\n  \"a\": 2,\r\n  \"c\": 1\r\n}\r\n",
        "{\r\n  \"a\": 1,\r\n  \"c\": 1,\r\n  \"b\": 3\r\n}\r\n",
    );
    assert_eq!(m, "{\r\n  \"a\": 2,\r\n  \"c\": 1,\r\n  \"b\": 3\r\n}\r\n");
    let (m, _) = ok(
        Format::Json,
        "{\r\n  \"a\": 1\r\n}\r\n",
        "{\r\n  \"a\": 2\r\n}\r\n",
        "{\r\n  \"a\": 1,\r\n  \"b\": 3\r\n}\r\n",
    );
    assert_eq!(m, "{\r\n  \"a\": 2,\r\n  \"b\": 3\r\n}\r\n");
}
