//! Replay protection under attack, over real sockets: a full dedupe memory forgets its oldest events
//! (never its newest), expired entries make room without being looked up, one route's flood cannot
//! evict another route's memory, a captured delivery with a fresh unsigned id is still a duplicate,
//! and numeric event ids keep every digit.

use crate::harness::*;
use std::time::Duration;

const SECRET: &str = "replay-secret";
const ADMIN: &str = "[admin]\nlisten = \"127.0.0.1:0\"\n";

fn chamelio(name: &str, upstream: &Upstream, extra: &str) -> String {
    format!(
        "[routes.{name}]\nprovider = \"chamelio\"\nsecrets = [\"{SECRET}\"]\nupstream = \"{}\"\n{extra}\n",
        upstream.url()
    )
}

/// Delivers `ids` (each once) and returns how many the upstream received meanwhile.
async fn deliver_all(url: &str, ids: impl Iterator<Item = String>) {
    for id in ids {
        let (h, b) = chamelio_delivery(SECRET, &id);
        assert_eq!(post(url, &h, b).await.status, 200, "{id}");
    }
}

#[tokio::test]
async fn a_full_dedupe_memory_forgets_its_oldest_events_never_its_newest() {
    let upstream = Upstream::start().await;
    let routes = format!("{}{ADMIN}", chamelio("a", &upstream, ""));
    let gw = Gateway::start(&routes, "dedupe_capacity = 200", &[]).await;
    let url = gw.url("/webhooks/a");
    // Each event's body is kept so that its replay is byte for byte the captured delivery.
    let mut sent = Vec::new();
    for i in 0..400 {
        let (h, b) = chamelio_delivery(SECRET, &format!("evt_full_{i}"));
        assert_eq!(post(&url, &h, b.clone()).await.status, 200);
        sent.push((h, b));
    }
    assert_eq!(upstream.count(), 400);
    // The 200 newest are remembered: every one of their replays is a duplicate.
    for (h, b) in &sent[200..] {
        let r = post(&url, h, b.clone()).await;
        assert_eq!(r.json()["status"], "duplicate");
    }
    assert_eq!(
        upstream.count(),
        400,
        "no replay of a recent event was forwarded"
    );
    let text = gw.metrics().await;
    assert_eq!(
        sample(&text, "hookgate_dedupe_evictions_total{route=\"a\"} "),
        200.0
    );
    assert_eq!(
        sample(&text, "hookgate_dedupe_entries{route=\"a\"} "),
        200.0
    );
    assert_eq!(
        sample(&text, "hookgate_dedupe_capacity{route=\"a\"} "),
        200.0
    );
    gw.stop().await;
}

/// A route without a signed timestamp, so that `dedupe_ttl` can be short.
fn untimed(name: &str, upstream: &Upstream, ttl: &str) -> String {
    format!(
        r#"[routes.{name}]
secrets = ["{SECRET}"]
upstream = "{}"
dedupe_ttl = "{ttl}"
[routes.{name}.verify]
algorithm = "hmac-sha256"
header = "X-Chamelio-Signature"
prefix = "sha256="
[routes.{name}.event]
id = "body:/event_id"
"#,
        upstream.url()
    )
}

#[tokio::test]
async fn expired_entries_make_room_without_being_looked_up() {
    let upstream = Upstream::start().await;
    let routes = format!("{}{ADMIN}", untimed("a", &upstream, "1s"));
    let gw = Gateway::start(&routes, "dedupe_capacity = 200", &[]).await;
    let url = gw.url("/webhooks/a");
    deliver_all(&url, (0..200).map(|i| format!("evt_old_{i}"))).await;
    // Entries are kept to the end of the second after their ttl: 2.5 s later all 200 have expired.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let fresh: Vec<_> = (0..40)
        .map(|i| chamelio_delivery(SECRET, &format!("evt_new_{i}")))
        .collect();
    for (h, b) in &fresh {
        assert_eq!(post(&url, h, b.clone()).await.status, 200);
    }
    for (h, b) in &fresh {
        assert_eq!(post(&url, h, b.clone()).await.json()["status"], "duplicate");
    }
    assert_eq!(
        upstream.count(),
        240,
        "no replay of the new events was forwarded"
    );
    let text = gw.metrics().await;
    assert_eq!(
        sample(&text, "hookgate_dedupe_evictions_total{route=\"a\"} "),
        0.0
    );
    assert_eq!(sample(&text, "hookgate_dedupe_entries{route=\"a\"} "), 40.0);
    gw.stop().await;
}

fn github(upstream: &Upstream) -> String {
    format!(
        "[routes.gh]\nprovider = \"github\"\nsecrets = [\"{SECRET}\"]\nupstream = \"{}\"\n",
        upstream.url()
    )
}

