//! Between a file's bytes in the home and its bytes in the repository: the one layer that
//! encrypts a config's `encrypt` files with age before they enter a commit, and decrypts them
//! when they come back.
//!
//! The engine plans in the plaintext domain: a [`Version`](dotsync_core::plan::Version) of an
//! encrypted file names the blob of its *plaintext*, which lives only in the engine's own
//! repository (loose objects no commit reaches, so no push ever carries them). The ciphertext
//! blob a remote tree holds is mapped to that plaintext blob once, by decrypting it, and the
//! mapping is kept in the `sealed` table (never in the repository: it would tell which secrets
//! are equal). A file is encrypted again only when its plaintext changed, so an unchanged
//! secret never gets a new ciphertext.
//!
//! Keys: each machine has X25519 identities in `state/key.txt` (0600); the repository lists
//! the public keys every machine encrypts to in `.dotsync/recipients.txt`.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::path::Path;
use std::str::FromStr;

use age::secrecy::{ExposeSecret, SecretString};
use age::x25519;

/// The repository file listing the public keys files are encrypted to, one per line with the
/// machine's name as a comment.
pub const RECIPIENTS_PATH: &str = ".dotsync/recipients.txt";
/// This machine's identities, in the state directory.
pub const KEY_FILE: &str = "key.txt";
/// How every age file starts.
const AGE_MAGIC: &[u8] = b"age-encryption.org/v1\n";
/// What a file that needs a key says.
pub const NEEDS_KEY: &str = "needs a key: this file is encrypted and no key of this machine opens it; run `dotsync key import` with a key exported from a machine that has it (`dotsync key export`)";
/// What a local file to encrypt says when no key exists anywhere yet.
pub const NEEDS_KEY_TO_ENCRYPT: &str = "needs a key: this file is encrypted on the remote, and this machine has no key yet; run `dotsync key init` (or `dotsync key import`), then sync again";

/// Key trouble, for the person.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{path}: {source}")]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(String),
    #[error(
        "this machine already has a key ({0}); `dotsync key export` copies it to another machine"
    )]
    Exists(String),
    #[error("the passphrase does not open this export, or it is not a dotsync key export")]
    WrongPassphrase,
    #[error(
        "this machine has no key yet: `dotsync key init` creates one, `dotsync key import` adds one"
    )]
    NoKey,
}

/// The content rules of a config as one string, empty when it has none: what its last full
/// sync applied is recorded, and a change (a glob added, a key imported) makes the next sync a
/// full one.
pub fn rules_of(cfg: &dotsync_core::SyncConfig, public_keys: &[String]) -> String {
    if cfg.encrypt.is_empty() && cfg.per_machine.is_empty() {
        return String::new();
    }
    format!(
        "encrypt={:?} keys={public_keys:?} per_machine={:?}",
        cfg.encrypt, cfg.per_machine
    )
}

/// Whether `bytes` are an age file.
pub fn is_sealed(bytes: &[u8]) -> bool {
    bytes.starts_with(AGE_MAGIC)
}

/// The identities in `path` (none when it does not exist).
pub fn load_identities(path: &Path) -> Result<Vec<x25519::Identity>, KeyError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(KeyError::Io {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    parse_identities(&text)
}

fn parse_identities(text: &str) -> Result<Vec<x25519::Identity>, KeyError> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            x25519::Identity::from_str(l).map_err(|e| {
                KeyError::Invalid(format!("a key that is not an age X25519 identity: {e}"))
            })
        })
        .collect()
}

fn identities_text(ids: &[x25519::Identity]) -> String {
    let mut out = String::from("# dotsync: this machine's age identities; keep this file secret\n");
    for id in ids {
        let _ = writeln!(out, "# public key: {}", id.to_public());
        out.push_str(id.to_string().expose_secret());
        out.push('\n');
    }
    out
}

fn save_identities(path: &Path, ids: &[x25519::Identity]) -> Result<(), KeyError> {
    dotsync_state::fs::write_atomic(path, identities_text(ids).as_bytes(), 0o600).map_err(
        |source| KeyError::Io {
            path: path.to_path_buf(),
            source,
        },
    )
}

/// Creates this machine's identity in `path`; refused when one exists. Returns its public key.
pub fn init(path: &Path) -> Result<String, KeyError> {
    let ids = load_identities(path)?;
    if let Some(first) = ids.first() {
        return Err(KeyError::Exists(first.to_public().to_string()));
    }
    let id = x25519::Identity::generate();
    let public = id.to_public().to_string();
    save_identities(path, &[id])?;
    Ok(public)
}

