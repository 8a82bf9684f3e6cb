//! Verification: does this delivery carry a valid signature from the vendor, and what event is it?
//!
//! `Verifier::verify(parts, body)` is pure: it reads the request head and the raw body bytes, does no
//! I/O and never reads the clock (the replay window is checked by `replay` with an explicit `now`). It
//! returns a `Verified`, the only value the envelope can be built from, so nothing unverified can be
//! forwarded. Schemes are code — MACs, keyed digests, shared tokens, Basic credentials, Ed25519, ECDSA
//! P-256, RSA and JSON Web Tokens — and vendors are data (`presets`). This module knows nothing about
//! status codes, routes or sockets.
//!
//! Here: `Verifier` (built from a `spec::Spec`) and `verify`, the steps top to bottom. Around it:
//! `check` compares what the sender presented with what the keys produce, `sign` is the inverse,
//! `verified` is the result; `request`, `source`, `template`, `json`, `coverage`, `mac`, `keys` and
//! `timestamp` are the parts those are made of.

mod check;
pub mod coverage;
pub mod json;
pub mod keys;
pub mod keyset;
pub mod mac;
pub mod request;
mod sign;
pub mod source;
mod spec;
pub mod template;
pub mod timestamp;
mod verified;

pub use keys::{KeyKind, PublicKey};
pub use mac::{Decoded, Encoding, Key};
pub use source::{Pointer, Source};
pub use spec::{
    Algorithm, AlgorithmChoice, EventFields, JwtRules, ListFormat, QueryHash, SecretEncoding,
    SignatureFormat, Spec, TimestampFormat,
};
pub use template::{Piece, Template};
pub use verified::{RequestLine, Verified, body_hash, is_json, request_digest};

use check::Presented;
use verified::EventId;

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
    #[error("the vendor's published keys have not been fetched yet")]
    KeysUnavailable,
}

enum Keys {
    Hmac(Vec<Key>),
    Secrets(Vec<Secret>),
    Public(Vec<PublicKey>),
    Jwt(
        Vec<jsonwebtoken::DecodingKey>,
        Box<jsonwebtoken::Validation>,
    ),
    /// Keys the vendor publishes at a URL, as last fetched.
    JwtSet(
        std::sync::Arc<keyset::KeySet>,
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
            Keys::JwtSet(s, _) => ("jwt key set", s.keys().len()),
        };
        write!(f, "Keys({kind} x{n}, <redacted>)")
    }
}

