//! `dotsync conflicts`, `resolve`, `log`, `restore` and `files`: seeing every version and
//! getting any of them back.

use std::io::{Read, Write};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::client::Client;
use crate::commands::seg;
use crate::{quote, render};

/// `?config=..&path=..` with each value percent-encoded.
fn query(pairs: &[(&str, Option<&str>)]) -> String {
    let parts: Vec<String> = pairs
        .iter()
        .filter_map(|(k, v)| v.map(|v| format!("{k}={}", seg(v))))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

fn time(unix: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(unix.max(0) as u64);
    humantime::format_rfc3339_seconds(t)
        .to_string()
        .replace('T', " ")
        .replace('Z', "")
}

pub fn conflicts(
    config: Option<&str>,
    path: Option<&str>,
    side: Option<&str>,
    as_json: bool,
) -> Result<()> {
    let client = Client::connect()?;
    if let Some(path) = path {
        let sides: Vec<&str> = match side {
            Some(s) => vec![s],
            None => vec!["local", "remote"],
        };
        let mut out = std::io::stdout().lock();
        for s in &sides {
            let q = query(&[("config", config), ("path", Some(path)), ("side", Some(s))]);
            let resp = client.call("GET", &format!("/v1/conflicts/content{q}"), None);
            let mut bytes = Vec::new();
            match resp {
                Ok(mut r) => {
                    r.body.read_to_end(&mut bytes)?;
                }
                Err(e) if sides.len() > 1 => {
                    bytes = format!("({})\n", quote::text(&e.to_string())).into_bytes();
                }
                Err(e) => return Err(e),
            }
            if sides.len() > 1 {
                let label = if *s == "local" {
                    "this machine (local)"
                } else {
                    "the other machine (remote)"
                };
                writeln!(out, "===== {label} =====")?;
            }
            out.write_all(&bytes)?;
        }
        return Ok(());
    }
    let list = client.get(&format!("/v1/conflicts{}", query(&[("config", config)])))?;
    if as_json {
        render::print_json(&list);
        return Ok(());
    }
    let items = list.as_array().cloned().unwrap_or_default();
    if items.is_empty() {
        eprintln!("no conflicts");
        return Ok(());
    }
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|c| {
            vec![
                quote::name(c["config"].as_str().unwrap_or("")).into_owned(),
                quote::name(c["path"].as_str().unwrap_or("")).into_owned(),
                c["reason"].as_str().unwrap_or("").replace('_', " "),
                time(c["detected_at"].as_i64().unwrap_or(0)),
            ]
        })
        .collect();
    render::table(&["CONFIG", "PATH", "WHY", "SINCE"], &rows);
    eprintln!(
        "hint: `dotsync conflicts PATH` shows both versions; `dotsync resolve PATH --keep local|remote` settles one"
    );
    Ok(())
}

pub fn resolve(
    config: Option<&str>,
    path: &str,
    keep: Option<&str>,
    file: Option<&str>,
) -> Result<()> {
    let body = match (keep, file) {
        (Some(k), None) => json!({"config": config, "path": path, "keep": k}),
        (None, Some(f)) => {
            let content = if f == "-" {
                let mut s = String::new();
                std::io::stdin().read_to_string(&mut s)?;
                s
            } else {
                std::fs::read_to_string(f)
                    .with_context(|| format!("cannot read the edited result {f}"))?
            };
            json!({"config": config, "path": path, "keep": "content", "content": content})
        }
        _ => bail!("say how to resolve: --keep local, --keep remote, or --file EDITED"),
    };
    let client = Client::connect()?;
    client.call("POST", "/v1/conflicts/resolve", Some(&body))?;
    let how = match keep {
        Some("local") => "kept this machine's version",
        Some(_) => "took the other machine's version",
        None => "wrote your edited result",
    };
    eprintln!(
        "resolved {}: {how}; the next sync carries it (both versions stay in history)",
        quote::name(path)
    );
    Ok(())
}

pub fn log(config: Option<&str>, path: &str, as_json: bool) -> Result<()> {
    let client = Client::connect()?;
    let list = client.get(&format!(
        "/v1/history{}",
        query(&[("config", config), ("path", Some(path))])
    ))?;
    if as_json {
        render::print_json(&list);
        return Ok(());
    }
    let items = list.as_array().cloned().unwrap_or_default();
    if items.is_empty() {
        eprintln!("{} has no synced versions yet", quote::name(path));
        return Ok(());
    }
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|e| {
            vec![
                e["commit"]
                    .as_str()
                    .unwrap_or("")
                    .chars()
                    .take(12)
                    .collect(),
                time(e["time"].as_i64().unwrap_or(0)),
                quote::name(e["machine"].as_str().unwrap_or("")).into_owned(),
                match e["size"].as_u64() {
                    Some(n) => format!("{n} B"),
                    None => "deleted".to_owned(),
                },
                e["message"].as_str().unwrap_or("").to_owned(),
            ]
        })
        .collect();
    render::table(&["REV", "TIME", "MACHINE", "SIZE", "MESSAGE"], &rows);
    Ok(())
}

pub fn restore(config: Option<&str>, path: &str, rev: &str) -> Result<()> {
    let client = Client::connect()?;
    let r = client
        .call(
            "POST",
            "/v1/restore",
            Some(&json!({"config": config, "path": path, "rev": rev})),
        )?
        .json()?;
    eprintln!(
        "restored {} as of {} ({} bytes); it syncs like any edit",
        quote::name(path),
        quote::name(rev),
        r["bytes"].as_u64().unwrap_or(0)
    );
    Ok(())
}

pub fn files(config: &str, as_json: bool) -> Result<()> {
    let client = Client::connect()?;
    let list = client.get(&format!("/v1/files{}", query(&[("config", Some(config))])))?;
    if as_json {
        render::print_json(&list);
        return Ok(());
    }
    let rows: Vec<Vec<String>> = list
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|f| {
            vec![
                f["state"].as_str().unwrap_or("").to_owned(),
                f["mode"].as_str().unwrap_or("").to_owned(),
                f["size"]
                    .as_u64()
                    .map(|n| n.to_string())
                    .unwrap_or_else(|| "-".into()),
                quote::name(f["path"].as_str().unwrap_or("")).into_owned(),
            ]
        })
        .collect();
    render::table(&["STATE", "MODE", "SIZE", "PATH"], &rows);
    let _ = Value::Null;
    Ok(())
}
