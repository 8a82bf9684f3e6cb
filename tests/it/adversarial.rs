//! Adversarial senders over real sockets: replays, reused ids, signatures for another route, spoofed
//! forwarding headers, header injection, duplicate signature headers, a flood of forgeries, hostile
//! JSON, binary bodies and request-smuggling shapes. Each gets its documented status and nothing
//! unverified reaches the upstream.

use crate::harness::*;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const SECRET: &str = "adversary-secret";

fn route(name: &str, upstream: &Upstream, secret: &str, extra: &str) -> String {
    format!(
        "[routes.{name}]\nprovider = \"chamelio\"\nsecrets = [\"{secret}\"]\nupstream = \"{}\"\n{extra}\n",
        upstream.url()
    )
}

/// Sends raw bytes and returns the first answer's status (None: closed without an answer).
async fn raw(addr: std::net::SocketAddr, bytes: &[u8]) -> Option<u16> {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(bytes).await.ok()?;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let read = async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    got.extend_from_slice(&buf[..n]);
                    if got.windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(5), read)
        .await
        .ok()?;
    let text = String::from_utf8_lossy(&got);
    text.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
}

#[tokio::test]
async fn replays_inside_the_window_are_duplicates_and_outside_it_are_stale() {
    let upstream = Upstream::start().await;
    let gw = Gateway::start(&route("a", &upstream, SECRET, ""), "", &[]).await;
    let url = gw.url("/webhooks/a");
    let body = chamelio_event("evt_replay", -60, "{}");
    let h = chamelio_headers(SECRET, &body);
    assert_eq!(post(&url, &h, body.clone()).await.status, 200);
    for _ in 0..3 {
        let r = post(&url, &h, body.clone()).await;
        assert_eq!(r.json()["status"], "duplicate");
    }
    // A captured delivery from well before the 12 h window.
    let old = chamelio_event("evt_replay_old", -13 * 3600, "{}");
    let r = post(&url, &chamelio_headers(SECRET, &old), old).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error(), "stale_timestamp");
    assert_eq!(upstream.count(), 1);
    gw.stop().await;
}

