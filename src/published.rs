//! Keeps what vendors publish at a URL current: key sets (`verify::keyset::KeySet`, for routes with
//! `jwks_url` or `key_url`) and lists of source addresses (`client_ip::FetchedList`, for
//! `allow_ips = "url:…"`).
//!
//! One task per document: it fetches at start, then again when the document's
//! `Cache-Control: max-age` runs out (kept between 5 minutes and a day; an hour when the vendor states
//! none), and early when a request needs it sooner (a token naming a key the set lacks: a rotation),
//! at most once per `MIN_GAP`. A failed or refused fetch keeps the last good document and is retried
//! sooner, backing off to `RETRY_MAX`. The task holds the document weakly and ends when no route uses
//! it any more. This module knows nothing about routes, tokens or addresses.

use crate::forward::Forwarder;
use crate::metrics::Metrics;
use crate::verify::keyset::KeySet;
use http::HeaderValue;
use std::sync::{Arc, Weak};
use std::time::Duration;

/// The most a published document may weigh.
pub const MAX_DOCUMENT: usize = 256 * 1024;

const TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_AGE: Duration = Duration::from_secs(3600);
const MIN_AGE: Duration = Duration::from_secs(300);
const MAX_AGE: Duration = Duration::from_secs(24 * 3600);
/// The soonest after a fetch that a token naming an unknown key makes the set be fetched again: a
/// flood of made-up key ids costs the vendor one request per this.
pub const MIN_GAP: Duration = Duration::from_secs(5);
const RETRY_MIN: Duration = Duration::from_secs(2);
const RETRY_MAX: Duration = Duration::from_secs(300);

/// A document a vendor publishes at a URL and routes rely on.
pub trait Document: Send + Sync + 'static {
    /// What it holds, for the log ("keys", "source addresses").
    const WHAT: &'static str;
    fn url(&self) -> &http::Uri;
    /// Takes a fetched document in place of the last: how many entries it holds, or why it was
    /// refused (the last good one stays).
    fn take(&self, document: &[u8]) -> Result<usize, String>;
    /// Notified when a request needs the document fetched sooner than its age says.
    fn wanted(&self) -> Option<Arc<tokio::sync::Notify>>;
}

impl Document for KeySet {
    const WHAT: &'static str = "keys";
    fn url(&self) -> &http::Uri {
        KeySet::url(self)
    }
    fn take(&self, document: &[u8]) -> Result<usize, String> {
        let keys = self.parse(document)?;
        let count = keys.len();
        self.replace(keys);
        Ok(count)
    }
    fn wanted(&self) -> Option<Arc<tokio::sync::Notify>> {
        Some(KeySet::wanted(self))
    }
}

impl Document for crate::client_ip::FetchedList {
    const WHAT: &'static str = "source addresses";
    fn url(&self) -> &http::Uri {
        crate::client_ip::FetchedList::url(self)
    }
    fn take(&self, document: &[u8]) -> Result<usize, String> {
        let nets = self.parse(document)?;
        let count = nets.len();
        self.replace(nets);
        Ok(count)
    }
    fn wanted(&self) -> Option<Arc<tokio::sync::Notify>> {
        None
    }
}

/// Starts keeping the key set current, on the running tokio runtime (none: nothing is fetched).
pub fn watch_keys(set: &Arc<KeySet>, client: Forwarder, metrics: Arc<Metrics>) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    if set.by_id() {
        runtime.spawn(by_id(Arc::downgrade(set), set.wanted(), client, metrics));
    } else {
        runtime.spawn(run(Arc::downgrade(set), client, metrics));
    }
}

/// Starts keeping `document` current, on the running tokio runtime (none: nothing is fetched).
pub fn watch<D: Document>(document: &Arc<D>, client: Forwarder, metrics: Arc<Metrics>) {
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        runtime.spawn(run(Arc::downgrade(document), client, metrics));
    }
}

async fn run<D: Document>(document: Weak<D>, client: Forwarder, metrics: Arc<Metrics>) {
    let wanted = document.upgrade().and_then(|d| d.wanted());
    let mut retry = RETRY_MIN;
    loop {
        let fetched_at = tokio::time::Instant::now();
        let wait = {
            let Some(doc) = document.upgrade() else {
                return;
            };
            let fetched = fetch(doc.as_ref(), &client).await;
            metrics.record_fetch(D::WHAT, doc.url(), fetched.is_ok());
            match fetched {
                Ok((count, age)) => {
                    tracing::info!(url = %doc.url(), entries = count, "fetched the vendor's published {}", D::WHAT);
                    retry = RETRY_MIN;
                    age
                }
                Err(why) => {
                    // The last good document stays in force.
                    tracing::warn!(url = %doc.url(), reason = %why, retry_in = ?retry, "could not fetch the vendor's published {}", D::WHAT);
                    let wait = retry;
                    retry = (retry * 2).min(RETRY_MAX);
                    wait
                }
            }
        };
        match &wanted {
            Some(wanted) => tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = wanted.notified() => {
                    tokio::time::sleep(MIN_GAP.min(wait).saturating_sub(fetched_at.elapsed())).await;
                }
            },
            None => tokio::time::sleep(wait).await,
        }
        // A document no route holds any more is not fetched again.
        if document.strong_count() == 0 {
            return;
        }
    }
}

