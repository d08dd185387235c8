//! Prints the daemon's OpenAPI document, as `GET /v1/openapi.json` serves it, without a daemon:
//! `cargo run -q -p dotsync-daemon --example openapi > openapi.json` (`ui/scripts/gen-types.sh`
//! generates the web app's types from it).

#[allow(clippy::print_stdout)]
fn main() -> Result<(), serde_json::Error> {
    println!(
        "{}",
        serde_json::to_string_pretty(&dotsync_daemon::openapi_document())?
    );
    Ok(())
}
