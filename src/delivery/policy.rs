//! When to try a stored event again, and when to give up: a route's delivery policy.
//!
//! The default schedule follows Svix's (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h: about 28 hours in
//! all), each delay spread by ±20 % so that a burst of failures does not come back as a burst. An
//! upstream's `Retry-After` is honoured when it asks for longer; after a 429 or a time-out the delay is
//! at least doubled, since the upstream is saying it is overloaded. Statuses in `dead_letter_on` (410
//! Gone by default) dead-letter at once; so does an event that has used every step of the schedule or
//! is older than `max_delivery_age`. Pure functions of their inputs (the jitter is passed in), so
//! they are tested without a clock.

use http::StatusCode;
use std::time::Duration;

/// How a route hands events to its upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Stored durably, acknowledged, then delivered by the workers with retries.
    #[default]
    Queued,
    /// Forwarded while the vendor waits; the vendor's answer is the upstream's.
    Direct,
}

impl Mode {
    pub const NAMES: &'static [&'static str] = &["queued", "direct"];

    pub fn parse(text: &str) -> Option<Mode> {
        match text {
            "queued" => Some(Mode::Queued),
            "direct" => Some(Mode::Direct),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Mode::Queued => "queued",
            Mode::Direct => "direct",
        }
    }
}

/// What direct mode answers a vendor when the upstream answered 4xx.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Upstream4xx {
    /// The upstream's status, relayed.
    #[default]
    Relay,
    /// 503 with `Retry-After`, for vendors that give up on an event at its first 4xx.
    Retry,
}

impl Upstream4xx {
    pub const NAMES: &'static [&'static str] = &["relay", "retry"];

    pub fn parse(text: &str) -> Option<Upstream4xx> {
        match text {
            "relay" => Some(Upstream4xx::Relay),
            "retry" => Some(Upstream4xx::Retry),
            _ => None,
        }
    }
}

/// A route's retry policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// The delay before each retry; an event gets one attempt plus one per step.
    pub schedule: Vec<Duration>,
    /// An event older than this is given up on at its next failure.
    pub max_age: Duration,
    pub dead_letter_on: Vec<StatusCode>,
    /// Attempts of this route under way at once.
    pub concurrency: usize,
}

pub mod defaults {
    use std::time::Duration;
    const fn s(n: u64) -> Duration {
        Duration::from_secs(n)
    }
    /// Svix's schedule: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
    pub const SCHEDULE: &[Duration] =
        &[s(5), s(300), s(1800), s(7200), s(18000), s(36000), s(36000)];
    pub const MAX_AGE: Duration = s(3 * 86_400);
    pub const DEAD_LETTER_ON: &[u16] = &[410];
    pub const CONCURRENCY: u64 = 16;
    /// The spread of each delay: ±20 %.
    pub const JITTER: f64 = 0.2;
    /// Longest `Retry-After` honoured.
    pub const MAX_RETRY_AFTER: Duration = s(3600);
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            schedule: defaults::SCHEDULE.to_vec(),
            max_age: defaults::MAX_AGE,
            dead_letter_on: defaults::DEAD_LETTER_ON
                .iter()
                .filter_map(|s| StatusCode::from_u16(*s).ok())
                .collect(),
            concurrency: defaults::CONCURRENCY as usize,
        }
    }
}

/// How one attempt ended, as the policy sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Result {
    Status(StatusCode),
    /// No answer within `forward_timeout`.
    Timeout,
    /// Could not connect, or the exchange broke.
    Failed,
}

/// What to do after an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    Delivered,
    Retry(Duration),
    Dead(String),
}

