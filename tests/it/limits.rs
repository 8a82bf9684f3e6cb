//! Limits that hold under abuse, over real sockets: slow headers are cut off, idle keep-alive
//! connections are closed, saturation is answered with 503 and Retry-After at once (requests over
//! max_in_flight, connections over max_connections), and /metrics counts what was sent.

use crate::harness::*;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const SECRET: &str = "limits-secret";

fn route(upstream: &Upstream) -> String {
    format!(
        "[routes.a]\nprovider = \"chamelio\"\nsecrets = [\"{SECRET}\"]\nupstream = \"{}\"\n",
        upstream.url()
    )
}

fn signed(id: &str) -> (Vec<(String, String)>, String) {
    chamelio_delivery(SECRET, id)
}

/// Reads until the peer closes; returns what was read and how long it took.
async fn until_closed(stream: &mut TcpStream, limit: Duration) -> (Vec<u8>, Duration) {
    let started = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(
            tokio::time::Instant::from_std(started + limit),
            stream.read(&mut buf),
        )
        .await
        {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => panic!("the gateway kept the connection open for {limit:?}"),
        }
    }
    (got, started.elapsed())
}

#[tokio::test]
async fn a_slowloris_client_is_cut_off_at_the_header_timeout() {
    let upstream = Upstream::start().await;
    let gw = Gateway::start(&route(&upstream), "header_timeout = \"1s\"", &[]).await;
    let mut s = TcpStream::connect(gw.addr).await.unwrap();
    s.write_all(b"POST /webhooks/a HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    // One header byte every 200 ms: never a complete head.
    let drip = async {
        for b in b"X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".iter() {
            if s.write_all(&[*b]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(6), drip)
        .await
        .ok();
    let (_, _) = until_closed(&mut s, Duration::from_secs(3)).await;
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_secs(4),
        "cut off after {elapsed:?}"
    );
    assert!(
        elapsed >= Duration::from_millis(800),
        "cut off too early: {elapsed:?}"
    );
    assert_eq!(upstream.count(), 0);
    gw.stop().await;
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_idle_timeout() {
    let upstream = Upstream::start().await;
    let gw = Gateway::start(
        &route(&upstream),
        "idle_timeout = \"1s\"\nheader_timeout = \"30s\"",
        &[],
    )
    .await;
    let mut s = TcpStream::connect(gw.addr).await.unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = s.read(&mut buf).await.unwrap();
    assert!(
        buf[..n].starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&buf[..n])
    );
    let (rest, idle) = until_closed(&mut s, Duration::from_secs(5)).await;
    assert!(rest.is_empty());
    assert!(
        idle >= Duration::from_millis(900) && idle < Duration::from_secs(4),
        "{idle:?}"
    );
    gw.stop().await;
}

#[tokio::test]
async fn requests_over_max_in_flight_get_503_with_retry_after_at_once() {
    let upstream = Upstream::start().await;
    upstream.set(Behavior::Slow(Duration::from_millis(1500), 200));
    let gw = Gateway::start(&route(&upstream), "max_in_flight = 2", &[]).await;
    let url = gw.url("/webhooks/a");
    let slow: Vec<_> = (0..2)
        .map(|i| {
            let (h, b) = signed(&format!("evt_busy_{i}"));
            let url = url.clone();
            tokio::spawn(async move { post(&url, &h, b).await.status })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;

    let (h, b) = signed("evt_over");
    let started = Instant::now();
    let r = post(&url, &h, b.clone()).await;
    assert_eq!(r.status, 503);
    assert_eq!(r.error(), "overloaded");
    assert_eq!(r.headers["retry-after"], "5");
    assert!(
        started.elapsed() < Duration::from_millis(1000),
        "{:?}",
        started.elapsed()
    );

    for s in slow {
        assert_eq!(s.await.unwrap(), 200);
    }
    // Once the slots are free the same delivery goes through.
    upstream.set(Behavior::Answer(200));
    assert_eq!(post(&url, &h, b).await.status, 200);
    // By id: the two slow ones and, once, the one refused while they held the slots.
    let mut ids: Vec<String> = upstream
        .received()
        .iter()
        .map(|r| r.json()["id"].as_str().unwrap_or_default().to_string())
        .filter(|id| id.starts_with("evt_busy_") || id == "evt_over")
        .collect();
    ids.sort();
    assert_eq!(ids, ["evt_busy_0", "evt_busy_1", "evt_over"]);
    gw.stop().await;
}

#[tokio::test]
async fn connections_over_max_connections_get_503_and_are_closed() {
    let upstream = Upstream::start().await;
    let gw = Gateway::start(&route(&upstream), "max_connections = 2", &[]).await;
    let held = [
        TcpStream::connect(gw.addr).await.unwrap(),
        TcpStream::connect(gw.addr).await.unwrap(),
    ];
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut third = TcpStream::connect(gw.addr).await.unwrap();
    third
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let (answer, _) = until_closed(&mut third, Duration::from_secs(3)).await;
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 503"), "{text}");
    assert!(text.contains("retry-after: 5"), "{text}");
    assert!(
        text.ends_with(r#"{"error":"overloaded","message":"The gateway is busy; retry later."}"#),
        "{text}"
    );

    // Freeing a slot lets the next connection in.
    drop(held);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let r = send("GET", &gw.url("/healthz"), &[], "").await;
    assert_eq!(r.status, 200);
    gw.stop().await;
}

#[tokio::test]
async fn metrics_count_exactly_what_was_sent() {
    let upstream = Upstream::start().await;
    let routes = format!("{}\n[admin]\nlisten = \"127.0.0.1:0\"\n", route(&upstream));
    let gw = Gateway::start(&routes, "", &[]).await;
    let url = gw.url("/webhooks/a");
    for id in ["evt_m1", "evt_m2"] {
        let (h, b) = signed(id);
        assert_eq!(post(&url, &h, b).await.status, 200);
    }
    let (h, b) = signed("evt_m1");
    assert_eq!(post(&url, &h, b).await.json()["status"], "duplicate");
    for _ in 0..3 {
        let (mut h, b) = signed("evt_m3");
        h[1].1 = "sha256=00".to_string();
        assert_eq!(post(&url, &h, b).await.status, 401);
    }
    assert_eq!(post(&gw.url("/nope"), &[], "x").await.status, 404);

    let text = gw.metrics().await;
    let requests = |route: &str, outcome: &str| {
        sample(
            &text,
            &format!("hookgate_requests_total{{route=\"{route}\",outcome=\"{outcome}\"}}"),
        )
    };
    assert_eq!(requests("a", "forwarded"), 2.0);
    assert_eq!(requests("a", "duplicate"), 1.0);
    assert_eq!(requests("a", "malformed_signature"), 3.0);
    assert_eq!(requests("-", "not_found"), 1.0);
    assert_eq!(
        sample(
            &text,
            "hookgate_upstream_responses_total{route=\"a\",status=\"200\"}"
        ),
        2.0
    );
    assert_eq!(
        sample(
            &text,
            "hookgate_upstream_duration_seconds_count{route=\"a\"}"
        ),
        2.0
    );
    assert_eq!(sample(&text, "hookgate_dedupe_entries{route=\"a\"} "), 2.0);
    assert_eq!(sample(&text, "hookgate_in_flight_requests "), 0.0);
    assert!(sample(&text, "hookgate_connections_total ") >= 1.0);
    assert_eq!(upstream.count(), 2);
    gw.stop().await;
}

#[tokio::test]
async fn an_oversized_request_head_gets_431() {
    let upstream = Upstream::start().await;
    let gw = Gateway::start(&route(&upstream), "max_header_size = \"16KiB\"", &[]).await;
    let big = "a".repeat(32 * 1024);
    let mut s = TcpStream::connect(gw.addr).await.unwrap();
    let head = format!(
        "POST /webhooks/a HTTP/1.1\r\nHost: x\r\nX-Big: {big}\r\ncontent-length: 2\r\n\r\n{{}}"
    );
    let _ = s.write_all(head.as_bytes()).await;
    let (answer, _) = until_closed(&mut s, Duration::from_secs(3)).await;
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 431"), "{text}");
    assert_eq!(upstream.count(), 0);
    gw.stop().await;
}

#[tokio::test]
async fn the_admin_listener_holds_a_bounded_number_of_connections() {
    let upstream = Upstream::start().await;
    let routes = format!("{}\n[admin]\nlisten = \"127.0.0.1:0\"\n", route(&upstream));
    let gw = Gateway::start(&routes, "header_timeout = \"30s\"", &[]).await;
    let admin = gw.handle().admin_addr().unwrap();
    // 64 connections that send nothing hold every admin slot...
    let mut held = Vec::new();
    for _ in 0..64 {
        held.push(TcpStream::connect(admin).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // ...so the next one is closed without an answer.
    let mut extra = TcpStream::connect(admin).await.unwrap();
    let _ = extra
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await;
    let (answer, _) = until_closed(&mut extra, Duration::from_secs(5)).await;
    assert!(answer.is_empty(), "{:?}", String::from_utf8_lossy(&answer));
    // Once they go, the listener answers again.
    drop(held);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let r = send("GET", &format!("http://{admin}/healthz"), &[], "").await;
    assert_eq!(r.status, 200);
    gw.stop().await;
}
