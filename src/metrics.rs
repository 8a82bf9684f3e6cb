//! Prometheus metrics: what the gateway did, by route and outcome.
//!
//! Label values come only from the configuration (route names) and from the fixed outcome table, never
//! from request data, so a sender cannot blow up the number of series. Gauges that mirror other state
//! (dedupe entries) are refreshed when scraped. This module knows nothing about how outcomes arise.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

/// One route's request metrics, resolved from their families once per route (and configuration)
/// instead of a label lookup per request (a read lock and a SipHash of the labels, four times).
/// The handles share the families' series, so `/metrics` shows the same figures either way.
#[derive(Default)]
pub struct RouteHandles(OnceLock<Handles>);

struct Handles {
    duration: Histogram,
    upstream_duration: Histogram,
    /// `requests_total` by outcome and `upstream_responses_total` by status, as they are met: a
    /// route sees a handful of each.
    outcomes: RwLock<Vec<(&'static str, Counter)>>,
    statuses: RwLock<Vec<(u16, Counter)>>,
}

impl std::fmt::Debug for RouteHandles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RouteHandles")
    }
}

/// Counts one for `key` in `cache`, whose counter `make` gives the first time.
fn inc_cached<K: PartialEq + Copy>(
    cache: &RwLock<Vec<(K, Counter)>>,
    key: K,
    make: impl FnOnce() -> Counter,
) {
    let read = cache.read().unwrap_or_else(|p| p.into_inner());
    if let Some((_, c)) = read.iter().find(|(k, _)| *k == key) {
        c.inc();
        return;
    }
    drop(read);
    let mut write = cache.write().unwrap_or_else(|p| p.into_inner());
    match write.iter().find(|(k, _)| *k == key) {
        Some((_, c)) => {
            c.inc();
        }
        None => {
            let c = make();
            c.inc();
            write.push((key, c));
        }
    }
}

/// The label used for requests that matched no route.
pub const NO_ROUTE: &str = "-";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub route: Arc<str>,
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct UpstreamLabels {
    pub route: Arc<str>,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: Arc<str>,
}

