//! The life of one request, in order. `Gateway::run` reads top to bottom as the steps a delivery goes
//! through; each step's error converts into a `Reject`, and `outcome::respond` builds the answer.
//!
//! 1. route by path (404), method (405)    5. timestamp window (400)
//! 2. client address and allowlist (403)   6. dedupe claim (duplicate: 200, not forwarded)
//! 3. body up to max_body (413)            7. envelope and forward (502/504 when it fails)
//! 4. signature (401)                      8. commit the claim if the upstream said 2xx, else release
//!
//! Steps 6 to 8 run as their own task: once a delivery is verified, it is carried through to the
//! upstream and recorded even if the vendor hangs up meanwhile, so its retry is then recognised as a
//! duplicate instead of being delivered a second time. This module knows no crypto, TOML or sockets;
//! `explain` words a refusal for the inspector.

mod explain;

use explain::{Detail, detail_of};

use crate::admission::{Admission, Bounds, Place};
use crate::client_ip;
use crate::config::route::builtin::FALLBACK_TYPE;
use crate::config::{Config, ServerConfig, StoreKind};
use crate::delivery::{Deliveries, Fresh, Mode as DeliveryMode, Upstream4xx};
use crate::envelope::{self, Attributes};
use crate::forward::{Forwarder, Reply};
use crate::metrics::{Metrics, NO_ROUTE};
use crate::outcome::{Blame, Body, Outcome, Reject, StatusOverrides, respond};
use crate::recent::{Recent, Seen};
use crate::replay::{self, Claim, Dedupe, EventKey, Keys, WindowError};
use crate::routes::{Route, RouteTable};
use crate::store::{Embedded, EnvelopeRecord, EventRecord, Hold, NewEvent, Store, StoreError};
use crate::verify::Verified;
use arc_swap::ArcSwap;
use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method, Request, Response, header};
use http_body_util::{BodyExt, Limited};
use ipnet::IpNet;
use jiff::Timestamp;
use sha2::Digest;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tokio_util::task::task_tracker::TaskTrackerToken;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// A duplicate waits this much longer than the first delivery's own forward timeout, so the first has
/// settled (delivered or failed) by the time the wait ends.
const CLAIM_SLACK: Duration = Duration::from_secs(1);

/// How often a delivery whose event another process is delivering looks again.
const HOLD_POLL: Duration = Duration::from_millis(50);

/// What the gateway serves now; replaced whole on reload.
pub struct Live {
    pub routes: RouteTable,
    pub trusted_proxies: Vec<IpNet>,
    pub body_timeout: Duration,
    pub access_log: bool,
}

impl Live {
    pub fn new(routes: Vec<Route>, server: &ServerConfig) -> Live {
        Live {
            routes: RouteTable::new(routes),
            trusted_proxies: server.trusted_proxies.clone(),
            body_timeout: server.body_timeout,
            access_log: server.access_log,
        }
    }
}

/// The request handler and everything it shares across requests and reloads.
pub struct Gateway {
    live: ArcSwap<Live>,
    dedupe: Dedupe,
    store: Store,
    /// The delivery workers of queued routes (none with a store that keeps no events).
    workers: Option<Deliveries>,
    forwarder: Forwarder,
    metrics: Arc<Metrics>,
    /// Deliveries carried through after their vendor hung up; shutdown waits for them.
    detached: TaskTracker,
    /// Recent outcomes, for the inspector and `hookgate tail`.
    recent: Arc<Recent>,
    /// Places for requests being received and delivered, and each client's share of them.
    admission: Admission,
}

/// Runs a delivery in the request's own task and, if the request is dropped before the delivery
/// finished (the vendor hung up), moves the rest of it to a task of its own, so it is still carried
/// through and recorded (`orphaned` is given its outcome: nobody else will count it). This costs
/// one allocation instead of a task and two wake-ups per request. The tracker token keeps graceful
/// shutdown waiting for it either way.
struct Detached<F, G>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
    G: FnOnce(F::Output) + Send + Unpin + 'static,
{
    future: Option<Pin<Box<F>>>,
    token: TaskTrackerToken,
    orphaned: Option<G>,
}

