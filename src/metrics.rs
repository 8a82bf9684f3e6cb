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
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

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

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    pub result: &'static str,
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
    pub connections_open: Gauge,
    pub connections: Counter,
    pub connections_refused: Counter,
    pub dedupe_entries: Family<RouteLabels, Gauge>,
    pub dedupe_capacity: Family<RouteLabels, Gauge>,
    pub dedupe_evictions: Family<RouteLabels, Counter<u64, AtomicU64>>,
    pub reloads: Family<ResultLabels, Counter>,
    pub certificate_reloads: Family<ResultLabels, Counter>,
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
            connections_open: Gauge::default(),
            connections: Counter::default(),
            connections_refused: Counter::default(),
            dedupe_entries: Family::default(),
            dedupe_capacity: Family::default(),
            dedupe_evictions: Family::default(),
            reloads: Family::default(),
            certificate_reloads: Family::default(),
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
        Metrics { registry, ..m }
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
