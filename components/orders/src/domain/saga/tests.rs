//! The saga's decisions, run from a new saga through whole checkouts, failures and
//! compensations; and the channel and event type of each command it sends.

use wasmshop_kit::channels::{self, payment, shipment, stock};

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
fn the_happy_path_confirms_at_the_shipment_and_settles_without_waiting() {
    use Step::*;
    let (saga, sent, statuses) = run(&[
        reply(stock::RESERVED),
        reply(payment::AUTHORIZED),
        reply(shipment::CREATED),
    ]);
    assert_eq!(saga.stage, Stage::Done);
    let mut expected = [ReserveStock, AuthorizePayment, CreateShipment]
        .map(Command::Do)
        .to_vec();
    expected.extend([Command::CommitStock, Command::CapturePayment]);
    assert_eq!(sent, expected);
    assert_eq!(
        statuses,
        [
            OrderStatus::Pending,
            OrderStatus::AwaitingPayment,
            OrderStatus::AwaitingShipment,
            OrderStatus::Confirmed
        ]
    );
    // The settlement's replies find the saga done.
    for settled in [payment::CAPTURED, stock::COMMITTED] {
        assert_eq!(decide(&saga, &reply(settled), NOW), Err(Refusal::Ignored));
    }
}

/// A saga stored at the capture step by an earlier version: its step falls due and it is
/// settled as a new one is, or the capture's reply confirms it first.
fn left_capturing() -> Saga {
    Saga {
        stage: Stage::Forward(Step::CapturePayment),
        attempts: 1,
        due_ms: NOW + STEP_TIMEOUT_MS,
        undo_queue: Vec::new(),
        ending: None,
    }
}

#[test]
fn a_saga_left_capturing_by_an_earlier_version_is_confirmed() {
    let saga = left_capturing();
    assert_eq!(decide(&saga, &Input::Tick, NOW), Err(Refusal::Ignored));
    let due = decide(&saga, &Input::Tick, NOW + STEP_TIMEOUT_MS).expect("due");
    assert_eq!(
        (due.saga.stage, due.send),
        (
            Stage::Done,
            vec![Command::CommitStock, Command::CapturePayment]
        )
    );
    assert_eq!(
        due.status.map(|(status, _)| status),
        Some(OrderStatus::Confirmed)
    );
    let captured = decide(&saga, &reply(payment::CAPTURED), NOW).expect("captured");
    assert_eq!(
        (captured.saga.stage, captured.send),
        (Stage::Done, vec![Command::CommitStock])
    );
    assert_eq!(
        decide(&saga, &Input::CustomerCancel, NOW),
        Err(Refusal::NotCancellable)
    );
}

