//! The random parts of the temporary names a sync writes into the home (`apply_tokens`): only
//! what is recorded here is ever removed as a leftover.

use dotsync_state::{Store, StoreError};
use rusqlite::params;

use super::sql;

/// Records the random part of the temporary names a sync is about to create in the home,
/// before it creates any (committed, so a kill right after still knows them).
pub fn add_apply_token(store: &Store, config_id: &str, token: &str) -> Result<(), StoreError> {
    store
        .with_conn(|conn| {
            conn.execute(
            "INSERT OR IGNORE INTO apply_tokens (config_id, token, created_at) VALUES (?1, ?2, ?3)",
            params![config_id, token, dotsync_state::now_unix()],
        )
        })
        .map_err(sql(store))?;
    Ok(())
}

/// Temporary-name tokens: of one config, or of all configs (`None`).
pub fn apply_tokens(store: &Store, config_id: Option<&str>) -> Result<Vec<String>, StoreError> {
    store.with_conn(|conn| {
        let mut stmt = conn
            .prepare_cached("SELECT token FROM apply_tokens WHERE ?1 IS NULL OR config_id = ?1")
            .map_err(sql(store))?;
        let rows = stmt
            .query_map(params![config_id], |r| r.get::<_, String>(0))
            .map_err(sql(store))?;
        rows.collect::<Result<_, _>>().map_err(sql(store))
    })
}

/// Forgets one token (a resolve or restore that finished its one write).
pub fn remove_apply_token(store: &Store, config_id: &str, token: &str) -> Result<(), StoreError> {
    store
        .with_conn(|conn| {
            conn.execute(
                "DELETE FROM apply_tokens WHERE config_id = ?1 AND token = ?2",
                params![config_id, token],
            )
        })
        .map_err(sql(store))?;
    Ok(())
}

pub fn clear_apply_tokens(store: &Store, config_id: &str) -> Result<(), StoreError> {
    store
        .with_conn(|conn| {
            conn.execute(
                "DELETE FROM apply_tokens WHERE config_id = ?1",
                params![config_id],
            )
        })
        .map_err(sql(store))?;
    Ok(())
}
