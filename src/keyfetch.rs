//! Keeps vendors' published key sets current (`verify::keyset::KeySet`, for routes with `jwks_url`).
//!
//! One task per set: it fetches at start, then again when the document's `Cache-Control: max-age`
//! runs out (kept between 5 minutes and a day; an hour when the vendor states none), and early when a
//! token names a key the set lacks (a rotation), at most once per `MIN_GAP`. A failed fetch keeps
//! the last good keys and is retried sooner, backing off to `RETRY_MAX`. The task holds the set weakly
//! and ends when no route uses it any more. This module knows nothing about routes or tokens.

use crate::forward::Forwarder;
use crate::verify::keyset::{KeySet, MAX_DOCUMENT};
use http::HeaderValue;
use std::sync::{Arc, Weak};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_AGE: Duration = Duration::from_secs(3600);
const MIN_AGE: Duration = Duration::from_secs(300);
const MAX_AGE: Duration = Duration::from_secs(24 * 3600);
/// The soonest after a fetch that a token naming an unknown key makes the set be fetched again: a
/// flood of made-up key ids costs the vendor one request per this.
pub const MIN_GAP: Duration = Duration::from_secs(5);
const RETRY_MIN: Duration = Duration::from_secs(2);
const RETRY_MAX: Duration = Duration::from_secs(300);

/// Starts keeping `set` current, on the running tokio runtime (none: nothing is fetched).
pub fn watch(set: &Arc<KeySet>, client: Forwarder) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    runtime.spawn(run(Arc::downgrade(set), set.wanted(), client));
}

async fn run(set: Weak<KeySet>, wanted: Arc<tokio::sync::Notify>, client: Forwarder) {
    if set.upgrade().is_some_and(|s| s.by_id()) {
        return by_id(set, wanted, client).await;
    }
    let mut retry = RETRY_MIN;
    loop {
        let fetched_at = tokio::time::Instant::now();
        let wait = {
            let Some(keys) = set.upgrade() else { return };
            match fetch(&keys, &client).await {
                Ok((count, age)) => {
                    tracing::info!(url = %keys.url(), keys = count, "fetched the vendor's published keys");
                    retry = RETRY_MIN;
                    age
                }
                Err(why) => {
                    // The last good keys stay in force.
                    tracing::warn!(url = %keys.url(), reason = %why, retry_in = ?retry, "could not fetch the vendor's published keys");
                    let wait = retry;
                    retry = (retry * 2).min(RETRY_MAX);
                    wait
                }
            }
        };
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = wanted.notified() => {
                tokio::time::sleep(MIN_GAP.min(wait).saturating_sub(fetched_at.elapsed())).await;
            }
        }
        // A set no route holds any more is not fetched again.
        if set.strong_count() == 0 {
            return;
        }
    }
}

/// Keys fetched one by one: each id a token named and the set lacked, when asked, at most one
/// request per `MIN_GAP`.
async fn by_id(set: Weak<KeySet>, wanted: Arc<tokio::sync::Notify>, client: Forwarder) {
    loop {
        // Woken by a token naming a key; otherwise now and then, to end with the routes.
        tokio::select! {
            () = wanted.notified() => {}
            () = tokio::time::sleep(Duration::from_secs(60)) => {}
        }
        let Some(keys) = set.upgrade() else { return };
        for kid in keys.take_wanted() {
            let started = tokio::time::Instant::now();
            match fetch_one(&keys, &client, &kid).await {
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

/// One fetch: how many keys it brought, and how long they may be kept.
async fn fetch(set: &KeySet, client: &Forwarder) -> Result<(usize, Duration), String> {
    let (status, cache, body) = client.fetch(set.url(), None, MAX_DOCUMENT, TIMEOUT).await?;
    if !status.is_success() {
        return Err(format!("answered {status}"));
    }
    let keys = set.parse(&body)?;
    let count = keys.len();
    set.replace(keys);
    Ok((count, max_age(cache.as_ref())))
}

/// How long the vendor says its keys may be kept, within [`MIN_AGE`, `MAX_AGE`].
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
