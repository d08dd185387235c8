//! What the CLI prints: data on stdout, messages on stderr. Names and messages that reach a
//! person go through [`crate::quote`] first; `--json` output is exact.

use std::fmt::Write as _;
use std::io;

use dotsync_api::SyncConfig;
use serde_json::Value;

use crate::error::CommandError;
use crate::out::outln;
use crate::quote;

/// Prints an error, its causes and its hints. Their messages may echo names from the daemon
/// (and so from a remote), hence escaped.
pub fn print_error(err: &CommandError) {
    eprintln!("error: {}", quote::text(&err.error.to_string()));
    for cause in err.error.chain().skip(1) {
        eprintln!("  caused by: {}", quote::text(&cause.to_string()));
    }
    for hint in &err.hints {
        eprintln!("hint: {}", quote::text(hint));
    }
}

pub fn print_json(v: &Value) -> io::Result<()> {
    outln!("{}", serde_json::to_string_pretty(v).unwrap_or_default())
}

/// Prints rows as aligned columns under a header. Every cell is kept to one line with its
/// control characters escaped; callers quote the cells that hold names with [`quote::name`].
pub fn table(header: &[&str], rows: &[Vec<String>]) -> io::Result<()> {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r.iter().map(|c| quote::line(c).into_owned()).collect())
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                let _ = write!(s, "{c:<w$}  ", w = widths[i]);
            }
        }
        outln!("{}", s.trim_end())
    };
    line(header.to_vec())?;
    for r in &rows {
        line(r.iter().map(String::as_str).collect())?;
    }
    Ok(())
}

pub fn config_detail(c: &SyncConfig) -> io::Result<()> {
    let list = |l: &[String]| {
        l.iter()
            .map(|s| quote::name(s))
            .collect::<Vec<_>>()
            .join(", ")
    };
    outln!("name:        {}", quote::name(&c.name))?;
    outln!("id:          {}", quote::name(&c.id))?;
    outln!("remote:      {}", quote::name(&c.remote))?;
    outln!("branch:      {}", quote::name(&c.branch))?;
    outln!("paths:       {}", list(&c.paths))?;
    outln!("ignore:      {}", list(&c.ignore))?;
    outln!("direction:   {}", c.direction.as_str())?;
    outln!("on_conflict: {}", c.on_conflict.as_str())?;
    outln!("auto:        {}", c.auto)?;
    outln!("interval_s:  {}", c.interval_s)?;
    outln!("notify:      {}", c.notify)?;
    outln!("structured_merge: {}", c.structured_merge)?;
    for (label, globs) in [
        ("encrypt:    ", &c.encrypt),
        ("per_machine:", &c.per_machine),
        ("plaintext:  ", &c.plaintext),
    ] {
        if !globs.is_empty() {
            outln!("{label} {}", quote::line(&globs.join(" ")))?;
        }
    }
    if !c.machines.is_empty() {
        outln!("machines:    {}", quote::line(&c.machines.join(", ")))?;
    }
    if !c.merge_formats.is_empty() {
        let pairs: Vec<String> = c
            .merge_formats
            .iter()
            .map(|(g, f)| format!("{g}={f}"))
            .collect();
        outln!("merge_formats: {}", pairs.join(", "))?;
    }
    Ok(())
}
