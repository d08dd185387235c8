//! Files the home could not take (`file_failures`), shown until they succeed.

use dotsync_state::{Store, StoreError};
use rusqlite::params;

use super::sql;

/// Files the home could not take at the last sync, with the reason: (path, reason, since).
pub fn load_failures(
    store: &Store,
    config_id: &str,
) -> Result<Vec<(String, String, i64)>, StoreError> {
    store.with_conn(|conn| {
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
    })
}
