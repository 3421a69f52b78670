//! Resilience per upstream, pure: the retry policy (idempotent methods only, exponential backoff
//! with full jitter) and the circuit breaker's state machine. The breaker's state lives in
//! Redis (`gate_redis.rs` is the thin adapter); everything here takes the clock as a parameter.

use std::time::Duration;

/// Retries after the first attempt.
pub const MAX_RETRIES: u32 = 2;
const BACKOFF_BASE_MS: u64 = 50;
const BACKOFF_CAP_MS: u64 = 1_000;

/// Only GET and HEAD are retried: they are idempotent and carry no body to replay.
pub fn retryable_method(method: &str) -> bool {
    matches!(method, "GET" | "HEAD")
}

/// Statuses that mean "the upstream (or the way to it) failed", worth a retry.
pub fn retryable_status(status: u16) -> bool {
    matches!(status, 502..=504)
}

/// The pause before retry `attempt` (1-based): full jitter over `base * 2^(attempt-1)`,
/// capped; `random` is uniform in [0, 1).
pub fn backoff(attempt: u32, random: f64) -> Duration {
    let ceiling = BACKOFF_BASE_MS
        .saturating_mul(1 << attempt.saturating_sub(1).min(16))
        .min(BACKOFF_CAP_MS);
    let random = random.clamp(0.0, 1.0);
    // The product is below the cap (1 s), so the cast cannot truncate meaningfully.
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let millis = (ceiling as f64 * random) as u64;
    Duration::from_millis(millis.max(1))
}

/// When a breaker opens and for how long.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BreakerConfig {
    /// Outcomes are counted over windows of this length.
    pub window_ms: i64,
    /// Fewer outcomes than this in a window never open the breaker.
    pub min_requests: i64,
    /// Failures / outcomes at or above this ratio open it.
    pub failure_ratio: f64,
    /// How long it stays open before one probe is let through.
    pub open_ms: i64,
    /// How long one probe holds the half-open slot.
    pub probe_ms: i64,
}

pub const BREAKER: BreakerConfig = BreakerConfig {
    window_ms: 30_000,
    min_requests: 5,
    failure_ratio: 0.5,
    open_ms: crate::config::DEFAULT_BREAKER_OPEN_MS,
    probe_ms: 5_000,
};

impl BreakerConfig {
    /// The defaults with the open period from the `breaker_open_ms` variable, when it is a
    /// sane number of milliseconds (100 ms to 10 min).
    pub fn with_open_ms(open_ms: Option<&str>) -> Self {
        let open_ms = open_ms
            .and_then(|text| text.trim().parse::<i64>().ok())
            .filter(|ms| (100..=600_000).contains(ms))
            .unwrap_or(BREAKER.open_ms);
        Self { open_ms, ..BREAKER }
    }
}

/// The bulkhead's size from its variable's `text`, else `default`.
pub fn max_in_flight(text: Option<&str>, default: i64) -> i64 {
    text.and_then(|t| t.trim().parse::<i64>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(default)
}

/// A breaker's stored state: `open_until_ms` = 0 when closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Snapshot {
    pub open_until_ms: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Closed,
    Open {
        retry_after_seconds: u32,
    },
    /// The open period is over: one probe may go (whoever takes the probe lock).
    HalfOpen,
}

impl Snapshot {
    pub fn state(self, now_ms: i64) -> State {
        if self.open_until_ms == 0 {
            State::Closed
        } else if now_ms < self.open_until_ms {
            let seconds = (self.open_until_ms - now_ms + 999) / 1000;
            State::Open {
                retry_after_seconds: u32::try_from(seconds.max(1)).unwrap_or(u32::MAX),
            }
        } else {
            State::HalfOpen
        }
    }
}

/// What to do with a request given the breaker's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Closed: send, and count the outcome.
    Send,
    /// Half-open and this request holds the probe lock: send; success closes, failure reopens.
    Probe,
    /// Fail fast: 503 with `Retry-After`, without calling the upstream.
    Reject { retry_after_seconds: u32 },
    /// The upstream already has its maximum of requests in flight: 503, try again shortly.
    Full,
}

/// `got_probe_lock` is only asked for in the half-open state.
pub fn admit(state: State, got_probe_lock: impl FnOnce() -> bool) -> Admission {
    match state {
        State::Closed => Admission::Send,
        State::Open {
            retry_after_seconds,
        } => Admission::Reject {
            retry_after_seconds,
        },
        State::HalfOpen if got_probe_lock() => Admission::Probe,
        State::HalfOpen => Admission::Reject {
            retry_after_seconds: 1,
        },
    }
}

/// What the adapter must store after an outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// Nothing changes (the counters were already updated).
    Stay,
    /// Open until this time (and reset the window's counters, release the probe lock).
    Open { until_ms: i64 },
    /// Close (clear the state, counters and probe lock).
    Close,
}

