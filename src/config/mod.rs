//! The configuration: one TOML file in, a fully validated `Config` out, or every mistake in it.
//!
//! `raw` mirrors the file (unknown keys refused, spans kept); `build` checks each value and merges each
//! route with its preset and `[defaults]`; this module reads the file, checks the server section and
//! the rules that span routes (distinct paths). The gateway never starts, or reloads, with a
//! configuration it cannot fully honour. This module knows nothing about sockets or the running server.

pub mod error;
pub mod layer;
pub mod raw;
pub mod route;

pub use error::{ConfigError, ConfigErrors};
pub use layer::EnvLookup;

use crate::forward::PoolSettings;
use crate::presets;
use crate::routes::Route;
use crate::secret::Secret;
use error::{Loc, Origin};
use ipnet::IpNet;
use layer::{Checker, Layer, duration, layer, size};
use raw::{RawFile, RawServer};
use route::RouteContext;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// A validated configuration.
#[derive(Debug)]
pub struct Config {
    pub server: ServerConfig,
    pub admin: Option<AdminConfig>,
    pub store: StoreConfig,
    pub routes: Vec<Route>,
    /// Settings that work but weaken a route, each with its fix: `check` prints them and `serve`
    /// logs them.
    pub warnings: ConfigErrors,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub max_body: u64,
    pub trusted_proxies: Vec<IpNet>,
    pub dedupe_capacity: u64,
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_header_size: usize,
    pub max_connections: usize,
    pub max_in_flight: usize,
    pub max_receiving: usize,
    pub max_in_flight_per_client: usize,
    pub max_concurrent_streams: u32,
    pub drain_timeout: Duration,
    pub workers: Option<usize>,
    pub access_log: bool,
    pub tls: Option<TlsConfig>,
    pub pool: PoolSettings,
}

/// The defaults of `[server]`, documented in the README's reference.
pub mod server_defaults {
    use std::time::Duration;
    pub const LISTEN: &str = "0.0.0.0:8080";
    pub const MAX_BODY: u64 = 1024 * 1024;
    pub const DEDUPE_CAPACITY: u64 = 1_000_000;
    pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
    pub const BODY_TIMEOUT: Duration = Duration::from_secs(30);
    pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
    pub const MAX_HEADER_SIZE: u64 = 64 * 1024;
    pub const MAX_CONNECTIONS: u64 = 10_000;
    pub const MAX_IN_FLIGHT: u64 = 4_096;
    pub const MAX_RECEIVING: u64 = 1_024;
    pub const MAX_IN_FLIGHT_PER_CLIENT: u64 = 512;
    /// HTTP/2 streams per connection: vendors send a few at a time; hyper's default of 200 would let
    /// a handful of connections take every place.
    pub const MAX_CONCURRENT_STREAMS: u64 = 64;
    pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminConfig {
    pub listen: SocketAddr,
    /// Required (as `Authorization: Bearer`) for every endpoint that changes state, and for every
    /// endpoint when the listener is not on loopback.
    pub token: Option<Secret>,
    /// Host names the admin listener answers to besides IP addresses and `localhost` (a request with
    /// any other `Host` or `Origin` is refused, which defeats DNS rebinding).
    pub hosts: Vec<String>,
}

/// Which store keeps events, and where.
#[derive(Debug, Clone)]
pub enum StoreKind {
    /// A redb file in `path` (the default).
    Embedded { path: PathBuf },
    /// Nothing kept beyond the process's memory: direct delivery only.
    Memory,
    /// A Redis shared by several processes.
    Redis(crate::store::redis::Settings),
}

#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub kind: StoreKind,
    pub limits: crate::store::Limits,
}

/// The defaults of `[store]`, documented in the README's reference.
pub mod store_defaults {
    use std::time::Duration;
    /// Where the embedded store lives when `[store] path` is not set.
    pub const PATH: &str = "/var/lib/hookgate";
    /// Delivered events are kept this long (for inspection and replay), then removed.
    pub const RETENTION: Duration = Duration::from_secs(72 * 3600);
    /// Dead-lettered events are kept this long.
    pub const DEAD_RETENTION: Duration = Duration::from_secs(14 * 86_400);
    pub const MAX_SIZE: u64 = 10 * 1024 * 1024 * 1024;
    /// Redis: an attempt not recorded after this long is taken over by another process; longer than
    /// any route's forward_timeout, so that a slow attempt is not made twice.
    pub const LEASE: Duration = Duration::from_secs(60);
    /// Redis: the prefix of every key.
    pub const PREFIX: &str = "hookgate";
}

/// The shortest admin token accepted.
pub const MIN_ADMIN_TOKEN: usize = 16;

