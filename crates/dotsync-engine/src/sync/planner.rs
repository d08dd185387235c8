//! Planning one sync: a decision per file from (base, local, remote), carried into tree
//! changes (staged blobs, merges), home changes and records.

use std::collections::{BTreeMap, BTreeSet};

use dotsync_core::SyncConfig;
use dotsync_core::paths::RepoPath;
use dotsync_core::plan::{self, ConflictWhy, Decision, Kind, Side, Version};

use super::remote::RemoteState;
use super::{Emitter, HomeChange};
use crate::git::{Repo, git_mode};
use crate::meta::Meta;
use crate::records::{ConflictRecord, Pulled, PushAttempt, WrittenFrom, encode_version};
use crate::scan::LocalEntry;
use crate::{Engine, FileAction, SyncError, SyncOptions};

/// Files larger than this never go through a text merge.
const MERGE_LIMIT: usize = 1 << 20;

/// The format to merge `path` in by key, if the config asks for it: its `merge_formats`
/// first, then the file's name.
fn structured_format(cfg: &SyncConfig, path: &str) -> Option<dotsync_merge::Format> {
    if !cfg.structured_merge {
        return None;
    }
    match cfg.merge_format_for(path) {
        Some(name) => dotsync_merge::Format::from_name(name),
        None => dotsync_merge::Format::detect(path),
    }
}

/// Key paths for a message: at most 10, control characters escaped.
pub(super) fn key_list(keys: &[String]) -> String {
    let mut shown: Vec<String> = keys
        .iter()
        .take(10)
        .map(|k| super::message::message_path(k))
        .collect();
    if keys.len() > 10 {
        shown.push(format!("and {} more", keys.len() - 10));
    }
    shown.join(", ")
}

/// Everything a plan decided.
pub(super) struct Planned {
    pub tree_changes: Vec<(String, Option<(u32, String)>)>,
    pub meta: Meta,
    /// Local versions replaced under `on_conflict = remote`, committed first so history keeps them.
    pub preserve: Vec<(String, Option<(u32, String)>)>,
    pub home_changes: Vec<HomeChange>,
    /// Bases that hold once the push succeeded.
    pub pushed_bases: Vec<(String, Option<Version>)>,
    /// Bases that hold already (both sides agree).
    pub settled_bases: Vec<(String, Option<Version>)>,
    /// The home's version each merge this sync pushes started from: announced with the push
    /// as this machine's own, so that after a kill before the merge reaches the home, what
    /// the remote did since is taken, not merged with again.
    pub merged_from: Vec<(String, Version)>,
    /// Home versions a pull replaces that no history holds (what a merge pushed by a sync that
    /// died before writing it here started from): kept in this machine's history first.
    pub keep_home: Vec<(String, Version)>,
    /// The remote's version each merge this sync pushes started from (the merge's other side).
    pub merged_with: BTreeMap<String, Version>,
    /// Bases a `pulled` row gave (a sync killed before its record): a new row of the path
    /// carries it on for as long as its write or removal has not happened.
    pub row_bases: BTreeMap<String, Option<Version>>,
    /// Of those, the ones that hold only while the remote's history holds a pushed merge:
    /// a new row does not carry them on.
    pub passing_bases: BTreeSet<String>,
    /// Bases a `pulled` row gave that the content could not vouch for, with the other base
    /// it could not rule out: a new row of the path carries both, so that after another kill
    /// the question is asked again instead of either reading taken for certain.
    pub unsure_bases: BTreeMap<String, (Option<Version>, Option<Version>)>,
    /// For the bases above, the remote's tip the sync whose row gave them planned against.
    pub base_on: BTreeMap<String, String>,
    pub conflicts_set: Vec<ConflictRecord>,
    pub conflicts_cleared: Vec<String>,
    /// File events to report once the push is in.
    pub events: Vec<(String, FileAction, u64, Option<String>)>,
    /// Files merged by key, with the keys: named in the commit message (a trailer `log` reads).
    pub key_merges: Vec<(String, String)>,
}

impl Planned {
    /// Writes the remote's version of `path` into the home after the push. Its bytes are read
    /// as it is written, every pulled blob through one `git cat-file --batch`.
    fn pull(&mut self, path: RepoPath, rv: &Version, action: FileAction, detail: Option<String>) {
        self.home_changes.push(HomeChange::Write {
            path,
            version: rv.clone(),
            content: None,
            action,
            detail,
            base: None,
        });
    }
}

/// This machine's pushes that were not recorded (killed between the push and the record, or
/// rejected), as the plan reads them: per path, the newest of them that may have reached the
/// remote decides.
#[derive(Debug, Default)]
pub(super) struct OwnPushes {
    /// The version (`None`: a deletion) of a push whose commit the remote's history holds:
    /// what the remote had of this machine's last, whatever came after it.
    landed: BTreeMap<String, Option<Version>>,
    /// The version of a push that cannot be placed in the remote's history (announced before
    /// pushes carried their commit, or git could not tell): this machine's own only where the
    /// remote holds exactly it.
    unplaced: BTreeMap<String, Option<Version>>,
    /// The paths of `landed` whose version is the home's file a merge started from: the
    /// remote holds the merge, no history holds that version.
    landed_merge_inputs: BTreeSet<String>,
}

impl OwnPushes {
    /// Reads `attempts` (newest first) against the remote at `url` and its `tip`: pushes to
    /// other remotes say nothing of this one.
    pub(super) fn read(
        repo: &Repo,
        attempts: &[PushAttempt],
        url: &str,
        tip: Option<&str>,
    ) -> OwnPushes {
        let mut own = OwnPushes::default();
        let mut seen = BTreeSet::new();
        for a in attempts {
            let placed = match placement(repo, a, url, tip) {
                // One to another remote, or one that never reached this one, says nothing.
                Placement::Elsewhere | Placement::NeverLanded => continue,
                Placement::Landed => true,
                Placement::Unplaced => false,
            };
            for (path, v) in &a.versions {
                if !seen.insert(path.clone()) {
                    continue;
                }
                if placed {
                    own.landed.insert(path.clone(), v.clone());
                    if a.merge_inputs.contains(path) {
                        own.landed_merge_inputs.insert(path.clone());
                    }
                } else if !a.merge_inputs.contains(path) {
                    // What a merge started from was never on the remote by itself: the
                    // remote holding exactly it is someone else's doing.
                    own.unplaced.insert(path.clone(), v.clone());
                }
            }
        }
        own
    }
}

