//! What the app last saw of the daemon, and what follows from it: the state at a glance (the
//! tray's icon), its one-line headline, and the news worth a desktop notification. Pure: the
//! monitor feeds it what the daemon said; tests feed it by hand.

use serde::{Deserialize, Serialize};

use crate::backend::{Conflict, FailedFile, FileState, Status};

/// The state at a glance, one icon each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Glance {
    InSync,
    Syncing,
    Conflict,
    Error,
    Offline,
}

impl Glance {
    pub fn label(self) -> &'static str {
        match self {
            Self::InSync => "In sync",
            Self::Syncing => "Syncing",
            Self::Conflict => "Conflict",
            Self::Error => "Needs you",
            Self::Offline => "Offline",
        }
    }
}

/// The configs and files the app last saw, kept in `~/.dotsync/config` (`last_seen`) so that the
/// tray and the window show them at once on start and while the daemon is unreachable.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastSeen {
    /// Unix seconds of the daemon's last answer.
    pub at: i64,
    /// The daemon's address then.
    pub backend_addr: String,
    /// This machine's name, as the daemon calls it.
    pub machine: String,
    /// Every config was paused.
    pub paused: bool,
    pub configs: Vec<SeenConfig>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeenConfig {
    pub id: String,
    pub name: String,
    /// `idle`, `syncing`, `conflict`, `error` or `offline`.
    pub state: String,
    pub last_sync: Option<i64>,
    pub last_error: Option<String>,
    pub paused: bool,
    pub conflicts: Vec<SeenConflict>,
    pub failed_files: Vec<SeenFailure>,
    /// The config's files with their states (`synced`, `modified`, `new`, `deleted`,
    /// `conflict`), as of the last sync the app saw.
    pub files: Vec<SeenFile>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeenConflict {
    pub path: String,
    /// The machine whose edit met this one's.
    pub theirs: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeenFailure {
    pub path: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeenFile {
    pub path: String,
    pub state: String,
}

/// A path as people write it: `~/.zshrc` for a file of the home (the daemon says `.zshrc`).
pub fn shown(path: &str) -> String {
    if path.starts_with('/') || path.starts_with("~/") {
        path.to_owned()
    } else {
        format!("~/{path}")
    }
}

impl LastSeen {
    /// Builds what the app saw from the daemon's answers. `files` holds, per config id, its
    /// files when they were read (a config missing from it keeps `previous`'s list).
    pub fn from_answers(
        at: i64,
        backend_addr: &str,
        status: &Status,
        conflicts: &[Conflict],
        files: &[(String, Vec<FileState>)],
        previous: Option<&LastSeen>,
    ) -> Self {
        let configs = status
            .configs
            .iter()
            .map(|c| {
                let files = files
                    .iter()
                    .find(|(id, _)| *id == c.id)
                    .map(|(_, f)| {
                        f.iter()
                            .map(|f| SeenFile {
                                path: shown(&f.path),
                                state: f.state.clone(),
                            })
                            .collect()
                    })
                    .or_else(|| {
                        previous
                            .and_then(|p| p.configs.iter().find(|p| p.id == c.id))
                            .map(|p| p.files.clone())
                    })
                    .unwrap_or_default();
                SeenConfig {
                    id: c.id.clone(),
                    name: c.name.clone(),
                    state: c.state.clone(),
                    last_sync: c.last_sync,
                    last_error: c.last_error.clone(),
                    paused: c.paused,
                    conflicts: conflicts
                        .iter()
                        .filter(|x| x.config_id == c.id)
                        .map(|x| SeenConflict {
                            path: shown(&x.path),
                            theirs: x.remote_machine.clone(),
                        })
                        .collect(),
                    failed_files: c
                        .failed_files
                        .iter()
                        .map(|FailedFile { path, reason }| SeenFailure {
                            path: shown(path),
                            reason: reason.clone(),
                        })
                        .collect(),
                    files,
                }
            })
            .collect();
        Self {
            at,
            backend_addr: backend_addr.to_owned(),
            machine: status.machine.clone(),
            paused: status.paused,
            configs,
        }
    }

    /// The state at a glance: what needs the person first (a conflict, then an error), then a
    /// sync under way, then offline (a remote out of reach), else in sync.
    pub fn glance(&self) -> Glance {
        let any = |f: &dyn Fn(&SeenConfig) -> bool| self.configs.iter().any(f);
        if any(&|c| !c.conflicts.is_empty() || c.state == "conflict") {
            Glance::Conflict
        } else if any(&|c| c.state == "error" || !c.failed_files.is_empty()) {
            Glance::Error
        } else if any(&|c| c.state == "syncing") {
            Glance::Syncing
        } else if any(&|c| c.state == "offline") {
            Glance::Offline
        } else {
            Glance::InSync
        }
    }

    /// The newest successful sync of any config.
    pub fn last_sync(&self) -> Option<i64> {
        self.configs.iter().filter_map(|c| c.last_sync).max()
    }

    /// Changes since `before` worth a desktop notification: a new conflict, a config that
    /// started failing, a file that could not be synced.
    pub fn news_since(&self, before: Option<&LastSeen>) -> Vec<Notice> {
        let mut out = Vec::new();
        for c in &self.configs {
            let old = before.and_then(|b| b.configs.iter().find(|o| o.id == c.id));
            for x in &c.conflicts {
                if old.is_some_and(|o| o.conflicts.iter().any(|y| y.path == x.path)) {
                    continue;
                }
                let theirs = x.theirs.as_deref().unwrap_or("another machine");
                out.push(Notice {
                    title: format!("Conflict in {}", x.path),
                    body: format!(
                        "{} was edited here and on {theirs}. Both versions are kept; open \
                         dotsync to choose.",
                        x.path
                    ),
                });
            }
            if c.state == "error" && old.is_none_or(|o| o.state != "error") {
                out.push(Notice {
                    title: format!("dotsync cannot sync {}", c.name),
                    body: c
                        .last_error
                        .clone()
                        .unwrap_or_else(|| "The last sync failed; open dotsync.".to_owned()),
                });
            }
            for f in &c.failed_files {
                if old.is_some_and(|o| o.failed_files.iter().any(|g| g.path == f.path)) {
                    continue;
                }
                out.push(Notice {
                    title: format!("dotsync cannot sync {}", f.path),
                    body: f.reason.clone(),
                });
            }
        }
        out
    }
}

/// A desktop notification to show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notice {
    pub title: String,
    pub body: String,
}

/// "just now", "5 min ago", "3 h ago", "2 days ago".
pub fn ago(then: i64, now: i64) -> String {
    let s = (now - then).max(0);
    match s {
        0..60 => "just now".to_owned(),
        60..3600 => format!("{} min ago", s / 60),
        3600..86_400 => format!("{} h ago", s / 3600),
        _ => format!("{} days ago", s / 86_400),
    }
}

/// The tray's first line and tooltip: the state and the last sync, or when the daemon was last
/// heard from.
pub fn headline(seen: Option<&LastSeen>, reachable: bool, now: i64) -> (Glance, String) {
    let Some(seen) = seen else {
        return if reachable {
            (Glance::InSync, "No config yet".to_owned())
        } else {
            (Glance::Offline, "dotsync is not running".to_owned())
        };
    };
    if !reachable {
        return (
            Glance::Offline,
            format!("dotsync is not running · last seen {}", ago(seen.at, now)),
        );
    }
    let g = seen.glance();
    let mut text = g.label().to_owned();
    if seen.configs.is_empty() {
        text = "No config yet".to_owned();
    } else if seen.paused {
        text.push_str(" · paused");
    }
    if let Some(t) = seen.last_sync() {
        text.push_str(&format!(" · last sync {}", ago(t, now)));
    }
    (g, text)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn config(state: &str) -> SeenConfig {
        SeenConfig {
            id: "c1".into(),
            name: "dotfiles".into(),
            state: state.into(),
            last_sync: Some(1_000),
            ..SeenConfig::default()
        }
    }

    fn seen(configs: Vec<SeenConfig>) -> LastSeen {
        LastSeen {
            at: 1_000,
            configs,
            ..LastSeen::default()
        }
    }

    #[test]
    fn what_needs_the_person_shows_first() {
        let mut c = config("syncing");
        assert_eq!(seen(vec![c.clone()]).glance(), Glance::Syncing);
        c.failed_files.push(SeenFailure {
            path: "~/.x".into(),
            reason: "a directory is in the way".into(),
        });
        assert_eq!(seen(vec![c.clone()]).glance(), Glance::Error);
        c.conflicts.push(SeenConflict {
            path: "~/.zshrc".into(),
            theirs: Some("desktop".into()),
        });
        assert_eq!(seen(vec![c]).glance(), Glance::Conflict);
        assert_eq!(seen(vec![config("idle")]).glance(), Glance::InSync);
        assert_eq!(seen(vec![config("offline")]).glance(), Glance::Offline);
    }

    #[test]
    fn only_new_conflicts_and_new_failures_are_news() {
        let before = seen(vec![config("idle")]);
        let mut c = config("conflict");
        c.conflicts.push(SeenConflict {
            path: "~/.zshrc".into(),
            theirs: Some("desktop".into()),
        });
        let after = seen(vec![c]);
        let news = after.news_since(Some(&before));
        assert_eq!(news.len(), 1);
        assert_eq!(news[0].title, "Conflict in ~/.zshrc");
        assert!(news[0].body.contains("on desktop"), "{}", news[0].body);
        assert!(after.news_since(Some(&after)).is_empty(), "said once");

        let mut e = config("error");
        e.last_error = Some("the remote refused the push".into());
        let failing = seen(vec![e]);
        let news = failing.news_since(Some(&before));
        assert_eq!(news[0].body, "the remote refused the push");
        assert!(
            failing.news_since(Some(&failing)).is_empty(),
            "retries are not news"
        );
    }

    #[test]
    fn the_headline_says_when_the_daemon_was_last_heard_from() {
        let s = seen(vec![config("idle")]);
        assert_eq!(
            headline(Some(&s), true, 1_000 + 125),
            (Glance::InSync, "In sync · last sync 2 min ago".to_owned())
        );
        assert_eq!(
            headline(Some(&s), false, 1_000 + 7_200),
            (
                Glance::Offline,
                "dotsync is not running · last seen 2 h ago".to_owned()
            )
        );
        assert_eq!(headline(None, false, 0).0, Glance::Offline);
    }

    #[test]
    fn file_lists_are_kept_from_before_when_not_read_again() {
        let status = Status {
            paused: false,
            machine: "laptop".into(),
            configs: vec![crate::backend::ConfigStatus {
                id: "c1".into(),
                name: "dotfiles".into(),
                state: "idle".into(),
                last_sync: Some(5),
                last_error: None,
                last_error_kind: None,
                conflicts: 0,
                paused: false,
                failed_files: vec![],
                commit: None,
                pending_changes: 0,
            }],
        };
        let files = vec![(
            "c1".to_owned(),
            vec![FileState {
                path: "~/.zshrc".into(),
                state: "synced".into(),
            }],
        )];
        let first = LastSeen::from_answers(5, "127.0.0.1:1", &status, &[], &files, None);
        assert_eq!(first.configs[0].files.len(), 1);
        let second = LastSeen::from_answers(6, "127.0.0.1:1", &status, &[], &[], Some(&first));
        assert_eq!(second.configs[0].files, first.configs[0].files);
    }
}
