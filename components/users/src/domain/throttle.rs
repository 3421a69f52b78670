//! Failed-login throttling, per account *and* client address: the key is the normalised email
//! (whether or not an account has it, so the answer never tells which emails are registered)
//! with the address the gateway saw the request come from.
//!
//! Why both: keyed by the email alone, anyone could keep an account's owner out with five
//! wrong passwords per window (#14). Keyed by the pair, a client guessing at an account slows
//! itself down only; the owner, from another address, is never refused.
//!
//! Policy: every attempt is counted *before* its password is checked (so parallel guesses
//! cannot all slip in before the first one is recorded), and a successful login clears its
//! pair's count. The first [`FREE_FAILURES`] failures of a pair cost nothing; from then on the
//! pair waits 2^k seconds after its last attempt (k = 1 after the fifth failure, 2 after the
//! sixth, ...), at most [`MAX_DELAY_SECONDS`]; an attempt that comes earlier is refused with 429
//! and `Retry-After`, and is not counted. A pair quiet for [`FORGET_AFTER_SECONDS`] starts
//! afresh, and its row is deleted as new attempts come in, which keeps the table bounded.

pub const FREE_FAILURES: u32 = 5;
pub const MAX_DELAY_SECONDS: i64 = 15 * 60;
/// Long enough that waiting it out buys a guesser less than the capped delays do.
pub const FORGET_AFTER_SECONDS: i64 = 24 * 60 * 60;
/// The client of a call that did not come through the gateway (the exported `api`).
pub const UNKNOWN_CLIENT: &str = "unknown";

/// The attempts counted for one (account, client) pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempts {
    pub failures: u32,
    /// Unix seconds of the pair's last counted attempt.
    pub last_attempt: i64,
}

impl Attempts {
    /// Whether the pair has been quiet long enough at `now` to be forgotten.
    pub fn is_forgotten(&self, now: i64) -> bool {
        now - self.last_attempt >= FORGET_AFTER_SECONDS
    }
}

/// How long a pair with `failures` waits after its last attempt: nothing for the first
/// [`FREE_FAILURES`], then 2, 4, 8 ... seconds, at most [`MAX_DELAY_SECONDS`].
pub fn delay_seconds(failures: u32) -> i64 {
    if failures < FREE_FAILURES {
        return 0;
    }
    let exponent = (failures - FREE_FAILURES + 1).min(62);
    (1_i64 << exponent).min(MAX_DELAY_SECONDS)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Go on and check the password; store these attempts first.
    Allow(Attempts),
    /// Refuse without checking; retry after this many seconds (1 to [`MAX_DELAY_SECONDS`]).
    Block { retry_after: u32 },
}

/// Decides on a new login attempt of a pair at `now` given what is stored for it.
pub fn begin_attempt(stored: Option<Attempts>, now: i64) -> Decision {
    let Some(attempts) = stored.filter(|a| !a.is_forgotten(now)) else {
        return Decision::Allow(Attempts {
            failures: 1,
            last_attempt: now,
        });
    };
    let delay = delay_seconds(attempts.failures);
    let wait = attempts.last_attempt + delay - now;
    if delay > 0 && wait > 0 {
        // A clock that went back still waits, but never longer than the delay itself.
        let seconds = wait.clamp(1, delay);
        return Decision::Block {
            retry_after: u32::try_from(seconds).unwrap_or(u32::MAX),
        };
    }
    Decision::Allow(Attempts {
        failures: attempts.failures.saturating_add(1),
        last_attempt: now,
    })
}

