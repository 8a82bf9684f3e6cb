//! What a route's verifier is built from: the scheme, where the signature and the event's attributes
//! are, and how secrets are encoded. `config` fills a `Spec` in; `Verifier::new` prepares it.

use super::*;

/// How the vendor proves a delivery is genuine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// Patreon's; accepted only because a vendor signs with it.
    HmacMd5,
    HmacSha1,
    HmacSha256,
    HmacSha512,
    /// A plain SHA-1 digest of content that includes `{secret}`.
    Sha1,
    /// A plain SHA-256 digest of content that includes `{secret}`.
    Sha256,
    /// The presented value is the shared secret itself.
    Token,
    /// HTTP Basic credentials equal to a secret written `user:password`.
    Basic,
    Ed25519,
    EcdsaP256Sha256,
    RsaSha256,
    /// RSA PKCS#1 v1.5 over SHA-1 (Paddle Classic); only for vendors that still use it.
    RsaSha1,
    /// A JSON Web Token signed with a secret (HS*) or a public key.
    Jwt,
}

impl Algorithm {
    pub const NAMES: &'static [&'static str] = &[
        "hmac-md5",
        "hmac-sha1",
        "hmac-sha256",
        "hmac-sha512",
        "sha1",
        "sha256",
        "token",
        "basic",
        "ed25519",
        "ecdsa-p256-sha256",
        "rsa-sha256",
        "rsa-sha1",
        "jwt",
    ];
    const ALL: [Algorithm; 13] = [
        Algorithm::HmacMd5,
        Algorithm::HmacSha1,
        Algorithm::HmacSha256,
        Algorithm::HmacSha512,
        Algorithm::Sha1,
        Algorithm::Sha256,
        Algorithm::Token,
        Algorithm::Basic,
        Algorithm::Ed25519,
        Algorithm::EcdsaP256Sha256,
        Algorithm::RsaSha256,
        Algorithm::RsaSha1,
        Algorithm::Jwt,
    ];

    pub fn parse(name: &str) -> Option<Algorithm> {
        Self::NAMES
            .iter()
            .position(|n| *n == name)
            .map(|i| Self::ALL[i])
    }

    pub fn name(self) -> &'static str {
        Self::NAMES[Self::ALL.iter().position(|a| *a == self).unwrap_or(0)]
    }

    pub fn hmac(self) -> Option<mac::Algorithm> {
        match self {
            Algorithm::HmacMd5 => Some(mac::Algorithm::HmacMd5),
            Algorithm::HmacSha1 => Some(mac::Algorithm::HmacSha1),
            Algorithm::HmacSha256 => Some(mac::Algorithm::HmacSha256),
            Algorithm::HmacSha512 => Some(mac::Algorithm::HmacSha512),
            _ => None,
        }
    }

    /// The kind of public key the scheme verifies with, for asymmetric schemes.
    pub fn key_kind(self) -> Option<KeyKind> {
        match self {
            Algorithm::Ed25519 => Some(KeyKind::Ed25519),
            Algorithm::EcdsaP256Sha256 => Some(KeyKind::P256),
            Algorithm::RsaSha256 | Algorithm::RsaSha1 => Some(KeyKind::Rsa),
            _ => None,
        }
    }

    /// Whether the scheme signs a content template (tokens, Basic credentials and JWTs do not).
    pub fn signs_template(self) -> bool {
        !matches!(self, Algorithm::Token | Algorithm::Basic | Algorithm::Jwt)
    }

    /// The decoded length of a valid signature, where the scheme fixes it.
    pub(super) fn signature_len(self) -> Option<usize> {
        match self {
            Algorithm::HmacMd5 => Some(16),
            Algorithm::HmacSha1 | Algorithm::Sha1 => Some(20),
            Algorithm::HmacSha256 | Algorithm::Sha256 => Some(32),
            Algorithm::HmacSha512 => Some(64),
            Algorithm::Ed25519 => Some(64),
            _ => None,
        }
    }
}