/// What a new push to `url` keeps of the unrecorded ones before it (`attempts`, newest
/// first), read against the remote's `tip` it builds on: of those in its history, each path's
/// newest version; those not in it never landed (or were taken back) and go. So the record
/// stays as small as the files pushed, however many syncs die or are rejected before one is
/// recorded. Pushes to other remotes stay as they are (the config may go back to one before
/// a sync is recorded), and so does one git could not place.
pub(super) fn landed_attempts(
    repo: &Repo,
    attempts: Vec<PushAttempt>,
    url: &str,
    tip: Option<&str>,
) -> Vec<PushAttempt> {
    let mut seen = BTreeSet::new();
    let mut kept = Vec::new();
    for mut a in attempts {
        match placement(repo, &a, url, tip) {
            Placement::NeverLanded => continue,
            Placement::Landed => {
                a.versions.retain(|path, _| seen.insert(path.clone()));
                a.merge_inputs.retain(|path| a.versions.contains_key(path));
            }
            // Another remote's, or one that cannot be placed: as it is.
            Placement::Elsewhere | Placement::Unplaced => {}
        }
        if !a.versions.is_empty() {
            kept.push(a);
        }
    }
    kept
}

/// Where an unrecorded push stands against the remote at `url` and its `tip`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Placement {
    /// Pushed to another remote.
    Elsewhere,
    /// Its commit is in the remote's history.
    Landed,
    /// Its commit is not (never pushed, rejected, or taken back since; or made in another
    /// remote's repository).
    NeverLanded,
    /// Announced before pushes carried their commit, or git could not tell.
    Unplaced,
}

fn placement(repo: &Repo, a: &PushAttempt, url: &str, tip: Option<&str>) -> Placement {
    if !a.url.is_empty() && a.url != url {
        return Placement::Elsewhere;
    }
    if a.commit.is_empty() {
        return Placement::Unplaced;
    }
    let Some(tip) = tip else {
        return Placement::NeverLanded;
    };
    match history_holds(repo, tip, &a.commit) {
        Some(true) => Placement::Landed,
        Some(false) => Placement::NeverLanded,
        None => Placement::Unplaced,
    }
}

/// Whether the history of `tip` holds `commit` (`None`: git could not tell).
fn history_holds(repo: &Repo, tip: &str, commit: &str) -> Option<bool> {
    if commit == tip {
        return Some(true);
    }
    if !repo.has_object(commit) {
        return Some(false);
    }
    repo.is_ancestor(commit, tip)
        .inspect_err(|e| {
            tracing::warn!(%commit, "could not tell whether the remote's history holds a commit: {e}");
        })
        .ok()
}

/// Whether the remote's history at `tip` holds commits, each asked of git once (the rows of
/// one killed sync all name the same commit).
struct Placed<'a> {
    repo: &'a Repo,
    tip: &'a str,
    /// Per commit: whether this repository has it, and whether the tip's history holds it.
    known: std::cell::RefCell<BTreeMap<String, (bool, Option<bool>)>>,
}

impl<'a> Placed<'a> {
    fn new(repo: &'a Repo, tip: &'a str) -> Self {
        Placed {
            repo,
            tip,
            known: std::cell::RefCell::default(),
        }
    }

    fn place(&self, commit: &str) -> (bool, Option<bool>) {
        if let Some(known) = self.known.borrow().get(commit) {
            return *known;
        }
        let here = commit == self.tip || self.repo.has_object(commit);
        let holds = if here {
            history_holds(self.repo, self.tip, commit)
        } else {
            Some(false)
        };
        self.known
            .borrow_mut()
            .insert(commit.to_owned(), (here, holds));
        (here, holds)
    }

    fn holds(&self, commit: &str) -> Option<bool> {
        self.place(commit).1
    }

    /// A commit this repository has that the tip's history does not hold (moved back past).
    fn lost(&self, commit: &str) -> bool {
        self.place(commit) == (true, Some(false))
    }

    /// Whether one of the pushes of a file made after a row (or entry) was written, by their
    /// commits, reached the remote (newer news).
    fn pushed_over(&self, commits: &[String]) -> bool {
        commits.iter().any(|c| self.holds(c) != Some(false))
    }
}

impl Engine {
    /// A commit of this remote that a sync killed before its record planned against and
    /// wrote into the home from (`written_from`: every write since the last record, however
    /// many syncs were killed), which the remote's history no longer holds, while the home
    /// still holds what it wrote there (or the person's edit of it) and the remote does not:
    /// the remote was moved back past what this home holds, even when it is back exactly
    /// where the last record says. (A write that did not happen, or whose version the remote
    /// holds again, or a file the remote holds as the home does, says nothing then.)
    #[allow(clippy::too_many_arguments)]
    pub(super) fn lost_row_commit(
        &self,
        cfg: &SyncConfig,
        repo: &Repo,
        written_from: &[WrittenFrom],
        remote: &RemoteState,
        url: &str,
        local: &BTreeMap<RepoPath, LocalEntry>,
        excluded: &BTreeSet<String>,
    ) -> Option<String> {
        let tip = remote.tip.as_deref()?;
        let placed = Placed::new(repo, tip);
        written_from.iter().find_map(|w| {
            let path = RepoPath::parse(&w.path).ok()?;
            let here = local.get(&path).map(|e| &e.version);
            let wrote = w.version.as_ref();
            let before = w.before.as_ref();
            let lost = w.url == url
                && before != wrote
                && remote.files.get(&path) != wrote
                && remote.files.get(&path) != here
                && here != before
                && !below_any(excluded, path.as_str())
                && placed.lost(&w.commit)
                && !placed.pushed_over(&w.pushed_over)
                && (here == wrote
                    || match (before, wrote) {
                        (Some(before), Some(after)) => {
                            self.written(cfg, repo, &path, Some(before), after, here) != Written::No
                        }
                        _ => true,
                    });
            lost.then(|| w.commit.clone())
        })
    }
}

/// Whether `path` is one of `paths` or below one of them.
pub(super) fn below_any(paths: &BTreeSet<String>, path: &str) -> bool {
    paths.iter().any(|x| {
        path == x.as_str()
            || path
                .strip_prefix(x.as_str())
                .is_some_and(|r| r.starts_with('/'))
    })
}

