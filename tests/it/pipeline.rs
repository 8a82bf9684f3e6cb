//! The request pipeline over real sockets: routing, allowlists and proxies, body limits, upstream
//! failures, concurrency, rotation, and what the upstream is sent.

use crate::harness::*;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const SECRET: &str = "s3cret";
const ADMIN: &str = "[admin]\nlisten = \"127.0.0.1:0\"\n";

fn route(name: &str, upstream: &str, extra: &str) -> String {
    format!(
        "[routes.{name}]\nprovider = \"chamelio\"\nsecrets = [\"{SECRET}\"]\nupstream = \"{upstream}\"\n{extra}\n"
    )
}

fn event(id: &str) -> String {
    format!(
        r#"{{"event":"core.document.updated","event_id":"{id}","timestamp":"{}","data":{{}}}}"#,
        rfc3339(-1)
    )
}

fn signed(body: &str) -> Vec<(String, String)> {
    signed_with(SECRET, body)
}

fn signed_with(secret: &str, body: &str) -> Vec<(String, String)> {
    chamelio_headers(secret, body)
}

#[tokio::test]
async fn unknown_paths_wrong_methods_and_health() {
    let upstream = Upstream::start().await;
    let gw = Gateway::start(&route("a", &upstream.url(), ""), "", &[]).await;
    let r = post(&gw.url("/webhooks/nope"), &signed("{}"), "{}").await;
    assert_eq!((r.status, r.error().as_str()), (404, "not_found"));
    let r = send("GET", &gw.url("/webhooks/a"), &[], "").await;
    assert_eq!((r.status, r.error().as_str()), (405, "method_not_allowed"));
    assert_eq!(r.headers["allow"], "POST");
    let r = send("PUT", &gw.url("/webhooks/a"), &[], "x").await;
    assert_eq!(r.status, 405);
    let r = send("GET", &gw.url("/healthz"), &[], "").await;
    assert_eq!(r.status, 200);
    assert_eq!(upstream.count(), 0);
}

#[tokio::test]
async fn allowlist_and_forwarded_for_from_trusted_proxies_only() {
    let upstream = Upstream::start().await;
    let allow = "allow_ips = [\"203.0.113.0/24\"]";
    let body = event("evt_allow_1");

    // The test client is 127.0.0.1, which is not allowed.
    let gw = Gateway::start(&route("a", &upstream.url(), allow), "", &[]).await;
    let r = post(&gw.url("/webhooks/a"), &signed(&body), body.clone()).await;
    assert_eq!((r.status, r.error().as_str()), (403, "forbidden"));
    // A spoofed X-Forwarded-For from a peer that is not a trusted proxy changes nothing.
    let mut spoofed = signed(&body);
    spoofed.push(("x-forwarded-for".into(), "203.0.113.9".into()));
    let r = post(&gw.url("/webhooks/a"), &spoofed, body.clone()).await;
    assert_eq!((r.status, r.error().as_str()), (403, "forbidden"));
    assert_eq!(upstream.count(), 0);
    gw.stop().await;

    // Behind a trusted proxy (127.0.0.1 here), the right-most untrusted address is the client.
    let gw = Gateway::start(
        &route("a", &upstream.url(), allow),
        "trusted_proxies = [\"127.0.0.1/32\"]",
        &[],
    )
    .await;
    let mut via_proxy = signed(&body);
    via_proxy.push(("x-forwarded-for".into(), "198.51.100.1, 203.0.113.9".into()));
    let r = post(&gw.url("/webhooks/a"), &via_proxy, body.clone()).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    // The left-most entry is whatever the client claimed; it must not be believed.
    let mut claimed = signed(&event("evt_allow_2"));
    claimed.push(("x-forwarded-for".into(), "203.0.113.9, 198.51.100.1".into()));
    let r = post(&gw.url("/webhooks/a"), &claimed, event("evt_allow_2")).await;
    assert_eq!(r.status, 403);
    assert_eq!(upstream.count(), 1);
}

