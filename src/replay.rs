//! Replay protection: the timestamp window and the memory of delivered events.
//!
//! A captured delivery replayed later is either older than the route's tolerance (rejected by
//! `check_window`) or still remembered as delivered (answered as a duplicate by `Dedupe`), which is why
//! the configuration insists on `dedupe_ttl >= tolerance`.
//!
//! `Dedupe` remembers an event only once the upstream accepted it: a delivery first *claims* its key,
//! the claim is *committed* when the upstream answers 2xx and *released* (by dropping it) otherwise, so
//! a vendor's retry after a failure is forwarded again. A second delivery of a key that is claimed but
//! not yet settled waits for the first to settle instead of being forwarded alongside it.
//!
//! Keys are a fixed-size hash of route and event id, so memory per remembered event does not depend on
//! how long vendors make their ids. The store is `quick_cache` (about 90 bytes per remembered event,
//! against 320–370 with moka, measured; see BENCHMARKS.md), holding each event's own expiry as its value:
//! an expired entry counts as absent and is removed when met. When the memory is full, the entries
//! evicted are those least likely to be asked about again (its S3-FIFO-like policy: events seen once,
//! oldest first). This module knows nothing about HTTP or vendors.

use jiff::{SignedDuration, Timestamp};
use quick_cache::sync::Cache;
use quick_cache::{Lifecycle, UnitWeighter};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
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

/// The dedupe key of an event: 128 bits of SHA-256 over the route name and the event id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EventKey(u128);

impl EventKey {
    pub fn new(route: &str, id: &str) -> EventKey {
        let mut h = Sha256::new();
        // The length prefix keeps ("ab", "c") and ("a", "bc") apart.
        h.update((route.len() as u64).to_le_bytes());
        h.update(route.as_bytes());
        h.update(id.as_bytes());
        let digest = h.finalize();
        let mut first = [0u8; 16];
        first.copy_from_slice(&digest[..16]);
        EventKey(u128::from_le_bytes(first))
    }
}

/// Hashes an `EventKey` by taking 64 of its bits: they are already uniform (SHA-256 output), so
/// hashing them again with SipHash would only cost time. Only verified events are claimed, so a sender
/// without the route's secret cannot choose keys to crowd one bucket.
#[derive(Default)]
struct KeyBits(u64);

impl Hasher for KeyBits {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Not reached for `EventKey` (its `Hash` writes one u128); kept correct for any other input.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u128(&mut self, n: u128) {
        self.0 = n as u64;
    }
}

/// Claimed but not yet settled keys. A key's value is created only when a second delivery of it waits
/// (rare), so the usual claim allocates nothing here.
type InFlight = HashMap<EventKey, Option<Arc<Notify>>, BuildHasherDefault<KeyBits>>;

/// Milliseconds on the dedupe memory's own monotonic clock.
#[derive(Debug)]
struct Clock(Instant);

impl Clock {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.0.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

/// What the store needs to say about evictions, shared with its lifecycle hook.
#[derive(Debug)]
struct Evictions {
    clock: Clock,
    /// Entries forgotten before their expiry because the memory was full.
    early: AtomicU64,
    last_warning: Mutex<Option<Instant>>,
}

impl Evictions {
    fn note(&self) {
        let total = self.early.fetch_add(1, Ordering::Relaxed) + 1;
        let mut last = self.last_warning.lock().unwrap_or_else(|p| p.into_inner());
        let due = last.is_none_or(|t| t.elapsed() >= Duration::from_secs(60));
        if due {
            *last = Some(Instant::now());
            tracing::warn!(
                evicted_total = total,
                "dedupe memory is full: delivered events are being forgotten before their dedupe_ttl, \
                 which reopens their replay window; raise server.dedupe_capacity"
            );
        }
    }
}

/// Counts evictions of entries that had not expired yet.
#[derive(Clone)]
struct CountEvictions(Arc<Evictions>);

impl Lifecycle<EventKey, u64> for CountEvictions {
    type RequestState = ();

    fn begin_request(&self) {}

