//! Verification: does this delivery carry a valid signature from the vendor, and what event is it?
//!
//! `Verifier::verify(parts, body)` is pure: it reads the request head and the raw body bytes, does no
//! I/O and never reads the clock (the replay window is checked by `replay` with an explicit `now`). It
//! returns a `Verified`, the only value the envelope can be built from, so nothing unverified can be
//! forwarded. Schemes are code — MACs, keyed digests, shared tokens, Basic credentials, Ed25519, ECDSA
//! P-256, RSA and JSON Web Tokens — and vendors are data (`presets`). This module knows nothing about
//! status codes, routes or sockets.

pub mod coverage;
pub mod json;
pub mod keys;
pub mod mac;
pub mod request;
pub mod source;
pub mod template;
pub mod timestamp;

pub use keys::{KeyKind, PublicKey};
pub use mac::{Decoded, Encoding, Key};
pub use source::{Pointer, Source};
pub use template::{Piece, Template};

use crate::secret::Secret;
use base64::Engine;
use bytes::Bytes;
use constant_time_eq::constant_time_eq;
use http::{HeaderMap, HeaderName, HeaderValue, request::Parts};
use jiff::Timestamp;
use request::{Inputs, Missing, Request, Scanned};
use sha2::{Digest, Sha256};
use smallvec::SmallVec;
use std::borrow::Cow;

/// At most this many signature candidates are examined per request, however many a sender presents.
const MAX_CANDIDATES: usize = 16;

/// Why a delivery failed verification. The text is for logs; senders get the fixed sentence from the
/// status table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("no signature was sent")]
    MissingSignature,
    #[error("the signature could not be parsed or decoded, or a part it must cover is missing")]
    MalformedSignature,
    #[error("no configured key produces or accepts the presented signature")]
    InvalidSignature,
    #[error("the signed timestamp is missing")]
    MissingTimestamp,
    #[error("the signed timestamp is not a time")]
    MalformedTimestamp,
}

/// How the vendor proves a delivery is genuine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    HmacSha1,
    HmacSha256,
    HmacSha512,
    /// A plain SHA-1 digest of content that includes `{secret}`.
    Sha1,
    /// A plain SHA-256 digest of content that includes `{secret}`.
    Sha256,
    /// The presented value is the shared secret itself.
    Token,
    /// HTTP Basic credentials equal to a secret written `user:password`.
    Basic,
    Ed25519,
    EcdsaP256Sha256,
    RsaSha256,
    /// A JSON Web Token signed with a secret (HS*) or a public key.
    Jwt,
}

impl Algorithm {
    pub const NAMES: &'static [&'static str] = &[
        "hmac-sha1",
        "hmac-sha256",
        "hmac-sha512",
        "sha1",
        "sha256",
        "token",
        "basic",
        "ed25519",
        "ecdsa-p256-sha256",
        "rsa-sha256",
        "jwt",
    ];
    const ALL: [Algorithm; 11] = [
        Algorithm::HmacSha1,
        Algorithm::HmacSha256,
        Algorithm::HmacSha512,
        Algorithm::Sha1,
        Algorithm::Sha256,
        Algorithm::Token,
        Algorithm::Basic,
        Algorithm::Ed25519,
        Algorithm::EcdsaP256Sha256,
        Algorithm::RsaSha256,
        Algorithm::Jwt,
    ];

    pub fn parse(name: &str) -> Option<Algorithm> {
        Self::NAMES
            .iter()
            .position(|n| *n == name)
            .map(|i| Self::ALL[i])
    }

    pub fn name(self) -> &'static str {
        Self::NAMES[Self::ALL.iter().position(|a| *a == self).unwrap_or(0)]
    }

    fn hmac(self) -> Option<mac::Algorithm> {
        match self {
            Algorithm::HmacSha1 => Some(mac::Algorithm::HmacSha1),
            Algorithm::HmacSha256 => Some(mac::Algorithm::HmacSha256),
            Algorithm::HmacSha512 => Some(mac::Algorithm::HmacSha512),
            _ => None,
        }
    }

    /// The kind of public key the scheme verifies with, for asymmetric schemes.
    pub fn key_kind(self) -> Option<KeyKind> {
        match self {
            Algorithm::Ed25519 => Some(KeyKind::Ed25519),
            Algorithm::EcdsaP256Sha256 => Some(KeyKind::P256),
            Algorithm::RsaSha256 => Some(KeyKind::Rsa),
            _ => None,
        }
    }

    /// Whether the scheme signs a content template (tokens, Basic credentials and JWTs do not).
    pub fn signs_template(self) -> bool {
        !matches!(self, Algorithm::Token | Algorithm::Basic | Algorithm::Jwt)
    }

    /// The decoded length of a valid signature, where the scheme fixes it.
    fn signature_len(self) -> Option<usize> {
        match self {
            Algorithm::HmacSha1 | Algorithm::Sha1 => Some(20),
            Algorithm::HmacSha256 | Algorithm::Sha256 => Some(32),
            Algorithm::HmacSha512 => Some(64),
            Algorithm::Ed25519 => Some(64),
            _ => None,
        }
    }
}

