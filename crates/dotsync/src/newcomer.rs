//! The newcomer's commands: `dotsync init`, `add`, `forget`, `pause`, `resume`, and the
//! generated `completions` and `man`.
//!
//! `init REMOTE` remembers the remote in `$DOTSYNC_HOME/init.json` ({name, remote, branch}) so
//! that `dotsync add` can create the default config on a machine whose remote is still empty.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::CommandFactory;
use dotsync_api::{CheckRequest, Comparison, RemoteCheck, RemoteKind, SyncConfig};

use crate::cli::{Cli, InitArgs};
use crate::client::Client;
use crate::commands::{input_of, new_input, seg};
use crate::quote;

/// What `init` remembers for `add` (`init.json`).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Defaults {
    name: String,
    remote: String,
    #[serde(default = "main_branch")]
    branch: String,
}

fn main_branch() -> String {
    "main".to_owned()
}

fn defaults_path() -> Result<PathBuf> {
    Ok(dotsync_state::Layout::from_env()?.root.join("init.json"))
}

fn load_defaults() -> Option<Defaults> {
    let bytes = std::fs::read(defaults_path().ok()?).ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn save_defaults(d: &Defaults) -> Result<()> {
    let path = defaults_path()?;
    let mut text = serde_json::to_vec_pretty(d)?;
    text.push(b'\n');
    // It may hold a URL with a token in it: private, and whole or not at all.
    dotsync_state::fs::write_atomic(&path, &text, 0o600)
        .with_context(|| format!("cannot write {}", path.display()))
}

/// `~/x` for a path in the home, else the path.
pub fn tilde(p: &Path) -> String {
    match dotsync_state::home_dir() {
        Ok(home) => match p.strip_prefix(&home) {
            Ok(rel) if rel.as_os_str().is_empty() => "~".to_owned(),
            Ok(rel) => format!("~/{}", rel.display()),
            Err(_) => p.display().to_string(),
        },
        Err(_) => p.display().to_string(),
    }
}

/// A config path as given (`~/x`, `/abs`, `x` relative to the current directory), absolute.
pub fn absolute(p: &str) -> Option<PathBuf> {
    let home = dotsync_state::home_dir().ok()?;
    if p == "~" {
        return Some(home);
    }
    if let Some(rest) = p.strip_prefix("~/") {
        return Some(home.join(rest));
    }
    let path = Path::new(p);
    if path.is_absolute() {
        Some(path.to_path_buf())
    } else {
        Some(std::env::current_dir().ok()?.join(path))
    }
}

/// A path the person typed, as a config path: `~/x` when it is in the home.
fn config_path(p: &str) -> String {
    match absolute(p) {
        Some(abs) if !p.starts_with('~') => tilde(&abs),
        _ => p.to_owned(),
    }
}

/// Warns about paths that do not exist yet: they are synced once they appear.
pub fn warn_missing(paths: &[String]) {
    for p in paths {
        if let Some(abs) = absolute(p)
            && std::fs::symlink_metadata(&abs).is_err()
        {
            eprintln!(
                "warning: {} does not exist yet; it will be synced when it appears",
                quote::name(&tilde(&abs))
            );
        }
    }
}

/// Asks a yes/no question on the terminal; `default` on an empty answer.
fn confirm(question: &str, default: bool) -> bool {
    eprint!("{question} [{}] ", if default { "Y/n" } else { "y/N" });
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    if std::io::stdin().lock().read_line(&mut answer).is_err() {
        return false;
    }
    match answer.trim().to_ascii_lowercase().as_str() {
        "" => default,
        a => a.starts_with('y'),
    }
}

/// The config paths that cover a remote's files: files at the top of the home as they are,
/// an application's folder under `~/.config` or `~/.local/share` whole, anything else file by
/// file (never a whole `~/.ssh`, which holds private keys).
pub fn suggested_paths(files: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for f in files {
        let rel = f.trim_start_matches("~/");
        let parts: Vec<&str> = rel.split('/').collect();
        let p = match parts.as_slice() {
            [".config", app, _, ..] => format!("~/.config/{app}"),
            [".local", "share", app, _, ..] => format!("~/.local/share/{app}"),
            _ => format!("~/{rel}"),
        };
        if !out.contains(&p) {
            out.push(p);
        }
    }
    out
}

/// What the remote check said, for a person; `Ok(check)` when the remote can be used.
fn check_remote(client: &Client, remote: &str, branch: &str) -> Result<RemoteCheck> {
    let req = CheckRequest {
        remote: remote.to_owned(),
        branch: Some(branch.to_owned()),
    };
    let check: RemoteCheck = client.post("/v1/remote/check", &req)?;
    if !check.ok {
        let msg = check
            .message
            .as_deref()
            .unwrap_or("the remote cannot be used");
        bail!("{msg}");
    }
    Ok(check)
}

fn describe_files(check: &RemoteCheck) {
    let files = &check.files;
    let count = |what: Comparison| files.iter().filter(|f| f.here == what).count();
    eprintln!(
        "the remote has {} files: {} the same here, {} that this machine lacks, {} that differ",
        files.len(),
        count(Comparison::Same),
        count(Comparison::OnlyRemote),
        count(Comparison::Differs)
    );
    let differing: Vec<_> = files
        .iter()
        .filter(|f| f.here == Comparison::Differs)
        .collect();
    if !differing.is_empty() {
        eprintln!(
            "these files of yours differ from the remote's, and they were never synced before; \
             the first sync keeps both versions as a conflict (nothing is lost), to settle with \
             `dotsync conflicts PATH` and `dotsync resolve`:"
        );
        for f in differing {
            eprintln!("  {}", quote::name(&f.path));
        }
    }
}

pub fn init(args: &InitArgs) -> Result<ExitCode> {
    // 1. git.
    match std::process::Command::new("git").arg("--version").output() {
        Ok(out) if out.status.success() => {
            eprintln!("ok: {}", String::from_utf8_lossy(&out.stdout).trim());
        }
        _ => bail!(
            "git is not installed (or not on PATH); install it (Debian or Ubuntu: `sudo apt \
             install git`; macOS: `xcode-select --install`) and run `dotsync init` again"
        ),
    }
    // 2. The state.
    let layout = dotsync_state::Layout::from_env()?;
    let existed = layout.state_dir().exists();
    let client = Client::connect()?;
    eprintln!(
        "ok: state in {} ({})",
        tilde(&layout.root),
        if existed { "already there" } else { "created" }
    );
    let daemon = client.addr();
    match &daemon {
        Some(addr) => eprintln!("ok: the daemon runs at http://{addr}"),
        None => eprintln!("note: the daemon is not running"),
    }
    // 3. The remote.
    let mut code = ExitCode::SUCCESS;
    if let Some(remote) = &args.remote {
        match check_remote(&client, remote, &args.branch) {
            Err(e) => {
                eprintln!("error: {}", quote::text(&e.to_string()));
                code = ExitCode::FAILURE;
            }
            Ok(check) => join(&client, args, remote, &check)?,
        }
    } else {
        eprintln!(
            "next: `dotsync init REMOTE` with the git repository your dotfiles go to (an empty \
             one: `git init --bare -b main ~/dotfiles.git`, or a new repository on your git host)"
        );
    }
    // 4. The daemon as a service.
    let running = daemon.is_some();
    drop(client);
    if args.service {
        return crate::service::run(crate::cli::ServiceCmd::Install);
    }
    if !running {
        eprintln!(
            "next: `dotsync service install` starts the daemon now and with every session (or \
             run `dotsync daemon` in a terminal); until it runs, `dotsync sync` syncs on request"
        );
    }
    Ok(code)
}

/// `init REMOTE` once the remote answered.
fn join(client: &Client, args: &InitArgs, remote: &str, check: &RemoteCheck) -> Result<()> {
    let shown_remote = quote::name(remote);
    let used_by = &check.configs;
    if !used_by.is_empty() {
        eprintln!(
            "ok: this machine already syncs {shown_remote} (config {}); `dotsync add PATH` adds \
             files to it",
            quote::name(&used_by.join(", "))
        );
        return Ok(());
    }
    save_defaults(&Defaults {
        name: args.name.clone(),
        remote: remote.to_owned(),
        branch: args.branch.clone(),
    })?;
    let files: Vec<String> = check.files.iter().map(|f| f.path.clone()).collect();
    if files.is_empty() {
        eprintln!(
            "ok: {shown_remote} is an empty repository: the first sync puts your files there"
        );
        eprintln!(
            "next: `dotsync add ~/.zshrc ~/.gitconfig ...` creates the config {} with them",
            quote::name(&args.name)
        );
        return Ok(());
    }
    let what = if check.kind == Some(RemoteKind::Dotsync) {
        "a dotsync repository (other machines sync with it)"
    } else {
        "a git repository with files no dotsync machine wrote; it is joined as is"
    };
    eprintln!("ok: {shown_remote} is {what}");
    describe_files(check);
    let paths = suggested_paths(&files);
    eprintln!(
        "the config {} would sync: {}",
        quote::name(&args.name),
        quote::name(&paths.join(" "))
    );
    let go = args.yes
        || (std::io::stdin().is_terminal()
            && std::io::stderr().is_terminal()
            && confirm("create it now?", true));
    if !go {
        eprintln!(
            "no config was created (the remote is remembered for `dotsync add`). `dotsync init {} --yes` creates it; `dotsync add PATH...` \
             creates it with the paths you choose",
            quote::name(remote)
        );
        return Ok(());
    }
    let body = new_input(&args.name, remote, &args.branch, paths);
    client.call("POST", "/v1/config", Some(&body))?;
    created_message(client, &args.name, true);
    Ok(())
}

/// What to say after a config was created or extended.
fn created_message(client: &Client, name: &str, auto: bool) {
    let name = quote::name(name);
    if client.addr().is_some() && auto {
        eprintln!(
            "ok: created config {name}; the daemon syncs it now (`dotsync status` shows how it went)"
        );
    } else {
        eprintln!("ok: created config {name}; `dotsync sync {name}` syncs it now");
    }
}

/// Which existing config `add` means; `None`: create the default one.
fn target_config(client: &Client, asked: Option<&str>) -> Result<Option<SyncConfig>> {
    if let Some(name) = asked {
        return Ok(Some(client.get(&format!("/v1/config/{}", seg(name)))?));
    }
    let all: Vec<SyncConfig> = client.get("/v1/config")?;
    let default_name = load_defaults().map_or_else(|| "dotfiles".to_owned(), |d| d.name);
    if let Some(c) = all.iter().find(|c| c.name == default_name) {
        return Ok(Some(c.clone()));
    }
    match all.len() {
        0 => Ok(None),
        1 => Ok(all.into_iter().next()),
        _ => bail!(
            "there are several configs and none is named {}; say which with --config NAME \
             (`dotsync config list` lists them)",
            quote::name(&default_name)
        ),
    }
}

pub fn add(paths: &[String], config: Option<&str>, dry_run: bool) -> Result<ExitCode> {
    let client = Client::connect()?;
    let paths: Vec<String> = paths.iter().map(|p| config_path(p)).collect();
    let Some(cfg) = target_config(&client, config)? else {
        let Some(d) = load_defaults() else {
            bail!(
                "no config yet, and no remote to create one with: run `dotsync init REMOTE` \
                 first (or `dotsync config add NAME --remote URL PATH...`)"
            );
        };
        let body = new_input(&d.name, &d.remote, &d.branch, paths.clone());
        if dry_run {
            let resp = client.call("POST", "/v1/preview", Some(&body))?;
            return crate::sync_cmd::show_stream(resp.body, false, Some(&d.name));
        }
        client.call("POST", "/v1/config", Some(&body))?;
        warn_missing(&paths);
        created_message(&client, &d.name, true);
        return Ok(ExitCode::SUCCESS);
    };
    let mut cfg = input_of(cfg);
    let name = cfg.name.clone();
    let mut added = Vec::new();
    for p in paths {
        if cfg.paths.contains(&p) {
            eprintln!(
                "{} is already in config {}",
                quote::name(&p),
                quote::name(&name)
            );
        } else {
            cfg.paths.push(p.clone());
            added.push(p);
        }
    }
    if added.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    if dry_run {
        let resp = client.call("POST", "/v1/preview", Some(&cfg))?;
        return crate::sync_cmd::show_stream(resp.body, false, Some(&name));
    }
    let id = cfg.id.clone().unwrap_or_else(|| name.clone());
    client.call("PUT", &format!("/v1/config/{}", seg(&id)), Some(&cfg))?;
    warn_missing(&added);
    let shown = quote::name(&name);
    if client.addr().is_some() && cfg.auto {
        eprintln!(
            "ok: added {} to config {shown}; the daemon syncs it now",
            quote::name(&added.join(" "))
        );
    } else {
        eprintln!(
            "ok: added {} to config {shown}; `dotsync sync {shown}` syncs it now",
            quote::name(&added.join(" "))
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn forget(paths: &[String], config: Option<&str>) -> Result<ExitCode> {
    let client = Client::connect()?;
    let all: Vec<SyncConfig> = match &config {
        Some(n) => vec![client.get(&format!("/v1/config/{}", seg(n)))?],
        None => client.get("/v1/config")?,
    };
    let same = |a: &str, b: &str| a == b || absolute(a).is_some_and(|x| absolute(b) == Some(x));
    // Config id -> (config, paths to drop).
    let mut changes: Vec<(SyncConfig, Vec<String>)> = Vec::new();
    for p in paths {
        let found = all.iter().find(|c| c.paths.iter().any(|q| same(q, p)));
        let Some(c) = found else {
            bail!(
                "no config lists {} as a path; `dotsync which {}` tells which config syncs a \
                 file, `dotsync config show NAME` lists a config's paths",
                quote::name(p),
                quote::name(p)
            );
        };
        match changes.iter_mut().find(|(k, _)| k.id == c.id) {
            Some((_, v)) => v.push(p.clone()),
            None => changes.push((c.clone(), vec![p.clone()])),
        }
    }
    for (c, drop) in changes {
        let mut c = input_of(c);
        let name = c.name.clone();
        let kept: Vec<String> = c
            .paths
            .iter()
            .filter(|q| !drop.iter().any(|d| same(q, d)))
            .cloned()
            .collect();
        if kept.is_empty() {
            bail!(
                "{} is all config {} syncs; `dotsync config rm {}` removes the config (your \
                 files and the remote's history stay)",
                quote::name(&drop.join(" ")),
                quote::name(&name),
                quote::name(&name)
            );
        }
        c.paths = kept;
        let id = c.id.clone().unwrap_or_else(|| name.clone());
        client.call("PUT", &format!("/v1/config/{}", seg(&id)), Some(&c))?;
        eprintln!(
            "ok: config {} no longer syncs {}; the files stay as they are here, on the remote \
             and on your other machines",
            quote::name(&name),
            quote::name(&drop.join(" "))
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn pause(name: Option<&str>, resume: bool) -> Result<ExitCode> {
    let client = Client::connect()?;
    let verb = if resume { "resume" } else { "pause" };
    let path = match &name {
        Some(n) => format!("/v1/config/{}/{verb}", seg(n)),
        None => format!("/v1/{verb}"),
    };
    client.call("POST", &path, None::<&()>)?;
    let what = match &name {
        Some(n) => format!("config {}", quote::name(n)),
        None => "every config".to_owned(),
    };
    if resume {
        eprintln!("ok: {what} syncs by itself again (what changed meanwhile syncs now)");
    } else {
        eprintln!(
            "ok: {what} paused: the daemon does not sync it by itself until `dotsync resume{}`; \
             your edits are kept, and `dotsync sync` still syncs on request",
            name.map(|n| format!(" {}", quote::name(n)))
                .unwrap_or_default()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `dotsync completions SHELL`: the script, written through `out` (`clap_complete`'s own writer
/// panics when the reader went away: `dotsync completions bash | head`).
pub fn completions(shell: clap_complete::Shell) -> std::io::Result<()> {
    let mut cmd = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, "dotsync", &mut script);
    crate::out::write_bytes(&script)
}

/// `dotsync man`: the page `dotsync(1)` on stdout; with `dir`, it and one page per command
/// (`dotsync-init.1`, ...) written there, as packages install them.
pub fn man(dir: Option<&Path>) -> Result<()> {
    let mut cmd = Cli::command();
    cmd.build();
    let Some(dir) = dir else {
        clap_mangen::Man::new(cmd).render(&mut std::io::stdout().lock())?;
        return Ok(());
    };
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let write = |name: &str, c: clap::Command| -> Result<()> {
        let path = dir.join(format!("{name}.1"));
        let mut f = std::fs::File::create(&path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        clap_mangen::Man::new(c).render(&mut f)?;
        Ok(())
    };
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("dotsync-{}", sub.get_name());
        write(
            &name,
            sub.clone().name(name.clone()).display_name(name.clone()),
        )?;
    }
    write("dotsync", cmd)?;
    eprintln!("ok: manual pages written to {}", dir.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggested_paths_take_app_folders_whole_and_everything_else_file_by_file() {
        let files: Vec<String> = [
            "~/.zshrc",
            "~/.config/nvim/init.lua",
            "~/.config/nvim/lua/x.lua",
            "~/.config/starship.toml",
            "~/.ssh/config",
            "~/.local/share/fonts/a.ttf",
        ]
        .map(str::to_owned)
        .to_vec();
        assert_eq!(
            suggested_paths(&files),
            [
                "~/.zshrc",
                "~/.config/nvim",
                "~/.config/starship.toml",
                "~/.ssh/config",
                "~/.local/share/fonts"
            ]
        );
    }
}
