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

/// Parses a timestamp in the one form a preset or route states: seconds (whole or fractional),
/// milliseconds (whole) or RFC 3339, whatever the number's size. HubSpot's v3 test value `15000000`
/// is milliseconds; read by its size it would be seconds.
pub fn parse_as(raw: &str, form: super::TimestampFormat) -> Option<Timestamp> {
    use super::TimestampFormat as F;
    let s = raw.trim();
    let numeric = !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    match form {
        F::UnixMillis if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            Timestamp::from_millisecond(s.parse().ok()?).ok()
        }
        F::Unix if numeric => match s.split_once('.') {
            None => Timestamp::from_second(s.parse().ok()?).ok(),
            Some(_) => parse(s),
        },
        F::Rfc3339 if !numeric => parse(s),
        _ => None,
    }
}

/// Parses a vendor timestamp whose form nobody stated; `None` when it is none of the accepted shapes.
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

    #[test]
    fn a_stated_form_is_read_as_stated_whatever_the_size() {
        use crate::verify::TimestampFormat as F;
        let cases: &[(&str, F, Option<&str>)] = &[
            // HubSpot's v3 test value, 15000000 (as quoted in issue 15 from HubSpot's v3 request
            // validation): milliseconds, though small enough to pass for seconds.
            ("15000000", F::UnixMillis, Some("1970-01-01T04:10:00Z")),
            (
                "1700000000123",
                F::UnixMillis,
                Some("2023-11-14T22:13:20.123Z"),
            ),
            ("1700000000", F::UnixMillis, Some("1970-01-20T16:13:20Z")),
            ("1700000000.5", F::UnixMillis, None),
            ("2025-06-01T14:32:00Z", F::UnixMillis, None),
            // Stated seconds stay seconds, even past the size that would otherwise mean milliseconds.
            ("1700000000", F::Unix, Some("2023-11-14T22:13:20Z")),
            ("100000000000", F::Unix, Some("5138-11-16T09:46:40Z")),
            ("1700000000.5", F::Unix, Some("2023-11-14T22:13:20.5Z")),
            ("2025-06-01T14:32:00Z", F::Unix, None),
            (
                "2025-06-01T14:32:00Z",
                F::Rfc3339,
                Some("2025-06-01T14:32:00Z"),
            ),
            ("1700000000", F::Rfc3339, None),
            ("", F::Unix, None),
            ("", F::UnixMillis, None),
        ];
        for (raw, form, want) in cases {
            let got = parse_as(raw, *form).map(|t| t.to_string());
            assert_eq!(got.as_deref(), *want, "{raw:?} as {form:?}");
        }
        // Unstated, the same small number is read by its size: as seconds.
        assert_eq!(
            parse("15000000").unwrap().to_string(),
            "1970-06-23T14:40:00Z"
        );
    }
}
