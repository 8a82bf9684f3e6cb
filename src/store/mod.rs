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

/// The configured engine.
#[derive(Clone)]
pub enum Store {
    /// Remembers nothing beyond the process's dedupe memory; accepts nothing.
    Memory,
    Embedded(Embedded),
}

impl Store {
    /// Whether the store keeps events (queued mode is possible).
    pub fn durable(&self) -> bool {
        !matches!(self, Store::Memory)
    }

    pub fn seen(&self, keys: &[EventKey]) -> Result<bool, StoreError> {
        match self {
            Store::Memory => Ok(false),
            Store::Embedded(e) => e.seen(keys),
        }
    }

    pub async fn accept(&self, event: NewEvent) -> Result<Seq, StoreError> {
        match self {
            Store::Memory => Err(StoreError::Unsupported),
            Store::Embedded(e) => e.accept(event).await,
        }
    }

    pub async fn remember(&self, keys: Vec<EventKey>, until_ms: u64) -> Result<(), StoreError> {
        match self {
            Store::Memory => Ok(()),
            Store::Embedded(e) => e.remember(keys, until_ms).await,
        }
    }

    pub async fn attempt(&self, seq: Seq, attempt: Attempt) -> Result<(), StoreError> {
        match self {
            Store::Memory => Err(StoreError::Unsupported),
            Store::Embedded(e) => e.attempt(seq, attempt).await,
        }
    }

    pub async fn replay(&self, seqs: Vec<Seq>) -> Result<Vec<Seq>, StoreError> {
        match self {
            Store::Memory => Err(StoreError::Unsupported),
            Store::Embedded(e) => e.replay(seqs).await,
        }
    }

    pub async fn sweep(&self) {
        if let Store::Embedded(e) = self {
            e.sweep().await;
        }
    }

    pub fn event(&self, seq: Seq) -> Result<Option<EventRecord>, StoreError> {
        match self {
            Store::Memory => Ok(None),
            Store::Embedded(e) => e.event(seq),
        }
    }

    pub fn summary(&self, seq: Seq) -> Result<Option<Summary>, StoreError> {
        match self {
            Store::Memory => Ok(None),
            Store::Embedded(e) => e.summary(seq),
        }
    }

    pub fn attempts(&self, seq: Seq) -> Result<Vec<Attempt>, StoreError> {
        match self {
            Store::Memory => Ok(Vec::new()),
            Store::Embedded(e) => e.attempts(seq),
        }
    }

    pub fn find(&self, route: &str, id: &str) -> Result<Option<Seq>, StoreError> {
        match self {
            Store::Memory => Ok(None),
            Store::Embedded(e) => e.find(route, id),
        }
    }

    pub fn queued(&self) -> Result<Vec<(Seq, String, u64)>, StoreError> {
        match self {
            Store::Memory => Ok(Vec::new()),
            Store::Embedded(e) => e.queued(),
        }
    }

    pub fn list(&self, filter: &Filter) -> Result<Vec<Listed>, StoreError> {
        match self {
            Store::Memory => Ok(Vec::new()),
            Store::Embedded(e) => e.list(filter),
        }
    }

    pub fn counts(&self) -> Result<Vec<(String, State, u64)>, StoreError> {
        match self {
            Store::Memory => Ok(Vec::new()),
            Store::Embedded(e) => e.counts(),
        }
    }

    pub fn oldest_queued(&self) -> Result<Vec<(String, u64)>, StoreError> {
        match self {
            Store::Memory => Ok(Vec::new()),
            Store::Embedded(e) => e.oldest_queued(),
        }
    }

    pub fn stats(&self) -> StoreStats {
        match self {
            Store::Memory => StoreStats::default(),
            Store::Embedded(e) => e.stats(),
        }
    }
}
