//! From raw TOML structs to runtime types.
//!
//! Each layer of a route — its own keys, its preset, `[defaults]` — is first checked on its own
//! (durations, CIDRs, header names, templates, secrets), keeping where each value was written. The
//! layers are then merged field by field (route over preset over defaults over built-in defaults) and
//! the merged route is checked as a whole (a secret to verify with, `dedupe_ttl >= tolerance`, a signed
//! timestamp). Errors are collected rather than returned at the first one, so a user sees them all.

use super::error::{ConfigError, ConfigErrors, Loc, Origin, suggestion};
use super::raw::{RawEvent, RawRoute, RawSize, RawStatus, RawVerify, S};
use crate::client_ip::parse_net;
use crate::envelope::Mode;
use crate::forward::Upstream;
use crate::outcome::StatusOverrides;
use crate::presets;
use crate::routes::Route;
use crate::secret::Secret;
use crate::verify::{
    Algorithm, Encoding, EventFields, ListFormat, Piece, SecretEncoding, SignatureFormat, Source,
    Spec, Template, TimestampFormat, Verifier,
};
use http::{HeaderName, StatusCode};
use ipnet::IpNet;
use std::sync::Arc;
use std::time::Duration;

/// Reads environment variables; injected so tests do not touch the process environment.
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// A checked value, with where it was written and under which key.
#[derive(Debug, Clone)]
pub struct At<T> {
    pub value: T,
    pub loc: Loc,
    pub key: String,
}

impl<T> At<T> {
    fn err(&self, message: impl Into<String>) -> ConfigError {
        ConfigError::at(&self.loc, self.key.clone(), message)
    }
}

/// Checks raw values of one origin, collecting errors.
pub struct Checker<'a> {
    pub origin: Arc<Origin>,
    pub env: EnvLookup<'a>,
    pub errors: &'a mut ConfigErrors,
}

impl Checker<'_> {
    pub fn loc<T>(&self, s: &S<T>) -> Loc {
        Loc {
            origin: self.origin.clone(),
            span: s.span(),
        }
    }

    /// Converts one value, recording an error (and returning `None`) when `f` refuses it.
    pub fn check<T, U>(
        &mut self,
        raw: &Option<S<T>>,
        key: String,
        f: impl FnOnce(&T) -> Result<U, String>,
    ) -> Option<At<U>> {
        let raw = raw.as_ref()?;
        let loc = self.loc(raw);
        match f(raw.get_ref()) {
            Ok(value) => Some(At { value, loc, key }),
            Err(message) => {
                self.errors.push(ConfigError::at(&loc, key, message));
                None
            }
        }
    }

    /// Expands `${VAR}` (and `${VAR:-default}`) from the environment.
    pub fn expand(&self, text: &str) -> Result<String, String> {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after
                .find('}')
                .ok_or_else(|| format!("unclosed \"${{\" in \"{text}\""))?;
            let inner = &after[..end];
            let (name, default) = match inner.split_once(":-") {
                Some((n, d)) => (n, Some(d)),
                None => (inner, None),
            };
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return Err(format!(
                    "\"${{{inner}}}\" is not a valid environment variable reference"
                ));
            }
            match ((self.env)(name), default) {
                (Some(v), _) => out.push_str(&v),
                (None, Some(d)) => out.push_str(d),
                (None, None) => {
                    return Err(format!(
                        "environment variable {name} is not set; export it, or write \"${{{name}:-default}}\" to give a fallback"
                    ));
                }
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// A secret: `${VAR}` expanded, then `file:/path` read (one trailing newline removed).
    pub fn secret(&self, text: &str) -> Result<Secret, String> {
        let expanded = self.expand(text)?;
        let value = match expanded.strip_prefix("file:") {
            Some(path) => {
                let mut content = std::fs::read_to_string(path)
                    .map_err(|e| format!("cannot read secret file {path}: {e}"))?;
                if content.ends_with('\n') {
                    content.pop();
                    if content.ends_with('\r') {
                        content.pop();
                    }
                }
                content
            }
            None => expanded,
        };
        if value.is_empty() {
            return Err("the secret is empty".to_string());
        }
        Ok(Secret::new(value.into_bytes()))
    }
}

