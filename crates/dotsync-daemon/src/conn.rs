//! Serving connections: the accept loop, the header timeout, the cap on open connections and
//! graceful shutdown.
//!
//! Every connection costs a file descriptor, and a service started by launchd may have only 256.
//! Without limits, a few hundred connections that never send a request (a stuck tool, a hostile
//! local process) exhaust them, and then nobody, not even `dotsync status`, gets an answer. So:
//!
//! - A connection has [`Limits::header_read_timeout`] to send a request's headers, counted from
//!   when it opened or from the end of its previous response (hyper's `header_read_timeout`,
//!   which in the hyper this crate requires also runs while a keep-alive connection waits for
//!   its next request; `a_half_sent_request_is_closed_after_the_header_timeout` checks both).
//!   A response being sent is never cut: the event stream stays open as long as it likes.
//! - At most [`effective_cap`] connections are open. When one more arrives, the connection that
//!   has been idle (no request being answered) the longest is closed to make room; a client
//!   that was merely keeping it for later simply reconnects. Only when every open connection is
//!   busy does the newcomer wait for one to finish.
//! - On shutdown no connection is accepted any more; idle connections are closed at once and
//!   busy ones once their response is complete.

use std::collections::HashMap;
use std::convert::Infallible;
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{Request, Response};
use hyper::body::{Frame, Incoming, SizeHint};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tower::ServiceExt as _;

/// File descriptors kept for everything but connections: the store, the watcher, git's pipes,
/// the files a sync reads and writes.
const RESERVED_FDS: u64 = 64;
/// However low the open-file limit, this many connections are allowed.
const MIN_CONNECTIONS: usize = 8;
/// How long a connection closed to make room may take to finish sending what it has.
const SHED_GRACE: Duration = Duration::from_secs(2);

/// How long connections may dawdle, and how many may be open.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub header_read_timeout: Duration,
    pub max_connections: usize,
}

/// Serves `router` on `listener` until `stop` turns true (or its sender is gone), then stops
/// accepting and returns once every connection is closed.
pub(crate) async fn run(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    mut stop: watch::Receiver<bool>,
) {
    let cap = effective_cap(limits.max_connections, open_file_limit());
    if cap < limits.max_connections {
        tracing::info!(
            "the open-file limit allows {cap} connections at once (of {} wanted)",
            limits.max_connections
        );
    }
    let conns = Arc::new(Conns::new(cap));
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            () = stopped(&mut stop) => break,
        };
        let stream = match accepted {
            Ok((stream, _peer)) => {
                // A sync's NDJSON lines are small writes: Nagle's algorithm would hold each
                // one until the client acknowledged the last (40 ms with a delayed ACK).
                let _ = stream.set_nodelay(true);
                stream
            }
            Err(e) if is_connection_error(&e) => continue,
            Err(e) => {
                // Out of file descriptors (another part of the daemon holds more than it
                // should) or similar: wait a little instead of spinning.
                tracing::warn!("cannot accept a connection: {e}");
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_millis(250)) => continue,
                    () = stopped(&mut stop) => break,
                }
            }
        };
        let slot = tokio::select! {
            slot = conns.admit() => slot,
            () = stopped(&mut stop) => break,
        };
        tokio::spawn(serve_one(
            stream,
            slot,
            router.clone(),
            http.clone(),
            stop.clone(),
        ));
    }
    drop(listener);
    conns.wait_empty().await;
}

/// Resolves once the server is told to stop.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    // An error means the sender is gone, which is as good as a stop.
    let _ = stop.wait_for(|s| *s).await;
}

fn is_connection_error(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
    )
}

/// How many connections may be open at once: `max`, but leaving [`RESERVED_FDS`] of the
/// open-file limit for the rest of the daemon.
pub(crate) fn effective_cap(max: usize, open_file_limit: Option<u64>) -> usize {
    let by_limit = open_file_limit.map_or(usize::MAX, |n| {
        usize::try_from(n.saturating_sub(RESERVED_FDS)).unwrap_or(usize::MAX)
    });
    max.min(by_limit.max(MIN_CONNECTIONS)).max(1)
}

