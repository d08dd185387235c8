//! The daemon's recent sync lines: what `GET /v1/log` serves and the app's log view and
//! "recent changes" show. A ring of the last [`CAPACITY`] lines (progress lines are left out),
//! also appended to `state/recent.jsonl` so that a restart keeps them; the file is cut back to
//! the ring's size when the daemon starts. The history of every file stays in git either way
//! (`dotsync log`).

use std::collections::VecDeque;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use dotsync_engine::{FileAction, SyncEvent};

/// How many lines are kept.
pub const CAPACITY: usize = 1000;

pub use dotsync_api::LogLine;
use dotsync_api::{LogKind, Trigger};

#[derive(Default)]
struct Ring {
    seq: u64,
    lines: VecDeque<LogLine>,
    /// Where lines are appended; `None` in memory only (or after a write failed).
    file: Option<std::fs::File>,
    path: Option<PathBuf>,
    /// Lines in the file: once it holds twice the ring, it is cut back to the ring.
    in_file: usize,
}

#[derive(Default)]
pub struct Recent {
    inner: Mutex<Ring>,
    /// This machine's name, for the files it sent.
    machine: String,
}

impl Recent {
    /// The lines kept in `path` (`state/recent.jsonl`), to which new ones are appended. A file
    /// that cannot be read or written costs the lines of past runs, never the daemon.
    pub fn open(path: PathBuf, machine: &str) -> Self {
        let mut lines: VecDeque<LogLine> = VecDeque::new();
        // The file is rewritten only when it holds a line that cannot be read (cut short by a
        // crash, of another version) or twice the ring, as while the daemon runs: a CLI sync
        // opens this too, and should not pay a rewrite and two fsyncs every time.
        let mut unreadable = false;
        let mut in_file = 0;
        if let Ok(text) = std::fs::read_to_string(&path) {
            unreadable = !text.is_empty() && !text.ends_with('\n');
            for l in text.lines() {
                in_file += 1;
                // A line cut short by a crash, or of another version, is skipped.
                if let Ok(line) = serde_json::from_str::<LogLine>(l) {
                    if lines.len() >= CAPACITY {
                        lines.pop_front();
                    }
                    lines.push_back(line);
                } else {
                    unreadable = true;
                }
            }
        }
        let seq = lines.back().map_or(0, |l| l.seq);
        let rewrite = unreadable || in_file >= 2 * CAPACITY;
        let compacted = if rewrite {
            in_file = lines.len();
            compact(&path, &lines)
        } else {
            Ok(())
        };
        let file = compacted
            .and_then(|()| {
                std::fs::OpenOptions::new()
                    .append(true)
                    .create(true)
                    .mode(0o600)
                    .open(&path)
            })
            .map_err(|e| {
                tracing::warn!(
                    "cannot keep the recent sync lines in {}: {e}; they last until the daemon \
                     stops",
                    path.display()
                );
            })
            .ok();
        Self {
            inner: Mutex::new(Ring {
                seq,
                lines,
                file,
                path: Some(path),
                in_file,
            }),
            machine: machine.to_owned(),
        }
    }

