//! `dotsync machines [--json]`: every machine of each remote, and whether it can be poked now.

use anyhow::Result;
use serde_json::Value;

use crate::client::Client;
use crate::render;

pub fn run(json: bool) -> Result<()> {
    let client = Client::connect()?;
    let m = client.get("/v1/machines")?;
    if json {
        render::print_json(&m);
        return Ok(());
    }
    let me = &m["this_machine"];
    let mut how = Vec::new();
    if me["running"] != true {
        how.push("no daemon running: nobody is notified".to_owned());
    } else {
        match me["listen"].as_str() {
            Some(l) if me["direct"] == true => how.push(format!("pokes on udp {}", clean(l))),
            _ if me["direct"] == true => how.push(format!(
                "no listener for pokes: {}",
                clean(me["listen_error"].as_str().unwrap_or("?"))
            )),
            _ => how.push("direct pokes off".to_owned()),
        }
        if let Some(r) = me["relay"].as_str() {
            let state = if me["relay_connected"] == true {
                "connected"
            } else {
                "not connected"
            };
            how.push(format!("relay {} ({state})", clean(r)));
        } else if let Some(e) = me["relay_error"].as_str() {
            how.push(format!("relay: {}", clean(e)));
        }
    }
    println!(
        "this machine: {} (dotsync {}); {}",
        clean(me["name"].as_str().unwrap_or("?")),
        clean(me["version"].as_str().unwrap_or("?")),
        how.join("; ")
    );
    let remotes = m["remotes"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    if remotes.is_empty() {
        println!("no configs yet; create one with `dotsync config add NAME --remote URL PATH...`");
        return Ok(());
    }
    let now = dotsync_state::now_unix();
    for r in remotes {
        let configs: Vec<String> = r["configs"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).map(clean).collect())
            .unwrap_or_default();
        println!();
        println!(
            "{} ({})",
            clean(r["remote"].as_str().unwrap_or("?")),
            configs.join(", ")
        );
        if let Some(e) = r["error"].as_str() {
            println!("  {}", clean(e));
        }
        let rows: Vec<Vec<String>> = r["machines"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .map(|x| {
                let reachable = if x["this_machine"] == true {
                    "this machine".to_owned()
                } else if x["reachable"] == true {
                    format!("yes ({})", clean(x["via"].as_str().unwrap_or("?")))
                } else {
                    "no".to_owned()
                };
                vec![
                    clean(x["name"].as_str().unwrap_or("?")),
                    clean(x["version"].as_str().unwrap_or("?")),
                    match x["last_seen"].as_i64() {
                        Some(t) if now - t < 5 => "now".to_owned(),
                        Some(t) => format!(
                            "{} ago",
                            crate::status_cmd::duration((now - t).max(0) as u64)
                        ),
                        None => "never".to_owned(),
                    },
                    reachable,
                ]
            })
            .collect();
        render::table(&["NAME", "VERSION", "LAST SEEN", "REACHABLE"], &rows);
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
