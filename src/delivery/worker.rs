//! The delivery workers of queued mode.
//!
//! Each route has a queue of its stored events by due time, kept in memory (filled from the store at
//! start, then by every accept and replay) and one dispatcher task that starts attempts as they fall
//! due, up to the route's `delivery_concurrency` at the upstream at once. An attempt reads the event
//! from the store (a first attempt takes it from memory when the pipeline handed it over with the
//! accept: up to `FRESH_PER_ROUTE` per route, so that a queue growing under overload does not grow
//! memory), forwards its envelope to the route's upstream as configured now, gives its place back
//! once the upstream has answered, and records the outcome in the store before the event is
//! scheduled again or left: delivered, retried later by the route's policy, or dead-lettered.
//! Recording waits for a commit (an fsync), which would otherwise hold a place for longer than most
//! upstreams take to answer; at most `RECORDING_PER_PLACE` outcomes per place wait to be recorded.
//! A circuit breaker per upstream holds attempts back while the upstream keeps failing.
//!
//! An attempt that was under way when the process died was not recorded, so its event is still
//! queued in the store and is attempted again at the next start: delivery to the upstream is
//! at-least-once, and every attempt carries the event id (`Idempotency-Key`, `ce-id`) so that the
//! upstream can drop a repeat.

use super::breaker::{Breaker, Gate};
use super::policy::{self, Next};
use crate::envelope::Envelope;
use crate::forward::Forwarder;
use crate::metrics::Metrics;
use crate::routes::Route;
use crate::store::{Attempt, Lease, Outcome, Seq, Store};
use bytes::Bytes;
use http::{HeaderName, HeaderValue};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How long an attempt waits before it is tried again when the store could not be read or written.
const STORE_RETRY: Duration = Duration::from_secs(2);

/// Just-accepted events per route whose first attempt is sent from memory rather than read back.
const FRESH_PER_ROUTE: usize = 1024;

/// Attempts of a route under way, those recording their outcome included, per place of its
/// `delivery_concurrency`: so that a store slower than the upstream bounds the events held in
/// memory waiting for it.
const RECORDING_PER_PLACE: usize = 4;

/// What an attempt needs of its event: handed over by the pipeline with a just-stored event (the
/// same as the store would give back), read from the store otherwise.
pub struct Fresh {
    pub id: String,
    pub request_id: HeaderValue,
    pub received_ms: u64,
    pub envelope: Envelope,
}

fn now_ms() -> u64 {
    u64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis(),
    )
    .unwrap_or(u64::MAX)
}

/// One route's queue.
#[derive(Default)]
struct Queue {
    due: BinaryHeap<Reverse<(u64, Seq)>>,
    /// Events queued or being attempted, so that a replay does not queue one twice.
    known: HashSet<Seq>,
    /// Events being attempted now (their request at the upstream, or their outcome being recorded).
    running: HashSet<Seq>,
    /// Attempts holding a place of the route's `delivery_concurrency`: up to the upstream's answer.
    sending: usize,
    /// Just-accepted events not attempted yet, as the pipeline stored them.
    fresh: HashMap<Seq, Fresh>,
}

struct Inner {
    store: Store,
    forwarder: Forwarder,
    metrics: Arc<Metrics>,
    recent: Arc<crate::recent::Recent>,
    routes: arc_swap::ArcSwap<HashMap<Arc<str>, Arc<Route>>>,
    queues: Mutex<HashMap<Arc<str>, Queue>>,
    /// Wakes the dispatchers: an event was queued, an attempt ended, or the routes changed.
    wake: Notify,
    breakers: Mutex<HashMap<String, Breaker>>,
    /// Attempts under way, per upstream, for the breakers.
    busy: Mutex<HashMap<String, usize>>,
    stop: CancellationToken,
    attempts: TaskTracker,
    /// `server.access_log`: a line per delivered event too (failed attempts are always logged).
    access_log: AtomicBool,
}

/// The workers, shared by the pipeline (which queues accepted events) and the admin API.
#[derive(Clone)]
pub struct Deliveries {
    inner: Arc<Inner>,
}