/// How a signature header that carries several `key=value` entries is split
/// (`t=1,v1=abc,v1=def`, `ts=1;h1=abc`, `v1,abc v1,def`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListFormat {
    /// Between entries: `","`, `";"`, `" "`; every character listed separates (`", "` splits on
    /// commas and on spaces).
    pub separator: String,
    /// Between an entry's key and value (the first occurrence): `"="` or `","`.
    pub kv_separator: String,
    /// Entries with this key are signatures; any one that verifies suffices.
    pub signature_key: String,
}

/// Where and how the signature travels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureFormat {
    /// Headers, body fields or query parameters that may carry it (Box sends two headers).
    pub sources: Vec<Source>,
    /// Stripped from each signature before decoding (`"sha256="`, `"Bearer "`).
    pub prefix: String,
    pub encoding: Encoding,
    pub list: Option<ListFormat>,
}

impl SignatureFormat {
    /// The headers that may carry the signature.
    pub fn headers(&self) -> impl Iterator<Item = &HeaderName> {
        self.sources.iter().filter_map(|s| match s {
            Source::Header(h) => Some(h),
            _ => None,
        })
    }
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

/// Where the event's id, type and time live; each may list alternatives, the first present wins.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFields {
    /// Empty: the SHA-256 of the raw body.
    pub id: Vec<Source>,
    pub kind: Vec<Source>,
    pub time: Vec<Source>,
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

/// What a JSON Web Token must satisfy beyond its signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtRules {
    pub algorithm: jsonwebtoken::Algorithm,
    /// The `iss` claim required, if any.
    pub issuer: Option<String>,
    /// The claim holding the hex SHA-256 of the body, which is how JWT schemes cover the body.
    pub body_hash_claim: Option<String>,
}

/// Everything needed to build a `Verifier`, already validated field by field by `config`.
pub struct Spec {
    pub algorithm: Algorithm,
    /// Shared secrets, already decoded from their configured encoding.
    pub secrets: Vec<Secret>,
    /// Public keys, for the asymmetric schemes.
    pub public_keys: Vec<PublicKey>,
    pub jwt: Option<JwtRules>,
    pub signature: SignatureFormat,
    pub payload: Template,
    /// Where the signed timestamp is (alternatives); empty: none.
    pub timestamp: Vec<Source>,
    pub timestamp_format: TimestampFormat,
    pub event: EventFields,
    /// The URL the vendor calls, for schemes that sign it.
    pub public_url: Option<http::Uri>,
    /// Where the vendor puts the hex SHA-256 of the body, when it signs that instead of the body.
    pub body_hash: Option<Source>,
    /// A JSON array that must hold exactly one item, for vendors that sign each item of a batch
    /// separately (Adyen): a second, unsigned item would otherwise ride along.
    pub single_item: Option<Pointer>,
}

enum Keys {
    Hmac(Vec<Key>),
    Secrets(Vec<Secret>),
    Public(Vec<PublicKey>),
    Jwt(
        Vec<jsonwebtoken::DecodingKey>,
        Box<jsonwebtoken::Validation>,
    ),
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (kind, n) = match self {
            Keys::Hmac(k) => ("hmac", k.len()),
            Keys::Secrets(k) => ("secrets", k.len()),
            Keys::Public(k) => ("public", k.len()),
            Keys::Jwt(k, _) => ("jwt", k.len()),
        };
        write!(f, "Keys({kind} x{n}, <redacted>)")
    }
}

/// A route's prepared verifier.
#[derive(Debug)]
pub struct Verifier {
    algorithm: Algorithm,
    keys: Keys,
    jwt: Option<JwtRules>,
    signature: SignatureFormat,
    payload: Template,
    timestamp: Vec<Source>,
    timestamp_format: TimestampFormat,
    event: EventFields,
    body_hash: Option<Source>,
    single_item: Option<Pointer>,
    /// Timestamp headers covered only through `{signed_headers:LIST}`: they must be listed in LIST.
    listed_timestamp: Option<(HeaderName, Vec<HeaderName>)>,
    /// The distinct body pointers any part of the scheme names, scanned in one pass.
    pointers: Vec<Pointer>,
    /// The body must be scanned before the signature can be checked.
    body_first: bool,
    /// `{url}` bases to try (the second toggles the default port), and the path for `{path}`.
    urls: Vec<String>,
    path: Option<String>,
    /// For JWTs signed with a shared secret, the secret `sign` uses.
    signing_secret: Option<Secret>,
    /// For each of `event.id`'s sources, whether the signature covers it.
    id_signed: Vec<bool>,
}

