//! Public keys for the asymmetric schemes, parsed once at config load.
//!
//! Vendors publish keys in every shape: Discord as 64 hex digits (raw Ed25519), Standard Webhooks as
//! `whpk_` + base64 (raw Ed25519), SendGrid as base64 DER SubjectPublicKeyInfo (P-256), others as PEM.
//! `parse` accepts PEM, or hex, or base64 of either raw key bytes or DER SubjectPublicKeyInfo.

use base64::Engine;
use ed25519_dalek::pkcs8::DecodePublicKey;
use sha2::Sha256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    Ed25519,
    P256,
    Rsa,
}

#[derive(Clone)]
pub enum PublicKey {
    Ed25519(ed25519_dalek::VerifyingKey),
    P256(p256::ecdsa::VerifyingKey),
    Rsa(Box<rsa::pkcs1v15::VerifyingKey<Sha256>>),
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PublicKey::Ed25519(_) => "PublicKey(Ed25519)",
            PublicKey::P256(_) => "PublicKey(P-256)",
            PublicKey::Rsa(_) => "PublicKey(RSA)",
        })
    }
}

/// A valid key of `kind` that verifies nothing anyone signed: what `check --no-secrets` puts where
/// a key it did not read would be.
pub fn placeholder(kind: KeyKind) -> PublicKey {
    match kind {
        KeyKind::Ed25519 => {
            PublicKey::Ed25519(ed25519_dalek::SigningKey::from_bytes(&[7; 32]).verifying_key())
        }
        KeyKind::P256 => {
            let key = p256::ecdsa::SigningKey::from_bytes(&[7u8; 32].into())
                .expect("7…7 is a valid P-256 scalar");
            PublicKey::P256(*key.verifying_key())
        }
        KeyKind::Rsa => {
            let n = rsa::BigUint::from_bytes_be(&[0xff; 256]);
            let key = rsa::RsaPublicKey::new(n, rsa::BigUint::from(65_537u32))
                .expect("a 2048-bit modulus and e = 65537 are accepted");
            PublicKey::Rsa(Box::new(rsa::pkcs1v15::VerifyingKey::new(key)))
        }
    }
}

/// Parses `text` as a key of `kind`; `prefix` (such as `whpk_`) is removed first when present.
pub fn parse(kind: KeyKind, text: &str, prefix: Option<&str>) -> Result<PublicKey, String> {
    let text = text.trim();
    let text = prefix.and_then(|p| text.strip_prefix(p)).unwrap_or(text);
    if text.starts_with("-----BEGIN") {
        return from_pem(kind, text);
    }
    let bytes = if text.len() % 2 == 0 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        hex::decode(text).map_err(|e| e.to_string())?
    } else {
        base64::engine::general_purpose::STANDARD
            .decode(text.trim_end_matches('='))
            .or_else(|_| {
                base64::engine::general_purpose::STANDARD_NO_PAD.decode(text.trim_end_matches('='))
            })
            .map_err(|_| "is neither PEM, hex nor base64".to_string())?
    };
    from_bytes(kind, &bytes)
}

fn from_pem(kind: KeyKind, pem: &str) -> Result<PublicKey, String> {
    let bad = |e: &dyn std::fmt::Display| format!("is not a valid {kind:?} public key in PEM: {e}");
    match kind {
        KeyKind::Ed25519 => ed25519_dalek::VerifyingKey::from_public_key_pem(pem)
            .map(PublicKey::Ed25519)
            .map_err(|e| bad(&e)),
        KeyKind::P256 => p256::ecdsa::VerifyingKey::from_public_key_pem(pem)
            .map(PublicKey::P256)
            .map_err(|e| bad(&e)),
        KeyKind::Rsa => {
            use rsa::pkcs1::DecodeRsaPublicKey;
            rsa::RsaPublicKey::from_public_key_pem(pem)
                .or_else(|_| rsa::RsaPublicKey::from_pkcs1_pem(pem))
                .map(|k| PublicKey::Rsa(Box::new(rsa::pkcs1v15::VerifyingKey::new(k))))
                .map_err(|e| bad(&e))
        }
    }
}

fn from_bytes(kind: KeyKind, bytes: &[u8]) -> Result<PublicKey, String> {
    match kind {
        KeyKind::Ed25519 => {
            if let Ok(raw) = <[u8; 32]>::try_from(bytes) {
                return ed25519_dalek::VerifyingKey::from_bytes(&raw)
                    .map(PublicKey::Ed25519)
                    .map_err(|_| "is not a valid Ed25519 public key".to_string());
            }
            ed25519_dalek::VerifyingKey::from_public_key_der(bytes)
                .map(PublicKey::Ed25519)
                .map_err(|_| "is not an Ed25519 public key (32 raw bytes or DER)".to_string())
        }
        KeyKind::P256 => p256::ecdsa::VerifyingKey::from_public_key_der(bytes)
            .or_else(|_| p256::ecdsa::VerifyingKey::from_sec1_bytes(bytes))
            .map(PublicKey::P256)
            .map_err(|_| {
                "is not a P-256 public key (DER SubjectPublicKeyInfo or SEC1 point)".to_string()
            }),
        KeyKind::Rsa => {
            use rsa::pkcs1::DecodeRsaPublicKey;
            rsa::RsaPublicKey::from_public_key_der(bytes)
                .or_else(|_| rsa::RsaPublicKey::from_pkcs1_der(bytes))
                .map(|k| PublicKey::Rsa(Box::new(rsa::pkcs1v15::VerifyingKey::new(k))))
                .map_err(|_| "is not an RSA public key (DER or PEM)".to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_shapes_vendors_publish() {
        // RFC 8032 section 7.1, test 1: an Ed25519 public key as hex (Discord's shape).
        let hex_key = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
        assert!(matches!(
            parse(KeyKind::Ed25519, hex_key, None),
            Ok(PublicKey::Ed25519(_))
        ));
        // The same key as whpk_ + base64 (Standard Webhooks' shape).
        let b64 = base64::engine::general_purpose::STANDARD.encode(hex::decode(hex_key).unwrap());
        let whpk = format!("whpk_{b64}");
        assert!(matches!(
            parse(KeyKind::Ed25519, &whpk, Some("whpk_")),
            Ok(PublicKey::Ed25519(_))
        ));
        // SendGrid's published example key (sendgrid-nodejs eventwebhook tests): base64 DER SPKI.
        let sendgrid = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEEDr2LjtURuePQzplybdC+u4CwrqDqBaWjcMMsTbhdbcwHBcepxo7yAQGhHPTnlvFYPAZFceEu/1FwCM/QmGUhA==";
        assert!(matches!(
            parse(KeyKind::P256, sendgrid, None),
            Ok(PublicKey::P256(_))
        ));
        assert!(parse(KeyKind::P256, "bm90IGEga2V5", None).is_err());
        assert!(parse(KeyKind::Ed25519, "abcd", None).is_err());
    }
}
