//! Replay protection: the timestamp window and the memory of delivered events.
//!
//! A captured delivery replayed later is either outside the route's window (rejected by
//! `check_window`) or still remembered as delivered (answered as a duplicate by `Dedupe`). An event is
//! remembered for the route's `dedupe_ttl` and at least until its signed timestamp leaves the window
//! (`remember_for`), so no replay falls between the two.
//!
//! `Dedupe` remembers an event only once it was delivered: a delivery first *claims* its keys, the
//! claim is *committed* on success and *released* (by dropping it) otherwise, so a vendor's retry after
//! a failure goes through again. A second delivery of a key that is claimed but not yet settled waits
//! for the first to settle instead of going out alongside it.
//!
//! Each route has a memory of its own (`memory::Memory`), sized by its share of `dedupe_capacity`, so
//! one route's traffic cannot evict another's. Entries leave when they expire, without being looked
//! up; only a memory full of unexpired entries forgets early, oldest first, which is counted and
//! warned about with how much of the route's window that leaves unprotected. Keys are a fixed-size hash
//! of route and event id, so memory per event does not depend on how long vendors make their ids.
//! This module knows nothing about HTTP or vendors.

pub mod memory;

use jiff::{SignedDuration, Timestamp};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// Why a signed timestamp is outside the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    #[error("the signed timestamp is older than the route's tolerance")]
    Stale,
    #[error("the signed timestamp is further in the future than max_clock_skew")]
    Future,
}

/// Accepts `signed_at` when it is at most `tolerance` old and at most `skew` ahead of `now`.
pub fn check_window(
    signed_at: Timestamp,
    now: Timestamp,
    tolerance: Duration,
    skew: Duration,
) -> Result<(), WindowError> {
    let age = now.duration_since(signed_at);
    if age > SignedDuration::try_from(tolerance).unwrap_or(SignedDuration::MAX) {
        return Err(WindowError::Stale);
    }
    if -age > SignedDuration::try_from(skew).unwrap_or(SignedDuration::MAX) {
        return Err(WindowError::Future);
    }
    Ok(())
}

/// How long a delivered event must be remembered: the route's `dedupe_ttl`, and at least until its
/// signed timestamp has left the window (a delivery stamped ahead of `now` stays acceptable for
/// `tolerance` after its stamp, which can be longer than `dedupe_ttl` from now).
pub fn remember_for(
    ttl: Duration,
    signed_at: Option<Timestamp>,
    tolerance: Duration,
    now: Timestamp,
) -> Duration {
    let Some(at) = signed_at else { return ttl };
    let window_left =
        at.duration_since(now) + SignedDuration::try_from(tolerance).unwrap_or(SignedDuration::MAX);
    let window_left = Duration::try_from(window_left).unwrap_or(Duration::ZERO);
    ttl.max(window_left)
}

/// The dedupe key of an event: 128 bits of SHA-256 over the route name and the event id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EventKey([u64; 2]);

impl EventKey {
    /// The key as 16 bytes, as stores keep it.
    pub fn to_bytes(self) -> [u8; 16] {
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&self.0[0].to_le_bytes());
        out[8..].copy_from_slice(&self.0[1].to_le_bytes());
        out
    }

    pub fn from_bytes(bytes: [u8; 16]) -> EventKey {
        let word = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&bytes[i * 8..i * 8 + 8]);
            u64::from_le_bytes(b)
        };
        EventKey([word(0), word(1)])
    }

    pub fn new(route: &str, id: &str) -> EventKey {
        Self::tagged(route, b"id", id.as_bytes())
    }

    /// The key of a delivery's signed content (the SHA-256 of its body), for routes whose event id
    /// comes from a part the signature does not cover.
    pub fn content(route: &str, body_sha256: &[u8]) -> EventKey {
        Self::tagged(route, b"content", body_sha256)
    }

    fn tagged(route: &str, tag: &[u8], value: &[u8]) -> EventKey {
        let mut h = Sha256::new();
        // Length prefixes keep ("ab", "c") and ("a", "bc") apart.
        h.update((route.len() as u64).to_le_bytes());
        h.update(route.as_bytes());
        h.update((tag.len() as u64).to_le_bytes());
        h.update(tag);
        h.update(value);
        let digest = h.finalize();
        let word = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&digest[i * 8..i * 8 + 8]);
            u64::from_le_bytes(b)
        };
        EventKey([word(0), word(1)])
    }
}

