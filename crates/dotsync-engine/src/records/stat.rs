//! The stat cache (`stat_cache`): what a scan saw of each file, so an unchanged file is not read.

use dotsync_core::plan::Version;
use dotsync_state::{Store, StoreError};
use rusqlite::{OptionalExtension, params};

use super::{parse_kind, sql};
use crate::scan::{Cached, StatCache, StatKey};

pub fn load_stat_cache(store: &Store, config_id: &str) -> Result<StatCache, StoreError> {
    let rows: Vec<(String, Cached)> = store.with_conn(|conn| {
        let mut stmt = conn
            .prepare_cached(
                "SELECT path, size, mtime_ns, ctime_ns, ino, mode, kind, blob FROM stat_cache WHERE config_id = ?1",
            )
            .map_err(sql(store))?;
        let rows = stmt
            .query_map(params![config_id], |r| {
                Ok((r.get::<_, String>(0)?, cached_from(r, 1)?))
            })
            .map_err(sql(store))?;
        rows.collect::<Result<_, _>>().map_err(sql(store))
    })?;
    // Sized once: growing the map row by row hashed every key again at each doubling.
    let mut cache = StatCache::with_capacity_and_hasher(rows.len(), rustc_hash::FxBuildHasher);
    cache.extend(rows);
    Ok(cache)
}

/// A stat-cache row's columns `size, mtime_ns, ctime_ns, ino, mode, kind, blob`, from column
/// `at` on.
fn cached_from(r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<Cached> {
    let mode: u32 = r.get(at + 4)?;
    Ok(Cached {
        stat: StatKey {
            size: r.get(at)?,
            mtime_ns: r.get(at + 1)?,
            ctime_ns: r.get(at + 2)?,
            // Stored bit for bit as SQLite's signed 64-bit integer (inode numbers above
            // i64::MAX exist on some file systems).
            ino: r.get::<_, i64>(at + 3)?.cast_unsigned(),
            mode,
        },
        version: Version {
            // Read in place: one String less per row of a 10,000-row load.
            kind: parse_kind(r.get_ref(at + 5)?.as_str().unwrap_or_default()),
            blob: r.get(at + 6)?,
            mode: mode & 0o777,
        },
    })
}

pub fn cached_stat(store: &Store, config_id: &str, path: &str) -> Option<Cached> {
    store.with_conn(|conn| {
        conn.query_row(
            "SELECT size, mtime_ns, ctime_ns, ino, mode, kind, blob FROM stat_cache WHERE config_id = ?1 AND path = ?2",
            params![config_id, path],
            |r| cached_from(r, 0),
        )
        .optional()
        .ok()
        .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::{Outcome, record};
    use dotsync_core::plan::Kind;

    #[test]
    fn stat_rows_keep_inode_numbers_above_i64_max_and_extreme_dates() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("d.db")).expect("open");
        store
            .migrate(&crate::records::schema::SCHEMA)
            .expect("engine tables");
        let home = dir.path();
        let input: dotsync_core::ConfigInput = serde_json::from_value(serde_json::json!({
            "name": "dots", "paths": ["~/.zshrc"], "remote": "/srv/dots.git"
        }))
        .expect("parses");
        let cfg = input
            .validate("cfg_00000000000000aa".into(), home)
            .expect("valid");
        store.create_config(&cfg, home).expect("create");
        let stat = StatKey {
            size: 3,
            mtime_ns: i64::MAX,
            ctime_ns: i64::MIN,
            ino: u64::MAX - 1,
            mode: 0o100600,
        };
        let v = Version {
            kind: Kind::File,
            blob: "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391".into(),
            mode: 0o600,
        };
        let outcome = Outcome {
            stats: vec![(".zshrc".into(), Some((stat, v.clone())))],
            ..Outcome::default()
        };
        record(&store, &cfg.id, &outcome).expect("record");
        let back = cached_stat(&store, &cfg.id, ".zshrc").expect("row");
        assert_eq!(back.stat, stat);
        assert_eq!(back.version, v);
    }
}