pub fn duration(text: &String) -> Result<Duration, String> {
    humantime::parse_duration(text.trim()).map_err(|_| {
        format!("\"{text}\" is not a duration; write it like \"500ms\", \"30s\", \"5m\", \"24h\" or \"7d\"")
    })
}

pub fn size(raw: &RawSize) -> Result<u64, String> {
    match raw {
        RawSize::Bytes(n) => Ok(*n),
        RawSize::Text(t) => t
            .trim()
            .parse::<bytesize::ByteSize>()
            .map(|b| b.as_u64())
            .map_err(|_| {
                format!("\"{t}\" is not a size; write a number of bytes or a size like \"512KiB\" or \"1MiB\"")
            }),
    }
}

fn choice<T>(text: &str, names: &[&str], parse: impl Fn(&str) -> Option<T>) -> Result<T, String> {
    parse(text).ok_or_else(|| {
        format!(
            "\"{text}\" is not one of {}{}",
            names
                .iter()
                .map(|n| format!("\"{n}\""))
                .collect::<Vec<_>>()
                .join(", "),
            suggestion(text, names.iter().copied())
        )
    })
}

fn header_name(text: &str) -> Result<HeaderName, String> {
    HeaderName::from_bytes(text.trim().as_bytes())
        .map_err(|_| format!("\"{text}\" is not a valid header name"))
}

fn reject_status(code: &u16) -> Result<StatusCode, String> {
    match StatusCode::from_u16(*code) {
        Ok(s) if s.is_client_error() || s.is_server_error() => Ok(s),
        _ => Err(format!("{code} is not a 4xx or 5xx status code")),
    }
}

/// The checked keys of one layer (a route, a preset or `[defaults]`).
#[derive(Debug, Clone, Default)]
pub struct Layer {
    pub provider: Option<At<String>>,
    pub path: Option<At<String>>,
    pub secrets: Option<At<Vec<At<Secret>>>>,
    pub upstream: Option<At<Upstream>>,
    pub upstream_secret: Option<At<Secret>>,
    pub allow_ips: Option<At<Vec<IpNet>>>,
    pub dedupe_ttl: Option<At<Duration>>,
    pub forward_timeout: Option<At<Duration>>,
    pub tolerance: Option<At<Duration>>,
    pub max_clock_skew: Option<At<Duration>>,
    pub max_body: Option<At<u64>>,
    pub envelope: Option<At<Mode>>,
    pub source: Option<At<String>>,
    pub verify: VerifyLayer,
    pub event: EventLayer,
    pub status: StatusLayer,
}

#[derive(Debug, Clone, Default)]
pub struct VerifyLayer {
    /// Where the `verify` table was written, when it was.
    pub table: Option<Loc>,
    pub algorithm: Option<At<Algorithm>>,
    pub header: Option<At<Vec<HeaderName>>>,
    pub prefix: Option<At<String>>,
    pub encoding: Option<At<Encoding>>,
    pub payload: Option<At<Template>>,
    pub timestamp: Option<At<Source>>,
    pub timestamp_format: Option<At<TimestampFormat>>,
    pub separator: Option<At<String>>,
    pub kv_separator: Option<At<String>>,
    pub signature_key: Option<At<String>>,
    pub secret_encoding: Option<At<SecretEncoding>>,
    pub secret_prefix: Option<At<String>>,
}

#[derive(Debug, Clone, Default)]
pub struct EventLayer {
    pub id: Option<At<Source>>,
    pub kind: Option<At<Source>>,
    pub time: Option<At<Source>>,
}

#[derive(Debug, Clone, Default)]
pub struct StatusLayer {
    pub signature: Option<At<StatusCode>>,
    pub timestamp: Option<At<StatusCode>>,
}

