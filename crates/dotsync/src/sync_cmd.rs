//! `dotsync sync [NAME] [--json] [--allow-mass-delete]`: sync now and show it happen.
//!
//! The daemon answers with an NDJSON stream (`start`, `progress`, `file`..., `summary` per
//! config). `--json` passes it through to stdout line by line. Otherwise stderr gets, on a
//! terminal, a progress line redrawn in place and a short per-file report; when stderr is not a
//! terminal, plain lines, every file listed. The exit status is non-zero when a sync failed.

use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::process::ExitCode;

use anyhow::{Context, Result};
use serde_json::{Value, json};

use crate::cli::SyncArgs;
use crate::client::Client;
use crate::commands::seg;
use crate::quote;

/// On a terminal, at most this many file lines per config; the rest are counted.
const TTY_FILE_LINES: usize = 20;

pub fn run(args: SyncArgs) -> Result<ExitCode> {
    let client = Client::connect()?;
    let path = match &args.name {
        Some(n) => format!("/v1/sync/{}", seg(n)),
        None => "/v1/sync".to_owned(),
    };
    let rewind = if args.push_local {
        Some("push-local")
    } else if args.take_remote {
        Some("take-remote")
    } else {
        None
    };
    let body = (args.allow_mass_delete || rewind.is_some() || args.dry_run).then(|| {
        json!({"allow_mass_delete": args.allow_mass_delete, "rewind": rewind,
            "dry_run": args.dry_run})
    });
    if !args.dry_run {
        note_paused(&client, args.name.as_deref());
    }
    let resp = client.call("POST", &path, body.as_ref())?;
    show_stream(resp.body, args.json, args.name.as_deref())
}

/// Says so when a sync asked for runs on a paused config: it runs, and the daemon stays paused.
fn note_paused(client: &Client, name: Option<&str>) {
    let Ok(st) = client.get("/v1/status") else {
        return;
    };
    let paused: Vec<String> = st["configs"]
        .as_array()
        .map(|a| a.as_slice())
        .unwrap_or_default()
        .iter()
        .filter(|c| c["paused"] == true)
        .filter(|c| name.is_none_or(|n| c["name"] == n || c["id"] == n))
        .filter_map(|c| c["name"].as_str().map(|n| quote::name(n).into_owned()))
        .collect();
    if !paused.is_empty() {
        eprintln!(
            "note: {} paused: this sync runs because you asked; the daemon syncs by itself again \
             after `dotsync resume`",
            if paused.len() == 1 {
                format!("{} is", paused[0])
            } else {
                format!("{} are", paused.join(", "))
            }
        );
    }
}

