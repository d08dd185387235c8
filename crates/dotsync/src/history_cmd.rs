//! `dotsync conflicts`, `resolve`, `log`, `restore` and `files`: seeing every version and
//! getting any of them back.

use std::io::{IsTerminal, Read, Write};

use anyhow::{Context, Result, bail};
use dotsync_api::{
    ConflictInfo, ConflictReason, FileStatus, HistoryEntry, Keep, ResolveRequest, RestoreRequest,
    Restored, Side, SyncConfig,
};

use crate::client::Client;
use crate::commands::seg;
use crate::error::CommandError;
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
    let t =
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(u64::try_from(unix).unwrap_or(0));
    humantime::format_rfc3339_seconds(t)
        .to_string()
        .replace('T', " ")
        .replace('Z', "")
}

pub fn conflicts(
    config: Option<&str>,
    path: Option<&str>,
    side: Option<Side>,
    as_json: bool,
) -> Result<()> {
    let client = Client::connect()?;
    if let Some(path) = path {
        if let Some(s) = side {
            let q = query(&[
                ("config", config),
                ("path", Some(path)),
                ("side", Some(s.as_str())),
            ]);
            let mut bytes = Vec::new();
            client
                .call("GET", &format!("/v1/conflicts/content{q}"), None::<&()>)?
                .body
                .read_to_end(&mut bytes)?;
            crate::out::write_bytes(&bytes)?;
            return Ok(());
        }
        return conflict_diff(&client, config, path);
    }
    let list_path = format!("/v1/conflicts{}", query(&[("config", config)]));
    if as_json {
        render::print_json(&client.get_json(&list_path)?)?;
        return Ok(());
    }
    let items: Vec<ConflictInfo> = client.get(&list_path)?;
    if items.is_empty() {
        eprintln!("no conflicts");
        return Ok(());
    }
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|c| {
            vec![
                quote::name(&c.config).into_owned(),
                quote::name(&format!("~/{}", c.path)).into_owned(),
                reason_text(c.reason).to_owned(),
                quote::name(c.remote_machine.as_deref().unwrap_or("-")).into_owned(),
                time(c.detected_at),
            ]
        })
        .collect();
    render::table(&["CONFIG", "PATH", "WHY", "THEIRS FROM", "SINCE"], &rows)?;
    eprintln!(
        "hint: `dotsync conflicts PATH` shows how the two versions differ; `dotsync resolve PATH --keep local|remote` settles one"
    );
    Ok(())
}

/// Why a file is in conflict, for a person.
pub fn reason_text(reason: ConflictReason) -> &'static str {
    match reason {
        ConflictReason::NoBase => {
            "this machine's file and the remote's differ, and were never synced before"
        }
        ConflictReason::BothChanged => "both machines changed the same lines",
        ConflictReason::DeleteVsChange => "deleted on one machine, changed on the other",
        ConflictReason::Unknown => "in conflict",
    }
}

