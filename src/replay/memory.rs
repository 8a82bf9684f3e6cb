//! One route's memory of delivered events, ordered by when each is forgotten.
//!
//! An entry is forgotten when its time has passed, and expired entries free their space without being
//! looked up: entries sit in per-second expiry buckets (a `BTreeMap` from second to keys), and every
//! insertion first drops the buckets whose second has passed. When the memory is full of unexpired
//! entries, the entries that expire first (the oldest, for a route's fixed `dedupe_ttl`) make room;
//! such early evictions reopen a replay window, so they are counted and reported with how much of the
//! route's window is no longer protected. Nothing here knows about routes' configuration or HTTP.

use super::EventKey;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::hash::BuildHasherDefault;
use std::time::Duration;

/// What one insertion had to give up to make room: the evicted entry that was remembered longest, and
/// how much of its time it had left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Evicted {
    pub count: u64,
    /// Time the newest of the evicted entries still had before its expiry.
    pub remaining: Duration,
}

/// Delivered events of one route: expiry by key, and keys by expiry second.
#[derive(Debug, Default)]
pub struct Memory {
    expiry: HashMap<EventKey, u32, BuildHasherDefault<super::KeyBits>>,
    /// Keys by expiry second, each second's in the order they were inserted.
    buckets: BTreeMap<u32, VecDeque<EventKey>>,
    capacity: usize,
}

impl Memory {
    pub fn new(capacity: usize) -> Memory {
        Memory {
            capacity: capacity.max(1),
            ..Memory::default()
        }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Remembered entries, expired ones not yet dropped included (they are dropped at the next
    /// insertion or `sweep`).
    pub fn len(&self) -> usize {
        self.expiry.len()
    }

    pub fn is_empty(&self) -> bool {
        self.expiry.is_empty()
    }

    /// Whether `key` is remembered at second `now`.
    pub fn contains(&self, key: &EventKey, now: u32) -> bool {
        self.expiry.get(key).is_some_and(|&until| until > now)
    }

    /// Remembers `key` until second `until` (exclusive), first dropping what has expired by `now` and,
    /// if the memory is still full, the entries that expire first.
    pub fn insert(&mut self, key: EventKey, until: u32, now: u32) -> Option<Evicted> {
        self.sweep(now);
        let mut evicted = None;
        if !self.expiry.contains_key(&key) && self.expiry.len() >= self.capacity {
            evicted = self.shrink_to(self.capacity - 1, now);
        }
        let previous = self.expiry.insert(key, until);
        if previous != Some(until) {
            // A previous bucket entry for this key, if any, is now stale and skipped when it is dropped.
            self.buckets.entry(until).or_default().push_back(key);
        }
        evicted
    }

    /// Drops every entry whose second has passed by `now`.
    pub fn sweep(&mut self, now: u32) {
        while let Some(entry) = self.buckets.first_entry() {
            if *entry.key() > now {
                break;
            }
            let (second, keys) = entry.remove_entry();
            for key in keys {
                if self.expiry.get(&key) == Some(&second) {
                    self.expiry.remove(&key);
                }
            }
        }
    }

    /// Changes the capacity, evicting the entries that expire first when it shrinks below the count.
    pub fn set_capacity(&mut self, capacity: usize, now: u32) -> Option<Evicted> {
        self.capacity = capacity.max(1);
        self.sweep(now);
        self.shrink_to(self.capacity, now)
    }

    /// Evicts entries, earliest expiry first, until at most `target` remain.
    fn shrink_to(&mut self, target: usize, now: u32) -> Option<Evicted> {
        let mut count = 0u64;
        let mut last_until = now;
        while self.expiry.len() > target {
            let Some(mut entry) = self.buckets.first_entry() else {
                break;
            };
            let second = *entry.key();
            let keys = entry.get_mut();
            while self.expiry.len() > target {
                let Some(key) = keys.pop_front() else { break };
                if self.expiry.get(&key) == Some(&second) {
                    self.expiry.remove(&key);
                    count += 1;
                    last_until = second;
                }
            }
            if keys.is_empty() {
                entry.remove();
            }
        }
        (count > 0).then(|| Evicted {
            count,
            remaining: Duration::from_secs(u64::from(last_until.saturating_sub(now))),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: u32) -> EventKey {
        EventKey::new("r", &i.to_string())
    }

    #[test]
    fn entries_are_remembered_until_their_second_and_not_after() {
        let mut m = Memory::new(10);
        m.insert(key(1), 5, 0);
        assert!(m.contains(&key(1), 4));
        assert!(!m.contains(&key(1), 5));
        assert!(!m.contains(&key(2), 0));
    }

    #[test]
    fn expired_entries_free_their_space_without_being_looked_up() {
        let mut m = Memory::new(100);
        for i in 0..100 {
            m.insert(key(i), 10, 0);
        }
        assert_eq!(m.len(), 100);
        // At second 10 all of them have expired: the next insertion drops them all, evicting nothing.
        let evicted = m.insert(key(1000), 20, 10);
        assert_eq!(evicted, None);
        assert_eq!(m.len(), 1);
        m.sweep(20);
        assert!(m.is_empty());
    }

    #[test]
    fn a_full_memory_forgets_the_entries_that_expire_first() {
        let mut m = Memory::new(3);
        m.insert(key(0), 100, 0);
        m.insert(key(1), 101, 1);
        m.insert(key(2), 102, 2);
        let evicted = m.insert(key(3), 103, 3).expect("one had to go");
        assert_eq!(evicted.count, 1);
        assert_eq!(evicted.remaining, Duration::from_secs(97));
        assert!(!m.contains(&key(0), 3), "the oldest went");
        for i in 1..=3 {
            assert!(m.contains(&key(i), 3), "key {i} is kept");
        }
    }

    #[test]
    fn within_one_second_the_first_inserted_go_first() {
        let mut m = Memory::new(100);
        for i in 0..200u32 {
            m.insert(key(i), 1000, 0);
        }
        assert!((100..200).all(|i| m.contains(&key(i), 0)));
        assert!((0..100).all(|i| !m.contains(&key(i), 0)));
    }

    #[test]
    fn the_newest_of_many_are_kept_when_capacity_is_exceeded() {
        let mut m = Memory::new(200);
        for i in 0..400u32 {
            m.insert(key(i), 1000 + i, i);
        }
        assert_eq!(m.len(), 200);
        assert!((200..400).all(|i| m.contains(&key(i), 400)));
        assert!((0..200).all(|i| !m.contains(&key(i), 400)));
    }

    #[test]
    fn reinserting_a_key_moves_it_and_its_stale_bucket_entry_is_skipped() {
        let mut m = Memory::new(10);
        m.insert(key(1), 5, 0);
        m.insert(key(1), 50, 1);
        m.sweep(6);
        assert!(m.contains(&key(1), 6), "the later expiry counts");
        assert_eq!(m.len(), 1);
    }

    #[test]
    fn shrinking_evicts_the_earliest_expiring() {
        let mut m = Memory::new(10);
        for i in 0..10 {
            m.insert(key(i), 100 + i, 0);
        }
        let evicted = m.set_capacity(4, 0).unwrap();
        assert_eq!(evicted.count, 6);
        assert!((6..10).all(|i| m.contains(&key(i), 0)));
    }
}