/// An algorithm a delivery can name (as the vendor spells it), with the route's secrets as its keys.
type Chosen = (String, Algorithm, Keys);

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
    /// `Some` when the preset or route states the timestamp's form: it is read in that form only.
    timestamp_read: Option<TimestampFormat>,
    event: EventFields,
    body_hash: Option<Source>,
    single_item: Option<Pointer>,
    require_headers: Vec<(HeaderName, String)>,
    data_from: Option<Source>,
    body_from: Option<Source>,
    /// The algorithms a delivery may name in a header instead of `algorithm`, each with its keys.
    chosen: Option<(HeaderName, Vec<Chosen>)>,
    /// The setup secret a handshake brought, once it has (`learn_secret`).
    learned: Option<std::sync::Arc<crate::learned::Learned>>,
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
        let chosen = match &spec.algorithm_choice {
            None => None,
            Some(choice) => {
                let mut schemes = Vec::new();
                for (name, a) in &choice.names {
                    let (Some(h), Some(_)) = (a.hmac(), alg.hmac()) else {
                        return Err(format!(
                            "{} cannot be chosen by a header: only HMAC algorithms can",
                            a.name()
                        ));
                    };
                    let keys = spec.secrets.iter().map(|s| Key::new(h, s)).collect();
                    schemes.push((name.clone(), *a, Keys::Hmac(keys)));
                }
                Some((choice.header.clone(), schemes))
            }
        };
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
            timestamp_read: spec.timestamp_stated.then_some(spec.timestamp_format),
            event: spec.event,
            body_hash: spec.body_hash,
            single_item: spec.single_item,
            require_headers: spec.require_headers,
            data_from: spec.data_from,
            body_from: spec.body_from,
            chosen,
            learned: spec.learned,
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
    pub fn require_headers(&self) -> &[(HeaderName, String)] {
        &self.require_headers
    }
    /// The vendor's published key set, for the fetcher to keep current.
    pub fn key_set(&self) -> Option<&std::sync::Arc<keyset::KeySet>> {
        match &self.keys {
            Keys::JwtSet(set, _) => Some(set),
            _ => None,
        }
    }
    /// Where the route keeps a setup secret its vendor's handshake brings, when it does.
    pub fn learned(&self) -> Option<&std::sync::Arc<crate::learned::Learned>> {
        self.learned.as_ref()
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
            Keys::JwtSet(s, _) => s.keys().len(),
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
        // A vendor whose whole document is one form field (Dropbox Sign posts its JSON as `json`):
        // that field is the body from here on, and what is forwarded.
        let body = match &self.body_from {
            Some(Source::Form(name)) => Bytes::from(
                request::form_field(parts, &body, name).ok_or(VerifyError::MalformedSignature)?,
            ),
            _ => body,
        };
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
        // Before any MAC: a delivery under another signature version or algorithm than the one
        // this scheme checks is refused as the vendor's SDK refuses it.
        for (name, want) in &self.require_headers {
            if parts.headers.get(name).map(http::HeaderValue::as_bytes) != Some(want.as_bytes()) {
                return Err(VerifyError::InvalidSignature);
            }
        }
        let mut presented = Presented::default();
        self.split(&raw, &mut presented)?;
        let req = Request {
            fields: &presented.fields,
            ..early
        };
        let (keys, algorithm) = self.scheme(parts)?;
        let claims = self.check(&req, &presented.texts, keys, algorithm)?;
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

        // A vendor that signs one form field holding the event (Gitea's and Forgejo's form
        // deliveries sign `payload`): that field, not the form around it, is the event's data, so
        // the form's other, unsigned, fields go no further.
        let data = match &self.data_from {
            Some(source) => Some(
                req.lookup(source)
                    .ok_or(VerifyError::MalformedSignature)?
                    .into_owned(),
            ),
            None => None,
        };
        let mut content_type = match self.body_from {
            Some(_) => Some(HeaderValue::from_static("application/json")),
            None => parts.headers.get(http::header::CONTENT_TYPE).cloned(),
        };
        if let Some(data) = &data {
            // A form field holds the vendor's JSON; a query parameter is an id, kept as text.
            let form = matches!(self.data_from, Some(Source::Form(_)));
            scanned = form.then(|| self.scan(data.as_bytes()));
            content_type = Some(HeaderValue::from_static(
                if matches!(scanned, Some(Ok(_))) {
                    "application/json"
                } else {
                    "text/plain; charset=utf-8"
                },
            ));
        }
        // Data taken from the query is text, and the body around it is not signed: not read.
        let data_is_text = data.is_some() && matches!(self.data_from, Some(Source::Query(_)));
        let scan_needed = !self.pointers.is_empty() || is_json(content_type.as_ref());
        if scanned.is_none() && scan_needed && !data_is_text {
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
            let at = match self.timestamp_read {
                Some(form) => timestamp::parse_as(&raw, form),
                None => timestamp::parse(&raw),
            };
            Some(at.ok_or(VerifyError::MalformedTimestamp)?)
        };
        // A delivery by another method (a signed GET or DELETE) usually has no body: what identifies
        // it is everything the signature covers.
        let request = (parts.method != http::Method::POST).then(|| {
            let query = self
                .covers_query()
                .then(|| parts.uri.query().map(str::to_string))
                .flatten();
            let stamp = signed_at.and_then(|_| req.lookup_any(&self.timestamp));
            let digest = request_digest(&parts.method, query.as_deref(), stamp.as_deref(), &body);
            Box::new(RequestLine {
                method: parts.method.clone(),
                query,
                digest,
            })
        });
        // A POST whose signature covers the query: that query goes to the upstream too, without the
        // parameters the signature leaves out.
        let signed_query = match (&request, parts.uri.query()) {
            (None, Some(q)) if !q.is_empty() && self.covers_query() => self.forwardable_query(q),
            _ => None,
        };
        let (id, id_is_body_hash, id_signed) = match (self.event_id(&req), &request) {
            (Some((id, signed)), _) => (id, false, signed),
            (None, None) => (EventId::Owned(body_hash(&body)), true, true),
            (None, Some(line)) => (EventId::Owned(hex::encode(line.digest)), true, true),
        };
        let kind = req.lookup_any(&self.event.kind).map(Cow::into_owned);
        let time = req
            .lookup_any(&self.event.time)
            .and_then(|t| timestamp::parse(&t));
        let json = !data_is_text && matches!(scanned, Some(Ok(_)));
        // The presented signatures borrow the request; release them before the body moves on.
        drop(presented);
        drop(raw);
        Ok(Verified {
            body: data.map_or(body, Bytes::from),
            id,
            id_is_body_hash,
            id_signed,
            kind,
            time,
            signed_at,
            content_type,
            json,
            request,
            signed_query,
        })
    }

    /// The signed query as forwarded: as received, less what the signature leaves out (the token
    /// parameter that Atlassian's `qsh` excludes is not the data's).
    fn forwardable_query(&self, query: &str) -> Option<Box<str>> {
        if !self.hashes_request() {
            return Some(query.into());
        }
        request::atlassian_covered_query(query).map(String::into_boxed_str)
    }

    /// The keys and algorithm that check this delivery: the scheme's own, unless the delivery names
    /// another in the algorithm header (Twilio: `X-Twilio-Webhooks-Signature-Settings:
    /// key=…,algorithm=HMAC_SHA256`, as its SDKs choose). A name the route does not know is refused,
    /// as the SDKs refuse it.
    fn scheme(&self, parts: &Parts) -> Result<(&Keys, Algorithm), VerifyError> {
        let Some((header, schemes)) = &self.chosen else {
            return Ok((&self.keys, self.algorithm));
        };
        let mut values = parts.headers.get_all(header).iter();
        let Some(value) = values.next() else {
            return Ok((&self.keys, self.algorithm));
        };
        if values.next().is_some() {
            return Err(VerifyError::MalformedSignature);
        }
        let text = request::header_text(value).ok_or(VerifyError::MalformedSignature)?;
        let name = text
            .split(',')
            .filter_map(|entry| entry.split_once('='))
            .find(|(k, _)| k.trim() == "algorithm")
            .map(|(_, v)| v.trim())
            .ok_or(VerifyError::MalformedSignature)?;
        schemes
            .iter()
            .find(|(n, ..)| n == name)
            .map(|(_, a, k)| (k, *a))
            .ok_or(VerifyError::InvalidSignature)
    }

    /// Whether the token carries a hash of the request line (Atlassian Connect's `qsh`), which
    /// covers the method and the query.
    fn hashes_request(&self) -> bool {
        self.jwt.as_ref().is_some_and(|j| j.query_hash.is_some())
    }

    /// Whether the signature covers the method the delivery came by.
    pub fn covers_method(&self) -> bool {
        let template = self.algorithm.signs_template() && self.payload.uses(&Piece::Method);
        template || self.hashes_request()
    }

    /// Whether the signature covers the query string the vendor called with: a template with the
    /// URL or the path in it (both are taken with the query as received), or a token that hashes the
    /// request.
    pub fn covers_query(&self) -> bool {
        let template = self.algorithm.signs_template()
            && (self.payload.uses(&Piece::Url) || self.payload.uses(&Piece::Path));
        template || self.hashes_request()
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
}

