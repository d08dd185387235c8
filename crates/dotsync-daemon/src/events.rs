//! The daemon's event hub: every sync, file, conflict, error and config change becomes an event
//! with an increasing id. Subscribers (the SSE stream) get them live; a client that reconnects
//! with `Last-Event-ID` is replayed what it missed from a bounded buffer, or told it missed too
//! much.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;
use tokio::sync::broadcast;

/// How many past events are kept for clients that reconnect.
const BUFFER: usize = 4096;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Event {
    /// Increasing, starting at 1 for each daemon run.
    pub id: u64,
    /// Unix seconds.
    pub time: i64,
    /// `config_changed`, `sync_started`, `file`, `sync_finished`, `conflict`, `error`, `status`.
    pub kind: String,
    /// Kept as JSON text: the buffer holds thousands of events (a large sync's file events),
    /// and a parsed `Value` costs several times more memory than its text.
    #[schema(value_type = Object)]
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
    pub fn emit(&self, kind: &str, data: serde_json::Value) -> u64 {
        // The buffer lock is held while the id is taken and the event sent, so ids reach every
        // subscriber and the buffer in increasing order.
        // Serializing a `Value` cannot fail (its map keys are strings); `null` otherwise.
        let data = serde_json::value::to_raw_value(&data).unwrap_or_default();
        let mut buf = self.buffer.lock().unwrap_or_else(|p| p.into_inner());
        let id = self.next.fetch_add(1, Ordering::SeqCst);
        let ev = std::sync::Arc::new(Event {
            id,
            time: dotsync_state::now_unix(),
            kind: kind.to_owned(),
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
        let buf = self.buffer.lock().unwrap_or_else(|p| p.into_inner());
        let rx = self.tx.subscribe();
        let Some(last) = last_id else {
            return (Vec::new(), false, rx);
        };
        let replay: Vec<_> = buf.iter().filter(|e| e.id > last).cloned().collect();
        let oldest = buf
            .front()
            .map(|e| e.id)
            .unwrap_or(self.next.load(Ordering::SeqCst));
        let missed = last + 1 < oldest;
        (replay, missed, rx)
    }

    /// The id the next event will get.
    pub fn next_id(&self) -> u64 {
        self.next.load(Ordering::SeqCst)
    }
}
