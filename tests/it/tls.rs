//! TLS termination with a test CA generated here: both ALPN protocols, a certificate swapped on reload
//! that new connections see while an old one keeps working, and a bad certificate refused.

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