/// What a `pulled` row says of a file's base: while the home holds `home` (`None`: the file
/// is absent), the base is `base`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RowBase {
    home: Option<Version>,
    base: Option<Version>,
    /// Whether the base holds whatever the remote does later: not a pushed merge's, which
    /// holds only while the remote's history holds the merge. A new row of the file does
    /// not carry such a base on as its own (it cannot carry the condition).
    lasting: bool,
    /// When a sync killed before could not tell `base` from another base (the content could
    /// not say whether a write happened), that other one: the question is asked again.
    #[allow(
        clippy::option_option,
        reason = "no other base differs from another base that is no file"
    )]
    unsure: Option<Option<Version>>,
    /// The remote's tip the sync that gave this base planned against: a row that carries the
    /// base on carries the condition too.
    on: Option<String>,
}

/// What the `pulled` row of a file says: its (home, base) pairs, first match first, and for a
/// write, what the home held before it and what it wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct RowSays {
    pairs: Vec<RowBase>,
    write: Option<(Option<Version>, Version)>,
    /// What the home held when the person replaced the file with `dotsync restore`: the row
    /// reads that, whatever the home holds now (the person's edit of it).
    #[allow(
        clippy::option_option,
        reason = "no restore differs from a restore over no file"
    )]
    restored_over: Option<Option<Version>>,
    /// A row of a file the sync settled without a write (a pull machine's held edit, or a
    /// base brought forward): what the home holds since descends from what it held then.
    settled: bool,
}

impl RowSays {
    fn base_while(&self, home: Option<&Version>) -> Option<&RowBase> {
        self.pairs.iter().find(|rb| rb.home.as_ref() == home)
    }
}

/// What the `pulled` rows (what a sync killed before its record was leaving in the home) say
/// of each file's base against the remote at `tip`. A row's version is its own base (for a
/// pull machine's merge or a file it keeps, the remote's version), and while the home still
/// holds what the row's change was planned from, the base it was planned with. A merge this
/// machine pushed and wrote is the remote's while the remote's history holds the commit that
/// carried it (what the home held before it is then the pushed merge input's business). Once
/// the remote lost it (moved back past it, not past the recorded commit), the merge is this
/// machine's edit on top of the remote's version it merged with: that is the base while the
/// remote still holds the tip the merge was made on. What git cannot place counts as the
/// remote's. A write also names what the home held before it: once the person edited the
/// file, the planner tells from the content whether the write happened. A row whose sync
/// planned against a commit the remote's history no longer holds says nothing: what it took
/// for the remote's is gone from there (the remote was moved back past it), and only the
/// records of a finished sync still speak.
pub(super) fn pulled_from_remote(
    repo: &Repo,
    rows: &BTreeMap<String, Pulled>,
    tip: &str,
) -> BTreeMap<String, RowSays> {
    let mut here = BTreeMap::new();
    let placed = Placed::new(repo, tip);
    for (path, row) in rows {
        // A push of the file made after the row that reached the remote is newer news.
        if placed.pushed_over(&row.pushed_over) {
            continue;
        }
        let holds = |on: Option<&String>| on.is_none_or(|c| placed.holds(c) != Some(false));
        let written = |base: Option<&Version>| RowBase {
            home: row.version.clone(),
            base: base.or(row.version.as_ref()).cloned(),
            lasting: true,
            unsure: None,
            on: row.planned_on.clone(),
        };
        let mut says = RowSays {
            write: row
                .version
                .clone()
                .zip(row.held.as_ref())
                .map(|(v, h)| (h.home.clone(), v)),
            restored_over: row.restored_over.clone(),
            settled: row.settled,
            ..RowSays::default()
        };
        match &row.merge_commit {
            // The remote lost the commit this row's sync planned against: what it took for
            // the remote's is not there any more.
            _ if !holds(row.planned_on.as_ref()) => {}
            None => says.pairs.push(written(row.base.as_ref())),
            Some(commit) if placed.holds(commit) != Some(false) => {
                says.pairs.push(RowBase {
                    lasting: false,
                    ..written(None)
                });
                here.insert(path.clone(), says);
                continue;
            }
            Some(_) => {
                if let (Some(made_on), Some(other_side)) = (&row.merged_on, &row.base)
                    && placed.holds(made_on) != Some(false)
                {
                    says.pairs.push(written(Some(other_side)));
                }
            }
        }
        // The base an older row gave speaks while the commit that row's sync planned against
        // is in the remote's history, even when this row's is not.
        says.pairs.extend(row.held.as_ref().and_then(|h| {
            let on = h.on.as_ref().or(row.planned_on.as_ref());
            h.base.as_ref().filter(|_| holds(on)).map(|base| RowBase {
                home: h.home.clone(),
                base: base.clone(),
                lasting: true,
                unsure: h.alt.clone(),
                on: on.cloned(),
            })
        }));
        if !says.pairs.is_empty() {
            here.insert(path.clone(), says);
        }
    }
    here
}

/// How a file's `pulled` row reads the home holding what it holds now.
pub(super) enum Reading<'s> {
    /// The base it gives.
    Sure(&'s RowBase),
    /// The person edited the file a sync killed before its record was to write, and the
    /// content cannot tell whether the write happened: the base if it did, and if it did not
    /// (`None`: no row gave one).
    Unsure {
        written: &'s RowBase,
        not: Option<&'s RowBase>,
    },
}

impl Engine {
    /// What a file's `pulled` row says its base is while the home holds `now`: the base a
    /// pair gives for exactly `now`; once the person edited the file since a write (the home
    /// holds neither what it held then nor what was written), the base of whichever happened,
    /// as the content tells; since a settle (no write), the base it settled (`None`: the row
    /// says nothing of `now`).
    pub(super) fn read_row<'s>(
        &self,
        cfg: &SyncConfig,
        repo: &Repo,
        path: &RepoPath,
        says: &'s RowSays,
        now: Option<&Version>,
    ) -> Option<Reading<'s>> {
        if let Some(rb) = says.base_while(now) {
            return Some(Reading::Sure(rb));
        }
        let Some((before, after)) = says.write.as_ref() else {
            // Nothing was to be written: the person edited the file as the sync left it, and
            // an edit keeps the base it settled (a recorded sync's would too).
            return says
                .pairs
                .first()
                .filter(|_| says.settled)
                .map(Reading::Sure);
        };
        let if_written = says.base_while(Some(after))?;
        let if_not = says.base_while(before.as_ref());
        if before.as_ref() == now {
            // Not written (no row gave the base it was planned with).
            return None;
        }
        match self.written(cfg, repo, path, before.as_ref(), after, now) {
            Written::Yes => Some(Reading::Sure(if_written)),
            Written::No => if_not.map(Reading::Sure),
            Written::Unknown => Some(Reading::Unsure {
                written: if_written,
                not: if_not,
            }),
        }
    }
}