/// The keys one event is remembered under: its id, and, when the id is not signed, its signed content
/// too, so a captured delivery sent again with a new unsigned id is still recognised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keys {
    pub id: EventKey,
    pub content: Option<EventKey>,
}

impl Keys {
    pub fn id_only(id: EventKey) -> Keys {
        Keys { id, content: None }
    }

    pub fn iter(&self) -> impl Iterator<Item = EventKey> + '_ {
        std::iter::once(self.id).chain(self.content)
    }
}

/// Hashes an `EventKey` by taking 64 of its bits: they are already uniform (SHA-256 output), so
/// hashing them again with SipHash would only cost time. Only verified events are claimed, so a sender
/// without the route's secret cannot choose keys to crowd one bucket.
#[derive(Default)]
pub struct KeyBits(u64);

impl Hasher for KeyBits {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Not reached for `EventKey` (its `Hash` writes two u64s); kept correct for any other input.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        // The second word of a key (and the length prefix of its array) fold in harmlessly.
        self.0 ^= n;
    }

    fn write_usize(&mut self, _: usize) {
        // The array's length prefix, the same for every key.
    }
}

/// Claimed but not yet settled keys. A key's value is created only when a second delivery of it waits
/// (rare), so the usual claim allocates nothing here.
type InFlight = HashMap<EventKey, Option<Arc<Notify>>, BuildHasherDefault<KeyBits>>;

/// Seconds on the dedupe memory's own monotonic clock.
#[derive(Debug)]
struct Clock(Instant);

impl Clock {
    fn now(&self) -> u32 {
        u32::try_from(self.0.elapsed().as_secs()).unwrap_or(u32::MAX)
    }

    /// The second at which something remembered now for `ttl` is forgotten (rounded up, so an entry
    /// is never forgotten before its time).
    fn until(&self, ttl: Duration) -> u32 {
        let elapsed = self.0.elapsed();
        let end = elapsed.saturating_add(ttl);
        let secs = end.as_secs() + u64::from(end.subsec_nanos() > 0);
        u32::try_from(secs).unwrap_or(u32::MAX)
    }
}

/// One route's memory and what it reports about early evictions.
#[derive(Debug)]
struct RouteMemory {
    route: Arc<str>,
    memory: Mutex<memory::Memory>,
    /// Entries forgotten before their expiry because this route's memory was full.
    early: AtomicU64,
    last_warning: Mutex<Option<Instant>>,
}

impl RouteMemory {
    fn lock(&self) -> std::sync::MutexGuard<'_, memory::Memory> {
        self.memory.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn note(&self, evicted: memory::Evicted, ttl: Duration) {
        let total = self.early.fetch_add(evicted.count, Ordering::Relaxed) + evicted.count;
        let mut last = self.last_warning.lock().unwrap_or_else(|p| p.into_inner());
        if last.is_some_and(|t| t.elapsed() < WARNING_INTERVAL) {
            return;
        }
        *last = Some(Instant::now());
        let capacity = self.lock().capacity();
        let protected = ttl.saturating_sub(evicted.remaining);
        tracing::warn!(
            route = %self.route,
            capacity,
            evicted_total = total,
            "route {}: its dedupe memory is full ({capacity} events): events are now remembered for about {} instead of {}, so a replay of an event delivered earlier than that would be forwarded again; raise routes.{}.dedupe_capacity (or server.dedupe_capacity)",
            self.route,
            humantime::format_duration(Duration::from_secs(protected.as_secs())),
            humantime::format_duration(ttl),
            self.route,
        );
    }
}

/// How often a route's full memory is warned about at most.
const WARNING_INTERVAL: Duration = Duration::from_secs(60);