impl AdminConfig {
    /// Why this admin listener cannot be started as configured, if it cannot: one reachable from
    /// other hosts needs a token.
    pub fn exposure(&self) -> Option<String> {
        if self.listen.ip().is_loopback() || self.token.is_some() {
            return None;
        }
        Some(format!(
            "admin.listen {} can be reached from other hosts, and without a token the admin endpoints (reload, metrics) would be open to them; set admin.token = \"${{HOOKGATE_ADMIN_TOKEN}}\" (at least {MIN_ADMIN_TOKEN} random characters, such as the output of `openssl rand -hex 16`) or listen on 127.0.0.1",
            self.listen
        ))
    }
}

/// Whether a configuration's secrets are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Secrets {
    /// Every secret is read (from the file, the environment or its `file:`); the gateway's way.
    Read,
    /// Secrets written as `${VAR}` or `file:…` are not read: everything else is validated, so that
    /// a configuration can be linted where its secrets are not (CI). Such a configuration cannot run.
    Skip,
}

/// Reads and validates the file at `path`, taking `${VAR}`s from the process environment.
pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    load_with(path, Secrets::Read)
}

/// `load`, choosing whether secrets are read.
pub fn load_with(path: &Path, secrets: Secrets) -> Result<Config, ConfigErrors> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::file(&name, format!("cannot read the configuration: {e}")))?;
    parse_with(&name, &text, &|var| std::env::var(var).ok(), secrets)
}

/// Validates configuration `text`; `name` is the file it came from (for messages and for resolving
/// relative paths). No message names the value of a secret-bearing key (`redact`).
pub fn parse(name: &str, text: &str, env: EnvLookup<'_>) -> Result<Config, ConfigErrors> {
    parse_with(name, text, env, Secrets::Read)
}

/// `parse`, choosing whether secrets are read.
pub fn parse_with(
    name: &str,
    text: &str,
    env: EnvLookup<'_>,
    secrets: Secrets,
) -> Result<Config, ConfigErrors> {
    let texts = secret_texts(text);
    match parse_unredacted(name, text, env, secrets) {
        Ok(mut config) => {
            redact(&mut config.warnings, &texts);
            Ok(config)
        }
        Err(mut errors) => {
            redact(&mut errors, &texts);
            Err(errors)
        }
    }
}

/// Keys whose values are secrets (or, for URLs, whose credentials are), wherever they appear.
const SECRET_KEYS: &[&str] = &[
    "secrets",
    "upstream_secret",
    "verify_token",
    "token",
    "password",
];
/// Keys holding URLs, whose `user:password@` part is a secret.
const URL_KEYS: &[&str] = &["upstream", "public_url", "url"];

