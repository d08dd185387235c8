//! The domain model of dotsync.
//!
//! This crate knows what a sync config is, which inputs are valid, how a path in the home maps to
//! a path in the repository, and how a file's three versions (base, local, remote) decide what a
//! sync does with it. It performs no network I/O, speaks no HTTP and prints nothing: the daemon
//! and the CLI put it to work.

pub mod config;
pub mod paths;
pub mod plan;
pub mod remote;

pub use config::{ConfigInput, Direction, OnConflict, SyncConfig, ValidationError};
pub use paths::{HomePath, PathError, RepoPath};
