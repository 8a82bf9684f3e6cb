//! Verification: does this delivery carry a valid signature from the vendor, and what event is it?
//!
//! `Verifier::verify(parts, body)` is pure: it reads the request head and the raw body bytes, does no
//! I/O and never reads the clock (the replay window is checked by `replay` with an explicit `now`). It
//! returns a `Verified`, the only value the envelope can be built from, so nothing unverified can be
//! forwarded. Schemes are code (HMAC over a template of signed pieces); vendors are data (`presets`).
//! This module knows nothing about status codes, routes or sockets.

pub mod json;
pub mod mac;
pub mod source;
pub mod template;
pub mod timestamp;

pub use mac::{Algorithm, Encoding, Key};
pub use source::{Pointer, Source};
pub use template::{Piece, Template};

use crate::secret::Secret;
use base64::Engine;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, request::Parts};
use jiff::Timestamp;
use sha2::{Digest, Sha256};
use std::borrow::Cow;

/// At most this many signature candidates are examined per request, however many a sender presents.
const MAX_CANDIDATES: usize = 16;

/// Why a delivery failed verification. The text is for logs; senders get the fixed sentence from the
/// status table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("no signature header was sent")]
    MissingSignature,
    #[error("the signature header could not be parsed or decoded")]
    MalformedSignature,
    #[error("no configured secret produces the presented signature")]
    InvalidSignature,
    #[error("the signed timestamp is missing")]
    MissingTimestamp,
    #[error("the signed timestamp is not a time")]
    MalformedTimestamp,
}

/// How a signature header that carries several `key=value` entries is split
/// (`t=1,v1=abc,v1=def`, `ts=1;h1=abc`, `v1,abc v1,def`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListFormat {
    /// Between entries: `","`, `";"`, `" "`.
    pub separator: String,
    /// Between an entry's key and value (the first occurrence): `"="` or `","`.
    pub kv_separator: String,
    /// Entries with this key are signatures; any one that verifies suffices.
    pub signature_key: String,
}

/// How the signature travels in the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureFormat {
    /// Every header that may carry a signature (Box sends a primary and a secondary).
    pub headers: Vec<HeaderName>,
    /// Stripped from each signature before decoding (`"sha256="`).
    pub prefix: String,
    pub encoding: Encoding,
    pub list: Option<ListFormat>,
}

/// How timestamps are written when *producing* a signature (`hookgate sign`, upstream signing).
/// Verification accepts any of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimestampFormat {
    #[default]
    Unix,
    UnixMillis,
    Rfc3339,
}

impl TimestampFormat {
    pub const NAMES: &'static [&'static str] = &["unix", "unix-ms", "rfc3339"];

    pub fn parse(name: &str) -> Option<TimestampFormat> {
        match name {
            "unix" => Some(TimestampFormat::Unix),
            "unix-ms" => Some(TimestampFormat::UnixMillis),
            "rfc3339" => Some(TimestampFormat::Rfc3339),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        Self::NAMES[self as usize]
    }

    pub fn format(self, at: Timestamp) -> String {
        match self {
            TimestampFormat::Unix => at.as_second().to_string(),
            TimestampFormat::UnixMillis => at.as_millisecond().to_string(),
            TimestampFormat::Rfc3339 => at.round(jiff::Unit::Second).unwrap_or(at).to_string(),
        }
    }
}

/// Where the event's id, type and time live.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFields {
    /// Absent: the SHA-256 of the raw body.
    pub id: Option<Source>,
    pub kind: Option<Source>,
    pub time: Option<Source>,
}

/// Everything needed to build a `Verifier`, already validated field by field by `config`.
pub struct Spec {
    pub algorithm: Algorithm,
    /// Key material, already decoded from its configured encoding.
    pub secrets: Vec<Secret>,
    pub signature: SignatureFormat,
    pub payload: Template,
    pub timestamp: Option<Source>,
    pub timestamp_format: TimestampFormat,
    pub event: EventFields,
}

/// How configured secret text becomes key bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SecretEncoding {
    /// The secret's UTF-8 bytes, as most vendors use them.
    #[default]
    Raw,
    Base64,
    Hex,
}