    /// Records one sync event (progress lines are dropped).
    pub fn push(&self, ev: &SyncEvent) {
        let mut machine = None;
        let (config, kind, action, path, text) = match ev {
            SyncEvent::Progress { .. } => return,
            SyncEvent::Start {
                config, trigger, ..
            } => (
                config.clone(),
                LogKind::Start,
                trigger.as_str().to_owned(),
                None,
                format!("sync of {config} started ({})", trigger_words(*trigger)),
            ),
            SyncEvent::File {
                config,
                path,
                action,
                detail,
                machine: from,
                ..
            } => {
                machine = match (from, action) {
                    (Some(m), _) => Some(m.clone()),
                    (None, FileAction::Pushed | FileAction::Deleted | FileAction::Resolved) => {
                        (!self.machine.is_empty()).then(|| self.machine.clone())
                    }
                    _ => None,
                };
                let shown = format!("~/{path}");
                let mut text = format!("{} {shown}", action_words(*action));
                if let Some(d) = detail {
                    text.push_str(": ");
                    text.push_str(d);
                }
                (
                    config.clone(),
                    LogKind::File,
                    action.as_str().to_owned(),
                    Some(shown),
                    text,
                )
            }
            SyncEvent::Summary(s) => {
                let text = if s.ok {
                    let parts: Vec<String> = [
                        (s.pushed, "pushed"),
                        (s.pulled, "pulled"),
                        (s.merged, "merged"),
                        (s.deleted, "deleted"),
                        (s.conflicts, "in conflict"),
                        (s.failed, "failed"),
                    ]
                    .iter()
                    .filter(|(n, _)| *n > 0)
                    .map(|(n, w)| format!("{n} {w}"))
                    .collect();
                    if parts.is_empty() {
                        format!("sync of {} finished: nothing to do", s.config)
                    } else {
                        format!("sync of {} finished: {}", s.config, parts.join(", "))
                    }
                } else {
                    format!(
                        "sync of {} failed: {}",
                        s.config,
                        crate::coordinator::one_line(
                            s.error.as_deref().unwrap_or("no reason given")
                        )
                    )
                };
                (
                    s.config.clone(),
                    LogKind::Summary,
                    if s.ok { "ok" } else { "error" }.to_owned(),
                    None,
                    text,
                )
            }
        };
        let mut g = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        g.seq += 1;
        let line = LogLine {
            seq: g.seq,
            at: dotsync_state::now_unix(),
            config,
            kind,
            action,
            path,
            machine,
            text,
        };
        if let Some(f) = g.file.as_mut() {
            let mut bytes = serde_json::to_vec(&line).unwrap_or_default();
            bytes.push(b'\n');
            if let Err(e) = f.write_all(&bytes) {
                tracing::warn!("cannot append to the recent sync lines: {e}");
                g.file = None;
            }
        }
        if g.lines.len() >= CAPACITY {
            g.lines.pop_front();
        }
        g.lines.push_back(line);
        g.in_file += 1;
        if g.in_file >= 2 * CAPACITY
            && let Some(path) = g.path.clone()
        {
            // Cut back to what the ring holds, then append to the new file.
            match compact(&path, &g.lines)
                .and_then(|()| std::fs::OpenOptions::new().append(true).open(&path))
            {
                Ok(f) => {
                    g.file = Some(f);
                    g.in_file = g.lines.len();
                }
                Err(e) => {
                    tracing::warn!("cannot cut back the recent sync lines: {e}");
                    g.file = None;
                }
            }
        }
    }

    /// The lines after `after`, oldest first, at most the last `limit`.
    pub fn since(&self, after: u64, limit: usize) -> Vec<LogLine> {
        let g = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let newer: Vec<&LogLine> = g.lines.iter().filter(|l| l.seq > after).collect();
        let skip = newer.len().saturating_sub(limit);
        newer.into_iter().skip(skip).cloned().collect()
    }
}

/// Rewrites `path` with `lines` only (the ring's size), whole or not at all.
fn compact(path: &Path, lines: &VecDeque<LogLine>) -> std::io::Result<()> {
    let mut bytes = Vec::new();
    for l in lines {
        serde_json::to_writer(&mut bytes, l).map_err(std::io::Error::other)?;
        bytes.push(b'\n');
    }
    dotsync_state::fs::write_atomic(path, &bytes, 0o600)
}

fn action_words(a: FileAction) -> &'static str {
    match a {
        FileAction::Pushed => "sent",
        FileAction::Pulled => "received",
        FileAction::Merged => "merged",
        FileAction::Deleted => "deleted",
        FileAction::Conflict => "conflict on",
        FileAction::Resolved => "resolved",
        FileAction::Skipped => "skipped",
        FileAction::Failed => "could not sync",
    }
}

