//! The engine's tables in the state database (migration 2 of dotsync-state).

use std::collections::{BTreeMap, HashMap};

use dotsync_core::plan::{Kind, Version};
use dotsync_state::{Store, StoreError};
use rusqlite::{OptionalExtension, params};

use crate::scan::{Cached, StatKey};

fn kind_str(k: Kind) -> &'static str {
    match k {
        Kind::File => "file",
        Kind::Symlink => "symlink",
    }
}

fn parse_kind(s: &str) -> Kind {
    if s == "symlink" {
        Kind::Symlink
    } else {
        Kind::File
    }
}

fn sql(store: &Store) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
    move |source| StoreError::Sqlite {
        path: store.path().to_path_buf(),
        source,
    }
}

/// A conflict as recorded.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ConflictRecord {
    pub config_id: String,
    pub path: String,
    /// `both_changed`, `delete_vs_change` or `no_base`.
    pub reason: String,
    /// Blob ids as `kind:mode:oid`, or None where that side has no file.
    pub base: Option<String>,
    pub local: Option<String>,
    pub remote: Option<String>,
    pub remote_commit: Option<String>,
    pub detected_at: i64,
}

pub fn encode_version(v: &Version) -> String {
    format!("{}:{:o}:{}", kind_str(v.kind), v.mode, v.blob)
}

pub fn decode_version(s: &str) -> Option<Version> {
    let mut parts = s.splitn(3, ':');
    let kind = parse_kind(parts.next()?);
    let mode = u32::from_str_radix(parts.next()?, 8).ok()?;
    let blob = parts.next()?.to_owned();
    Some(Version { kind, blob, mode })
}

pub fn load_bases(store: &Store, config_id: &str) -> Result<BTreeMap<String, Version>, StoreError> {
    load_versions(store, "sync_base", config_id)
}

pub fn load_stat_cache(
    store: &Store,
    config_id: &str,
) -> Result<HashMap<String, Cached>, StoreError> {
    let conn = store.conn();
    let mut stmt = conn
        .prepare_cached(
            "SELECT path, size, mtime_ns, ctime_ns, ino, mode, kind, blob FROM stat_cache WHERE config_id = ?1",
        )
        .map_err(sql(store))?;
    let rows = stmt
        .query_map(params![config_id], |r| {
            Ok((r.get::<_, String>(0)?, cached_from(r, 1)?))
        })
        .map_err(sql(store))?;
    rows.collect::<Result<_, _>>().map_err(sql(store))
}

