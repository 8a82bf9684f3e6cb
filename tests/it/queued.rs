//! Queued delivery in-process, over real sockets: the vendor is answered once the event is stored,
//! the workers deliver it with retries, a 410 dead-letters it, duplicates are recognised after a
//! restart (in both modes), and a full store answers 503 until retention frees space.

use crate::harness::*;
use std::time::Duration;

const SECRET: &str = "queued-secret";

fn route(name: &str, upstream: &Upstream, extra: &str) -> String {
    format!(
        "[routes.{name}]\nprovider = \"chamelio\"\nsecrets = [\"{SECRET}\"]\nupstream = \"{}\"\n{extra}\n",
        upstream.url()
    )
}

async fn received(upstream: &Upstream, n: usize) {
    until(
        Duration::from_secs(20),
        || upstream.count() >= n,
        || format!("the upstream has {} of {n}", upstream.count()),
    )
    .await;
}

/// Waits for a stored event to reach `state`, and returns its summary then.
async fn settled(
    store: &hookgate::store::Store,
    seq: u64,
    state: hookgate::store::State,
) -> hookgate::store::Summary {
    let started = std::time::Instant::now();
    loop {
        let s = store.summary(seq).await.unwrap().unwrap();
        if s.state == state {
            return s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "never {state:?}: {s:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn the_vendor_is_answered_once_stored_and_the_workers_deliver() {
    let dir = TempDir::new("queued-basic");
    let upstream = Upstream::start().await;
    let gw = Gateway::start(&(route("a", &upstream, "") + &dir.store("")), "", &[]).await;
    let url = gw.url("/webhooks/a");
    let (h, b) = chamelio_delivery(SECRET, "evt_q1");
    let r = post(&url, &h, b.clone()).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json(),
        serde_json::json!({"status": "accepted", "id": "evt_q1"})
    );
    received(&upstream, 1).await;
    let got = &upstream.received()[0];
    assert_eq!(got.json()["id"], "evt_q1");
    assert_eq!(got.headers["idempotency-key"], "evt_q1");
    assert_eq!(got.headers["x-request-id"], r.headers["x-request-id"]);
    // The vendor's retry is a duplicate, acknowledged and not delivered again.
    assert_eq!(post(&url, &h, b).await.json()["status"], "duplicate");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(upstream.count(), 1);
    gw.stop().await;
}

/// The first attempt sends the envelope the pipeline just stored from memory; a retry reads it back
/// from the store. Both must be the same request, in either envelope mode.
#[tokio::test]
async fn the_first_attempt_from_memory_sends_what_a_retry_reads_from_the_store() {
    for (mode, extra) in [("structured", ""), ("raw", "envelope = \"raw\"")] {
        let dir = TempDir::new(&format!("queued-fresh-{mode}"));
        let upstream = Upstream::start().await;
        upstream.set(Behavior::First(1, 503));
        let config = route(
            "a",
            &upstream,
            &format!("retry_schedule = [\"100ms\"]\n{extra}"),
        ) + &dir.store("");
        let gw = Gateway::start(&config, "", &[]).await;
        let (h, b) = chamelio_delivery(SECRET, &format!("evt_fresh_{mode}"));
        assert_eq!(post(&gw.url("/webhooks/a"), &h, b).await.status, 200);
        received(&upstream, 2).await;
        let (first, retry) = (&upstream.received()[0], &upstream.received()[1]);
        assert_eq!(first.body, retry.body, "{mode}");
        assert!(!first.body.is_empty());
        let shown = |r: &Received| {
            let mut all: Vec<(String, String)> = r
                .headers
                .iter()
                .filter(|(n, _)| !matches!(n.as_str(), "host" | "content-length"))
                .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_string()))
                .collect();
            all.sort();
            all
        };
        assert_eq!(shown(first), shown(retry), "{mode}");
        if mode == "raw" {
            assert_eq!(first.headers["ce-id"], format!("evt_fresh_{mode}").as_str());
        }
        gw.stop().await;
    }
}

