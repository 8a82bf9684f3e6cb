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
    pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminConfig {
    pub listen: SocketAddr,
}

/// Reads and validates the file at `path`, taking `${VAR}`s from the process environment.
pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::file(&name, format!("cannot read the configuration: {e}")))?;
    parse(&name, &text, &|var| std::env::var(var).ok())
}

/// Validates configuration `text`; `name` is the file it came from (for messages and for resolving
/// relative paths).
pub fn parse(name: &str, text: &str, env: EnvLookup<'_>) -> Result<Config, ConfigErrors> {
    let origin = Origin::new(name, text);
    let raw = deserialize::<RawFile>(&origin)?;
    let base = Path::new(name).parent().unwrap_or(Path::new(""));
    let mut errors = ConfigErrors::default();
    let mut warnings = ConfigErrors::default();
    let mut c = Checker {
        origin: origin.clone(),
        env,
        errors: &mut errors,
    };
    let server = server(&mut c, raw.server.unwrap_or_default(), base);
    let admin = raw.admin.and_then(|a| {
        c.check(&a.listen, "admin.listen".to_string(), socket_addr)
            .map(|l| AdminConfig { listen: l.value })
    });
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
    if errors.is_empty() {
        Ok(Config {
            server,
            admin,
            routes,
            warnings,
        })
    } else {
        Err(errors)
    }
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
                    humantime::format_duration(r.dedupe_ttl)
                ),
            ));
        }
    }
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
pub fn deserialize<T: serde::de::DeserializeOwned>(
    origin: &Arc<Origin>,
) -> Result<T, ConfigErrors> {
    let de = toml::Deserializer::parse(&origin.text)
        .map_err(|e| toml_error(origin, &e, String::new()))?;
    serde_path_to_error::deserialize(de).map_err(|e| {
        let key = key_path(e.path());
        toml_error(origin, e.inner(), key)
    })
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

fn toml_error(origin: &Arc<Origin>, e: &toml::de::Error, key: String) -> ConfigErrors {
    let location = match e.span() {
        Some(span) => Loc {
            origin: origin.clone(),
            span,
        }
        .to_string(),
        None => origin.name.clone(),
    };
    let (key, message) = explain(key, e.message().trim());
    ConfigError {
        location: Some(location),
        key,
        message,
    }
    .into()
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
    (key, message.replace("invalid type: ", "wrong type: "))
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