/// Builds the prepared keys for a spec, checking that the right kind of key material is present.
fn keys_for(spec: &Spec) -> Result<Keys, String> {
    let alg = spec.algorithm;
    let need_secrets = || {
        // A route that learns its secret from the vendor's handshake may start without one.
        if spec.secrets.is_empty() && !(spec.learned.is_some() && alg.hmac().is_some()) {
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
        Algorithm::Ed25519
        | Algorithm::EcdsaP256Sha256
        | Algorithm::RsaSha256
        | Algorithm::RsaSha1 => {
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
            let mut validation = jsonwebtoken::Validation::new(rules.algorithm);
            // Vendors differ in which registered claims they send; exp and nbf are checked when present,
            // and the time window is the route's job.
            validation.required_spec_claims.clear();
            validation.validate_aud = false;
            // jsonwebtoken checks nbf only when asked to (a test found a not-yet-valid token accepted).
            validation.validate_nbf = true;
            if let Some(iss) = &rules.issuer {
                validation.set_issuer(&[iss]);
                validation.required_spec_claims.insert("iss".to_string());
            }
            if let Some(aud) = &rules.audience {
                // set_audience alone does not turn the check on (a test found another audience
                // accepted).
                validation.set_audience(&[aud]);
                validation.validate_aud = true;
                validation.required_spec_claims.insert("aud".to_string());
            }
            if let Some((url, source)) = &rules.published_keys {
                if matches!(rules.algorithm, J::HS256 | J::HS384 | J::HS512) {
                    return Err("a published key set holds public keys; this jwt_algorithm uses a shared secret".to_string());
                }
                let set = keyset::KeySet::new(url.clone(), source.clone(), rules.algorithm);
                return Ok(Keys::JwtSet(std::sync::Arc::new(set), Box::new(validation)));
            }
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

#[cfg(test)]
mod tests;
