//! Durable delivery with the real binary and real signals: `kill -9` while 32 connections deliver
//! loses no acknowledged event, SIGTERM finishes the attempts under way and leaves the rest queued
//! for the next start, and an upstream down for 20 seconds loses nothing and gets each event once.

use crate::harness::*;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SECRET: &str = "durable-secret";
const ADMIN_TOKEN: &str = "durable-admin-token-0123456789";

fn config(upstream: &str, route_extra: &str, server: &str) -> String {
    format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n{server}\n[store]\npath = \"$DIR/data\"\n\
         [routes.a]\nprovider = \"chamelio\"\nsecrets = [\"{SECRET}\"]\nupstream = \"{upstream}\"\n\
         retry_schedule = [\"200ms\", \"500ms\", \"1s\", \"1s\", \"1s\", \"1s\", \"1s\", \"1s\", \"1s\", \"1s\"]\n{route_extra}\n"
    )
}

/// The distinct event ids the upstream received, and how many arrived more than once.
fn delivered(upstream: &Upstream) -> (BTreeSet<String>, usize) {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for r in upstream.received() {
        *counts
            .entry(r.json()["id"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    let twice = counts.values().filter(|&&n| n > 1).count();
    (counts.into_keys().collect(), twice)
}

async fn post_status(url: &str, id: &str) -> Option<u16> {
    let (h, b) = chamelio_delivery(SECRET, id);
    let client: hyper_util::client::legacy::Client<_, http_body_util::Full<bytes::Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build_http();
    let mut req = http::Request::post(url);
    for (k, v) in &h {
        req = req.header(k.as_str(), v.as_str());
    }
    let resp = client
        .request(
            req.body(http_body_util::Full::new(bytes::Bytes::from(b)))
                .unwrap(),
        )
        .await
        .ok()?;
    let status = resp.status().as_u16();
    use http_body_util::BodyExt;
    resp.into_body().collect().await.ok()?;
    Some(status)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_while_32_connections_deliver_loses_no_acknowledged_event() {
    let upstream = Upstream::start().await;
    // Attempts take a while, so that some are under way when the process dies.
    upstream.set(Behavior::Slow(Duration::from_millis(30), 200));
    // With an admin listener: after the restart, every acknowledged event is found by its id too.
    let admin = format!("[admin]\nlisten = \"127.0.0.1:0\"\ntoken = \"{ADMIN_TOKEN}\"\n");
    let mut proc = Proc::start("kill9", &config(&upstream.url(), "", &admin));
    let url = proc.url("/webhooks/a");
    let acknowledged = Arc::new(Mutex::new(BTreeSet::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let senders: Vec<_> = (0..32)
        .map(|c| {
            let (url, acknowledged, stop) = (url.clone(), acknowledged.clone(), stop.clone());
            tokio::spawn(async move {
                for i in 0.. {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    let id = format!("evt_k9_{c}_{i}");
                    match post_status(&url, &id).await {
                        Some(200) => {
                            acknowledged.lock().unwrap().insert(id);
                        }
                        Some(other) => panic!("{id}: {other}"),
                        None => return, // the process is gone
                    }
                }
            })
        })
        .collect();
    // Let a few hundred deliveries through, then kill the process mid-stream.
    until(
        Duration::from_secs(30),
        || acknowledged.lock().unwrap().len() >= 300,
        || format!("{} acknowledged", acknowledged.lock().unwrap().len()),
    )
    .await;
    proc.kill9();
    stop.store(true, Ordering::Relaxed);
    for s in senders {
        s.await.unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    let before_restart = delivered(&upstream).0.len();

    // Started again on the same data directory, it delivers everything that was acknowledged.
    let proc = proc.restart();
    until(
        Duration::from_secs(60),
        || acknowledged.is_subset(&delivered(&upstream).0),
        || {
            let got = delivered(&upstream).0;
            format!(
                "{} of {} acknowledged events delivered",
                acknowledged.intersection(&got).count(),
                acknowledged.len()
            )
        },
    )
    .await;
    let (ids, twice) = delivered(&upstream);
    eprintln!(
        "kill -9: {} acknowledged, {before_restart} delivered before the kill, {} after the restart; {twice} arrived twice",
        acknowledged.len(),
        ids.len()
    );
    assert!(acknowledged.is_subset(&ids));
    // The id index (in the dedupe journal, or folded) survived the kill with the events.
    let admin = proc.admin.expect("an admin listener");
    let auth = hdrs(&[("authorization", &format!("Bearer {ADMIN_TOKEN}"))]);
    for id in &acknowledged {
        let r = send(
            "GET",
            &format!("http://{admin}/api/events/a/{id}"),
            &auth,
            String::new(),
        )
        .await;
        assert_eq!(r.status, 200, "{id} not found by its id: {:?}", r.body);
        assert_eq!(r.json()["event"]["id"], id.as_str());
    }
}

/// Direct mode: an event forwarded before a `kill -9` is still known after the restart (the
/// process's memory is gone; the store's journal of delivered ids is all there is), so the vendor's
/// retry of it is answered as a duplicate and not forwarded again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_in_direct_mode_forgets_no_delivered_id() {
    let upstream = Upstream::start().await;
    let mut proc = Proc::start(
        "kill9-direct",
        &config(&upstream.url(), "delivery = \"direct\"", ""),
    );
    let url = proc.url("/webhooks/a");
    let send_all = |url: String, round: &'static str| async move {
        let senders: Vec<_> = (0..8)
            .map(|c| {
                let url = url.clone();
                tokio::spawn(async move {
                    for i in 0..25 {
                        let id = format!("evt_k9d_{c}_{i}");
                        assert_eq!(post_status(&url, &id).await, Some(200), "{round} {id}");
                    }
                })
            })
            .collect();
        for s in senders {
            s.await.unwrap();
        }
    };
    send_all(url, "first").await;
    assert_eq!(upstream.count(), 200);
    proc.kill9();
    let proc = proc.restart();
    send_all(proc.url("/webhooks/a"), "retry").await;
    let (ids, twice) = delivered(&upstream);
    assert_eq!(
        (ids.len(), twice, upstream.count()),
        (200, 0, 200),
        "no event forwarded twice"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_the_attempts_under_way_and_leaves_the_rest_queued() {
    let upstream = Upstream::start().await;
    upstream.set(Behavior::Slow(Duration::from_millis(1500), 200));
    let mut proc = Proc::start(
        "term-queued",
        &config(
            &upstream.url(),
            "delivery_concurrency = 2",
            "drain_timeout = \"10s\"",
        ),
    );
    let url = proc.url("/webhooks/a");
    for i in 0..10 {
        assert_eq!(post_status(&url, &format!("evt_tq_{i}")).await, Some(200));
    }
    // Two attempts are under way (the route's concurrency); the other eight wait.
    until(
        Duration::from_secs(10),
        || upstream.count() == 2,
        || format!("{}", upstream.count()),
    )
    .await;
    proc.signal("TERM");
    let status = tokio::task::spawn_blocking(move || {
        let s = proc.wait(Duration::from_secs(15));
        (s, proc)
    })
    .await
    .unwrap();
    let (exit, proc) = status;
    assert_eq!(exit.code(), Some(0));
    assert_eq!(upstream.count(), 2, "no new attempt started while draining");
    upstream.set(Behavior::Answer(200));
    let _proc = proc.restart();
    until(
        Duration::from_secs(30),
        || delivered(&upstream).0.len() == 10,
        || format!("{:?}", delivered(&upstream)),
    )
    .await;
    let (_, twice) = delivered(&upstream);
    assert_eq!(
        twice, 0,
        "the two attempts that finished while draining were recorded"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_down_for_20_seconds_loses_nothing_and_gets_each_event_once() {
    // DocIntell retries 5 times in ~15 s; with the upstream down for 20 s, direct delivery lost most
    // of its events. Queued, the vendor is answered at once and hookgate owns the retries.
    let addr = free_port().await;
    let upstream_url = format!("http://{addr}/events");
    let routes = format!(
        "[routes.doc]\nprovider = \"docintell\"\nsecrets = [\"whsec_doc\"]\nupstream = \"{upstream_url}\"\n\
         retry_schedule = [\"1s\", \"1s\", \"1s\", \"1s\", \"1s\", \"1s\", \"1s\", \"1s\", \"1s\", \"1s\", \"1s\", \"1s\", \"1s\", \"1s\", \"1s\", \"1s\", \"1s\", \"1s\", \"1s\", \"1s\", \"1s\", \"1s\", \"1s\", \"1s\", \"1s\", \"1s\", \"1s\", \"1s\", \"1s\", \"1s\", \"1s\", \"1s\", \"1s\", \"1s\", \"1s\", \"1s\", \"1s\", \"1s\", \"1s\", \"1s\"]\n"
    );
    let dir = TempDir::new("durable-down");
    let gw = Gateway::start(&(routes + &dir.store("")), "", &[]).await;
    let started = Instant::now();
    let mut ids = Vec::new();
    // Seven events over the first 14 seconds, each sent as DocIntell sends (retried on non-2xx).
    for i in 0..7 {
        let id = docintell_event(&gw, i).await;
        ids.push(id);
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    // The upstream comes back 20 seconds after the first event.
    tokio::time::sleep(Duration::from_secs(20).saturating_sub(started.elapsed())).await;
    let upstream = Upstream::start_on(tokio::net::TcpListener::bind(addr).await.unwrap());
    until(
        Duration::from_secs(30),
        || upstream.count() >= 7,
        || format!("{}", upstream.count()),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got: Vec<String> = upstream
        .received()
        .iter()
        .map(|r| {
            r.json()["data"]["event_id"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .collect();
    let distinct: BTreeSet<&String> = got.iter().collect();
    assert_eq!(distinct.len(), 7, "{got:?}");
    assert_eq!(got.len(), 7, "each event delivered once: {got:?}");
    gw.stop().await;
}

/// Sends one DocIntell event the way DocIntell does (vendor-docs/docintell.txt): an attempt, then
/// retries after ~1, 2, 4 and 8 s while the answer is not 2xx, and gives up at the first 4xx. Returns
/// its id once an attempt was answered 2xx.
async fn docintell_event(gw: &Gateway, n: usize) -> String {
    let id = format!("doc_{n}");
    let body = format!(
        r#"{{"event":"document.processed","event_id":"{id}","timestamp":"{}","data":{{"document_id":"d{n}"}}}}"#,
        rfc3339(-1)
    );
    let sig = format!("sha256={}", hmac_sha256_hex("whsec_doc", body.as_bytes()));
    let h = hdrs(&[
        ("content-type", "application/json"),
        ("x-docintell-signature", &sig),
        ("x-docintell-event", "document.processed"),
    ]);
    for delay in [0u64, 1, 2, 4, 8] {
        tokio::time::sleep(Duration::from_secs(delay)).await;
        let r = post(&gw.url("/webhooks/doc"), &h, body.clone()).await;
        if (200..300).contains(&r.status) {
            return id;
        }
        assert!(
            !(400..500).contains(&r.status),
            "DocIntell would dead-letter {id}: {}",
            r.status
        );
    }
    panic!("{id} was never acknowledged");
}
