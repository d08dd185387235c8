//! Versions by path: the bases (`sync_base`, what this machine last synced of each file) and
//! the tables that announce what a sync is about to do (`pushed`, `pulled`, `preserve`).

use std::collections::{BTreeMap, BTreeSet};

use dotsync_core::plan::Version;
use dotsync_state::{Store, StoreError};
use rusqlite::{OptionalExtension, params};

use super::{exec, kind_str, parse_kind, sql};

pub fn load_bases(store: &Store, config_id: &str) -> Result<BTreeMap<String, Version>, StoreError> {
    load_versions(store, "sync_base", config_id)
}

/// How many files have a base: the files the config covers after its last sync.
pub fn count_bases(store: &Store, config_id: &str) -> Result<u64, StoreError> {
    let n: i64 = store
        .with_conn(|conn| {
            conn.query_row(
                "SELECT COUNT(*) FROM sync_base WHERE config_id = ?1",
                params![config_id],
                |r| r.get(0),
            )
        })
        .map_err(sql(store))?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Whether a base is recorded for `path`: the last sync knew the file (a read failure counts
/// as known, so that a change is never dropped for it).
pub fn has_base(store: &Store, config_id: &str, path: &str) -> bool {
    store.with_conn(|conn| {
        conn.query_row(
            "SELECT 1 FROM sync_base WHERE config_id = ?1 AND path = ?2",
            params![config_id, path],
            |_| Ok(()),
        )
        .optional()
        .map_or(true, |o| o.is_some())
    })
}

fn load_versions(
    store: &Store,
    table: &str,
    config_id: &str,
) -> Result<BTreeMap<String, Version>, StoreError> {
    store.with_conn(|conn| {
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT path, kind, blob, mode FROM {table} WHERE config_id = ?1"
            ))
            .map_err(sql(store))?;
        let rows = stmt
            .query_map(params![config_id], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    Version {
                        kind: parse_kind(&r.get::<_, String>(1)?),
                        blob: r.get(2)?,
                        mode: r.get(3)?,
                    },
                ))
            })
            .map_err(sql(store))?;
        rows.collect::<Result<_, _>>().map_err(sql(store))
    })
}

pub(super) fn put_versions(
    tx: &rusqlite::Transaction<'_>,
    table: &str,
    config_id: &str,
    versions: &[(String, Version)],
) -> rusqlite::Result<()> {
    for (path, v) in versions {
        exec(
            tx,
            &format!(
                "INSERT INTO {table} (config_id, path, kind, blob, mode) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (config_id, path) DO UPDATE SET kind = ?3, blob = ?4, mode = ?5"
            ),
            params![config_id, path, kind_str(v.kind), v.blob, v.mode],
        )?;
    }
    Ok(())
}

/// The `kind` of a `pushed` or `pulled` row that announces a deletion: the sync removes the
/// file.
const DELETED: &str = "deleted";

/// The columns of a `pushed` or `pulled` row for a version, a deletion as `None`.
fn row_of(v: Option<&Version>) -> (&'static str, &str, u32) {
    match v {
        Some(v) => (kind_str(v.kind), v.blob.as_str(), v.mode),
        None => (DELETED, "", 0),
    }
}

/// The version a `pushed` or `pulled` row announces, a deletion as `None`.
fn version_of(kind: &str, blob: String, mode: u32) -> Option<Version> {
    (kind != DELETED).then(|| Version {
        kind: parse_kind(kind),
        blob,
        mode,
    })
}

/// A push that was not recorded: the commit it carried and the versions it announced as this
/// machine's own, deletions as `None`. Announced by a database from before commits were
/// recorded, the commit is empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushAttempt {
    /// Orders the attempts: a later one has a greater number.
    pub attempt: i64,
    /// The remote it was pushed to (empty when announced by a database from before).
    pub url: String,
    pub commit: String,
    pub versions: BTreeMap<String, Option<Version>>,
    /// The paths whose version is the home's file a merge started from, not the commit's.
    pub merge_inputs: BTreeSet<String>,
}