/// The texts that must never appear in a message: every string under a secret-bearing key, and the
/// credentials of every URL, as written in the file. Messages are written not to echo them; this is
/// the net under that rule.
fn secret_texts(text: &str) -> Vec<String> {
    fn walk(key: &str, value: &toml::Value, out: &mut Vec<String>) {
        match value {
            toml::Value::String(s) if SECRET_KEYS.contains(&key) => out.push(s.clone()),
            toml::Value::String(s) if URL_KEYS.contains(&key) => {
                if let Some(userinfo) = url_credentials(s) {
                    out.push(userinfo.to_string());
                }
            }
            toml::Value::Array(items) => items.iter().for_each(|v| walk(key, v, out)),
            toml::Value::Table(t) => t.iter().for_each(|(k, v)| walk(k, v, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    if let Ok(table) = text.parse::<toml::Table>() {
        table.iter().for_each(|(k, v)| walk(k, v, &mut out));
    }
    // Longest first, so that a secret containing another is replaced whole.
    out.retain(|s| s.len() >= 3);
    out.sort_by_key(|s| std::cmp::Reverse(s.len()));
    out.dedup();
    out
}

/// The `user:password` of `scheme://user:password@host/…`, if the text has one.
pub fn url_credentials(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    authority.rsplit_once('@').map(|(userinfo, _)| userinfo)
}

/// `url` with its credentials replaced by `<redacted>`, for messages.
pub fn without_credentials(url: &str) -> String {
    match url_credentials(url) {
        Some(userinfo) => url.replacen(userinfo, "<redacted>", 1),
        None => url.to_string(),
    }
}

fn redact(errors: &mut ConfigErrors, secrets: &[String]) {
    for e in &mut errors.0 {
        for s in secrets {
            if e.message.contains(s.as_str()) {
                e.message = e.message.replace(s.as_str(), "<redacted>");
            }
        }
    }
}

fn parse_unredacted(
    name: &str,
    text: &str,
    env: EnvLookup<'_>,
    secrets: Secrets,
) -> Result<Config, ConfigErrors> {
    let origin = Origin::new(name, text);
    let raw = deserialize::<RawFile>(&origin)?;
    let base = Path::new(name).parent().unwrap_or(Path::new(""));
    let mut errors = ConfigErrors::default();
    let mut warnings = ConfigErrors::default();
    let mut c = Checker {
        origin: origin.clone(),
        env,
        errors: &mut errors,
        read_secrets: secrets == Secrets::Read,
    };
    let server = server(&mut c, raw.server.unwrap_or_default(), base);
    let admin = raw.admin.and_then(|a| admin(&mut c, a));
    let store = store(&mut c, raw.store.unwrap_or_default(), base);
    let defaults = raw
        .defaults
        .as_ref()
        .map(|d| layer(&mut c, d, "defaults"))
        .unwrap_or_default();
    if let Some(p) = &defaults.path {
        c.errors.push(ConfigError::at(
            &p.loc,
            p.key.clone(),
            "a path cannot be shared by all routes; set it per route",
        ));
    }

    let presets = match preset_layers() {
        Ok(p) => p,
        Err(e) => return Err(e.clone()),
    };
    let lookup = |name: &str| presets::canonical(name).and_then(|n| presets.get(n).cloned());
    let mut routes: Vec<Route> = Vec::new();
    let mut paths: HashMap<String, (String, Loc)> = HashMap::new();
    for (name, raw_route) in &raw.routes {
        let table = c.loc(raw_route);
        let before = c.errors.len();
        let own = layer(&mut c, raw_route.get_ref(), &format!("routes.{name}"));
        if c.errors.len() > before {
            // Cross-key checks on a route whose keys are already wrong would only add noise.
            continue;
        }
        let ctx = RouteContext {
            max_body: server.max_body,
            defaults: &defaults,
            presets: &lookup,
            durable_store: !matches!(store.kind, StoreKind::Memory),
        };
        let Some(route) = route::route(name, &table, own, &ctx, c.errors, &mut warnings) else {
            continue;
        };
        if route.path == "/healthz" {
            c.errors.push(ConfigError::at(
                &table,
                format!("routes.{name}.path"),
                "/healthz is the gateway's own health check; choose another path",
            ));
        } else if let Some((other, _)) = paths.get(&route.path) {
            c.errors.push(ConfigError::at(
                &table,
                format!("routes.{name}.path"),
                format!(
                    "{} is already the path of route \"{other}\"; each route needs its own path",
                    route.path
                ),
            ));
        } else {
            paths.insert(route.path.clone(), (name.clone(), table.clone()));
        }
        routes.push(route);
    }
    share_dedupe_capacity(
        &mut routes,
        server.dedupe_capacity,
        &origin.name,
        &mut warnings,
    );
    let mut store = store;
    if let StoreKind::Redis(r) = &mut store.kind {
        // Unsettled events must outlive the longest delivery age of any route.
        r.max_age = routes
            .iter()
            .map(|route| route.policy.max_age)
            .max()
            .unwrap_or(Duration::ZERO);
        for route in &routes {
            if route.forward_timeout * 2 > r.lease {
                let loc = &paths.get(&route.path).map(|(_, l)| l.clone());
                let e = format!(
                    "store.lease {} is not twice forward_timeout {}: an attempt still under way when its lease ends is taken over by another replica and delivered twice; raise store.lease to at least {} or lower forward_timeout",
                    human(r.lease),
                    human(route.forward_timeout),
                    human(route.forward_timeout * 2)
                );
                let key = format!("routes.{}.forward_timeout", route.name);
                errors.push(match loc {
                    Some(l) => ConfigError::at(l, key, e),
                    None => ConfigError::file(&origin.name, e),
                });
            }
        }
    }
    if errors.is_empty() {
        Ok(Config {
            server,
            admin,
            store,
            routes,
            warnings,
        })
    } else {
        Err(errors)
    }
}

/// A duration as messages and `check` write it: days at most (`36500d`, `1d 23h 18m`, `12h`, `500ms`).
pub fn human(d: Duration) -> String {
    let mut secs = d.as_secs();
    if secs == 0 {
        return format!("{}ms", d.subsec_millis());
    }
    let mut out = Vec::new();
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
        if secs >= size {
            out.push(format!("{}{unit}", secs / size));
            secs %= size;
        }
    }
    if d.subsec_millis() > 0 {
        out.push(format!("{}ms", d.subsec_millis()));
    }
    out.join(" ")
}

/// A route that remembers fewer events than this is warned about: a burst of more deliveries within
/// its `dedupe_ttl` would make it forget the oldest early.
const SMALL_DEDUPE_SHARE: usize = 1000;

/// Shares `server.dedupe_capacity` equally among the routes that do not set their own
/// `dedupe_capacity`, so that no route's traffic can evict another route's memory.
fn share_dedupe_capacity(
    routes: &mut [Route],
    total: u64,
    file: &str,
    warnings: &mut ConfigErrors,
) {
    let shared = routes.iter().filter(|r| !r.own_capacity).count().max(1) as u64;
    let share = usize::try_from((total / shared).max(1)).unwrap_or(usize::MAX);
    for r in routes.iter_mut() {
        if !r.own_capacity {
            r.dedupe_capacity = share;
        }
        if r.dedupe_capacity < SMALL_DEDUPE_SHARE {
            let source = if r.own_capacity {
                format!("routes.{}.dedupe_capacity", r.name)
            } else {
                format!("its share of server.dedupe_capacity ({total} over {shared} routes)")
            };
            warnings.push(ConfigError::file(
                file,
                format!(
                    "routes.{}: remembers only {} delivered events ({source}): more deliveries than that within its dedupe_ttl of {} make it forget the oldest early, and their replays would be forwarded; raise it to the deliveries the vendor sends in one dedupe_ttl",
                    r.name,
                    r.dedupe_capacity,
                    human(r.dedupe_ttl)
                ),
            ));
        }
    }
}

fn store(c: &mut Checker<'_>, raw: raw::RawStore, base: &Path) -> StoreConfig {
    use store_defaults as d;
    let kinds = ["embedded", "memory", "redis"];
    let kind = c
        .check(&raw.kind, "store.kind".to_string(), |k| {
            layer::choice(k, &kinds, |k| kinds.contains(&k).then(|| k.to_string()))
        })
        .map_or_else(|| "embedded".to_string(), |k| k.value);
    // Keys that belong to other kinds are refused, so that a half-edited table is noticed.
    let foreign = [
        (raw.path.as_ref().map(|p| c.loc(p)), "path", "embedded"),
        (
            raw.max_size.as_ref().map(|p| c.loc(p)),
            "max_size",
            "embedded",
        ),
        (raw.url.as_ref().map(|p| c.loc(p)), "url", "redis"),
        (raw.lease.as_ref().map(|p| c.loc(p)), "lease", "redis"),
        (
            raw.durability.as_ref().map(|p| c.loc(p)),
            "durability",
            "redis",
        ),
        (raw.prefix.as_ref().map(|p| c.loc(p)), "prefix", "redis"),
    ];
    for (loc, key, kind_of) in foreign {
        if let Some(loc) = loc
            && kind != kind_of
        {
            c.errors.push(ConfigError::at(
                &loc,
                format!("store.{key}"),
                format!(
                    "{key} belongs to kind = \"{kind_of}\"; remove it, or set kind = \"{kind_of}\""
                ),
            ));
        }
    }
    let path = c
        .check(&raw.path, "store.path".to_string(), |p| {
            if p.trim().is_empty() {
                Err("must not be empty".to_string())
            } else {
                Ok(base.join(p))
            }
        })
        .map_or_else(|| PathBuf::from(d::PATH), |p| p.value);
    let get = |c: &mut Checker<'_>, raw: &Option<raw::S<String>>, key: &str, default| {
        c.check(raw, format!("store.{key}"), duration)
            .map_or(default, |a| a.value)
    };
    let limits = crate::store::Limits {
        retention: get(c, &raw.retention, "retention", d::RETENTION),
        dead_retention: get(c, &raw.dead_retention, "dead_retention", d::DEAD_RETENTION),
        max_size: c
            .check(&raw.max_size, "store.max_size".to_string(), size)
            .map_or(d::MAX_SIZE, |a| a.value),
    };
    let kind = match kind.as_str() {
        "memory" => StoreKind::Memory,
        "redis" => {
            let url = match &raw.url {
                None => {
                    c.errors.push(ConfigError::file(
                        &c.origin.name,
                        "store.url: not set; kind = \"redis\" needs url = \"${REDIS_URL}\" (redis://… or rediss://… for TLS)",
                    ));
                    None
                }
                Some(_) => c.check_secret(&raw.url, "store.url".to_string()).and_then(|u| {
                    let text = String::from_utf8_lossy(u.value.expose()).into_owned();
                    if u.value.is_placeholder() || text.starts_with("redis://") || text.starts_with("rediss://") {
                        Some(u.value)
                    } else {
                        c.errors.push(u.err(format!(
                            "\"{}\" is not a Redis URL; write redis://host:6379 (or rediss://… for TLS)",
                            without_credentials(&text)
                        )));
                        None
                    }
                }),
            };
            let lease = get(c, &raw.lease, "lease", d::LEASE);
            let durability = c
                .check(&raw.durability, "store.durability".to_string(), |t| {
                    layer::choice(t, &["warn", "fsync"], |t| match t {
                        "warn" => Some(crate::store::redis::Durability::Warn),
                        "fsync" => Some(crate::store::redis::Durability::Fsync),
                        _ => None,
                    })
                })
                .map_or(crate::store::redis::Durability::Warn, |a| a.value);
            let prefix = raw
                .prefix
                .as_ref()
                .map_or_else(|| d::PREFIX.to_string(), |p| p.get_ref().clone());
            match url {
                Some(url) => StoreKind::Redis(crate::store::redis::Settings {
                    url,
                    prefix,
                    retention: limits.retention,
                    dead_retention: limits.dead_retention,
                    // Set once the routes are known (the longest of their max_delivery_age).
                    max_age: Duration::ZERO,
                    lease,
                    durability,
                }),
                None => StoreKind::Memory,
            }
        }
        _ => StoreKind::Embedded { path },
    };
    StoreConfig { kind, limits }
}

fn admin(c: &mut Checker<'_>, raw: raw::RawAdmin) -> Option<AdminConfig> {
    let listen = c.check(&raw.listen, "admin.listen".to_string(), socket_addr)?;
    let token = c
        .check_secret(&raw.token, "admin.token".to_string())
        .and_then(|t| {
            if !t.value.is_placeholder() && t.value.expose().len() < MIN_ADMIN_TOKEN {
                c.errors.push(t.err(format!(
                    "the token is shorter than {MIN_ADMIN_TOKEN} characters; use a long random one, such as the output of `openssl rand -hex 16`"
                )));
                return None;
            }
            Some(t.value)
        });
    let mut hosts = Vec::new();
    for (i, h) in raw.hosts.iter().flatten().enumerate() {
        let ok = c.check(&Some(h.clone()), format!("admin.hosts[{i}]"), |h| {
            let h = h.trim().to_ascii_lowercase();
            if h.is_empty() || h.contains(['/', ':', ' ']) {
                Err(format!("\"{h}\" is not a host name; write it like \"hookgate.internal\" (no scheme or port)"))
            } else {
                Ok(h)
            }
        });
        hosts.extend(ok.map(|h| h.value));
    }
    let config = AdminConfig {
        listen: listen.value,
        token,
        hosts,
    };
    if raw.token.is_none()
        && let Some(why) = config.exposure()
    {
        c.errors.push(listen.err(why));
    }
    Some(config)
}

fn socket_addr(text: &String) -> Result<SocketAddr, String> {
    text.trim().parse().map_err(|_| {
        format!("\"{text}\" is not an address to listen on; write it like \"0.0.0.0:8080\" or \"[::]:8080\"")
    })
}

fn server(c: &mut Checker<'_>, raw: RawServer, base: &Path) -> ServerConfig {
    use server_defaults as d;
    let k = |n: &str| format!("server.{n}");
    let positive = |n: &u64| {
        if *n == 0 {
            Err("must be at least 1".to_string())
        } else {
            Ok(*n)
        }
    };
    let listen = c
        .check(&raw.listen, k("listen"), socket_addr)
        .map_or_else(|| d::LISTEN.parse().expect("valid default"), |a| a.value);
    let mut trusted_proxies = Vec::new();
    for (i, p) in raw.trusted_proxies.iter().flatten().enumerate() {
        if let Some(n) = c.check(
            &Some(p.clone()),
            format!("server.trusted_proxies[{i}]"),
            |t| crate::client_ip::parse_net(t),
        ) {
            trusted_proxies.push(n.value);
        }
    }
    let get_duration = |c: &mut Checker<'_>, raw: &Option<raw::S<String>>, key: &str, default| {
        c.check(raw, k(key), duration).map_or(default, |a| a.value)
    };
    let tls = raw.tls.as_ref().and_then(|t| {
        let resolve = |p: &String| Ok::<_, String>(base.join(p));
        let cert = c.check(&t.cert, k("tls.cert"), resolve);
        let key = c.check(&t.key, k("tls.key"), resolve);
        match (cert, key) {
            (Some(cert), Some(key)) => Some(TlsConfig {
                cert: cert.value,
                key: key.value,
            }),
            _ => {
                c.errors.push(ConfigError::file(
                    &c.origin.name,
                    "server.tls: set both cert and key (PEM files; cert holds the full chain)",
                ));
                None
            }
        }
    });
    ServerConfig {
        listen,
        max_body: c
            .check(&raw.max_body, k("max_body"), size)
            .map_or(d::MAX_BODY, |a| a.value),
        trusted_proxies,
        dedupe_capacity: c
            .check(&raw.dedupe_capacity, k("dedupe_capacity"), positive)
            .map_or(d::DEDUPE_CAPACITY, |a| a.value),
        header_timeout: get_duration(c, &raw.header_timeout, "header_timeout", d::HEADER_TIMEOUT),
        body_timeout: get_duration(c, &raw.body_timeout, "body_timeout", d::BODY_TIMEOUT),
        idle_timeout: get_duration(c, &raw.idle_timeout, "idle_timeout", d::IDLE_TIMEOUT),
        max_header_size: c
            .check(&raw.max_header_size, k("max_header_size"), |s| {
                let n = size(s)?;
                if n < 8192 {
                    Err("must be at least 8KiB, or ordinary requests would be refused".to_string())
                } else {
                    Ok(n)
                }
            })
            .map_or(d::MAX_HEADER_SIZE, |a| a.value) as usize,
        max_connections: c
            .check(&raw.max_connections, k("max_connections"), positive)
            .map_or(d::MAX_CONNECTIONS, |a| a.value) as usize,
        max_in_flight: c
            .check(&raw.max_in_flight, k("max_in_flight"), positive)
            .map_or(d::MAX_IN_FLIGHT, |a| a.value) as usize,
        max_receiving: c
            .check(&raw.max_receiving, k("max_receiving"), positive)
            .map_or(d::MAX_RECEIVING, |a| a.value) as usize,
        max_in_flight_per_client: c
            .check(
                &raw.max_in_flight_per_client,
                k("max_in_flight_per_client"),
                positive,
            )
            .map_or(d::MAX_IN_FLIGHT_PER_CLIENT, |a| a.value)
            as usize,
        max_concurrent_streams: c
            .check(
                &raw.max_concurrent_streams,
                k("max_concurrent_streams"),
                |n| {
                    u32::try_from(*n)
                        .ok()
                        .filter(|n| *n >= 1)
                        .ok_or_else(|| "must be between 1 and 4294967295".to_string())
                },
            )
            .map_or(d::MAX_CONCURRENT_STREAMS as u32, |a| a.value),
        drain_timeout: get_duration(c, &raw.drain_timeout, "drain_timeout", d::DRAIN_TIMEOUT),
        workers: c
            .check(&raw.workers, k("workers"), positive)
            .map(|a| a.value as usize),
        access_log: raw.access_log.is_none_or(|a| *a.get_ref()),
        tls,
        pool: PoolSettings {
            idle_timeout: get_duration(
                c,
                &raw.upstream_pool_idle_timeout,
                "upstream_pool_idle_timeout",
                PoolSettings::default().idle_timeout,
            ),
            max_idle_per_host: c
                .check(
                    &raw.upstream_pool_max_idle,
                    k("upstream_pool_max_idle"),
                    |n| Ok(*n),
                )
                .map_or(PoolSettings::default().max_idle_per_host, |a| {
                    a.value as usize
                }),
        },
    }
}

/// Parses `origin` as `T`, turning serde's error into one located, key-named configuration error.
///
/// Every mistake is reported at once, not the first alone: every syntax error the parser recovers
/// from, and then every unknown key and wrong type. serde stops at the first of those, so each one
/// found is taken out of the document (spans stay those of the file) and the rest deserialized again.
pub fn deserialize<T: serde::de::DeserializeOwned>(
    origin: &Arc<Origin>,
) -> Result<T, ConfigErrors> {
    let (mut doc, syntax) = toml::de::DeTable::parse_recoverable(&origin.text);
    // Reported in the order of the file, whatever order serde met them in.
    let mut found: Vec<(usize, ConfigError)> = Vec::new();
    let done = |mut found: Vec<(usize, ConfigError)>| {
        found.sort_by_key(|(at, _)| *at);
        ConfigErrors(found.into_iter().map(|(_, e)| e).collect())
    };
    let at = |e: &toml::de::Error| e.span().map_or(0, |s| s.start);
    if !syntax.is_empty() {
        for e in &syntax {
            found.push((at(e), toml_error(origin, e, String::new())));
        }
        return Err(done(found));
    }
    // Bounded: each round removes one key, and no file needs this many reported at once.
    for _ in 0..100 {
        let de = toml::Deserializer::from(doc.clone());
        let e = match serde_path_to_error::deserialize(de) {
            Ok(value) if found.is_empty() => return Ok(value),
            Ok(_) => return Err(done(found)),
            Err(e) => e,
        };
        found.push((
            at(e.inner()),
            toml_error(origin, e.inner(), key_path(e.path())),
        ));
        let unknown = unknown_key(e.inner().message());
        if !take_out(doc.get_mut(), e.path(), unknown) {
            break;
        }
    }
    Err(done(found))
}

/// The key serde's "unknown field `x`, expected …" names.
fn unknown_key(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("unknown field `")?;
    rest.split('`').next()
}

/// Removes from `table` the key at `path` (for an unknown key, that key in the table at `path`), so
/// that deserializing again goes past it. False when the path leads nowhere.
fn take_out(
    table: &mut toml::de::DeTable<'_>,
    path: &serde_path_to_error::Path,
    unknown: Option<&str>,
) -> bool {
    use serde_path_to_error::Segment;
    use toml::de::DeValue;
    // toml's Spanned wrapper adds segments of its own ("$__serde_spanned_private_…"), which are not
    // in the document.
    let mut segments: Vec<Segment> = path
        .iter()
        .filter(|s| !matches!(s, Segment::Map { key } if key.starts_with("$__")))
        .cloned()
        .collect();
    if let Some(name) = unknown
        && !matches!(segments.last(), Some(Segment::Map { key }) if key == name)
    {
        segments.push(Segment::Map {
            key: name.to_string(),
        });
    }
    // The last key of the path goes, with whatever array below it the mistake is in.
    let Some(last) = segments
        .iter()
        .rposition(|s| matches!(s, Segment::Map { .. }))
    else {
        return false;
    };
    let Segment::Map { key: doomed } = &segments[last] else {
        return false;
    };
    let mut here = table;
    let mut i = 0;
    while i < last {
        let Segment::Map { key } = &segments[i] else {
            return false;
        };
        let Some(value) = here.get_mut(key.as_str()) else {
            return false;
        };
        // Descend through arrays (of tables) by the indexes that follow.
        let mut value = value.get_mut();
        while let Some(Segment::Seq { index }) = segments.get(i + 1) {
            let DeValue::Array(items) = value else {
                return false;
            };
            let Some(item) = items.get_mut(*index) else {
                return false;
            };
            value = item.get_mut();
            i += 1;
        }
        let DeValue::Table(inner) = value else {
            return false;
        };
        here = inner;
        i += 1;
    }
    here.remove(doomed.as_str()).is_some()
}

/// The path serde took, without the internal names `toml::Spanned` uses.
fn key_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for seg in path.iter() {
        match seg {
            Segment::Map { key } if key.starts_with("$__") => {}
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Unknown => {}
        }
    }
    out
}

