//! Keys a vendor publishes, as last fetched: a JSON Web Key Set at a URL (Google's, for the tokens
//! its services sign), or one key at a time by its id from the vendor's API (Plaid's
//! `/webhook_verification_key/get`). This is what `verify` checks tokens against. Fetching them is
//! `crate::published`'s; this holds the keys, lets the verifier ask for one a token names and the set
//! lacks (the vendor rotated), and keeps the last good keys whatever a fetch brings.

use arc_swap::ArcSwap;
use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::{JwkSet, KeyAlgorithm};
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

/// At most this many asked-for key ids wait for the fetcher; more are dropped until it catches up.
const MAX_WANTED: usize = 8;

/// Where the keys come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// A JSON Web Key Set document, fetched whole.
    Set,
    /// One key per request: a POST of a JSON object with `fields` and the key id under `id_field`,
    /// answered with the key (a JWK) at `pointer`.
    ById {
        id_field: String,
        pointer: String,
        fields: Vec<(String, crate::secret::Secret)>,
    },
}

/// At most this many keys are kept from one set; vendors publish two or three.
pub const MAX_KEYS: usize = 32;

/// One published key: its id (`kid`) and the key.
pub type Published = (Option<String>, DecodingKey);

pub struct KeySet {
    url: http::Uri,
    source: KeySource,
    algorithm: jsonwebtoken::Algorithm,
    /// Never emptied once filled: no fetch replaces keys with none.
    keys: ArcSwap<Vec<Published>>,
    /// Woken when a token names a key the set lacks.
    wanted: Arc<Notify>,
    /// The ids asked for, for a source that fetches keys one by one.
    wanted_ids: Mutex<Vec<String>>,
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeySet({}, {} keys)", self.url, self.keys.load().len())
    }
}

impl KeySet {
    /// An empty set for `url`, for tokens signed with `algorithm`; tokens are refused as
    /// "keys unavailable" until the first fetch fills it.
    pub fn new(url: http::Uri, source: KeySource, algorithm: jsonwebtoken::Algorithm) -> KeySet {
        KeySet {
            url,
            source,
            algorithm,
            keys: ArcSwap::from_pointee(Vec::new()),
            wanted: Arc::new(Notify::new()),
            wanted_ids: Mutex::new(Vec::new()),
        }
    }

    pub fn source(&self) -> &KeySource {
        &self.source
    }

    /// Whether keys come one by one, by id: then a token naming an unknown key waits for it (503)
    /// rather than being refused.
    pub fn by_id(&self) -> bool {
        matches!(self.source, KeySource::ById { .. })
    }

    /// Adds one fetched key, replacing any with its id; the oldest goes when the set is full.
    pub fn add(&self, kid: Option<String>, key: DecodingKey) {
        let mut keys = self.keys().as_ref().clone();
        keys.retain(|(id, _)| *id != kid);
        if keys.len() >= MAX_KEYS {
            keys.remove(0);
        }
        keys.push((kid, key));
        self.keys.store(Arc::new(keys));
    }

    /// The key ids asked for since the last call.
    pub fn take_wanted(&self) -> Vec<String> {
        std::mem::take(&mut *self.wanted_ids.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Parses one key (a JWK, at `pointer` in `document`) for this set's algorithm. `None` when
    /// the vendor says it expired (`expired_at` set, as Plaid does).
    pub fn parse_one(&self, document: &[u8], pointer: &str) -> Result<Option<Published>, String> {
        let value: serde_json::Value =
            serde_json::from_slice(document).map_err(|e| format!("the answer is not JSON: {e}"))?;
        let jwk = value
            .pointer(pointer)
            .ok_or_else(|| format!("the answer has no key at {pointer}"))?;
        if jwk.get("expired_at").is_some_and(|e| !e.is_null()) {
            return Ok(None);
        }
        let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(jwk.clone())
            .map_err(|e| format!("the key is not a JSON Web Key: {e}"))?;
        if jwk
            .common
            .key_algorithm
            .is_some_and(|a| key_algorithm(a) != Some(self.algorithm))
        {
            return Err(format!("the key is not for {:?}", self.algorithm));
        }
        let key =
            DecodingKey::from_jwk(&jwk).map_err(|e| format!("the key does not parse: {e}"))?;
        Ok(Some((jwk.common.key_id.clone(), key)))
    }

    pub fn url(&self) -> &http::Uri {
        &self.url
    }

    pub fn keys(&self) -> Arc<Vec<Published>> {
        self.keys.load_full()
    }

    /// Whether a fetch has ever filled the set.
    pub fn loaded(&self) -> bool {
        !self.keys.load().is_empty()
    }

    /// Replaces the keys with a freshly fetched set (never with an empty one: a vendor's outage must
    /// not empty the route's keys).
    pub fn replace(&self, keys: Vec<Published>) {
        if keys.is_empty() {
            return;
        }
        self.keys.store(Arc::new(keys));
    }

    /// Takes the keys of the set this one replaces on a reload, so that the new routes do not wait
    /// for a fetch.
    pub fn adopt(&self, previous: &KeySet) {
        if previous.url == self.url && previous.algorithm == self.algorithm && previous.loaded() {
            self.replace(previous.keys().as_ref().clone());
        }
    }

    /// Asks the fetcher for a fresh set, or for the key `kid` where keys come one by one: a token
    /// named a key this set lacks.
    pub fn want(&self, kid: Option<&str>) {
        if let (true, Some(kid)) = (self.by_id(), kid) {
            let mut ids = self.wanted_ids.lock().unwrap_or_else(|e| e.into_inner());
            if ids.len() >= MAX_WANTED || ids.iter().any(|k| k == kid) {
                return;
            }
            ids.push(kid.to_string());
        }
        self.wanted.notify_one();
    }

    pub fn wanted(&self) -> Arc<Notify> {
        self.wanted.clone()
    }

    /// The keys of a JSON Web Key Set document that can check this set's tokens: those for its
    /// algorithm (or naming none) that parse; at most `MAX_KEYS`.
    pub fn parse(&self, document: &[u8]) -> Result<Vec<Published>, String> {
        let set: JwkSet = serde_json::from_slice(document)
            .map_err(|e| format!("the key set is not a JSON Web Key Set: {e}"))?;
        let want = self.algorithm;
        let mut out = Vec::new();
        for jwk in &set.keys {
            let fits = match jwk.common.key_algorithm {
                None => true,
                Some(a) => key_algorithm(a) == Some(want),
            };
            if !fits || out.len() >= MAX_KEYS {
                continue;
            }
            if let Ok(key) = DecodingKey::from_jwk(jwk) {
                out.push((jwk.common.key_id.clone(), key));
            }
        }
        if out.is_empty() {
            return Err(format!(
                "the key set holds no usable {want:?} key ({} keys in all)",
                set.keys.len()
            ));
        }
        Ok(out)
    }
}

fn key_algorithm(a: KeyAlgorithm) -> Option<jsonwebtoken::Algorithm> {
    use jsonwebtoken::Algorithm as J;
    Some(match a {
        KeyAlgorithm::RS256 => J::RS256,
        KeyAlgorithm::ES256 => J::ES256,
        KeyAlgorithm::EdDSA => J::EdDSA,
        KeyAlgorithm::HS256 => J::HS256,
        _ => return None,
    })
}
