//! What the inspector reads, over real sockets: the overview (counts per minute, the rejections
//! sample with its reasons), the live stream with its filters, `hookgate tail`, the page and its
//! access rules; and that no secret and no expected signature appears in anything the admin
//! listener answers.

use crate::harness::*;
use std::io::BufRead;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SECRET: &str = "inspector-secret-never-shown";
const UPSTREAM_SECRET: &str = "whsec_aW5zcGVjdG9yLXVwc3RyZWFtLXNlY3JldC0xMjM0NTY=";
const TOKEN: &str = "inspector-admin-token-0123456789";

fn config(upstream: &Upstream, dir: &TempDir) -> String {
    format!(
        "[routes.a]\nprovider = \"chamelio\"\nsecrets = [\"{SECRET}\"]\nupstream = \"{}\"\nupstream_secret = \"{UPSTREAM_SECRET}\"\n\
         [routes.b]\nprovider = \"chamelio\"\nsecrets = [\"{SECRET}\"]\nupstream = \"{}\"\n\
         [admin]\nlisten = \"127.0.0.1:0\"\ntoken = \"{TOKEN}\"\n{}",
        upstream.url(),
        upstream.url(),
        dir.store("")
    )
}

async fn admin(gw: &Gateway, path: &str, token: bool) -> Reply {
    let addr = gw.handle().admin_addr().unwrap();
    let bearer = format!("Bearer {TOKEN}");
    let h = if token {
        hdrs(&[("authorization", &bearer)])
    } else {
        vec![]
    };
    send("GET", &format!("http://{addr}{path}"), &h, String::new()).await
}

/// An open `GET /api/stream`, read as it arrives.
struct Stream {
    socket: tokio::net::TcpStream,
    seen: String,
}

impl Stream {
    async fn open(gw: &Gateway, query: &str) -> Stream {
        let addr = gw.handle().admin_addr().unwrap();
        let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
        let request = format!(
            "GET /api/stream?{query} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n\r\n"
        );
        socket.write_all(request.as_bytes()).await.unwrap();
        let mut s = Stream {
            socket,
            seen: String::new(),
        };
        s.until(": hookgate stream").await;
        assert!(s.seen.starts_with("HTTP/1.1 200"), "{}", s.seen);
        assert!(s.seen.contains("content-type: text/event-stream"));
        s
    }

    /// Reads until `needle` has arrived, and returns everything read so far.
    async fn until(&mut self, needle: &str) -> &str {
        let mut buf = [0u8; 8192];
        let limit = Duration::from_secs(20);
        while !self.seen.contains(needle) {
            match tokio::time::timeout(limit, self.socket.read(&mut buf)).await {
                Ok(Ok(0)) => panic!("the stream ended before {needle:?}:\n{}", self.seen),
                Ok(Ok(n)) => self.seen.push_str(&String::from_utf8_lossy(&buf[..n])),
                Ok(Err(e)) => panic!("{e}"),
                Err(_) => panic!("no {needle:?} within {limit:?}:\n{}", self.seen),
            }
        }
        &self.seen
    }