/// Keys fetched one by one: each id a token named and the set lacked, when asked, at most one
/// request per `MIN_GAP`.
async fn by_id(
    set: Weak<KeySet>,
    wanted: Arc<tokio::sync::Notify>,
    client: Forwarder,
    metrics: Arc<Metrics>,
) {
    loop {
        // Woken by a token naming a key; otherwise now and then, to end with the routes.
        tokio::select! {
            () = wanted.notified() => {}
            () = tokio::time::sleep(Duration::from_secs(60)) => {}
        }
        let Some(keys) = set.upgrade() else { return };
        for kid in keys.take_wanted() {
            let started = tokio::time::Instant::now();
            let fetched = fetch_one(&keys, &client, &kid).await;
            metrics.record_fetch(KeySet::WHAT, keys.url(), fetched.is_ok());
            match fetched {
                Ok(true) => {
                    tracing::info!(url = %keys.url(), kid = %kid, "fetched the vendor's key")
                }
                Ok(false) => {
                    tracing::warn!(url = %keys.url(), kid = %kid, "the vendor says this key expired")
                }
                Err(why) => {
                    tracing::warn!(url = %keys.url(), kid = %kid, reason = %why, "could not fetch the vendor's key")
                }
            }
            tokio::time::sleep(MIN_GAP.saturating_sub(started.elapsed())).await;
        }
    }
}

/// One key by its id: whether the vendor handed out one still in force.
async fn fetch_one(set: &KeySet, client: &Forwarder, kid: &str) -> Result<bool, String> {
    let crate::verify::keyset::KeySource::ById {
        id_field,
        pointer,
        fields,
    } = set.source()
    else {
        return Err("not a source of keys by id".to_string());
    };
    let mut request = serde_json::Map::new();
    for (name, value) in fields {
        let text = String::from_utf8_lossy(value.expose()).into_owned();
        request.insert(name.clone(), text.into());
    }
    request.insert(id_field.clone(), kid.into());
    let json = bytes::Bytes::from(serde_json::Value::Object(request).to_string());
    let (status, _, body) = client
        .fetch(set.url(), Some(json), MAX_DOCUMENT, TIMEOUT)
        .await?;
    if !status.is_success() {
        return Err(format!("answered {status}"));
    }
    match set.parse_one(&body, pointer)? {
        Some((id, key)) => {
            set.add(id.or_else(|| Some(kid.to_string())), key);
            Ok(true)
        }
        None => Ok(false),
    }
}

/// One fetch: how many entries it brought, and how long they may be kept.
async fn fetch<D: Document>(doc: &D, client: &Forwarder) -> Result<(usize, Duration), String> {
    let (status, cache, body) = client.fetch(doc.url(), None, MAX_DOCUMENT, TIMEOUT).await?;
    if !status.is_success() {
        return Err(format!("answered {status}"));
    }
    let count = doc.take(&body)?;
    Ok((count, max_age(cache.as_ref())))
}

/// How long the vendor says its document may be kept, within [`MIN_AGE`, `MAX_AGE`].
fn max_age(cache: Option<&HeaderValue>) -> Duration {
    let stated = cache
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.split(',').find_map(|d| {
                d.trim()
                    .strip_prefix("max-age=")
                    .and_then(|n| n.trim().parse::<u64>().ok())
            })
        })
        .map(Duration::from_secs);
    stated.unwrap_or(DEFAULT_AGE).clamp(MIN_AGE, MAX_AGE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_vendors_max_age_is_kept_within_bounds() {
        let v = |s: &str| max_age(Some(&HeaderValue::from_str(s).unwrap()));
        assert_eq!(
            v("public, max-age=19652, must-revalidate, no-transform"),
            Duration::from_secs(19652)
        );
        assert_eq!(v("max-age=1"), MIN_AGE);
        assert_eq!(v("max-age=99999999"), MAX_AGE);
        assert_eq!(v("no-cache"), DEFAULT_AGE);
        assert_eq!(max_age(None), DEFAULT_AGE);
    }
}
