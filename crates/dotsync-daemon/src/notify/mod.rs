//! The notify channel: machines of one remote tell each other "the branch moved" right after a
//! push, so an edit arrives in about a second instead of at the next remote check.
//!
//! - **Pokes.** After a sync that pushed, the daemon sends a signed poke ([`wire`]) to every
//!   other machine of that remote: a UDP datagram to the addresses it published, and the same
//!   bytes on the relay if one is configured. A poke carries no data and grants nothing: the
//!   receiver runs its usual remote check (`git ls-remote`, then a sync only if the remote
//!   really moved), at most once per second per remote; pokes arriving meanwhile fold into the
//!   next check. Polling (`interval_s`) stays as the safety net.
//! - **Finding each other.** Each machine publishes its presence (name, addresses, version,
//!   last seen) on a ref of its own in the remote (`dotsync_engine::Engine::presence_round`,
//!   after its first successful sync of a remote, then every 10 minutes or when its addresses
//!   change) and reads everyone else's there. Messages are signed with the repository key
//!   (`refs/dotsync/key`), so strangers on the network are dropped after one HMAC.
//! - **Reachability.** Machines say hello (at their presence round, every 5 minutes, and when
//!   the relay connects); a hello is answered with a pong. A machine is *reachable* when a
//!   signed message from it arrived in the last 10 minutes.
//!
//! Started by [`start`] from the daemon's background work only; the CLI's in-process API only
//! reads what the engine's repositories already know.

mod presence;
mod receive;
pub(crate) mod relay;
mod view;
pub(crate) mod wire;

use presence::*;
use receive::*;
pub use view::*;

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use dotsync_core::SyncConfig;
use dotsync_engine::{Presence, RepoKey, SyncSummary, machine_ref_name};
use tokio::net::UdpSocket;
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinHandle;

use crate::App;
use wire::{Kind, Message, Reject};

/// Where the listener for pokes binds by default; a taken port falls back to a free one.
pub const DEFAULT_ADDR: &str = "0.0.0.0:11001";
/// A machine republishes its presence (a push to its own ref) this often.
const ROUND_EVERY: Duration = Duration::from_secs(600);
/// Hellos to every peer this often.
const HELLO_EVERY: Duration = Duration::from_secs(300);
/// A peer heard from within this long is reachable.
const REACHABLE_FOR: Duration = Duration::from_secs(600);
/// The presence task wakes this often (addresses changed? a round or hellos due?).
const TICK: Duration = Duration::from_secs(60);
/// At most one remote check per remote this often, however many pokes arrive.
const CHECK_EVERY: Duration = Duration::from_secs(1);
/// At most one pong per peer this often.
const PONG_EVERY: Duration = Duration::from_secs(5);
/// At most this many peers per remote are remembered.
const MAX_PEERS: usize = 256;

/// How the daemon notifies and listens (`dotsync daemon --notify/--notify-addr/--relay`).
#[derive(Debug, Clone)]
pub struct NotifyOptions {
    /// Direct pokes over UDP (`DOTSYNC_NOTIFY=off` turns them off).
    pub direct: bool,
    /// Where the listener binds and what it announces (`DOTSYNC_NOTIFY_ADDR`): `0.0.0.0:PORT`
    /// announces every non-loopback address of this machine; a specific IP only that one.
    pub addr: String,
    /// An MQTT relay (`DOTSYNC_RELAY`, `mqtt://HOST:PORT`), for machines on other networks.
    pub relay: Option<String>,
}

impl Default for NotifyOptions {
    fn default() -> Self {
        Self {
            direct: true,
            addr: DEFAULT_ADDR.to_owned(),
            relay: None,
        }
    }
}