/// Whether a write is in the home.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Written {
    Yes,
    No,
    /// The content cannot tell (binary files, an edit next to the written change).
    Unknown,
}

impl Engine {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn plan(
        &self,
        cfg: &SyncConfig,
        opts: &SyncOptions,
        repo: &Repo,
        bases: &BTreeMap<String, Version>,
        local: &BTreeMap<RepoPath, LocalEntry>,
        unreadable: &BTreeSet<String>,
        remote: &RemoteState,
        open_conflicts: &BTreeMap<String, ConflictRecord>,
        pushed: &OwnPushes,
        pulled: &BTreeMap<String, RowSays>,
        em: &mut Emitter<'_>,
    ) -> Result<Planned, SyncError> {
        let mut p = Planned {
            tree_changes: Vec::new(),
            meta: remote.meta.clone(),
            preserve: Vec::new(),
            home_changes: Vec::new(),
            pushed_bases: Vec::new(),
            settled_bases: Vec::new(),
            merged_from: Vec::new(),
            keep_home: Vec::new(),
            merged_with: BTreeMap::new(),
            row_bases: BTreeMap::new(),
            unsure_bases: BTreeMap::new(),
            base_on: BTreeMap::new(),
            passing_bases: BTreeSet::new(),
            conflicts_set: Vec::new(),
            conflicts_cleared: Vec::new(),
            events: Vec::new(),
            key_merges: Vec::new(),
        };
        let rows = planned_paths(local, &remote.files, bases, open_conflicts, unreadable);
        let mut deletions = 0usize;
        let total = rows.len() as u64;
        let policy = plan::settle(cfg.on_conflict, cfg.direction);

        for (n, (path, local_entry, r, base)) in rows.into_iter().enumerate() {
            if total > 1000 && n % 1000 == 0 {
                em.progress(crate::Phase::Plan, n as u64, Some(total));
            }
            let key = path.to_string();
            let l = local_entry.map(|e| &e.version);
            // What a sync killed before its record left. What it left in the home (written,
            // removed, or settled there without a write) or, before that happened, what the
            // home held then: while the file holds exactly it, the base its row gives
            // (`pulled_from_remote`). A `pulled` row is newer than any push of its file (one
            // a landed push marked is silent). A version this machine pushed is its own: the base when the
            // remote's history holds its commit, whatever came after it (an older base would
            // show both sides changing it, and push it over another machine putting the file
            // back); for a merge, the file it merged from, which its home may still hold. One
            // that cannot be placed is the base where the remote holds exactly it; a deletion,
            // where the remote has no file (a file here again is then new).
            let mut merge_input = false;
            let fallback = match (l, pushed.landed.get(&key), pushed.unplaced.get(&key), r) {
                (_, Some(v), _, _) => {
                    merge_input = pushed.landed_merge_inputs.contains(&key);
                    v.as_ref()
                }
                (_, _, Some(Some(pv)), Some(rv)) if pv == rv => Some(rv),
                (_, _, Some(None), None) => None,
                _ => base,
            };
            // The person edited a file since a sync killed before its record was to write it
            // (the home holds neither what it held then nor what was written): whether the
            // write happened decides the base. When the content cannot tell, and the two
            // readings would not settle the file alike, it is a conflict: both kept.
            let says = pulled.get(&key);
            let mut uncertain = None;
            let row_base = says.and_then(|says| {
                // After a `dotsync restore`, as the home was then: the rest is the person's.
                let home = says.restored_over.as_ref().map_or(l, Option::as_ref);
                match self.read_row(cfg, repo, &path, says, home)? {
                    Reading::Sure(rb) => Some(rb),
                    Reading::Unsure { written, not } => {
                        uncertain = Some(not.map_or(fallback, |rb| rb.base.as_ref()));
                        Some(written)
                    }
                }
            });
            // A sync killed before could not tell either: the same question again.
            if uncertain.is_none()
                && let Some(other) = row_base.and_then(|rb| rb.unsure.as_ref())
            {
                uncertain = Some(other.as_ref());
            }
            if let Some(rb) = row_base {
                merge_input = false;
                // A base the content could not vouch for is not carried on as a certain one:
                // the next sync asks again (a row this sync writes carries both).
                if let Some(on) = &rb.on {
                    p.base_on.insert(key.clone(), on.clone());
                }
                match uncertain {
                    None => {
                        p.row_bases.insert(key.clone(), rb.base.clone());
                        if !rb.lasting {
                            p.passing_bases.insert(key.clone());
                        }
                    }
                    Some(other) => {
                        p.unsure_bases
                            .insert(key.clone(), (rb.base.clone(), other.cloned()));
                    }
                }
            }
            let b = row_base.map_or(fallback, |rb| rb.base.as_ref());
            // The recorded base is behind: whatever is decided, it must be brought forward.
            let stale_base = b != base;
            let size = local_entry.map_or(0, |e| e.size);

            if let Some(c) = open_conflicts.get(&key) {
                if l == r {
                    p.conflicts_cleared.push(key.clone());
                    p.settled_bases.push((key.clone(), l.cloned()));
                    p.events.push((
                        key,
                        FileAction::Resolved,
                        0,
                        Some("both sides now agree".into()),
                    ));
                } else {
                    let mut c = c.clone();
                    c.local = l.map(encode_version);
                    c.remote = r.map(encode_version);
                    c.remote_commit.clone_from(&remote.tip);
                    if let Some(l) = l
                        && l.kind == Kind::File
                    {
                        // Keep this side's bytes in the object store too, as they were now.
                        if let Ok(bytes) =
                            crate::scan::read_synced(&path.under(&self.home), Kind::File)
                        {
                            repo.write_blob(&bytes)?;
                        }
                    }
                    p.conflicts_set.push(c);
                    p.events.push((
                        key,
                        FileAction::Conflict,
                        size,
                        Some("in conflict: not synced until resolved (`dotsync conflicts PATH`, then `dotsync resolve`)".into()),
                    ));
                }
                continue;
            }

            let mut decision = plan::decide(b, l, r, cfg.direction, true);
            let mut unsure = false;
            if let Some(other) = uncertain
                && (plan::decide(other, l, r, cfg.direction, true) != decision
                    || (decision == Decision::Merge && other != b))
            {
                unsure = true;
                decision = Decision::Conflict(if l.is_none() || r.is_none() {
                    ConflictWhy::DeleteVsChange
                } else {
                    ConflictWhy::BothChanged
                });
            }
            let mut merged: Option<Vec<u8>> = None;
            // Set when the merge went key by key: the keys merged, or those both changed.
            let mut merged_keys: Option<Vec<String>> = None;
            let mut conflict_keys: Option<Vec<String>> = None;
            if decision == Decision::Merge {
                // The three versions must be text files small enough to merge.
                let (Some(bv), Some(lv), Some(rv)) = (b, l, r) else {
                    unreachable_merge()
                };
                if bv.kind == Kind::File && lv.kind == Kind::File && rv.kind == Kind::File {
                    let ours = crate::scan::read_synced(&path.under(&self.home), Kind::File);
                    if !ours
                        .as_ref()
                        .is_ok_and(|o| crate::git::blob_id(o) == lv.blob)
                    {
                        // Written to since the scan (an append while the sync ran): not a
                        // conflict, just not this sync's business. The next sync merges it.
                        em.changed_during_sync(&key);
                        continue;
                    }
                    let blobs = repo.read_blobs(&[bv.blob.as_str(), rv.blob.as_str()]);
                    if let (Ok(blobs), Ok(ours)) = (blobs, ours)
                        && let [base_bytes, theirs] = &blobs[..]
                        && is_text(base_bytes)
                        && is_text(&ours)
                        && is_text(theirs)
                    {
                        merged = repo.merge_text(&ours, base_bytes, theirs)?;
                        if merged.is_none()
                            && let Some(format) = structured_format(cfg, &key)
                        {
                            match dotsync_merge::merge(format, base_bytes, &ours, theirs) {
                                Ok(m) => {
                                    merged = Some(m.bytes);
                                    merged_keys = Some(m.keys);
                                }
                                Err(dotsync_merge::Refusal::Conflict { keys }) => {
                                    conflict_keys = Some(keys);
                                }
                                Err(why) => {
                                    tracing::debug!(path = %key, %why, "no key-level merge");
                                }
                            }
                        }
                        if merged.is_some() {
                            // This machine's version as it was, beside the merge that replaces
                            // it: every version a sync saw stays in the object store.
                            repo.write_blob(&ours)?;
                        }
                    }
                }
                if merged.is_none() {
                    decision = Decision::Conflict(ConflictWhy::BothChanged);
                }
            }

            match decision {
                Decision::InSync => {
                    if b != l || stale_base {
                        p.settled_bases.push((key, l.cloned()));
                    }
                }
                Decision::Hold(why) => {
                    // The file stays as it is, measured against the base a row gave: that is
                    // recorded, or the row's word is gone with the record and the older base
                    // reads the remote's part of the file as this machine's for good.
                    if stale_base && row_base.is_some() && uncertain.is_none() {
                        p.settled_bases.push((key.clone(), b.cloned()));
                    }
                    p.events
                        .push((key, FileAction::Skipped, 0, Some(why.into())));
                }
                Decision::Push => {
                    if let Some(lv) = l {
                        if !self.stage_or_hold(cfg, repo, remote, &path, lv, &mut p, em)? {
                            continue;
                        }
                        p.pushed_bases.push((key.clone(), Some(lv.clone())));
                        p.events.push((key, FileAction::Pushed, size, None));
                    } else {
                        deletions += 1;
                        p.tree_changes.push((key.clone(), None));
                        p.meta.modes.remove(&key);
                        p.pushed_bases.push((key.clone(), None));
                        p.events.push((
                            key,
                            FileAction::Deleted,
                            0,
                            Some("deleted here; removed from the remote".into()),
                        ));
                    }
                }
                Decision::Pull => {
                    // The home still holds what a merge started from: the merge is the
                    // remote's (or what came after it), that version is in no history yet.
                    if merge_input && let Some(lv) = l {
                        p.keep_home.push((key.clone(), lv.clone()));
                    }
                    if let Some(rv) = r {
                        p.pull(path, rv, FileAction::Pulled, None);
                    } else {
                        deletions += 1;
                        p.home_changes.push(HomeChange::Remove {
                            path,
                            detail: Some("deleted on another machine".into()),
                        });
                    }
                }
                Decision::Merge => {
                    let (Some(bv), Some(lv), Some(rv), Some(m)) = (b, l, r, merged) else {
                        unreachable_merge()
                    };
                    // Each side's mode change wins over an unchanged mode.
                    let mode = if lv.mode == bv.mode { rv.mode } else { lv.mode };
                    let blob = repo.write_blob(&m)?;
                    let v = Version {
                        kind: Kind::File,
                        blob: blob.clone(),
                        mode,
                    };
                    let pull_only = cfg.direction == dotsync_core::Direction::Pull;
                    // An encrypted file's key names stay out of the commit message too.
                    if let (Some(keys), false, false) =
                        (&merged_keys, pull_only, cfg.encrypts(&key))
                    {
                        p.key_merges.push((key.clone(), key_list(keys)));
                    }
                    if !pull_only {
                        let Some(stored) =
                            self.to_repo(cfg, repo, remote, &key, Kind::File, &m, blob)?
                        else {
                            Self::needs_key(key, &mut p, em);
                            continue;
                        };
                        p.tree_changes
                            .push((key.clone(), Some((git_mode(Kind::File, mode), stored))));
                        p.meta.set_file_mode(&key, mode);
                        p.merged_from.push((key.clone(), lv.clone()));
                        p.merged_with.insert(key.clone(), rv.clone());
                    }
                    p.home_changes.push(HomeChange::Write {
                        path,
                        version: v,
                        content: Some(m),
                        action: FileAction::Merged,
                        detail: Some(match (&merged_keys, pull_only) {
                            (Some(keys), false) => format!("merged by key: {}", key_list(keys)),
                            (Some(keys), true) => format!(
                                "the remote's edits merged into this machine's file by key: {}",
                                key_list(keys)
                            ),
                            (None, true) => {
                                "the remote's edits merged into this machine's file line by line"
                                    .into()
                            }
                            (None, false) => "edits from both machines merged line by line".into(),
                        }),
                        base: pull_only.then(|| rv.clone()),
                    });
                }
                Decision::Conflict(why) => {
                    let reason = match why {
                        ConflictWhy::BothChanged => "both_changed",
                        ConflictWhy::DeleteVsChange => "delete_vs_change",
                        ConflictWhy::NoBase => "no_base",
                    };
                    match policy {
                        None => {
                            if let Some(lv) = l
                                && lv.kind == Kind::File
                                && let Ok(bytes) =
                                    crate::scan::read_synced(&path.under(&self.home), Kind::File)
                            {
                                repo.write_blob(&bytes)?;
                            }
                            p.conflicts_set.push(ConflictRecord {
                                config_id: cfg.id.clone(),
                                path: key.clone(),
                                reason: reason.into(),
                                base: b.map(encode_version),
                                local: l.map(encode_version),
                                remote: r.map(encode_version),
                                remote_commit: remote.tip.clone(),
                                detected_at: dotsync_state::now_unix(),
                            });
                            let detail = match why {
                                ConflictWhy::NoBase => {
                                    "this machine has its own copy, different from the remote's; both kept"
                                }
                                ConflictWhy::DeleteVsChange => {
                                    "deleted on one side, changed on the other; both kept"
                                }
                                ConflictWhy::BothChanged => {
                                    "both machines changed the same lines; both kept"
                                }
                            };
                            let detail = match &conflict_keys {
                                _ if unsure => "changed here after a sync stopped before it \
                                    finished, and changed on the remote; both kept"
                                    .to_owned(),
                                Some(keys) => {
                                    format!("both machines changed {}; both kept", key_list(keys))
                                }
                                None => detail.to_owned(),
                            };
                            p.events
                                .push((key, FileAction::Conflict, size, Some(detail)));
                        }
                        Some(Side::Local) if cfg.direction == dotsync_core::Direction::Pull => {
                            // This machine's file stays; taking the remote's version as base
                            // keeps it a held local change instead of a conflict.
                            p.settled_bases.push((key.clone(), r.cloned()));
                            p.events.push((key, FileAction::Resolved, size, Some("kept this machine's version (on_conflict = local); this config only pulls, so it stays here".into())));
                        }
                        Some(Side::Local) => {
                            if let Some(lv) = l {
                                if !self.stage_or_hold(cfg, repo, remote, &path, lv, &mut p, em)? {
                                    continue;
                                }
                            } else {
                                p.tree_changes.push((key.clone(), None));
                                p.meta.modes.remove(&key);
                            }
                            p.pushed_bases.push((key.clone(), l.cloned()));
                            p.events.push((key, FileAction::Resolved, size, Some("kept this machine's version (on_conflict = local); the other stays in history".into())));
                        }
                        Some(_) => {
                            // The remote wins; this machine's version is committed first so
                            // that history keeps it.
                            if let Some(lv) = l {
                                let bytes =
                                    crate::scan::read_synced(&path.under(&self.home), lv.kind)
                                        .map_err(|source| SyncError::Io {
                                            path: path.under(&self.home),
                                            source,
                                        })?;
                                let oid = repo.write_blob(&bytes)?;
                                let Some(stored) =
                                    self.to_repo(cfg, repo, remote, &key, lv.kind, &bytes, oid)?
                                else {
                                    Self::needs_key(key, &mut p, em);
                                    continue;
                                };
                                p.preserve.push((
                                    key.clone(),
                                    Some((git_mode(lv.kind, lv.mode), stored)),
                                ));
                            }
                            match r {
                                Some(rv) => p.pull(
                                    path,
                                    rv,
                                    FileAction::Resolved,
                                    Some("took the remote's version (on_conflict = remote); this machine's stays in history".into()),
                                ),
                                None => p.home_changes.push(HomeChange::Remove {
                                    path,
                                    detail: Some("deleted on another machine (on_conflict = remote); this machine's version stays in history".into()),
                                }),
                            }
                        }
                    }
                }
            }
        }

        drop_file_dir_clashes(remote, &mut p, em);
        let tracked = bases.len().max(local.len());
        if deletions >= 2 && deletions * 2 > tracked && !opts.allow_mass_delete {
            return Err(SyncError::MassDelete {
                config: cfg.name.clone(),
                count: deletions,
                total: tracked,
            });
        }
        Ok(p)
    }

