//! Encrypted blobs this machine has opened (`sealed`: ciphertext blob → plaintext blob).

use dotsync_state::{Store, StoreError};
use rusqlite::params;

use super::sql;

/// The plaintext blob of an encrypted blob, if this machine knows it.
pub fn plain_of(store: &Store, cipher: &str) -> Result<Option<String>, StoreError> {
    store.with_conn(|conn| {
        let mut stmt = conn
            .prepare_cached("SELECT plain FROM sealed WHERE cipher = ?1")
            .map_err(sql(store))?;
        let mut rows = stmt.query(params![cipher]).map_err(sql(store))?;
        match rows.next().map_err(sql(store))? {
            Some(r) => Ok(Some(r.get(0).map_err(sql(store))?)),
            None => Ok(None),
        }
    })
}

/// Remembers that the encrypted blob `cipher` holds the plaintext blob `plain`.
pub fn put_sealed(store: &Store, cipher: &str, plain: &str) -> Result<(), StoreError> {
    store
        .with_conn(|conn| {
            conn.execute(
                "INSERT OR REPLACE INTO sealed (cipher, plain) VALUES (?1, ?2)",
                params![cipher, plain],
            )
        })
        .map_err(sql(store))?;
    Ok(())
}