/// The process's soft limit on open files, if it has one.
#[cfg(unix)]
fn open_file_limit() -> Option<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    #[allow(unsafe_code)]
    // SAFETY: getrlimit writes one `rlimit` into the valid, exclusively borrowed `lim` and
    // touches nothing else.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &raw mut lim) };
    #[allow(clippy::useless_conversion)] // rlim_t is u64 on Linux, not everywhere
    (rc == 0 && lim.rlim_cur != libc::RLIM_INFINITY).then(|| u64::from(lim.rlim_cur))
}

#[cfg(not(unix))]
fn open_file_limit() -> Option<u64> {
    None
}

/// The open connections.
struct Conns {
    cap: usize,
    epoch: Instant,
    next_id: AtomicU64,
    open: Mutex<HashMap<u64, Arc<Slot>>>,
    /// A connection closed, or declined to be closed: the accept loop looks again.
    changed: Notify,
}

/// One open connection, as the accept loop sees it.
struct Slot {
    /// Requests being answered (until their response body is dropped).
    busy: AtomicUsize,
    /// Requests received so far.
    requests: AtomicU64,
    /// Milliseconds since [`Conns::epoch`] of the last request start or response end.
    last_active_ms: AtomicU64,
    /// Asked to close; set by the accept loop, cleared if the connection turned out busy.
    shedding: AtomicBool,
    shed: Notify,
}

impl Slot {
    fn is_busy(&self) -> bool {
        self.busy.load(Ordering::SeqCst) > 0
    }
}

