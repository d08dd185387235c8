//! How long the coordinator waits: for a file to settle, between full scans, before a retry.

use std::time::Duration;

/// How long a file must have stopped changing before a sync the daemon starts by itself pushes
/// it (`DOTSYNC_SETTLE_MS`, default 1000): a save that pauses half way is not a version.
pub fn settle() -> Duration {
    std::env::var("DOTSYNC_SETTLE_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .map_or(Duration::from_secs(1), Duration::from_millis)
}

/// How often an `auto` config is looked at whole even when the watcher saw nothing
/// (`DOTSYNC_FULL_SCAN_S`, default 600).
pub fn full_scan_every() -> Duration {
    std::env::var("DOTSYNC_FULL_SCAN_S")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .map_or(Duration::from_secs(600), Duration::from_secs)
}

/// The delay before retry number `failures` (1-based) of a config checked every `interval_s`:
/// doubling from the interval (at most 30 s) up to the interval or 5 minutes, whichever is
/// longer.
/// When to try again after a failure: soon and backing off for a remote that cannot be
/// reached (it comes back by itself), slowly for everything that needs the person (a missing
/// repository, a refused key, a rewound branch): at most every five minutes, or the interval.
pub fn retry_delay(interval_s: u64, failures: u32, transient: bool) -> Duration {
    if transient {
        backoff(interval_s, failures)
    } else {
        Duration::from_secs(interval_s.max(300))
    }
}

pub fn backoff(interval_s: u64, failures: u32) -> Duration {
    let base = interval_s.clamp(1, 30);
    let cap = interval_s.max(300);
    let exp = failures.saturating_sub(1).min(20);
    Duration::from_secs(base.saturating_mul(1u64 << exp).min(cap))
}
