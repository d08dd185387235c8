//! A database written before each owner had its own schema version opens under the split
//! tracks with its data intact.

use std::path::Path;
use std::sync::Arc;

use dotsync_state::{Layout, Store};
use rusqlite::{Connection, params};

use crate::Engine;
use crate::records;

/// The engine's schema version once every migration ran.
fn engine_version() -> i64 {
    i64::try_from(super::SCHEMA.migrations.len()).expect("a few migrations")
}

/// The single list of migrations dotsync-state kept for everyone before the split, verbatim,
/// counted by `PRAGMA user_version`. A fixture: never edited.
const OLD_MIGRATIONS: &[&str] = &[
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

const CONFIG: &str = "cfg_00000000000000aa";

/// Writes a database as the code before the split did: the first `n` migrations of the single
/// list, and a row in the tables they created.
fn old_database(db: &Path, home: &Path, n: usize) {
    let conn = Connection::open(db).expect("open");
    for (i, sql) in OLD_MIGRATIONS.iter().take(n).enumerate() {
        conn.execute_batch(sql).expect("old migration");
        conn.pragma_update(None, "user_version", i64::try_from(i + 1).unwrap())
            .expect("user_version");
    }
    let input: dotsync_core::ConfigInput = serde_json::from_value(serde_json::json!({
        "name": "dots", "paths": ["~/.zshrc"], "remote": "/srv/dots.git"
    }))
    .expect("parses");
    let cfg = input.validate(CONFIG.into(), home).expect("valid");
    conn.execute(
        "INSERT INTO configs (id, name, body, created_at, updated_at) VALUES (?1, 'dots', ?2, 1, 1)",
        params![CONFIG, serde_json::to_string(&cfg).expect("json")],
    )
    .expect("config");
    if n >= 2 {
        conn.execute_batch(
            "INSERT INTO sync_base VALUES ('cfg_00000000000000aa', '.zshrc', 'file', 'e69de29bb2d1d6434b8b29ae775ad8c2e48c5391', 420);
             INSERT INTO conflicts (config_id, path, reason, base, local, remote, remote_commit, detected_at)
               VALUES ('cfg_00000000000000aa', '.vimrc', 'both_changed', NULL, 'file:644:aa', 'file:644:bb', 'c0ffee', 7);
             INSERT INTO sync_state (config_id, last_commit, last_sync_at) VALUES ('cfg_00000000000000aa', 'c0ffee', 42);",
        )
        .expect("engine rows");
    }
    if n >= 3 {
        conn.execute_batch(
            "UPDATE sync_state SET synced_commit = 'c0ffee', synced_url = '/srv/dots.git';
             INSERT INTO apply_tokens VALUES ('cfg_00000000000000aa', 'feedc0de', 1);
             INSERT INTO pushed VALUES ('cfg_00000000000000aa', '.zshrc', 'file', 'b10b', 420);",
        )
        .expect("rows of migration 3");
    }
    if n >= 5 {
        conn.execute_batch("INSERT INTO sealed VALUES ('cipher1', 'plain1');")
            .expect("rows of migration 5");
    }
}

/// Opens the state and the engine as the daemon does, twice (the second time finds nothing to
/// migrate).
fn open(dir: &Path) -> Arc<Store> {
    let home = dir.join("home");
    let layout = Layout::new(home.join(".dotsync"));
    for _ in 0..2 {
        let store = Arc::new(Store::open(&layout.db_path()).expect("store opens"));
        Engine::new(layout.clone(), store.clone(), home.clone()).expect("engine opens");
    }
    Arc::new(Store::open(&layout.db_path()).expect("store opens"))
}

#[test]
fn a_database_of_the_single_list_opens_with_its_records_intact() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    let layout = Layout::new(home.join(".dotsync"));
    std::fs::create_dir_all(layout.state_dir()).expect("mkdir");
    old_database(&layout.db_path(), &home, OLD_MIGRATIONS.len());

    let store = open(dir.path());
    assert_eq!(
        store.schema_versions().expect("versions"),
        vec![
            ("engine".to_owned(), engine_version()),
            ("state".to_owned(), 1)
        ]
    );
    assert_eq!(store.list_configs().expect("configs").len(), 1);
    let bases = records::load_bases(&store, CONFIG).expect("bases");
    assert_eq!(
        bases.get(".zshrc").map(|v| v.blob.as_str()),
        Some("e69de29bb2d1d6434b8b29ae775ad8c2e48c5391")
    );
    let conflicts = records::load_conflicts(&store, Some(CONFIG)).expect("conflicts");
    assert_eq!(conflicts.len(), 1);
    assert_eq!(conflicts[0].remote.as_deref(), Some("file:644:bb"));
    assert_eq!(
        records::synced(&store, CONFIG).expect("synced"),
        Some(("c0ffee".to_owned(), Some("/srv/dots.git".to_owned())))
    );
    assert_eq!(
        records::apply_tokens(&store, Some(CONFIG)).expect("tokens"),
        vec!["feedc0de".to_owned()]
    );
    assert_eq!(
        records::plain_of(&store, "cipher1").expect("sealed"),
        Some("plain1".to_owned())
    );
    // A push announced before pushes carried their commit: one attempt, in no history.
    let pushed = records::load_pushed(&store, CONFIG).expect("pushed");
    assert_eq!(pushed.len(), 1);
    assert_eq!(pushed[0].commit, "");
    assert_eq!(pushed[0].url, "");
    assert_eq!(
        pushed[0]
            .versions
            .get(".zshrc")
            .and_then(|v| v.as_ref())
            .map(|v| v.blob.as_str()),
        Some("b10b")
    );
    // The foreign keys into dotsync-state's table still hold: a config takes its records along.
    assert!(store.delete_config(CONFIG).expect("delete"));
    assert!(
        records::load_bases(&store, CONFIG)
            .expect("bases")
            .is_empty()
    );
}