fn github_headers(body: &str, delivery: &str) -> Vec<(String, String)> {
    hdrs(&[
        ("content-type", "application/json"),
        ("x-github-event", "push"),
        ("x-github-delivery", delivery),
        (
            "x-hub-signature-256",
            &format!("sha256={}", hmac_sha256_hex(SECRET, body.as_bytes())),
        ),
    ])
}

#[tokio::test]
async fn a_flood_on_one_route_neither_replays_freely_nor_evicts_another_route() {
    let upstream = Upstream::start().await;
    let routes = format!(
        "{}{}{ADMIN}",
        github(&upstream),
        chamelio("ch", &upstream, "")
    );
    let gw = Gateway::start(&routes, "dedupe_capacity = 500", &[]).await;
    // One genuine event on the Chamelio route, captured.
    let (ch_headers, ch_body) = chamelio_delivery(SECRET, "evt_victim");
    assert_eq!(
        post(&gw.url("/webhooks/ch"), &ch_headers, ch_body.clone())
            .await
            .status,
        200
    );
    // One captured GitHub delivery, sent 700 times with fresh (unsigned) delivery ids.
    let body = r#"{"ref":"refs/heads/main","after":"6113728f27ae82c7b1a177c8d03f9e96e0adf246"}"#;
    let mut statuses = std::collections::BTreeMap::new();
    for i in 0..700 {
        let h = github_headers(body, &format!("00000000-0000-4000-8000-{i:012}"));
        let r = post(&gw.url("/webhooks/gh"), &h, body).await;
        let what = r.json()["status"]
            .as_str()
            .unwrap_or("forwarded")
            .to_string();
        *statuses.entry((r.status, what)).or_insert(0) += 1;
    }
    assert_eq!(
        upstream.count(),
        2,
        "the captured GitHub delivery went through once: {statuses:?}"
    );
    // The Chamelio route's memory is its own: the captured event is still a duplicate.
    let r = post(&gw.url("/webhooks/ch"), &ch_headers, ch_body).await;
    assert_eq!(r.json()["status"], "duplicate");
    assert_eq!(upstream.count(), 2);
    // A genuinely new GitHub delivery (another body) still goes through.
    let other = r#"{"ref":"refs/heads/main","after":"0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c"}"#;
    let h = github_headers(other, "11111111-0000-4000-8000-000000000000");
    assert_eq!(post(&gw.url("/webhooks/gh"), &h, other).await.status, 200);
    assert_eq!(upstream.count(), 3);
    let text = gw.metrics().await;
    assert_eq!(
        sample(&text, "hookgate_dedupe_capacity{route=\"ch\"} "),
        250.0
    );
    assert_eq!(
        sample(&text, "hookgate_dedupe_evictions_total{route=\"ch\"} "),
        0.0
    );
    gw.stop().await;
}

#[tokio::test]
async fn numeric_event_ids_keep_every_digit() {
    let upstream = Upstream::start().await;
    let gw = Gateway::start(&untimed("a", &upstream, "1h"), "", &[]).await;
    let url = gw.url("/webhooks/a");
    let send = |id: &'static str| {
        let body = format!(r#"{{"event":"x","event_id":{id}}}"#);
        let h = chamelio_headers(SECRET, &body);
        (h, body)
    };
    for id in [
        "123456789012345678901",
        "123456789012345678902",
        "18446744073709551616",
    ] {
        let (h, b) = send(id);
        assert_eq!(post(&url, &h, b).await.status, 200);
    }
    let ids: Vec<String> = upstream
        .received()
        .iter()
        .map(|r| r.json()["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        ids,
        [
            "123456789012345678901",
            "123456789012345678902",
            "18446744073709551616"
        ],
        "each id is its exact JSON text, and distinct ids are distinct events"
    );
    gw.stop().await;
}

#[tokio::test]
async fn a_retry_within_the_vendors_horizon_is_a_duplicate_even_past_dedupe_ttl() {
    let upstream = Upstream::start().await;
    // dedupe_ttl says one second, but the vendor retries for two: ids are kept past the horizon.
    let routes = untimed("a", &upstream, "1s").replace(
        "dedupe_ttl = \"1s\"\n",
        "dedupe_ttl = \"1s\"\nretry_horizon = \"2s\"\n",
    );
    let gw = Gateway::start(&routes, "", &[]).await;
    let url = gw.url("/webhooks/a");
    let (h, b) = chamelio_delivery(SECRET, "evt_late_retry");
    assert_eq!(post(&url, &h, b.clone()).await.status, 200);
    // Past the configured dedupe_ttl (and the second it is rounded up to), within the horizon.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(post(&url, &h, b).await.json()["status"], "duplicate");
    assert_eq!(upstream.count(), 1);
    gw.stop().await;
}
