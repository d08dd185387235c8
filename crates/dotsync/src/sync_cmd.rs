//! `dotsync sync [NAME] [--json] [--allow-mass-delete]`: sync now and show it happen.
//!
//! The daemon answers with an NDJSON stream (`start`, `progress`, `file`..., `summary` per
//! config). `--json` passes it through to stdout line by line. Otherwise stderr gets, on a
//! terminal, a progress line redrawn in place and a short per-file report; when stderr is not a
//! terminal, plain lines, every file listed. The exit status is non-zero when a sync failed.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::process::ExitCode;

use anyhow::{Context, Result};
use dotsync_api::{
    ErrorKind, FileAction, PauseState, RewindChoice, Status, SyncEvent, SyncLine, SyncRequest,
    SyncSummary, Trigger,
};

use crate::cli::SyncArgs;
use crate::client::Client;
use crate::commands::seg;
use crate::quote;

/// On a terminal, at most this many file lines per config; the rest are counted.
const TTY_FILE_LINES: usize = 20;

pub fn run(args: &SyncArgs) -> Result<ExitCode> {
    let client = Client::connect()?;
    let path = match &args.name {
        Some(n) => format!("/v1/sync/{}", seg(n)),
        None => "/v1/sync".to_owned(),
    };
    let rewind = if args.push_local {
        Some(RewindChoice::PushLocal)
    } else if args.take_remote {
        Some(RewindChoice::TakeRemote)
    } else {
        None
    };
    let body =
        (args.allow_mass_delete || rewind.is_some() || args.dry_run).then_some(SyncRequest {
            allow_mass_delete: args.allow_mass_delete,
            rewind,
            dry_run: args.dry_run,
        });
    // The note on paused configs needs the status; it is asked for beside the sync, not
    // before it, and shown before the sync's lines.
    let (resp, note) = std::thread::scope(|scope| {
        let note =
            (!args.dry_run).then(|| scope.spawn(|| paused_note(&client, args.name.as_deref())));
        let resp = client.call("POST", &path, body.as_ref());
        (resp, note.and_then(|n| n.join().ok().flatten()))
    });
    if let Some(note) = note {
        eprintln!("{note}");
    }
    show_stream(resp?.body, args.json, args.name.as_deref())
}