impl Verifier {
    pub fn new(spec: Spec) -> Result<Verifier, String> {
        let alg = spec.algorithm;
        let keys = keys_for(&spec)?;
        if spec.signature.sources.is_empty() {
            return Err("name where the signature is (header or signature)".to_string());
        }
        for s in &spec.signature.sources {
            if matches!(s, Source::Signature(_) | Source::Claim(_)) {
                return Err(format!("the signature cannot come from \"{s}\""));
            }
        }
        let uses_claims = spec
            .timestamp
            .iter()
            .chain(&spec.event.id)
            .chain(&spec.event.kind)
            .chain(&spec.event.time)
            .any(|s| matches!(s, Source::Claim(_)));
        if uses_claims && alg != Algorithm::Jwt {
            return Err("jwt: sources exist only for the jwt algorithm".to_string());
        }
        if spec
            .timestamp
            .iter()
            .any(|s| matches!(s, Source::Signature(_)))
            && spec.signature.list.is_none()
        {
            return Err(
                "a \"signature:KEY\" timestamp needs a signature header with entries (set separator)"
                    .to_string(),
            );
        }
        let p = &spec.payload;
        if alg.signs_template() {
            if p.uses(&Piece::Timestamp) && spec.timestamp.is_empty() {
                return Err("payload uses {timestamp} but no timestamp source is set".to_string());
            }
            if p.uses(&Piece::Id) && spec.event.id.is_empty() {
                return Err("payload uses {id} but event.id is not set".to_string());
            }
            if (p.uses(&Piece::Url) || p.uses(&Piece::Path)) && spec.public_url.is_none() {
                return Err(
                    "payload signs the URL the vendor calls ({url} or {path}): set public_url to it"
                        .to_string(),
                );
            }
            let digest = matches!(alg, Algorithm::Sha1 | Algorithm::Sha256);
            if digest && !p.uses(&Piece::Secret) {
                return Err(format!(
                    "a plain {} digest proves nothing unless the payload includes {{secret}}",
                    alg.name()
                ));
            }
            if !digest && p.uses(&Piece::Secret) {
                return Err(
                    "{secret} belongs only in the payload of the sha1 and sha256 digests"
                        .to_string(),
                );
            }
        }
        let mut pointers: Vec<Pointer> = Vec::new();
        let sources = spec
            .event
            .id
            .iter()
            .chain(&spec.event.kind)
            .chain(&spec.event.time)
            .chain(&spec.timestamp)
            .chain(&spec.signature.sources)
            .chain(spec.body_hash.iter());
        let single = spec.single_item.iter();
        let fields = spec.payload.pieces().iter().filter_map(|p| match p {
            Piece::Field(p) => Some(p),
            _ => None,
        });
        for ptr in sources
            .filter_map(Source::as_pointer)
            .chain(fields)
            .chain(single)
        {
            if !pointers.contains(ptr) {
                pointers.push(ptr.clone());
            }
        }
        if pointers.len() > json::MAX_POINTERS {
            return Err(format!(
                "the scheme names {} body fields; at most {} are supported",
                pointers.len(),
                json::MAX_POINTERS
            ));
        }
        let in_body = |sources: &[Source]| sources.iter().any(|s| matches!(s, Source::Body(_)));
        let body_first = in_body(&spec.signature.sources)
            || p.pieces().iter().any(|p| matches!(p, Piece::Field(_)))
            || (p.uses(&Piece::Timestamp) && in_body(&spec.timestamp))
            || (p.uses(&Piece::Id) && in_body(&spec.event.id))
            || spec
                .body_hash
                .as_ref()
                .is_some_and(|s| matches!(s, Source::Body(_)));
        let listed_timestamp = p.pieces().iter().find_map(|piece| match piece {
            Piece::SignedHeaders(list) if !p.uses(&Piece::Timestamp) => {
                let headers: Vec<HeaderName> = spec
                    .timestamp
                    .iter()
                    .filter_map(|s| match s {
                        Source::Header(h) if !p.signs_header(h) => Some(h.clone()),
                        _ => None,
                    })
                    .collect();
                (!headers.is_empty()).then(|| (list.clone(), headers))
            }
            _ => None,
        });
        let (urls, path) = match &spec.public_url {
            Some(u) => {
                let (urls, path) = request::url_variants(u);
                (urls, Some(path))
            }
            None => (Vec::new(), None),
        };
        let id_signed = spec
            .event
            .id
            .iter()
            .map(|source| {
                coverage::uncovered(
                    alg,
                    &spec.payload,
                    spec.jwt.as_ref(),
                    source,
                    coverage::Part::Id,
                )
                .is_none()
            })
            .collect();
        Ok(Verifier {
            id_signed,
            algorithm: alg,
            keys,
            jwt: spec.jwt,
            signature: spec.signature,
            payload: spec.payload,
            timestamp: spec.timestamp,
            timestamp_format: spec.timestamp_format,
            event: spec.event,
            body_hash: spec.body_hash,
            single_item: spec.single_item,
            listed_timestamp,
            pointers,
            body_first,
            urls,
            path,
            signing_secret: spec.secrets.first().cloned(),
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
    pub fn timestamp(&self) -> &[Source] {
        &self.timestamp
    }
    pub fn event(&self) -> &EventFields {
        &self.event
    }
    /// Whether every source of the event id is covered by the signature.
    pub fn ids_signed(&self) -> bool {
        self.id_signed.iter().all(|&s| s)
    }

    pub fn key_count(&self) -> usize {
        match &self.keys {
            Keys::Hmac(k) => k.len(),
            Keys::Secrets(k) => k.len(),
            Keys::Public(k) => k.len(),
            Keys::Jwt(k, _) => k.len(),
        }
    }

    /// Whether the signature covers the whole body (always, or for form posts only when the
    /// template's only coverage is `{form_sorted}`).
    pub fn covers_body(&self) -> bool {
        match self.algorithm {
            Algorithm::Token | Algorithm::Basic => false,
            Algorithm::Jwt => self
                .jwt
                .as_ref()
                .is_some_and(|j| j.body_hash_claim.is_some()),
            _ => self.payload.covers_body() || self.body_hash.is_some(),
        }
    }

    /// Checks the delivery and, when it is genuine, extracts the event it carries.
    pub fn verify(&self, parts: &Parts, body: Bytes) -> Result<Verified, VerifyError> {
        // The body is parsed before the signature only when the scheme needs a body field to check it;
        // otherwise forged requests cost one MAC and no parsing.
        let mut scanned: Option<Scanned> = self.body_first.then(|| self.scan(&body));
        let early = Request {
            parts,
            body: &body,
            fields: &[],
            scanned: scanned.as_ref(),
            pointers: &self.pointers,
            claims: None,
        };
        let raw = self.raw_signatures(&early)?;
        let mut presented = Presented::default();
        self.split(&raw, &mut presented)?;
        let req = Request {
            fields: &presented.fields,
            ..early
        };
        let claims = self.check(&req, &presented.texts)?;
        if let Some(source) = &self.body_hash {
            let covered = self.payload.uses(&Piece::Body)
                || (self.payload.uses(&Piece::FormSorted) && request::is_form(parts));
            match req.lookup(source) {
                Some(sent) if sent.eq_ignore_ascii_case(&hex::encode(Sha256::digest(&body))) => {}
                Some(_) => return Err(VerifyError::InvalidSignature),
                None if covered => {}
                None => return Err(VerifyError::MalformedSignature),
            }
        } else if self.algorithm.signs_template()
            && !self.payload.uses(&Piece::Body)
            && self.payload.uses(&Piece::FormSorted)
            && !request::is_form(parts)
        {
            // Only form parameters are signed, and this body is not a form: nothing covers it.
            return Err(VerifyError::MalformedSignature);
        }

        let content_type = parts.headers.get(http::header::CONTENT_TYPE).cloned();
        let scan_needed = !self.pointers.is_empty() || is_json(content_type.as_ref());
        if scanned.is_none() && scan_needed {
            scanned = Some(self.scan(&body));
        }
        let req = Request {
            parts,
            body: &body,
            fields: &presented.fields,
            scanned: scanned.as_ref(),
            pointers: &self.pointers,
            claims: claims.as_ref(),
        };
        if let Some(p) = &self.single_item
            && req.lookup(&Source::Body(p.clone())).as_deref() != Some("1")
        {
            return Err(VerifyError::MalformedSignature);
        }
        if let Some((list, headers)) = &self.listed_timestamp {
            let listed = parts
                .headers
                .get(list)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            let present = headers.iter().find(|h| parts.headers.contains_key(*h));
            if let Some(h) = present
                && !listed
                    .split(',')
                    .any(|n| n.trim().eq_ignore_ascii_case(h.as_str()))
            {
                return Err(VerifyError::MalformedSignature);
            }
        }
        let signed_at = if self.timestamp.is_empty() {
            None
        } else {
            let raw = req
                .lookup_any(&self.timestamp)
                .ok_or(VerifyError::MissingTimestamp)?;
            Some(timestamp::parse(&raw).ok_or(VerifyError::MalformedTimestamp)?)
        };
        let (id, id_is_body_hash, id_signed) = match self.event_id(&req) {
            Some((id, signed)) => (id, false, signed),
            None => (EventId::Owned(body_hash(&body)), true, true),
        };
        let kind = req.lookup_any(&self.event.kind).map(Cow::into_owned);
        let time = req
            .lookup_any(&self.event.time)
            .and_then(|t| timestamp::parse(&t));
        let json = matches!(scanned, Some(Ok(_)));
        // The presented signatures borrow the request; release them before the body moves on.
        drop(presented);
        drop(raw);
        Ok(Verified {
            body,
            id,
            id_is_body_hash,
            id_signed,
            kind,
            time,
            signed_at,
            content_type,
            json,
        })
    }

    /// The vendor's event id, from the first source that has one, and whether the signature covers
    /// that source. An id header sent as is (the usual case) is shared with the request rather than
    /// copied.
    fn event_id(&self, req: &Request<'_, '_>) -> Option<(EventId, bool)> {
        self.event
            .id
            .iter()
            .zip(&self.id_signed)
            .find_map(|(source, &signed)| {
                if let Source::Header(h) = source {
                    let value = req.parts.headers.get(h)?;
                    let text = request::header_text(value)?;
                    if !text.is_empty() && text.trim_ascii().len() == text.len() {
                        return Some((EventId::Header(value.clone()), signed));
                    }
                }
                let text = req.lookup(source)?;
                (!text.is_empty()).then(|| (EventId::Owned(text.into_owned()), signed))
            })
    }

    fn scan(&self, body: &[u8]) -> Scanned {
        let refs: Vec<&Pointer> = self.pointers.iter().collect();
        json::scan(body, &refs)
    }

    /// The texts that carry the sender's signatures, as sent (headers borrowed, not copied).
    fn raw_signatures<'h>(&self, req: &Request<'h, '_>) -> Result<Texts<'h>, VerifyError> {
        let mut seen = false;
        let mut texts = Texts::new();
        for source in &self.signature.sources {
            match source {
                Source::Header(h) => {
                    for value in req.parts.headers.get_all(h) {
                        seen = true;
                        if let Some(t) = request::header_text(value) {
                            texts.push(Cow::Borrowed(t));
                        }
                    }
                }
                other => {
                    if let Some(v) = req.lookup(other) {
                        seen = true;
                        texts.push(v);
                    }
                }
            }
        }
        if !seen {
            return Err(VerifyError::MissingSignature);
        }
        Ok(texts)
    }

    /// The signatures in the presented texts (prefix removed), and the fields of composite headers.
    fn split<'t>(
        &self,
        texts: &'t [Cow<'_, str>],
        out: &mut Presented<'t>,
    ) -> Result<(), VerifyError> {
        for text in texts {
            match &self.signature.list {
                None => out.push(text, &self.signature.prefix),
                Some(list) => {
                    let separators = list.separator.as_str();
                    for entry in text
                        .split(|c| separators.contains(c))
                        .take(4 * MAX_CANDIDATES)
                    {
                        let Some((k, v)) =
                            entry.trim_ascii().split_once(list.kv_separator.as_str())
                        else {
                            continue;
                        };
                        if k == list.signature_key {
                            out.push(v, &self.signature.prefix);
                        } else if !out.fields.iter().any(|(seen, _)| *seen == k) {
                            out.fields.push((k, v));
                        }
                    }
                }
            }
        }
        if out.texts.is_empty() {
            return Err(VerifyError::MalformedSignature);
        }
        Ok(())
    }

    /// Decodes the presented signatures for a binary scheme, keeping those of a plausible length.
    fn decoded(&self, texts: &[&str]) -> Result<SmallVec<[Decoded; 1]>, VerifyError> {
        let want = self.algorithm.signature_len();
        let mut sigs: SmallVec<[Decoded; 1]> = SmallVec::new();
        for text in texts {
            if let Some(sig) = self.signature.encoding.decode_inline(text)
                && want.is_none_or(|n| sig.len() == n)
            {
                sigs.push(sig);
            }
        }
        if sigs.is_empty() {
            // Wrong-length signatures cannot match; calling them malformed helps the operator more.
            return Err(VerifyError::MalformedSignature);
        }
        Ok(sigs)
    }

    /// `{url}` bases to try: every variant when the template signs the URL, otherwise none.
    fn url_choices(&self) -> impl Iterator<Item = Option<&str>> {
        let urls: &[String] = if self.payload.uses(&Piece::Url) {
            &self.urls
        } else {
            &[]
        };
        let none = urls.is_empty().then_some(None);
        urls.iter().map(|u| Some(u.as_str())).chain(none)
    }

    fn inputs<'a>(
        &'a self,
        timestamp: Option<&'a str>,
        id: Option<&'a str>,
        url: Option<&'a str>,
        secret: Option<&'a Secret>,
    ) -> Inputs<'a> {
        Inputs {
            timestamp,
            id,
            url,
            path: self.path.as_deref(),
            secret,
        }
    }

    /// Checks the presented signatures against every key. Returns the token's claims for JWTs.
    fn check(
        &self,
        req: &Request<'_, '_>,
        texts: &[&str],
    ) -> Result<Option<serde_json::Map<String, serde_json::Value>>, VerifyError> {
        // Only what the signed content names is looked up here; the event's fields come later.
        let signed = |piece: Piece, sources: &[Source]| {
            self.payload
                .uses(&piece)
                .then(|| req.lookup_any(sources))
                .flatten()
        };
        let timestamp = signed(Piece::Timestamp, &self.timestamp);
        let id = signed(Piece::Id, &self.event.id);
        let (ts, id) = (timestamp.as_deref(), id.as_deref());
        let missing = |m: Missing| match m {
            Missing::Timestamp => VerifyError::MissingTimestamp,
            Missing::Other => VerifyError::MalformedSignature,
        };
        let feed = |inputs: &Inputs<'_>, sink: &mut dyn FnMut(&[u8])| {
            request::feed(&self.payload, req, inputs, sink).map_err(missing)
        };
        match &self.keys {
            Keys::Hmac(keys) => {
                let sigs = self.decoded(texts)?;
                for key in keys {
                    for url in self.url_choices() {
                        let inputs = self.inputs(ts, id, url, None);
                        if key.matches_any(&sigs, |sink| feed(&inputs, sink))? {
                            return Ok(None);
                        }
                    }
                }
            }
            Keys::Secrets(secrets) => match self.algorithm {
                Algorithm::Sha1 | Algorithm::Sha256 => {
                    let sigs = self.decoded(texts)?;
                    for secret in secrets {
                        for url in self.url_choices() {
                            let inputs = self.inputs(ts, id, url, Some(secret));
                            let digest = if self.algorithm == Algorithm::Sha1 {
                                let mut h = sha1::Sha1::new();
                                feed(&inputs, &mut |b| h.update(b))?;
                                h.finalize().to_vec()
                            } else {
                                let mut h = Sha256::new();
                                feed(&inputs, &mut |b| h.update(b))?;
                                h.finalize().to_vec()
                            };
                            if sigs.iter().any(|s| constant_time_eq(&digest, s.as_bytes())) {
                                return Ok(None);
                            }
                        }
                    }
                }
                Algorithm::Token => {
                    for text in texts {
                        if secrets.iter().any(|s| same_secret(text.as_bytes(), s)) {
                            return Ok(None);
                        }
                    }
                }
                _ => {
                    // Basic: "Basic base64(user:password)".
                    let mut decodable = false;
                    for text in texts {
                        let Some(credentials) = basic_credentials(text) else {
                            continue;
                        };
                        decodable = true;
                        if secrets.iter().any(|s| same_secret(&credentials, s)) {
                            return Ok(None);
                        }
                    }
                    if !decodable {
                        return Err(VerifyError::MalformedSignature);
                    }
                }
            },
            Keys::Public(keys) => {
                let sigs = self.decoded(texts)?;
                for url in self.url_choices() {
                    let inputs = self.inputs(ts, id, url, None);
                    if self.check_public(keys, &sigs, &inputs, req)? {
                        return Ok(None);
                    }
                }
            }
            Keys::Jwt(keys, validation) => {
                use jsonwebtoken::errors::ErrorKind;
                let mut parsed = false;
                for text in texts {
                    for key in keys {
                        match jsonwebtoken::decode::<serde_json::Map<String, serde_json::Value>>(
                            text.trim(),
                            key,
                            validation,
                        ) {
                            Ok(data) => {
                                return self.check_claims(data.claims, req.body).map(Some);
                            }
                            Err(e) => {
                                let unreadable = matches!(
                                    e.kind(),
                                    ErrorKind::InvalidToken
                                        | ErrorKind::Base64(_)
                                        | ErrorKind::Json(_)
                                        | ErrorKind::Utf8(_)
                                );
                                parsed |= !unreadable;
                            }
                        }
                    }
                }
                if !parsed {
                    // Nothing presented was even a token: the sender is misconfigured, not wrong-keyed.
                    return Err(VerifyError::MalformedSignature);
                }
            }
        }
        Err(VerifyError::InvalidSignature)
    }

    fn check_public(
        &self,
        keys: &[PublicKey],
        sigs: &[Decoded],
        inputs: &Inputs<'_>,
        req: &Request<'_, '_>,
    ) -> Result<bool, VerifyError> {
        use p256::ecdsa::signature::DigestVerifier;
        let feed = |sink: &mut dyn FnMut(&[u8])| {
            request::feed(&self.payload, req, inputs, sink).map_err(|m| match m {
                Missing::Timestamp => VerifyError::MissingTimestamp,
                Missing::Other => VerifyError::MalformedSignature,
            })
        };
        match self.algorithm {
            Algorithm::Ed25519 => {
                // Ed25519 signs the message itself, not a digest, so it has to be assembled.
                let mut message = Vec::with_capacity(req.body.len() + 64);
                feed(&mut |b| message.extend_from_slice(b))?;
                for sig in sigs {
                    let Ok(sig) = ed25519_dalek::Signature::from_slice(sig.as_bytes()) else {
                        continue;
                    };
                    for key in keys {
                        if let PublicKey::Ed25519(k) = key
                            && k.verify_strict(&message, &sig).is_ok()
                        {
                            return Ok(true);
                        }
                    }
                }
            }
            Algorithm::EcdsaP256Sha256 => {
                let mut digest = Sha256::new();
                feed(&mut |b| digest.update(b))?;
                for sig in sigs {
                    let parsed = p256::ecdsa::Signature::from_der(sig.as_bytes())
                        .or_else(|_| p256::ecdsa::Signature::from_slice(sig.as_bytes()));
                    let Ok(sig) = parsed else { continue };
                    for key in keys {
                        if let PublicKey::P256(k) = key
                            && k.verify_digest(digest.clone(), &sig).is_ok()
                        {
                            return Ok(true);
                        }
                    }
                }
            }
            Algorithm::RsaSha256 => {
                let mut digest = Sha256::new();
                feed(&mut |b| digest.update(b))?;
                for sig in sigs {
                    let Ok(sig) = rsa::pkcs1v15::Signature::try_from(sig.as_bytes()) else {
                        continue;
                    };
                    for key in keys {
                        if let PublicKey::Rsa(k) = key
                            && k.verify_digest(digest.clone(), &sig).is_ok()
                        {
                            return Ok(true);
                        }
                    }
                }
            }
            _ => {}
        }
        Ok(false)
    }

    /// A verified token's claims must also name the body (when the scheme says so) and the issuer.
    fn check_claims(
        &self,
        claims: serde_json::Map<String, serde_json::Value>,
        body: &[u8],
    ) -> Result<serde_json::Map<String, serde_json::Value>, VerifyError> {
        let Some(rules) = &self.jwt else {
            return Ok(claims);
        };
        if let Some(claim) = &rules.body_hash_claim {
            let expected = hex::encode(Sha256::digest(body));
            match claims.get(claim).and_then(|v| v.as_str()) {
                Some(sent) if sent.eq_ignore_ascii_case(&expected) => {}
                Some(_) => return Err(VerifyError::InvalidSignature),
                None => return Err(VerifyError::MalformedSignature),
            }
        }
        Ok(claims)
    }

    /// Produces the headers a genuine sender would attach to `body` (for `hookgate sign`, for signing
    /// what the gateway forwards, and for tests). `id` is used where the scheme carries an id header.
    pub fn sign(
        &self,
        body: &[u8],
        id: &str,
        at: Timestamp,
    ) -> Result<Vec<(HeaderName, String)>, String> {
        let Some(Source::Header(sig_header)) = self.signature.sources.first() else {
            return Err("this vendor sends its signature in the body or the URL; hookgate sign only produces headers".to_string());
        };
        let mut headers = HeaderMap::new();
        let mut out: Vec<(HeaderName, String)> = Vec::new();
        let ts_text = self.timestamp_format.format(at);
        let mut ts_in_signature = None;
        match self.timestamp.first() {
            Some(Source::Header(h)) => out.push((h.clone(), ts_text.clone())),
            Some(Source::Signature(k)) => ts_in_signature = Some(k.clone()),
            _ => {}
        }
        if let Some(Source::Header(h)) = self.event.id.first() {
            out.push((h.clone(), id.to_string()));
        }
        for (name, value) in &out {
            headers.insert(
                name.clone(),
                HeaderValue::from_str(value).map_err(|e| e.to_string())?,
            );
        }
        let mut request = http::Request::builder().method("POST").uri("/");
        for (name, value) in &headers {
            request = request.header(name, value);
        }
        let (parts, ()) = request.body(()).map_err(|e| e.to_string())?.into_parts();
        let scanned = Some(self.scan(body));
        let req = Request {
            parts: &parts,
            body,
            fields: &[],
            scanned: scanned.as_ref(),
            pointers: &self.pointers,
            claims: None,
        };
        let timestamp_raw = match self.timestamp.first() {
            Some(Source::Body(p)) => req.lookup(&Source::Body(p.clone())),
            Some(_) => Some(Cow::Borrowed(ts_text.as_str())),
            None => None,
        };
        let id_raw = match self.event.id.first() {
            Some(Source::Body(p)) => req.lookup(&Source::Body(p.clone())),
            _ => Some(Cow::Borrowed(id)),
        };
        let url = self.urls.first().map(String::as_str);
        let cannot = |m: Missing| match m {
            Missing::Timestamp => {
                "the body does not contain the signed timestamp field".to_string()
            }
            Missing::Other => format!(
                "the signed content \"{}\" names something this tool cannot fill in",
                self.payload
            ),
        };
        let encoded = match &self.keys {
            Keys::Hmac(keys) => {
                let mut mac = keys[0].start();
                let inputs = self.inputs(timestamp_raw.as_deref(), id_raw.as_deref(), url, None);
                request::feed(&self.payload, &req, &inputs, &mut |b| mac.update(b))
                    .map_err(cannot)?;
                self.signature.encoding.encode(mac.finish().as_bytes())
            }
            Keys::Secrets(secrets) => match self.algorithm {
                Algorithm::Sha1 | Algorithm::Sha256 => {
                    let inputs = self.inputs(
                        timestamp_raw.as_deref(),
                        id_raw.as_deref(),
                        url,
                        Some(&secrets[0]),
                    );
                    let digest = if self.algorithm == Algorithm::Sha1 {
                        let mut h = sha1::Sha1::new();
                        request::feed(&self.payload, &req, &inputs, &mut |b| h.update(b))
                            .map_err(cannot)?;
                        h.finalize().to_vec()
                    } else {
                        let mut h = Sha256::new();
                        request::feed(&self.payload, &req, &inputs, &mut |b| h.update(b))
                            .map_err(cannot)?;
                        h.finalize().to_vec()
                    };
                    self.signature.encoding.encode(&digest)
                }
                Algorithm::Token => String::from_utf8_lossy(secrets[0].expose()).into_owned(),
                _ => format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(secrets[0].expose())
                ),
            },
            Keys::Public(_) => {
                return Err("this vendor signs with a private key that only it holds".to_string());
            }
            Keys::Jwt(..) => self.sign_jwt(body, at)?,
        };
        let sig = if self.algorithm == Algorithm::Basic {
            encoded
        } else {
            format!("{}{encoded}", self.signature.prefix)
        };
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
        out.push((sig_header.clone(), value));
        Ok(out)
    }

    fn sign_jwt(&self, body: &[u8], at: Timestamp) -> Result<String, String> {
        let Some(rules) = &self.jwt else {
            return Err("the jwt rules are missing".to_string());
        };
        let Keys::Jwt(..) = &self.keys else {
            return Err("not a JWT scheme".to_string());
        };
        let secret = self.signing_secret.as_ref().ok_or_else(|| {
            "this vendor signs its tokens with a private key that only it holds".to_string()
        })?;
        let mut claims = serde_json::Map::new();
        claims.insert("iat".into(), at.as_second().into());
        if let Some(iss) = &rules.issuer {
            claims.insert("iss".into(), iss.clone().into());
        }
        if let Some(claim) = &rules.body_hash_claim {
            claims.insert(claim.clone(), hex::encode(Sha256::digest(body)).into());
        }
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(rules.algorithm),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(secret.expose()),
        )
        .map_err(|e| e.to_string())
    }
}

