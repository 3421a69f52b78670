//! Notifications' rules run on every template, channel and webhook schedule; and the event
//! types it handles held equal to its interest in the event catalogue.

use super::*;
use serde_json::json;

const ORDER: &str = "0190d7a0-0000-7000-8000-00000000c0de";

/// Producers push notifications only the event types it declared an interest in (kit's
/// catalogue, `channels::CHANNELS`): that list and what `decide` handles must be the same.
#[test]
fn the_pushed_event_types_are_the_handled_ones() {
    use wasmshop_kit::channels::{CHANNELS, Interest};
    let mut pushed: Vec<&str> = CHANNELS
        .iter()
        .flat_map(|channel| channel.consumers.iter())
        .filter(|(consumer, _)| *consumer == "notifications")
        .flat_map(|(_, interest)| match interest {
            Interest::Only(types) => types.to_vec(),
            Interest::Every => panic!("notifications handles only some event types"),
        })
        .collect();
    pushed.sort_unstable();
    let mut handled = HANDLED.to_vec();
    handled.sort_unstable();
    assert_eq!(pushed, handled);
}
const USER: &str = "0190d7a0-0000-7000-8000-00000000a11c";

fn eur(amount: i64) -> Money {
    Money {
        amount,
        currency: "EUR".into(),
    }
}

fn order(status: &str, reason: Option<&str>) -> String {
    json!({ "order_id": ORDER, "user_id": USER, "status": status,
        "total": { "amount": 6_989, "currency": "EUR" }, "reason": reason })
    .to_string()
}

fn notified(event_type: &str, data: &str) -> Draft {
    match decide(event_type, data) {
        Ok(Decision::Notify(draft)) => draft,
        other => panic!("{event_type}: {other:?}"),
    }
}

#[test]
fn amounts_read_like_money() {
    assert_eq!(money(&eur(1_234)), "EUR 12.34");
    assert_eq!(money(&eur(5)), "EUR 0.05");
    assert_eq!(money(&eur(-250)), "EUR -2.50");
    assert_eq!(money(&eur(0)), "EUR 0.00");
    let yen = Money {
        amount: 1_234,
        currency: "JPY".into(),
    };
    assert_eq!(money(&yen), "JPY 1234");
    let dinar = Money {
        amount: 1_234,
        currency: "KWD".into(),
    };
    assert_eq!(money(&dinar), "KWD 1.234");
}

#[test]
fn registration_keeps_the_contact_and_welcomes() {
    let data = json!({ "user_id": USER, "email": "ada@example.com", "name": "Ada" });
    let Ok(Decision::Register {
        user_id,
        email,
        name,
        welcome,
    }) = decide(channels::user::REGISTERED, &data.to_string())
    else {
        panic!("not a registration");
    };
    assert_eq!(
        (user_id.as_str(), email.as_str(), name.as_str()),
        (USER, "ada@example.com", "Ada")
    );
    assert_eq!(welcome.template, Template::Welcome);
    assert_eq!(
        (welcome.user_id.as_str(), welcome.subject_id.as_str()),
        (USER, USER)
    );
    assert_eq!(welcome.subject, "Welcome to wasmshop");
    assert_eq!(
        welcome.body,
        "Hello Ada, your account is ready. Happy shopping!"
    );
    let data = json!({ "user_id": USER, "name": "Ada L." });
    assert_eq!(
        decide(channels::user::PROFILE_UPDATED, &data.to_string()),
        Ok(Decision::Rename {
            user_id: USER.into(),
            name: "Ada L.".into()
        })
    );
}

#[test]
fn order_templates_render_total_and_reason() {
    let confirmed = notified(channels::order::CONFIRMED, &order("confirmed", None));
    assert_eq!(confirmed.template, Template::OrderConfirmed);
    assert_eq!(
        (confirmed.user_id.as_str(), confirmed.subject_id.as_str()),
        (USER, ORDER)
    );
    assert_eq!(confirmed.subject, "Order 0000c0de confirmed");
    assert_eq!(
        confirmed.body,
        format!("We have your order {ORDER} and charged EUR 69.89. It ships soon.")
    );

    let cancelled = notified(
        channels::order::CANCELLED,
        &order("cancelled", Some("payment declined: card_declined")),
    );
    assert_eq!(cancelled.template, Template::OrderCancelled);
    assert_eq!(cancelled.subject, "Order 0000c0de cancelled");
    assert_eq!(
        cancelled.body,
        format!(
            "Your order {ORDER} (EUR 69.89) was cancelled: payment declined: card_declined. You have not been charged."
        )
    );
    let unexplained = notified(channels::order::CANCELLED, &order("cancelled", None));
    assert!(
        unexplained.body.contains("no reason given"),
        "{unexplained:?}"
    );

    let failed = notified(
        channels::order::FAILED,
        &order("failed", Some("payment step out of attempts")),
    );
    assert_eq!(failed.template, Template::OrderFailed);
    assert_eq!(failed.subject, "Order 0000c0de could not be completed");
    assert!(
        failed.body.contains("payment step out of attempts") && failed.body.contains("EUR 69.89"),
        "{failed:?}"
    );
}

