//! HMAC keys and signature encodings.
//!
//! A `Key` is an HMAC whose key schedule (the inner and outer padded blocks) was computed once when the
//! configuration was loaded; verifying a request clones that state and feeds the signed content, so the
//! per-request cost is exactly the MAC over the payload. Comparisons of a computed tag against what the
//! sender presented are constant-time.

use crate::secret::Secret;
use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use constant_time_eq::constant_time_eq;
use hmac::{Hmac, Mac};
use md5::Md5;
use sha1::Sha1;
use sha2::{Sha256, Sha512};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// Only for vendors that still sign with it (Patreon); MD5 is broken for collisions, which an
    /// HMAC does not rely on (RFC 6151), but no one should choose it.
    HmacMd5,
    HmacSha1,
    HmacSha256,
    HmacSha512,
}

impl Algorithm {
    pub const NAMES: &'static [&'static str] =
        &["hmac-md5", "hmac-sha1", "hmac-sha256", "hmac-sha512"];

    pub fn parse(name: &str) -> Option<Algorithm> {
        match name {
            "hmac-md5" => Some(Algorithm::HmacMd5),
            "hmac-sha1" => Some(Algorithm::HmacSha1),
            "hmac-sha256" => Some(Algorithm::HmacSha256),
            "hmac-sha512" => Some(Algorithm::HmacSha512),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Algorithm::HmacMd5 => "hmac-md5",
            Algorithm::HmacSha1 => "hmac-sha1",
            Algorithm::HmacSha256 => "hmac-sha256",
            Algorithm::HmacSha512 => "hmac-sha512",
        }
    }

    pub fn tag_len(self) -> usize {
        match self {
            Algorithm::HmacMd5 => 16,
            Algorithm::HmacSha1 => 20,
            Algorithm::HmacSha256 => 32,
            Algorithm::HmacSha512 => 64,
        }
    }
}

/// A prepared HMAC key.
#[derive(Clone)]
pub enum Key {
    Md5(Hmac<Md5>),
    Sha1(Hmac<Sha1>),
    Sha256(Hmac<Sha256>),
    Sha512(Hmac<Sha512>),
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(<redacted>)")
    }
}

impl Key {
    pub fn new(algorithm: Algorithm, secret: &Secret) -> Key {
        // HMAC accepts keys of any length, so these constructors cannot fail.
        let bytes = secret.expose();
        match algorithm {
            Algorithm::HmacMd5 => Key::Md5(Hmac::new_from_slice(bytes).expect("any key length")),
            Algorithm::HmacSha1 => Key::Sha1(Hmac::new_from_slice(bytes).expect("any key length")),
            Algorithm::HmacSha256 => {
                Key::Sha256(Hmac::new_from_slice(bytes).expect("any key length"))
            }
            Algorithm::HmacSha512 => {
                Key::Sha512(Hmac::new_from_slice(bytes).expect("any key length"))
            }
        }
    }

    /// Starts a MAC computation from the prepared key schedule.
    pub fn start(&self) -> Running {
        Running(self.clone())
    }

    /// Computes the MAC of what `feed` produces and tells whether any of `presented` equals it
    /// (constant-time per comparison). Only the concrete key state is copied, not the enum, which
    /// keeps the per-request cost at the MAC itself.
    pub fn matches_any<E>(
        &self,
        presented: &[Decoded],
        feed: impl FnOnce(&mut dyn FnMut(&[u8])) -> Result<(), E>,
    ) -> Result<bool, E> {
        fn run<M: Mac + Clone, E>(
            key: &M,
            presented: &[Decoded],
            feed: impl FnOnce(&mut dyn FnMut(&[u8])) -> Result<(), E>,
        ) -> Result<bool, E> {
            let mut mac = key.clone();
            feed(&mut |b| mac.update(b))?;
            let tag = mac.finalize().into_bytes();
            // Constant-time per comparison; the lengths are public.
            Ok(presented
                .iter()
                .any(|p| constant_time_eq(&tag, p.as_bytes())))
        }
        match self {
            Key::Md5(k) => run(k, presented, feed),
            Key::Sha1(k) => run(k, presented, feed),
            Key::Sha256(k) => run(k, presented, feed),
            Key::Sha512(k) => run(k, presented, feed),
        }
    }
}

