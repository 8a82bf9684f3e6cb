//! Reading the timestamps vendors put in headers, signature headers and bodies.
//!
//! Vendors use unix seconds (Stripe, Slack), unix milliseconds (HubSpot, Zendesk), fractional seconds,
//! and RFC 3339 strings with or without an offset (Box, most JSON bodies). This module turns any of them
//! into a `jiff::Timestamp`; it does not decide whether the time is acceptable (see `replay`).

use jiff::Timestamp;
use jiff::civil::DateTime;
use jiff::tz::TimeZone;

/// Integers at or above this are milliseconds: 10^11 seconds is the year 5138, while 10^11 milliseconds
/// is March 1973, so no real delivery time is ambiguous.
const MILLIS_THRESHOLD: i64 = 100_000_000_000;

/// Parses a vendor timestamp; `None` when it is none of the accepted shapes.
pub fn parse(raw: &str) -> Option<Timestamp> {
    let s = raw.trim();
    if s.is_empty() {
        return None;
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        let n: i64 = s.parse().ok()?;
        return if n >= MILLIS_THRESHOLD {
            Timestamp::from_millisecond(n).ok()
        } else {
            Timestamp::from_second(n).ok()
        };
    }
    if let Some((whole, frac)) = s.split_once('.')
        && !whole.is_empty()
        && whole.bytes().all(|b| b.is_ascii_digit())
        && !frac.is_empty()
        && frac.bytes().all(|b| b.is_ascii_digit())
    {
        let secs: i64 = whole.parse().ok()?;
        let digits = &frac[..frac.len().min(9)];
        let nanos: i32 = format!("{digits:0<9}").parse().ok()?;
        return Timestamp::new(secs, nanos).ok();
    }
    if let Ok(ts) = s.parse::<Timestamp>() {
        return Some(ts);
    }
    // An RFC 3339-like time without an offset: the vendors that send these document UTC.
    let civil: DateTime = s.parse().ok()?;
    civil.to_zoned(TimeZone::UTC).ok().map(|z| z.timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_every_shape_vendors_send() {
        let cases: &[(&str, Option<&str>)] = &[
            ("1700000000", Some("2023-11-14T22:13:20Z")),
            ("1700000000123", Some("2023-11-14T22:13:20.123Z")),
            ("1700000000.5", Some("2023-11-14T22:13:20.5Z")),
            (" 1700000000 ", Some("2023-11-14T22:13:20Z")),
            ("2025-06-01T14:32:00Z", Some("2025-06-01T14:32:00Z")),
            ("2026-03-20T12:00:00.000Z", Some("2026-03-20T12:00:00Z")),
            ("2020-01-01T09:00:00-08:00", Some("2020-01-01T17:00:00Z")),
            ("2025-06-01T14:32:00", Some("2025-06-01T14:32:00Z")),
            ("2025-06-01 14:32:00Z", Some("2025-06-01T14:32:00Z")),
            ("", None),
            ("yesterday", None),
            ("-5", None),
            ("1e9", None),
            ("17000000000000000000000", None),
            ("1700000000.", None),
            ("2025-13-01T00:00:00Z", None),
        ];
        for (raw, want) in cases {
            let got = parse(raw).map(|t| t.to_string());
            assert_eq!(got.as_deref(), *want, "{raw:?}");
        }
    }
}
