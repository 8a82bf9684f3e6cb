//! The embedded store: one redb file in the data directory, opened by one process at a time.
//!
//! Writes go through one writer thread that commits whatever is waiting in one transaction (group
//! commit): with 64 connections accepting at once, one fsync covers a batch of events instead of one
//! each. A caller is answered only after the commit that holds its write returned, so nothing is
//! acknowledged before its fsync. Reads (dedupe lookups, the event list) open their own read
//! transaction on any thread: redb's readers see the last commit and never wait for the writer.
//!
//! The event, its dedupe keys and its delivery state are written in one transaction, so a dedupe
//! record never exists without its event. Retention, expired dedupe records and the size bound are
//! kept by the writer thread between batches.
//!
//! A key remembered by a commit that carries several (`JOURNAL_FROM`) is written to the
//! `dedupe_fresh` journal (keyed by a counter, so every
//! commit appends to one page) and to an in-memory index of that journal, not into the `dedupe`
//! table, whose keys are hashes: one random insert per event dirtied a page of its own in every
//! commit, and writing that page was the largest cost of a direct delivery. When the journal
//! holds `FOLD_AT` keys, the writer folds it into `dedupe` in key order, `FOLD_CHUNK` keys per
//! commit, so that each page of `dedupe` is written once per fold instead of once per key. A
//! lookup asks the index, then `dedupe`; the index is rebuilt from the journal at start.
//!
//! The index from (route, event id) to an event, for the admin API's lookup by vendor id, rides on
//! the same journal: an event's id key carries its seq in its journal row, and the fold moves it
//! into `event_keys` in key order beside `dedupe`. A table keyed by the vendor's id itself (`ids`,
//! which builds before 2026-12-06 wrote) took a random insert per event, a leaf page of its own in
//! every commit; realistic ids cost queued mode a fifth of its throughput that way.

use super::codec::{self, Attempt, EventRecord, Outcome, State, Summary};
use super::{Filter, Listed, NewEvent, Seq, StoreError, StoreStats};
use crate::replay::EventKey;
use redb::{
    Database, ReadTransaction, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction,
};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use writer::Writer;

mod writer;

/// seq → the event as received and as forwarded (written once).
const EVENTS: TableDefinition<u64, &[u8]> = TableDefinition::new("events");
/// seq → its summary (state, attempts, next attempt).
const SUMMARIES: TableDefinition<u64, &[u8]> = TableDefinition::new("summaries");
/// (seq, attempt number) → the attempt.
const ATTEMPTS: TableDefinition<(u64, u32), &[u8]> = TableDefinition::new("attempts");
/// (route, event id) → seq, as builds before 2026-12-06 wrote it: still read by `find` for their
/// events, and emptied by the sweep as they go.
const IDS: TableDefinition<(&str, &str), u64> = TableDefinition::new("ids");
/// (route, seq) for listing one route's events newest first.
const BY_ROUTE: TableDefinition<(&str, u64), ()> = TableDefinition::new("by_route");
/// (route, seq) of dead-lettered events.
const DEAD: TableDefinition<(&str, u64), ()> = TableDefinition::new("dead");
/// (due time, seq) of queued events.
const DUE: TableDefinition<(u64, u64), ()> = TableDefinition::new("due");
/// (removal time, seq) of delivered and dead events.
const RETENTION: TableDefinition<(u64, u64), ()> = TableDefinition::new("retention");
/// dedupe key → when it is forgotten.
const DEDUPE: TableDefinition<&[u8; 16], u64> = TableDefinition::new("dedupe");
/// journal number → dedupe key, when it is forgotten, and the seq of the event whose id key it is
/// (32 bytes; 0 for other keys; rows of earlier builds have 24 bytes and no seq, and earlier builds
/// read the first 24 of these): keys remembered since the last fold, appended in order; the
/// in-memory `Fresh` index holds the same.
const FRESH: TableDefinition<u64, &[u8]> = TableDefinition::new("dedupe_fresh");
/// (when forgotten, dedupe key), for dropping expired keys of `dedupe` without looking them up: a
/// journaled key gets its entry when its journal row is removed, after the fold.
const DEDUPE_EXPIRY: TableDefinition<(u64, &[u8; 16]), ()> = TableDefinition::new("dedupe_expiry");
/// id key (`EventKey::new(route, id)`) → the seq of the latest event with that id: written by the
/// fold (or at once by a commit that does not journal), removed by the sweep with its event.
const EVENT_KEYS: TableDefinition<&[u8; 16], u64> = TableDefinition::new("event_keys");
/// Counters that outlive the process ("next_seq").
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

