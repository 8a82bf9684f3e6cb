//! What the upstream receives: one CloudEvents 1.0 event per verified delivery.
//!
//! `cloudevents` (the default) is the structured mode: an `application/cloudevents+json` document whose
//! `data` is the vendor's JSON body spliced in byte for byte (it was checked to be one JSON document
//! during verification, so it is never re-serialized). Non-JSON bodies travel as a JSON string when they
//! are UTF-8 (form posts) and as `data_base64` otherwise. `raw` is the binary mode: the vendor's body and
//! content type untouched, with the event attributes in `ce-` headers.
//!
//! A delivery that came by another method than POST (a signed GET or DELETE) carries the extension
//! attribute `webhookmethod`; with no body it has no `data`. Any delivery whose signature covers its
//! query string (Twilio's and HubSpot's URL, Atlassian's `qsh`) carries it in `webhookquery`. The
//! upstream always receives a POST.
//!
//! An envelope can only be built from a `Verified`. This module never sees secrets or signature headers.

use crate::verify::Verified;
use base64::Engine;
use bytes::Bytes;
use http::{HeaderName, HeaderValue};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    #[default]
    CloudEvents,
    Raw,
}

impl Mode {
    pub const NAMES: &'static [&'static str] = &["cloudevents", "raw"];

    pub fn parse(name: &str) -> Option<Mode> {
        match name {
            "cloudevents" => Some(Mode::CloudEvents),
            "raw" => Some(Mode::Raw),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        Self::NAMES[self as usize]
    }
}

/// The event attributes that do not come from the delivery itself.
pub struct Attributes<'a> {
    /// CloudEvents `source`: the route name unless configured.
    pub source: &'a str,
    /// Used as `type` when the vendor's type is unknown.
    pub fallback_type: &'a str,
}

