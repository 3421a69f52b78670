//! Payments' rules, pure: what the simulated provider answers for a token and an amount, and
//! which state changes a payment allows.
//!
//! Test payment tokens (deterministic; never card data):
//!
//! | token | authorize |
//! | --- | --- |
//! | `tok_visa` | approved |
//! | `tok_declined` | declined: `card_declined` |
//! | `tok_insufficient_funds` | declined: `insufficient_funds` |
//! | `tok_flaky` | `provider_error` (retryable) on the first 2 attempts for an order, then approved |
//! | anything else | declined: `invalid_token` |
//!
//! Amounts are integer minor units; more than [`AMOUNT_LIMIT`] in one transaction is declined
//! with `amount_limit_exceeded`, zero or less with `invalid_amount`.

use crate::bindings::wasmshop::payments::types::PaymentStatus;

/// The largest amount one transaction may carry (5,000.00).
pub const AMOUNT_LIMIT: i64 = 500_000;
/// How many authorize attempts `tok_flaky` fails before it succeeds.
pub const FLAKY_FAILURES: u32 = 2;

/// The provider's answer to an authorization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Approved,
    /// Final: the same request would be declined again.
    Declined(&'static str),
    /// Transient: the same request may succeed later.
    ProviderError,
}

/// `attempt` counts from 1 for each order.
pub fn authorize(token: &str, amount: i64, attempt: u32) -> Verdict {
    if amount <= 0 {
        return Verdict::Declined("invalid_amount");
    }
    if amount > AMOUNT_LIMIT {
        return Verdict::Declined("amount_limit_exceeded");
    }
    match token {
        "tok_visa" => Verdict::Approved,
        "tok_declined" => Verdict::Declined("card_declined"),
        "tok_insufficient_funds" => Verdict::Declined("insufficient_funds"),
        "tok_flaky" if attempt <= FLAKY_FAILURES => Verdict::ProviderError,
        "tok_flaky" => Verdict::Approved,
        _ => Verdict::Declined("invalid_token"),
    }
}

/// The kind of token stored with a payment (the token itself is not kept).
pub fn token_kind(token: &str) -> &'static str {
    match token {
        "tok_visa" => "visa",
        "tok_declined" | "tok_insufficient_funds" | "tok_flaky" => "test",
        _ => "unknown",
    }
}

/// What a command does to a payment in `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Move to this status.
    To(PaymentStatus),
    /// Already done: answer as if it had just happened.
    Again,
    /// Nothing to undo (void of a declined authorization): answer done.
    Nothing,
}

pub const INVALID_STATE: &str = "invalid_state";

pub fn capture(status: PaymentStatus) -> Result<Step, &'static str> {
    match status {
        PaymentStatus::Authorized => Ok(Step::To(PaymentStatus::Captured)),
        PaymentStatus::Captured | PaymentStatus::Refunded => Ok(Step::Again),
        PaymentStatus::Voided | PaymentStatus::Declined => Err(INVALID_STATE),
    }
}

/// Voiding releases an authorization; a captured payment must be refunded instead.
pub fn void(status: PaymentStatus) -> Result<Step, &'static str> {
    match status {
        PaymentStatus::Authorized => Ok(Step::To(PaymentStatus::Voided)),
        PaymentStatus::Voided => Ok(Step::Again),
        PaymentStatus::Declined => Ok(Step::Nothing),
        PaymentStatus::Captured | PaymentStatus::Refunded => Err(INVALID_STATE),
    }
}

pub fn refund(status: PaymentStatus) -> Result<Step, &'static str> {
    match status {
        PaymentStatus::Captured => Ok(Step::To(PaymentStatus::Refunded)),
        PaymentStatus::Refunded => Ok(Step::Again),
        PaymentStatus::Authorized | PaymentStatus::Voided | PaymentStatus::Declined => {
            Err(INVALID_STATE)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_answer_deterministically() {
        assert_eq!(authorize("tok_visa", 1_000, 1), Verdict::Approved);
        assert_eq!(
            authorize("tok_declined", 1_000, 1),
            Verdict::Declined("card_declined")
        );
        assert_eq!(
            authorize("tok_insufficient_funds", 1_000, 1),
            Verdict::Declined("insufficient_funds")
        );
        assert_eq!(
            authorize("4111111111111111", 1_000, 1),
            Verdict::Declined("invalid_token")
        );
        assert_eq!(authorize("tok_flaky", 1_000, 1), Verdict::ProviderError);
        assert_eq!(authorize("tok_flaky", 1_000, 2), Verdict::ProviderError);
        assert_eq!(authorize("tok_flaky", 1_000, 3), Verdict::Approved);
    }

    #[test]
    fn amounts_are_bounded() {
        assert_eq!(authorize("tok_visa", AMOUNT_LIMIT, 1), Verdict::Approved);
        assert_eq!(
            authorize("tok_visa", AMOUNT_LIMIT + 1, 1),
            Verdict::Declined("amount_limit_exceeded")
        );
        assert_eq!(
            authorize("tok_visa", 0, 1),
            Verdict::Declined("invalid_amount")
        );
        assert_eq!(
            authorize("tok_visa", -5, 1),
            Verdict::Declined("invalid_amount")
        );
    }

    #[test]
    fn the_state_machine_allows_only_real_money_movements() {
        use PaymentStatus::*;
        assert_eq!(capture(Authorized), Ok(Step::To(Captured)));
        assert_eq!(capture(Captured), Ok(Step::Again));
        assert_eq!(capture(Refunded), Ok(Step::Again));
        assert_eq!(capture(Voided), Err(INVALID_STATE));
        assert_eq!(capture(Declined), Err(INVALID_STATE));
        assert_eq!(void(Authorized), Ok(Step::To(Voided)));
        assert_eq!(void(Voided), Ok(Step::Again));
        assert_eq!(void(Declined), Ok(Step::Nothing));
        assert_eq!(void(Captured), Err(INVALID_STATE));
        assert_eq!(refund(Captured), Ok(Step::To(Refunded)));
        assert_eq!(refund(Refunded), Ok(Step::Again));
        assert_eq!(refund(Authorized), Err(INVALID_STATE));
        for status in [Authorized, Captured, Voided, Refunded, Declined] {
            assert_eq!(PaymentStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(PaymentStatus::parse("pending"), None);
        assert_eq!(token_kind("tok_visa"), "visa");
    }
}