#[tokio::test]
async fn allow_ips_preset_admits_the_vendors_published_addresses_and_a_file_its_own() {
    // The allowlist comes before the signature: a request from an admitted address without a
    // signature is 401, one from any other address 403, and none reaches the upstream.
    let upstream = Upstream::start().await;
    let dir = TempDir::new("allow-file");
    let list = dir.0.join("ips.txt");
    std::fs::write(
        &list,
        "# addresses kept by a script\n203.0.113.0/24  # a test range\n\n2001:db8::/32\n",
    )
    .unwrap();
    let routes = format!(
        "[routes.s]\nprovider = \"stripe\"\nsecrets = [\"whsec_test\"]\nupstream = \"{u}\"\nallow_ips = \"preset\"\n\
         [routes.f]\nprovider = \"stripe\"\nsecrets = [\"whsec_test\"]\nupstream = \"{u}\"\nallow_ips = \"file:{}\"\n",
        list.display(),
        u = upstream.url()
    );
    let gw = Gateway::start(&routes, "trusted_proxies = [\"127.0.0.1/32\"]", &[]).await;
    let cases = [
        // One of Stripe's published webhook addresses (presets.toml, stripe.source_ips).
        ("/webhooks/s", Some("54.187.174.169"), 401),
        ("/webhooks/s", Some("203.0.113.9"), 403),
        ("/webhooks/s", None, 403),
        ("/webhooks/f", Some("203.0.113.9"), 401),
        ("/webhooks/f", Some("2001:db8::7"), 401),
        ("/webhooks/f", Some("54.187.174.169"), 403),
    ];
    for (path, client, want) in cases {
        let headers: Vec<(String, String)> = client
            .map(|c| ("x-forwarded-for".to_string(), c.to_string()))
            .into_iter()
            .collect();
        let r = post(&gw.url(path), &headers, event("evt_ips")).await;
        assert_eq!(r.status, want, "{path} from {client:?}: {:?}", r.body);
    }
    assert_eq!(upstream.count(), 0);
}

#[tokio::test]
async fn bodies_over_max_body_get_413_without_being_read() {
    let upstream = Upstream::start().await;
    let gw = Gateway::start(&route("a", &upstream.url(), ""), "max_body = 1024", &[]).await;

    // Declared too large: the answer comes before a single body byte is sent.
    let mut s = TcpStream::connect(gw.addr).await.unwrap();
    s.write_all(b"POST /webhooks/a HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100000000\r\n\r\n")
        .await
        .unwrap();
    let head = read_head(&mut s).await;
    assert!(head.starts_with("HTTP/1.1 413"), "{head}");

    // Chunked, with no length announced: refused once it passes the limit.
    let mut s = TcpStream::connect(gw.addr).await.unwrap();
    s.write_all(b"POST /webhooks/a HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n")
        .await
        .unwrap();
    let chunk = format!("400\r\n{}\r\n", "a".repeat(0x400));
    for _ in 0..2 {
        if s.write_all(chunk.as_bytes()).await.is_err() {
            break;
        }
    }
    let head = read_head(&mut s).await;
    assert!(head.starts_with("HTTP/1.1 413"), "{head}");

    // Exactly at the limit is fine (and then fails on the signature, not the size).
    let body = "x".repeat(1024);
    let r = post(&gw.url("/webhooks/a"), &[], body).await;
    assert_eq!(r.status, 401);
    assert_eq!(upstream.count(), 0);
}

async fn read_head(s: &mut TcpStream) -> String {
    let mut buf = vec![0u8; 4096];
    let mut got = Vec::new();
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
            .await
            .expect("the gateway answered in time")
            .unwrap();
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&got).to_string()
}

#[tokio::test]
async fn upstream_down_gives_502_and_the_retry_goes_through_once_it_is_back() {
    let addr = free_port().await;
    let url = format!("http://{addr}/events");
    let gw = Gateway::start(&route("a", &url, ""), "", &[]).await;
    let body = event("evt_down_1");
    let r = post(&gw.url("/webhooks/a"), &signed(&body), body.clone()).await;
    assert_eq!(
        (r.status, r.error().as_str()),
        (502, "upstream_unreachable")
    );

    let upstream = Upstream::start_on(tokio::net::TcpListener::bind(addr).await.unwrap());
    let r = post(&gw.url("/webhooks/a"), &signed(&body), body.clone()).await;
    assert_eq!(
        r.status, 200,
        "the retry is not a duplicate: nothing was delivered before"
    );
    assert_eq!(upstream.count(), 1);
    assert_eq!(upstream.received()[0].json()["id"], "evt_down_1");
}

#[tokio::test]
async fn slow_upstream_gives_504_and_is_not_remembered() {
    let upstream = Upstream::start().await;
    upstream.set(Behavior::Slow(Duration::from_secs(3), 200));
    let gw = Gateway::start(
        &route("a", &upstream.url(), "forward_timeout = \"200ms\""),
        "",
        &[],
    )
    .await;
    let body = event("evt_slow_1");
    let r = post(&gw.url("/webhooks/a"), &signed(&body), body.clone()).await;
    assert_eq!((r.status, r.error().as_str()), (504, "upstream_timeout"));
    upstream.set(Behavior::Answer(200));
    let r = post(&gw.url("/webhooks/a"), &signed(&body), body.clone()).await;
    assert_eq!(r.status, 200);
    assert!(
        r.json().get("status").is_none(),
        "forwarded, not answered as a duplicate"
    );
}

