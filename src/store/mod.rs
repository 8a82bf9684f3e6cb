//! The store: where accepted events wait for delivery, and where delivered ones are remembered.
//!
//! One interface (`Store`) in front of the engines: `embedded` (redb, the default: a file in the data
//! directory, no other service) and `memory` (nothing on disk: direct mode only, for tests and for
//! measuring the gateway without a store). Each engine offers the same operations:
//! - `seen`: whether an event's dedupe keys are remembered as delivered;
//! - `accept`: store an accepted event, its dedupe keys and its first delivery in one commit, and
//!   answer only once that commit is durable (queued mode);
//! - `remember`: store the dedupe keys of an event delivered in direct mode;
//! - `attempt`, `replay`: record a delivery attempt's outcome, queue stored events again;
//! - reads for the event list, an event's detail, and the queue at start.
//!
//! This module knows nothing about HTTP, vendors or verification.

pub mod codec;
pub mod embedded;
pub mod redis;

pub use codec::{Attempt, EnvelopeRecord, EventRecord, Outcome, State, Summary};
pub use embedded::{CommitObserver, Embedded, Limits};

use crate::replay::EventKey;

/// A stored event's number: increasing in the order events were accepted.
pub type Seq = u64;

/// An accepted event, ready to be stored.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub record: EventRecord,
    /// The keys it is remembered under, and until when (Unix milliseconds).
    pub keys: Vec<EventKey>,
    pub remember_until_ms: u64,
}

/// Which events to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub route: Option<String>,
    pub state: Option<State>,
    pub since_ms: Option<u64>,
    pub until_ms: Option<u64>,
    /// Part of the vendor's event id.
    pub id: Option<String>,
    /// Part of the event type.
    pub kind: Option<String>,
    /// Only events accepted before this one (a page's cursor).
    pub before: Option<Seq>,
    pub limit: usize,
}

impl Filter {
    /// Whether an event passes every filter but `since_ms`, which lists newest first stop at.
    pub fn matches(&self, s: &Summary) -> bool {
        self.until_ms.is_none_or(|until| s.received_ms <= until)
            && self.state.is_none_or(|st| st == s.state)
            && self.route.as_deref().is_none_or(|r| r == s.route)
            && self.id.as_deref().is_none_or(|id| s.id.contains(id))
            && self
                .kind
                .as_deref()
                .is_none_or(|k| s.kind.as_deref().unwrap_or("").contains(k))
    }
}

/// One event of a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub seq: Seq,
    pub summary: Summary,
}

/// What a store can fail with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("the event is already stored")]
    Duplicate,
    #[error("the store is full (store.max_size)")]
    Full,
    #[error("the store cannot write: {0}")]
    Unavailable(String),
    #[error("the store is closed")]
    Closed,
    #[error("no such event")]
    NotFound,
    #[error("{0}")]
    Open(String),
    #[error(transparent)]
    Decode(#[from] codec::DecodeError),
    #[error("this store keeps no events (store.kind = \"memory\")")]
    Unsupported,
}

/// Figures for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreStats {
    pub used_bytes: u64,
    pub file_bytes: u64,
    pub commits: u64,
    pub committed_writes: u64,
    pub commit_micros: u64,
    pub full: bool,
    pub failing: bool,
}

/// What holding an event's dedupe keys found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    /// Nobody has the event: it is held for this delivery until stored, remembered or released.
    Held,
    /// It was stored or delivered already.
    Done,
    /// Another process is delivering it right now (shared stores only).
    Busy,
}

/// What an attempt needs to give back to the store when it is recorded: for a shared queue, the
/// queue entry it took.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lease {
    pub entry: Option<String>,
}

/// The configured engine.
#[derive(Clone)]
pub enum Store {
    /// Remembers nothing beyond the process's dedupe memory; accepts nothing.
    Memory,
    Embedded(Embedded),
    Redis(Box<redis::Redis>),
}

macro_rules! engines {
    ($self:ident, $memory:expr, |$e:ident| $body:expr) => {
        match $self {
            Store::Memory => $memory,
            Store::Embedded($e) => $body,
            Store::Redis($e) => $body,
        }
    };
}

impl Store {
    /// Whether the store keeps events (queued mode is possible).
    pub fn durable(&self) -> bool {
        !matches!(self, Store::Memory)
    }