impl<F, G> Detached<F, G>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
    G: FnOnce(F::Output) + Send + Unpin + 'static,
{
    fn new(future: F, token: TaskTrackerToken, orphaned: G) -> Detached<F, G> {
        Detached {
            future: Some(Box::pin(future)),
            token,
            orphaned: Some(orphaned),
        }
    }
}

impl<F, G> Future for Detached<F, G>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
    G: FnOnce(F::Output) + Send + Unpin + 'static,
{
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<F::Output> {
        let Some(future) = self.future.as_mut() else {
            return Poll::Pending;
        };
        let out = std::task::ready!(future.as_mut().poll(cx));
        self.future = None;
        Poll::Ready(out)
    }
}

impl<F, G> Drop for Detached<F, G>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
    G: FnOnce(F::Output) + Send + Unpin + 'static,
{
    fn drop(&mut self) {
        let Some(future) = self.future.take() else {
            return;
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                let token = self.token.clone();
                let orphaned = self.orphaned.take();
                runtime.spawn(async move {
                    let _token = token;
                    let out = future.await;
                    if let Some(orphaned) = orphaned {
                        orphaned(out);
                    }
                });
            }
            // No runtime left (the process is exiting): the delivery cannot be finished, and the
            // vendor, which heard nothing, will retry.
            Err(_) => tracing::warn!("a delivery was cut off by shutdown"),
        }
    }
}

/// What the pipeline knows of a delivery besides the verified event.
struct Received {
    request_id: HeaderValue,
    client: IpAddr,
    /// The request's headers, for queued routes.
    headers: Option<http::HeaderMap>,
}

/// An accepted event as the store keeps it: what the vendor sent, and the envelope to forward.
fn stored(
    route: &Route,
    event: &Verified,
    envelope: &envelope::Envelope,
    received: Received,
    received_ms: u64,
) -> EventRecord {
    EventRecord {
        route: route.name.to_string(),
        id: event.id().to_string(),
        kind: event.kind().map(str::to_string),
        received_ms,
        request_id: received.request_id.to_str().unwrap_or("-").to_string(),
        client: received.client.to_string(),
        headers: received
            .headers
            .iter()
            .flatten()
            .map(|(n, v)| (n.as_str().to_string(), v.as_bytes().to_vec()))
            .collect(),
        body: event.body().to_vec(),
        envelope: EnvelopeRecord {
            content_type: envelope
                .content_type
                .to_str()
                .unwrap_or("application/octet-stream")
                .to_string(),
            headers: envelope
                .headers
                .iter()
                .filter_map(|(n, v)| Some((n.as_str().to_string(), v.to_str().ok()?.to_string())))
                .collect(),
            body: envelope.body.to_vec(),
        },
    }
}

fn unix_ms(t: Timestamp) -> u64 {
    u64::try_from(t.as_millisecond()).unwrap_or(0)
}

fn millis_u64(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX / 2)
}

/// What the log line and metrics say about one request.
struct Trace {
    /// Printable ASCII by construction (`request_id`), so it goes into headers and logs unchecked.
    request_id: HeaderValue,
    route: Option<Arc<Route>>,
    client: Option<IpAddr>,
    /// Copied only for the access log.
    event_id: Option<String>,
    /// Set only when a request is refused: what the inspector's rejections list shows.
    detail: Option<Box<Detail>>,
}

impl Trace {
    /// Notes the detail of a refusal (off the path of accepted requests), and hands it back.
    fn refused(
        &mut self,
        route: &Route,
        headers: &http::HeaderMap,
        reject: Reject,
        window: Option<(Timestamp, Timestamp)>,
    ) -> Reject {
        self.detail = Some(Box::new(detail_of(route, headers, &reject, window)));
        reject
    }
}

