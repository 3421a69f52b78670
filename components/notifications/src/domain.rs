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
use wasmshop_kit::ids::backoff_ms;
use wasmshop_kit::payloads::{
    OrderChanged, PaymentFailed, ShipmentChanged, UserProfileUpdated, UserRegistered,
};
use wasmshop_kit::{Money, channels};

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
    match event_type {
        channels::user::REGISTERED => Ok(registered(payload(event_type, data)?)),
        channels::user::PROFILE_UPDATED => {
            let user: UserProfileUpdated = payload(event_type, data)?;
            Ok(Decision::Rename {
                user_id: user.user_id,
                name: user.name,
            })
        }
        channels::order::CONFIRMED | channels::order::CANCELLED | channels::order::FAILED => {
            Ok(order_changed(event_type, payload(event_type, data)?))
        }
        channels::payment::FAILED => Ok(payment_failed(payload(event_type, data)?)),
        channels::shipment::STATUS_CHANGED => Ok(shipment_changed(payload(event_type, data)?)),
        other if always_ignored(other) => Ok(Decision::Ignore),
        other => Err(Rejection::Foreign(other.to_owned())),
    }
}

fn draft(
    template: Template,
    user_id: &str,
    subject_id: &str,
    (subject, body): (String, String),
) -> Draft {
    Draft {
        template,
        user_id: user_id.to_owned(),
        subject_id: subject_id.to_owned(),
        subject,
        body,
    }
}

fn registered(user: UserRegistered) -> Decision {
    let welcome = draft(
        Template::Welcome,
        &user.user_id,
        &user.user_id,
        render_welcome(&user.name),
    );
    Decision::Register {
        user_id: user.user_id,
        email: user.email,
        name: user.name,
        welcome,
    }
}

/// `order.confirmed`, `order.cancelled` or `order.failed` (`event_type`).
fn order_changed(event_type: &str, order: OrderChanged) -> Decision {
    let template = match event_type {
        channels::order::CONFIRMED => Template::OrderConfirmed,
        channels::order::CANCELLED => Template::OrderCancelled,
        _ => Template::OrderFailed,
    };
    let text = render_order(
        template,
        &order.order_id,
        &order.total,
        order.reason.as_deref(),
    );
    Decision::Notify(draft(template, &order.user_id, &order.order_id, text))
}

fn payment_failed(failed: PaymentFailed) -> Decision {
    // Transient provider errors are the saga's to retry; the customer hears of final
    // ones only. A failure of nobody's payment has nobody to tell.
    if failed.retryable
        || failed.user_id.is_empty()
        || SILENT_PAYMENT_CODES.contains(&failed.code.as_str())
    {
        return Decision::Ignore;
    }
    let text = render_payment_failed(&failed.order_id, &failed.reason);
    Decision::Notify(draft(
        Template::PaymentFailed,
        &failed.user_id,
        &failed.order_id,
        text,
    ))
}

fn shipment_changed(shipment: ShipmentChanged) -> Decision {
    let text = render_shipment(
        &shipment.order_id,
        &shipment.tracking_number,
        &shipment.status,
    );
    Decision::Notify(draft(
        Template::ShipmentStatus,
        &shipment.user_id,
        &shipment.order_id,
        text,
    ))
}

/// The event types [`decide`] handles by what their payload says.
const HANDLED: &[&str] = &[
    channels::user::REGISTERED,
    channels::user::PROFILE_UPDATED,
    channels::order::CONFIRMED,
    channels::order::CANCELLED,
    channels::order::FAILED,
    channels::payment::FAILED,
    channels::shipment::STATUS_CHANGED,
];

/// Whether [`decide`] ignores every event of `event_type`, whatever its payload: a fact of the
/// families read that is neither handled nor a command.
pub fn always_ignored(event_type: &str) -> bool {
    !HANDLED.contains(&event_type)
        && !channels::is_command(event_type)
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
mod tests;