/// Checks each key of a raw route (or preset, or `[defaults]`) under the key prefix `at`.
pub fn layer(c: &mut Checker<'_>, raw: &RawRoute, at: &str) -> Layer {
    let k = |name: &str| format!("{at}.{name}");
    let provider = c.check(&raw.provider, k("provider"), |p| Ok(p.clone()));
    let path = c.check(&raw.path, k("path"), |p| {
        if !p.starts_with('/') {
            Err(format!("\"{p}\" must start with '/'"))
        } else if p.contains(['?', '#']) {
            Err(format!(
                "\"{p}\" must be a path only, without a query or fragment"
            ))
        } else {
            Ok(p.clone())
        }
    });
    let secrets = match &raw.secrets {
        None => None,
        Some(list) => {
            let mut out = Vec::new();
            for (i, s) in list.get_ref().iter().enumerate() {
                let key = format!("{at}.secrets[{i}]");
                let loc = c.loc(s);
                match c.secret(s.get_ref()) {
                    Ok(value) => out.push(At { value, loc, key }),
                    Err(m) => c.errors.push(ConfigError::at(&loc, key, m)),
                }
            }
            Some(At {
                value: out,
                loc: c.loc(list),
                key: k("secrets"),
            })
        }
    };
    let upstream = {
        let text = raw.upstream.as_ref().map(|s| c.expand(s.get_ref()));
        match (text, &raw.upstream) {
            (Some(Ok(t)), Some(s)) => {
                let loc = c.loc(s);
                match Upstream::parse(&t) {
                    Ok(value) => Some(At {
                        value,
                        loc,
                        key: k("upstream"),
                    }),
                    Err(m) => {
                        c.errors.push(ConfigError::at(&loc, k("upstream"), m));
                        None
                    }
                }
            }
            (Some(Err(m)), Some(s)) => {
                let loc = c.loc(s);
                c.errors.push(ConfigError::at(&loc, k("upstream"), m));
                None
            }
            _ => None,
        }
    };
    let upstream_secret = {
        let raw_secret = raw.upstream_secret.as_ref();
        match raw_secret.map(|s| (c.loc(s), c.secret(s.get_ref()))) {
            Some((loc, Ok(value))) => Some(At {
                value,
                loc,
                key: k("upstream_secret"),
            }),
            Some((loc, Err(m))) => {
                c.errors
                    .push(ConfigError::at(&loc, k("upstream_secret"), m));
                None
            }
            None => None,
        }
    };
    let allow_ips = match &raw.allow_ips {
        None => None,
        Some(list) => {
            let mut nets = Vec::new();
            for (i, s) in list.get_ref().iter().enumerate() {
                match parse_net(s.get_ref()) {
                    Ok(n) => nets.push(n),
                    Err(m) => {
                        let loc = c.loc(s);
                        c.errors
                            .push(ConfigError::at(&loc, format!("{at}.allow_ips[{i}]"), m));
                    }
                }
            }
            Some(At {
                value: nets,
                loc: c.loc(list),
                key: k("allow_ips"),
            })
        }
    };
    let dedupe_ttl = c.check(&raw.dedupe_ttl, k("dedupe_ttl"), duration);
    let forward_timeout = c.check(&raw.forward_timeout, k("forward_timeout"), |t| {
        let d = duration(t)?;
        if d.is_zero() {
            return Err("must be longer than zero".to_string());
        }
        Ok(d)
    });
    let tolerance = c.check(&raw.tolerance, k("tolerance"), duration);
    let max_clock_skew = c.check(&raw.max_clock_skew, k("max_clock_skew"), duration);
    let max_body = c.check(&raw.max_body, k("max_body"), size);
    let envelope = c.check(&raw.envelope, k("envelope"), |t| {
        choice(t, Mode::NAMES, Mode::parse)
    });
    let source = c.check(&raw.source, k("source"), |s| {
        if s.is_empty() {
            Err("must not be empty".to_string())
        } else {
            Ok(s.clone())
        }
    });
    let verify_loc = raw.verify.as_ref().map(|v| c.loc(v));
    let verify = verify_layer(
        c,
        raw.verify.as_ref().map(|v| v.get_ref()),
        &k("verify"),
        verify_loc,
    );
    let event = event_layer(c, raw.event.as_ref(), &k("event"));
    let status = status_layer(c, raw.status.as_ref(), &k("status"));
    Layer {
        provider,
        path,
        secrets,
        upstream,
        upstream_secret,
        allow_ips,
        dedupe_ttl,
        forward_timeout,
        tolerance,
        max_clock_skew,
        max_body,
        envelope,
        source,
        verify,
        event,
        status,
    }
}

