//! The three-way decision for one file, from its base (the version this machine last synced),
//! its local version and its remote version. Pure: the engine gathers the inputs and carries the
//! decision out.

use crate::config::{Direction, OnConflict};

/// What kind of filesystem object an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = FileKind))]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    File,
    Symlink,
}

/// One version of a file: its kind, git blob id and permission bits (0o777 at most).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Version {
    pub kind: Kind,
    pub blob: String,
    pub mode: u32,
}

/// What a sync does with one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Both sides agree; record the agreed version as the new base when it differs.
    InSync,
    /// Only this machine changed it: commit the local version (or its deletion).
    Push,
    /// Only the remote changed it: write the remote version into the home (or delete it).
    Pull,
    /// Both changed it; the two text versions may merge line by line.
    Merge,
    /// Both changed it in ways that cannot merge.
    Conflict(ConflictWhy),
    /// A one-sided change the config's direction does not let travel.
    Hold(&'static str),
}

/// Why a conflict arose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConflictWhy {
    /// Both sides changed the content (and a merge is not possible or failed).
    BothChanged,
    /// One side deleted the file, the other changed it.
    DeleteVsChange,
    /// This machine has its own copy of a file it never synced, and it differs from the remote.
    NoBase,
}

/// Decides what happens to a file. `mergeable` says whether both sides are text files that
/// could go through a line merge (the engine checks content for NUL bytes and size).
pub fn decide(
    base: Option<&Version>,
    local: Option<&Version>,
    remote: Option<&Version>,
    direction: Direction,
    mergeable: bool,
) -> Decision {
    if local == remote {
        return Decision::InSync;
    }
    let local_changed = local != base;
    let remote_changed = remote != base;
    match (local_changed, remote_changed) {
        (false, false) => Decision::InSync,
        (true, false) => match direction {
            Direction::Pull => Decision::Hold("changed here, but this config only pulls"),
            _ => Decision::Push,
        },
        (false, true) => match direction {
            Direction::Push => Decision::Hold("changed on the remote, but this config only pushes"),
            _ => Decision::Pull,
        },
        // A push-only machine is the source of truth: its version goes out, and the remote's
        // stays in history.
        (true, true) if direction == Direction::Push => Decision::Push,
        (true, true) => {
            if base.is_none() {
                Decision::Conflict(ConflictWhy::NoBase)
            } else if local.is_none() || remote.is_none() {
                Decision::Conflict(ConflictWhy::DeleteVsChange)
            } else if mergeable {
                Decision::Merge
            } else {
                Decision::Conflict(ConflictWhy::BothChanged)
            }
        }
    }
}

/// How a conflict is settled under a config's policy: `None` keeps it as a conflict.
///
/// A pull-only machine cannot push, so "the remote wins" could not keep this machine's version
/// in history: there it stays a conflict for the person to settle.
pub fn settle(policy: OnConflict, direction: Direction) -> Option<Side> {
    match (policy, direction) {
        (OnConflict::KeepBoth, _) | (OnConflict::Remote, Direction::Pull) => None,
        (OnConflict::Local, _) => Some(Side::Local),
        (OnConflict::Remote, _) => Some(Side::Remote),
    }
}

/// One side of a conflict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Local,
    Remote,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(clippy::unnecessary_wraps, reason = "`decide` takes optional versions")]
    fn v(blob: &str) -> Option<Version> {
        Some(Version {
            kind: Kind::File,
            blob: blob.into(),
            mode: 0o644,
        })
    }

    #[test]
    fn one_sided_changes_travel_the_right_way() {
        let (a, b) = (v("a"), v("b"));
        assert_eq!(
            decide(a.as_ref(), b.as_ref(), a.as_ref(), Direction::Both, true),
            Decision::Push
        );
        assert_eq!(
            decide(a.as_ref(), a.as_ref(), b.as_ref(), Direction::Both, true),
            Decision::Pull
        );
        assert_eq!(
            decide(a.as_ref(), None, a.as_ref(), Direction::Both, true),
            Decision::Push
        );
        assert_eq!(
            decide(a.as_ref(), a.as_ref(), None, Direction::Both, true),
            Decision::Pull
        );
        assert!(matches!(
            decide(a.as_ref(), b.as_ref(), a.as_ref(), Direction::Pull, true),
            Decision::Hold(_)
        ));
        assert!(matches!(
            decide(a.as_ref(), a.as_ref(), b.as_ref(), Direction::Push, true),
            Decision::Hold(_)
        ));
    }

    #[test]
    fn agreement_is_never_a_conflict() {
        let (a, b) = (v("a"), v("b"));
        assert_eq!(
            decide(a.as_ref(), b.as_ref(), b.as_ref(), Direction::Both, false),
            Decision::InSync
        );
        assert_eq!(
            decide(None, b.as_ref(), b.as_ref(), Direction::Both, false),
            Decision::InSync
        );
        assert_eq!(
            decide(a.as_ref(), None, None, Direction::Both, false),
            Decision::InSync
        );
    }

    #[test]
    fn mode_changes_count_as_changes() {
        let a = v("a");
        let mut a_exec = a.clone();
        if let Some(x) = a_exec.as_mut() {
            x.mode = 0o755;
        }
        assert_eq!(
            decide(
                a.as_ref(),
                a_exec.as_ref(),
                a.as_ref(),
                Direction::Both,
                true
            ),
            Decision::Push
        );
    }

    #[test]
    fn a_push_only_machine_wins_and_a_pull_only_one_never_loses_its_file() {
        let (a, b, c) = (v("a"), v("b"), v("c"));
        assert_eq!(
            decide(a.as_ref(), b.as_ref(), c.as_ref(), Direction::Push, false),
            Decision::Push
        );
        assert_eq!(
            decide(None, b.as_ref(), c.as_ref(), Direction::Push, false),
            Decision::Push
        );
        assert_eq!(settle(OnConflict::Remote, Direction::Pull), None);
        assert_eq!(
            settle(OnConflict::Remote, Direction::Both),
            Some(Side::Remote)
        );
        assert_eq!(
            settle(OnConflict::Local, Direction::Pull),
            Some(Side::Local)
        );
    }

    #[test]
    fn double_changes_merge_or_conflict() {
        let (a, b, c) = (v("a"), v("b"), v("c"));
        assert_eq!(
            decide(a.as_ref(), b.as_ref(), c.as_ref(), Direction::Both, true),
            Decision::Merge
        );
        assert_eq!(
            decide(a.as_ref(), b.as_ref(), c.as_ref(), Direction::Both, false),
            Decision::Conflict(ConflictWhy::BothChanged)
        );
        assert_eq!(
            decide(None, b.as_ref(), c.as_ref(), Direction::Both, true),
            Decision::Conflict(ConflictWhy::NoBase)
        );
        assert_eq!(
            decide(a.as_ref(), None, c.as_ref(), Direction::Both, true),
            Decision::Conflict(ConflictWhy::DeleteVsChange)
        );
    }
}