#[derive(Default)]
struct Stats {
    received: AtomicU64,
    accepted: AtomicU64,
    malformed: AtomicU64,
    rejected: AtomicU64,
    stale: AtomicU64,
    unknown_remote: AtomicU64,
    checks: AtomicU64,
    pokes_sent: AtomicU64,
    hellos_sent: AtomicU64,
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// The notify channel's state; see the module documentation.
#[derive(Default)]
pub struct Notifier {
    state: Mutex<State>,
    stats: Stats,
}

#[derive(Default)]
struct State {
    running: bool,
    direct: bool,
    socket: Option<Arc<UdpSocket>>,
    listen: Option<SocketAddr>,
    announce: Vec<SocketAddr>,
    listen_error: Option<String>,
    relay: Option<Arc<relay::Relay>>,
    relay_error: Option<String>,
    /// By the remote's expanded URL.
    remotes: HashMap<String, Remote>,
    /// Remote id -> URL.
    ids: HashMap<String, String>,
    rounds: Option<mpsc::UnboundedSender<String>>,
    shutdown: Option<watch::Receiver<bool>>,
}

#[derive(Default)]
struct Remote {
    key: Option<RepoKey>,
    id: Option<String>,
    /// Whether direct pokes are on for it (some config of it has `notify`).
    direct: bool,
    peers: BTreeMap<String, Peer>,
    last_round: Option<Instant>,
    round_ok: bool,
    round_queued: bool,
    last_hello: Option<Instant>,
    error: Option<String>,
    /// A poke to send once the key is known.
    pending_poke: Option<(String, String)>,
    /// The last poke's (branch, commit): a check may skip configs it says nothing about.
    hint: Option<(String, String)>,
    checker: Option<Arc<Notify>>,
}

#[derive(Default, Clone)]
struct Peer {
    name: String,
    version: String,
    addrs: Vec<SocketAddr>,
    /// Unix seconds of its presence on the remote.
    published: Option<i64>,
    heard: Option<Instant>,
    heard_unix: Option<i64>,
    via: Option<&'static str>,
    pong_sent: Option<Instant>,
}

impl Notifier {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The notify channel's tasks; stopped with the daemon.
pub(crate) struct Tasks(Vec<JoinHandle<()>>);

impl Tasks {
    pub(crate) async fn stop(self) {
        for t in &self.0 {
            t.abort();
        }
        for t in self.0 {
            let _ = t.await;
        }
    }
}

fn url_of(app: &App, cfg: &SyncConfig) -> String {
    dotsync_core::remote::expand_remote(&cfg.remote, &app.home)
}

/// Binds the listener, connects the relay and starts the presence task.
pub(crate) fn start(app: &App, opts: &NotifyOptions, shutdown: watch::Receiver<bool>) -> Tasks {
    let (round_tx, round_rx) = mpsc::unbounded_channel();
    let mut tasks = Vec::new();
    let mut st = app.notify.lock();
    st.running = true;
    st.direct = opts.direct;
    st.rounds = Some(round_tx);
    st.shutdown = Some(shutdown.clone());
    if opts.direct {
        match bind(&opts.addr) {
            Ok(sock) => {
                let listen = sock.local_addr().ok();
                st.listen = listen;
                st.announce = listen.map(announce_addrs).unwrap_or_default();
                let sock = Arc::new(sock);
                st.socket = Some(sock.clone());
                tracing::info!(
                    "listening for pokes on udp {}, announcing {:?}",
                    listen.map(|a| a.to_string()).unwrap_or_default(),
                    st.announce
                );
                tasks.push(tokio::spawn(receive(app.clone(), sock)));
            }
            Err(e) => {
                tracing::warn!("cannot listen for pokes on {}: {e}", opts.addr);
                st.listen_error = Some(e);
            }
        }
    }
    if let Some(url) = opts.relay.as_deref().filter(|u| !u.trim().is_empty()) {
        match relay::RelayUrl::parse(url.trim()) {
            Ok(u) => {
                let (tx, rx) = mpsc::unbounded_channel();
                let (r, task) = relay::Relay::start(&u, app.engine.machine(), tx, shutdown.clone());
                st.relay = Some(Arc::new(r));
                tasks.push(task);
                tasks.push(tokio::spawn(from_relay(app.clone(), rx)));
            }
            Err(e) => {
                tracing::warn!("{e}");
                st.relay_error = Some(e.to_string());
            }
        }
    }
    drop(st);
    tasks.push(tokio::spawn(presence_loop(app.clone(), round_rx, shutdown)));
    Tasks(tasks)
}

fn bind(addr: &str) -> Result<UdpSocket, String> {
    let a: SocketAddr = match addr.strip_prefix("localhost:") {
        Some(port) => format!("127.0.0.1:{port}").parse(),
        None => addr.parse(),
    }
    .map_err(|_| format!("{addr:?} is not an address such as 0.0.0.0:11001"))?;
    let sock = match std::net::UdpSocket::bind(a) {
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && a.port() != 0 => {
            tracing::info!(
                "udp port {} is taken; listening for pokes on a free one",
                a.port()
            );
            std::net::UdpSocket::bind(SocketAddr::new(a.ip(), 0))
        }
        r => r,
    }
    .map_err(|e| e.to_string())?;
    sock.set_nonblocking(true).map_err(|e| e.to_string())?;
    UdpSocket::from_std(sock).map_err(|e| e.to_string())
}

/// What to publish for a listener bound to `listen`: itself, or for an unspecified address
/// (`0.0.0.0`, `[::]`) every usable address of this machine's interfaces with its port.
fn announce_addrs(listen: SocketAddr) -> Vec<SocketAddr> {
    if !listen.ip().is_unspecified() {
        return vec![listen];
    }
    let v6 = listen.is_ipv6();
    let mut out: Vec<SocketAddr> = if_addrs::get_if_addrs()
        .unwrap_or_default()
        .into_iter()
        .map(|i| i.ip())
        .filter(|ip| !ip.is_loopback() && !ip.is_multicast() && !ip.is_unspecified())
        .filter(|ip| match ip {
            IpAddr::V4(v4) => !v4.is_link_local() && !v4.is_broadcast(),
            IpAddr::V6(v6a) => v6 && (v6a.segments()[0] & 0xffc0) != 0xfe80,
        })
        .map(|ip| SocketAddr::new(ip, listen.port()))
        .collect();
    out.sort();
    out.dedup();
    out.truncate(dotsync_engine::MAX_ADDRS);
    out
}

/// Whether a datagram may go to `to` from a socket bound to `listen`: never to a broadcast,
/// multicast or unspecified address; from a loopback listener only to loopback (tests and
/// benchmarks never send anywhere else); only to the listener's address family.
fn may_send(to: &SocketAddr, listen: &SocketAddr) -> bool {
    let ip = to.ip();
    if to.port() == 0 || ip.is_unspecified() || ip.is_multicast() {
        return false;
    }
    if let IpAddr::V4(v4) = ip
        && v4.is_broadcast()
    {
        return false;
    }
    if listen.ip().is_loopback() && !ip.is_loopback() {
        return false;
    }
    !(listen.is_ipv4() && to.is_ipv6())
}

fn parse_addrs(addrs: &[String], listen: Option<SocketAddr>) -> Vec<SocketAddr> {
    let Some(listen) = listen else {
        return Vec::new();
    };
    let mut out: Vec<SocketAddr> = addrs
        .iter()
        .filter_map(|a| a.parse().ok())
        .filter(|a| may_send(a, &listen))
        .collect();
    out.truncate(dotsync_engine::MAX_ADDRS);
    out
}

// ---- receiving ----

/// Sends a signed message about `url`'s remote: to every peer (hello, poke), or to one (pong,
/// answering where the hello came from).
async fn send(
    app: &App,
    url: &str,
    kind: Kind,
    branch: &str,
    commit: &str,
    to: Option<(&str, Via)>,
) {
    let (data, id, targets, socket, relay) = {
        let st = app.notify.lock();
        let Some(r) = st.remotes.get(url) else {
            return;
        };
        let (Some(key), Some(id)) = (&r.key, &r.id) else {
            return;
        };
        let direct = st.direct && r.direct;
        let msg = Message {
            v: 1,
            k: kind,
            r: id.clone(),
            b: branch.to_owned(),
            c: commit.to_owned(),
            n: app.engine.machine().to_owned(),
            ts: dotsync_state::now_unix(),
            a: if direct {
                st.announce.iter().map(ToString::to_string).collect()
            } else {
                Vec::new()
            },
            ver: env!("CARGO_PKG_VERSION").to_owned(),
        };
        let data = wire::encode(key.bytes(), &msg);
        let targets: Vec<SocketAddr> = match to {
            Some((_, Via::Relay)) => Vec::new(),
            Some((peer, Via::Direct)) => r
                .peers
                .get(peer)
                .map(|p| p.addrs.clone())
                .unwrap_or_default(),
            None => r.peers.values().flat_map(|p| p.addrs.clone()).collect(),
        };
        let socket = st.socket.clone().filter(|_| direct);
        let relay = st
            .relay
            .clone()
            .filter(|_| !matches!(to, Some((_, Via::Direct))));
        (data, id.clone(), targets, socket, relay)
    };
    let stat = match kind {
        Kind::Poke => &app.notify.stats.pokes_sent,
        Kind::Hello | Kind::Pong => &app.notify.stats.hellos_sent,
    };
    if let Some(sock) = socket {
        for t in targets {
            match sock.send_to(&data, t).await {
                Ok(_) => bump(stat),
                Err(e) => tracing::debug!("cannot send to {t}: {e}"),
            }
        }
    }
    if let Some(relay) = relay
        && relay.publish(&id, data)
    {
        bump(stat);
    }
}

/// Called after every sync the coordinator ran: a first successful sync of a remote starts its
/// presence round; a sync that pushed pokes the other machines.
pub(crate) fn after_sync(app: &App, cfg: &SyncConfig, summary: &SyncSummary) {
    if !summary.ok {
        return;
    }
    let pushed = summary.pushed + summary.merged + summary.resolved + summary.deleted > 0;
    let url = url_of(app, cfg);
    let mut st = app.notify.lock();
    if !st.running {
        return;
    }
    let rounds = st.rounds.clone();
    let r = st.remotes.entry(url.clone()).or_default();
    // A first round after the first sync; another after a later sync while the key is still
    // unknown (notify was just turned on, a remote that refused the key), at most a minute apart.
    let due = r
        .last_round
        .is_none_or(|t| r.key.is_none() && t.elapsed() >= TICK);
    if !r.round_queued && due {
        r.round_queued = true;
        if let Some(tx) = rounds {
            let _ = tx.send(url.clone());
        }
    }
    let Some(commit) = summary.commit.clone().filter(|_| pushed) else {
        return;
    };
    if r.key.is_none() {
        r.pending_poke = Some((cfg.branch.clone(), commit));
        return;
    }
    drop(st);
    let app = app.clone();
    let branch = cfg.branch.clone();
    tokio::spawn(async move {
        send(&app, &url, Kind::Poke, &branch, &commit, None).await;
    });
}

// ---- presence ----

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_loopback_listener_sends_only_to_loopback() {
        let lo: SocketAddr = "127.0.0.1:4000".parse().expect("addr");
        let any: SocketAddr = "0.0.0.0:11001".parse().expect("addr");
        let ok = |s: &str, l: &SocketAddr| may_send(&s.parse().expect("addr"), l);
        assert!(ok("127.0.0.1:5000", &lo));
        assert!(!ok("192.168.1.4:5000", &lo));
        assert!(!ok("10.0.0.1:5000", &lo));
        assert!(ok("192.168.1.4:5000", &any));
        for never in [
            "255.255.255.255:11001",
            "224.0.0.1:11001",
            "0.0.0.0:11001",
            "127.0.0.1:0",
            "[::1]:11001",
        ] {
            assert!(!ok(never, &any), "{never}");
        }
    }

    #[test]
    fn a_specific_listen_address_is_the_only_one_announced() {
        let lo: SocketAddr = "127.0.0.1:4000".parse().expect("addr");
        assert_eq!(announce_addrs(lo), vec![lo]);
        let any: SocketAddr = "0.0.0.0:4000".parse().expect("addr");
        for a in announce_addrs(any) {
            assert!(
                !a.ip().is_loopback() && a.port() == 4000 && a.is_ipv4(),
                "{a}"
            );
        }
    }
}