fn verify_layer(
    c: &mut Checker<'_>,
    raw: Option<&RawVerify>,
    at: &str,
    table: Option<Loc>,
) -> VerifyLayer {
    let Some(raw) = raw else {
        return VerifyLayer::default();
    };
    let k = |name: &str| format!("{at}.{name}");
    let nonempty = |s: &String| {
        if s.is_empty() {
            Err("must not be empty".to_string())
        } else {
            Ok(s.clone())
        }
    };
    VerifyLayer {
        table,
        algorithm: c.check(&raw.algorithm, k("algorithm"), |t| {
            choice(t, Algorithm::NAMES, Algorithm::parse)
        }),
        header: c.check(&raw.header, k("header"), |h| {
            let names = h.to_vec();
            if names.is_empty() {
                return Err("name at least one header".to_string());
            }
            names.iter().map(|n| header_name(n)).collect()
        }),
        prefix: c.check(&raw.prefix, k("prefix"), |p| Ok(p.clone())),
        encoding: c.check(&raw.encoding, k("encoding"), |t| {
            choice(t, Encoding::NAMES, Encoding::parse)
        }),
        payload: c.check(&raw.payload, k("payload"), |t| Template::parse(t)),
        timestamp: c.check(&raw.timestamp, k("timestamp"), |t| Source::parse(t)),
        timestamp_format: c.check(&raw.timestamp_format, k("timestamp_format"), |t| {
            choice(t, TimestampFormat::NAMES, TimestampFormat::parse)
        }),
        separator: c.check(&raw.separator, k("separator"), nonempty),
        kv_separator: c.check(&raw.kv_separator, k("kv_separator"), nonempty),
        signature_key: c.check(&raw.signature_key, k("signature_key"), nonempty),
        secret_encoding: c.check(&raw.secret_encoding, k("secret_encoding"), |t| {
            choice(t, SecretEncoding::NAMES, SecretEncoding::parse)
        }),
        secret_prefix: c.check(&raw.secret_prefix, k("secret_prefix"), nonempty),
    }
}

fn event_layer(c: &mut Checker<'_>, raw: Option<&RawEvent>, at: &str) -> EventLayer {
    let Some(raw) = raw else {
        return EventLayer::default();
    };
    EventLayer {
        id: c.check(&raw.id, format!("{at}.id"), |t| Source::parse(t)),
        kind: c.check(&raw.kind, format!("{at}.type"), |t| Source::parse(t)),
        time: c.check(&raw.time, format!("{at}.time"), |t| Source::parse(t)),
    }
}

fn status_layer(c: &mut Checker<'_>, raw: Option<&RawStatus>, at: &str) -> StatusLayer {
    let Some(raw) = raw else {
        return StatusLayer::default();
    };
    StatusLayer {
        signature: c.check(&raw.signature, format!("{at}.signature"), reject_status),
        timestamp: c.check(&raw.timestamp, format!("{at}.timestamp"), reject_status),
    }
}

/// Builds `$T` from `$upper`'s keys where it has them and `$lower`'s otherwise; nested tables are merged
/// the same way, key by key.
macro_rules! over {
    ($upper:ident, $lower:ident, $T:ident { $($f:ident),* $(,)? } $(nested { $($n:ident),* })?) => {
        $T {
            $( $f: $upper.$f.or($lower.$f), )*
            $( $( $n: $upper.$n.over($lower.$n), )* )?
        }
    };
}