#[test]
fn only_final_payment_failures_reach_the_customer() {
    let failure = |code: &str, retryable: bool, user: &str| {
        json!({ "order_id": ORDER, "user_id": user, "code": code,
            "reason": "the card was declined", "retryable": retryable })
        .to_string()
    };
    let declined = notified(
        channels::payment::FAILED,
        &failure("card_declined", false, USER),
    );
    assert_eq!(declined.template, Template::PaymentFailed);
    assert_eq!(declined.subject, "Payment for order 0000c0de failed");
    assert!(
        declined.body.contains("the card was declined"),
        "{declined:?}"
    );
    for (code, retryable, user) in [
        ("provider_error", true, USER),
        ("order_voided", false, USER),
        ("card_declined", false, ""),
    ] {
        assert_eq!(
            decide(channels::payment::FAILED, &failure(code, retryable, user)),
            Ok(Decision::Ignore),
            "{code} {retryable} {user:?}"
        );
    }
}

#[test]
fn shipment_status_reads_plainly() {
    let data = json!({ "shipment_id": "s", "order_id": ORDER, "user_id": USER,
        "tracking_number": "WS0000000000AB", "status": "in_transit", "previous_status": "picked" });
    let shipped = notified(channels::shipment::STATUS_CHANGED, &data.to_string());
    assert_eq!(shipped.template, Template::ShipmentStatus);
    assert_eq!(shipped.subject, "Your parcel is in transit");
    assert_eq!(
        shipped.body,
        format!("The parcel of order {ORDER} (tracking WS0000000000AB) is in transit.")
    );
}

#[test]
fn other_facts_are_ignored_and_foreign_messages_rejected() {
    for ignored in [
        channels::order::CREATED,
        channels::payment::AUTHORIZED,
        channels::payment::CAPTURED,
        channels::payment::VOIDED,
        channels::payment::REFUNDED,
        channels::shipment::CREATED,
        channels::shipment::CANCELLED,
        channels::shipment::FAILED,
        "user.logged-in",
    ] {
        // Not parsed: an ignored event's payload is not notifications' to judge.
        assert_eq!(decide(ignored, "{}"), Ok(Decision::Ignore), "{ignored}");
        assert!(always_ignored(ignored), "{ignored}");
    }
    for handled in HANDLED {
        assert!(!always_ignored(handled), "{handled}");
    }
    for foreign in [
        channels::stock::LOW,
        channels::payment::AUTHORIZE,
        channels::shipment::CANCEL,
        "order",
        "user.",
        "",
    ] {
        assert_eq!(
            decide(foreign, "{}"),
            Err(Rejection::Foreign(foreign.into())),
            "{foreign}"
        );
    }
    for (event_type, data) in [
        (channels::order::CONFIRMED, "{}"),
        (channels::user::REGISTERED, "not json"),
        (channels::payment::FAILED, r#"{"order_id": 1}"#),
        (channels::shipment::STATUS_CHANGED, "[]"),
    ] {
        assert!(
            matches!(decide(event_type, data), Err(Rejection::Payload { .. })),
            "{event_type}"
        );
    }
}

#[test]
fn channels_per_template() {
    let table: Vec<(&str, &[Channel])> = [
        Template::Welcome,
        Template::OrderConfirmed,
        Template::OrderCancelled,
        Template::OrderFailed,
        Template::PaymentFailed,
        Template::ShipmentStatus,
    ]
    .into_iter()
    .map(|t| (t.as_str(), t.channels()))
    .collect();
    assert_eq!(
        table,
        [
            ("welcome", &[Channel::Email][..]),
            ("order_confirmed", &[Channel::Email, Channel::Push][..]),
            ("order_cancelled", &[Channel::Email][..]),
            ("order_failed", &[Channel::Email][..]),
            ("payment_failed", &[Channel::Email, Channel::Sms][..]),
            ("shipment_status", &[Channel::Push, Channel::Email][..]),
        ]
    );
}

#[test]
fn email_needs_a_known_address() {
    assert_eq!(
        simulated_delivery(Channel::Email, true),
        (DeliveryStatus::Delivered, None)
    );
    assert_eq!(
        simulated_delivery(Channel::Email, false),
        (DeliveryStatus::Skipped, Some(NO_CONTACT))
    );
    for channel in [Channel::Sms, Channel::Push] {
        assert_eq!(
            simulated_delivery(channel, false),
            (DeliveryStatus::Delivered, None)
        );
    }
}

#[test]
fn webhook_retries_back_off_then_give_up() {
    let schedule: Vec<AfterFailure> = (1..=WEBHOOK_MAX_ATTEMPTS)
        .map(after_webhook_failure)
        .collect();
    assert_eq!(
        schedule,
        [
            AfterFailure::RetryInMs(1_000),
            AfterFailure::RetryInMs(2_000),
            AfterFailure::RetryInMs(4_000),
            AfterFailure::RetryInMs(8_000),
            AfterFailure::RetryInMs(16_000),
            AfterFailure::RetryInMs(32_000),
            AfterFailure::RetryInMs(60_000),
            AfterFailure::Abandon,
        ]
    );
    assert_eq!(after_webhook_failure(40), AfterFailure::Abandon);
}