    fn on_evict(&self, _state: &mut (), _key: EventKey, expires_ms: u64) {
        if expires_ms > self.0.clock.now_ms() {
            self.0.note();
        }
    }
}

type Store = Cache<EventKey, u64, UnitWeighter, quick_cache::DefaultHashBuilder, CountEvictions>;

/// What claiming an event key found.
pub enum Claim {
    /// Nobody has delivered this event: forward it, then commit or drop the guard.
    Fresh(ClaimGuard),
    /// The event was already delivered within its `dedupe_ttl`.
    Duplicate,
}

/// Another delivery of the same event is still being forwarded and did not settle in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("another delivery of this event is still being forwarded")]
pub struct StillInFlight;

struct Inner {
    /// Delivered events and when each is forgotten (milliseconds on `evictions.clock`).
    delivered: Store,
    /// Claimed but not yet settled keys, and what their waiters wait on.
    in_flight: Mutex<InFlight>,
    evictions: Arc<Evictions>,
}

impl Inner {
    /// Whether `key` was delivered and is still remembered; an expired entry is removed.
    fn delivered(&self, key: &EventKey) -> bool {
        match self.delivered.get(key) {
            Some(expires) if expires > self.evictions.clock.now_ms() => true,
            Some(_) => {
                self.delivered.remove(key);
                false
            }
            None => false,
        }
    }
}

/// The bounded memory of delivered events, shared by all routes and kept across reloads.
#[derive(Clone)]
pub struct Dedupe {
    inner: Arc<Inner>,
}

impl Dedupe {
    /// `capacity` is the number of remembered events; beyond it the least useful entries are evicted
    /// early, which reopens the replay window for them, so evictions are counted and warned about.
    pub fn new(capacity: u64) -> Dedupe {
        let evictions = Arc::new(Evictions {
            clock: Clock(Instant::now()),
            early: AtomicU64::new(0),
            last_warning: Mutex::new(None),
        });
        let items = usize::try_from(capacity).unwrap_or(usize::MAX);
        let delivered = Cache::with(
            items,
            capacity,
            UnitWeighter,
            quick_cache::DefaultHashBuilder::default(),
            CountEvictions(evictions.clone()),
        );
        Dedupe {
            inner: Arc::new(Inner {
                delivered,
                in_flight: Mutex::new(InFlight::default()),
                evictions,
            }),
        }
    }

