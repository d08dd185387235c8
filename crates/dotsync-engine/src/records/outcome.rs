//! What one sync learned, written in one transaction at its end.

use std::collections::{BTreeMap, BTreeSet};

use dotsync_core::plan::Version;
use dotsync_state::{Store, StoreError};
use rusqlite::params;

use super::{ConflictRecord, exec, kind_str, sql, versions::put_versions};
use crate::scan::StatKey;

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
    /// Paths whose `pulled` and `pushed` rows a settled sync keeps: files it did not plan
    /// (still being written, unreadable), whose rows still speak for the next sync that does.
    pub keep_rows: BTreeSet<String>,
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
                Some(v) => exec(
 tx,
                    "INSERT INTO sync_base (config_id, path, kind, blob, mode) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (config_id, path) DO UPDATE SET kind = ?3, blob = ?4, mode = ?5",
                    params![config_id, path, kind_str(v.kind), v.blob, v.mode],
                ),
                None => exec(
 tx,
                    "DELETE FROM sync_base WHERE config_id = ?1 AND path = ?2",
                    params![config_id, path],
                ),
            }
            .map_err(&e)?;
        }
        for (path, s) in &o.stats {
            match s {
                Some((st, v)) => exec(
 tx,
                    "INSERT INTO stat_cache (config_id, path, size, mtime_ns, ctime_ns, ino, mode, kind, blob)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                     ON CONFLICT (config_id, path) DO UPDATE SET size = ?3, mtime_ns = ?4,
                       ctime_ns = ?5, ino = ?6, mode = ?7, kind = ?8, blob = ?9",
                    params![config_id, path, st.size, st.mtime_ns, st.ctime_ns, st.ino.cast_signed(), st.mode, kind_str(v.kind), v.blob],
                ),
                None => exec(
 tx,
                    "DELETE FROM stat_cache WHERE config_id = ?1 AND path = ?2",
                    params![config_id, path],
                ),
            }
            .map_err(&e)?;
        }
        for c in &o.conflicts_set {
            exec(
 tx,
                "INSERT INTO conflicts (config_id, path, reason, base, local, remote, remote_commit, detected_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT (config_id, path) DO UPDATE SET reason = ?3, base = ?4, local = ?5,
                   remote = ?6, remote_commit = ?7",
                params![config_id, c.path, c.reason, c.base, c.local, c.remote, c.remote_commit, c.detected_at],
            )
            .map_err(&e)?;
        }
        for p in &o.conflicts_cleared {
            exec(
 tx,
                "DELETE FROM conflicts WHERE config_id = ?1 AND path = ?2",
                params![config_id, p],
            )
            .map_err(&e)?;
        }
        if let Some((c, url)) = &o.synced {
            exec(
 tx,
                "INSERT INTO sync_state (config_id, synced_commit, synced_url) VALUES (?1, ?2, ?3)
                 ON CONFLICT (config_id) DO UPDATE SET synced_commit = ?2, synced_url = ?3",
                params![config_id, c, url],
            )
            .map_err(&e)?;
        }
        for p in &o.preserved {
            exec(
 tx,
                "DELETE FROM preserve WHERE config_id = ?1 AND path = ?2",
                params![config_id, p],
            )
            .map_err(&e)?;
        }
        put_versions(tx, "preserve", config_id, &o.preserve_add).map_err(&e)?;
        if o.settled {
            for table in ["pushed", "pulled", "written_from"] {
                if o.keep_rows.is_empty() {
                    exec(
                        tx,
                        &format!("DELETE FROM {table} WHERE config_id = ?1"),
                        params![config_id],
                    )
                    .map_err(&e)?;
                    continue;
                }
                let paths: Vec<String> = tx
                    .prepare(&format!(
                        "SELECT DISTINCT path FROM {table} WHERE config_id = ?1"
                    ))
                    .and_then(|mut st| {
                        st.query_map(params![config_id], |r| r.get(0))?
                            .collect::<Result<_, _>>()
                    })
                    .map_err(&e)?;
                for path in paths.iter().filter(|p| !o.keep_rows.contains(*p)) {
                    exec(
                        tx,
                        &format!("DELETE FROM {table} WHERE config_id = ?1 AND path = ?2"),
                        params![config_id, path],
                    )
                    .map_err(&e)?;
                }
            }
            exec(
 tx,
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
            exec(
 tx,
                "DELETE FROM file_failures WHERE config_id = ?1",
                params![config_id],
            )
            .map_err(&e)?;
            let now = dotsync_state::now_unix();
            for (path, reason) in failures {
                exec(
 tx,
                    "INSERT OR REPLACE INTO file_failures (config_id, path, reason, since) VALUES (?1, ?2, ?3, ?4)",
                    params![config_id, path, reason, known.get(path).copied().unwrap_or(now)],
                )
                .map_err(&e)?;
            }
        }
        if let Some(c) = &o.commit {
            exec(
 tx,
                "INSERT INTO sync_state (config_id, last_commit, last_sync_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (config_id) DO UPDATE SET last_commit = ?2, last_sync_at = ?3",
                params![config_id, c, dotsync_state::now_unix()],
            )
            .map_err(&e)?;
        }
        Ok::<_, StoreError>(())
    })
}
