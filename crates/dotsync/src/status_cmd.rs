//! `dotsync status [--json]`: the daemon and every config at a glance, quick enough for a shell
//! prompt (one small HTTP request to the daemon; nothing touches git or the network).

use anyhow::Result;
use dotsync_api::{Status, WatchState};

use crate::client::Client;
use crate::out::outln;
use crate::{quote, render};

pub fn run(json: bool) -> Result<()> {
    let client = Client::connect()?;
    if json {
        render::print_json(&client.get_json("/v1/status")?)?;
        return Ok(());
    }
    let st: Status = client.get("/v1/status")?;
    let version = &st.version;
    if st.background {
        outln!(
            "dotsync {version}: daemon running for {} (pid {})",
            duration(st.uptime_s),
            st.pid
        )?;
    } else {
        outln!(
            "dotsync {version}: no daemon running; configs sync only when you run `dotsync sync` \
             (start it with `dotsync daemon`, or `dotsync service install`)"
        )?;
    }
    if let Some(err) = &st.watcher.error {
        outln!("watcher: {}", quote::text(err))?;
    }
    let overflows = st.watcher.overflows;
    if overflows > 0 {
        outln!(
            "watcher: file events were lost {overflows} time(s); each time every config was rescanned"
        )?;
    }
    if st.configs.is_empty() {
        outln!("no configs yet; create one with `dotsync config add NAME --remote URL PATH...`")?;
        return Ok(());
    }
    let now = dotsync_state::now_unix();
    let rows: Vec<Vec<String>> = st
        .configs
        .iter()
        .map(|c| {
            let mut note = Vec::new();
            if let Some(e) = &c.last_error {
                // Git's messages span lines; the table shows the first sentence-ish part.
                let e = e.split_whitespace().collect::<Vec<_>>().join(" ");
                let short: String = e.chars().take(100).collect();
                note.push(if short.len() < e.len() {
                    format!("{short}...")
                } else {
                    short
                });
            }
            if let Some(r) = c.retry_in_s {
                note.push(format!("retry in {}", duration(r)));
            }
            if c.watch == WatchState::Rescan {
                note.push("watch limit reached: rescanned every interval".to_owned());
            }
            if c.not_here.is_some() {
                note.push("not for this machine (its `machines` do not name it)".to_owned());
            }
            if !c.auto {
                note.push("manual".to_owned());
            }
            let failed = c.failed_files.len();
            if failed > 0 {
                note.push(format!("{failed} file(s) failed, listed below"));
            }
            vec![
                quote::name(&c.name).into_owned(),
                c.state.as_str().to_owned(),
                match c.last_sync {
                    Some(t) => format!("{} ago", duration(u64::try_from(now - t).unwrap_or(0))),
                    None => "never".to_owned(),
                },
                c.pending_changes.to_string(),
                c.conflicts.to_string(),
                note.join("; "),
            ]
        })
        .collect();
    render::table(
        &["NAME", "STATE", "LAST SYNC", "PENDING", "CONFLICTS", "NOTE"],
        &rows,
    )?;
    for c in &st.configs {
        let name = quote::name(&c.name);
        for f in &c.failed_files {
            outln!(
                "{name}: failed: {}: {}",
                quote::name(&format!("~/{}", f.path)),
                quote::line(&f.reason)
            )?;
        }
    }
    Ok(())
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