    /// Whether a write a sync killed before its record announced is in the home, which now
    /// holds `now`: neither what it held before (`before`) nor what was written (`after`),
    /// the person edited the file since. What the write changed answers: a mode it changed,
    /// by the mode the file has now (the old one, the new one, or neither: cannot tell); the
    /// content of a text file, by merging the written change (from `before` to `after`) into
    /// the home: that gives back the home when the home holds it already, and a clean merge
    /// that changes the home shows the write never happened (a person who took the written
    /// change back by hand reads as the latter). Both must agree. A file absent before and
    /// there now cannot tell: the person may have made their own.
    fn written(
        &self,
        cfg: &SyncConfig,
        repo: &Repo,
        path: &RepoPath,
        before: Option<&Version>,
        after: &Version,
        now: Option<&Version>,
    ) -> Written {
        let (Some(before), Some(now)) = (before, now) else {
            return Written::Unknown;
        };
        let by_mode = if before.mode == after.mode {
            None
        } else if now.mode == after.mode {
            Some(Written::Yes)
        } else if now.mode == before.mode {
            Some(Written::No)
        } else {
            Some(Written::Unknown)
        };
        let by_content = ((before.kind, &before.blob) != (after.kind, &after.blob))
            .then(|| self.text_written(cfg, repo, path, before, after, now));
        match (by_mode, by_content) {
            (Some(m), Some(c)) if m == c => m,
            (Some(m), None) => m,
            (None, Some(c)) => c,
            _ => Written::Unknown,
        }
    }

