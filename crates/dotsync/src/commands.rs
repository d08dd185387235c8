use std::process::ExitCode;

use anyhow::Result;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Value, json};

use crate::cli::{Cli, Command, ConfigCmd, FieldArgs};
use crate::client::Client;
use crate::{quote, render};

pub fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Daemon(args) => crate::daemon::run(args)?,
        Command::Init(args) => return crate::newcomer::init(args),
        Command::Add {
            paths,
            config,
            dry_run,
        } => return crate::newcomer::add(paths, config, dry_run),
        Command::Forget { paths, config } => return crate::newcomer::forget(paths, config),
        Command::Pause { name } => return crate::newcomer::pause(name, false),
        Command::Key(cmd) => return crate::key_cmd::run(cmd),
        Command::Resume { name } => return crate::newcomer::pause(name, true),
        Command::Completions { shell } => crate::newcomer::completions(shell),
        Command::Man { dir } => crate::newcomer::man(dir.as_deref())?,
        Command::Config(cmd) => return config(cmd),
        Command::Which { path, json } => return which(&path, json),
        Command::Conflicts {
            path,
            config,
            side,
            json,
        } => crate::history_cmd::conflicts(
            config.as_deref(),
            path.as_deref(),
            side.as_deref(),
            json,
        )?,
        Command::Resolve {
            path,
            keep,
            file,
            config,
        } => {
            crate::history_cmd::resolve(config.as_deref(), &path, keep.as_deref(), file.as_deref())?
        }
        Command::Log { path, config, json } => {
            crate::history_cmd::log(config.as_deref(), &path, json)?
        }
        Command::Restore { path, rev, config } => {
            crate::history_cmd::restore(config.as_deref(), &path, &rev)?
        }
        Command::Files { config, json } => crate::history_cmd::files(config.as_deref(), json)?,
        Command::Sync(args) => return crate::sync_cmd::run(args),
        Command::Status { json } => crate::status_cmd::run(json)?,
        Command::Machines { json } => crate::machines_cmd::run(json)?,
        Command::Service(cmd) => return crate::service::run(cmd),
        Command::Ui { print } => crate::ui_cmd::run(print)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// Percent-encodes one URL path segment.
pub fn seg(s: &str) -> String {
    utf8_percent_encode(s, NON_ALPHANUMERIC).to_string()
}

