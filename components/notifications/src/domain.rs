//! Notifications' rules, pure: which event becomes which notification, how it reads, on which
//! channels it goes out, and when a failed webhook is tried again.
//!
//! | template | on | channels |
//! | --- | --- | --- |
//! | `welcome` | `user.registered` | email |
//! | `order_confirmed` | `order.confirmed` | email, push |
//! | `order_cancelled` | `order.cancelled` (with the reason) | email |
//! | `order_failed` | `order.failed` (with the reason) | email |
//! | `payment_failed` | `payment.failed` when not retryable | email, sms |
//! | `shipment_status` | `shipment.status-changed` | push, email |
//!
//! Channels are simulated: each delivery is recorded `delivered`, except email to a user whose
//! address is unknown (`skipped`, `no_contact`). With a webhook URL configured, every
//! notification is also POSTed there (channel `webhook`), retried with backoff (1 s · 2ⁿ, at most
//! 60 s) up to [`WEBHOOK_MAX_ATTEMPTS`] attempts, then `abandoned`.

use serde::de::DeserializeOwned;
use wasmshop_kit::Money;
use wasmshop_kit::ids::backoff_ms;
use wasmshop_kit::payloads::{
    OrderChanged, PaymentFailed, ShipmentChanged, UserProfileUpdated, UserRegistered,
};

use crate::bindings::wasmshop::notifications::types::{Channel, DeliveryStatus};

pub const WEBHOOK_MAX_ATTEMPTS: u32 = 8;
pub const WEBHOOK_BASE_MS: i64 = 1_000;
pub const WEBHOOK_CAP_MS: i64 = 60_000;

/// `last_error` of an email delivery skipped for want of an address.
pub const NO_CONTACT: &str = "no_contact";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Template {
    Welcome,
    OrderConfirmed,
    OrderCancelled,
    OrderFailed,
    PaymentFailed,
    ShipmentStatus,
}

impl Template {
    pub fn as_str(self) -> &'static str {
        match self {
            Template::Welcome => "welcome",
            Template::OrderConfirmed => "order_confirmed",
            Template::OrderCancelled => "order_cancelled",
            Template::OrderFailed => "order_failed",
            Template::PaymentFailed => "payment_failed",
            Template::ShipmentStatus => "shipment_status",
        }
    }

    /// The simulated channels, in delivery order.
    pub fn channels(self) -> &'static [Channel] {
        match self {
            Template::Welcome | Template::OrderCancelled | Template::OrderFailed => {
                &[Channel::Email]
            }
            Template::OrderConfirmed => &[Channel::Email, Channel::Push],
            Template::PaymentFailed => &[Channel::Email, Channel::Sms],
            Template::ShipmentStatus => &[Channel::Push, Channel::Email],
        }
    }
}

/// How a simulated channel's delivery ends: email needs an address; the others reach the
/// user's devices and phone, which the simulation always knows.
pub fn simulated_delivery(
    channel: Channel,
    has_email: bool,
) -> (DeliveryStatus, Option<&'static str>) {
    match channel {
        Channel::Email if !has_email => (DeliveryStatus::Skipped, Some(NO_CONTACT)),
        _ => (DeliveryStatus::Delivered, None),
    }
}

/// A rendered notification, before it has an id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draft {
    pub template: Template,
    pub user_id: String,
    /// The user (welcome) or the order it is about.
    pub subject_id: String,
    pub subject: String,
    pub body: String,
}

/// What an event asks of notifications.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// `user.registered`: keep the contact, then welcome them.
    Register {
        user_id: String,
        email: String,
        name: String,
        welcome: Draft,
    },
    /// `user.profile-updated`: the contact's new name.
    Rename {
        user_id: String,
        name: String,
    },
    Notify(Draft),
    /// An event of a channel notifications reads that tells the customer nothing.
    Ignore,
}

/// Why an event cannot be applied, ever.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("`{0}` is not an event of users, orders, payments or shipping")]
    Foreign(String),
    #[error("`{event_type}` payload: {error}")]
    Payload { event_type: String, error: String },
}

/// Commands of the families whose facts notifications reads: they travel on `*.commands`, so
/// one reaching notifications was misrouted.
const COMMANDS: &[&str] = &[
    "payment.authorize",
    "payment.capture",
    "payment.void",
    "payment.refund",
    "shipment.create",
    "shipment.cancel",
];

/// `payment.failed` codes that are no news to the customer: the order was already given up
/// (they hear of that through `order_cancelled` / `order_failed`).
const SILENT_PAYMENT_CODES: &[&str] = &["order_voided"];

fn payload<T: DeserializeOwned>(event_type: &str, data: &str) -> Result<T, Rejection> {
    serde_json::from_str(data).map_err(|e| Rejection::Payload {
        event_type: event_type.to_owned(),
        error: e.to_string(),
    })
}

