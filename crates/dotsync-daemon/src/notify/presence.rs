//! Presence rounds: publishing this machine on the remote and reading the others.

use super::*;

pub(super) async fn presence_loop(
    app: App,
    mut rounds: mpsc::UnboundedReceiver<String>,
    mut shutdown: watch::Receiver<bool>,
) {
    load_known(&app).await;
    loop {
        tokio::select! {
            url = rounds.recv() => match url {
                Some(url) => round(&app, &url).await,
                None => return,
            },
            () = tokio::time::sleep(TICK) => periodic(&app).await,
            _ = shutdown.changed() => return,
        }
    }
}

/// What the engine's repositories already know (no network): keys, so pokes are taken from
/// the first second, and the machines last fetched.
pub(super) async fn load_known(app: &App) {
    let store = app.store.clone();
    let engine = app.engine.clone();
    let home = app.home.clone();
    let known = tokio::task::spawn_blocking(move || {
        let mut out: HashMap<String, (Option<RepoKey>, Vec<Presence>, bool)> = HashMap::new();
        for cfg in store.list_configs().unwrap_or_default() {
            let url = dotsync_core::remote::expand_remote(&cfg.remote, &home);
            if let Some(e) = out.get_mut(&url) {
                e.2 |= cfg.notify;
                continue;
            }
            let key = engine.known_key(&cfg);
            let machines = engine.known_machines(&cfg);
            out.insert(url, (key, machines, cfg.notify));
        }
        out
    })
    .await
    .unwrap_or_default();
    let me = app.engine.machine().to_owned();
    let mut st = app.notify.lock();
    let listen = st.listen;
    let relay = st.relay.clone();
    for (url, (key, machines, direct)) in known {
        let r = st.remotes.entry(url.clone()).or_default();
        r.direct = direct;
        set_peers(r, &machines, &me, listen);
        if let Some(key) = key {
            let id = wire::remote_id(key.bytes());
            r.key = Some(key);
            r.id = Some(id.clone());
            if let Some(relay) = &relay {
                relay.subscribe(&id);
            }
            st.ids.insert(id, url);
        }
    }
}

#[allow(
    clippy::similar_names,
    reason = "`listed` (the machines the remote lists) and `listen` (this one's address) say what they are"
)]
pub(super) fn set_peers(
    r: &mut Remote,
    machines: &[Presence],
    me: &str,
    listen: Option<SocketAddr>,
) {
    let mine = machine_ref_name(me);
    let listed: Vec<String> = machines.iter().map(|p| machine_ref_name(&p.name)).collect();
    // Machines no longer listed are forgotten unless heard from recently.
    r.peers.retain(|id, p| {
        listed.contains(id) || p.heard.is_some_and(|t| t.elapsed() < REACHABLE_FOR)
    });
    for p in machines {
        let id = machine_ref_name(&p.name);
        if id == mine || (r.peers.len() >= MAX_PEERS && !r.peers.contains_key(&id)) {
            continue;
        }
        let e = r.peers.entry(id).or_default();
        e.name.clone_from(&p.name);
        if e.version.is_empty() || e.heard.is_none() {
            e.version.clone_from(&p.version);
        }
        e.published = Some(p.last_seen);
        let addrs = parse_addrs(&p.addrs, listen);
        if !addrs.is_empty() || e.heard.is_none() {
            e.addrs = addrs;
        }
    }
}

pub(super) async fn periodic(app: &App) {
    let (due, hellos) = {
        let mut st = app.notify.lock();
        let mut moved = false;
        if let Some(listen) = st.listen
            && listen.ip().is_unspecified()
        {
            let now = announce_addrs(listen);
            if now != st.announce {
                tracing::info!("this machine's addresses changed: {now:?}");
                st.announce = now;
                moved = true;
            }
        }
        let mut due = Vec::new();
        let mut hellos = Vec::new();
        for (url, r) in &st.remotes {
            let round_due = r
                .last_round
                .is_some_and(|t| moved || !r.round_ok || t.elapsed() >= ROUND_EVERY);
            if round_due {
                due.push(url.clone());
            } else if r.key.is_some() && r.last_hello.is_none_or(|t| t.elapsed() >= HELLO_EVERY) {
                hellos.push(url.clone());
            }
        }
        (due, hellos)
    };
    for url in due {
        round(app, &url).await;
    }
    for url in hellos {
        if let Some(r) = app.notify.lock().remotes.get_mut(&url) {
            r.last_hello = Some(Instant::now());
        }
        send(app, &url, Kind::Hello, "", "", None).await;
    }
}

