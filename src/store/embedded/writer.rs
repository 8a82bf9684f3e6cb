//! The embedded store's one writer thread: it takes whatever writes are waiting, commits them in one
//! transaction (one fsync), answers each caller only after that commit, and between batches sweeps
//! retention and expired dedupe records and checks the size bound. After an I/O error it reopens the
//! file until a commit works again.

use super::*;
use redb::Table;

/// The writer thread's state.
pub(super) struct Writer {
    pub(super) path: PathBuf,
    pub(super) db: Shared,
    /// Since when commits fail; the file is reopened (at most every `REOPEN_EVERY`) until one works.
    pub(super) broken_since: Option<Instant>,
    pub(super) rx: mpsc::Receiver<Op>,
    /// Hands each commit's answers to `answer` on the runtime; `None` (no runtime at open, or it is
    /// gone) answers from this thread.
    pub(super) answers: Option<tokio::sync::mpsc::UnboundedSender<Answers>>,
    pub(super) next_seq: u64,
    pub(super) limits: Limits,
    pub(super) health: Arc<Health>,
    pub(super) observer: CommitObserver,
    /// What the queue and the dead letters hold, per route (shared with readers).
    pub(super) tally: Arc<Mutex<Tally>>,
    /// Changes to the tally made by the transaction being built, applied once it commits.
    pub(super) pending: Vec<Delta>,
    /// When the size was last measured, and how long measuring took.
    pub(super) measured: Option<(Instant, Duration)>,
    /// Bytes written since the size was last measured (frees not counted): an upper bound of growth.
    pub(super) written: u64,
    /// The last sweep left expired records behind: the next commit sweeps again.
    pub(super) sweep_more: bool,
    /// The index of the journal of fresh dedupe keys (shared with readers).
    pub(super) fresh: Fresh,
    /// `dedupe` as `seen()` reads it.
    pub(super) snapshot: Snapshot,
    /// The next journal number.
    pub(super) fresh_next: u64,
    /// Keys the transaction being built adds to the journal, put in the index once it commits.
    pub(super) fresh_added: Vec<([u8; 16], Journaled)>,
    /// A fold under way: the journal's keys still to move into `dedupe` (and their events' seqs
    /// into `event_keys`), in descending key order (taken from the end).
    pub(super) folding: Vec<([u8; 16], Journaled)>,
    /// Keys the transaction being built moved into `dedupe`: (key, journal number), taken out of
    /// the index once it commits.
    pub(super) folded: Vec<([u8; 16], u64)>,
    /// Journal keys that start a fold.
    pub(super) fold_at: usize,
    /// The lowest and highest journal numbers of the fold under way.
    pub(super) fold_from: u64,
    pub(super) fold_through: u64,
    /// Once its keys are in `dedupe`: the next of its journal rows to remove.
    pub(super) unjournal_from: Option<u64>,
    /// Where the rows of a fold that a failed commit interrupted begin.
    pub(super) interrupted_from: Option<u64>,
    /// The transaction being built writes its keys to the journal (it carries `JOURNAL_FROM` or
    /// more), not straight into `dedupe`.
    pub(super) journal_batch: bool,
    /// `JOURNAL_FROM` (tests journal every key).
    pub(super) journal_from: usize,
}

/// A change to the tally.
pub(super) enum Delta {
    Queued(String, Seq, u64),
    Settled(String, Seq),
    Dead(String, Seq),
    Undead(String),
    DeadGone(String),
}

/// Every table of the store, each opened the first time a transaction uses it and kept open until
/// the transaction commits (opening and closing a table costs more than a small write).
struct Tables<'t> {
    txn: &'t WriteTransaction,
    events: Option<Table<'t, u64, &'static [u8]>>,
    summaries: Option<Table<'t, u64, &'static [u8]>>,
    attempts: Option<Table<'t, (u64, u32), &'static [u8]>>,
    ids: Option<Table<'t, (&'static str, &'static str), u64>>,
    event_keys: Option<Table<'t, &'static [u8; 16], u64>>,
    by_route: Option<Table<'t, (&'static str, u64), ()>>,
    dead: Option<Table<'t, (&'static str, u64), ()>>,
    due: Option<Table<'t, (u64, u64), ()>>,
    retention: Option<Table<'t, (u64, u64), ()>>,
    dedupe: Option<Table<'t, &'static [u8; 16], u64>>,
    fresh: Option<Table<'t, u64, &'static [u8]>>,
    expiry: Option<Table<'t, (u64, &'static [u8; 16]), ()>>,
    meta: Option<Table<'t, &'static str, u64>>,
}

