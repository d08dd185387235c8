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

pub(crate) mod relay;
pub(crate) mod wire;

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use dotsync_core::SyncConfig;
use dotsync_engine::{Presence, RepoKey, SyncSummary, machine_ref_name};
use serde::Serialize;
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
        self.state.lock().unwrap_or_else(|p| p.into_inner())
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
pub(crate) fn start(app: &App, opts: NotifyOptions, shutdown: watch::Receiver<bool>) -> Tasks {
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

async fn receive(app: App, sock: Arc<UdpSocket>) {
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

async fn from_relay(app: App, mut rx: mpsc::UnboundedReceiver<relay::RelayEvent>) {
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
enum Via {
    Direct,
    Relay,
}

impl Via {
    fn name(self) -> &'static str {
        match self {
            Via::Direct => "direct",
            Via::Relay => "relay",
        }
    }
}

/// One message from the network. Strangers cost a bounded JSON parse and a map lookup; a
/// message naming a known remote also one HMAC.
async fn handle(app: &App, data: &[u8], via: Via) {
    let n = &app.notify;
    bump(&n.stats.received);
    let unverified = match wire::parse(data) {
        Ok(u) => u,
        Err(_) => {
            bump(&n.stats.malformed);
            return;
        }
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
                let checker = match &r.checker {
                    Some(c) => c.clone(),
                    None => {
                        let c = Arc::new(Notify::new());
                        r.checker = Some(c.clone());
                        if let Some(shutdown) = st.shutdown.clone() {
                            tokio::spawn(checker_loop(
                                app.clone(),
                                url.clone(),
                                c.clone(),
                                shutdown,
                            ));
                        }
                        c
                    }
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
async fn checker_loop(
    app: App,
    url: String,
    poked: Arc<Notify>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = poked.notified() => {}
            _ = shutdown.changed() => return,
        }
        bump(&app.notify.stats.checks);
        check_remote(&app, &url).await;
        tokio::select! {
            _ = tokio::time::sleep(CHECK_EVERY) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// The usual remote check, for every `auto` config of `url` (on the poked branch): a config
/// that syncs now gets one follow-up run, one waiting for a retry is left to its scheduler,
/// any other runs `git ls-remote` and syncs only if the remote really moved.
async fn check_remote(app: &App, url: &str) {
    let hint = app
        .notify
        .lock()
        .remotes
        .get_mut(url)
        .and_then(|r| r.hint.take());
    let configs = configs_of(app, url).await;
    for cfg in configs.into_iter().filter(|c| c.auto) {
        if let Some((branch, _)) = &hint
            && !branch.is_empty()
            && *branch != cfg.branch
        {
            continue;
        }
        let st = app.sync.status_of(&cfg, None, None);
        if st.state == crate::sync::SyncState::Syncing {
            let _ = app.sync.request(
                app,
                &cfg.id,
                crate::sync::RunOptions::default(),
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
                    crate::sync::RunOptions::default(),
                    "poke",
                    None,
                );
            }
            Ok(Ok(false)) => {}
            Ok(Err(e)) => tracing::debug!(
                config = %cfg.name,
                "the remote check after a poke failed: {}",
                crate::sync::one_line(&e.to_string())
            ),
            Err(e) => tracing::warn!("the remote check after a poke stopped: {e}"),
        }
    }
}

async fn configs_of(app: &App, url: &str) -> Vec<SyncConfig> {
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

async fn presence_loop(
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
            _ = tokio::time::sleep(TICK) => periodic(&app).await,
            _ = shutdown.changed() => return,
        }
    }
}

/// What the engine's repositories already know (no network): keys, so pokes are taken from
/// the first second, and the machines last fetched.
async fn load_known(app: &App) {
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

fn set_peers(r: &mut Remote, machines: &[Presence], me: &str, listen: Option<SocketAddr>) {
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

async fn periodic(app: &App) {
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
async fn round(app: &App, url: &str) {
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
                        crate::sync::one_line(&e)
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
                r.error = Some(crate::sync::one_line(&e.to_string()));
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

fn peer_view(p: &Peer) -> MachineView {
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
