//! Key-level three-way merge of settings files.
//!
//! When the line merge of a file reports a conflict, dotsync tries this merge on the file's
//! (base, local, remote) versions: each is parsed into a tree of keys, the remote's changes
//! that do not collide with local ones are found key by key, and they are applied to the
//! *local text* as splices (TOML: through `toml_edit`'s format-preserving document). Whatever
//! the local file looked like outside the merged keys (comments, key order, indentation,
//! quoting) stays byte for byte.
//!
//! **Invariant:** a structured merge never reformats: it either splices the local text or
//! refuses. After splicing, the result is parsed again and must mean exactly the merged tree;
//! anything else is [`Refusal::CannotPreserve`].
//!
//! Pure: no I/O, no git.

use std::collections::BTreeSet;
use std::fmt;

mod ini;
mod json;
mod toml;
mod tree;
mod yaml;

use tree::Node;
pub use tree::Val;

/// A settings format this crate merges by key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// JSON, and JSON with comments and trailing commas (`.jsonc`, VS Code's settings).
    Json,
    Toml,
    /// YAML's block mappings and sequences (flow collections and block scalars as opaque
    /// values); anchors, aliases, tags and multi-document streams are refused.
    Yaml,
    /// INI files and git's config format (`[section "sub"]`, repeated keys as one array).
    Ini,
}