macro_rules! table {
    ($name:ident, $def:expr, $k:ty, $v:ty) => {
        fn $name(&mut self) -> Result<&mut Table<'t, $k, $v>, StoreError> {
            if self.$name.is_none() {
                self.$name = Some(self.txn.open_table($def).map_err(storage)?);
            }
            Ok(self.$name.as_mut().expect("opened above"))
        }
    };
}

impl<'t> Tables<'t> {
    fn new(txn: &'t WriteTransaction) -> Tables<'t> {
        Tables {
            txn,
            events: None,
            summaries: None,
            attempts: None,
            ids: None,
            event_keys: None,
            by_route: None,
            dead: None,
            due: None,
            retention: None,
            dedupe: None,
            fresh: None,
            expiry: None,
            meta: None,
        }
    }
    table!(events, EVENTS, u64, &'static [u8]);
    table!(summaries, SUMMARIES, u64, &'static [u8]);
    table!(attempts, ATTEMPTS, (u64, u32), &'static [u8]);
    table!(ids, IDS, (&'static str, &'static str), u64);
    table!(event_keys, EVENT_KEYS, &'static [u8; 16], u64);
    table!(by_route, BY_ROUTE, (&'static str, u64), ());
    table!(dead, DEAD, (&'static str, u64), ());
    table!(due, DUE, (u64, u64), ());
    table!(retention, RETENTION, (u64, u64), ());
    table!(dedupe, DEDUPE, &'static [u8; 16], u64);
    table!(fresh, FRESH, u64, &'static [u8]);
    table!(expiry, DEDUPE_EXPIRY, (u64, &'static [u8; 16]), ());
    table!(meta, META, &'static str, u64);

    fn summary(&mut self, seq: Seq) -> Result<Option<Summary>, StoreError> {
        Ok(self
            .summaries()?
            .get(seq)
            .map_err(storage)?
            .map(|v| codec::decode::<Summary>("summary", v.value()))
            .transpose()?)
    }
}

/// What an op answers once its transaction committed.
pub(super) enum Reply {
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

/// One commit's answers, and why it failed, if it did.
pub(super) type Answers = (Vec<Reply>, Option<StoreError>);

/// Answers each commit's callers, from a task on the runtime. Woken from there, a caller costs a
/// push on the runtime's queue; woken from the writer thread, each cost a system call (tokio's
/// waker writes its eventfd for every wake from outside the runtime: 2.3 per event, strace on the
/// writer under the load benchmark), so the writer wakes this task once per commit instead.
pub(super) async fn answer(mut rx: tokio::sync::mpsc::UnboundedReceiver<Answers>) {
    while let Some((replies, failed)) = rx.recv().await {
        for r in replies {
            r.send(failed.as_ref());
        }
    }
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
    pub(super) fn run(mut self) {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        let mut last_sweep = Instant::now();
        loop {
            let wait = if self.sweep_more || self.folding_now() {
                Duration::ZERO
            } else {
                SWEEP_EVERY
            };
            match self.rx.recv_timeout(wait) {
                Ok(first) => batch.push(first),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    // Before the file closes: a read transaction open then spoils a clean close.
                    self.snapshot.store(None);
                    return;
                }
            }
            while batch.len() < MAX_BATCH {
                match self.rx.try_recv() {
                    Ok(op) => batch.push(op),
                    Err(_) => break,
                }
            }
            if self.sweep_more || last_sweep.elapsed() >= SWEEP_EVERY {
                if !self.sweep_more {
                    last_sweep = Instant::now();
                }
                self.sweep_more = false;
                batch.push(Op::Sweep(now_ms()));
            }
            if !self.folding_now() {
                self.start_fold();
            }
            if self.folding_now() {
                batch.push(Op::Fold(now_ms()));
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
            .filter(|op| !matches!(op, Op::Sweep(_) | Op::Fold(_)))
            .count() as u64;
        let mut replies = Vec::with_capacity(batch.len());
        if self.broken_since.is_some() {
            self.reopen();
        }
        let db = self.db.load_full();
        self.pending.clear();
        self.fresh_added.clear();
        self.folded.clear();
        let mut measure = false;
        let seq_before = self.next_seq;
        // Keys go to the journal only when the commit carries several: one key dirties one page
        // wherever it goes, and going to the table directly saves the fold's work for it.
        let keys: usize = batch
            .iter()
            .map(|op| match op {
                Op::Accept(e, _) => e.keys.len(),
                Op::Remember(k, _, _) => k.len(),
                _ => 0,
            })
            .sum();
        self.journal_batch = keys >= self.journal_from;
        let result = (|| -> Result<(), StoreError> {
            let txn = db
                .as_ref()
                .ok_or_else(reopening)?
                .begin_write()
                .map_err(storage)?;
            {
                let mut t = Tables::new(&txn);
                for op in batch.drain(..) {
                    match op {
                        Op::Accept(event, tx) => {
                            let r = self.accept(&mut t, *event);
                            replies.push(Reply::Seq(tx, r));
                        }
                        Op::Remember(keys, until, tx) => {
                            let r = self.remember(&mut t, &keys, until, None);
                            replies.push(Reply::Unit(tx, r));
                        }
                        Op::Fold(now) if !self.folding.is_empty() => self.fold(&mut t, now)?,
                        Op::Fold(_) => self.unjournal(&mut t)?,
                        Op::Attempt(seq, attempt, tx) => {
                            let r = self.attempt(&mut t, seq, attempt);
                            replies.push(Reply::Unit(tx, r));
                        }
                        Op::Replay(seqs, now, tx) => {
                            let r = replay(&mut t, &seqs, now, &mut self.pending);
                            replies.push(Reply::Seqs(tx, r));
                        }
                        Op::Sweep(now) => {
                            self.sweep_more = sweep(&mut t, now, &mut self.pending)?;
                            measure = true;
                        }
                    }
                }
                // Only a batch that accepted events moves the counter; writing it anyway would
                // dirty the meta table's page in every commit (direct mode's commits accept nothing).
                if self.next_seq != seq_before {
                    t.meta()?
                        .insert("next_seq", self.next_seq)
                        .map_err(storage)?;
                }
            }
            if measure {
                self.check_size(&txn);
            }
            txn.commit().map_err(storage)?;
            Ok(())
        })();
        batch.clear();
        drop(db);
        let failed = result.err();
        match &failed {
            None => {
                self.apply_tally();
                self.apply_fresh();
                self.refresh_snapshot();
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
                // Sequence numbers handed out in the failed transaction are simply skipped, and so
                // are journal numbers; a fold under way starts again from the index.
                // Rows it had folded are no longer in the index: the next fold removes from here.
                if self.folding_now() {
                    let from = self
                        .interrupted_from
                        .map_or(self.fold_from, |f| f.min(self.fold_from));
                    self.interrupted_from = Some(from);
                }
                self.folding.clear();
                self.unjournal_from = None;
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
        if replies.is_empty() {
            return;
        }
        let unsent = match &self.answers {
            Some(tx) => tx.send((replies, failed)).err().map(|e| e.0),
            None => Some((replies, failed)),
        };
        if let Some((replies, failed)) = unsent {
            for r in replies {
                r.send(failed.as_ref());
            }
        }
    }

    /// Opens `dedupe` again for `seen()` after a commit, before its callers are answered.
    fn refresh_snapshot(&mut self) {
        let table = self
            .db
            .load()
            .as_ref()
            .and_then(|db| db.begin_read().ok())
            .and_then(|txn| txn.open_table(DEDUPE).ok());
        // Without one, `seen()` opens its own read transaction.
        self.snapshot.store(table.map(Arc::new));
    }

    /// Applies the committed transaction's journal changes to the index readers see: added keys in,
    /// folded ones out (unless the key was remembered again meanwhile, under a later number).
    fn apply_fresh(&mut self) {
        if self.fresh_added.is_empty() && self.folded.is_empty() {
            return;
        }
        let mut fresh = self.fresh.write().unwrap_or_else(|p| p.into_inner());
        for (key, j) in self.fresh_added.drain(..) {
            fresh.insert(key, j);
        }
        for (key, n) in self.folded.drain(..) {
            if fresh.get(&key).is_some_and(|j| j.n == n) {
                fresh.remove(&key);
            }
        }
    }

    /// Starts a fold once the journal holds `fold_at` keys: a snapshot of the index in key order.
    fn start_fold(&mut self) {
        let fresh = self.fresh.read().unwrap_or_else(|p| p.into_inner());
        if fresh.len() < self.fold_at {
            return;
        }
        self.folding = fresh.iter().map(|(k, j)| (*k, *j)).collect();
        drop(fresh);
        let lowest = self.folding.iter().map(|e| e.1.n).min().unwrap_or(0);
        self.fold_from = self
            .interrupted_from
            .take()
            .map_or(lowest, |f| f.min(lowest));
        self.fold_through = self.folding.iter().map(|e| e.1.n).max().unwrap_or(0);
        // Descending, so that taking from the end folds in ascending key order.
        self.folding
            .sort_unstable_by_key(|e| std::cmp::Reverse(e.0));
    }

    /// Moves the next `FOLD_CHUNK` journal keys into `dedupe` (those already expired are dropped);
    /// a key already there with a later time keeps it. An id key's seq goes into `event_keys`, in
    /// the same key order, while its event is stored (expired or not: the event outlives its key),
    /// unless a later event of that id is there already. Their expiry entries follow in `unjournal`.
    /// The journal rows stay until every key is moved (`unjournal` then removes them in the order
    /// written: removing them key by key here would rewrite every page of the journal in every
    /// chunk); a crash before then folds them again, which changes nothing.
    fn fold(&mut self, t: &mut Tables<'_>, now: u64) -> Result<(), StoreError> {
        for _ in 0..FOLD_CHUNK {
            let Some((key, Journaled { until, n, seq })) = self.folding.pop() else {
                break;
            };
            if seq != 0 && t.summaries()?.get(seq).map_err(storage)?.is_some() {
                insert_max(t.event_keys()?, &key, seq)?;
            }
            if until > now {
                insert_max(t.dedupe()?, &key, until)?;
            }
            self.folded.push((key, n));
        }
        if self.folding.is_empty() && self.unjournal_from.is_none() {
            self.unjournal_from = Some(self.fold_from);
        }
        Ok(())
    }

    /// Once a fold's keys are all in `dedupe`: removes its journal rows in the order written,
    /// `2 * FOLD_CHUNK` numbers per commit, so each page of the journal is rewritten once. Every row
    /// up to the fold's last number was in it (a row is in the index from the commit that writes
    /// it); later rows are kept. (redb's `retain_in` copies pages per row removed: 400 ms for one.)
    ///
    /// Each row's expiry entry is written as the row is removed, in the same commit: a journaled key
    /// needs none before (lookups compare its time, and the fold drops it once expired), and written
    /// here, in the journal's order, they are appended nearly in time order, a few pages per commit,
    /// where writing one with every remembered key cost every commit a path through that tree. A
    /// key the fold dropped gets one too, which the sweep finds it has nothing to remove for.
    fn unjournal(&mut self, t: &mut Tables<'_>) -> Result<(), StoreError> {
        let Some(from) = self.unjournal_from else {
            return Ok(());
        };
        let to = self.fold_through.min(from + 2 * FOLD_CHUNK as u64 - 1);
        for n in from..=to {
            let row = t
                .fresh()?
                .remove(n)
                .map_err(storage)?
                .and_then(|row| read_fresh_row(row.value()));
            if let Some((key, until, _)) = row {
                t.expiry()?.insert((until, &key), ()).map_err(storage)?;
            }
        }
        self.unjournal_from = (to < self.fold_through).then_some(to + 1);
        Ok(())
    }

    /// Whether a fold is under way (its keys still to move, or its journal rows to remove).
    fn folding_now(&self) -> bool {
        !self.folding.is_empty() || self.unjournal_from.is_some()
    }

    /// Remembers `keys` until `until`: into `dedupe` with an expiry entry, or, in a commit that
    /// journals, appended to the journal (its expiry entry is written when the fold is done with it);
    /// the index learns them once the transaction commits. `event` is an accepted event's id key
    /// and seq: its journal row carries the seq, or, where the key is not journaled, it goes into
    /// `event_keys` at once.
    fn remember(
        &mut self,
        t: &mut Tables<'_>,
        keys: &[EventKey],
        until: u64,
        event: Option<([u8; 16], Seq)>,
    ) -> Result<(), StoreError> {
        let mut event_journaled = false;
        if self.journal_batch {
            for k in keys {
                let key = k.to_bytes();
                let mut seq = match event {
                    Some((id_key, seq)) if id_key == key => {
                        event_journaled = true;
                        seq
                    }
                    _ => 0,
                };
                // A key remembered again (after it expired) keeps one journal row: the latest, with
                // the seq of the latest event it is the id key of.
                if let Some(earlier) = self.journal_entry(&key) {
                    t.fresh()?.remove(earlier.n).map_err(storage)?;
                    seq = seq.max(earlier.seq);
                }
                let n = self.fresh_next;
                self.fresh_next += 1;
                t.fresh()?
                    .insert(n, fresh_row(&key, until, seq).as_slice())
                    .map_err(storage)?;
                self.fresh_added.push((key, Journaled { until, n, seq }));
            }
        } else {
            for k in keys {
                let key = k.to_bytes();
                t.dedupe()?.insert(&key, until).map_err(storage)?;
                t.expiry()?.insert((until, &key), ()).map_err(storage)?;
            }
        }
        if let Some((id_key, seq)) = event
            && !event_journaled
        {
            insert_max(t.event_keys()?, &id_key, seq)?;
        }
        Ok(())
    }

    /// The journal's latest row for `key`: added by this transaction, or in the index.
    fn journal_entry(&self, key: &[u8; 16]) -> Option<Journaled> {
        self.fresh_added
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|&(_, j)| j)
            .or_else(|| {
                let index = self.fresh.read().unwrap_or_else(|p| p.into_inner());
                index.get(key).copied()
            })
    }

    /// Whether one of `keys` is remembered and not yet forgotten: in the journal, or in `dedupe`.
    fn remembered(
        &self,
        t: &mut Tables<'_>,
        keys: &[EventKey],
        now: u64,
    ) -> Result<bool, StoreError> {
        for k in keys {
            let key = k.to_bytes();
            if self.journal_entry(&key).is_some_and(|j| j.until > now) {
                return Ok(true);
            }
            if let Some(until) = t.dedupe()?.get(&key).map_err(storage)?
                && until.value() > now
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Applies the committed transaction's changes to the tally readers see.
    fn apply_tally(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let mut tally = self.tally.lock().unwrap_or_else(|p| p.into_inner());
        for d in self.pending.drain(..) {
            tally.apply(d);
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
        // The snapshot holds the file open too.
        self.snapshot.store(None);
        if let Some(old) = self.db.swap(None) {
            let started = Instant::now();
            while Arc::strong_count(&old) > 1 && started.elapsed() < Duration::from_secs(1) {
                std::thread::sleep(Duration::from_millis(1));
            }
            drop(old);
        }
        match open_database(&self.path) {
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

    fn accept(&mut self, t: &mut Tables<'_>, event: NewEvent) -> Result<Seq, StoreError> {
        if self.health.full.load(Ordering::Relaxed) {
            return Err(StoreError::Full);
        }
        let now = now_ms();
        if self.remembered(t, &event.keys, now)? {
            return Err(StoreError::Duplicate);
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        let id_key = EventKey::new(&event.record.route, &event.record.id).to_bytes();
        self.remember(t, &event.keys, event.remember_until_ms, Some((id_key, seq)))?;
        let summary = Summary::queued(&event.record);
        let route = event.record.route.as_str();
        let record = codec::encode(&event.record);
        let summary_bytes = codec::encode(&summary);
        self.written += (record.len() + summary_bytes.len()) as u64;
        t.events()?
            .insert(seq, record.as_slice())
            .map_err(storage)?;
        t.summaries()?
            .insert(seq, summary_bytes.as_slice())
            .map_err(storage)?;
        t.by_route()?.insert((route, seq), ()).map_err(storage)?;
        t.due()?
            .insert((event.record.received_ms, seq), ())
            .map_err(storage)?;
        self.pending.push(Delta::Queued(
            event.record.route,
            seq,
            event.record.received_ms,
        ));
        Ok(seq)
    }

    fn attempt(
        &mut self,
        t: &mut Tables<'_>,
        seq: Seq,
        attempt: Attempt,
    ) -> Result<(), StoreError> {
        let Some(mut s) = t.summary(seq)? else {
            return Err(StoreError::NotFound);
        };
        if let Some(at) = s.next_ms.take() {
            t.due()?.remove((at, seq)).map_err(storage)?;
        }
        s.attempts += 1;
        s.last_status = attempt.status;
        s.last_error = attempt.error.clone();
        match &attempt.outcome {
            Outcome::Delivered => {
                s.state = State::Delivered;
                s.delivered_ms = Some(attempt.at_ms);
                t.retention()?
                    .insert((attempt.at_ms + millis(self.limits.retention), seq), ())
                    .map_err(storage)?;
                self.pending.push(Delta::Settled(s.route.clone(), seq));
            }
            Outcome::Retry { at_ms } => {
                s.state = State::Queued;
                s.next_ms = Some(*at_ms);
                t.due()?.insert((*at_ms, seq), ()).map_err(storage)?;
            }
            Outcome::Dead { reason } => {
                s.state = State::Dead;
                s.dead_reason = Some(reason.clone());
                t.dead()?
                    .insert((s.route.as_str(), seq), ())
                    .map_err(storage)?;
                t.retention()?
                    .insert(
                        (attempt.at_ms + millis(self.limits.dead_retention), seq),
                        (),
                    )
                    .map_err(storage)?;
                self.pending.push(Delta::Dead(s.route.clone(), seq));
            }
        }
        let record = codec::encode(&attempt);
        self.written += record.len() as u64;
        t.attempts()?
            .insert((seq, s.attempts), record.as_slice())
            .map_err(storage)?;
        t.summaries()?
            .insert(seq, codec::encode(&s).as_slice())
            .map_err(storage)?;
        Ok(())
    }

    /// Measures the store against `max_size` (at every sweep).
    /// Measures the bytes in use, which walks every page of the store: at most once a second, and
    /// otherwise rarely enough that measuring takes at most 1% of the writer's time (a store of
    /// gigabytes is measured every few minutes). In between, the last measure plus what was written
    /// since (frees not counted) is the estimate; once that reaches `max_size`, measuring may take
    /// up to 10% of the writer's time, so that a store near its bound is measured often.
    /// Keeps the size figures and the full flag current. The exact measure (`txn.stats()`) walks
    /// every page of the file, and the writer waits for it: 100 to 400 ms on a 2.7 GB store, which
    /// made one commit in a few thousand that slow and was the queued mode's p99 (over 100 ms instead
    /// of 7 ms, `bench/run.py`). It is taken only where it decides something: at the first sweep,
    /// and while the file is at least `max_size` (only then can the pages in use reach it), then at
    /// most a tenth of the writer's time. Otherwise the bytes in use are estimated: the last measure
    /// plus what was written since, at most the file's length.
    fn check_size(&mut self, txn: &WriteTransaction) {
        let file = std::fs::metadata(&self.path).map_or(0, |m| m.len());
        self.health.file_bytes.store(file, Ordering::Relaxed);
        let estimate = (self.health.used_bytes.load(Ordering::Relaxed) + self.written).min(file);
        let needed = self.measured.is_none() || file >= self.limits.max_size;
        let due = self
            .measured
            .is_none_or(|(at, took)| at.elapsed() >= (took * 10).max(SWEEP_EVERY));
        if !(needed && due) {
            self.health.used_bytes.store(estimate, Ordering::Relaxed);
            self.written = 0;
            if file < self.limits.max_size && self.health.full.swap(false, Ordering::Relaxed) {
                tracing::info!(used_bytes = estimate, "the store has room again");
            }
            return;
        }
        let started = Instant::now();
        let stats = match txn.stats() {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "cannot measure the store");
                return;
            }
        };
        self.measured = Some((Instant::now(), started.elapsed()));
        self.written = 0;
        // Pages in use; the file may be larger (free pages are reused before it grows).
        let used = stats.allocated_pages() * stats.page_size() as u64;
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

/// Sets `key` to `value` in a table keyed by dedupe or id keys, unless it holds a larger value
/// already (a later time in `dedupe`, a later event in `event_keys`), which it keeps.
fn insert_max(
    table: &mut Table<'_, &'static [u8; 16], u64>,
    key: &[u8; 16],
    value: u64,
) -> Result<(), StoreError> {
    let earlier = table
        .insert(key, value)
        .map_err(storage)?
        .map(|v| v.value());
    if let Some(larger) = earlier.filter(|&e| e > value) {
        table.insert(key, larger).map_err(storage)?;
    }
    Ok(())
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Queues `seqs` again, due `now`. A retention entry they may have is left in place: the sweep
/// skips events that are queued again.
fn replay(
    t: &mut Tables<'_>,
    seqs: &[Seq],
    now: u64,
    tally: &mut Vec<Delta>,
) -> Result<Vec<Seq>, StoreError> {
    let mut done = Vec::new();
    for &seq in seqs {
        let Some(mut s) = t.summary(seq)? else {
            continue;
        };
        if s.state == State::Dead {
            t.dead()?.remove((s.route.as_str(), seq)).map_err(storage)?;
            tally.push(Delta::Undead(s.route.clone()));
        }
        if let Some(at) = s.next_ms.take() {
            t.due()?.remove((at, seq)).map_err(storage)?;
        }
        s.state = State::Queued;
        s.next_ms = Some(now);
        s.dead_reason = None;
        s.replays += 1;
        t.due()?.insert((now, seq), ()).map_err(storage)?;
        t.summaries()?
            .insert(seq, codec::encode(&s).as_slice())
            .map_err(storage)?;
        tally.push(Delta::Queued(s.route.clone(), seq, s.received_ms));
        done.push(seq);
    }
    Ok(done)
}

/// Removes delivered and dead events whose retention has passed, and dedupe keys whose time has
/// passed, a bounded number per sweep.
/// Removes what has expired, `SWEEP_LIMIT` at most of each kind; answers whether more remain.
fn sweep(t: &mut Tables<'_>, now: u64, tally: &mut Vec<Delta>) -> Result<bool, StoreError> {
    let expired: Vec<(u64, u64)> = t
        .retention()?
        .range(..(now, u64::MAX))
        .map_err(storage)?
        .take(SWEEP_LIMIT)
        .map(|r| r.map(|(k, _)| k.value()).map_err(storage))
        .collect::<Result<_, _>>()?;
    let mut more = expired.len() == SWEEP_LIMIT;
    for (at, seq) in expired {
        t.retention()?.remove((at, seq)).map_err(storage)?;
        let Some(s) = t.summary(seq)? else {
            continue;
        };
        if s.state == State::Queued {
            // Replayed since its retention was set: it stays until it settles again.
            continue;
        }
        t.summaries()?.remove(seq).map_err(storage)?;
        t.events()?.remove(seq).map_err(storage)?;
        t.attempts()?
            .retain_in((seq, 0)..=(seq, u32::MAX), |_, _| false)
            .map_err(storage)?;
        let id_key = EventKey::new(&s.route, &s.id).to_bytes();
        if t.event_keys()?
            .get(&id_key)
            .map_err(storage)?
            .map(|v| v.value())
            == Some(seq)
        {
            t.event_keys()?.remove(&id_key).map_err(storage)?;
        }
        // Events of earlier builds are in `ids`; once they are gone it is empty, and this finds
        // nothing to remove.
        t.ids()?
            .remove((s.route.as_str(), s.id.as_str()))
            .map_err(storage)?;
        t.by_route()?
            .remove((s.route.as_str(), seq))
            .map_err(storage)?;
        if t.dead()?
            .remove((s.route.as_str(), seq))
            .map_err(storage)?
            .is_some()
        {
            tally.push(Delta::DeadGone(s.route.clone()));
        }
    }
    let gone: Vec<(u64, [u8; 16])> = t
        .expiry()?
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
    more |= gone.len() == SWEEP_LIMIT;
    for (at, key) in gone {
        t.expiry()?.remove((at, &key)).map_err(storage)?;
        let current = t.dedupe()?.get(&key).map_err(storage)?.map(|v| v.value());
        if current == Some(at) {
            t.dedupe()?.remove(&key).map_err(storage)?;
        }
    }
    Ok(more)
}
