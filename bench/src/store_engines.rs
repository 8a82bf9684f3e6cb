//! The embedded store's engine, chosen by measurement: redb against SQLite (WAL, synchronous=FULL),
//! writing what hookgate's queued mode writes per accepted event (the event of ~1.3 KB, its delivery
//! state and its dedupe key) in group commits of 1, 8 and 64 events, each commit fsynced, then reading
//! dedupe keys back.
//!
//!     cargo run --release -p hookgate-bench --bin store-engines [-- EVENTS]
//!
//! Prints, per engine and batch size: events per second, commits (fsyncs) per second, CPU time per
//! event, and the time of a dedupe-key lookup.

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
    Figures {
        events_per_s: events as f64 / elapsed.as_secs_f64(),
        commits_per_s: commits as f64 / elapsed.as_secs_f64(),
        cpu_per_event_us: used.as_secs_f64() * 1e6 / events as f64,
        lookup_us: lookup.as_secs_f64() * 1e6 / lookups as f64,
    }
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
    Figures {
        events_per_s: events as f64 / elapsed.as_secs_f64(),
        commits_per_s: commits as f64 / elapsed.as_secs_f64(),
        cpu_per_event_us: used.as_secs_f64() * 1e6 / events as f64,
        lookup_us: lookup.as_secs_f64() * 1e6 / lookups as f64,
    }
}

fn main() {
    let events: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20_000);
    let dir = std::env::temp_dir().join(format!("hookgate-store-engines-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
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
    let _ = std::fs::remove_dir_all(&dir);
}
