//! The engine's tables in the state database, owned here: dotsync-state keeps only its
//! `configs`, which these rows refer to (a config deleted takes its records with it).
//!
//! Append only: a released migration is never edited. Migrations 1 to 4 were migrations 2 to 5
//! of the single list the database kept before each owner had its own version; dotsync-state
//! converts such a database to this track when it opens it.

use dotsync_state::Schema;

pub const SCHEMA: Schema = Schema {
    owner: "engine",
    migrations: MIGRATIONS,
};

const MIGRATIONS: &[&str] = &[
    // 1: per config. `sync_base` is the version of each file this machine last synced (the
    // base of the three-way plan); `stat_cache` lets a scan skip hashing files whose stat did
    // not change; `conflicts` keeps both sides' blob ids until resolved; `sync_state` the
    // commit the config last synced with.
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
    // 2: what makes a sync safe to interrupt and honest about the remote.
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
    // 3: versions a sync is about to write into the home, recorded before the writes: after a
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
    // 4: what this machine knows of encrypted blobs: the blob of an age ciphertext on a remote
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
    // 5: `pushed` by attempt: each push announces its versions under the commit it carries,
    // kept beside those of earlier attempts that were not recorded either. The next sync takes
    // as a file's base the version of this machine's newest push that the remote's history
    // holds, even when the remote has moved on since. `merge_input`: the version is the home's
    // file a merge started from (the commit holds the merge). `url`: the remote pushed to.
    // Rows from before carry no commit and no URL (attempt 0, commit '', url '').
    "CREATE TABLE pushed_by_attempt (
        config_id TEXT NOT NULL REFERENCES configs(id) ON DELETE CASCADE,
        attempt   INTEGER NOT NULL,
        commit_id TEXT NOT NULL,
        path      TEXT NOT NULL,
        kind      TEXT NOT NULL,
        blob      TEXT NOT NULL,
        mode      INTEGER NOT NULL,
        merge_input INTEGER NOT NULL DEFAULT 0,
        url       TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (config_id, attempt, path)
    ) WITHOUT ROWID;
    INSERT INTO pushed_by_attempt (config_id, attempt, commit_id, path, kind, blob, mode)
        SELECT config_id, 0, '', path, kind, blob, mode FROM pushed;
    DROP TABLE pushed;
    ALTER TABLE pushed_by_attempt RENAME TO pushed;",
    // 6: a `pulled` row may announce a removal (kind 'deleted', as in `pushed`); one that
    // announces this machine's merge names the commit its sync pushed it in
    // (`merge_commit`, '' for a version that came from the remote): the merge is the remote's
    // only while the remote's history holds that commit; one that announces a pull machine's
    // merge carries the base to take while the home holds it (`base_*`, the remote's version;
    // NULL: the version written is the base), as does a pushed merge (the remote's version it
    // merged with, and `merged_on`, the remote's tip the merge was made on). `held_*`: what
    // the home held when the change was planned ('deleted': absent) and the base it was
    // planned with (`held_base_*`, NULL: none), when a row of an earlier killed sync gave that
    // base; NULL when no row did.
    "ALTER TABLE pulled ADD COLUMN merge_commit TEXT NOT NULL DEFAULT '';
    ALTER TABLE pulled ADD COLUMN base_kind TEXT;
    ALTER TABLE pulled ADD COLUMN base_blob TEXT;
    ALTER TABLE pulled ADD COLUMN base_mode INTEGER;
    ALTER TABLE pulled ADD COLUMN held_kind TEXT;
    ALTER TABLE pulled ADD COLUMN held_blob TEXT;
    ALTER TABLE pulled ADD COLUMN held_mode INTEGER;
    ALTER TABLE pulled ADD COLUMN held_base_kind TEXT;
    ALTER TABLE pulled ADD COLUMN held_base_blob TEXT;
    ALTER TABLE pulled ADD COLUMN held_base_mode INTEGER;
    ALTER TABLE pulled ADD COLUMN merged_on TEXT NOT NULL DEFAULT '';",
    // 7: a push of a path marks its `pulled` row with the commit it carries instead of
    // deleting it: the row is older news only once that push is in the remote's history (a
    // push killed before it left, refused or failed leaves the row in force).
    "ALTER TABLE pulled ADD COLUMN pushed_over TEXT NOT NULL DEFAULT '';",
    // 8: `planned_on`, the remote's tip the sync that wrote the row planned against ('': a
    // row from before, or no tip), and `planned_url`, that remote: the row speaks only while
    // the remote's history holds that tip (a remote moved back past it lost what the row
    // says). `held_alt_*`: when the base the change was planned with was one of two the
    // content could not choose between, the other one ('deleted': no file; NULL: the base
    // was certain), so that the next sync asks the same question instead of taking either
    // for certain. `held_on`: the `planned_on` of
    // the row that gave the held base ('': this row's own), the commit that base depends on.
    // `written_from`: every write or removal a sync announced (the version, 'deleted' for a
    // removal, and what the home held before), under the remote's tip and URL it planned
    // against; unlike a `pulled` row, a later sync's row does not replace it. Until a record
    // clears it, a home that still holds such a write from a commit the remote lost is a
    // rewind; `pushed_over` as in `pulled`.
    "ALTER TABLE pulled ADD COLUMN planned_on TEXT NOT NULL DEFAULT '';
    ALTER TABLE pulled ADD COLUMN held_on TEXT NOT NULL DEFAULT '';
    ALTER TABLE pulled ADD COLUMN planned_url TEXT NOT NULL DEFAULT '';
    CREATE TABLE written_from (
        config_id   TEXT NOT NULL REFERENCES configs(id) ON DELETE CASCADE,
        path        TEXT NOT NULL,
        commit_id   TEXT NOT NULL,
        url         TEXT NOT NULL,
        kind        TEXT NOT NULL,
        blob        TEXT NOT NULL,
        mode        INTEGER NOT NULL,
        before_kind TEXT NOT NULL,
        before_blob TEXT NOT NULL,
        before_mode INTEGER NOT NULL,
        pushed_over TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (config_id, path, commit_id, kind, blob, mode)
    ) WITHOUT ROWID;
    ALTER TABLE pulled ADD COLUMN held_alt_kind TEXT;
    ALTER TABLE pulled ADD COLUMN held_alt_blob TEXT;
    ALTER TABLE pulled ADD COLUMN held_alt_mode INTEGER;",
    // 9: `restored_*`: the version the home held ('deleted': no file) when the person first
    // replaced the file with `dotsync restore` while this row stood (NULL: no restore since).
    // The row is read as if the home still held that version: what the person did since is
    // their own edit of it. A new row of the path clears it. `settled`: 1 for a row of a file
    // the sync settled without a write (what the home holds since descends from its version);
    // 0 for every other row, and for every row written before (a write row then had no
    // `held_*` either).
    "ALTER TABLE pulled ADD COLUMN restored_kind TEXT;
    ALTER TABLE pulled ADD COLUMN restored_blob TEXT;
    ALTER TABLE pulled ADD COLUMN restored_mode INTEGER;
    ALTER TABLE pulled ADD COLUMN settled INTEGER NOT NULL DEFAULT 0;",
];

#[cfg(test)]
mod tests;