/// Records what a push of `commit` is about to carry from the home, deletions included (in
/// one transaction, before the push): if the process dies between the push and the record,
/// the next sync finds this machine's own versions in the remote's history instead of
/// conflicting with them. What earlier unrecorded pushes announced is replaced by `kept`
/// (the caller's reading of them against the remote this push builds on). Each version comes
/// with whether it is a merge's input. A `pulled` row of a path this push carries goes: the
/// push knows the home better.
pub fn put_pushed<'a>(
    store: &Store,
    config_id: &str,
    kept: &[PushAttempt],
    url: &str,
    commit: &str,
    versions: impl IntoIterator<Item = (&'a str, Option<&'a Version>, bool)>,
) -> Result<(), StoreError> {
    let insert = |tx: &rusqlite::Transaction<'_>,
                  (attempt, url, commit): (i64, &str, &str),
                  path: &str,
                  v: Option<&Version>,
                  merge_input: bool| {
        let (kind, blob, mode) = row_of(v);
        exec(
            tx,
            "INSERT OR REPLACE INTO pushed
               (config_id, attempt, commit_id, path, kind, blob, mode, merge_input, url)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                config_id,
                attempt,
                commit,
                path,
                kind,
                blob,
                mode,
                merge_input,
                url
            ],
        )
        .map_err(sql(store))
    };
    store.transaction(|tx| {
        let attempt: i64 = tx
            .query_row(
                "SELECT COALESCE(MAX(attempt), 0) + 1 FROM pushed WHERE config_id = ?1",
                params![config_id],
                |r| r.get(0),
            )
            .map_err(sql(store))?;
        exec(
            tx,
            "DELETE FROM pushed WHERE config_id = ?1",
            params![config_id],
        )
        .map_err(sql(store))?;
        for a in kept {
            for (path, v) in &a.versions {
                let input = a.merge_inputs.contains(path);
                insert(tx, (a.attempt, &a.url, &a.commit), path, v.as_ref(), input)?;
            }
        }
        for (path, v, input) in versions {
            insert(tx, (attempt, url, commit), path, v, input)?;
            // What an earlier killed sync wrote into the home is older news than this push.
            for table in ["pulled", "written_from"] {
                exec(
                    tx,
                    &format!(
                        "UPDATE {table} SET pushed_over = trim(pushed_over || ' ' || ?3)
                         WHERE config_id = ?1 AND path = ?2"
                    ),
                    params![config_id, path, commit],
                )
                .map_err(sql(store))?;
            }
        }
        Ok(())
    })
}

/// The pushes that were not recorded, newest first.
pub fn load_pushed(store: &Store, config_id: &str) -> Result<Vec<PushAttempt>, StoreError> {
    store.with_conn(|conn| {
        let mut stmt = conn
            .prepare_cached(
                "SELECT attempt, commit_id, path, kind, blob, mode, merge_input, url FROM pushed
                 WHERE config_id = ?1 ORDER BY attempt DESC",
            )
            .map_err(sql(store))?;
        let rows = stmt
            .query_map(params![config_id], |r| {
                let version = version_of(&r.get::<_, String>(3)?, r.get(4)?, r.get(5)?);
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    version,
                    r.get::<_, bool>(6)?,
                    r.get::<_, String>(7)?,
                ))
            })
            .map_err(sql(store))?;
        let mut attempts: Vec<PushAttempt> = Vec::new();
        for row in rows {
            let (attempt, commit, path, version, merge_input, url) = row.map_err(sql(store))?;
            if attempts.last().is_none_or(|a| a.attempt != attempt) {
                attempts.push(PushAttempt {
                    attempt,
                    url,
                    commit,
                    ..PushAttempt::default()
                });
            }
            if let Some(a) = attempts.last_mut() {
                if merge_input {
                    a.merge_inputs.insert(path.clone());
                }
                a.versions.insert(path, version);
            }
        }
        Ok(attempts)
    })
}