/// The client part of the key: the address the gateway forwarded (an IP, normalised), or
/// [`UNKNOWN_CLIENT`] when there is none or it is not an address.
pub fn client_key(forwarded: Option<&str>) -> String {
    forwarded
        .and_then(|value| value.trim().parse::<std::net::IpAddr>().ok())
        .map_or_else(
            || UNKNOWN_CLIENT.to_owned(),
            |ip| ip.to_canonical().to_string(),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_750_000_000;

    fn allowed(decision: Decision) -> Attempts {
        match decision {
            Decision::Allow(a) => a,
            Decision::Block { retry_after } => panic!("blocked for {retry_after} s"),
        }
    }

    #[test]
    fn the_first_attempt_is_counted() {
        assert_eq!(
            begin_attempt(None, T0),
            Decision::Allow(Attempts {
                failures: 1,
                last_attempt: T0
            })
        );
    }

    #[test]
    fn five_failures_cost_nothing_then_the_pair_waits() {
        let mut stored = None;
        for i in 0..FREE_FAILURES {
            // Back to back, in the same second.
            let a = allowed(begin_attempt(stored, T0));
            assert_eq!(a.failures, i + 1);
            stored = Some(a);
        }
        // The sixth attempt, right password or not, waits 2 s after the fifth.
        assert_eq!(
            begin_attempt(stored, T0),
            Decision::Block { retry_after: 2 }
        );
        assert_eq!(
            begin_attempt(stored, T0 + 1),
            Decision::Block { retry_after: 1 }
        );
        let sixth = allowed(begin_attempt(stored, T0 + 2));
        assert_eq!(
            sixth,
            Attempts {
                failures: 6,
                last_attempt: T0 + 2
            }
        );
        // A refused attempt is not counted: the wait does not grow by knocking.
        assert_eq!(
            begin_attempt(Some(sixth), T0 + 3),
            Decision::Block { retry_after: 3 }
        );
        assert_eq!(allowed(begin_attempt(Some(sixth), T0 + 6)).failures, 7);
    }

    #[test]
    fn the_delay_doubles_up_to_its_cap() {
        let delays: Vec<i64> = (0..=16).map(delay_seconds).collect();
        assert_eq!(
            delays,
            vec![
                0, 0, 0, 0, 0, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900, 900
            ]
        );
        assert_eq!(delay_seconds(u32::MAX), MAX_DELAY_SECONDS);
        let many = Attempts {
            failures: u32::MAX,
            last_attempt: T0,
        };
        assert_eq!(
            begin_attempt(Some(many), T0),
            Decision::Block {
                retry_after: MAX_DELAY_SECONDS as u32
            }
        );
        assert_eq!(
            allowed(begin_attempt(Some(many), T0 + MAX_DELAY_SECONDS)).failures,
            u32::MAX
        );
    }

    #[test]
    fn a_clock_that_went_back_waits_at_most_the_delay() {
        let stored = Attempts {
            failures: 8,
            last_attempt: T0,
        };
        assert_eq!(
            begin_attempt(Some(stored), T0 - 5_000),
            Decision::Block { retry_after: 16 }
        );
    }

    #[test]
    fn a_quiet_pair_is_forgotten() {
        let stored = Attempts {
            failures: 12,
            last_attempt: T0,
        };
        assert!(!stored.is_forgotten(T0 + FORGET_AFTER_SECONDS - 1));
        assert!(stored.is_forgotten(T0 + FORGET_AFTER_SECONDS));
        assert_eq!(
            begin_attempt(Some(stored), T0 + FORGET_AFTER_SECONDS),
            Decision::Allow(Attempts {
                failures: 1,
                last_attempt: T0 + FORGET_AFTER_SECONDS
            })
        );
    }

    #[test]
    fn clients_are_addresses_or_unknown() {
        assert_eq!(client_key(Some("203.0.113.7")), "203.0.113.7");
        assert_eq!(client_key(Some(" 2001:DB8::1 ")), "2001:db8::1");
        assert_eq!(client_key(Some("::ffff:192.0.2.1")), "192.0.2.1");
        for not_an_address in [
            None,
            Some(""),
            Some("203.0.113.7:5000"),
            Some("203.0.113.7, 10.0.0.1"),
            Some("somewhere"),
        ] {
            assert_eq!(
                client_key(not_an_address),
                UNKNOWN_CLIENT,
                "{not_an_address:?}"
            );
        }
    }
}