/// A MAC computation in progress.
pub struct Running(Key);

impl Running {
    pub fn update(&mut self, bytes: &[u8]) {
        match &mut self.0 {
            Key::Md5(m) => m.update(bytes),
            Key::Sha1(m) => m.update(bytes),
            Key::Sha256(m) => m.update(bytes),
            Key::Sha512(m) => m.update(bytes),
        }
    }

    pub fn finish(self) -> Tag {
        match self.0 {
            Key::Md5(m) => Tag::from_slice(&m.finalize().into_bytes()),
            Key::Sha1(m) => Tag::from_slice(&m.finalize().into_bytes()),
            Key::Sha256(m) => Tag::from_slice(&m.finalize().into_bytes()),
            Key::Sha512(m) => Tag::from_slice(&m.finalize().into_bytes()),
        }
    }
}

/// A computed MAC, for the handshakes that answer with one (verification compares through
/// `Key::matches_any` instead). Never logged.
pub struct Tag {
    bytes: [u8; 64],
    len: usize,
}

impl Tag {
    fn from_slice(out: &[u8]) -> Tag {
        let mut bytes = [0; 64];
        bytes[..out.len()].copy_from_slice(out);
        Tag {
            bytes,
            len: out.len(),
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// Signatures up to this many bytes are decoded without allocating.
const INLINE: usize = 64;

/// A decoded signature.
pub enum Decoded {
    Inline([u8; INLINE], u8),
    Heap(Vec<u8>),
}

impl Decoded {
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Decoded::Inline(buf, len) => &buf[..usize::from(*len)],
            Decoded::Heap(v) => v,
        }
    }

    pub fn len(&self) -> usize {
        self.as_bytes().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// How a signature (or a key) is written as text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Hex,
    Base64,
    Base64Url,
}

/// Standard base64 that accepts input with or without padding, as vendors differ.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_encode_padding(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);
const BASE64_URL: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

impl Encoding {
    pub const NAMES: &'static [&'static str] = &["hex", "base64", "base64url"];

    pub fn parse(name: &str) -> Option<Encoding> {
        match name {
            "hex" => Some(Encoding::Hex),
            "base64" => Some(Encoding::Base64),
            "base64url" => Some(Encoding::Base64Url),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Encoding::Hex => "hex",
            Encoding::Base64 => "base64",
            Encoding::Base64Url => "base64url",
        }
    }

    /// Decodes presented text. Hex is accepted in either case, since comparisons are on bytes.
    pub fn decode(self, text: &str) -> Option<Vec<u8>> {
        let text = text.trim_ascii();
        if text.is_empty() {
            return None;
        }
        match self {
            Encoding::Hex => hex::decode(text).ok(),
            Encoding::Base64 => BASE64.decode(text).ok(),
            Encoding::Base64Url => BASE64_URL.decode(text).ok(),
        }
    }

    /// Decodes presented text like `decode`, without a heap allocation for signatures of up to 64
    /// bytes (every MAC and Ed25519 signature).
    pub fn decode_inline(self, text: &str) -> Option<Decoded> {
        let text = text.trim_ascii();
        if text.is_empty() {
            return None;
        }
        let mut buf = [0u8; INLINE];
        let len = match self {
            Encoding::Hex if text.len() % 2 == 0 && text.len() / 2 <= INLINE => {
                let n = text.len() / 2;
                // Vectorised where the CPU allows; either case. The text is the sender's, not secret.
                faster_hex::hex_decode(text.as_bytes(), &mut buf[..n]).ok()?;
                n
            }
            Encoding::Base64 if text.len() <= INLINE * 4 / 3 => {
                BASE64.decode_slice(text, &mut buf).ok()?
            }
            Encoding::Base64Url if text.len() <= INLINE * 4 / 3 => {
                BASE64_URL.decode_slice(text, &mut buf).ok()?
            }
            _ => return self.decode(text).map(Decoded::Heap),
        };
        Some(Decoded::Inline(buf, len as u8))
    }

    pub fn encode(self, bytes: &[u8]) -> String {
        match self {
            Encoding::Hex => hex::encode(bytes),
            Encoding::Base64 => BASE64.encode(bytes),
            Encoding::Base64Url => BASE64_URL.encode(bytes),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(alg: Algorithm, key: &[u8], msg: &[u8]) -> String {
        let mut m = Key::new(alg, &Secret::new(key.to_vec())).start();
        m.update(msg);
        hex::encode(m.finish().as_bytes())
    }

    // RFC 4231 test case 2 (HMAC-SHA256/512) and RFC 2202 test case 2 (HMAC-MD5, HMAC-SHA1): key
    // "Jefe", data "what do ya want for nothing?".
    #[test]
    fn matches_the_rfc_test_vectors() {
        let msg = b"what do ya want for nothing?";
        assert_eq!(
            tag(Algorithm::HmacMd5, b"Jefe", msg),
            "750c783e6ab0b503eaa86e310a5db738"
        );
        assert_eq!(
            tag(Algorithm::HmacSha1, b"Jefe", msg),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
        );
        assert_eq!(
            tag(Algorithm::HmacSha256, b"Jefe", msg),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            tag(Algorithm::HmacSha512, b"Jefe", msg),
            "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"
        );
    }

    #[test]
    fn feeding_in_pieces_equals_feeding_at_once() {
        let key = Key::new(Algorithm::HmacSha256, &Secret::new(b"k".to_vec()));
        let mut a = key.start();
        a.update(b"123.");
        a.update(b"{\"a\":1}");
        let mut b = key.start();
        b.update(b"123.{\"a\":1}");
        assert_eq!(a.finish().as_bytes(), b.finish().as_bytes());
    }

    #[test]
    fn comparison_is_on_bytes_and_length() {
        let key = Key::new(Algorithm::HmacSha256, &Secret::new(b"Jefe".to_vec()));
        let matches = |presented: &[u8]| {
            let presented = [Decoded::Heap(presented.to_vec())];
            key.matches_any(&presented, |sink| {
                sink(b"what do ya want for nothing?");
                Ok::<(), ()>(())
            })
            .unwrap()
        };
        let upper = "5BDCC146BF60754E6A042426089575C75A003F089D2739839DEC58B964EC3843";
        assert!(matches(&Encoding::Hex.decode(upper).unwrap()));
        assert!(!matches(&Encoding::Hex.decode(&upper[..62]).unwrap()));
        assert!(!matches(&[]));
    }

    #[test]
    fn decodes_each_encoding_leniently_but_not_loosely() {
        assert_eq!(Encoding::Hex.decode("0aFF"), Some(vec![0x0a, 0xff]));
        for (text, want) in [
            ("0aFF", Some(vec![0x0a, 0xff])),
            ("0a0g", None),
            ("g0", None),
            ("", None),
        ] {
            assert_eq!(
                Encoding::Hex
                    .decode_inline(text)
                    .map(|d| d.as_bytes().to_vec()),
                want,
                "{text}"
            );
        }
        assert!(Encoding::Hex.decode_inline("0aF").is_none());
        assert_eq!(Encoding::Hex.decode("0aF"), None);
        assert_eq!(Encoding::Hex.decode("zz"), None);
        assert_eq!(Encoding::Base64.decode("aGk="), Some(b"hi".to_vec()));
        assert_eq!(Encoding::Base64.decode("aGk"), Some(b"hi".to_vec()));
        assert_eq!(Encoding::Base64.decode("a$k="), None);
        assert_eq!(Encoding::Base64Url.decode("_-8"), Some(vec![0xff, 0xef]));
        assert_eq!(Encoding::Base64.decode(""), None);
    }
}
