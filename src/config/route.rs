//! A route resolved from its layers (route over preset over `[defaults]` over built-in defaults) and
//! checked as a whole: key material for the scheme, a signed timestamp, `dedupe_ttl >= tolerance`, a
//! public URL where the scheme signs it, the handshakes' secrets.

use super::error::{ConfigError, ConfigErrors, Loc, suggestion};
use super::layer::{AllowIps, At, Layer};
use crate::delivery::{Mode as DeliveryMode, Policy, defaults as delivery_defaults};
use crate::envelope::Mode;
use crate::handshake::Handshake;
use crate::outcome::StatusOverrides;
use crate::presets;
use crate::routes::Route;
use crate::secret::Secret;
use crate::verify::coverage::{Part, uncovered};
use crate::verify::{
    Algorithm, AlgorithmChoice, Encoding, EventFields, JwtRules, KeyKind, ListFormat, QueryHash,
    SecretEncoding, SignatureFormat, Source, Spec, Template, TimestampFormat, Verifier, keys,
    keyset::KeySource, request,
};
use http::{HeaderValue, Method};
use std::sync::Arc;
use std::time::Duration;

/// Built-in defaults, below `[defaults]`.
pub mod builtin {
    use std::time::Duration;
    pub const DEDUPE_TTL: Duration = Duration::from_secs(24 * 3600);
    pub const FORWARD_TIMEOUT: Duration = Duration::from_secs(5);
    pub const TOLERANCE: Duration = Duration::from_secs(300);
    pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(300);
    pub const FALLBACK_TYPE: &str = "hookgate.webhook";
}

/// What a route needs from outside itself.
pub struct RouteContext<'a> {
    pub max_body: u64,
    pub defaults: &'a Layer,
    pub presets: &'a dyn Fn(&str) -> Option<Layer>,
    /// The configured store keeps events, so routes may queue them.
    pub durable_store: bool,
}

/// Where a JWT route's keys are fetched from: a published set (`jwks_url`), or one key per id from
/// the vendor's API (`key_url`, with the fields the route supplies in `key_request`).
fn published_keys(
    merged: &Layer,
    errors: &mut ConfigErrors,
    here: &dyn Fn(&str, String) -> ConfigError,
) -> Option<(http::Uri, KeySource)> {
    let v = &merged.verify;
    match (&v.jwks_url, &v.key_url) {
        (None, None) => None,
        (Some(set), Some(_)) => {
            errors.push(set.err("and key_url both say where the keys are; keep one"));
            None
        }
        (Some(set), None) => Some((set.value.clone(), KeySource::Set)),
        (None, Some(url)) => {
            let (Some(id_field), Some(pointer)) = (&v.key_id_field, &v.key_pointer) else {
                errors.push(url.err(
                    "needs key_id_field (the request field that names the key) and key_pointer (where the answer holds it)",
                ));
                return None;
            };
            let wanted = v
                .key_request_fields
                .as_ref()
                .map(|f| f.value.clone())
                .unwrap_or_default();
            let fields = merged
                .key_request
                .as_ref()
                .map(|r| r.value.clone())
                .unwrap_or_default();
            let missing: Vec<&String> = wanted
                .iter()
                .filter(|w| !fields.iter().any(|(n, _)| n == *w))
                .collect();
            if !missing.is_empty() {
                let names: Vec<String> = missing
                    .iter()
                    .map(|m| format!("{m} = \"${{...}}\""))
                    .collect();
                errors.push(here(
                    ".key_request",
                    format!(
                        "lacks {}; the vendor hands out a key only to a request that carries them: add key_request = {{ {} }}",
                        missing.iter().map(|m| m.as_str()).collect::<Vec<_>>().join(", "),
                        names.join(", ")
                    ),
                ));
                return None;
            }
            Some((
                url.value.clone(),
                KeySource::ById {
                    id_field: id_field.value.clone(),
                    pointer: pointer.value.clone(),
                    fields,
                },
            ))
        }
    }
}

