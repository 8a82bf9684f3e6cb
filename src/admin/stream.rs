//! `GET /api/stream?route=&outcome=`: every outcome as it happens, as server-sent events.
//!
//! Each outcome is one `data:` line of JSON (the `recent::Seen` shape). The stream never holds the
//! request path back: it reads from the broadcast of `recent`, and a reader that falls behind (its
//! connection does not take the bytes, or the broadcast left it behind) is sent a last `event: lagged`
//! and dropped. A comment every 15 seconds keeps idle connections and proxies awake.

use super::{Body, State};
use bytes::Bytes;
use http::{Response, StatusCode, header};
use http_body::Frame;
use http_body_util::BodyExt;
use std::time::Duration;
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
    let mut rx = state.gateway.recent().subscribe();
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
    let mut r = Response::new(body.boxed());
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