fn toml_error(origin: &Arc<Origin>, e: &toml::de::Error, key: String) -> ConfigError {
    let location = match e.span() {
        Some(span) => Loc {
            origin: origin.clone(),
            span,
        }
        .to_string(),
        None => origin.name.clone(),
    };
    let (key, message) = match e.span() {
        Some(span) if key.is_empty() => syntax(&origin.text, span.start, e.message().trim()),
        _ => explain(key, e.message().trim()),
    };
    ConfigError {
        location: Some(location),
        key,
        message,
    }
}

/// A syntax error in the words of this file, with its fix, under the key written on its line (the
/// table header above it gives the table). The value is never echoed: it may be a secret.
fn syntax(text: &str, at: usize, message: &str) -> (String, String) {
    let at = at.min(text.len());
    let start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let line = text[start..].lines().next().unwrap_or("").trim();
    let header = |l: &str| {
        let l = l.trim();
        l.starts_with('[')
            .then(|| l.trim_matches(|c| c == '[' || c == ']').trim().to_string())
    };
    let table = text[..start].lines().rev().find_map(header);
    let key = match (line.starts_with('['), line.split_once('=')) {
        (true, _) => header(line).unwrap_or_default(),
        (false, Some((k, _))) => match &table {
            Some(t) => format!("{t}.{}", k.trim()),
            None => k.trim().to_string(),
        },
        // `key "value"`: the key is the first word.
        (false, None) => {
            let word = line
                .split(|c: char| c.is_whitespace() || c == '"' || c == '\'')
                .next()
                .unwrap_or("");
            match (&table, word.is_empty()) {
                (Some(t), false) => format!("{t}.{word}"),
                (Some(t), true) => t.clone(),
                (None, _) => word.to_string(),
            }
        }
    };
    let fix = if message.starts_with("duplicate key") && line.starts_with('[') {
        "this table is written twice; merge its keys under one header".to_string()
    } else if message.starts_with("duplicate key") {
        "this key is set twice in its table; keep one".to_string()
    } else if message.starts_with("string values must be quoted")
        || [
            "invalid float",
            "invalid integer",
            "invalid number",
            "invalid datetime",
        ]
        .iter()
        .any(|m| message.starts_with(m))
    {
        "a value must be quoted text (\"127.0.0.1:8080\", \"5m\"), a number, true or false, a [list] or a { table }; put text in quotes".to_string()
    } else if message.contains("string") && message.starts_with("invalid") {
        "the quoted text is not closed on its line; end it with the quote it starts with (text over several lines goes in triple quotes)".to_string()
    } else if message.starts_with("missing escaped value") || message.starts_with("invalid escape")
    {
        "a backslash in \"double quotes\" starts an escape such as \\n; write \\\\ for a backslash, or put the text in 'single quotes', which take it as written".to_string()
    } else if message.starts_with("key with no value") {
        "write key = value".to_string()
    } else if message.starts_with("missing comma") {
        "separate a list's items with commas: [\"a\", \"b\"]".to_string()
    } else if message.starts_with("unclosed inline table") {
        "close it with } on the same line, or write it as a [section] of its own".to_string()
    } else if message.starts_with("unclosed table") {
        "close the table name with ]: [routes.NAME]".to_string()
    } else if message.starts_with("unclosed array") {
        "close the list with ]".to_string()
    } else {
        format!("{message} (TOML syntax: https://toml.io/en/v1.0.0)")
    };
    (key, fix)
}

