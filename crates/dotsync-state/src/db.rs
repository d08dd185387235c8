use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use dotsync_core::SyncConfig;
use dotsync_core::config::{ConflictWithOthers, check_against_others};
use rusqlite::{Connection, OptionalExtension, Transaction, params};

/// Schema migrations, applied in order; `PRAGMA user_version` records how many ran. Append only:
/// a released migration is never edited.
const MIGRATIONS: &[&str] = &[
    // 1: sync configs. The whole config is kept as JSON beside the columns we query by.
    "CREATE TABLE configs (
        id         TEXT PRIMARY KEY,
        name       TEXT NOT NULL UNIQUE,
        body       TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    );",
    // 2: the sync engine's records, per config. `sync_base` is the version of each file this
    // machine last synced (the base of the three-way plan); `stat_cache` lets a scan skip hashing
    // files whose stat did not change; `conflicts` keeps both sides' blob ids until resolved;
    // `sync_state` the commit the config last synced with.
    "CREATE TABLE sync_base (
        config_id TEXT NOT NULL REFERENCES configs(id) ON DELETE CASCADE,
        path      TEXT NOT NULL,
        kind      TEXT NOT NULL,
        blob      TEXT NOT NULL,
        mode      INTEGER NOT NULL,
        PRIMARY KEY (config_id, path)
    ) WITHOUT ROWID;
    CREATE TABLE stat_cache (
        config_id TEXT NOT NULL REFERENCES configs(id) ON DELETE CASCADE,
        path      TEXT NOT NULL,
        size      INTEGER NOT NULL,
        mtime_ns  INTEGER NOT NULL,
        ctime_ns  INTEGER NOT NULL,
        ino       INTEGER NOT NULL,
        mode      INTEGER NOT NULL,
        kind      TEXT NOT NULL,
        blob      TEXT NOT NULL,
        PRIMARY KEY (config_id, path)
    ) WITHOUT ROWID;
    CREATE TABLE conflicts (
        config_id     TEXT NOT NULL REFERENCES configs(id) ON DELETE CASCADE,
        path          TEXT NOT NULL,
        reason        TEXT NOT NULL,
        base          TEXT,
        local         TEXT,
        remote        TEXT,
        remote_commit TEXT,
        detected_at   INTEGER NOT NULL,
        PRIMARY KEY (config_id, path)
    ) WITHOUT ROWID;
    CREATE TABLE sync_state (
        config_id    TEXT PRIMARY KEY REFERENCES configs(id) ON DELETE CASCADE,
        last_commit  TEXT,
        last_sync_at INTEGER
    );",
    // 3: what makes a sync safe to interrupt and honest about the remote.
    // `sync_state.synced_commit`/`synced_url`: the remote commit (and URL) the bases are
    // relative to, kept even after a sync with failures, so a rewound or replaced remote is
    // recognised. `apply_tokens`: the random part of the temporary file names of a sync that is
    // writing into the home, recorded before the first is created, so dotsync only ever removes
    // temporary files it provably made. `pushed`: versions a sync is pushing, recorded before the
    // push, so a kill between push and record does not turn this machine's own version into a
    // conflict. `preserve`: versions a resolution replaced, committed to history by the next
    // push. `file_failures`: files the home could not take, shown until they succeed.
    "ALTER TABLE sync_state ADD COLUMN synced_commit TEXT;
    ALTER TABLE sync_state ADD COLUMN synced_url TEXT;
    CREATE TABLE apply_tokens (
        config_id  TEXT NOT NULL REFERENCES configs(id) ON DELETE CASCADE,
        token      TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (config_id, token)
    ) WITHOUT ROWID;
    CREATE TABLE pushed (
        config_id TEXT NOT NULL REFERENCES configs(id) ON DELETE CASCADE,
        path      TEXT NOT NULL,
        kind      TEXT NOT NULL,
        blob      TEXT NOT NULL,
        mode      INTEGER NOT NULL,
        PRIMARY KEY (config_id, path)
    ) WITHOUT ROWID;
    CREATE TABLE preserve (
        config_id TEXT NOT NULL REFERENCES configs(id) ON DELETE CASCADE,
        path      TEXT NOT NULL,
        kind      TEXT NOT NULL,
        blob      TEXT NOT NULL,
        mode      INTEGER NOT NULL,
        PRIMARY KEY (config_id, path)
    ) WITHOUT ROWID;
    CREATE TABLE file_failures (
        config_id TEXT NOT NULL REFERENCES configs(id) ON DELETE CASCADE,
        path      TEXT NOT NULL,
        reason    TEXT NOT NULL,
        since     INTEGER NOT NULL,
        PRIMARY KEY (config_id, path)
    ) WITHOUT ROWID;",
    // 4: versions a sync is about to write into the home, recorded before the writes: after a
    // kill between the writes and the record, a file that holds such a version is known to be
    // the remote's, not this machine's new file.
    "CREATE TABLE pulled (
        config_id TEXT NOT NULL REFERENCES configs(id) ON DELETE CASCADE,
        path      TEXT NOT NULL,
        kind      TEXT NOT NULL,
        blob      TEXT NOT NULL,
        mode      INTEGER NOT NULL,
        PRIMARY KEY (config_id, path)
    ) WITHOUT ROWID;",
    // 5: what this machine knows of encrypted blobs: the blob of an age ciphertext on a remote
    // and the blob of its plaintext (in the engine's own repository only). Never leaves the
    // machine: equal secrets would show as equal plaintext ids.
    "CREATE TABLE sealed (
        cipher TEXT PRIMARY KEY,
        plain  TEXT NOT NULL
    ) WITHOUT ROWID;
    -- The content rules (encrypt, per-machine globs) a config's last full sync applied: a
    -- change means a full sync, even when neither side moved.
    CREATE TABLE content_rules (
        config_id TEXT PRIMARY KEY REFERENCES configs(id) ON DELETE CASCADE,
        rules     TEXT NOT NULL
    ) WITHOUT ROWID;",
];

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
        "the state database {path} was written by a newer dotsync (schema {found}, this one knows \
         {known}); upgrade dotsync"
    )]
    TooNew {
        path: PathBuf,
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
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

/// Seconds since the epoch.
pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
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
        migrate(&mut conn, path)?;
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

    /// The connection, for crates that keep tables of their own in this database (the engine).
    pub fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite inconsistent (transactions roll
        // back), so a poisoned mutex is still safe to use.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` in one transaction, committed if it returns Ok.
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

fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let err = |source| StoreError::Sqlite {
        path: path.to_path_buf(),
        source,
    };
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(err)?;
    let known = MIGRATIONS.len() as i64;
    if version > known {
        return Err(StoreError::TooNew {
            path: path.to_path_buf(),
            found: version,
            known,
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let tx = conn.transaction().map_err(err)?;
        tx.execute_batch(sql).map_err(err)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)
            .map_err(err)?;
        tx.commit().map_err(err)?;
    }
    Ok(())
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
}