fn trigger_words(t: Trigger) -> &'static str {
    match t {
        Trigger::Api => "asked for",
        Trigger::Watch => "a file changed",
        Trigger::Schedule => "remote check",
        Trigger::Poke => "another machine pushed",
        Trigger::Retry => "retry",
        Trigger::Resume => "resumed",
        Trigger::Start => "daemon started",
        Trigger::Config => "config changed",
        other => other.as_str(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// "sent ~/f{i}", as a sync reports it.
    fn sent(i: usize) -> SyncEvent {
        SyncEvent::File {
            config: "dots".into(),
            path: format!("f{i}"),
            action: FileAction::Pushed,
            bytes: 1,
            detail: None,
            machine: None,
        }
    }

    #[test]
    fn the_ring_keeps_the_last_lines_and_answers_after_a_seq() {
        let r = Recent::default();
        for i in 0..(CAPACITY + 5) {
            r.push(&sent(i));
        }
        let all = r.since(0, usize::MAX);
        assert_eq!(all.len(), CAPACITY);
        assert_eq!(all[0].seq, 6);
        assert_eq!(
            all.last().unwrap().text,
            format!("sent ~/f{}", CAPACITY + 4)
        );
        let tail = r.since(all.last().unwrap().seq - 2, 10);
        assert_eq!(tail.len(), 2);
        assert_eq!(r.since(0, 3).len(), 3);
    }

    #[test]
    fn the_lines_survive_a_restart_with_who_made_each_change() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("recent.jsonl");
        let file = |p: &str, action, machine: Option<&str>| SyncEvent::File {
            config: "dots".into(),
            path: p.into(),
            action,
            bytes: 1,
            detail: None,
            machine: machine.map(str::to_owned),
        };
        {
            let r = Recent::open(path.clone(), "laptop");
            r.push(&file(".zshrc", FileAction::Pushed, None));
            r.push(&file(".vimrc", FileAction::Pulled, Some("desk")));
        }
        // A line cut short by a crash is skipped, not fatal.
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(b"{\"seq\": 3, \"at").unwrap();
        drop(f);
        let r = Recent::open(path.clone(), "laptop");
        let lines = r.since(0, usize::MAX);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].machine.as_deref(), Some("laptop"));
        assert_eq!(lines[1].machine.as_deref(), Some("desk"));
        assert_eq!(lines[1].path.as_deref(), Some("~/.vimrc"));
        r.push(&file(
            ".gitconfig",
            FileAction::Merged,
            Some("desk, server"),
        ));
        assert_eq!(
            r.since(2, 10)[0].seq,
            3,
            "numbering goes on after a restart"
        );
        let mode = std::fs::metadata(&path).unwrap().permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o600
        );
    }

    #[test]
    fn a_clean_file_is_opened_as_it_is_not_rewritten() {
        use std::os::unix::fs::MetadataExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("recent.jsonl");
        {
            let r = Recent::open(path.clone(), "laptop");
            r.push(&sent(0));
        }
        let before = std::fs::metadata(&path).unwrap();
        // Every CLI sync opens the ring: a file with nothing to drop keeps its inode.
        let r = Recent::open(path.clone(), "laptop");
        assert_eq!(std::fs::metadata(&path).unwrap().ino(), before.ino());
        r.push(&sent(1));
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 2, "{text}");
        assert_eq!(r.since(0, 10).len(), 2);
        assert_eq!(before.mode() & 0o777, 0o600);
        // Past the ring but short of twice it, as the daemon leaves it: kept as it is too,
        // the ring holding the last lines.
        for i in 2..(CAPACITY + 10) {
            r.push(&sent(i));
        }
        drop(r);
        let r = Recent::open(path.clone(), "laptop");
        assert_eq!(std::fs::metadata(&path).unwrap().ino(), before.ino());
        let kept = r.since(0, usize::MAX);
        assert_eq!(kept.len(), CAPACITY);
        assert_eq!(
            kept.last().unwrap().text,
            format!("sent ~/f{}", CAPACITY + 9)
        );
    }

    #[test]
    fn the_file_is_cut_back_while_the_daemon_runs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("recent.jsonl");
        let r = Recent::open(path.clone(), "laptop");
        for i in 0..(3 * CAPACITY) {
            r.push(&sent(i));
        }
        let lines = std::fs::read_to_string(&path).unwrap().lines().count();
        assert!(lines < 2 * CAPACITY, "{lines} lines");
        drop(r);
        let again = Recent::open(path, "laptop");
        let kept = again.since(0, usize::MAX);
        assert_eq!(kept.len(), CAPACITY);
        assert_eq!(kept.last().unwrap().seq, (3 * CAPACITY) as u64);
    }
}
