//! The embedded store opened, written, reopened and damaged on a real file.

use super::*;
use redb::ReadableTableMetadata;

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

/// Limits under which a settled event is past its retention at once.
fn settled_expire_at_once() -> Limits {
    Limits {
        retention: Duration::ZERO,
        ..limits()
    }
}

/// Opens the store in `d` again once the previous handle's writer thread has let the file go (it
/// ends when its channel closes; the lock is released with the database).
fn reopen(d: &Path) -> Embedded {
    let started = Instant::now();
    loop {
        match Embedded::open(d, limits(), observer()) {
            Ok(s) => return s,
            Err(_) if started.elapsed() < Duration::from_secs(5) => {
                std::thread::sleep(Duration::from_millis(20))
            }
            Err(e) => panic!("{e}"),
        }
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
    let s = reopen(&d);
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
async fn more_expired_events_than_one_sweep_takes_are_all_removed_slice_by_slice() {
    let d = dir("slices");
    let s = Embedded::open(&d, settled_expire_at_once(), observer()).unwrap();
    let n = SWEEP_LIMIT * 2 + 50;
    for i in 0..n {
        let mut e = event("r", &format!("evt_{i}"));
        e.remember_until_ms = now_ms() + 1;
        let seq = s.accept(e).await.unwrap();
        s.attempt(seq, attempt(Outcome::Delivered)).await.unwrap();
    }
    std::thread::sleep(Duration::from_millis(5));
    s.sweep().await;
    // Three slices are needed. A write is answered once its commit is done, and while expired
    // records remain every commit sweeps one more slice: after the first write the first slice is
    // done, after the third the third. A writer that waited for its next periodic sweep (a second
    // away) would still hold most of them.
    for k in 0..3 {
        s.remember(
            vec![EventKey::new("other", &format!("x{k}"))],
            now_ms() + 60_000,
        )
        .await
        .unwrap();
    }
    let left = s
        .list(&Filter {
            limit: 10_000,
            route: Some("r".into()),
            ..Filter::default()
        })
        .await
        .unwrap()
        .len();
    let keys = (0..n)
        .filter(|i| s.seen(&[EventKey::new("r", &format!("evt_{i}"))]).unwrap())
        .count();
    assert_eq!((left, keys), (0, 0), "events and dedupe keys left");
    let _ = std::fs::remove_dir_all(&d);
}

#[tokio::test]
async fn retention_removes_settled_events_and_expired_keys() {
    let d = dir("retention");
    let s = Embedded::open(&d, settled_expire_at_once(), observer()).unwrap();
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

/// Counts by state got the slow way: a scan of every event through the listing API.
async fn scanned(s: &Embedded) -> Vec<(String, State, u64)> {
    let all = s
        .list(&Filter {
            limit: 1000,
            ..Filter::default()
        })
        .await
        .unwrap();
    let mut counts: std::collections::BTreeMap<(String, State), u64> = Default::default();
    for e in all {
        if matches!(e.summary.state, State::Queued | State::Dead) {
            *counts
                .entry((e.summary.route, e.summary.state))
                .or_default() += 1;
        }
    }
    counts.into_iter().map(|((r, st), n)| (r, st, n)).collect()
}

#[tokio::test]
async fn the_tally_matches_a_scan_through_every_change_and_after_reopening() {
    let d = dir("tally");
    let (a2, first_b) = {
        let s = Embedded::open(&d, limits(), observer()).unwrap();
        let mut b_first = event("b", "evt_b1");
        b_first.record.received_ms = 1_000;
        let b1 = s.accept(b_first).await.unwrap();
        let a1 = s.accept(event("a", "evt_a1")).await.unwrap();
        let a2 = s.accept(event("a", "evt_a2")).await.unwrap();
        s.accept(event("a", "evt_a3")).await.unwrap();
        s.accept(event("b", "evt_b2")).await.unwrap();
        assert_eq!(s.counts().await.unwrap(), scanned(&s).await);
        assert_eq!(
            s.counts().await.unwrap(),
            vec![
                ("a".into(), State::Queued, 3),
                ("b".into(), State::Queued, 2)
            ]
        );
        // A retry stays queued, a delivery leaves the queue, a dead letter moves to dead.
        s.attempt(
            a1,
            attempt(Outcome::Retry {
                at_ms: now_ms() + 9000,
            }),
        )
        .await
        .unwrap();
        s.attempt(a2, attempt(Outcome::Delivered)).await.unwrap();
        s.attempt(
            b1,
            attempt(Outcome::Dead {
                reason: "410".into(),
            }),
        )
        .await
        .unwrap();
        s.attempt(
            a1,
            attempt(Outcome::Dead {
                reason: "410".into(),
            }),
        )
        .await
        .unwrap();
        assert_eq!(s.counts().await.unwrap(), scanned(&s).await);
        assert_eq!(
            s.counts().await.unwrap(),
            vec![
                ("a".into(), State::Queued, 1),
                ("a".into(), State::Dead, 1),
                ("b".into(), State::Queued, 1),
                ("b".into(), State::Dead, 1),
            ]
        );
        (a2, b1)
    };
    let s = reopen(&d);
    // Read back from the file, the tally is what it was.
    assert_eq!(s.counts().await.unwrap(), scanned(&s).await);
    assert_eq!(s.counts().await.unwrap().len(), 4);
    // Replaying a dead letter and a delivered event queues both again; a seq that is queued
    // already is not counted twice.
    let replayed = s.replay(vec![first_b, a2]).await.unwrap();
    assert_eq!(replayed, vec![first_b, a2]);
    assert_eq!(s.counts().await.unwrap(), scanned(&s).await);
    assert_eq!(
        s.counts().await.unwrap(),
        vec![
            ("a".into(), State::Queued, 2),
            ("a".into(), State::Dead, 1),
            ("b".into(), State::Queued, 2),
        ]
    );
    // The oldest queued of b is the one received at 1 000 ms, replayed.
    let oldest = s.oldest_queued().await.unwrap();
    assert!(oldest.contains(&("b".into(), 1_000)), "{oldest:?}");
    let _ = std::fs::remove_dir_all(&d);
}

/// Rows in the journal of fresh keys and in `dedupe`, read from the file.
fn journal_and_table(s: &Embedded) -> (usize, usize) {
    let txn = s.read().unwrap();
    let fresh = txn.open_table(FRESH).unwrap().len().unwrap();
    let dedupe = txn.open_table(DEDUPE).unwrap().len().unwrap();
    (fresh as usize, dedupe as usize)
}

#[tokio::test]
async fn remembered_keys_go_to_the_journal_survive_reopening_and_fold_into_the_table() {
    let d = dir("fold");
    let keys: Vec<EventKey> = (0..5)
        .map(|i| EventKey::new("r", &format!("d{i}")))
        .collect();
    let later = now_ms() + 60_000;
    {
        let s = Embedded::open_folding_at(&d, limits(), observer(), 4, 1).unwrap();
        for k in &keys[..3] {
            s.remember(vec![*k], later).await.unwrap();
        }
        assert_eq!(
            journal_and_table(&s),
            (3, 0),
            "appended to the journal only"
        );
        assert!(keys[..3].iter().all(|k| s.seen(&[*k]).unwrap()));
        assert!(!s.seen(&[keys[3]]).unwrap());
    }
    // Reopened (as after a crash: the journal is all there is): the index is rebuilt from it.
    let s = Embedded::open_folding_at(&d, limits(), observer(), 4, 1).unwrap();
    assert!(keys[..3].iter().all(|k| s.seen(&[*k]).unwrap()));
    assert_eq!(
        s.accept(NewEvent {
            keys: vec![keys[0]],
            ..event("r", "d0")
        })
        .await,
        Err(StoreError::Duplicate),
        "a queued accept sees journal keys too"
    );
    // An expired key is dropped by the fold, not carried into the table.
    s.remember(vec![keys[3]], now_ms() + 1).await.unwrap();
    std::thread::sleep(Duration::from_millis(5));
    s.remember(vec![keys[4]], later).await.unwrap();
    // The journal reached the threshold of four with d3: the fold that starts then takes those four
    // (in one chunk) and drops the expired one; d4, remembered after, waits for the next fold.
    for _ in 0..3 {
        s.remember(vec![], 0).await.unwrap();
    }
    assert_eq!(
        journal_and_table(&s),
        (1, 3),
        "folded, the expired key dropped"
    );
    assert_eq!(s.fresh.read().unwrap().len(), 1);
    for (i, k) in keys.iter().enumerate() {
        assert_eq!(s.seen(&[*k]).unwrap(), i != 3, "key {i}");
    }
    drop(s);
    let s = reopen(&d);
    assert!(s.seen(&[keys[4]]).unwrap() && !s.seen(&[keys[3]]).unwrap());
    let _ = std::fs::remove_dir_all(&d);
}

#[tokio::test]
async fn a_key_remembered_again_after_it_expired_keeps_one_journal_row() {
    let d = dir("again");
    let s = Embedded::open_folding_at(&d, limits(), observer(), FOLD_AT, 1).unwrap();
    let k = EventKey::new("r", "again");
    s.remember(vec![k], now_ms() + 1).await.unwrap();
    std::thread::sleep(Duration::from_millis(5));
    assert!(!s.seen(&[k]).unwrap());
    s.remember(vec![k], now_ms() + 60_000).await.unwrap();
    assert!(s.seen(&[k]).unwrap());
    assert_eq!(journal_and_table(&s), (1, 0));
    drop(s);
    let s = reopen(&d);
    assert!(s.seen(&[k]).unwrap());
    // With one key per commit (the default below JOURNAL_FROM), keys go straight to the table.
    s.remember(vec![EventKey::new("r", "alone")], now_ms() + 60_000)
        .await
        .unwrap();
    assert_eq!(journal_and_table(&s), (1, 1));
    assert!(s.seen(&[EventKey::new("r", "alone")]).unwrap());
    // A commit with JOURNAL_FROM keys or more journals them.
    let four: Vec<EventKey> = (0..4)
        .map(|i| EventKey::new("r", &format!("four{i}")))
        .collect();
    s.remember(four.clone(), now_ms() + 60_000).await.unwrap();
    assert_eq!(journal_and_table(&s), (5, 1));
    assert!(four.iter().all(|k| s.seen(&[*k]).unwrap()));
    let _ = std::fs::remove_dir_all(&d);
}

/// Rows of `dedupe_expiry`, read from the file.
fn expiry_rows(s: &Embedded) -> usize {
    let txn = s.read().unwrap();
    txn.open_table(DEDUPE_EXPIRY).unwrap().len().unwrap() as usize
}

#[tokio::test]
async fn a_journaled_key_gets_its_expiry_entry_when_its_fold_is_done_and_is_swept_after() {
    let d = dir("fold-expiry");
    let s = Embedded::open_folding_at(&d, limits(), observer(), 4, 1).unwrap();
    let later = now_ms() + 60_000;
    let keys: Vec<EventKey> = (0..4)
        .map(|i| EventKey::new("r", &format!("e{i}")))
        .collect();
    // Each is journaled (this store journals from one key per commit).
    for k in &keys[..3] {
        s.remember(vec![*k], later).await.unwrap();
    }
    assert_eq!(journal_and_table(&s), (3, 0));
    assert_eq!(
        expiry_rows(&s),
        0,
        "a journaled key has no expiry entry yet"
    );
    // The fourth starts a fold; the writer carries it through on its own, commit after commit.
    s.remember(vec![keys[3]], later).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while journal_and_table(&s) != (0, 4) || expiry_rows(&s) != 4 {
        assert!(Instant::now() < deadline, "the fold never finished");
        s.remember(vec![], 0).await.unwrap();
    }
    // Once their time has passed, the sweep removes them from the table by those entries.
    s.writes.try_send(Op::Sweep(later + 1)).unwrap();
    s.remember(vec![], 0).await.unwrap();
    assert_eq!(journal_and_table(&s), (0, 0));
    assert_eq!(expiry_rows(&s), 0);
    let _ = std::fs::remove_dir_all(&d);
}

#[tokio::test]
async fn a_key_put_into_the_table_is_seen_as_soon_as_its_commit_is_answered() {
    // `seen()` reads a snapshot of the table that the writer renews after every commit, before
    // answering it; a caller never finds a key missing that its own commit stored.
    let d = dir("snapshot");
    let s = Embedded::open(&d, limits(), observer()).unwrap();
    let later = now_ms() + 60_000;
    for i in 0..20 {
        let k = EventKey::new("r", &format!("s{i}"));
        assert!(!s.seen(&[k]).unwrap());
        // One key per commit goes straight into the table.
        s.remember(vec![k], later).await.unwrap();
        assert!(s.seen(&[k]).unwrap(), "key {i}");
    }
    assert_eq!(journal_and_table(&s), (0, 20));
    drop(s);
    // Closed cleanly with the snapshot gone first: the file opens again at once.
    let s = reopen(&d);
    assert!(s.seen(&[EventKey::new("r", "s7")]).unwrap());
    let _ = std::fs::remove_dir_all(&d);
}

/// Rows of `event_keys` and of the `ids` of earlier builds, read from the file.
fn id_rows(s: &Embedded) -> (usize, usize) {
    let txn = s.read().unwrap();
    let keys = txn.open_table(EVENT_KEYS).unwrap().len().unwrap();
    let ids = txn.open_table(IDS).unwrap().len().unwrap();
    (keys as usize, ids as usize)
}

/// Commits until a fold has taken every key of the journal and removed its rows.
async fn finish_fold(s: &Embedded) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while journal_and_table(s).0 > 0 || !s.fresh.read().unwrap().is_empty() {
        assert!(Instant::now() < deadline, "the fold never finished");
        s.remember(vec![], 0).await.unwrap();
    }
}

#[tokio::test]
async fn an_event_is_found_by_its_id_from_the_journal_after_the_fold_and_after_reopening() {
    let d = dir("find");
    let seqs = {
        let s = Embedded::open_folding_at(&d, limits(), observer(), 4, 1).unwrap();
        let mut seqs = Vec::new();
        for i in 0..3 {
            seqs.push(s.accept(event("r", &format!("f{i}"))).await.unwrap());
        }
        // In the journal only: no random insert into a table keyed by id.
        assert_eq!(id_rows(&s), (0, 0));
        for (i, seq) in seqs.iter().enumerate() {
            assert_eq!(s.find("r", &format!("f{i}")).await.unwrap(), Some(*seq));
        }
        assert_eq!(s.find("other", "f0").await.unwrap(), None, "another route");
        assert_eq!(s.find("r", "nope").await.unwrap(), None);
        seqs
    };
    // Reopened, the index (rebuilt from the journal's rows) still knows each event.
    let s = Embedded::open_folding_at(&d, limits(), observer(), 4, 1).unwrap();
    for (i, seq) in seqs.iter().enumerate() {
        assert_eq!(s.find("r", &format!("f{i}")).await.unwrap(), Some(*seq));
    }
    // The fourth key starts a fold: the events' seqs move into `event_keys`.
    let fourth = s.accept(event("r", "f3")).await.unwrap();
    finish_fold(&s).await;
    assert_eq!(journal_and_table(&s), (0, 4));
    assert_eq!(id_rows(&s), (4, 0));
    for (i, seq) in seqs.iter().chain([&fourth]).enumerate() {
        assert_eq!(s.find("r", &format!("f{i}")).await.unwrap(), Some(*seq));
    }
    drop(s);
    let s = reopen(&d);
    assert_eq!(s.find("r", "f3").await.unwrap(), Some(fourth));
    let _ = std::fs::remove_dir_all(&d);
}

#[tokio::test]
async fn an_event_outlives_its_dedupe_key_in_the_id_index_and_leaves_it_when_swept() {
    let d = dir("find-expiry");
    let s = Embedded::open_folding_at(&d, settled_expire_at_once(), observer(), 4, 1).unwrap();
    let mut short = Vec::new();
    for i in 0..4 {
        let mut e = event("r", &format!("x{i}"));
        e.remember_until_ms = now_ms() + 1;
        short.push(s.accept(e).await.unwrap());
    }
    std::thread::sleep(Duration::from_millis(5));
    finish_fold(&s).await;
    // The fold dropped the expired dedupe keys but kept the events' ids.
    assert_eq!(journal_and_table(&s), (0, 0));
    assert_eq!(id_rows(&s).0, 4);
    assert!(!s.seen(&[EventKey::new("r", "x0")]).unwrap());
    assert_eq!(s.find("r", "x0").await.unwrap(), Some(short[0]));
    // The id comes again once forgotten: a new event, and the id now names it.
    let again = s.accept(event("r", "x0")).await.unwrap();
    assert!(again > short[0]);
    assert_eq!(s.find("r", "x0").await.unwrap(), Some(again));
    // The first x0 and x1 are delivered and swept; the new x0's row stays, x1's goes.
    for seq in [short[0], short[1]] {
        s.attempt(seq, attempt(Outcome::Delivered)).await.unwrap();
    }
    s.sweep().await;
    s.remember(vec![], 0).await.unwrap();
    assert_eq!(s.summary(short[1]).await.unwrap(), None);
    assert_eq!(s.find("r", "x1").await.unwrap(), None);
    assert_eq!(s.find("r", "x0").await.unwrap(), Some(again));
    assert_eq!(s.find("r", "x2").await.unwrap(), Some(short[2]));
    assert_eq!(
        id_rows(&s).0,
        2,
        "the first x0's and x1's rows removed with their events (the new x0 is in the journal)"
    );
    let _ = std::fs::remove_dir_all(&d);
}

#[tokio::test]
async fn events_that_earlier_builds_indexed_by_id_are_found_and_their_rows_swept() {
    let d = dir("find-ids");
    let s = Embedded::open(&d, settled_expire_at_once(), observer()).unwrap();
    // One key per commit goes straight into the tables, `event_keys` included.
    let seq = s.accept(event("r", "old")).await.unwrap();
    assert_eq!(id_rows(&s), (1, 0));
    // Make it an earlier build's event: its id in `ids` only.
    {
        let db = s.db.load_full().unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(EVENT_KEYS)
            .unwrap()
            .remove(&EventKey::new("r", "old").to_bytes())
            .unwrap();
        txn.open_table(IDS)
            .unwrap()
            .insert(("r", "old"), seq)
            .unwrap();
        txn.commit().unwrap();
    }
    assert_eq!(id_rows(&s), (0, 1));
    assert_eq!(s.find("r", "old").await.unwrap(), Some(seq));
    assert_eq!(s.find("r", "new").await.unwrap(), None);
    s.attempt(seq, attempt(Outcome::Delivered)).await.unwrap();
    s.sweep().await;
    s.remember(vec![], 0).await.unwrap();
    assert_eq!(s.find("r", "old").await.unwrap(), None);
    assert_eq!(id_rows(&s), (0, 0));
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn journal_rows_of_earlier_builds_read_without_a_seq_and_damaged_ones_are_refused() {
    let key = [7u8; 16];
    let row = fresh_row(&key, 1234, 99);
    assert_eq!(read_fresh_row(&row), Some((key, 1234, 99)));
    // Earlier builds wrote 24 bytes, and read the first 24 of these.
    assert_eq!(read_fresh_row(&row[..24]), Some((key, 1234, 0)));
    for len in [0, 16, 23, 25, 31] {
        assert_eq!(read_fresh_row(&row[..len]), None, "{len} bytes");
    }
}
