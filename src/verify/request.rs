//! Reading one request: looking values up by `Source`, and feeding a signed-content template into a
//! MAC, digest or message buffer piece by piece.

use super::source::{Pointer, Source};
use super::template::{Piece, Template};
use crate::secret::Secret;
use http::HeaderValue;
use http::request::Parts;
use std::borrow::Cow;

/// The body scanned as JSON: for each of the verifier's pointers, the value found.
pub type Scanned = Result<Vec<Option<String>>, serde_json::Error>;

/// Everything a lookup or a template can name in one request. Values from the request head borrow
/// from it (`'h`); body fields are copied out of the scan.
pub struct Request<'h, 's> {
    pub parts: &'h Parts,
    pub body: &'h [u8],
    /// `key=value` fields of a composite signature header.
    pub fields: &'h [(&'h str, &'h str)],
    pub scanned: Option<&'s Scanned>,
    pub pointers: &'s [Pointer],
    /// JSON Web Token claims, once a token verified.
    pub claims: Option<&'s serde_json::Map<String, serde_json::Value>>,
}

impl<'h> Request<'h, '_> {
    /// The first of `sources` that is present.
    pub fn lookup_any(&self, sources: &[Source]) -> Option<Cow<'h, str>> {
        sources.iter().find_map(|s| self.lookup(s))
    }

    pub fn lookup(&self, source: &Source) -> Option<Cow<'h, str>> {
        match source {
            Source::Header(h) => self
                .parts
                .headers
                .get(h)
                .and_then(header_text)
                .map(|s| Cow::Borrowed(s.trim_ascii())),
            Source::Signature(k) => self
                .fields
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| Cow::Borrowed(v.trim_ascii())),
            Source::Query(name) => query_param(self.parts, name).map(Cow::Owned),
            Source::Body(p) => self.field(p).map(Cow::Owned),
            Source::Form(name) => form_field(self.parts, self.body, name).map(Cow::Owned),
            Source::Claim(name) => match self.claims?.get(name)? {
                serde_json::Value::String(s) => Some(Cow::Owned(s.clone())),
                serde_json::Value::Number(n) => Some(Cow::Owned(n.to_string())),
                serde_json::Value::Bool(b) => Some(Cow::Owned(b.to_string())),
                _ => None,
            },
        }
    }

    fn field(&self, pointer: &Pointer) -> Option<String> {
        let index = self.pointers.iter().position(|q| q == pointer)?;
        self.scanned?.as_ref().ok()?.get(index)?.clone()
    }
}

/// The values a template names besides the request itself.
pub struct Inputs<'a> {
    pub timestamp: Option<&'a str>,
    pub id: Option<&'a str>,
    /// The public URL (without query) to use for `{url}`.
    pub url: Option<&'a str>,
    /// The public URL's path (without query) for `{path}`.
    pub path: Option<&'a str>,
    pub secret: Option<&'a Secret>,
}

/// Why a template could not be filled in for this request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    Timestamp,
    Other,
}