/// The file inside the data directory.
pub const FILE: &str = "hookgate.redb";

/// Writes waiting for the writer thread at most; beyond this callers wait for room.
const QUEUE: usize = 65_536;
/// Writes committed in one transaction at most.
const MAX_BATCH: usize = 1024;
/// Expired events (and, apart, expired dedupe keys) removed per sweep at most, so that one sweep
/// holds the writer for a few milliseconds at most: 5 000 held it 20-40 ms each second, all of
/// the queued soak's p99 with a short retention. When more remain, the next commit sweeps again.
const SWEEP_LIMIT: usize = 200;
/// How often retention and expired dedupe keys are swept, and the size measured.
pub const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// Journal keys that start a fold into the `dedupe` table: a fold writes each page of `dedupe` at
/// most once per `FOLD_CHUNK` keys, so the more keys it carries, the less it writes per key (the
/// index costs about 50 bytes per key).
pub const FOLD_AT: usize = 16_384;
/// Keys a commit must carry for them to go to the journal: with fewer, each goes straight into
/// `dedupe` (at one key per commit the journal saves no page and adds the fold's work; measured
/// with `bench/instructions.py`, one connection: +4.8% per request).
const JOURNAL_FROM: usize = 4;
/// Keys folded per commit: consecutive in key order, so one commit touches a narrow part of the
/// table and holds the writer briefly. With 1,024 a commit carrying a chunk took 5-7 ms against 2-3
/// for the others (the chunk's seqs go to `event_keys` too), about one commit in twenty under the
/// queued benchmark, and set its acknowledgement p99: 256 lowered that p99 in each of 5 rounds
/// (median 13.3 ms against 24.3, `bench/run.py --baseline`); 64 was not clearly better again.
const FOLD_CHUNK: usize = 256;

/// The keys remembered since the last fold, by key. A key's bytes are already a keyed hash
/// (`EventKey`), so they are the bucket hash as they are (`KeyBits`).
type Fresh = Arc<
    std::sync::RwLock<
        std::collections::HashMap<
            [u8; 16],
            Journaled,
            std::hash::BuildHasherDefault<crate::replay::KeyBits>,
        >,
    >,
>;

/// A key's journal row, as the index holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Journaled {
    /// When the key is forgotten.
    until: u64,
    /// The row's journal number.
    n: u64,
    /// The event whose id key it is, or 0 (seqs start at 1).
    seq: Seq,
}

/// The `dedupe` table as of the last commit, opened by the writer for `seen()`: a lookup then
/// costs the B-tree's descent only, not a read transaction and the table's opening each. It is
/// opened again after every commit, before that commit's callers are answered, so no caller can
/// learn of a delivery that the table it reads lacks; and so that it holds back no more freed pages
/// from reuse than a reader of the last commit does (kept for a second, it cost queued mode 5-10%).
/// `None` while the file is being reopened.
type Snapshot = Arc<arc_swap::ArcSwapOption<redb::ReadOnlyTable<&'static [u8; 16], u64>>>;

/// A journal row: the key, when it is forgotten, and the seq of the event whose id key it is.
fn fresh_row(key: &[u8; 16], until: u64, seq: Seq) -> [u8; 32] {
    let mut row = [0u8; 32];
    row[..16].copy_from_slice(key);
    row[16..24].copy_from_slice(&until.to_be_bytes());
    row[24..].copy_from_slice(&seq.to_be_bytes());
    row
}

/// A journal row's key, time and seq; a row of 24 bytes (earlier builds) has no seq (0).
fn read_fresh_row(row: &[u8]) -> Option<([u8; 16], u64, Seq)> {
    let key: [u8; 16] = row.get(..16)?.try_into().ok()?;
    let until = u64::from_be_bytes(row.get(16..24)?.try_into().ok()?);
    let seq = match row.get(24..32) {
        Some(b) => u64::from_be_bytes(b.try_into().ok()?),
        None if row.len() == 24 => 0,
        None => return None,
    };
    Some((key, until, seq))
}

/// How long delivered and dead events are kept, and how large the store may grow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    pub retention: Duration,
    pub dead_retention: Duration,
    pub max_size: u64,
}

