//! The configuration exactly as written: serde structs that mirror the TOML, with spans kept for every
//! value that is checked later, and unknown keys refused. Nothing here is interpreted; `build` turns
//! these into validated runtime types.

use serde::Deserialize;
use std::collections::BTreeMap;
use toml::Spanned;

pub type S<T> = Spanned<T>;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFile {
    pub server: Option<RawServer>,
    pub admin: Option<RawAdmin>,
    pub store: Option<RawStore>,
    pub defaults: Option<RawRoute>,
    #[serde(default)]
    pub routes: BTreeMap<String, S<RawRoute>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    pub listen: Option<S<String>>,
    pub max_body: Option<S<RawSize>>,
    pub trusted_proxies: Option<Vec<S<String>>>,
    pub dedupe_capacity: Option<S<u64>>,
    pub header_timeout: Option<S<String>>,
    pub body_timeout: Option<S<String>>,
    pub idle_timeout: Option<S<String>>,
    pub max_header_size: Option<S<RawSize>>,
    pub max_connections: Option<S<u64>>,
    pub max_in_flight: Option<S<u64>>,
    pub max_receiving: Option<S<u64>>,
    pub max_in_flight_per_client: Option<S<u64>>,
    pub max_concurrent_streams: Option<S<u64>>,
    pub drain_timeout: Option<S<String>>,
    pub workers: Option<S<u64>>,
    pub access_log: Option<S<bool>>,
    pub tls: Option<RawTls>,
    pub upstream_pool_idle_timeout: Option<S<String>>,
    pub upstream_pool_max_idle: Option<S<u64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTls {
    pub cert: Option<S<String>>,
    pub key: Option<S<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStore {
    pub kind: Option<S<String>>,
    pub path: Option<S<String>>,
    pub url: Option<S<String>>,
    pub prefix: Option<S<String>>,
    pub lease: Option<S<String>>,
    pub durability: Option<S<String>>,
    pub retention: Option<S<String>>,
    pub dead_retention: Option<S<String>>,
    pub max_size: Option<S<RawSize>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAdmin {
    pub listen: Option<S<String>>,
    pub token: Option<S<String>>,
    pub hosts: Option<Vec<S<String>>>,
}

/// A route's keys; `[defaults]` uses the same vocabulary.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRoute {
    pub provider: Option<S<String>>,
    pub path: Option<S<String>>,
    pub methods: Option<S<Vec<S<String>>>>,
    pub secrets: Option<S<Vec<S<String>>>>,
    pub upstream: Option<S<String>>,
    pub upstream_secret: Option<S<String>>,
    pub allow_ips: Option<S<RawAllowIps>>,
    pub delivery: Option<S<String>>,
    pub retry_schedule: Option<S<Vec<S<String>>>>,
    pub max_delivery_age: Option<S<String>>,
    pub dead_letter_on: Option<S<Vec<S<u16>>>>,
    pub delivery_concurrency: Option<S<u64>>,
    pub upstream_4xx: Option<S<String>>,
    pub dedupe_ttl: Option<S<String>>,
    pub dedupe_capacity: Option<S<u64>>,
    pub forward_timeout: Option<S<String>>,
    pub tolerance: Option<S<String>>,
    pub max_clock_skew: Option<S<String>>,
    pub retry_horizon: Option<S<String>>,
    pub vendor_timeout: Option<S<String>>,
    pub max_body: Option<S<RawSize>>,
    pub envelope: Option<S<String>>,
    pub source: Option<S<String>>,
    pub public_key: Option<S<OneOrMany>>,
    pub public_url: Option<S<String>>,
    pub app_base_url: Option<S<String>>,
    pub learn_secret: Option<S<String>>,
    pub acknowledge: Option<S<String>>,
    pub key_request: Option<S<BTreeMap<String, S<String>>>>,
    pub jwt_audience: Option<S<String>>,
    pub jwt_require_claims: Option<S<BTreeMap<String, S<String>>>>,
    pub verify_token: Option<S<String>>,
    pub verify: Option<S<RawVerify>>,
    pub event: Option<RawEvent>,
    pub status: Option<RawStatus>,
    pub handshake: Option<S<Vec<S<RawHandshake>>>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawVerify {
    pub algorithm: Option<S<String>>,
    pub header: Option<S<OneOrMany>>,
    pub signature: Option<S<OneOrMany>>,
    pub prefix: Option<S<String>>,
    pub encoding: Option<S<String>>,
    pub payload: Option<S<String>>,
    pub timestamp: Option<S<OneOrMany>>,
    pub body_hash: Option<S<String>>,
    pub single_item: Option<S<String>>,
    pub require_headers: Option<S<BTreeMap<String, S<String>>>>,
    pub algorithm_header: Option<S<String>>,
    pub algorithm_names: Option<S<BTreeMap<String, S<String>>>>,
    pub data_from: Option<S<String>>,
    pub body_from: Option<S<String>>,
    pub jwt_algorithm: Option<S<String>>,
    pub jwt_issuer: Option<S<String>>,
    pub jwt_body_hash_claim: Option<S<String>>,
    pub jwt_query_hash_claim: Option<S<String>>,
    pub jwks_url: Option<S<String>>,
    pub key_url: Option<S<String>>,
    pub key_id_field: Option<S<String>>,
    pub key_pointer: Option<S<String>>,
    pub key_request_fields: Option<S<Vec<S<String>>>>,
    pub timestamp_format: Option<S<String>>,
    pub separator: Option<S<String>>,
    pub kv_separator: Option<S<String>>,
    pub signature_key: Option<S<String>>,
    pub secret_encoding: Option<S<String>>,
    pub secret_prefix: Option<S<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEvent {
    pub id: Option<S<OneOrMany>>,
    #[serde(rename = "type")]
    pub kind: Option<S<OneOrMany>>,
    pub time: Option<S<OneOrMany>>,
}

/// An endpoint-verification handshake the gateway answers itself.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHandshake {
    pub method: Option<S<String>>,
    pub verified: Option<S<bool>>,
    pub when: Option<S<String>>,
    pub equals: Option<S<String>>,
    pub token: Option<S<String>>,
    pub respond: Option<S<String>>,
    pub content_type: Option<S<String>>,
    pub headers: Option<BTreeMap<String, S<String>>>,
    pub status: Option<S<u16>>,
    pub learn: Option<S<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStatus {
    pub signature: Option<S<u16>>,
    pub timestamp: Option<S<u16>>,
}

/// One preset in the built-in table: documentation plus the part of the route vocabulary a vendor
/// determines (how it signs, where its event fields are, the statuses and tolerance it documents).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPreset {
    pub title: String,
    pub docs: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    #[serde(default)]
    pub notes: Option<String>,
    /// Another preset whose settings this one starts from (vendors that send Standard Webhooks).
    pub base: Option<S<String>>,
    pub tolerance: Option<S<String>>,
    pub max_clock_skew: Option<S<String>>,
    pub forward_timeout: Option<S<String>>,
    /// How long after its first attempt the vendor may still retry (or an operator redeliver) an
    /// event, from the vendor's documentation: the route remembers ids at least this long.
    pub retry_horizon: Option<S<String>>,
    /// What the vendor's retry schedule is, in words, with the source of `retry_horizon`.
    pub retries: Option<String>,
    /// How long the vendor waits for an answer before it counts the attempt as failed.
    pub vendor_timeout: Option<S<String>>,
    /// The text the vendor must read back before it counts an event delivered.
    pub acknowledge: Option<S<String>>,
    /// The key the vendor publishes for verifying its signatures, when it has one for everyone
    /// (Wise); a route's own `public_key` replaces it.
    pub public_key: Option<S<OneOrMany>>,
    pub verify: Option<S<RawVerify>>,
    pub event: Option<RawEvent>,
    pub status: Option<RawStatus>,
    pub handshake: Option<S<Vec<S<RawHandshake>>>>,
    pub source_ips: Option<RawSourceIps>,
}

impl RawPreset {
    /// The preset's settings as a route layer, so they are validated by the same code.
    pub fn take_route(&mut self) -> RawRoute {
        RawRoute {
            tolerance: self.tolerance.take(),
            max_clock_skew: self.max_clock_skew.take(),
            forward_timeout: self.forward_timeout.take(),
            retry_horizon: self.retry_horizon.take(),
            vendor_timeout: self.vendor_timeout.take(),
            acknowledge: self.acknowledge.take(),
            public_key: self.public_key.take(),
            verify: self.verify.take(),
            event: self.event.take(),
            status: self.status.take(),
            handshake: self.handshake.take(),
            ..RawRoute::default()
        }
    }
}

/// A size: an integer number of bytes or a string with a unit (`"1MiB"`, `"512 KB"`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum RawSize {
    Bytes(u64),
    Text(String),
}

/// `allow_ips`: a list of addresses and CIDR blocks, `"preset"` (the vendor's published list) or
/// `"file:PATH"` (one per line).
#[derive(Debug, Clone)]
pub enum RawAllowIps {
    List(Vec<S<String>>),
    Named(String),
}

// By hand rather than `#[serde(untagged)]`, which buffers the value and so loses the list items'
// positions (each item's errors point at the item).
impl<'de> Deserialize<'de> for RawAllowIps {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = RawAllowIps;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(
                    "a list of addresses such as [\"203.0.113.0/24\"], \"preset\" or \"file:PATH\"",
                )
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawAllowIps, E> {
                Ok(RawAllowIps::Named(v.to_string()))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<RawAllowIps, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<S<String>>()? {
                    items.push(item);
                }
                Ok(RawAllowIps::List(items))
            }
        }
        d.deserialize_any(Visit)
    }
}

/// A preset's `[NAME.source_ips]`: the addresses the vendor publishes as its webhooks' sources.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSourceIps {
    /// The list built in (none when the vendor asks that it be fetched, as PagerDuty does).
    #[serde(default)]
    pub addresses: Vec<S<String>>,
    /// Where the vendor publishes them, for people.
    pub published: String,
    /// When the list here was taken from there (YYYY-MM-DD).
    pub as_of: Option<S<String>>,
    /// Where the vendor publishes them in a form hookgate reads (`allow_ips = "url:…"`).
    pub url: Option<S<String>>,
}

/// A header name or a list of them.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn to_vec(&self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}
