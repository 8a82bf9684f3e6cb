//! TLS termination with a test CA generated here: both ALPN protocols, a certificate swapped on reload
//! that new connections see while an old one keeps working, and a bad certificate refused. And TLS
//! upstreams: the binary trusting a CA named in `SSL_CERT_FILE`, speaking HTTP/2 or HTTP/1.1 as
//! the upstream chose, over one kept-alive connection, and refusing a certificate nobody trusts.

use crate::harness::*;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, ServerName};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

const SECRET: &str = "tls-secret";

struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
}

impl Ca {
    fn new() -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "hookgate test CA");
        let cert = params.self_signed(&key).unwrap();
        Ca { cert, key }
    }

    /// Writes a leaf for localhost signed by this CA (chain: leaf then CA) and its key; returns the
    /// leaf's DER to recognise it on the wire.
    fn issue(&self, cert_path: &Path, key_path: &Path, name: &str) -> Vec<u8> {
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        let leaf = params.signed_by(&key, &self.cert, &self.key).unwrap();
        std::fs::write(cert_path, format!("{}{}", leaf.pem(), self.cert.pem())).unwrap();
        std::fs::write(key_path, key.serialize_pem()).unwrap();
        leaf.der().to_vec()
    }

    fn connector(&self, alpn: &[u8]) -> TlsConnector {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from(self.cert.der().to_vec()))
            .unwrap();
        let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        config.alpn_protocols = vec![alpn.to_vec()];
        TlsConnector::from(Arc::new(config))
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hookgate-it-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Connects and completes the handshake; returns the stream, the leaf certificate the server
/// presented, and the protocol ALPN chose.
async fn connect(gw: &Gateway, ca: &Ca, alpn: &[u8]) -> (TlsStream<TcpStream>, Vec<u8>, Vec<u8>) {
    let tcp = TcpStream::connect(gw.addr).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let tls = ca.connector(alpn).connect(name, tcp).await.unwrap();
    let (_, session) = tls.get_ref();
    let leaf = session.peer_certificates().unwrap()[0].to_vec();
    let chosen = session.alpn_protocol().unwrap_or_default().to_vec();
    (tls, leaf, chosen)
}

fn signed_request(n: u32) -> http::Request<Full<bytes::Bytes>> {
    let body = format!(
        r#"{{"event":"core.document.uploaded","event_id":"evt_tls_{n}","timestamp":"{}","data":{{}}}}"#,
        rfc3339(-1)
    );
    let sig = format!("sha256={}", hmac_sha256_hex(SECRET, body.as_bytes()));
    http::Request::builder()
        .method("POST")
        .uri("https://localhost/webhooks/chamelio")
        .header("host", "localhost")
        .header("content-type", "application/json")
        .header("x-chamelio-signature", sig)
        .body(Full::new(bytes::Bytes::from(body)))
        .unwrap()
}

fn config(upstream: &Upstream, dir: &Path) -> (String, String) {
    let routes = format!(
        "[routes.chamelio]\nprovider = \"chamelio\"\nsecrets = [\"{SECRET}\"]\nupstream = \"{}\"\n",
        upstream.url()
    );
    let server = format!(
        "[server.tls]\ncert = \"{}\"\nkey = \"{}\"\n",
        dir.join("server.crt").display(),
        dir.join("server.key").display()
    );
    (routes, server)
}