    /// The content half of [`Self::written`]: text files only, line by line, then key by key
    /// for a settings file the config merges so (keys sit on adjacent lines).
    fn text_written(
        &self,
        cfg: &SyncConfig,
        repo: &Repo,
        path: &RepoPath,
        before: &Version,
        after: &Version,
        now: &Version,
    ) -> Written {
        if [before, after, now].iter().any(|v| v.kind != Kind::File) {
            return Written::Unknown;
        }
        // The home's file, or, when `now` is what the home held before a `dotsync restore`,
        // that version from history (the restore put it there first).
        let ours = match crate::scan::read_synced(&path.under(&self.home), Kind::File) {
            Ok(ours) if crate::git::blob_id(&ours) == now.blob => ours,
            _ => match repo.read_blobs(&[now.blob.as_str()]) {
                Ok(mut b) if b.len() == 1 => b.remove(0),
                _ => return Written::Unknown,
            },
        };
        let Ok(blobs) = repo.read_blobs(&[before.blob.as_str(), after.blob.as_str()]) else {
            return Written::Unknown;
        };
        let [was, wrote] = &blobs[..] else {
            return Written::Unknown;
        };
        if !(is_text(was) && is_text(wrote) && is_text(&ours)) {
            return Written::Unknown;
        }
        let merged = match repo.merge_text(&ours, was, wrote) {
            Ok(Some(merged)) => merged,
            Ok(None) => match structured_format(cfg, &path.to_string())
                .map(|f| dotsync_merge::merge(f, was, &ours, wrote))
            {
                Some(Ok(m)) => m.bytes,
                _ if holds_every_line_change(was, wrote, &ours) => return Written::Yes,
                _ => return Written::Unknown,
            },
            Err(_) => return Written::Unknown,
        };
        if merged == ours {
            Written::Yes
        } else {
            Written::No
        }
    }
}