#[tokio::test]
async fn upstream_statuses_are_relayed_and_only_2xx_is_remembered() {
    let upstream = Upstream::start().await;
    let gw = Gateway::start(&route("a", &upstream.url(), ""), "", &[]).await;
    let body = event("evt_status_1");
    for status in [500, 422, 200] {
        upstream.set(Behavior::Answer(status));
        let r = post(&gw.url("/webhooks/a"), &signed(&body), body.clone()).await;
        assert_eq!(r.status, status);
        assert_eq!(r.json()["ok"], true, "the upstream's body is relayed");
    }
    let r = post(&gw.url("/webhooks/a"), &signed(&body), body.clone()).await;
    assert_eq!(r.json()["status"], "duplicate");
    assert_eq!(upstream.count(), 3);
}

#[tokio::test]
async fn direct_mode_can_turn_an_upstream_4xx_into_a_503_the_vendor_retries() {
    // For vendors that dead-letter an event at its first 4xx (DocIntell).
    let upstream = Upstream::start().await;
    let gw = Gateway::start(
        &route("a", &upstream.url(), "upstream_4xx = \"retry\""),
        "",
        &[],
    )
    .await;
    let body = event("evt_4xx_retry");
    upstream.set(Behavior::Answer(404));
    let r = post(&gw.url("/webhooks/a"), &signed(&body), body.clone()).await;
    assert_eq!(r.status, 503);
    assert_eq!(r.error(), "upstream_rejected");
    assert_eq!(r.headers["retry-after"], "5");
    // A 5xx is relayed as it is (it is already retryable), and the retry after a fix goes through.
    upstream.set(Behavior::Answer(502));
    assert_eq!(
        post(&gw.url("/webhooks/a"), &signed(&body), body.clone())
            .await
            .status,
        502
    );
    upstream.set(Behavior::Answer(200));
    assert_eq!(
        post(&gw.url("/webhooks/a"), &signed(&body), body.clone())
            .await
            .status,
        200
    );
    assert_eq!(upstream.count(), 3);
}

#[tokio::test]
async fn two_concurrent_deliveries_of_one_event_are_forwarded_once() {
    let upstream = Upstream::start().await;
    upstream.set(Behavior::Slow(Duration::from_millis(300), 200));
    let gw = Gateway::start(&route("a", &upstream.url(), ""), "", &[]).await;
    let body = event("evt_race_1");
    let url = gw.url("/webhooks/a");
    let headers = signed(&body);
    let (a, b) = tokio::join!(
        post(&url, &headers, body.clone()),
        post(&url, &headers, body.clone())
    );
    assert_eq!((a.status, b.status), (200, 200));
    let duplicates = [&a, &b]
        .iter()
        .filter(|r| r.body.as_ref() == b"{\"status\":\"duplicate\"}")
        .count();
    assert_eq!(
        duplicates, 1,
        "one forwarded, one acknowledged as a duplicate"
    );
    assert_eq!(upstream.count(), 1);
}

#[tokio::test]
async fn a_concurrent_duplicate_is_forwarded_when_the_first_attempt_fails() {
    let upstream = Upstream::start().await;
    upstream.set(Behavior::Slow(Duration::from_millis(300), 500));
    let gw = Gateway::start(&route("a", &upstream.url(), ""), "", &[]).await;
    let body = event("evt_race_2");
    let url = gw.url("/webhooks/a");
    let headers = signed(&body);
    let first = post(&url, &headers, body.clone());
    let second = async {
        // Arrives while the first is at the upstream; by the time it goes, the upstream has recovered.
        tokio::time::sleep(Duration::from_millis(100)).await;
        upstream.set(Behavior::Answer(200));
        post(&url, &headers, body.clone()).await
    };
    let (a, b) = tokio::join!(first, second);
    assert_eq!(a.status, 500);
    assert_eq!(b.status, 200);
    assert!(
        b.json().get("status").is_none(),
        "the second was forwarded, not called a duplicate"
    );
    assert_eq!(upstream.count(), 2);
}

#[tokio::test]
async fn secret_rotation_accepts_both_secrets() {
    let upstream = Upstream::start().await;
    let routes = "[routes.a]\nprovider = \"chamelio\"\nsecrets = [\"${NEW}\", \"${OLD}\"]\nupstream = \"UP\"\n"
        .replace("UP", &upstream.url());
    let gw = Gateway::start(&routes, "", &[("NEW", "new-secret"), ("OLD", "old-secret")]).await;
    for (i, secret) in ["new-secret", "old-secret"].iter().enumerate() {
        let body = event(&format!("evt_rot_{i}"));
        let r = post(&gw.url("/webhooks/a"), &signed_with(secret, &body), body).await;
        assert_eq!(r.status, 200, "{secret}");
    }
    let body = event("evt_rot_x");
    let r = post(
        &gw.url("/webhooks/a"),
        &signed_with("retired-secret", &body),
        body,
    )
    .await;
    assert_eq!(r.status, 401);
    assert_eq!(upstream.count(), 2);
}