/// What claiming an event key found.
pub enum Claim {
    /// Nobody has delivered this event: deliver it, then commit or drop the guard.
    Fresh(ClaimGuard),
    /// The event was already delivered within its `dedupe_ttl`.
    Duplicate,
}

/// Another delivery of the same event is still being forwarded and did not settle in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("another delivery of this event is still being forwarded")]
pub struct StillInFlight;

struct Inner {
    clock: Clock,
    /// Each route's memory, by route name; replaced on reload, keeping the memories of routes that stay.
    /// (Names come from the configuration: foldhash, not SipHash, for a lookup per request.)
    routes: RwLock<foldhash::HashMap<Arc<str>, Arc<RouteMemory>>>,
    /// Claimed but not yet settled keys, and what their waiters wait on.
    in_flight: Mutex<InFlight>,
}

impl Inner {
    fn route(&self, name: &str) -> Arc<RouteMemory> {
        if let Some(m) = self
            .routes
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
        {
            return m.clone();
        }
        // A route that was not configured (tests, or a request racing a reload): a small memory.
        let mut routes = self.routes.write().unwrap_or_else(|p| p.into_inner());
        routes
            .entry(Arc::from(name))
            .or_insert_with(|| new_memory(Arc::from(name), UNCONFIGURED_CAPACITY))
            .clone()
    }
}

/// The memory of a route the gateway was not configured with.
const UNCONFIGURED_CAPACITY: usize = 10_000;

fn new_memory(route: Arc<str>, capacity: usize) -> Arc<RouteMemory> {
    Arc::new(RouteMemory {
        route,
        memory: Mutex::new(memory::Memory::new(capacity)),
        early: AtomicU64::new(0),
        last_warning: Mutex::new(None),
    })
}

/// The bounded memory of delivered events, one share per route, kept across reloads.
#[derive(Clone)]
pub struct Dedupe {
    inner: Arc<Inner>,
}

impl Default for Dedupe {
    fn default() -> Self {
        Self::new()
    }
}

impl Dedupe {
    pub fn new() -> Dedupe {
        Dedupe {
            inner: Arc::new(Inner {
                clock: Clock(Instant::now()),
                routes: RwLock::new(foldhash::HashMap::default()),
                in_flight: Mutex::new(InFlight::default()),
            }),
        }
    }

    /// Gives each route (name, capacity) its memory: routes that stay keep what they remember (shrunk
    /// to a smaller capacity by forgetting what expires first); routes that are gone are forgotten.
    pub fn configure(&self, routes: &[(Arc<str>, usize)]) {
        let now = self.inner.clock.now();
        let mut map = self.inner.routes.write().unwrap_or_else(|p| p.into_inner());
        let mut next =
            foldhash::HashMap::with_capacity_and_hasher(routes.len(), Default::default());
        for (name, capacity) in routes {
            let memory = match map.remove(name) {
                Some(m) => {
                    let evicted = m.lock().set_capacity(*capacity, now);
                    if let Some(e) = evicted {
                        m.early.fetch_add(e.count, Ordering::Relaxed);
                    }
                    m
                }
                None => new_memory(name.clone(), *capacity),
            };
            next.insert(name.clone(), memory);
        }
        *map = next;
    }