#[tokio::test]
async fn an_upstream_404_is_retried_until_it_answers_2xx_and_the_vendor_saw_only_2xx() {
    let dir = TempDir::new("queued-404");
    let upstream = Upstream::start().await;
    upstream.set(Behavior::Answer(404));
    let gw = Gateway::start(
        &(route(
            "a",
            &upstream,
            "retry_schedule = [\"200ms\", \"200ms\", \"200ms\"]",
        ) + &dir.store("")),
        "",
        &[],
    )
    .await;
    let (h, b) = chamelio_delivery(SECRET, "evt_404");
    assert_eq!(post(&gw.url("/webhooks/a"), &h, b).await.status, 200);
    received(&upstream, 1).await;
    upstream.set(Behavior::Answer(200));
    received(&upstream, 2).await;
    let store = gw.handle().gateway().store().clone();
    let seq = store.find("a", "evt_404").await.unwrap().unwrap();
    settled(&store, seq, hookgate::store::State::Delivered).await;
    let attempts = store.attempts(seq).await.unwrap();
    assert_eq!(attempts.first().unwrap().status, Some(404));
    assert_eq!(attempts.last().unwrap().status, Some(200));
    gw.stop().await;
}

#[tokio::test]
async fn a_410_dead_letters_the_event_at_once() {
    let dir = TempDir::new("queued-410");
    let upstream = Upstream::start().await;
    upstream.set(Behavior::Answer(410));
    let gw = Gateway::start(&(route("a", &upstream, "") + &dir.store("")), "", &[]).await;
    let (h, b) = chamelio_delivery(SECRET, "evt_gone");
    assert_eq!(post(&gw.url("/webhooks/a"), &h, b).await.status, 200);
    received(&upstream, 1).await;
    let store = gw.handle().gateway().store().clone();
    let seq = store.find("a", "evt_gone").await.unwrap().unwrap();
    let s = settled(&store, seq, hookgate::store::State::Dead).await;
    assert_eq!(s.attempts, 1);
    assert!(s.dead_reason.unwrap().contains("410"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(upstream.count(), 1, "a dead letter is not attempted again");
    gw.stop().await;
}

#[tokio::test]
async fn a_delivered_event_is_a_duplicate_after_a_restart_in_both_modes() {
    let dir = TempDir::new("queued-restart");
    let upstream = Upstream::start().await;
    let routes = route("q", &upstream, "")
        + &route("d", &upstream, "delivery = \"direct\"")
        + &dir.store("");
    let (hq, bq) = chamelio_delivery(SECRET, "evt_restart_q");
    let (hd, bd) = chamelio_delivery(SECRET, "evt_restart_d");
    let gw = Gateway::start(&routes, "", &[]).await;
    assert_eq!(
        post(&gw.url("/webhooks/q"), &hq, bq.clone()).await.status,
        200
    );
    assert_eq!(
        post(&gw.url("/webhooks/d"), &hd, bd.clone()).await.status,
        200
    );
    received(&upstream, 2).await;
    gw.stop().await;
    // A new gateway on the same data directory: its memory is empty, the store remembers.
    let gw = Gateway::start(&routes, "", &[]).await;
    assert_eq!(
        post(&gw.url("/webhooks/q"), &hq, bq).await.json()["status"],
        "duplicate"
    );
    assert_eq!(
        post(&gw.url("/webhooks/d"), &hd, bd).await.json()["status"],
        "duplicate"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(upstream.count(), 2);
    gw.stop().await;
}

#[tokio::test]
async fn a_full_store_answers_503_and_accepts_again_once_retention_frees_space() {
    let dir = TempDir::new("queued-full");
    let upstream = Upstream::start().await;
    upstream.set(Behavior::Answer(503));
    let store = dir.store("max_size = \"256KiB\"\nretention = \"1s\"");
    let gw = Gateway::start(
        &(route("a", &upstream, "retry_schedule = [\"100ms\", \"100ms\", \"100ms\", \"100ms\", \"100ms\", \"100ms\", \"100ms\", \"100ms\", \"100ms\", \"100ms\", \"100ms\", \"100ms\", \"100ms\", \"100ms\", \"100ms\", \"100ms\", \"100ms\", \"100ms\", \"100ms\", \"100ms\", \"100ms\", \"100ms\", \"100ms\", \"100ms\", \"100ms\", \"100ms\", \"100ms\", \"100ms\", \"100ms\", \"100ms\"]") + &store),
        "",
        &[],
    )
    .await;
    let url = gw.url("/webhooks/a");
    let pad = "x".repeat(20_000);
    // Events pile up while the upstream refuses them, until the store is over its size.
    let mut accepted = Vec::new();
    let mut refused = None;
    for i in 0..200 {
        let body = chamelio_event(
            &format!("evt_full_{i}"),
            -1,
            &format!(r#"{{"pad":"{pad}"}}"#),
        );
        let r = post(&url, &chamelio_headers(SECRET, &body), body.clone()).await;
        if r.status == 503 {
            refused = Some((r, body));
            break;
        }
        assert_eq!(r.status, 200);
        accepted.push(format!("evt_full_{i}"));
        // The size is measured at each sweep (every second); give it the chance.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (r, body) = refused.expect("the store filled up");
    assert_eq!(r.error(), "store_full");
    assert_eq!(r.headers["retry-after"], "5");
    // The upstream comes back: the queue drains, retention removes the delivered events, and the
    // refused event is accepted when the vendor retries.
    upstream.set(Behavior::Answer(200));
    let h = chamelio_headers(SECRET, &body);
    let started = std::time::Instant::now();
    loop {
        let r = post(&url, &h, body.clone()).await;
        if r.status == 200 {
            break;
        }
        assert_eq!(r.error(), "store_full");
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the store never had room again"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Every event answered 2xx reached the upstream.
    let want = accepted.len() + 1;
    until(
        Duration::from_secs(20),
        || {
            let ids: std::collections::BTreeSet<String> = upstream
                .received()
                .iter()
                .filter(|r| !r.body.is_empty())
                .map(|r| r.json()["id"].as_str().unwrap().to_string())
                .collect();
            ids.len() >= want
        },
        || format!("{} distinct of {want}", upstream.count()),
    )
    .await;
    gw.stop().await;
}

/// A tmpfs of `size` mounted on a fresh directory, unmounted when dropped: a disk that really fills
/// up and really turns read-only, for the store to fail on.
struct SmallDisk {
    dir: TempDir,
}

impl SmallDisk {
    fn mount(name: &str, size: &str) -> SmallDisk {
        let dir = TempDir::new(name);
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("mount runs");
        assert!(
            ok.success(),
            "this test mounts a small tmpfs and needs to run as root (CAP_SYS_ADMIN)"
        );
        SmallDisk { dir }
    }

    fn remount(&self, options: &str) {
        let out = std::process::Command::new("mount")
            .args(["-o", &format!("remount,{options}")])
            .arg(self.dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

#[tokio::test]
async fn a_disk_that_fills_up_gets_503_and_recovers_when_space_returns() {
    let disk = SmallDisk::mount("queued-disk", "2m");
    let upstream = Upstream::start().await;
    upstream.set(Behavior::Answer(503));
    let gw = Gateway::start(&(route("a", &upstream, "") + &disk.dir.store("")), "", &[]).await;
    let url = gw.url("/webhooks/a");
    let pad = "x".repeat(50_000);
    let send = |i: usize| {
        let body = chamelio_event(
            &format!("evt_disk_{i}"),
            -1,
            &format!(r#"{{"pad":"{pad}"}}"#),
        );
        (chamelio_headers(SECRET, &body), body)
    };
    let mut acknowledged = 0;
    let mut failed = None;
    for i in 0..100 {
        let (h, b) = send(i);
        let r = post(&url, &h, b.clone()).await;
        if r.status == 503 {
            failed = Some((i, r.error()));
            break;
        }
        assert_eq!(r.status, 200);
        acknowledged += 1;
    }
    let (first_refused, error) = failed.expect("a 2 MB disk fills up");
    assert_eq!(error, "store_unavailable");
    // Nothing was acknowledged that is not stored: every 2xx'd event is in the store.
    let store = gw.handle().gateway().store().clone();
    for i in 0..acknowledged {
        assert!(
            store
                .find("a", &format!("evt_disk_{i}"))
                .await
                .unwrap()
                .is_some(),
            "evt_disk_{i}"
        );
    }
    // Space returns: the refused event is accepted on its retry.
    disk.remount("size=64m");
    let (h, b) = send(first_refused);
    let started = std::time::Instant::now();
    loop {
        let r = post(&url, &h, b.clone()).await;
        if r.status == 200 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no recovery: {:?}",
            r.body
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    gw.stop().await;
}

#[tokio::test]
async fn a_read_only_data_directory_is_refused_at_start_with_what_to_do() {
    let disk = SmallDisk::mount("queued-ro", "1m");
    disk.remount("ro");
    let upstream = Upstream::start().await;
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n{}{}",
        route("a", &upstream, ""),
        disk.dir.store("")
    );
    let config = hookgate::config::parse("test.toml", &text, &|_| None).unwrap();
    let err = match hookgate::server::start(config).await {
        Ok(_) => panic!("started on a read-only data directory"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains(&disk.dir.path().display().to_string()),
        "{err}"
    );
    assert!(err.contains("Read-only file system"), "{err}");
    assert!(err.contains("or set [store] path to one that is"), "{err}");
}
