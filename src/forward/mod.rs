//! Delivering envelopes to upstreams over pooled, kept-alive connections.
//!
//! One pool of kept-alive connections (`pool`, on hyper's `client::conn`, rustls for `https://`) is
//! shared by all routes; each exchange — connect, send, response head and a small bounded response
//! body — runs under the route's `forward_timeout`.
//! Failures are classified so the status table can tell the vendor to retry: the upstream could not be
//! reached, the exchange broke, or it took too long. `upstream = "stdout"` is a built-in sink that
//! prints each envelope and answers 200, for demos and quickstarts.
//! This module knows nothing about vendors, verification or dedupe.

use crate::envelope::Envelope;
use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method, Request, StatusCode, Uri, header};
use http_body_util::Full;
use hyper_util::client::legacy::connect::HttpConnector;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

mod pool;

/// The most of an upstream's response body relayed back to the vendor.
pub const MAX_REPLY_BODY: usize = 64 * 1024;

const USER_AGENT: HeaderValue =
    HeaderValue::from_static(concat!("hookgate/", env!("CARGO_PKG_VERSION")));

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Upstream {
    Http(Box<Target>),
    /// Print each envelope on standard output and answer 200.
    Stdout,
}

impl Upstream {
    pub fn parse(text: &str) -> Result<Upstream, String> {
        if text == "stdout" {
            return Ok(Upstream::Stdout);
        }
        // Messages show the URL without its credentials, if it has any.
        let shown = crate::config::without_credentials(text);
        let uri: Uri = text
            .parse()
            .map_err(|_| format!("\"{shown}\" is not a URL; write \"http://host:port/path\", \"https://...\" or \"stdout\""))?;
        match uri.scheme_str() {
            Some("http" | "https") if uri.host().is_some() => {
                Ok(Upstream::Http(Box::new(Target::new(uri))))
            }
            _ => Err(format!(
                "\"{shown}\" must be an http:// or https:// URL with a host, or \"stdout\""
            )),
        }
    }
}

/// An `http://` or `https://` URL with a host, and what every request to it needs worked out once:
/// the request line's path and query, and the `Host` header (without any `user:password@`, and
/// with the port only when it is not the scheme's own).
#[derive(Debug, Clone)]
pub struct Target {
    uri: Uri,
    https: bool,
    path: Uri,
    host: HeaderValue,
}

impl PartialEq for Target {
    fn eq(&self, other: &Target) -> bool {
        self.uri == other.uri
    }
}

impl Eq for Target {}

impl Target {
    /// `uri` must have the scheme `http` or `https` and a host (`Upstream::parse` checks).
    fn new(uri: Uri) -> Target {
        let https = uri.scheme_str() == Some("https");
        let path = match uri.path_and_query().map(|p| p.as_str()) {
            None | Some("" | "/") => Uri::from_static("/"),
            Some(p) => p.parse().unwrap_or_else(|_| Uri::from_static("/")),
        };
        let host = uri.host().unwrap_or_default();
        let host = match uri.port_u16() {
            Some(port) if port != if https { 443 } else { 80 } => format!("{host}:{port}"),
            _ => host.to_string(),
        };
        let host = HeaderValue::try_from(host).unwrap_or(HeaderValue::from_static("localhost"));
        Target {
            uri,
            https,
            path,
            host,
        }
    }

    pub fn uri(&self) -> &Uri {
        &self.uri
    }

    /// What connections are kept under, with the scheme (`https`).
    fn authority(&self) -> &str {
        self.uri.authority().map_or("", |a| a.as_str())
    }

    /// An HTTP/1 request line carries the path; the host goes in `Host`.
    fn for_http1(&self, request: &mut Request<Full<Bytes>>) {
        *request.uri_mut() = self.path.clone();
        request
            .headers_mut()
            .insert(header::HOST, self.host.clone());
    }

    /// HTTP/2 takes scheme, authority and path from the URL itself.
    fn for_http2(&self, request: &mut Request<Full<Bytes>>) {
        *request.uri_mut() = self.uri.clone();
        request.headers_mut().remove(header::HOST);
    }
}

impl std::fmt::Display for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Upstream::Http(target) => write!(f, "{}", target.uri),
            Upstream::Stdout => f.write_str("stdout"),
        }
    }
}

/// What the upstream answered.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: StatusCode,
    pub content_type: Option<HeaderValue>,
    /// Empty when the upstream sent nothing or more than `MAX_REPLY_BODY`.
    pub body: Bytes,
    pub latency: Duration,
    /// The upstream's `Retry-After`, when it sent one.
    pub retry_after: Option<HeaderValue>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ForwardError {
    #[error("could not connect to the upstream: {0}")]
    Unreachable(String),
    #[error("the exchange with the upstream failed: {0}")]
    Broken(String),
    #[error("the upstream did not answer within forward_timeout")]
    Timeout,
}

