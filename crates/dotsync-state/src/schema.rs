//! Who owns which tables of the state database, and how each owner's tables are brought up to
//! date.
//!
//! Every crate that keeps tables in the database owns a [`Schema`]: its name and its migrations,
//! append only. How many of an owner's migrations ran is its row in `schema_versions`; owners
//! migrate independently (dotsync-state its `configs` when the store opens, the engine its
//! records when it starts), so neither lists the other's tables.
//!
//! Databases written before the split kept one list for everyone, counted by
//! `PRAGMA user_version` (1 to 5). They are converted once, in one transaction, to the rows
//! [`LEGACY`] says that list was made of. From then on `user_version` holds [`TRACKS`], a number
//! older dotsync refuses as "written by a newer dotsync" instead of migrating it a second time.

use std::path::Path;

use rusqlite::{Connection, params};

use crate::StoreError;

/// The tables one crate owns in the state database.
#[derive(Debug)]
pub struct Schema {
    /// The owner's key in `schema_versions`. Never renamed.
    pub owner: &'static str,
    /// Applied in order; the owner's row records how many ran. Append only: a released
    /// migration is never edited.
    pub migrations: &'static [&'static str],
}

/// `user_version` of a database whose owners keep their own versions in `schema_versions`.
pub(crate) const TRACKS: i64 = 100;

/// The single list of migrations before the split, owner by owner, in its order: its first
/// migration is dotsync-state's first, its next four the engine's first four. Frozen.
const LEGACY: &[(&str, i64)] = &[("state", 1), ("engine", 4)];

fn err(path: &Path) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
    move |source| StoreError::Sqlite {
        path: path.to_path_buf(),
        source,
    }
}

/// Makes sure `schema_versions` exists, converting a database of the single list (or starting
/// an empty one). Runs before any owner migrates.
pub(crate) fn prepare(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let err = err(path);
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(&err)?;
    if version == TRACKS {
        return Ok(());
    }
    let legacy_known: i64 = LEGACY.iter().map(|(_, n)| n).sum();
    if !(0..=legacy_known).contains(&version) {
        return Err(StoreError::TooNew {
            path: path.to_path_buf(),
            owner: "the database".to_owned(),
            found: version,
            known: TRACKS,
        });
    }
    let tx = conn.transaction().map_err(&err)?;
    tx.execute_batch(
        "CREATE TABLE schema_versions (
            owner   TEXT PRIMARY KEY,
            version INTEGER NOT NULL
        ) WITHOUT ROWID;",
    )
    .map_err(&err)?;
    let mut left = version;
    for (owner, count) in LEGACY {
        let ran = left.min(*count);
        left -= ran;
        if ran > 0 {
            tx.execute(
                "INSERT INTO schema_versions (owner, version) VALUES (?1, ?2)",
                params![owner, ran],
            )
            .map_err(&err)?;
        }
    }
    tx.pragma_update(None, "user_version", TRACKS)
        .map_err(&err)?;
    tx.commit().map_err(&err)
}

/// Runs the migrations of `schema` its row says have not run yet, each in its own transaction
/// together with its new count.
#[allow(
    clippy::cast_possible_wrap,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "SQLite versions are i64, migration lists a handful of entries; a version above the list is refused first"
)]
pub(crate) fn migrate(
    conn: &mut Connection,
    path: &Path,
    schema: &Schema,
) -> Result<(), StoreError> {
    let err = err(path);
    let version: i64 = conn
        .query_row(
            "SELECT COALESCE(MAX(version), 0) FROM schema_versions WHERE owner = ?1",
            params![schema.owner],
            |r| r.get(0),
        )
        .map_err(&err)?;
    let known = schema.migrations.len() as i64;
    if version > known {
        return Err(StoreError::TooNew {
            path: path.to_path_buf(),
            owner: schema.owner.to_owned(),
            found: version,
            known,
        });
    }
    for (i, sql) in schema.migrations.iter().enumerate().skip(version as usize) {
        let tx = conn.transaction().map_err(&err)?;
        tx.execute_batch(sql).map_err(&err)?;
        tx.execute(
            "INSERT INTO schema_versions (owner, version) VALUES (?1, ?2)
             ON CONFLICT (owner) DO UPDATE SET version = ?2",
            params![schema.owner, (i + 1) as i64],
        )
        .map_err(&err)?;
        tx.commit().map_err(&err)?;
    }
    Ok(())
}

/// The version of each owner, for tests and diagnostics.
pub(crate) fn versions(conn: &Connection, path: &Path) -> Result<Vec<(String, i64)>, StoreError> {
    let err = err(path);
    let mut stmt = conn
        .prepare("SELECT owner, version FROM schema_versions ORDER BY owner")
        .map_err(&err)?;
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .map_err(&err)?;
    rows.collect::<Result<_, _>>().map_err(&err)
}