impl Gateway {
    /// Opens the configured store and starts the delivery workers of queued routes (which deliver
    /// what the store still holds).
    pub async fn new(config: Config, metrics: Arc<Metrics>) -> std::io::Result<Gateway> {
        let dedupe = Dedupe::new();
        dedupe.configure(&capacities(config.routes.iter()));
        let store = match &config.store.kind {
            StoreKind::Memory => Store::Memory,
            StoreKind::Embedded { path } => {
                let observer = metrics.clone();
                Store::Embedded(
                    Embedded::open(
                        path,
                        config.store.limits.clone(),
                        Arc::new(move |took, writes| observer.record_commit(took, writes)),
                    )
                    .map_err(std::io::Error::other)?,
                )
            }
            StoreKind::Redis(settings) => {
                let observer = metrics.clone();
                Store::Redis(Box::new(
                    crate::store::redis::Redis::open(
                        settings.clone(),
                        Arc::new(move |took, failed| observer.record_redis(took, failed)),
                    )
                    .await
                    .map_err(std::io::Error::other)?,
                ))
            }
        };
        let forwarder = Forwarder::new(&config.server.pool)?;
        let live = Live::new(config.routes, &config.server);
        for set in key_sets(&live) {
            crate::published::watch_keys(set, forwarder.clone(), metrics.clone());
        }
        for list in fetched_lists(&live) {
            crate::published::watch(list, forwarder.clone(), metrics.clone());
        }
        let recent = Arc::new(Recent::new());
        let workers = if store.durable() {
            Some(
                Deliveries::start(
                    store.clone(),
                    forwarder.clone(),
                    metrics.clone(),
                    recent.clone(),
                    live.routes.iter().cloned().collect(),
                    live.access_log,
                )
                .map_err(std::io::Error::other)?,
            )
        } else {
            None
        };
        Ok(Gateway {
            dedupe,
            store,
            workers,
            forwarder,
            live: ArcSwap::from_pointee(live),
            metrics,
            detached: TaskTracker::new(),
            recent,
            admission: Admission::new(Bounds {
                receiving: config.server.max_receiving,
                in_flight: config.server.max_in_flight,
                per_client: config.server.max_in_flight_per_client,
            }),
        })
    }

    /// Requests being handled now: receiving their body, or being delivered.
    pub fn in_flight(&self) -> usize {
        self.admission.receiving() + self.admission.in_flight()
    }

    pub fn admission(&self) -> &Admission {
        &self.admission
    }

    /// Serves `live` from now on. Requests already under way finish on the routes they started with;
    /// the dedupe memory is kept, so routes that still exist keep recognising their duplicates.
    pub fn swap(&self, live: Live) {
        // Published key sets: the new routes start with the keys the old ones had, then are kept
        // current by their own fetchers (the old ones stop with the old routes).
        let old = self.live();
        for set in key_sets(&live) {
            if let Some(previous) = key_sets(&old).find(|p| p.url() == set.url()) {
                set.adopt(previous);
            }
            crate::published::watch_keys(set, self.forwarder.clone(), self.metrics.clone());
        }
        // Fetched source address lists likewise.
        for list in fetched_lists(&live) {
            if let Some(previous) = fetched_lists(&old).find(|p| p.url() == list.url()) {
                list.adopt(previous);
            }
            crate::published::watch(list, self.forwarder.clone(), self.metrics.clone());
        }
        self.dedupe
            .configure(&capacities(live.routes.iter().map(|r| &**r)));
        if let Some(w) = &self.workers {
            w.set_routes(live.routes.iter().cloned().collect(), live.access_log);
        }
        self.live.store(Arc::new(live));
    }

    /// What the routes rely on that vendors publish at a URL: (what, URL, whether a fetch has
    /// brought it). Keys fetched one by one as tokens name them (Plaid's) are not a document that
    /// is loaded or not, and are left out.
    pub fn published(&self) -> Vec<(&'static str, String, bool)> {
        use crate::published::Document;
        let live = self.live();
        let keys = key_sets(&live).filter(|s| !s.by_id()).map(|s| {
            (
                crate::verify::keyset::KeySet::WHAT,
                s.url().to_string(),
                s.loaded(),
            )
        });
        let lists = fetched_lists(&live).map(|l| {
            (
                client_ip::FetchedList::WHAT,
                l.url().to_string(),
                l.nets().is_some(),
            )
        });
        keys.chain(lists).collect()
    }

