//! The daemon's recent sync lines, in memory: what `GET /v1/log` serves and the app's log view
//! and "recent changes" show. A ring of the last [`CAPACITY`] lines; progress lines are left
//! out. Lost on restart (the history of every file stays in git: `dotsync log`).

use std::collections::VecDeque;
use std::sync::Mutex;

use dotsync_engine::{FileAction, SyncEvent};
use serde::Serialize;

/// How many lines are kept.
pub const CAPACITY: usize = 1000;

/// One line of the log.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LogLine {
    /// Increases by one per line, from 1 at the daemon's start: ask for `after` the last one
    /// seen to get only new lines.
    pub seq: u64,
    /// Unix seconds.
    pub at: i64,
    /// The config's name.
    pub config: String,
    /// `start`, `file` or `summary`.
    pub kind: &'static str,
    /// For `file`: `pushed`, `pulled`, `merged`, `deleted`, `conflict`, `resolved`, `skipped`
    /// or `failed`; for `summary`: `ok` or `error`; for `start`: what started the sync.
    pub action: String,
    /// For `file`: the file (`~/...`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// One readable sentence.
    pub text: String,
}

#[derive(Default)]
pub struct Recent {
    inner: Mutex<(u64, VecDeque<LogLine>)>,
}

impl Recent {
    /// Records one sync event (progress lines are dropped).
    pub fn push(&self, ev: &SyncEvent) {
        let (config, kind, action, path, text) = match ev {
            SyncEvent::Progress { .. } => return,
            SyncEvent::Start {
                config, trigger, ..
            } => (
                config.clone(),
                "start",
                trigger.clone(),
                None,
                format!("sync of {config} started ({})", trigger_words(trigger)),
            ),
            SyncEvent::File {
                config,
                path,
                action,
                detail,
                ..
            } => {
                let shown = format!("~/{path}");
                let mut text = format!("{} {shown}", action_words(*action));
                if let Some(d) = detail {
                    text.push_str(": ");
                    text.push_str(d);
                }
                (
                    config.clone(),
                    "file",
                    action_name(*action).to_owned(),
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
                        crate::sync::one_line(s.error.as_deref().unwrap_or("no reason given"))
                    )
                };
                (
                    s.config.clone(),
                    "summary",
                    if s.ok { "ok" } else { "error" }.to_owned(),
                    None,
                    text,
                )
            }
        };
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.0 += 1;
        let line = LogLine {
            seq: g.0,
            at: dotsync_state::now_unix(),
            config,
            kind,
            action,
            path,
            text,
        };
        if g.1.len() >= CAPACITY {
            g.1.pop_front();
        }
        g.1.push_back(line);
    }

    /// The lines after `after`, oldest first, at most the last `limit`.
    pub fn since(&self, after: u64, limit: usize) -> Vec<LogLine> {
        let g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let newer: Vec<&LogLine> = g.1.iter().filter(|l| l.seq > after).collect();
        let skip = newer.len().saturating_sub(limit);
        newer.into_iter().skip(skip).cloned().collect()
    }
}

fn action_name(a: FileAction) -> &'static str {
    match a {
        FileAction::Pushed => "pushed",
        FileAction::Pulled => "pulled",
        FileAction::Merged => "merged",
        FileAction::Deleted => "deleted",
        FileAction::Conflict => "conflict",
        FileAction::Resolved => "resolved",
        FileAction::Skipped => "skipped",
        FileAction::Failed => "failed",
    }
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

fn trigger_words(t: &str) -> &str {
    match t {
        "api" => "asked for",
        "watch" => "a file changed",
        "schedule" => "remote check",
        "poke" => "another machine pushed",
        "retry" => "retry",
        "resume" => "resumed",
        "start" => "daemon started",
        "config" => "config changed",
        other => other,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_ring_keeps_the_last_lines_and_answers_after_a_seq() {
        let r = Recent::default();
        for i in 0..(CAPACITY + 5) {
            r.push(&SyncEvent::File {
                config: "dots".into(),
                path: format!("f{i}"),
                action: FileAction::Pushed,
                bytes: 1,
                detail: None,
            });
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
}
