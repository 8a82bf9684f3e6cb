//! The embedded store's engine, chosen by measurement: redb against SQLite (WAL, synchronous=FULL),
//! writing what hookgate's queued mode writes per accepted event (the event of ~1.3 KB, its delivery
//! state and its dedupe key) in group commits of 1, 8 and 64 events, each commit fsynced, then reading
//! dedupe keys back.
//!
//!     cargo run --release -p hookgate-bench --bin store-engines [-- EVENTS [queued]]
//!
//! Prints, per engine and batch size: events per second, commits (fsyncs) per second, CPU time per
//! event, and the time of a dedupe-key lookup.
//!
//! Then the whole of a queued event's writes, as hookgate's embedded engine lays them out (its accept
//! and its delivered attempt, sharing commits the way the writer shares them), once in full and once
//! without each table, so that what each table costs the writer is measured rather than guessed; and
//! the same writes in SQLite, one table for one table.

use std::time::{Duration, Instant};

const BODY: usize = 1300;

fn cpu() -> Duration {
    let mut usage = std::mem::MaybeUninit::<libc_rusage>::uninit();
    // SAFETY: getrusage writes a struct rusage into the pointer it is given.
    unsafe { getrusage(0, usage.as_mut_ptr()) };
    let u = unsafe { usage.assume_init() };
    Duration::from_micros(
        (u.utime_sec * 1_000_000 + u.utime_usec + u.stime_sec * 1_000_000 + u.stime_usec) as u64,
    )
}

#[repr(C)]
struct libc_rusage {
    utime_sec: i64,
    utime_usec: i64,
    stime_sec: i64,
    stime_usec: i64,
    rest: [i64; 14],
}

unsafe extern "C" {
    fn getrusage(who: i32, usage: *mut libc_rusage) -> i32;
}

fn key(i: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&i.wrapping_mul(0x9E37_79B9_7F4A_7C15).to_le_bytes());
    k[8..].copy_from_slice(&i.to_le_bytes());
    k
}

struct Figures {
    events_per_s: f64,
    commits_per_s: f64,
    cpu_per_event_us: f64,
    lookup_us: f64,
}

impl Figures {
    /// `events` written in `commits` over `elapsed`, using `used` CPU time.
    fn of(events: u64, commits: u64, elapsed: Duration, used: Duration, lookup_us: f64) -> Figures {
        Figures {
            events_per_s: events as f64 / elapsed.as_secs_f64(),
            commits_per_s: commits as f64 / elapsed.as_secs_f64(),
            cpu_per_event_us: used.as_secs_f64() * 1e6 / events as f64,
            lookup_us,
        }
    }
}

fn redb_run(dir: &std::path::Path, events: u64, batch: u64) -> Figures {
    use redb::{Database, ReadableDatabase, TableDefinition};
    const EVENTS: TableDefinition<u64, &[u8]> = TableDefinition::new("events");
    const DEDUPE: TableDefinition<&[u8; 16], u64> = TableDefinition::new("dedupe");
    const DUE: TableDefinition<(u64, u64), ()> = TableDefinition::new("due");
    let path = dir.join(format!("redb-{batch}.redb"));
    let _ = std::fs::remove_file(&path);
    let db = Database::create(&path).unwrap();
    let body = vec![b'x'; BODY];
    let (started, cpu0) = (Instant::now(), cpu());
    let mut i = 0;
    let mut commits = 0u64;
    while i < events {
        let txn = db.begin_write().unwrap();
        {
            let mut ev = txn.open_table(EVENTS).unwrap();
            let mut dd = txn.open_table(DEDUPE).unwrap();
            let mut due = txn.open_table(DUE).unwrap();
            for _ in 0..batch {
                ev.insert(i, body.as_slice()).unwrap();
                dd.insert(&key(i), i + 86_400_000).unwrap();
                due.insert((i, i), ()).unwrap();
                i += 1;
            }
        }
        txn.commit().unwrap();
        commits += 1;
    }
    let (elapsed, used) = (started.elapsed(), cpu() - cpu0);
    let lookups = 20_000u64;
    let started = Instant::now();
    let read = db.begin_read().unwrap();
    let dd = read.open_table(DEDUPE).unwrap();
    for n in 0..lookups {
        assert!(dd.get(&key(n * 7 % events)).unwrap().is_some());
    }
    let lookup = started.elapsed();
    Figures::of(
        events,
        commits,
        elapsed,
        used,
        lookup.as_secs_f64() * 1e6 / lookups as f64,
    )
}

