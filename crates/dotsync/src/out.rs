//! stdout: data only. Every write returns its error, so a reader that went away (`| head`)
//! ends the command quietly through [`crate::error::Kind::BrokenPipe`] instead of a panic.
//! SIGPIPE stays ignored (Rust's default): the in-process API writes to git's pipes, and a git
//! that exits early must be an error the engine reports, not the death of the CLI.

use std::io::Write;

/// Writes a formatted line to stdout.
macro_rules! outln {
    () => { $crate::out::write_str("\n") };
    ($($arg:tt)*) => { $crate::out::write_fmt(format_args!("{}\n", format_args!($($arg)*))) };
}
pub(crate) use outln;

pub fn write_fmt(args: std::fmt::Arguments<'_>) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_fmt(args)?;
    out.flush()
}

pub fn write_str(s: &str) -> std::io::Result<()> {
    write_bytes(s.as_bytes())
}

pub fn write_bytes(b: &[u8]) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(b)?;
    out.flush()
}