impl Layer {
    pub fn over(self, lower: Layer) -> Layer {
        over!(self, lower, Layer {
            provider, path, secrets, upstream, upstream_secret, allow_ips, dedupe_ttl,
            forward_timeout, tolerance, max_clock_skew, max_body, envelope, source,
        } nested { verify, event, status })
    }
}

impl VerifyLayer {
    fn over(self, lower: VerifyLayer) -> VerifyLayer {
        over!(
            self,
            lower,
            VerifyLayer {
                table,
                algorithm,
                header,
                prefix,
                encoding,
                payload,
                timestamp,
                timestamp_format,
                separator,
                kv_separator,
                signature_key,
                secret_encoding,
                secret_prefix,
            }
        )
    }
}

impl EventLayer {
    fn over(self, lower: EventLayer) -> EventLayer {
        over!(self, lower, EventLayer { id, kind, time })
    }
}

impl StatusLayer {
    fn over(self, lower: StatusLayer) -> StatusLayer {
        over!(
            self,
            lower,
            StatusLayer {
                signature,
                timestamp
            }
        )
    }
}

/// Built-in defaults, below `[defaults]`.
pub mod builtin {
    use std::time::Duration;
    pub const DEDUPE_TTL: Duration = Duration::from_secs(24 * 3600);
    pub const FORWARD_TIMEOUT: Duration = Duration::from_secs(5);
    pub const TOLERANCE: Duration = Duration::from_secs(300);
    pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(300);
    pub const FALLBACK_TYPE: &str = "hookgate.webhook";
}

/// What a route needs from the server section.
pub struct RouteContext<'a> {
    pub max_body: u64,
    pub defaults: &'a Layer,
    pub presets: &'a dyn Fn(&str) -> Option<Layer>,
}

