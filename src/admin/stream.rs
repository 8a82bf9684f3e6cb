//! `GET /api/stream?route=&outcome=`: every outcome as it happens, as server-sent events.
//!
//! Each outcome is one `data:` line of JSON (the `recent::Seen` shape). The stream never holds the
//! request path back: it reads from the broadcast of `recent`, and a reader that falls behind (its
//! connection does not take the bytes, or the broadcast left it behind) is sent a last `event: lagged`
//! and dropped. A comment every 15 seconds keeps idle connections and proxies awake.

use super::{Body, State};
use crate::recent::Seen;
use bytes::Bytes;
use http::{Response, StatusCode, header};
use http_body::Frame;
use http_body_util::BodyExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::Receiver;
use tokio::sync::broadcast::error::RecvError;

/// Frames waiting for a reader's connection at most before it is dropped.
const BUFFER: usize = 256;
const KEEPALIVE: Duration = Duration::from_secs(15);

pub fn stream(state: &State, query: Option<&str>) -> Response<Body> {
    let mut route = None;
    let mut outcomes: Vec<String> = Vec::new();
    for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        match k.as_ref() {
            "route" if !v.is_empty() => route = Some(v.into_owned()),
            "outcome" if !v.is_empty() => outcomes.extend(v.split(',').map(str::to_string)),
            _ => {}
        }
    }
    let body = pump(state.gateway.recent().subscribe(), route, outcomes);
    let mut r = Response::new(body);
    *r.status_mut() = StatusCode::OK;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/event-stream"),
    );
    h.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    r
}

/// The stream's body: the outcomes `rx` receives that pass the filters, as events, until the reader
/// falls behind.
fn pump(mut rx: Receiver<Arc<Seen>>, route: Option<String>, outcomes: Vec<String>) -> Body {
    let (mut tx, body) = http_body_util::channel::Channel::<Bytes>::new(BUFFER);
    tokio::spawn(async move {
        // The first bytes at once, so that a client knows the stream is open.
        if tx
            .try_send(Frame::data(Bytes::from_static(b": hookgate stream\n\n")))
            .is_err()
        {
            return;
        }
        let mut keepalive = tokio::time::interval(KEEPALIVE);
        keepalive.tick().await;
        loop {
            let frame = tokio::select! {
                got = rx.recv() => match got {
                    Ok(seen) => {
                        if route.as_deref().is_some_and(|r| r != seen.route)
                            || (!outcomes.is_empty() && !outcomes.iter().any(|o| o == seen.outcome))
                        {
                            continue;
                        }
                        let json = serde_json::to_string(&*seen).unwrap_or_default();
                        Bytes::from(format!("data: {json}\n\n"))
                    }
                    Err(RecvError::Lagged(_)) => {
                        let _ = tx.try_send(Frame::data(Bytes::from_static(b"event: lagged\ndata: {}\n\n")));
                        return;
                    }
                    Err(RecvError::Closed) => return,
                },
                _ = keepalive.tick() => Bytes::from_static(b": keepalive\n\n"),
            };
            // A reader that does not keep up is dropped rather than waited for.
            if tx.try_send(Frame::data(frame)).is_err() {
                return;
            }
        }
    });
    body.boxed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recent::Recent;

    fn seen(route: &str, outcome: &'static str, n: usize) -> Seen {
        Seen {
            at_ms: 0,
            route: route.into(),
            source: "request",
            outcome,
            status: 200,
            event_id: Some(format!("e{n}")),
            request_id: None,
            client: None,
            latency_ms: 0.1,
            upstream_ms: None,
            reason: None,
            headers: vec![],
            attempt: None,
        }
    }

    /// Every data frame the body yields until it ends, as text.
    async fn drain(mut body: Body) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame.unwrap().into_data() {
                out.push(String::from_utf8(data.to_vec()).unwrap());
            }
        }
        out
    }

    #[tokio::test(flavor = "current_thread")]
    async fn filters_apply_and_a_reader_that_stops_reading_is_dropped_not_waited_for() {
        let recent = Recent::new();
        let body = pump(
            recent.subscribe(),
            Some("a".into()),
            vec!["accepted".into()],
        );
        // The reader takes nothing while the gateway keeps publishing, at a pace the stream's task
        // keeps up with, so that only the reader is behind.
        for n in 0..BUFFER * 2 {
            recent.publish(seen("a", "accepted", n));
            recent.publish(seen("b", "accepted", n));
            recent.publish(seen("a", "invalid_signature", n));
            tokio::task::yield_now().await;
        }
        let frames = drain(body).await;
        assert_eq!(frames[0], ": hookgate stream\n\n");
        let events: Vec<&String> = frames.iter().filter(|f| f.starts_with("data: ")).collect();
        // The channel held what fit and the stream ended: the reader was dropped.
        assert_eq!(events.len(), BUFFER - 1, "{} events", events.len());
        assert!(
            events
                .iter()
                .all(|e| e.contains("\"route\":\"a\"") && e.contains("\"accepted\""))
        );
        assert!(events[0].contains("\"e0\""));
        assert!(
            !recent.watched(),
            "the dropped reader's subscription is gone"
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_stream_the_broadcast_left_behind_says_so_and_ends() {
        let recent = Recent::new();
        let body = pump(recent.subscribe(), None, vec![]);
        // Far more than the broadcast keeps, before the stream's task gets to run at all.
        for n in 0..crate::recent::STREAM_BUFFER + 10 {
            recent.publish(seen("a", "accepted", n));
        }
        let frames = drain(body).await;
        assert_eq!(frames.last().unwrap(), "event: lagged\ndata: {}\n\n");
        assert!(frames.iter().all(|f| !f.starts_with("data: ")));
    }
}