    pub fn live(&self) -> Arc<Live> {
        self.live.load_full()
    }

    pub fn dedupe(&self) -> &Dedupe {
        &self.dedupe
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Deliveries carried through after their vendor hung up (for graceful shutdown).
    pub fn detached(&self) -> &TaskTracker {
        &self.detached
    }

    /// The delivery workers of queued routes.
    pub fn workers(&self) -> Option<&Deliveries> {
        self.workers.as_ref()
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn recent(&self) -> &Arc<Recent> {
        &self.recent
    }

    /// Handles one request; never fails, every outcome becomes a response. `gone` is cancelled when
    /// the request's connection closes, so that a request still waiting for its body gives its place
    /// back at once.
    pub async fn handle<B>(
        self: &Arc<Self>,
        req: Request<B>,
        peer: SocketAddr,
        gone: &CancellationToken,
    ) -> Response<Body>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let started = Instant::now();
        let live = self.live.load_full();
        let client = client_ip::client_addr(peer.ip(), req.headers(), &live.trusted_proxies);
        let mut trace = Trace {
            request_id: request_id(req.headers()),
            route: None,
            client: Some(client),
            event_id: None,
            detail: None,
        };
        // Saturated, or this client holds its share: answer at once rather than queue; vendors retry.
        let outcome = match self.admission.receive(client) {
            Ok(place) => self
                .run(&live, req, &mut trace, place, gone, started)
                .await
                .unwrap_or_else(Outcome::Rejected),
            Err(full) => Outcome::Rejected(full.into()),
        };
        let overrides = trace
            .route
            .as_ref()
            .map_or(&StatusOverrides::NONE, |r| &r.status);
        self.finish(&live, &trace, &outcome, overrides, started);
        let mut response = respond(outcome, overrides);
        response
            .headers_mut()
            .insert(REQUEST_ID, trace.request_id.clone());
        response
    }

    /// The steps, in order.
    async fn run<B>(
        self: &Arc<Self>,
        live: &Live,
        req: Request<B>,
        trace: &mut Trace,
        place: Place,
        gone: &CancellationToken,
        started: Instant,
    ) -> Result<Outcome, Reject>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        // 1. Route by path, then method.
        if req.uri().path() == "/healthz" && req.method() == Method::GET {
            return Ok(Outcome::Health);
        }
        let route = live
            .routes
            .find(req.uri().path())
            .ok_or(Reject::NotFound)?
            .clone();
        trace.route = Some(route.clone());
        let not_allowed = || Reject::MethodNotAllowed {
            allow: route.allow.clone(),
        };
        let signed_method = route.methods.contains(req.method());
        if !signed_method && !route.handshakes.iter().any(|h| h.method == req.method()) {
            return Err(not_allowed());
        }

        // 2. Client address (taken on arrival) and allowlist.
        let client = trace.client.expect("set on arrival");
        match client_ip::allowed(client, route.allow_ips.as_ref()) {
            client_ip::Allowed::Yes => {}
            client_ip::Allowed::No => {
                return Err(trace.refused(&route, req.headers(), Reject::Forbidden(client), None));
            }
            client_ip::Allowed::Unknown => {
                return Err(trace.refused(&route, req.headers(), Reject::SourcesUnknown, None));
            }
        }
        let (parts, body) = req.into_parts();
        if parts.method != Method::POST {
            // A GET or HEAD handshake (Meta, Dropbox, Okta, Trello); otherwise only a method the
            // route takes signed deliveries by (HubSpot's and Zendesk's GET and DELETE) goes on.
            if let Some(answer) = handshake(&route, &parts, b"", false) {
                return Ok(answer);
            }
            if !signed_method {
                return Err(not_allowed());
            }
        }

        // 3. Body, up to max_body; the request then moves from the receiving places to the delivering
        // ones. Then the handshakes vendors send unsigned.
        let body = read_body(
            body,
            &parts.headers,
            route.max_body,
            live.body_timeout,
            gone,
        )
        .await?;
        let place = place.deliver()?;
        if let Some((shake, answer)) = handshake_of(&route, &parts, &body, false) {
            // A handshake that hands over the route's signing secret (Asana, Notion): kept first,
            // for a route that opts in, so that the answer means the secret is stored.
            if let (Some(learned), Some(secret)) = (
                route.verifier.learned(),
                shake.secret_carried(&parts, &body),
            ) {
                learn(learned.clone(), secret)
                    .await
                    .map_err(|e| trace.refused(&route, &parts.headers, e.into(), None))?;
            }
            return Ok(answer);
        }

        // 4. Signature (and the event it carries).
        let event = route
            .verifier
            .verify(&parts, body)
            .map_err(|e| trace.refused(&route, &parts.headers, e.into(), None))?;
        if live.access_log {
            trace.event_id = Some(event.id().to_string());
        }

        // 5. Timestamp window; then the handshakes vendors sign.
        if let Some(signed_at) = event.signed_at() {
            let now = Timestamp::now();
            replay::check_window(signed_at, now, route.tolerance, route.max_clock_skew).map_err(
                |e| trace.refused(&route, &parts.headers, e.into(), Some((signed_at, now))),
            )?;
        }
        if let Some(answer) = handshake(&route, &parts, event.body(), true) {
            return Ok(answer);
        }

        // 6-8. Claim, forward, commit or release: carried through even if the vendor hangs up.
        let gateway = self.clone();
        let received = Received {
            request_id: trace.request_id.clone(),
            client,
            // Kept only for queued routes, which store what the vendor sent.
            headers: (route.delivery == DeliveryMode::Queued).then(|| parts.headers.clone()),
        };
        let counter = self.clone();
        let counted = route.clone();
        Detached::new(
            async move {
                let _place = place;
                gateway.deliver(route, event, received).await
            },
            self.detached.token(),
            move |out: Result<Outcome, Reject>| {
                let outcome = out.unwrap_or_else(Outcome::Rejected);
                counter.count(Some(&counted), &outcome, started.elapsed());
            },
        )
        .await
    }