/// Builds one route from its own layer, its preset and the defaults.
pub fn route(
    name: &str,
    table: &Loc,
    own: Layer,
    ctx: &RouteContext<'_>,
    errors: &mut ConfigErrors,
) -> Option<Route> {
    let at = format!("routes.{name}");
    let here = |key: &str, message: String| ConfigError::at(table, format!("{at}{key}"), message);
    let before = errors.len();

    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
    {
        errors.push(here(
            "",
            format!("route name \"{name}\" may use only letters, digits, '-', '_' and '.'"),
        ));
    }

    let provider = own
        .provider
        .clone()
        .or_else(|| ctx.defaults.provider.clone());
    let preset = match &provider {
        None => Layer::default(),
        Some(p) => match (ctx.presets)(&p.value) {
            Some(layer) => layer,
            None => {
                errors.push(p.err(format!(
                    "unknown provider \"{}\"{}; run `hookgate providers` for the list",
                    p.value,
                    suggestion(&p.value, presets::names())
                )));
                return None;
            }
        },
    };
    if provider.is_none() && own.verify.table.is_none() && ctx.defaults.verify.table.is_none() {
        errors.push(here(
            "",
            format!(
                "has neither a provider nor a verify table; add provider = \"...\" (see `hookgate providers`) or a [{at}.verify] table"
            ),
        ));
        return None;
    }
    let merged = own.over(preset).over(ctx.defaults.clone());
    let v = &merged.verify;

    let secrets = match &merged.secrets {
        Some(s) if !s.value.is_empty() => Some(s),
        Some(s) => {
            errors.push(s.err("list at least one secret"));
            None
        }
        None => {
            errors.push(here(
                ".secrets",
                "not set; add secrets = [\"${VENDOR_SECRET}\"]".to_string(),
            ));
            None
        }
    };
    let upstream = match &merged.upstream {
        Some(u) => Some(u.value.clone()),
        None => {
            errors.push(here(
                ".upstream",
                "not set; add upstream = \"http://service.internal/path\" (or \"stdout\" to print events)".to_string(),
            ));
            None
        }
    };
    let algorithm = v.algorithm.as_ref().map(|a| a.value);
    if algorithm.is_none() {
        errors.push(here(
            ".verify.algorithm",
            format!("not set; one of {}", Algorithm::NAMES.join(", ")),
        ));
    }
    let headers = v.header.as_ref().map(|h| h.value.clone());
    if headers.is_none() {
        errors.push(here(
            ".verify.header",
            "not set; name the header that carries the signature".to_string(),
        ));
    }
    let payload = v
        .payload
        .as_ref()
        .map_or_else(Template::body_only, |p| p.value.clone());
    let list = match (&v.separator, &v.signature_key) {
        (None, _) => None,
        (Some(sep), Some(key)) => Some(ListFormat {
            separator: sep.value.clone(),
            kv_separator: v
                .kv_separator
                .as_ref()
                .map_or_else(|| "=".to_string(), |k| k.value.clone()),
            signature_key: key.value.clone(),
        }),
        (Some(sep), None) => {
            errors.push(sep.err(
                "a signature header with several entries also needs signature_key (the key of the signature entries, such as \"v1\")",
            ));
            None
        }
    };
    let timestamp = v.timestamp.as_ref().map(|t| t.value.clone());

    // A timestamp only protects against replays when the signature covers it.
    if let Some(ts) = &v.timestamp
        && let Source::Header(h) = &ts.value
        && !payload.uses(&Piece::Timestamp)
        && !payload.signs_header(h)
    {
        errors.push(ts.err(format!(
            "header {h} is not covered by the signature (payload = \"{payload}\"), so a replayed request could carry any time; take the timestamp from a signed part (a body field) or add {{timestamp}} to payload"
        )));
    }
    if let Some(ts) = &v.timestamp
        && let Source::Query(_) = &ts.value
    {
        errors.push(ts.err("a timestamp cannot come from the query string, which is not signed"));
    }

    let secret_encoding = v
        .secret_encoding
        .as_ref()
        .map_or(SecretEncoding::Raw, |e| e.value);
    let secret_prefix = v.secret_prefix.as_ref().map(|p| p.value.as_str());
    let mut keys = Vec::new();
    for s in secrets.iter().flat_map(|s| s.value.iter()) {
        match secret_encoding.decode(secret_prefix, &s.value) {
            Ok(k) => keys.push(k),
            Err(m) => errors.push(s.err(format!(
                "the secret {m}; this vendor's secrets are {} encoded",
                secret_encoding.name()
            ))),
        }
    }

    let tolerance = merged
        .tolerance
        .as_ref()
        .map_or(builtin::TOLERANCE, |t| t.value);
    let dedupe_ttl = merged
        .dedupe_ttl
        .as_ref()
        .map_or(builtin::DEDUPE_TTL, |t| t.value);
    if timestamp.is_some() && dedupe_ttl < tolerance {
        let message = format!(
            "dedupe_ttl {} is shorter than tolerance {}: a replay inside the window would be neither rejected as stale nor recognised as a duplicate; raise dedupe_ttl to at least {} or lower tolerance",
            humantime::format_duration(dedupe_ttl),
            humantime::format_duration(tolerance),
            humantime::format_duration(tolerance)
        );
        // Point at whichever of the two the user is most likely to change: dedupe_ttl when it was set.
        match merged.dedupe_ttl.as_ref().or(merged.tolerance.as_ref()) {
            Some(at) => errors.push(ConfigError::at(&at.loc, at.key.clone(), message)),
            None => errors.push(here(".dedupe_ttl", message)),
        }
    }

    let upstream_signer =
        merged
            .upstream_secret
            .as_ref()
            .and_then(|s| match upstream_signer(&s.value, ctx) {
                Ok(v) => Some(v),
                Err(m) => {
                    errors.push(s.err(m));
                    None
                }
            });

    let status = StatusOverrides {
        signature: merged.status.signature.as_ref().map(|s| s.value),
        timestamp: merged.status.timestamp.as_ref().map(|s| s.value),
    };

    if errors.len() > before {
        return None;
    }
    let spec = Spec {
        algorithm: algorithm?,
        secrets: keys,
        signature: SignatureFormat {
            headers: headers?,
            prefix: v
                .prefix
                .as_ref()
                .map_or_else(String::new, |p| p.value.clone()),
            encoding: v.encoding.as_ref().map_or(Encoding::Hex, |e| e.value),
            list,
        },
        payload,
        timestamp,
        timestamp_format: v
            .timestamp_format
            .as_ref()
            .map_or_else(TimestampFormat::default, |f| f.value),
        event: EventFields {
            id: merged.event.id.as_ref().map(|s| s.value.clone()),
            kind: merged.event.kind.as_ref().map(|s| s.value.clone()),
            time: merged.event.time.as_ref().map(|s| s.value.clone()),
        },
    };
    let verifier = match Verifier::new(spec) {
        Ok(v) => v,
        Err(m) => {
            let loc = merged.verify.table.clone().unwrap_or_else(|| table.clone());
            errors.push(ConfigError::at(&loc, format!("{at}.verify"), m));
            return None;
        }
    };
    let path = merged
        .path
        .as_ref()
        .map_or_else(|| format!("/webhooks/{name}"), |p| p.value.clone());
    Some(Route {
        name: Arc::from(name),
        path,
        provider: provider.map(|p| p.value),
        verifier,
        upstream: upstream?,
        upstream_signer,
        allow_ips: merged.allow_ips.map(|a| a.value),
        dedupe_ttl,
        forward_timeout: merged
            .forward_timeout
            .as_ref()
            .map_or(builtin::FORWARD_TIMEOUT, |t| t.value),
        tolerance,
        max_clock_skew: merged
            .max_clock_skew
            .as_ref()
            .map_or(builtin::MAX_CLOCK_SKEW, |t| t.value),
        max_body: merged.max_body.as_ref().map_or(ctx.max_body, |m| m.value),
        envelope: merged
            .envelope
            .as_ref()
            .map_or(Mode::CloudEvents, |e| e.value),
        source: merged
            .source
            .as_ref()
            .map_or_else(|| name.to_string(), |s| s.value.clone()),
        status,
    })
}