#[test]
fn out_of_stock_cancels_with_nothing_to_undo() {
    let (saga, sent, statuses) = run(&[failure(
        stock::RESERVATION_FAILED,
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
        reply(stock::RESERVED),
        failure(payment::FAILED, "card_declined", false),
        reply(stock::RELEASED),
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
        reply(stock::RESERVED),
        reply(payment::AUTHORIZED),
        failure(shipment::FAILED, "undeliverable", false),
        reply(payment::VOIDED),
        reply(stock::RELEASED),
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
    let mut saga = run(&[reply(stock::RESERVED)]).0;
    let decision = decide(
        &saga,
        &failure(payment::FAILED, "provider_error", true),
        NOW,
    )
    .expect("retry");
    assert_eq!(decision.send, [], "not at once: after the backoff");
    assert_eq!(decision.saga.due_ms, NOW + 200);
    saga = decision.saga;
    assert_eq!(
        decide(&saga, &Input::Tick, NOW + 100),
        Err(Refusal::Ignored),
        "not due yet"
    );
    let decision = decide(&saga, &Input::Tick, NOW + 200).expect("due");
    assert_eq!(decision.send, [Command::Do(Step::AuthorizePayment)]);
    assert_eq!(decision.saga.attempts, 2);
    saga = decision.saga;
    let decision = decide(&saga, &reply(payment::AUTHORIZED), NOW + 300).expect("then succeeds");
    assert_eq!(decision.send, [Command::Do(Step::CreateShipment)]);
}

#[test]
fn retries_stop_at_the_cap_and_the_saga_fails_compensated() {
    let mut saga = run(&[reply(stock::RESERVED)]).0;
    let mut now = NOW;
    for _ in 1..MAX_ATTEMPTS {
        saga = decide(
            &saga,
            &failure(payment::FAILED, "provider_error", true),
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
        &failure(payment::FAILED, "provider_error", true),
        now,
    )
    .expect("gives up");
    assert_eq!(decision.send, [Command::Undo(Undo::VoidPayment)]);
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
    assert_eq!(decision.send, [Command::Do(Step::ReserveStock)]);
    assert_eq!(decision.saga.attempts, 2);
}

#[test]
fn stale_duplicate_and_out_of_order_replies_are_ignored() {
    let saga = run(&[reply(stock::RESERVED)]).0;
    for stale in [
        stock::RESERVED,
        shipment::CREATED,
        payment::CAPTURED,
        stock::COMMITTED,
        stock::LOW,
    ] {
        assert_eq!(
            decide(&saga, &reply(stale), NOW),
            Err(Refusal::Ignored),
            "{stale}"
        );
    }
    let done = run(&[failure(
        stock::RESERVATION_FAILED,
        "insufficient_stock",
        false,
    )])
    .0;
    assert_eq!(
        decide(&done, &reply(stock::RESERVED), NOW),
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
            &[reply(stock::RESERVED)],
            vec![Undo::VoidPayment, Undo::ReleaseStock],
        ),
        (
            &[reply(stock::RESERVED), reply(payment::AUTHORIZED)],
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
                Undo::CancelShipment => shipment::CANCELLED,
                Undo::VoidPayment => payment::VOIDED,
                Undo::RefundPayment => payment::REFUNDED,
                Undo::ReleaseStock => stock::RELEASED,
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
    let confirmed = run(&[
        reply(stock::RESERVED),
        reply(payment::AUTHORIZED),
        reply(shipment::CREATED),
    ])
    .0;
    assert_eq!(
        decide(&confirmed, &Input::CustomerCancel, NOW),
        Err(Refusal::Ignored),
        "a confirmed order's saga is done"
    );
}

#[test]
fn a_void_refused_after_capture_becomes_a_refund() {
    let mut saga = left_capturing();
    saga = decide(
        &saga,
        &failure(payment::FAILED, "invalid_state", false),
        NOW,
    )
    .expect("fails")
    .saga;
    assert_eq!(saga.stage, Stage::Undoing(Undo::CancelShipment));
    saga = decide(&saga, &reply(shipment::CANCELLED), NOW)
        .expect("next")
        .saga;
    assert_eq!(saga.stage, Stage::Undoing(Undo::VoidPayment));
    let decision = decide(
        &saga,
        &failure(payment::FAILED, "invalid_state", false),
        NOW,
    )
    .expect("refund");
    assert_eq!(decision.send, [Command::Undo(Undo::RefundPayment)]);
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

/// Every command the saga can send, once.
const COMMANDS: [Command; 9] = [
    Command::Do(Step::ReserveStock),
    Command::Do(Step::AuthorizePayment),
    Command::Do(Step::CreateShipment),
    Command::CapturePayment,
    Command::CommitStock,
    Command::Undo(Undo::CancelShipment),
    Command::Undo(Undo::VoidPayment),
    Command::Undo(Undo::RefundPayment),
    Command::Undo(Undo::ReleaseStock),
];

#[test]
fn each_command_travels_as_a_command_on_the_channel_that_carries_it() {
    let mut types = Vec::new();
    for command in COMMANDS {
        let (channel, event_type) = command.route();
        assert_eq!(channels::carrying(event_type), Some(channel), "{command:?}");
        assert!(channels::is_command(event_type), "{command:?}");
        types.push(event_type);
    }
    types.sort_unstable();
    types.dedup();
    assert_eq!(types.len(), COMMANDS.len(), "two commands share a type");
    assert_eq!(
        Command::Do(Step::ReserveStock).route(),
        ("catalog.commands", "stock.reserve")
    );
    assert_eq!(
        Command::Undo(Undo::RefundPayment).route(),
        ("payments.commands", "payment.refund")
    );
}

/// A step's command goes to the context whose replies move the saga on from it.
#[test]
fn each_step_is_answered_on_the_channel_its_command_went_to() {
    for (step, answered_by) in [
        (Step::ReserveStock, stock::RESERVED),
        (Step::AuthorizePayment, payment::AUTHORIZED),
        (Step::CreateShipment, shipment::CREATED),
        (Step::CapturePayment, payment::CAPTURED),
    ] {
        let (channel, _) = Command::Do(step).route();
        let reply_channel = channels::carrying(answered_by).expect("a reply channel");
        assert_eq!(
            channel.split_once('.').map(|(context, _)| context),
            reply_channel.split_once('.').map(|(context, _)| context),
            "{step:?}"
        );
    }
}