#[tokio::test]
async fn tls_serves_http2_and_http11_chosen_by_alpn() {
    let dir = temp_dir("alpn");
    let ca = Ca::new();
    ca.issue(&dir.join("server.crt"), &dir.join("server.key"), "first");
    let upstream = Upstream::start().await;
    let (routes, server) = config(&upstream, &dir);
    let gw = Gateway::start(&routes, &server, &[]).await;

    let (tls, _, chosen) = connect(&gw, &ca, b"h2").await;
    assert_eq!(chosen, b"h2");
    let (mut sender, conn) = http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(conn);
    let resp = sender.send_request(signed_request(1)).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.version(), http::Version::HTTP_2);

    let (tls, _, chosen) = connect(&gw, &ca, b"http/1.1").await;
    assert_eq!(chosen, b"http/1.1");
    let (mut sender, conn) = http1::handshake(TokioIo::new(tls)).await.unwrap();
    tokio::spawn(conn);
    let resp = sender.send_request(signed_request(2)).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.version(), http::Version::HTTP_11);

    assert_eq!(upstream.count(), 2);
    gw.stop().await;
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn a_reload_swaps_the_certificate_for_new_connections_only_and_refuses_a_bad_one() {
    let dir = temp_dir("swap");
    let ca = Ca::new();
    let (cert, key) = (dir.join("server.crt"), dir.join("server.key"));
    let first = ca.issue(&cert, &key, "first");
    let upstream = Upstream::start().await;
    let (routes, server) = config(&upstream, &dir);
    let mut gw = Gateway::start(&routes, &server, &[]).await;

    // A keep-alive connection established with the first certificate.
    let (tls, leaf, _) = connect(&gw, &ca, b"http/1.1").await;
    assert_eq!(leaf, first);
    let (mut old, conn) = http1::handshake(TokioIo::new(tls)).await.unwrap();
    tokio::spawn(conn);
    assert_eq!(
        old.send_request(signed_request(1)).await.unwrap().status(),
        200
    );

    // Renewal: new files, then a reload.
    let second = ca.issue(&cert, &key, "second");
    assert_ne!(first, second);
    gw.reload(&routes, &server).unwrap();
    let (_, leaf, _) = connect(&gw, &ca, b"http/1.1").await;
    assert_eq!(leaf, second, "a new connection gets the new certificate");
    let resp = old.send_request(signed_request(2)).await.unwrap();
    assert_eq!(resp.status(), 200, "the old connection keeps working");
    let _ = resp.into_body().collect().await;

    // A broken renewal is refused whole; the working certificate stays in service.
    std::fs::write(
        &cert,
        "-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let err = gw.reload(&routes, &server).unwrap_err();
    assert!(err.contains("server.crt"), "{err}");
    let (_, leaf, _) = connect(&gw, &ca, b"http/1.1").await;
    assert_eq!(leaf, second);
    assert_eq!(upstream.count(), 2);
    gw.stop().await;
    std::fs::remove_dir_all(dir).unwrap();
}

/// An `https://localhost` upstream offering only `alpn`, with a certificate from `ca`: records the
/// HTTP version and event id of each request, and counts its TCP connections.
struct TlsUpstream {
    url: String,
    seen: Arc<std::sync::Mutex<Vec<(http::Version, String)>>>,
    connections: Arc<std::sync::atomic::AtomicUsize>,
}

async fn tls_upstream(ca: &Ca, dir: &Path, alpn: &[u8]) -> TlsUpstream {
    let name = String::from_utf8_lossy(alpn).replace('/', "");
    let (cert, key) = (
        dir.join(format!("{name}.crt")),
        dir.join(format!("{name}.key")),
    );
    ca.issue(&cert, &key, &name);
    let store = hookgate::tls::CertStore::load(&hookgate::config::TlsConfig { cert, key }).unwrap();
    let mut config = store.server_config();
    config.alpn_protocols = vec![alpn.to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "https://localhost:{}/in",
        listener.local_addr().unwrap().port()
    );
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let connections = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (record, count) = (seen.clone(), connections.clone());
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let (acceptor, record) = (acceptor.clone(), record.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service =
                    hyper::service::service_fn(move |r: http::Request<hyper::body::Incoming>| {
                        let record = record.clone();
                        async move {
                            let version = r.version();
                            let body = r.into_body().collect().await.unwrap().to_bytes();
                            let envelope: serde_json::Value =
                                serde_json::from_slice(&body).unwrap();
                            let id = envelope["id"].as_str().unwrap_or_default().to_string();
                            record.lock().unwrap().push((version, id));
                            Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(
                                bytes::Bytes::from_static(b"ok"),
                            )))
                        }
                    });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    TlsUpstream {
        url,
        seen,
        connections,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_upstreams_are_trusted_through_ssl_cert_file_and_spoken_to_as_they_choose() {
    let dir = temp_dir("upstreams");
    let ca = Ca::new();
    let h2 = tls_upstream(&ca, &dir, b"h2").await;
    let h1 = tls_upstream(&ca, &dir, b"http/1.1").await;
    // Signed by a CA the gateway was not told about.
    let stranger = tls_upstream(&Ca::new(), &dir, b"http/1.1").await;
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, ca.cert.pem()).unwrap();
    let route = |name: &str, url: &str| {
        format!(
            "[routes.{name}]\nprovider = \"chamelio\"\nsecrets = [\"{SECRET}\"]\nupstream = \"{url}\"\n"
        )
    };
    let config = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n[store]\nkind = \"memory\"\n[defaults]\ndelivery = \"direct\"\n\n{}{}{}",
        route("two", &h2.url),
        route("one", &h1.url),
        route("stranger", &stranger.url)
    );
    let path = dir.join("hookgate.toml");
    std::fs::write(&path, config).unwrap();
    let proc = Proc::launch_with(
        path,
        dir.join("proc"),
        Launch {
            env: &[("SSL_CERT_FILE", ca_file.to_str().unwrap())],
            ..Launch::default()
        },
    );
    for (route, upstream, version) in [
        ("two", &h2, http::Version::HTTP_2),
        ("one", &h1, http::Version::HTTP_11),
    ] {
        for n in 0..3 {
            let id = format!("evt_{route}_{n}");
            let (headers, body) = chamelio_delivery(SECRET, &id);
            let reply = post(&proc.url(&format!("/webhooks/{route}")), &headers, body).await;
            assert_eq!(reply.status, 200, "{route} {n}: {}", reply.error());
        }
        let seen = upstream.seen.lock().unwrap().clone();
        let expected: Vec<_> = (0..3)
            .map(|n| (version, format!("evt_{route}_{n}")))
            .collect();
        assert_eq!(seen, expected, "{route}");
        // One connection, kept alive (HTTP/1.1) or shared (HTTP/2).
        assert_eq!(
            upstream
                .connections
                .load(std::sync::atomic::Ordering::SeqCst),
            1,
            "{route}"
        );
    }
    let (headers, body) = chamelio_delivery(SECRET, "evt_stranger");
    let reply = post(&proc.url("/webhooks/stranger"), &headers, body).await;
    assert_eq!(reply.status, 502);
    assert_eq!(reply.error(), "upstream_unreachable");
    assert!(stranger.seen.lock().unwrap().is_empty());
    drop(proc);
    std::fs::remove_dir_all(dir).unwrap();
}
