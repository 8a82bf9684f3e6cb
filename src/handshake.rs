//! Endpoint-verification handshakes, answered by the gateway itself and never forwarded.
//!
//! Vendors check that an endpoint is theirs before (or while) sending events: Slack's
//! `url_verification`, Zoom's `endpoint.url_validation`, Twitch's `webhook_callback_verification`,
//! Discord's PING, Meta's and Dropbox's GET challenges, Okta's verification GET, Trello's HEAD. Each is
//! data in the preset table: a method, a condition on the request, an optional token check, and a
//! response template. POST handshakes are answered only after the delivery's signature verified (unless
//! the vendor does not sign them); GET and HEAD handshakes are answered before any body is read.
//! This module knows nothing about routes, dedupe or forwarding.

use crate::outcome::{Body, Outcome, Reject, StatusOverrides, respond};
use crate::secret::Secret;
use crate::verify::json;
use crate::verify::mac::{Algorithm as MacAlgorithm, Key};
use crate::verify::request::{form_field, query_param};
use crate::verify::{Pointer, Source};
use bytes::Bytes;
use constant_time_eq::constant_time_eq;
use http::{HeaderName, HeaderValue, Method, Response, StatusCode, request::Parts};
use http_body_util::Full;
use std::borrow::Cow;

/// A response body or header value: literal text and request values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pieces: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Value(Source),
    /// The hex HMAC-SHA256 of a request value under the route's first secret (Zoom's encryptedToken).
    HmacSha256Hex(Source),
}

impl Template {
    /// Parses `{body:/challenge}`, `{query:NAME}`, `{header:NAME}` and `{hmac_sha256_hex:SOURCE}`; any
    /// other brace is literal text, so JSON answers are written as they are.
    pub fn parse(text: &str) -> Result<Template, String> {
        const KINDS: &[&str] = &["body:", "query:", "header:", "hmac_sha256_hex:"];
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while let Some(c) = rest.chars().next() {
            let placeholder = c == '{' && KINDS.iter().any(|k| rest[1..].starts_with(k));
            if !placeholder {
                literal.push(c);
                rest = &rest[c.len_utf8()..];
                continue;
            }
            let end = rest
                .find('}')
                .ok_or_else(|| format!("unclosed placeholder in \"{text}\""))?;
            let inner = &rest[1..end];
            if !literal.is_empty() {
                pieces.push(Part::Literal(std::mem::take(&mut literal)));
            }
            pieces.push(match inner.strip_prefix("hmac_sha256_hex:") {
                Some(source) => Part::HmacSha256Hex(Source::parse(source)?),
                None => Part::Value(Source::parse(inner)?),
            });
            rest = &rest[end + 1..];
        }
        if !literal.is_empty() {
            pieces.push(Part::Literal(literal));
        }
        Ok(Template { pieces })
    }

    fn sources(&self) -> impl Iterator<Item = &Source> {
        self.pieces.iter().filter_map(|p| match p {
            Part::Value(s) | Part::HmacSha256Hex(s) => Some(s),
            Part::Literal(_) => None,
        })
    }

    fn uses_hmac(&self) -> bool {
        self.pieces
            .iter()
            .any(|p| matches!(p, Part::HmacSha256Hex(_)))
    }
}

/// One handshake, ready to match requests.
#[derive(Debug)]
pub struct Handshake {
    pub method: Method,
    /// POST handshakes are answered after the delivery verifies, unless the vendor does not sign them.
    pub verified: bool,
    /// The value that marks a handshake, and what it must equal (absent: present at all).
    when: Option<(Source, Option<String>)>,
    /// A request value that must equal the route's `verify_token`.
    token: Option<(Source, Secret)>,
    respond: Template,
    content_type: HeaderValue,
    headers: Vec<(HeaderName, Template)>,
    status: StatusCode,
    /// For `{hmac_sha256_hex:...}`: the route's first secret.
    key: Option<Key>,
    /// The body pointers any part of the handshake names.
    pointers: Vec<Pointer>,
    /// Where the handshake carries the route's signing secret (see `Spec::learn`).
    pub learn: Option<Source>,
}

/// A handshake as configured, before the route's secrets are attached.
#[derive(Debug, Clone)]
pub struct Spec {
    pub method: Method,
    pub verified: bool,
    pub when: Option<(Source, Option<String>)>,
    pub token: Option<Source>,
    pub respond: Template,
    pub content_type: HeaderValue,
    pub headers: Vec<(HeaderName, Template)>,
    pub status: StatusCode,
    /// Where the handshake carries the route's signing secret (Asana's `X-Hook-Secret`), for routes
    /// that keep it (`learn_secret`).
    pub learn: Option<Source>,
}