/// Decides what an event of `event_type` with payload `data` (the envelope's JSON) does.
///
/// Any other fact of the four channels read (`user.*`, `order.*`, `payment.*`, `shipment.*`,
/// including ones added later) is ignored; a command or another context's event is rejected,
/// as it cannot be on those channels at all.
pub fn decide(event_type: &str, data: &str) -> Result<Decision, Rejection> {
    let draft = |template, user_id: &str, subject_id: &str, (subject, body)| Draft {
        template,
        user_id: user_id.to_owned(),
        subject_id: subject_id.to_owned(),
        subject,
        body,
    };
    match event_type {
        "user.registered" => {
            let user: UserRegistered = payload(event_type, data)?;
            let welcome = draft(
                Template::Welcome,
                &user.user_id,
                &user.user_id,
                render_welcome(&user.name),
            );
            Ok(Decision::Register {
                user_id: user.user_id,
                email: user.email,
                name: user.name,
                welcome,
            })
        }
        "user.profile-updated" => {
            let user: UserProfileUpdated = payload(event_type, data)?;
            Ok(Decision::Rename {
                user_id: user.user_id,
                name: user.name,
            })
        }
        "order.confirmed" | "order.cancelled" | "order.failed" => {
            let order: OrderChanged = payload(event_type, data)?;
            let template = match event_type {
                "order.confirmed" => Template::OrderConfirmed,
                "order.cancelled" => Template::OrderCancelled,
                _ => Template::OrderFailed,
            };
            let text = render_order(
                template,
                &order.order_id,
                &order.total,
                order.reason.as_deref(),
            );
            Ok(Decision::Notify(draft(
                template,
                &order.user_id,
                &order.order_id,
                text,
            )))
        }
        "payment.failed" => {
            let failed: PaymentFailed = payload(event_type, data)?;
            // Transient provider errors are the saga's to retry; the customer hears of final
            // ones only. A failure of nobody's payment has nobody to tell.
            if failed.retryable
                || failed.user_id.is_empty()
                || SILENT_PAYMENT_CODES.contains(&failed.code.as_str())
            {
                return Ok(Decision::Ignore);
            }
            let text = render_payment_failed(&failed.order_id, &failed.reason);
            Ok(Decision::Notify(draft(
                Template::PaymentFailed,
                &failed.user_id,
                &failed.order_id,
                text,
            )))
        }
        "shipment.status-changed" => {
            let shipment: ShipmentChanged = payload(event_type, data)?;
            let text = render_shipment(
                &shipment.order_id,
                &shipment.tracking_number,
                &shipment.status,
            );
            Ok(Decision::Notify(draft(
                Template::ShipmentStatus,
                &shipment.user_id,
                &shipment.order_id,
                text,
            )))
        }
        other if always_ignored(other) => Ok(Decision::Ignore),
        other => Err(Rejection::Foreign(other.to_owned())),
    }
}

/// The event types [`decide`] handles by what their payload says.
const HANDLED: &[&str] = &[
    "user.registered",
    "user.profile-updated",
    "order.confirmed",
    "order.cancelled",
    "order.failed",
    "payment.failed",
    "shipment.status-changed",
];

/// Whether [`decide`] ignores every event of `event_type`, whatever its payload: a fact of the
/// families read that is neither handled nor a command.
pub fn always_ignored(event_type: &str) -> bool {
    !HANDLED.contains(&event_type)
        && !COMMANDS.contains(&event_type)
        && matches!(
            event_type.split_once('.'),
            Some(("user" | "order" | "payment" | "shipment", name)) if !name.is_empty()
        )
}

/// Digits after the decimal point of a currency's major unit (ISO 4217 exponent).
fn minor_digits(currency: &str) -> u32 {
    match currency {
        "JPY" | "KRW" | "ISK" | "CLP" | "VND" | "UGX" | "XAF" | "XOF" => 0,
        "BHD" | "KWD" | "OMR" | "JOD" | "TND" => 3,
        _ => 2,
    }
}

/// `EUR 12.34` (`JPY 1234`).
pub fn money(amount: &Money) -> String {
    let sign = if amount.amount < 0 { "-" } else { "" };
    let minor = amount.amount.unsigned_abs();
    let digits = minor_digits(&amount.currency);
    if digits == 0 {
        return format!("{} {sign}{minor}", amount.currency);
    }
    let scale = 10_u64.pow(digits);
    format!(
        "{} {sign}{}.{:0width$}",
        amount.currency,
        minor / scale,
        minor % scale,
        width = digits as usize
    )
}

/// The tail of an id: UUIDv7s share their leading (time) digits for a minute, so the random
/// tail is what tells two orders apart in a subject line.
fn short(id: &str) -> &str {
    let start = id.len().saturating_sub(8);
    id.get(start..).unwrap_or(id)
}

