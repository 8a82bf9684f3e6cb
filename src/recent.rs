//! What the inspector and `hookgate tail` read: recent outcomes, kept in bounded memory.
//!
//! - Per route, one bucket a minute for the last hour: how many requests ended in each outcome
//!   (accepted, duplicate, each rejection reason…) and each delivery result (delivered, retry,
//!   dead), with latency sums for the averages. Recording is a counter increment under the route's
//!   lock: nothing is allocated per request unless someone watches.
//! - Per route, the last `REJECTIONS` refused requests with their detailed reason and the headers that
//!   mattered (signature values masked, never an expected signature).
//! - A broadcast stream of every outcome for those watching (`/api/stream`). It never blocks: with
//!   nobody subscribed nothing is built; a subscriber that falls behind loses its place and is dropped.
//!
//! This module knows nothing about HTTP or how outcomes arise.

use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::sync::broadcast;

/// Minutes of counts kept per route.
pub const MINUTES: usize = 60;
/// Refused requests kept per route.
pub const REJECTIONS: usize = 50;
/// Outcomes a subscriber may be behind before it is dropped.
pub(crate) const STREAM_BUFFER: usize = 4096;

/// One outcome as the stream and the rejections list show it.
#[derive(Debug, Clone, Serialize)]
pub struct Seen {
    /// Unix milliseconds.
    pub at_ms: u64,
    pub route: String,
    /// `request` (what a vendor's request ended in) or `delivery` (an attempt of a queued event).
    pub source: &'static str,
    pub outcome: &'static str,
    pub status: u16,
    pub event_id: Option<String>,
    pub request_id: Option<String>,
    pub client: Option<String>,
    pub latency_ms: f64,
    pub upstream_ms: Option<f64>,
    /// Why it was refused or failed, in words.
    pub reason: Option<String>,
    /// The headers that mattered to a refusal: signature values masked.
    pub headers: Vec<(String, String)>,
    pub attempt: Option<u32>,
}

/// One minute of one route.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Minute {
    /// Unix minute.
    pub minute: u64,
    pub counts: BTreeMap<&'static str, u64>,
    pub latency_ms_sum: f64,
    pub requests: u64,
    pub upstream_ms_sum: f64,
    pub upstream_n: u64,
}

#[derive(Default)]
struct RouteRecent {
    minutes: Mutex<VecDeque<Minute>>,
    rejections: Mutex<VecDeque<Arc<Seen>>>,
}

/// The recent outcomes of every route.
pub struct Recent {
    /// By route name (from the configuration: foldhash, not SipHash, for a lookup per request).
    routes: RwLock<foldhash::HashMap<Arc<str>, Arc<RouteRecent>>>,
    stream: broadcast::Sender<Arc<Seen>>,
}

impl Default for Recent {
    fn default() -> Self {
        Self::new()
    }
}

fn now_ms() -> u64 {
    u64::try_from(jiff::Timestamp::now().as_millisecond()).unwrap_or(0)
}

impl Recent {
    pub fn new() -> Recent {
        Recent {
            routes: RwLock::new(foldhash::HashMap::default()),
            stream: broadcast::channel(STREAM_BUFFER).0,
        }
    }

    fn route(&self, name: &Arc<str>) -> Arc<RouteRecent> {
        if let Some(r) = self
            .routes
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
        {
            return r.clone();
        }
        self.routes
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .entry(name.clone())
            .or_default()
            .clone()
    }

    /// Whether anyone watches the stream: the caller builds a `Seen` only then (or for a refusal).
    pub fn watched(&self) -> bool {
        self.stream.receiver_count() > 0
    }

    /// How many watch now.
    pub fn readers(&self) -> usize {
        self.stream.receiver_count()
    }

    /// Counts one outcome of `route` in its current minute.
    pub fn count(
        &self,
        route: &Arc<str>,
        outcome: &'static str,
        latency: Duration,
        upstream: Option<Duration>,
    ) {
        let minute = now_ms() / 60_000;
        let r = self.route(route);
        let mut minutes = r.minutes.lock().unwrap_or_else(|p| p.into_inner());
        if minutes.back().is_none_or(|m| m.minute != minute) {
            minutes.push_back(Minute {
                minute,
                ..Minute::default()
            });
            while minutes.len() > MINUTES {
                minutes.pop_front();
            }
        }
        let m = minutes.back_mut().expect("pushed above");
        *m.counts.entry(outcome).or_default() += 1;
        m.requests += 1;
        m.latency_ms_sum += latency.as_secs_f64() * 1000.0;
        if let Some(u) = upstream {
            m.upstream_ms_sum += u.as_secs_f64() * 1000.0;
            m.upstream_n += 1;
        }
    }