impl Handshake {
    /// Attaches the route's secrets. Fails when the handshake needs one the route lacks.
    pub fn new(
        spec: Spec,
        secret: Option<&Secret>,
        verify_token: Option<&Secret>,
    ) -> Result<Handshake, String> {
        let uses_hmac = spec.respond.uses_hmac() || spec.headers.iter().any(|(_, t)| t.uses_hmac());
        let key = match (uses_hmac, secret) {
            (true, Some(s)) => Some(Key::new(MacAlgorithm::HmacSha256, s)),
            (true, None) => return Err("the handshake answer needs the route's secret".to_string()),
            (false, _) => None,
        };
        let token = match (spec.token, verify_token) {
            (Some(source), Some(t)) => Some((source, t.clone())),
            (Some(_), None) => {
                return Err(
                    "this vendor's handshake checks a verify token: set verify_token on the route"
                        .to_string(),
                );
            }
            (None, _) => None,
        };
        let mut pointers: Vec<Pointer> = Vec::new();
        let sources = spec
            .when
            .iter()
            .map(|(s, _)| s)
            .chain(token.iter().map(|(s, _)| s))
            .chain(spec.respond.sources())
            .chain(spec.headers.iter().flat_map(|(_, t)| t.sources()));
        for p in sources.filter_map(Source::as_pointer) {
            if !pointers.contains(p) {
                pointers.push(p.clone());
            }
        }
        if pointers.len() > json::MAX_POINTERS {
            return Err(format!(
                "the handshake names more than {} body fields",
                json::MAX_POINTERS
            ));
        }
        Ok(Handshake {
            method: spec.method,
            verified: spec.verified,
            when: spec.when,
            token,
            respond: spec.respond,
            content_type: spec.content_type,
            headers: spec.headers,
            status: spec.status,
            key,
            pointers,
            learn: spec.learn,
        })
    }

    /// The signing secret this handshake carries, for a route that keeps it (`learn_secret`).
    pub fn secret_carried(&self, parts: &Parts, body: &[u8]) -> Option<String> {
        match self.learn.as_ref()? {
            Source::Header(h) => parts.headers.get(h)?.to_str().ok().map(str::to_string),
            Source::Body(p) => json::scan(body, &[p]).ok()?.first()?.clone(),
            _ => None,
        }
    }

    /// The answer, when `parts`/`body` are this handshake.
    pub fn answer(&self, parts: &Parts, body: &[u8]) -> Option<Response<Body>> {
        if parts.method != self.method {
            return None;
        }
        let scanned = if self.pointers.is_empty() {
            None
        } else {
            let refs: Vec<&Pointer> = self.pointers.iter().collect();
            Some(json::scan(body, &refs).ok()?)
        };
        let lookup = |s: &Source| -> Option<Cow<'_, str>> {
            match s {
                Source::Header(h) => parts
                    .headers
                    .get(h)
                    .and_then(|v| v.to_str().ok())
                    .map(Cow::Borrowed),
                Source::Query(name) => query_param(parts, name).map(Cow::Owned),
                Source::Body(p) => {
                    let i = self.pointers.iter().position(|q| q == p)?;
                    scanned.as_ref()?.get(i)?.clone().map(Cow::Owned)
                }
                Source::Form(name) => form_field(parts, body, name).map(Cow::Owned),
                Source::Signature(_) | Source::Claim(_) => None,
            }
        };
        if let Some((source, expected)) = &self.when {
            let value = lookup(source)?;
            if expected.as_ref().is_some_and(|e| value != e.as_str()) {
                return None;
            }
        }
        if let Some((source, secret)) = &self.token {
            let sent = lookup(source)?;
            if !constant_time_eq(sent.as_bytes(), secret.expose()) {
                return Some(refuse());
            }
        }
        let json = self.content_type.to_str().is_ok_and(|c| c.contains("json"));
        let body = self.render(&self.respond, &lookup, json)?;
        let mut response = Response::new(Full::new(Bytes::from(body)));
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        headers.insert(http::header::CONTENT_TYPE, self.content_type.clone());
        for (name, template) in &self.headers {
            let value = self.render(template, &lookup, false)?;
            headers.insert(name.clone(), HeaderValue::from_str(&value).ok()?);
        }
        Some(response)
    }

    fn render<'a>(
        &self,
        template: &Template,
        lookup: &dyn Fn(&Source) -> Option<Cow<'a, str>>,
        json: bool,
    ) -> Option<String> {
        let mut out = String::new();
        for part in &template.pieces {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::Value(source) => {
                    let value = lookup(source)?;
                    if json {
                        let quoted = serde_json::to_string(value.as_ref()).ok()?;
                        out.push_str(&quoted[1..quoted.len() - 1]);
                    } else {
                        out.push_str(&value);
                    }
                }
                Part::HmacSha256Hex(source) => {
                    let value = lookup(source)?;
                    let mut mac = self.key.as_ref()?.start();
                    mac.update(value.as_bytes());
                    out.push_str(&hex::encode(mac.finish().as_bytes()));
                }
            }
        }
        Some(out)
    }
}

