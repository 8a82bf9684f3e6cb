//! The admin JSON API over the store: list events, show one, replay one or many.
//!
//! - `GET /api/events?route=&state=&since=&until=&id=&type=&before=&limit=` lists events newest first
//!   (`state` is queued, delivering, delivered or dead; `since`/`until` are RFC 3339 times or
//!   durations ago, such as `1h`; `before` is the `next` cursor of the previous page).
//! - `GET /api/events/ROUTE/ID` shows one: what the vendor sent (signature values masked), what is
//!   forwarded, and every attempt.
//! - `POST /api/events/ROUTE/ID/replay` queues it for delivery again, whatever its state: replaying a
//!   delivered event bypasses deduplication on purpose.
//! - `POST /api/replay` with a JSON filter (`route`, `state`, `since`, `until`, `ids`) replays every
//!   matching event (the dead letters of a route: `{"route": "stripe", "state": "dead"}`).
//!
//! Answers never contain a secret or an expected signature: the store holds neither, and the
//! signature values a vendor sent are masked.

use super::State as AdminState;
use crate::store::{Filter, Listed, Seq, State, Store, Summary};
use http::{Method, Response, StatusCode, header};
use http_body_util::{BodyExt, Limited};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::sync::Arc;

/// Events listed per page at most.
const MAX_LIMIT: usize = 1000;
/// Events one replay request may queue at most.
const MAX_REPLAY: usize = 100_000;

/// Answers a request under `/api/`, or `None` for any other path.
pub async fn handle(
    method: &Method,
    path: &str,
    query: Option<&str>,
    body: hyper::body::Incoming,
    state: &AdminState,
) -> Option<Response<super::Body>> {
    let rest = path.strip_prefix("/api/")?;
    let gateway = &state.gateway;
    let store = gateway.store();
    let running = running(state);
    let parts: Vec<&str> = rest.split('/').collect();
    Some(match (method, parts.as_slice()) {
        (&Method::GET, ["events"]) => match filter(query) {
            Ok((f, delivering)) => list(store, &f, delivering, &running).await,
            Err(e) => error(StatusCode::BAD_REQUEST, &e),
        },
        (&Method::GET, ["events", route, id]) => {
            let (route, id) = (decode(route), decode(id));
            match find(store, &route, &id).await {
                Ok(Some(seq)) => detail(state, seq, &running).await,
                Ok(None) => error(
                    StatusCode::NOT_FOUND,
                    &format!("no stored event {id} on route {route}"),
                ),
                Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, &e),
            }
        }
        (&Method::POST, ["events", route, id, "replay"]) => {
            let (route, id) = (decode(route), decode(id));
            match find(store, &route, &id).await {
                Ok(Some(seq)) => replay(state, vec![seq]).await,
                Ok(None) => error(
                    StatusCode::NOT_FOUND,
                    &format!("no stored event {id} on route {route}"),
                ),
                Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, &e),
            }
        }
        (&Method::POST, ["replay"]) => {
            let bytes = match Limited::new(body, 64 * 1024).collect().await {
                Ok(b) => b.to_bytes(),
                Err(_) => {
                    return Some(error(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "the filter is too large",
                    ));
                }
            };
            match replay_filter(&bytes) {
                Ok(Selection::Ids(route, ids)) => {
                    let mut seqs = Vec::new();
                    for id in ids {
                        match find(store, &route, &id).await {
                            Ok(Some(seq)) => seqs.push(seq),
                            Ok(None) => {}
                            Err(e) => return Some(error(StatusCode::SERVICE_UNAVAILABLE, &e)),
                        }
                    }
                    replay(state, seqs).await
                }
                Ok(Selection::Filter(f)) => match all(store, f).await {
                    Ok(seqs) => replay(state, seqs).await,
                    Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, &e),
                },
                Err(e) => error(StatusCode::BAD_REQUEST, &e),
            }
        }
        (&Method::GET, ["overview"]) => overview(state).await,
        (&Method::GET, ["stream"]) => super::stream::stream(state, query),
        (&Method::GET, ["routes"]) => routes(state),
        (_, ["events", ..] | ["replay"] | ["overview"] | ["stream"] | ["routes"]) => {
            error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
        }
        _ => error(StatusCode::NOT_FOUND, "no such endpoint"),
    })
}

