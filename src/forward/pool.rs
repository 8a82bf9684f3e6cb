//! Kept-alive connections to upstreams, on hyper's own `client::conn`.
//!
//! Idle HTTP/1 connections wait in a stack per origin (scheme and authority), newest on top; an
//! HTTP/2 connection (offered by a TLS upstream through ALPN) is shared by every request to its
//! origin. A connection goes back on the stack only once its response has been read to the end, and
//! is dropped when it has been idle for `idle_timeout`, when the stack holds `max_idle_per_host`, or
//! when its peer closed it. A request that a reused connection closed before sending is sent again on
//! another connection: it never reached the upstream, so nothing can arrive twice.
//!
//! hyper-util's general-purpose pool did the same with a `(Scheme, Authority)` key hashed byte by
//! byte with SipHash on every checkout and return, and a task spawned per request to wait for the
//! connection to be ready again (BENCHMARKS.md); here the origin is a configured string hashed with
//! foldhash, and readiness is awaited by the next request that takes the connection.

use super::{ForwardError, PoolSettings, Target, error_chain};
use bytes::Bytes;
use http::Request;
use http::response::Parts;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::{Connection, HttpConnector};
use hyper_util::rt::{TokioExecutor, TokioTimer};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};
use tower_service::Service;

type Body = Full<Bytes>;

/// Idle connections of one origin.
#[derive(Default)]
struct Idle {
    /// Newest last, each with the moment it became idle.
    h1: Vec<(http1::SendRequest<Body>, Instant)>,
    /// The shared HTTP/2 connection and when it was last used.
    h2: Option<(http2::SendRequest<Body>, Instant)>,
}

/// Origins by authority, one map per scheme (`[http, https]`): a lookup borrows the target's
/// authority and allocates nothing.
type Origins = [HashMap<Box<str>, Idle, foldhash::fast::RandomState>; 2];

/// A connection taken for one exchange.
enum Conn {
    H1(http1::SendRequest<Body>),
    H2(http2::SendRequest<Body>),
}

/// What an exchange answers: the response head, and its body unless it broke or passed the limit.
pub(super) type Answer = (Parts, Result<Bytes, String>);

pub(super) struct Pool {
    connector: HttpsConnector<HttpConnector>,
    origins: Arc<Mutex<Origins>>,
    settings: PoolSettings,
}

