//! Signing, the inverse of verifying: the headers a genuine sender would attach to a body. Used by
//! `hookgate sign`, by routes that sign what they forward (Standard Webhooks), and by tests.

use super::*;

impl Verifier {
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
            Keys::Public(_) | Keys::JwtSet(..) => {
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
        if let Some(q) = &rules.query_hash {
            let canonical = request::atlassian_canonical(&http::Method::POST, &q.path, None);
            claims.insert(
                q.claim.clone(),
                hex::encode(Sha256::digest(canonical.as_bytes())).into(),
            );
        }
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(rules.algorithm),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(secret.expose()),
        )
        .map_err(|e| e.to_string())
    }
}