/// Builds the prepared keys for a spec, checking that the right kind of key material is present.
fn keys_for(spec: &Spec) -> Result<Keys, String> {
    let alg = spec.algorithm;
    let need_secrets = || {
        if spec.secrets.is_empty() {
            Err("at least one secret is needed".to_string())
        } else {
            Ok(())
        }
    };
    if let Some(hmac) = alg.hmac() {
        need_secrets()?;
        return Ok(Keys::Hmac(
            spec.secrets.iter().map(|s| Key::new(hmac, s)).collect(),
        ));
    }
    match alg {
        Algorithm::Sha1 | Algorithm::Sha256 | Algorithm::Token | Algorithm::Basic => {
            need_secrets()?;
            Ok(Keys::Secrets(spec.secrets.clone()))
        }
        Algorithm::Ed25519 | Algorithm::EcdsaP256Sha256 | Algorithm::RsaSha256 => {
            if spec.public_keys.is_empty() {
                return Err(format!("{} verifies with public_key; set it", alg.name()));
            }
            Ok(Keys::Public(spec.public_keys.clone()))
        }
        _ => {
            let rules = spec
                .jwt
                .as_ref()
                .ok_or_else(|| "the jwt algorithm needs jwt_algorithm".to_string())?;
            use jsonwebtoken::Algorithm as J;
            let keys: Vec<jsonwebtoken::DecodingKey> = match rules.algorithm {
                J::HS256 | J::HS384 | J::HS512 => {
                    need_secrets()?;
                    spec.secrets
                        .iter()
                        .map(|s| jsonwebtoken::DecodingKey::from_secret(s.expose()))
                        .collect()
                }
                _ => {
                    if spec.public_keys.is_empty() {
                        return Err(
                            "this jwt_algorithm verifies with public_key; set it".to_string()
                        );
                    }
                    spec.public_keys
                        .iter()
                        .map(jwt_key)
                        .collect::<Result<_, _>>()?
                }
            };
            let mut validation = jsonwebtoken::Validation::new(rules.algorithm);
            // Vendors differ in which registered claims they send; exp and nbf are checked when present,
            // and the time window is the route's job.
            validation.required_spec_claims.clear();
            validation.validate_aud = false;
            if let Some(iss) = &rules.issuer {
                validation.set_issuer(&[iss]);
                validation.required_spec_claims.insert("iss".to_string());
            }
            Ok(Keys::Jwt(keys, Box::new(validation)))
        }
    }
}

