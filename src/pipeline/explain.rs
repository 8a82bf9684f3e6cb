//! The detail of a refusal, for the inspector and `hookgate tail`: why a request was refused in more
//! words than its answer gives the sender, and the headers that mattered, signature values masked.

use super::*;

/// Why a request was refused, in more words than its answer, and the headers that mattered:
/// signature values masked, never an expected signature, never a secret.
pub(super) struct Detail {
    pub(super) reason: String,
    pub(super) headers: Vec<(String, String)>,
}

/// The detail of a refusal.
pub(super) fn detail_of(
    route: &Route,
    headers: &http::HeaderMap,
    reject: &Reject,
    window: Option<(Timestamp, Timestamp)>,
) -> Detail {
    use crate::config::human;
    use crate::verify::VerifyError as V;
    use crate::verify::source::{Source, alternatives};
    let v = &route.verifier;
    let carriers = alternatives(&v.signature().sources);
    let stamps = alternatives(v.timestamp());
    // Whole seconds: a person reads "13h old", not "12h 59m 59s 917ms".
    let since = |a: Timestamp, b: Timestamp| {
        let d = Duration::try_from(a.duration_since(b)).unwrap_or_default();
        Duration::from_secs(d.as_secs_f64().round() as u64)
    };
    let reason = match reject {
        Reject::Verify(V::MissingSignature) => {
            format!("no signature: the request has no {carriers}")
        }
        Reject::Verify(V::MalformedSignature) => format!(
            "the signature in {carriers} cannot be read as this route's scheme ({}); check the route's provider",
            v.algorithm().name()
        ),
        Reject::Verify(V::InvalidSignature) => format!(
            "none of the route's {} key{} produces the presented signature ({carriers}); check that the secret is the vendor's signing secret for this endpoint, and that nothing on the way changes the body",
            v.key_count(),
            if v.key_count() == 1 { "" } else { "s" }
        ),
        Reject::Verify(V::KeysUnavailable) => match v.key_set() {
            Some(set) => format!(
                "the vendor's key this token names has not been fetched from {} yet; it is being fetched, and the vendor's retry will find it unless that URL cannot be reached (see the log)",
                set.url()
            ),
            None => reject.to_string(),
        },
        Reject::SourcesUnknown => match &route.allow_ips {
            Some(crate::client_ip::Allowlist::Fetched(list)) => format!(
                "the route admits the addresses its vendor publishes at {}, and no fetch has brought them yet; the vendor's retry will be let through once one has, unless that URL cannot be reached (see the log)",
                list.url()
            ),
            _ => reject.to_string(),
        },
        Reject::Verify(V::MissingTimestamp) => format!("no signed timestamp in {stamps}"),
        Reject::Verify(V::MalformedTimestamp) => {
            format!("the signed timestamp in {stamps} is not a time")
        }
        Reject::Window(WindowError::Stale) => match window {
            Some((at, now)) => format!(
                "signed timestamp {} old; the route accepts up to {} (tolerance)",
                human(since(now, at)),
                human(route.tolerance)
            ),
            None => reject.to_string(),
        },
        Reject::Window(WindowError::Future) => match window {
            Some((at, now)) => format!(
                "signed timestamp {} in the future; the route accepts up to {} (max_clock_skew)",
                human(since(at, now)),
                human(route.max_clock_skew)
            ),
            None => reject.to_string(),
        },
        other => other.to_string(),
    };
    let signature: Vec<&HeaderName> = v.signature().headers().collect();
    let mut shown: Vec<(String, String)> = Vec::new();
    let mut show = |name: &HeaderName, masked: bool| {
        if shown.iter().any(|(n, _)| n == name.as_str()) {
            return;
        }
        if let Some(value) = headers.get(name) {
            let text = if masked {
                format!("(masked, {} bytes)", value.len())
            } else {
                String::from_utf8_lossy(value.as_bytes())
                    .chars()
                    .take(200)
                    .collect()
            };
            shown.push((name.as_str().to_string(), text));
        }
    };
    for h in &signature {
        show(h, true);
    }
    for source in v.timestamp().iter().chain(&v.event().id) {
        if let Source::Header(h) = source {
            show(h, false);
        }
    }
    for h in [
        header::CONTENT_TYPE,
        header::CONTENT_LENGTH,
        header::USER_AGENT,
    ] {
        show(&h, false);
    }
    Detail {
        reason,
        headers: shown,
    }
}
