//! TLS termination: the certificate the public listener serves, swappable while connections stay open.
//!
//! `CertStore` is a rustls certificate resolver over an atomically replaceable certificate: a reload
//! parses and checks the new files completely (chain present, key matching the leaf) before it takes
//! the place of the old one, so a bad renewal leaves the working certificate in service. Open
//! connections keep the certificate they were established with; new handshakes get the new one.
//! This module knows nothing about HTTP or routes.

use crate::config::TlsConfig;
use arc_swap::ArcSwap;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

/// What identifies a version of the certificate files on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp(Vec<(Option<SystemTime>, u64)>);

impl Stamp {
    fn of(config: &TlsConfig) -> Stamp {
        Stamp(
            [&config.cert, &config.key]
                .iter()
                .map(|p| match std::fs::metadata(p) {
                    Ok(m) => (m.modified().ok(), m.len()),
                    Err(_) => (None, 0),
                })
                .collect(),
        )
    }
}

#[derive(Debug)]
pub struct CertStore {
    current: ArcSwap<CertifiedKey>,
    /// The files in use and their stamp when last loaded, for noticing renewals on disk.
    files: Mutex<(TlsConfig, Stamp)>,
}

impl CertStore {
    /// Loads the certificate chain and key named by `config`.
    pub fn load(config: &TlsConfig) -> Result<Arc<CertStore>, String> {
        let stamp = Stamp::of(config);
        let key = read(config)?;
        Ok(Arc::new(CertStore {
            current: ArcSwap::from_pointee(key),
            files: Mutex::new((config.clone(), stamp)),
        }))
    }

    /// Replaces the certificate with the one in `config`'s files, or keeps the current one and says
    /// why not.
    pub fn reload(&self, config: &TlsConfig) -> Result<(), String> {
        let stamp = Stamp::of(config);
        let key = read(config)?;
        self.current.store(Arc::new(key));
        *self.files.lock().unwrap_or_else(|e| e.into_inner()) = (config.clone(), stamp);
        Ok(())
    }

    /// Reloads when the files changed on disk since the last load; `None` when they did not.
    pub fn reload_if_changed(&self) -> Option<Result<(), String>> {
        let (config, stamp) = self.files.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if Stamp::of(&config) == stamp {
            return None;
        }
        let result = self.reload(&config);
        if result.is_err() {
            // Remember the bad version, so it is reported once rather than at every check.
            self.files.lock().unwrap_or_else(|e| e.into_inner()).1 = Stamp::of(&config);
        }
        Some(result)
    }

    /// The rustls configuration for the public listener: this store's certificate, ALPN h2 then
    /// http/1.1.
    pub fn server_config(self: &Arc<Self>) -> rustls::ServerConfig {
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("the ring provider supports the default protocol versions")
        .with_no_client_auth()
        .with_cert_resolver(self.clone());
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        config
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

/// Reads and checks a PEM chain (leaf first) and its private key.
fn read(config: &TlsConfig) -> Result<CertifiedKey, String> {
    let shown = |p: &Path| p.display().to_string();
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&config.cert)
        .map_err(|e| format!("{}: {e}", shown(&config.cert)))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: {e}", shown(&config.cert)))?;
    if chain.is_empty() {
        return Err(format!(
            "{}: no certificate found; the file must hold the PEM chain, leaf first",
            shown(&config.cert)
        ));
    }
    let key = PrivateKeyDer::from_pem_file(&config.key).map_err(|e| {
        format!(
            "{}: {e}; the file must hold a PEM private key (PKCS#8, PKCS#1 or SEC1)",
            shown(&config.key)
        )
    })?;
    let provider = rustls::crypto::ring::default_provider();
    CertifiedKey::from_der(chain, key, &provider)
        .map_err(|e| format!("{} and {}: {e}", shown(&config.cert), shown(&config.key)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(dir: &Path, name: &str) -> TlsConfig {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let config = TlsConfig {
            cert: dir.join(format!("{name}.crt")),
            key: dir.join(format!("{name}.key")),
        };
        std::fs::write(&config.cert, cert.pem()).unwrap();
        std::fs::write(&config.key, key.serialize_pem()).unwrap();
        config
    }

    fn temp_dir(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("hookgate-tls-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_bad_certificate_is_refused_and_the_old_one_kept() {
        let dir = temp_dir("bad");
        let good = pair(&dir, "good");
        let store = CertStore::load(&good).unwrap();
        let before = store.current.load_full().cert[0].clone();

        let other = pair(&dir, "other");
        // A key that does not belong to the certificate.
        let mismatched = TlsConfig {
            cert: good.cert.clone(),
            key: other.key.clone(),
        };
        let err = store.reload(&mismatched).unwrap_err();
        assert!(
            err.contains("good.crt") && err.contains("other.key"),
            "{err}"
        );

        let garbage = dir.join("garbage.crt");
        std::fs::write(&garbage, "not a certificate").unwrap();
        let err = store
            .reload(&TlsConfig {
                cert: garbage,
                key: good.key.clone(),
            })
            .unwrap_err();
        assert!(err.contains("no certificate found"), "{err}");
        assert_eq!(store.current.load_full().cert[0], before);

        store.reload(&other).unwrap();
        assert_ne!(store.current.load_full().cert[0], before);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn files_changed_on_disk_are_noticed() {
        let dir = temp_dir("disk");
        let config = pair(&dir, "a");
        let store = CertStore::load(&config).unwrap();
        assert!(store.reload_if_changed().is_none());
        let before = store.current.load_full().cert[0].clone();
        // Overwrite in place with a new pair (a renewal); lengths differ or mtimes move.
        let renewed = pair(&dir, "b");
        std::fs::copy(&renewed.cert, &config.cert).unwrap();
        std::fs::copy(&renewed.key, &config.key).unwrap();
        std::fs::write(
            &config.cert,
            format!("{}\n", std::fs::read_to_string(&config.cert).unwrap()),
        )
        .unwrap();
        assert_eq!(store.reload_if_changed(), Some(Ok(())));
        assert_ne!(store.current.load_full().cert[0], before);
        assert!(store.reload_if_changed().is_none());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