/// Whether `now` carries every line change from `was` to `wrote`, counted line by line: each
/// line `wrote` has more (or fewer) times than `was`, `now` has at least as many more (or
/// fewer), and the write added a line `was` did not have at all. What the line merge calls a
/// conflict because the person edited right beside the written change (an append below a
/// pulled append) passes; a home that never got the write does not, unless its person typed
/// the very lines it added. A write that only removes lines, or only adds lines the file
/// had already (a `fi`, a blank line), cannot be told from the person's own edit.
fn holds_every_line_change(was: &[u8], wrote: &[u8], now: &[u8]) -> bool {
    fn counts(b: &[u8]) -> BTreeMap<&[u8], i64> {
        let mut c = BTreeMap::new();
        for line in b.split_inclusive(|&x| x == b'\n') {
            *c.entry(line.strip_suffix(b"\n").unwrap_or(line))
                .or_insert(0) += 1;
        }
        c
    }
    let (was, wrote, now) = (counts(was), counts(wrote), counts(now));
    let count = |c: &BTreeMap<&[u8], i64>, line: &[u8]| c.get(line).copied().unwrap_or(0);
    let mut new_line = false;
    for line in was.keys().chain(wrote.keys()) {
        let by_write = count(&wrote, line) - count(&was, line);
        let by_now = count(&now, line) - count(&was, line);
        new_line |= by_write > 0 && count(&was, line) == 0;
        let holds = match by_write.signum() {
            1 => by_now >= by_write,
            -1 => by_now <= by_write,
            _ => true,
        };
        if !holds {
            return false;
        }
    }
    new_line
}

/// A path cannot be a file in one place and a directory in another of the same tree (a local
/// `~/.config/nvim` symlink while the remote has files under `.config/nvim/`). Such changes are
/// dropped from the commit and reported; the rest of the sync goes on, and nothing is lost.
pub(super) fn drop_file_dir_clashes(remote: &RemoteState, p: &mut Planned, em: &mut Emitter<'_>) {
    let mut files: BTreeSet<String> = remote
        .files
        .keys()
        .map(std::string::ToString::to_string)
        .collect();
    // What the config does not cover is in the tree too, and must not be replaced.
    files.extend(remote.others.iter().cloned());
    let mut ours: BTreeSet<String> = BTreeSet::new();
    for (path, entry) in &p.tree_changes {
        if entry.is_some() {
            files.insert(path.clone());
            ours.insert(path.clone());
        } else {
            files.remove(path);
        }
    }
    let mut bad: BTreeSet<String> = BTreeSet::new();
    for f in &files {
        let mut end = 0;
        while let Some(i) = f[end..].find('/') {
            let ancestor = &f[..end + i];
            if files.contains(ancestor) {
                // Drop whichever side is ours: the new file, or the new children.
                if ours.contains(ancestor) {
                    bad.insert(ancestor.to_owned());
                }
                if ours.contains(f) {
                    bad.insert(f.clone());
                }
            }
            end += i + 1;
        }
    }
    if bad.is_empty() {
        return;
    }
    p.tree_changes.retain(|(path, _)| !bad.contains(path));
    p.pushed_bases.retain(|(path, _)| !bad.contains(path));
    p.merged_from.retain(|(path, _)| !bad.contains(path));
    // Their modes stay as the remote has them too: a mode pushed for a file that is not in
    // the tree would be undone by the next machine, and the two would push it back and forth.
    for path in &bad {
        match remote.meta.modes.get(path) {
            Some(mode) => p.meta.modes.insert(path.clone(), mode.clone()),
            None => p.meta.modes.remove(path),
        };
    }
    p.events.retain(|(path, _, _, _)| !bad.contains(path));
    for path in bad {
        em.file(
            &path,
            FileAction::Failed,
            0,
            Some("a file here is a directory on the remote, or the other way round; rename one of them".into()),
        );
    }
}

#[allow(
    clippy::panic,
    reason = "an invariant of `decide`, which no input reaches"
)]
fn unreachable_merge() -> ! {
    // `decide` returns Merge only when base, local and remote all exist.
    panic!("merge planned without all three versions")
}

/// Text: no NUL byte and small enough to merge.
fn is_text(b: &[u8]) -> bool {
    b.len() <= MERGE_LIMIT && !b.contains(&0)
}

/// One path the plan looks at: its local entry, remote version and recorded base.
type Row<'a> = (
    RepoPath,
    Option<&'a LocalEntry>,
    Option<&'a Version>,
    Option<&'a Version>,
);

