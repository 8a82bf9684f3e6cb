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
use ipnet::IpNet;
use std::collections::HashMap;
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
    pub allow_ips: Option<Vec<IpNet>>,
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
    /// The `Allow` header: POST, plus the methods of GET or HEAD handshakes.
    pub allow: http::HeaderValue,
}

/// The routes being served, by path.
#[derive(Debug, Default)]
pub struct RouteTable {
    by_path: HashMap<String, Arc<Route>>,
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