    /// Claims `keys` of an event on `route` for delivery. If another delivery of it is in flight, waits
    /// up to `wait` for that one to settle: if it was delivered this answers `Duplicate`, if it failed
    /// this claims afresh.
    pub async fn claim(
        &self,
        route: &str,
        keys: Keys,
        wait: Duration,
    ) -> Result<Claim, StillInFlight> {
        let memory = self.inner.route(route);
        // Read the clock for a deadline only if there is a wait.
        let mut deadline = None;
        loop {
            let notify: Arc<Notify>;
            let settled = {
                let mut in_flight = self
                    .inner
                    .in_flight
                    .lock()
                    .unwrap_or_else(|p| p.into_inner());
                // Checked under the lock: a commit inserts into the memory before it leaves `in_flight`.
                {
                    let now = self.inner.clock.now();
                    let remembered = memory.lock();
                    if keys.iter().any(|k| remembered.contains(&k, now)) {
                        return Ok(Claim::Duplicate);
                    }
                }
                match keys.iter().find(|k| in_flight.contains_key(k)) {
                    None => {
                        for k in keys.iter() {
                            in_flight.insert(k, None);
                        }
                        return Ok(Claim::Fresh(ClaimGuard {
                            inner: self.inner.clone(),
                            memory,
                            keys,
                        }));
                    }
                    Some(busy) => {
                        notify = in_flight
                            .get_mut(&busy)
                            .expect("found above")
                            .get_or_insert_with(|| Arc::new(Notify::new()))
                            .clone();
                    }
                }
                // Created under the lock, so it hears the holder's `notify_waiters` even if that
                // comes before this task first polls it (the holder leaves `in_flight` under the same
                // lock, then notifies).
                notify.notified()
            };
            let deadline = *deadline.get_or_insert_with(|| tokio::time::Instant::now() + wait);
            if tokio::time::timeout_at(deadline, settled).await.is_err() {
                return Err(StillInFlight);
            }
        }
    }

    /// Whether `key` is remembered as delivered on `route`.
    pub fn is_delivered(&self, route: &str, key: &EventKey) -> bool {
        let now = self.inner.clock.now();
        self.inner.route(route).lock().contains(key, now)
    }

    /// Remembered entries in all routes (expired ones are dropped first).
    pub fn len(&self) -> u64 {
        self.per_route().iter().map(|r| r.entries).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Entries forgotten before their time because a memory was full, in all routes.
    pub fn evictions(&self) -> u64 {
        self.per_route().iter().map(|r| r.evicted).sum()
    }

    /// Each route's entries, capacity and early evictions (expired entries are dropped first).
    pub fn per_route(&self) -> Vec<RouteStats> {
        let now = self.inner.clock.now();
        let routes = self.inner.routes.read().unwrap_or_else(|p| p.into_inner());
        let mut out: Vec<RouteStats> = routes
            .values()
            .map(|m| {
                let mut memory = m.lock();
                memory.sweep(now);
                RouteStats {
                    route: m.route.clone(),
                    entries: memory.len() as u64,
                    capacity: memory.capacity() as u64,
                    evicted: m.early.load(Ordering::Relaxed),
                }
            })
            .collect();
        out.sort_by(|a, b| a.route.cmp(&b.route));
        out
    }
}

/// One route's dedupe memory, for metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteStats {
    pub route: Arc<str>,
    pub entries: u64,
    pub capacity: u64,
    pub evicted: u64,
}

/// A claimed event. `commit` remembers it as delivered; dropping the guard without committing
/// releases the claim so the vendor's retry goes through. Either way, waiting duplicates wake up.
pub struct ClaimGuard {
    inner: Arc<Inner>,
    memory: Arc<RouteMemory>,
    keys: Keys,
}

impl ClaimGuard {
    /// Remembers the event for `ttl` (see `remember_for`).
    pub fn commit(self, ttl: Duration) {
        let now = self.inner.clock.now();
        let until = self.inner.clock.until(ttl);
        let mut evicted: Option<memory::Evicted> = None;
        {
            let mut memory = self.memory.lock();
            for k in self.keys.iter() {
                if let Some(e) = memory.insert(k, until, now) {
                    evicted = Some(match evicted {
                        None => e,
                        Some(prev) => memory::Evicted {
                            count: prev.count + e.count,
                            remaining: prev.remaining.max(e.remaining),
                        },
                    });
                }
            }
        }
        if let Some(e) = evicted {
            self.memory.note(e, ttl);
        }
        // Drop runs next and leaves `in_flight`, which wakes the waiters.
    }
}

