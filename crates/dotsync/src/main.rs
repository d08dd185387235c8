//! The `dotsync` command: the daemon (`dotsync daemon`) and the CLI, a client of its API.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::process::ExitCode;

use clap::Parser;

mod cli;
mod client;
mod commands;
mod daemon;
mod history_cmd;
mod key_cmd;
mod machines_cmd;
mod newcomer;
mod quote;
mod render;
mod service;
mod status_cmd;
mod sync_cmd;
mod ui_cmd;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    if !matches!(args.command, cli::Command::Daemon(_)) {
        // A CLI whose reader went away (`dotsync log F --json | head -1`) ends quietly, as `ls`
        // does, instead of panicking on the next print. The daemon keeps ignoring SIGPIPE: a
        // client that disconnects must never end it.
        restore_sigpipe();
    }
    match commands::run(args) {
        Ok(code) => code,
        Err(err) => {
            render::print_error(&err);
            ExitCode::FAILURE
        }
    }
}

#[allow(unsafe_code)]
fn restore_sigpipe() {
    // SAFETY: resetting a signal's disposition to its default has no preconditions; this runs
    // before any other thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