fn running(state: &AdminState) -> HashSet<Seq> {
    state
        .gateway
        .workers()
        .map(|w| w.running_events())
        .unwrap_or_default()
}

async fn find(store: &Store, route: &str, id: &str) -> Result<Option<Seq>, String> {
    store.find(route, id).await.map_err(|e| e.to_string())
}

/// Percent-decodes one path segment (`+` stays `+`).
fn decode(segment: &str) -> String {
    percent_encoding::percent_decode_str(segment)
        .decode_utf8_lossy()
        .into_owned()
}

/// A time parameter: RFC 3339, or a duration ago (`1h`).
fn time(text: &str) -> Result<u64, String> {
    if let Ok(t) = text.parse::<jiff::Timestamp>() {
        return u64::try_from(t.as_millisecond()).map_err(|_| format!("{text} is before 1970"));
    }
    let ago = crate::config::layer::duration(&text.to_string()).map_err(|_| {
        format!("\"{text}\" is neither an RFC 3339 time nor a duration ago such as \"1h\"")
    })?;
    let now = jiff::Timestamp::now().as_millisecond();
    Ok(u64::try_from(now)
        .unwrap_or(0)
        .saturating_sub(ago.as_millis() as u64))
}

/// The list filter of a query string, and whether only events being delivered are wanted.
fn filter(query: Option<&str>) -> Result<(Filter, bool), String> {
    let mut f = Filter {
        limit: 50,
        ..Filter::default()
    };
    let mut delivering = false;
    for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        let v = v.into_owned();
        match k.as_ref() {
            "route" if !v.is_empty() => f.route = Some(v),
            "state" if v == "delivering" => {
                f.state = Some(State::Queued);
                delivering = true;
            }
            "state" if !v.is_empty() => {
                f.state = Some(State::parse(&v).ok_or_else(|| {
                    format!("state \"{v}\" is not one of queued, delivering, delivered, dead")
                })?)
            }
            "since" if !v.is_empty() => f.since_ms = Some(time(&v)?),
            "until" if !v.is_empty() => f.until_ms = Some(time(&v)?),
            "id" if !v.is_empty() => f.id = Some(v),
            "type" if !v.is_empty() => f.kind = Some(v),
            "before" if !v.is_empty() => {
                f.before = Some(
                    v.parse()
                        .map_err(|_| format!("before \"{v}\" is not a cursor"))?,
                )
            }
            "limit" if !v.is_empty() => {
                let n: usize = v
                    .parse()
                    .map_err(|_| format!("limit \"{v}\" is not a number"))?;
                f.limit = n.clamp(1, MAX_LIMIT);
            }
            _ => {}
        }
    }
    Ok((f, delivering))
}

fn rfc3339(ms: u64) -> Value {
    jiff::Timestamp::from_millisecond(i64::try_from(ms).unwrap_or(i64::MAX))
        .map(|t| Value::String(t.to_string()))
        .unwrap_or(Value::Null)
}

/// One event as lists show it.
pub fn item(seq: Seq, s: &Summary, running: &HashSet<Seq>) -> Value {
    let state = if s.state == State::Queued && running.contains(&seq) {
        "delivering"
    } else {
        s.state.name()
    };
    json!({
        "seq": seq,
        "route": s.route,
        "id": s.id,
        "type": s.kind,
        "received": rfc3339(s.received_ms),
        "state": state,
        "attempts": s.attempts,
        "next_attempt": s.next_ms.map(rfc3339),
        "last_status": s.last_status,
        "last_error": s.last_error,
        "delivered": s.delivered_ms.map(rfc3339),
        "dead_reason": s.dead_reason,
        "replays": s.replays,
    })
}

async fn list(
    store: &Store,
    f: &Filter,
    delivering: bool,
    running: &HashSet<Seq>,
) -> Response<super::Body> {
    let found: Vec<Listed> = match store.list(f).await {
        Ok(l) => l,
        Err(e) => return error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
    };
    let next = (found.len() == f.limit)
        .then(|| found.last().map(|l| l.seq))
        .flatten();
    let events: Vec<Value> = found
        .iter()
        .filter(|l| !delivering || running.contains(&l.seq))
        .map(|l| item(l.seq, &l.summary, running))
        .collect();
    ok(json!({ "events": events, "next": next }))
}

