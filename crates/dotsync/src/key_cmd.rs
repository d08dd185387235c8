//! `dotsync key`: this machine's encryption key for the files configs `encrypt`.

use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use dotsync_api::{ExportInput, Exported, ImportInput, Imported, KeyState, TrustInput};

use crate::cli::KeyCmd;
use crate::client::Client;
use crate::out::outln;
use crate::quote;

pub fn run(cmd: KeyCmd) -> Result<ExitCode> {
    let client = Client::connect()?;
    match cmd {
        KeyCmd::Init => {
            let v: KeyState = client.post_empty("/v1/key/init")?;
            let public = v.public_keys.first().map_or("", String::as_str);
            outln!("{public}")?;
            eprintln!(
                "ok: this machine has a key now; the next sync of a config with `encrypt` globs \
                 adds its public key to the repository. On your other machines, run `dotsync \
                 key export` here and `dotsync key import` there to read what is encrypted"
            );
        }
        KeyCmd::Show { json } => {
            if json {
                outln!("{}", client.get_json("/v1/key")?)?;
            } else {
                let v: KeyState = client.get("/v1/key")?;
                if v.public_keys.is_empty() {
                    eprintln!(
                        "this machine has no key: `dotsync key init` creates one, `dotsync key \
                         import` adds one exported from another machine"
                    );
                    return Ok(ExitCode::FAILURE);
                }
                for k in &v.public_keys {
                    outln!("{}", quote::line(k))?;
                }
                for k in &v.trusted {
                    outln!("{} (trusted)", quote::line(k))?;
                }
            }
        }
        KeyCmd::Trust { public_key } => {
            let _: KeyState = client.post(
                "/v1/key/trust",
                &TrustInput {
                    public_key: public_key.clone(),
                },
            )?;
            eprintln!(
                "ok: what this machine encrypts from now on is encrypted to {} too",
                quote::line(public_key.trim())
            );
        }
        KeyCmd::Export {
            passphrase_file,
            output,
        } => {
            let passphrase = passphrase(passphrase_file.as_deref(), true)?;
            let v: Exported = client.post("/v1/key/export", &ExportInput { passphrase })?;
            let armored = v.armored;
            match output {
                Some(path) => {
                    std::fs::write(&path, armored).with_context(|| format!("writing {path}"))?;
                    eprintln!("ok: the key, encrypted with your passphrase, is in {path}");
                }
                None => crate::out::write_str(&armored)?,
            }
        }
        KeyCmd::Import {
            file,
            passphrase_file,
        } => {
            let armored = if file == "-" {
                std::io::read_to_string(std::io::stdin()).context("reading standard input")?
            } else {
                std::fs::read_to_string(&file).with_context(|| format!("reading {file}"))?
            };
            let passphrase = passphrase(passphrase_file.as_deref(), false)?;
            let v: Imported = client.post(
                "/v1/key/import",
                &ImportInput {
                    armored,
                    passphrase,
                },
            )?;
            if v.added.is_empty() {
                eprintln!("ok: this machine had that key already");
            } else {
                eprintln!(
                    "ok: key imported; the next sync writes the encrypted files this machine \
                     could not read"
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The passphrase: the first line of `file`, or asked on the terminal (twice for a new one).
fn passphrase(file: Option<&str>, confirm: bool) -> Result<String> {
    if let Some(f) = file {
        let text = std::fs::read_to_string(f).with_context(|| format!("reading {f}"))?;
        let line = text.lines().next().unwrap_or("").to_owned();
        if line.is_empty() {
            bail!("{f} holds no passphrase on its first line");
        }
        return Ok(line);
    }
    let p = rpassword::prompt_password("passphrase: ")
        .context("cannot ask for a passphrase (no terminal?); use --passphrase-file")?;
    if p.is_empty() {
        bail!("an empty passphrase protects nothing");
    }
    if confirm {
        let again = rpassword::prompt_password("again: ")?;
        if again != p {
            bail!("the two passphrases differ");
        }
    }
    Ok(p)
}