/// How a signature header that carries several `key=value` entries is split
/// (`t=1,v1=abc,v1=def`, `ts=1;h1=abc`, `v1,abc v1,def`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListFormat {
    /// Between entries: `","`, `";"`, `" "`; every character listed separates (`", "` splits on
    /// commas and on spaces).
    pub separator: String,
    /// Between an entry's key and value (the first occurrence): `"="` or `","`.
    pub kv_separator: String,
    /// Entries with this key are signatures; any one that verifies suffices.
    pub signature_key: String,
}

/// Where and how the signature travels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureFormat {
    /// Headers, body fields or query parameters that may carry it (Box sends two headers).
    pub sources: Vec<Source>,
    /// Stripped from each signature before decoding (`"sha256="`, `"Bearer "`).
    pub prefix: String,
    pub encoding: Encoding,
    pub list: Option<ListFormat>,
}

impl SignatureFormat {
    /// The headers that may carry the signature.
    pub fn headers(&self) -> impl Iterator<Item = &HeaderName> {
        self.sources.iter().filter_map(|s| match s {
            Source::Header(h) => Some(h),
            _ => None,
        })
    }
}

/// How timestamps are written. Producing a signature (`hookgate sign`, upstream signing) writes this
/// form; verifying reads only this form when the preset or route states it (`Spec::timestamp_stated`),
/// and otherwise accepts any (`timestamp::parse`), with integers read by their size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimestampFormat {
    #[default]
    Unix,
    UnixMillis,
    Rfc3339,
}

impl TimestampFormat {
    pub const NAMES: &'static [&'static str] = &["unix", "unix-ms", "rfc3339"];

    pub fn parse(name: &str) -> Option<TimestampFormat> {
        match name {
            "unix" => Some(TimestampFormat::Unix),
            "unix-ms" => Some(TimestampFormat::UnixMillis),
            "rfc3339" => Some(TimestampFormat::Rfc3339),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        Self::NAMES[self as usize]
    }

    pub fn format(self, at: Timestamp) -> String {
        match self {
            TimestampFormat::Unix => at.as_second().to_string(),
            TimestampFormat::UnixMillis => at.as_millisecond().to_string(),
            TimestampFormat::Rfc3339 => at.round(jiff::Unit::Second).unwrap_or(at).to_string(),
        }
    }
}

/// Where the event's id, type and time live; each may list alternatives, the first present wins.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFields {
    /// Empty: the SHA-256 of the raw body.
    pub id: Vec<Source>,
    pub kind: Vec<Source>,
    pub time: Vec<Source>,
}

/// How configured secret text becomes key bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SecretEncoding {
    /// The secret's UTF-8 bytes, as most vendors use them.
    #[default]
    Raw,
    Base64,
    Hex,
}

impl SecretEncoding {
    pub const NAMES: &'static [&'static str] = &["raw", "base64", "hex"];

    pub fn parse(name: &str) -> Option<SecretEncoding> {
        match name {
            "raw" => Some(SecretEncoding::Raw),
            "base64" => Some(SecretEncoding::Base64),
            "hex" => Some(SecretEncoding::Hex),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        Self::NAMES[self as usize]
    }

    /// Turns configured secret text into key bytes, after removing `prefix` (such as `whsec_`) when
    /// present.
    pub fn decode(self, prefix: Option<&str>, secret: &Secret) -> Result<Secret, String> {
        let mut text = secret.expose();
        if let Some(p) = prefix {
            text = text.strip_prefix(p.as_bytes()).unwrap_or(text);
        }
        let decoded = match self {
            SecretEncoding::Raw => return Ok(Secret::new(text.to_vec())),
            SecretEncoding::Base64 => base64::engine::general_purpose::STANDARD
                .decode(text)
                .map_err(|_| "is not valid base64"),
            SecretEncoding::Hex => hex::decode(text).map_err(|_| "is not valid hex"),
        };
        match decoded {
            Ok(bytes) if !bytes.is_empty() => Ok(Secret::new(bytes)),
            Ok(_) => Err("decodes to an empty key".to_string()),
            Err(why) => Err(match prefix {
                Some(p) => format!("{why} after the \"{p}\" prefix"),
                None => why.to_string(),
            }),
        }
    }
}