/// This machine's identities, encrypted with `passphrase` (age's scrypt), ASCII-armored.
pub fn export(path: &Path, passphrase: &str) -> Result<String, KeyError> {
    let ids = load_identities(path)?;
    if ids.is_empty() {
        return Err(KeyError::NoKey);
    }
    if passphrase.is_empty() {
        return Err(KeyError::Invalid(
            "an empty passphrase protects nothing".into(),
        ));
    }
    let text = identities_text(&ids);
    let enc = age::Encryptor::with_user_passphrase(SecretString::from(passphrase.to_owned()));
    let mut out = Vec::new();
    let invalid = |e: std::io::Error| KeyError::Invalid(e.to_string());
    let armor = age::armor::ArmoredWriter::wrap_output(&mut out, age::armor::Format::AsciiArmor)
        .map_err(invalid)?;
    let mut w = enc.wrap_output(armor).map_err(invalid)?;
    w.write_all(text.as_bytes()).map_err(invalid)?;
    w.finish()
        .and_then(age::armor::ArmoredWriter::finish)
        .map_err(invalid)?;
    String::from_utf8(out).map_err(|e| KeyError::Invalid(e.to_string()))
}

/// Adds the identities of an export to `path`. Returns the public keys added (none when this
/// machine had them all already).
pub fn import(path: &Path, armored: &str, passphrase: &str) -> Result<Vec<String>, KeyError> {
    let reader = age::armor::ArmoredReader::new(armored.as_bytes());
    let dec = age::Decryptor::new(reader).map_err(|_| KeyError::WrongPassphrase)?;
    let id = age::scrypt::Identity::new(SecretString::from(passphrase.to_owned()));
    let mut text = String::new();
    dec.decrypt(std::iter::once(&id as &dyn age::Identity))
        .map_err(|_| KeyError::WrongPassphrase)?
        .read_to_string(&mut text)
        .map_err(|_| KeyError::WrongPassphrase)?;
    let new = parse_identities(&text)?;
    let mut ids = load_identities(path)?;
    let mut added = Vec::new();
    for n in new {
        let public = n.to_public().to_string();
        if !ids.iter().any(|i| i.to_public().to_string() == public) {
            added.push(public);
            ids.push(n);
        }
    }
    if !added.is_empty() {
        save_identities(path, &ids)?;
    }
    Ok(added)
}

/// The public keys a recipients file lists (lines `age1... # name`; others ignored).
pub fn parse_recipients(text: &str) -> Vec<x25519::Recipient> {
    text.lines()
        .filter_map(|l| l.split('#').next())
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .filter_map(|l| x25519::Recipient::from_str(l).ok())
        .collect()
}

/// What encrypts and decrypts one sync's files: this machine's identities and the recipients
/// to encrypt to (the repository's list and this machine's own keys).
pub struct Sealer {
    identities: Vec<x25519::Identity>,
    recipients: Vec<x25519::Recipient>,
}

/// The file of public keys this machine agreed to encrypt to (`state/trusted-keys.txt`).
pub const TRUSTED_FILE: &str = "trusted-keys.txt";