/// Rewrites serde's "unknown field `x`, expected one of `a`, `b`" into a sentence with a suggestion,
/// and its type errors into the vocabulary of this file.
fn explain(key: String, message: &str) -> (String, String) {
    let ticked: Vec<&str> = message.split('`').skip(1).step_by(2).collect();
    if message.starts_with("unknown field") && !ticked.is_empty() {
        let unknown = ticked[0];
        let valid = &ticked[1..];
        // serde's path stops at the table; name the key itself.
        let key = if key.ends_with(unknown) {
            key
        } else if key.is_empty() {
            unknown.to_string()
        } else {
            format!("{key}.{unknown}")
        };
        let hint = error::suggestion(unknown, valid.iter().copied());
        let list = if valid.is_empty() {
            "this table takes no keys".to_string()
        } else {
            format!("valid keys are {}", valid.join(", "))
        };
        return (key, format!("unknown key \"{unknown}\"{hint} ({list})"));
    }
    if message.starts_with("data did not match any variant of untagged enum RawSize") {
        return (
            key,
            "expected a number of bytes or a size like \"1MiB\"".to_string(),
        );
    }
    if message.starts_with("data did not match any variant of untagged enum OneOrMany") {
        return (
            key,
            "expected a header name or a list of header names".to_string(),
        );
    }
    if let Some(rest) = message.strip_prefix("invalid type: ") {
        return (key, wrong_type(rest));
    }
    if let Some(rest) = message.strip_prefix("invalid value: ") {
        // "integer `-1`, expected u64": say what is expected without echoing the value.
        let expected = rest.split_once(", expected ").map_or("", |(_, e)| e);
        return (
            key,
            format!("invalid value; expected {}", expected_words(expected)),
        );
    }
    (key, message.to_string())
}