    /// Whether several processes share the store, so that the delivery workers take their work
    /// from it rather than from a queue of their own.
    pub fn shared(&self) -> bool {
        matches!(self, Store::Redis(_))
    }

    /// Holds an event's keys for one delivery, for `for_ms`: answers `Done` when one is remembered
    /// as delivered, `Busy` when another process holds one.
    pub async fn hold(&self, keys: &[EventKey], for_ms: u64) -> Result<Hold, StoreError> {
        match self {
            Store::Memory => Ok(Hold::Held),
            // One process owns an embedded store: its in-memory claims already keep deliveries of
            // an event apart, so a hold is a lookup.
            Store::Embedded(e) => Ok(if e.seen(keys)? {
                Hold::Done
            } else {
                Hold::Held
            }),
            Store::Redis(r) => r.hold(keys, for_ms).await,
        }
    }

    /// Lets go of a hold whose delivery failed, so that the vendor's retry goes through at once.
    pub async fn release(&self, keys: &[EventKey]) {
        if let Store::Redis(r) = self {
            r.release(keys).await;
        }
    }

    pub async fn accept(&self, event: NewEvent) -> Result<Seq, StoreError> {
        engines!(self, Err(StoreError::Unsupported), |e| e
            .accept(event)
            .await)
    }

    pub async fn remember(&self, keys: Vec<EventKey>, until_ms: u64) -> Result<(), StoreError> {
        engines!(self, Ok(()), |e| e.remember(keys, until_ms).await)
    }

    pub async fn attempt(
        &self,
        seq: Seq,
        attempt: Attempt,
        lease: &Lease,
    ) -> Result<(), StoreError> {
        match self {
            Store::Memory => Err(StoreError::Unsupported),
            Store::Embedded(e) => e.attempt(seq, attempt).await,
            Store::Redis(r) => r.attempt(seq, attempt, lease).await,
        }
    }

    /// Queues stored events again; returns those that exist, with their routes.
    pub async fn replay(&self, seqs: Vec<Seq>) -> Result<Vec<(Seq, String)>, StoreError> {
        match self {
            Store::Memory => Err(StoreError::Unsupported),
            Store::Embedded(e) => {
                let mut out = Vec::new();
                for seq in e.replay(seqs).await? {
                    if let Some(s) = e.summary(seq).await? {
                        out.push((seq, s.route));
                    }
                }
                Ok(out)
            }
            Store::Redis(r) => r.replay(seqs).await,
        }
    }

    pub async fn event(&self, seq: Seq) -> Result<Option<EventRecord>, StoreError> {
        engines!(self, Ok(None), |e| e.event(seq).await)
    }

    pub async fn summary(&self, seq: Seq) -> Result<Option<Summary>, StoreError> {
        engines!(self, Ok(None), |e| e.summary(seq).await)
    }

    pub async fn attempts(&self, seq: Seq) -> Result<Vec<Attempt>, StoreError> {
        engines!(self, Ok(Vec::new()), |e| e.attempts(seq).await)
    }

    pub async fn find(&self, route: &str, id: &str) -> Result<Option<Seq>, StoreError> {
        engines!(self, Ok(None), |e| e.find(route, id).await)
    }

    /// Every queued event of a store one process owns (read at start to schedule them).
    pub fn queued(&self) -> Result<Vec<(Seq, String, u64)>, StoreError> {
        match self {
            Store::Embedded(e) => e.queued(),
            Store::Memory | Store::Redis(_) => Ok(Vec::new()),
        }
    }

    pub async fn list(&self, filter: &Filter) -> Result<Vec<Listed>, StoreError> {
        engines!(self, Ok(Vec::new()), |e| e.list(filter).await)
    }

    pub async fn counts(&self) -> Result<Vec<(String, State, u64)>, StoreError> {
        engines!(self, Ok(Vec::new()), |e| e.counts().await)
    }

    pub async fn oldest_queued(&self) -> Result<Vec<(String, u64)>, StoreError> {
        engines!(self, Ok(Vec::new()), |e| e.oldest_queued().await)
    }

    pub fn stats(&self) -> StoreStats {
        engines!(self, StoreStats::default(), |e| e.stats())
    }
}