/// A request body and the headers that describe it.
#[derive(Debug, Clone)]
pub struct Envelope {
    pub body: Bytes,
    pub content_type: HeaderValue,
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

const STRUCTURED: HeaderValue = HeaderValue::from_static("application/cloudevents+json");
const OCTETS: &str = "application/octet-stream";

pub fn build(mode: Mode, event: &Verified, attrs: &Attributes<'_>) -> Envelope {
    match mode {
        Mode::CloudEvents => structured(event, attrs),
        Mode::Raw => binary(event, attrs),
    }
}

fn data_content_type(event: &Verified) -> String {
    match event.content_type().and_then(|v| v.to_str().ok()) {
        Some(ct) if !ct.trim().is_empty() => ct.trim().to_string(),
        _ if event.is_json() => "application/json".to_string(),
        _ => OCTETS.to_string(),
    }
}

fn structured(event: &Verified, attrs: &Attributes<'_>) -> Envelope {
    let body = event.body();
    let mut out = Vec::with_capacity(body.len() + 256);
    out.extend_from_slice(b"{\"specversion\":\"1.0\",\"id\":");
    push_json_string(&mut out, event.id());
    out.extend_from_slice(b",\"source\":");
    push_json_string(&mut out, attrs.source);
    out.extend_from_slice(b",\"type\":");
    push_json_string(&mut out, event.kind().unwrap_or(attrs.fallback_type));
    if let Some(time) = event.time() {
        out.extend_from_slice(b",\"time\":");
        push_json_string(&mut out, &time.to_string());
    }
    if let Some(line) = event.request_line() {
        out.extend_from_slice(b",\"webhookmethod\":");
        push_json_string(&mut out, line.method.as_str());
    }
    if let Some(query) = event.signed_query() {
        out.extend_from_slice(b",\"webhookquery\":");
        push_json_string(&mut out, query);
    }
    if event.request_line().is_some() && body.is_empty() {
        // A GET or DELETE delivery usually has no body: the event has no data.
        out.push(b'}');
        return Envelope {
            body: Bytes::from(out),
            content_type: STRUCTURED,
            headers: Vec::new(),
        };
    }
    out.extend_from_slice(b",\"datacontenttype\":");
    push_json_string(&mut out, &data_content_type(event));
    if event.is_json() {
        // Whitespace around a JSON document is not part of its value; the value itself is spliced
        // byte for byte.
        out.extend_from_slice(b",\"data\":");
        out.extend_from_slice(body.trim_ascii());
    } else if let Ok(text) = std::str::from_utf8(body) {
        out.extend_from_slice(b",\"data\":");
        push_json_string(&mut out, text);
    } else {
        out.extend_from_slice(b",\"data_base64\":\"");
        out.extend_from_slice(
            base64::engine::general_purpose::STANDARD
                .encode(body)
                .as_bytes(),
        );
        out.push(b'"');
    }
    out.push(b'}');
    Envelope {
        body: Bytes::from(out),
        content_type: STRUCTURED,
        headers: Vec::new(),
    }
}

fn binary(event: &Verified, attrs: &Attributes<'_>) -> Envelope {
    let mut headers = vec![
        (
            HeaderName::from_static("ce-specversion"),
            HeaderValue::from_static("1.0"),
        ),
        (HeaderName::from_static("ce-id"), header_text(event.id())),
        (
            HeaderName::from_static("ce-source"),
            header_text(attrs.source),
        ),
        (
            HeaderName::from_static("ce-type"),
            header_text(event.kind().unwrap_or(attrs.fallback_type)),
        ),
    ];
    if let Some(time) = event.time() {
        headers.push((
            HeaderName::from_static("ce-time"),
            header_text(&time.to_string()),
        ));
    }
    if let Some(line) = event.request_line() {
        headers.push((
            HeaderName::from_static("ce-webhookmethod"),
            header_text(line.method.as_str()),
        ));
    }
    if let Some(query) = event.signed_query() {
        headers.push((
            HeaderName::from_static("ce-webhookquery"),
            header_text(query),
        ));
    }
    let content_type = HeaderValue::from_str(&data_content_type(event))
        .unwrap_or(HeaderValue::from_static(OCTETS));
    Envelope {
        body: event.body().clone(),
        content_type,
        headers,
    }
}

fn push_json_string(out: &mut Vec<u8>, s: &str) {
    // Writing a &str into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

/// A `ce-` header value: the CloudEvents HTTP binding percent-encodes space, `"`, `%` and everything
/// outside printable ASCII, which also makes any vendor-chosen id safe to put in a header.
fn header_text(s: &str) -> HeaderValue {
    HeaderValue::from_str(&header_safe(s)).expect("percent-encoded text is a valid header value")
}

/// `s` percent-encoded as the CloudEvents HTTP binding does for header values.
pub fn header_safe(s: &str) -> String {
    let mut encoded = String::with_capacity(s.len());
    for b in s.bytes() {
        if (0x21..=0x7e).contains(&b) && b != b'"' && b != b'%' {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::*;

    const ATTRS: Attributes<'static> = Attributes {
        source: "chamelio",
        fallback_type: "hookgate.webhook",
    };

    fn json(env: &Envelope) -> serde_json::Value {
        serde_json::from_slice(&env.body).unwrap()
    }

    #[test]
    fn structured_mode_splices_the_vendor_body_byte_for_byte() {
        // Odd spacing, key order and number formats must survive: the body is not re-serialized.
        let body = r#"{ "event_id":"evt_1",  "n": 1.50, "z":1e3, "t":"é" }"#;
        let v = Verified::for_test(
            body,
            "evt_1",
            Some("core.document.uploaded"),
            "application/json",
        );
        let env = build(Mode::CloudEvents, &v, &ATTRS);
        let text = std::str::from_utf8(&env.body).unwrap();
        assert!(text.contains(&format!("\"data\":{body}}}")), "{text}");
        let ce = json(&env);
        assert_eq!(ce["specversion"], "1.0");
        assert_eq!(ce["id"], "evt_1");
        assert_eq!(ce["source"], "chamelio");
        assert_eq!(ce["type"], "core.document.uploaded");
        assert_eq!(ce["datacontenttype"], "application/json");
        assert_eq!(ce["data"]["n"].to_string(), "1.5");
        assert_eq!(env.content_type, "application/cloudevents+json");
    }

    #[test]
    fn form_bodies_travel_as_strings_and_binary_as_base64() {
        let v = Verified::for_test("a=1&b=%20", "x", None, "application/x-www-form-urlencoded");
        let ce = json(&build(Mode::CloudEvents, &v, &ATTRS));
        assert_eq!(ce["data"], "a=1&b=%20");
        assert_eq!(ce["datacontenttype"], "application/x-www-form-urlencoded");
        assert_eq!(ce["type"], "hookgate.webhook");
    }

    #[test]
    fn ids_with_quotes_and_controls_are_escaped() {
        let v = Verified::for_test("{}", "a\"b\n\u{7f}", None, "application/json");
        let ce = json(&build(Mode::CloudEvents, &v, &ATTRS));
        assert_eq!(ce["id"], "a\"b\n\u{7f}");
        let raw = build(Mode::Raw, &v, &ATTRS);
        let id = raw.headers.iter().find(|(n, _)| n == "ce-id").unwrap();
        assert_eq!(id.1, "a%22b%0A%7F");
    }

    #[test]
    fn raw_mode_keeps_body_and_content_type_and_adds_ce_headers() {
        let v = Verified::for_test(
            "{\"a\":1}",
            "evt_9",
            Some("t.x"),
            "application/json; charset=utf-8",
        );
        let env = build(Mode::Raw, &v, &ATTRS);
        assert_eq!(&env.body[..], b"{\"a\":1}");
        assert_eq!(env.content_type, "application/json; charset=utf-8");
        let get = |n: &str| {
            env.headers
                .iter()
                .find(|(h, _)| h == n)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(get("ce-specversion").unwrap(), "1.0");
        assert_eq!(get("ce-id").unwrap(), "evt_9");
        assert_eq!(get("ce-type").unwrap(), "t.x");
        assert_eq!(get("ce-source").unwrap(), "chamelio");
        assert!(get("ce-webhookmethod").is_none());
    }

    #[test]
    fn other_methods_are_named_and_an_empty_body_has_no_data() {
        use crate::verify::RequestLine;
        let get = Verified::for_test("", "h", None, "").with_request_line(RequestLine {
            method: http::Method::GET,
            query: Some("a=1&b=%20".to_string()),
            digest: [0; 32],
        });
        let ce = json(&build(Mode::CloudEvents, &get, &ATTRS));
        assert_eq!(ce["webhookmethod"], "GET");
        assert_eq!(ce["webhookquery"], "a=1&b=%20");
        assert!(
            ce.get("data").is_none() && ce.get("datacontenttype").is_none(),
            "{ce}"
        );
        let raw = build(Mode::Raw, &get, &ATTRS);
        let header = |n: &str| {
            raw.headers
                .iter()
                .find(|(h, _)| h == n)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(header("ce-webhookmethod").unwrap(), "GET");
        // Percent-encoded, as the CloudEvents HTTP binding encodes header values.
        assert_eq!(header("ce-webhookquery").unwrap(), "a=1&b=%2520");

        // An unsigned query is not there to forward; a body is still data.
        let delete = Verified::for_test("{\"x\":1}", "h", None, "application/json")
            .with_request_line(RequestLine {
                method: http::Method::DELETE,
                query: None,
                digest: [0; 32],
            });
        let ce = json(&build(Mode::CloudEvents, &delete, &ATTRS));
        assert_eq!(ce["webhookmethod"], "DELETE");
        assert!(ce.get("webhookquery").is_none());
        assert_eq!(ce["data"]["x"], 1);

        // A POST whose signature covers its query (Twilio's URL): the query, and no method.
        let post = Verified::for_test("{\"x\":1}", "h", None, "application/json")
            .with_signed_query("foo=1&bar=2");
        let ce = json(&build(Mode::CloudEvents, &post, &ATTRS));
        assert_eq!(ce["webhookquery"], "foo=1&bar=2");
        assert!(ce.get("webhookmethod").is_none());
        assert_eq!(ce["data"]["x"], 1);
    }
}
