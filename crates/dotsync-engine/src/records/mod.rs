//! The engine's tables in the state database: created by its own migrations (`schema.rs`),
//! read and written only here, one file per group of tables. Nothing outside the engine runs
//! SQL on them; the rest of dotsync asks the engine, which answers with types.

mod conflicts;
mod failures;
mod outcome;
pub mod schema;
mod sealed;
mod stat;
mod summary;
mod sync_state;
mod tokens;
mod versions;

use dotsync_core::plan::{Kind, Version};
use dotsync_state::{Store, StoreError};

pub use conflicts::{ConflictRecord, load_conflicts};
pub use failures::load_failures;
pub use outcome::{Outcome, record};
pub use sealed::{plain_of, put_sealed};
pub use stat::{cached_stat, load_stat_cache};
pub use summary::summaries;
pub use sync_state::{
    content_rules, forget_commit, last_commit, set_content_rules, set_synced_url, synced,
    synced_url,
};
pub use tokens::{add_apply_token, apply_tokens, clear_apply_tokens, remove_apply_token};
pub use versions::{
    Held, Pulled, PushAttempt, WrittenFrom, count_bases, has_base, load_bases, load_preserve,
    load_pulled, load_pushed, load_written_from, mark_restored, put_pulled, put_pushed,
    put_written_from,
};

fn kind_str(k: Kind) -> &'static str {
    match k {
        Kind::File => "file",
        Kind::Symlink => "symlink",
    }
}

fn parse_kind(s: &str) -> Kind {
    if s == "symlink" {
        Kind::Symlink
    } else {
        Kind::File
    }
}

/// Runs a statement prepared once per connection: the record of a sync runs the same few
/// statements for every file, and `execute` would parse the SQL each time.
fn exec<P: rusqlite::Params>(
    conn: &rusqlite::Connection,
    sql: &str,
    params: P,
) -> rusqlite::Result<usize> {
    conn.prepare_cached(sql)?.execute(params)
}

fn sql(store: &Store) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
    move |source| StoreError::Sqlite {
        path: store.path().to_path_buf(),
        source,
    }
}

pub fn encode_version(v: &Version) -> String {
    format!("{}:{:o}:{}", kind_str(v.kind), v.mode, v.blob)
}

pub fn decode_version(s: &str) -> Option<Version> {
    let mut parts = s.splitn(3, ':');
    let kind = parse_kind(parts.next()?);
    let mode = u32::from_str_radix(parts.next()?, 8).ok()?;
    let blob = parts.next()?.to_owned();
    Some(Version { kind, blob, mode })
}