/// "string \"x\", expected a sequence" in the words of this file, without echoing the value (it may
/// be a secret written where a list was expected).
fn wrong_type(rest: &str) -> String {
    let (found, expected) = rest.split_once(", expected ").unwrap_or((rest, ""));
    let found = match found.split_whitespace().next().unwrap_or("") {
        "string" => "text in quotes",
        "integer" => "a whole number",
        "float" => "a decimal number",
        "boolean" => "true or false",
        "sequence" => "a list",
        "map" => "a table",
        "datetime" => "a date",
        other => other,
    };
    let expected = expected_words(expected);
    let fix = if expected.starts_with("a list") && found == "text in quotes" {
        "; put the value in brackets: [\"...\"]"
    } else if expected.starts_with("text") && found != "text in quotes" {
        "; put the value in quotes"
    } else if expected.starts_with("a whole number") && found == "text in quotes" {
        "; write the number without quotes, such as 16"
    } else if expected.starts_with("true or false") {
        "; write true or false, without quotes"
    } else if expected.starts_with("a table") {
        "; write it as a [section] of its own or as { key = value }"
    } else {
        ""
    };
    format!("expected {expected}, found {found}{fix}")
}

/// Serde's name for what it expected, in the words of this file.
fn expected_words(expected: &str) -> String {
    match expected.trim() {
        "a sequence" => "a list, such as [\"...\"]".to_string(),
        "a string" => "text in quotes".to_string(),
        "a boolean" => "true or false".to_string(),
        "u8" | "u16" | "u32" | "u64" | "usize" => "a whole number of 0 or more".to_string(),
        "i64" | "i32" => "a whole number".to_string(),
        e if e.starts_with("struct ") || e == "a map" => "a table".to_string(),
        e => e.to_string(),
    }
}

