//! Failed-login throttling, per account (the normalised email, whether or not an account has it,
//! so the answer never tells which emails are registered).
//!
//! Policy: a fixed window of 15 minutes opens at the first attempt after a quiet period. Every
//! attempt is counted *before* its password is checked (so parallel guesses cannot all slip in
//! before the first one is recorded), and a successful login clears the count. Once 5 attempts
//! of the window have been counted, i.e. after 5 failures within 15 minutes, every further
//! attempt, right password or not, is refused with 429 and `Retry-After` = the seconds until
//! the window ends; then the count starts afresh. The state lives in the users SQLite database
//! (`login_attempts`); windows that ended are deleted as new attempts come in.

pub const MAX_FAILURES: u32 = 5;
pub const WINDOW_SECONDS: i64 = 15 * 60;

/// The attempts counted for one account in the current window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempts {
    pub failures: u32,
    /// Unix seconds of the window's first attempt.
    pub window_start: i64,
}

impl Attempts {
    pub fn window_end(&self) -> i64 {
        self.window_start + WINDOW_SECONDS
    }

    /// Whether the window still runs at `now` (a clock that went back counts as still inside).
    pub fn is_current(&self, now: i64) -> bool {
        now < self.window_end()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Go on and check the password; store these attempts first.
    Allow(Attempts),
    /// Refuse without checking; retry after this many seconds (1 to the window's length).
    Block { retry_after: u32 },
}

/// Decides on a new login attempt at `now` given what is stored for the account.
pub fn begin_attempt(stored: Option<Attempts>, now: i64) -> Decision {
    match stored.filter(|a| a.is_current(now)) {
        None => Decision::Allow(Attempts {
            failures: 1,
            window_start: now,
        }),
        Some(a) if a.failures >= MAX_FAILURES => Decision::Block {
            retry_after: retry_after(&a, now),
        },
        Some(a) => Decision::Allow(Attempts {
            failures: a.failures + 1,
            ..a
        }),
    }
}

fn retry_after(attempts: &Attempts, now: i64) -> u32 {
    let seconds = (attempts.window_end() - now).clamp(1, WINDOW_SECONDS);
    u32::try_from(seconds).unwrap_or(u32::MAX)
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
    fn the_first_attempt_opens_a_window() {
        assert_eq!(
            begin_attempt(None, T0),
            Decision::Allow(Attempts {
                failures: 1,
                window_start: T0
            })
        );
    }

    #[test]
    fn five_failures_block_until_the_window_ends() {
        let mut stored = None;
        for (i, now) in [T0, T0 + 10, T0 + 100, T0 + 400, T0 + 899]
            .into_iter()
            .enumerate()
        {
            let a = allowed(begin_attempt(stored, now));
            assert_eq!(a.failures, i as u32 + 1);
            assert_eq!(a.window_start, T0);
            stored = Some(a);
        }
        assert_eq!(
            begin_attempt(stored, T0 + 899),
            Decision::Block { retry_after: 1 }
        );
        assert_eq!(
            begin_attempt(stored, T0 + 300),
            Decision::Block { retry_after: 600 }
        );
        // The window ends at T0 + 900: a new one opens.
        assert_eq!(
            allowed(begin_attempt(stored, T0 + 900)),
            Attempts {
                failures: 1,
                window_start: T0 + 900
            }
        );
    }

    #[test]
    fn failures_spread_over_more_than_the_window_never_block() {
        let mut stored = None;
        for k in 0..20 {
            // Four failures per window, windows back to back.
            let now = T0 + (k / 4) * WINDOW_SECONDS + (k % 4) * 60;
            stored = Some(allowed(begin_attempt(stored, now)));
        }
    }

    #[test]
    fn retry_after_stays_within_the_window_length() {
        let full = Attempts {
            failures: MAX_FAILURES,
            window_start: T0,
        };
        // A clock that went back: still blocked, for at most one window.
        assert_eq!(
            begin_attempt(Some(full), T0 - 5_000),
            Decision::Block {
                retry_after: WINDOW_SECONDS as u32
            }
        );
        assert_eq!(
            begin_attempt(Some(full), T0),
            Decision::Block {
                retry_after: WINDOW_SECONDS as u32
            }
        );
    }
}
