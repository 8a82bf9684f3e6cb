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

/// seq → the event as received and as forwarded (written once).
const EVENTS: TableDefinition<u64, &[u8]> = TableDefinition::new("events");
/// seq → its summary (state, attempts, next attempt).
const SUMMARIES: TableDefinition<u64, &[u8]> = TableDefinition::new("summaries");
/// (seq, attempt number) → the attempt.
const ATTEMPTS: TableDefinition<(u64, u32), &[u8]> = TableDefinition::new("attempts");
/// (route, event id) → seq.
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
/// (when forgotten, dedupe key), for dropping expired keys without looking them up.
const DEDUPE_EXPIRY: TableDefinition<(u64, &[u8; 16]), ()> = TableDefinition::new("dedupe_expiry");
/// Counters that outlive the process ("next_seq").
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

/// The file inside the data directory.
pub const FILE: &str = "hookgate.redb";

/// Writes waiting for the writer thread at most; beyond this callers wait for room.
const QUEUE: usize = 65_536;
/// Writes committed in one transaction at most.
const MAX_BATCH: usize = 1024;
/// Expired records removed per sweep at most, so that one sweep never holds the writer long.
const SWEEP_LIMIT: usize = 5_000;
/// How often retention and expired dedupe keys are swept, and the size measured.
pub const SWEEP_EVERY: Duration = Duration::from_secs(1);

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
        std::fs::create_dir_all(dir).map_err(|e| {
            StoreError::Open(format!(
                "cannot create the data directory {}: {e}; set [store] path to a writable directory",
                dir.display()
            ))
        })?;
        let path = dir.join(FILE);
        let db = Arc::new(Database::create(&path).map_err(|e| open_error(&path, e))?);
        let next_seq = {
            let txn = db.begin_write().map_err(storage)?;
            let next = create_tables(&txn).map_err(storage)?;
            txn.commit().map_err(storage)?;
            next
        };
        // Every record must be readable: a damaged file is an error at start, not a surprise later.
        check_readable(&db)?;
        let (tx, rx) = mpsc::sync_channel(QUEUE);
        let health = Arc::new(Health::default());
        let db: Shared = Arc::new(arc_swap::ArcSwapOption::new(Some(db)));
        let writer = Writer {
            path: path.clone(),
            db: db.clone(),
            broken_since: None,
            rx,
            next_seq,
            limits,
            health: health.clone(),
            observer,
        };
        let thread = std::thread::Builder::new()
            .name("hookgate-store".into())
            .spawn(move || writer.run())
            .map_err(|e| StoreError::Open(format!("cannot start the store's writer: {e}")))?;
        Ok(Embedded {
            db,
            writes: tx,
            health,
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
        let txn = self.read()?;
        let table = txn.open_table(DEDUPE).map_err(storage)?;
        let now = now_ms();
        for k in keys {
            if let Some(until) = table.get(&k.to_bytes()).map_err(storage)?
                && until.value() > now
            {
                return Ok(true);
            }
        }
        Ok(false)
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

    /// The stored event of `route` with vendor id `id`.
    pub async fn find(&self, route: &str, id: &str) -> Result<Option<Seq>, StoreError> {
        let txn = self.read()?;
        let table = txn.open_table(IDS).map_err(storage)?;
        Ok(table.get((route, id)).map_err(storage)?.map(|v| v.value()))
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
            if filter.until_ms.is_some_and(|until| s.received_ms > until)
                || filter.state.is_some_and(|st| st != s.state)
                || filter.route.as_deref().is_some_and(|r| r != s.route)
                || filter.id.as_deref().is_some_and(|id| !s.id.contains(id))
                || filter
                    .kind
                    .as_deref()
                    .is_some_and(|k| !s.kind.as_deref().unwrap_or("").contains(k))
            {
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

    /// Counts by state for each route (for metrics): queued, and dead.
    pub async fn counts(&self) -> Result<Vec<(String, State, u64)>, StoreError> {
        let txn = self.read()?;
        let mut counts: std::collections::BTreeMap<(String, State), u64> = Default::default();
        let due = txn.open_table(DUE).map_err(storage)?;
        for row in due.iter().map_err(storage)? {
            let (k, _) = row.map_err(storage)?;
            if let Some(s) = read_summary(&txn, k.value().1)? {
                *counts.entry((s.route, State::Queued)).or_default() += 1;
            }
        }
        let dead = txn.open_table(DEAD).map_err(storage)?;
        for row in dead.iter().map_err(storage)? {
            let (k, _) = row.map_err(storage)?;
            *counts
                .entry((k.value().0.to_string(), State::Dead))
                .or_default() += 1;
        }
        Ok(counts.into_iter().map(|((r, s), n)| (r, s, n)).collect())
    }

    /// The oldest queued event's receipt time, per route.
    pub async fn oldest_queued(&self) -> Result<Vec<(String, u64)>, StoreError> {
        let mut oldest: std::collections::BTreeMap<String, u64> = Default::default();
        let txn = self.read()?;
        for (seq, route, _) in self.queued()? {
            if let Some(s) = read_summary(&txn, seq)? {
                let e = oldest.entry(route).or_insert(u64::MAX);
                *e = (*e).min(s.received_ms);
            }
        }
        Ok(oldest.into_iter().collect())
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
    let meta = txn.open_table(META)?;
    Ok(meta.get("next_seq")?.map_or(1, |v| v.value()))
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

/// The writer thread's state.
struct Writer {
    path: PathBuf,
    db: Shared,
    /// Since when commits fail; the file is reopened (at most every `REOPEN_EVERY`) until one works.
    broken_since: Option<Instant>,
    rx: mpsc::Receiver<Op>,
    next_seq: u64,
    limits: Limits,
    health: Arc<Health>,
    observer: CommitObserver,
}

/// What an op answers once its transaction committed.
enum Reply {
    Seq(
        oneshot::Sender<Result<Seq, StoreError>>,
        Result<Seq, StoreError>,
    ),
    Unit(
        oneshot::Sender<Result<(), StoreError>>,
        Result<(), StoreError>,
    ),
    Seqs(
        oneshot::Sender<Result<Vec<Seq>, StoreError>>,
        Result<Vec<Seq>, StoreError>,
    ),
}

impl Reply {
    fn send(self, failed: Option<&StoreError>) {
        match (self, failed) {
            (Reply::Seq(tx, r), None) => drop(tx.send(r)),
            (Reply::Seq(tx, _), Some(e)) => drop(tx.send(Err(e.clone()))),
            (Reply::Unit(tx, r), None) => drop(tx.send(r)),
            (Reply::Unit(tx, _), Some(e)) => drop(tx.send(Err(e.clone()))),
            (Reply::Seqs(tx, r), None) => drop(tx.send(r)),
            (Reply::Seqs(tx, _), Some(e)) => drop(tx.send(Err(e.clone()))),
        }
    }
}

impl Writer {
    /// Commits batches until every handle to the store is gone, sweeping at least every
    /// `SWEEP_EVERY`, busy or idle.
    fn run(mut self) {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        let mut last_sweep = Instant::now();
        loop {
            match self.rx.recv_timeout(SWEEP_EVERY) {
                Ok(first) => batch.push(first),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
            }
            while batch.len() < MAX_BATCH {
                match self.rx.try_recv() {
                    Ok(op) => batch.push(op),
                    Err(_) => break,
                }
            }
            if last_sweep.elapsed() >= SWEEP_EVERY {
                last_sweep = Instant::now();
                batch.push(Op::Sweep(now_ms()));
            }
            if !batch.is_empty() {
                self.commit(&mut batch);
            }
        }
    }

    /// Applies every op of `batch` in one transaction, commits it, then answers each op.
    fn commit(&mut self, batch: &mut Vec<Op>) {
        let started = Instant::now();
        let writes = batch
            .iter()
            .filter(|op| !matches!(op, Op::Sweep(_)))
            .count() as u64;
        let mut replies = Vec::with_capacity(batch.len());
        if self.broken_since.is_some() {
            self.reopen();
        }
        let db = self.db.load_full();
        let result = (|| -> Result<(), StoreError> {
            let txn = db
                .as_ref()
                .ok_or_else(reopening)?
                .begin_write()
                .map_err(storage)?;
            for op in batch.drain(..) {
                match op {
                    Op::Accept(event, tx) => {
                        let r = self.accept(&txn, *event);
                        replies.push(Reply::Seq(tx, r));
                    }
                    Op::Remember(keys, until, tx) => {
                        let r = remember(&txn, &keys, until);
                        replies.push(Reply::Unit(tx, r));
                    }
                    Op::Attempt(seq, attempt, tx) => {
                        let r = self.attempt(&txn, seq, attempt);
                        replies.push(Reply::Unit(tx, r));
                    }
                    Op::Replay(seqs, now, tx) => {
                        let r = replay(&txn, &seqs, now);
                        replies.push(Reply::Seqs(tx, r));
                    }
                    Op::Sweep(now) => {
                        sweep(&txn, now)?;
                        self.check_size(&txn);
                    }
                }
            }
            txn.open_table(META)
                .map_err(storage)?
                .insert("next_seq", self.next_seq)
                .map_err(storage)?;
            txn.commit().map_err(storage)?;
            Ok(())
        })();
        batch.clear();
        drop(db);
        let failed = result.err();
        match &failed {
            None => {
                self.broken_since = None;
                let h = &self.health;
                h.commits.fetch_add(1, Ordering::Relaxed);
                h.committed_writes.fetch_add(writes, Ordering::Relaxed);
                let took = started.elapsed();
                h.commit_micros
                    .fetch_add(took.as_micros() as u64, Ordering::Relaxed);
                (self.observer)(took, writes as usize);
                if h.failing.swap(false, Ordering::Relaxed) {
                    tracing::info!("the store accepts writes again");
                }
            }
            Some(e) => {
                // Sequence numbers handed out in the failed transaction are simply skipped.
                self.broken_since.get_or_insert_with(Instant::now);
                let first = !self.health.failing.swap(true, Ordering::Relaxed);
                let mut last = self
                    .health
                    .last_error
                    .lock()
                    .unwrap_or_else(|p| p.into_inner());
                if first || last.as_deref() != Some(&e.to_string()) {
                    tracing::error!(error = %e, "the store cannot write: vendors are answered 503 until it can");
                }
                *last = Some(e.to_string());
            }
        }
        for r in replies {
            r.send(failed.as_ref());
        }
    }

    /// Closes and reopens the file after failed commits: redb refuses every write after an I/O
    /// error until it is opened again. Readers are turned away meanwhile; the ones under way hold
    /// the old handle for a moment, which is waited for (briefly) so that the file lock is free.
    fn reopen(&mut self) {
        let Some(since) = self.broken_since else {
            return;
        };
        if since.elapsed() < REOPEN_EVERY {
            return;
        }
        if let Some(old) = self.db.swap(None) {
            let started = Instant::now();
            while Arc::strong_count(&old) > 1 && started.elapsed() < Duration::from_secs(1) {
                std::thread::sleep(Duration::from_millis(1));
            }
            drop(old);
        }
        match Database::create(&self.path) {
            Ok(db) => {
                let db = Arc::new(db);
                if let Ok(txn) = db.begin_write()
                    && let Ok(next) = create_tables(&txn)
                    && txn.commit().is_ok()
                {
                    self.next_seq = self.next_seq.max(next);
                }
                self.db.store(Some(db));
                tracing::info!("the store was reopened");
            }
            Err(e) => tracing::warn!(error = %e, "the store cannot be reopened yet"),
        }
        // Wait another interval before the next try, whatever happened.
        self.broken_since = Instant::now().checked_sub(REOPEN_EVERY / 2).or(Some(since));
    }

    fn accept(&mut self, txn: &WriteTransaction, event: NewEvent) -> Result<Seq, StoreError> {
        if self.health.full.load(Ordering::Relaxed) {
            return Err(StoreError::Full);
        }
        let mut dedupe = txn.open_table(DEDUPE).map_err(storage)?;
        let now = now_ms();
        for k in &event.keys {
            if let Some(until) = dedupe.get(&k.to_bytes()).map_err(storage)?
                && until.value() > now
            {
                return Err(StoreError::Duplicate);
            }
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        let mut expiry = txn.open_table(DEDUPE_EXPIRY).map_err(storage)?;
        for k in &event.keys {
            let key = k.to_bytes();
            dedupe
                .insert(&key, event.remember_until_ms)
                .map_err(storage)?;
            expiry
                .insert((event.remember_until_ms, &key), ())
                .map_err(storage)?;
        }
        let summary = Summary {
            route: event.record.route.clone(),
            id: event.record.id.clone(),
            kind: event.record.kind.clone(),
            received_ms: event.record.received_ms,
            state: State::Queued,
            attempts: 0,
            next_ms: Some(event.record.received_ms),
            last_status: None,
            last_error: None,
            delivered_ms: None,
            dead_reason: None,
            replays: 0,
        };
        let route = event.record.route.as_str();
        txn.open_table(EVENTS)
            .map_err(storage)?
            .insert(seq, codec::encode(&event.record).as_slice())
            .map_err(storage)?;
        txn.open_table(SUMMARIES)
            .map_err(storage)?
            .insert(seq, codec::encode(&summary).as_slice())
            .map_err(storage)?;
        txn.open_table(IDS)
            .map_err(storage)?
            .insert((route, event.record.id.as_str()), seq)
            .map_err(storage)?;
        txn.open_table(BY_ROUTE)
            .map_err(storage)?
            .insert((route, seq), ())
            .map_err(storage)?;
        txn.open_table(DUE)
            .map_err(storage)?
            .insert((event.record.received_ms, seq), ())
            .map_err(storage)?;
        Ok(seq)
    }

    fn attempt(
        &self,
        txn: &WriteTransaction,
        seq: Seq,
        attempt: Attempt,
    ) -> Result<(), StoreError> {
        let mut summaries = txn.open_table(SUMMARIES).map_err(storage)?;
        let Some(mut s) = summaries
            .get(seq)
            .map_err(storage)?
            .map(|v| codec::decode::<Summary>("summary", v.value()))
            .transpose()?
        else {
            return Err(StoreError::NotFound);
        };
        let mut due = txn.open_table(DUE).map_err(storage)?;
        if let Some(at) = s.next_ms.take() {
            due.remove((at, seq)).map_err(storage)?;
        }
        s.attempts += 1;
        s.last_status = attempt.status;
        s.last_error = attempt.error.clone();
        let mut retention = txn.open_table(RETENTION).map_err(storage)?;
        match &attempt.outcome {
            Outcome::Delivered => {
                s.state = State::Delivered;
                s.delivered_ms = Some(attempt.at_ms);
                retention
                    .insert((attempt.at_ms + millis(self.limits.retention), seq), ())
                    .map_err(storage)?;
            }
            Outcome::Retry { at_ms } => {
                s.state = State::Queued;
                s.next_ms = Some(*at_ms);
                due.insert((*at_ms, seq), ()).map_err(storage)?;
            }
            Outcome::Dead { reason } => {
                s.state = State::Dead;
                s.dead_reason = Some(reason.clone());
                txn.open_table(DEAD)
                    .map_err(storage)?
                    .insert((s.route.as_str(), seq), ())
                    .map_err(storage)?;
                retention
                    .insert(
                        (attempt.at_ms + millis(self.limits.dead_retention), seq),
                        (),
                    )
                    .map_err(storage)?;
            }
        }
        txn.open_table(ATTEMPTS)
            .map_err(storage)?
            .insert((seq, s.attempts), codec::encode(&attempt).as_slice())
            .map_err(storage)?;
        summaries
            .insert(seq, codec::encode(&s).as_slice())
            .map_err(storage)?;
        Ok(())
    }

    /// Measures the store against `max_size` (at every sweep).
    fn check_size(&mut self, txn: &WriteTransaction) {
        let stats = match txn.stats() {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "cannot measure the store");
                return;
            }
        };
        // Pages in use; the file may be larger (free pages are reused before it grows).
        let used = stats.allocated_pages() * stats.page_size() as u64;
        if let Ok(m) = std::fs::metadata(&self.path) {
            self.health.file_bytes.store(m.len(), Ordering::Relaxed);
        }
        self.health.used_bytes.store(used, Ordering::Relaxed);
        let full = used >= self.limits.max_size;
        let was = self.health.full.swap(full, Ordering::Relaxed);
        match (was, full) {
            (false, true) => tracing::error!(
                used_bytes = used,
                max_size = self.limits.max_size,
                "the store is full (store.max_size): vendors are answered 503 until retention frees space; deliveries go on"
            ),
            (true, false) => tracing::info!(used_bytes = used, "the store has room again"),
            _ => {}
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn remember(txn: &WriteTransaction, keys: &[EventKey], until: u64) -> Result<(), StoreError> {
    let mut dedupe = txn.open_table(DEDUPE).map_err(storage)?;
    let mut expiry = txn.open_table(DEDUPE_EXPIRY).map_err(storage)?;
    for k in keys {
        let key = k.to_bytes();
        dedupe.insert(&key, until).map_err(storage)?;
        expiry.insert((until, &key), ()).map_err(storage)?;
    }
    Ok(())
}

/// Queues `seqs` again, due `now`. A retention entry they may have is left in place: the sweep
/// skips events that are queued again.
fn replay(txn: &WriteTransaction, seqs: &[Seq], now: u64) -> Result<Vec<Seq>, StoreError> {
    let mut summaries = txn.open_table(SUMMARIES).map_err(storage)?;
    let mut due = txn.open_table(DUE).map_err(storage)?;
    let mut dead = txn.open_table(DEAD).map_err(storage)?;
    let mut done = Vec::new();
    for &seq in seqs {
        let Some(mut s) = summaries
            .get(seq)
            .map_err(storage)?
            .map(|v| codec::decode::<Summary>("summary", v.value()))
            .transpose()?
        else {
            continue;
        };
        if s.state == State::Dead {
            dead.remove((s.route.as_str(), seq)).map_err(storage)?;
        }
        if let Some(at) = s.next_ms.take() {
            due.remove((at, seq)).map_err(storage)?;
        }
        s.state = State::Queued;
        s.next_ms = Some(now);
        s.dead_reason = None;
        s.replays += 1;
        due.insert((now, seq), ()).map_err(storage)?;
        summaries
            .insert(seq, codec::encode(&s).as_slice())
            .map_err(storage)?;
        done.push(seq);
    }
    Ok(done)
}

/// Removes delivered and dead events whose retention has passed, and dedupe keys whose time has
/// passed, a bounded number per sweep.
fn sweep(txn: &WriteTransaction, now: u64) -> Result<(), StoreError> {
    let mut retention = txn.open_table(RETENTION).map_err(storage)?;
    let expired: Vec<(u64, u64)> = retention
        .range(..(now, u64::MAX))
        .map_err(storage)?
        .take(SWEEP_LIMIT)
        .map(|r| r.map(|(k, _)| k.value()).map_err(storage))
        .collect::<Result<_, _>>()?;
    if !expired.is_empty() {
        let mut events = txn.open_table(EVENTS).map_err(storage)?;
        let mut summaries = txn.open_table(SUMMARIES).map_err(storage)?;
        let mut attempts = txn.open_table(ATTEMPTS).map_err(storage)?;
        let mut ids = txn.open_table(IDS).map_err(storage)?;
        let mut by_route = txn.open_table(BY_ROUTE).map_err(storage)?;
        let mut dead = txn.open_table(DEAD).map_err(storage)?;
        for (at, seq) in expired {
            retention.remove((at, seq)).map_err(storage)?;
            let Some(s) = summaries
                .get(seq)
                .map_err(storage)?
                .map(|v| codec::decode::<Summary>("summary", v.value()))
                .transpose()?
            else {
                continue;
            };
            if s.state == State::Queued {
                // Replayed since its retention was set: it stays until it settles again.
                continue;
            }
            summaries.remove(seq).map_err(storage)?;
            events.remove(seq).map_err(storage)?;
            attempts
                .retain_in((seq, 0)..=(seq, u32::MAX), |_, _| false)
                .map_err(storage)?;
            ids.remove((s.route.as_str(), s.id.as_str()))
                .map_err(storage)?;
            by_route.remove((s.route.as_str(), seq)).map_err(storage)?;
            dead.remove((s.route.as_str(), seq)).map_err(storage)?;
        }
    }
    let mut expiry = txn.open_table(DEDUPE_EXPIRY).map_err(storage)?;
    let gone: Vec<(u64, [u8; 16])> = expiry
        .range(..(now, &[0xffu8; 16]))
        .map_err(storage)?
        .take(SWEEP_LIMIT)
        .map(|r| {
            r.map(|(k, _)| {
                let (at, key) = k.value();
                (at, *key)
            })
            .map_err(storage)
        })
        .collect::<Result<_, _>>()?;
    if !gone.is_empty() {
        let mut dedupe = txn.open_table(DEDUPE).map_err(storage)?;
        for (at, key) in gone {
            expiry.remove((at, &key)).map_err(storage)?;
            let current = dedupe.get(&key).map_err(storage)?.map(|v| v.value());
            if current == Some(at) {
                dedupe.remove(&key).map_err(storage)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("hookgate-store-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    fn limits() -> Limits {
        Limits {
            retention: Duration::from_secs(3600),
            dead_retention: Duration::from_secs(7200),
            max_size: 1 << 30,
        }
    }

    fn observer() -> CommitObserver {
        Arc::new(|_, _| {})
    }

    fn event(route: &str, id: &str) -> NewEvent {
        NewEvent {
            record: EventRecord {
                route: route.into(),
                id: id.into(),
                kind: Some("t".into()),
                received_ms: now_ms(),
                request_id: "r".into(),
                client: "192.0.2.1".into(),
                headers: vec![("content-type".into(), b"application/json".to_vec())],
                body: br#"{"a":1}"#.to_vec(),
                envelope: codec::EnvelopeRecord {
                    content_type: "application/cloudevents+json".into(),
                    headers: vec![],
                    body: b"{}".to_vec(),
                },
            },
            keys: vec![EventKey::new(route, id)],
            remember_until_ms: now_ms() + 3_600_000,
        }
    }

    fn attempt(outcome: Outcome) -> Attempt {
        Attempt {
            at_ms: now_ms(),
            status: Some(200),
            error: None,
            latency_us: 1000,
            outcome,
        }
    }

    #[tokio::test]
    async fn an_accepted_event_is_remembered_queued_and_survives_reopening() {
        let d = dir("reopen");
        let seq = {
            let s = Embedded::open(&d, limits(), observer()).unwrap();
            let seq = s.accept(event("r", "evt_1")).await.unwrap();
            assert!(s.seen(&[EventKey::new("r", "evt_1")]).unwrap());
            assert!(!s.seen(&[EventKey::new("r", "evt_2")]).unwrap());
            assert_eq!(
                s.accept(event("r", "evt_1")).await,
                Err(StoreError::Duplicate)
            );
            seq
        };
        // The writer thread of the first handle ends when its channel closes; the file lock is
        // released with the database.
        let started = Instant::now();
        let s = loop {
            match Embedded::open(&d, limits(), observer()) {
                Ok(s) => break s,
                Err(_) if started.elapsed() < Duration::from_secs(5) => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                Err(e) => panic!("{e}"),
            }
        };
        assert!(s.seen(&[EventKey::new("r", "evt_1")]).unwrap());
        assert_eq!(s.find("r", "evt_1").await.unwrap(), Some(seq));
        let queued = s.queued().unwrap();
        assert_eq!(queued.len(), 1);
        assert_eq!((queued[0].0, queued[0].1.as_str()), (seq, "r"));
        assert_eq!(s.event(seq).await.unwrap().unwrap().id, "evt_1");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[tokio::test]
    async fn attempts_move_an_event_through_its_states_and_replay_queues_it_again() {
        let d = dir("states");
        let s = Embedded::open(&d, limits(), observer()).unwrap();
        let seq = s.accept(event("r", "evt_s")).await.unwrap();
        let later = now_ms() + 5000;
        s.attempt(seq, attempt(Outcome::Retry { at_ms: later }))
            .await
            .unwrap();
        let sum = s.summary(seq).await.unwrap().unwrap();
        assert_eq!(
            (sum.state, sum.attempts, sum.next_ms),
            (State::Queued, 1, Some(later))
        );
        assert_eq!(s.queued().unwrap()[0].2, later);
        s.attempt(
            seq,
            attempt(Outcome::Dead {
                reason: "410".into(),
            }),
        )
        .await
        .unwrap();
        assert!(s.queued().unwrap().is_empty());
        let dead = s
            .list(&Filter {
                route: Some("r".into()),
                state: Some(State::Dead),
                limit: 10,
                ..Filter::default()
            })
            .await
            .unwrap();
        assert_eq!(dead.len(), 1);
        assert_eq!(s.replay(vec![seq, 999]).await.unwrap(), vec![seq]);
        let sum = s.summary(seq).await.unwrap().unwrap();
        assert_eq!((sum.state, sum.replays), (State::Queued, 1));
        s.attempt(seq, attempt(Outcome::Delivered)).await.unwrap();
        assert_eq!(
            s.summary(seq).await.unwrap().unwrap().state,
            State::Delivered
        );
        assert_eq!(s.attempts(seq).await.unwrap().len(), 3);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[tokio::test]
    async fn lists_are_newest_first_filtered_and_paged() {
        let d = dir("list");
        let s = Embedded::open(&d, limits(), observer()).unwrap();
        let mut seqs = Vec::new();
        for i in 0..5 {
            seqs.push(
                s.accept(event(if i % 2 == 0 { "a" } else { "b" }, &format!("e{i}")))
                    .await
                    .unwrap(),
            );
        }
        let all = s
            .list(&Filter {
                limit: 3,
                ..Filter::default()
            })
            .await
            .unwrap();
        assert_eq!(
            all.iter().map(|l| l.seq).collect::<Vec<_>>(),
            vec![seqs[4], seqs[3], seqs[2]]
        );
        let next = s
            .list(&Filter {
                limit: 3,
                before: Some(seqs[2]),
                ..Filter::default()
            })
            .await
            .unwrap();
        assert_eq!(
            next.iter().map(|l| l.seq).collect::<Vec<_>>(),
            vec![seqs[1], seqs[0]]
        );
        let a = s
            .list(&Filter {
                route: Some("a".into()),
                limit: 10,
                ..Filter::default()
            })
            .await
            .unwrap();
        assert_eq!(a.len(), 3);
        let id = s
            .list(&Filter {
                id: Some("e3".into()),
                limit: 10,
                ..Filter::default()
            })
            .await
            .unwrap();
        assert_eq!(id.len(), 1);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[tokio::test]
    async fn retention_removes_settled_events_and_expired_keys() {
        let d = dir("retention");
        let s = Embedded::open(
            &d,
            Limits {
                retention: Duration::ZERO,
                ..limits()
            },
            observer(),
        )
        .unwrap();
        let mut e = event("r", "gone");
        e.remember_until_ms = now_ms() + 1;
        let seq = s.accept(e).await.unwrap();
        let kept = s.accept(event("r", "queued")).await.unwrap();
        s.attempt(seq, attempt(Outcome::Delivered)).await.unwrap();
        std::thread::sleep(Duration::from_millis(5));
        s.sweep().await;
        // A write after the sweep: answered once the sweep's transaction is committed.
        s.remember(vec![EventKey::new("r", "x")], now_ms() + 60_000)
            .await
            .unwrap();
        assert_eq!(s.summary(seq).await.unwrap(), None);
        assert_eq!(s.find("r", "gone").await.unwrap(), None);
        assert!(!s.seen(&[EventKey::new("r", "gone")]).unwrap());
        assert!(
            s.summary(kept).await.unwrap().is_some(),
            "queued events are kept"
        );
        let _ = std::fs::remove_dir_all(&d);
    }

    #[tokio::test]
    async fn a_full_store_refuses_accepts_but_not_deliveries() {
        let d = dir("full");
        let s = Embedded::open(
            &d,
            Limits {
                max_size: 1,
                ..limits()
            },
            observer(),
        )
        .unwrap();
        let seq = s.accept(event("r", "first")).await.unwrap();
        s.sweep().await;
        s.remember(vec![], 0).await.unwrap();
        assert_eq!(s.accept(event("r", "second")).await, Err(StoreError::Full));
        s.attempt(seq, attempt(Outcome::Delivered)).await.unwrap();
        assert!(s.stats().full);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_second_process_cannot_open_the_same_store_and_a_damaged_file_is_refused() {
        let d = dir("exclusive");
        let _first = Embedded::open(&d, limits(), observer()).unwrap();
        let err = Embedded::open(&d, limits(), observer())
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("already open in another hookgate process"),
            "{err}"
        );
        let d2 = dir("damaged");
        std::fs::create_dir_all(&d2).unwrap();
        std::fs::write(d2.join(FILE), vec![0x42u8; 8192]).unwrap();
        let err = Embedded::open(&d2, limits(), observer())
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("cannot be read as a hookgate store"), "{err}");
        assert!(err.contains("move it aside"), "{err}");
        assert_eq!(
            std::fs::read(d2.join(FILE)).unwrap(),
            vec![0x42u8; 8192],
            "left as it is"
        );
        let _ = std::fs::remove_dir_all(&d);
        let _ = std::fs::remove_dir_all(&d2);
    }
}