fn readable(status: &str) -> String {
    status.replace(['_', '-'], " ")
}

pub fn render_welcome(name: &str) -> (String, String) {
    (
        "Welcome to wasmshop".into(),
        format!("Hello {name}, your account is ready. Happy shopping!"),
    )
}

/// `template` is one of the order templates.
pub fn render_order(
    template: Template,
    order_id: &str,
    total: &Money,
    reason: Option<&str>,
) -> (String, String) {
    let short = short(order_id);
    let total = money(total);
    match template {
        Template::OrderCancelled => (
            format!("Order {short} cancelled"),
            format!(
                "Your order {order_id} ({total}) was cancelled: {}. You have not been charged.",
                reason.unwrap_or("no reason given")
            ),
        ),
        Template::OrderFailed => (
            format!("Order {short} could not be completed"),
            format!(
                "We could not complete your order {order_id} ({total}): {}. You have not been charged.",
                reason.unwrap_or("an internal error")
            ),
        ),
        _ => (
            format!("Order {short} confirmed"),
            format!("We have your order {order_id} and charged {total}. It ships soon."),
        ),
    }
}

pub fn render_payment_failed(order_id: &str, reason: &str) -> (String, String) {
    (
        format!("Payment for order {} failed", short(order_id)),
        format!(
            "The payment for your order {order_id} failed: {reason}. Please try another payment method."
        ),
    )
}

pub fn render_shipment(order_id: &str, tracking_number: &str, status: &str) -> (String, String) {
    let status = readable(status);
    (
        format!("Your parcel is {status}"),
        format!("The parcel of order {order_id} (tracking {tracking_number}) is {status}."),
    )
}

/// What follows a failed webhook attempt, `attempts` counting every attempt made so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    RetryInMs(i64),
    Abandon,
}

pub fn after_webhook_failure(attempts: u32) -> AfterFailure {
    if attempts >= WEBHOOK_MAX_ATTEMPTS {
        AfterFailure::Abandon
    } else {
        AfterFailure::RetryInMs(backoff_ms(
            attempts.saturating_sub(1),
            WEBHOOK_BASE_MS,
            WEBHOOK_CAP_MS,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ORDER: &str = "0190d7a0-0000-7000-8000-00000000c0de";

    /// Producers push notifications only the event types it declared an interest in (kit's
    /// `SUBSCRIBERS`): that list and what `decide` handles must be the same.
    #[test]
    fn the_pushed_event_types_are_the_handled_ones() {
        use wasmshop_kit::messaging::{Interest, SUBSCRIBERS};
        let mut pushed: Vec<&str> = SUBSCRIBERS
            .iter()
            .flat_map(|(_, consumers)| consumers.iter())
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
        }) = decide("user.registered", &data.to_string())
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
            decide("user.profile-updated", &data.to_string()),
            Ok(Decision::Rename {
                user_id: USER.into(),
                name: "Ada L.".into()
            })
        );
    }

    #[test]
    fn order_templates_render_total_and_reason() {
        let confirmed = notified("order.confirmed", &order("confirmed", None));
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
            "order.cancelled",
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
        let unexplained = notified("order.cancelled", &order("cancelled", None));
        assert!(
            unexplained.body.contains("no reason given"),
            "{unexplained:?}"
        );

        let failed = notified(
            "order.failed",
            &order("failed", Some("payment step out of attempts")),
        );
        assert_eq!(failed.template, Template::OrderFailed);
        assert_eq!(failed.subject, "Order 0000c0de could not be completed");
        assert!(
            failed.body.contains("payment step out of attempts")
                && failed.body.contains("EUR 69.89"),
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
        let declined = notified("payment.failed", &failure("card_declined", false, USER));
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
                decide("payment.failed", &failure(code, retryable, user)),
                Ok(Decision::Ignore),
                "{code} {retryable} {user:?}"
            );
        }
    }

    #[test]
    fn shipment_status_reads_plainly() {
        let data = json!({ "shipment_id": "s", "order_id": ORDER, "user_id": USER,
            "tracking_number": "WS0000000000AB", "status": "in_transit", "previous_status": "picked" });
        let shipped = notified("shipment.status-changed", &data.to_string());
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
            "order.created",
            "payment.authorized",
            "payment.captured",
            "payment.voided",
            "payment.refunded",
            "shipment.created",
            "shipment.cancelled",
            "shipment.failed",
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
            "stock.low",
            "payment.authorize",
            "shipment.cancel",
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
            ("order.confirmed", "{}"),
            ("user.registered", "not json"),
            ("payment.failed", r#"{"order_id": 1}"#),
            ("shipment.status-changed", "[]"),
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
}
