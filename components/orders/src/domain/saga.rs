//! The checkout saga's decisions, pure: given where a saga stands and what just happened (a
//! reply from another context, the customer's cancel, the clock), what it does next — which
//! command to send, which status the order takes, when to retry, and how to compensate.
//!
//! Forward: reserve stock → authorize payment → create shipment → confirmed. The settlement,
//! the stock commit and the payment capture, is sent with the confirmation and not awaited: the
//! reservation already holds the units (nothing can sell them twice) and the authorization the
//! money, nothing can undo the order once its shipment exists, and the outbox and the
//! consumers' dead letters deliver both commands until they are done. Awaiting their replies
//! cost two orders instances and two hops of every checkout. A saga stored at the capture step
//! by an earlier version is confirmed the same way when its step falls due. A
//! failure compensates the completed steps and the one in flight, in
//! reverse and one at a time (cancel shipment → void (or refund) payment → release stock), and
//! ends the order `cancelled` (a business refusal, or the customer) or `failed` (a step that
//! kept failing). Compensations are retried until they succeed: every command is idempotent
//! and a compensation that overtakes its command leaves a tombstone that refuses it.

use wasmshop_kit::channels::{self, payment, shipment, stock};
use wasmshop_kit::ids::backoff_ms;

use super::OrderStatus;

/// Attempts of a forward step before the saga gives up on it and compensates.
pub const MAX_ATTEMPTS: u32 = 5;
/// How long a sent command may go unanswered before it is sent again.
pub const STEP_TIMEOUT_MS: i64 = 5_000;
const RETRY_BASE_MS: i64 = 200;
const RETRY_CAP_MS: i64 = 5_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    ReserveStock,
    AuthorizePayment,
    CreateShipment,
    /// Awaited by earlier versions only: a saga stored at this step is settled when it falls
    /// due (or when the capture's reply comes), as one confirmed at its shipment.
    CapturePayment,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Undo {
    CancelShipment,
    VoidPayment,
    RefundPayment,
    ReleaseStock,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Forward(Step),
    Undoing(Undo),
    Done,
}

/// A command for another context; the adapter fills in the payload from the order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Do(Step),
    Undo(Undo),
    /// Sent with the confirmation and never awaited: turns the order's reservation into a sale.
    CommitStock,
    /// Sent with the confirmation and never awaited: takes the authorized money.
    CapturePayment,
}