fn apply_fields(body: &mut Value, f: FieldArgs, clear_ignore: bool) {
    if clear_ignore {
        body["ignore"] = json!([]);
    }
    if !f.ignore.is_empty() {
        let mut ig: Vec<Value> = body["ignore"].as_array().cloned().unwrap_or_default();
        ig.extend(f.ignore.into_iter().map(Value::from));
        body["ignore"] = Value::Array(ig);
    }
    if let Some(b) = f.branch {
        body["branch"] = json!(b);
    }
    if let Some(d) = f.direction {
        body["direction"] = json!(d.as_str());
    }
    if let Some(c) = f.on_conflict {
        body["on_conflict"] = json!(c.as_str());
    }
    if let Some(a) = f.auto {
        body["auto"] = json!(a);
    }
    if let Some(i) = f.interval_s {
        body["interval_s"] = json!(i);
    }
    if let Some(n) = f.notify {
        body["notify"] = json!(n);
    }
    if let Some(s) = f.structured_merge {
        body["structured_merge"] = json!(s);
    }
    for (field, add) in [
        ("encrypt", f.encrypt),
        ("per_machine", f.per_machine),
        ("plaintext", f.plaintext),
    ] {
        if add.is_empty() {
            continue;
        }
        let mut globs: Vec<Value> = body[field].as_array().cloned().unwrap_or_default();
        for g in add {
            if !globs.iter().any(|x| x.as_str() == Some(g.as_str())) {
                globs.push(Value::from(g));
            }
        }
        body[field] = Value::Array(globs);
    }
    if let Some(m) = f.machines {
        let names: Vec<&str> = m
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .collect();
        body["machines"] = json!(names);
    }
    if !f.merge_formats.is_empty() {
        let mut map = body["merge_formats"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        for m in f.merge_formats {
            // No `=`: an empty format, which the server refuses naming the field.
            let (glob, format) = m.rsplit_once('=').unwrap_or((m.as_str(), ""));
            map.insert(glob.to_owned(), json!(format));
        }
        body["merge_formats"] = Value::Object(map);
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
            let mut body = json!({"name": name, "remote": remote, "paths": paths});
            apply_fields(&mut body, fields, false);
            if dry_run {
                let resp = client.call("POST", "/v1/preview", Some(&body))?;
                return crate::sync_cmd::show_stream(resp.body, false, Some(&name));
            }
            let created = client.call("POST", "/v1/config", Some(&body))?.json()?;
            crate::newcomer::warn_missing(&paths);
            let shown = quote::name(&name);
            let id = quote::name(created["id"].as_str().unwrap_or("?")).into_owned();
            let auto = body["auto"] != false;
            if client.addr().is_some() && auto {
                eprintln!(
                    "created config {shown} ({id}); the daemon syncs it now (`dotsync status` \
                     shows how it went)"
                );
            } else {
                eprintln!("created config {shown} ({id}); `dotsync sync {shown}` syncs it now");
            }
            if !no_check {
                let branch = body["branch"].as_str().unwrap_or("main").to_owned();
                report_remote(&client, &remote, &branch);
            }
        }
        ConfigCmd::List { json } => {
            let all = client.get("/v1/config")?;
            if json {
                render::print_json(&all);
            } else {
                let rows: Vec<Vec<String>> = all
                    .as_array()
                    .map(|a| a.as_slice())
                    .unwrap_or_default()
                    .iter()
                    .map(|c| {
                        let name = |k: &str| quote::name(c[k].as_str().unwrap_or("")).into_owned();
                        vec![
                            name("name"),
                            name("id"),
                            name("remote"),
                            if c["auto"].as_bool().unwrap_or(false) {
                                "auto"
                            } else {
                                "manual"
                            }
                            .to_owned(),
                            c["paths"]
                                .as_array()
                                .map(|p| {
                                    p.iter()
                                        .filter_map(Value::as_str)
                                        .map(quote::name)
                                        .collect::<Vec<_>>()
                                        .join(" ")
                                })
                                .unwrap_or_default(),
                        ]
                    })
                    .collect();
                if rows.is_empty() {
                    eprintln!(
                        "no configs yet; create one with `dotsync config add NAME --remote URL PATH...`"
                    );
                } else {
                    render::table(&["NAME", "ID", "REMOTE", "MODE", "PATHS"], &rows);
                }
            }
        }
        ConfigCmd::Show { name, json } => {
            let c = client.get(&format!("/v1/config/{}", seg(&name)))?;
            if json {
                render::print_json(&c);
            } else {
                render::config_detail(&c);
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
            let mut body = client.get(&format!("/v1/config/{}", seg(&name)))?;
            if let Some(n) = new_name {
                body["name"] = json!(n);
            }
            if let Some(r) = remote {
                body["remote"] = json!(r);
            }
            let mut paths: Vec<String> = if set_paths.is_empty() {
                body["paths"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|v| v.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default()
            } else {
                set_paths
            };
            for p in &rm_path {
                let before = paths.len();
                paths.retain(|q| q != p);
                if paths.len() == before {
                    let name = quote::name(&name);
                    anyhow::bail!(
                        "config {name} has no path {}; `dotsync config show {name}` lists them",
                        quote::name(p)
                    );
                }
            }
            paths.extend(add_path);
            body["paths"] = json!(paths);
            apply_fields(&mut body, fields, clear_ignore);
            client.call("PUT", &format!("/v1/config/{}", seg(&name)), Some(&body))?;
            eprintln!(
                "updated config {}",
                quote::name(body["name"].as_str().unwrap_or(&name))
            );
        }
        ConfigCmd::Rm { name } => {
            client.call("DELETE", &format!("/v1/config/{}", seg(&name)), None)?;
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
    let check = match client.post_json(
        "/v1/remote/check",
        &json!({"remote": remote, "branch": branch}),
    ) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("warning: could not check the remote: {e}");
            return;
        }
    };
    if check["ok"] != true {
        eprintln!(
            "warning: {}",
            check["message"]
                .as_str()
                .unwrap_or("the remote cannot be used")
        );
        return;
    }
    let differ = check["files"]
        .as_array()
        .map_or(0, |a| a.iter().filter(|f| f["here"] == "differs").count());
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
    let ids = client.get(&format!("/v1/file/{}", seg(path)))?;
    let ids: Vec<String> = ids
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let all = client.get("/v1/config")?;
    let configs: Vec<&Value> = all
        .as_array()
        .map(|a| a.as_slice())
        .unwrap_or_default()
        .iter()
        .filter(|c| {
            c["id"]
                .as_str()
                .is_some_and(|id| ids.iter().any(|i| i == id))
        })
        .collect();
    if json {
        let out: Vec<Value> = configs
            .iter()
            .map(|c| json!({"id": c["id"], "name": c["name"]}))
            .collect();
        render::print_json(&Value::Array(out));
    } else {
        for c in &configs {
            println!(
                "{}\t{}",
                quote::name(c["name"].as_str().unwrap_or("")),
                quote::name(c["id"].as_str().unwrap_or(""))
            );
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
