use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use dotsync_core::SyncConfig;
use dotsync_core::config::{ConflictWithOthers, check_against_others};
use rusqlite::{Connection, OptionalExtension, Transaction, params};

use crate::schema::{self, Schema};

/// dotsync-state's own tables: the configs. The engine's records are its own (see
/// [`Schema`]).
const SCHEMA: Schema = Schema {
    owner: "state",
    migrations: &[
        // 1: sync configs. The whole config is kept as JSON beside the columns we query by.
        "CREATE TABLE configs (
            id         TEXT PRIMARY KEY,
            name       TEXT NOT NULL UNIQUE,
            body       TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL
        );",
    ],
};

/// Errors of the database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("state database {path}: {source}")]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error(
        "the state database {path} was written by a newer dotsync (schema {found} of {owner}, \
         this one knows {known}); upgrade dotsync"
    )]
    TooNew {
        path: PathBuf,
        /// Whose tables: a [`Schema`]'s owner, or the database's layout as a whole.
        owner: String,
        found: i64,
        known: i64,
    },
    #[error("a stored config could not be read ({0}); the database may be damaged")]
    Corrupt(String),
}

/// Errors of writing a config: the database's, or a rule that involves other configs.
#[derive(Debug, thiserror::Error)]
pub enum ConfigStoreError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Conflict(#[from] ConflictWithOthers),
    #[error("no config {0:?}")]
    NotFound(String),
}

