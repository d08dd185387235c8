//! `dotsync status [--json]`: the daemon and every config at a glance, quick enough for a shell
//! prompt (one small HTTP request to the daemon; nothing touches git or the network).

use anyhow::Result;
use serde_json::Value;

use crate::client::Client;
use crate::{quote, render};

pub fn run(json: bool) -> Result<()> {
    let client = Client::connect()?;
    let st = client.get("/v1/status")?;
    if json {
        render::print_json(&st);
        return Ok(());
    }
    let version = st["version"].as_str().unwrap_or("?");
    if st["background"] == true {
        println!(
            "dotsync {version}: daemon running for {} (pid {})",
            duration(st["uptime_s"].as_u64().unwrap_or(0)),
            st["pid"]
        );
    } else {
        println!(
            "dotsync {version}: no daemon running; configs sync only when you run `dotsync sync` \
             (start it with `dotsync daemon`, or `dotsync service install`)"
        );
    }
    if let Some(err) = st["watcher"]["error"].as_str() {
        println!("watcher: {}", quote::text(err));
    }
    let overflows = st["watcher"]["overflows"].as_u64().unwrap_or(0);
    if overflows > 0 {
        println!(
            "watcher: file events were lost {overflows} time(s); each time every config was rescanned"
        );
    }
    let configs = st["configs"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    if configs.is_empty() {
        println!("no configs yet; create one with `dotsync config add NAME --remote URL PATH...`");
        return Ok(());
    }
    let now = dotsync_state::now_unix();
    let rows: Vec<Vec<String>> = configs
        .iter()
        .map(|c| {
            let mut note = Vec::new();
            if let Some(e) = c["last_error"].as_str() {
                // Git's messages span lines; the table shows the first sentence-ish part.
                let e = e.split_whitespace().collect::<Vec<_>>().join(" ");
                let short: String = e.chars().take(100).collect();
                note.push(if short.len() < e.len() {
                    format!("{short}...")
                } else {
                    short
                });
            }
            if let Some(r) = c["retry_in_s"].as_u64() {
                note.push(format!("retry in {}", duration(r)));
            }
            if c["watch"] == "rescan" {
                note.push("watch limit reached: rescanned every interval".to_owned());
            }
            if c["not_here"].is_string() {
                note.push("not for this machine (its `machines` do not name it)".to_owned());
            }
            if c["auto"] != true {
                note.push("manual".to_owned());
            }
            let failed = c["failed_files"].as_array().map_or(0, Vec::len);
            if failed > 0 {
                note.push(format!("{failed} file(s) failed, listed below"));
            }
            vec![
                quote::name(c["name"].as_str().unwrap_or("")).into_owned(),
                c["state"].as_str().unwrap_or("?").to_owned(),
                match c["last_sync"].as_i64() {
                    Some(t) => format!("{} ago", duration((now - t).max(0) as u64)),
                    None => "never".to_owned(),
                },
                count(&c["pending_changes"]),
                count(&c["conflicts"]),
                note.join("; "),
            ]
        })
        .collect();
    render::table(
        &["NAME", "STATE", "LAST SYNC", "PENDING", "CONFLICTS", "NOTE"],
        &rows,
    );
    for c in configs {
        let name = crate::quote::name(c["name"].as_str().unwrap_or("?"));
        for f in c["failed_files"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            println!(
                "{name}: failed: {}: {}",
                crate::quote::name(&format!("~/{}", f["path"].as_str().unwrap_or("?"))),
                crate::quote::line(f["reason"].as_str().unwrap_or(""))
            );
        }
    }
    Ok(())
}

fn count(v: &Value) -> String {
    v.as_u64().unwrap_or(0).to_string()
}

/// `42s`, `5m`, `3h 12m`, `2d 4h`.
pub(crate) fn duration(s: u64) -> String {
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86400 => format!("{}h {}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d {}h", s / 86400, s % 86400 / 3600),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn durations_are_short() {
        assert_eq!(super::duration(5), "5s");
        assert_eq!(super::duration(600), "10m");
        assert_eq!(super::duration(3 * 3600 + 12 * 60), "3h 12m");
        assert_eq!(super::duration(2 * 86400 + 4 * 3600), "2d 4h");
    }
}