impl Drop for ClaimGuard {
    fn drop(&mut self) {
        let mut waiters = Vec::new();
        {
            let mut in_flight = self
                .inner
                .in_flight
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            for k in self.keys.iter() {
                if let Some(Some(n)) = in_flight.remove(&k) {
                    waiters.push(n);
                }
            }
        }
        for w in waiters {
            w.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Duration = Duration::from_secs(300);

    #[test]
    fn window_accepts_inside_and_rejects_outside() {
        let now: Timestamp = "2026-01-01T12:00:00Z".parse().unwrap();
        let at = |s: &str| s.parse::<Timestamp>().unwrap();
        let cases = [
            ("2026-01-01T12:00:00Z", Ok(())),
            ("2026-01-01T11:55:00Z", Ok(())),
            ("2026-01-01T11:54:59Z", Err(WindowError::Stale)),
            ("2026-01-01T12:05:00Z", Ok(())),
            ("2026-01-01T12:05:01Z", Err(WindowError::Future)),
            ("1970-01-01T00:00:00Z", Err(WindowError::Stale)),
        ];
        for (ts, want) in cases {
            assert_eq!(check_window(at(ts), now, T, T), want, "{ts}");
        }
    }

    #[test]
    fn events_are_remembered_until_their_window_closes() {
        let now: Timestamp = "2026-01-01T12:00:00Z".parse().unwrap();
        let at = |s: &str| Some(s.parse::<Timestamp>().unwrap());
        let m = |s: u64| Duration::from_secs(s * 60);
        let cases = [
            // (ttl, signed_at, tolerance, remembered for)
            (m(5), None, m(5), m(5)),
            (m(5), at("2026-01-01T12:00:00Z"), m(5), m(5)),
            (m(5), at("2026-01-01T12:04:00Z"), m(5), m(9)),
            (m(60), at("2026-01-01T12:04:00Z"), m(5), m(60)),
            (m(5), at("2026-01-01T11:00:00Z"), m(5), m(5)),
        ];
        for (ttl, signed, tolerance, want) in cases {
            assert_eq!(
                remember_for(ttl, signed, tolerance, now),
                want,
                "{signed:?}"
            );
        }
    }

    #[test]
    fn keys_separate_routes_ids_and_content() {
        assert_eq!(EventKey::new("a", "1"), EventKey::new("a", "1"));
        assert_ne!(EventKey::new("a", "1"), EventKey::new("b", "1"));
        assert_ne!(EventKey::new("ab", "c"), EventKey::new("a", "bc"));
        assert_ne!(EventKey::new("a", "1"), EventKey::content("a", b"1"));
    }

    fn one(id: &str) -> Keys {
        Keys::id_only(EventKey::new("r", id))
    }

    fn fresh(c: Result<Claim, StillInFlight>) -> ClaimGuard {
        match c {
            Ok(Claim::Fresh(g)) => g,
            Ok(Claim::Duplicate) => panic!("expected a fresh claim, got a duplicate"),
            Err(e) => panic!("expected a fresh claim, got {e}"),
        }
    }

    fn dedupe(capacity: usize) -> Dedupe {
        let d = Dedupe::new();
        d.configure(&[(Arc::from("r"), capacity), (Arc::from("other"), capacity)]);
        d
    }

    #[tokio::test]
    async fn committed_event_is_a_duplicate_and_released_one_is_fresh_again() {
        let d = dedupe(100);
        let k = one("evt_1");
        let g = fresh(d.claim("r", k, T).await);
        drop(g); // the delivery failed: released
        let g = fresh(d.claim("r", k, T).await);
        g.commit(T);
        assert!(matches!(d.claim("r", k, T).await, Ok(Claim::Duplicate)));
        assert!(d.is_delivered("r", &k.id));
        assert!(!d.is_delivered("other", &k.id));
    }

    #[tokio::test]
    async fn either_key_of_an_event_makes_it_a_duplicate() {
        let d = dedupe(100);
        let body = Keys {
            id: EventKey::new("r", "unsigned-1"),
            content: Some(EventKey::content("r", b"hash-of-body")),
        };
        fresh(d.claim("r", body, T).await).commit(T);
        // The same content under a new (unsigned) id: still a duplicate.
        let new_id = Keys {
            id: EventKey::new("r", "unsigned-2"),
            ..body
        };
        assert!(matches!(
            d.claim("r", new_id, T).await,
            Ok(Claim::Duplicate)
        ));
        // The same id with other content (a vendor's retry that restamps its body): a duplicate too.
        let restamped = Keys {
            content: Some(EventKey::content("r", b"another")),
            ..body
        };
        assert!(matches!(
            d.claim("r", restamped, T).await,
            Ok(Claim::Duplicate)
        ));
    }

    #[tokio::test]
    async fn a_concurrent_duplicate_waits_for_the_first_and_becomes_a_duplicate() {
        let d = dedupe(100);
        let k = one("evt_2");
        let first = fresh(d.claim("r", k, T).await);
        let d2 = d.clone();
        let second = tokio::spawn(async move { d2.claim("r", k, WAKE).await });
        tokio::task::yield_now().await;
        assert!(
            !second.is_finished(),
            "the second claim must wait for the first"
        );
        first.commit(T);
        assert!(matches!(second.await.unwrap(), Ok(Claim::Duplicate)));
    }

    /// Waiters are woken by the settling claim, not by their own timeout: a lost wake-up would turn
    /// these into `StillInFlight` after `WAKE`.
    const WAKE: Duration = Duration::from_secs(5);

    #[tokio::test]
    async fn every_waiting_duplicate_wakes_when_the_first_commits() {
        let d = dedupe(100);
        let k = one("evt_many");
        let first = fresh(d.claim("r", k, WAKE).await);
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let d = d.clone();
                tokio::spawn(async move { d.claim("r", k, WAKE).await })
            })
            .collect();
        tokio::task::yield_now().await;
        let started = Instant::now();
        first.commit(T);
        for w in waiters {
            assert!(matches!(w.await.unwrap(), Ok(Claim::Duplicate)));
        }
        assert!(
            started.elapsed() < WAKE / 2,
            "woken by the timeout, not the commit"
        );
        assert!(d.inner.in_flight.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_concurrent_duplicate_takes_over_when_the_first_fails() {
        let d = dedupe(100);
        let k = one("evt_3");
        let first = fresh(d.claim("r", k, T).await);
        let d2 = d.clone();
        let second = tokio::spawn(async move {
            d2.claim("r", k, WAKE)
                .await
                .map(|c| matches!(c, Claim::Fresh(_)))
        });
        tokio::task::yield_now().await;
        drop(first);
        assert_eq!(second.await.unwrap(), Ok(true));
    }

    #[tokio::test]
    async fn waiting_is_bounded() {
        let d = dedupe(100);
        let k = one("evt_4");
        let _first = fresh(d.claim("r", k, T).await);
        let r = d.claim("r", k, Duration::from_millis(20)).await;
        assert!(matches!(r, Err(StillInFlight)));
    }

    #[tokio::test]
    async fn a_full_route_forgets_its_oldest_and_never_another_routes_events() {
        let d = dedupe(10);
        let theirs = one("theirs");
        fresh(d.claim("other", theirs, T).await).commit(T);
        for i in 0..200 {
            fresh(d.claim("r", one(&i.to_string()), T).await).commit(T);
        }
        let stats = d.per_route();
        let r = stats.iter().find(|s| &*s.route == "r").unwrap();
        assert_eq!(r.entries, 10);
        assert_eq!(r.evicted, 190);
        assert!((190..200).all(|i| d.is_delivered("r", &one(&i.to_string()).id)));
        assert!(
            d.is_delivered("other", &theirs.id),
            "another route's memory is untouched"
        );
    }

    #[tokio::test]
    async fn reconfiguring_keeps_the_memory_of_routes_that_stay() {
        let d = dedupe(100);
        fresh(d.claim("r", one("kept"), T).await).commit(T);
        fresh(d.claim("other", one("gone"), T).await).commit(T);
        d.configure(&[(Arc::from("r"), 50)]);
        assert!(d.is_delivered("r", &one("kept").id));
        assert_eq!(d.per_route().len(), 1);
    }
}