impl SecretEncoding {
    pub const NAMES: &'static [&'static str] = &["raw", "base64", "hex"];

    pub fn parse(name: &str) -> Option<SecretEncoding> {
        match name {
            "raw" => Some(SecretEncoding::Raw),
            "base64" => Some(SecretEncoding::Base64),
            "hex" => Some(SecretEncoding::Hex),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        Self::NAMES[self as usize]
    }

    /// Turns configured secret text into key bytes, after removing `prefix` (such as `whsec_`) when
    /// present.
    pub fn decode(self, prefix: Option<&str>, secret: &Secret) -> Result<Secret, String> {
        let mut text = secret.expose();
        if let Some(p) = prefix {
            text = text.strip_prefix(p.as_bytes()).unwrap_or(text);
        }
        let decoded = match self {
            SecretEncoding::Raw => return Ok(Secret::new(text.to_vec())),
            SecretEncoding::Base64 => base64::engine::general_purpose::STANDARD
                .decode(text)
                .map_err(|_| "is not valid base64"),
            SecretEncoding::Hex => hex::decode(text).map_err(|_| "is not valid hex"),
        };
        match decoded {
            Ok(bytes) if !bytes.is_empty() => Ok(Secret::new(bytes)),
            Ok(_) => Err("decodes to an empty key".to_string()),
            Err(why) => Err(match prefix {
                Some(p) => format!("{why} after the \"{p}\" prefix"),
                None => why.to_string(),
            }),
        }
    }
}

/// A route's prepared verifier.
#[derive(Debug)]
pub struct Verifier {
    algorithm: Algorithm,
    keys: Vec<Key>,
    signature: SignatureFormat,
    payload: Template,
    timestamp: Option<Source>,
    timestamp_format: TimestampFormat,
    event: EventFields,
    /// The distinct body pointers of id, type, time and timestamp, scanned in one pass.
    pointers: Vec<Pointer>,
}