    async fn deliver(
        &self,
        route: Arc<Route>,
        event: Verified,
        received: Received,
    ) -> Result<Outcome, Reject> {
        // 6. Dedupe: a concurrent delivery of the event waits for the first; an event remembered
        // in memory or in the store is acknowledged as a duplicate.
        let keys = dedupe_keys(&route, &event);
        let claim = match self
            .dedupe
            .claim(&route.name, keys, route.forward_timeout + CLAIM_SLACK)
            .await?
        {
            Claim::Duplicate => return Ok(Outcome::Duplicate),
            Claim::Fresh(claim) => claim,
        };
        let now = Timestamp::now();
        let ttl = replay::remember_for(route.dedupe_ttl, event.signed_at(), route.tolerance, now);
        let until_ms = unix_ms(now) + millis_u64(ttl);
        let keys: Vec<EventKey> = keys.iter().collect();
        // The store's memory, and other processes' deliveries of the event when it is shared.
        if self.hold(&route, &keys).await? == Hold::Done {
            claim.commit(ttl);
            return Ok(Outcome::Duplicate);
        }

        // 7. Envelope; then stored and acknowledged (queued), or forwarded (direct).
        let attributes = Attributes {
            source: &route.source,
            fallback_type: FALLBACK_TYPE,
        };
        let envelope = envelope::build(route.envelope, &event, &attributes);
        match route.delivery {
            DeliveryMode::Queued => {
                let received_ms = unix_ms(now);
                let request_id = received.request_id.clone();
                let record = stored(&route, &event, &envelope, received, received_ms);
                let seq = match self
                    .store
                    .accept(NewEvent {
                        record,
                        keys: keys.clone(),
                        remember_until_ms: until_ms,
                    })
                    .await
                {
                    Ok(seq) => seq,
                    Err(StoreError::Duplicate) => {
                        claim.commit(ttl);
                        return Ok(Outcome::Duplicate);
                    }
                    Err(e) => {
                        self.store.release(&keys).await;
                        return Err(e.into());
                    }
                };
                // 8. Durable: remembered, and handed to the delivery workers.
                claim.commit(ttl);
                if let Some(workers) = &self.workers {
                    // The first attempt sends this envelope rather than reading it back, when it
                    // is exactly what the store keeps (text headers: `stored` drops others).
                    let textual = |v: &HeaderValue| v.to_str().is_ok();
                    if textual(&request_id)
                        && textual(&envelope.content_type)
                        && envelope.headers.iter().all(|(_, v)| textual(v))
                    {
                        let fresh = Fresh {
                            id: event.id().to_string(),
                            request_id,
                            received_ms,
                            envelope,
                        };
                        workers.enqueue_fresh(&route.name, seq, received_ms, fresh);
                    } else {
                        workers.enqueue(&route.name, seq, received_ms);
                    }
                }
                Ok(Outcome::Accepted(event.id().to_string()))
            }
            DeliveryMode::Direct => {
                let headers =
                    route.upstream_headers(event.id(), &envelope.body, received.request_id);
                let reply = self
                    .forwarder
                    .send(&route.upstream, envelope, headers, route.forward_timeout)
                    .await?;
                // 8. Remember only what the upstream accepted, durably before the vendor hears of
                // it; dropping the claim releases it for the vendor's retry.
                if reply.status.is_success() {
                    if let Err(e) = self.store.remember(keys, until_ms).await {
                        // The upstream has the event: answering 2xx is right, but a retry after a
                        // restart would not be recognised.
                        tracing::error!(route = %route.name, error = %e, "a delivered event could not be remembered in the store");
                    }
                    claim.commit(ttl);
                } else if reply.status.is_client_error() && route.upstream_4xx == Upstream4xx::Retry
                {
                    return Err(Reject::UpstreamRefused(reply.status));
                }
                Ok(Outcome::Forwarded(reply))
            }
        }
    }

