//! The `dotsync` command: the daemon (`dotsync daemon`) and the CLI, a client of its API.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::process::ExitCode;

use clap::Parser;

mod cli;
mod client;
mod commands;
mod daemon;
mod error;
mod history_cmd;
mod key_cmd;
mod machines_cmd;
mod newcomer;
mod out;
mod quote;
mod render;
mod service;
mod status_cmd;
mod sync_cmd;
mod ui_cmd;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    match commands::run(args) {
        Ok(code) => code,
        // A reader that went away (`dotsync log F --json | head -1`) ends the command quietly,
        // as `ls` does; every write to stdout reports it (through `out`, or a streamed command's
        // own locked stdout).
        Err(err) if err.kind == error::Kind::BrokenPipe => err.kind.exit_code(),
        Err(err) => {
            render::print_error(&err);
            err.kind.exit_code()
        }
    }
}
