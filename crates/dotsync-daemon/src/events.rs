//! The daemon's event hub: every sync, file, conflict, error and config change becomes an event
//! with an increasing id. Subscribers (the SSE stream) get them live; a client that reconnects
//! with `Last-Event-ID` is replayed what it missed from a bounded buffer, or told it missed too
//! much.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use dotsync_api::DaemonEvent;
use serde::Serialize;
use tokio::sync::broadcast;

/// How many past events are kept for clients that reconnect.
const BUFFER: usize = 4096;

/// An event as the hub keeps it: the wire's [`dotsync_api::Event`] with its `data` already
/// serialized. It serializes exactly as that type does.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    /// Increasing, starting at 1 for each daemon run.
    pub id: u64,
    /// Unix seconds.
    pub time: i64,
    /// The [`DaemonEvent`]'s kind.
    pub kind: &'static str,
    /// Kept as JSON text: the buffer holds thousands of events (a large sync's file events),
    /// and a parsed value costs several times more memory than its text.
    pub data: Box<serde_json::value::RawValue>,
}

pub struct Hub {
    tx: broadcast::Sender<std::sync::Arc<Event>>,
    next: AtomicU64,
    buffer: Mutex<VecDeque<std::sync::Arc<Event>>>,
}

impl Default for Hub {
    fn default() -> Self {
        let (tx, _) = broadcast::channel(1024);
        Self {
            tx,
            next: AtomicU64::new(1),
            buffer: Mutex::new(VecDeque::with_capacity(BUFFER)),
        }
    }
}

impl Hub {
    /// Publishes an event and returns its id.
    pub fn emit(&self, event: &DaemonEvent) -> u64 {
        // `data` alone: the enum's variant is its kind.
        let data = match event {
            DaemonEvent::ConfigChanged(d) => raw(d),
            DaemonEvent::SyncStarted(d)
            | DaemonEvent::SyncProgress(d)
            | DaemonEvent::File(d)
            | DaemonEvent::SyncFinished(d) => raw(d),
            DaemonEvent::Conflict(d) => raw(d),
            DaemonEvent::Error(d) => raw(d),
            DaemonEvent::Status(d) => raw(d),
            DaemonEvent::Paused(d) => raw(d),
            DaemonEvent::SettingsChanged(d) => raw(d),
            DaemonEvent::ConflictResolved(d) => raw(d),
            DaemonEvent::Restored(d) => raw(d),
        };
        self.emit_raw(event.kind(), data)
    }

    fn emit_raw(&self, kind: &'static str, data: Box<serde_json::value::RawValue>) -> u64 {
        // The buffer lock is held while the id is taken and the event sent, so ids reach every
        // subscriber and the buffer in increasing order.
        let mut buf = self
            .buffer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let id = self.next.fetch_add(1, Ordering::SeqCst);
        let ev = std::sync::Arc::new(Event {
            id,
            time: dotsync_state::now_unix(),
            kind,
            data,
        });
        if buf.len() == BUFFER {
            buf.pop_front();
        }
        buf.push_back(ev.clone());
        let _ = self.tx.send(ev);
        id
    }

    /// Subscribes, returning the events after `last_id` still buffered (and whether some were
    /// lost) together with the live receiver. Taken under the buffer lock so nothing falls
    /// between the replay and the live stream.
    pub fn subscribe(
        &self,
        last_id: Option<u64>,
    ) -> (
        Vec<std::sync::Arc<Event>>,
        bool,
        broadcast::Receiver<std::sync::Arc<Event>>,
    ) {
        let buf = self
            .buffer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let rx = self.tx.subscribe();
        let Some(last) = last_id else {
            return (Vec::new(), false, rx);
        };
        let replay: Vec<_> = buf.iter().filter(|e| e.id > last).cloned().collect();
        let oldest = buf
            .front()
            .map_or(self.next.load(Ordering::SeqCst), |e| e.id);
        let missed = last + 1 < oldest;
        (replay, missed, rx)
    }

    /// Publishes an event with any data (tests of the stream itself).
    #[cfg(test)]
    pub fn emit_test(&self, kind: &'static str, data: &serde_json::Value) -> u64 {
        self.emit_raw(kind, raw(data))
    }

    /// The id the next event will get.
    pub fn next_id(&self) -> u64 {
        self.next.load(Ordering::SeqCst)
    }
}

/// The JSON text of an event's data. The wire types serialize without failing (no maps with
/// non-string keys); `null` otherwise, logged.
fn raw<T: Serialize>(data: &T) -> Box<serde_json::value::RawValue> {
    serde_json::value::to_raw_value(data).unwrap_or_else(|e| {
        tracing::error!("cannot serialize an event: {e}");
        serde_json::value::to_raw_value(&()).unwrap_or_default()
    })
}
