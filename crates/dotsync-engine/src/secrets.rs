//! Secrets that should not be pushed in plaintext: private keys, auth tokens, cloud
//! credentials. A file of a config that neither encrypts it nor lets it through in plaintext
//! (`encrypt`, `plaintext` globs) is held when it looks like one, and the sync says how to
//! encrypt it — as chezmoi warns on `add`. The rules look for what is unmistakable, so that a
//! shell profile full of hashes or base64 is not held for nothing.

/// What in `bytes` looks like a secret, in words for the person; `None` when nothing does.
///
/// Every file of a first push goes through here, so the rules are matched without allocating:
/// names are found case-insensitively in place (the `reference` rules in the tests lowercase
/// each line first; a randomized test keeps the two equal).
pub fn looks_secret(bytes: &[u8]) -> Option<&'static str> {
    let text = std::str::from_utf8(bytes).ok()?;
    for line in text.lines() {
        let l = line.trim();
        if l.starts_with("-----BEGIN") && l.contains("PRIVATE KEY") {
            return Some("a private key");
        }
        // A setting needs a `=` or `:`; most lines of most files have one, but comments,
        // blank lines and shell commands often do not.
        let sets = l.bytes().any(|b| b == b'=' || b == b':');
        if sets {
            if let Some(v) = value_after(l, "_authtoken")
                && real_value(v)
            {
                return Some("an npm auth token (`_authToken=`)");
            }
            for key in ["aws_secret_access_key", "aws_session_token"] {
                if let Some(v) = value_after(l, key)
                    && real_value(v)
                {
                    return Some("an AWS secret key");
                }
            }
        }
        if let Some(what) = words(l).find_map(known_token) {
            return Some(what);
        }
        if sets
            && let Some((k, v)) = l.split_once(['=', ':'])
            && secret_name(k)
            && high_entropy(v.trim().trim_matches(['"', '\'', ' ', ',']))
        {
            return Some("a token or password (a long random value under a secret's name)");
        }
    }
    None
}

/// Where `needle` (lowercase ASCII) first occurs in `hay`, ignoring ASCII case: the byte
/// offset `hay.to_ascii_lowercase().find(needle)` gives, without the lowercased copy.
///
/// A needle holding a `_` is looked for only where the line has one, at that offset: every
/// occurrence has it there, `_` has no case, and `memchr` finds the few in a line at once.
fn find_ascii_ci(hay: &str, needle: &str) -> Option<usize> {
    let (h, n) = (hay.as_bytes(), needle.as_bytes());
    let at = |s: usize| {
        h.get(s..s + n.len())
            .is_some_and(|w| w.eq_ignore_ascii_case(n))
    };
    match n.iter().position(|&b| b == b'_') {
        Some(d) => memchr::memchr_iter(b'_', h)
            .filter_map(|u| u.checked_sub(d))
            .find(|&s| at(s)),
        None => (0..h.len()).find(|&s| at(s)),
    }
}

/// The value after `key` (lowercase) and an `=` or `:` on a line, if the line sets it; the
/// key is matched ignoring case.
fn value_after<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    // An ASCII match ends on a character boundary: UTF-8 continuation bytes are never ASCII.
    let at = find_ascii_ci(line, key)?;
    let rest = line[at + key.len()..].trim_start();
    let rest = rest.strip_prefix(['=', ':'])?;
    Some(rest.trim())
}

/// A value that is not empty, a placeholder or a reference to the environment.
fn real_value(v: &str) -> bool {
    let v = v.trim_matches(['"', '\'']);
    !(v.is_empty() || v.starts_with('$') || v.starts_with('<') || v.contains("${"))
}

/// The words of a line that are long enough to be a token (every form `known_token` knows is
/// at least 20 characters): runs of ASCII letters, digits, `_` and `-`. Any other character,
/// non-ASCII ones included, separates words, so the line is split on bytes.
fn words(l: &str) -> impl Iterator<Item = &str> {
    let word_byte = |b: &u8| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'-';
    let bytes = l.as_bytes();
    let mut at = 0;
    std::iter::from_fn(move || {
        while at < bytes.len() {
            let start = at + bytes[at..].iter().position(word_byte)?;
            let len = bytes[start..].iter().take_while(|b| word_byte(b)).count();
            at = start + len;
            if len >= 20 {
                // A run of ASCII bytes starts and ends on character boundaries.
                return l.get(start..at);
            }
        }
        None
    })
}