impl Format {
    /// The format's name in configs: `json`, `toml`, `yaml` or `ini`.
    pub fn name(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Toml => "toml",
            Format::Yaml => "yaml",
            Format::Ini => "ini",
        }
    }

    /// The format a name stands for (the inverse of [`Format::name`]).
    pub fn from_name(name: &str) -> Option<Format> {
        match name {
            "json" => Some(Format::Json),
            "toml" => Some(Format::Toml),
            "yaml" => Some(Format::Yaml),
            "ini" => Some(Format::Ini),
            _ => None,
        }
    }

    /// The format of a file by its name (a `/`-separated path); `None`: not a settings file
    /// this crate knows.
    pub fn detect(path: &str) -> Option<Format> {
        let name = path.rsplit('/').next().unwrap_or(path).to_ascii_lowercase();
        if matches!(
            name.as_str(),
            ".gitconfig" | ".editorconfig" | ".gitmodules"
        ) || path.ends_with(".config/git/config")
        {
            return Some(Format::Ini);
        }
        let ext = name.rsplit_once('.').map(|(_, e)| e)?;
        match ext {
            "json" | "jsonc" | "code-workspace" => Some(Format::Json),
            "toml" => Some(Format::Toml),
            "yaml" | "yml" => Some(Format::Yaml),
            "ini" | "cfg" | "conf" | "gitconfig" | "editorconfig" => Some(Format::Ini),
            _ => None,
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A successful key-level merge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merged {
    /// The local file with the other side's changes spliced in.
    pub bytes: Vec<u8>,
    /// Every key path either side changed (`editor.fontSize`), sorted.
    pub keys: Vec<String>,
}

/// Why a key-level merge did not produce a file. The caller keeps the conflict (or the line
/// merge's result for [`Refusal::Unparsable`], which is a conflict too when this is asked).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Both sides changed these keys to different values (or one deleted what the other
    /// changed).
    #[error("both sides changed {}", .keys.join(", "))]
    Conflict { keys: Vec<String> },
    /// A version does not parse as the format.
    #[error("the {side} version is not valid {format}")]
    Unparsable { format: Format, side: &'static str },
    /// The merge exists but cannot be written without reformatting the local file.
    #[error("cannot merge without reformatting: {0}")]
    CannotPreserve(String),
}

/// The three-way merge by key of `ours` (this machine's file, whose formatting is kept) and
/// `theirs` from their common `base`.
pub fn merge(format: Format, base: &[u8], ours: &[u8], theirs: &[u8]) -> Result<Merged, Refusal> {
    fn text<'a>(b: &'a [u8], format: Format, side: &'static str) -> Result<&'a str, Refusal> {
        std::str::from_utf8(b).map_err(|_| Refusal::Unparsable { format, side })
    }
    let (b, o, t) = (
        text(base, format, "base")?,
        text(ours, format, "local")?,
        text(theirs, format, "remote")?,
    );
    let parse = |s: &str, side: &'static str| -> Result<Node, Refusal> {
        match format {
            Format::Json => json::parse(s),
            Format::Toml => toml::parse(s),
            Format::Yaml => yaml::parse(s),
            Format::Ini => ini::parse(s),
        }
        .map_err(|e| match e {
            tree::ParseError::Invalid => Refusal::Unparsable { format, side },
            tree::ParseError::Unsupported(why) => Refusal::CannotPreserve(why),
        })
    };
    let (bn, on, tn) = (parse(b, "base")?, parse(o, "local")?, parse(t, "remote")?);
    let plan = tree::three_way(&bn, &on, &tn);
    if !plan.conflicts.is_empty() {
        return Err(Refusal::Conflict {
            keys: plan.conflicts,
        });
    }
    let keys: Vec<String> = plan
        .keys
        .into_iter()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let out = if plan.edits.is_empty() {
        o.to_owned()
    } else {
        match format {
            Format::Json => json::apply(o, &on, t, &tn, &plan.edits)?,
            Format::Toml => toml::apply(o, t, &plan.edits)?,
            Format::Yaml => yaml::apply(o, &on, t, &tn, &plan.edits)?,
            Format::Ini => ini::apply(o, &on, t, &tn, &plan.edits)?,
        }
    };
    // The result must mean exactly the merged tree, or nothing is written.
    let mut expected = on.to_val();
    for e in &plan.edits {
        tree::apply_val(&mut expected, e, &tn);
    }
    let got = parse(&out, "merged")
        .map_err(|_| Refusal::CannotPreserve("the spliced file does not parse".into()))?;
    if got.to_val() != expected {
        return Err(Refusal::CannotPreserve(
            "the spliced file does not hold the merged keys".into(),
        ));
    }
    // Keys are merged, comments are not: a comment line the other machine added, changed or
    // removed must be so in the result too, or its edit would be lost without a word. Such a
    // file stays a conflict.
    if !comments_kept(b, o, t, &out) {
        return Err(Refusal::CannotPreserve(
            "the other machine edited a comment, and comments are not merged by key".into(),
        ));
    }
    Ok(Merged {
        bytes: out.into_bytes(),
        keys,
    })
}

/// Whether every comment line (`#`, `;`, `//`, `/*`, `*`) the other side added or removed
/// relative to the base is added or removed in `out` as well, counting repeated lines.
fn comments_kept(base: &str, ours: &str, theirs: &str, out: &str) -> bool {
    fn comments(s: &str) -> std::collections::BTreeMap<&str, i64> {
        let mut m = std::collections::BTreeMap::new();
        for l in s.lines().map(str::trim) {
            if ["#", ";", "//", "/*", "*"].iter().any(|p| l.starts_with(p)) {
                *m.entry(l).or_insert(0) += 1;
            }
        }
        m
    }
    let (b, o, t, r) = (
        comments(base),
        comments(ours),
        comments(theirs),
        comments(out),
    );
    let n = |m: &std::collections::BTreeMap<&str, i64>, k: &str| m.get(k).copied().unwrap_or(0);
    t.keys()
        .chain(b.keys())
        .filter(|k| n(&t, k) != n(&b, k))
        .all(|k| n(&r, k) == (n(&o, k) + n(&t, k) - n(&b, k)).max(0))
}

/// The parsed meaning of a file (for tests and diagnostics): maps compare regardless of key
/// order.
pub fn parse_val(format: Format, text: &str) -> Option<Val> {
    let node = match format {
        Format::Json => json::parse(text),
        Format::Toml => toml::parse(text),
        Format::Yaml => yaml::parse(text),
        Format::Ini => ini::parse(text),
    }
    .ok()?;
    Some(node.to_val())
}
