//! Several replicas sharing one real Redis (started by the test on a port of its own): one event sent
//! to each replica is forwarded once, concurrent copies over three replicas once, a replica killed
//! mid-delivery has its entries delivered by another, Redis stopped under load means 503s and no lost
//! acknowledged event, and an upstream down for 20 seconds loses nothing.

use crate::harness::*;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

const SECRET: &str = "redis-secret";

fn config(redis: &RedisServer, upstream: &Upstream, extra: &str) -> String {
    format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n\
         [store]\nkind = \"redis\"\nurl = \"{}\"\nlease = \"2s\"\ndurability = \"fsync\"\n\
         [routes.q]\nprovider = \"chamelio\"\nsecrets = [\"{SECRET}\"]\nupstream = \"{}\"\nforward_timeout = \"1s\"\n\
         retry_schedule = [\"200ms\", \"500ms\", \"1s\", \"1s\", \"1s\", \"1s\", \"1s\", \"1s\", \"1s\", \"1s\", \"1s\", \"1s\", \"1s\", \"1s\", \"1s\", \"1s\", \"1s\", \"1s\", \"1s\", \"1s\", \"1s\", \"1s\", \"1s\", \"1s\", \"1s\", \"1s\", \"1s\", \"1s\", \"1s\", \"1s\"]\n{extra}\n\
         [routes.d]\nprovider = \"chamelio\"\nsecrets = [\"{SECRET}\"]\nupstream = \"{}\"\nforward_timeout = \"1s\"\ndelivery = \"direct\"\n",
        redis.url(),
        upstream.url(),
        upstream.url()
    )
}

fn replicas(n: usize, name: &str, config: &str) -> Vec<Proc> {
    (0..n)
        .map(|i| Proc::start(&format!("{name}-{i}"), config))
        .collect()
}

