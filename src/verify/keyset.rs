//! Keys a vendor publishes at a URL (a JSON Web Key Set, such as Google's for the tokens its
//! services sign), as last fetched: what `verify` checks tokens against. Fetching them is
//! `crate::keyfetch`'s; this holds the keys, lets the verifier ask for a refresh when a token names a
//! key it lacks (the vendor rotated), and keeps the last good set whatever a fetch brings.

use arc_swap::ArcSwap;
use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::{JwkSet, KeyAlgorithm};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::Notify;

/// At most this many keys are kept from one set; vendors publish two or three.
pub const MAX_KEYS: usize = 32;
/// The largest key set document read.
pub const MAX_DOCUMENT: usize = 256 * 1024;

/// One published key: its id (`kid`) and the key.
pub type Published = (Option<String>, DecodingKey);

pub struct KeySet {
    url: http::Uri,
    algorithm: jsonwebtoken::Algorithm,
    keys: ArcSwap<Vec<Published>>,
    loaded: AtomicBool,
    /// Woken when a token names a key the set lacks.
    wanted: Arc<Notify>,
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeySet({}, {} keys)", self.url, self.keys.load().len())
    }
}

impl KeySet {
    /// An empty set for `url`, for tokens signed with `algorithm`; tokens are refused as
    /// "keys unavailable" until the first fetch fills it.
    pub fn new(url: http::Uri, algorithm: jsonwebtoken::Algorithm) -> KeySet {
        KeySet {
            url,
            algorithm,
            keys: ArcSwap::from_pointee(Vec::new()),
            loaded: AtomicBool::new(false),
            wanted: Arc::new(Notify::new()),
        }
    }

    pub fn url(&self) -> &http::Uri {
        &self.url
    }

    pub fn keys(&self) -> Arc<Vec<Published>> {
        self.keys.load_full()
    }

    /// Whether a fetch has ever filled the set.
    pub fn loaded(&self) -> bool {
        self.loaded.load(Ordering::Acquire)
    }

    /// Replaces the keys with a freshly fetched set (never with an empty one: a vendor's outage must
    /// not empty the route's keys).
    pub fn replace(&self, keys: Vec<Published>) {
        if keys.is_empty() {
            return;
        }
        self.keys.store(Arc::new(keys));
        self.loaded.store(true, Ordering::Release);
    }

    /// Takes the keys of the set this one replaces on a reload, so that the new routes do not wait
    /// for a fetch.
    pub fn adopt(&self, previous: &KeySet) {
        if previous.url == self.url && previous.algorithm == self.algorithm && previous.loaded() {
            self.replace(previous.keys().as_ref().clone());
        }
    }

    /// Asks the fetcher for a fresh set: a token named a key this one lacks.
    pub fn want_refresh(&self) {
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
