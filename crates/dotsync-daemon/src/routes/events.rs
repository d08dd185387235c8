//! `GET /v1/events`: the hub's events as Server-Sent Events, for the web app's live view.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use serde::Deserialize;
use tokio::sync::{broadcast, mpsc};
use tokio_stream::Stream;
use tokio_stream::StreamExt as _;
use tokio_stream::wrappers::ReceiverStream;

use crate::App;
use crate::events::Event;

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Like the `Last-Event-ID` header, for clients that cannot set headers.
    pub last_event_id: Option<u64>,
}

fn sse(e: &Event) -> SseEvent {
    let data = serde_json::to_string(e).unwrap_or_else(|_| "{}".to_owned());
    SseEvent::default()
        .id(e.id.to_string())
        .event(e.kind.as_str())
        .data(data)
}

fn missed(data: serde_json::Value) -> SseEvent {
    SseEvent::default().event("missed").data(data.to_string())
}

/// A stream of what happens, as Server-Sent Events.
///
/// Each event has an `id:` (increasing within one daemon run), an `event:` name (its kind:
/// `config_changed`, `sync_started`, `sync_progress`, `file`, `conflict`, `sync_finished`,
/// `error`, `status`) and `data:`, the JSON of the `Event` (`id`, `time`, `kind`, `data`). A client
/// that reconnects with `Last-Event-ID` first gets the events it missed that are still buffered;
/// if some are gone, a `missed` event (without an id) says so and the client should reload its
/// view. The stream ends when the daemon shuts down.
#[utoipa::path(get, path = "/v1/events", tag = "daemon",
    params(("Last-Event-ID" = Option<u64>, Header, description = "The id of the last event seen"),
        EventsQuery),
    responses((status = 200, description = "Server-Sent Events; each `data:` is an Event",
        content_type = "text/event-stream", body = Event)))]
pub async fn events(
    State(app): State<App>,
    headers: HeaderMap,
    Query(q): Query<EventsQuery>,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let last = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .or(q.last_event_id);
    let (replay, lost, mut live) = app.events.subscribe(last);
    let mut shutdown = app.sync.shutdown_signal();
    let (tx, rx) = mpsc::channel::<SseEvent>(64);
    tokio::spawn(async move {
        if lost {
            let first = replay.first().map(|e| e.id);
            let data = serde_json::json!({"last_event_id": last, "first_available": first});
            if tx.send(missed(data)).await.is_err() {
                return;
            }
        }
        let mut sent = last.unwrap_or(0);
        for e in replay {
            sent = e.id;
            if tx.send(sse(&e)).await.is_err() {
                return;
            }
        }
        if *shutdown.borrow() {
            return;
        }
        loop {
            tokio::select! {
                r = live.recv() => match r {
                    Ok(e) if e.id > sent => {
                        sent = e.id;
                        if tx.send(sse(&e)).await.is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    // This client fell behind the live channel: take what it lacks from the
                    // hub's buffer, and say so if even that lost some.
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        let (replay, lost, rx) = app.events.subscribe(Some(sent));
                        live = rx;
                        if lost {
                            let first = replay.first().map(|e| e.id);
                            let data = serde_json::json!({"last_event_id": sent, "first_available": first});
                            if tx.send(missed(data)).await.is_err() {
                                return;
                            }
                        }
                        for e in replay {
                            sent = e.id;
                            if tx.send(sse(&e)).await.is_err() {
                                return;
                            }
                        }
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                _ = tx.closed() => return,
                _ = shutdown.changed() => return,
            }
        }
    });
    Sse::new(ReceiverStream::new(rx).map(Ok))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
