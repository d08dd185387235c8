//! The receiving side: the listener, the relay's messages, and the remote checks they cause.

use super::*;

pub(super) async fn receive(app: App, sock: Arc<UdpSocket>) {
    let mut buf = vec![0u8; wire::MAX_MESSAGE + 1];
    loop {
        match sock.recv_from(&mut buf).await {
            Ok((n, _from)) => handle(&app, &buf[..n], Via::Direct).await,
            Err(e) => {
                tracing::debug!("receiving a poke failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

pub(super) async fn from_relay(app: App, mut rx: mpsc::UnboundedReceiver<relay::RelayEvent>) {
    while let Some(ev) = rx.recv().await {
        match ev {
            relay::RelayEvent::Message(data) => handle(&app, &data, Via::Relay).await,
            relay::RelayEvent::Connected => {
                let urls: Vec<String> = {
                    let st = app.notify.lock();
                    st.remotes
                        .iter()
                        .filter(|(_, r)| r.key.is_some())
                        .map(|(u, _)| u.clone())
                        .collect()
                };
                for url in urls {
                    send(&app, &url, Kind::Hello, "", "", None).await;
                }
            }
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Via {
    Direct,
    Relay,
}

impl Via {
    pub(super) fn name(self) -> &'static str {
        match self {
            Via::Direct => "direct",
            Via::Relay => "relay",
        }
    }
}

/// One message from the network. Strangers cost a bounded JSON parse and a map lookup; a
/// message naming a known remote also one HMAC.
pub(super) async fn handle(app: &App, data: &[u8], via: Via) {
    let n = &app.notify;
    bump(&n.stats.received);
    let Ok(unverified) = wire::parse(data) else {
        bump(&n.stats.malformed);
        return;
    };
    let known = {
        let st = n.lock();
        st.ids.get(&unverified.msg.r).and_then(|url| {
            let r = st.remotes.get(url)?;
            let usable = via == Via::Relay || r.direct;
            Some((url.clone(), r.key.clone()?)).filter(|_| usable)
        })
    };
    let Some((url, key)) = known else {
        bump(&n.stats.unknown_remote);
        return;
    };
    let msg = match unverified.verify(key.bytes(), dotsync_state::now_unix()) {
        Ok(m) => m,
        Err(Reject::Stale) => {
            bump(&n.stats.stale);
            return;
        }
        Err(_) => {
            bump(&n.stats.rejected);
            return;
        }
    };
    if msg.n == app.engine.machine() {
        // Our own message, back from the relay.
        return;
    }
    bump(&n.stats.accepted);
    let peer_id = machine_ref_name(&msg.n);
    let mut pong_to = None;
    {
        let mut st = n.lock();
        let listen = st.listen;
        let Some(r) = st.remotes.get_mut(&url) else {
            return;
        };
        if r.peers.len() >= MAX_PEERS && !r.peers.contains_key(&peer_id) {
            return;
        }
        let p = r.peers.entry(peer_id.clone()).or_default();
        p.name.clone_from(&msg.n);
        p.heard = Some(Instant::now());
        p.heard_unix = Some(dotsync_state::now_unix());
        p.via = Some(via.name());
        if !msg.ver.is_empty() {
            p.version.clone_from(&msg.ver);
        }
        if via == Via::Direct && !msg.a.is_empty() {
            p.addrs = parse_addrs(&msg.a, listen);
        }
        match msg.k {
            Kind::Hello => {
                if p.pong_sent.is_none_or(|t| t.elapsed() >= PONG_EVERY) {
                    p.pong_sent = Some(Instant::now());
                    pong_to = Some(peer_id.clone());
                }
            }
            Kind::Poke => {
                tracing::debug!(from = %msg.n, branch = %msg.b, via = via.name(), "poke");
                r.hint = Some((msg.b.clone(), msg.c.clone()));
                let checker = if let Some(c) = &r.checker {
                    c.clone()
                } else {
                    let c = Arc::new(Notify::new());
                    r.checker = Some(c.clone());
                    if let Some(shutdown) = st.shutdown.clone() {
                        tokio::spawn(checker_loop(app.clone(), url.clone(), c.clone(), shutdown));
                    }
                    c
                };
                checker.notify_one();
            }
            Kind::Pong => {}
        }
    }
    if let Some(peer) = pong_to {
        send(app, &url, Kind::Pong, "", "", Some((&peer, via))).await;
    }
}

/// Runs the remote check of one remote whenever poked, at most once per [`CHECK_EVERY`]:
/// pokes that arrive meanwhile leave one permit, so they fold into the next check.
pub(super) async fn checker_loop(
    app: App,
    url: String,
    poked: Arc<Notify>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            () = poked.notified() => {}
            _ = shutdown.changed() => return,
        }
        bump(&app.notify.stats.checks);
        check_remote(&app, &url).await;
        tokio::select! {
            () = tokio::time::sleep(CHECK_EVERY) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// The usual remote check, for every `auto` config of `url` (on the poked branch): a config
/// that syncs now gets one follow-up run, one waiting for a retry is left to its scheduler,
/// any other runs `git ls-remote` and syncs only if the remote really moved.
pub(super) async fn check_remote(app: &App, url: &str) {
    let hint = app
        .notify
        .lock()
        .remotes
        .get_mut(url)
        .and_then(|r| r.hint.take());
    let configs = configs_of(app, url).await;
    for cfg in configs
        .into_iter()
        .filter(|c| c.auto && c.applies_to(app.engine.machine()))
    {
        if let Some((branch, _)) = &hint
            && !branch.is_empty()
            && *branch != cfg.branch
        {
            continue;
        }
        let st = app.sync.status_of(&cfg, None, None);
        if st.state == crate::coordinator::SyncState::Syncing {
            let _ = app.sync.request(
                app,
                &cfg.id,
                crate::coordinator::RunOptions::default(),
                "poke",
                None,
            );
            continue;
        }
        if st.retry_in_s.is_some() {
            continue;
        }
        let engine = app.engine.clone();
        let hinted = hint.as_ref().map(|(_, c)| c.clone()).unwrap_or_default();
        let c = cfg.clone();
        let moved = tokio::task::spawn_blocking(move || {
            let last = engine.last_synced_commit(&c)?;
            if !hinted.is_empty() && last.as_deref() == Some(hinted.as_str()) {
                return Ok(false);
            }
            Ok::<_, dotsync_engine::SyncError>(engine.remote_head(&c)? != last)
        })
        .await;
        match moved {
            Ok(Ok(true)) => {
                tracing::debug!(config = %cfg.name, "poked: the remote moved");
                let _ = app.sync.request(
                    app,
                    &cfg.id,
                    crate::coordinator::RunOptions::default(),
                    "poke",
                    None,
                );
            }
            Ok(Ok(false)) => {}
            Ok(Err(e)) => tracing::debug!(
                config = %cfg.name,
                "the remote check after a poke failed: {}",
                crate::coordinator::one_line(&e.to_string())
            ),
            Err(e) => tracing::warn!("the remote check after a poke stopped: {e}"),
        }
    }
}

pub(super) async fn configs_of(app: &App, url: &str) -> Vec<SyncConfig> {
    let store = app.store.clone();
    let configs = tokio::task::spawn_blocking(move || store.list_configs())
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    configs
        .into_iter()
        .filter(|c| url_of(app, c) == url)
        .collect()
}

// ---- sending ----