/// `dotsync conflicts PATH`: a unified diff from the other machine's version to this one's.
fn conflict_diff(client: &Client, config: Option<&str>, path: &str) -> Result<()> {
    let list: Vec<ConflictInfo> =
        client.get(&format!("/v1/conflicts{}", query(&[("config", config)])))?;
    let wanted = repo_path(path);
    let Some(c) = list.into_iter().find(|c| c.path == wanted) else {
        return Err(CommandError::user(format!(
            "{} is not in conflict",
            quote::name(&format!("~/{wanted}"))
        ))
        .hint("`dotsync conflicts` lists the files that are")
        .into());
    };
    let cfg = Some(c.config_id.as_str());
    let side = |s: Side| -> Result<Option<Vec<u8>>> {
        let q = query(&[
            ("config", cfg),
            ("path", Some(&wanted)),
            ("side", Some(s.as_str())),
        ]);
        match client.call("GET", &format!("/v1/conflicts/content{q}"), None::<&()>) {
            Ok(mut r) => {
                let mut b = Vec::new();
                r.body.read_to_end(&mut b)?;
                Ok(Some(b))
            }
            Err(e)
                if e.downcast_ref::<crate::client::ApiFailure>()
                    .is_some_and(|f| f.status == 404) =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    };
    let (local, remote) = (side(Side::Local)?, side(Side::Remote)?);
    let from = c.remote_machine.as_deref().map_or_else(
        || "another machine".to_owned(),
        |m| quote::name(m).into_owned(),
    );
    let shown = quote::name(&format!("~/{wanted}")).into_owned();
    eprintln!(
        "{shown}: {}; - theirs (from {from}), + yours (this machine)",
        reason_text(c.reason)
    );
    let text = |b: &Option<Vec<u8>>| -> Option<String> {
        match b {
            None => Some(String::new()),
            Some(b) if b.contains(&0) => None,
            Some(b) => String::from_utf8(b.clone()).ok(),
        }
    };
    let (Some(old), Some(new)) = (text(&remote), text(&local)) else {
        eprintln!(
            "one side is binary: `dotsync conflicts {shown} --side local` and `--side remote` \
             print each version's bytes"
        );
        return Ok(());
    };
    let old_label = if remote.is_none() {
        "/dev/null (deleted there)".to_owned()
    } else {
        format!("{shown} (theirs, from {from})")
    };
    let new_label = if local.is_none() {
        "/dev/null (deleted here)".to_owned()
    } else {
        format!("{shown} (yours)")
    };
    let diff = similar::TextDiff::from_lines(&old, &new)
        .unified_diff()
        .context_radius(3)
        .header(&old_label, &new_label)
        .to_string();
    let colour = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let mut out = std::io::stdout().lock();
    for line in diff.lines() {
        // Contents are shown as text: control characters cannot reach the terminal.
        let safe = quote::line(line);
        let painted = match line.as_bytes().first() {
            _ if !colour => safe.into_owned(),
            Some(b'+') if !line.starts_with("+++") => format!("\x1b[32m{safe}\x1b[0m"),
            Some(b'-') if !line.starts_with("---") => format!("\x1b[31m{safe}\x1b[0m"),
            Some(b'@') => format!("\x1b[36m{safe}\x1b[0m"),
            _ => safe.into_owned(),
        };
        writeln!(out, "{painted}")?;
    }
    if diff.is_empty() {
        eprintln!("the two versions hold the same text");
    }
    eprintln!(
        "hint: `dotsync resolve {shown} --keep local` keeps yours, `--keep remote` takes theirs, \
         `--file EDITED` writes a result you edited"
    );
    Ok(())
}

/// A path as the person typed it (`~/x`, `/home/me/x`, `x`) as a repository path (`x`).
fn repo_path(p: &str) -> String {
    if let Some(rest) = p.strip_prefix("~/") {
        return rest.to_owned();
    }
    if let Ok(home) = dotsync_state::home_dir()
        && let Ok(rel) = std::path::Path::new(p).strip_prefix(&home)
    {
        return rel.to_string_lossy().into_owned();
    }
    p.trim_start_matches("./").to_owned()
}

pub fn resolve(
    config: Option<&str>,
    path: &str,
    keep: Option<Keep>,
    file: Option<&str>,
) -> Result<()> {
    let request = |keep, content| ResolveRequest {
        config: config.map(str::to_owned),
        path: path.to_owned(),
        keep,
        content,
    };
    let body = match (keep, file) {
        (Some(k), None) => request(k, None),
        (None, Some(f)) => {
            let content = if f == "-" {
                let mut s = String::new();
                std::io::stdin().read_to_string(&mut s)?;
                s
            } else {
                std::fs::read_to_string(f)
                    .with_context(|| format!("cannot read the edited result {f}"))?
            };
            request(Keep::Content, Some(content))
        }
        _ => {
            return Err(CommandError::user("say how to resolve")
                .hint("--keep local, --keep remote, or --file EDITED")
                .into());
        }
    };
    let client = Client::connect()?;
    client.call("POST", "/v1/conflicts/resolve", Some(&body))?;
    let how = match keep {
        Some(Keep::Local) => "kept this machine's version",
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
    let list_path = format!(
        "/v1/history{}",
        query(&[("config", config), ("path", Some(path))])
    );
    if as_json {
        render::print_json(&client.get_json(&list_path)?)?;
        return Ok(());
    }
    let items: Vec<HistoryEntry> = client.get(&list_path)?;
    if items.is_empty() {
        eprintln!("{} has no synced versions yet", quote::name(path));
        return Ok(());
    }
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|e| {
            vec![
                e.commit.chars().take(12).collect(),
                time(e.time),
                quote::name(&e.machine).into_owned(),
                match e.size {
                    Some(n) => format!("{n} B"),
                    None => "deleted".to_owned(),
                },
                e.message.clone(),
            ]
        })
        .collect();
    render::table(&["REV", "TIME", "MACHINE", "SIZE", "MESSAGE"], &rows)?;
    Ok(())
}

pub fn restore(config: Option<&str>, path: &str, rev: &str) -> Result<()> {
    let client = Client::connect()?;
    let r: Restored = client.post(
        "/v1/restore",
        &RestoreRequest {
            config: config.map(str::to_owned),
            path: path.to_owned(),
            rev: rev.to_owned(),
        },
    )?;
    eprintln!(
        "restored {} as of {} ({} bytes); it syncs like any edit",
        quote::name(path),
        quote::name(rev),
        r.bytes
    );
    Ok(())
}

pub fn files(config: Option<&str>, as_json: bool) -> Result<()> {
    let client = Client::connect()?;
    let only;
    let config = if let Some(c) = config {
        c
    } else {
        let all: Vec<SyncConfig> = client.get("/v1/config")?;
        match all.as_slice() {
            [one] => {
                only = one.id.clone();
                &only
            }
            [] => {
                bail!("no configs yet; `dotsync init REMOTE` and `dotsync add PATH...` create one")
            }
            _ => bail!(
                "there are several configs: name one (`dotsync files NAME`); `dotsync config \
                 list` lists them"
            ),
        }
    };
    let list_path = format!("/v1/files{}", query(&[("config", Some(config))]));
    if as_json {
        render::print_json(&client.get_json(&list_path)?)?;
        return Ok(());
    }
    let list: Vec<FileStatus> = client.get(&list_path)?;
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|f| {
            vec![
                f.state.as_str().to_owned(),
                f.mode.clone().unwrap_or_default(),
                f.size.map_or_else(|| "-".into(), |n| n.to_string()),
                quote::name(&format!("~/{}", f.path)).into_owned(),
            ]
        })
        .collect();
    render::table(&["STATE", "MODE", "SIZE", "PATH"], &rows)?;
    Ok(())
}