impl Command {
    /// The channel the command travels on, and its event type.
    pub fn route(self) -> (&'static str, &'static str) {
        use channels::{CATALOG_COMMANDS, PAYMENTS_COMMANDS, SHIPPING_COMMANDS};
        match self {
            Command::Do(Step::ReserveStock) => (CATALOG_COMMANDS, stock::RESERVE),
            Command::Do(Step::AuthorizePayment) => (PAYMENTS_COMMANDS, payment::AUTHORIZE),
            Command::Do(Step::CreateShipment) => (SHIPPING_COMMANDS, shipment::CREATE),
            Command::Do(Step::CapturePayment) | Command::CapturePayment => {
                (PAYMENTS_COMMANDS, payment::CAPTURE)
            }
            Command::CommitStock => (CATALOG_COMMANDS, stock::COMMIT),
            Command::Undo(Undo::CancelShipment) => (SHIPPING_COMMANDS, shipment::CANCEL),
            Command::Undo(Undo::VoidPayment) => (PAYMENTS_COMMANDS, payment::VOID),
            Command::Undo(Undo::RefundPayment) => (PAYMENTS_COMMANDS, payment::REFUND),
            Command::Undo(Undo::ReleaseStock) => (CATALOG_COMMANDS, stock::RELEASE),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Saga {
    pub stage: Stage,
    /// Sends of the current step so far.
    pub attempts: u32,
    /// When the current step is due again (timeout, or a scheduled retry).
    pub due_ms: i64,
    /// Compensations still to run after the current one.
    pub undo_queue: Vec<Undo>,
    /// How the order ends once the compensations are done.
    pub ending: Option<(OrderStatus, String)>,
}

/// What happened to a saga.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A reply event from another context (`event_type`), with what failures carry.
    Reply {
        event_type: String,
        retryable: bool,
        code: Option<String>,
        reason: Option<String>,
    },
    CustomerCancel,
    Tick,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub saga: Saga,
    /// In this order.
    pub send: Vec<Command>,
    /// The order's new status and the timeline note for it.
    pub status: Option<(OrderStatus, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Not for this saga now (duplicate, stale, out of order, already finished): ignore it.
    Ignored,
    /// The customer may no longer cancel.
    NotCancellable,
}

impl Step {
    pub fn name(self) -> &'static str {
        match self {
            Step::ReserveStock => "reserve_stock",
            Step::AuthorizePayment => "authorize_payment",
            Step::CreateShipment => "create_shipment",
            Step::CapturePayment => "capture_payment",
        }
    }

    fn status(self) -> OrderStatus {
        match self {
            Step::ReserveStock => OrderStatus::Pending,
            Step::AuthorizePayment => OrderStatus::AwaitingPayment,
            Step::CreateShipment => OrderStatus::AwaitingShipment,
            Step::CapturePayment => OrderStatus::CapturingPayment,
        }
    }

    /// What to undo, in order, when the saga stops while this step is in flight.
    fn compensations(self) -> Vec<Undo> {
        match self {
            Step::ReserveStock => vec![Undo::ReleaseStock],
            Step::AuthorizePayment => vec![Undo::VoidPayment, Undo::ReleaseStock],
            Step::CreateShipment | Step::CapturePayment => {
                vec![Undo::CancelShipment, Undo::VoidPayment, Undo::ReleaseStock]
            }
        }
    }
}

impl Undo {
    pub fn name(self) -> &'static str {
        match self {
            Undo::CancelShipment => "cancel_shipment",
            Undo::VoidPayment => "void_payment",
            Undo::RefundPayment => "refund_payment",
            Undo::ReleaseStock => "release_stock",
        }
    }
}

impl Stage {
    pub fn name(self) -> &'static str {
        match self {
            Stage::Forward(step) => step.name(),
            Stage::Undoing(undo) => undo.name(),
            Stage::Done => "done",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        use {Step::*, Undo::*};
        Some(match text {
            "reserve_stock" => Stage::Forward(ReserveStock),
            "authorize_payment" => Stage::Forward(AuthorizePayment),
            "create_shipment" => Stage::Forward(CreateShipment),
            "capture_payment" => Stage::Forward(CapturePayment),
            "cancel_shipment" => Stage::Undoing(CancelShipment),
            "void_payment" => Stage::Undoing(VoidPayment),
            "refund_payment" => Stage::Undoing(RefundPayment),
            "release_stock" => Stage::Undoing(ReleaseStock),
            "done" => Stage::Done,
            _ => return None,
        })
    }
}

impl Saga {
    /// A new saga: the stock reservation is sent with the order.
    pub fn start(now_ms: i64) -> Self {
        Self {
            stage: Stage::Forward(Step::ReserveStock),
            attempts: 1,
            due_ms: now_ms + STEP_TIMEOUT_MS,
            undo_queue: Vec::new(),
            ending: None,
        }
    }
}

fn sent(stage: Stage, now_ms: i64) -> Saga {
    Saga {
        stage,
        attempts: 1,
        due_ms: now_ms + STEP_TIMEOUT_MS,
        undo_queue: Vec::new(),
        ending: None,
    }
}

fn forward(step: Step, now_ms: i64) -> Decision {
    Decision {
        saga: sent(Stage::Forward(step), now_ms),
        send: vec![Command::Do(step)],
        status: Some((
            step.status(),
            format!("{} requested", step.name().replace('_', " ")),
        )),
    }
}

fn finish(status: OrderStatus, note: String) -> Decision {
    Decision {
        saga: Saga {
            stage: Stage::Done,
            attempts: 0,
            due_ms: 0,
            undo_queue: Vec::new(),
            ending: None,
        },
        send: Vec::new(),
        status: Some((status, note)),
    }
}

/// Starts compensating `undos` (in order), to end as `ending` with `reason`.
fn compensate(mut undos: Vec<Undo>, ending: OrderStatus, reason: String, now_ms: i64) -> Decision {
    if undos.is_empty() {
        return finish(ending, reason);
    }
    let first = undos.remove(0);
    Decision {
        saga: Saga {
            stage: Stage::Undoing(first),
            attempts: 1,
            due_ms: now_ms + STEP_TIMEOUT_MS,
            undo_queue: undos,
            ending: Some((ending, reason.clone())),
        },
        send: vec![Command::Undo(first)],
        status: Some((OrderStatus::Compensating, reason)),
    }
}

/// The next compensation, or the end.
fn next_undo(saga: &Saga, now_ms: i64) -> Decision {
    let (ending, reason) = saga
        .ending
        .clone()
        .unwrap_or((OrderStatus::Cancelled, "compensated".into()));
    let mut rest = saga.undo_queue.clone();
    if rest.is_empty() {
        return finish(ending, reason);
    }
    let undo = rest.remove(0);
    Decision {
        saga: Saga {
            stage: Stage::Undoing(undo),
            attempts: 1,
            due_ms: now_ms + STEP_TIMEOUT_MS,
            undo_queue: rest,
            ending: Some((ending, reason)),
        },
        send: vec![Command::Undo(undo)],
        status: None,
    }
}

/// Sends the current step again: now (`resend`, its timeout passed or its retry is due), or
/// after a backoff (a transient failure; the tick sends it when due).
fn retry(saga: &Saga, now_ms: i64, resend: Option<Command>) -> Decision {
    let mut next = saga.clone();
    if resend.is_some() {
        next.attempts += 1;
        next.due_ms = now_ms + STEP_TIMEOUT_MS;
    } else {
        next.due_ms =
            now_ms + backoff_ms(saga.attempts.saturating_sub(1), RETRY_BASE_MS, RETRY_CAP_MS);
    }
    Decision {
        saga: next,
        send: resend.into_iter().collect(),
        status: None,
    }
}

/// The end of the forward path; `settlement` is sent with it and never awaited.
fn confirm(settlement: &[Command]) -> Decision {
    Decision {
        send: settlement.to_vec(),
        ..finish(OrderStatus::Confirmed, "order confirmed".into())
    }
}

fn gave_up(step: Step, now_ms: i64, why: &str) -> Decision {
    compensate(
        step.compensations(),
        OrderStatus::Failed,
        format!("{} failed: {why}", step.name().replace('_', " ")),
        now_ms,
    )
}

pub fn decide(saga: &Saga, input: &Input, now_ms: i64) -> Result<Decision, Refusal> {
    match (saga.stage, input) {
        (Stage::Done, _) => Err(Refusal::Ignored),
        (Stage::Forward(step), Input::CustomerCancel) => match step {
            Step::ReserveStock | Step::AuthorizePayment | Step::CreateShipment => Ok(compensate(
                step.compensations(),
                OrderStatus::Cancelled,
                "cancelled by customer".into(),
                now_ms,
            )),
            Step::CapturePayment => Err(Refusal::NotCancellable),
        },
        (Stage::Undoing(_), Input::CustomerCancel) => Err(Refusal::NotCancellable),
        (stage, Input::Tick) => {
            if now_ms < saga.due_ms {
                return Err(Refusal::Ignored);
            }
            match stage {
                // A saga an earlier version left awaiting its capture.
                Stage::Forward(Step::CapturePayment) => {
                    Ok(confirm(&[Command::CommitStock, Command::CapturePayment]))
                }
                Stage::Forward(step) if saga.attempts >= MAX_ATTEMPTS => {
                    Ok(gave_up(step, now_ms, "no answer after repeated attempts"))
                }
                Stage::Forward(step) => Ok(retry(saga, now_ms, Some(Command::Do(step)))),
                Stage::Undoing(undo) => Ok(retry(saga, now_ms, Some(Command::Undo(undo)))),
                Stage::Done => Err(Refusal::Ignored),
            }
        }
        (
            Stage::Forward(step),
            Input::Reply {
                event_type,
                retryable,
                code,
                reason,
            },
        ) => forward_reply(
            saga,
            step,
            event_type,
            *retryable,
            code.as_deref(),
            reason.as_deref(),
            now_ms,
        ),
        (
            Stage::Undoing(undo),
            Input::Reply {
                event_type, code, ..
            },
        ) => undo_reply(saga, undo, event_type, code.as_deref(), now_ms),
    }
}

fn forward_reply(
    saga: &Saga,
    step: Step,
    event_type: &str,
    retryable: bool,
    code: Option<&str>,
    reason: Option<&str>,
    now_ms: i64,
) -> Result<Decision, Refusal> {
    let code = code.unwrap_or("unknown");
    match (step, event_type) {
        (Step::ReserveStock, stock::RESERVED) => Ok(forward(Step::AuthorizePayment, now_ms)),
        (Step::ReserveStock, stock::RESERVATION_FAILED) => Ok(finish(
            OrderStatus::Cancelled,
            format!("out of stock: {}", reason.unwrap_or(code)),
        )),
        (Step::AuthorizePayment, payment::AUTHORIZED) => Ok(forward(Step::CreateShipment, now_ms)),
        (Step::AuthorizePayment | Step::CapturePayment, payment::FAILED) if retryable => {
            if saga.attempts >= MAX_ATTEMPTS {
                Ok(gave_up(step, now_ms, "payment provider unavailable"))
            } else {
                Ok(retry(saga, now_ms, None))
            }
        }
        (Step::AuthorizePayment, payment::FAILED) => Ok(compensate(
            vec![Undo::ReleaseStock],
            OrderStatus::Cancelled,
            format!("payment declined: {code}"),
            now_ms,
        )),
        (Step::CreateShipment, shipment::CREATED) => {
            Ok(confirm(&[Command::CommitStock, Command::CapturePayment]))
        }
        (Step::CreateShipment, shipment::FAILED) => Ok(compensate(
            vec![Undo::VoidPayment, Undo::ReleaseStock],
            OrderStatus::Cancelled,
            format!("shipment failed: {}", reason.unwrap_or("unknown")),
            now_ms,
        )),
        (Step::CapturePayment, payment::CAPTURED) => Ok(confirm(&[Command::CommitStock])),
        (Step::CapturePayment, payment::FAILED) => Ok(gave_up(step, now_ms, code)),
        _ => Err(Refusal::Ignored),
    }
}

fn undo_reply(
    saga: &Saga,
    undo: Undo,
    event_type: &str,
    code: Option<&str>,
    now_ms: i64,
) -> Result<Decision, Refusal> {
    match (undo, event_type) {
        (Undo::CancelShipment, shipment::CANCELLED | shipment::FAILED)
        | (Undo::RefundPayment, payment::REFUNDED)
        | (Undo::ReleaseStock, stock::RELEASED)
        | (Undo::VoidPayment, payment::VOIDED) => Ok(next_undo(saga, now_ms)),
        // Already captured: the money goes back by refund instead.
        (Undo::VoidPayment, payment::FAILED) if code == Some("invalid_state") => Ok(Decision {
            saga: Saga {
                stage: Stage::Undoing(Undo::RefundPayment),
                attempts: 1,
                due_ms: now_ms + STEP_TIMEOUT_MS,
                undo_queue: saga.undo_queue.clone(),
                ending: saga.ending.clone(),
            },
            send: vec![Command::Undo(Undo::RefundPayment)],
            status: None,
        }),
        _ => Err(Refusal::Ignored),
    }
}

#[cfg(test)]
mod tests;
