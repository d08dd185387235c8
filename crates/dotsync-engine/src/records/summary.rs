//! Every config at a glance, from the records: last sync, open conflicts, files and bytes.

use std::collections::HashMap;

use dotsync_state::{Store, StoreError};

use super::sql;

/// Per config: the unix time of its last completed sync, and its number of open conflicts.
pub fn summaries(store: &Store) -> Result<crate::Summaries, StoreError> {
    store.with_conn(|conn| {
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
    })
}