/// Atlassian Connect's `qsh` rule: the claim, and the canonical path of `public_url` after the app's
/// base URL.
fn query_hash(
    merged: &Layer,
    errors: &mut ConfigErrors,
    here: &dyn Fn(&str, String) -> ConfigError,
) -> Option<QueryHash> {
    let base = merged.app_base_url.as_ref();
    let Some(claim) = &merged.verify.jwt_query_hash_claim else {
        if let Some(b) = base {
            errors.push(b.err(
                "is used only by tokens with a query hash claim (jwt_query_hash_claim, Atlassian Connect's qsh); remove it",
            ));
        }
        return None;
    };
    let Some(url) = &merged.public_url else {
        errors.push(here(
            ".public_url",
            "not set; the token's query hash covers the path the vendor calls: set public_url to the URL it calls, as registered".to_string(),
        ));
        return None;
    };
    let u = &url.value;
    let base_path = match base {
        None => "",
        Some(b) if b.value.scheme() == u.scheme() && b.value.authority() == u.authority() => {
            b.value.path()
        }
        Some(b) => {
            errors.push(b.err(format!(
                "{} is not on the host of public_url {u}; set the app's baseUrl from its descriptor",
                b.value
            )));
            return None;
        }
    };
    match request::canonical_path(u.path(), base_path) {
        Some(path) => Some(QueryHash {
            claim: claim.value.clone(),
            path,
        }),
        None => {
            let b = base.expect("only a base path can fail to prefix the path");
            errors.push(b.err(format!(
                "public_url {u} is not under {}: the vendor calls the app's baseUrl followed by the webhook's path",
                b.value
            )));
            None
        }
    }
}

