//! Checking what a sender presented: finding the signature texts, splitting composite headers,
//! decoding, and comparing them (in constant time) with what each configured key produces or accepts.

use super::*;

/// At most this many signature candidates are examined per request, however many a sender presents.
const MAX_CANDIDATES: usize = 16;

impl Verifier {
    /// The texts that carry the sender's signatures, as sent (headers borrowed, not copied).
    pub(super) fn raw_signatures<'h>(
        &self,
        req: &Request<'h, '_>,
    ) -> Result<Texts<'h>, VerifyError> {
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
    pub(super) fn split<'t>(
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
    fn decoded(
        &self,
        texts: &[&str],
        algorithm: Algorithm,
    ) -> Result<SmallVec<[Decoded; 1]>, VerifyError> {
        let want = algorithm.signature_len();
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

    pub(super) fn inputs<'a>(
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

    /// Checks the presented signatures against every key (the scheme's, or those of the algorithm the
    /// delivery names). Returns the token's claims for JWTs.
    pub(super) fn check(
        &self,
        req: &Request<'_, '_>,
        texts: &[&str],
        keys: &Keys,
        algorithm: Algorithm,
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
        match keys {
            Keys::Hmac(keys) => {
                let sigs = self.decoded(texts, algorithm)?;
                let learned = match (&self.learned, algorithm.hmac()) {
                    (Some(l), Some(h)) => l.current().map(|s| Key::new(h, &s)),
                    _ => None,
                };
                for key in keys.iter().chain(learned.as_ref()) {
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
                    let sigs = self.decoded(texts, algorithm)?;
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
                let sigs = self.decoded(texts, algorithm)?;
                for url in self.url_choices() {
                    let inputs = self.inputs(ts, id, url, None);
                    if self.check_public(keys, &sigs, &inputs, req)? {
                        return Ok(None);
                    }
                }
            }
            Keys::JwtSet(set, validation) => {
                let published = set.keys();
                let mut unknown: Option<Option<String>> = None;
                for text in texts {
                    // The token names its key; one the set lacks means the vendor rotated.
                    let kid = jsonwebtoken::decode_header(text.trim())
                        .ok()
                        .and_then(|h| h.kid);
                    let keys: SmallVec<[&jsonwebtoken::DecodingKey; 2]> = published
                        .iter()
                        .filter(|(id, _)| kid.is_none() || id.is_none() || *id == kid)
                        .map(|(_, k)| k)
                        .collect();
                    if keys.is_empty() {
                        unknown = Some(kid);
                        continue;
                    }
                    if let Some(claims) =
                        self.check_jwt(&[*text], keys.into_iter(), validation, req)?
                    {
                        return Ok(Some(claims));
                    }
                }
                if let Some(kid) = unknown {
                    set.want(kid.as_deref());
                    // Nothing fetched yet, or a key fetched by its id on demand: the vendor is
                    // asked to retry once it is here.
                    if !set.loaded() || set.by_id() {
                        return Err(VerifyError::KeysUnavailable);
                    }
                }
            }
            Keys::Jwt(keys, validation) => {
                if let Some(claims) = self.check_jwt(texts, keys.iter(), validation, req)? {
                    return Ok(Some(claims));
                }
            }
        }
        Err(VerifyError::InvalidSignature)
    }

    /// Decodes the presented tokens with each key. `None` when none verifies; malformed when nothing
    /// presented was even a token.
    fn check_jwt<'k>(
        &self,
        texts: &[&str],
        keys: impl Iterator<Item = &'k jsonwebtoken::DecodingKey> + Clone,
        validation: &jsonwebtoken::Validation,
        req: &Request<'_, '_>,
    ) -> Result<Option<serde_json::Map<String, serde_json::Value>>, VerifyError> {
        use jsonwebtoken::errors::ErrorKind;
        let mut parsed = false;
        for text in texts {
            for key in keys.clone() {
                match jsonwebtoken::decode::<serde_json::Map<String, serde_json::Value>>(
                    text.trim(),
                    key,
                    validation,
                ) {
                    Ok(data) => {
                        return self.check_claims(data.claims, req).map(Some);
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
        Ok(None)
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
            Algorithm::RsaSha1 => {
                let mut digest = sha1::Sha1::new();
                feed(&mut |b| digest.update(b))?;
                let hashed = digest.finalize();
                for sig in sigs {
                    for key in keys {
                        if let PublicKey::Rsa(k) = key {
                            let public: &rsa::RsaPublicKey = k.as_ref().as_ref();
                            let scheme = rsa::Pkcs1v15Sign::new::<sha1::Sha1>();
                            if public.verify(scheme, &hashed, sig.as_bytes()).is_ok() {
                                return Ok(true);
                            }
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

    /// A verified token's claims must also name the body and the request (when the scheme says so).
    fn check_claims(
        &self,
        claims: serde_json::Map<String, serde_json::Value>,
        req: &Request<'_, '_>,
    ) -> Result<serde_json::Map<String, serde_json::Value>, VerifyError> {
        let Some(rules) = &self.jwt else {
            return Ok(claims);
        };
        for (claim, want) in &rules.require_claims {
            let matches = match claims.get(claim) {
                Some(serde_json::Value::String(s)) => s == want,
                Some(serde_json::Value::Bool(b)) => want == if *b { "true" } else { "false" },
                Some(serde_json::Value::Number(n)) => {
                    want.parse::<serde_json::Number>().ok().as_ref() == Some(n)
                }
                Some(_) => false,
                None => return Err(VerifyError::MalformedSignature),
            };
            if !matches {
                return Err(VerifyError::InvalidSignature);
            }
        }
        if let Some(q) = &rules.query_hash {
            // Atlassian Connect: the token is bound to the method, path and query it was sent with.
            let query = req.parts.uri.query();
            let canonical = request::atlassian_canonical(&req.parts.method, &q.path, query);
            let expected = hex::encode(Sha256::digest(canonical.as_bytes()));
            match claims.get(&q.claim).and_then(|v| v.as_str()) {
                Some(sent) if constant_time_eq(sent.as_bytes(), expected.as_bytes()) => {}
                Some(_) => return Err(VerifyError::InvalidSignature),
                None => return Err(VerifyError::MalformedSignature),
            }
        }
        if let Some(claim) = &rules.body_hash_claim {
            let expected = hex::encode(Sha256::digest(req.body));
            match claims.get(claim).and_then(|v| v.as_str()) {
                Some(sent) if sent.eq_ignore_ascii_case(&expected) => {}
                Some(_) => return Err(VerifyError::InvalidSignature),
                None => return Err(VerifyError::MalformedSignature),
            }
        }
        Ok(claims)
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
pub(super) struct Presented<'t> {
    pub(super) texts: SmallVec<[&'t str; 2]>,
    pub(super) fields: SmallVec<[(&'t str, &'t str); 3]>,
}

/// The texts that carry signatures, as sent: usually one header value.
pub(super) type Texts<'h> = SmallVec<[Cow<'h, str>; 2]>;

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