/// Connection-pool settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolSettings {
    pub idle_timeout: Duration,
    pub max_idle_per_host: usize,
}

impl Default for PoolSettings {
    fn default() -> Self {
        PoolSettings {
            idle_timeout: Duration::from_secs(90),
            max_idle_per_host: 1024,
        }
    }
}

/// The shared upstream client.
#[derive(Clone)]
pub struct Forwarder {
    pool: Arc<pool::Pool>,
}

impl Forwarder {
    pub fn new(pool: &PoolSettings) -> std::io::Result<Forwarder> {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()?
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(http);
        Ok(Forwarder {
            pool: Arc::new(pool::Pool::new(https, pool)),
        })
    }

    /// Sends `envelope` to `upstream` with `extra` headers, within `timeout`.
    pub async fn send(
        &self,
        upstream: &Upstream,
        envelope: Envelope,
        extra: Vec<(HeaderName, HeaderValue)>,
        timeout: Duration,
    ) -> Result<Reply, ForwardError> {
        let started = Instant::now();
        let target = match upstream {
            Upstream::Stdout => return Ok(print(envelope, started)),
            Upstream::Http(target) => target,
        };
        let mut request = Request::new(Full::new(envelope.body));
        *request.method_mut() = Method::POST;
        let headers = request.headers_mut();
        // Sized once for ours, the envelope's and Host, rather than grown as they come.
        headers.reserve(4 + envelope.headers.len() + extra.len());
        headers.insert(header::CONTENT_TYPE, envelope.content_type);
        headers.insert(header::USER_AGENT, USER_AGENT);
        for (name, value) in envelope.headers.into_iter().chain(extra) {
            headers.insert(name, value);
        }
        let exchange = async {
            let (head, body) = self.pool.exchange(target, request, MAX_REPLY_BODY).await?;
            Ok(Reply {
                status: head.status,
                content_type: head.headers.get(header::CONTENT_TYPE).cloned(),
                // The status decides the outcome; a body that is too large or breaks is not relayed.
                body: body.unwrap_or_default(),
                latency: started.elapsed(),
                retry_after: head.headers.get(header::RETRY_AFTER).cloned(),
            })
        };
        match tokio::time::timeout(timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(ForwardError::Timeout),
        }
    }
}

impl Forwarder {
    /// Fetches `uri` (a vendor's published keys): a GET, or a POST of `json` when given. Its
    /// status, `Cache-Control` and at most `limit` bytes of body, within `timeout`.
    pub async fn fetch(
        &self,
        uri: &http::Uri,
        json: Option<Bytes>,
        limit: usize,
        timeout: Duration,
    ) -> Result<(StatusCode, Option<HeaderValue>, Bytes), String> {
        let target = match Upstream::parse(&uri.to_string()) {
            Ok(Upstream::Http(target)) => target,
            _ => return Err(format!("{uri} is not an http:// or https:// URL")),
        };
        let post = json.is_some();
        let mut request = Request::new(Full::new(json.unwrap_or_default()));
        if post {
            *request.method_mut() = Method::POST;
            request.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
        }
        request.headers_mut().insert(header::USER_AGENT, USER_AGENT);
        let exchange = async {
            let (head, body) = self
                .pool
                .exchange(&target, request, limit)
                .await
                .map_err(|e| match e {
                    // What the vendor's host did, without calling it an upstream.
                    ForwardError::Unreachable(detail) => format!("could not connect: {detail}"),
                    ForwardError::Broken(detail) => detail,
                    ForwardError::Timeout => format!("no answer within {timeout:?}"),
                })?;
            let body = body
                .map_err(|e| format!("the body could not be read (at most {limit} bytes): {e}"))?;
            Ok((
                head.status,
                head.headers.get(header::CACHE_CONTROL).cloned(),
                body,
            ))
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .unwrap_or_else(|_| Err(format!("no answer within {timeout:?}")))
    }
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

fn print(envelope: Envelope, started: Instant) -> Reply {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(&envelope.body);
    let _ = out.write_all(b"\n");
    let _ = out.flush();
    Reply {
        status: StatusCode::OK,
        content_type: None,
        body: Bytes::new(),
        latency: started.elapsed(),
        retry_after: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstreams_parse_or_say_what_would_be_valid() {
        assert_eq!(Upstream::parse("stdout").unwrap(), Upstream::Stdout);
        assert!(matches!(
            Upstream::parse("http://127.0.0.1:9000/events"),
            Ok(Upstream::Http(_))
        ));
        assert!(matches!(
            Upstream::parse("https://billing.internal/x"),
            Ok(Upstream::Http(_))
        ));
        for bad in [
            "ftp://x/y",
            "/just/a/path",
            "billing.internal:8000",
            "http://",
        ] {
            let err = Upstream::parse(bad).unwrap_err();
            assert!(err.contains("http://"), "{bad}: {err}");
        }
    }
}