/// The public keys this machine trusts (one per line; missing file: none).
pub fn load_trusted(path: &Path) -> Result<Vec<String>, KeyError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(text
            .lines()
            .filter_map(|l| l.split('#').next())
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(source) => Err(KeyError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Adds `public` (an age X25519 public key) to the trusted keys; whether it was new.
pub fn trust(path: &Path, public: &str) -> Result<bool, KeyError> {
    let public = public.trim();
    x25519::Recipient::from_str(public).map_err(|e| {
        KeyError::Invalid(format!(
            "{public:?} is not an age X25519 public key (age1...): {e}"
        ))
    })?;
    let mut keys = load_trusted(path)?;
    if keys.iter().any(|k| k == public) {
        return Ok(false);
    }
    keys.push(public.to_owned());
    let mut text =
        String::from("# dotsync: other machines' public keys this machine encrypts to\n");
    for k in &keys {
        text.push_str(k);
        text.push('\n');
    }
    dotsync_state::fs::write_atomic(path, text.as_bytes(), 0o600).map_err(|source| {
        KeyError::Io {
            path: path.to_path_buf(),
            source,
        }
    })?;
    Ok(true)
}

impl Sealer {
    /// Encrypts to this machine's own keys and to the keys `listed` in the repository that
    /// this machine `trusted`: anyone who can push could add a key to the list, and a key no
    /// one here agreed to must never be able to read what is encrypted next.
    pub fn new(identities: Vec<x25519::Identity>, listed: &str, trusted: &[String]) -> Self {
        let mut recipients: Vec<x25519::Recipient> = parse_recipients(listed)
            .into_iter()
            .filter(|r| trusted.contains(&r.to_string()))
            .collect();
        for id in &identities {
            let public = id.to_public();
            if !recipients
                .iter()
                .any(|r| r.to_string() == public.to_string())
            {
                recipients.push(public);
            }
        }
        Self {
            identities,
            recipients,
        }
    }

    /// The keys `listed` in the repository that this sealer does not encrypt to (neither this
    /// machine's nor trusted), with the name each line gives.
    pub fn untrusted(&self, listed: &str) -> Vec<String> {
        listed
            .lines()
            .filter_map(|l| {
                let key = l.split('#').next()?.trim();
                let r = x25519::Recipient::from_str(key).ok()?;
                (!self
                    .recipients
                    .iter()
                    .any(|m| m.to_string() == r.to_string()))
                .then(|| {
                    let name = l.split_once('#').map_or("", |(_, n)| n.trim());
                    if name.is_empty() {
                        key.to_owned()
                    } else {
                        format!("{key} ({name})")
                    }
                })
            })
            .collect()
    }

    /// Whether this machine has a key (it can then encrypt and, for files encrypted to it,
    /// decrypt).
    pub fn has_key(&self) -> bool {
        !self.identities.is_empty()
    }

    /// The recipients file with this machine's public keys added, when some are missing from
    /// `listed`.
    pub fn recipients_with_ours(&self, listed: &str, machine: &str) -> Option<String> {
        let have: Vec<String> = parse_recipients(listed)
            .iter()
            .map(ToString::to_string)
            .collect();
        let mut out = listed.to_owned();
        let mut changed = false;
        for id in &self.identities {
            let public = id.to_public().to_string();
            if !have.contains(&public) {
                if out.is_empty() {
                    out.push_str(
                        "# dotsync: the age public keys encrypted files are encrypted to, one per machine\n",
                    );
                } else if !out.ends_with('\n') {
                    out.push('\n');
                }
                let name: String = machine.chars().filter(|c| !c.is_control()).collect();
                let _ = writeln!(out, "{public} # {name}");
                changed = true;
            }
        }
        changed.then_some(out)
    }

    /// Encrypts `plain` to every recipient. `None` without a key: a machine that could not read
    /// the result back never writes one.
    pub fn seal(&self, plain: &[u8]) -> Option<Vec<u8>> {
        if !self.has_key() {
            return None;
        }
        let enc = age::Encryptor::with_recipients(
            self.recipients.iter().map(|r| r as &dyn age::Recipient),
        )
        .ok()?;
        let mut out = Vec::with_capacity(plain.len() + 256);
        let mut w = enc.wrap_output(&mut out).ok()?;
        w.write_all(plain).ok()?;
        w.finish().ok()?;
        Some(out)
    }

    /// Decrypts an age file; `None` when no identity of this machine opens it.
    pub fn open(&self, sealed: &[u8]) -> Option<Vec<u8>> {
        if !self.has_key() {
            return None;
        }
        let dec = age::Decryptor::new(sealed).ok()?;
        let mut out = Vec::new();
        dec.decrypt(self.identities.iter().map(|i| i as &dyn age::Identity))
            .ok()?
            .read_to_end(&mut out)
            .ok()?;
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_bytes_open_with_the_key_only_and_differ_each_time() {
        let a = x25519::Identity::generate();
        let b = x25519::Identity::generate();
        let listed = format!("{} # b\n", b.to_public());
        // A key listed in the repository but not trusted here is not encrypted to.
        let untrusting = Sealer::new(vec![a.clone()], &listed, &[]);
        assert_eq!(
            untrusting.untrusted(&listed),
            vec![format!("{} (b)", b.to_public())]
        );
        let only_a = untrusting.seal(b"x").expect("sealed");
        assert!(
            Sealer::new(vec![b.clone()], "", &[])
                .open(&only_a)
                .is_none()
        );
        let sa = Sealer::new(vec![a], &listed, &[b.to_public().to_string()]);
        assert!(sa.untrusted(&listed).is_empty());
        let one = sa.seal(b"token=s3cret\n").expect("sealed");
        let two = sa.seal(b"token=s3cret\n").expect("sealed");
        assert!(is_sealed(&one));
        assert_ne!(one, two, "age is randomized");
        assert!(!one.windows(6).any(|w| w == b"s3cret"));
        assert_eq!(sa.open(&one).as_deref(), Some(&b"token=s3cret\n"[..]));
        // b is a recipient too.
        let sb = Sealer::new(vec![b], "", &[]);
        assert_eq!(sb.open(&two).as_deref(), Some(&b"token=s3cret\n"[..]));
        // No key: nothing opens, nothing seals.
        let none = Sealer::new(Vec::new(), &listed, &[]);
        assert!(none.open(&one).is_none());
        assert!(none.seal(b"x").is_none());
    }

    #[test]
    fn keys_export_and_import_with_a_passphrase() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let a = dir.path().join("a.txt");
        let b = dir.path().join("b.txt");
        let public = init(&a).expect("init");
        assert!(matches!(init(&a), Err(KeyError::Exists(_))));
        let exported = export(&a, "correct horse").expect("export");
        assert!(exported.starts_with("-----BEGIN AGE ENCRYPTED FILE-----"));
        assert!(matches!(
            import(&b, &exported, "wrong"),
            Err(KeyError::WrongPassphrase)
        ));
        assert_eq!(
            import(&b, &exported, "correct horse").expect("import"),
            vec![public]
        );
        assert!(
            import(&b, &exported, "correct horse")
                .expect("again")
                .is_empty()
        );
        let mode = std::fs::metadata(&b)
            .expect("key file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn recipients_gain_this_machines_key_once() {
        let a = x25519::Identity::generate();
        let public = a.to_public().to_string();
        let s = Sealer::new(vec![a], "", &[]);
        let listed = s.recipients_with_ours("", "laptop").expect("added");
        assert!(listed.contains(&format!("{public} # laptop")));
        assert!(s.recipients_with_ours(&listed, "laptop").is_none());
    }
}