impl Verifier {
    pub fn new(spec: Spec) -> Result<Verifier, String> {
        if spec.secrets.is_empty() {
            return Err("at least one secret is needed".to_string());
        }
        if spec.signature.headers.is_empty() {
            return Err("at least one signature header is needed".to_string());
        }
        if let Some(Source::Signature(key)) = &spec.timestamp
            && spec.signature.list.is_none()
        {
            return Err(format!(
                "timestamp \"signature:{key}\" needs a signature header with entries (set separator)"
            ));
        }
        if spec.payload.uses(&Piece::Timestamp) && spec.timestamp.is_none() {
            return Err("payload uses {timestamp} but no timestamp source is set".to_string());
        }
        if spec.payload.uses(&Piece::Id) && spec.event.id.is_none() {
            return Err("payload uses {id} but event.id is not set".to_string());
        }
        let mut pointers: Vec<Pointer> = Vec::new();
        let sources = [
            &spec.event.id,
            &spec.event.kind,
            &spec.event.time,
            &spec.timestamp,
        ];
        for p in sources.into_iter().flatten().filter_map(Source::as_pointer) {
            if !pointers.contains(p) {
                pointers.push(p.clone());
            }
        }
        Ok(Verifier {
            algorithm: spec.algorithm,
            keys: spec
                .secrets
                .iter()
                .map(|s| Key::new(spec.algorithm, s))
                .collect(),
            signature: spec.signature,
            payload: spec.payload,
            timestamp: spec.timestamp,
            timestamp_format: spec.timestamp_format,
            event: spec.event,
            pointers,
        })
    }

    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }
    pub fn signature(&self) -> &SignatureFormat {
        &self.signature
    }
    pub fn payload(&self) -> &Template {
        &self.payload
    }
    pub fn timestamp(&self) -> Option<&Source> {
        self.timestamp.as_ref()
    }
    pub fn event(&self) -> &EventFields {
        &self.event
    }
    pub fn key_count(&self) -> usize {
        self.keys.len()
    }

    /// Checks the delivery and, when it is genuine, extracts the event it carries.
    pub fn verify(&self, parts: &Parts, body: Bytes) -> Result<Verified, VerifyError> {
        let presented = self.presented(&parts.headers)?;
        let content_type = parts.headers.get(http::header::CONTENT_TYPE).cloned();
        let scan_needed = !self.pointers.is_empty() || is_json(content_type.as_ref());

        // The signed content may name the timestamp or id; find them first, from the body only when
        // the template needs them before the MAC (otherwise the body is parsed after it verifies, so
        // forged requests cost one MAC and no parsing).
        let body_first = self.payload.pieces().iter().any(|p| {
            (*p == Piece::Timestamp && matches!(self.timestamp, Some(Source::Body(_))))
                || (*p == Piece::Id && matches!(self.event.id, Some(Source::Body(_))))
        });
        let mut scanned = body_first.then(|| self.scan(&body));
        let ctx = Context {
            parts,
            presented: &presented,
            scanned: scanned.as_ref(),
            pointers: &self.pointers,
        };
        let timestamp_raw = self.timestamp.as_ref().and_then(|s| ctx.lookup(s));
        let id_raw = self.event.id.as_ref().and_then(|s| ctx.lookup(s));

        self.check_mac(
            &presented,
            &Inputs {
                headers: &parts.headers,
                body: &body,
                timestamp: timestamp_raw.as_deref(),
                id: id_raw.as_deref(),
            },
        )?;

        if scanned.is_none() && scan_needed {
            scanned = Some(self.scan(&body));
        }
        let ctx = Context {
            parts,
            presented: &presented,
            scanned: scanned.as_ref(),
            pointers: &self.pointers,
        };
        let signed_at = match &self.timestamp {
            None => None,
            Some(source) => {
                let raw = ctx.lookup(source).ok_or(VerifyError::MissingTimestamp)?;
                Some(timestamp::parse(&raw).ok_or(VerifyError::MalformedTimestamp)?)
            }
        };
        let field = |s: &Option<Source>| s.as_ref().and_then(|s| ctx.lookup(s));
        let (id, id_is_body_hash) = match field(&self.event.id) {
            Some(id) if !id.is_empty() => (id.into_owned(), false),
            _ => (body_hash(&body), true),
        };
        let kind = field(&self.event.kind).map(Cow::into_owned);
        let time = field(&self.event.time).and_then(|t| timestamp::parse(&t));
        let json = matches!(scanned, Some(Ok(_)));
        Ok(Verified {
            body,
            id,
            id_is_body_hash,
            kind,
            time,
            signed_at,
            content_type,
            json,
        })
    }

    fn scan(&self, body: &[u8]) -> Result<Vec<Option<String>>, serde_json::Error> {
        let refs: Vec<&Pointer> = self.pointers.iter().collect();
        json::scan(body, &refs)
    }

    /// Collects the signatures the sender presented (and the fields of a composite header).
    fn presented<'h>(&self, headers: &'h HeaderMap) -> Result<Presented<'h>, VerifyError> {
        let mut out = Presented::default();
        let mut seen_header = false;
        for name in &self.signature.headers {
            for value in headers.get_all(name) {
                seen_header = true;
                let Ok(text) = value.to_str() else { continue };
                match &self.signature.list {
                    None => out.push_signature(text, &self.signature),
                    Some(list) => {
                        for entry in text.split(list.separator.as_str()).take(4 * MAX_CANDIDATES) {
                            let Some((k, v)) = entry.trim().split_once(list.kv_separator.as_str())
                            else {
                                continue;
                            };
                            if k == list.signature_key {
                                out.push_signature(v, &self.signature);
                            } else if !out.fields.iter().any(|(seen, _)| *seen == k) {
                                out.fields.push((k, v));
                            }
                        }
                    }
                }
            }
        }
        if !seen_header {
            return Err(VerifyError::MissingSignature);
        }
        // Signatures that decode to the wrong length cannot match; treating them as malformed gives the
        // operator a more useful reason than "invalid".
        let want = self.algorithm.tag_len();
        out.signatures.retain(|s| s.len() == want);
        if out.signatures.is_empty() {
            return Err(VerifyError::MalformedSignature);
        }
        Ok(out)
    }

    fn check_mac(&self, presented: &Presented<'_>, inputs: &Inputs<'_>) -> Result<(), VerifyError> {
        for key in &self.keys {
            let tag = self.compute(key, inputs)?;
            // Every presented signature is compared; each comparison is constant-time.
            if presented.signatures.iter().any(|s| tag.matches(s)) {
                return Ok(());
            }
        }
        Err(VerifyError::InvalidSignature)
    }

    fn compute(&self, key: &Key, inputs: &Inputs<'_>) -> Result<mac::Tag, VerifyError> {
        let mut mac = key.start();
        for piece in self.payload.pieces() {
            match piece {
                Piece::Literal(bytes) => mac.update(bytes),
                Piece::Body => mac.update(inputs.body),
                Piece::Timestamp => mac.update(
                    inputs
                        .timestamp
                        .ok_or(VerifyError::MissingTimestamp)?
                        .as_bytes(),
                ),
                Piece::Id => {
                    mac.update(inputs.id.ok_or(VerifyError::MalformedSignature)?.as_bytes())
                }
                Piece::Header(name) => {
                    let value = inputs
                        .headers
                        .get(name)
                        .ok_or(VerifyError::MalformedSignature)?;
                    mac.update(value.as_bytes())
                }
            }
        }
        Ok(mac.finish())
    }

    /// Produces the headers a genuine sender would attach to `body` (for `hookgate sign`, for signing
    /// what the gateway forwards, and for tests). `id` is used where the scheme carries an id header.
    pub fn sign(
        &self,
        body: &[u8],
        id: &str,
        at: Timestamp,
    ) -> Result<Vec<(HeaderName, String)>, String> {
        let mut headers = HeaderMap::new();
        let mut out: Vec<(HeaderName, String)> = Vec::new();
        let ts_text = self.timestamp_format.format(at);
        let mut ts_in_signature = None;
        match &self.timestamp {
            Some(Source::Header(h)) => {
                out.push((h.clone(), ts_text.clone()));
            }
            Some(Source::Signature(k)) => ts_in_signature = Some(k.clone()),
            _ => {}
        }
        if let Some(Source::Header(h)) = &self.event.id {
            out.push((h.clone(), id.to_string()));
        }
        for (name, value) in &out {
            headers.insert(
                name.clone(),
                HeaderValue::from_str(value).map_err(|e| e.to_string())?,
            );
        }
        let timestamp_raw = match &self.timestamp {
            Some(Source::Body(p)) => json::scan(body, &[p])
                .ok()
                .and_then(|mut v| v.remove(0))
                .map(Cow::Owned),
            Some(_) => Some(Cow::Borrowed(ts_text.as_str())),
            None => None,
        };
        let id_raw = match &self.event.id {
            Some(Source::Body(p)) => json::scan(body, &[p]).ok().and_then(|mut v| v.remove(0)),
            _ => Some(id.to_string()),
        };
        let inputs = Inputs {
            headers: &headers,
            body,
            timestamp: timestamp_raw.as_deref(),
            id: id_raw.as_deref(),
        };
        let tag = self.compute(&self.keys[0], &inputs).map_err(|e| match e {
            VerifyError::MissingTimestamp => {
                "the body does not contain the signed timestamp field".to_string()
            }
            _ => format!(
                "the signed content \"{}\" names a header this tool cannot fill in",
                self.payload
            ),
        })?;
        let sig = format!(
            "{}{}",
            self.signature.prefix,
            self.signature.encoding.encode(tag.as_bytes())
        );
        let value = match &self.signature.list {
            None => sig,
            Some(list) => {
                let mut v = String::new();
                if let Some(k) = ts_in_signature {
                    v = format!("{k}{}{ts_text}{}", list.kv_separator, list.separator);
                }
                v + &list.signature_key + &list.kv_separator + &sig
            }
        };
        out.push((self.signature.headers[0].clone(), value));
        Ok(out)
    }
}

