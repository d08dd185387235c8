//! Which git remotes are acceptable.
//!
//! Git reads some "URLs" as commands to run (`ext::sh -c ...`, `fd::`, any `<helper>::<address>`
//! transport), and an argument starting with `-` as an option. dotsync accepts only the plain
//! forms: a scheme URL (`file`, `ssh`, `git`, `http`, `https`), scp-like `user@host:path`, and a
//! path to a repository on this machine.

use std::path::{Path, PathBuf};

/// Why a remote was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RemoteError {
    #[error("the remote is empty; give a git URL such as git@github.com:me/dotfiles.git or a path")]
    Empty,
    #[error("{0:?} starts with '-', which git would read as an option")]
    OptionLike(String),
    #[error(
        "{0:?} uses a git transport helper (\"<transport>::<address>\") that can run commands; \
         use an ssh://, https://, file:// URL or a path"
    )]
    TransportHelper(String),
    #[error(
        "{0:?} uses the unsupported scheme {1:?}; use ssh://, https://, http://, git://, file:// or a path"
    )]
    Scheme(String, String),
    #[error("{0:?} contains a control character or whitespace at an end")]
    BadChars(String),
    #[error("{0:?} is neither a URL, a user@host:path address nor a path")]
    Unrecognised(String),
}

const SCHEMES: [&str; 6] = ["file", "ssh", "git", "http", "https", "git+ssh"];

/// Checks that git will treat `remote` as a place to fetch from, never as a command or option.
pub fn validate_remote(remote: &str) -> Result<(), RemoteError> {
    if remote.is_empty() {
        return Err(RemoteError::Empty);
    }
    if remote.chars().any(char::is_control) || remote.trim() != remote {
        return Err(RemoteError::BadChars(remote.to_owned()));
    }
    if remote.starts_with('-') {
        return Err(RemoteError::OptionLike(remote.to_owned()));
    }
    if remote.contains("::") {
        return Err(RemoteError::TransportHelper(remote.to_owned()));
    }
    if let Some((scheme, rest)) = remote.split_once("://") {
        let scheme_lc = scheme.to_ascii_lowercase();
        if !SCHEMES.contains(&scheme_lc.as_str()) {
            return Err(RemoteError::Scheme(remote.to_owned(), scheme.to_owned()));
        }
        if rest.is_empty() || rest.starts_with('-') {
            return Err(RemoteError::Unrecognised(remote.to_owned()));
        }
        return Ok(());
    }
    if remote.starts_with('/') || remote.starts_with("~/") || remote.starts_with("./") {
        return Ok(());
    }
    // scp-like syntax: [user@]host:path, where the host has no '/' before the colon.
    if let Some((host, path)) = remote.split_once(':')
        && !host.is_empty()
        && !host.contains('/')
        && !path.is_empty()
    {
        let host_part = host.rsplit('@').next().unwrap_or(host);
        if host_part.starts_with('-') || host_part.is_empty() {
            return Err(RemoteError::OptionLike(remote.to_owned()));
        }
        return Ok(());
    }
    Err(RemoteError::Unrecognised(remote.to_owned()))
}

/// The remote as git should be given it: `~/x` expanded against `home`, everything else as is.
pub fn expand_remote(remote: &str, home: &Path) -> String {
    match remote.strip_prefix("~/") {
        Some(rest) => home.join(rest).display().to_string(),
        None => remote.to_owned(),
    }
}

/// Whether two remotes name the same repository (after expanding `~` and dropping a `file://`
/// prefix and trailing slashes). Used to keep configs of one repository apart.
pub fn same_remote(a: &str, b: &str, home: &Path) -> bool {
    fn norm(r: &str, home: &Path) -> String {
        let e = expand_remote(r, home);
        let e = e.strip_prefix("file://").map(str::to_owned).unwrap_or(e);
        let p = PathBuf::from(e.trim_end_matches('/'));
        p.to_string_lossy().trim_end_matches(".git").to_owned()
    }
    norm(a, home) == norm(b, home)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_remotes_are_accepted() {
        for ok in [
            "/srv/git/dots.git",
            "~/dots.git",
            "file:///srv/git/dots.git",
            "ssh://me@host:2222/dots.git",
            "git@github.com:me/dotfiles.git",
            "https://example.com/me/dots.git",
            "git://127.0.0.1:9418/dots.git",
        ] {
            assert_eq!(validate_remote(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn command_running_remotes_are_refused() {
        assert!(matches!(
            validate_remote("ext::sh -c touch% /tmp/pwned"),
            Err(RemoteError::TransportHelper(_))
        ));
        assert!(matches!(
            validate_remote("fd::3"),
            Err(RemoteError::TransportHelper(_))
        ));
        assert!(matches!(
            validate_remote("--upload-pack=touch /tmp/x"),
            Err(RemoteError::OptionLike(_))
        ));
        assert!(matches!(
            validate_remote("-oProxyCommand=x:y"),
            Err(RemoteError::OptionLike(_))
        ));
        assert!(matches!(
            validate_remote("ftp://x/y"),
            Err(RemoteError::Scheme(..))
        ));
        assert!(matches!(
            validate_remote("ssh://-oProxyCommand=x/y"),
            Err(RemoteError::Unrecognised(_))
        ));
        assert!(matches!(
            validate_remote("dots"),
            Err(RemoteError::Unrecognised(_))
        ));
        assert!(validate_remote("").is_err());
        assert!(validate_remote("/a\nb").is_err());
    }

    #[test]
    fn same_remote_ignores_spelling() {
        let home = Path::new("/home/me");
        assert!(same_remote("~/dots.git", "/home/me/dots", home));
        assert!(same_remote("file:///srv/d.git/", "/srv/d.git", home));
        assert!(!same_remote("/srv/a.git", "/srv/b.git", home));
    }
}