/// A stat-cache row's columns `size, mtime_ns, ctime_ns, ino, mode, kind, blob`, from column
/// `at` on.
fn cached_from(r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<Cached> {
    let mode: u32 = r.get(at + 4)?;
    Ok(Cached {
        stat: StatKey {
            size: r.get(at)?,
            mtime_ns: r.get(at + 1)?,
            ctime_ns: r.get(at + 2)?,
            // Stored bit for bit as SQLite's signed 64-bit integer (inode numbers above
            // i64::MAX exist on some file systems).
            ino: r.get::<_, i64>(at + 3)?.cast_unsigned(),
            mode,
        },
        version: Version {
            kind: parse_kind(&r.get::<_, String>(at + 5)?),
            blob: r.get(at + 6)?,
            mode: mode & 0o777,
        },
    })
}

pub fn cached_stat(store: &Store, config_id: &str, path: &str) -> Option<Cached> {
    let conn = store.conn();
    conn.query_row(
        "SELECT size, mtime_ns, ctime_ns, ino, mode, kind, blob FROM stat_cache WHERE config_id = ?1 AND path = ?2",
        params![config_id, path],
        |r| cached_from(r, 0),
    )
    .optional()
    .ok()
    .flatten()
}

/// Whether a base is recorded for `path`: the last sync knew the file (a read failure counts
/// as known, so that a change is never dropped for it).
/// How many files have a base: the files the config covers after its last sync.
pub fn count_bases(store: &Store, config_id: &str) -> Result<u64, StoreError> {
    let n: i64 = store
        .conn()
        .query_row(
            "SELECT COUNT(*) FROM sync_base WHERE config_id = ?1",
            params![config_id],
            |r| r.get(0),
        )
        .map_err(sql(store))?;
    Ok(u64::try_from(n).unwrap_or(0))
}

pub fn has_base(store: &Store, config_id: &str, path: &str) -> bool {
    let conn = store.conn();
    conn.query_row(
        "SELECT 1 FROM sync_base WHERE config_id = ?1 AND path = ?2",
        params![config_id, path],
        |_| Ok(()),
    )
    .optional()
    .map_or(true, |o| o.is_some())
}

pub fn load_conflicts(
    store: &Store,
    config_id: Option<&str>,
) -> Result<Vec<ConflictRecord>, StoreError> {
    let conn = store.conn();
    let mut stmt = conn
        .prepare_cached(
            "SELECT config_id, path, reason, base, local, remote, remote_commit, detected_at
             FROM conflicts WHERE ?1 IS NULL OR config_id = ?1 ORDER BY detected_at, path",
        )
        .map_err(sql(store))?;
    let rows = stmt
        .query_map(params![config_id], |r| {
            Ok(ConflictRecord {
                config_id: r.get(0)?,
                path: r.get(1)?,
                reason: r.get(2)?,
                base: r.get(3)?,
                local: r.get(4)?,
                remote: r.get(5)?,
                remote_commit: r.get(6)?,
                detected_at: r.get(7)?,
            })
        })
        .map_err(sql(store))?;
    rows.collect::<Result<_, _>>().map_err(sql(store))
}

pub fn last_commit(store: &Store, config_id: &str) -> Result<Option<String>, StoreError> {
    store
        .conn()
        .query_row(
            "SELECT last_commit FROM sync_state WHERE config_id = ?1",
            params![config_id],
            |r| r.get::<_, Option<String>>(0),
        )
        .optional()
        .map(Option::flatten)
        .map_err(sql(store))
}

/// Forgets the commit a config last synced with, so the next check syncs fully instead of
/// trusting "the remote did not move".
pub fn forget_commit(store: &Store, config_id: &str) -> Result<(), StoreError> {
    store
        .conn()
        .execute(
            "UPDATE sync_state SET last_commit = NULL WHERE config_id = ?1",
            params![config_id],
        )
        .map_err(sql(store))?;
    Ok(())
}

/// The remote commit this config's bases are relative to, and the URL it came from.
/// Falls back to `last_commit` for records written before `synced_commit` existed.
pub fn synced(
    store: &Store,
    config_id: &str,
) -> Result<Option<(String, Option<String>)>, StoreError> {
    store
        .conn()
        .query_row(
            "SELECT COALESCE(synced_commit, last_commit), synced_url FROM sync_state WHERE config_id = ?1",
            params![config_id],
            |r| Ok((r.get::<_, Option<String>>(0)?, r.get::<_, Option<String>>(1)?)),
        )
        .optional()
        .map(|o| o.and_then(|(c, u)| c.map(|c| (c, u))))
        .map_err(sql(store))
}

/// The URL this config last fetched from, even when no sync of it completed.
pub fn synced_url(store: &Store, config_id: &str) -> Result<Option<String>, StoreError> {
    store
        .conn()
        .query_row(
            "SELECT synced_url FROM sync_state WHERE config_id = ?1",
            params![config_id],
            |r| r.get::<_, Option<String>>(0),
        )
        .optional()
        .map(Option::flatten)
        .map_err(sql(store))
}

pub fn set_synced_url(store: &Store, config_id: &str, url: &str) -> Result<(), StoreError> {
    store
        .conn()
        .execute(
            "INSERT INTO sync_state (config_id, synced_url) VALUES (?1, ?2)
             ON CONFLICT (config_id) DO UPDATE SET synced_url = ?2",
            params![config_id, url],
        )
        .map_err(sql(store))?;
    Ok(())
}

/// Per config: the unix time of its last completed sync, and its number of open conflicts.
pub fn summaries(store: &Store) -> Result<crate::Summaries, StoreError> {
    let conn = store.conn();
    let e = sql(store);
    let mut last = HashMap::new();
    let mut st = conn
        .prepare_cached(
            "SELECT config_id, last_sync_at FROM sync_state WHERE last_sync_at IS NOT NULL",
        )
        .map_err(&e)?;
    for row in st
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
        .map_err(&e)?
    {
        let (id, t) = row.map_err(&e)?;
        last.insert(id, t);
    }
    let mut conflicts = HashMap::new();
    let mut st = conn
        .prepare_cached("SELECT config_id, COUNT(*) FROM conflicts GROUP BY config_id")
        .map_err(&e)?;
    for row in st
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
        .map_err(&e)?
    {
        let (id, n) = row.map_err(&e)?;
        conflicts.insert(id, u64::try_from(n).unwrap_or(0));
    }
    let mut files = HashMap::new();
    let mut st = conn
        .prepare_cached(
            "SELECT config_id, COUNT(*), COALESCE(SUM(size), 0) FROM stat_cache GROUP BY config_id",
        )
        .map_err(&e)?;
    for row in st
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })
        .map_err(&e)?
    {
        let (id, n, bytes) = row.map_err(&e)?;
        files.insert(
            id,
            (
                u64::try_from(n).unwrap_or(0),
                u64::try_from(bytes).unwrap_or(0),
            ),
        );
    }
    Ok(crate::Summaries {
        last_sync: last,
        conflicts,
        files,
    })
}