fn sqlite_run(dir: &std::path::Path, events: u64, batch: u64) -> Figures {
    let path = dir.join(format!("sqlite-{batch}.db"));
    let _ = std::fs::remove_file(&path);
    let mut db = rusqlite::Connection::open(&path).unwrap();
    db.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;
         CREATE TABLE events (seq INTEGER PRIMARY KEY, body BLOB NOT NULL);
         CREATE TABLE dedupe (key BLOB PRIMARY KEY, expires INTEGER NOT NULL) WITHOUT ROWID;
         CREATE TABLE due (at INTEGER NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (at, seq)) WITHOUT ROWID;",
    )
    .unwrap();
    let body = vec![b'x'; BODY];
    let (started, cpu0) = (Instant::now(), cpu());
    let mut i = 0;
    let mut commits = 0u64;
    while i < events {
        let txn = db.transaction().unwrap();
        {
            let mut ev = txn
                .prepare_cached("INSERT INTO events VALUES (?1, ?2)")
                .unwrap();
            let mut dd = txn
                .prepare_cached("INSERT INTO dedupe VALUES (?1, ?2)")
                .unwrap();
            let mut due = txn
                .prepare_cached("INSERT INTO due VALUES (?1, ?2)")
                .unwrap();
            for _ in 0..batch {
                ev.execute(rusqlite::params![i as i64, &body]).unwrap();
                dd.execute(rusqlite::params![&key(i)[..], (i + 86_400_000) as i64])
                    .unwrap();
                due.execute(rusqlite::params![i as i64, i as i64]).unwrap();
                i += 1;
            }
        }
        txn.commit().unwrap();
        commits += 1;
    }
    let (elapsed, used) = (started.elapsed(), cpu() - cpu0);
    let lookups = 20_000u64;
    let started = Instant::now();
    let mut q = db
        .prepare_cached("SELECT expires FROM dedupe WHERE key = ?1")
        .unwrap();
    for n in 0..lookups {
        let found: i64 = q
            .query_row(rusqlite::params![&key(n * 7 % events)[..]], |r| r.get(0))
            .unwrap();
        assert!(found > 0);
    }
    let lookup = started.elapsed();
    Figures::of(
        events,
        commits,
        elapsed,
        used,
        lookup.as_secs_f64() * 1e6 / lookups as f64,
    )
}

/// Sizes of what hookgate writes for the load benchmark's event (964-byte body, store format 2).
const RECORD: usize = 1_900;
const SUMMARY: usize = 110;
const ATTEMPT: usize = 48;
const ROUTE: &str = "chamelio";

/// A vendor-like event id ("evt_" and 24 letters and digits), random so that the id index's inserts
/// land on random leaves as real ids do.
fn event_id(i: u64) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut x = i.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut id = String::from("evt_");
    for _ in 0..24 {
        x ^= x >> 31;
        x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
        id.push(ALPHABET[(x % 62) as usize] as char);
    }
    id
}

/// The tables of hookgate's queued write set, each of which a variant can leave out.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Part {
    /// Everything below.
    All,
    /// The (route, id) → seq index.
    NoIds,
    /// The (route, seq) listing index.
    NoByRoute,
    /// The summary written at accept (the delivery still writes one).
    NoAcceptSummary,
    /// The attempt record of the delivered attempt.
    NoAttempt,
    /// The dedupe key: its journal row at accept and its fold into the key table and expiry.
    NoDedupe,
}

/// hookgate's dedupe journal folds once it holds this many keys, in key order, this many per commit
/// (`store::embedded::FOLD_AT` and its chunk), then removes the rows twice as many per commit,
/// writing each key's expiry entry.
const FOLD_AT: usize = 16_384;
const FOLD_CHUNK: usize = 1_024;

/// The journal's state between commits, as the writer keeps it.
#[derive(Default)]
struct Journal {
    /// Rows written and not yet folded: (journal number, key).
    unfolded: Vec<(u64, [u8; 16])>,
    /// The fold under way, in descending key order (taken from the end).
    folding: Vec<(u64, [u8; 16])>,
    /// Rows to remove once folded.
    unjournal: std::collections::VecDeque<(u64, [u8; 16])>,
}