    /// Claims `key` for forwarding. If another delivery of it is in flight, waits up to `wait` for that
    /// one to settle: if it was delivered this answers `Duplicate`, if it failed this claims afresh.
    pub async fn claim(
        &self,
        key: EventKey,
        ttl: Duration,
        wait: Duration,
    ) -> Result<Claim, StillInFlight> {
        // Read the clock only if there is a wait.
        let mut deadline = None;
        loop {
            let notify: Arc<Notify>;
            let settled = {
                let mut in_flight = self
                    .inner
                    .in_flight
                    .lock()
                    .unwrap_or_else(|p| p.into_inner());
                // Checked under the lock: a commit inserts here before it leaves `in_flight`.
                if self.inner.delivered(&key) {
                    return Ok(Claim::Duplicate);
                }
                match in_flight.entry(key) {
                    std::collections::hash_map::Entry::Vacant(slot) => {
                        slot.insert(None);
                        return Ok(Claim::Fresh(ClaimGuard {
                            inner: self.inner.clone(),
                            key,
                            ttl,
                        }));
                    }
                    std::collections::hash_map::Entry::Occupied(mut slot) => {
                        notify = slot
                            .get_mut()
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

    /// Whether `key` is remembered as delivered.
    pub fn is_delivered(&self, key: &EventKey) -> bool {
        self.inner.delivered(key)
    }

    /// Remembered events (expired ones not yet met included).
    pub fn len(&self) -> u64 {
        self.inner.delivered.len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Events forgotten before their time because the memory was full.
    pub fn evictions(&self) -> u64 {
        self.inner.evictions.early.load(Ordering::Relaxed)
    }
}

/// A claimed event key. `commit` remembers the event as delivered; dropping the guard without committing
/// releases the claim so the vendor's retry is forwarded. Either way, waiting duplicates wake up.
pub struct ClaimGuard {
    inner: Arc<Inner>,
    key: EventKey,
    ttl: Duration,
}

impl ClaimGuard {
    pub fn commit(self) {
        let ttl_ms = u64::try_from(self.ttl.as_millis()).unwrap_or(u64::MAX);
        let expires = self.inner.evictions.clock.now_ms().saturating_add(ttl_ms);
        self.inner.delivered.insert(self.key, expires);
        // Drop runs next and leaves `in_flight`, which wakes the waiters.
    }
}

impl Drop for ClaimGuard {
    fn drop(&mut self) {
        let waiters = self
            .inner
            .in_flight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.key)
            .flatten();
        if let Some(waiters) = waiters {
            waiters.notify_waiters();
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
    fn keys_separate_routes_and_ids() {
        assert_eq!(EventKey::new("a", "1"), EventKey::new("a", "1"));
        assert_ne!(EventKey::new("a", "1"), EventKey::new("b", "1"));
        assert_ne!(EventKey::new("ab", "c"), EventKey::new("a", "bc"));
    }

    fn fresh(c: Result<Claim, StillInFlight>) -> ClaimGuard {
        match c {
            Ok(Claim::Fresh(g)) => g,
            Ok(Claim::Duplicate) => panic!("expected a fresh claim, got a duplicate"),
            Err(e) => panic!("expected a fresh claim, got {e}"),
        }
    }

    #[tokio::test]
    async fn committed_event_is_a_duplicate_and_released_one_is_fresh_again() {
        let d = Dedupe::new(100);
        let k = EventKey::new("r", "evt_1");
        let g = fresh(d.claim(k, T, T).await);
        drop(g); // upstream failed: released
        let g = fresh(d.claim(k, T, T).await);
        g.commit();
        assert!(matches!(d.claim(k, T, T).await, Ok(Claim::Duplicate)));
        assert!(d.is_delivered(&k));
    }

    #[tokio::test]
    async fn a_concurrent_duplicate_waits_for_the_first_and_becomes_a_duplicate() {
        let d = Dedupe::new(100);
        let k = EventKey::new("r", "evt_2");
        let first = fresh(d.claim(k, T, T).await);
        let d2 = d.clone();
        let second = tokio::spawn(async move { d2.claim(k, T, WAKE).await });
        tokio::task::yield_now().await;
        assert!(
            !second.is_finished(),
            "the second claim must wait for the first"
        );
        first.commit();
        assert!(matches!(second.await.unwrap(), Ok(Claim::Duplicate)));
    }

    /// Waiters are woken by the settling claim, not by their own timeout: a lost wake-up would turn
    /// these into `StillInFlight` after `WAKE`.
    const WAKE: Duration = Duration::from_secs(5);

    #[tokio::test]
    async fn every_waiting_duplicate_wakes_when_the_first_commits() {
        let d = Dedupe::new(100);
        let k = EventKey::new("r", "evt_many");
        let first = fresh(d.claim(k, T, WAKE).await);
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let d = d.clone();
                tokio::spawn(async move { d.claim(k, T, WAKE).await })
            })
            .collect();
        tokio::task::yield_now().await;
        let started = Instant::now();
        first.commit();
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
        let d = Dedupe::new(100);
        let k = EventKey::new("r", "evt_3");
        let first = fresh(d.claim(k, T, T).await);
        let d2 = d.clone();
        let second = tokio::spawn(async move {
            d2.claim(k, T, WAKE)
                .await
                .map(|c| matches!(c, Claim::Fresh(_)))
        });
        tokio::task::yield_now().await;
        drop(first);
        assert_eq!(second.await.unwrap(), Ok(true));
    }

    #[tokio::test]
    async fn waiting_is_bounded() {
        let d = Dedupe::new(100);
        let k = EventKey::new("r", "evt_4");
        let _first = fresh(d.claim(k, T, T).await);
        let r = d.claim(k, T, Duration::from_millis(20)).await;
        assert!(matches!(r, Err(StillInFlight)));
    }

    #[tokio::test]
    async fn entries_expire_after_their_own_ttl() {
        let d = Dedupe::new(100);
        let short = EventKey::new("r", "short");
        let long = EventKey::new("r", "long");
        fresh(d.claim(short, Duration::from_millis(50), T).await).commit();
        fresh(d.claim(long, T, T).await).commit();
        tokio::time::sleep(Duration::from_millis(120)).await;
        assert!(!d.is_delivered(&short));
        assert!(d.is_delivered(&long));
    }

    #[tokio::test]
    async fn capacity_evictions_are_counted() {
        let d = Dedupe::new(10);
        for i in 0..200 {
            let k = EventKey::new("r", &i.to_string());
            fresh(d.claim(k, T, T).await).commit();
        }
        assert!(d.len() <= 10, "len {}", d.len());
        assert!(d.evictions() >= 150, "evictions {}", d.evictions());
    }
}