/// After a probe: success closes, failure reopens for another period.
pub fn after_probe(success: bool, now_ms: i64, config: &BreakerConfig) -> Transition {
    if success {
        Transition::Close
    } else {
        Transition::Open {
            until_ms: now_ms + config.open_ms,
        }
    }
}

/// After a counted outcome in the closed state, with the window's totals including it.
pub fn after_outcome(
    successes: i64,
    failures: i64,
    now_ms: i64,
    config: &BreakerConfig,
) -> Transition {
    let total = successes + failures;
    #[allow(clippy::cast_precision_loss)]
    let ratio = if total > 0 {
        failures as f64 / total as f64
    } else {
        0.0
    };
    if total >= config.min_requests && ratio >= config.failure_ratio {
        Transition::Open {
            until_ms: now_ms + config.open_ms,
        }
    } else {
        Transition::Stay
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    #[test]
    fn retries_only_idempotent_methods_and_gateway_errors() {
        assert!(retryable_method("GET") && retryable_method("HEAD"));
        assert!(
            !retryable_method("POST") && !retryable_method("PUT") && !retryable_method("DELETE")
        );
        assert!(retryable_status(502) && retryable_status(503) && retryable_status(504));
        assert!(!retryable_status(500) && !retryable_status(404) && !retryable_status(200));
    }

    #[test]
    fn backoff_grows_exponentially_with_jitter_and_a_cap() {
        assert_eq!(backoff(1, 0.999), Duration::from_millis(49));
        assert_eq!(backoff(2, 0.999), Duration::from_millis(99));
        assert_eq!(backoff(3, 0.5), Duration::from_millis(100));
        assert_eq!(backoff(30, 0.999), Duration::from_millis(999));
        assert_eq!(backoff(1, 0.0), Duration::from_millis(1));
        assert!(backoff(2, 0.3) < backoff(2, 0.9));
    }

    #[test]
    fn closed_breaker_opens_on_the_failure_ratio_once_enough_requests() {
        let c = BREAKER;
        assert_eq!(
            after_outcome(0, 4, NOW, &c),
            Transition::Stay,
            "too few requests"
        );
        assert_eq!(
            after_outcome(0, 5, NOW, &c),
            Transition::Open {
                until_ms: NOW + c.open_ms
            }
        );
        assert_eq!(
            after_outcome(3, 3, NOW, &c),
            Transition::Open {
                until_ms: NOW + c.open_ms
            }
        );
        assert_eq!(after_outcome(4, 3, NOW, &c), Transition::Stay);
        assert_eq!(after_outcome(100, 0, NOW, &c), Transition::Stay);
    }

    #[test]
    fn open_breaker_fails_fast_then_lets_one_probe_through() {
        let snapshot = Snapshot {
            open_until_ms: NOW + 2_500,
        };
        assert_eq!(
            snapshot.state(NOW),
            State::Open {
                retry_after_seconds: 3
            }
        );
        assert_eq!(
            admit(snapshot.state(NOW), || panic!("no lock while open")),
            Admission::Reject {
                retry_after_seconds: 3
            }
        );
        let later = NOW + 2_500;
        assert_eq!(snapshot.state(later), State::HalfOpen);
        assert_eq!(admit(snapshot.state(later), || true), Admission::Probe);
        assert_eq!(
            admit(snapshot.state(later), || false),
            Admission::Reject {
                retry_after_seconds: 1
            }
        );
        assert_eq!(Snapshot::default().state(NOW), State::Closed);
        assert_eq!(
            admit(State::Closed, || panic!("no lock when closed")),
            Admission::Send
        );
    }

    #[test]
    fn the_open_period_and_the_bulkhead_come_from_configuration() {
        assert_eq!(BreakerConfig::with_open_ms(Some("1500")).open_ms, 1_500);
        assert_eq!(
            BreakerConfig::with_open_ms(Some("1500")).window_ms,
            BREAKER.window_ms
        );
        for bad in [None, Some(""), Some("soon"), Some("5"), Some("999999999")] {
            assert_eq!(
                BreakerConfig::with_open_ms(bad).open_ms,
                BREAKER.open_ms,
                "{bad:?}"
            );
        }
        assert_eq!(max_in_flight(Some("8"), 128), 8);
        assert_eq!(max_in_flight(Some("0"), 128), 128);
        assert_eq!(max_in_flight(Some("-3"), 128), 128);
        assert_eq!(max_in_flight(None, 32), 32);
    }

    #[test]
    fn probe_outcome_closes_or_reopens() {
        assert_eq!(after_probe(true, NOW, &BREAKER), Transition::Close);
        assert_eq!(
            after_probe(false, NOW, &BREAKER),
            Transition::Open {
                until_ms: NOW + BREAKER.open_ms
            }
        );
    }
}
