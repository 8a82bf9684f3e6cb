//! Resident memory of the dedupe store: `cargo bench --bench dedupe_memory`.
//!
//! Remembers one million delivered events (claim, then commit, as the gateway does) in a store sized
//! for them, and prints the growth of this process's resident set. The budget is 150 MB per million;
//! the program exits with an error above it.

use hookgate::replay::{Claim, Dedupe, EventKey, Keys};
use std::time::{Duration, Instant};

const EVENTS: u64 = 1_000_000;
const BUDGET_MB: f64 = 150.0;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .expect("/proc/self/status has VmRSS (Linux)")
}

fn main() {
    // `cargo bench` passes --bench; anything else is ignored too.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let before = rss_kib();
    // Headroom over the events remembered, as an operator would size server.dedupe_capacity.
    let dedupe = Dedupe::new();
    dedupe.configure(&[(std::sync::Arc::from("stripe"), (EVENTS * 11 / 10) as usize)]);
    let ttl = Duration::from_secs(86_400);
    let started = Instant::now();
    runtime.block_on(async {
        for i in 0..EVENTS {
            let key = Keys::id_only(EventKey::new(
                "stripe",
                &format!("evt_1NG8Du2eZvKYlo2C{i:010}"),
            ));
            match dedupe.claim("stripe", key, ttl).await {
                Ok(Claim::Fresh(claim)) => claim.commit(ttl),
                _ => panic!("every event is new"),
            }
        }
    });
    let elapsed = started.elapsed();
    let after = rss_kib();
    let remembered = dedupe.len();
    let mb = (after - before) as f64 / 1024.0;
    let per = (after - before) as f64 * 1024.0 / remembered as f64;
    println!(
        "dedupe memory: {remembered} events remembered, RSS +{mb:.1} MiB ({per:.0} bytes per event; budget {BUDGET_MB} MB per million); {:.0} ns per claim+commit",
        elapsed.as_nanos() as f64 / EVENTS as f64
    );
    assert!(
        remembered >= EVENTS * 99 / 100,
        "evicted too early: {remembered}"
    );
    if mb * 1_000_000.0 / remembered as f64 > BUDGET_MB {
        eprintln!("over budget");
        std::process::exit(1);
    }
}