/// A document a vendor publishes (a key set, a list of source addresses), by what it is and its URL
/// (both from the configuration).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PublishedLabels {
    pub what: &'static str,
    pub url: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FetchLabels {
    pub what: &'static str,
    pub url: String,
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AttemptLabels {
    pub route: Arc<str>,
    /// delivered, retry or dead.
    pub result: &'static str,
}

fn delivery_histogram() -> Histogram {
    // 10 ms to ~2.3 days.
    Histogram::new(exponential_buckets(0.01, 4.0, 14))
}

fn batch_histogram() -> Histogram {
    // 1 to 1024 writes per commit.
    Histogram::new(exponential_buckets(1.0, 2.0, 11))
}

fn latency_histogram() -> Histogram {
    // 0.5 ms to ~16 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

/// Every metric the gateway exports.
pub struct Metrics {
    registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub request_duration: Family<RouteLabels, Histogram, fn() -> Histogram>,
    pub upstream_responses: Family<UpstreamLabels, Counter>,
    pub upstream_duration: Family<RouteLabels, Histogram, fn() -> Histogram>,
    pub in_flight: Gauge,
    /// Readers of the admin listener's outcome stream (the inspector, `hookgate tail`).
    pub stream_readers: Gauge,
    pub connections_open: Gauge,
    pub connections: Counter,
    pub connections_refused: Counter,
    pub dedupe_entries: Family<RouteLabels, Gauge>,
    pub dedupe_capacity: Family<RouteLabels, Gauge>,
    pub dedupe_evictions: Family<RouteLabels, Counter<u64, AtomicU64>>,
    pub reloads: Family<ResultLabels, Counter>,
    pub certificate_reloads: Family<ResultLabels, Counter>,
    pub attempts: Family<AttemptLabels, Counter>,
    pub attempt_duration: Family<RouteLabels, Histogram, fn() -> Histogram>,
    pub accept_to_delivered: Family<RouteLabels, Histogram, fn() -> Histogram>,
    pub queued: Family<RouteLabels, Gauge>,
    pub delivering: Family<RouteLabels, Gauge>,
    pub dead: Family<RouteLabels, Gauge>,
    pub oldest_queued: Family<RouteLabels, Gauge<f64, std::sync::atomic::AtomicU64>>,
    pub store_commit_duration: Histogram,
    pub store_writes_per_commit: Histogram,
    pub store_bytes: Gauge,
    pub store_file_bytes: Gauge,
    pub store_full: Gauge,
    pub store_failing: Gauge,
    pub store_errors: Family<ResultLabels, Counter>,
    pub replays: Family<RouteLabels, Counter>,
    pub redis_duration: Histogram,
    pub redis_errors: Counter,
    pub published_fetches: Family<FetchLabels, Counter>,
    pub published_loaded: Family<PublishedLabels, Gauge>,
    /// The per-route store series set at the last scrape.
    last_store_series: std::sync::Mutex<std::collections::HashSet<(Arc<str>, &'static str)>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("hookgate");
        let m = Metrics {
            requests: Family::default(),
            request_duration: Family::new_with_constructor(latency_histogram),
            upstream_responses: Family::default(),
            upstream_duration: Family::new_with_constructor(latency_histogram),
            in_flight: Gauge::default(),
            stream_readers: Gauge::default(),
            connections_open: Gauge::default(),
            connections: Counter::default(),
            connections_refused: Counter::default(),
            dedupe_entries: Family::default(),
            dedupe_capacity: Family::default(),
            dedupe_evictions: Family::default(),
            reloads: Family::default(),
            certificate_reloads: Family::default(),
            attempts: Family::default(),
            attempt_duration: Family::new_with_constructor(latency_histogram),
            accept_to_delivered: Family::new_with_constructor(delivery_histogram),
            queued: Family::default(),
            delivering: Family::default(),
            dead: Family::default(),
            oldest_queued: Family::default(),
            store_commit_duration: latency_histogram(),
            store_writes_per_commit: batch_histogram(),
            store_bytes: Gauge::default(),
            store_file_bytes: Gauge::default(),
            store_full: Gauge::default(),
            store_failing: Gauge::default(),
            store_errors: Family::default(),
            replays: Family::default(),
            redis_duration: latency_histogram(),
            redis_errors: Counter::default(),
            published_fetches: Family::default(),
            published_loaded: Family::default(),
            last_store_series: Default::default(),
            registry: Registry::default(),
        };
        registry.register(
            "requests",
            "Requests by route and outcome (forwarded, duplicate, or the rejection reason)",
            m.requests.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Time from request head to response, by route",
            m.request_duration.clone(),
        );
        registry.register(
            "upstream_responses",
            "Upstream answers by route and status code",
            m.upstream_responses.clone(),
        );
        registry.register(
            "upstream_duration_seconds",
            "Upstream exchange latency by route",
            m.upstream_duration.clone(),
        );
        registry.register(
            "in_flight_requests",
            "Requests being handled now, deliveries still being forwarded included",
            m.in_flight.clone(),
        );
        registry.register(
            "stream_readers",
            "Readers of the admin outcome stream (inspector pages, hookgate tail) now",
            m.stream_readers.clone(),
        );
        registry.register(
            "open_connections",
            "Client connections open now",
            m.connections_open.clone(),
        );
        registry.register(
            "connections",
            "Client connections accepted",
            m.connections.clone(),
        );
        registry.register(
            "dedupe_entries",
            "Delivered events remembered for deduplication, by route",
            m.dedupe_entries.clone(),
        );
        registry.register(
            "dedupe_capacity",
            "Delivered events each route can remember",
            m.dedupe_capacity.clone(),
        );
        registry.register(
            "dedupe_evictions",
            "Remembered events forgotten before their dedupe_ttl because the route's memory was full",
            m.dedupe_evictions.clone(),
        );
        registry.register(
            "published_fetches",
            "Fetches of what vendors publish at a URL (key sets, source address lists), by what, URL and result (ok, failed: the last good one stays in force)",
            m.published_fetches.clone(),
        );
        registry.register(
            "published_loaded",
            "1 when a fetch has brought the document a route relies on, 0 while none has (its deliveries are answered 503), by what and URL",
            m.published_loaded.clone(),
        );
        registry.register(
            "connections_refused",
            "Client connections refused because max_connections were open",
            m.connections_refused.clone(),
        );
        registry.register(
            "config_reloads",
            "Configuration reloads by result",
            m.reloads.clone(),
        );
        registry.register(
            "certificate_reloads",
            "Certificate reloads after the files changed on disk, by result",
            m.certificate_reloads.clone(),
        );
        registry.register(
            "delivery_attempts",
            "Delivery attempts of queued events by route and result (delivered, retry, dead)",
            m.attempts.clone(),
        );
        registry.register(
            "delivery_attempt_duration_seconds",
            "Upstream exchange time of delivery attempts, by route",
            m.attempt_duration.clone(),
        );
        registry.register(
            "accept_to_delivered_seconds",
            "Time from accepting an event to its delivery, by route",
            m.accept_to_delivered.clone(),
        );
        registry.register(
            "queued_events",
            "Events waiting for an attempt, by route",
            m.queued.clone(),
        );
        registry.register(
            "delivering_events",
            "Attempts under way, by route",
            m.delivering.clone(),
        );
        registry.register(
            "dead_events",
            "Dead-lettered events kept, by route",
            m.dead.clone(),
        );
        registry.register(
            "oldest_queued_age_seconds",
            "Age of the oldest queued event, by route",
            m.oldest_queued.clone(),
        );
        registry.register(
            "store_commit_duration_seconds",
            "Time of one store commit (fsync included)",
            m.store_commit_duration.clone(),
        );
        registry.register(
            "store_writes_per_commit",
            "Writes (accepts, attempts, dedupe records) grouped in one commit",
            m.store_writes_per_commit.clone(),
        );
        registry.register(
            "store_used_bytes",
            "Bytes of the store in use (measured exactly at start and while the file is at max_size, else estimated from what was written)",
            m.store_bytes.clone(),
        );
        registry.register(
            "store_file_bytes",
            "Size of the store file on disk",
            m.store_file_bytes.clone(),
        );
        registry.register(
            "store_full",
            "1 while the store is over max_size and refuses accepts",
            m.store_full.clone(),
        );
        registry.register(
            "store_failing",
            "1 while the store cannot write",
            m.store_failing.clone(),
        );
        registry.register(
            "store_errors",
            "Accepts refused by the store, by reason (full, unavailable)",
            m.store_errors.clone(),
        );
        registry.register(
            "replays",
            "Stored events queued again by hand (CLI or API), by route",
            m.replays.clone(),
        );
        registry.register(
            "redis_duration_seconds",
            "Round trips to Redis (store.kind = \"redis\")",
            m.redis_duration.clone(),
        );
        registry.register(
            "redis_errors",
            "Redis commands that failed",
            m.redis_errors.clone(),
        );
        Metrics { registry, ..m }
    }

    /// Records one Redis round trip.
    pub fn record_redis(&self, took: Duration, failed: bool) {
        self.redis_duration.observe(took.as_secs_f64());
        if failed {
            self.redis_errors.inc();
        }
    }

    /// Records one delivery attempt of a queued event that was accepted `since_accept_ms` ago.
    pub fn record_attempt(
        &self,
        route: &Arc<str>,
        next: &crate::delivery::Next,
        latency: Duration,
        since_accept_ms: u64,
    ) {
        let result = match next {
            crate::delivery::Next::Delivered => "delivered",
            crate::delivery::Next::Retry(_) => "retry",
            crate::delivery::Next::Dead(_) => "dead",
        };
        self.attempts
            .get_or_create(&AttemptLabels {
                route: route.clone(),
                result,
            })
            .inc();
        let labels = RouteLabels {
            route: route.clone(),
        };
        self.attempt_duration
            .get_or_create(&labels)
            .observe(latency.as_secs_f64());
        if result == "delivered" {
            self.accept_to_delivered
                .get_or_create(&labels)
                .observe(since_accept_ms as f64 / 1000.0);
        }
    }

    /// Mirrors the store's and the workers' figures (taken when scraped). A route whose count fell
    /// to nothing since the last scrape is set to zero rather than left at its last value.
    pub async fn record_store(
        &self,
        store: &crate::store::Store,
        workers: Option<&crate::delivery::Deliveries>,
    ) {
        let stats = store.stats();
        self.store_bytes
            .set(i64::try_from(stats.used_bytes).unwrap_or(i64::MAX));
        self.store_file_bytes
            .set(i64::try_from(stats.file_bytes).unwrap_or(i64::MAX));
        self.store_full.set(i64::from(stats.full));
        self.store_failing.set(i64::from(stats.failing));
        let mut now_set: std::collections::HashSet<(Arc<str>, &'static str)> = Default::default();
        let mut set =
            |family: &Family<RouteLabels, Gauge>, name: &'static str, route: Arc<str>, n: i64| {
                family
                    .get_or_create(&RouteLabels {
                        route: route.clone(),
                    })
                    .set(n);
                now_set.insert((route, name));
            };
        if let Ok(counts) = store.counts().await {
            for (route, state, n) in counts {
                let n = i64::try_from(n).unwrap_or(i64::MAX);
                match state {
                    crate::store::State::Queued => {
                        set(&self.queued, "queued", Arc::from(route.as_str()), n)
                    }
                    crate::store::State::Dead => {
                        set(&self.dead, "dead", Arc::from(route.as_str()), n)
                    }
                    crate::store::State::Delivered => {}
                }
            }
        }
        if let Some(w) = workers {
            for (route, n) in w.running() {
                set(
                    &self.delivering,
                    "delivering",
                    route,
                    i64::try_from(n).unwrap_or(i64::MAX),
                );
            }
        }
        if let Ok(oldest) = store.oldest_queued().await {
            let now = jiff::Timestamp::now().as_millisecond();
            for (route, received_ms) in oldest {
                let age = (now - i64::try_from(received_ms).unwrap_or(now)).max(0) as f64 / 1000.0;
                let route: Arc<str> = Arc::from(route.as_str());
                self.oldest_queued
                    .get_or_create(&RouteLabels {
                        route: route.clone(),
                    })
                    .set(age);
                now_set.insert((route, "oldest"));
            }
        }
        let mut last = self
            .last_store_series
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        for (route, name) in last.difference(&now_set) {
            let labels = RouteLabels {
                route: route.clone(),
            };
            match *name {
                "queued" => drop(self.queued.get_or_create(&labels).set(0)),
                "dead" => drop(self.dead.get_or_create(&labels).set(0)),
                "delivering" => drop(self.delivering.get_or_create(&labels).set(0)),
                _ => drop(self.oldest_queued.get_or_create(&labels).set(0.0)),
            }
        }
        *last = now_set;
    }

    /// Records one store commit.
    pub fn record_commit(&self, took: Duration, writes: usize) {
        self.store_commit_duration.observe(took.as_secs_f64());
        self.store_writes_per_commit.observe(writes as f64);
    }

    /// Records one finished request of a route, through the route's own handles; `upstream` is the
    /// upstream's status and latency when it answered.
    pub fn record_route(
        &self,
        route: &Arc<str>,
        slot: &RouteHandles,
        outcome: &'static str,
        elapsed: Duration,
        upstream: Option<(u16, Duration)>,
    ) {
        let labels = || RouteLabels {
            route: route.clone(),
        };
        let h = slot.0.get_or_init(|| Handles {
            duration: self.request_duration.get_or_create(&labels()).clone(),
            upstream_duration: self.upstream_duration.get_or_create(&labels()).clone(),
            outcomes: RwLock::new(Vec::new()),
            statuses: RwLock::new(Vec::new()),
        });
        inc_cached(&h.outcomes, outcome, || {
            self.requests
                .get_or_create(&RequestLabels {
                    route: route.clone(),
                    outcome,
                })
                .clone()
        });
        h.duration.observe(elapsed.as_secs_f64());
        if let Some((status, latency)) = upstream {
            inc_cached(&h.statuses, status, || {
                self.upstream_responses
                    .get_or_create(&UpstreamLabels {
                        route: route.clone(),
                        status,
                    })
                    .clone()
            });
            h.upstream_duration.observe(latency.as_secs_f64());
        }
    }

    /// Records one finished request.
    pub fn record(&self, route: &Arc<str>, outcome: &'static str, elapsed: Duration) {
        self.requests
            .get_or_create(&RequestLabels {
                route: route.clone(),
                outcome,
            })
            .inc();
        self.request_duration
            .get_or_create(&RouteLabels {
                route: route.clone(),
            })
            .observe(elapsed.as_secs_f64());
    }

    pub fn record_upstream(&self, route: &Arc<str>, status: u16, latency: Duration) {
        self.upstream_responses
            .get_or_create(&UpstreamLabels {
                route: route.clone(),
                status,
            })
            .inc();
        self.upstream_duration
            .get_or_create(&RouteLabels {
                route: route.clone(),
            })
            .observe(latency.as_secs_f64());
    }

    /// Mirrors the dedupe memory's per-route figures (taken when scraped).
    pub fn record_dedupe(&self, routes: &[crate::replay::RouteStats]) {
        for r in routes {
            let labels = RouteLabels {
                route: r.route.clone(),
            };
            self.dedupe_entries
                .get_or_create(&labels)
                .set(i64::try_from(r.entries).unwrap_or(i64::MAX));
            self.dedupe_capacity
                .get_or_create(&labels)
                .set(i64::try_from(r.capacity).unwrap_or(i64::MAX));
            let counter = self.dedupe_evictions.get_or_create(&labels);
            counter.inc_by(r.evicted.saturating_sub(counter.get()));
        }
    }

    /// Counts one fetch of a published document.
    pub fn record_fetch(&self, what: &'static str, url: &http::Uri, ok: bool) {
        self.published_fetches
            .get_or_create(&FetchLabels {
                what,
                url: url.to_string(),
                result: if ok { "ok" } else { "failed" },
            })
            .inc();
    }

    /// Mirrors whether each published document the routes rely on is in force (taken when scraped);
    /// a document no route relies on any more (after a reload) leaves no series behind.
    pub fn record_published(&self, documents: &[(&'static str, String, bool)]) {
        self.published_loaded.clear();
        for (what, url, loaded) in documents {
            self.published_loaded
                .get_or_create(&PublishedLabels {
                    what,
                    url: url.clone(),
                })
                .set(i64::from(*loaded));
        }
    }

    /// The OpenMetrics text exposition, which Prometheus scrapes.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Encoding into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_requests_appear_in_the_exposition() {
        let m = Metrics::new();
        let route: Arc<str> = Arc::from("stripe");
        m.record(&route, "forwarded", Duration::from_millis(3));
        m.record(&route, "forwarded", Duration::from_millis(3));
        m.record(&route, "invalid_signature", Duration::from_millis(1));
        m.record_upstream(&route, 200, Duration::from_millis(2));
        let text = m.encode();
        assert!(
            text.contains("hookgate_requests_total{route=\"stripe\",outcome=\"forwarded\"} 2"),
            "{text}"
        );
        assert!(
            text.contains(
                "hookgate_requests_total{route=\"stripe\",outcome=\"invalid_signature\"} 1"
            )
        );
        assert!(
            text.contains("hookgate_upstream_responses_total{route=\"stripe\",status=\"200\"} 1")
        );
        assert!(text.ends_with("# EOF\n"));
    }
}
