//! The `dotsync` command: the daemon (`dotsync daemon`) and the CLI, a client of its API.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::process::ExitCode;

use clap::Parser;

mod cli;
mod client;
mod commands;
mod daemon;
mod history_cmd;
mod machines_cmd;
mod render;
mod service;
mod status_cmd;
mod sync_cmd;
mod ui_cmd;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    match commands::run(args) {
        Ok(code) => code,
        Err(err) => {
            render::print_error(&err);
            ExitCode::FAILURE
        }
    }
}