/// Tokens whose form gives them away.
fn known_token(w: &str) -> Option<&'static str> {
    // Every form below starts with one of these; most words of a dotfile do not.
    if !matches!(w.as_bytes().first(), Some(b'g' | b'x' | b'A')) {
        return None;
    }
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

/// Whether a setting's name says it holds a secret (ignoring case).
fn secret_name(k: &str) -> bool {
    const NAMES: [&[u8]; 7] = [
        b"token",
        b"secret",
        b"password",
        b"passwd",
        b"api_key",
        b"apikey",
        b"private_key",
    ];
    // One pass over the name, comparing only where a name's first letter stands.
    let k = k.as_bytes();
    (0..k.len()).any(|i| {
        let c = k[i].to_ascii_lowercase();
        matches!(c, b't' | b's' | b'p' | b'a')
            && NAMES.iter().any(|n| {
                n[0] == c
                    && k.get(i..i + n.len())
                        .is_some_and(|w| w.eq_ignore_ascii_case(n))
            })
    })
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

    /// The rules as first written, lowercasing each line: what `looks_secret` must keep
    /// answering, however it gets there.
    fn reference(bytes: &[u8]) -> Option<&'static str> {
        fn value_after<'a>(line: &'a str, key: &str) -> Option<&'a str> {
            let at = line.find(key)?;
            let rest = line[at + key.len()..].trim_start();
            let rest = rest.strip_prefix(['=', ':'])?;
            Some(rest.trim())
        }
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
                let w = word;
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
            }
            if let Some((k, v)) = l.split_once(['=', ':'])
                && {
                    let k = k.to_ascii_lowercase();
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
                && high_entropy(v.trim().trim_matches(['"', '\'', ' ', ',']))
            {
                return Some("a token or password (a long random value under a secret's name)");
            }
        }
        None
    }

    /// Random files built from the pieces the rules look at (names in any case, separators,
    /// placeholders, tokens, non-ASCII text) give the same answer as the reference rules.
    #[test]
    fn the_rules_answer_as_the_reference_does() {
        const PIECES: &[&str] = &[
            "_authToken",
            "_AUTHTOKEN",
            "_authtoke",
            "aws_secret_access_key",
            "AWS_Session_Token",
            "aws_session_toke",
            "token",
            "Secret",
            "PASSWORD",
            "passwd",
            "Api_Key",
            "apikey",
            "private_key",
            "=",
            ":",
            " = ",
            ": ",
            " ",
            "\t",
            "\"",
            "'",
            ",",
            "$HOME",
            "${NPM_TOKEN}",
            "<your key>",
            "export ",
            "# ",
            "-----BEGIN",
            " RSA PRIVATE KEY-----",
            "ghp_",
            "gho_",
            "github_pat_",
            "glpat-",
            "xoxb-",
            "AKIA",
            "abcdefghijklmnopqrstuvwxyz0123456789",
            "ABCDEFGHIJKLMNOP",
            "Zx8qT3BlbkFJaP9mQw2vR7yLkN4sUe6H",
            "0123456789",
            "é",
            "ß",
            "İ",
            "K",
            "ǅ",
            "日本",
            "\u{feff}",
            "-",
            "_",
            ".",
            "/",
            "+",
            "x",
            "AKIAIOSFODNN7EXAMPLE",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        ];
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            usize::try_from(state % n as u64).expect("below n")
        };
        let mut found = 0;
        for case in 0..20_000 {
            let mut text = String::new();
            for _ in 0..=next(4) {
                for _ in 0..next(9) {
                    text.push_str(PIECES[next(PIECES.len())]);
                }
                text.push(if next(5) == 0 { '\r' } else { '\n' });
            }
            let want = reference(text.as_bytes());
            assert_eq!(looks_secret(text.as_bytes()), want, "case {case}: {text:?}");
            found += usize::from(want.is_some());
        }
        // The pieces make both answers common, so the comparison covers both.
        assert!(
            (2_000..18_000).contains(&found),
            "{found} of 20000 looked secret"
        );
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
