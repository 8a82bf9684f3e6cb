//! The Redis engine: several hookgate processes share dedupe and the delivery queue through one
//! Redis (standalone or behind Sentinel; not Redis Cluster, since scripts touch keys of one event
//! and one route together).
//!
//! Keys, under the configured prefix `P`:
//! - `P:dd:KEY` an event's dedupe key: `hold:TOKEN` (a short claim of the process delivering it,
//!   `SET NX PX`) or `done` (for the route's `dedupe_ttl`); holds are released when a delivery fails.
//! - `P:ev:SEQ` a hash of the event (`r`) and its summary (`s`); `P:at:SEQ` its attempts;
//!   `P:id:ROUTE:ID` its number; all expire `retention` after the event settles, and at most
//!   `max_delivery_age` + `retention` after it was accepted.
//! - `P:q:ROUTE` a stream of the route's due events, read by the consumer group `workers`: an entry is
//!   acknowledged and deleted once its attempt is recorded, and an entry whose reader died is taken
//!   over by another process after the lease (`XAUTOCLAIM`).
//! - `P:delay:ROUTE` retries by due time (a sorted set), moved to the stream when due;
//!   `P:dead:ROUTE` dead letters; `P:recent:ROUTE` and `P:recent` the events by number, for lists,
//!   trimmed to the retention.
//!
//! Every write that acknowledges an event (accept, remember) is one script, so an event and its dedupe
//! keys are stored together. Redis answers once the write is applied; how durable that is depends on
//! its own persistence (`appendonly yes`, `appendfsync always` for a write on disk before the answer),
//! which `open` checks. This module knows nothing about HTTP or vendors.

use super::codec::{self, Attempt, EventRecord, Outcome, State, Summary};
use super::{Filter, Hold, Lease, Listed, NewEvent, Seq, StoreError, StoreStats};
use crate::replay::EventKey;
use redis::aio::ConnectionManager;
use redis::{AsyncCommands, Script, Value};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The longest a command waits for Redis (including a reconnection under way).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(1);

/// The consumer group of every route's stream.
const GROUP: &str = "workers";

/// How Redis must persist writes before hookgate acknowledges a vendor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// Warn when Redis does not fsync each write (`appendonly yes`, `appendfsync always`), then run.
    #[default]
    Warn,
    /// Refuse to start unless it does.
    Fsync,
}

/// How the Redis engine is reached and bounded.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `redis://…` or `rediss://…`, credentials included (never logged).
    pub url: crate::secret::Secret,
    pub prefix: String,
    pub retention: Duration,
    pub dead_retention: Duration,
    /// The longest `max_delivery_age` of the routes: an event not settled by then is kept no longer.
    pub max_age: Duration,
    /// An attempt that has not been recorded after this long is taken over by another process.
    pub lease: Duration,
    pub durability: Durability,
}

/// Told of every command's round trip: how long it took and whether it failed.
pub type Observer = Arc<dyn Fn(Duration, bool) + Send + Sync>;

/// The shared engine. Cloning shares the connection.
#[derive(Clone)]
pub struct Redis {
    conn: ConnectionManager,
    client: redis::Client,
    prefix: Arc<str>,
    settings: Arc<Settings>,
    /// Identifies this process's holds and its reads of the streams.
    token: Arc<str>,
    scripts: Arc<Scripts>,
    observer: Observer,
    up: Arc<AtomicBool>,
    errors: Arc<AtomicU64>,
}

struct Scripts {
    hold: Script,
    release: Script,
    accept: Script,
    remember: Script,
    attempt: Script,
    replay: Script,
    promote: Script,
    trim: Script,
}

/// KEYS: the dedupe keys. ARGV: hold value, hold ms. Answers 0 held, 1 done, 2 held elsewhere.
const HOLD: &str = r"
for i = 1, #KEYS do
  local v = redis.call('GET', KEYS[i])
  if v == 'done' then return 1 end
  if v and v ~= ARGV[1] then return 2 end
end
for i = 1, #KEYS do redis.call('SET', KEYS[i], ARGV[1], 'PX', ARGV[2]) end
return 0
";

/// KEYS: the dedupe keys. ARGV: our hold value. Drops only our own holds.
const RELEASE: &str = r"
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[1] then redis.call('DEL', KEYS[i]) end
end
return 0
";