/// Whether a request header carries a signature or a credential, whose value is masked.
pub fn masked_header(name: &str, signature_headers: &[String]) -> bool {
    let n = name.to_ascii_lowercase();
    signature_headers.contains(&n)
        || ["authorization", "cookie", "proxy-authorization"].contains(&n.as_str())
        || ["signature", "secret", "token", "auth"]
            .iter()
            .any(|w| n.contains(w))
}

/// A body as JSON can carry it: text when it is UTF-8, base64 otherwise.
fn body(bytes: &[u8]) -> Value {
    match std::str::from_utf8(bytes) {
        Ok(text) => json!({ "text": text }),
        Err(_) => {
            use base64::Engine;
            json!({ "base64": base64::engine::general_purpose::STANDARD.encode(bytes) })
        }
    }
}

async fn detail(state: &AdminState, seq: Seq, running: &HashSet<Seq>) -> Response<super::Body> {
    let store = state.gateway.store();
    let (record, summary, attempts) = match (
        store.event(seq).await,
        store.summary(seq).await,
        store.attempts(seq).await,
    ) {
        (Ok(Some(r)), Ok(Some(s)), Ok(a)) => (r, s, a),
        (Ok(None), _, _) | (_, Ok(None), _) => {
            return error(StatusCode::NOT_FOUND, "the event is gone");
        }
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => {
            return error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string());
        }
    };
    let live = state.gateway.live();
    let signature_headers: Vec<String> = live
        .routes
        .iter()
        .find(|r| *r.name == *record.route)
        .map(|r| {
            r.verifier
                .signature()
                .headers()
                .map(|h| h.as_str().to_string())
                .collect()
        })
        .unwrap_or_default();
    let headers: Vec<Value> = record
        .headers
        .iter()
        .map(|(n, v)| {
            if masked_header(n, &signature_headers) {
                json!([n, format!("(masked, {} bytes)", v.len())])
            } else {
                json!([n, String::from_utf8_lossy(v)])
            }
        })
        .collect();
    let attempts: Vec<Value> = attempts
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let (outcome, next, reason) = match &a.outcome {
                crate::store::Outcome::Delivered => ("delivered", None, None),
                crate::store::Outcome::Retry { at_ms } => ("retry", Some(rfc3339(*at_ms)), None),
                crate::store::Outcome::Dead { reason } => ("dead", None, Some(reason.clone())),
            };
            json!({
                "attempt": i + 1,
                "at": rfc3339(a.at_ms),
                "status": a.status,
                "error": a.error,
                "latency_ms": a.latency_us as f64 / 1000.0,
                "outcome": outcome,
                "next_attempt": next,
                "reason": reason,
            })
        })
        .collect();
    ok(json!({
        "event": item(seq, &summary, running),
        "request": {
            "client": record.client,
            "request_id": record.request_id,
            "headers": headers,
            "body": body(&record.body),
        },
        "envelope": {
            "content_type": record.envelope.content_type,
            "headers": record.envelope.headers,
            "body": body(&record.envelope.body),
        },
        "attempts": attempts,
    }))
}

enum Selection {
    Ids(String, Vec<String>),
    Filter(Filter),
}

fn replay_filter(bytes: &[u8]) -> Result<Selection, String> {
    let v: Value =
        serde_json::from_slice(bytes).map_err(|e| format!("the body is not a JSON filter: {e}"))?;
    let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    if let Some(ids) = v.get("ids").and_then(Value::as_array) {
        let route = text("route").ok_or("replaying by ids needs the route")?;
        let ids = ids
            .iter()
            .filter_map(|i| i.as_str().map(str::to_string))
            .collect();
        return Ok(Selection::Ids(route, ids));
    }
    let mut f = Filter {
        route: text("route"),
        limit: MAX_REPLAY,
        ..Filter::default()
    };
    if let Some(s) = text("state") {
        f.state = Some(
            State::parse(&s)
                .ok_or_else(|| format!("state \"{s}\" is not one of queued, delivered, dead"))?,
        );
    }
    if let Some(t) = text("since") {
        f.since_ms = Some(time(&t)?);
    }
    if let Some(t) = text("until") {
        f.until_ms = Some(time(&t)?);
    }
    if f.route.is_none() && f.state.is_none() && f.since_ms.is_none() {
        return Err("name at least a route, a state or a time range: replaying everything is not done by accident".into());
    }
    Ok(Selection::Filter(f))
}