/// One presence round with a remote: key, publish, read everyone; then hellos and any poke
/// that waited for the key.
pub(super) async fn round(app: &App, url: &str) {
    let configs = configs_of(app, url).await;
    let Some(cfg) = configs.first().cloned() else {
        let mut st = app.notify.lock();
        if let Some(r) = st.remotes.remove(url)
            && let Some(id) = r.id
        {
            st.ids.remove(&id);
        }
        return;
    };
    let direct_here = configs.iter().any(|c| c.notify);
    {
        // With direct pokes off for this remote and no relay there is nothing to announce and
        // no way to be told: no ref is written to the remote for it.
        let mut st = app.notify.lock();
        if !(st.direct && direct_here) && st.relay.is_none() {
            let r = st.remotes.entry(url.to_owned()).or_default();
            r.round_queued = false;
            r.last_round = Some(Instant::now());
            // Looked at again every minute (locally), so turning notify on takes effect soon.
            r.round_ok = false;
            r.direct = false;
            return;
        }
    }
    let me = {
        let st = app.notify.lock();
        Presence {
            name: app.engine.machine().to_owned(),
            addrs: if st.direct && direct_here {
                st.announce.iter().map(ToString::to_string).collect()
            } else {
                Vec::new()
            },
            version: env!("CARGO_PKG_VERSION").to_owned(),
            last_seen: dotsync_state::now_unix(),
            relay: st.relay.is_some(),
        }
    };
    let engine = app.engine.clone();
    let result = tokio::task::spawn_blocking(move || engine.presence_round(&cfg, Some(&me))).await;
    let machine = app.engine.machine().to_owned();
    let pending = {
        let mut st = app.notify.lock();
        let listen = st.listen;
        let relay = st.relay.clone();
        let mut new_id = None;
        let mut old_id = None;
        let r = st.remotes.entry(url.to_owned()).or_default();
        r.round_queued = false;
        r.last_round = Some(Instant::now());
        r.direct = direct_here;
        match result {
            Ok(Ok(found)) => {
                let id = wire::remote_id(found.key.bytes());
                if r.id.as_deref() != Some(id.as_str()) {
                    old_id = r.id.take();
                    new_id = Some(id.clone());
                }
                r.id = Some(id.clone());
                r.key = Some(found.key);
                r.round_ok = true;
                r.error = found.publish_error.map(|e| {
                    format!(
                        "cannot publish this machine's presence: {}",
                        crate::coordinator::one_line(&e)
                    )
                });
                set_peers(r, &found.machines, &machine, listen);
                r.last_hello = Some(Instant::now());
                if let Some(relay) = &relay {
                    relay.subscribe(&id);
                }
            }
            Ok(Err(e)) => {
                r.round_ok = false;
                r.error = Some(crate::coordinator::one_line(&e.to_string()));
                tracing::debug!("presence round with {url} failed: {e}");
            }
            Err(e) => {
                r.round_ok = false;
                r.error = Some(format!("the presence round stopped: {e}"));
            }
        }
        let ok = r.round_ok;
        let pending = r.pending_poke.take().filter(|_| ok);
        if let Some(old) = old_id {
            st.ids.remove(&old);
        }
        if let Some(id) = new_id {
            st.ids.insert(id, url.to_owned());
        }
        if !ok {
            return;
        }
        pending
    };
    send(app, url, Kind::Hello, "", "", None).await;
    if let Some((branch, commit)) = pending {
        send(app, url, Kind::Poke, &branch, &commit, None).await;
    }
}

// ---- the view: GET /v1/machines ----
