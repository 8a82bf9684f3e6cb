//! One layer of a route's settings — the route's own keys, its preset, or `[defaults]` — checked key by
//! key, each value remembering where it was written, and the merge of layers (upper keys win, tables
//! merge key by key). Errors are collected, not returned at the first one.

use super::error::{ConfigError, ConfigErrors, Loc, Origin, suggestion};
use super::raw::{
    OneOrMany, RawAllowIps, RawEvent, RawHandshake, RawRoute, RawSize, RawStatus, RawVerify, S,
};
use crate::client_ip::parse_net;
use crate::delivery::{Mode as DeliveryMode, Upstream4xx};
use crate::envelope::Mode;
use crate::forward::Upstream;
use crate::handshake;
use crate::secret::Secret;
use crate::verify::{
    Algorithm, Encoding, Pointer, SecretEncoding, Source, Template, TimestampFormat,
};
use http::{HeaderName, HeaderValue, Method, StatusCode, Uri};
use ipnet::IpNet;
use std::sync::Arc;
use std::time::Duration;

/// Reads environment variables; injected so tests do not touch the process environment.
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The addresses a route admits: a list (written, or read from a file), the preset's published
/// list, resolved once the route's preset is known, or a list fetched from a URL.
#[derive(Debug, Clone)]
pub enum AllowIps {
    Nets(Vec<IpNet>),
    Preset,
    Url {
        url: http::Uri,
        /// Where the list is in a JSON document: the URL's fragment, a JSON Pointer.
        pointer: Option<String>,
    },
}

/// `https://api.github.com/meta#/hooks`: the URL a list of addresses is fetched from, and where the
/// list is in the JSON document it answers (after `#`, a JSON Pointer).
pub fn list_url(text: &str) -> Result<(http::Uri, Option<String>), String> {
    let (url, pointer) = match text.split_once('#') {
        Some((url, p)) if p.starts_with('/') => (url, Some(p.to_string())),
        Some((_, p)) => {
            return Err(format!(
                "\"#{p}\" is not a JSON Pointer; after # name the list in the document, as in https://api.github.com/meta#/hooks"
            ));
        }
        None => (text, None),
    };
    match url.parse::<http::Uri>() {
        Ok(u) if matches!(u.scheme_str(), Some("http" | "https")) && u.host().is_some() => {
            Ok((u, pointer))
        }
        _ => Err(format!(
            "\"{url}\" is not an http or https URL; write allow_ips = \"url:https://stripe.com/files/ips/ips_webhooks.txt\""
        )),
    }
}

/// A checked value, with where it was written and under which key.
#[derive(Debug, Clone)]
pub struct At<T> {
    pub value: T,
    pub loc: Loc,
    pub key: String,
}

impl<T> At<T> {
    pub fn err(&self, message: impl Into<String>) -> ConfigError {
        ConfigError::at(&self.loc, self.key.clone(), message)
    }
}

/// Checks raw values of one origin, collecting errors.
pub struct Checker<'a> {
    pub origin: Arc<Origin>,
    pub env: EnvLookup<'a>,
    pub errors: &'a mut ConfigErrors,
    /// Whether secrets written as references (`${VAR}`, `file:…`) are read; when not, each stands
    /// as `Secret::placeholder()` and only the reference's syntax is checked.
    pub read_secrets: bool,
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

    /// Like `check`, for conversions that read the environment.
    fn check_env<U>(
        &mut self,
        raw: &Option<S<String>>,
        key: String,
        f: impl FnOnce(&Checker<'_>, &str) -> Result<U, String>,
    ) -> Option<At<U>> {
        let raw = raw.as_ref()?;
        let loc = self.loc(raw);
        match f(self, raw.get_ref()) {
            Ok(value) => Some(At { value, loc, key }),
            Err(message) => {
                self.errors.push(ConfigError::at(&loc, key, message));
                None
            }
        }
    }

    /// Expands `${VAR}` (and `${VAR:-default}`) from the environment.
    pub fn expand(&self, text: &str) -> Result<String, String> {
        expand(text, self.env)
    }
}

