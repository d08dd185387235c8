//! `GET /v1/events`: the hub's events as Server-Sent Events, for the web app's live view.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use serde::Deserialize;
use tokio::sync::{broadcast, mpsc};
use tokio_stream::Stream;
use tokio_stream::StreamExt as _;
use tokio_stream::wrappers::ReceiverStream;

use dotsync_api::Missed;

use crate::App;
use crate::events::Event;
use crate::json::ApiQuery;

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
        .event(e.kind)
        .data(data)
}

fn missed(data: &Missed) -> SseEvent {
    let data = serde_json::to_string(data).unwrap_or_else(|_| "{}".to_owned());
    SseEvent::default().event("missed").data(data)
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
        content_type = "text/event-stream", body = dotsync_api::Event)))]
#[allow(
    clippy::similar_names,
    reason = "`last` (the last id the client saw) and `lost` (events it missed) say what they are"
)]
pub async fn events(
    State(app): State<App>,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<EventsQuery>,
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
            let data = Missed {
                last_event_id: last,
                first_available: first,
            };
            if tx.send(missed(&data)).await.is_err() {
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
                            let data = Missed { last_event_id: Some(sent), first_available: first };
                            if tx.send(missed(&data)).await.is_err() {
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
                () = tx.closed() => return,
                _ = shutdown.changed() => return,
            }
        }
    });
    Sse::new(ReceiverStream::new(rx).map(Ok))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    use crate::App;

    /// Opens an app in a temporary state directory; the token to call it with.
    fn app() -> (tempfile::TempDir, App, String) {
        let dir = tempfile::tempdir().expect("tempdir");
        let layout = dotsync_state::Layout::new(dir.path().join("dots"));
        let app = App::open(layout.clone(), dir.path().to_path_buf()).expect("open");
        let token = layout.read_token().expect("read").expect("token");
        (dir, app, token)
    }

    /// The whole SSE body of a request, ended by shutting the app down.
    async fn body(app: &App, token: &str, last_id: Option<u64>) -> String {
        let mut req = Request::get("/v1/events")
            .header("host", "127.0.0.1")
            .header("authorization", format!("Bearer {token}"));
        if let Some(id) = last_id {
            req = req.header("last-event-id", id.to_string());
        }
        let resp = app
            .router()
            .oneshot(req.body(Body::empty()).expect("request"))
            .await
            .expect("response");
        assert_eq!(resp.status(), 200);
        // Let the stream send what it has, then end it the way a daemon stop does.
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        app.sync.begin_shutdown();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .expect("body");
        String::from_utf8(bytes.to_vec()).expect("UTF-8")
    }

    #[tokio::test]
    async fn a_client_that_lost_events_is_told_and_gets_the_rest() {
        let (_dir, app, token) = app();
        for i in 0..5000 {
            app.events.emit_test("file", &serde_json::json!({ "n": i }));
        }
        let text = body(&app, &token, Some(10)).await;
        let first = text.split("\n\n").next().expect("an event");
        assert!(first.contains("event: missed"), "{first}");
        assert!(!first.contains("id:"), "a missed notice has no id: {first}");
        // Then the oldest event still buffered, and every later one, in order.
        let ids: Vec<u64> = text
            .lines()
            .filter_map(|l| l.strip_prefix("id: "))
            .map(|v| v.parse().expect("numeric id"))
            .collect();
        assert_eq!(ids.first(), Some(&(5000 - 4096 + 1)));
        assert_eq!(ids.last(), Some(&5000));
        assert!(ids.windows(2).all(|p| p[1] == p[0] + 1));
    }

    #[tokio::test]
    async fn a_client_that_is_up_to_date_gets_only_what_follows() {
        let (_dir, app, token) = app();
        for i in 0..3 {
            app.events
                .emit_test("status", &serde_json::json!({ "n": i }));
        }
        let text = body(&app, &token, Some(2)).await;
        assert!(!text.contains("missed"), "{text}");
        let ids: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("id: "))
            .collect();
        assert_eq!(ids, ["3"]);
        assert!(text.contains("event: status"));
    }
}