/// What a sync is about to leave in the home at a path, recorded before its writes and
/// removals: after a kill between them and the record, a file that holds such a version is
/// known to be the remote's, not this machine's new file, and a file such a sync removed is
/// known to be the remote's deletion, not the person's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pulled {
    /// The version written; `None`: the file is removed.
    pub version: Option<Version>,
    /// The base to take while the home holds `version`, when it is not `version` itself: the
    /// remote's version a pull machine merged with or kept its own over (its own part stays
    /// held). For a merge this machine pushed, the remote's version it merged with.
    pub base: Option<Version>,
    /// For a merge of this machine's edit with the remote's, the commit the sync pushed it in:
    /// the merge is the remote's only while the remote's history holds that commit.
    pub merge_commit: Option<String>,
    /// For such a merge, the remote's tip it was made on (the commit `base` comes from).
    pub merged_on: Option<String>,
    /// What the home held when the sync planned this change (so the next sync can tell
    /// whether a write happened once the person edited the file), and the base it planned
    /// with when a `pulled` row of a sync killed before gave that base: until the write or
    /// removal happens, the next sync plans the file as this one did.
    pub held: Option<Held>,
    /// The commits of the pushes of this path made after the row was written: while the
    /// remote's history holds any of them, the row says nothing (that push is newer). Every
    /// one is kept: a later push that never lands must not wake a row a landed one silenced.
    pub pushed_over: Vec<String>,
    /// The remote's tip the sync planned against (`None`: no tip, or a row from before this
    /// was recorded): everything the row says came from that commit's files, so the row
    /// speaks only while the remote's history holds it.
    pub planned_on: Option<String>,
    /// The remote (its URL) that sync planned against (`None`: a row from before this was
    /// recorded).
    pub planned_url: Option<String>,
    /// What the home held (`Some(None)`: no file) when the person first replaced the file
    /// with `dotsync restore` while this row stood: the row is read as if the home still
    /// held it, and whatever the home holds now is the person's edit of it (`None`: no
    /// restore since the row).
    #[allow(
        clippy::option_option,
        reason = "no restore (NULL) differs from a restore over no file ('deleted')"
    )]
    pub restored_over: Option<Option<Version>>,
    /// A row of a file the sync settled without a write (a pull machine's held edit, a base
    /// brought forward): whatever the home holds since descends from `version`. (A row
    /// without `held` is not enough to tell: write rows of older versions had none.)
    pub settled: bool,
}

/// The home's version (`None`: absent) a sync planned a change from, and the base a `pulled`
/// row gave it (`None`: no row did, the base was the usual one; `Some(None)`: no file).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Held {
    pub home: Option<Version>,
    #[allow(
        clippy::option_option,
        reason = "no base given (NULL) differs from a base that is no file ('deleted')"
    )]
    pub base: Option<Option<Version>>,
    /// When `base` was one of two bases the content could not choose between (a write of a
    /// sync killed before, then the person's edit next to it), the other one (`Some(None)`:
    /// no file): the next sync asks the same question.
    #[allow(
        clippy::option_option,
        reason = "no other base (NULL) differs from another base that is no file ('deleted')"
    )]
    pub alt: Option<Option<Version>>,
    /// The remote's tip the sync whose row gave `base` planned against (`None`: this row's
    /// own `planned_on`): the base speaks only while the remote's history holds it.
    pub on: Option<String>,
}

/// The (kind, blob, mode) of three nullable columns; `None` when any is NULL.
fn nullable_row(
    r: &rusqlite::Row<'_>,
    first: usize,
) -> rusqlite::Result<Option<(String, String, u32)>> {
    Ok(
        match (
            r.get::<_, Option<String>>(first)?,
            r.get::<_, Option<String>>(first + 1)?,
            r.get::<_, Option<u32>>(first + 2)?,
        ) {
            (Some(kind), Some(blob), Some(mode)) => Some((kind, blob, mode)),
            _ => None,
        },
    )
}

