//! A circuit breaker per upstream: after a run of failures the upstream is left alone for a while
//! (its events wait, their attempts are not spent), then one attempt probes it; a success closes the
//! breaker, a failure opens it again for twice as long. This keeps a dead upstream from occupying
//! every worker with time-outs while it is down.

use std::time::{Duration, Instant};

/// Consecutive failures that open the breaker.
pub const THRESHOLD: u32 = 5;
/// How long it stays open the first time; doubled at each failed probe, up to `MAX_OPEN`.
pub const FIRST_OPEN: Duration = Duration::from_secs(2);
pub const MAX_OPEN: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    Closed,
    Open {
        until: Instant,
        open_for: Duration,
    },
    /// One probe is under way.
    Probing {
        open_for: Duration,
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
            State::Open { until, open_for } if now >= until && busy == 0 => {
                self.state = State::Probing { open_for };
                Gate::Go
            }
            State::Open { until, .. } => Gate::Wait(until.max(now + Duration::from_millis(10))),
            // One probe at a time; the others wait for its verdict.
            State::Probing { .. } => Gate::Wait(now + Duration::from_millis(100)),
        }
    }

    pub fn success(&mut self) {
        self.failures = 0;
        self.state = State::Closed;
    }

    /// Records a failure; returns true when it opened the breaker.
    pub fn failure(&mut self, now: Instant) -> bool {
        self.failures += 1;
        match self.state {
            State::Probing { open_for } => {
                let open_for = (open_for * 2).min(MAX_OPEN);
                self.state = State::Open {
                    until: now + open_for,
                    open_for,
                };
                true
            }
            State::Closed if self.failures >= THRESHOLD => {
                self.state = State::Open {
                    until: now + FIRST_OPEN,
                    open_for: FIRST_OPEN,
                };
                true
            }
            _ => false,
        }
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
        assert_eq!(b.gate(t0, 0), Gate::Wait(t0 + FIRST_OPEN));
        let later = t0 + FIRST_OPEN;
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
            Gate::Wait(later + FIRST_OPEN * 2),
            "for twice as long"
        );
        let again = later + FIRST_OPEN * 2;
        assert_eq!(b.gate(again, 0), Gate::Go);
        b.success();
        assert!(!b.is_open());
        assert_eq!(b.gate(again, 3), Gate::Go);
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