/// What to say when a sync asked for runs on a paused config: it runs, and the daemon stays
/// paused.
fn paused_note(client: &Client, name: Option<&str>) -> Option<String> {
    // Nothing paused (the usual case): no status to compute beside the sync. A daemon older
    // than `GET /v1/pause` answers the status only.
    if let Ok(now) = client.get::<PauseState>("/v1/pause")
        && !now.all
        && now.configs.is_empty()
    {
        return None;
    }
    let st = client.get::<Status>("/v1/status").ok()?;
    let paused: Vec<String> = st
        .configs
        .iter()
        .filter(|c| c.paused)
        .filter(|c| name.is_none_or(|n| c.name == n || c.id == n))
        .map(|c| quote::name(&c.name).into_owned())
        .collect();
    (!paused.is_empty()).then(|| {
        format!(
            "note: {} paused: this sync runs because you asked; the daemon syncs by itself again \
             after `dotsync resume`",
            if paused.len() == 1 {
                format!("{} is", paused[0])
            } else {
                format!("{} are", paused.join(", "))
            }
        )
    })
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
            // A closed stdout (`| head`) ends the output (quietly, at the top), not the sync.
            writeln!(out, "{line}").and_then(|()| out.flush())?;
        }
        let line: SyncLine = match serde_json::from_str(&line) {
            Ok(l) => l,
            // JSON of another shape: a line a newer daemon added; it is passed on with `--json`.
            Err(e) if e.is_data() => continue,
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("the daemon sent a line that is not JSON: {line}"));
            }
        };
        if let SyncEvent::Summary(s) = &line.event {
            summaries += 1;
            // A sync that completed but could not write some file did not do its job either.
            if !s.ok || s.failed > 0 {
                failed += 1;
            }
        }
        if !json {
            view.event(&line.event);
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

    fn event(&mut self, ev: &SyncEvent) {
        let config = quote::name(ev.config());
        match ev {
            SyncEvent::Start {
                trigger, remote, ..
            } => {
                self.files_shown = 0;
                self.files_hidden = 0;
                self.dry_run = *trigger == Trigger::DryRun;
                if self.tty {
                    self.progress(&format!("{config}: starting"));
                } else {
                    self.line(&format!("{config}: syncing with {}", quote::name(remote)));
                }
            }
            SyncEvent::Progress {
                phase, done, total, ..
            } if self.tty => {
                let phase = phase.as_str();
                let text = match *total {
                    Some(total) if total > 0 => {
                        format!("{config}: {phase:<6} {} {done}/{total}", bar(*done, total))
                    }
                    _ => format!("{config}: {phase} {done}"),
                };
                self.progress(&text);
            }
            SyncEvent::File {
                path,
                action,
                bytes,
                detail,
                ..
            } => {
                if self.tty && self.files_shown >= TTY_FILE_LINES {
                    self.files_hidden += 1;
                    return;
                }
                self.files_shown += 1;
                let detail = detail.as_deref();
                if self.dry_run {
                    let verb = match action {
                        FileAction::Pushed => "push",
                        FileAction::Pulled => "pull",
                        FileAction::Merged => "merge",
                        FileAction::Deleted => "delete",
                        FileAction::Resolved => "resolve",
                        FileAction::Skipped => "skip",
                        FileAction::Failed => "fail on",
                        FileAction::Conflict => "conflict",
                    };
                    let line = file_line(verb, *action, path, *bytes, detail);
                    self.line(&format!("  would {}", line.trim_start_matches(' ')));
                } else {
                    self.line(&file_line(action.as_str(), *action, path, *bytes, detail));
                }
            }
            SyncEvent::Summary(s) => {
                if self.files_hidden > 0 {
                    self.line(&format!(
                        "  ... and {} more files (`dotsync sync --json` lists every one)",
                        self.files_hidden
                    ));
                }
                if let Some(why) = &s.not_here {
                    self.line(&quote::line(why));
                    return;
                }
                self.line(&summary_line(s));
                if s.dry_run {
                    if s.conflicts > 0 {
                        self.line(
                            "hint: a file that differs here and on the remote, never synced \
                             before, is kept both ways as a conflict: nothing is lost, and \
                             `dotsync conflicts PATH` then shows the differences",
                        );
                    }
                } else if !s.ok {
                    if let Some(hint) = hint(s) {
                        self.line(&hint);
                    }
                } else if s.failed > 0 {
                    self.line(
                        "hint: the files marked failed stay listed in `dotsync status` until a \
                         sync can write them",
                    );
                } else if s.conflicts > 0 {
                    self.line(
                        "hint: `dotsync conflicts` shows them; `dotsync resolve PATH --keep \
                         local|remote` settles one",
                    );
                }
            }
            SyncEvent::Progress { .. } => {}
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

#[allow(
    clippy::cast_possible_truncation,
    reason = "the bar is 20 wide: every count fits"
)]
fn bar(done: u64, total: u64) -> String {
    const W: u64 = 20;
    let filled = (done.min(total) * W / total.max(1)) as usize;
    format!(
        "[{}{}]",
        "#".repeat(filled),
        " ".repeat(W as usize - filled)
    )
}

/// One file's line: `word` (its action, or a dry run's verb), the path, the size of what
/// travelled and the detail.
fn file_line(
    word: &str,
    action: FileAction,
    path: &str,
    bytes: u64,
    detail: Option<&str>,
) -> String {
    let path = quote::name(&format!("~/{path}")).into_owned();
    let mut s = format!("  {word:<9}{path}");
    let travelled = matches!(
        action,
        FileAction::Pushed | FileAction::Pulled | FileAction::Merged | FileAction::Resolved
    );
    if bytes > 0 && travelled {
        let _ = write!(s, "  ({})", human_bytes(bytes));
    }
    if let Some(d) = detail {
        let _ = write!(s, "  {d}");
    }
    s
}

#[allow(clippy::cast_precision_loss, reason = "seconds shown to one decimal")]
fn summary_line(s: &SyncSummary) -> String {
    let config = quote::name(&s.config);
    let secs = s.duration_ms as f64 / 1000.0;
    if !s.ok {
        return format!(
            "{config}: sync failed: {}",
            s.error.as_deref().unwrap_or("no reason given")
        );
    }
    if s.dry_run {
        let mut parts = Vec::new();
        for (n, word) in [
            (s.pushed, "push"),
            (s.pulled, "pull"),
            (s.merged, "merge"),
            (s.deleted, "delete"),
            (s.resolved, "resolve"),
            (s.conflicts, "keep in conflict"),
            (s.failed, "fail on"),
        ] {
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
    for (n, word) in [
        (s.pushed, "pushed"),
        (s.pulled, "pulled"),
        (s.merged, "merged"),
        (s.deleted, "deleted"),
        (s.resolved, "resolved"),
        (s.conflicts, "in conflict"),
        (s.skipped, "skipped"),
        (s.failed, "failed"),
    ] {
        if n > 0 {
            parts.push(format!("{n} {word}"));
        }
    }
    let commit = s
        .commit
        .as_deref()
        .map(|c| format!(", at {}", c.get(..10).unwrap_or(c)))
        .unwrap_or_default();
    if parts.is_empty() {
        format!("{config}: up to date{commit} ({secs:.2} s)")
    } else {
        format!("{config}: {}{commit} ({secs:.2} s)", parts.join(", "))
    }
}

fn hint(s: &SyncSummary) -> Option<String> {
    let config = quote::name(&s.config);
    match s.error_kind? {
        ErrorKind::MassDelete => Some(format!(
            "hint: if those deletions are what you want, run `dotsync sync {config} \
             --allow-mass-delete`"
        )),
        ErrorKind::Offline => Some(
            "hint: your edits are kept; the daemon retries by itself, or run `dotsync sync` \
             again once the remote is reachable"
                .to_owned(),
        ),
        ErrorKind::Cancelled => Some("hint: the sync was stopped; run it again".to_owned()),
        ErrorKind::Rewound => Some(format!(
            "hint: `dotsync sync {config} --push-local` puts this machine's files back on the \
             remote; `dotsync sync {config} --take-remote` takes the remote's (this machine's \
             versions stay in `dotsync log`)"
        )),
        ErrorKind::RemoteNotFound
        | ErrorKind::Auth
        | ErrorKind::Rejected
        | ErrorKind::RemoteLocked
        | ErrorKind::DiskFull => Some(
            "hint: your edits are kept; once that is fixed, run `dotsync sync` (the daemon also \
             tries again every few minutes)"
                .to_owned(),
        ),
        _ => None,
    }
}

#[allow(clippy::cast_precision_loss, reason = "sizes shown to one decimal")]
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

    fn summary(ok: bool) -> SyncSummary {
        SyncSummary {
            config: "dots".into(),
            config_id: "cfg_1".into(),
            ok,
            ..SyncSummary::default()
        }
    }

    #[test]
    fn summaries_read_as_sentences() {
        let ok = SyncSummary {
            pushed: 2,
            conflicts: 1,
            commit: Some("0123456789abcdef".into()),
            duration_ms: 1500,
            ..summary(true)
        };
        assert_eq!(
            summary_line(&ok),
            "dots: 2 pushed, 1 in conflict, at 0123456789 (1.50 s)"
        );
        let same = SyncSummary {
            duration_ms: 20,
            ..summary(true)
        };
        assert_eq!(summary_line(&same), "dots: up to date (0.02 s)");
        let bad = SyncSummary {
            error: Some("the remote x cannot be reached".into()),
            error_kind: Some(ErrorKind::Offline),
            ..summary(false)
        };
        assert_eq!(
            summary_line(&bad),
            "dots: sync failed: the remote x cannot be reached"
        );
        assert!(hint(&bad).is_some_and(|h| h.contains("edits are kept")));
    }

    #[test]
    fn file_lines_show_action_path_and_size() {
        assert_eq!(
            file_line("pulled", FileAction::Pulled, ".zshrc", 2048, None),
            "  pulled   ~/.zshrc  (2.0 KiB)"
        );
        assert_eq!(bar(5, 10), "[##########          ]");
        assert_eq!(human_bytes(10), "10 B");
    }
}
