use std::process::ExitCode;

use anyhow::Result;
use dotsync_api::{CheckRequest, ConfigInput, Created, RemoteCheck, SyncConfig};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Value, json};

use crate::cli::{Cli, Command, ConfigCmd, FieldArgs};
use crate::client::Client;
use crate::error::CommandError;
use crate::out::outln;
use crate::{quote, render};

pub fn run(cli: Cli) -> Result<ExitCode, CommandError> {
    match cli.command {
        Command::Daemon(args) => crate::daemon::run(&args)?,
        Command::Init(args) => return Ok(crate::newcomer::init(&args)?),
        Command::Add {
            paths,
            config,
            dry_run,
        } => return Ok(crate::newcomer::add(&paths, config.as_deref(), dry_run)?),
        Command::Forget { paths, config } => {
            return Ok(crate::newcomer::forget(&paths, config.as_deref())?);
        }
        Command::Pause { name } => return Ok(crate::newcomer::pause(name.as_deref(), false)?),
        Command::Key(cmd) => return Ok(crate::key_cmd::run(cmd)?),
        Command::Resume { name } => return Ok(crate::newcomer::pause(name.as_deref(), true)?),
        Command::Completions { shell } => crate::newcomer::completions(shell)?,
        Command::Man { dir } => crate::newcomer::man(dir.as_deref())?,
        Command::Config(cmd) => return Ok(config(cmd)?),
        Command::Which { path, json } => return Ok(which(&path, json)?),
        Command::Conflicts {
            path,
            config,
            side,
            json,
        } => crate::history_cmd::conflicts(config.as_deref(), path.as_deref(), side, json)?,
        Command::Resolve {
            path,
            keep,
            file,
            config,
        } => crate::history_cmd::resolve(config.as_deref(), &path, keep, file.as_deref())?,
        Command::Log { path, config, json } => {
            crate::history_cmd::log(config.as_deref(), &path, json)?;
        }
        Command::Restore { path, rev, config } => {
            crate::history_cmd::restore(config.as_deref(), &path, &rev)?;
        }
        Command::Files { config, json } => crate::history_cmd::files(config.as_deref(), json)?,
        Command::Sync(args) => return Ok(crate::sync_cmd::run(&args)?),
        Command::Status { json } => crate::status_cmd::run(json)?,
        Command::Machines { json } => crate::machines_cmd::run(json)?,
        Command::Service(cmd) => return Ok(crate::service::run(cmd)?),
        Command::Ui { print } => crate::ui_cmd::run(print)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// Percent-encodes one URL path segment.
pub fn seg(s: &str) -> String {
    utf8_percent_encode(s, NON_ALPHANUMERIC).to_string()
}

/// A stored config as the body that replaces it (`PUT /v1/config/{id}`).
pub fn input_of(c: SyncConfig) -> ConfigInput {
    ConfigInput::from(c)
}

/// A new config's body, with the defaults the server would give.
pub fn new_input(name: &str, remote: &str, branch: &str, paths: Vec<String>) -> ConfigInput {
    let mut body = ConfigInput::new(name, remote, paths);
    branch.clone_into(&mut body.branch);
    body
}

fn apply_fields(body: &mut ConfigInput, f: FieldArgs, clear_ignore: bool) {
    if clear_ignore {
        body.ignore.clear();
    }
    body.ignore.extend(f.ignore);
    if let Some(b) = f.branch {
        body.branch = b;
    }
    if let Some(d) = f.direction {
        body.direction = d;
    }
    if let Some(c) = f.on_conflict {
        body.on_conflict = c;
    }
    if let Some(a) = f.auto {
        body.auto = a;
    }
    if let Some(i) = f.interval_s {
        body.interval_s = i;
    }
    if let Some(n) = f.notify {
        body.notify = n;
    }
    if let Some(s) = f.structured_merge {
        body.structured_merge = s;
    }
    for (globs, add) in [
        (&mut body.encrypt, f.encrypt),
        (&mut body.per_machine, f.per_machine),
        (&mut body.plaintext, f.plaintext),
    ] {
        for g in add {
            if !globs.contains(&g) {
                globs.push(g);
            }
        }
    }
    if let Some(m) = f.machines {
        body.machines = m
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_owned)
            .collect();
    }
    for m in f.merge_formats {
        // No `=`: an empty format, which the server refuses naming the field.
        let (glob, format) = m.rsplit_once('=').unwrap_or((m.as_str(), ""));
        body.merge_formats
            .insert(glob.to_owned(), format.to_owned());
    }
}

fn config(cmd: ConfigCmd) -> Result<ExitCode> {
    let client = Client::connect()?;
    match cmd {
        ConfigCmd::Add {
            name,
            remote,
            paths,
            dry_run,
            no_check,
            fields,
        } => {
            let mut body = new_input(&name, &remote, "main", paths.clone());
            apply_fields(&mut body, fields, false);
            if dry_run {
                let resp = client.call("POST", "/v1/preview", Some(&body))?;
                return crate::sync_cmd::show_stream(resp.body, false, Some(&name));
            }
            let created: Created = client.post("/v1/config", &body)?;
            crate::newcomer::warn_missing(&paths);
            let shown = quote::name(&name);
            let id = quote::name(&created.id).into_owned();
            if client.addr().is_some() && body.auto {
                eprintln!(
                    "created config {shown} ({id}); the daemon syncs it now (`dotsync status` \
                     shows how it went)"
                );
            } else {
                eprintln!("created config {shown} ({id}); `dotsync sync {shown}` syncs it now");
            }
            if !no_check {
                report_remote(&client, &remote, &body.branch);
            }
        }
        ConfigCmd::List { json } => {
            if json {
                render::print_json(&client.get_json("/v1/config")?)?;
                return Ok(ExitCode::SUCCESS);
            }
            let all: Vec<SyncConfig> = client.get("/v1/config")?;
            let rows: Vec<Vec<String>> = all
                .iter()
                .map(|c| {
                    vec![
                        quote::name(&c.name).into_owned(),
                        quote::name(&c.id).into_owned(),
                        quote::name(&c.remote).into_owned(),
                        if c.auto { "auto" } else { "manual" }.to_owned(),
                        c.paths
                            .iter()
                            .map(|p| quote::name(p))
                            .collect::<Vec<_>>()
                            .join(" "),
                    ]
                })
                .collect();
            if rows.is_empty() {
                eprintln!(
                    "no configs yet; create one with `dotsync config add NAME --remote URL PATH...`"
                );
            } else {
                render::table(&["NAME", "ID", "REMOTE", "MODE", "PATHS"], &rows)?;
            }
        }
        ConfigCmd::Show { name, json } => {
            let path = format!("/v1/config/{}", seg(&name));
            if json {
                render::print_json(&client.get_json(&path)?)?;
            } else {
                render::config_detail(&client.get(&path)?)?;
            }
        }
        ConfigCmd::Edit {
            name,
            new_name,
            remote,
            set_paths,
            add_path,
            rm_path,
            clear_ignore,
            fields,
        } => {
            let mut body = input_of(client.get(&format!("/v1/config/{}", seg(&name)))?);
            if let Some(n) = new_name {
                body.name = n;
            }
            if let Some(r) = remote {
                body.remote = r;
            }
            if !set_paths.is_empty() {
                body.paths = set_paths;
            }
            for p in &rm_path {
                let before = body.paths.len();
                body.paths.retain(|q| q != p);
                if body.paths.len() == before {
                    let name = quote::name(&name);
                    return Err(CommandError::user(format!(
                        "config {name} has no path {}",
                        quote::name(p)
                    ))
                    .hint(format!("`dotsync config show {name}` lists them"))
                    .into());
                }
            }
            body.paths.extend(add_path);
            apply_fields(&mut body, fields, clear_ignore);
            client.call("PUT", &format!("/v1/config/{}", seg(&name)), Some(&body))?;
            eprintln!("updated config {}", quote::name(&body.name));
        }
        ConfigCmd::Rm { name } => {
            client.call("DELETE", &format!("/v1/config/{}", seg(&name)), None::<&()>)?;
            eprintln!(
                "removed config {}; your files and the remote's history are untouched",
                quote::name(&name)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Checks a new config's remote at once and says what is wrong with it, if anything. The
/// config is kept either way: a remote that is down now may be up at the next sync.
fn report_remote(client: &Client, remote: &str, branch: &str) {
    let req = CheckRequest {
        remote: remote.to_owned(),
        branch: Some(branch.to_owned()),
    };
    let check: RemoteCheck = match client.post("/v1/remote/check", &req) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("warning: could not check the remote: {e}");
            return;
        }
    };
    if !check.ok {
        eprintln!(
            "warning: {}",
            check
                .message
                .as_deref()
                .unwrap_or("the remote cannot be used")
        );
        return;
    }
    let differ = check
        .files
        .iter()
        .filter(|f| f.here == dotsync_api::Comparison::Differs)
        .count();
    if differ > 0 {
        eprintln!(
            "note: {differ} of this machine's files differ from the remote's and were never \
             synced before; the first sync keeps both versions as a conflict (`dotsync conflicts`)"
        );
    }
}

/// `dotsync which PATH`: the names (and ids) of the configs that sync it; exits non-zero when
/// none does, so scripts can ask `dotsync which F >/dev/null`.
fn which(path: &str, json: bool) -> Result<ExitCode> {
    let client = Client::connect()?;
    let ids: Vec<String> = client.get(&format!("/v1/file/{}", seg(path)))?;
    let all: Vec<SyncConfig> = client.get("/v1/config")?;
    let configs: Vec<&SyncConfig> = all.iter().filter(|c| ids.contains(&c.id)).collect();
    if json {
        let out: Vec<Value> = configs
            .iter()
            .map(|c| json!({"id": c.id, "name": c.name}))
            .collect();
        render::print_json(&Value::Array(out))?;
    } else {
        for c in &configs {
            outln!("{}\t{}", quote::name(&c.name), quote::name(&c.id))?;
        }
    }
    if configs.is_empty() {
        eprintln!(
            "no config syncs {}; `dotsync add {}` syncs it",
            quote::name(path),
            quote::name(path)
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
