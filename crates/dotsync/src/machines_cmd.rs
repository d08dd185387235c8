//! `dotsync machines [--json]`: every machine of each remote, and whether it can be poked now.

use anyhow::Result;
use dotsync_api::Machines;

use crate::client::Client;
use crate::out::outln;
use crate::render;

pub fn run(json: bool) -> Result<()> {
    let client = Client::connect()?;
    if json {
        render::print_json(&client.get_json("/v1/machines")?)?;
        return Ok(());
    }
    let m: Machines = client.get("/v1/machines")?;
    let me = &m.this_machine;
    let mut how = Vec::new();
    if me.running {
        match &me.listen {
            Some(l) if me.direct => how.push(format!("pokes on udp {}", clean(l))),
            _ if me.direct => how.push(format!(
                "no listener for pokes: {}",
                clean(me.listen_error.as_deref().unwrap_or("?"))
            )),
            _ => how.push("direct pokes off".to_owned()),
        }
        if let Some(r) = &me.relay {
            let state = if me.relay_connected {
                "connected"
            } else {
                "not connected"
            };
            how.push(format!("relay {} ({state})", clean(r)));
        } else if let Some(e) = &me.relay_error {
            how.push(format!("relay: {}", clean(e)));
        }
    } else {
        how.push("no daemon running: nobody is notified".to_owned());
    }
    outln!(
        "this machine: {} (dotsync {}); {}",
        clean(&me.name),
        clean(&me.version),
        how.join("; ")
    )?;
    if m.remotes.is_empty() {
        outln!("no configs yet; create one with `dotsync config add NAME --remote URL PATH...`")?;
        return Ok(());
    }
    let now = dotsync_state::now_unix();
    for r in &m.remotes {
        let configs: Vec<String> = r.configs.iter().map(|c| clean(c)).collect();
        outln!()?;
        outln!("{} ({})", clean(&r.remote), configs.join(", "))?;
        if let Some(e) = &r.error {
            outln!("  {}", clean(e))?;
        }
        let rows: Vec<Vec<String>> = r
            .machines
            .iter()
            .map(|x| {
                let reachable = if x.this_machine {
                    "this machine".to_owned()
                } else if x.reachable {
                    format!("yes ({})", x.via.map_or("?", |v| v.as_str()))
                } else {
                    "no".to_owned()
                };
                vec![
                    clean(&x.name),
                    clean(x.version.as_deref().unwrap_or("?")),
                    match x.last_seen {
                        Some(t) if now - t < 5 => "now".to_owned(),
                        Some(t) => format!(
                            "{} ago",
                            crate::status_cmd::duration(u64::try_from(now - t).unwrap_or(0))
                        ),
                        None => "never".to_owned(),
                    },
                    reachable,
                ]
            })
            .collect();
        render::table(&["NAME", "VERSION", "LAST SEEN", "REACHABLE"], &rows)?;
    }
    Ok(())
}

/// Machine names and versions come from the remote: control characters are never printed.
fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn control_characters_from_the_remote_are_not_printed() {
        assert_eq!(super::clean("lap\x1b[2Jtop\n"), "lap?[2Jtop?");
        assert_eq!(crate::status_cmd::duration(125), "2m");
    }
}