/// Expands `${VAR}` (and `${VAR:-default}`) through `env`.
fn expand(text: &str, env: EnvLookup<'_>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        // The text itself is not echoed: it may be a secret.
        let end = after
            .find('}')
            .ok_or_else(|| "an unclosed \"${\"; write \"${VAR}\"".to_string())?;
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
        match (env(name), default) {
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

impl Checker<'_> {
    /// Checks one secret-bearing value, recording an error (and returning `None`) when it cannot be
    /// read.
    pub fn check_secret(&mut self, raw: &Option<S<String>>, key: String) -> Option<At<Secret>> {
        self.check_env(raw, key, |c, t| c.secret(t))
    }

    /// A secret: `${VAR}` expanded, then `file:/path` read (one trailing newline removed).
    pub fn secret(&self, text: &str) -> Result<Secret, String> {
        if !self.read_secrets && (text.contains("${") || text.starts_with("file:")) {
            expand(text, &|_| Some("x".to_string()))?;
            return Ok(Secret::placeholder());
        }
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

    /// A list of secrets (or keys), each checked and located.
    fn secrets(
        &mut self,
        raw: &Option<S<Vec<S<String>>>>,
        at: &str,
    ) -> Option<At<Vec<At<Secret>>>> {
        let list = raw.as_ref()?;
        let mut out = Vec::new();
        for (i, s) in list.get_ref().iter().enumerate() {
            let key = format!("{at}[{i}]");
            let loc = self.loc(s);
            match self.secret(s.get_ref()) {
                Ok(value) => out.push(At { value, loc, key }),
                Err(m) => self.errors.push(ConfigError::at(&loc, key, m)),
            }
        }
        Some(At {
            value: out,
            loc: self.loc(list),
            key: at.to_string(),
        })
    }
}

/// An `allow_ips = "file:…"` list: one address or CIDR block per line; blank lines and `#` comments
/// are skipped. Read at start and at every reload, so that a list kept current by a script (a
/// vendor's published file, GitHub's `/meta`) applies without editing the configuration.
fn ips_file(path: &std::path::Path) -> Result<Vec<IpNet>, String> {
    let shown = path.display();
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the address list {shown}: {e}"))?;
    let nets =
        crate::client_ip::parse_lines(&text).map_err(|(n, m)| format!("{shown}:{n}: {m}"))?;
    if nets.is_empty() {
        return Err(format!(
            "the address list {shown} lists no address, which would refuse every delivery; put one address or CIDR block per line"
        ));
    }
    Ok(nets)
}

pub fn duration(text: &String) -> Result<Duration, String> {
    // humantime reads "M" as months and "y" as years: "5M" meant as minutes would be five months.
    // No key here needs more than days, so those units are refused with the likely intent.
    let mut units = text
        .split(|c: char| !c.is_ascii_alphabetic())
        .filter(|u| !u.is_empty());
    if let Some(unit) =
        units.find(|u| matches!(*u, "M" | "month" | "months" | "y" | "year" | "years"))
    {
        let hint = if unit == "M" {
            "; \"M\" means months: write \"m\" for minutes, or days (\"30d\") for a month"
        } else {
            "; write days instead, such as \"30d\" or \"365d\""
        };
        return Err(format!(
            "\"{text}\" uses the unit \"{unit}\", which is not accepted here{hint}"
        ));
    }
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

pub fn choice<T>(
    text: &str,
    names: &[&str],
    parse: impl Fn(&str) -> Option<T>,
) -> Result<T, String> {
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

fn sources(v: &OneOrMany) -> Result<Vec<Source>, String> {
    let list = v.to_vec();
    if list.is_empty() {
        return Err("name at least one source".to_string());
    }
    list.iter().map(|s| Source::parse(s)).collect()
}

fn nonempty(s: &String) -> Result<String, String> {
    #![allow(clippy::ptr_arg)] // the shape `Checker::check` passes values in
    if s.is_empty() {
        Err("must not be empty".to_string())
    } else {
        Ok(s.clone())
    }
}

/// The JWT algorithms vendors use.
const JWT_ALGORITHMS: &[&str] = &["HS256", "HS384", "HS512", "RS256", "ES256", "EdDSA"];

fn jwt_algorithm(name: &str) -> Option<jsonwebtoken::Algorithm> {
    use jsonwebtoken::Algorithm as J;
    Some(match name {
        "HS256" => J::HS256,
        "HS384" => J::HS384,
        "HS512" => J::HS512,
        "RS256" => J::RS256,
        "ES256" => J::ES256,
        "EdDSA" => J::EdDSA,
        _ => return None,
    })
}

/// The checked keys of one layer (a route, a preset or `[defaults]`).
#[derive(Debug, Clone, Default)]
pub struct Layer {
    pub provider: Option<At<String>>,
    pub path: Option<At<String>>,
    /// The methods signed deliveries come by (POST unless set).
    pub methods: Option<At<Vec<http::Method>>>,
    pub secrets: Option<At<Vec<At<Secret>>>>,
    pub upstream: Option<At<Upstream>>,
    pub upstream_secret: Option<At<Secret>>,
    pub allow_ips: Option<At<AllowIps>>,
    pub delivery: Option<At<DeliveryMode>>,
    pub retry_schedule: Option<At<Vec<Duration>>>,
    pub max_delivery_age: Option<At<Duration>>,
    pub dead_letter_on: Option<At<Vec<StatusCode>>>,
    pub delivery_concurrency: Option<At<u64>>,
    pub upstream_4xx: Option<At<Upstream4xx>>,
    pub dedupe_ttl: Option<At<Duration>>,
    pub dedupe_capacity: Option<At<u64>>,
    pub forward_timeout: Option<At<Duration>>,
    pub tolerance: Option<At<Duration>>,
    pub max_clock_skew: Option<At<Duration>>,
    pub retry_horizon: Option<At<Duration>>,
    pub vendor_timeout: Option<At<Duration>>,
    pub max_body: Option<At<u64>>,
    pub envelope: Option<At<Mode>>,
    pub source: Option<At<String>>,
    /// Public keys as written (their kind depends on the merged algorithm).
    pub public_key: Option<At<Vec<At<Secret>>>>,
    pub public_url: Option<At<Uri>>,
    /// The app's base URL, whose path the vendor leaves out of what it signs (Atlassian Connect's
    /// descriptor `baseUrl`, for the `qsh` claim).
    pub app_base_url: Option<At<Uri>>,
    /// Where a setup secret a handshake brings is kept (Asana's X-Hook-Secret, Notion's token).
    pub learn_secret: Option<At<std::path::PathBuf>>,
    /// The text that acknowledges an event, where the vendor requires one (Dropbox Sign).
    pub acknowledge: Option<At<String>>,
    /// The `aud` a token must name, and claims it must carry (who sent it), for tokens checked
    /// against a vendor's published keys.
    pub jwt_audience: Option<At<String>>,
    pub jwt_require_claims: Option<At<Vec<(String, String)>>>,
    /// The fields a key request carries besides the key id (Plaid's client_id and secret).
    pub key_request: Option<At<Vec<(String, Secret)>>>,
    pub verify_token: Option<At<Secret>>,
    pub handshake: Option<At<Vec<handshake::Spec>>>,
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
    pub signature: Option<At<Vec<Source>>>,
    pub prefix: Option<At<String>>,
    pub encoding: Option<At<Encoding>>,
    pub payload: Option<At<Template>>,
    pub timestamp: Option<At<Vec<Source>>>,
    pub timestamp_format: Option<At<TimestampFormat>>,
    pub body_hash: Option<At<Source>>,
    pub single_item: Option<At<Pointer>>,
    pub require_headers: Option<At<Vec<(HeaderName, String)>>>,
    /// A header whose `algorithm` entry names the scheme's algorithm among `algorithm_names`.
    pub algorithm_header: Option<At<HeaderName>>,
    pub algorithm_names: Option<At<Vec<(String, Algorithm)>>>,
    pub data_from: Option<At<Source>>,
    /// The form field that holds the vendor's whole document (Dropbox Sign's `json`): signature,
    /// signed fields, event fields and data are all read from it.
    pub body_from: Option<At<Source>>,
    pub separator: Option<At<String>>,
    pub kv_separator: Option<At<String>>,
    pub signature_key: Option<At<String>>,
    pub secret_encoding: Option<At<SecretEncoding>>,
    pub secret_prefix: Option<At<String>>,
    pub jwt_algorithm: Option<At<jsonwebtoken::Algorithm>>,
    pub jwt_issuer: Option<At<String>>,
    pub jwt_body_hash_claim: Option<At<String>>,
    pub jwt_query_hash_claim: Option<At<String>>,
    pub jwks_url: Option<At<Uri>>,
    /// Where one key is fetched by its id (a POST), the request field naming the id, where the
    /// answer holds the key, and the fields a route must supply (Plaid's client_id and secret).
    pub key_url: Option<At<Uri>>,
    pub key_id_field: Option<At<String>>,
    pub key_pointer: Option<At<String>>,
    pub key_request_fields: Option<At<Vec<String>>>,
}

#[derive(Debug, Clone, Default)]
pub struct EventLayer {
    pub id: Option<At<Vec<Source>>>,
    pub kind: Option<At<Vec<Source>>>,
    pub time: Option<At<Vec<Source>>>,
}

#[derive(Debug, Clone, Default)]
pub struct StatusLayer {
    pub signature: Option<At<StatusCode>>,
    pub timestamp: Option<At<StatusCode>>,
}

/// The methods a vendor can sign a delivery with (HubSpot and Zendesk sign GET and DELETE too).
const SIGNED_METHODS: &[&str] = &["POST", "PUT", "PATCH", "DELETE", "GET"];

/// A URL on the vendor's side of the gateway (`public_url`, `app_base_url`): http(s), with a host and
/// no query.
fn vendor_url(c: &Checker<'_>, t: &str) -> Result<Uri, String> {
    let text = c.expand(t)?;
    let shown = super::without_credentials(&text);
    let uri: Uri = text
        .parse()
        .map_err(|_| format!("\"{shown}\" is not a URL"))?;
    match (uri.scheme_str(), uri.host(), uri.query()) {
        (Some("http" | "https"), Some(_), None) => Ok(uri),
        (_, _, Some(_)) => Err(format!(
            "\"{shown}\" must not have a query string: the query a request arrives with is appended as received"
        )),
        _ => Err(format!(
            "\"{shown}\" must be the https:// (or http://) URL the vendor calls, as in \"https://hooks.example.com/webhooks/twilio\""
        )),
    }
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
    let methods = c.check(&raw.methods, k("methods"), |list| {
        let mut out: Vec<http::Method> = Vec::new();
        for m in list {
            let method = choice(m.get_ref(), SIGNED_METHODS, |t| {
                SIGNED_METHODS
                    .contains(&t)
                    .then(|| t.parse().expect("a method name"))
            })?;
            if out.contains(&method) {
                return Err(format!("\"{method}\" is listed twice; list each method once"));
            }
            out.push(method);
        }
        if out.is_empty() {
            return Err("is empty, so no delivery could arrive; list at least one method, such as [\"POST\"]".to_string());
        }
        Ok(out)
    });
    let secrets = c.secrets(&raw.secrets, &k("secrets"));
    let upstream = c.check_env(&raw.upstream, k("upstream"), |c, t| {
        Upstream::parse(&c.expand(t)?)
    });
    let upstream_secret = c.check_env(&raw.upstream_secret, k("upstream_secret"), |c, t| {
        c.secret(t)
    });
    let verify_token = c.check_env(&raw.verify_token, k("verify_token"), |c, t| c.secret(t));
    let public_key = raw.public_key.as_ref().and_then(|list| {
        let texts: Vec<S<String>> = match list.get_ref() {
            OneOrMany::One(s) => vec![S::new(list.span(), s.clone())],
            OneOrMany::Many(v) => v.iter().map(|s| S::new(list.span(), s.clone())).collect(),
        };
        c.secrets(&Some(S::new(list.span(), texts)), &k("public_key"))
    });
    let public_url = c.check_env(&raw.public_url, k("public_url"), vendor_url);
    let app_base_url = c.check_env(&raw.app_base_url, k("app_base_url"), vendor_url);
    let acknowledge = c.check(&raw.acknowledge, k("acknowledge"), |t| {
        if t.is_empty() || t.len() > 256 || t.contains(['\r', '\n']) {
            return Err("must be one line of at most 256 characters".to_string());
        }
        Ok(t.clone())
    });
    let key_request = match &raw.key_request {
        None => None,
        Some(map) => {
            let loc = c.loc(map);
            let mut fields = Vec::new();
            let mut ok = true;
            for (name, value) in map.get_ref() {
                let key = k(&format!("key_request.{name}"));
                match c.check_env(&Some(value.clone()), key, |c, t| c.secret(t)) {
                    Some(s) => fields.push((name.clone(), s.value)),
                    None => ok = false,
                }
            }
            ok.then(|| At {
                value: fields,
                loc,
                key: k("key_request"),
            })
        }
    };
    let learn_secret = c.check_env(&raw.learn_secret, k("learn_secret"), |c, t| {
        let path = std::path::PathBuf::from(c.expand(t)?);
        if path.file_name().is_none() {
            return Err(format!("\"{}\" must name a file", path.display()));
        }
        Ok(path)
    });
    let jwt_audience = c.check_env(&raw.jwt_audience, k("jwt_audience"), |c, t| {
        let aud = c.expand(t)?;
        if aud.is_empty() {
            return Err("must not be empty".to_string());
        }
        Ok(aud)
    });
    let jwt_require_claims = c.check(&raw.jwt_require_claims, k("jwt_require_claims"), |map| {
            if map.is_empty() {
                return Err("is empty; name each claim and the value it must have, as in { email = \"pusher@project.iam.gserviceaccount.com\" }".to_string());
            }
            Ok(map
                .iter()
                .map(|(k, v)| (k.clone(), v.get_ref().clone()))
                .collect())
    });

    let allow_ips = match raw.allow_ips.as_ref().map(|a| (a, a.get_ref())) {
        None => None,
        Some((at_list, RawAllowIps::List(list))) => {
            let mut nets = Vec::new();
            for (i, s) in list.iter().enumerate() {
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
                value: AllowIps::Nets(nets),
                loc: c.loc(at_list),
                key: k("allow_ips"),
            })
        }
        Some((written, RawAllowIps::Named(text))) => {
            let loc = c.loc(written);
            let value = if text == "preset" {
                Ok(AllowIps::Preset)
            } else if let Some(url) = text.strip_prefix("url:") {
                list_url(url).map(|(url, pointer)| AllowIps::Url { url, pointer })
            } else if let Some(path) = text.strip_prefix("file:") {
                let base = std::path::Path::new(&c.origin.name)
                    .parent()
                    .unwrap_or(std::path::Path::new(""));
                ips_file(&base.join(path)).map(AllowIps::Nets)
            } else {
                Err(format!(
                    "\"{text}\" is not a list of addresses; write allow_ips = [\"203.0.113.0/24\"], \"preset\" (the vendor's published addresses), \"file:/etc/hookgate/vendor-ips.txt\" (one per line) or \"url:https://stripe.com/files/ips/ips_webhooks.txt\" (fetched and kept current)"
                ))
            };
            match value {
                Ok(value) => Some(At {
                    value,
                    loc,
                    key: k("allow_ips"),
                }),
                Err(m) => {
                    c.errors.push(ConfigError::at(&loc, k("allow_ips"), m));
                    None
                }
            }
        }
    };
    let positive_duration = |t: &String| {
        let d = duration(t)?;
        if d.is_zero() {
            return Err("must be longer than zero".to_string());
        }
        Ok(d)
    };
    let handshake = raw.handshake.as_ref().map(|list| {
        let mut specs = Vec::new();
        for (i, h) in list.get_ref().iter().enumerate() {
            if let Some(spec) = handshake_spec(c, h, &format!("{at}.handshake[{i}]")) {
                specs.push(spec);
            }
        }
        At {
            value: specs,
            loc: c.loc(list),
            key: k("handshake"),
        }
    });
    let verify_loc = raw.verify.as_ref().map(|v| c.loc(v));
    Layer {
        provider,
        path,
        methods,
        secrets,
        upstream,
        upstream_secret,
        allow_ips,
        delivery: c.check(&raw.delivery, k("delivery"), |t| {
            choice(t, DeliveryMode::NAMES, DeliveryMode::parse)
        }),
        retry_schedule: raw.retry_schedule.as_ref().map(|list| {
            let mut delays = Vec::new();
            for (i, d) in list.get_ref().iter().enumerate() {
                if let Some(at) = c.check(&Some(d.clone()), format!("{at}.retry_schedule[{i}]"), positive_duration) {
                    delays.push(at.value);
                }
            }
            At {
                value: delays,
                loc: c.loc(list),
                key: k("retry_schedule"),
            }
        }),
        max_delivery_age: c.check(&raw.max_delivery_age, k("max_delivery_age"), positive_duration),
        dead_letter_on: raw.dead_letter_on.as_ref().map(|list| {
            let mut statuses = Vec::new();
            for (i, code) in list.get_ref().iter().enumerate() {
                if let Some(at) = c.check(&Some(code.clone()), format!("{at}.dead_letter_on[{i}]"), |n| {
                    match StatusCode::from_u16(*n) {
                        Ok(s) if !s.is_success() => Ok(s),
                        _ => Err(format!("{n} is not a status an upstream refuses with; list 4xx or 5xx codes, such as 410")),
                    }
                }) {
                    statuses.push(at.value);
                }
            }
            At {
                value: statuses,
                loc: c.loc(list),
                key: k("dead_letter_on"),
            }
        }),
        delivery_concurrency: c.check(&raw.delivery_concurrency, k("delivery_concurrency"), |n| {
            if (1..=4096).contains(n) {
                Ok(*n)
            } else {
                Err("must be between 1 and 4096".to_string())
            }
        }),
        upstream_4xx: c.check(&raw.upstream_4xx, k("upstream_4xx"), |t| {
            choice(t, Upstream4xx::NAMES, Upstream4xx::parse)
        }),
        dedupe_ttl: c.check(&raw.dedupe_ttl, k("dedupe_ttl"), duration),
        dedupe_capacity: c.check(&raw.dedupe_capacity, k("dedupe_capacity"), |n| {
            if *n == 0 {
                Err("must be at least 1".to_string())
            } else {
                Ok(*n)
            }
        }),
        retry_horizon: c.check(&raw.retry_horizon, k("retry_horizon"), duration),
        vendor_timeout: c.check(&raw.vendor_timeout, k("vendor_timeout"), positive_duration),
        forward_timeout: c.check(
            &raw.forward_timeout,
            k("forward_timeout"),
            positive_duration,
        ),
        tolerance: c.check(&raw.tolerance, k("tolerance"), duration),
        max_clock_skew: c.check(&raw.max_clock_skew, k("max_clock_skew"), duration),
        max_body: c.check(&raw.max_body, k("max_body"), size),
        envelope: c.check(&raw.envelope, k("envelope"), |t| {
            choice(t, Mode::NAMES, Mode::parse)
        }),
        source: c.check(&raw.source, k("source"), nonempty),
        public_key,
        public_url,
        app_base_url,
        learn_secret,
        acknowledge,
        key_request,
        jwt_audience,
        jwt_require_claims,
        verify_token,
        handshake,
        verify: verify_layer(
            c,
            raw.verify.as_ref().map(|v| v.get_ref()),
            &k("verify"),
            verify_loc,
        ),
        event: event_layer(c, raw.event.as_ref(), &k("event")),
        status: status_layer(c, raw.status.as_ref(), &k("status")),
    }
}

fn handshake_spec(c: &mut Checker<'_>, raw: &S<RawHandshake>, at: &str) -> Option<handshake::Spec> {
    let h = raw.get_ref();
    let k = |name: &str| format!("{at}.{name}");
    let before = c.errors.len();
    let method = c
        .check(&h.method, k("method"), |m| match m.as_str() {
            "GET" | "HEAD" | "POST" => Ok(m.parse::<Method>().expect("valid method")),
            _ => Err(format!("\"{m}\" is not one of \"GET\", \"HEAD\", \"POST\"")),
        })
        .map_or(Method::POST, |a| a.value);
    let when = c
        .check(&h.when, k("when"), |s| Source::parse(s))
        .map(|a| a.value);
    let equals = h.equals.as_ref().map(|e| e.get_ref().clone());
    let token = c
        .check(&h.token, k("token"), |s| Source::parse(s))
        .map(|a| a.value);
    let learn = c
        .check(&h.learn, k("learn"), |s| match Source::parse(s)? {
            part @ (Source::Header(_) | Source::Body(_)) => Ok(part),
            _ => Err(format!(
                "\"{s}\" cannot carry a setup secret; name a header (\"header:NAME\") or a body field (\"body:/pointer\")"
            )),
        })
        .map(|a| a.value);
    let respond = c
        .check(&h.respond, k("respond"), |t| handshake::Template::parse(t))
        .map(|a| a.value);
    let content_type = c
        .check(&h.content_type, k("content_type"), |t| {
            HeaderValue::from_str(t).map_err(|_| format!("\"{t}\" is not a valid content type"))
        })
        .map_or(HeaderValue::from_static("text/plain; charset=utf-8"), |a| {
            a.value
        });
    let status = c
        .check(&h.status, k("status"), |s| {
            StatusCode::from_u16(*s).map_err(|_| format!("{s} is not a status code"))
        })
        .map_or(StatusCode::OK, |a| a.value);
    let mut headers = Vec::new();
    for (name, value) in h.headers.iter().flatten() {
        let key = format!("{at}.headers.{name}");
        let loc = c.loc(value);
        match (
            header_name(name),
            handshake::Template::parse(value.get_ref()),
        ) {
            (Ok(n), Ok(t)) => headers.push((n, t)),
            (Err(m), _) | (_, Err(m)) => c.errors.push(ConfigError::at(&loc, key, m)),
        }
    }
    if equals.is_some() && when.is_none() {
        let loc = c.loc(raw);
        c.errors.push(ConfigError::at(
            &loc,
            k("equals"),
            "needs `when`, the value to compare",
        ));
    }
    if when.is_none() && token.is_none() && method == Method::POST {
        let loc = c.loc(raw);
        c.errors.push(ConfigError::at(
            &loc,
            at.to_string(),
            "a POST handshake needs `when`, or every delivery would be taken for one",
        ));
    }
    if c.errors.len() > before {
        return None;
    }
    Some(handshake::Spec {
        verified: h
            .verified
            .as_ref()
            .map_or(method == Method::POST, |v| *v.get_ref()),
        method,
        when: when.map(|w| (w, equals)),
        token,
        respond: respond.unwrap_or_else(|| handshake::Template::parse("").expect("empty template")),
        content_type,
        headers,
        status,
        learn,
    })
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
        signature: c.check(&raw.signature, k("signature"), sources),
        prefix: c.check(&raw.prefix, k("prefix"), |p| Ok(p.clone())),
        encoding: c.check(&raw.encoding, k("encoding"), |t| {
            choice(t, Encoding::NAMES, Encoding::parse)
        }),
        payload: c.check(&raw.payload, k("payload"), |t| Template::parse_any(t)),
        timestamp: c.check(&raw.timestamp, k("timestamp"), sources),
        timestamp_format: c.check(&raw.timestamp_format, k("timestamp_format"), |t| {
            choice(t, TimestampFormat::NAMES, TimestampFormat::parse)
        }),
        body_hash: c.check(&raw.body_hash, k("body_hash"), |t| Source::parse(t)),
        single_item: c.check(&raw.single_item, k("single_item"), |t| {
            t.strip_prefix("body:")
                .ok_or_else(|| {
                    format!("\"{t}\" must name a JSON array in the body, as in \"body:/items\"")
                })
                .and_then(Pointer::parse)
        }),
        require_headers: c.check(&raw.require_headers, k("require_headers"), |map| {
            map.iter()
                .map(|(name, value)| {
                    let header = HeaderName::from_bytes(name.as_bytes())
                        .map_err(|_| format!("\"{name}\" is not a valid header name"))?;
                    Ok((header, value.get_ref().clone()))
                })
                .collect()
        }),
        algorithm_header: c.check(&raw.algorithm_header, k("algorithm_header"), |h| {
            header_name(h)
        }),
        algorithm_names: c.check(&raw.algorithm_names, k("algorithm_names"), |map| {
            if map.is_empty() {
                return Err("is empty; map each name the vendor sends to an algorithm, as in { HMAC_SHA256 = \"hmac-sha256\" }".to_string());
            }
            map.iter()
                .map(|(name, alg)| {
                    let a = choice(alg.get_ref(), Algorithm::NAMES, Algorithm::parse)?;
                    if a.hmac().is_none() {
                        return Err(format!(
                            "\"{name}\" maps to {}, but a header can choose only among HMAC algorithms, which share the route's secrets",
                            a.name()
                        ));
                    }
                    Ok((name.clone(), a))
                })
                .collect()
        }),
        data_from: c.check(&raw.data_from, k("data_from"), |t| match Source::parse(t)? {
            part @ (Source::Form(_) | Source::Query(_)) => Ok(part),
            _ => Err(format!(
                "\"{t}\" cannot be the data; only a form field (\"form:NAME\") or a query parameter (\"query:NAME\") that the signature covers can"
            )),
        }),
        body_from: c.check(&raw.body_from, k("body_from"), |t| match Source::parse(t)? {
            part @ Source::Form(_) => Ok(part),
            _ => Err(format!(
                "\"{t}\" cannot hold the vendor's document; name a form field, as in \"form:json\""
            )),
        }),
        separator: c.check(&raw.separator, k("separator"), nonempty),
        kv_separator: c.check(&raw.kv_separator, k("kv_separator"), nonempty),
        signature_key: c.check(&raw.signature_key, k("signature_key"), nonempty),
        secret_encoding: c.check(&raw.secret_encoding, k("secret_encoding"), |t| {
            choice(t, SecretEncoding::NAMES, SecretEncoding::parse)
        }),
        secret_prefix: c.check(&raw.secret_prefix, k("secret_prefix"), nonempty),
        jwt_algorithm: c.check(&raw.jwt_algorithm, k("jwt_algorithm"), |t| {
            choice(t, JWT_ALGORITHMS, jwt_algorithm)
        }),
        jwt_issuer: c.check(&raw.jwt_issuer, k("jwt_issuer"), nonempty),
        jwt_body_hash_claim: c.check(&raw.jwt_body_hash_claim, k("jwt_body_hash_claim"), nonempty),
        jwt_query_hash_claim: c.check(
            &raw.jwt_query_hash_claim,
            k("jwt_query_hash_claim"),
            nonempty,
        ),
        jwks_url: c.check_env(&raw.jwks_url, k("jwks_url"), key_url),
        key_url: c.check_env(&raw.key_url, k("key_url"), key_url),
        key_id_field: c.check(&raw.key_id_field, k("key_id_field"), nonempty),
        key_pointer: c.check(&raw.key_pointer, k("key_pointer"), |t| {
            if t.starts_with('/') {
                Ok(t.clone())
            } else {
                Err(format!("\"{t}\" must be a JSON pointer, as in \"/key\""))
            }
        }),
        key_request_fields: c.check(&raw.key_request_fields, k("key_request_fields"), |list| {
            Ok(list.iter().map(|s| s.get_ref().clone()).collect())
        }),
    }
}

/// Where a vendor's keys are fetched from: https, or plain http on loopback (tests).
fn key_url(c: &Checker<'_>, t: &str) -> Result<Uri, String> {
    let text = c.expand(t)?;
    let uri: Uri = text
        .parse()
        .map_err(|_| format!("\"{text}\" is not a URL"))?;
    let loopback = matches!(uri.host(), Some("127.0.0.1" | "localhost" | "[::1]"));
    match uri.scheme_str() {
        Some("https") if uri.host().is_some() => Ok(uri),
        Some("http") if loopback => Ok(uri),
        _ => Err(format!(
            "\"{text}\" must be an https:// URL: keys fetched in the clear could be anyone's"
        )),
    }
}

fn event_layer(c: &mut Checker<'_>, raw: Option<&RawEvent>, at: &str) -> EventLayer {
    let Some(raw) = raw else {
        return EventLayer::default();
    };
    EventLayer {
        id: c.check(&raw.id, format!("{at}.id"), sources),
        kind: c.check(&raw.kind, format!("{at}.type"), sources),
        time: c.check(&raw.time, format!("{at}.time"), sources),
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
            provider, path, methods, secrets, upstream, upstream_secret, allow_ips, delivery,
            retry_schedule, max_delivery_age, dead_letter_on, delivery_concurrency, upstream_4xx,
            dedupe_ttl, dedupe_capacity, forward_timeout, tolerance, max_clock_skew, retry_horizon,
            vendor_timeout, max_body, envelope, source, public_key, public_url, app_base_url, learn_secret, acknowledge, jwt_audience, jwt_require_claims, key_request,
            verify_token,
            handshake,
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
                signature,
                prefix,
                encoding,
                payload,
                timestamp,
                timestamp_format,
                body_hash,
                single_item,
                require_headers,
                algorithm_header,
                algorithm_names,
                data_from,
                body_from,
                separator,
                kv_separator,
                signature_key,
                secret_encoding,
                secret_prefix,
                jwt_algorithm,
                jwt_issuer,
                jwt_body_hash_claim,
                jwt_query_hash_claim,
                jwks_url,
                key_url,
                key_id_field,
                key_pointer,
                key_request_fields,
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
