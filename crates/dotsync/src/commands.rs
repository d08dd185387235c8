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
        Command::Config(cmd) => config(cmd)?,
        Command::Which { path, json } => which(&path, json)?,
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
        Command::Files { config, json } => crate::history_cmd::files(&config, json)?,
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

fn config(cmd: ConfigCmd) -> Result<()> {
    let client = Client::connect()?;
    match cmd {
        ConfigCmd::Add {
            name,
            remote,
            paths,
            fields,
        } => {
            let mut body = json!({"name": name, "remote": remote, "paths": paths});
            apply_fields(&mut body, fields, false);
            let created = client.call("POST", "/v1/config", Some(&body))?.json()?;
            let name = quote::name(&name);
            eprintln!(
                "created config {name} ({}); `dotsync sync {name}` syncs it now",
                quote::name(created["id"].as_str().unwrap_or("?"))
            );
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
    Ok(())
}

fn which(path: &str, json: bool) -> Result<()> {
    let client = Client::connect()?;
    let ids = client.get(&format!("/v1/file/{}", seg(path)))?;
    if json {
        render::print_json(&ids);
        return Ok(());
    }
    let ids: Vec<&str> = ids
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if ids.is_empty() {
        eprintln!("no config syncs {}", quote::name(path));
        return Ok(());
    }
    let all = client.get("/v1/config")?;
    for c in all.as_array().map(|a| a.as_slice()).unwrap_or_default() {
        if let Some(id) = c["id"].as_str()
            && ids.contains(&id)
        {
            println!(
                "{}\t{}",
                quote::name(c["name"].as_str().unwrap_or("")),
                quote::name(id)
            );
        }
    }
    Ok(())
}
