//! Open conflicts (`conflicts`): both sides' blob ids, until resolved.

use dotsync_state::{Store, StoreError};
use rusqlite::params;

use super::sql;

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

pub fn load_conflicts(
    store: &Store,
    config_id: Option<&str>,
) -> Result<Vec<ConflictRecord>, StoreError> {
    store.with_conn(|conn| {
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
    })
}
