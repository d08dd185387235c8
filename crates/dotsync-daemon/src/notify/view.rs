//! `GET /v1/machines`: this machine, the others of each remote, and the channel's counters.

use super::*;

/// Every machine of each remote, as `GET /v1/machines` and `dotsync machines` show them.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Machines {
    pub this_machine: ThisMachine,
    /// One entry per remote (configs on the same remote share it).
    pub remotes: Vec<RemoteView>,
    /// The notify channel's counters since the daemon started.
    pub notify: NotifyStats,
}

/// This machine and how it can be notified.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ThisMachine {
    pub name: String,
    pub version: String,
    /// Whether the daemon runs the notify channel (false when the CLI answers without one).
    pub running: bool,
    /// Whether direct pokes are on (`DOTSYNC_NOTIFY`).
    pub direct: bool,
    /// Where the listener for pokes is bound (`DOTSYNC_NOTIFY_ADDR`).
    pub listen: Option<String>,
    /// The addresses this machine publishes for pokes.
    pub addrs: Vec<String>,
    /// Why the listener could not start, if so.
    pub listen_error: Option<String>,
    /// The relay (`DOTSYNC_RELAY`), without credentials.
    pub relay: Option<String>,
    pub relay_connected: bool,
    pub relay_error: Option<String>,
}

/// One remote and its machines.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RemoteView {
    /// The remote as the first config on it names it.
    pub remote: String,
    /// The names of the configs that sync it.
    pub configs: Vec<String>,
    /// The remote id (a hash of the repository key, never of the URL), once known.
    pub remote_id: Option<String>,
    /// Why the last presence round failed or could not publish, if so.
    pub error: Option<String>,
    /// This machine first, then the others by name.
    pub machines: Vec<MachineView>,
}

/// One machine of a remote.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MachineView {
    pub name: String,
    pub this_machine: bool,
    pub version: Option<String>,
    /// Unix seconds: the later of its published presence and the last message heard from it.
    pub last_seen: Option<i64>,
    /// Where it takes direct pokes.
    pub addrs: Vec<String>,
    /// Whether it can be poked now: a signed message from it arrived in the last 10 minutes
    /// (for this machine: its listener or relay is up).
    pub reachable: bool,
    /// How it was last heard: `direct` or `relay`.
    pub via: Option<String>,
}

/// Counters of the notify channel.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NotifyStats {
    /// Datagrams and relay messages received.
    pub received: u64,
    /// Messages with a valid signature from another machine.
    pub accepted: u64,
    /// Not a dotsync message at all.
    pub malformed: u64,
    /// A known remote, a wrong signature (a forged message).
    pub rejected: u64,
    /// A valid signature, a timestamp more than 5 minutes off (a replay).
    pub stale: u64,
    /// A remote id this machine does not sync.
    pub unknown_remote: u64,
    /// Remote checks that pokes caused (at most one per second per remote).
    pub checks: u64,
    pub pokes_sent: u64,
    pub hellos_sent: u64,
}

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
        via: p.via.map(str::to_owned),
    }
}