#[tokio::test]
async fn raw_envelope_keeps_the_body_and_puts_attributes_in_headers() {
    let upstream = Upstream::start().await;
    let gw = Gateway::start(&route("a", &upstream.url(), "envelope = \"raw\""), "", &[]).await;
    let body = event("evt_raw_1");
    let r = post(&gw.url("/webhooks/a"), &signed(&body), body.clone()).await;
    assert_eq!(r.status, 200);
    let got = &upstream.received()[0];
    assert_eq!(got.body, body.as_bytes());
    assert_eq!(got.headers["content-type"], "application/json");
    assert_eq!(got.headers["ce-id"], "evt_raw_1");
    assert_eq!(got.headers["ce-type"], "core.document.updated");
    assert_eq!(got.headers["ce-source"], "a");
    assert_eq!(got.headers["ce-specversion"], "1.0");
}

/// The upstream can check that a request came through hookgate with any Standard Webhooks library;
/// here the check is done by hand, as the specification describes it.
#[tokio::test]
async fn forwarded_requests_carry_a_standard_webhooks_signature_and_the_request_id() {
    let upstream = Upstream::start().await;
    let gw = Gateway::start(
        &route(
            "a",
            &upstream.url(),
            "upstream_secret = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"",
        ),
        "",
        &[],
    )
    .await;
    let body = event("evt_signed_1");
    let mut headers = signed(&body);
    headers.push(("x-request-id".into(), "req-123".into()));
    let r = post(&gw.url("/webhooks/a"), &headers, body).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.headers["x-request-id"], "req-123");
    let got = &upstream.received()[0];
    assert_eq!(got.headers["x-request-id"], "req-123");
    let id = got.headers["webhook-id"].to_str().unwrap();
    let ts = got.headers["webhook-timestamp"].to_str().unwrap();
    assert_eq!(id, "evt_signed_1");
    let ts_secs: i64 = ts.parse().unwrap();
    assert!((jiff::Timestamp::now().as_second() - ts_secs).abs() < 60);
    use base64::Engine;
    use hmac::{Hmac, Mac};
    let key = base64::engine::general_purpose::STANDARD
        .decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
        .unwrap();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{ts}.").as_bytes());
    mac.update(&got.body);
    let expected = format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    );
    assert_eq!(got.headers["webhook-signature"], expected.as_str());
}

#[tokio::test]
async fn http2_prior_knowledge_is_served() {
    use http_body_util::{BodyExt, Full};
    let upstream = Upstream::start().await;
    let gw = Gateway::start(&route("a", &upstream.url(), ""), "", &[]).await;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .http2_only(true)
        .build_http::<Full<bytes::Bytes>>();
    let body = event("evt_h2_1");
    let mut req = http::Request::post(gw.url("/webhooks/a"));
    for (k, v) in signed(&body) {
        req = req.header(k, v);
    }
    let resp = client
        .request(req.body(Full::new(body.into())).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.version(), http::Version::HTTP_2);
    assert_eq!(resp.status(), 200);
    let _ = resp.into_body().collect().await;
    assert_eq!(upstream.count(), 1);
}

#[tokio::test]
async fn a_vendor_hanging_up_mid_forward_does_not_cause_a_second_delivery() {
    let upstream = Upstream::start().await;
    upstream.set(Behavior::Slow(Duration::from_millis(400), 200));
    let gw = Gateway::start(
        &format!("{ADMIN}{}", route("a", &upstream.url(), "")),
        "",
        &[],
    )
    .await;
    let body = event("evt_hangup");
    let headers = signed(&body);
    let mut raw = format!(
        "POST /webhooks/a HTTP/1.1\r\nHost: x\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (k, v) in &headers {
        raw.push_str(&format!("{k}: {v}\r\n"));
    }
    raw.push_str("\r\n");
    raw.push_str(&body);
    let mut s = TcpStream::connect(gw.addr).await.unwrap();
    s.write_all(raw.as_bytes()).await.unwrap();
    // The vendor gives up before the upstream answers.
    tokio::time::sleep(Duration::from_millis(100)).await;
    drop(s);
    until(
        Duration::from_secs(10),
        || upstream.count() == 1,
        || format!("{} deliveries", upstream.count()),
    )
    .await;
    // Carried through, and counted although nobody was left to answer.
    let forwarded = r#"hookgate_requests_total{route="a",outcome="forwarded"} "#.to_string();
    let started = std::time::Instant::now();
    while !gw
        .metrics()
        .await
        .lines()
        .any(|l| l == format!("{forwarded}1"))
    {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the delivery was not counted"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The vendor's retry is recognised as already delivered.
    upstream.set(Behavior::Answer(200));
    let r = post(&gw.url("/webhooks/a"), &headers, body).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["status"], "duplicate");
    assert_eq!(upstream.count(), 1);
    gw.stop().await;
}