    /// Holds the event's keys in the store for this delivery. Another process delivering the event
    /// (a shared store) is waited for, as a concurrent delivery in this process is: it ends in a
    /// duplicate, or in this delivery going ahead, or after the wait in `in_flight`.
    async fn hold(&self, route: &Route, keys: &[EventKey]) -> Result<Hold, Reject> {
        let wait = route.forward_timeout + CLAIM_SLACK;
        let hold_ms = millis_u64(wait);
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match self.store.hold(keys, hold_ms).await? {
                Hold::Busy if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(HOLD_POLL).await;
                }
                Hold::Busy => return Err(Reject::InFlight(replay::StillInFlight)),
                found => return Ok(found),
            }
        }
    }

    /// Counts a finished request in the metrics and, when it was routed, in the recent history;
    /// answers the upstream's latency, if it was forwarded.
    fn count(
        &self,
        route: Option<&Route>,
        outcome: &Outcome,
        elapsed: Duration,
    ) -> Option<Duration> {
        let answered = match outcome {
            Outcome::Forwarded(Reply {
                status, latency, ..
            }) => Some((status.as_u16(), *latency)),
            _ => None,
        };
        let upstream = answered.map(|(_, latency)| latency);
        match route {
            Some(r) => {
                self.metrics
                    .record_route(&r.name, &r.metrics, outcome.kind(), elapsed, answered);
                if !matches!(outcome, Outcome::Health) {
                    self.recent
                        .count(&r.name, outcome.kind(), elapsed, upstream);
                }
            }
            None => {
                static NO_ROUTE_LABEL: std::sync::LazyLock<Arc<str>> =
                    std::sync::LazyLock::new(|| Arc::from(NO_ROUTE));
                self.metrics
                    .record(&NO_ROUTE_LABEL, outcome.kind(), elapsed);
                if let Some((status, latency)) = answered {
                    self.metrics
                        .record_upstream(&NO_ROUTE_LABEL, status, latency);
                }
            }
        }
        upstream
    }

    /// The log line and the metrics of a finished request.
    fn finish(
        &self,
        live: &Live,
        trace: &Trace,
        outcome: &Outcome,
        overrides: &StatusOverrides,
        started: Instant,
    ) {
        let elapsed = started.elapsed();
        let upstream = self
            .count(trace.route.as_deref(), outcome, elapsed)
            .map(millis);
        let route_label = trace.route.as_ref().map_or(NO_ROUTE, |r| &*r.name);
        if matches!(outcome, Outcome::Health) {
            return;
        }
        let refused = matches!(outcome, Outcome::Rejected(_)) && trace.route.is_some();
        if !live.access_log && !refused && !self.recent.watched() {
            return;
        }
        let status = match outcome {
            Outcome::Forwarded(r) => r.status.as_u16(),
            Outcome::Rejected(r) => r.status(overrides).as_u16(),
            Outcome::Handshake(r) => r.status().as_u16(),
            Outcome::Duplicate | Outcome::Accepted(_) | Outcome::Health => 200,
        };
        let reason = match (outcome, &trace.detail) {
            (_, Some(d)) => Some(d.reason.clone()),
            (Outcome::Rejected(r), None) => Some(r.to_string()),
            _ => None,
        };
        if refused || self.recent.watched() {
            let seen = Seen {
                at_ms: unix_ms(Timestamp::now()),
                route: route_label.to_string(),
                source: "request",
                outcome: outcome.kind(),
                status,
                event_id: trace.event_id.clone().or_else(|| match outcome {
                    Outcome::Accepted(id) => Some(id.clone()),
                    _ => None,
                }),
                request_id: trace.request_id.to_str().ok().map(str::to_string),
                client: trace.client.map(|c| c.to_string()),
                latency_ms: millis(elapsed),
                upstream_ms: upstream,
                reason: reason.clone(),
                headers: trace
                    .detail
                    .as_ref()
                    .map(|d| d.headers.clone())
                    .unwrap_or_default(),
                attempt: None,
            };
            if refused {
                self.recent.reject(seen);
            } else {
                self.recent.publish(seen);
            }
        }
        if !live.access_log {
            return;
        }
        let client = trace.client.map(|c| c.to_string());
        macro_rules! line {
            ($level:ident) => {
                tracing::$level!(
                    request_id = trace.request_id.to_str().unwrap_or("-"),
                    route = %route_label,
                    client = client.as_deref().unwrap_or("-"),
                    event_id = trace.event_id.as_deref().unwrap_or("-"),
                    outcome = outcome.kind(),
                    status,
                    reason = reason.as_deref(),
                    latency_ms = millis(elapsed),
                    upstream_ms = upstream,
                    "request"
                )
            };
        }
        match outcome.blame() {
            None | Some(Blame::Sender) => line!(info),
            Some(Blame::Upstream) => line!(warn),
            Some(Blame::Gateway) => line!(error),
        }
    }
}