enum Op {
    Accept(Box<NewEvent>, oneshot::Sender<Result<Seq, StoreError>>),
    Remember(Vec<EventKey>, u64, oneshot::Sender<Result<(), StoreError>>),
    Attempt(Seq, Attempt, oneshot::Sender<Result<(), StoreError>>),
    Replay(Vec<Seq>, u64, oneshot::Sender<Result<Vec<Seq>, StoreError>>),
    Sweep(u64),
    /// The next chunk of a fold of the journal into `dedupe`, at this time.
    Fold(u64),
}

/// What the queue and the dead letters hold, per route, kept by the writer as it commits so that the
/// overview and the metrics never scan the store.
#[derive(Debug, Default)]
struct Tally {
    routes: std::collections::HashMap<String, RouteTally>,
}

#[derive(Debug, Default)]
struct RouteTally {
    /// Queued events (being attempted included): seq → when received. Seqs grow with time, so the
    /// first is the oldest.
    queued: std::collections::BTreeMap<Seq, u64>,
    dead: u64,
}

impl Tally {
    fn apply(&mut self, d: writer::Delta) {
        use writer::Delta;
        match d {
            Delta::Queued(route, seq, received) => {
                self.routes
                    .entry(route)
                    .or_default()
                    .queued
                    .insert(seq, received);
            }
            Delta::Settled(route, seq) => {
                if let Some(r) = self.routes.get_mut(&route) {
                    r.queued.remove(&seq);
                }
            }
            Delta::Dead(route, seq) => {
                let r = self.routes.entry(route).or_default();
                r.queued.remove(&seq);
                r.dead += 1;
            }
            Delta::Undead(route) | Delta::DeadGone(route) => {
                if let Some(r) = self.routes.get_mut(&route) {
                    r.dead = r.dead.saturating_sub(1);
                }
            }
        }
    }

    /// Reads the tally of a store as it is on disk.
    fn read(db: &Database) -> Result<Tally, StoreError> {
        let txn = db.begin_read().map_err(storage)?;
        let mut tally = Tally::default();
        let due = txn.open_table(DUE).map_err(storage)?;
        for row in due.iter().map_err(storage)? {
            let (k, _) = row.map_err(storage)?;
            let seq = k.value().1;
            if let Some(s) = read_summary(&txn, seq)? {
                tally.apply(writer::Delta::Queued(s.route, seq, s.received_ms));
            }
        }
        let dead = txn.open_table(DEAD).map_err(storage)?;
        for row in dead.iter().map_err(storage)? {
            let (k, _) = row.map_err(storage)?;
            tally
                .routes
                .entry(k.value().0.to_string())
                .or_default()
                .dead += 1;
        }
        Ok(tally)
    }
}

/// Told of every commit: how long it took (fsync included) and how many writes it held.
pub type CommitObserver = Arc<dyn Fn(Duration, usize) + Send + Sync>;

/// Health the request path reads without asking the writer.
#[derive(Debug, Default)]
struct Health {
    /// The bytes in use are over `max_size`: accepts are refused until retention frees space.
    full: AtomicBool,
    /// The last commit failed (disk full, I/O error): accepts are refused until one succeeds.
    failing: AtomicBool,
    used_bytes: AtomicU64,
    file_bytes: AtomicU64,
    commits: AtomicU64,
    committed_writes: AtomicU64,
    commit_micros: AtomicU64,
    last_error: Mutex<Option<String>>,
}

/// The embedded engine. Cloning shares it; when the last clone is dropped the writer thread commits
/// what it holds and ends, and the file is closed before the drop returns (so that the same data
/// directory can be opened again at once, by this process or the next).
#[derive(Clone)]
pub struct Embedded {
    // Field order matters for the last drop: the readers' handle and the writer's queue go first,
    // then `_closer` waits for the writer thread, which holds the last handle to the file.
    db: Shared,
    writes: mpsc::SyncSender<Op>,
    health: Arc<Health>,
    tally: Arc<Mutex<Tally>>,
    fresh: Fresh,
    snapshot: Snapshot,
    path: Arc<PathBuf>,
    _closer: Arc<Closer>,
}

/// The open database, shared by readers and the writer. Empty while the writer reopens the file
/// after an I/O error (redb refuses every write after one until the file is opened again).
type Shared = Arc<arc_swap::ArcSwapOption<Database>>;

/// How often a store that failed is reopened at most.
const REOPEN_EVERY: Duration = Duration::from_millis(500);

