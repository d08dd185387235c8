//! Where a config stands with its remote (`sync_state`: the commit it last synced, the remote
//! commit and URL its bases are relative to) and the content rules its last full sync applied
//! (`content_rules`).

use dotsync_state::{Store, StoreError};
use rusqlite::{OptionalExtension, params};

use super::sql;

pub fn last_commit(store: &Store, config_id: &str) -> Result<Option<String>, StoreError> {
    store
        .with_conn(|conn| {
            conn.query_row(
                "SELECT last_commit FROM sync_state WHERE config_id = ?1",
                params![config_id],
                |r| r.get::<_, Option<String>>(0),
            )
        })
        .optional()
        .map(Option::flatten)
        .map_err(sql(store))
}

/// Forgets the commit a config last synced with, so the next check syncs fully instead of
/// trusting "the remote did not move".
pub fn forget_commit(store: &Store, config_id: &str) -> Result<(), StoreError> {
    store
        .with_conn(|conn| {
            conn.execute(
                "UPDATE sync_state SET last_commit = NULL WHERE config_id = ?1",
                params![config_id],
            )
        })
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
        .with_conn(|conn| conn.query_row(
            "SELECT COALESCE(synced_commit, last_commit), synced_url FROM sync_state WHERE config_id = ?1",
            params![config_id],
            |r| Ok((r.get::<_, Option<String>>(0)?, r.get::<_, Option<String>>(1)?)),
        ))
        .optional()
        .map(|o| o.and_then(|(c, u)| c.map(|c| (c, u))))
        .map_err(sql(store))
}

/// The URL this config last fetched from, even when no sync of it completed.
pub fn synced_url(store: &Store, config_id: &str) -> Result<Option<String>, StoreError> {
    store
        .with_conn(|conn| {
            conn.query_row(
                "SELECT synced_url FROM sync_state WHERE config_id = ?1",
                params![config_id],
                |r| r.get::<_, Option<String>>(0),
            )
        })
        .optional()
        .map(Option::flatten)
        .map_err(sql(store))
}

pub fn set_synced_url(store: &Store, config_id: &str, url: &str) -> Result<(), StoreError> {
    store
        .with_conn(|conn| {
            conn.execute(
                "INSERT INTO sync_state (config_id, synced_url) VALUES (?1, ?2)
             ON CONFLICT (config_id) DO UPDATE SET synced_url = ?2",
                params![config_id, url],
            )
        })
        .map_err(sql(store))?;
    Ok(())
}

/// The content rules a config's last full sync applied (empty when none were recorded).
pub fn content_rules(store: &Store, config_id: &str) -> Result<String, StoreError> {
    store
        .with_conn(|conn| {
            conn.query_row(
                "SELECT rules FROM content_rules WHERE config_id = ?1",
                params![config_id],
                |r| r.get::<_, String>(0),
            )
        })
        .optional()
        .map(Option::unwrap_or_default)
        .map_err(sql(store))
}

pub fn set_content_rules(store: &Store, config_id: &str, rules: &str) -> Result<(), StoreError> {
    store
        .with_conn(|conn| {
            conn.execute(
                "INSERT OR REPLACE INTO content_rules (config_id, rules) VALUES (?1, ?2)",
                params![config_id, rules],
            )
        })
        .map_err(sql(store))?;
    Ok(())
}
