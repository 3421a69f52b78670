//! Notifications' rules, pure: which event becomes which notification, how it reads, and on
//! which channels it goes out.
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
//! Channels are simulated: each delivery is recorded with its status. With a webhook URL
//! configured, every notification is also POSTed there (channel `webhook`), retried with
//! backoff (1 s · 2ⁿ, at most 60 s) up to [`WEBHOOK_MAX_ATTEMPTS`] attempts, then `abandoned`.

use wasmshop_kit::Money;

pub const WEBHOOK_MAX_ATTEMPTS: u32 = 8;
pub const WEBHOOK_BASE_MS: i64 = 1_000;
pub const WEBHOOK_CAP_MS: i64 = 60_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Template {
    Welcome,
    OrderConfirmed,
    OrderCancelled,
    OrderFailed,
    PaymentFailed,
    ShipmentStatus,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Email,
    Sms,
    Push,
    Webhook,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Sms => "sms",
            Channel::Push => "push",
            Channel::Webhook => "webhook",
        }
    }
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

/// `EUR 12.34`.
pub fn money(amount: &Money) -> String {
    let sign = if amount.amount < 0 { "-" } else { "" };
    let cents = amount.amount.unsigned_abs();
    format!(
        "{} {sign}{}.{:02}",
        amount.currency,
        cents / 100,
        cents % 100
    )
}

fn short(id: &str) -> &str {
    &id[..id.len().min(8)]
}

/// What the event says that a notification shows.
#[derive(Debug, Clone, PartialEq)]
pub enum Facts<'a> {
    Welcome {
        name: &'a str,
    },
    Order {
        order_id: &'a str,
        total: &'a Money,
        reason: Option<&'a str>,
    },
    PaymentFailed {
        order_id: &'a str,
        reason: &'a str,
    },
    Shipment {
        order_id: &'a str,
        tracking_number: &'a str,
        status: &'a str,
    },
}

/// Subject and body.
pub fn render(template: Template, facts: &Facts<'_>) -> (String, String) {
    match (template, facts) {
        (Template::Welcome, Facts::Welcome { name }) => (
            "Welcome to wasmshop".into(),
            format!("Hello {name}, your account is ready. Happy shopping!"),
        ),
        (
            Template::OrderConfirmed,
            Facts::Order {
                order_id, total, ..
            },
        ) => (
            format!("Order {} confirmed", short(order_id)),
            format!(
                "We have your order {order_id} and charged {}. It ships soon.",
                money(total)
            ),
        ),
        (
            Template::OrderCancelled,
            Facts::Order {
                order_id, reason, ..
            },
        ) => (
            format!("Order {} cancelled", short(order_id)),
            format!(
                "Your order {order_id} was cancelled: {}. You have not been charged.",
                reason.unwrap_or("no reason given")
            ),
        ),
        (
            Template::OrderFailed,
            Facts::Order {
                order_id, reason, ..
            },
        ) => (
            format!("Order {} could not be completed", short(order_id)),
            format!(
                "We could not complete your order {order_id}: {}. You have not been charged.",
                reason.unwrap_or("an internal error")
            ),
        ),
        (Template::PaymentFailed, Facts::PaymentFailed { order_id, reason }) => (
            format!("Payment for order {} failed", short(order_id)),
            format!("The payment for your order {order_id} failed: {reason}."),
        ),
        (
            Template::ShipmentStatus,
            Facts::Shipment {
                order_id,
                tracking_number,
                status,
            },
        ) => (
            format!("Your parcel is {}", status.replace('_', " ")),
            format!(
                "The parcel of order {order_id} (tracking {tracking_number}) is {}.",
                status.replace('_', " ")
            ),
        ),
        (template, facts) => (template.as_str().replace('_', " "), format!("{facts:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eur(amount: i64) -> Money {
        Money {
            amount,
            currency: "EUR".into(),
        }
    }

    #[test]
    fn amounts_read_like_money() {
        assert_eq!(money(&eur(1_234)), "EUR 12.34");
        assert_eq!(money(&eur(5)), "EUR 0.05");
        assert_eq!(money(&eur(-250)), "EUR -2.50");
    }

    #[test]
    fn every_template_renders_its_facts() {
        let total = eur(6_989);
        let order = "0190d7a0-0000-7000-8000-000000000001";
        let (subject, body) = render(Template::Welcome, &Facts::Welcome { name: "Ada" });
        assert_eq!(subject, "Welcome to wasmshop");
        assert!(body.contains("Ada"));
        let (subject, body) = render(
            Template::OrderConfirmed,
            &Facts::Order {
                order_id: order,
                total: &total,
                reason: None,
            },
        );
        assert_eq!(subject, "Order 0190d7a0 confirmed");
        assert!(body.contains("EUR 69.89") && body.contains(order));
        let (_, body) = render(
            Template::OrderCancelled,
            &Facts::Order {
                order_id: order,
                total: &total,
                reason: Some("payment declined: card_declined"),
            },
        );
        assert!(body.contains("payment declined: card_declined"), "{body}");
        let (subject, _) = render(
            Template::OrderFailed,
            &Facts::Order {
                order_id: order,
                total: &total,
                reason: None,
            },
        );
        assert!(subject.contains("could not be completed"));
        let (_, body) = render(
            Template::PaymentFailed,
            &Facts::PaymentFailed {
                order_id: order,
                reason: "insufficient funds",
            },
        );
        assert!(body.contains("insufficient funds"));
        let (subject, body) = render(
            Template::ShipmentStatus,
            &Facts::Shipment {
                order_id: order,
                tracking_number: "WS0000000000AB",
                status: "in_transit",
            },
        );
        assert_eq!(subject, "Your parcel is in transit");
        assert!(body.contains("WS0000000000AB"));
    }

    #[test]
    fn channels_per_template() {
        assert_eq!(Template::Welcome.channels(), [Channel::Email]);
        assert_eq!(
            Template::OrderConfirmed.channels(),
            [Channel::Email, Channel::Push]
        );
        assert_eq!(
            Template::PaymentFailed.channels(),
            [Channel::Email, Channel::Sms]
        );
        assert_eq!(
            Template::ShipmentStatus.channels(),
            [Channel::Push, Channel::Email]
        );
        let delays: Vec<i64> = (0..8)
            .map(|n| wasmshop_kit::ids::backoff_ms(n, WEBHOOK_BASE_MS, WEBHOOK_CAP_MS))
            .collect();
        assert_eq!(
            delays,
            [1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000]
        );
    }
}