/// Writes `events` queued events as hookgate does: a commit carries the accepts of `batch` new events
/// and the delivered attempts of the `batch` accepted by the commit before (its due entry removed, a
/// retention entry, the attempt, the summary rewritten); the dedupe journal's rows are folded into the
/// key table and its expiry index in the same commits, as the writer's fold does.
fn redb_queued(dir: &std::path::Path, events: u64, batch: u64, part: Part) -> Figures {
    use redb::{ReadableTable, TableDefinition};
    const EVENTS: TableDefinition<u64, &[u8]> = TableDefinition::new("events");
    const SUMMARIES: TableDefinition<u64, &[u8]> = TableDefinition::new("summaries");
    const ATTEMPTS: TableDefinition<(u64, u32), &[u8]> = TableDefinition::new("attempts");
    const IDS: TableDefinition<(&str, &str), u64> = TableDefinition::new("ids");
    const BY_ROUTE: TableDefinition<(&str, u64), ()> = TableDefinition::new("by_route");
    const DUE: TableDefinition<(u64, u64), ()> = TableDefinition::new("due");
    const RETENTION: TableDefinition<(u64, u64), ()> = TableDefinition::new("retention");
    const DEDUPE: TableDefinition<&[u8; 16], u64> = TableDefinition::new("dedupe");
    const FRESH: TableDefinition<u64, &[u8]> = TableDefinition::new("dedupe_fresh");
    const EXPIRY: TableDefinition<(u64, &[u8; 16]), ()> = TableDefinition::new("dedupe_expiry");
    let path = dir.join(format!("redb-queued-{batch}-{part:?}.redb"));
    let _ = std::fs::remove_file(&path);
    let db = redb::Builder::new()
        .set_cache_size(64 << 20)
        .create(&path)
        .unwrap();
    let (record, summary, attempt) = (vec![b'r'; RECORD], vec![b's'; SUMMARY], vec![b'a'; ATTEMPT]);
    let ids: Vec<String> = (0..events).map(event_id).collect();
    let mut journal = Journal::default();
    let (started, cpu0) = (Instant::now(), cpu());
    let (mut i, mut commits) = (0u64, 0u64);
    while i < events + batch {
        let txn = db.begin_write().unwrap();
        {
            let mut ev = txn.open_table(EVENTS).unwrap();
            let mut su = txn.open_table(SUMMARIES).unwrap();
            let mut at = txn.open_table(ATTEMPTS).unwrap();
            let mut id = txn.open_table(IDS).unwrap();
            let mut br = txn.open_table(BY_ROUTE).unwrap();
            let mut due = txn.open_table(DUE).unwrap();
            let mut ret = txn.open_table(RETENTION).unwrap();
            let mut dd = txn.open_table(DEDUPE).unwrap();
            let mut fr = txn.open_table(FRESH).unwrap();
            let mut ex = txn.open_table(EXPIRY).unwrap();
            // The previous commit's events, delivered.
            for s in i.saturating_sub(batch)..i.min(events) {
                // Without a summary of its own, the delivery builds it from the event record.
                if part == Part::NoAcceptSummary {
                    assert!(ev.get(s).unwrap().is_some());
                } else {
                    assert!(su.get(s).unwrap().is_some());
                }
                due.remove((s, s)).unwrap();
                ret.insert((s + 86_400_000, s), ()).unwrap();
                if part != Part::NoAttempt {
                    at.insert((s, 1), attempt.as_slice()).unwrap();
                }
                su.insert(s, summary.as_slice()).unwrap();
            }
            // The journal's fold, as the writer does it: keys into the key table in key order,
            // then the rows out in the order written, each with its expiry entry.
            if journal.folding.is_empty()
                && journal.unjournal.is_empty()
                && journal.unfolded.len() >= FOLD_AT
            {
                journal.folding = std::mem::take(&mut journal.unfolded);
                journal
                    .folding
                    .sort_unstable_by_key(|e| std::cmp::Reverse(e.1));
            }
            if !journal.folding.is_empty() {
                for _ in 0..FOLD_CHUNK {
                    let Some((n, k)) = journal.folding.pop() else {
                        break;
                    };
                    dd.insert(&k, n + 86_400_000).unwrap();
                    journal.unjournal.push_back((n, k));
                }
                if journal.folding.is_empty() {
                    journal
                        .unjournal
                        .make_contiguous()
                        .sort_unstable_by_key(|e| e.0);
                }
            } else {
                for _ in 0..2 * FOLD_CHUNK {
                    let Some((n, k)) = journal.unjournal.pop_front() else {
                        break;
                    };
                    fr.remove(n).unwrap();
                    ex.insert((n + 86_400_000, &k), ()).unwrap();
                }
            }
            // This commit's accepts.
            for s in i..(i + batch).min(events) {
                if part != Part::NoDedupe {
                    let mut row = [0u8; 24];
                    row[..16].copy_from_slice(&key(s));
                    fr.insert(s, row.as_slice()).unwrap();
                    journal.unfolded.push((s, key(s)));
                }
                ev.insert(s, record.as_slice()).unwrap();
                if part != Part::NoAcceptSummary {
                    su.insert(s, summary.as_slice()).unwrap();
                }
                if part != Part::NoIds {
                    id.insert((ROUTE, ids[s as usize].as_str()), s).unwrap();
                }
                if part != Part::NoByRoute {
                    br.insert((ROUTE, s), ()).unwrap();
                }
                due.insert((s, s), ()).unwrap();
            }
        }
        txn.commit().unwrap();
        commits += 1;
        i += batch;
    }
    let (elapsed, used) = (started.elapsed(), cpu() - cpu0);
    Figures::of(events, commits, elapsed, used, 0.0)
}

