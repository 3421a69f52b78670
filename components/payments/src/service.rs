//! Payments' use cases. Saga commands run inside the messaging transaction and answer with an
//! event on `payments.events` in that same transaction; a repeated command (same order) is
//! answered with its first result and moves no money twice.

use serde::Serialize;
use spin_sdk::sqlite3::Connection;
use wasmshop_kit::channels;
use wasmshop_kit::db::{DbError, transaction};
use wasmshop_kit::identity::Identity;
use wasmshop_kit::ids::new_id;
use wasmshop_kit::messaging::Failure;
use wasmshop_kit::payloads::{AuthorizePayment, OrderCommand, PaymentChanged, PaymentFailed};
use wasmshop_kit::{Event, Money, events, outbox};

use crate::bindings::wasmshop::payments::types::{Error, Payment, PaymentPage, PaymentStatus};
use crate::domain::{self, Step, Verdict};
use crate::repo::{self, NewPayment};

pub const SOURCE: &str = "payments";

impl From<DbError> for Error {
    fn from(e: DbError) -> Self {
        // The operator reads the cause in the log; callers learn only that it was internal.
        wasmshop_kit::trace::log(SOURCE, &e);
        Error::Internal("database error".into())
    }
}

/// The test-only fault switch: `payments_fault = "error"` makes the provider fail every
/// authorization and capture transiently (voids and refunds stay possible, so compensations
/// can finish).
pub fn provider_down() -> bool {
    spin_sdk::variables::get("payments_fault").is_ok_and(|v| v == "error")
}

/// Every read and the operator's refund wait on the provider, over HTTP as through the `api`.
pub fn available() -> Result<(), Error> {
    if provider_down() {
        return Err(Error::Unavailable(
            "the payment provider is unavailable".into(),
        ));
    }
    Ok(())
}

fn reply<T: Serialize>(
    conn: &Connection,
    command: &Event,
    event_type: &str,
    order_id: &str,
    payload: &T,
) -> Result<(), Failure> {
    let event = events::reply_to(command, event_type, SOURCE, order_id, payload)?;
    outbox::enqueue(conn, channels::PAYMENTS_EVENTS, &event)?;
    Ok(())
}

fn changed(payment: &Payment, status: PaymentStatus) -> PaymentChanged {
    PaymentChanged {
        payment_id: payment.id.clone(),
        order_id: payment.order_id.clone(),
        user_id: payment.user_id.clone(),
        amount: payment.amount.clone(),
        status: status.as_str().to_owned(),
    }
}

fn failed(
    conn: &Connection,
    command: &Event,
    order_id: &str,
    user_id: &str,
    code: &str,
    retryable: bool,
) -> Result<(), Failure> {
    let reason = match code {
        "card_declined" => "the card was declined",
        "insufficient_funds" => "insufficient funds",
        "amount_limit_exceeded" => "the amount exceeds the per-transaction limit",
        "invalid_token" => "the payment token is not valid",
        "invalid_amount" => "the amount must be positive",
        "order_voided" => "the order's payment was voided",
        "provider_error" => "the payment provider is unavailable",
        _ => "the payment is not in a state that allows this",
    };
    reply(
        conn,
        command,
        channels::payment::FAILED,
        order_id,
        &PaymentFailed {
            order_id: order_id.to_owned(),
            user_id: user_id.to_owned(),
            code: code.to_owned(),
            reason: reason.to_owned(),
            retryable,
        },
    )
}

/// The event that answers a payment already in `status` (a repeated command's first result).
fn answer_existing(conn: &Connection, command: &Event, payment: &Payment) -> Result<(), Failure> {
    match payment.status {
        PaymentStatus::Declined => failed(
            conn,
            command,
            &payment.order_id,
            &payment.user_id,
            payment.failure_code.as_deref().unwrap_or("card_declined"),
            false,
        ),
        PaymentStatus::Voided => failed(
            conn,
            command,
            &payment.order_id,
            &payment.user_id,
            "order_voided",
            false,
        ),
        PaymentStatus::Authorized | PaymentStatus::Captured | PaymentStatus::Refunded => reply(
            conn,
            command,
            channels::payment::AUTHORIZED,
            &payment.order_id,
            &changed(payment, PaymentStatus::Authorized),
        ),
    }
}

pub fn authorize(
    conn: &Connection,
    command: &Event,
    request: &AuthorizePayment,
) -> Result<(), Failure> {
    if let Some(existing) = repo::by_order(conn, &request.order_id)? {
        return answer_existing(conn, command, &existing);
    }
    let attempt = repo::next_attempt(conn, &request.order_id)?;
    let verdict = if provider_down() {
        Verdict::ProviderError
    } else {
        domain::authorize(&request.payment_token, request.amount.amount, attempt)
    };
    let (status, code) = match verdict {
        Verdict::ProviderError => {
            // Not final: nothing is stored but the attempt count; a repeat tries again.
            return failed(
                conn,
                command,
                &request.order_id,
                &request.user_id,
                "provider_error",
                true,
            );
        }
        Verdict::Approved => (PaymentStatus::Authorized, None),
        Verdict::Declined(code) => (PaymentStatus::Declined, Some(code)),
    };
    let id = new_id();
    repo::insert(
        conn,
        &NewPayment {
            id: &id,
            order_id: &request.order_id,
            user_id: &request.user_id,
            amount: &request.amount,
            token_kind: domain::token_kind(&request.payment_token),
            status,
            failure_code: code,
        },
    )?;
    repo::record(conn, &id, "authorize", code.unwrap_or("approved"))?;
    let payment =
        repo::by_id(conn, &id)?.ok_or_else(|| Failure::Transient("payment vanished".into()))?;
    answer_existing(conn, command, &payment)
}