/// Records the random part of the temporary names a sync is about to create in the home,
/// before it creates any (committed, so a kill right after still knows them).
pub fn add_apply_token(store: &Store, config_id: &str, token: &str) -> Result<(), StoreError> {
    store
        .conn()
        .execute(
            "INSERT OR IGNORE INTO apply_tokens (config_id, token, created_at) VALUES (?1, ?2, ?3)",
            params![config_id, token, dotsync_state::now_unix()],
        )
        .map_err(sql(store))?;
    Ok(())
}

/// Temporary-name tokens: of one config, or of all configs (`None`).
pub fn apply_tokens(store: &Store, config_id: Option<&str>) -> Result<Vec<String>, StoreError> {
    let conn = store.conn();
    let mut stmt = conn
        .prepare_cached("SELECT token FROM apply_tokens WHERE ?1 IS NULL OR config_id = ?1")
        .map_err(sql(store))?;
    let rows = stmt
        .query_map(params![config_id], |r| r.get::<_, String>(0))
        .map_err(sql(store))?;
    rows.collect::<Result<_, _>>().map_err(sql(store))
}

/// Forgets one token (a resolve or restore that finished its one write).
pub fn remove_apply_token(store: &Store, config_id: &str, token: &str) -> Result<(), StoreError> {
    store
        .conn()
        .execute(
            "DELETE FROM apply_tokens WHERE config_id = ?1 AND token = ?2",
            params![config_id, token],
        )
        .map_err(sql(store))?;
    Ok(())
}

pub fn clear_apply_tokens(store: &Store, config_id: &str) -> Result<(), StoreError> {
    store
        .conn()
        .execute(
            "DELETE FROM apply_tokens WHERE config_id = ?1",
            params![config_id],
        )
        .map_err(sql(store))?;
    Ok(())
}

fn load_versions(
    store: &Store,
    table: &str,
    config_id: &str,
) -> Result<BTreeMap<String, Version>, StoreError> {
    let conn = store.conn();
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
}

fn put_versions(
    tx: &rusqlite::Transaction<'_>,
    table: &str,
    config_id: &str,
    versions: &[(String, Version)],
) -> rusqlite::Result<()> {
    for (path, v) in versions {
        tx.execute(
            &format!(
                "INSERT INTO {table} (config_id, path, kind, blob, mode) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (config_id, path) DO UPDATE SET kind = ?3, blob = ?4, mode = ?5"
            ),
            params![config_id, path, kind_str(v.kind), v.blob, v.mode],
        )?;
    }
    Ok(())
}

/// The tables that hold versions by path besides the bases.
#[derive(Debug, Clone, Copy)]
pub enum Versions {
    /// Versions a sync is about to push, recorded before the push.
    Pushed,
    /// Versions a sync is about to write into the home, recorded before the writes.
    Pulled,
    /// This machine's versions a resolution replaced, committed to history by the next push.
    Preserve,
}

impl Versions {
    fn table(self) -> &'static str {
        match self {
            Versions::Pushed => "pushed",
            Versions::Pulled => "pulled",
            Versions::Preserve => "preserve",
        }
    }
}

pub fn load(
    store: &Store,
    which: Versions,
    config_id: &str,
) -> Result<BTreeMap<String, Version>, StoreError> {
    load_versions(store, which.table(), config_id)
}

/// Records versions (in one transaction, before what they announce happens).
pub fn put(
    store: &Store,
    which: Versions,
    config_id: &str,
    versions: &[(String, Version)],
) -> Result<(), StoreError> {
    store.transaction(|tx| put_versions(tx, which.table(), config_id, versions).map_err(sql(store)))
}