/// How many times each event id reached the upstream.
fn arrivals(upstream: &Upstream) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for r in upstream.received() {
        *counts
            .entry(r.json()["id"].as_str().unwrap_or("").to_string())
            .or_default() += 1;
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_event_sent_to_each_of_three_replicas_is_forwarded_once() {
    let redis = RedisServer::start("once").await;
    let upstream = Upstream::start().await;
    let procs = replicas(3, "redis-once", &config(&redis, &upstream, ""));
    for route in ["q", "d"] {
        let (h, b) = chamelio_delivery(SECRET, &format!("evt_once_{route}"));
        let mut answers = Vec::new();
        for p in &procs {
            answers.push(post(&p.url(&format!("/webhooks/{route}")), &h, b.clone()).await);
        }
        assert!(
            answers.iter().all(|r| r.status == 200),
            "{route}: {answers:?}"
        );
        let duplicates = answers
            .iter()
            .filter(|r| r.body.as_ref() == b"{\"status\":\"duplicate\"}")
            .count();
        assert_eq!(
            duplicates, 2,
            "{route}: the first replica took it, the others knew"
        );
    }
    until(
        Duration::from_secs(10),
        || upstream.count() >= 2,
        || format!("{}", upstream.count()),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        arrivals(&upstream).values().copied().collect::<Vec<_>>(),
        vec![1, 1]
    );
    // The vendor's retry, to any replica, is a duplicate.
    let (h, b) = chamelio_delivery(SECRET, "evt_once_q");
    assert_eq!(
        post(&procs[1].url("/webhooks/q"), &h, b).await.json()["status"],
        "duplicate"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_concurrent_copies_over_three_replicas_are_forwarded_once() {
    let redis = RedisServer::start("sixteen").await;
    let upstream = Upstream::start().await;
    upstream.set(Behavior::Slow(Duration::from_millis(200), 200));
    let procs = replicas(3, "redis-sixteen", &config(&redis, &upstream, ""));
    for route in ["d", "q"] {
        let (h, b) = chamelio_delivery(SECRET, &format!("evt_16_{route}"));
        let tasks: Vec<_> = (0..16)
            .map(|i| {
                let url = procs[i % 3].url(&format!("/webhooks/{route}"));
                let (h, b) = (h.clone(), b.clone());
                tokio::spawn(async move { post(&url, &h, b).await.status })
            })
            .collect();
        for t in tasks {
            assert_eq!(t.await.unwrap(), 200);
        }
    }
    until(
        Duration::from_secs(10),
        || upstream.count() >= 2,
        || format!("{}", upstream.count()),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        arrivals(&upstream).values().copied().collect::<Vec<_>>(),
        vec![1, 1],
        "{:?}",
        arrivals(&upstream)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_killed_mid_delivery_has_its_events_delivered_by_another() {
    let redis = RedisServer::start("killed").await;
    let upstream = Upstream::start().await;
    // Every attempt hangs at the upstream until released: the replicas hold their entries.
    upstream.hold();
    let mut procs = replicas(2, "redis-killed", &config(&redis, &upstream, ""));
    let mut accepted = BTreeSet::new();
    for i in 0..20 {
        let id = format!("evt_kill_{i}");
        let (h, b) = chamelio_delivery(SECRET, &id);
        assert_eq!(post(&procs[0].url("/webhooks/q"), &h, b).await.status, 200);
        accepted.insert(id);
    }
    until(
        Duration::from_secs(10),
        || upstream.count() >= 2,
        || format!("{}", upstream.count()),
    )
    .await;
    procs[0].kill9();
    upstream.release();
    // The survivor delivers what it held and, after the lease, what the dead replica had taken.
    until(
        Duration::from_secs(30),
        || {
            accepted
                .iter()
                .all(|id| arrivals(&upstream).contains_key(id))
        },
        || format!("{} of {}", arrivals(&upstream).len(), accepted.len()),
    )
    .await;
    let twice = arrivals(&upstream).values().filter(|&&n| n > 1).count();
    eprintln!(
        "killed replica: {} events, {twice} delivered twice (attempts under way at the kill)",
        accepted.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_stopped_for_ten_seconds_means_503s_and_no_acknowledged_event_lost() {
    let mut redis = RedisServer::start("stopped").await;
    let upstream = Upstream::start().await;
    let procs = replicas(2, "redis-stopped", &config(&redis, &upstream, ""));
    let urls: Vec<String> = procs.iter().map(|p| p.url("/webhooks/q")).collect();
    let mut acknowledged = BTreeSet::new();
    let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
    let started = Instant::now();
    let mut stopped_at = None;
    let mut i = 0;
    while started.elapsed() < Duration::from_secs(18) {
        if stopped_at.is_none() && started.elapsed() >= Duration::from_secs(3) {
            redis.stop();
            stopped_at = Some(Instant::now());
        }
        if let Some(t) = stopped_at
            && t.elapsed() >= Duration::from_secs(10)
            && redis_down(&redis).await
        {
            redis.restart().await;
        }
        let id = format!("evt_stop_{i}");
        let (h, b) = chamelio_delivery(SECRET, &id);
        let r = post(&urls[i % 2], &h, b).await;
        *statuses.entry(r.status).or_default() += 1;
        match r.status {
            200 => {
                acknowledged.insert(id);
            }
            503 => assert_eq!(r.error(), "store_unavailable", "{:?}", r.body),
            other => panic!("{other}: {:?}", r.body),
        }
        i += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        statuses.get(&503).copied().unwrap_or(0) > 0,
        "Redis was down: {statuses:?}"
    );
    until(
        Duration::from_secs(30),
        || {
            acknowledged
                .iter()
                .all(|id| arrivals(&upstream).contains_key(id))
        },
        || {
            format!(
                "{} of {} acknowledged delivered",
                acknowledged
                    .iter()
                    .filter(|id| arrivals(&upstream).contains_key(*id))
                    .count(),
                acknowledged.len()
            )
        },
    )
    .await;
    eprintln!("redis stopped: {statuses:?}; every acknowledged event delivered");
}

async fn redis_down(redis: &RedisServer) -> bool {
    tokio::net::TcpStream::connect(("127.0.0.1", redis.port))
        .await
        .is_err()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_down_for_20_seconds_behind_three_replicas_gets_each_event_once() {
    let redis = RedisServer::start("down").await;
    let addr = free_port().await;
    let down = Upstream::start().await;
    let cfg = config(&redis, &down, "").replace(&down.url(), &format!("http://{addr}/events"));
    drop(down);
    let procs = replicas(3, "redis-down", &cfg);
    let started = Instant::now();
    let mut ids = BTreeSet::new();
    for i in 0..15 {
        let id = format!("evt_down_{i}");
        let (h, b) = chamelio_delivery(SECRET, &id);
        assert_eq!(
            post(&procs[i % 3].url("/webhooks/q"), &h, b).await.status,
            200
        );
        ids.insert(id);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    tokio::time::sleep(Duration::from_secs(20).saturating_sub(started.elapsed())).await;
    let upstream = Upstream::start_on(tokio::net::TcpListener::bind(addr).await.unwrap());
    until(
        Duration::from_secs(30),
        || arrivals(&upstream).len() >= ids.len(),
        || format!("{:?}", arrivals(&upstream)),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let got = arrivals(&upstream);
    assert_eq!(got.keys().cloned().collect::<BTreeSet<_>>(), ids);
    assert!(got.values().all(|&n| n == 1), "each event once: {got:?}");
}

/// Every key under the prefix with its time to live in ms (-1: none).
async fn keys_and_ttls(redis: &RedisServer) -> Vec<(String, i64)> {
    let client = redis::Client::open(redis.url()).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("hookgate:*")
        .query_async(&mut c)
        .await
        .unwrap();
    let mut out = Vec::new();
    for k in keys {
        let ttl: i64 = redis::cmd("PTTL")
            .arg(&k)
            .query_async(&mut c)
            .await
            .unwrap();
        out.push((k, ttl));
    }
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivered_events_leave_nothing_behind_past_their_retention() {
    let redis = RedisServer::start("bounded").await;
    let upstream = Upstream::start().await;
    let config = config(&redis, &upstream, "").replace(
        "[store]\n",
        "[store]\nretention = \"1s\"\ndead_retention = \"1s\"\n",
    );
    let p = Proc::start("redis-bounded", &config);
    // More than one slice of the lists' trimming.
    let n = 150;
    for i in 0..n {
        let (h, b) = chamelio_delivery(SECRET, &format!("evt_bounded_{i}"));
        assert_eq!(post(&p.url("/webhooks/q"), &h, b).await.status, 200);
    }
    until(
        Duration::from_secs(20),
        || upstream.count() >= n,
        || format!("{} delivered", upstream.count()),
    )
    .await;
    // Once settled, an event's every key (its record, attempts and id index) lives for the
    // retention at most; the lists by number are trimmed of what expired; what has no time to live
    // is the route's stream and the few keys of the whole store.
    let started = Instant::now();
    loop {
        let keys = keys_and_ttls(&redis).await;
        let long: Vec<&(String, i64)> = keys
            .iter()
            .filter(|(k, ttl)| {
                let per_event = [":ev:", ":at:", ":id:"].iter().any(|p| k.contains(p));
                (per_event && *ttl > 1_000)
                    || (!per_event && !k.contains(":dd:") && *ttl == -1 && {
                        ![
                            "hookgate:seq",
                            "hookgate:routes",
                            "hookgate:q:q",
                            "hookgate:q:d",
                        ]
                        .contains(&k.as_str())
                    })
            })
            .collect();
        if long.is_empty() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "keys kept past the retention or without a time to live: {} of {}, first {:?}",
            long.len(),
            keys.len(),
            &long[..long.len().min(5)]
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