#[test]
fn a_database_half_way_through_the_single_list_gets_the_rest_from_the_engine() {
    for n in 1..OLD_MIGRATIONS.len() {
        let dir = tempfile::tempdir().expect("tempdir");
        let home = dir.path().join("home");
        let layout = Layout::new(home.join(".dotsync"));
        std::fs::create_dir_all(layout.state_dir()).expect("mkdir");
        old_database(&layout.db_path(), &home, n);

        let store = open(dir.path());
        assert_eq!(
            store.schema_versions().expect("versions"),
            vec![
                ("engine".to_owned(), engine_version()),
                ("state".to_owned(), 1)
            ],
            "after {n} old migrations"
        );
        // Every table of the last migration exists, and what was there is kept.
        assert_eq!(records::plain_of(&store, "none").expect("sealed"), None);
        assert_eq!(records::content_rules(&store, CONFIG).expect("rules"), "");
        assert_eq!(
            records::last_commit(&store, CONFIG).expect("last commit"),
            (n >= 2).then(|| "c0ffee".to_owned()),
            "after {n} old migrations"
        );
    }
}

#[test]
fn a_new_database_has_the_same_tables_as_one_of_the_single_list_opened_since() {
    let tables = |db: &Path| -> Vec<(String, Option<String>)> {
        let conn = Connection::open(db).expect("open");
        let mut st = conn
            .prepare(
                "SELECT name, sql FROM sqlite_master WHERE tbl_name != 'schema_versions' ORDER BY name",
            )
            .expect("prepare");
        // Compared word by word: how a statement was indented is no difference.
        st.query_map([], |r| {
            let sql: Option<String> = r.get(1)?;
            Ok((
                r.get(0)?,
                sql.map(|s| s.split_whitespace().collect::<Vec<_>>().join(" ")),
            ))
        })
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
    };
    let old = tempfile::tempdir().expect("tempdir");
    let old_db = old.path().join("home/.dotsync/state/dotsync.db");
    std::fs::create_dir_all(old_db.parent().expect("parent")).expect("mkdir");
    old_database(&old_db, &old.path().join("home"), OLD_MIGRATIONS.len());
    drop(open(old.path()));
    let new = tempfile::tempdir().expect("tempdir");
    let new_db = new.path().join("home/.dotsync/state/dotsync.db");
    std::fs::create_dir_all(new_db.parent().expect("parent")).expect("mkdir");
    drop(open(new.path()));
    assert_eq!(tables(&old_db), tables(&new_db));
}