/// Feeds `template` for this request into `sink`, piece by piece.
pub fn feed(
    template: &Template,
    req: &Request<'_, '_>,
    inputs: &Inputs<'_>,
    sink: &mut dyn FnMut(&[u8]),
) -> Result<(), Missing> {
    for piece in template.pieces() {
        match piece {
            Piece::Literal(bytes) => sink(bytes),
            Piece::Body => sink(req.body),
            Piece::Timestamp => sink(inputs.timestamp.ok_or(Missing::Timestamp)?.as_bytes()),
            Piece::Id => sink(inputs.id.ok_or(Missing::Other)?.as_bytes()),
            Piece::Header(name) => sink(
                req.parts
                    .headers
                    .get(name)
                    .ok_or(Missing::Other)?
                    .as_bytes(),
            ),
            Piece::Secret => sink(inputs.secret.ok_or(Missing::Other)?.expose()),
            Piece::Method => sink(req.parts.method.as_str().as_bytes()),
            Piece::Url => {
                sink(inputs.url.ok_or(Missing::Other)?.as_bytes());
                if let Some(q) = req.parts.uri.query() {
                    sink(b"?");
                    sink(q.as_bytes());
                }
            }
            Piece::Path => {
                let path = inputs.path.ok_or(Missing::Other)?;
                sink(contentful_encode_uri(path, req.parts.uri.query()).as_bytes());
            }
            Piece::FormSorted => {
                if is_form(req.parts) {
                    let mut params: Vec<(Cow<str>, Cow<str>)> =
                        form_urlencoded::parse(req.body).collect();
                    // By name, and a repeated name's values sorted too, as Twilio's SDKs build the
                    // string (twilio-python: `sorted(set(params))`, then `sorted(values)`); not in
                    // the order they arrived.
                    params.sort();
                    for (k, v) in params {
                        sink(k.as_bytes());
                        sink(v.as_bytes());
                    }
                }
            }
            Piece::PhpSerializedForm(signature) => {
                if !is_form(req.parts) {
                    return Err(Missing::Other);
                }
                let mut fields: Vec<(Cow<str>, Cow<str>)> = form_urlencoded::parse(req.body)
                    .filter(|(k, _)| k != signature)
                    .collect();
                fields.sort_by(|a, b| a.0.cmp(&b.0));
                // PHP keeps one value per name and the reader might take another: refused.
                if fields.windows(2).any(|w| w[0].0 == w[1].0) {
                    return Err(Missing::Other);
                }
                // As Paddle's samples serialize it: every key and value a string.
                sink(format!("a:{}:{{", fields.len()).as_bytes());
                for (k, v) in &fields {
                    for text in [k, v] {
                        sink(format!("s:{}:\"", text.len()).as_bytes());
                        sink(text.as_bytes());
                        sink(b"\";");
                    }
                }
                sink(b"}");
            }
            Piece::Field(p) => {
                if let Some(v) = req.field(p) {
                    sink(v.as_bytes());
                }
            }
            Piece::FormField(name) => {
                if let Some(v) = form_field(req.parts, req.body, name) {
                    sink(v.as_bytes());
                }
            }
            Piece::QueryParam { name, lower } => {
                if let Some(v) = query_param(req.parts, name) {
                    if *lower {
                        sink(v.to_lowercase().as_bytes());
                    } else {
                        sink(v.as_bytes());
                    }
                }
            }
            Piece::SignedHeaders(list) => {
                let text = signed_headers(req.parts, list).ok_or(Missing::Other)?;
                sink(text.as_bytes());
            }
        }
    }
    Ok(())
}