impl Conns {
    fn new(cap: usize) -> Self {
        Self {
            cap,
            epoch: Instant::now(),
            next_id: AtomicU64::new(0),
            open: Mutex::new(HashMap::new()),
            changed: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<u64, Arc<Slot>>> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// A place for one more connection: at once if there is room; otherwise after asking the
    /// connection idle the longest to close, or, if all are busy, when one finishes.
    async fn admit(self: &Arc<Self>) -> SlotGuard {
        loop {
            let changed = self.changed.notified();
            {
                let mut open = self.lock();
                if open.len() < self.cap {
                    let id = self.next_id.fetch_add(1, Ordering::Relaxed);
                    let slot = Arc::new(Slot {
                        busy: AtomicUsize::new(0),
                        requests: AtomicU64::new(0),
                        last_active_ms: AtomicU64::new(self.now_ms()),
                        shedding: AtomicBool::new(false),
                        shed: Notify::new(),
                    });
                    open.insert(id, slot.clone());
                    return SlotGuard {
                        conns: self.clone(),
                        id,
                        slot,
                    };
                }
                let pending = open.values().any(|s| s.shedding.load(Ordering::SeqCst));
                if !pending {
                    let victim = open
                        .values()
                        .filter(|s| !s.is_busy())
                        .min_by_key(|s| s.last_active_ms.load(Ordering::SeqCst));
                    if let Some(v) = victim {
                        tracing::debug!(
                            "{} connections open: closing the one idle the longest",
                            self.cap
                        );
                        v.shedding.store(true, Ordering::SeqCst);
                        v.shed.notify_one();
                    } else {
                        tracing::debug!(
                            "{} connections open and all busy: the next one waits",
                            self.cap
                        );
                    }
                }
            }
            changed.await;
        }
    }

    /// Returns once every connection has closed.
    async fn wait_empty(&self) {
        loop {
            let changed = self.changed.notified();
            if self.lock().is_empty() {
                return;
            }
            changed.await;
        }
    }
}

/// A connection's place among the open ones; dropping it frees the place.
struct SlotGuard {
    conns: Arc<Conns>,
    id: u64,
    slot: Arc<Slot>,
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        self.conns.lock().remove(&self.id);
        self.conns.changed.notify_one();
    }
}

/// A request being answered; dropped with its response body.
struct Busy {
    conns: Arc<Conns>,
    slot: Arc<Slot>,
}

impl Busy {
    fn new(conns: Arc<Conns>, slot: Arc<Slot>) -> Self {
        slot.busy.fetch_add(1, Ordering::SeqCst);
        slot.requests.fetch_add(1, Ordering::SeqCst);
        slot.last_active_ms.store(conns.now_ms(), Ordering::SeqCst);
        Self { conns, slot }
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.slot
            .last_active_ms
            .store(self.conns.now_ms(), Ordering::SeqCst);
        self.slot.busy.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A response body that keeps its connection counted as busy until it is sent (or dropped).
struct Tracked {
    inner: Body,
    _busy: Busy,
}

impl hyper::body::Body for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Serves one connection until the client closes it, it times out, it is shed to make room, or
/// the server stops.
async fn serve_one(
    stream: TcpStream,
    place: SlotGuard,
    router: Router,
    http: http1::Builder,
    mut stop: watch::Receiver<bool>,
) {
    let slot = place.slot.clone();
    let conns = place.conns.clone();
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let busy = Busy::new(conns.clone(), slot.clone());
        let router = router.clone();
        async move {
            let resp: Response<Body> = match router.oneshot(req.map(Body::new)).await {
                Ok(r) => r,
                Err(never) => match never {},
            };
            Ok::<_, Infallible>(resp.map(|inner| Tracked { inner, _busy: busy }))
        }
    });
    let mut conn = pin!(http.serve_connection(TokioIo::new(stream), service));
    let slot = &place.slot;
    let mut closing = false;
    // Set when the connection is closed to make room: a client that does not read the end of
    // its last response must not hold the place.
    let mut give_up: Option<Pin<Box<tokio::time::Sleep>>> = None;
    loop {
        tokio::select! {
            r = conn.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!("connection closed: {e}");
                }
                break;
            }
            () = async {
                if let Some(s) = give_up.as_mut() {
                    s.await;
                }
            }, if give_up.is_some() => {
                tracing::debug!("a connection closed to make room did not finish in time");
                break;
            }
            () = slot.shed.notified(), if !closing => {
                if slot.is_busy() {
                    // A request arrived since it was picked; the accept loop picks another.
                    slot.shedding.store(false, Ordering::SeqCst);
                    place.conns.changed.notify_one();
                    continue;
                }
                if slot.requests.load(Ordering::SeqCst) == 0 {
                    break;
                }
                // It answered requests: let hyper send what it has left, then close.
                conn.as_mut().graceful_shutdown();
                closing = true;
                give_up = Some(Box::pin(tokio::time::sleep(SHED_GRACE)));
            }
            () = stopped(&mut stop), if !closing => {
                // A connection that never got a request has nothing to finish; hyper's graceful
                // shutdown would wait for its first request.
                if !slot.is_busy() && slot.requests.load(Ordering::SeqCst) == 0 {
                    break;
                }
                conn.as_mut().graceful_shutdown();
                closing = true;
            }
        }
    }
    // `conn` (the socket) is dropped before `place`, so the place is free only once the socket
    // is closed.
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_leaves_room_for_the_rest_of_the_daemon() {
        assert_eq!(effective_cap(256, None), 256);
        assert_eq!(effective_cap(256, Some(20_000)), 256);
        // launchd's default: 256 open files.
        assert_eq!(effective_cap(256, Some(256)), 192);
        assert_eq!(effective_cap(256, Some(10)), MIN_CONNECTIONS);
        assert_eq!(effective_cap(4, Some(10)), 4);
        assert_eq!(effective_cap(0, None), 1);
    }

    /// At the cap, the newcomer waits while the connection idle the longest is asked to close;
    /// a busy one (such as an event stream) never is.
    #[tokio::test]
    async fn at_the_cap_the_longest_idle_connection_makes_room() {
        let conns = Arc::new(Conns::new(3));
        let stream = conns.admit().await;
        let old_idle = conns.admit().await;
        let new_idle = conns.admit().await;
        let _busy = Busy::new(conns.clone(), stream.slot.clone());
        // The stream is the oldest, but busy.
        stream.slot.last_active_ms.store(0, Ordering::SeqCst);
        old_idle.slot.last_active_ms.store(1, Ordering::SeqCst);
        new_idle.slot.last_active_ms.store(2, Ordering::SeqCst);

        let waiting = tokio::spawn({
            let conns = conns.clone();
            async move { conns.admit().await }
        });
        tokio::time::timeout(Duration::from_secs(5), old_idle.slot.shed.notified())
            .await
            .expect("the oldest idle connection is asked to close");
        assert!(!stream.slot.shedding.load(Ordering::SeqCst));
        assert!(!new_idle.slot.shedding.load(Ordering::SeqCst));
        assert!(!waiting.is_finished(), "no room before it closes");
        let freed = old_idle.id;
        drop(old_idle);
        let admitted = tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("admitted once a place is free")
            .expect("task");
        assert_ne!(admitted.id, freed);
        assert_eq!(conns.lock().len(), 3);
    }
}