/// Each unrecorded push is kept under its commit, newest first; a new one replaces what was
/// announced before with what the caller kept of it; a recorded sync forgets them all.
#[test]
fn pushes_are_announced_by_attempt_newest_first() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("home/.dotsync/state")).expect("mkdir");
    let store = open(dir.path());
    let input: dotsync_core::ConfigInput = serde_json::from_value(serde_json::json!({
        "name": "dots", "paths": ["~/.zshrc"], "remote": "/srv/dots.git"
    }))
    .expect("parses");
    let home = dir.path().join("home");
    let cfg = input.validate(CONFIG.into(), &home).expect("valid");
    store.create_config(&cfg, &home).expect("config");
    let v = |blob: &str| dotsync_core::plan::Version {
        kind: dotsync_core::plan::Kind::File,
        blob: blob.to_owned(),
        mode: 0o644,
    };
    let (zshrc, gone) = (v("zshrc1"), v("x"));
    let first = [(".zshrc", Some(&zshrc), false), ("gone", None, false)];
    records::put_pushed(&store, &cfg.id, &[], "/srv/x.git", "commit1", first).expect("put");
    let pushed = records::load_pushed(&store, &cfg.id).expect("load");
    assert_eq!(pushed.len(), 1);
    assert_eq!(pushed[0].commit, "commit1");
    assert_eq!(pushed[0].url, "/srv/x.git");
    assert_eq!(pushed[0].versions[".zshrc"], Some(zshrc.clone()));
    assert_eq!(
        pushed[0].versions["gone"], None,
        "a deletion stays a deletion"
    );

    // The second keeps the first; the third keeps only the second (the first went).
    let zshrc2 = v("zshrc2");
    records::put_pushed(
        &store,
        &cfg.id,
        &pushed,
        "/srv/y.git",
        "commit2",
        [(".zshrc", Some(&zshrc2), true)],
    )
    .expect("put");
    let pushed = records::load_pushed(&store, &cfg.id).expect("load");
    let commits: Vec<&str> = pushed.iter().map(|a| a.commit.as_str()).collect();
    assert_eq!(commits, ["commit2", "commit1"]);
    assert!(pushed[0].attempt > pushed[1].attempt);
    records::put_pushed(
        &store,
        &cfg.id,
        &pushed[..1],
        "/srv/y.git",
        "commit3",
        [("new", Some(&gone), false)],
    )
    .expect("put");
    let pushed = records::load_pushed(&store, &cfg.id).expect("load");
    let commits: Vec<&str> = pushed.iter().map(|a| a.commit.as_str()).collect();
    assert_eq!(commits, ["commit3", "commit2"]);
    assert_eq!(pushed[1].versions[".zshrc"], Some(zshrc2));
    assert!(
        pushed[1].merge_inputs.contains(".zshrc"),
        "a merge's input stays one"
    );
    assert!(pushed[0].merge_inputs.is_empty());
    assert_eq!(pushed[1].url, "/srv/y.git");

    let settled = records::Outcome {
        settled: true,
        ..Default::default()
    };
    records::record(&store, &cfg.id, &settled).expect("record");
    assert!(
        records::load_pushed(&store, &cfg.id)
            .expect("load")
            .is_empty()
    );
}

