//! What the CLI prints: data on stdout, messages on stderr. Names and messages that reach a
//! person go through [`crate::quote`] first; `--json` output is exact.

use serde_json::Value;

use crate::quote;

/// Prints an error and its causes. Their messages may echo names from the daemon (and so from
/// a remote), hence escaped.
pub fn print_error(err: &anyhow::Error) {
    eprintln!("error: {}", quote::text(&err.to_string()));
    for cause in err.chain().skip(1) {
        eprintln!("  caused by: {}", quote::text(&cause.to_string()));
    }
}

pub fn print_json(v: &Value) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

/// Prints rows as aligned columns under a header. Every cell is kept to one line with its
/// control characters escaped; callers quote the cells that hold names with [`quote::name`].
pub fn table(header: &[&str], rows: &[Vec<String>]) {
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
                s.push_str(&format!("{c:<w$}  ", w = widths[i]));
            }
        }
        println!("{}", s.trim_end());
    };
    line(header.to_vec());
    for r in &rows {
        line(r.iter().map(String::as_str).collect());
    }
}

pub fn config_detail(c: &Value) {
    let s = |k: &str| quote::name(c[k].as_str().unwrap_or("")).into_owned();
    let list = |k: &str| {
        c[k].as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(quote::name)
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default()
    };
    println!("name:        {}", s("name"));
    println!("id:          {}", s("id"));
    println!("remote:      {}", s("remote"));
    println!("branch:      {}", s("branch"));
    println!("paths:       {}", list("paths"));
    println!("ignore:      {}", list("ignore"));
    println!("direction:   {}", s("direction"));
    println!("on_conflict: {}", s("on_conflict"));
    println!("auto:        {}", c["auto"]);
    println!("interval_s:  {}", c["interval_s"]);
    println!("notify:      {}", c["notify"]);
    println!("structured_merge: {}", c["structured_merge"]);
    if let Some(g) = c["encrypt"].as_array().filter(|g| !g.is_empty()) {
        let globs: Vec<&str> = g.iter().filter_map(|n| n.as_str()).collect();
        println!("encrypt:     {}", quote::line(&globs.join(" ")));
    }
    if let Some(g) = c["per_machine"].as_array().filter(|g| !g.is_empty()) {
        let globs: Vec<&str> = g.iter().filter_map(|n| n.as_str()).collect();
        println!("per_machine: {}", quote::line(&globs.join(" ")));
    }
    if let Some(g) = c["plaintext"].as_array().filter(|g| !g.is_empty()) {
        let globs: Vec<&str> = g.iter().filter_map(|n| n.as_str()).collect();
        println!("plaintext:   {}", quote::line(&globs.join(" ")));
    }
    if let Some(m) = c["machines"].as_array().filter(|m| !m.is_empty()) {
        let names: Vec<&str> = m.iter().filter_map(|n| n.as_str()).collect();
        println!("machines:    {}", quote::line(&names.join(", ")));
    }
    if let Some(m) = c["merge_formats"].as_object().filter(|m| !m.is_empty()) {
        let pairs: Vec<String> = m
            .iter()
            .map(|(g, f)| format!("{g}={}", f.as_str().unwrap_or("")))
            .collect();
        println!("merge_formats: {}", pairs.join(", "));
    }
}