impl Deliveries {
    /// Starts the dispatcher on `routes`, with every event the store holds as queued.
    pub fn start(
        store: Store,
        forwarder: Forwarder,
        metrics: Arc<Metrics>,
        recent: Arc<crate::recent::Recent>,
        routes: Vec<Arc<Route>>,
        access_log: bool,
    ) -> Result<Deliveries, crate::store::StoreError> {
        let queued = store.queued()?;
        let inner = Arc::new(Inner {
            store,
            forwarder,
            metrics,
            recent,
            routes: arc_swap::ArcSwap::from_pointee(by_name(routes)),
            queues: Mutex::new(HashMap::new()),
            wake: Notify::new(),
            breakers: Mutex::new(HashMap::new()),
            busy: Mutex::new(HashMap::new()),
            stop: CancellationToken::new(),
            attempts: TaskTracker::new(),
            access_log: AtomicBool::new(access_log),
        });
        let deliveries = Deliveries { inner };
        let count = queued.len();
        for (seq, route, at) in queued {
            deliveries.enqueue(&route, seq, at);
        }
        if count > 0 {
            tracing::info!(events = count, "delivering the events queued in the store");
        }
        let inner = deliveries.inner.clone();
        match &inner.store {
            Store::Redis(redis) => {
                let redis = (**redis).clone();
                tokio::spawn(dispatch_shared(inner, redis));
            }
            _ => {
                tokio::spawn(dispatch(inner));
            }
        }
        Ok(deliveries)
    }

    /// Serves `routes` from now on: attempts use each route's current upstream and policy.
    pub fn set_routes(&self, routes: Vec<Arc<Route>>, access_log: bool) {
        self.inner.access_log.store(access_log, Ordering::Relaxed);
        self.inner.routes.store(Arc::new(by_name(routes)));
        self.inner.wake.notify_one();
    }

    /// Queues a stored event of `route`, due at `at_ms`. With a shared store the event is already in
    /// the route's shared queue: the readers are only woken.
    pub fn enqueue(&self, route: &str, seq: Seq, at_ms: u64) {
        self.enqueue_with(route, seq, at_ms, None);
    }

    /// Queues an event the pipeline has just stored, with what its first attempt needs.
    pub fn enqueue_fresh(&self, route: &str, seq: Seq, at_ms: u64, fresh: Fresh) {
        self.enqueue_with(route, seq, at_ms, Some(fresh));
    }

    fn enqueue_with(&self, route: &str, seq: Seq, at_ms: u64, fresh: Option<Fresh>) {
        if self.inner.store.shared() {
            self.inner.wake.notify_waiters();
            return;
        }
        {
            let mut queues = self.inner.queues.lock().unwrap_or_else(|p| p.into_inner());
            let q = match queues.get_mut(route) {
                Some(q) => q,
                None => queues.entry(Arc::from(route)).or_default(),
            };
            if !q.known.insert(seq) {
                return;
            }
            if let Some(fresh) = fresh
                && q.fresh.len() < FRESH_PER_ROUTE
            {
                q.fresh.insert(seq, fresh);
            }
            q.due.push(Reverse((at_ms, seq)));
        }
        self.inner.wake.notify_one();
    }

    /// Events of each route being attempted now.
    pub fn running(&self) -> Vec<(Arc<str>, usize)> {
        let queues = self.inner.queues.lock().unwrap_or_else(|p| p.into_inner());
        queues
            .iter()
            .map(|(r, q)| (r.clone(), q.running.len()))
            .collect()
    }

    /// The events being attempted now.
    pub fn running_events(&self) -> HashSet<Seq> {
        let queues = self.inner.queues.lock().unwrap_or_else(|p| p.into_inner());
        queues
            .values()
            .flat_map(|q| q.running.iter().copied())
            .collect()
    }

    /// Stops starting attempts; the attempts under way go on (see `attempts`).
    pub fn stop(&self) {
        self.inner.stop.cancel();
        self.inner.attempts.close();
    }

    /// The attempts under way, for graceful shutdown to wait on.
    pub fn attempts(&self) -> &TaskTracker {
        &self.inner.attempts
    }
}

fn by_name(routes: Vec<Arc<Route>>) -> HashMap<Arc<str>, Arc<Route>> {
    routes.into_iter().map(|r| (r.name.clone(), r)).collect()
}