/// The same writes in SQLite (WAL, `synchronous=FULL`), table for table; the dedupe key goes straight
/// into its table (SQLite's commit writes only the pages it changed to the log, so the journal that
/// redb needs buys it nothing).
fn sqlite_queued(dir: &std::path::Path, events: u64, batch: u64) -> Figures {
    let path = dir.join(format!("sqlite-queued-{batch}.db"));
    let _ = std::fs::remove_file(&path);
    let mut db = rusqlite::Connection::open(&path).unwrap();
    db.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA cache_size=-65536;
         CREATE TABLE events (seq INTEGER PRIMARY KEY, record BLOB NOT NULL);
         CREATE TABLE summaries (seq INTEGER PRIMARY KEY, summary BLOB NOT NULL);
         CREATE TABLE attempts (seq INTEGER, n INTEGER, attempt BLOB NOT NULL, PRIMARY KEY (seq, n)) WITHOUT ROWID;
         CREATE TABLE ids (route TEXT, id TEXT, seq INTEGER NOT NULL, PRIMARY KEY (route, id)) WITHOUT ROWID;
         CREATE TABLE by_route (route TEXT, seq INTEGER, PRIMARY KEY (route, seq)) WITHOUT ROWID;
         CREATE TABLE due (at INTEGER, seq INTEGER, PRIMARY KEY (at, seq)) WITHOUT ROWID;
         CREATE TABLE retention (at INTEGER, seq INTEGER, PRIMARY KEY (at, seq)) WITHOUT ROWID;
         CREATE TABLE dedupe (key BLOB PRIMARY KEY, until INTEGER NOT NULL) WITHOUT ROWID;
         CREATE TABLE expiry (until INTEGER, key BLOB, PRIMARY KEY (until, key)) WITHOUT ROWID;",
    )
    .unwrap();
    let (record, summary, attempt) = (vec![b'r'; RECORD], vec![b's'; SUMMARY], vec![b'a'; ATTEMPT]);
    let ids: Vec<String> = (0..events).map(event_id).collect();
    let (started, cpu0) = (Instant::now(), cpu());
    let (mut i, mut commits) = (0u64, 0u64);
    while i < events + batch {
        let txn = db.transaction().unwrap();
        {
            let mut get = txn
                .prepare_cached("SELECT summary FROM summaries WHERE seq = ?1")
                .unwrap();
            let mut undue = txn
                .prepare_cached("DELETE FROM due WHERE at = ?1 AND seq = ?2")
                .unwrap();
            let mut ret = txn
                .prepare_cached("INSERT INTO retention VALUES (?1, ?2)")
                .unwrap();
            let mut at = txn
                .prepare_cached("INSERT INTO attempts VALUES (?1, 1, ?2)")
                .unwrap();
            let mut su = txn
                .prepare_cached("INSERT OR REPLACE INTO summaries VALUES (?1, ?2)")
                .unwrap();
            let mut ev = txn
                .prepare_cached("INSERT INTO events VALUES (?1, ?2)")
                .unwrap();
            let mut id = txn
                .prepare_cached("INSERT INTO ids VALUES (?1, ?2, ?3)")
                .unwrap();
            let mut br = txn
                .prepare_cached("INSERT INTO by_route VALUES (?1, ?2)")
                .unwrap();
            let mut due = txn
                .prepare_cached("INSERT INTO due VALUES (?1, ?2)")
                .unwrap();
            let mut dd = txn
                .prepare_cached("INSERT INTO dedupe VALUES (?1, ?2)")
                .unwrap();
            let mut ex = txn
                .prepare_cached("INSERT INTO expiry VALUES (?1, ?2)")
                .unwrap();
            for s in i.saturating_sub(batch)..i.min(events) {
                let s = s as i64;
                let _: Vec<u8> = get.query_row([s], |r| r.get(0)).unwrap();
                undue.execute([s, s]).unwrap();
                ret.execute([s + 86_400_000, s]).unwrap();
                at.execute(rusqlite::params![s, &attempt]).unwrap();
                su.execute(rusqlite::params![s, &summary]).unwrap();
            }
            for s in i..(i + batch).min(events) {
                let k = key(s);
                let s = s as i64;
                dd.execute(rusqlite::params![&k[..], s + 86_400_000])
                    .unwrap();
                ex.execute(rusqlite::params![s + 86_400_000, &k[..]])
                    .unwrap();
                ev.execute(rusqlite::params![s, &record]).unwrap();
                su.execute(rusqlite::params![s, &summary]).unwrap();
                id.execute(rusqlite::params![ROUTE, ids[s as usize], s])
                    .unwrap();
                br.execute(rusqlite::params![ROUTE, s]).unwrap();
                due.execute([s, s]).unwrap();
            }
        }
        txn.commit().unwrap();
        commits += 1;
        i += batch;
    }
    let (elapsed, used) = (started.elapsed(), cpu() - cpu0);
    Figures::of(events, commits, elapsed, used, 0.0)
}