/// Every path the plan looks at, in order, with what each side has of it: one merge of the
/// three sorted maps (a `RepoPath` orders as its text) instead of a lookup in each per path.
/// A recorded base whose path is not valid is left out, as are paths at or below an
/// unreadable one; a conflict whose two sides are both gone is still listed, to be cleared.
fn planned_paths<'a>(
    local: &'a BTreeMap<RepoPath, LocalEntry>,
    remote: &'a BTreeMap<RepoPath, Version>,
    bases: &'a BTreeMap<String, Version>,
    open_conflicts: &BTreeMap<String, ConflictRecord>,
    unreadable: &BTreeSet<String>,
) -> Vec<Row<'a>> {
    let mut rows: Vec<Row<'a>> = Vec::with_capacity(local.len().max(remote.len()).max(bases.len()));
    let mut li = local.iter().peekable();
    let mut ri = remote.iter().peekable();
    let mut bi = bases.iter().peekable();
    while let Some(next) = [
        li.peek().map(|&(p, _)| p.as_str()),
        ri.peek().map(|&(p, _)| p.as_str()),
        bi.peek().map(|&(k, _)| k.as_str()),
    ]
    .into_iter()
    .flatten()
    .min()
    {
        let l = li.next_if(|&(p, _)| p.as_str() == next);
        let r = ri.next_if(|&(p, _)| p.as_str() == next);
        let b = bi.next_if(|&(k, _)| k.as_str() == next);
        let path = match (l, r) {
            (Some((p, _)), _) | (None, Some((p, _))) => p.clone(),
            (None, None) => match RepoPath::parse(next) {
                Ok(p) => p,
                Err(_) => continue,
            },
        };
        rows.push((
            path,
            l.map(|(_, e)| e),
            r.map(|(_, v)| v),
            b.map(|(_, v)| v),
        ));
    }
    let gone_conflicts: Vec<RepoPath> = open_conflicts
        .keys()
        .filter(|k| {
            rows.binary_search_by(|row| row.0.as_str().cmp(k.as_str()))
                .is_err()
        })
        .filter_map(|k| RepoPath::parse(k).ok())
        .collect();
    if !gone_conflicts.is_empty() {
        rows.extend(gone_conflicts.into_iter().map(|p| (p, None, None, None)));
        rows.sort_by(|a, b| a.0.cmp(&b.0));
    }
    if !unreadable.is_empty() {
        rows.retain(|(path, ..)| {
            let p = path.as_str();
            !unreadable.contains(p)
                && !unreadable.iter().any(|u| {
                    p.strip_prefix(u.as_str())
                        .is_some_and(|rest| rest.starts_with('/'))
                })
        });
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::super::tests::{entry, version, xorshift};
    use super::*;

    fn conflict(path: &str) -> ConflictRecord {
        ConflictRecord {
            config_id: "c".into(),
            path: path.into(),
            reason: "both_changed".into(),
            base: None,
            local: None,
            remote: None,
            remote_commit: None,
            detected_at: 0,
        }
    }

    #[test]
    fn a_home_holds_a_line_change_when_it_carries_every_line_added_and_none_removed() {
        let was = b"a\nb\n}\n";
        // The write appended `c` and changed `b` to `B`.
        let wrote = b"a\nB\n}\nc\n";
        let holds = |now: &[u8]| holds_every_line_change(was, wrote, now);
        assert!(holds(b"a\nB\n}\nc\nd\n"), "an append below the written one");
        assert!(holds(b"x\nB\n}\nc\n"), "an edit elsewhere");
        assert!(!holds(b"a\nb\n}\nd\n"), "the home never got it");
        assert!(!holds(b"a\nB\n}\n"), "half of it");
        assert!(!holds(b"a\nB\nb\n}\nc\n"), "a removed line is still there");
        // A repeated line counts, but a write that adds only lines the file had already
        // (a second `}`) cannot be told from the person's block ending the same way.
        assert!(!holds_every_line_change(b"}\n", b"}\n}\n", b"}\nx\n"));
        assert!(!holds_every_line_change(b"}\n", b"}\n}\n", b"}\n}\nx\n"));
        assert!(holds_every_line_change(
            b"}\n",
            b"}\n}\nz\n",
            b"}\n}\nz\nx\n"
        ));
        assert!(!holds_every_line_change(b"}\n", b"}\n}\nz\n", b"}\nz\nx\n"));
        // Nor a write that only removes: the person's edit of that line removes it too.
        assert!(!holds_every_line_change(b"a\nb\n", b"a\n", b"a\nB\n"));
        assert!(
            !holds_every_line_change(b"a\n", b"a\n", b"a\nb\n"),
            "no change, no answer"
        );
    }

    #[test]
    fn the_merged_paths_are_the_union_looked_up_in_each_map() {
        // Names whose byte order is not their component order ("a-b" sorts between "a" and
        // "a/b"), a base that is not a repository path, unreadable directories and files.
        let names = [
            "a", "a-b", "a/b", "a/c", "a//x", "b", ".git/x", "c/d/e", "c/d", "z",
        ];
        let mut next = xorshift(0x9e37_79b9_7f4a_7c15);
        for _ in 0..3000 {
            let mut local = BTreeMap::new();
            let mut remote = BTreeMap::new();
            let mut bases = BTreeMap::new();
            let mut conflicts = BTreeMap::new();
            let mut unreadable = BTreeSet::new();
            for n in names {
                let r = next();
                if let Ok(p) = RepoPath::parse(n) {
                    if !r.is_multiple_of(3) {
                        local.insert(p.clone(), entry(r % 4));
                    }
                    if !(r >> 4).is_multiple_of(3) {
                        remote.insert(p, version((r >> 8) % 4));
                    }
                }
                if !(r >> 12).is_multiple_of(3) {
                    bases.insert(n.to_owned(), version((r >> 16) % 4));
                }
                if (r >> 20).is_multiple_of(7) {
                    conflicts.insert(n.to_owned(), conflict(n));
                }
                if (r >> 24).is_multiple_of(11) {
                    unreadable.insert(n.to_owned());
                }
            }
            // What the plan did before: a set of every path, then a lookup in each map.
            let mut all: BTreeSet<RepoPath> = local.keys().cloned().collect();
            all.extend(remote.keys().cloned());
            all.extend(bases.keys().filter_map(|k| RepoPath::parse(k).ok()));
            all.extend(conflicts.keys().filter_map(|k| RepoPath::parse(k).ok()));
            all.retain(|path| {
                !unreadable.contains(path.as_str())
                    && !unreadable
                        .iter()
                        .any(|u| path.as_str().starts_with(&format!("{u}/")))
            });
            let want: Vec<Row<'_>> = all
                .into_iter()
                .map(|p| {
                    let l = local.get(&p);
                    let r = remote.get(&p);
                    let b = bases.get(p.as_str());
                    (p, l, r, b)
                })
                .collect();
            let got = planned_paths(&local, &remote, &bases, &conflicts, &unreadable);
            let show = |rows: &[Row<'_>]| -> Vec<String> {
                rows.iter()
                    .map(|(p, l, r, b)| {
                        format!(
                            "{p} l={:?} r={:?} b={:?}",
                            l.map(|e| (&e.version.blob, e.size)),
                            r.map(|v| &v.blob),
                            b.map(|v| &v.blob)
                        )
                    })
                    .collect()
            };
            assert_eq!(
                show(&got),
                show(&want),
                "local {:?} remote {:?} bases {:?} conflicts {:?} unreadable {unreadable:?}",
                local.keys().collect::<Vec<_>>(),
                remote.keys().collect::<Vec<_>>(),
                bases.keys().collect::<Vec<_>>(),
                conflicts.keys().collect::<Vec<_>>()
            );
        }
    }
}