impl Policy {
    /// What follows attempt number `attempt` (1 for the first) of an event `age` old. `retry_after`
    /// is the upstream's `Retry-After`, and `jitter` a number in [-1, 1] scaling the spread.
    pub fn next(
        &self,
        attempt: u32,
        age: Duration,
        result: Result,
        retry_after: Option<Duration>,
        jitter: f64,
    ) -> Next {
        let status = match result {
            Result::Status(s) if s.is_success() => return Next::Delivered,
            Result::Status(s) if self.dead_letter_on.contains(&s) => {
                return Next::Dead(format!(
                    "the upstream answered {}, which dead-letters at once (dead_letter_on)",
                    s.as_u16()
                ));
            }
            Result::Status(s) => Some(s),
            _ => None,
        };
        let step = usize::try_from(attempt)
            .unwrap_or(usize::MAX)
            .saturating_sub(1);
        let Some(&base) = self.schedule.get(step) else {
            return Next::Dead(format!(
                "no answer of 2xx in {attempt} attempts (retry_schedule is used up)"
            ));
        };
        if age >= self.max_age {
            return Next::Dead(format!(
                "still failing after {} (max_delivery_age)",
                crate::config::human(self.max_age)
            ));
        }
        let spread = 1.0 + defaults::JITTER * jitter.clamp(-1.0, 1.0);
        let mut delay = base.mul_f64(spread);
        let overloaded =
            matches!(result, Result::Timeout) || status == Some(StatusCode::TOO_MANY_REQUESTS);
        if overloaded {
            delay = delay.saturating_mul(2);
        }
        if let Some(asked) = retry_after {
            delay = delay.max(asked.min(defaults::MAX_RETRY_AFTER));
        }
        Next::Retry(delay)
    }

    /// The time from the first attempt to the last retry, for documentation and `check`.
    pub fn horizon(&self) -> Duration {
        self.schedule.iter().sum()
    }
}

/// A `Retry-After` header: delay-seconds (the HTTP-date form is not used by upstreams we serve).
pub fn retry_after(value: Option<&http::HeaderValue>) -> Option<Duration> {
    let text = value?.to_str().ok()?.trim();
    text.parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    fn status(n: u16) -> Result {
        Result::Status(StatusCode::from_u16(n).unwrap())
    }

    #[test]
    fn the_schedule_is_followed_then_the_event_is_dead() {
        let p = Policy::default();
        let cases = [
            (1, status(200), Next::Delivered),
            (1, status(503), Next::Retry(S(5))),
            (2, status(500), Next::Retry(S(300))),
            (3, Result::Failed, Next::Retry(S(1800))),
            (7, status(404), Next::Retry(S(36000))),
            (
                1,
                status(410),
                Next::Dead(
                    "the upstream answered 410, which dead-letters at once (dead_letter_on)".into(),
                ),
            ),
            (
                8,
                status(503),
                Next::Dead("no answer of 2xx in 8 attempts (retry_schedule is used up)".into()),
            ),
        ];
        for (attempt, result, want) in cases {
            assert_eq!(
                p.next(attempt, S(1), result, None, 0.0),
                want,
                "attempt {attempt} {result:?}"
            );
        }
    }

    #[test]
    fn jitter_spreads_overload_doubles_and_retry_after_is_honoured() {
        let p = Policy::default();
        assert_eq!(p.next(1, S(0), status(503), None, 1.0), Next::Retry(S(6)));
        assert_eq!(p.next(1, S(0), status(503), None, -1.0), Next::Retry(S(4)));
        assert_eq!(p.next(1, S(0), status(429), None, 0.0), Next::Retry(S(10)));
        assert_eq!(
            p.next(1, S(0), Result::Timeout, None, 0.0),
            Next::Retry(S(10))
        );
        assert_eq!(
            p.next(1, S(0), status(503), Some(S(120)), 0.0),
            Next::Retry(S(120))
        );
        assert_eq!(
            p.next(1, S(0), status(503), Some(S(1)), 0.0),
            Next::Retry(S(5)),
            "never sooner"
        );
        assert_eq!(
            p.next(1, S(0), status(503), Some(S(999_999)), 0.0),
            Next::Retry(S(3600)),
            "bounded"
        );
    }

    #[test]
    fn an_event_past_its_max_age_is_given_up_on() {
        let p = Policy::default();
        let old = S(3 * 86_400);
        assert!(matches!(
            p.next(2, old, status(503), None, 0.0),
            Next::Dead(_)
        ));
        assert_eq!(p.next(2, old, status(200), None, 0.0), Next::Delivered);
    }

    #[test]
    fn retry_after_reads_delay_seconds() {
        let v = |s: &str| http::HeaderValue::from_str(s).unwrap();
        assert_eq!(retry_after(Some(&v("30"))), Some(S(30)));
        assert_eq!(retry_after(Some(&v(" 7 "))), Some(S(7)));
        assert_eq!(retry_after(Some(&v("Wed, 21 Oct 2015 07:28:00 GMT"))), None);
        assert_eq!(retry_after(None), None);
    }
}