    /// Keeps a refused request in its route's sample, and streams it.
    pub fn reject(&self, seen: Seen) {
        let seen = Arc::new(seen);
        let route: Arc<str> = Arc::from(seen.route.as_str());
        let r = self.route(&route);
        {
            let mut list = r.rejections.lock().unwrap_or_else(|p| p.into_inner());
            list.push_back(seen.clone());
            while list.len() > REJECTIONS {
                list.pop_front();
            }
        }
        let _ = self.stream.send(seen);
    }

    /// Streams an outcome to those watching.
    pub fn publish(&self, seen: Seen) {
        let _ = self.stream.send(Arc::new(seen));
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Seen>> {
        self.stream.subscribe()
    }

    /// Every route's minutes (oldest first) and rejections (newest first).
    pub fn overview(&self) -> Vec<RouteHistory> {
        let routes = self.routes.read().unwrap_or_else(|p| p.into_inner());
        let now = now_ms() / 60_000;
        let mut out: Vec<_> = routes
            .iter()
            .map(|(name, r)| {
                let minutes = r
                    .minutes
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .iter()
                    .filter(|m| m.minute + MINUTES as u64 > now)
                    .cloned()
                    .collect();
                let rejections = r
                    .rejections
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .iter()
                    .rev()
                    .cloned()
                    .collect();
                RouteHistory {
                    route: name.clone(),
                    minutes,
                    rejections,
                }
            })
            .collect();
        out.sort_by(|a, b| a.route.cmp(&b.route));
        out
    }
}

/// One route's recent history, as the overview shows it.
pub struct RouteHistory {
    pub route: Arc<str>,
    /// Oldest first.
    pub minutes: Vec<Minute>,
    /// Newest first.
    pub rejections: Vec<Arc<Seen>>,
}

#[cfg(test)]
impl Seen {
    /// An outcome of `route` as tests need one: the `n`th event, with nothing else known.
    pub(crate) fn example(route: &str, outcome: &'static str, status: u16, n: usize) -> Seen {
        Seen {
            at_ms: 0,
            route: route.into(),
            source: "request",
            outcome,
            status,
            event_id: Some(format!("e{n}")),
            request_id: None,
            client: None,
            latency_ms: 0.1,
            upstream_ms: None,
            reason: None,
            headers: vec![],
            attempt: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(route: &str, n: usize) -> Seen {
        Seen::example(route, "invalid_signature", 401, n)
    }

    #[test]
    fn counts_go_in_the_current_minute_and_rejections_are_bounded() {
        let r = Recent::new();
        let a: Arc<str> = Arc::from("a");
        for _ in 0..3 {
            r.count(&a, "accepted", Duration::from_millis(2), None);
        }
        r.count(&a, "invalid_signature", Duration::from_millis(1), None);
        for n in 0..REJECTIONS + 10 {
            r.reject(seen("a", n));
        }
        let o = r.overview();
        assert_eq!(o.len(), 1);
        let RouteHistory {
            minutes,
            rejections,
            ..
        } = &o[0];
        assert_eq!(minutes.len(), 1);
        assert_eq!(minutes[0].counts["accepted"], 3);
        assert_eq!(minutes[0].requests, 4);
        assert_eq!(rejections.len(), REJECTIONS);
        assert_eq!(
            rejections[0].event_id.as_deref(),
            Some("e59"),
            "newest first"
        );
    }

    #[tokio::test]
    async fn a_subscriber_sees_what_is_published_and_a_slow_one_loses_its_place() {
        let r = Recent::new();
        assert!(!r.watched());
        let mut rx = r.subscribe();
        assert!(r.watched());
        r.publish(seen("a", 1));
        assert_eq!(rx.recv().await.unwrap().event_id.as_deref(), Some("e1"));
        for n in 0..STREAM_BUFFER + 5 {
            r.publish(seen("a", n));
        }
        // Publishing never waited for it; the subscriber finds it fell behind.
        assert!(matches!(
            rx.recv().await,
            Err(broadcast::error::RecvError::Lagged(_))
        ));
    }
}