/// What a JSON Web Token must satisfy beyond its signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtRules {
    pub algorithm: jsonwebtoken::Algorithm,
    /// The `iss` claim required, if any.
    pub issuer: Option<String>,
    /// The claim holding the hex SHA-256 of the body, which is how JWT schemes cover the body.
    pub body_hash_claim: Option<String>,
    /// Atlassian Connect's `qsh`: the claim holding the hex SHA-256 of the canonical request, and
    /// the canonical path it is computed over (`request::atlassian_canonical`).
    pub query_hash: Option<QueryHash>,
    /// The `aud` a token must name (Google's push tokens: the subscription's audience).
    pub audience: Option<String>,
    /// Claims a token must carry with exactly these values (Google's `email`: the service account).
    pub require_claims: Vec<(String, String)>,
    /// Where the vendor publishes its keys, and how (a JSON Web Key Set, or one key per id from
    /// its API), instead of `public_key`.
    pub published_keys: Option<(http::Uri, super::keyset::KeySource)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryHash {
    pub claim: String,
    pub path: String,
}

/// Everything needed to build a `Verifier`, already validated field by field by `config`.
pub struct Spec {
    pub algorithm: Algorithm,
    /// Shared secrets, already decoded from their configured encoding.
    pub secrets: Vec<Secret>,
    /// Public keys, for the asymmetric schemes.
    pub public_keys: Vec<PublicKey>,
    pub jwt: Option<JwtRules>,
    pub signature: SignatureFormat,
    pub payload: Template,
    /// Where the signed timestamp is (alternatives); empty: none.
    pub timestamp: Vec<Source>,
    pub timestamp_format: TimestampFormat,
    /// Whether the preset or route wrote `timestamp_format`: then a timestamp is read in that form
    /// only, its units never guessed from its size.
    pub timestamp_stated: bool,
    pub event: EventFields,
    /// The URL the vendor calls, for schemes that sign it.
    pub public_url: Option<http::Uri>,
    /// Where the vendor puts the hex SHA-256 of the body, when it signs that instead of the body.
    pub body_hash: Option<Source>,
    /// A JSON array that must hold exactly one item, for vendors that sign each item of a batch
    /// separately (Adyen): a second, unsigned item would otherwise ride along.
    pub single_item: Option<Pointer>,
    /// Headers that must carry exactly these values, as the vendor's SDK requires (Box's
    /// `box-signature-version: 1` and `box-signature-algorithm: HmacSHA256`): a delivery signed
    /// under another version or algorithm is not one this scheme can vouch for.
    pub require_headers: Vec<(HeaderName, String)>,
    /// The signed form field that is the event's data, instead of the whole body (Gitea's and
    /// Forgejo's form deliveries: `form:payload`).
    pub data_from: Option<Source>,
    /// The form field that holds the vendor's whole document (Dropbox Sign's `json`): everything is
    /// read from it, and it is the data forwarded; the form around it goes no further.
    pub body_from: Option<Source>,
    /// A header that names the algorithm of each delivery, and the names it may use (Twilio's
    /// Webhooks Rules sign with HMAC-SHA256 and say so in `X-Twilio-Webhooks-Signature-Settings:
    /// key=…,algorithm=HMAC_SHA256`; without the header, `algorithm` applies).
    pub algorithm_choice: Option<AlgorithmChoice>,
    /// A signing secret a handshake hands over, kept for routes that opt in (`learn_secret`); tried
    /// after `secrets`, for HMAC schemes.
    pub learned: Option<std::sync::Arc<crate::learned::Learned>>,
}

/// Where a delivery names its algorithm, and the names a vendor may use there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlgorithmChoice {
    /// Its `algorithm=NAME` entry (entries are comma-separated `key=value`s) chooses.
    pub header: HeaderName,
    pub names: Vec<(String, Algorithm)>,
}
