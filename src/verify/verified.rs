//! `Verified`: what a successful verification yields, the only value an envelope can be built from.

use super::*;

/// An event id: a header value shared with the request, or text taken from elsewhere.
#[derive(Debug, Clone)]
pub(super) enum EventId {
    Header(HeaderValue),
    Owned(String),
}

/// The result of a successful verification: the raw body and the event it carries. Only `verify/`
/// can construct one, so only verified bytes can become an envelope.
#[derive(Debug, Clone)]
pub struct Verified {
    pub(super) body: Bytes,
    pub(super) id: EventId,
    pub(super) id_is_body_hash: bool,
    /// The id came from a part the signature covers (or is the body hash).
    pub(super) id_signed: bool,
    pub(super) kind: Option<String>,
    pub(super) time: Option<Timestamp>,
    pub(super) signed_at: Option<Timestamp>,
    pub(super) content_type: Option<HeaderValue>,
    pub(super) json: bool,
    /// For a delivery by a method other than POST: the method, and the query string when the
    /// signature covers it.
    pub(super) request: Option<Box<RequestLine>>,
    /// For a POST whose signature covers the query string (Twilio's `{url}`, Atlassian's `qsh`):
    /// that query, without the parameters the signature leaves out (Atlassian's `jwt`).
    pub(super) signed_query: Option<Box<str>>,
}

/// How a delivery that did not come as a POST was made (HubSpot's and Zendesk's signed GET and
/// DELETE webhooks): the upstream always receives a POST, so the envelope says so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestLine {
    pub method: http::Method,
    /// The query string as received, only when the signature covers it (a `{url}` or `{path}`
    /// template); an unsigned query is never forwarded.
    pub query: Option<String>,
    /// SHA-256 of what the signature covers (`request_digest`): the event id when the vendor sends
    /// none, and what deduplication keys the delivery by when its id is unsigned.
    pub digest: [u8; 32],
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
    /// The query string the signature covers, which the envelope forwards (`webhookquery`): of a
    /// delivery by another method, or of a POST whose scheme signs the URL.
    pub fn signed_query(&self) -> Option<&str> {
        match &self.request {
            Some(line) => line.query.as_deref(),
            None => self.signed_query.as_deref(),
        }
    }
    /// The method and signed query of a delivery that was not a POST.
    pub fn request_line(&self) -> Option<&RequestLine> {
        self.request.as_deref()
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
            request: None,
            signed_query: None,
        }
    }

    /// The same, delivered by another method.
    #[cfg(test)]
    pub fn with_request_line(mut self, line: RequestLine) -> Verified {
        self.request = Some(Box::new(line));
        self
    }

    #[cfg(test)]
    pub fn with_signed_query(mut self, query: &str) -> Verified {
        self.signed_query = Some(query.into());
        self
    }
}

/// The event id of a vendor that has none: the hex SHA-256 of the raw body.
pub fn body_hash(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

/// What identifies a delivery by another method than POST, whose body is usually empty: the SHA-256
/// of the signed parts, `METHOD LF signed query LF signed timestamp LF body`. Parts the signature does
/// not cover (an unsigned query) are left out, so a replay cannot change its identity with them.
pub fn request_digest(
    method: &http::Method,
    query: Option<&str>,
    timestamp: Option<&str>,
    body: &[u8],
) -> [u8; 32] {
    let mut h = Sha256::new();
    for part in [
        method.as_str(),
        query.unwrap_or(""),
        timestamp.unwrap_or(""),
    ] {
        h.update(part.as_bytes());
        h.update(b"\n");
    }
    h.update(body);
    h.finalize().into()
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