fn jwt_key(key: &PublicKey) -> Result<jsonwebtoken::DecodingKey, String> {
    match key {
        PublicKey::P256(k) => Ok(jsonwebtoken::DecodingKey::from_ec_der(
            k.to_encoded_point(false).as_bytes(),
        )),
        PublicKey::Ed25519(k) => Ok(jsonwebtoken::DecodingKey::from_ed_der(k.as_bytes())),
        PublicKey::Rsa(k) => {
            use rsa::pkcs1::EncodeRsaPublicKey;
            let public: &rsa::RsaPublicKey = k.as_ref().as_ref();
            let der = public.to_pkcs1_der().map_err(|e| e.to_string())?;
            Ok(jsonwebtoken::DecodingKey::from_rsa_der(der.as_bytes()))
        }
    }
}

/// Constant-time equality of a presented value and a secret, hiding the secret's length.
fn same_secret(presented: &[u8], secret: &Secret) -> bool {
    constant_time_eq(&Sha256::digest(presented), &Sha256::digest(secret.expose()))
}

/// The `user:password` of an `Authorization: Basic ...` value.
fn basic_credentials(value: &str) -> Option<Vec<u8>> {
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()
}

/// The signatures (as text, prefix removed) and composite-header fields a sender presented, borrowed
/// from the request.
#[derive(Default)]
struct Presented<'t> {
    texts: SmallVec<[&'t str; 2]>,
    fields: SmallVec<[(&'t str, &'t str); 3]>,
}