/// Shows a sync's NDJSON stream (or passes it through with `json`); the exit status is
/// non-zero when a sync failed. `name`: the config asked for, if one.
pub fn show_stream(
    body: Box<dyn std::io::Read + Send>,
    json: bool,
    name: Option<&str>,
) -> Result<ExitCode> {
    let reader = BufReader::new(body);
    let mut out = std::io::stdout().lock();
    let mut view = Report::new(std::io::stderr().is_terminal());
    let mut summaries = 0usize;
    let mut failed = 0usize;
    for line in reader.lines() {
        let line = line.context("the sync's stream broke off")?;
        if line.trim().is_empty() {
            continue;
        }
        if json {
            // A closed stdout (`| head`) ends the output, not the sync.
            if writeln!(out, "{line}").and_then(|_| out.flush()).is_err() {
                return Ok(ExitCode::SUCCESS);
            }
        }
        let v: Value = serde_json::from_str(&line)
            .with_context(|| format!("the daemon sent a line that is not JSON: {line}"))?;
        if v["type"] == "summary" {
            summaries += 1;
            // A sync that completed but could not write some file did not do its job either.
            if v["ok"] != true || v["failed"].as_u64().unwrap_or(0) > 0 {
                failed += 1;
            }
        }
        if !json {
            view.event(&v);
        }
    }
    view.clear_progress();
    if summaries == 0 {
        match name {
            None => {
                eprintln!(
                    "no configs yet; create one with `dotsync config add NAME --remote URL PATH...`"
                );
                return Ok(ExitCode::SUCCESS);
            }
            Some(n) => anyhow::bail!(
                "the sync of {n} ended without a result (the daemon may have stopped); run \
                 `dotsync status` and try again"
            ),
        }
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// What a person sees on stderr.
struct Report {
    tty: bool,
    /// A progress line is on screen and must be cleared before the next line.
    progress_shown: bool,
    files_shown: usize,
    files_hidden: usize,
    /// The stream is a dry run's (only known for sure at its summary).
    dry_run: bool,
}

impl Report {
    fn new(tty: bool) -> Self {
        Self {
            tty,
            progress_shown: false,
            files_shown: 0,
            files_hidden: 0,
            dry_run: false,
        }
    }

    fn clear_progress(&mut self) {
        if self.progress_shown {
            eprint!("\r\x1b[2K");
            self.progress_shown = false;
        }
    }

    fn line(&mut self, s: &str) {
        self.clear_progress();
        eprintln!("{}", quote::text(s));
    }

    fn event(&mut self, v: &Value) {
        let config = quote::name(v["config"].as_str().unwrap_or("?"));
        match v["type"].as_str() {
            Some("start") => {
                self.files_shown = 0;
                self.files_hidden = 0;
                self.dry_run = v["trigger"] == "dry-run";
                if self.tty {
                    self.progress(&format!("{config}: starting"));
                } else {
                    self.line(&format!(
                        "{config}: syncing with {}",
                        quote::name(v["remote"].as_str().unwrap_or("?"))
                    ));
                }
            }
            Some("progress") if self.tty => {
                let phase = v["phase"].as_str().unwrap_or("");
                let done = v["done"].as_u64().unwrap_or(0);
                let text = match v["total"].as_u64() {
                    Some(total) if total > 0 => {
                        format!("{config}: {phase:<6} {} {done}/{total}", bar(done, total))
                    }
                    _ => format!("{config}: {phase} {done}"),
                };
                self.progress(&text);
            }
            Some("file") => {
                if self.tty && self.files_shown >= TTY_FILE_LINES {
                    self.files_hidden += 1;
                    return;
                }
                self.files_shown += 1;
                if self.dry_run {
                    let mut w = v.clone();
                    let verb = match v["action"].as_str().unwrap_or("?") {
                        "pushed" => "push",
                        "pulled" => "pull",
                        "merged" => "merge",
                        "deleted" => "delete",
                        "resolved" => "resolve",
                        "skipped" => "skip",
                        "failed" => "fail on",
                        other => other,
                    };
                    w["action"] = json!(verb);
                    self.line(&format!(
                        "  would {}",
                        file_line(&w).trim_start_matches(' ')
                    ));
                } else {
                    self.line(&file_line(v));
                }
            }
            Some("summary") => {
                if self.files_hidden > 0 {
                    self.line(&format!(
                        "  ... and {} more files (`dotsync sync --json` lists every one)",
                        self.files_hidden
                    ));
                }
                if let Some(why) = v["not_here"].as_str() {
                    self.line(&quote::line(why));
                    return;
                }
                self.line(&summary_line(v));
                if v["dry_run"] == true {
                    if v["conflicts"].as_u64().unwrap_or(0) > 0 {
                        self.line(
                            "hint: a file that differs here and on the remote, never synced \
                             before, is kept both ways as a conflict: nothing is lost, and \
                             `dotsync conflicts PATH` then shows the differences",
                        );
                    }
                } else if v["ok"] != true {
                    if let Some(hint) = hint(v) {
                        self.line(&hint);
                    }
                } else if v["failed"].as_u64().unwrap_or(0) > 0 {
                    self.line(
                        "hint: the files marked failed stay listed in `dotsync status` until a \
                         sync can write them",
                    );
                } else if v["conflicts"].as_u64().unwrap_or(0) > 0 {
                    self.line(
                        "hint: `dotsync conflicts` shows them; `dotsync resolve PATH --keep \
                         local|remote` settles one",
                    );
                }
            }
            _ => {}
        }
    }

    fn progress(&mut self, text: &str) {
        let width = terminal_width();
        let text: String = quote::line(text)
            .chars()
            .take(width.saturating_sub(1))
            .collect();
        eprint!("\r\x1b[2K{text}");
        let _ = std::io::stderr().flush();
        self.progress_shown = true;
    }
}

fn terminal_width() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .filter(|&w: &usize| w >= 20)
        .unwrap_or(80)
}

fn bar(done: u64, total: u64) -> String {
    const W: u64 = 20;
    let filled = (done.min(total) * W / total.max(1)) as usize;
    format!(
        "[{}{}]",
        "#".repeat(filled),
        " ".repeat(W as usize - filled)
    )
}

fn file_line(v: &Value) -> String {
    let action = v["action"].as_str().unwrap_or("?");
    let path = quote::name(&format!("~/{}", v["path"].as_str().unwrap_or("?"))).into_owned();
    let mut s = format!("  {action:<9}{path}");
    let bytes = v["bytes"].as_u64().unwrap_or(0);
    if bytes > 0 && matches!(action, "pushed" | "pulled" | "merged" | "resolved") {
        s.push_str(&format!("  ({})", human_bytes(bytes)));
    }
    if let Some(d) = v["detail"].as_str() {
        s.push_str(&format!("  {d}"));
    }
    s
}

fn summary_line(v: &Value) -> String {
    let config = quote::name(v["config"].as_str().unwrap_or("?"));
    let secs = v["duration_ms"].as_u64().unwrap_or(0) as f64 / 1000.0;
    if v["ok"] != true {
        return format!(
            "{config}: sync failed: {}",
            v["error"].as_str().unwrap_or("no reason given")
        );
    }
    if v["dry_run"] == true {
        let mut parts = Vec::new();
        for (key, word) in [
            ("pushed", "push"),
            ("pulled", "pull"),
            ("merged", "merge"),
            ("deleted", "delete"),
            ("resolved", "resolve"),
            ("conflicts", "keep in conflict"),
            ("failed", "fail on"),
        ] {
            let n = v[key].as_u64().unwrap_or(0);
            if n > 0 {
                parts.push(format!("{word} {n}"));
            }
        }
        return if parts.is_empty() {
            format!("{config}: dry run: nothing to do; nothing was changed")
        } else {
            format!(
                "{config}: dry run: would {}; nothing was changed",
                parts.join(", ")
            )
        };
    }
    let mut parts = Vec::new();
    for (key, word) in [
        ("pushed", "pushed"),
        ("pulled", "pulled"),
        ("merged", "merged"),
        ("deleted", "deleted"),
        ("resolved", "resolved"),
        ("conflicts", "in conflict"),
        ("skipped", "skipped"),
        ("failed", "failed"),
    ] {
        let n = v[key].as_u64().unwrap_or(0);
        if n > 0 {
            parts.push(format!("{n} {word}"));
        }
    }
    let commit = v["commit"]
        .as_str()
        .map(|c| format!(", at {}", c.get(..10).unwrap_or(c)))
        .unwrap_or_default();
    if parts.is_empty() {
        format!("{config}: up to date{commit} ({secs:.2} s)")
    } else {
        format!("{config}: {}{commit} ({secs:.2} s)", parts.join(", "))
    }
}

fn hint(v: &Value) -> Option<String> {
    let config = quote::name(v["config"].as_str().unwrap_or("NAME"));
    match v["error_kind"].as_str()? {
        "mass_delete" => Some(format!(
            "hint: if those deletions are what you want, run `dotsync sync {config} \
             --allow-mass-delete`"
        )),
        "offline" => Some(
            "hint: your edits are kept; the daemon retries by itself, or run `dotsync sync` \
             again once the remote is reachable"
                .to_owned(),
        ),
        "cancelled" => Some("hint: the sync was stopped; run it again".to_owned()),
        "rewound" => Some(format!(
            "hint: `dotsync sync {config} --push-local` puts this machine's files back on the \
             remote; `dotsync sync {config} --take-remote` takes the remote's (this machine's \
             versions stay in `dotsync log`)"
        )),
        "remote_not_found" | "auth" | "rejected" | "remote_locked" | "disk_full" => Some(
            "hint: your edits are kept; once that is fixed, run `dotsync sync` (the daemon also \
             tries again every few minutes)"
                .to_owned(),
        ),
        _ => None,
    }
}

fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_read_as_sentences() {
        let ok = json!({"type": "summary", "config": "dots", "ok": true, "pushed": 2,
            "pulled": 0, "conflicts": 1, "commit": "0123456789abcdef", "duration_ms": 1500});
        assert_eq!(
            summary_line(&ok),
            "dots: 2 pushed, 1 in conflict, at 0123456789 (1.50 s)"
        );
        let same = json!({"type": "summary", "config": "dots", "ok": true, "duration_ms": 20});
        assert_eq!(summary_line(&same), "dots: up to date (0.02 s)");
        let bad = json!({"type": "summary", "config": "dots", "ok": false,
            "error": "the remote x cannot be reached", "error_kind": "offline"});
        assert_eq!(
            summary_line(&bad),
            "dots: sync failed: the remote x cannot be reached"
        );
        assert!(hint(&bad).is_some_and(|h| h.contains("edits are kept")));
    }

    #[test]
    fn file_lines_show_action_path_and_size() {
        let v = json!({"type": "file", "config": "d", "path": ".zshrc", "action": "pulled",
            "bytes": 2048});
        assert_eq!(file_line(&v), "  pulled   ~/.zshrc  (2.0 KiB)");
        assert_eq!(bar(5, 10), "[##########          ]");
        assert_eq!(human_bytes(10), "10 B");
    }
}
