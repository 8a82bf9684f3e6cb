//! Routes as the running gateway sees them, and the path → route table.
//!
//! A `Route` is the fully resolved result of a route's own keys, its preset, `[defaults]` and built-in
//! defaults. The table is immutable; reloading builds a new one and swaps it in whole, so a request
//! holds the route it started with until it finishes. This module knows nothing about TOML or vendors.

use crate::envelope::Mode;
use crate::forward::Upstream;
use crate::handshake::Handshake;
use crate::outcome::StatusOverrides;
use crate::verify::Verifier;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug)]
pub struct Route {
    pub name: Arc<str>,
    pub path: String,
    /// The preset the route names, for display only.
    pub provider: Option<String>,
    pub verifier: Verifier,
    pub upstream: Upstream,
    /// Signs forwarded envelopes with the Standard Webhooks headers when `upstream_secret` is set.
    pub upstream_signer: Option<Verifier>,
    /// `None`: any source address.
    pub allow_ips: Option<crate::client_ip::Allowlist>,
    /// Queued (stored, acknowledged, delivered by workers) or direct (forwarded while the vendor waits).
    pub delivery: crate::delivery::Mode,
    /// Retries of queued events.
    pub policy: Arc<crate::delivery::Policy>,
    /// Direct mode: relay an upstream 4xx, or answer 503 so that the vendor retries.
    pub upstream_4xx: crate::delivery::Upstream4xx,
    /// How long a delivered event is remembered (at least `retry_horizon` with a margin).
    pub dedupe_ttl: Duration,
    /// Why `dedupe_ttl` is longer than configured, when it is.
    pub dedupe_ttl_reason: Option<String>,
    /// How many delivered events this route remembers (its share of `server.dedupe_capacity` unless
    /// it sets its own).
    pub dedupe_capacity: usize,
    /// Whether `dedupe_capacity` was set for the route (or in `[defaults]`) rather than shared out.
    pub own_capacity: bool,
    pub forward_timeout: Duration,
    pub tolerance: Duration,
    pub max_clock_skew: Duration,
    /// How long after the first attempt the vendor may still retry, from its documentation.
    pub retry_horizon: Option<Duration>,
    pub max_body: u64,
    pub envelope: Mode,
    pub source: String,
    pub status: StatusOverrides,
    /// Endpoint-verification handshakes the gateway answers itself.
    pub handshakes: Vec<Handshake>,
    /// The methods signed deliveries come by: POST unless `methods` says otherwise.
    pub methods: Vec<http::Method>,
    /// The `Allow` header: those methods, plus the methods of GET or HEAD handshakes.
    pub allow: http::HeaderValue,
    /// The route's request metrics, resolved at its first request.
    pub metrics: crate::metrics::RouteHandles,
}

const REQUEST_ID: http::HeaderName = http::HeaderName::from_static("x-request-id");
const IDEMPOTENCY_KEY: http::HeaderName = http::HeaderName::from_static("idempotency-key");

impl Route {
    /// Headers added to every request forwarded for an event: the request id, `Idempotency-Key` (the
    /// event id, the same on every attempt, so the internal service can drop a retry it already
    /// has), and the Standard Webhooks signature when the route signs what it forwards (signed anew
    /// at each attempt, with the event id as `webhook-id`).
    pub fn upstream_headers(
        &self,
        event_id: &str,
        body: &bytes::Bytes,
        request_id: http::HeaderValue,
    ) -> Vec<(http::HeaderName, http::HeaderValue)> {
        let mut headers = Vec::with_capacity(5);
        headers.push((REQUEST_ID, request_id));
        let id = crate::envelope::header_safe(event_id);
        if let Ok(v) = http::HeaderValue::from_str(&id) {
            headers.push((IDEMPOTENCY_KEY, v));
        }
        if let Some(signer) = &self.upstream_signer {
            match signer.sign(body, &id, jiff::Timestamp::now()) {
                Ok(signed) => {
                    for (name, value) in signed {
                        if let Ok(v) = http::HeaderValue::from_str(&value) {
                            headers.push((name, v));
                        }
                    }
                }
                // The standard-webhooks scheme needs nothing a forwarded request lacks; this cannot
                // happen unless the preset table is broken, which its tests rule out.
                Err(e) => tracing::error!(error = %e, "could not sign the forwarded request"),
            }
        }
        headers
    }
}

/// The routes being served, by path. (foldhash rather than SipHash: the keys come from the
/// configuration, so a sender cannot choose them to crowd a bucket, and every request looks one up.)
#[derive(Debug, Default)]
pub struct RouteTable {
    by_path: foldhash::HashMap<String, Arc<Route>>,
    ordered: Vec<Arc<Route>>,
}

impl RouteTable {
    /// Builds the table; the caller has already checked that paths are distinct.
    pub fn new(routes: Vec<Route>) -> RouteTable {
        let ordered: Vec<Arc<Route>> = routes.into_iter().map(Arc::new).collect();
        let by_path = ordered
            .iter()
            .map(|r| (r.path.clone(), r.clone()))
            .collect();
        RouteTable { by_path, ordered }
    }

    /// The route serving `path`; a single trailing slash is ignored.
    pub fn find(&self, path: &str) -> Option<&Arc<Route>> {
        self.by_path.get(path).or_else(|| {
            let trimmed = path.strip_suffix('/')?;
            self.by_path.get(trimmed)
        })
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Route>> {
        self.ordered.iter()
    }

    pub fn len(&self) -> usize {
        self.ordered.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ordered.is_empty()
    }
}