/// Every preset's settings, checked once, by canonical name.
pub fn preset_layers() -> &'static Result<HashMap<String, Layer>, ConfigErrors> {
    static LAYERS: OnceLock<Result<HashMap<String, Layer>, ConfigErrors>> = OnceLock::new();
    LAYERS.get_or_init(|| {
        let table = presets::table().map_err(|e| e.clone())?;
        let mut errors = ConfigErrors::default();
        let no_env = |_: &str| None;
        let mut c = Checker {
            origin: table.origin.clone(),
            env: &no_env,
            errors: &mut errors,
            read_secrets: true,
        };
        let mut layers: HashMap<String, Layer> = table
            .presets
            .iter()
            .map(|p| {
                let l = layer(&mut c, &p.route, &format!("presets.{}", p.name));
                (p.name.clone(), l)
            })
            .collect();
        // A preset with a base starts from the base's own settings (one level: bases have no base).
        for p in &table.presets {
            let Some(base) = &p.base else { continue };
            let found = table.presets.iter().find(|b| &b.name == base.get_ref());
            match found {
                Some(b) if b.base.is_none() => {
                    let under = layers[&b.name].clone();
                    if let Some(own) = layers.remove(&p.name) {
                        layers.insert(p.name.clone(), own.over(under));
                    }
                }
                Some(_) => c.errors.push(ConfigError::at(
                    &c.loc(base),
                    format!("{}.base", p.name),
                    format!(
                        "\"{}\" has a base itself; name the preset at the bottom",
                        base.get_ref()
                    ),
                )),
                None => c.errors.push(ConfigError::at(
                    &c.loc(base),
                    format!("{}.base", p.name),
                    format!("no preset is named \"{}\"", base.get_ref()),
                )),
            }
        }
        if errors.is_empty() {
            Ok(layers)
        } else {
            Err(errors)
        }
    })
}

#[cfg(test)]
mod tests;
