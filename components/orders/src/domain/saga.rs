//! The checkout saga's decisions, pure: given where a saga stands and what just happened (a
//! reply from another context, the customer's cancel, the clock), what it does next — which
//! command to send, which status the order takes, when to retry, and how to compensate.
//!
//! Forward: reserve stock → authorize payment → create shipment → capture payment → confirmed,
//! and the stock commit is sent with the confirmation without being awaited: the reservation
//! already holds the units (nothing can sell them twice), the outbox and the consumer's dead
//! letters deliver the commit, and awaiting its reply cost an orders instance per order. A
//! failure compensates the completed steps and the one in flight, in
//! reverse and one at a time (cancel shipment → void (or refund) payment → release stock), and
//! ends the order `cancelled` (a business refusal, or the customer) or `failed` (a step that
//! kept failing). Compensations are retried until they succeed: every command is idempotent
//! and a compensation that overtakes its command leaves a tombstone that refuses it.

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
    pub send: Option<Command>,
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
        send: Some(Command::Do(step)),
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
        send: None,
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
        send: Some(Command::Undo(first)),
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
        send: Some(Command::Undo(undo)),
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
        send: resend,
        status: None,
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
        (Step::ReserveStock, "stock.reserved") => Ok(forward(Step::AuthorizePayment, now_ms)),
        (Step::ReserveStock, "stock.reservation-failed") => Ok(finish(
            OrderStatus::Cancelled,
            format!("out of stock: {}", reason.unwrap_or(code)),
        )),
        (Step::AuthorizePayment, "payment.authorized") => Ok(forward(Step::CreateShipment, now_ms)),
        (Step::AuthorizePayment | Step::CapturePayment, "payment.failed") if retryable => {
            if saga.attempts >= MAX_ATTEMPTS {
                Ok(gave_up(step, now_ms, "payment provider unavailable"))
            } else {
                Ok(retry(saga, now_ms, None))
            }
        }
        (Step::AuthorizePayment, "payment.failed") => Ok(compensate(
            vec![Undo::ReleaseStock],
            OrderStatus::Cancelled,
            format!("payment declined: {code}"),
            now_ms,
        )),
        (Step::CreateShipment, "shipment.created") => Ok(forward(Step::CapturePayment, now_ms)),
        (Step::CreateShipment, "shipment.failed") => Ok(compensate(
            vec![Undo::VoidPayment, Undo::ReleaseStock],
            OrderStatus::Cancelled,
            format!("shipment failed: {}", reason.unwrap_or("unknown")),
            now_ms,
        )),
        (Step::CapturePayment, "payment.captured") => Ok(Decision {
            send: Some(Command::CommitStock),
            ..finish(OrderStatus::Confirmed, "order confirmed".into())
        }),
        (Step::CapturePayment, "payment.failed") => Ok(gave_up(step, now_ms, code)),
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
        (Undo::CancelShipment, "shipment.cancelled" | "shipment.failed")
        | (Undo::RefundPayment, "payment.refunded")
        | (Undo::ReleaseStock, "stock.released")
        | (Undo::VoidPayment, "payment.voided") => Ok(next_undo(saga, now_ms)),
        // Already captured: the money goes back by refund instead.
        (Undo::VoidPayment, "payment.failed") if code == Some("invalid_state") => Ok(Decision {
            saga: Saga {
                stage: Stage::Undoing(Undo::RefundPayment),
                attempts: 1,
                due_ms: now_ms + STEP_TIMEOUT_MS,
                undo_queue: saga.undo_queue.clone(),
                ending: saga.ending.clone(),
            },
            send: Some(Command::Undo(Undo::RefundPayment)),
            status: None,
        }),
        _ => Err(Refusal::Ignored),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    fn reply(event_type: &str) -> Input {
        Input::Reply {
            event_type: event_type.into(),
            retryable: false,
            code: None,
            reason: None,
        }
    }

    fn failure(event_type: &str, code: &str, retryable: bool) -> Input {
        Input::Reply {
            event_type: event_type.into(),
            retryable,
            code: Some(code.into()),
            reason: Some(code.into()),
        }
    }

    /// Feeds `inputs` from a new saga; the commands sent and the statuses taken.
    fn run(inputs: &[Input]) -> (Saga, Vec<Command>, Vec<OrderStatus>) {
        let mut saga = Saga::start(NOW);
        let (mut sent, mut statuses) = (
            vec![Command::Do(Step::ReserveStock)],
            vec![OrderStatus::Pending],
        );
        for input in inputs {
            let decision =
                decide(&saga, input, NOW).unwrap_or_else(|e| panic!("{input:?} refused: {e:?}"));
            sent.extend(decision.send);
            statuses.extend(decision.status.map(|(s, _)| s));
            saga = decision.saga;
        }
        (saga, sent, statuses)
    }

    #[test]
    fn the_happy_path_runs_every_step_once() {
        use Step::*;
        let (saga, sent, statuses) = run(&[
            reply("stock.reserved"),
            reply("payment.authorized"),
            reply("shipment.created"),
            reply("payment.captured"),
        ]);
        assert_eq!(saga.stage, Stage::Done);
        let mut expected = [
            ReserveStock,
            AuthorizePayment,
            CreateShipment,
            CapturePayment,
        ]
        .map(Command::Do)
        .to_vec();
        expected.push(Command::CommitStock);
        assert_eq!(sent, expected);
        assert_eq!(
            statuses,
            [
                OrderStatus::Pending,
                OrderStatus::AwaitingPayment,
                OrderStatus::AwaitingShipment,
                OrderStatus::CapturingPayment,
                OrderStatus::Confirmed
            ]
        );
    }

    #[test]
    fn out_of_stock_cancels_with_nothing_to_undo() {
        let (saga, sent, statuses) = run(&[failure(
            "stock.reservation-failed",
            "insufficient_stock",
            false,
        )]);
        assert_eq!(saga.stage, Stage::Done);
        assert_eq!(sent, [Command::Do(Step::ReserveStock)]);
        assert_eq!(statuses.last(), Some(&OrderStatus::Cancelled));
    }

    #[test]
    fn a_declined_payment_releases_the_stock_then_cancels() {
        let (saga, sent, statuses) = run(&[
            reply("stock.reserved"),
            failure("payment.failed", "card_declined", false),
            reply("stock.released"),
        ]);
        assert_eq!(saga.stage, Stage::Done);
        assert_eq!(sent.last(), Some(&Command::Undo(Undo::ReleaseStock)));
        assert_eq!(
            statuses[statuses.len() - 2..],
            [OrderStatus::Compensating, OrderStatus::Cancelled]
        );
    }

    #[test]
    fn a_failed_shipment_voids_then_releases_in_reverse() {
        let (saga, sent, statuses) = run(&[
            reply("stock.reserved"),
            reply("payment.authorized"),
            failure("shipment.failed", "undeliverable", false),
            reply("payment.voided"),
            reply("stock.released"),
        ]);
        assert_eq!(saga.stage, Stage::Done);
        assert_eq!(
            sent[sent.len() - 2..],
            [
                Command::Undo(Undo::VoidPayment),
                Command::Undo(Undo::ReleaseStock)
            ]
        );
        assert_eq!(statuses.last(), Some(&OrderStatus::Cancelled));
    }

    #[test]
    fn a_transient_payment_error_is_retried_with_backoff_then_succeeds() {
        let mut saga = run(&[reply("stock.reserved")]).0;
        let decision = decide(
            &saga,
            &failure("payment.failed", "provider_error", true),
            NOW,
        )
        .expect("retry");
        assert_eq!(decision.send, None, "not at once: after the backoff");
        assert_eq!(decision.saga.due_ms, NOW + 200);
        saga = decision.saga;
        assert_eq!(
            decide(&saga, &Input::Tick, NOW + 100),
            Err(Refusal::Ignored),
            "not due yet"
        );
        let decision = decide(&saga, &Input::Tick, NOW + 200).expect("due");
        assert_eq!(decision.send, Some(Command::Do(Step::AuthorizePayment)));
        assert_eq!(decision.saga.attempts, 2);
        saga = decision.saga;
        let decision =
            decide(&saga, &reply("payment.authorized"), NOW + 300).expect("then succeeds");
        assert_eq!(decision.send, Some(Command::Do(Step::CreateShipment)));
    }

    #[test]
    fn retries_stop_at_the_cap_and_the_saga_fails_compensated() {
        let mut saga = run(&[reply("stock.reserved")]).0;
        let mut now = NOW;
        for _ in 1..MAX_ATTEMPTS {
            saga = decide(
                &saga,
                &failure("payment.failed", "provider_error", true),
                now,
            )
            .expect("retry")
            .saga;
            now = saga.due_ms;
            saga = decide(&saga, &Input::Tick, now).expect("resend").saga;
        }
        assert_eq!(saga.attempts, MAX_ATTEMPTS);
        let decision = decide(
            &saga,
            &failure("payment.failed", "provider_error", true),
            now,
        )
        .expect("gives up");
        assert_eq!(decision.send, Some(Command::Undo(Undo::VoidPayment)));
        assert_eq!(
            decision.saga.ending.as_ref().map(|e| e.0),
            Some(OrderStatus::Failed)
        );
    }

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let mut saga = Saga::start(NOW);
        saga.stage = Stage::Forward(Step::AuthorizePayment);
        let delays: Vec<i64> = (1..=7)
            .map(|attempts| {
                saga.attempts = attempts;
                retry(&saga, NOW, None).saga.due_ms - NOW
            })
            .collect();
        assert_eq!(delays, [200, 400, 800, 1_600, 3_200, 5_000, 5_000]);
    }

    #[test]
    fn an_unanswered_step_is_resent_on_timeout() {
        let saga = Saga::start(NOW);
        assert_eq!(
            decide(&saga, &Input::Tick, NOW + STEP_TIMEOUT_MS - 1),
            Err(Refusal::Ignored)
        );
        let decision = decide(&saga, &Input::Tick, NOW + STEP_TIMEOUT_MS).expect("resend");
        assert_eq!(decision.send, Some(Command::Do(Step::ReserveStock)));
        assert_eq!(decision.saga.attempts, 2);
    }

    #[test]
    fn stale_duplicate_and_out_of_order_replies_are_ignored() {
        let saga = run(&[reply("stock.reserved")]).0;
        for stale in [
            "stock.reserved",
            "shipment.created",
            "payment.captured",
            "stock.committed",
            "stock.low",
        ] {
            assert_eq!(
                decide(&saga, &reply(stale), NOW),
                Err(Refusal::Ignored),
                "{stale}"
            );
        }
        let done = run(&[failure(
            "stock.reservation-failed",
            "insufficient_stock",
            false,
        )])
        .0;
        assert_eq!(
            decide(&done, &reply("stock.reserved"), NOW),
            Err(Refusal::Ignored)
        );
        assert_eq!(
            decide(&done, &Input::Tick, NOW + 10 * STEP_TIMEOUT_MS),
            Err(Refusal::Ignored)
        );
    }

    #[test]
    fn customers_cancel_until_a_shipment_exists_and_everything_in_flight_is_undone() {
        let cases: [(&[Input], Vec<Undo>); 3] = [
            (&[], vec![Undo::ReleaseStock]),
            (
                &[reply("stock.reserved")],
                vec![Undo::VoidPayment, Undo::ReleaseStock],
            ),
            (
                &[reply("stock.reserved"), reply("payment.authorized")],
                vec![Undo::CancelShipment, Undo::VoidPayment, Undo::ReleaseStock],
            ),
        ];
        for (before, undos) in cases {
            let mut saga = run(before).0;
            let mut sent = Vec::new();
            let decision = decide(&saga, &Input::CustomerCancel, NOW).expect("cancellable");
            sent.extend(decision.send);
            saga = decision.saga;
            while let Stage::Undoing(undo) = saga.stage {
                let answer = match undo {
                    Undo::CancelShipment => "shipment.cancelled",
                    Undo::VoidPayment => "payment.voided",
                    Undo::RefundPayment => "payment.refunded",
                    Undo::ReleaseStock => "stock.released",
                };
                let decision = decide(&saga, &reply(answer), NOW).expect("next undo");
                sent.extend(decision.send);
                if let Some((status, note)) = decision.status {
                    assert_eq!(
                        (status, note.as_str()),
                        (OrderStatus::Cancelled, "cancelled by customer")
                    );
                }
                saga = decision.saga;
            }
            assert_eq!(
                sent,
                undos.into_iter().map(Command::Undo).collect::<Vec<_>>()
            );
        }
        let capturing = run(&[
            reply("stock.reserved"),
            reply("payment.authorized"),
            reply("shipment.created"),
        ])
        .0;
        assert_eq!(
            decide(&capturing, &Input::CustomerCancel, NOW),
            Err(Refusal::NotCancellable)
        );
    }

    #[test]
    fn a_void_refused_after_capture_becomes_a_refund() {
        let mut saga = run(&[
            reply("stock.reserved"),
            reply("payment.authorized"),
            reply("shipment.created"),
        ])
        .0;
        saga = decide(
            &saga,
            &failure("payment.failed", "invalid_state", false),
            NOW,
        )
        .expect("fails")
        .saga;
        assert_eq!(saga.stage, Stage::Undoing(Undo::CancelShipment));
        saga = decide(&saga, &reply("shipment.cancelled"), NOW)
            .expect("next")
            .saga;
        assert_eq!(saga.stage, Stage::Undoing(Undo::VoidPayment));
        let decision = decide(
            &saga,
            &failure("payment.failed", "invalid_state", false),
            NOW,
        )
        .expect("refund");
        assert_eq!(decision.send, Some(Command::Undo(Undo::RefundPayment)));
        assert_eq!(decision.saga.undo_queue, [Undo::ReleaseStock]);
    }

    #[test]
    fn stages_round_trip_through_their_names() {
        for stage in [
            Stage::Forward(Step::ReserveStock),
            Stage::Forward(Step::CapturePayment),
            Stage::Undoing(Undo::RefundPayment),
            Stage::Done,
        ] {
            assert_eq!(Stage::parse(stage.name()), Some(stage));
        }
        assert_eq!(Stage::parse("dancing"), None);
    }
}
