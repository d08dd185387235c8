//! dotsync's state: where it lives on disk, who may use it, and the SQLite database.
//!
//! Layout under `$DOTSYNC_HOME` (default `~/.dotsync`, mode 0700):
//!
//! ```text
//! state/            0700  the backend's state
//!   dotsync.db      SQLite (WAL): configs (here), the engine's records (sync bases, stat
//!                   cache, conflicts ...), each owner's schema version
//!   token           0600  the API bearer token, created on first start
//!   lock                  held (flock) by the one process that owns the state: the daemon, or
//!                         a CLI command running without a daemon; holds "pid addr"
//!   repos/                the sync engine's bare repositories, one per remote
//! config            0600  the frontend's file (JSON): the app's settings, the desktop app's
//!                         keys; see [`frontend`]
//! .config.lock            serialises writers of `config`
//! ```

mod db;
pub mod frontend;
pub mod fs;
mod layout;
mod schema;

pub use db::{ConfigStoreError, Store, StoreError, now_unix};
pub use layout::{Layout, LayoutError, LockInfo, StateLock, home_dir, random_hex};
pub use schema::Schema;