/// Builds one route from its own layer, its preset and the defaults.
pub fn route(
    name: &str,
    table: &Loc,
    own: Layer,
    ctx: &RouteContext<'_>,
    errors: &mut ConfigErrors,
    warnings: &mut ConfigErrors,
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

    let Some(algorithm) = v.algorithm.as_ref().map(|a| a.value) else {
        errors.push(here(
            ".verify.algorithm",
            format!("not set; one of {}", Algorithm::NAMES.join(", ")),
        ));
        return None;
    };
    let mut sources: Vec<Source> = v
        .header
        .iter()
        .flat_map(|h| h.value.iter().cloned().map(Source::Header))
        .collect();
    sources.extend(v.signature.iter().flat_map(|s| s.value.iter().cloned()));
    if sources.is_empty() {
        errors.push(here(
            ".verify.header",
            "not set; name the header that carries the signature".to_string(),
        ));
    }
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

    let query_hash = query_hash(&merged, errors, &here);
    let jwt = match (algorithm, &v.jwt_algorithm) {
        (Algorithm::Jwt, Some(a)) => Some(JwtRules {
            algorithm: a.value,
            issuer: v.jwt_issuer.as_ref().map(|i| i.value.clone()),
            body_hash_claim: v.jwt_body_hash_claim.as_ref().map(|c| c.value.clone()),
            query_hash,
            audience: merged.jwt_audience.as_ref().map(|a| a.value.clone()),
            require_claims: merged
                .jwt_require_claims
                .as_ref()
                .map(|c| c.value.clone())
                .unwrap_or_default(),
            published_keys: published_keys(&merged, errors, &here),
        }),
        (Algorithm::Jwt, None) => {
            errors.push(here(
                ".verify.jwt_algorithm",
                "not set; the jwt algorithm needs it (HS256, RS256, ES256 or EdDSA)".to_string(),
            ));
            None
        }
        _ => None,
    };
    // Keys fetched from the vendor's published set need no public_key.
    let fetched = algorithm == Algorithm::Jwt && (v.jwks_url.is_some() || v.key_url.is_some());
    if fetched && v.jwks_url.is_some() {
        let why = "a token checked against a published key set proves only who issued it, and its issuer signs tokens for others too";
        if merged.jwt_audience.is_none() {
            errors.push(here(
                ".jwt_audience",
                format!("not set; {why}: set the audience the vendor puts in your tokens"),
            ));
        }
        if merged.jwt_require_claims.is_none() {
            errors.push(here(
                ".jwt_require_claims",
                format!("not set; {why}: name the claims that identify your sender, as in {{ email = \"pusher@project.iam.gserviceaccount.com\" }}"),
            ));
        }
    }
    let key_kind = algorithm.key_kind().or_else(|| {
        use jsonwebtoken::Algorithm as J;
        match jwt.as_ref()?.algorithm {
            J::ES256 => Some(KeyKind::P256),
            J::RS256 => Some(KeyKind::Rsa),
            J::EdDSA => Some(KeyKind::Ed25519),
            _ => None,
        }
    });
    let secret_encoding = v
        .secret_encoding
        .as_ref()
        .map_or(SecretEncoding::Raw, |e| e.value);
    let secret_prefix = v.secret_prefix.as_ref().map(|p| p.value.as_str());

    let mut secrets: Vec<Secret> = Vec::new();
    let mut public_keys = Vec::new();
    match key_kind {
        Some(_) if fetched => {}
        Some(kind) => match &merged.public_key {
            Some(list) if !list.value.is_empty() => {
                for k in &list.value {
                    if k.value.is_placeholder() {
                        public_keys.push(keys::placeholder(kind));
                        continue;
                    }
                    let text = String::from_utf8_lossy(k.value.expose()).into_owned();
                    match keys::parse(kind, &text, secret_prefix) {
                        Ok(key) => public_keys.push(key),
                        Err(m) => errors.push(k.err(format!("the public key {m}"))),
                    }
                }
            }
            Some(list) => errors.push(list.err("list at least one public key")),
            None => errors.push(here(
                ".public_key",
                format!(
                    "not set; {} verifies with the vendor's public key",
                    algorithm.name()
                ),
            )),
        },
        None => match &merged.secrets {
            Some(list) if !list.value.is_empty() => {
                for s in &list.value {
                    if s.value.is_placeholder() {
                        secrets.push(s.value.clone());
                        continue;
                    }
                    match secret_encoding.decode(secret_prefix, &s.value) {
                        Ok(k) => secrets.push(k),
                        Err(m) => errors.push(s.err(format!(
                            "the secret {m}; this vendor's secrets are {} encoded",
                            secret_encoding.name()
                        ))),
                    }
                }
            }
            Some(list) => errors.push(list.err("list at least one secret")),
            // The vendor's handshake will bring it (checked below).
            None if merged.learn_secret.is_some() => {}
            None if merged
                .handshake
                .as_ref()
                .is_some_and(|h| h.value.iter().any(|s| s.learn.is_some())) =>
            {
                errors.push(here(
                    ".secrets",
                    format!("not set; add secrets = [\"${{VENDOR_SECRET}}\"], or learn_secret = \"/var/lib/hookgate/{name}.secret\" to keep the secret this vendor's handshake brings"),
                ))
            }
            None => errors.push(here(
                ".secrets",
                "not set; add secrets = [\"${VENDOR_SECRET}\"]".to_string(),
            )),
        },
    }

    let timestamp: Vec<Source> = v
        .timestamp
        .as_ref()
        .map(|t| t.value.clone())
        .unwrap_or_default();
    if let Some(ts) = &v.timestamp {
        for source in &ts.value {
            if let Some(why) = uncovered(algorithm, &payload, jwt.as_ref(), source, Part::Timestamp)
            {
                errors.push(ts.err(why));
            }
        }
    }

    // The data forwarded must be signed: the whole body, or the part `data_from` names instead.
    use crate::verify::Piece;
    let data_signed = match v.data_from.as_ref().map(|d| &d.value) {
        None => true,
        Some(Source::Form(name)) => {
            payload.covers_body() || payload.uses(&Piece::FormField(name.clone()))
        }
        Some(Source::Query(name)) => {
            payload.uses(&Piece::Url)
                || payload.uses(&Piece::Path)
                || [false, true].iter().any(|&lower| {
                    payload.uses(&Piece::QueryParam {
                        name: name.clone(),
                        lower,
                    })
                })
        }
        Some(_) => false,
    };
    if let Some(d) = &v.data_from
        && !(algorithm.signs_template() && data_signed)
    {
        let part = &d.value;
        errors.push(d.err(format!(
            "{part} is not covered by the signature (payload = \"{payload}\"), so it could carry anything; add {{{part}}} to payload"
        )));
    }
    if let (Some(b), Some(_)) = (&v.body_from, &v.data_from) {
        errors.push(b.err(
            "and data_from both say where the data is; keep body_from when the vendor's whole document (signature included) is the form field, data_from when a header's signature covers one field",
        ));
    }
    if v.data_from.is_none()
        && algorithm.signs_template()
        && let Some(why) = payload.body_error()
        && let Some(p) = &v.payload
    {
        errors.push(p.err(why));
    }

    let tolerance = merged
        .tolerance
        .as_ref()
        .map_or(builtin::TOLERANCE, |t| t.value);
    let max_clock_skew = merged
        .max_clock_skew
        .as_ref()
        .map_or(builtin::MAX_CLOCK_SKEW, |t| t.value);
    let configured_ttl = merged
        .dedupe_ttl
        .as_ref()
        .map_or(builtin::DEDUPE_TTL, |t| t.value);
    let fmt = super::human;
    // Where a value that is wrong together with others was written: the key itself, else the table.
    let place = |value: Option<&At<Duration>>, key: &str, message: String| match value {
        Some(at) => ConfigError::at(&at.loc, at.key.clone(), message),
        None => here(key, message),
    };
    // The vendor's retries must still find the event remembered: the memory lasts at least the
    // documented retry horizon, with a tenth more for the vendors' jitter.
    let horizon = merged.retry_horizon.as_ref().map(|h| h.value);
    let (dedupe_ttl, dedupe_ttl_raised) = match horizon {
        Some(h) if !h.is_zero() && configured_ttl < cover(h) => (cover(h), true),
        _ => (configured_ttl, false),
    };
    if !timestamp.is_empty() && tolerance.is_zero() {
        errors.push(place(
            merged.tolerance.as_ref(),
            ".tolerance",
            "tolerance 0s refuses every delivery (any signed time before now is stale) while still accepting ones stamped up to max_clock_skew ahead; set the vendor's documented tolerance, such as \"5m\"".to_string(),
        ));
    } else if !timestamp.is_empty() && dedupe_ttl < tolerance {
        let raised = if dedupe_ttl_raised {
            format!(" ({} with the vendor's retry horizon)", fmt(dedupe_ttl))
        } else {
            String::new()
        };
        let message = format!(
            "dedupe_ttl {}{raised} is shorter than tolerance {}: a replay inside the window would be neither rejected as stale nor recognised as a duplicate; raise dedupe_ttl to at least {} or lower tolerance",
            fmt(configured_ttl),
            fmt(tolerance),
            fmt(tolerance)
        );
        // Point at whichever of the two the user is most likely to change: dedupe_ttl when it was set.
        errors.push(place(
            merged.dedupe_ttl.as_ref().or(merged.tolerance.as_ref()),
            ".dedupe_ttl",
            message,
        ));
    }
    if timestamp.is_empty() && dedupe_ttl.is_zero() {
        errors.push(place(
            merged.dedupe_ttl.as_ref(),
            ".dedupe_ttl",
            "dedupe_ttl 0s on a route whose vendor signs no timestamp leaves it no replay protection at all: every captured delivery would be forwarded again; remove dedupe_ttl (the default is 24h) or set the vendor's retry horizon".to_string(),
        ));
    }
    if !timestamp.is_empty() && max_clock_skew > MAX_SENSIBLE_SKEW {
        warnings.push(place(
            merged.max_clock_skew.as_ref(),
            ".max_clock_skew",
            format!(
                "max_clock_skew {} accepts deliveries stamped that far in the future, and each stays replayable (and remembered) until {} after its stamp; vendors' clocks are off by seconds, so keep it at a few minutes (the default is 5m)",
                fmt(max_clock_skew),
                fmt(tolerance)
            ),
        ));
    }
    let forward_timeout = merged
        .forward_timeout
        .as_ref()
        .map_or(builtin::FORWARD_TIMEOUT, |t| t.value);
    let delivery = merged
        .delivery
        .as_ref()
        .map_or(DeliveryMode::Queued, |d| d.value);
    if delivery == DeliveryMode::Queued && !ctx.durable_store {
        let message = "queued delivery needs a store that keeps events, and [store] kind = \"memory\" keeps none; set delivery = \"direct\", or use the embedded store (remove kind)";
        errors.push(match &merged.delivery {
            Some(d) => d.err(message),
            None => here(".delivery", message.to_string()),
        });
    }
    // Only in direct mode does the vendor wait for the upstream.
    if let Some(vendor) = &merged.vendor_timeout
        && delivery == DeliveryMode::Direct
        && forward_timeout >= vendor.value
    {
        warnings.push(place(
            merged.forward_timeout.as_ref(),
            ".forward_timeout",
            format!(
                "forward_timeout {} is not below the vendor's own timeout of {}: the vendor gives up before hookgate can answer and retries a delivery that may have succeeded; lower forward_timeout below {}",
                fmt(forward_timeout),
                fmt(vendor.value),
                fmt(vendor.value)
            ),
        ));
    }
    let policy = Policy {
        schedule: merged
            .retry_schedule
            .as_ref()
            .map_or_else(|| Policy::default().schedule, |s| s.value.clone()),
        max_age: merged
            .max_delivery_age
            .as_ref()
            .map_or(delivery_defaults::MAX_AGE, |a| a.value),
        dead_letter_on: merged
            .dead_letter_on
            .as_ref()
            .map_or_else(|| Policy::default().dead_letter_on, |d| d.value.clone()),
        concurrency: merged
            .delivery_concurrency
            .as_ref()
            .map_or(delivery_defaults::CONCURRENCY, |c| c.value) as usize,
    };
    let dedupe_ttl_reason = dedupe_ttl_raised.then(|| {
        let retries = provider
            .as_ref()
            .and_then(|p| presets::find(&p.value))
            .and_then(|p| p.retries.as_deref());
        format!(
            "dedupe_ttl {} raised to {} to outlast the vendor's retries ({}retry_horizon {})",
            fmt(configured_ttl),
            fmt(dedupe_ttl),
            retries.map(|r| format!("{r}; ")).unwrap_or_default(),
            fmt(horizon.unwrap_or_default())
        )
    });

    use crate::client_ip::{Allowlist, FetchedList};
    let fetched = |url: &http::Uri, pointer: &Option<String>| {
        Allowlist::Fetched(Arc::new(FetchedList::new(url.clone(), pointer.clone())))
    };
    let allow_ips = match &merged.allow_ips {
        None => None,
        Some(At {
            value: AllowIps::Nets(nets),
            ..
        }) => Some(Allowlist::Fixed(nets.clone())),
        Some(At {
            value: AllowIps::Url { url, pointer },
            ..
        }) => Some(fetched(url, pointer)),
        Some(
            a @ At {
                value: AllowIps::Preset,
                ..
            },
        ) => {
            let published = provider
                .as_ref()
                .and_then(|p| presets::find(&p.value))
                .and_then(|p| p.source_ips.as_ref().map(|ips| (p, ips)));
            match published {
                Some((preset, ips)) => match &ips.list {
                    presets::SourceList::BuiltIn { nets, as_of } => {
                        let age = jiff::Zoned::now()
                            .date()
                            .since(*as_of)
                            .map_or(0, |span| span.get_days());
                        if age > presets::SOURCE_IPS_STALE_DAYS {
                            let current = match &ips.url {
                                Some(u) => format!(
                                    "allow_ips = \"url:{u}\" (fetched from the vendor and kept current), or "
                                ),
                                None => String::new(),
                            };
                            warnings.push(a.err(format!(
                                "the built-in list of {}'s source addresses is from {as_of} ({age} days ago), and vendors change them; compare it with {} and, if it changed, use {current}a file with the current list: allow_ips = \"file:/etc/hookgate/{}-ips.txt\" (one per line, re-read on reload)",
                                preset.title, ips.published, preset.name
                            )));
                        }
                        Some(Allowlist::Fixed(nets.clone()))
                    }
                    presets::SourceList::Fetched { url, pointer } => Some(fetched(url, pointer)),
                },
                None => {
                    errors.push(a.err(match &provider {
                        Some(p) => format!(
                            "\"preset\" takes the addresses the vendor publishes, and the {} preset has none (no published list, or none built in); list them: allow_ips = [\"203.0.113.0/24\"]",
                            p.value
                        ),
                        None => "\"preset\" takes the addresses the route's vendor publishes, and the route names no provider; list them: allow_ips = [\"203.0.113.0/24\"]".to_string(),
                    }));
                    None
                }
            }
        }
    };

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

    let mut handshakes = Vec::new();
    if let Some(list) = &merged.handshake {
        let first_secret = merged
            .secrets
            .as_ref()
            .and_then(|s| s.value.first())
            .map(|s| &s.value);
        let token = merged.verify_token.as_ref().map(|t| &t.value);
        for spec in &list.value {
            match Handshake::new(spec.clone(), first_secret, token) {
                Ok(h) => handshakes.push(h),
                Err(m) => errors.push(list.err(m)),
            }
        }
    }
    let signed_methods = merged
        .methods
        .as_ref()
        .map_or_else(|| vec![Method::POST], |m| m.value.clone());
    let mut methods: Vec<&str> = signed_methods.iter().map(Method::as_str).collect();
    for h in &handshakes {
        if h.method == Method::GET && !methods.contains(&"GET") {
            methods.push("GET");
        }
        if h.method == Method::HEAD && !methods.contains(&"HEAD") {
            methods.push("HEAD");
        }
    }
    methods.sort();
    let allow =
        HeaderValue::from_str(&methods.join(", ")).expect("method names are valid header text");

    let learned = match &merged.learn_secret {
        None => None,
        Some(path) if algorithm.hmac().is_none() => {
            errors.push(path.err(format!(
                "a setup secret can only be an HMAC key, and this route's algorithm is {}",
                algorithm.name()
            )));
            None
        }
        Some(path) if !handshakes.iter().any(|h| h.learn.is_some()) => {
            errors.push(path.err(
                "this route's vendor hands over no secret in a handshake (a preset that does, such as asana or notion, says learn = ...); set secrets instead",
            ));
            None
        }
        Some(path) => match crate::learned::Learned::open(&path.value) {
            Ok(l) => {
                // Until the secret is stored, the first caller to find the URL could set it.
                if l.current().is_none() && merged.allow_ips.is_none() {
                    warnings.push(path.err(format!(
                        "{} holds no secret yet, and the first setup request that reaches this route will set it; until the vendor's has, restrict the route to the vendor's addresses with allow_ips",
                        path.value.display()
                    )));
                }
                Some(Arc::new(l))
            }
            Err(m) => {
                errors.push(path.err(m));
                None
            }
        },
    };
    let algorithm_choice = match (&v.algorithm_header, &v.algorithm_names) {
        (Some(h), Some(names)) if algorithm.hmac().is_some() => Some(AlgorithmChoice {
            header: h.value.clone(),
            names: names.value.clone(),
        }),
        (Some(h), Some(_)) => {
            errors.push(h.err(format!(
                "a header can choose among HMAC algorithms only, and this route's algorithm is {}",
                algorithm.name()
            )));
            None
        }
        (Some(h), None) => {
            errors.push(h.err(
                "names where the algorithm is chosen, but algorithm_names is not set; add algorithm_names = { NAME = \"hmac-sha256\" } for each name the vendor sends",
            ));
            None
        }
        (None, Some(names)) => {
            errors.push(names.err(
                "needs algorithm_header, the header whose algorithm entry carries these names",
            ));
            None
        }
        (None, None) => None,
    };
    if errors.len() > before {
        return None;
    }
    let spec = Spec {
        algorithm,
        secrets,
        public_keys,
        jwt,
        signature: SignatureFormat {
            sources,
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
        timestamp_stated: v.timestamp_format.is_some(),
        event: EventFields {
            id: merged
                .event
                .id
                .as_ref()
                .map(|s| s.value.clone())
                .unwrap_or_default(),
            kind: merged
                .event
                .kind
                .as_ref()
                .map(|s| s.value.clone())
                .unwrap_or_default(),
            time: merged
                .event
                .time
                .as_ref()
                .map(|s| s.value.clone())
                .unwrap_or_default(),
        },
        public_url: merged.public_url.as_ref().map(|u| u.value.clone()),
        body_hash: v.body_hash.as_ref().map(|b| b.value.clone()),
        single_item: v.single_item.as_ref().map(|p| p.value.clone()),
        require_headers: v
            .require_headers
            .as_ref()
            .map(|r| r.value.clone())
            .unwrap_or_default(),
        data_from: v.data_from.as_ref().map(|d| d.value.clone()),
        body_from: v.body_from.as_ref().map(|d| d.value.clone()),
        algorithm_choice,
        learned,
    };
    let verifier = match Verifier::new(spec) {
        Ok(v) => v,
        Err(m) => {
            let (loc, key) = if m.contains("public_url") {
                (table.clone(), format!("{at}.public_url"))
            } else {
                (
                    merged.verify.table.clone().unwrap_or_else(|| table.clone()),
                    format!("{at}.verify"),
                )
            };
            errors.push(ConfigError::at(&loc, key, m));
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
        allow_ips,
        delivery,
        policy: Arc::new(policy),
        upstream_4xx: merged
            .upstream_4xx
            .as_ref()
            .map_or_else(Default::default, |u| u.value),
        dedupe_ttl,
        dedupe_ttl_reason,
        dedupe_capacity: merged
            .dedupe_capacity
            .as_ref()
            .map_or(0, |c| usize::try_from(c.value).unwrap_or(usize::MAX)),
        own_capacity: merged.dedupe_capacity.is_some(),
        forward_timeout,
        tolerance,
        max_clock_skew,
        retry_horizon: horizon,
        max_body: merged.max_body.as_ref().map_or(ctx.max_body, |m| m.value),
        envelope: merged
            .envelope
            .as_ref()
            .map_or(Mode::CloudEvents, |e| e.value),
        source: merged
            .source
            .as_ref()
            .map_or_else(|| name.to_string(), |s| s.value.clone()),
        status: StatusOverrides {
            signature: merged.status.signature.as_ref().map(|s| s.value),
            timestamp: merged.status.timestamp.as_ref().map(|s| s.value),
            acknowledgement: merged
                .acknowledge
                .as_ref()
                .map(|a| bytes::Bytes::from(a.value.clone())),
        },
        handshakes,
        methods: signed_methods,
        allow,
        metrics: Default::default(),
    })
}

/// The largest `max_clock_skew` accepted without a warning.
const MAX_SENSIBLE_SKEW: Duration = Duration::from_secs(3600);

/// How long ids are remembered to outlast a vendor's retries over `horizon`: a tenth longer, for the
/// jitter in vendors' schedules, rounded up to a minute.
pub fn cover(horizon: Duration) -> Duration {
    let with_margin = horizon + horizon / 10;
    let minutes = with_margin.as_secs().div_ceil(60);
    Duration::from_secs(minutes * 60)
}

/// The Standard Webhooks signer for what the gateway forwards: the `standard-webhooks` preset with the
/// route's `upstream_secret` (`whsec_` + base64, as that specification writes secrets; any other text
/// is used as raw key bytes).
fn upstream_signer(secret: &Secret, ctx: &RouteContext<'_>) -> Result<Verifier, String> {
    let layer = (ctx.presets)("standard-webhooks")
        .ok_or_else(|| "the standard-webhooks preset is missing".to_string())?;
    let v = &layer.verify;
    let missing = || "the standard-webhooks preset is incomplete".to_string();
    // The preset's own secret prefix and encoding ("whsec_" + base64); other text is raw key bytes.
    let prefix = v.secret_prefix.as_ref().ok_or_else(missing)?.value.as_str();
    let encoding = v.secret_encoding.as_ref().ok_or_else(missing)?.value;
    let key = if secret.expose().starts_with(prefix.as_bytes()) {
        encoding.decode(Some(prefix), secret)?
    } else {
        secret.clone()
    };
    let first =
        |list: &Option<At<Vec<Source>>>| list.as_ref().and_then(|l| l.value.first().cloned());
    Verifier::new(Spec {
        algorithm: v.algorithm.as_ref().ok_or_else(missing)?.value,
        secrets: vec![key],
        public_keys: Vec::new(),
        jwt: None,
        signature: SignatureFormat {
            sources: vec![Source::Header(
                v.header.as_ref().ok_or_else(missing)?.value[0].clone(),
            )],
            prefix: String::new(),
            encoding: v.encoding.as_ref().ok_or_else(missing)?.value,
            list: Some(ListFormat {
                separator: v.separator.as_ref().ok_or_else(missing)?.value.clone(),
                kv_separator: v.kv_separator.as_ref().ok_or_else(missing)?.value.clone(),
                signature_key: v.signature_key.as_ref().ok_or_else(missing)?.value.clone(),
            }),
        },
        payload: v.payload.as_ref().ok_or_else(missing)?.value.clone(),
        timestamp: first(&v.timestamp).into_iter().collect(),
        timestamp_format: TimestampFormat::Unix,
        timestamp_stated: false,
        event: EventFields {
            id: first(&layer.event.id).into_iter().collect(),
            ..EventFields::default()
        },
        public_url: None,
        body_hash: None,
        single_item: None,
        require_headers: Vec::new(),
        data_from: None,
        body_from: None,
        algorithm_choice: None,
        learned: None,
    })
}
