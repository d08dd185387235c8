//! `GET /v1/machines`: this machine, the others of each remote, and the channel's counters.

use super::*;

pub use dotsync_api::{MachineView, Machines, NotifyStats, RemoteView, ThisMachine};

impl Notifier {
    fn stats(&self) -> NotifyStats {
        let s = &self.stats;
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        NotifyStats {
            received: g(&s.received),
            accepted: g(&s.accepted),
            malformed: g(&s.malformed),
            rejected: g(&s.rejected),
            stale: g(&s.stale),
            unknown_remote: g(&s.unknown_remote),
            checks: g(&s.checks),
            pokes_sent: g(&s.pokes_sent),
            hellos_sent: g(&s.hellos_sent),
        }
    }
}

/// The machines view. Reads memory only when the daemon runs; without one, what the engine's
/// repositories last fetched (nobody is reachable then).
pub(crate) fn view(app: &App, configs: &[SyncConfig]) -> Machines {
    let name = app.engine.machine().to_owned();
    let version = env!("CARGO_PKG_VERSION").to_owned();
    let now = dotsync_state::now_unix();
    let st = app.notify.lock();
    let relay_connected = st.relay.as_ref().is_some_and(|r| r.connected());
    let listening = st.socket.is_some();
    let mut order: Vec<String> = Vec::new();
    let mut groups: HashMap<String, Vec<&SyncConfig>> = HashMap::new();
    for c in configs {
        let url = url_of(app, c);
        if !groups.contains_key(&url) {
            order.push(url.clone());
        }
        groups.entry(url).or_default().push(c);
    }
    let remotes = order
        .iter()
        .map(|url| {
            let cfgs = groups.get(url).map(Vec::as_slice).unwrap_or_default();
            let direct_here = cfgs.iter().any(|c| c.notify);
            let remote = cfgs.first().map(|c| c.remote.clone()).unwrap_or_default();
            let mut machines = vec![MachineView {
                name: name.clone(),
                this_machine: true,
                version: Some(version.clone()),
                last_seen: Some(now),
                addrs: if st.direct && direct_here {
                    st.announce.iter().map(ToString::to_string).collect()
                } else {
                    Vec::new()
                },
                reachable: st.running && ((listening && direct_here) || relay_connected),
                via: None,
            }];
            let r = st.remotes.get(url);
            let offline_peers;
            let peers: Vec<MachineView> = match r {
                Some(r) => r.peers.values().map(peer_view).collect(),
                None if !st.running => {
                    offline_peers = cfgs
                        .first()
                        .map(|c| app.engine.known_machines(c))
                        .unwrap_or_default();
                    offline_peers
                        .iter()
                        .filter(|p| machine_ref_name(&p.name) != machine_ref_name(&name))
                        .map(|p| MachineView {
                            name: p.name.clone(),
                            this_machine: false,
                            version: Some(p.version.clone()).filter(|v| !v.is_empty()),
                            last_seen: Some(p.last_seen),
                            addrs: p.addrs.clone(),
                            reachable: false,
                            via: None,
                        })
                        .collect()
                }
                None => Vec::new(),
            };
            machines.extend(peers);
            RemoteView {
                remote,
                configs: cfgs.iter().map(|c| c.name.clone()).collect(),
                remote_id: r.and_then(|r| r.id.clone()),
                error: r.and_then(|r| r.error.clone()),
                machines,
            }
        })
        .collect();
    Machines {
        this_machine: ThisMachine {
            name,
            version,
            running: st.running,
            direct: st.running && st.direct,
            listen: st.listen.map(|a| a.to_string()),
            addrs: st.announce.iter().map(ToString::to_string).collect(),
            listen_error: st.listen_error.clone(),
            relay: st.relay.as_ref().map(|r| r.url.clone()),
            relay_connected,
            relay_error: st.relay_error.clone(),
        },
        remotes,
        notify: app.notify.stats(),
    }
}

pub(super) fn peer_view(p: &Peer) -> MachineView {
    let reachable = p.heard.is_some_and(|t| t.elapsed() < REACHABLE_FOR);
    MachineView {
        name: p.name.clone(),
        this_machine: false,
        version: Some(p.version.clone()).filter(|v| !v.is_empty()),
        last_seen: match (p.published, p.heard_unix) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        },
        addrs: p.addrs.iter().map(ToString::to_string).collect(),
        reachable,
        via: p.via.map(dotsync_api::Via::from_name),
    }
}
