//! A circuit breaker per upstream: after a run of failures the upstream is left alone for a while
//! (its events wait, their attempts are not spent), then one attempt probes it; a success closes the
//! breaker, a failure opens it again. This keeps a dead upstream from occupying every worker with
//! time-outs while it is down, at the cost of one probe every `OPEN_FOR`; it stays open for the same
//! short time every time, so that an upstream that comes back is noticed within seconds.

use std::time::{Duration, Instant};

/// Consecutive failures that open the breaker.
pub const THRESHOLD: u32 = 5;
/// How long it stays open before the next probe.
pub const OPEN_FOR: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    Closed,
    Open {
        until: Instant,
    },
    /// One probe is under way since then; a probe that reports nothing within `OPEN_FOR` (its
    /// attempt was lost, say) no longer holds the others back.
    Probing {
        since: Instant,
    },
}

#[derive(Debug, Clone)]
pub struct Breaker {
    state: State,
    failures: u32,
}

/// Whether an attempt may go now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    Go,
    /// Not before this instant.
    Wait(Instant),
}

impl Default for Breaker {
    fn default() -> Self {
        Breaker {
            state: State::Closed,
            failures: 0,
        }
    }
}

impl Breaker {
    /// Asks for an attempt at `now`; `busy` is how many attempts to this upstream are under way.
    pub fn gate(&mut self, now: Instant, busy: usize) -> Gate {
        match self.state {
            State::Closed => Gate::Go,
            State::Open { until } if now >= until && busy == 0 => {
                self.state = State::Probing { since: now };
                Gate::Go
            }
            State::Open { until } => Gate::Wait(until.max(now + Duration::from_millis(10))),
            State::Probing { since } if now >= since + OPEN_FOR => {
                self.state = State::Probing { since: now };
                Gate::Go
            }
            // One probe at a time; the others wait for its verdict.
            State::Probing { .. } => Gate::Wait(now + Duration::from_millis(100)),
        }
    }

    /// Gives back a probe that found nothing to send, so that the next due event probes at once.
    pub fn cancel_probe(&mut self, now: Instant) {
        if matches!(self.state, State::Probing { .. }) {
            self.state = State::Open { until: now };
        }
    }

    pub fn success(&mut self) {
        self.failures = 0;
        self.state = State::Closed;
    }

    /// Records a failure; returns true when it opened the breaker.
    pub fn failure(&mut self, now: Instant) -> bool {
        self.failures += 1;
        let open = match self.state {
            State::Probing { .. } => true,
            State::Closed => self.failures >= THRESHOLD,
            State::Open { .. } => false,
        };
        if open {
            self.state = State::Open {
                until: now + OPEN_FOR,
            };
        }
        open
    }

    pub fn is_open(&self) -> bool {
        !matches!(self.state, State::Closed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_a_run_of_failures_probes_once_and_closes_on_success() {
        let t0 = Instant::now();
        let mut b = Breaker::default();
        for _ in 0..THRESHOLD - 1 {
            assert!(!b.failure(t0));
            assert_eq!(b.gate(t0, 0), Gate::Go);
        }
        assert!(b.failure(t0), "the fifth failure opens it");
        assert_eq!(b.gate(t0, 0), Gate::Wait(t0 + OPEN_FOR));
        let later = t0 + OPEN_FOR;
        assert_eq!(
            b.gate(later, 1),
            Gate::Wait(later + Duration::from_millis(10)),
            "not while others run"
        );
        assert_eq!(b.gate(later, 0), Gate::Go, "one probe");
        assert!(matches!(b.gate(later, 1), Gate::Wait(_)), "and only one");
        assert!(b.failure(later), "a failed probe opens it again");
        assert_eq!(
            b.gate(later, 0),
            Gate::Wait(later + OPEN_FOR),
            "for as long again"
        );
        let again = later + OPEN_FOR;
        assert_eq!(b.gate(again, 0), Gate::Go);
        b.success();
        assert!(!b.is_open());
        assert_eq!(b.gate(again, 3), Gate::Go);
    }

    #[test]
    fn a_probe_with_nothing_to_send_is_given_back() {
        let t0 = Instant::now();
        let mut b = Breaker::default();
        for _ in 0..THRESHOLD {
            b.failure(t0);
        }
        let later = t0 + OPEN_FOR;
        assert_eq!(b.gate(later, 0), Gate::Go);
        b.cancel_probe(later);
        assert_eq!(b.gate(later, 0), Gate::Go, "the next one may probe");
    }

    #[test]
    fn a_lost_probe_stops_holding_the_others_back() {
        let t0 = Instant::now();
        let mut b = Breaker::default();
        for _ in 0..THRESHOLD {
            b.failure(t0);
        }
        let later = t0 + OPEN_FOR;
        assert_eq!(b.gate(later, 0), Gate::Go);
        assert!(matches!(b.gate(later, 1), Gate::Wait(_)));
        assert_eq!(b.gate(later + OPEN_FOR, 1), Gate::Go, "another probe");
    }

    #[test]
    fn a_success_resets_the_count() {
        let t0 = Instant::now();
        let mut b = Breaker::default();
        for _ in 0..THRESHOLD - 1 {
            b.failure(t0);
        }
        b.success();
        assert!(!b.failure(t0));
        assert!(!b.is_open());
    }
}
