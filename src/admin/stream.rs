//! `GET /api/stream?route=&outcome=`: every outcome as it happens, as server-sent events.
//!
//! Each outcome is one `data:` line of JSON (the `recent::Seen` shape). The stream never holds the
//! request path back: it reads from the broadcast of `recent`, and a reader that falls behind (its
//! connection does not take the bytes, or the broadcast left it behind) is sent a last `event: lagged`
//! and dropped. A comment every 15 seconds keeps idle connections and proxies awake.
//!
//! Under load a reader is woken at most once per `GATHER` and is sent everything that happened
//! meanwhile in one write: a reader costs the gateway a few wake-ups and writes a second, not one
//! per event (one per event cost 7 % of the queued-mode load benchmark's requests per CPU-second
//! with a page and a tail attached; `python3 bench/run.py --targets hookgate-queued,hookgate-queued+watch`).

use super::{Body, State};
use crate::recent::Seen;
use bytes::Bytes;
use http::{Response, StatusCode, header};
use http_body::Frame;
use http_body_util::BodyExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::Receiver;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};

/// Frames waiting for a reader's connection at most before it is dropped.
const BUFFER: usize = 256;
const KEEPALIVE: Duration = Duration::from_secs(15);
/// How long events are gathered into one write after the first of them. The broadcast keeps
/// `STREAM_BUFFER` (4096) events: 25 ms of them is 160 000 events a second.
const GATHER: Duration = Duration::from_millis(25);
const LAGGED: &[u8] = b"event: lagged\ndata: {}\n\n";

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
        let wanted = |seen: &Seen| {
            route.as_deref().is_none_or(|r| r == seen.route)
                && (outcomes.is_empty() || outcomes.iter().any(|o| o == seen.outcome))
        };
        loop {
            let first = tokio::select! {
                got = rx.recv() => got,
                _ = keepalive.tick() => {
                    if tx.try_send(Frame::data(Bytes::from_static(b": keepalive\n\n"))).is_err() {
                        return;
                    }
                    continue;
                }
            };
            let mut out = Vec::new();
            let mut end = match first {
                Ok(seen) => {
                    if wanted(&seen) {
                        event(&mut out, &seen);
                    }
                    None
                }
                Err(RecvError::Lagged(_)) => Some(LAGGED),
                Err(RecvError::Closed) => Some(&b""[..]),
            };
            if end.is_none() {
                // Whatever else happens meanwhile goes into the same write.
                tokio::time::sleep(GATHER).await;
                end = loop {
                    match rx.try_recv() {
                        Ok(seen) if wanted(&seen) => event(&mut out, &seen),
                        Ok(_) => {}
                        Err(TryRecvError::Empty) => break None,
                        Err(TryRecvError::Lagged(_)) => break Some(LAGGED),
                        Err(TryRecvError::Closed) => break Some(&b""[..]),
                    }
                };
            }
            if let Some(last) = end {
                out.extend_from_slice(last);
            }
            // A reader that does not keep up is dropped rather than waited for.
            if !out.is_empty() && tx.try_send(Frame::data(Bytes::from(out))).is_err() {
                return;
            }
            if end.is_some() {
                return;
            }
        }
    });
    body.boxed()
}

/// Appends one outcome as a server-sent event.
fn event(out: &mut Vec<u8>, seen: &Seen) {
    out.extend_from_slice(b"data: ");
    if serde_json::to_writer(&mut *out, seen).is_err() {
        out.extend_from_slice(b"{}");
    }
    out.extend_from_slice(b"\n\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recent::Recent;

    fn seen(route: &str, outcome: &'static str, n: usize) -> Seen {
        Seen::example(route, outcome, 200, n)
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

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn filters_apply_and_a_reader_that_stops_reading_is_dropped_not_waited_for() {
        let recent = Recent::new();
        let body = pump(
            recent.subscribe(),
            Some("a".into()),
            vec!["accepted".into()],
        );
        // The reader takes nothing while the gateway keeps publishing, one gathering window at a
        // time (the clock is the test's), so that only the reader is behind.
        for n in 0..BUFFER * 2 {
            recent.publish(seen("a", "accepted", n));
            recent.publish(seen("b", "accepted", n));
            recent.publish(seen("a", "invalid_signature", n));
            tokio::time::sleep(GATHER * 2).await;
        }
        let frames = drain(body).await;
        assert_eq!(frames[0], ": hookgate stream\n\n");
        let events: Vec<&String> = frames.iter().filter(|f| f.starts_with("data: ")).collect();
        // The channel held what fit and the stream ended: the reader was dropped.
        assert_eq!(events.len(), BUFFER - 1, "{} events", events.len());
        assert!(events.iter().all(|e| e.matches("data: ").count() == 1));
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

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn what_happens_within_one_window_is_one_write_in_order() {
        let recent = Recent::new();
        let body = pump(recent.subscribe(), None, vec![]);
        for n in 0..10 {
            recent.publish(seen("a", "accepted", n));
        }
        tokio::time::sleep(GATHER * 2).await;
        recent.publish(seen("a", "accepted", 10));
        // The sender going away ends the stream once what it holds is written.
        tokio::time::sleep(GATHER * 2).await;
        drop(recent);
        let frames = drain(body).await;
        assert_eq!(frames.len(), 3, "{frames:?}");
        let ids: Vec<usize> = frames[1]
            .split("\n\n")
            .filter(|e| !e.is_empty())
            .map(|e| {
                assert!(e.starts_with("data: {"), "{e}");
                let v: serde_json::Value = serde_json::from_str(&e["data: ".len()..]).unwrap();
                v["event_id"].as_str().unwrap()[1..].parse().unwrap()
            })
            .collect();
        assert_eq!(ids, (0..10).collect::<Vec<_>>());
        assert!(frames[2].contains("\"e10\""));
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