/// The signatures and composite-header fields a sender presented.
#[derive(Default)]
struct Presented<'h> {
    signatures: Vec<Vec<u8>>,
    fields: Vec<(&'h str, &'h str)>,
}

impl Presented<'_> {
    fn push_signature(&mut self, text: &str, format: &SignatureFormat) {
        if self.signatures.len() >= MAX_CANDIDATES {
            return;
        }
        let text = text.trim();
        let Some(text) = text.strip_prefix(format.prefix.as_str()) else {
            return;
        };
        if let Some(bytes) = format.encoding.decode(text) {
            self.signatures.push(bytes);
        }
    }
}

/// The values a signed-content template can name.
struct Inputs<'a> {
    headers: &'a HeaderMap,
    body: &'a [u8],
    timestamp: Option<&'a str>,
    id: Option<&'a str>,
}

/// Looks values up by `Source` in one request. Values from the head borrow from it (`'h`); values from
/// the scanned body are copied out.
#[derive(Clone, Copy)]
struct Context<'h, 's> {
    parts: &'h Parts,
    presented: &'h Presented<'h>,
    scanned: Option<&'s Result<Vec<Option<String>>, serde_json::Error>>,
    pointers: &'s [Pointer],
}

impl<'h> Context<'h, '_> {
    fn lookup(&self, source: &Source) -> Option<Cow<'h, str>> {
        match source {
            Source::Header(h) => self
                .parts
                .headers
                .get(h)
                .and_then(|v| v.to_str().ok())
                .map(|s| Cow::Borrowed(s.trim())),
            Source::Signature(k) => self
                .presented
                .fields
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| Cow::Borrowed(v.trim())),
            Source::Query(name) => {
                let query = self.parts.uri.query()?;
                form_urlencoded::parse(query.as_bytes())
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| Cow::Owned(v.into_owned()))
            }
            Source::Body(p) => {
                let index = self.pointers.iter().position(|q| q == p)?;
                let found = self.scanned?.as_ref().ok()?.get(index)?.as_ref()?;
                Some(Cow::Owned(found.clone()))
            }
        }
    }
}