/// The texts that carry signatures, as sent: usually one header value.
type Texts<'h> = SmallVec<[Cow<'h, str>; 2]>;

impl<'t> Presented<'t> {
    fn push(&mut self, text: &'t str, prefix: &str) {
        if self.texts.len() >= MAX_CANDIDATES {
            return;
        }
        if let Some(rest) = text.trim_ascii().strip_prefix(prefix)
            && !rest.is_empty()
        {
            self.texts.push(rest);
        }
    }
}

/// An event id: a header value shared with the request, or text taken from elsewhere.
#[derive(Debug, Clone)]
enum EventId {
    Header(HeaderValue),
    Owned(String),
}

/// The result of a successful verification: the raw body and the event it carries. Only this module
/// can construct one, so only verified bytes can become an envelope.
#[derive(Debug, Clone)]
pub struct Verified {
    body: Bytes,
    id: EventId,
    id_is_body_hash: bool,
    /// The id came from a part the signature covers (or is the body hash).
    id_signed: bool,
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
        match &self.id {
            // Checked to be UTF-8 when it was taken from the request.
            EventId::Header(value) => request::header_text(value).unwrap_or_default(),
            EventId::Owned(text) => text,
        }
    }
    pub fn id_is_body_hash(&self) -> bool {
        self.id_is_body_hash
    }
    /// Whether the id came from a part the signature covers; when it did not, a replay can carry any
    /// id, so deduplication also keys the event by its signed content.
    pub fn id_is_signed(&self) -> bool {
        self.id_signed
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
            id: EventId::Owned(id.to_string()),
            id_is_body_hash: false,
            id_signed: true,
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
    let Some(value) = content_type else {
        return false;
    };
    // The media type before any parameters, compared as bytes (this runs on every request).
    let bytes = value.as_bytes();
    let end = bytes.iter().position(|&b| b == b';').unwrap_or(bytes.len());
    let essence = bytes[..end].trim_ascii();
    essence.eq_ignore_ascii_case(b"application/json")
        || essence.eq_ignore_ascii_case(b"text/json")
        || (essence.len() > 5 && essence[essence.len() - 5..].eq_ignore_ascii_case(b"+json"))
}

#[cfg(test)]
mod tests;
