//! Admission: how many requests the gateway handles at once, and how much of that one client may take.
//!
//! A request holds a place from its first byte to its settled delivery. Places are counted in two
//! pools: requests still receiving their body (`max_receiving`), which a slow or stalling sender can
//! hold cheaply, and requests that were read and are being delivered (`max_in_flight`). A request
//! moves from the first pool to the second once its body is in. On top of both, one client address
//! (an IPv6 client by its /64) holds at most `max_in_flight_per_client` places, so one sender cannot
//! lock every vendor out. Nothing waits for a place: a request without one is refused at once, and a
//! place is given back the moment its request ends, whether it finished or its connection went away.
//! This module knows nothing about HTTP, routes or vendors.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// The bounds, from `[server]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    pub receiving: usize,
    pub in_flight: usize,
    pub per_client: usize,
}

/// Why a request was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Full {
    /// Every place of the pool is taken.
    Gateway,
    /// This client holds its whole share.
    Client,
}

/// Counts places up to a bound. It is only ever tried, never waited on, so an atomic counter does
/// the job; tokio's semaphore would take a lock on every release (2% of a forwarded request's CPU
/// time, measured with perf).
#[derive(Debug)]
struct Pool {
    used: AtomicUsize,
    max: usize,
}

impl Pool {
    fn try_take(&self) -> bool {
        if self.used.fetch_add(1, Ordering::Relaxed) >= self.max {
            self.used.fetch_sub(1, Ordering::Relaxed);
            return false;
        }
        true
    }

    fn give(&self) {
        self.used.fetch_sub(1, Ordering::Relaxed);
    }

    fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed).min(self.max)
    }
}

/// Whose share a place counts against: an IPv4 address, or the /64 of an IPv6 one (a single host
/// is routinely given a whole /64).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum ClientKey {
    V4(u32),
    V6(u64),
}

impl ClientKey {
    fn of(ip: IpAddr) -> ClientKey {
        match ip.to_canonical() {
            IpAddr::V4(v4) => ClientKey::V4(u32::from(v4)),
            IpAddr::V6(v6) => ClientKey::V6((u128::from(v6) >> 64) as u64),
        }
    }
}

#[derive(Debug)]
struct Inner {
    receiving: Pool,
    in_flight: Pool,
    per_client: usize,
    clients: Mutex<HashMap<ClientKey, usize>>,
}

/// The gateway's places, shared by all connections.
#[derive(Debug, Clone)]
pub struct Admission {
    inner: Arc<Inner>,
}

impl Admission {
    pub fn new(bounds: Bounds) -> Admission {
        Admission {
            inner: Arc::new(Inner {
                receiving: Pool {
                    used: AtomicUsize::new(0),
                    max: bounds.receiving.max(1),
                },
                in_flight: Pool {
                    used: AtomicUsize::new(0),
                    max: bounds.in_flight.max(1),
                },
                per_client: bounds.per_client.max(1),
                clients: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// A place for a request from `client` that is about to receive its body.
    pub fn receive(&self, client: IpAddr) -> Result<Place, Full> {
        let key = ClientKey::of(client);
        {
            let mut clients = self.inner.clients.lock().unwrap_or_else(|p| p.into_inner());
            let held = clients.entry(key).or_insert(0);
            if *held >= self.inner.per_client {
                return Err(Full::Client);
            }
            *held += 1;
        }
        // Dropping the place gives the client's count back, and the pool's once it holds one.
        let mut place = Place {
            inner: self.inner.clone(),
            client: key,
            stage: Stage::None,
        };
        if !self.inner.receiving.try_take() {
            return Err(Full::Gateway);
        }
        place.stage = Stage::Receiving;
        Ok(place)
    }

    /// Requests receiving their body now.
    pub fn receiving(&self) -> usize {
        self.inner.receiving.used()
    }

    /// Requests being delivered now.
    pub fn in_flight(&self) -> usize {
        self.inner.in_flight.used()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    None,
    Receiving,
    InFlight,
}

/// One request's place, given back when dropped.
#[derive(Debug)]
pub struct Place {
    inner: Arc<Inner>,
    client: ClientKey,
    stage: Stage,
}

impl Place {
    /// Moves a request whose body has arrived from the receiving pool to the delivering one.
    pub fn deliver(mut self) -> Result<Place, Full> {
        debug_assert_eq!(self.stage, Stage::Receiving);
        if !self.inner.in_flight.try_take() {
            return Err(Full::Gateway);
        }
        self.inner.receiving.give();
        self.stage = Stage::InFlight;
        Ok(self)
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        match self.stage {
            Stage::None => {}
            Stage::Receiving => self.inner.receiving.give(),
            Stage::InFlight => self.inner.in_flight.give(),
        }
        let mut clients = self.inner.clients.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(held) = clients.get_mut(&self.client) {
            *held -= 1;
            if *held == 0 {
                clients.remove(&self.client);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn admission(receiving: usize, in_flight: usize, per_client: usize) -> Admission {
        Admission::new(Bounds {
            receiving,
            in_flight,
            per_client,
        })
    }

    #[test]
    fn places_are_bounded_per_pool_and_freed_on_drop() {
        let a = admission(2, 1, 10);
        let x = a.receive(ip("192.0.2.1")).unwrap();
        let y = a.receive(ip("192.0.2.2")).unwrap();
        assert_eq!(a.receive(ip("192.0.2.3")).unwrap_err(), Full::Gateway);
        assert_eq!(a.receiving(), 2, "a refused attempt leaves no trace");
        let x = x.deliver().unwrap();
        assert_eq!((a.receiving(), a.in_flight()), (1, 1));
        // The delivering pool is full: the second body-complete request is refused, and its place
        // in the receiving pool is freed with it.
        assert_eq!(y.deliver().unwrap_err(), Full::Gateway);
        assert_eq!(a.receiving(), 0);
        drop(x);
        assert_eq!(a.in_flight(), 0);
        assert!(a.inner.clients.lock().unwrap().is_empty());
    }

    #[test]
    fn one_client_holds_at_most_its_share_and_others_are_unaffected() {
        let a = admission(100, 100, 3);
        let held: Vec<_> = (0..3)
            .map(|_| a.receive(ip("192.0.2.9")).unwrap())
            .collect();
        assert_eq!(a.receive(ip("192.0.2.9")).unwrap_err(), Full::Client);
        assert!(a.receive(ip("198.51.100.1")).is_ok());
        drop(held);
        assert!(a.receive(ip("192.0.2.9")).is_ok(), "the share is back");
    }

    #[test]
    fn an_ipv6_client_is_its_slash_64_and_mapped_ipv4_is_ipv4() {
        let a = admission(100, 100, 1);
        let _x = a.receive(ip("2001:db8::1")).unwrap();
        assert_eq!(a.receive(ip("2001:db8::2")).unwrap_err(), Full::Client);
        assert!(a.receive(ip("2001:db8:0:1::1")).is_ok());
        let _y = a.receive(ip("192.0.2.1")).unwrap();
        assert_eq!(a.receive(ip("::ffff:192.0.2.1")).unwrap_err(), Full::Client);
    }
}