/// The SQLite database. One connection behind a mutex: dotsync's writes are few and small, and a
/// single writer keeps every transaction simple.
pub struct Store {
    conn: Mutex<Connection>,
    path: PathBuf,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// Seconds since the epoch.
pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

impl Store {
    /// Opens (creating if needed) the database and brings its schema up to date.
    ///
    /// WAL with `synchronous=FULL`: a write is on disk before it is acknowledged, so a daemon
    /// killed at any moment, or a power cut, loses nothing it answered for.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let err = |source| StoreError::Sqlite {
            path: path.to_path_buf(),
            source,
        };
        let mut conn = Connection::open(path).map_err(err)?;
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(err)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(err)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(err)?;
        schema::prepare(&mut conn, path)?;
        schema::migrate(&mut conn, path, &SCHEMA)?;
        Ok(Self {
            conn: Mutex::new(conn),
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        move |source| StoreError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite inconsistent (transactions roll
        // back), so a poisoned mutex is still safe to use.
        self.conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Creates or updates the tables of another owner (the engine's records), after
    /// dotsync-state's own, so they may refer to `configs`.
    pub fn migrate(&self, schema: &Schema) -> Result<(), StoreError> {
        schema::migrate(&mut self.conn(), &self.path, schema)
    }

    /// How many migrations of each owner ran, by owner.
    pub fn schema_versions(&self) -> Result<Vec<(String, i64)>, StoreError> {
        schema::versions(&self.conn(), &self.path)
    }

    /// Runs `f` on the connection. **For the owner of a [`Schema`], on its own tables only**
    /// (the engine's `records` module): nothing else runs SQL. Every other crate asks the
    /// owner, which answers with types, never rows.
    pub fn with_conn<T>(&self, f: impl FnOnce(&Connection) -> T) -> T {
        f(&self.conn())
    }

    /// Runs `f` in one transaction, committed if it returns Ok. Like [`with_conn`](Self::with_conn):
    /// for a [`Schema`]'s owner, on its own tables.
    pub fn transaction<T, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(self.err())?;
        let out = f(&tx)?;
        tx.commit().map_err(self.err())?;
        Ok(out)
    }

    /// Every config, in the order they were created.
    pub fn list_configs(&self) -> Result<Vec<SyncConfig>, StoreError> {
        list_configs(&self.conn(), &self.path)
    }

    /// The config with this id, or else with this name.
    pub fn get_config(&self, key: &str) -> Result<Option<SyncConfig>, StoreError> {
        let conn = self.conn();
        let body: Option<String> = conn
            .query_row(
                "SELECT body FROM configs WHERE id = ?1
                 UNION ALL SELECT body FROM configs WHERE name = ?1 LIMIT 1",
                params![key],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.err())?;
        body.map(|b| parse_config(&b)).transpose()
    }

    /// Inserts a new config after checking it against the others, atomically.
    pub fn create_config(&self, cfg: &SyncConfig, home: &Path) -> Result<(), ConfigStoreError> {
        self.transaction(|tx| {
            let others = list_configs(tx, &self.path)?;
            check_against_others(cfg, &others, home)?;
            let now = now_unix();
            tx.execute(
                "INSERT INTO configs (id, name, body, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4)",
                params![cfg.id, cfg.name, to_json(cfg), now],
            )
            .map_err(self.err())?;
            Ok(())
        })
    }

    /// Replaces an existing config after checking it against the others, atomically.
    pub fn replace_config(&self, cfg: &SyncConfig, home: &Path) -> Result<(), ConfigStoreError> {
        self.transaction(|tx| {
            let others = list_configs(tx, &self.path)?;
            if !others.iter().any(|o| o.id == cfg.id) {
                return Err(ConfigStoreError::NotFound(cfg.id.clone()));
            }
            check_against_others(cfg, &others, home)?;
            tx.execute(
                "UPDATE configs SET name = ?2, body = ?3, updated_at = ?4 WHERE id = ?1",
                params![cfg.id, cfg.name, to_json(cfg), now_unix()],
            )
            .map_err(self.err())?;
            Ok(())
        })
    }

    /// Gives SQLite's page cache back to the system (`PRAGMA shrink_memory`): the next reads
    /// come from the OS's cache. Best effort.
    pub fn release_memory(&self) -> Result<(), StoreError> {
        self.conn()
            .execute_batch("PRAGMA shrink_memory")
            .map_err(self.err())
    }

    /// Deletes a config (and, through foreign keys, everything the engine kept for it).
    /// Returns whether it existed.
    pub fn delete_config(&self, id: &str) -> Result<bool, StoreError> {
        let n = self
            .conn()
            .execute("DELETE FROM configs WHERE id = ?1", params![id])
            .map_err(self.err())?;
        Ok(n > 0)
    }
}

fn to_json(cfg: &SyncConfig) -> String {
    // Serialising a struct of strings, numbers and enums cannot fail.
    serde_json::to_string(cfg).unwrap_or_default()
}

fn parse_config(body: &str) -> Result<SyncConfig, StoreError> {
    serde_json::from_str(body).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn list_configs(conn: &Connection, path: &Path) -> Result<Vec<SyncConfig>, StoreError> {
    let err = |source| StoreError::Sqlite {
        path: path.to_path_buf(),
        source,
    };
    let mut stmt = conn
        .prepare_cached("SELECT body FROM configs ORDER BY created_at, rowid")
        .map_err(err)?;
    let rows = stmt.query_map([], |r| r.get::<_, String>(0)).map_err(err)?;
    let mut out = Vec::new();
    for body in rows {
        out.push(parse_config(&body.map_err(err)?)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use dotsync_core::ConfigInput;

    fn cfg(id: &str, name: &str, path: &str) -> SyncConfig {
        let input: ConfigInput = serde_json::from_value(serde_json::json!({
            "name": name, "paths": [path], "remote": "/srv/dots.git"
        }))
        .expect("parses");
        input
            .validate(id.into(), Path::new("/home/me"))
            .expect("valid")
    }

    #[test]
    fn configs_survive_reopening_and_are_found_by_id_or_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("d.db");
        let home = Path::new("/home/me");
        {
            let store = Store::open(&db).expect("open");
            store
                .create_config(&cfg("cfg_0000000000000001", "shell", "~/.zshrc"), home)
                .expect("create");
        }
        let store = Store::open(&db).expect("reopen");
        let by_name = store.get_config("shell").expect("query").expect("found");
        let by_id = store
            .get_config("cfg_0000000000000001")
            .expect("query")
            .expect("found");
        assert_eq!(by_name, by_id);
        assert_eq!(store.get_config("nope").expect("query"), None);
    }

    #[test]
    fn duplicate_names_and_overlaps_are_refused_atomically() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("d.db")).expect("open");
        let home = Path::new("/home/me");
        store
            .create_config(&cfg("cfg_0000000000000001", "shell", "~/.zshrc"), home)
            .expect("create");
        let dup = store.create_config(&cfg("cfg_0000000000000002", "shell", "~/.bashrc"), home);
        assert!(matches!(
            dup,
            Err(ConfigStoreError::Conflict(
                ConflictWithOthers::DuplicateName(_)
            ))
        ));
        let overlap = store.create_config(&cfg("cfg_0000000000000003", "other", "~/.zshrc"), home);
        assert!(matches!(
            overlap,
            Err(ConfigStoreError::Conflict(
                ConflictWithOthers::OverlappingPaths { .. }
            ))
        ));
        assert_eq!(store.list_configs().expect("list").len(), 1);
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("d.db");
        drop(Store::open(&db).expect("open"));
        Connection::open(&db)
            .expect("raw open")
            .pragma_update(None, "user_version", 999)
            .expect("bump");
        assert!(matches!(Store::open(&db), Err(StoreError::TooNew { .. })));
    }

    #[test]
    fn an_owner_whose_tables_are_newer_is_refused_and_others_open() {
        const OTHER: Schema = Schema {
            owner: "other",
            migrations: &["CREATE TABLE other_things (x INTEGER);"],
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("d.db");
        let store = Store::open(&db).expect("open");
        store.migrate(&OTHER).expect("migrate");
        store.migrate(&OTHER).expect("migrating twice does nothing");
        assert_eq!(
            store.schema_versions().expect("versions"),
            vec![("other".to_owned(), 1), ("state".to_owned(), 1)]
        );
        store
            .with_conn(|c| {
                c.execute(
                    "UPDATE schema_versions SET version = 7 WHERE owner = 'other'",
                    [],
                )
            })
            .expect("bump");
        drop(store);
        let store = Store::open(&db).expect("state's own tables are current");
        assert!(matches!(
            store.migrate(&OTHER),
            Err(StoreError::TooNew { owner, found: 7, known: 1, .. }) if owner == "other"
        ));
    }

    #[test]
    fn a_database_of_the_single_list_keeps_its_configs() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("d.db");
        {
            // What dotsync wrote before each owner had its own version: migration 1 of the
            // single list, counted by user_version.
            let conn = Connection::open(&db).expect("raw open");
            conn.execute_batch(SCHEMA.migrations[0]).expect("configs");
            conn.pragma_update(None, "user_version", 1)
                .expect("version");
            let c = cfg("cfg_0000000000000001", "shell", "~/.zshrc");
            conn.execute(
                "INSERT INTO configs (id, name, body, created_at, updated_at) VALUES (?1, ?2, ?3, 1, 1)",
                params![c.id, c.name, to_json(&c)],
            )
            .expect("insert");
        }
        let store = Store::open(&db).expect("open");
        assert_eq!(
            store.schema_versions().expect("versions"),
            vec![("state".to_owned(), 1)],
            "nothing of the engine's ran in that database"
        );
        assert_eq!(store.list_configs().expect("list").len(), 1);
        drop(store);
        let uv: i64 = Connection::open(&db)
            .expect("raw open")
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .expect("user_version");
        assert_eq!(
            uv,
            schema::TRACKS,
            "an older dotsync must refuse it rather than migrate it again"
        );
    }
}