/// KEYS: the dedupe keys. ARGV: prefix, route, id, record, summary, dedupe ms, keep ms, received ms,
/// hold value. Answers the new event's number, or -1 when a key is already done.
const ACCEPT: &str = r"
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) == 'done' then return -1 end
end
local p, route = ARGV[1], ARGV[2]
local seq = redis.call('INCR', p .. ':seq')
local ev = p .. ':ev:' .. seq
local idk = p .. ':id:' .. route .. ':' .. ARGV[3]
redis.call('HSET', ev, 'r', ARGV[4], 's', ARGV[5], 'k', idk)
redis.call('PEXPIRE', ev, ARGV[7])
redis.call('SET', idk, seq, 'PX', ARGV[7])
for i = 1, #KEYS do redis.call('SET', KEYS[i], 'done', 'PX', ARGV[6]) end
redis.call('ZADD', p .. ':recent:' .. route, seq, seq)
redis.call('ZADD', p .. ':recent', seq, seq)
redis.call('SADD', p .. ':routes', route)
redis.call('XADD', p .. ':q:' .. route, '*', 'seq', seq)
return seq
";

/// KEYS: the dedupe keys. ARGV: dedupe ms.
const REMEMBER: &str = r"
for i = 1, #KEYS do redis.call('SET', KEYS[i], 'done', 'PX', ARGV[1]) end
return 0
";

/// ARGV: prefix, route, seq, attempt, summary, outcome (delivered|retry|dead), due or settle ms
/// (retry: when due; otherwise: keep ms), stream entry id ('' for none), now ms.
const ATTEMPT: &str = r"
local p, route, seq = ARGV[1], ARGV[2], ARGV[3]
local ev = p .. ':ev:' .. seq
if redis.call('EXISTS', ev) == 0 then
  if ARGV[8] ~= '' then
    redis.call('XACK', p .. ':q:' .. route, 'workers', ARGV[8])
    redis.call('XDEL', p .. ':q:' .. route, ARGV[8])
  end
  return 0
end
redis.call('HSET', ev, 's', ARGV[5])
local at = p .. ':at:' .. seq
redis.call('RPUSH', at, ARGV[4])
redis.call('PEXPIRE', at, redis.call('PTTL', ev))
if ARGV[6] == 'retry' then
  redis.call('ZADD', p .. ':delay:' .. route, ARGV[7], seq)
else
  redis.call('PEXPIRE', ev, ARGV[7])
  redis.call('PEXPIRE', at, ARGV[7])
  local idk = redis.call('HGET', ev, 'k')
  if idk then redis.call('PEXPIRE', idk, ARGV[7]) end
  if ARGV[6] == 'dead' then redis.call('ZADD', p .. ':dead:' .. route, ARGV[9], seq) end
end
if ARGV[8] ~= '' then
  redis.call('XACK', p .. ':q:' .. route, 'workers', ARGV[8])
  redis.call('XDEL', p .. ':q:' .. route, ARGV[8])
end
return 1
";

/// ARGV: prefix, route, seq, summary, keep ms. Queues a stored event again.
const REPLAY: &str = r"
local p, route, seq = ARGV[1], ARGV[2], ARGV[3]
local ev = p .. ':ev:' .. seq
if redis.call('EXISTS', ev) == 0 then return 0 end
redis.call('HSET', ev, 's', ARGV[4])
redis.call('PEXPIRE', ev, ARGV[5])
local idk = redis.call('HGET', ev, 'k')
if idk then redis.call('PEXPIRE', idk, ARGV[5]) end
redis.call('PEXPIRE', p .. ':at:' .. seq, ARGV[5])
redis.call('ZREM', p .. ':dead:' .. route, seq)
redis.call('ZREM', p .. ':delay:' .. route, seq)
redis.call('XADD', p .. ':q:' .. route, '*', 'seq', seq)
return 1
";

/// KEYS: a list by number. ARGV: prefix, at most. Drops the oldest entries whose event is gone (the
/// lists are in the order events were accepted, so the first one still there ends it); answers how
/// many it dropped.
const TRIM: &str = r"
local removed, most = 0, tonumber(ARGV[2])
while removed < most do
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 99)
  if #oldest == 0 then return removed end
  for _, seq in ipairs(oldest) do
    if redis.call('EXISTS', ARGV[1] .. ':ev:' .. seq) == 1 then return removed end
    redis.call('ZREM', KEYS[1], seq)
    removed = removed + 1
  end