/// The answer to a handshake of this route (the signed kind once verified, or the unsigned kind
/// before), if the request is one.
fn handshake(
    route: &Route,
    parts: &http::request::Parts,
    body: &[u8],
    verified: bool,
) -> Option<Outcome> {
    handshake_of(route, parts, body, verified).map(|(_, answer)| answer)
}

/// The handshake the request is, with its answer.
fn handshake_of<'r>(
    route: &'r Route,
    parts: &http::request::Parts,
    body: &[u8],
    verified: bool,
) -> Option<(&'r crate::handshake::Handshake, Outcome)> {
    route
        .handshakes
        .iter()
        .filter(|h| h.verified == verified)
        .find_map(|h| h.answer(parts, body).map(|a| (h, Outcome::Handshake(a))))
}

/// Keeps the setup secret a handshake brought (a file write and fsync, off the async threads).
async fn learn(
    learned: Arc<crate::learned::Learned>,
    secret: String,
) -> Result<(), crate::learned::LearnError> {
    use crate::learned::LearnError;
    let keeper = learned.clone();
    let outcome = tokio::task::spawn_blocking(move || keeper.learn(secret.as_bytes()))
        .await
        .unwrap_or_else(|e| Err(LearnError::Io(e.to_string())));
    match outcome {
        Ok(crate::learned::Learning::Stored) => {
            tracing::info!(file = %learned.path().display(), "stored the setup secret the vendor's handshake brought");
            Ok(())
        }
        Ok(crate::learned::Learning::Same) => Ok(()),
        Err(e) => Err(e),
    }
}

