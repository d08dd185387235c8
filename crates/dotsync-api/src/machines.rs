//! `GET /v1/machines`: this machine, the others of each remote, and the notify channel's
//! counters.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Every machine of each remote, as `GET /v1/machines` and `dotsync machines` show them.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Machines {
    pub this_machine: ThisMachine,
    /// One entry per remote (configs on the same remote share it).
    pub remotes: Vec<RemoteView>,
    /// The notify channel's counters since the daemon started.
    pub notify: NotifyStats,
}

/// This machine and how it can be notified.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
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
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
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

/// How a machine was last heard from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Via {
    /// A UDP datagram.
    Direct,
    /// The MQTT relay.
    Relay,
    /// A newer daemon's channel this client does not know.
    #[serde(other)]
    Unknown,
}

crate::sync::names!(Via { Direct => "direct", Relay => "relay" } else Unknown);

/// One machine of a remote.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
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
    /// How it was last heard.
    pub via: Option<Via>,
}

/// Counters of the notify channel.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
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