/// The first value of `name` in the query string, decoded.
pub fn query_param(parts: &Parts, name: &str) -> Option<String> {
    form_urlencoded::parse(parts.uri.query()?.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The first value of `name` in a form body (URL-encoded, or multipart as Dropbox Sign posts),
/// decoded; none when the body is not a form.
pub fn form_field(parts: &Parts, body: &[u8], name: &str) -> Option<String> {
    if is_form(parts) {
        return form_urlencoded::parse(body)
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned());
    }
    let boundary = multipart_boundary(parts)?;
    multipart_field(body, &boundary, name)
}

/// The boundary of a `multipart/form-data` body.
fn multipart_boundary(parts: &Parts) -> Option<String> {
    let ct = parts
        .headers
        .get(http::header::CONTENT_TYPE)?
        .to_str()
        .ok()?;
    multer::parse_boundary(ct).ok()
}

/// The text of the first part named `name` in a multipart body. The body is all here, so every
/// future the parser returns is ready at once.
fn multipart_field(body: &[u8], boundary: &str, name: &str) -> Option<String> {
    use futures_util::FutureExt;
    let chunk = bytes::Bytes::copy_from_slice(body);
    let stream = futures_util::stream::iter([Ok::<_, std::convert::Infallible>(chunk)]);
    let mut form = multer::Multipart::new(stream, boundary);
    loop {
        let field = form.next_field().now_or_never()?.ok()??;
        if field.name() == Some(name) {
            return field.text().now_or_never()?.ok();
        }
    }
}

/// A header value as text. Faster than `HeaderValue::to_str`, which checks byte by byte: values
/// parsed from a request hold no control characters, and every consumer (decoders, timestamp and
/// id parsers) rejects bytes it does not expect.
pub fn header_text(value: &HeaderValue) -> Option<&str> {
    std::str::from_utf8(value.as_bytes()).ok()
}

/// Whether the body is an HTML form post.
pub fn is_form(parts: &Parts) -> bool {
    parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|e| {
            e.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

/// The headers named in header `list` (comma-separated), lower-cased and sorted, as `name:value`
/// joined by `;`; the list header itself is included and rewritten from the names found. This is the
/// canonical form of Contentful's request verification (`@contentful/node-apps-toolkit`).
fn signed_headers(parts: &Parts, list: &http::HeaderName) -> Option<String> {
    let listed = parts.headers.get(list)?.to_str().ok()?;
    let mut names: Vec<String> = listed
        .split(',')
        .map(|n| n.trim().to_ascii_lowercase())
        .filter(|n| !n.is_empty() && parts.headers.contains_key(n.as_str()))
        .collect();
    if !names.iter().any(|n| n == list.as_str()) {
        names.push(list.as_str().to_string());
    }
    names.sort();
    names.dedup();
    let list_value = names.join(",");
    let pairs: Vec<String> = names
        .iter()
        .map(|n| {
            let value = if n == list.as_str() {
                list_value.clone()
            } else {
                parts
                    .headers
                    .get(n.as_str())
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .trim()
                    .to_string()
            };
            format!("{n}:{value}")
        })
        .collect();
    Some(pairs.join(";"))
}

/// JavaScript's `encodeURI(path + "?" + querystring.escape(query))`, which is how Contentful's toolkit
/// writes the path it signs (the query string ends up escaped twice).
fn contentful_encode_uri(path: &str, query: Option<&str>) -> String {
    const URI_KEEP: &[u8] = b";,/?:@&=+$-_.!~*'()#";
    const COMPONENT_KEEP: &[u8] = b"-_.!~*'()";
    fn escape(text: &str, keep: &[u8]) -> String {
        let mut out = String::with_capacity(text.len());
        for b in text.bytes() {
            if b.is_ascii_alphanumeric() || keep.contains(&b) {
                out.push(b as char);
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
        out
    }
    let raw = match query {
        Some(q) if !q.is_empty() => format!("{path}?{}", escape(q, COMPONENT_KEEP)),
        _ => path.to_string(),
    };
    escape(&raw, URI_KEEP)
}

/// The query parameter that carries an Atlassian Connect token, which the token's `qsh` leaves out.
const ATLASSIAN_TOKEN: &str = "jwt";

/// The part of a query an Atlassian Connect token covers: the query as received, less the token's
/// own parameter, recognised by its decoded name as `atlassian_canonical` recognises it (so that
/// `j%77t=…`, which the hash leaves out as well, is not passed on as if signed). `None` when nothing
/// is left.
pub fn atlassian_covered_query(query: &str) -> Option<String> {
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| {
            let name = form_urlencoded::parse(pair.as_bytes())
                .next()
                .map(|(n, _)| n);
            name.is_some_and(|n| n != ATLASSIAN_TOKEN)
        })
        .collect();
    (!kept.is_empty()).then(|| kept.join("&"))
}

/// Atlassian Connect's canonical request, whose SHA-256 is a token's `qsh` claim: the method in upper
/// case, the path after the app's base URL (no trailing '/', "/" when empty, '&' encoded), and the
/// query without `jwt`, each name once with its values sorted and joined by ',', names sorted, all
/// percent-encoded as RFC 3986 unreserved characters only. `path` is the canonical path already
/// (`canonical_path`); the query is the one received.
pub fn atlassian_canonical(method: &http::Method, path: &str, query: Option<&str>) -> String {
    use std::collections::BTreeMap;
    fn encode(text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        for b in text.bytes() {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                out.push(b as char);
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
        out
    }
    let mut params: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        if name != ATLASSIAN_TOKEN {
            params
                .entry(encode(&name))
                .or_default()
                .push(encode(&value));
        }
    }
    let query: Vec<String> = params
        .into_iter()
        .map(|(name, mut values)| {
            values.sort();
            format!("{name}={}", values.join(","))
        })
        .collect();
    format!(
        "{}&{path}&{}",
        method.as_str().to_ascii_uppercase(),
        query.join("&")
    )
}

/// The canonical path of Atlassian's canonical request: `path` with the app's base path removed,
/// without a trailing '/', "/" when nothing is left, and '&' percent-encoded. `None` when `path` does
/// not start with `base`.
pub fn canonical_path(path: &str, base: &str) -> Option<String> {
    let base = base.trim_end_matches('/');
    let rest = path.strip_prefix(base)?;
    if !(rest.is_empty() || rest.starts_with('/')) {
        return None;
    }
    let rest = rest.trim_end_matches('/');
    let rest = if rest.is_empty() { "/" } else { rest };
    Some(rest.replace('&', "%26"))
}

/// `public_url` split into the base `{url}` uses (scheme, authority and path) and its path. The
/// second URL is the same one with the port toggled, as Twilio's SDKs try it (twilio-python's
/// `RequestValidator.validate`): without a port, with the scheme's default one added; with any port,
/// with it removed. Twilio signs the URL sometimes with and sometimes without it.
pub fn url_variants(public_url: &http::Uri) -> (Vec<String>, String) {
    let scheme = public_url.scheme_str().unwrap_or("https");
    let host = public_url.host().unwrap_or("");
    let path = public_url.path().to_string();
    let default_port = if scheme == "http" { 80 } else { 443 };
    let with_port = |port: u16| format!("{scheme}://{host}:{port}{path}");
    let without_port = format!("{scheme}://{host}{path}");
    let variants = match public_url.port_u16() {
        None => vec![without_port, with_port(default_port)],
        Some(p) if p == default_port => vec![with_port(p), without_port],
        Some(p) => vec![with_port(p), without_port],
    };
    (variants, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_variants_toggle_the_port_as_twilios_sdk_does() {
        let v = |u: &str| url_variants(&u.parse().unwrap()).0;
        assert_eq!(
            v("https://example.com/hook"),
            ["https://example.com/hook", "https://example.com:443/hook"]
        );
        assert_eq!(
            v("https://example.com:443/hook"),
            ["https://example.com:443/hook", "https://example.com/hook"]
        );
        assert_eq!(
            v("http://example.com/hook"),
            ["http://example.com/hook", "http://example.com:80/hook"]
        );
        assert_eq!(
            v("https://example.com:8443/hook"),
            ["https://example.com:8443/hook", "https://example.com/hook"]
        );
    }

    #[test]
    fn the_query_an_atlassian_token_covers_is_the_query_without_the_token_however_spelled() {
        assert_eq!(
            atlassian_covered_query("a=1&jwt=x&b=2").as_deref(),
            Some("a=1&b=2")
        );
        // Left out of the hash decoded, so left out here decoded too.
        assert_eq!(
            atlassian_covered_query("j%77t=forged&a=1").as_deref(),
            Some("a=1")
        );
        assert_eq!(atlassian_covered_query("jwt=x"), None);
        let hash_of = |q: &str| atlassian_canonical(&http::Method::POST, "/p", Some(q));
        assert_eq!(hash_of("j%77t=forged&a=1"), hash_of("a=1"));
    }

    #[test]
    fn atlassians_canonical_request_is_built_as_its_documentation_shows() {
        // Atlassian's example ("Understanding JWT for Connect apps", creating a query string hash):
        // GET to the not yet percent-encoded URL
        // http://localhost:2990/path/to/service?zee_last=param&repeated=parameter 1&first=param&repeated=parameter 2
        let get = http::Method::GET;
        assert_eq!(
            atlassian_canonical(
                &get,
                "/path/to/service",
                Some("zee_last=param&repeated=parameter%201&first=param&repeated=parameter%202")
            ),
            "GET&/path/to/service&first=param&repeated=parameter%201,parameter%202&zee_last=param"
        );
        // The jwt parameter is left out; '+' is a space, encoded as %20; '*' is %2A and '~' stays.
        assert_eq!(
            atlassian_canonical(&http::Method::POST, "/", Some("jwt=abc&b=x+y*~&a=1")),
            "POST&/&a=1&b=x%20y%2A~"
        );
        assert_eq!(atlassian_canonical(&get, "/p", None), "GET&/p&");
        // Upper-case names sort before lower-case ones (by code point).
        assert_eq!(
            atlassian_canonical(&get, "/p", Some("b=1&B=2&a=3")),
            "GET&/p&B=2&a=3&b=1"
        );
        // The path: the base removed, no trailing '/', "/" when empty, '&' encoded.
        assert_eq!(
            canonical_path("/app/hooks/issue/", "/app").as_deref(),
            Some("/hooks/issue")
        );
        assert_eq!(canonical_path("/app", "/app/").as_deref(), Some("/"));
        assert_eq!(canonical_path("/a&b", "").as_deref(), Some("/a%26b"));
        assert_eq!(canonical_path("/application/x", "/app"), None);
        // SHA-256 of "foo", the documentation's check of the hash step.
        assert_eq!(
            hex::encode(<sha2::Sha256 as sha2::Digest>::digest(b"foo")),
            "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"
        );
    }

    #[test]
    fn a_multipart_form_field_is_read_and_anything_else_is_none() {
        let parts = |ct: &str| {
            http::Request::builder()
                .header("content-type", ct)
                .body(())
                .unwrap()
                .into_parts()
                .0
        };
        let body = "--XyZ\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nx\r\n\
                    --XyZ\r\nContent-Disposition: form-data; name=\"json\"\r\n\r\n{\"a\":1}\r\n--XyZ--\r\n";
        let multi = parts("multipart/form-data; boundary=XyZ");
        assert_eq!(
            form_field(&multi, body.as_bytes(), "json").as_deref(),
            Some("{\"a\":1}")
        );
        assert_eq!(form_field(&multi, body.as_bytes(), "missing"), None);
        // Cut short, or under another boundary: nothing, and no panic.
        assert_eq!(form_field(&multi, &body.as_bytes()[..60], "json"), None);
        let other = parts("multipart/form-data; boundary=Other");
        assert_eq!(form_field(&other, body.as_bytes(), "json"), None);
        assert_eq!(
            form_field(&parts("application/json"), body.as_bytes(), "json"),
            None
        );
        let url = parts("application/x-www-form-urlencoded");
        assert_eq!(
            form_field(&url, b"json=%7B%7D&b=2", "json").as_deref(),
            Some("{}")
        );
    }

    #[test]
    fn contentful_paths_are_encoded_as_its_toolkit_does() {
        assert_eq!(
            contentful_encode_uri("/api/v1/resources/1", None),
            "/api/v1/resources/1"
        );
        assert_eq!(
            contentful_encode_uri("/api/v1", Some("a=1&b=2")),
            "/api/v1?a%253D1%2526b%253D2"
        );
        assert_eq!(contentful_encode_uri("/a b", None), "/a%20b");
    }
}
