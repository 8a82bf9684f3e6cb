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
//! duplicate instead of being delivered a second time. This module knows no crypto, TOML or sockets.

use crate::admission::{Admission, Bounds, Place};
use crate::client_ip;
use crate::config::route::builtin::FALLBACK_TYPE;
use crate::config::{Config, ServerConfig, StoreKind};
use crate::delivery::{Deliveries, Mode as DeliveryMode, Upstream4xx};
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
/// through and recorded. This costs one allocation instead of a task and two wake-ups per request.
/// The tracker token keeps graceful shutdown waiting for it either way.
struct Detached<F: Future + Send + 'static>
where
    F::Output: Send + 'static,
{
    future: Option<Pin<Box<F>>>,
    token: TaskTrackerToken,
}

impl<F: Future + Send + 'static> Detached<F>
where
    F::Output: Send + 'static,
{
    fn new(future: F, token: TaskTrackerToken) -> Detached<F> {
        Detached {
            future: Some(Box::pin(future)),
            token,
        }
    }
}

impl<F: Future + Send + 'static> Future for Detached<F>
where
    F::Output: Send + 'static,
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

impl<F: Future + Send + 'static> Drop for Detached<F>
where
    F::Output: Send + 'static,
{
    fn drop(&mut self) {
        let Some(future) = self.future.take() else {
            return;
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                let token = self.token.clone();
                runtime.spawn(async move {
                    let _token = token;
                    let _ = future.await;
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

/// Why a request was refused, in more words than its answer, and the headers that mattered:
/// signature values masked, never an expected signature, never a secret.
struct Detail {
    reason: String,
    headers: Vec<(String, String)>,
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

/// The detail of a refusal.
fn detail_of(
    route: &Route,
    headers: &http::HeaderMap,
    reject: &Reject,
    window: Option<(Timestamp, Timestamp)>,
) -> Detail {
    use crate::config::human;
    use crate::verify::VerifyError as V;
    use crate::verify::source::{Source, alternatives};
    let v = &route.verifier;
    let carriers = alternatives(&v.signature().sources);
    let stamps = alternatives(v.timestamp());
    // Whole seconds: a person reads "13h old", not "12h 59m 59s 917ms".
    let since = |a: Timestamp, b: Timestamp| {
        let d = Duration::try_from(a.duration_since(b)).unwrap_or_default();
        Duration::from_secs(d.as_secs_f64().round() as u64)
    };
    let reason = match reject {
        Reject::Verify(V::MissingSignature) => {
            format!("no signature: the request has no {carriers}")
        }
        Reject::Verify(V::MalformedSignature) => format!(
            "the signature in {carriers} cannot be read as this route's scheme ({}); check the route's provider",
            v.algorithm().name()
        ),
        Reject::Verify(V::InvalidSignature) => format!(
            "none of the route's {} key{} produces the presented signature ({carriers}); check that the secret is the vendor's signing secret for this endpoint, and that nothing on the way changes the body",
            v.key_count(),
            if v.key_count() == 1 { "" } else { "s" }
        ),
        Reject::Verify(V::MissingTimestamp) => format!("no signed timestamp in {stamps}"),
        Reject::Verify(V::MalformedTimestamp) => {
            format!("the signed timestamp in {stamps} is not a time")
        }
        Reject::Window(WindowError::Stale) => match window {
            Some((at, now)) => format!(
                "signed timestamp {} old; the route accepts up to {} (tolerance)",
                human(since(now, at)),
                human(route.tolerance)
            ),
            None => reject.to_string(),
        },
        Reject::Window(WindowError::Future) => match window {
            Some((at, now)) => format!(
                "signed timestamp {} in the future; the route accepts up to {} (max_clock_skew)",
                human(since(at, now)),
                human(route.max_clock_skew)
            ),
            None => reject.to_string(),
        },
        other => other.to_string(),
    };
    let signature: Vec<&HeaderName> = v.signature().headers().collect();
    let mut shown: Vec<(String, String)> = Vec::new();
    let mut show = |name: &HeaderName, masked: bool| {
        if shown.iter().any(|(n, _)| n == name.as_str()) {
            return;
        }
        if let Some(value) = headers.get(name) {
            let text = if masked {
                format!("(masked, {} bytes)", value.len())
            } else {
                String::from_utf8_lossy(value.as_bytes())
                    .chars()
                    .take(200)
                    .collect()
            };
            shown.push((name.as_str().to_string(), text));
        }
    };
    for h in &signature {
        show(h, true);
    }
    for source in v.timestamp().iter().chain(&v.event().id) {
        if let Source::Header(h) = source {
            show(h, false);
        }
    }
    for h in [
        header::CONTENT_TYPE,
        header::CONTENT_LENGTH,
        header::USER_AGENT,
    ] {
        show(&h, false);
    }
    Detail {
        reason,
        headers: shown,
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
        let recent = Arc::new(Recent::new());
        let workers = if store.durable() {
            Some(
                Deliveries::start(
                    store.clone(),
                    forwarder.clone(),
                    metrics.clone(),
                    recent.clone(),
                    live.routes.iter().cloned().collect(),
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
        self.dedupe
            .configure(&capacities(live.routes.iter().map(|r| &**r)));
        if let Some(w) = &self.workers {
            w.set_routes(live.routes.iter().cloned().collect());
        }
        self.live.store(Arc::new(live));
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
                .run(&live, req, &mut trace, place, gone)
                .await
                .unwrap_or_else(Outcome::Rejected),
            Err(full) => Outcome::Rejected(full.into()),
        };
        let overrides = trace.route.as_ref().map(|r| r.status).unwrap_or_default();
        self.finish(&live, &trace, &outcome, &overrides, started);
        let mut response = respond(outcome, &overrides);
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
        if req.method() != Method::POST
            && !route.handshakes.iter().any(|h| h.method == req.method())
        {
            return Err(not_allowed());
        }

        // 2. Client address (taken on arrival) and allowlist.
        let client = trace.client.expect("set on arrival");
        if !client_ip::allowed(client, route.allow_ips.as_deref()) {
            return Err(trace.refused(&route, req.headers(), Reject::Forbidden(client), None));
        }
        let (parts, body) = req.into_parts();
        if parts.method != Method::POST {
            // A GET or HEAD handshake (Meta, Dropbox, Okta, Trello); nothing else is served.
            return handshake(&route, &parts, b"", false).ok_or_else(not_allowed);
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
        if let Some(answer) = handshake(&route, &parts, &body, false) {
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
        Detached::new(
            async move {
                let _place = place;
                gateway.deliver(route, event, received).await
            },
            self.detached.token(),
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
                let record = stored(&route, &event, &envelope, received, unix_ms(now));
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
                    workers.enqueue(&route.name, seq, unix_ms(now));
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
        static NO_ROUTE_LABEL: std::sync::LazyLock<Arc<str>> =
            std::sync::LazyLock::new(|| Arc::from(NO_ROUTE));
        let route_label = trace.route.as_ref().map_or(&*NO_ROUTE_LABEL, |r| &r.name);
        self.metrics.record(route_label, outcome.kind(), elapsed);
        let upstream_latency = match outcome {
            Outcome::Forwarded(Reply {
                status, latency, ..
            }) => {
                self.metrics
                    .record_upstream(route_label, status.as_u16(), *latency);
                Some(*latency)
            }
            _ => None,
        };
        let upstream = upstream_latency.map(millis);
        if matches!(outcome, Outcome::Health) {
            return;
        }
        if trace.route.is_some() {
            self.recent
                .count(route_label, outcome.kind(), elapsed, upstream_latency);
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
    route
        .handshakes
        .iter()
        .filter(|h| h.verified == verified)
        .find_map(|h| h.answer(parts, body))
        .map(Outcome::Handshake)
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
    let digest = sha2::Sha256::digest(event.body());
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
mod tests {
    //! The request id and the in-flight bound; and the pipeline as a whole never panics: arbitrary
    //! requests, some correctly signed, each end in one of the statuses of the table.
    use super::*;
    use hmac::{Hmac, Mac};
    use http_body_util::Full;
    use proptest::prelude::*;

    const SECRET: &str = "pipeline-secret";

    #[test]
    fn request_ids_are_the_senders_when_printable_else_fresh_hex() {
        let mut headers = http::HeaderMap::new();
        let fresh = request_id(&headers);
        assert_eq!(fresh.len(), 32);
        assert!(
            fresh
                .as_bytes()
                .iter()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        assert_ne!(fresh, request_id(&headers), "each fresh id is new");
        headers.insert(REQUEST_ID, HeaderValue::from_static("req-123"));
        assert_eq!(request_id(&headers), "req-123");
        for bad in ["a b", "", &"x".repeat(129)] {
            headers.insert(REQUEST_ID, HeaderValue::from_str(bad).unwrap());
            assert_eq!(request_id(&headers).len(), 32, "{bad:?} is replaced");
        }
    }

    fn gateway() -> Arc<Gateway> {
        // Port 1 refuses connections, so forwarding fails fast instead of printing or waiting.
        let text = format!(
            r#"
[store]
kind = "memory"
[defaults]
delivery = "direct"
[routes.chamelio]
provider = "chamelio"
secrets = ["{SECRET}"]
upstream = "http://127.0.0.1:1/"
[routes.slack]
provider = "slack"
secrets = ["{SECRET}"]
upstream = "http://127.0.0.1:1/"
[routes.meta]
provider = "meta"
secrets = ["{SECRET}"]
verify_token = "tok"
upstream = "http://127.0.0.1:1/"
[routes.twilio]
provider = "twilio"
secrets = ["{SECRET}"]
public_url = "https://example.com/hook"
upstream = "http://127.0.0.1:1/"
"#
        );
        let config = crate::config::parse("t.toml", &text, &|_| None).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        Arc::new(
            runtime
                .block_on(Gateway::new(config, Arc::new(Metrics::new())))
                .unwrap(),
        )
    }

    fn request() -> impl Strategy<Value = (String, String, Vec<(String, String)>, Vec<u8>, bool)> {
        (
            prop::sample::select(vec!["POST", "GET", "HEAD", "PUT", "OPTIONS"]).prop_map(str::to_string),
            prop_oneof![
                prop::sample::select(vec![
                    "/webhooks/chamelio",
                    "/webhooks/slack",
                    "/webhooks/meta?hub.mode=subscribe&hub.verify_token=tok&hub.challenge=1",
                    "/webhooks/twilio?a=1",
                    "/healthz",
                ])
                .prop_map(str::to_string),
                "/[a-z/%?=&]{0,30}",
            ],
            proptest::collection::vec(
                (
                    prop::sample::select(vec![
                        "content-type",
                        "x-chamelio-signature",
                        "x-slack-signature",
                        "x-slack-request-timestamp",
                        "x-forwarded-for",
                        "x-request-id",
                        "content-length",
                        "x-twilio-signature",
                    ])
                    .prop_map(str::to_string),
                    "[ -~]{0,80}",
                ),
                0..6,
            ),
            prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..512),
                "\\{\"event\":\"[a-z.]{0,10}\",\"event_id\":\"[a-z0-9]{0,8}\",\"timestamp\":\"2026-01-01T00:00:00Z\"\\}"
                    .prop_map(String::into_bytes),
            ],
            any::<bool>(),
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

        #[test]
        fn no_request_makes_the_pipeline_panic((method, path, headers, body, sign) in request()) {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            let gw = gateway();
            let mut b = Request::builder().method(method.as_str()).uri(path.as_str());
            for (k, v) in &headers {
                b = b.header(k.as_str(), v.as_str());
            }
            if sign {
                let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
                mac.update(&body);
                b = b.header(
                    "x-chamelio-signature",
                    format!("sha256={}", hex::encode(mac.finalize().into_bytes())),
                );
            }
            let Ok(req) = b.body(Full::new(Bytes::from(body))) else {
                return Ok(()); // not a request hyper would hand over
            };
            let peer: SocketAddr = "203.0.113.9:4000".parse().unwrap();
            let status = runtime.block_on(gw.handle(req, peer, &CancellationToken::new())).status().as_u16();
            prop_assert!(
                [200, 400, 401, 403, 404, 405, 408, 413, 502, 503, 504].contains(&status),
                "status {}", status
            );
        }
    }
}