#[tokio::test]
async fn the_same_event_id_with_another_body_is_a_duplicate_of_the_first() {
    let upstream = Upstream::start().await;
    let gw = Gateway::start(&route("a", &upstream, SECRET, ""), "", &[]).await;
    let url = gw.url("/webhooks/a");
    let first = chamelio_event("evt_same", -1, r#"{"amount":1}"#);
    let second = chamelio_event("evt_same", -1, r#"{"amount":1000000}"#);
    assert_eq!(
        post(&url, &chamelio_headers(SECRET, &first), first)
            .await
            .status,
        200
    );
    let r = post(&url, &chamelio_headers(SECRET, &second), second).await;
    assert_eq!(r.json()["status"], "duplicate");
    assert_eq!(upstream.count(), 1);
    assert_eq!(upstream.received()[0].json()["data"]["data"]["amount"], 1);
    gw.stop().await;
}

#[tokio::test]
async fn a_valid_signature_for_one_route_is_refused_on_another() {
    let upstream = Upstream::start().await;
    let routes = format!(
        "{}{}",
        route("a", &upstream, SECRET, ""),
        route("b", &upstream, "another-secret", "")
    );
    let gw = Gateway::start(&routes, "", &[]).await;
    let body = chamelio_event("evt_cross", -1, "{}");
    let r = post(
        &gw.url("/webhooks/b"),
        &chamelio_headers(SECRET, &body),
        body,
    )
    .await;
    assert_eq!(r.status, 401);
    assert_eq!(r.error(), "invalid_signature");
    assert_eq!(upstream.count(), 0);
    gw.stop().await;
}

#[tokio::test]
async fn forwarding_headers_from_an_untrusted_peer_are_ignored() {
    let upstream = Upstream::start().await;
    let gw = Gateway::start(
        &route("a", &upstream, SECRET, "allow_ips = [\"10.0.0.0/8\"]"),
        "",
        &[],
    )
    .await;
    let body = chamelio_event("evt_spoof", -1, "{}");
    for spoof in [
        ("x-forwarded-for", "10.1.2.3"),
        ("forwarded", "for=10.1.2.3;proto=https"),
        ("x-real-ip", "10.1.2.3"),
    ] {
        let mut h = chamelio_headers(SECRET, &body);
        h.push((spoof.0.to_string(), spoof.1.to_string()));
        let r = post(&gw.url("/webhooks/a"), &h, body.clone()).await;
        assert_eq!(r.status, 403, "{spoof:?}");
    }
    assert_eq!(upstream.count(), 0);
    gw.stop().await;
}

#[tokio::test]
async fn header_injection_shapes_are_refused_or_neutralised() {
    let upstream = Upstream::start().await;
    let gw = Gateway::start(&route("a", &upstream, SECRET, ""), "", &[]).await;
    // A bare CR inside a header value, and an obsolete folded header line: refused by the parser.
    for shape in [
        &b"POST /webhooks/a HTTP/1.1\r\nHost: x\r\nX-Evil: a\rInjected: b\r\ncontent-length: 2\r\n\r\n{}"[..],
        &b"POST /webhooks/a HTTP/1.1\r\nHost: x\r\nX-Evil: a\r\n Injected: b\r\ncontent-length: 2\r\n\r\n{}"[..],
    ] {
        assert_eq!(raw(gw.addr, shape).await, Some(400), "{:?}", String::from_utf8_lossy(shape));
    }
    // A request id that is not plain text is not echoed or forwarded; a fresh one is used.
    let body = chamelio_event("evt_inject", -1, "{}");
    let mut h = chamelio_headers(SECRET, &body);
    h.push(("x-request-id".into(), "abc def\t<script>".into()));
    let r = post(&gw.url("/webhooks/a"), &h, body).await;
    assert_eq!(r.status, 200);
    let echoed = r.headers["x-request-id"].to_str().unwrap().to_string();
    assert!(!echoed.contains("script") && echoed.len() == 32, "{echoed}");
    assert_eq!(
        upstream.received()[0].headers["x-request-id"],
        echoed.as_str()
    );
    gw.stop().await;
}

#[tokio::test]
async fn duplicate_signature_headers_need_one_valid_and_are_bounded() {
    let upstream = Upstream::start().await;
    let gw = Gateway::start(&route("a", &upstream, SECRET, ""), "", &[]).await;
    let url = gw.url("/webhooks/a");
    let body = chamelio_event("evt_dupsig", -1, "{}");
    let good = chamelio_headers(SECRET, &body)[1].1.clone();
    let bad = format!("sha256={}", "0".repeat(64));
    let with = |sigs: Vec<String>| {
        let mut h = hdrs(&[("content-type", "application/json")]);
        h.extend(
            sigs.into_iter()
                .map(|s| ("x-chamelio-signature".to_string(), s)),
        );
        h
    };
    let r = post(&url, &with(vec![bad.clone(); 2]), body.clone()).await;
    assert_eq!(r.status, 401);
    // Dozens of wrong candidates cost a bounded number of MACs (16) and are refused; hundreds of
    // headers are refused by the HTTP parser before that.
    let r = post(&url, &with(vec![bad.clone(); 60]), body.clone()).await;
    assert_eq!(r.status, 401);
    let r = post(&url, &with(vec![bad.clone(); 300]), body.clone()).await;
    assert_eq!(r.status, 431);
    assert_eq!(upstream.count(), 0);
    // Several signatures, one of them valid (a vendor mid-rotation): accepted.
    let r = post(&url, &with(vec![bad, good]), body).await;
    assert_eq!(r.status, 200);
    assert_eq!(upstream.count(), 1);
    gw.stop().await;
}

#[tokio::test]
async fn ten_thousand_forgeries_touch_neither_the_upstream_nor_the_dedupe_memory() {
    let upstream = Upstream::start().await;
    let gw = Gateway::start(&route("a", &upstream, SECRET, ""), "", &[]).await;
    let url = gw.url("/webhooks/a");
    let started = Instant::now();
    let tasks: Vec<_> = (0..32)
        .map(|t| {
            let url = url.clone();
            tokio::spawn(async move {
                let mut refused = 0;
                for i in 0..10_000 / 32 + 1 {
                    let body = chamelio_event(&format!("evt_forged_{t}_{i}"), -1, "{}");
                    let h = chamelio_headers("not-the-secret", &body);
                    if post(&url, &h, body).await.status == 401 {
                        refused += 1;
                    }
                }
                refused
            })
        })
        .collect();
    let mut refused = 0;
    for t in tasks {
        refused += t.await.unwrap();
    }
    let elapsed = started.elapsed();
    assert!(refused >= 10_000);
    eprintln!(
        "forgery flood: {refused} refused in {elapsed:?} ({:.0}/s, debug build, client in the same process)",
        refused as f64 / elapsed.as_secs_f64()
    );
    assert_eq!(upstream.count(), 0);
    assert_eq!(gw.handle().gateway().dedupe().len(), 0);
    gw.stop().await;
}

#[tokio::test]
async fn hostile_json_and_binary_bodies_get_their_documented_answers() {
    let upstream = Upstream::start().await;
    let github = format!(
        "[routes.gh]\nprovider = \"github\"\nsecrets = [\"{SECRET}\"]\nupstream = \"{}\"\n",
        upstream.url()
    );
    let routes = format!("{}{github}", route("a", &upstream, SECRET, ""));
    let gw = Gateway::start(&routes, "", &[]).await;
    let url = gw.url("/webhooks/a");

    // 100,000 levels of nesting inside a signed event: verified and forwarded as it is.
    let deep = "[".repeat(100_000) + &"]".repeat(100_000);
    assert_eq!(signed_status(&url, "evt_deep", &deep).await, 200);

    // Just under the 1 MiB limit: forwarded; over it: 413 without being read.
    let big = format!("\"{}\"", "x".repeat(1_000_000));
    assert_eq!(signed_status(&url, "evt_big", &big).await, 200);
    let huge = format!("\"{}\"", "x".repeat(1_100_000));
    assert_eq!(signed_status(&url, "evt_huge", &huge).await, 413);

    // Signed bytes that are not UTF-8, on a route whose id is a header: forwarded as base64 data.
    let binary: Vec<u8> = (0..=255u8).rev().collect();
    let sig = format!("sha256={}", hmac_sha256_hex(SECRET, &binary));
    let h = hdrs(&[
        ("content-type", "application/octet-stream"),
        ("x-hub-signature-256", &sig),
        ("x-github-delivery", "bin-1"),
        ("x-github-event", "push"),
    ]);
    assert_eq!(
        post(&gw.url("/webhooks/gh"), &h, binary.clone())
            .await
            .status,
        200
    );
    let forwarded = upstream.received().last().unwrap().json();
    use base64::Engine;
    let data = base64::engine::general_purpose::STANDARD
        .decode(forwarded["data_base64"].as_str().unwrap())
        .unwrap();
    assert_eq!(data, binary);
    assert_eq!(upstream.count(), 3);
    gw.stop().await;
}

/// The status a correctly signed Chamelio event with `data` gets.
async fn signed_status(url: &str, id: &str, data: &str) -> u16 {
    let body = chamelio_event(id, -1, data);
    post(url, &chamelio_headers(SECRET, &body), body)
        .await
        .status
}

/// Sends raw bytes and reads until the gateway closes: every answer's status, in order.
async fn raw_all(addr: std::net::SocketAddr, bytes: &[u8]) -> Vec<u16> {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let _ = s.write_all(bytes).await;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let read = async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(5), read).await;
    String::from_utf8_lossy(&got)
        .match_indices("HTTP/1.1 ")
        .filter_map(|(i, _)| String::from_utf8_lossy(&got)[i + 9..i + 12].parse().ok())
        .collect()
}

#[tokio::test]
async fn request_smuggling_shapes_cannot_slip_a_second_request_through() {
    let upstream = Upstream::start().await;
    let gw = Gateway::start(&route("a", &upstream, SECRET, ""), "", &[]).await;
    let first = chamelio_event("evt_carrier", -1, "{}");
    let first_sig = &chamelio_headers(SECRET, &first)[1].1;
    let hidden = chamelio_event("evt_smuggled", -1, "{}");
    let hidden_sig = &chamelio_headers(SECRET, &hidden)[1].1;
    let smuggled = format!(
        "POST /webhooks/a HTTP/1.1\r\nHost: x\r\nx-chamelio-signature: {hidden_sig}\r\ncontent-length: {}\r\n\r\n{hidden}",
        hidden.len()
    );

    // Content-Length and Transfer-Encoding together: read as chunked (RFC 9112 6.3), answered, and the
    // connection closed, so the request hidden after the chunked body is never read.
    let cl_te = format!(
        "POST /webhooks/a HTTP/1.1\r\nHost: x\r\nx-chamelio-signature: {first_sig}\r\ncontent-length: 4\r\ntransfer-encoding: chunked\r\n\r\n{:x}\r\n{first}\r\n0\r\n\r\n{smuggled}",
        first.len()
    );
    assert_eq!(raw_all(gw.addr, cl_te.as_bytes()).await, vec![200]);
    assert_eq!(upstream.count(), 1);
    assert_eq!(
        upstream.received()[0].json()["data"]["event_id"],
        "evt_carrier"
    );

    // Shapes refused outright: two different lengths, a transfer coding that is not chunked last, a
    // malformed chunk size. None reaches the pipeline, and nothing behind them is read.
    let shapes = [
        format!(
            "POST /webhooks/a HTTP/1.1\r\nHost: x\r\nx-chamelio-signature: {hidden_sig}\r\ncontent-length: {}\r\ncontent-length: 2\r\n\r\n{hidden}",
            hidden.len()
        ),
        format!(
            "POST /webhooks/a HTTP/1.1\r\nHost: x\r\nx-chamelio-signature: {hidden_sig}\r\ntransfer-encoding: chunked, identity\r\n\r\n{hidden}"
        ),
        format!(
            "POST /webhooks/a HTTP/1.1\r\nHost: x\r\nx-chamelio-signature: {hidden_sig}\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n{hidden}\r\n0\r\n\r\n{smuggled}"
        ),
    ];
    for (i, shape) in shapes.iter().enumerate() {
        let answers = raw_all(gw.addr, shape.as_bytes()).await;
        assert!(
            answers.iter().all(|s| *s == 400) && answers.len() <= 1,
            "shape {i}: {answers:?}"
        );
    }
    assert_eq!(upstream.count(), 1, "only the carrier was forwarded");
    gw.stop().await;
}