pub fn load_pulled(store: &Store, config_id: &str) -> Result<BTreeMap<String, Pulled>, StoreError> {
    store.with_conn(|conn| {
        let mut stmt = conn
            .prepare_cached(
                "SELECT path, kind, blob, mode, merge_commit, base_kind, base_blob, base_mode,
                   held_kind, held_blob, held_mode, held_base_kind, held_base_blob, held_base_mode,
                   merged_on, pushed_over, planned_on, held_alt_kind, held_alt_blob, held_alt_mode,
                   held_on, planned_url, restored_kind, restored_blob, restored_mode, settled
                 FROM pulled WHERE config_id = ?1",
            )
            .map_err(sql(store))?;
        let rows = stmt
            .query_map(params![config_id], |r| {
                let merge_commit: String = r.get(4)?;
                let merged_on: String = r.get(14)?;
                let pushed_over: String = r.get(15)?;
                let planned_on: String = r.get(16)?;
                let planned_url: String = r.get(21)?;
                let version =
                    |(kind, blob, mode): (String, String, u32)| version_of(&kind, blob, mode);
                let held = nullable_row(r, 8)?.map(|home| Held {
                    home: version(home),
                    base: None,
                    alt: None,
                    on: None,
                });
                Ok((
                    r.get::<_, String>(0)?,
                    Pulled {
                        version: version_of(&r.get::<_, String>(1)?, r.get(2)?, r.get(3)?),
                        base: nullable_row(r, 5)?.and_then(version),
                        merge_commit: (!merge_commit.is_empty()).then_some(merge_commit),
                        merged_on: (!merged_on.is_empty()).then_some(merged_on),
                        pushed_over: pushed_over.split_whitespace().map(str::to_owned).collect(),
                        planned_on: (!planned_on.is_empty()).then_some(planned_on),
                        planned_url: (!planned_url.is_empty()).then_some(planned_url),
                        restored_over: nullable_row(r, 22)?.map(version),
                        settled: r.get(25)?,
                        held: match held {
                            Some(h) => Some(Held {
                                base: nullable_row(r, 11)?.map(version),
                                alt: nullable_row(r, 17)?.map(version),
                                on: r
                                    .get::<_, String>(20)
                                    .map(|on| (!on.is_empty()).then_some(on))?,
                                ..h
                            }),
                            None => None,
                        },
                    },
                ))
            })
            .map_err(sql(store))?;
        rows.collect::<Result<_, _>>().map_err(sql(store))
    })
}

/// Marks the `pulled` row of `path`, if there is one, as read from now on as if the home held
/// `replaced` (`None`: no file): the person replaced that version with `dotsync restore`. A
/// row marked before keeps its first mark: everything since was the person's.
pub fn mark_restored(
    store: &Store,
    config_id: &str,
    path: &str,
    replaced: Option<&Version>,
) -> Result<(), StoreError> {
    let (kind, blob, mode) = row_of(replaced);
    store.transaction(|tx| {
        exec(
            tx,
            "UPDATE pulled SET restored_kind = ?3, restored_blob = ?4, restored_mode = ?5
             WHERE config_id = ?1 AND path = ?2 AND restored_kind IS NULL",
            params![config_id, path, kind, blob, mode],
        )
        .map_err(sql(store))?;
        Ok(())
    })
}

/// Records what a sync is about to leave in the home (see [`Pulled`]), and drops the
/// conflicts it clears, in one transaction.
pub fn put_pulled(
    store: &Store,
    config_id: &str,
    rows: &[(String, Pulled)],
    cleared: &[String],
) -> Result<(), StoreError> {
    store.transaction(|tx| {
        for path in cleared {
            exec(
                tx,
                "DELETE FROM conflicts WHERE config_id = ?1 AND path = ?2",
                params![config_id, path],
            )
            .map_err(sql(store))?;
        }
        for (path, row) in rows {
            let (kind, blob, mode) = row_of(row.version.as_ref());
            let merge_commit = row.merge_commit.as_deref().unwrap_or("");
            let merged_on = row.merged_on.as_deref().unwrap_or("");
            let planned_on = row.planned_on.as_deref().unwrap_or("");
            let planned_url = row.planned_url.as_deref().unwrap_or("");
            let held_on = row
                .held
                .as_ref()
                .and_then(|h| h.on.as_deref())
                .unwrap_or("");
            let base = row.base.as_ref().map(|b| row_of(Some(b)));
            let held = row.held.as_ref().map(|h| row_of(h.home.as_ref()));
            let held_base = row
                .held
                .as_ref()
                .and_then(|h| h.base.as_ref())
                .map(|b| row_of(b.as_ref()));
            let held_alt = row
                .held
                .as_ref()
                .and_then(|h| h.alt.as_ref())
                .map(|b| row_of(b.as_ref()));
            let restored = row.restored_over.as_ref().map(|b| row_of(b.as_ref()));
            exec(
                tx,
                "INSERT INTO pulled
                   (config_id, path, kind, blob, mode, merge_commit, base_kind, base_blob, base_mode,
                    held_kind, held_blob, held_mode, held_base_kind, held_base_blob, held_base_mode,
                    merged_on, planned_on, held_alt_kind, held_alt_blob, held_alt_mode, held_on,
                    planned_url, restored_kind, restored_blob, restored_mode, settled)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,
                   ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26)
                 ON CONFLICT (config_id, path)
                 DO UPDATE SET kind = ?3, blob = ?4, mode = ?5, merge_commit = ?6,
                   base_kind = ?7, base_blob = ?8, base_mode = ?9,
                   held_kind = ?10, held_blob = ?11, held_mode = ?12,
                   held_base_kind = ?13, held_base_blob = ?14, held_base_mode = ?15,
                   merged_on = ?16, pushed_over = '', planned_on = ?17,
                   held_alt_kind = ?18, held_alt_blob = ?19, held_alt_mode = ?20, held_on = ?21,
                   planned_url = ?22, restored_kind = ?23, restored_blob = ?24,
                   restored_mode = ?25, settled = ?26",
                params![
                    config_id,
                    path,
                    kind,
                    blob,
                    mode,
                    merge_commit,
                    base.map(|b| b.0),
                    base.map(|b| b.1),
                    base.map(|b| b.2),
                    held.map(|b| b.0),
                    held.map(|b| b.1),
                    held.map(|b| b.2),
                    held_base.map(|b| b.0),
                    held_base.map(|b| b.1),
                    held_base.map(|b| b.2),
                    merged_on,
                    planned_on,
                    held_alt.map(|b| b.0),
                    held_alt.map(|b| b.1),
                    held_alt.map(|b| b.2),
                    held_on,
                    planned_url,
                    restored.map(|b| b.0),
                    restored.map(|b| b.1),
                    restored.map(|b| b.2),
                    row.settled
                ],
            )
            .map_err(sql(store))?;
        }
        Ok(())
    })
}