/// Files the home could not take at the last sync, with the reason: (path, reason, since).
pub fn load_failures(
    store: &Store,
    config_id: &str,
) -> Result<Vec<(String, String, i64)>, StoreError> {
    let conn = store.conn();
    let mut stmt = conn
        .prepare_cached(
            "SELECT path, reason, since FROM file_failures WHERE config_id = ?1 ORDER BY path",
        )
        .map_err(sql(store))?;
    let rows = stmt
        .query_map(params![config_id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .map_err(sql(store))?;
    rows.collect::<Result<_, _>>().map_err(sql(store))
}

/// Everything one sync learned, written in one transaction at its end.
#[derive(Debug, Default)]
pub struct Outcome {
    /// New base per path; `None` removes the base (the file is gone on both sides).
    pub bases: Vec<(String, Option<Version>)>,
    /// New stat-cache rows; `None` removes one.
    pub stats: Vec<(String, Option<(StatKey, Version)>)>,
    pub conflicts_set: Vec<ConflictRecord>,
    pub conflicts_cleared: Vec<String>,
    pub commit: Option<String>,
    /// The remote commit (and URL) the recorded bases are now relative to.
    pub synced: Option<(String, String)>,
    /// Versions committed to history by this sync's push: their `preserve` rows go.
    pub preserved: Vec<String>,
    /// The push is in (or was not needed): forget the `pushed` rows and temporary-name tokens.
    pub settled: bool,
    /// The files that failed in this sync, replacing the previous list (None: unchanged).
    pub failures: Option<Vec<(String, String)>>,
    /// Versions to queue for the next push (a resolution keeps this machine's version).
    pub preserve_add: Vec<(String, Version)>,
}

impl Outcome {
    /// Whether recording would change nothing but the commit.
    pub fn only_commit(&self) -> bool {
        self.synced.is_none()
            && self.preserved.is_empty()
            && !self.settled
            && self.failures.is_none()
            && self.preserve_add.is_empty()
            && self.bases.is_empty()
            && self.stats.is_empty()
            && self.conflicts_set.is_empty()
            && self.conflicts_cleared.is_empty()
    }
}

pub fn record(store: &Store, config_id: &str, o: &Outcome) -> Result<(), StoreError> {
    store.transaction(|tx| {
        let e = sql(store);
        for (path, v) in &o.bases {
            match v {
                Some(v) => tx.execute(
                    "INSERT INTO sync_base (config_id, path, kind, blob, mode) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (config_id, path) DO UPDATE SET kind = ?3, blob = ?4, mode = ?5",
                    params![config_id, path, kind_str(v.kind), v.blob, v.mode],
                ),
                None => tx.execute(
                    "DELETE FROM sync_base WHERE config_id = ?1 AND path = ?2",
                    params![config_id, path],
                ),
            }
            .map_err(&e)?;
        }
        for (path, s) in &o.stats {
            match s {
                Some((st, v)) => tx.execute(
                    "INSERT INTO stat_cache (config_id, path, size, mtime_ns, ctime_ns, ino, mode, kind, blob)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                     ON CONFLICT (config_id, path) DO UPDATE SET size = ?3, mtime_ns = ?4,
                       ctime_ns = ?5, ino = ?6, mode = ?7, kind = ?8, blob = ?9",
                    params![config_id, path, st.size, st.mtime_ns, st.ctime_ns, st.ino.cast_signed(), st.mode, kind_str(v.kind), v.blob],
                ),
                None => tx.execute(
                    "DELETE FROM stat_cache WHERE config_id = ?1 AND path = ?2",
                    params![config_id, path],
                ),
            }
            .map_err(&e)?;
        }
        for c in &o.conflicts_set {
            tx.execute(
                "INSERT INTO conflicts (config_id, path, reason, base, local, remote, remote_commit, detected_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT (config_id, path) DO UPDATE SET reason = ?3, base = ?4, local = ?5,
                   remote = ?6, remote_commit = ?7",
                params![config_id, c.path, c.reason, c.base, c.local, c.remote, c.remote_commit, c.detected_at],
            )
            .map_err(&e)?;
        }
        for p in &o.conflicts_cleared {
            tx.execute(
                "DELETE FROM conflicts WHERE config_id = ?1 AND path = ?2",
                params![config_id, p],
            )
            .map_err(&e)?;
        }
        if let Some((c, url)) = &o.synced {
            tx.execute(
                "INSERT INTO sync_state (config_id, synced_commit, synced_url) VALUES (?1, ?2, ?3)
                 ON CONFLICT (config_id) DO UPDATE SET synced_commit = ?2, synced_url = ?3",
                params![config_id, c, url],
            )
            .map_err(&e)?;
        }
        for p in &o.preserved {
            tx.execute(
                "DELETE FROM preserve WHERE config_id = ?1 AND path = ?2",
                params![config_id, p],
            )
            .map_err(&e)?;
        }
        put_versions(tx, "preserve", config_id, &o.preserve_add).map_err(&e)?;
        if o.settled {
            tx.execute("DELETE FROM pushed WHERE config_id = ?1", params![config_id])
                .map_err(&e)?;
            tx.execute("DELETE FROM pulled WHERE config_id = ?1", params![config_id])
                .map_err(&e)?;
            tx.execute(
                "DELETE FROM apply_tokens WHERE config_id = ?1",
                params![config_id],
            )
            .map_err(&e)?;
        }
        if let Some(failures) = &o.failures {
            let known: BTreeMap<String, i64> = {
                let mut stmt = tx
                    .prepare_cached("SELECT path, since FROM file_failures WHERE config_id = ?1")
                    .map_err(&e)?;
                let rows = stmt
                    .query_map(params![config_id], |r| Ok((r.get(0)?, r.get(1)?)))
                    .map_err(&e)?;
                rows.collect::<Result<_, _>>().map_err(&e)?
            };
            tx.execute(
                "DELETE FROM file_failures WHERE config_id = ?1",
                params![config_id],
            )
            .map_err(&e)?;
            let now = dotsync_state::now_unix();
            for (path, reason) in failures {
                tx.execute(
                    "INSERT OR REPLACE INTO file_failures (config_id, path, reason, since) VALUES (?1, ?2, ?3, ?4)",
                    params![config_id, path, reason, known.get(path).copied().unwrap_or(now)],
                )
                .map_err(&e)?;
            }
        }
        if let Some(c) = &o.commit {
            tx.execute(
                "INSERT INTO sync_state (config_id, last_commit, last_sync_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (config_id) DO UPDATE SET last_commit = ?2, last_sync_at = ?3",
                params![config_id, c, dotsync_state::now_unix()],
            )
            .map_err(&e)?;
        }
        Ok::<_, StoreError>(())
    })
}

/// The plaintext blob of an encrypted blob, if this machine knows it.
pub fn plain_of(store: &Store, cipher: &str) -> Result<Option<String>, StoreError> {
    let conn = store.conn();
    let mut stmt = conn
        .prepare_cached("SELECT plain FROM sealed WHERE cipher = ?1")
        .map_err(sql(store))?;
    let mut rows = stmt.query(params![cipher]).map_err(sql(store))?;
    match rows.next().map_err(sql(store))? {
        Some(r) => Ok(Some(r.get(0).map_err(sql(store))?)),
        None => Ok(None),
    }
}

/// Remembers that the encrypted blob `cipher` holds the plaintext blob `plain`.
pub fn put_sealed(store: &Store, cipher: &str, plain: &str) -> Result<(), StoreError> {
    store
        .conn()
        .execute(
            "INSERT OR REPLACE INTO sealed (cipher, plain) VALUES (?1, ?2)",
            params![cipher, plain],
        )
        .map_err(sql(store))?;
    Ok(())
}

/// The content rules a config's last full sync applied (empty when none were recorded).
pub fn content_rules(store: &Store, config_id: &str) -> Result<String, StoreError> {
    store
        .conn()
        .query_row(
            "SELECT rules FROM content_rules WHERE config_id = ?1",
            params![config_id],
            |r| r.get::<_, String>(0),
        )
        .optional()
        .map(Option::unwrap_or_default)
        .map_err(sql(store))
}

pub fn set_content_rules(store: &Store, config_id: &str, rules: &str) -> Result<(), StoreError> {
    store
        .conn()
        .execute(
            "INSERT OR REPLACE INTO content_rules (config_id, rules) VALUES (?1, ?2)",
            params![config_id, rules],
        )
        .map_err(sql(store))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_rows_keep_inode_numbers_above_i64_max_and_extreme_dates() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("d.db")).expect("open");
        let home = dir.path();
        let input: dotsync_core::ConfigInput = serde_json::from_value(serde_json::json!({
            "name": "dots", "paths": ["~/.zshrc"], "remote": "/srv/dots.git"
        }))
        .expect("parses");
        let cfg = input
            .validate("cfg_00000000000000aa".into(), home)
            .expect("valid");
        store.create_config(&cfg, home).expect("create");
        let stat = StatKey {
            size: 3,
            mtime_ns: i64::MAX,
            ctime_ns: i64::MIN,
            ino: u64::MAX - 1,
            mode: 0o100600,
        };
        let v = Version {
            kind: Kind::File,
            blob: "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391".into(),
            mode: 0o600,
        };
        let outcome = Outcome {
            stats: vec![(".zshrc".into(), Some((stat, v.clone())))],
            ..Outcome::default()
        };
        record(&store, &cfg.id, &outcome).expect("record");
        let back = cached_stat(&store, &cfg.id, ".zshrc").expect("row");
        assert_eq!(back.stat, stat);
        assert_eq!(back.version, v);
    }
}