/// Capture, void or refund of an order's payment.
#[derive(Debug, Clone, Copy)]
pub enum Settle {
    Capture,
    Void,
    Refund,
}

impl Settle {
    fn name(self) -> &'static str {
        match self {
            Settle::Capture => "capture",
            Settle::Void => "void",
            Settle::Refund => "refund",
        }
    }

    fn rule(self) -> fn(PaymentStatus) -> Result<Step, &'static str> {
        match self {
            Settle::Capture => domain::capture,
            Settle::Void => domain::void,
            Settle::Refund => domain::refund,
        }
    }

    fn done(self) -> (PaymentStatus, &'static str) {
        match self {
            Settle::Capture => (PaymentStatus::Captured, channels::payment::CAPTURED),
            Settle::Void => (PaymentStatus::Voided, channels::payment::VOIDED),
            Settle::Refund => (PaymentStatus::Refunded, channels::payment::REFUNDED),
        }
    }
}

pub fn settle(
    conn: &Connection,
    command: &Event,
    request: &OrderCommand,
    settle: Settle,
) -> Result<(), Failure> {
    let (target, event_type) = settle.done();
    let Some(payment) = repo::by_order(conn, &request.order_id)? else {
        if let Settle::Void = settle {
            let tombstone = void_before_authorization(conn, &request.order_id)?;
            return reply(
                conn,
                command,
                event_type,
                &request.order_id,
                &changed(&tombstone, target),
            );
        }
        return failed(
            conn,
            command,
            &request.order_id,
            "",
            domain::INVALID_STATE,
            false,
        );
    };
    if matches!(settle, Settle::Capture) && provider_down() {
        // Nobody awaits a capture (the saga sends it with the confirmation): riding out the
        // provider's outage is this consumer's, by its dead letters' retries.
        return Err(Failure::Transient(
            "the payment provider is unavailable".into(),
        ));
    }
    match settle.rule()(payment.status) {
        Ok(Step::To(status)) => {
            repo::set_status(conn, &payment.id, status)?;
            repo::record(conn, &payment.id, settle.name(), "done")?;
        }
        Ok(Step::Again | Step::Nothing) => {}
        Err(code) => {
            repo::record(conn, &payment.id, settle.name(), code)?;
            return failed(
                conn,
                command,
                &payment.order_id,
                &payment.user_id,
                code,
                false,
            );
        }
    }
    reply(
        conn,
        command,
        event_type,
        &payment.order_id,
        &changed(&payment, target),
    )
}

/// A void that overtook its authorize: a voided payment of nothing is remembered for the order,
/// so the late authorize is refused.
fn void_before_authorization(conn: &Connection, order_id: &str) -> Result<Payment, Failure> {
    let id = new_id();
    let nothing = Money {
        amount: 0,
        currency: "EUR".into(),
    };
    repo::insert(
        conn,
        &NewPayment {
            id: &id,
            order_id,
            user_id: "",
            amount: &nothing,
            token_kind: "none",
            status: PaymentStatus::Voided,
            failure_code: Some("voided_before_authorization"),
        },
    )?;
    repo::record(conn, &id, "void", "before authorization")?;
    repo::by_id(conn, &id)?.ok_or_else(|| Failure::Transient("payment vanished".into()))
}

// ---------------------------------------------------------------------------------------------
// Reads and operators' changes, for HTTP and the exported `api` alike
// ---------------------------------------------------------------------------------------------

/// Owners see their payments; admins see all; anyone else is told there is no such payment
/// (existence is not revealed).
pub fn get(identity: &Identity, id: &str) -> Result<Payment, Error> {
    let conn = repo::open()?;
    repo::by_id(&conn, id)?
        .filter(|p| identity.may_see(&p.user_id))
        .ok_or(Error::NotFound)
}

/// `page` from 1, `limit` 1 to 100 (as `wasmshop_kit::http::Page` checks for HTTP).
pub fn list(
    identity: &Identity,
    order_id: Option<&str>,
    page: u32,
    limit: u32,
) -> Result<PaymentPage, Error> {
    let page = wasmshop_kit::http::Page::new(page, limit).map_err(Error::InvalidInput)?;
    let conn = repo::open()?;
    let (items, total) = repo::list(
        &conn,
        identity.owner_scope(),
        order_id,
        page.limit,
        page.offset(),
    )?;
    Ok(PaymentPage {
        items,
        total,
        page: page.page,
        limit: page.limit,
    })
}

/// An operator's refund of a captured payment, announced like the saga's.
pub fn admin_refund(id: &str) -> Result<Payment, Error> {
    let conn = repo::open()?;
    let payment = transaction(&conn, |conn| -> Result<Payment, Error> {
        let payment = repo::by_id(conn, id)?.ok_or(Error::NotFound)?;
        match domain::refund(payment.status) {
            Ok(Step::To(status)) => {
                repo::set_status(conn, &payment.id, status)?;
                repo::record(conn, &payment.id, "refund", "done by an operator")?;
                let mut event = events::envelope(
                    channels::payment::REFUNDED,
                    SOURCE,
                    &payment.order_id,
                    &changed(&payment, PaymentStatus::Refunded),
                )
                .map_err(|e| Error::Internal(e.to_string()))?;
                event.correlation_id = Some(payment.order_id.clone());
                outbox::enqueue(conn, channels::PAYMENTS_EVENTS, &event)?;
            }
            Ok(_) => {}
            Err(_) => return Err(Error::NotCaptured(payment.status)),
        }
        repo::by_id(conn, id)?.ok_or(Error::NotFound)
    })?;
    outbox::relay_after_commit(&conn, SOURCE);
    Ok(payment)
}