/// The result of a successful verification: the raw body and the event it carries. Only this module
/// can construct one, so only verified bytes can become an envelope.
#[derive(Debug, Clone)]
pub struct Verified {
    body: Bytes,
    id: String,
    id_is_body_hash: bool,
    kind: Option<String>,
    time: Option<Timestamp>,
    signed_at: Option<Timestamp>,
    content_type: Option<HeaderValue>,
    json: bool,
}

impl Verified {
    pub fn body(&self) -> &Bytes {
        &self.body
    }
    /// The vendor's event id, or the hex SHA-256 of the body when the vendor has none.
    pub fn id(&self) -> &str {
        &self.id
    }
    pub fn id_is_body_hash(&self) -> bool {
        self.id_is_body_hash
    }
    pub fn kind(&self) -> Option<&str> {
        self.kind.as_deref()
    }
    pub fn time(&self) -> Option<Timestamp> {
        self.time
    }
    /// The timestamp the signature covers, when the scheme has one.
    pub fn signed_at(&self) -> Option<Timestamp> {
        self.signed_at
    }
    pub fn content_type(&self) -> Option<&HeaderValue> {
        self.content_type.as_ref()
    }
    /// True when the body was checked to be exactly one JSON document.
    pub fn is_json(&self) -> bool {
        self.json
    }

    /// A verified value for tests of the modules downstream of verification.
    #[cfg(test)]
    pub fn for_test(body: &str, id: &str, kind: Option<&str>, content_type: &str) -> Verified {
        Verified {
            body: Bytes::from(body.to_string()),
            id: id.to_string(),
            id_is_body_hash: false,
            kind: kind.map(str::to_string),
            time: None,
            signed_at: None,
            content_type: HeaderValue::from_str(content_type).ok(),
            json: json::scan(body.as_bytes(), &[]).is_ok(),
        }
    }
}

/// The event id of a vendor that has none: the hex SHA-256 of the raw body.
pub fn body_hash(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

/// True for `application/json`, `text/json` and any `+json` media type.
pub fn is_json(content_type: Option<&HeaderValue>) -> bool {
    let Some(value) = content_type.and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or("").trim();
    essence.eq_ignore_ascii_case("application/json")
        || essence.eq_ignore_ascii_case("text/json")
        || essence
            .rsplit_once('+')
            .is_some_and(|(_, suffix)| suffix.eq_ignore_ascii_case("json"))
}

#[cfg(test)]
mod tests;