/// What a sync is about to leave in the home is announced, removals included, a merge with
/// the commit that carried it, a pull machine's merge with the base it keeps, and what the
/// home held before (absent or not, with a base or none); a push of a path takes its row back; a recorded sync
/// forgets them all.
#[test]
fn pulled_rows_announce_writes_removals_and_merges() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("home/.dotsync/state")).expect("mkdir");
    let store = open(dir.path());
    let input: dotsync_core::ConfigInput = serde_json::from_value(serde_json::json!({
        "name": "dots", "paths": ["~/.zshrc", "~/.vimrc", "~/.gitconfig"], "remote": "/srv/dots.git"
    }))
    .expect("parses");
    let home = dir.path().join("home");
    let cfg = input.validate(CONFIG.into(), &home).expect("valid");
    store.create_config(&cfg, &home).expect("config");
    let v = |kind, blob: &str, mode| dotsync_core::plan::Version {
        kind,
        blob: blob.to_owned(),
        mode,
    };
    let zshrc = v(dotsync_core::plan::Kind::Symlink, "target", 0o777);
    let merged = v(dotsync_core::plan::Kind::File, "merged", 0o600);
    let rows = [
        (
            ".zshrc".to_owned(),
            records::Pulled {
                version: Some(zshrc.clone()),
                base: Some(v(dotsync_core::plan::Kind::File, "remote's", 0o644)),
                merge_commit: None,
                merged_on: None,
                held: Some(records::Held {
                    home: None,
                    base: Some(Some(v(dotsync_core::plan::Kind::File, "older", 0o600))),
                    alt: Some(None),
                    on: Some("older-tip".to_owned()),
                }),
                pushed_over: Vec::new(),
                planned_on: Some("tip".to_owned()),
                planned_url: Some("/srv/x.git".to_owned()),
                restored_over: Some(Some(merged.clone())),
                settled: true,
            },
        ),
        (
            ".vimrc".to_owned(),
            records::Pulled {
                held: Some(records::Held {
                    home: Some(zshrc.clone()),
                    base: Some(None),
                    alt: Some(Some(merged.clone())),
                    on: None,
                }),
                ..records::Pulled::default()
            },
        ),
        (
            ".gitconfig".to_owned(),
            records::Pulled {
                version: Some(merged.clone()),
                base: None,
                merge_commit: Some("c0ffee".to_owned()),
                merged_on: Some("decaf".to_owned()),
                held: Some(records::Held {
                    home: Some(zshrc.clone()),
                    base: None,
                    alt: None,
                    on: None,
                }),
                pushed_over: Vec::new(),
                planned_on: None,
                planned_url: None,
                restored_over: Some(None),
                settled: false,
            },
        ),
    ];
    records::put_pulled(&store, &cfg.id, &rows, &[]).expect("put");
    let pulled = records::load_pulled(&store, &cfg.id).expect("load");
    assert_eq!(pulled.len(), 3);
    for (path, row) in &rows {
        assert_eq!(&pulled[path], row, "{path} reads back as it was announced");
    }
    assert_eq!(
        pulled[".vimrc"].version, None,
        "a removal is announced as one, not as an empty file"
    );

    // A restore marks the row with what the home held; a second restore keeps the first
    // mark; a new row of the path (a later sync's) starts unmarked.
    records::mark_restored(&store, &cfg.id, ".vimrc", Some(&merged)).expect("mark");
    records::mark_restored(&store, &cfg.id, ".vimrc", None).expect("mark again");
    records::mark_restored(&store, &cfg.id, ".no-row", None).expect("no row, no mark");
    let marked = records::load_pulled(&store, &cfg.id).expect("load");
    assert_eq!(marked[".vimrc"].restored_over, Some(Some(merged.clone())));
    assert!(!marked.contains_key(".no-row"), "a mark makes no row");
    records::put_pulled(&store, &cfg.id, &rows[1..2], &[]).expect("put again");
    assert_eq!(
        records::load_pulled(&store, &cfg.id).expect("load")[".vimrc"].restored_over,
        None
    );

    records::put_pushed(
        &store,
        &cfg.id,
        &[],
        "/srv/x.git",
        "c1",
        [(".zshrc", None, false)],
    )
    .expect("push");
    // A push marks the row with its commit (the row is older news once the push landed);
    // a new row of the path clears the mark.
    let pulled = records::load_pulled(&store, &cfg.id).expect("load");
    assert_eq!(pulled[".zshrc"].pushed_over, ["c1"]);
    assert!(pulled[".vimrc"].pushed_over.is_empty());
    // Every push is kept: a later one that never lands must not hide a landed one.
    records::put_pushed(
        &store,
        &cfg.id,
        &[],
        "/srv/x.git",
        "c2",
        [(".zshrc", None, false)],
    )
    .expect("push");
    let pulled = records::load_pulled(&store, &cfg.id).expect("load");
    assert_eq!(pulled[".zshrc"].pushed_over, ["c1", "c2"]);
    records::put_pulled(&store, &cfg.id, &rows[..1], &[]).expect("put");
    let pulled = records::load_pulled(&store, &cfg.id).expect("load");
    assert_eq!(pulled[".zshrc"], rows[0].1);

    let settled = records::Outcome {
        settled: true,
        ..Default::default()
    };
    records::record(&store, &cfg.id, &settled).expect("record");
    assert!(
        records::load_pulled(&store, &cfg.id)
            .expect("load")
            .is_empty()
    );
}
