//! Secrets that should not be pushed in plaintext: private keys, auth tokens, cloud
//! credentials. A file of a config that neither encrypts it nor lets it through in plaintext
//! (`encrypt`, `plaintext` globs) is held when it looks like one, and the sync says how to
//! encrypt it — as chezmoi warns on `add`. The rules look for what is unmistakable, so that a
//! shell profile full of hashes or base64 is not held for nothing.

/// What in `bytes` looks like a secret, in words for the person; `None` when nothing does.
pub fn looks_secret(bytes: &[u8]) -> Option<&'static str> {
    let text = std::str::from_utf8(bytes).ok()?;
    for line in text.lines() {
        let l = line.trim();
        if l.starts_with("-----BEGIN") && l.contains("PRIVATE KEY") {
            return Some("a private key");
        }
        let lower = l.to_ascii_lowercase();
        if let Some(v) = value_after(&lower, "_authtoken")
            && real_value(v)
        {
            return Some("an npm auth token (`_authToken=`)");
        }
        for key in ["aws_secret_access_key", "aws_session_token"] {
            if let Some(v) = value_after(&lower, key)
                && real_value(v)
            {
                return Some("an AWS secret key");
            }
        }
        for word in l.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-')) {
            if let Some(what) = known_token(word) {
                return Some(what);
            }
        }
        if let Some((k, v)) = l.split_once(['=', ':'])
            && secret_name(&k.to_ascii_lowercase())
            && high_entropy(v.trim().trim_matches(['"', '\'', ' ', ',']))
        {
            return Some("a token or password (a long random value under a secret's name)");
        }
    }
    None
}

/// The value after `key` and an `=` or `:` on a line (lowercased), if the line sets it.
fn value_after<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let at = line.find(key)?;
    let rest = line[at + key.len()..].trim_start();
    let rest = rest.strip_prefix(['=', ':'])?;
    Some(rest.trim())
}

/// A value that is not empty, a placeholder or a reference to the environment.
fn real_value(v: &str) -> bool {
    let v = v.trim_matches(['"', '\'']);
    !(v.is_empty() || v.starts_with('$') || v.starts_with('<') || v.contains("${"))
}

/// Tokens whose form gives them away.
fn known_token(w: &str) -> Option<&'static str> {
    let alnum_tail = |prefix: &str, min: usize| {
        w.strip_prefix(prefix).is_some_and(|t| {
            t.len() >= min && t.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
    };
    if alnum_tail("ghp_", 30)
        || alnum_tail("gho_", 30)
        || alnum_tail("ghs_", 30)
        || alnum_tail("github_pat_", 30)
    {
        return Some("a GitHub token");
    }
    if alnum_tail("glpat-", 20) {
        return Some("a GitLab token");
    }
    if ["xoxb-", "xoxp-", "xoxa-", "xoxs-"]
        .iter()
        .any(|p| w.starts_with(p) && w.len() >= 20)
    {
        return Some("a Slack token");
    }
    if w.len() == 20
        && w.starts_with("AKIA")
        && w[4..]
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
    {
        return Some("an AWS access key id");
    }
    None
}

/// Whether a setting's name says it holds a secret.
fn secret_name(k: &str) -> bool {
    [
        "token",
        "secret",
        "password",
        "passwd",
        "api_key",
        "apikey",
        "private_key",
    ]
    .iter()
    .any(|n| k.contains(n))
}

/// A long value that looks random: at least 24 characters of letters, digits and a few
/// symbols, mixing cases and digits, with high Shannon entropy.
fn high_entropy(v: &str) -> bool {
    if v.len() < 24
        || v.contains(char::is_whitespace)
        || v.starts_with('$')
        || v.contains("${")
        || !v
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+/=_-.".contains(c))
    {
        return false;
    }
    let mixed = v.chars().any(|c| c.is_ascii_lowercase())
        && v.chars().any(|c| c.is_ascii_uppercase())
        && v.chars().any(|c| c.is_ascii_digit());
    let mut counts = std::collections::HashMap::new();
    for c in v.chars() {
        *counts.entry(c).or_insert(0usize) += 1;
    }
    #[allow(
        clippy::cast_precision_loss,
        reason = "an estimate over a short string: counts stay far below 2^52"
    )]
    let n = v.len() as f64;
    let entropy: f64 = counts
        .values()
        .map(|&c| {
            #[allow(
                clippy::cast_precision_loss,
                reason = "an estimate over a short string: counts stay far below 2^52"
            )]
            let p = c as f64 / n;
            -p * p.log2()
        })
        .sum();
    mixed && entropy > 4.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unmistakable_secrets_are_found() {
        for (text, what) in [
            (
                "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n",
                "private key",
            ),
            (
                "//registry.npmjs.org/:_authToken=npm_AbCdEf0123456789\n",
                "npm",
            ),
            (
                "[default]\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n",
                "AWS",
            ),
            (
                "export GITHUB_TOKEN=ghp_abcdefghijklmnopqrstuvwxyz0123456789\n",
                "GitHub",
            ),
            (
                "export OPENAI_API_KEY=\"sk-Zx8qT3BlbkFJaP9mQw2vR7yLkN4sUe6H\"\n",
                "token",
            ),
        ] {
            let found = looks_secret(text.as_bytes());
            assert!(
                found.is_some_and(|f| f.contains(what)),
                "{text:?}: {found:?}"
            );
        }
    }

    #[test]
    fn ordinary_dotfiles_are_not_held() {
        for text in [
            "export EDITOR=nvim\nalias ll='ls -l'\n",
            "//registry.npmjs.org/:_authToken=${NPM_TOKEN}\n",
            "[user]\n\temail = me@example.com\n\tsigningkey = 3AA5C34371567BD2\n",
            "commit = 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n",
            "password_store_dir = ~/.password-store\n",
            "theme: \"catppuccin-mocha\"\nfont_size: 12\n",
            "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA\n",
        ] {
            assert_eq!(looks_secret(text.as_bytes()), None, "{text:?}");
        }
    }
}