impl Pool {
    pub(super) fn new(connector: HttpsConnector<HttpConnector>, settings: &PoolSettings) -> Pool {
        let origins: Arc<Mutex<Origins>> = Arc::default();
        // Without a runtime (a unit test building a forwarder) nothing sweeps: checkouts still drop
        // connections idle for too long.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(sweep(Arc::downgrade(&origins), settings.idle_timeout));
        }
        Pool {
            connector,
            origins,
            settings: settings.clone(),
        }
    }

    /// Sends `request` to `target` and reads at most `limit` bytes of the response body.
    pub(super) async fn exchange(
        &self,
        target: &Target,
        mut request: Request<Body>,
        limit: usize,
    ) -> Result<Answer, ForwardError> {
        loop {
            let (conn, reused) = match self.checkout(target).await {
                Some(conn) => (conn, true),
                // Boxed: connecting (DNS, TCP, TLS, the HTTP/2 handshake) is a large future that
                // a request on a kept-alive connection would otherwise carry, and copy, in its own.
                None => (Box::pin(self.connect(target)).await?, false),
            };
            let h2 = matches!(conn, Conn::H2(_));
            let sent = match conn {
                Conn::H1(mut sender) => {
                    target.for_http1(&mut request);
                    let sent = sender.try_send_request(request).await;
                    sent.map(|response| (response, Some(sender)))
                }
                Conn::H2(mut sender) => {
                    target.for_http2(&mut request);
                    let sent = sender.try_send_request(request).await;
                    sent.map(|response| (response, None))
                }
            };
            match sent {
                Ok((response, h1)) => {
                    let (head, body) = response.into_parts();
                    let body = read(body, limit).await;
                    // Read to the end: the connection can carry the next request.
                    if let (Some(sender), Ok(_)) = (h1, &body) {
                        self.put(target, sender);
                    }
                    return Ok((head, body));
                }
                Err(mut failed) => match failed.take_message() {
                    // Never written: a kept-alive connection the upstream had closed meanwhile.
                    // An HTTP/1 connection that fails is not put back; a shared HTTP/2 one (going
                    // away, say) is taken out of the pool, so that the retry does not find it again.
                    Some(unsent) if reused => {
                        if h2 {
                            self.forget_h2(target);
                        }
                        request = unsent;
                    }
                    _ => return Err(ForwardError::Broken(error_chain(&failed.into_error()))),
                },
            }
        }
    }

    /// An idle connection to `target`'s origin that is ready for a request, if there is one.
    async fn checkout(&self, target: &Target) -> Option<Conn> {
        loop {
            let now = Instant::now();
            let mut sender = {
                let mut origins = self.origins.lock().unwrap_or_else(|p| p.into_inner());
                let idle = origins[target.https as usize].get_mut(target.authority())?;
                if let Some((h2, used)) = &mut idle.h2 {
                    if !h2.is_closed() {
                        *used = now;
                        return Some(Conn::H2(h2.clone()));
                    }
                    idle.h2 = None;
                }
                loop {
                    let (sender, since) = idle.h1.pop()?;
                    if !sender.is_closed() && now.duration_since(since) < self.settings.idle_timeout
                    {
                        break sender;
                    }
                }
            };
            // Ready unless the connection is still finishing its last response, or closes now.
            if sender.ready().await.is_ok() {
                return Some(Conn::H1(sender));
            }
        }
    }

    fn forget_h2(&self, target: &Target) {
        let mut origins = self.origins.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(idle) = origins[target.https as usize].get_mut(target.authority()) {
            idle.h2 = None;
        }
    }

    fn put(&self, target: &Target, sender: http1::SendRequest<Body>) {
        if sender.is_closed() {
            return;
        }
        let mut origins = self.origins.lock().unwrap_or_else(|p| p.into_inner());
        let by_authority = &mut origins[target.https as usize];
        let idle = match by_authority.get_mut(target.authority()) {
            Some(idle) => idle,
            None => by_authority.entry(target.authority().into()).or_default(),
        };
        if idle.h1.len() < self.settings.max_idle_per_host {
            idle.h1.push((sender, Instant::now()));
        }
    }

    /// A new connection: TCP, TLS for `https://`, and HTTP/2 when the upstream chose it in ALPN.
    async fn connect(&self, target: &Target) -> Result<Conn, ForwardError> {
        let unreachable = |e: &dyn std::error::Error| ForwardError::Unreachable(error_chain(e));
        let mut connector = self.connector.clone();
        std::future::poll_fn(|cx| connector.poll_ready(cx))
            .await
            .map_err(|e| unreachable(&*e))?;
        let io = connector
            .call(target.uri().clone())
            .await
            .map_err(|e| unreachable(&*e))?;
        if io.connected().is_negotiated_h2() {
            let (sender, connection) = http2::Builder::new(TokioExecutor::new())
                .timer(TokioTimer::new())
                .handshake(io)
                .await
                .map_err(|e| unreachable(&e))?;
            tokio::spawn(connection);
            let mut origins = self.origins.lock().unwrap_or_else(|p| p.into_inner());
            let idle = origins[target.https as usize]
                .entry(target.authority().into())
                .or_default();
            idle.h2 = Some((sender.clone(), Instant::now()));
            Ok(Conn::H2(sender))
        } else {
            let (sender, connection) = http1::handshake(io).await.map_err(|e| unreachable(&e))?;
            tokio::spawn(connection);
            Ok(Conn::H1(sender))
        }
    }

    /// Idle connections per scheme, for tests.
    #[cfg(test)]
    fn idle(&self) -> usize {
        let origins = self.origins.lock().unwrap();
        origins
            .iter()
            .flat_map(|m| m.values())
            .map(|i| i.h1.len() + usize::from(i.h2.is_some()))
            .sum()
    }
}