/// A handshake whose verify token is wrong: refused like any other caller, by the status table.
fn refuse() -> Response<Body> {
    respond(
        Outcome::Rejected(Reject::WrongVerifyToken),
        &StatusOverrides::default(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    fn spec(method: &str, when: Option<(&str, Option<&str>)>, respond: &str, ct: &str) -> Spec {
        Spec {
            method: method.parse().unwrap(),
            verified: true,
            when: when.map(|(s, e)| (Source::parse(s).unwrap(), e.map(str::to_string))),
            token: None,
            respond: Template::parse(respond).unwrap(),
            content_type: HeaderValue::from_str(ct).unwrap(),
            headers: Vec::new(),
            status: StatusCode::OK,
            learn: None,
        }
    }

    fn parts(method: &str, uri: &str, headers: &[(&str, &str)]) -> Parts {
        let mut b = http::Request::builder().method(method).uri(uri);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap().into_parts().0
    }

    async fn text(r: Response<Body>) -> String {
        String::from_utf8(r.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap()
    }

    #[tokio::test]
    async fn answers_only_what_matches() {
        let h = Handshake::new(
            spec(
                "POST",
                Some(("body:/type", Some("url_verification"))),
                "{body:/challenge}",
                "text/plain",
            ),
            None,
            None,
        )
        .unwrap();
        let p = parts("POST", "/", &[]);
        let yes = br#"{"type":"url_verification","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}"#;
        let r = h.answer(&p, yes).unwrap();
        assert_eq!(
            text(r).await,
            "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
        );
        assert!(h.answer(&p, br#"{"type":"event_callback"}"#).is_none());
        assert!(h.answer(&p, b"not json").is_none());
        assert!(h.answer(&parts("GET", "/", &[]), yes).is_none());
    }

    #[tokio::test]
    async fn json_answers_escape_what_they_echo() {
        let h = Handshake::new(
            spec(
                "GET",
                Some(("header:x-challenge", None)),
                r#"{"verification":"{header:x-challenge}"}"#,
                "application/json",
            ),
            None,
            None,
        )
        .unwrap();
        let r = h
            .answer(&parts("GET", "/", &[("x-challenge", "a\"b")]), b"")
            .unwrap();
        assert_eq!(text(r).await, r#"{"verification":"a\"b"}"#);
    }

    #[tokio::test]
    async fn verify_tokens_are_checked() {
        let mut s = spec(
            "GET",
            Some(("query:hub.mode", Some("subscribe"))),
            "{query:hub.challenge}",
            "text/plain",
        );
        s.token = Some(Source::parse("query:hub.verify_token").unwrap());
        let h = Handshake::new(s, None, Some(&Secret::new(b"tok".to_vec()))).unwrap();
        let ok = h
            .answer(
                &parts(
                    "GET",
                    "/?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=tok",
                    &[],
                ),
                b"",
            )
            .unwrap();
        assert_eq!(ok.status(), 200);
        assert_eq!(text(ok).await, "1158201444");
        let bad = h
            .answer(
                &parts(
                    "GET",
                    "/?hub.mode=subscribe&hub.challenge=1&hub.verify_token=nope",
                    &[],
                ),
                b"",
            )
            .unwrap();
        assert_eq!(bad.status(), 403);
    }

    #[test]
    fn a_token_check_without_a_token_is_a_config_error() {
        let mut s = spec("GET", None, "x", "text/plain");
        s.token = Some(Source::parse("query:hub.verify_token").unwrap());
        assert!(
            Handshake::new(s, None, None)
                .unwrap_err()
                .contains("verify_token")
        );
    }
}