/// This machine's versions a resolution replaced, to be committed to history by the next push.
pub fn load_preserve(
    store: &Store,
    config_id: &str,
) -> Result<BTreeMap<String, Version>, StoreError> {
    load_versions(store, "preserve", config_id)
}

/// A write or removal a sync announced before making it (see `written_from` in the schema):
/// kept until a record, whatever later syncs announce for the path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenFrom {
    pub path: String,
    /// The remote's tip the sync planned against, and its URL.
    pub commit: String,
    pub url: String,
    /// The version written (`None`: the file removed).
    pub version: Option<Version>,
    /// What the home held before (`None`: no file).
    pub before: Option<Version>,
    /// The commits of the pushes of this path made since (as in [`Pulled::pushed_over`]).
    pub pushed_over: Vec<String>,
}

pub fn put_written_from(
    store: &Store,
    config_id: &str,
    entries: &[WrittenFrom],
) -> Result<(), StoreError> {
    store.transaction(|tx| {
        for w in entries {
            let (kind, blob, mode) = row_of(w.version.as_ref());
            let (before_kind, before_blob, before_mode) = row_of(w.before.as_ref());
            exec(
                tx,
                "INSERT OR IGNORE INTO written_from
                   (config_id, path, commit_id, url, kind, blob, mode,
                    before_kind, before_blob, before_mode)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![
                    config_id,
                    w.path,
                    w.commit,
                    w.url,
                    kind,
                    blob,
                    mode,
                    before_kind,
                    before_blob,
                    before_mode
                ],
            )
            .map_err(sql(store))?;
        }
        Ok(())
    })
}

pub fn load_written_from(store: &Store, config_id: &str) -> Result<Vec<WrittenFrom>, StoreError> {
    store.with_conn(|conn| {
        let mut stmt = conn
            .prepare_cached(
                "SELECT path, commit_id, url, kind, blob, mode, before_kind, before_blob,
                   before_mode, pushed_over
                 FROM written_from WHERE config_id = ?1",
            )
            .map_err(sql(store))?;
        let rows = stmt
            .query_map(params![config_id], |r| {
                let pushed_over: String = r.get(9)?;
                Ok(WrittenFrom {
                    path: r.get(0)?,
                    commit: r.get(1)?,
                    url: r.get(2)?,
                    version: version_of(&r.get::<_, String>(3)?, r.get(4)?, r.get(5)?),
                    before: version_of(&r.get::<_, String>(6)?, r.get(7)?, r.get(8)?),
                    pushed_over: pushed_over.split_whitespace().map(str::to_owned).collect(),
                })
            })
            .map_err(sql(store))?;
        rows.collect::<Result<_, _>>().map_err(sql(store))
    })
}