async fn all(store: &Store, f: Filter) -> Result<Vec<Seq>, String> {
    store
        .list(&f)
        .await
        .map(|l| l.into_iter().map(|l| l.seq).collect())
        .map_err(|e| e.to_string())
}

async fn replay(state: &AdminState, seqs: Vec<Seq>) -> Response<super::Body> {
    let gateway = &state.gateway;
    let Some(workers) = gateway.workers() else {
        return error(
            StatusCode::CONFLICT,
            "this gateway keeps no events (store.kind = \"memory\")",
        );
    };
    let store = gateway.store();
    match store.replay(seqs).await {
        Ok(done) => {
            let now = u64::try_from(jiff::Timestamp::now().as_millisecond()).unwrap_or(0);
            for (seq, route) in &done {
                workers.enqueue(route, *seq, now);
                gateway
                    .metrics()
                    .replays
                    .get_or_create(&crate::metrics::RouteLabels {
                        route: Arc::from(route.as_str()),
                    })
                    .inc();
            }
            ok(json!({ "replayed": done.len() }))
        }
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
    }
}

fn ok(v: Value) -> Response<super::Body> {
    reply(StatusCode::OK, v)
}

fn error(status: StatusCode, message: &str) -> Response<super::Body> {
    reply(status, json!({ "error": message }))
}

fn reply(status: StatusCode, v: Value) -> Response<super::Body> {
    let mut r = Response::new(super::whole(v.to_string()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    r
}

/// The routes being served, for the inspector's filters.
fn routes(state: &AdminState) -> Response<super::Body> {
    let live = state.gateway.live();
    let routes: Vec<Value> = live
        .routes
        .iter()
        .map(|r| {
            json!({
                "name": &*r.name,
                "path": r.path,
                "provider": r.provider,
                "delivery": r.delivery.name(),
            })
        })
        .collect();
    ok(json!({ "routes": routes }))
}

/// Every route's last hour: counts per minute by outcome, the rejections sample, and the queue.
async fn overview(state: &AdminState) -> Response<super::Body> {
    let gateway = &state.gateway;
    let store = gateway.store();
    let counts = store.counts().await.unwrap_or_default();
    let oldest = store.oldest_queued().await.unwrap_or_default();
    let now = jiff::Timestamp::now().as_millisecond();
    let running: std::collections::HashMap<String, usize> = gateway
        .workers()
        .map(|w| {
            w.running()
                .into_iter()
                .map(|(r, n)| (r.to_string(), n))
                .collect()
        })
        .unwrap_or_default();
    let mut names: Vec<String> = gateway
        .live()
        .routes
        .iter()
        .map(|r| r.name.to_string())
        .collect();
    let recent = gateway.recent().overview();
    for r in &recent {
        if !names.iter().any(|n| **n == *r.route) {
            names.push(r.route.to_string());
        }
    }
    let routes: Vec<Value> = names
        .iter()
        .map(|name| {
            let (minutes, rejections) = recent
                .iter()
                .find(|r| *r.route == **name)
                .map(|r| (r.minutes.clone(), r.rejections.clone()))
                .unwrap_or_default();
            let count = |state: State| {
                counts
                    .iter()
                    .find(|(r, s, _)| r == name && *s == state)
                    .map_or(0, |(_, _, n)| *n)
            };
            let oldest_age = oldest
                .iter()
                .find(|(r, _)| r == name)
                .map(|(_, at)| ((now - *at as i64).max(0)) as f64 / 1000.0);
            json!({
                "route": name,
                "queued": count(State::Queued),
                "dead": count(State::Dead),
                "delivering": running.get(name).copied().unwrap_or(0),
                "oldest_queued_seconds": oldest_age,
                "minutes": minutes,
                "rejections": rejections.iter().map(|r| &**r).collect::<Vec<_>>(),
            })
        })
        .collect();
    ok(json!({ "routes": routes, "now": rfc3339(now.max(0) as u64) }))
}
