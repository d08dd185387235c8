//! What git's failures mean for the person: each kind of remote trouble has its own way out.

use super::*;

/// A failed network command as the error the person can act on.
pub(crate) fn offline(url: &str, f: GitFailure) -> SyncError {
    let detail = if f.stderr.is_empty() {
        format!("git exited with {:?}", f.code)
    } else {
        f.stderr
    };
    SyncError::Remote {
        problem: classify(&detail),
        remote: url.to_owned(),
        detail,
    }
}

/// Which kind of trouble git's message describes. Anything not recognised counts as offline
/// (retried by itself), which is what a network hiccup looks like.
pub fn classify(stderr: &str) -> crate::RemoteProblem {
    use crate::RemoteProblem as P;
    let s = stderr.to_ascii_lowercase();
    let any = |needles: &[&str]| needles.iter().any(|n| s.contains(n));
    if any(&["no space left on device", "disk quota exceeded"]) {
        P::DiskFull
    } else if any(&[
        "permission denied (publickey",
        "permission denied, please try again",
        "authentication failed",
        "could not read username",
        "could not read password",
        "the requested url returned error: 401",
        "the requested url returned error: 403",
        "host key verification failed",
        "access denied",
        "access to this repository is denied",
    ]) {
        P::Auth
    } else if any(&[
        "does not appear to be a git repository",
        "repository not found",
        "not a git repository",
        "the requested url returned error: 404",
        "no such repository",
    ]) {
        P::NotFound
    } else if any(&[
        "cannot lock ref",
        "unable to create",
        "failed to lock",
        ".lock': file exists",
    ]) {
        P::Locked
    } else if any(&[
        "pre-receive hook declined",
        "protected branch",
        "[remote rejected]",
        "remote rejected",
    ]) {
        P::Rejected
    } else {
        P::Offline
    }
}