end
return removed
";

/// Entries dropped per list by one call of `TRIM` at most (a few milliseconds of Redis's time).
const TRIM_MOST: u64 = 5_000;

/// ARGV: prefix, route, now ms, at most. Moves due retries to the stream.
const PROMOTE: &str = r"
local p, route = ARGV[1], ARGV[2]
local key = p .. ':delay:' .. route
local due = redis.call('ZRANGEBYSCORE', key, '-inf', ARGV[3], 'LIMIT', 0, ARGV[4])
for _, seq in ipairs(due) do
  redis.call('ZREM', key, seq)
  redis.call('XADD', p .. ':q:' .. route, '*', 'seq', seq)
end
return #due
";

fn unavailable(e: redis::RedisError) -> StoreError {
    // The error text of the redis crate names the command and the server's answer, never the URL's
    // credentials.
    StoreError::Unavailable(format!("redis: {e}"))
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX / 2)
}

fn now_ms() -> u64 {
    u64::try_from(jiff::Timestamp::now().as_millisecond()).unwrap_or(0)
}

impl Redis {
    /// Connects, checks Redis's persistence against `settings.durability`, and makes sure every
    /// route's stream has its consumer group.
    pub async fn open(settings: Settings, observer: Observer) -> Result<Redis, StoreError> {
        let url = String::from_utf8_lossy(settings.url.expose()).into_owned();
        let shown = crate::config::without_credentials(&url);
        let client = redis::Client::open(url.as_str())
            .map_err(|e| StoreError::Open(format!("store.url {shown}: {e}")))?;
        // Short timeouts: while Redis is away a vendor should get its 503 in about a second, well
        // within any vendor's own timeout, rather than wait.
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(COMMAND_TIMEOUT))
            .set_response_timeout(Some(COMMAND_TIMEOUT))
            .set_min_delay(Duration::from_millis(100))
            .set_max_delay(Duration::from_secs(2));
        let conn = client
            .get_connection_manager_with_config(config)
            .await
            .map_err(|e| {
                StoreError::Open(format!(
                    "cannot reach Redis at {shown}: {e}; start it, or fix store.url"
                ))
            })?;
        let token = format!(
            "hold:{}:{}:{:08x}",
            std::env::var("HOSTNAME").unwrap_or_else(|_| "host".into()),
            std::process::id(),
            fastrand::u32(..)
        );
        let redis = Redis {
            conn,
            client,
            prefix: Arc::from(settings.prefix.as_str()),
            token: Arc::from(token.as_str()),
            scripts: Arc::new(Scripts {
                hold: Script::new(HOLD),
                release: Script::new(RELEASE),
                accept: Script::new(ACCEPT),
                remember: Script::new(REMEMBER),
                attempt: Script::new(ATTEMPT),
                replay: Script::new(REPLAY),
                promote: Script::new(PROMOTE),
                trim: Script::new(TRIM),
            }),
            settings: Arc::new(settings),
            observer,
            up: Arc::new(AtomicBool::new(true)),
            errors: Arc::new(AtomicU64::new(0)),
        };
        redis.check_persistence(&shown).await?;
        Ok(redis)
    }

    async fn check_persistence(&self, shown: &str) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let get = |v: Vec<String>| v.get(1).cloned().unwrap_or_default();
        let aof: Vec<String> = redis::cmd("CONFIG")
            .arg("GET")
            .arg("appendonly")
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        let fsync: Vec<String> = redis::cmd("CONFIG")
            .arg("GET")
            .arg("appendfsync")
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        let (aof, fsync) = (get(aof), get(fsync));
        if aof == "yes" && fsync == "always" {
            return Ok(());
        }
        let what = format!(
            "Redis at {shown} has appendonly {aof}, appendfsync {fsync}: an acknowledged event {} if Redis stops uncleanly; set appendonly yes and appendfsync always for a write on disk before every answer",
            if aof != "yes" {
                "is lost"
            } else {
                "written in the last second can be lost"
            }
        );
        match self.settings.durability {
            Durability::Fsync => Err(StoreError::Open(format!(
                "{what} (store.durability = \"fsync\")"
            ))),
            Durability::Warn => {
                tracing::warn!("{what}");
                Ok(())
            }
        }
    }

    fn key(&self, k: &EventKey) -> String {
        let mut hex = [0u8; 32];
        let _ = faster_hex::hex_encode(&k.to_bytes(), &mut hex);
        format!(
            "{}:dd:{}",
            self.prefix,
            std::str::from_utf8(&hex).unwrap_or("")
        )
    }

    /// Runs one command (or script), timing it and keeping track of whether Redis is reachable.
    async fn run<T, F>(&self, what: &'static str, f: F) -> Result<T, StoreError>
    where
        F: std::future::Future<Output = redis::RedisResult<T>>,
    {
        let started = Instant::now();
        let result = match tokio::time::timeout(COMMAND_TIMEOUT, f).await {
            Ok(r) => r,
            Err(_) => Err(redis::RedisError::from((
                redis::ErrorKind::Io,
                "no answer from Redis in time",
            ))),
        };
        let failed = result.is_err();
        (self.observer)(started.elapsed(), failed);
        match (failed, self.up.swap(!failed, Ordering::Relaxed)) {
            (true, true) => {
                self.errors.fetch_add(1, Ordering::Relaxed);
                tracing::error!(command = what, error = %result.as_ref().err().map(|e| e.to_string()).unwrap_or_default(), "Redis is unavailable: vendors are answered 503 until it is back; reconnecting");
            }
            (true, false) => {
                self.errors.fetch_add(1, Ordering::Relaxed);
            }
            (false, false) => tracing::info!("Redis is reachable again"),
            (false, true) => {}
        }
        result.map_err(unavailable)
    }

    pub async fn hold(&self, keys: &[EventKey], for_ms: u64) -> Result<Hold, StoreError> {
        let mut conn = self.conn.clone();
        let mut inv = self.scripts.hold.prepare_invoke();
        for k in keys {
            inv.key(self.key(k));
        }
        inv.arg(&*self.token).arg(for_ms.max(1));
        let answer: i64 = self.run("hold", inv.invoke_async(&mut conn)).await?;
        Ok(match answer {
            0 => Hold::Held,
            1 => Hold::Done,
            _ => Hold::Busy,
        })
    }

    pub async fn release(&self, keys: &[EventKey]) {
        let mut conn = self.conn.clone();
        let mut inv = self.scripts.release.prepare_invoke();
        for k in keys {
            inv.key(self.key(k));
        }
        inv.arg(&*self.token);
        // A release that fails leaves the hold to expire by itself.
        let _: Result<i64, _> = self.run("release", inv.invoke_async(&mut conn)).await;
    }

    /// How long an unsettled event's keys live: past any route's `max_delivery_age` and the
    /// retention, so that they expire only after the event would have been removed anyway.
    fn keep_ms(&self) -> u64 {
        millis(self.settings.max_age + self.settings.retention.max(self.settings.dead_retention))
    }

    pub async fn accept(&self, event: NewEvent) -> Result<Seq, StoreError> {
        let now = now_ms();
        let summary = Summary::queued(&event.record);
        let mut conn = self.conn.clone();
        let mut inv = self.scripts.accept.prepare_invoke();
        for k in &event.keys {
            inv.key(self.key(k));
        }
        inv.arg(&*self.prefix)
            .arg(&event.record.route)
            .arg(&event.record.id)
            .arg(codec::encode(&event.record))
            .arg(codec::encode(&summary))
            .arg(event.remember_until_ms.saturating_sub(now).max(1))
            .arg(self.keep_ms())
            .arg(event.record.received_ms)
            .arg(&*self.token);
        let seq: i64 = self.run("accept", inv.invoke_async(&mut conn)).await?;
        if seq < 0 {
            return Err(StoreError::Duplicate);
        }
        Ok(seq as Seq)
    }

    pub async fn remember(&self, keys: Vec<EventKey>, until_ms: u64) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let mut inv = self.scripts.remember.prepare_invoke();
        for k in &keys {
            inv.key(self.key(k));
        }
        inv.arg(until_ms.saturating_sub(now_ms()).max(1));
        let _: i64 = self.run("remember", inv.invoke_async(&mut conn)).await?;
        Ok(())
    }

    pub async fn attempt(
        &self,
        seq: Seq,
        attempt: Attempt,
        lease: &Lease,
    ) -> Result<(), StoreError> {
        let Some(mut s) = self.summary(seq).await? else {
            return Err(StoreError::NotFound);
        };
        s.attempts += 1;
        s.last_status = attempt.status;
        s.last_error = attempt.error.clone();
        let (outcome, ms) = match &attempt.outcome {
            Outcome::Delivered => {
                s.state = State::Delivered;
                s.delivered_ms = Some(attempt.at_ms);
                s.next_ms = None;
                ("delivered", millis(self.settings.retention))
            }
            Outcome::Retry { at_ms } => {
                s.state = State::Queued;
                s.next_ms = Some(*at_ms);
                ("retry", *at_ms)
            }
            Outcome::Dead { reason } => {
                s.state = State::Dead;
                s.dead_reason = Some(reason.clone());
                s.next_ms = None;
                ("dead", millis(self.settings.dead_retention))
            }
        };
        let mut conn = self.conn.clone();
        let mut inv = self.scripts.attempt.prepare_invoke();
        inv.arg(&*self.prefix)
            .arg(&s.route)
            .arg(seq)
            .arg(codec::encode(&attempt))
            .arg(codec::encode(&s))
            .arg(outcome)
            .arg(ms.max(1))
            .arg(lease.entry.as_deref().unwrap_or(""))
            .arg(now_ms());
        let _: i64 = self.run("attempt", inv.invoke_async(&mut conn)).await?;
        Ok(())
    }

    pub async fn replay(&self, seqs: Vec<Seq>) -> Result<Vec<(Seq, String)>, StoreError> {
        let mut done = Vec::new();
        for seq in seqs {
            let Some(mut s) = self.summary(seq).await? else {
                continue;
            };
            s.state = State::Queued;
            s.next_ms = Some(now_ms());
            s.dead_reason = None;
            s.replays += 1;
            let mut conn = self.conn.clone();
            let mut inv = self.scripts.replay.prepare_invoke();
            inv.arg(&*self.prefix)
                .arg(&s.route)
                .arg(seq)
                .arg(codec::encode(&s))
                .arg(self.keep_ms());
            let ok: i64 = self.run("replay", inv.invoke_async(&mut conn)).await?;
            if ok == 1 {
                done.push((seq, s.route));
            }
        }
        Ok(done)
    }

    async fn field(&self, seq: Seq, field: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let mut conn = self.conn.clone();
        let key = format!("{}:ev:{seq}", self.prefix);
        self.run("read", conn.hget(key, field)).await
    }

    pub async fn event(&self, seq: Seq) -> Result<Option<EventRecord>, StoreError> {
        match self.field(seq, "r").await? {
            Some(b) => Ok(Some(codec::decode("event", &b)?)),
            None => Ok(None),
        }
    }

    pub async fn summary(&self, seq: Seq) -> Result<Option<Summary>, StoreError> {
        match self.field(seq, "s").await? {
            Some(b) => Ok(Some(codec::decode("summary", &b)?)),
            None => Ok(None),
        }
    }

    pub async fn attempts(&self, seq: Seq) -> Result<Vec<Attempt>, StoreError> {
        let mut conn = self.conn.clone();
        let key = format!("{}:at:{seq}", self.prefix);
        let raw: Vec<Vec<u8>> = self.run("read", conn.lrange(key, 0, -1)).await?;
        raw.iter()
            .map(|b| Ok(codec::decode("attempt", b)?))
            .collect()
    }

    pub async fn find(&self, route: &str, id: &str) -> Result<Option<Seq>, StoreError> {
        let mut conn = self.conn.clone();
        let key = format!("{}:id:{route}:{id}", self.prefix);
        self.run("read", conn.get(key)).await
    }

    pub async fn list(&self, filter: &Filter) -> Result<Vec<Listed>, StoreError> {
        let limit = filter.limit.max(1);
        let key = match &filter.route {
            Some(r) => format!("{}:recent:{r}", self.prefix),
            None => format!("{}:recent", self.prefix),
        };
        let mut out = Vec::new();
        let mut before = filter.before.map_or(f64::INFINITY, |b| b as f64 - 1.0);
        // Scan back in pages until enough events match (or the index ends).
        for _ in 0..50 {
            let mut conn = self.conn.clone();
            let page: Vec<u64> = self
                .run(
                    "list",
                    redis::cmd("ZREVRANGEBYSCORE")
                        .arg(&key)
                        .arg(if before.is_infinite() {
                            "+inf".to_string()
                        } else {
                            format!("{before}")
                        })
                        .arg("-inf")
                        .arg("LIMIT")
                        .arg(0)
                        .arg(200)
                        .query_async(&mut conn),
                )
                .await?;
            if page.is_empty() {
                break;
            }
            for seq in &page {
                let Some(s) = self.summary(*seq).await? else {
                    continue;
                };
                if filter.since_ms.is_some_and(|since| s.received_ms < since) {
                    return Ok(out);
                }
                if !filter.matches(&s) {
                    continue;
                }
                out.push(Listed {
                    seq: *seq,
                    summary: s,
                });
                if out.len() >= limit {
                    return Ok(out);
                }
            }
            before = *page.last().unwrap_or(&0) as f64 - 1.0;
            if before < 1.0 {
                break;
            }
        }
        Ok(out)
    }

    async fn routes(&self) -> Result<Vec<String>, StoreError> {
        let mut conn = self.conn.clone();
        self.run("read", conn.smembers(format!("{}:routes", self.prefix)))
            .await
    }

    pub async fn counts(&self) -> Result<Vec<(String, State, u64)>, StoreError> {
        let mut out = Vec::new();
        for route in self.routes().await? {
            let mut conn = self.conn.clone();
            let q: u64 = self
                .run("read", conn.xlen(format!("{}:q:{route}", self.prefix)))
                .await?;
            let d: u64 = self
                .run("read", conn.zcard(format!("{}:delay:{route}", self.prefix)))
                .await?;
            let dead: u64 = self
                .run("read", conn.zcard(format!("{}:dead:{route}", self.prefix)))
                .await?;
            out.push((route.clone(), State::Queued, q + d));
            out.push((route, State::Dead, dead));
        }
        Ok(out)
    }

    pub async fn oldest_queued(&self) -> Result<Vec<(String, u64)>, StoreError> {
        let mut out = Vec::new();
        for route in self.routes().await? {
            let mut conn = self.conn.clone();
            let first: Value = self
                .run(
                    "read",
                    redis::cmd("XRANGE")
                        .arg(format!("{}:q:{route}", self.prefix))
                        .arg("-")
                        .arg("+")
                        .arg("COUNT")
                        .arg(1)
                        .query_async(&mut conn),
                )
                .await?;
            if let Some(seq) = stream_seqs(&first).first().map(|(_, s)| *s)
                && let Some(s) = self.summary(seq).await?
            {
                out.push((route, s.received_ms));
            }
        }
        Ok(out)
    }

    pub fn stats(&self) -> StoreStats {
        StoreStats {
            failing: !self.up.load(Ordering::Relaxed),
            ..StoreStats::default()
        }
    }

    /// Redis round trips that failed since start.
    pub fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    /// Makes sure the route's stream and its consumer group exist.
    pub async fn ensure_group(&self, route: &str) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let r: redis::RedisResult<()> = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(format!("{}:q:{route}", self.prefix))
            .arg(GROUP)
            .arg("0")
            .arg("MKSTREAM")
            .query_async(&mut conn)
            .await;
        match r {
            Ok(()) => Ok(()),
            Err(e) if e.to_string().contains("BUSYGROUP") => Ok(()),
            Err(e) => Err(unavailable(e)),
        }
    }

    /// Moves the route's retries that are due to its stream.
    pub async fn promote(&self, route: &str) -> Result<u64, StoreError> {
        let mut conn = self.conn.clone();
        let mut inv = self.scripts.promote.prepare_invoke();
        inv.arg(&*self.prefix).arg(route).arg(now_ms()).arg(500);
        self.run("promote", inv.invoke_async(&mut conn)).await
    }

    /// Takes over up to `count` of the route's entries that another process read but has not
    /// recorded within the lease (it died, say).
    pub async fn reclaim(
        &self,
        route: &str,
        count: usize,
    ) -> Result<Vec<(Seq, Lease)>, StoreError> {
        let mut conn = self.conn.clone();
        let v: Value = self
            .run(
                "reclaim",
                redis::cmd("XAUTOCLAIM")
                    .arg(format!("{}:q:{route}", self.prefix))
                    .arg(GROUP)
                    .arg(&*self.token)
                    .arg(millis(self.settings.lease))
                    .arg("0")
                    .arg("COUNT")
                    .arg(count.max(1))
                    .query_async(&mut conn),
            )
            .await?;
        // [next-cursor, [entries...], [deleted ids]]
        let entries = match &v {
            Value::Array(parts) if parts.len() >= 2 => stream_seqs(&parts[1]),
            _ => Vec::new(),
        };
        Ok(entries
            .into_iter()
            .map(|(id, seq)| (seq, Lease { entry: Some(id) }))
            .collect())
    }

    /// Reads up to `count` new entries of the route's stream, waiting up to `block` for one.
    /// Uses a connection of its own, since a blocking read would hold up the shared one.
    pub async fn read_new(
        &self,
        conn: &mut Option<redis::aio::MultiplexedConnection>,
        route: &str,
        count: usize,
        block: Duration,
    ) -> Result<Vec<(Seq, Lease)>, StoreError> {
        if conn.is_none() {
            *conn = Some(
                self.run("connect", self.client.get_multiplexed_async_connection())
                    .await?,
            );
        }
        let c = conn.as_mut().expect("connected above");
        let result: redis::RedisResult<Value> = redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg(GROUP)
            .arg(&*self.token)
            .arg("COUNT")
            .arg(count.max(1))
            .arg("BLOCK")
            .arg(millis(block))
            .arg("STREAMS")
            .arg(format!("{}:q:{route}", self.prefix))
            .arg(">")
            .query_async(c)
            .await;
        let v = match result {
            Ok(v) => v,
            Err(e) => {
                *conn = None;
                if e.to_string().contains("NOGROUP") {
                    self.ensure_group(route).await?;
                    return Ok(Vec::new());
                }
                return Err(unavailable(e));
            }
        };
        // [[stream, [entries...]]] or nil
        let entries = match &v {
            Value::Array(streams) => streams
                .iter()
                .flat_map(|s| match s {
                    Value::Array(pair) if pair.len() == 2 => stream_seqs(&pair[1]),
                    _ => Vec::new(),
                })
                .collect(),
            _ => Vec::new(),
        };
        Ok(entries
            .into_iter()
            .map(|(id, seq)| (seq, Lease { entry: Some(id) }))
            .collect())
    }

    /// Drops the entries of the route's lists whose event is gone (past its retention), oldest
    /// first, in slices of `TRIM_MOST` until none is left.
    pub async fn trim(&self, route: &str) -> Result<(), StoreError> {
        for key in [
            format!("{}:recent:{route}", self.prefix),
            format!("{}:recent", self.prefix),
            format!("{}:dead:{route}", self.prefix),
        ] {
            loop {
                let mut conn = self.conn.clone();
                let mut inv = self.scripts.trim.prepare_invoke();
                inv.key(&key).arg(&*self.prefix).arg(TRIM_MOST);
                let removed: u64 = self.run("trim", inv.invoke_async(&mut conn)).await?;
                if removed < TRIM_MOST {
                    break;
                }
            }
        }
        Ok(())
    }
}

/// The (entry id, seq) pairs of a stream reply's entries: `[[id, [field, value, ...]], ...]`.
fn stream_seqs(v: &Value) -> Vec<(String, Seq)> {
    let text = |v: &Value| match v {
        Value::BulkString(b) => String::from_utf8(b.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    };
    let Value::Array(entries) = v else {
        return Vec::new();
    };
    entries
        .iter()
        .filter_map(|e| {
            let Value::Array(pair) = e else { return None };
            let id = text(pair.first()?)?;
            let Value::Array(fields) = pair.get(1)? else {
                return None;
            };
            let mut seq = None;
            for kv in fields.chunks(2) {
                if kv.len() == 2 && text(&kv[0]).as_deref() == Some("seq") {
                    seq = text(&kv[1]).and_then(|s| s.parse().ok());
                }
            }
            Some((id, seq?))
        })
        .collect()
}