/// Each configuration in turn, `ROUNDS` times over, so that the machine's slow moments fall on all
/// of them alike; each figure is the median of its rounds, and its ratio is the median of the
/// per-round ratios to redb with every table.
fn queued_section(dir: &std::path::Path, events: u64) {
    const ROUNDS: usize = 3;
    println!();
    println!(
        "Queued mode's whole write set, {events} events ({RECORD}-byte record, {SUMMARY}-byte \
         summary, {ATTEMPT}-byte attempt, random vendor-like ids), accept and delivered attempt per \
         event, median of {ROUNDS} rounds"
    );
    println!(
        "| engine, tables | events per commit | events/s | commits (fsyncs)/s | CPU µs per event | vs redb, All |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    let parts = [
        Some(Part::All),
        Some(Part::NoIds),
        Some(Part::NoByRoute),
        Some(Part::NoAcceptSummary),
        Some(Part::NoAttempt),
        Some(Part::NoDedupe),
        None,
    ];
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    for batch in [16u64, 64] {
        let mut runs: Vec<Vec<Figures>> = parts.iter().map(|_| Vec::new()).collect();
        for _ in 0..ROUNDS {
            for (part, figures) in parts.iter().zip(runs.iter_mut()) {
                figures.push(match part {
                    Some(part) => redb_queued(dir, events, batch, *part),
                    None => sqlite_queued(dir, events, batch),
                });
            }
        }
        for (part, figures) in parts.iter().zip(&runs) {
            let name = part.map_or("sqlite, All".to_string(), |p| format!("redb, {p:?}"));
            let ratio = median(
                figures
                    .iter()
                    .zip(&runs[0])
                    .map(|(f, all)| f.cpu_per_event_us / all.cpu_per_event_us)
                    .collect(),
            );
            println!(
                "| {name} | {batch} | {:.0} | {:.0} | {:.1} | {ratio:.2}x |",
                median(figures.iter().map(|f| f.events_per_s).collect()),
                median(figures.iter().map(|f| f.commits_per_s).collect()),
                median(figures.iter().map(|f| f.cpu_per_event_us).collect()),
            );
        }
    }
}

fn main() {
    let events: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20_000);
    let dir = std::env::temp_dir().join(format!("hookgate-store-engines-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    if std::env::args().nth(2).as_deref() == Some("queued") {
        queued_section(&dir, events);
        let _ = std::fs::remove_dir_all(&dir);
        return;
    }
    println!(
        "{events} events of {BODY} bytes, each commit fsynced; directory {}",
        dir.display()
    );
    println!(
        "| engine | events per commit | events/s | commits (fsyncs)/s | CPU µs per event | dedupe lookup µs |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for batch in [1u64, 8, 64, 256] {
        // Fewer events for one-per-commit: each costs a full fsync.
        let n = if batch == 1 { events / 10 } else { events };
        for (name, run) in [
            (
                "redb",
                redb_run as fn(&std::path::Path, u64, u64) -> Figures,
            ),
            ("sqlite", sqlite_run),
        ] {
            let f = run(&dir, n, batch);
            println!(
                "| {name} | {batch} | {:.0} | {:.0} | {:.1} | {:.2} |",
                f.events_per_s, f.commits_per_s, f.cpu_per_event_us, f.lookup_us
            );
        }
    }
    queued_section(&dir, events);
    let _ = std::fs::remove_dir_all(&dir);
}