/// The vendors' published key sets the routes verify with.
fn key_sets(live: &Live) -> impl Iterator<Item = &Arc<crate::verify::keyset::KeySet>> {
    live.routes.iter().filter_map(|r| r.verifier.key_set())
}

/// The source address lists the routes fetch from their vendors.
fn fetched_lists(live: &Live) -> impl Iterator<Item = &Arc<client_ip::FetchedList>> {
    live.routes.iter().filter_map(|r| match &r.allow_ips {
        Some(client_ip::Allowlist::Fetched(list)) => Some(list),
        _ => None,
    })
}

/// Each route's share of the dedupe memory.
fn capacities<'a>(routes: impl Iterator<Item = &'a Route>) -> Vec<(Arc<str>, usize)> {
    routes
        .map(|r| (r.name.clone(), r.dedupe_capacity))
        .collect()
}

/// The keys an event is remembered under: its id, and when the id comes from a part the signature
/// does not cover (a delivery header, say), also its signed content, so that a captured delivery sent
/// again with a fresh id is still recognised.
fn dedupe_keys(route: &Route, event: &Verified) -> Keys {
    let id = EventKey::new(&route.name, event.id());
    if event.id_is_signed() {
        return Keys::id_only(id);
    }
    let digest: [u8; 32] = match event.request_line() {
        Some(line) => line.digest,
        None => sha2::Sha256::digest(event.body()).into(),
    };
    Keys {
        id,
        content: Some(EventKey::content(&route.name, &digest)),
    }
}

/// Milliseconds with microsecond precision, for log lines.
fn millis(d: Duration) -> f64 {
    (d.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

/// The request id: the sender's `X-Request-Id` when it is short and printable (shared, not copied),
/// otherwise 32 new random hex digits.
fn request_id(headers: &http::HeaderMap) -> HeaderValue {
    if let Some(v) = headers.get(REQUEST_ID)
        && !v.is_empty()
        && v.len() <= 128
        && v.as_bytes().iter().all(u8::is_ascii_graphic)
    {
        return v.clone();
    }
    let mut hex = [0u8; 32];
    // Cannot fail: the output is exactly twice the input's 16 bytes.
    let _ = faster_hex::hex_encode(&fastrand::u128(..).to_le_bytes(), &mut hex);
    HeaderValue::from_bytes(&hex).unwrap_or(HeaderValue::from_static("-"))
}

/// Reads the body, refusing it as soon as it exceeds `max` (without reading the rest).
async fn read_body<B>(
    body: B,
    headers: &http::HeaderMap,
    max: u64,
    timeout: Duration,
    gone: &CancellationToken,
) -> Result<Bytes, Reject>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max) {
        return Err(Reject::BodyTooLarge);
    }
    let limit = usize::try_from(max).unwrap_or(usize::MAX);
    let read = tokio::select! {
        read = tokio::time::timeout(timeout, Limited::new(body, limit).collect()) => read,
        () = gone.cancelled() => {
            return Err(Reject::BodyIncomplete("the connection closed".to_string()));
        }
    };
    match read {
        Err(_) => Err(Reject::BodyTimeout),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(Reject::BodyTooLarge),
        Ok(Err(e)) => Err(Reject::BodyIncomplete(e.to_string())),
    }
}

#[cfg(test)]
mod tests;