    /// The JSON of every event received so far.
    fn events(&self) -> Vec<serde_json::Value> {
        self.seen
            .lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

/// A correctly signed Chamelio delivery whose signed timestamp is `offset_secs` from now.
fn signed_at(id: &str, offset_secs: i64) -> (Vec<(String, String)>, String) {
    let body = chamelio_event(id, offset_secs, "{}");
    (chamelio_headers(SECRET, &body), body)
}

#[tokio::test]
async fn the_overview_counts_outcomes_and_explains_every_rejection() {
    let dir = TempDir::new("inspector-overview");
    let upstream = Upstream::start().await;
    let gw = Gateway::start(&config(&upstream, &dir), "", &[]).await;
    let a = gw.url("/webhooks/a");
    let mut stream = Stream::open(&gw, "route=a").await;

    let (h, b) = signed_at("evt_good", -1);
    assert_eq!(post(&a, &h, b.clone()).await.status, 200);
    assert_eq!(post(&a, &h, b).await.status, 200, "the duplicate");
    let forged = chamelio_event("evt_forged", -1, "{}");
    let forged_status = post(&a, &chamelio_headers("not-the-secret", &forged), forged)
        .await
        .status;
    assert_eq!(forged_status, 401);
    let (h, b) = signed_at("evt_stale", -13 * 3600);
    assert_eq!(post(&a, &h, b).await.status, 400);
    let (h, b) = signed_at("evt_b", -1);
    assert_eq!(post(&gw.url("/webhooks/b"), &h, b).await.status, 200);

    // The stream of route a saw each outcome as it happened, and nothing of route b.
    stream.until("stale_timestamp").await;
    stream.until("\"outcome\":\"delivered\"").await;
    let outcomes: Vec<(String, String)> = stream
        .events()
        .iter()
        .map(|e| {
            (
                e["outcome"].as_str().unwrap().to_string(),
                e["event_id"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    for want in [
        ("accepted", "evt_good"),
        ("duplicate", "evt_good"),
        // An unverified request's id is not believed, so it is not shown.
        ("invalid_signature", ""),
        ("stale_timestamp", "evt_stale"),
        ("delivered", "evt_good"),
    ] {
        assert!(
            outcomes.iter().any(|(o, id)| o == want.0 && id == want.1),
            "{want:?} not in {outcomes:?}"
        );
    }
    assert!(stream.events().iter().all(|e| e["route"] == "a"));
    assert_eq!(sample(&gw.metrics().await, "hookgate_stream_readers"), 1.0);

    let overview = admin(&gw, "/api/overview", true).await;
    assert_eq!(overview.status, 200);
    let o = overview.json();
    let route_a = o["routes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["route"] == "a")
        .unwrap()
        .clone();
    let mut counts = std::collections::HashMap::new();
    for m in route_a["minutes"].as_array().unwrap() {
        for (k, n) in m["counts"].as_object().unwrap() {
            *counts.entry(k.clone()).or_insert(0) += n.as_u64().unwrap();
        }
    }
    for (k, n) in [
        ("accepted", 1),
        ("duplicate", 1),
        ("invalid_signature", 1),
        ("stale_timestamp", 1),
        ("delivered", 1),
    ] {
        assert_eq!(counts.get(k).copied(), Some(n), "{k} in {counts:?}");
    }

    // The rejections sample, newest first, each with the reason a person can act on and the
    // headers that mattered, the signature masked.
    let rejections = route_a["rejections"].as_array().unwrap();
    assert_eq!(rejections.len(), 2, "{rejections:?}");
    assert_eq!(rejections[0]["outcome"], "stale_timestamp");
    let stale = rejections[0]["reason"].as_str().unwrap();
    assert!(
        stale.starts_with("signed timestamp 13h")
            && stale.ends_with("old; the route accepts up to 12h (tolerance)"),
        "{stale}"
    );
    assert_eq!(rejections[1]["outcome"], "invalid_signature");
    assert_eq!(rejections[1]["status"], 401);
    let why = rejections[1]["reason"].as_str().unwrap();
    assert!(
        why.starts_with("none of the route's 1 key produces the presented signature"),
        "{why}"
    );
    let headers = rejections[1]["headers"].as_array().unwrap();
    let signature = headers
        .iter()
        .find(|h| h[0] == "x-chamelio-signature")
        .unwrap_or_else(|| panic!("{headers:?}"));
    assert_eq!(signature[1], "(masked, 71 bytes)");
    gw.stop().await;
}

#[tokio::test]
async fn the_event_api_needs_the_token_and_the_page_is_served_from_the_binary() {
    let dir = TempDir::new("inspector-auth");
    let upstream = Upstream::start().await;
    let gw = Gateway::start(&config(&upstream, &dir), "", &[]).await;
    for path in ["/api/events", "/api/overview", "/api/stream", "/api/routes"] {
        let r = admin(&gw, path, false).await;
        assert_eq!(r.status, 401, "{path} without the token");
    }
    assert_eq!(admin(&gw, "/api/routes", true).await.status, 200);

    let page = admin(&gw, "/ui/", false).await;
    assert_eq!(page.status, 200);
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'none'") && csp.contains("script-src 'self'"));
    let html = String::from_utf8_lossy(&page.body).into_owned();
    assert!(html.contains("<script src=\"/ui/app.js\""));
    // Every asset the page names is served here: nothing comes from another origin.
    for asset in ["/ui/app.js", "/ui/app.css"] {
        let r = admin(&gw, asset, false).await;
        assert_eq!(r.status, 200, "{asset}");
        // (The one URL in the script is the SVG namespace, which names and fetches nothing.)
        let text = String::from_utf8_lossy(&r.body).replace("\"http://www.w3.org/2000/svg\"", "");
        assert!(
            !text.contains("http://") && !text.contains("https://"),
            "{asset} reaches out"
        );
    }
    assert!(!html.contains("http://") && !html.contains("https://"));
    gw.stop().await;
}

/// Runs `hookgate tail` against `gw` until it has printed `lines` lines.
fn tail(gw: &Gateway, args: &[&str], lines: usize) -> Vec<String> {
    let admin = gw.handle().admin_addr().unwrap().to_string();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_hookgate"))
        .args(["tail", "--admin", &admin])
        .args(args)
        .env("HOOKGATE_ADMIN_TOKEN", TOKEN)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            if tx.send(line.unwrap()).is_err() {
                return;
            }
        }
    });
    let mut out = Vec::new();
    while out.len() < lines {
        match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(line) => out.push(line),
            Err(_) => {
                let _ = child.kill();
                panic!("tail printed only {out:?}");
            }
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hookgate_tail_streams_outcomes_as_json_or_plain_lines_with_filters() {
    let dir = TempDir::new("inspector-tail");
    let upstream = Upstream::start().await;
    let gw = Gateway::start(&config(&upstream, &dir), "", &[]).await;
    let url = gw.url("/webhooks/a");
    // Requests keep arriving until each tail has what it waits for: a tail connects when it
    // connects, and shows only what happens after.
    let sender = {
        let url = url.clone();
        tokio::spawn(async move {
            for n in 0.. {
                let (h, b) = signed_at(&format!("evt_t{n}"), -1);
                post(&url, &h, b).await;
                let forged = chamelio_event(&format!("evt_f{n}"), -1, "{}");
                post(&url, &chamelio_headers("wrong", &forged), forged).await;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    let (json, plain) = tokio::task::block_in_place(|| {
        let json = tail(&gw, &["--json", "--outcome", "invalid_signature"], 3);
        let plain = tail(&gw, &["--route", "a"], 6);
        (json, plain)
    });
    sender.abort();
    for line in &json {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["outcome"], "invalid_signature", "{line}");
        assert_eq!(v["status"], 401);
        assert!(
            v["event_id"].is_null(),
            "an unverified id is not shown: {line}"
        );
    }
    // A pipe gets plain text: no colour codes.
    for line in &plain {
        assert!(!line.contains('\x1b'), "{line:?}");
        assert!(line.contains(" a "), "{line}");
    }
    assert!(plain.iter().any(|l| l.contains("accepted")), "{plain:?}");
    let refused = plain
        .iter()
        .find(|l| l.contains("invalid_signature"))
        .unwrap_or_else(|| panic!("{plain:?}"));
    assert!(
        refused.contains("401") && refused.contains("produces the presented signature"),
        "{refused}"
    );
    gw.stop().await;
}

#[tokio::test]
async fn no_secret_and_no_expected_signature_appears_in_anything_the_admin_listener_answers() {
    let dir = TempDir::new("inspector-secrets");
    let upstream = Upstream::start().await;
    let gw = Gateway::start(&config(&upstream, &dir), "", &[]).await;
    let a = gw.url("/webhooks/a");
    let mut stream = Stream::open(&gw, "").await;

    // A delivery with the right signature (which is what the gateway expects), one forged with a
    // wrong secret (whose expected signature must not leak either), one dead-lettered upstream.
    let (good_h, good) = signed_at("evt_s_good", -1);
    assert_eq!(post(&a, &good_h, good.clone()).await.status, 200);
    let forged = chamelio_event("evt_s_forged", -1, "{}");
    assert_eq!(
        post(
            &a,
            &chamelio_headers("wrong-secret", &forged),
            forged.clone()
        )
        .await
        .status,
        401
    );
    stream.until("\"outcome\":\"delivered\"").await;
    upstream.set(Behavior::Answer(410));
    let (h, b) = signed_at("evt_s_dead", -1);
    assert_eq!(post(&a, &h, b.clone()).await.status, 200);
    stream.until("\"outcome\":\"dead\"").await;

    let forbidden: Vec<(String, String)> = vec![
        ("the route secret".into(), SECRET.into()),
        ("the upstream secret".into(), UPSTREAM_SECRET.into()),
        (
            "the upstream key".into(),
            UPSTREAM_SECRET.trim_start_matches("whsec_").into(),
        ),
        (
            "the expected signature of the good delivery".into(),
            hmac_sha256_hex(SECRET, good.as_bytes()),
        ),
        (
            "the expected signature of the forged delivery".into(),
            hmac_sha256_hex(SECRET, forged.as_bytes()),
        ),
        (
            "the expected signature of the dead letter".into(),
            hmac_sha256_hex(SECRET, b.as_bytes()),
        ),
    ];
    // What the upstream was sent carries the signature we computed for it: that must stay there.
    let forwarded_signatures: Vec<String> = upstream
        .received()
        .iter()
        .filter_map(|r| {
            r.headers
                .get("webhook-signature")
                .map(|v| v.to_str().unwrap().to_string())
        })
        .collect();
    assert!(!forwarded_signatures.is_empty());

    let mut answers: Vec<(String, String)> = Vec::new();
    for path in [
        "/api/overview",
        "/api/routes",
        "/api/events",
        "/api/events?state=dead",
        "/api/events/a/evt_s_good",
        "/api/events/a/evt_s_dead",
        "/metrics",
        "/ui/",
        "/ui/app.js",
        "/ui/app.css",
    ] {
        let r = admin(&gw, path, true).await;
        assert_eq!(r.status, 200, "{path}");
        answers.push((
            path.to_string(),
            String::from_utf8_lossy(&r.body).into_owned(),
        ));
    }
    answers.push(("the stream".into(), stream.seen.clone()));
    // The answers are about these events: a check that found nothing to look at would prove nothing.
    assert!(answers[4].1.contains("evt_s_good") && answers[4].1.contains("(masked, 71 bytes)"));
    assert!(answers[10].1.contains("invalid_signature"));
    for (what, text) in &answers {
        for (name, value) in &forbidden {
            assert!(!text.contains(value.as_str()), "{what} shows {name}");
        }
        for sig in &forwarded_signatures {
            for part in sig.split(' ') {
                let value = part.split_once(',').map_or(part, |(_, v)| v);
                assert!(!text.contains(value), "{what} shows a forwarded signature");
            }
        }
    }
    gw.stop().await;
}