async fn read(body: Incoming, limit: usize) -> Result<Bytes, String> {
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) => Err(e.to_string()),
    }
}

/// Every `idle_timeout`, drops the connections idle longer than that (and those their peers
/// closed), so that a quiet upstream's connections do not stay open; ends with the pool.
async fn sweep(origins: Weak<Mutex<Origins>>, idle_timeout: Duration) {
    let mut tick = tokio::time::interval(idle_timeout.max(Duration::from_secs(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        let Some(origins) = origins.upgrade() else {
            return;
        };
        let now = Instant::now();
        let mut origins = origins.lock().unwrap_or_else(|p| p.into_inner());
        for by_authority in origins.iter_mut() {
            for idle in by_authority.values_mut() {
                idle.h1.retain(|(sender, since)| {
                    !sender.is_closed() && now.duration_since(*since) < idle_timeout
                });
                if idle.h2.as_ref().is_some_and(|(h2, used)| {
                    h2.is_closed() || now.duration_since(*used) >= idle_timeout
                }) {
                    idle.h2 = None;
                }
            }
            by_authority.retain(|_, idle| !idle.h1.is_empty() || idle.h2.is_some());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forward::Upstream;
    use http::Method;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A raw HTTP/1.1 server: counts its connections, records each request's head, answers each
    /// request with `reply`, and closes a connection after its first answer when `close_after_one`
    /// (without `Connection: close`, as a server whose keep-alive timer fired would).
    struct Raw {
        url: String,
        connections: Arc<AtomicUsize>,
        heads: Arc<Mutex<Vec<String>>>,
    }

    async fn raw(reply: &'static str, close_after_one: bool) -> Raw {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook?x=1", listener.local_addr().unwrap());
        let connections = Arc::new(AtomicUsize::new(0));
        let heads = Arc::new(Mutex::new(Vec::new()));
        let (count, seen) = (connections.clone(), heads.clone());
        tokio::spawn(async move {
            loop {
                let (mut socket, _) = listener.accept().await.unwrap();
                count.fetch_add(1, Ordering::SeqCst);
                let seen = seen.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    loop {
                        // One request: its head, then as many bytes as its Content-Length says.
                        let head_end = loop {
                            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                                break i + 4;
                            }
                            if !more(&mut socket, &mut buf).await {
                                return;
                            }
                        };
                        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                        let length: usize = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length: "))
                            .map_or(0, |v| v.trim().parse().unwrap());
                        while buf.len() < head_end + length {
                            if !more(&mut socket, &mut buf).await {
                                return;
                            }
                        }
                        buf.drain(..head_end + length);
                        seen.lock().unwrap().push(head);
                        if socket.write_all(reply.as_bytes()).await.is_err() || close_after_one {
                            return;
                        }
                    }
                });
            }
        });
        Raw {
            url,
            connections,
            heads,
        }
    }

    /// Reads what has arrived onto `buf`; false once the peer has closed.
    async fn more(socket: &mut tokio::net::TcpStream, buf: &mut Vec<u8>) -> bool {
        let mut chunk = [0u8; 4096];
        match socket.read(&mut chunk).await {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                true
            }
        }
    }

    const OK: &str = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";

    fn target(url: &str) -> Target {
        match Upstream::parse(url).unwrap() {
            Upstream::Http(t) => *t,
            Upstream::Stdout => unreachable!(),
        }
    }

    fn request(body: &'static str) -> Request<Body> {
        let mut r = Request::new(Full::new(Bytes::from_static(body.as_bytes())));
        *r.method_mut() = Method::POST;
        r
    }

    /// A pool as `Forwarder::new` builds one, trusting only `ca` for TLS.
    fn pool_trusting(ca: Option<&rcgen::Certificate>, settings: PoolSettings) -> Pool {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(test_client_config(ca))
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(http);
        Pool::new(https, &settings)
    }

    fn plain_pool(settings: PoolSettings) -> Pool {
        pool_trusting(None, settings)
    }

    /// One exchange that must succeed with a body.
    async fn ok(pool: &Pool, t: &Target, body: &'static str) -> Bytes {
        pool.exchange(t, request(body), 1024)
            .await
            .unwrap()
            .1
            .unwrap()
    }

    fn test_client_config(ca: Option<&rcgen::Certificate>) -> rustls::ClientConfig {
        let mut roots = rustls::RootCertStore::empty();
        if let Some(ca) = ca {
            roots.add(ca.der().clone()).unwrap();
        }
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth()
    }

    #[tokio::test]
    async fn a_connection_read_to_the_end_carries_the_next_request() {
        let server = raw(OK, false).await;
        let pool = plain_pool(PoolSettings::default());
        let t = target(&server.url);
        for body in ["one", "two", "three"] {
            let (head, reply) = pool.exchange(&t, request(body), 1024).await.unwrap();
            assert_eq!(head.status, 200);
            assert_eq!(reply.unwrap(), "ok");
        }
        assert_eq!(server.connections.load(Ordering::SeqCst), 1);
        assert_eq!(pool.idle(), 1);
        // The request line carries the path and query, Host the authority.
        let heads = server.heads.lock().unwrap().clone();
        assert_eq!(heads.len(), 3);
        let port = server
            .url
            .split(':')
            .nth(2)
            .unwrap()
            .split('/')
            .next()
            .unwrap();
        for head in heads {
            assert!(head.starts_with("POST /hook?x=1 HTTP/1.1\r\n"), "{head}");
            assert!(
                head.contains(&format!("host: 127.0.0.1:{port}\r\n")),
                "{head}"
            );
        }
    }

    #[tokio::test]
    async fn an_upstream_that_drops_kept_alive_connections_still_gets_each_request_once() {
        let server = raw(OK, true).await;
        let pool = plain_pool(PoolSettings::default());
        let t = target(&server.url);
        for body in ["one", "two", "three", "four"] {
            let (head, _) = pool.exchange(&t, request(body), 1024).await.unwrap();
            assert_eq!(head.status, 200);
        }
        // Each closed connection was either seen closed at checkout, or refused the request
        // unsent, which then went on a new one: never one request twice, never one lost.
        assert_eq!(server.heads.lock().unwrap().len(), 4);
        assert_eq!(server.connections.load(Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn a_body_over_the_limit_is_not_relayed_and_its_connection_not_kept() {
        let server = raw(
            "HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n0123456789",
            false,
        )
        .await;
        let pool = plain_pool(PoolSettings::default());
        let t = target(&server.url);
        let (head, body) = pool.exchange(&t, request("x"), 4).await.unwrap();
        assert_eq!(head.status, 200);
        assert!(body.is_err());
        assert_eq!(pool.idle(), 0);
        ok(&pool, &t, "y").await;
        assert_eq!(server.connections.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn idle_timeout_and_max_idle_bound_what_is_kept() {
        let server = raw(OK, false).await;
        let t = target(&server.url);
        let expired = plain_pool(PoolSettings {
            idle_timeout: Duration::ZERO,
            max_idle_per_host: 8,
        });
        ok(&expired, &t, "a").await;
        ok(&expired, &t, "b").await;
        assert_eq!(server.connections.load(Ordering::SeqCst), 2);
        let none_kept = plain_pool(PoolSettings {
            idle_timeout: Duration::from_secs(90),
            max_idle_per_host: 0,
        });
        ok(&none_kept, &t, "c").await;
        assert_eq!(none_kept.idle(), 0);
        ok(&none_kept, &t, "d").await;
        assert_eq!(server.connections.load(Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn an_unreachable_upstream_is_told_apart_from_a_broken_exchange() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let pool = plain_pool(PoolSettings::default());
        let refused = pool
            .exchange(&target(&format!("http://{addr}/")), request("x"), 1024)
            .await;
        assert!(
            matches!(refused, Err(ForwardError::Unreachable(_))),
            "{refused:?}"
        );
        // A server that reads the request and hangs up without answering: it may have acted on
        // it, so the request is not sent again.
        let server = raw("", true).await;
        let broken = pool
            .exchange(&target(&server.url), request("x"), 1024)
            .await;
        assert!(matches!(broken, Err(ForwardError::Broken(_))), "{broken:?}");
        assert_eq!(server.heads.lock().unwrap().len(), 1);
    }

    /// A TLS upstream with a certificate from a CA made here, offering `alpn`; answers with the
    /// HTTP version it was asked in and counts connections.
    async fn tls_upstream(alpn: &[u8]) -> (String, rcgen::Certificate, Arc<AtomicUsize>) {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec!["localhost".to_string()])
            .unwrap()
            .signed_by(&key, &ca, &ca_key)
            .unwrap();
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .unwrap();
        config.alpn_protocols = vec![alpn.to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let connections = Arc::new(AtomicUsize::new(0));
        let count = connections.clone();
        tokio::spawn(async move {
            loop {
                let (tcp, _) = listener.accept().await.unwrap();
                count.fetch_add(1, Ordering::SeqCst);
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let service = hyper::service::service_fn(|r: Request<Incoming>| async move {
                        let text = format!("{:?} {}", r.version(), r.uri());
                        Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(
                            Bytes::from(text),
                        )))
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        (format!("https://localhost:{port}/in?a=b"), ca, connections)
    }

    fn tls_pool(ca: &rcgen::Certificate) -> Pool {
        pool_trusting(Some(ca), PoolSettings::default())
    }

    #[tokio::test]
    async fn a_tls_upstream_offering_http2_shares_one_connection_between_concurrent_requests() {
        let (url, ca, connections) = tls_upstream(b"h2").await;
        let pool = Arc::new(tls_pool(&ca));
        let t = target(&url);
        // The first request makes the connection; the next ones, all at once, share it.
        let (_, first) = pool.exchange(&t, request("x"), 1024).await.unwrap();
        assert_eq!(first.unwrap(), format!("HTTP/2.0 {url}"));
        let mut all = Vec::new();
        for _ in 0..8 {
            let (pool, t) = (pool.clone(), t.clone());
            all.push(tokio::spawn(async move {
                pool.exchange(&t, request("y"), 1024).await.unwrap()
            }));
        }
        for one in all {
            let (head, body) = one.await.unwrap();
            assert_eq!(head.status, 200);
            assert!(body.unwrap().starts_with(b"HTTP/2.0 https://localhost:"));
        }
        assert_eq!(connections.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_tls_upstream_offering_http1_is_spoken_to_in_http1_and_kept_alive() {
        let (url, ca, connections) = tls_upstream(b"http/1.1").await;
        let pool = tls_pool(&ca);
        let t = target(&url);
        for _ in 0..3 {
            let (_, body) = pool.exchange(&t, request("x"), 1024).await.unwrap();
            assert_eq!(body.unwrap(), "HTTP/1.1 /in?a=b");
        }
        assert_eq!(connections.load(Ordering::SeqCst), 1);
        // A certificate no configured root signed is refused as an unreachable upstream.
        let (other, _, _) = tls_upstream(b"http/1.1").await;
        let refused = pool.exchange(&target(&other), request("x"), 1024).await;
        assert!(
            matches!(refused, Err(ForwardError::Unreachable(_))),
            "{refused:?}"
        );
    }
}
