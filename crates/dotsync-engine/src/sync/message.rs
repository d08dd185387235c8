//! Commit messages: a subject naming the files, one line per file, the machine as a trailer.

use crate::FileAction;
use std::fmt::Write as _;

/// A path as it may appear in a commit message: control characters escaped, so that a file
/// name cannot add lines (or a forged trailer) to the message.
pub(crate) fn message_path(p: &str) -> String {
    if p.chars().any(char::is_control) {
        p.escape_default().to_string()
    } else {
        p.to_owned()
    }
}

/// The trailer naming a file merged by key and its keys: `<path>: <key>, <key>`.
pub(crate) const KEY_MERGE_TRAILER: &str = "Dotsync-Merged-By-Key";

pub(super) fn commit_message(
    machine: &str,
    events: &[(String, FileAction, u64, Option<String>)],
    key_merges: &[(String, String)],
) -> String {
    let travelling: Vec<&(String, FileAction, u64, Option<String>)> = events
        .iter()
        .filter(|(_, a, _, _)| {
            matches!(
                a,
                FileAction::Pushed
                    | FileAction::Deleted
                    | FileAction::Merged
                    | FileAction::Resolved
            )
        })
        .collect();
    let names: Vec<String> = travelling
        .iter()
        .take(3)
        .map(|(p, _, _, _)| message_path(p))
        .collect();
    let mut subject = format!(
        "{machine}: {}",
        if names.is_empty() {
            "update".to_owned()
        } else {
            names.join(", ")
        }
    );
    if travelling.len() > 3 {
        let _ = write!(subject, " and {} more", travelling.len() - 3);
    }
    let mut body = String::new();
    for (p, a, _, _) in &travelling {
        let verb = match a {
            FileAction::Deleted => "delete",
            FileAction::Merged => "merge",
            FileAction::Resolved => "resolve",
            _ => "update",
        };
        let _ = writeln!(body, "{verb} {}", message_path(p));
    }
    // Files merged by key travel in the commit without a file event of their own.
    let mut trailers = String::new();
    for (p, keys) in key_merges {
        let _ = writeln!(body, "merge {} by key: {keys}", message_path(p));
        let _ = writeln!(trailers, "{KEY_MERGE_TRAILER}: {}: {keys}", message_path(p));
    }
    if travelling.is_empty() && !key_merges.is_empty() {
        let names: Vec<String> = key_merges
            .iter()
            .take(3)
            .map(|(p, _)| message_path(p))
            .collect();
        subject = format!("{machine}: {}", names.join(", "));
        if key_merges.len() > 3 {
            let _ = write!(subject, " and {} more", key_merges.len() - 3);
        }
    }
    format!("{subject}\n\n{body}\n{trailers}Dotsync-Machine: {machine}\n")
}
