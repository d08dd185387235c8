//! dotsync's integration tests: one binary, real daemons, real HTTP, real git, temporary homes.
//!
//! Every test builds its machines with [`util::Machine`]: a private `HOME` and `DOTSYNC_HOME`
//! under a temporary directory, a daemon on a free loopback port. Nothing touches the real home
//! or port 11000.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

mod api;
mod cli;
mod daemon;
mod durability;
mod merge;
mod newcomer;
mod notify;
mod secrets;
mod snapshots;
mod soak;
mod sync;
mod ui;
mod util;