/// Joins the writer thread when dropped.
struct Closer(Mutex<Option<std::thread::JoinHandle<()>>>);

impl Drop for Closer {
    fn drop(&mut self) {
        if let Some(writer) = self.0.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = writer.join();
        }
    }
}

/// redb's page cache. Its default (1 GiB) is far more than a queue that is drained as it fills
/// needs, and filling it costs page faults on the writer thread (12 % of its CPU, measured with
/// `perf record` under the queued-mode load benchmark); 64 MiB holds the hot pages of a deep queue.
const CACHE_BYTES: usize = 64 << 20;

/// Opens (or creates) the file with the store's settings.
fn open_database(path: &Path) -> Result<Database, redb::DatabaseError> {
    redb::Builder::new()
        .set_cache_size(CACHE_BYTES)
        .create(path)
}

/// Why the store could not be opened, with what to do about it.
fn open_error(path: &Path, e: redb::DatabaseError) -> StoreError {
    let shown = path.display();
    StoreError::Open(match e {
        redb::DatabaseError::DatabaseAlreadyOpen => format!(
            "{shown} is already open in another hookgate process; each data directory belongs to one process (give this one its own [store] path)"
        ),
        redb::DatabaseError::Storage(redb::StorageError::Io(io))
            if matches!(
                io.kind(),
                std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem
            ) =>
        {
            format!(
                "cannot open {shown}: {io}; make the data directory writable by this user, or set [store] path to one that is"
            )
        }
        other => format!(
            "{shown} cannot be read as a hookgate store ({other}); it is left as it is: move it aside to start with an empty store (the events in it are then not delivered), or restore it from a backup"
        ),
    })
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

fn storage(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

impl Embedded {
    /// Opens (or creates) the store in `dir`, and starts its writer thread.
    pub fn open(
        dir: &Path,
        limits: Limits,
        observer: CommitObserver,
    ) -> Result<Embedded, StoreError> {
        Self::open_folding_at(dir, limits, observer, FOLD_AT, JOURNAL_FROM)
    }

    /// `open`, folding the journal of fresh keys at `fold_at` keys and journaling the keys of a
    /// commit from `journal_from` (tests fold small journals and journal every key).
    fn open_folding_at(
        dir: &Path,
        limits: Limits,
        observer: CommitObserver,
        fold_at: usize,
        journal_from: usize,
    ) -> Result<Embedded, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| {
            StoreError::Open(format!(
                "cannot create the data directory {}: {e}; set [store] path to a writable directory",
                dir.display()
            ))
        })?;
        let path = dir.join(FILE);
        let db = Arc::new(open_database(&path).map_err(|e| open_error(&path, e))?);
        let next_seq = {
            let txn = db.begin_write().map_err(storage)?;
            let next = create_tables(&txn).map_err(storage)?;
            txn.commit().map_err(storage)?;
            next
        };
        // Every record must be readable: a damaged file is an error at start, not a surprise later.
        check_readable(&db)?;
        let tally = Arc::new(Mutex::new(Tally::read(&db)?));
        let (fresh, fresh_next) = read_fresh(&db)?;
        let snapshot: Snapshot = Arc::new(arc_swap::ArcSwapOption::new(None));
        let (tx, rx) = mpsc::sync_channel(QUEUE);
        let health = Arc::new(Health::default());
        let db: Shared = Arc::new(arc_swap::ArcSwapOption::new(Some(db)));
        let answers = tokio::runtime::Handle::try_current().ok().map(|runtime| {
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
            runtime.spawn(writer::answer(rx));
            tx
        });
        let writer = Writer {
            path: path.clone(),
            db: db.clone(),
            broken_since: None,
            rx,
            answers,
            next_seq,
            limits,
            health: health.clone(),
            observer,
            tally: tally.clone(),
            pending: Vec::new(),
            fresh: fresh.clone(),
            snapshot: snapshot.clone(),
            fresh_next,
            fresh_added: Vec::new(),
            folding: Vec::new(),
            folded: Vec::new(),
            fold_at,
            fold_from: 0,
            fold_through: 0,
            unjournal_from: None,
            interrupted_from: None,
            journal_batch: false,
            journal_from,
            measured: None,
            written: 0,
            sweep_more: false,
        };
        let thread = std::thread::Builder::new()
            .name("hookgate-store".into())
            .spawn(move || writer.run())
            .map_err(|e| StoreError::Open(format!("cannot start the store's writer: {e}")))?;
        Ok(Embedded {
            db,
            writes: tx,
            health,
            tally,
            fresh,
            snapshot,
            path: Arc::new(path),
            _closer: Arc::new(Closer(Mutex::new(Some(thread)))),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Hands a write to the writer thread and waits for its commit. A full queue means the disk is
    /// not keeping up: the write is refused at once rather than waited for.
    async fn send<T>(
        &self,
        op: impl FnOnce(oneshot::Sender<Result<T, StoreError>>) -> Op,
    ) -> Result<T, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.writes.try_send(op(tx)).map_err(|e| match e {
            mpsc::TrySendError::Full(_) => {
                StoreError::Unavailable("the store's write queue is full".to_string())
            }
            mpsc::TrySendError::Disconnected(_) => StoreError::Closed,
        })?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Stores an accepted event with its dedupe keys and its first delivery due now; answers once
    /// the commit holding it is on disk. `Duplicate` if one of its keys is already remembered.
    pub async fn accept(&self, event: NewEvent) -> Result<Seq, StoreError> {
        if self.health.full.load(Ordering::Relaxed) {
            return Err(StoreError::Full);
        }
        self.send(|tx| Op::Accept(Box::new(event), tx)).await
    }

    /// Remembers delivered keys (direct mode) until `expires_ms`.
    pub async fn remember(&self, keys: Vec<EventKey>, expires_ms: u64) -> Result<(), StoreError> {
        self.send(|tx| Op::Remember(keys, expires_ms, tx)).await
    }

    /// Records one delivery attempt and its outcome.
    pub async fn attempt(&self, seq: Seq, attempt: Attempt) -> Result<(), StoreError> {
        self.send(|tx| Op::Attempt(seq, attempt, tx)).await
    }

    /// Queues stored events for delivery again, now; returns those that exist.
    pub async fn replay(&self, seqs: Vec<Seq>) -> Result<Vec<Seq>, StoreError> {
        self.send(|tx| Op::Replay(seqs, now_ms(), tx)).await
    }

    /// Asks the writer to drop what has expired (retention, dedupe keys) and measure the store now,
    /// rather than at its next regular sweep.
    pub async fn sweep(&self) {
        let _ = self.writes.try_send(Op::Sweep(now_ms()));
    }

    fn read(&self) -> Result<ReadTransaction, StoreError> {
        let db = self.db.load_full().ok_or_else(reopening)?;
        db.begin_read().map_err(storage)
    }

    /// Whether any of `keys` is remembered as delivered.
    pub fn seen(&self, keys: &[EventKey]) -> Result<bool, StoreError> {
        let now = now_ms();
        {
            let fresh = self.fresh.read().unwrap_or_else(|p| p.into_inner());
            if keys
                .iter()
                .any(|k| fresh.get(&k.to_bytes()).is_some_and(|j| j.until > now))
            {
                return Ok(true);
            }
        }
        let lookup = |table: &redb::ReadOnlyTable<&'static [u8; 16], u64>| {
            for k in keys {
                if let Some(until) = table.get(&k.to_bytes()).map_err(storage)?
                    && until.value() > now
                {
                    return Ok(true);
                }
            }
            Ok(false)
        };
        if let Some(table) = self.snapshot.load().as_deref() {
            return lookup(table);
        }
        let txn = self.read()?;
        lookup(&txn.open_table(DEDUPE).map_err(storage)?)
    }

    pub async fn event(&self, seq: Seq) -> Result<Option<EventRecord>, StoreError> {
        let txn = self.read()?;
        let table = txn.open_table(EVENTS).map_err(storage)?;
        match table.get(seq).map_err(storage)? {
            Some(v) => Ok(Some(codec::decode("event", v.value())?)),
            None => Ok(None),
        }
    }

    pub async fn summary(&self, seq: Seq) -> Result<Option<Summary>, StoreError> {
        let txn = self.read()?;
        read_summary(&txn, seq)
    }

    pub async fn attempts(&self, seq: Seq) -> Result<Vec<Attempt>, StoreError> {
        let txn = self.read()?;
        let table = txn.open_table(ATTEMPTS).map_err(storage)?;
        let mut out = Vec::new();
        for row in table.range((seq, 0)..=(seq, u32::MAX)).map_err(storage)? {
            let (_, v) = row.map_err(storage)?;
            out.push(codec::decode("attempt", v.value())?);
        }
        Ok(out)
    }

    /// The stored event of `route` with vendor id `id` (the latest, if the id came again after its
    /// dedupe key was forgotten): its id key's seq in the journal's index, in `event_keys`, or in
    /// the `ids` of earlier builds, whichever is latest and still names a stored event of that id.
    pub async fn find(&self, route: &str, id: &str) -> Result<Option<Seq>, StoreError> {
        let key = EventKey::new(route, id).to_bytes();
        // The index first, then a transaction opened after: a fold takes a key out of the index
        // only once the commit putting it into `event_keys` is done, so one of the two has it.
        let journaled = {
            let fresh = self.fresh.read().unwrap_or_else(|p| p.into_inner());
            fresh.get(&key).map(|j| j.seq).filter(|&s| s != 0)
        };
        let txn = self.read()?;
        let folded = txn
            .open_table(EVENT_KEYS)
            .map_err(storage)?
            .get(&key)
            .map_err(storage)?
            .map(|v| v.value());
        let earlier = txn
            .open_table(IDS)
            .map_err(storage)?
            .get((route, id))
            .map_err(storage)?
            .map(|v| v.value());
        let mut candidates: Vec<Seq> = [journaled, folded, earlier].into_iter().flatten().collect();
        candidates.sort_unstable_by(|a, b| b.cmp(a));
        candidates.dedup();
        for seq in candidates {
            // The seq's event may be gone (swept), and a key names its id only up to its hash.
            if read_summary(&txn, seq)?.is_some_and(|s| s.route == route && s.id == id) {
                return Ok(Some(seq));
            }
        }
        Ok(None)
    }

    /// Every queued event, with its route and when it is due (read at start to schedule them).
    pub fn queued(&self) -> Result<Vec<(Seq, String, u64)>, StoreError> {
        let txn = self.read()?;
        let due = txn.open_table(DUE).map_err(storage)?;
        let mut out = Vec::new();
        for row in due.iter().map_err(storage)? {
            let (k, _) = row.map_err(storage)?;
            let (at, seq) = k.value();
            if let Some(s) = read_summary(&txn, seq)? {
                out.push((seq, s.route, at));
            }
        }
        Ok(out)
    }

    /// Events newest first, matching `filter`, after the cursor `filter.before`.
    pub async fn list(&self, filter: &Filter) -> Result<Vec<Listed>, StoreError> {
        let txn = self.read()?;
        let limit = filter.limit.max(1);
        let before = filter.before.unwrap_or(u64::MAX);
        let mut out = Vec::new();
        let consider = |seq: Seq, out: &mut Vec<Listed>| -> Result<bool, StoreError> {
            let Some(s) = read_summary(&txn, seq)? else {
                return Ok(true);
            };
            if filter.since_ms.is_some_and(|since| s.received_ms < since) {
                // Newest first: everything after this is older still.
                return Ok(false);
            }
            if !filter.matches(&s) {
                return Ok(true);
            }
            out.push(Listed { seq, summary: s });
            Ok(out.len() < limit)
        };
        match (&filter.route, filter.state) {
            (Some(route), Some(State::Dead)) => {
                let t = txn.open_table(DEAD).map_err(storage)?;
                for row in t
                    .range((route.as_str(), 0)..(route.as_str(), before))
                    .map_err(storage)?
                    .rev()
                {
                    let (k, _) = row.map_err(storage)?;
                    if !consider(k.value().1, &mut out)? {
                        break;
                    }
                }
            }
            (Some(route), _) => {
                let t = txn.open_table(BY_ROUTE).map_err(storage)?;
                for row in t
                    .range((route.as_str(), 0)..(route.as_str(), before))
                    .map_err(storage)?
                    .rev()
                {
                    let (k, _) = row.map_err(storage)?;
                    if !consider(k.value().1, &mut out)? {
                        break;
                    }
                }
            }
            (None, _) => {
                let t = txn.open_table(SUMMARIES).map_err(storage)?;
                for row in t.range(..before).map_err(storage)?.rev() {
                    let (k, _) = row.map_err(storage)?;
                    if !consider(k.value(), &mut out)? {
                        break;
                    }
                }
            }
        }
        Ok(out)
    }

    /// Counts by state for each route that has any (for metrics and the overview): queued, and
    /// dead. From the writer's tally: no scan.
    pub async fn counts(&self) -> Result<Vec<(String, State, u64)>, StoreError> {
        let tally = self.tally.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = Vec::new();
        for (route, r) in &tally.routes {
            if !r.queued.is_empty() {
                out.push((route.clone(), State::Queued, r.queued.len() as u64));
            }
            if r.dead > 0 {
                out.push((route.clone(), State::Dead, r.dead));
            }
        }
        out.sort();
        Ok(out)
    }

    /// The oldest queued event's receipt time, per route that has one.
    pub async fn oldest_queued(&self) -> Result<Vec<(String, u64)>, StoreError> {
        let tally = self.tally.lock().unwrap_or_else(|p| p.into_inner());
        let mut out: Vec<(String, u64)> = tally
            .routes
            .iter()
            .filter_map(|(route, r)| r.queued.values().next().map(|&at| (route.clone(), at)))
            .collect();
        out.sort();
        Ok(out)
    }

    pub fn stats(&self) -> StoreStats {
        let h = &self.health;
        StoreStats {
            used_bytes: h.used_bytes.load(Ordering::Relaxed),
            file_bytes: h.file_bytes.load(Ordering::Relaxed),
            commits: h.commits.load(Ordering::Relaxed),
            committed_writes: h.committed_writes.load(Ordering::Relaxed),
            commit_micros: h.commit_micros.load(Ordering::Relaxed),
            full: h.full.load(Ordering::Relaxed),
            failing: h.failing.load(Ordering::Relaxed),
        }
    }
}

fn reopening() -> StoreError {
    StoreError::Unavailable("the store is being reopened after an I/O error".to_string())
}

fn create_tables(txn: &WriteTransaction) -> Result<u64, redb::Error> {
    txn.open_table(EVENTS)?;
    txn.open_table(SUMMARIES)?;
    txn.open_table(ATTEMPTS)?;
    txn.open_table(IDS)?;
    txn.open_table(BY_ROUTE)?;
    txn.open_table(DEAD)?;
    txn.open_table(DUE)?;
    txn.open_table(RETENTION)?;
    txn.open_table(DEDUPE)?;
    txn.open_table(DEDUPE_EXPIRY)?;
    txn.open_table(FRESH)?;
    txn.open_table(EVENT_KEYS)?;
    let meta = txn.open_table(META)?;
    Ok(meta.get("next_seq")?.map_or(1, |v| v.value()))
}

/// The journal of keys remembered since the last fold, as the index the lookups read, and the next
/// journal number.
fn read_fresh(db: &Database) -> Result<(Fresh, u64), StoreError> {
    let txn = db.begin_read().map_err(storage)?;
    let table = txn.open_table(FRESH).map_err(storage)?;
    let mut index = std::collections::HashMap::default();
    let mut next = 0;
    for row in table.iter().map_err(storage)? {
        let (n, v) = row.map_err(storage)?;
        let n = n.value();
        let (key, until, seq) = read_fresh_row(v.value())
            .ok_or_else(|| StoreError::Open(format!("a dedupe journal row ({n}) is damaged; it is left as it is: move the data directory aside to start with an empty store, or restore it from a backup")))?;
        let later = index.get(&key).is_none_or(|j: &Journaled| j.until < until);
        if later {
            index.insert(key, Journaled { until, n, seq });
        }
        next = n + 1;
    }
    Ok((Arc::new(std::sync::RwLock::new(index)), next))
}

/// Reads every summary once, so that a file that opens but whose records are damaged is refused at
/// start with the file named, rather than failing deliveries one by one later.
fn check_readable(db: &Database) -> Result<(), StoreError> {
    let txn = db.begin_read().map_err(storage)?;
    let table = txn.open_table(SUMMARIES).map_err(storage)?;
    for row in table.iter().map_err(storage)? {
        let (_, v) = row.map_err(storage)?;
        codec::decode::<Summary>("summary", v.value()).map_err(|e| {
            StoreError::Open(format!(
                "{e}; it is left as it is: move the data directory aside to start with an empty store, or restore it from a backup"
            ))
        })?;
    }
    Ok(())
}

fn read_summary(txn: &ReadTransaction, seq: Seq) -> Result<Option<Summary>, StoreError> {
    let table = txn.open_table(SUMMARIES).map_err(storage)?;
    match table.get(seq).map_err(storage)? {
        Some(v) => Ok(Some(codec::decode("summary", v.value())?)),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests;