/// The Standard Webhooks signer for what the gateway forwards: the `standard-webhooks` preset with the
/// route's `upstream_secret` (`whsec_` + base64, as that specification writes secrets; any other text
/// is used as raw key bytes).
fn upstream_signer(secret: &Secret, ctx: &RouteContext<'_>) -> Result<Verifier, String> {
    let layer = (ctx.presets)("standard-webhooks")
        .ok_or_else(|| "the standard-webhooks preset is missing".to_string())?;
    let v = &layer.verify;
    let key = if secret.expose().starts_with(b"whsec_") {
        SecretEncoding::Base64.decode(Some("whsec_"), secret)?
    } else {
        secret.clone()
    };
    let missing = || "the standard-webhooks preset is incomplete".to_string();
    Verifier::new(Spec {
        algorithm: v.algorithm.as_ref().ok_or_else(missing)?.value,
        secrets: vec![key],
        signature: SignatureFormat {
            headers: v.header.as_ref().ok_or_else(missing)?.value.clone(),
            prefix: String::new(),
            encoding: v.encoding.as_ref().ok_or_else(missing)?.value,
            list: Some(ListFormat {
                separator: v.separator.as_ref().ok_or_else(missing)?.value.clone(),
                kv_separator: v.kv_separator.as_ref().ok_or_else(missing)?.value.clone(),
                signature_key: v.signature_key.as_ref().ok_or_else(missing)?.value.clone(),
            }),
        },
        payload: v.payload.as_ref().ok_or_else(missing)?.value.clone(),
        timestamp: v.timestamp.as_ref().map(|t| t.value.clone()),
        timestamp_format: TimestampFormat::Unix,
        event: EventFields {
            id: layer.event.id.as_ref().map(|s| s.value.clone()),
            kind: None,
            time: None,
        },
    })
}