/// What a breaker watches: a route's upstream (scheme, host and port). Routes sharing an upstream
/// keep breakers of their own, so that one route's probe never waits on another route's queue.
fn upstream_key(route: &Route) -> String {
    let target = match &route.upstream {
        crate::forward::Upstream::Http(target) => format!(
            "{}://{}",
            target.uri().scheme_str().unwrap_or("http"),
            target.uri().authority().map(|a| a.as_str()).unwrap_or("")
        ),
        crate::forward::Upstream::Stdout => "stdout".to_string(),
    };
    format!("{} {target}", route.name)
}

/// Whether the breaker of upstream `key` lets an attempt start now, given the attempts under way.
fn gate(inner: &Inner, key: &str, now: Instant) -> Gate {
    let busy = inner
        .busy
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(key)
        .copied()
        .unwrap_or(0);
    // An upstream that never failed has no breaker yet: a closed one lets every attempt go.
    (inner.breakers.lock().unwrap_or_else(|p| p.into_inner()))
        .get_mut(key)
        .map_or(Gate::Go, |b| b.gate(now, busy))
}

/// Starts every attempt that is due and allowed, then sleeps until the next one is due or something
/// changes.
async fn dispatch(inner: Arc<Inner>) {
    loop {
        let next = start_due(&inner);
        let sleep = async {
            match next {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = sleep => {}
            () = inner.wake.notified() => {}
            () = inner.stop.cancelled() => return,
        }
    }
}

/// Starts the attempts that may go now; returns when the next one could.
fn start_due(inner: &Arc<Inner>) -> Option<Instant> {
    let routes = inner.routes.load();
    let now = Instant::now();
    let now_ms = now_ms();
    let mut next: Option<Instant> = None;
    let mut soonest = |at: Instant| next = Some(next.map_or(at, |n: Instant| n.min(at)));
    let mut starts = Vec::new();
    let mut queues = inner.queues.lock().unwrap_or_else(|p| p.into_inner());
    for (name, q) in queues.iter_mut() {
        // A route that is no longer configured keeps its events until it is again.
        let Some(route) = routes.get(name) else {
            continue;
        };
        let key = upstream_key(route);
        let places = route.policy.concurrency;
        while q.sending < places && q.running.len() < places * RECORDING_PER_PLACE {
            let Some(&Reverse((at, seq))) = q.due.peek() else {
                break;
            };
            if at > now_ms {
                soonest(now + Duration::from_millis(at - now_ms));
                break;
            }
            if let Gate::Wait(until) = gate(inner, &key, now) {
                soonest(until);
                break;
            }
            q.due.pop();
            q.running.insert(seq);
            let fresh = q.fresh.remove(&seq);
            let place = Place::take(inner, q, &key, name.clone());
            starts.push((route.clone(), seq, fresh, place));
        }
    }
    // Spawned once the queues are unlocked: a place that a failed spawn drops locks them.
    drop(queues);
    for (route, seq, fresh, place) in starts {
        let inner2 = inner.clone();
        inner.attempts.spawn(async move {
            attempt(&inner2, &route, seq, fresh, Lease::default(), place).await;
            finish(&inner2, &route, seq);
        });
    }
    next
}

/// An attempt's place among its route's `delivery_concurrency` and its upstream's attempts under way
/// (which the breaker counts): taken when the attempt starts, given back when it is dropped, once
/// the upstream has answered or the attempt ended without a request.
struct Place {
    inner: Arc<Inner>,
    route: Arc<str>,
    key: String,
}

impl Place {
    /// Takes a place in `q`, the route's queue (whose lock the caller holds).
    fn take(inner: &Arc<Inner>, q: &mut Queue, key: &str, route: Arc<str>) -> Place {
        q.sending += 1;
        let mut busy = inner.busy.lock().unwrap_or_else(|p| p.into_inner());
        match busy.get_mut(key) {
            Some(n) => *n += 1,
            None => {
                busy.insert(key.to_string(), 1);
            }
        }
        drop(busy);
        Place {
            inner: inner.clone(),
            route,
            key: key.to_string(),
        }
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        let inner = &self.inner;
        if let Some(q) = inner
            .queues
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_mut(&self.route)
        {
            q.sending -= 1;
        }
        if let Some(n) = inner
            .busy
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_mut(&self.key)
        {
            *n -= 1;
        }
        inner.wake.notify_one();
    }
}

/// Ends an attempt whose outcome is recorded (or could not be): its event may be queued again. The
/// dispatcher already heard of the place given back, and of a retry when it was queued; it is woken
/// here only if the route had as many attempts under way as it may.
fn finish(inner: &Inner, route: &Route, seq: Seq) {
    let mut queues = inner.queues.lock().unwrap_or_else(|p| p.into_inner());
    let Some(q) = queues.get_mut(&route.name) else {
        return;
    };
    let full = q.running.len() >= route.policy.concurrency * RECORDING_PER_PLACE;
    q.running.remove(&seq);
    drop(queues);
    if full {
        inner.wake.notify_one();
    }
}

/// Puts an event back in its route's queue, due after `delay`.
fn requeue(inner: &Inner, route: &str, seq: Seq, delay: Duration) {
    // A shared store keeps retries itself, and takes back an entry whose attempt was not recorded.
    if inner.store.shared() {
        return;
    }
    let at = now_ms() + u64::try_from(delay.as_millis()).unwrap_or(u64::MAX / 2);
    let mut queues = inner.queues.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(q) = queues.get_mut(route) {
        q.due.push(Reverse((at, seq)));
    }
    drop(queues);
    // The dispatcher may be asleep until a later event falls due, or for good.
    inner.wake.notify_one();
}

/// Forgets an event that needs no more attempts.
fn settle(inner: &Inner, route: &str, seq: Seq) {
    let mut queues = inner.queues.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(q) = queues.get_mut(route) {
        q.known.remove(&seq);
    }
}

/// The stored envelope as the forwarder sends it.
fn envelope(record: crate::store::EnvelopeRecord) -> Envelope {
    Envelope {
        content_type: HeaderValue::from_str(&record.content_type)
            .unwrap_or(HeaderValue::from_static("application/octet-stream")),
        headers: record
            .headers
            .into_iter()
            .filter_map(|(n, v)| {
                Some((
                    HeaderName::from_bytes(n.as_bytes()).ok()?,
                    HeaderValue::from_str(&v).ok()?,
                ))
            })
            .collect(),
        body: Bytes::from(record.body),
    }
}

/// Event `seq` as stored, and its attempts so far; `None` when it was removed meanwhile (and settled
/// here) or could not be read (and queued again here).
async fn read(inner: &Inner, route: &Route, seq: Seq) -> Option<(Fresh, u32)> {
    match (inner.store.event(seq).await, inner.store.summary(seq).await) {
        (Ok(Some(record)), Ok(Some(summary))) => Some((
            Fresh {
                request_id: HeaderValue::from_str(&record.request_id)
                    .unwrap_or(HeaderValue::from_static("-")),
                id: record.id,
                envelope: envelope(record.envelope),
                received_ms: summary.received_ms,
            },
            summary.attempts,
        )),
        (Ok(None), _) | (_, Ok(None)) => {
            // Removed meanwhile (retention of a replayed event that settled): nothing to do.
            settle(inner, &route.name, seq);
            None
        }
        (Err(e), _) | (_, Err(e)) => {
            tracing::error!(route = %route.name, seq, error = %e, "cannot read a queued event; trying again shortly");
            requeue(inner, &route.name, seq, STORE_RETRY);
            None
        }
    }
}

/// One attempt of event `seq`: the first one of a just-accepted event from `fresh`, others read from
/// the store.
async fn attempt(
    inner: &Inner,
    route: &Arc<Route>,
    seq: Seq,
    fresh: Option<Fresh>,
    lease: Lease,
    place: Place,
) {
    let (due, attempts) = match fresh {
        Some(f) => (f, 0),
        None => match read(inner, route, seq).await {
            Some(stored) => stored,
            None => return,
        },
    };
    let env = due.envelope;
    let headers = route.upstream_headers(&due.id, &env.body, due.request_id.clone());
    let at_ms = now_ms();
    let started = Instant::now();
    let sent = inner
        .forwarder
        .send(&route.upstream, env, headers, route.forward_timeout)
        .await;
    let latency = started.elapsed();
    let (result, status, error, retry_after) = match &sent {
        Ok(reply) => (
            policy::Result::Status(reply.status),
            Some(reply.status.as_u16()),
            None,
            policy::retry_after(reply.retry_after.as_ref()),
        ),
        Err(crate::forward::ForwardError::Timeout) => (
            policy::Result::Timeout,
            None,
            Some("no answer within forward_timeout".to_string()),
            None,
        ),
        Err(e) => (policy::Result::Failed, None, Some(e.to_string()), None),
    };
    // A 4xx means the upstream is there and answering: only 5xx, 429 and failures count against it.
    let healthy =
        matches!(result, policy::Result::Status(s) if !s.is_server_error() && s.as_u16() != 429);
    {
        let mut breakers = inner.breakers.lock().unwrap_or_else(|p| p.into_inner());
        let b = match breakers.get_mut(&place.key) {
            Some(b) => b,
            None => breakers.entry(place.key.clone()).or_default(),
        };
        if healthy {
            b.success();
        } else if b.failure(Instant::now()) {
            tracing::warn!(route = %route.name, "the upstream keeps failing: its deliveries pause, then one probe tests it");
        }
    }
    // The upstream has answered and the breaker has heard of it: the next attempt may go while this
    // one's outcome is recorded.
    drop(place);
    let age = Duration::from_millis(at_ms.saturating_sub(due.received_ms));
    let jitter = fastrand::f64() * 2.0 - 1.0;
    let next = route
        .policy
        .next(attempts + 1, age, result, retry_after, jitter);
    let outcome = match &next {
        Next::Delivered => Outcome::Delivered,
        Next::Retry(d) => Outcome::Retry {
            at_ms: at_ms + u64::try_from(d.as_millis()).unwrap_or(u64::MAX / 2),
        },
        Next::Dead(reason) => Outcome::Dead {
            reason: reason.clone(),
        },
    };
    let record_attempt = Attempt {
        at_ms,
        status,
        error: error.clone(),
        latency_us: u64::try_from(latency.as_micros()).unwrap_or(u64::MAX),
        outcome: outcome.clone(),
    };
    if let Err(e) = inner.store.attempt(seq, record_attempt, &lease).await {
        // The event stays queued in the store; it is attempted again (at-least-once).
        tracing::error!(route = %route.name, seq, error = %e, "cannot record a delivery attempt; the event will be attempted again");
        requeue(inner, &route.name, seq, STORE_RETRY);
        return;
    }
    inner.metrics.record_attempt(
        &route.name,
        &next,
        latency,
        at_ms.saturating_sub(due.received_ms),
    );
    let result = match &next {
        Next::Delivered => "delivered",
        Next::Retry(_) => "retry",
        Next::Dead(_) => "dead",
    };
    inner
        .recent
        .count(&route.name, result, latency, Some(latency));
    if inner.recent.watched() {
        inner.recent.publish(crate::recent::Seen {
            at_ms,
            route: route.name.to_string(),
            source: "delivery",
            outcome: result,
            status: status.unwrap_or(0),
            event_id: Some(due.id.clone()),
            request_id: Some(due.request_id.to_str().unwrap_or("-").to_string()),
            client: None,
            latency_ms: latency.as_secs_f64() * 1000.0,
            upstream_ms: Some(latency.as_secs_f64() * 1000.0),
            reason: match &next {
                Next::Dead(r) => Some(r.clone()),
                _ => error.clone(),
            },
            headers: Vec::new(),
            attempt: Some(attempts + 1),
        });
    }
    let shown_status = status.map_or_else(|| "-".to_string(), |s| s.to_string());
    match next {
        Next::Delivered => {
            settle(inner, &route.name, seq);
            if inner.access_log.load(Ordering::Relaxed) {
                tracing::info!(route = %route.name, event_id = %due.id, attempt = attempts + 1, status = %shown_status, "delivered");
            }
        }
        Next::Retry(d) => {
            requeue(inner, &route.name, seq, d);
            tracing::warn!(route = %route.name, event_id = %due.id, attempt = attempts + 1, status = %shown_status, error = error.as_deref(), retry_in = %crate::config::human(d), "delivery failed; retrying");
        }
        Next::Dead(reason) => {
            settle(inner, &route.name, seq);
            tracing::error!(route = %route.name, event_id = %due.id, attempt = attempts + 1, status = %shown_status, reason = %reason, "dead-lettered");
        }
    }
}

/// The dispatcher of a shared store: one reader per route, started as routes appear.
async fn dispatch_shared(inner: Arc<Inner>, redis: crate::store::redis::Redis) {
    let mut readers: HashMap<Arc<str>, tokio::task::JoinHandle<()>> = HashMap::new();
    loop {
        for (name, route) in inner.routes.load().iter() {
            if route.delivery != super::Mode::Queued {
                continue;
            }
            let alive = readers.get(name).is_some_and(|h| !h.is_finished());
            if !alive {
                let task = tokio::spawn(read_route(inner.clone(), redis.clone(), name.clone()));
                readers.insert(name.clone(), task);
            }
        }
        tokio::select! {
            () = inner.wake.notified() => {}
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
            () = inner.stop.cancelled() => return,
        }
    }
}

/// How long a reader waits on its route's stream before looking at retries and abandoned entries.
const READ_BLOCK: Duration = Duration::from_millis(250);
/// How often a route's lists are trimmed of events past their retention (by every replica).
const TRIM_EVERY: Duration = Duration::from_secs(5);

/// Takes one route's due events from the shared queue and attempts them: new entries of its stream,
/// retries that fell due, and entries another process took but did not record within the lease.
async fn read_route(inner: Arc<Inner>, redis: crate::store::redis::Redis, name: Arc<str>) {
    if let Err(e) = redis.ensure_group(&name).await {
        tracing::warn!(route = %name, error = %e, "cannot create the route's delivery queue yet");
    }
    let mut conn = None;
    let mut last_reclaim = Instant::now();
    let mut last_trim = Instant::now();
    loop {
        if inner.stop.is_cancelled() {
            return;
        }
        let Some(route) = inner.routes.load().get(&name).cloned() else {
            // No longer configured: its events wait in the shared queue for a process that serves it.
            return;
        };
        let key = upstream_key(&route);
        let (sending, running) = inner
            .queues
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&name)
            .map_or((0, 0), |q| (q.sending, q.running.len()));
        let places = route.policy.concurrency;
        let free = places
            .saturating_sub(sending)
            .min((places * RECORDING_PER_PLACE).saturating_sub(running));
        let gate = gate(&inner, &key, Instant::now());
        if free == 0 || matches!(gate, Gate::Wait(_)) {
            let until = match gate {
                Gate::Wait(t) => t,
                Gate::Go => Instant::now() + READ_BLOCK,
            };
            tokio::select! {
                () = tokio::time::sleep_until(until.into()) => {}
                () = inner.wake.notified() => {}
                () = inner.stop.cancelled() => return,
            }
            continue;
        }
        let mut leased = Vec::new();
        let step = async {
            redis.promote(&name).await?;
            if last_reclaim.elapsed() >= READ_BLOCK * 4 {
                last_reclaim = Instant::now();
                leased.extend(redis.reclaim(&name, free).await?);
            }
            if last_trim.elapsed() >= TRIM_EVERY {
                last_trim = Instant::now();
                redis.trim(&name).await?;
            }
            if leased.is_empty() {
                leased.extend(redis.read_new(&mut conn, &name, free, READ_BLOCK).await?);
            }
            Ok::<_, crate::store::StoreError>(())
        };
        let failed = tokio::select! {
            r = step => r.err(),
            () = inner.stop.cancelled() => return,
        };
        if let Some(e) = failed {
            tracing::warn!(route = %name, error = %e, "cannot take deliveries from the shared queue; trying again");
            if let Some(b) = inner
                .breakers
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get_mut(&key)
            {
                b.cancel_probe(Instant::now());
            }
            tokio::select! {
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
                () = inner.stop.cancelled() => return,
            }
            continue;
        }
        if !leased.is_empty()
            && gate == Gate::Go
            && inner
                .breakers
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(&key)
                .is_some_and(Breaker::is_open)
        {
            // A probe: one attempt only; the rest are taken over again after the lease.
            leased.truncate(1);
        }
        for (seq, lease) in leased {
            let place = {
                let mut queues = inner.queues.lock().unwrap_or_else(|p| p.into_inner());
                let q = queues.entry(name.clone()).or_default();
                if !q.running.insert(seq) {
                    continue;
                }
                Place::take(&inner, q, &key, name.clone())
            };
            let (inner2, route) = (inner.clone(), route.clone());
            inner.attempts.spawn(async move {
                attempt(&inner2, &route, seq, None, lease, place).await;
                finish(&inner2, &route, seq);
            });
        }
    }
}
