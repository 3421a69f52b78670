//! What pages show, as the public API returns it (only the fields the pages use), and the
//! small pure decisions around it.

use std::net::{IpAddr, SocketAddr};

use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Money {
    pub amount: i64,
    pub currency: String,
}

impl Money {
    /// `12.34 EUR`; currencies without minor units (ISO 4217 exponent 0) without decimals.
    pub fn display(&self) -> String {
        let sign = if self.amount < 0 { "-" } else { "" };
        let amount = self.amount.unsigned_abs();
        if matches!(
            self.currency.as_str(),
            "JPY" | "KRW" | "ISK" | "CLP" | "VND"
        ) {
            return format!("{sign}{amount} {}", self.currency);
        }
        format!(
            "{sign}{}.{:02} {}",
            amount / 100,
            amount % 100,
            self.currency
        )
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Product {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub price: Money,
    #[serde(default)]
    pub category_id: Option<String>,
    #[serde(default = "yes")]
    pub active: bool,
}

fn yes() -> bool {
    true
}

/// One page of a listing, as every listing of the API answers it.
#[derive(Debug, Clone, Deserialize)]
pub struct Listing<T> {
    pub items: Vec<T>,
    pub total: u64,
}

pub type ProductPage = Listing<Product>;

#[derive(Debug, Clone, Deserialize)]
pub struct Category {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Cart {
    pub lines: Vec<CartLine>,
    pub items: u64,
    pub subtotal: Option<Money>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CartLine {
    pub product_id: String,
    pub name: Option<String>,
    pub quantity: u32,
    pub unit_price: Option<Money>,
    pub line_total: Option<Money>,
    pub available: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Token {
    pub access_token: String,
    pub expires_in: u64,
}

/// The API's error body: `{"error": {"code", "message"}}`.
pub fn error_message(body: &serde_json::Value) -> Option<String> {
    body.pointer("/error/message")?.as_str().map(str::to_owned)
}

/// Longest `X-Forwarded-For` passed on; a longer one was padded by the client and is dropped
/// (the gateway reads it from the right, so nothing it would believe is lost).
const MAX_FORWARDED: usize = 1024;

/// The `X-Forwarded-For` sent to the gateway: the one received (when sane) followed by the
/// shopper's address as the runtime saw it (`spin-client-addr`). The gateway believes it only
/// on a chained request, and reads it from the right as any proxy's.
pub fn forwarded_for(received: &[&str], peer: Option<&str>) -> Option<String> {
    let peer = peer.map(str::trim).and_then(|text| {
        text.parse::<IpAddr>()
            .or_else(|_| text.parse::<SocketAddr>().map(|a| a.ip()))
            .ok()
    })?;
    let received = received.join(", ");
    let sane = !received.trim().is_empty()
        && received.len() <= MAX_FORWARDED
        && received
            .bytes()
            .all(|b| b.is_ascii_hexdigit() || matches!(b, b'.' | b':' | b',' | b' ' | b'[' | b']'));
    Some(if sane {
        format!("{received}, {peer}")
    } else {
        peer.to_string()
    })
}

/// Quantities a cart line may have (the API's bounds).
pub fn quantity(text: Option<&str>) -> Option<u32> {
    text?.trim().parse().ok().filter(|q| (1..=99).contains(q))
}

/// An order as its owner sees it.
#[derive(Debug, Clone, Deserialize)]
pub struct Order {
    pub id: String,
    pub status: String,
    pub lines: Vec<OrderLine>,
    pub subtotal: Money,
    pub shipping: Money,
    pub total: Money,
    pub shipping_address: Address,
    #[serde(default)]
    pub cancel_reason: Option<String>,
    pub created_at: String,
    #[serde(default)]
    pub timeline: Vec<TimelineEntry>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct OrderLine {
    pub product_id: String,
    pub name: String,
    pub unit_price: Money,
    pub quantity: i64,
    pub line_total: Money,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Address {
    pub name: String,
    pub line1: String,
    #[serde(default)]
    pub line2: Option<String>,
    pub city: String,
    pub postal_code: String,
    pub country: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TimelineEntry {
    pub status: String,
    #[serde(default)]
    pub note: String,
    pub at: String,
}

pub type OrderPage = Listing<OrderSummary>;

#[derive(Debug, Clone, Deserialize)]
pub struct OrderSummary {
    pub id: String,
    pub status: String,
    pub total: Money,
    pub created_at: String,
}

/// `{"id", "status"}` of an accepted checkout.
#[derive(Debug, Clone, Deserialize)]
pub struct Accepted {
    pub id: String,
}

/// An order status no step of the saga moves on from: its page stops refreshing.
pub fn is_terminal(status: &str) -> bool {
    matches!(status, "confirmed" | "cancelled" | "failed")
}

/// The statuses in which orders accepts the customer's cancel: while stock, payment or
/// shipment is still being arranged (its saga's forward steps before the capture). Taking the
/// payment, and any compensation, can no longer be stopped. The API's order has no field for
/// it, so this is the one place the storefront keeps that rule; the API stays the judge.
const CANCELLABLE: [&str; 3] = ["pending", "awaiting_payment", "awaiting_shipment"];

/// Whether the order page offers to cancel an order in `status`.
pub fn can_cancel(status: &str) -> bool {
    CANCELLABLE.contains(&status)
}

/// A status as a shopper reads it.
pub fn status_label(status: &str) -> &str {
    match status {
        "pending" => "Received",
        "awaiting_payment" => "Authorising payment",
        "awaiting_shipment" => "Booking shipment",
        "capturing_payment" => "Taking payment",
        "compensating" => "Being cancelled",
        "confirmed" => "Confirmed",
        "cancelled" => "Cancelled",
        "failed" => "Failed",
        other => other,
    }
}

/// One of the shopper's notifications (`GET /api/v1/notifications`).
#[derive(Debug, Clone, Deserialize)]
pub struct Notification {
    pub id: String,
    pub subject: String,
    #[serde(default)]
    pub body: String,
    pub created_at: String,
    #[serde(default)]
    pub read_at: Option<String>,
}

pub type NotificationPage = Listing<Notification>;

/// The shopper's account (`GET /api/v1/users/me`).
#[derive(Debug, Clone, Deserialize)]
pub struct Account {
    pub email: String,
    pub name: String,
    #[serde(default)]
    pub address: Option<AccountAddress>,
}

/// The account's address: a shipping address without the recipient's name.
#[derive(Debug, Clone, Deserialize)]
pub struct AccountAddress {
    pub line1: String,
    #[serde(default)]
    pub line2: Option<String>,
    pub city: String,
    pub postal_code: String,
    pub country: String,
}

/// The profile form's address fields, named as the API's `address` names them.
pub const PROFILE_ADDRESS_FIELDS: [&str; 5] = ["line1", "line2", "city", "postal_code", "country"];

/// What the shopper typed into the profile form (or what the account holds), to show it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileForm {
    pub name: String,
    /// By field name of [`PROFILE_ADDRESS_FIELDS`]; trimmed.
    pub address: Vec<(&'static str, String)>,
}

impl ProfileForm {
    pub fn from_fields<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Self {
        let address = PROFILE_ADDRESS_FIELDS
            .iter()
            .map(|name| (*name, normalise(name, get(name).unwrap_or_default())))
            .collect();
        Self {
            name: get("name").unwrap_or_default().trim().to_owned(),
            address,
        }
    }

    pub fn from_account(account: &Account) -> Self {
        let address = account.address.as_ref();
        Self::from_fields(|name| match name {
            "name" => Some(account.name.as_str()),
            "line1" => address.map(|a| a.line1.as_str()),
            "line2" => address.and_then(|a| a.line2.as_deref()),
            "city" => address.map(|a| a.city.as_str()),
            "postal_code" => address.map(|a| a.postal_code.as_str()),
            "country" => address.map(|a| a.country.as_str()),
            _ => None,
        })
    }

    pub fn value(&self, name: &str) -> &str {
        if name == "name" {
            return &self.name;
        }
        self.address
            .iter()
            .find(|(field, _)| *field == name)
            .map_or("", |(_, value)| value.as_str())
    }

    /// The body of `PATCH /api/v1/users/me`: the name, and the address when any of its fields
    /// is filled in (an empty address leaves the account's as it is: the API cannot remove
    /// one). The API judges both.
    pub fn body(&self) -> serde_json::Value {
        let mut body = serde_json::json!({ "name": self.name });
        if self.address.iter().any(|(_, value)| !value.is_empty()) {
            body["address"] = address_object(&self.address);
        }
        body
    }
}

/// Country codes are upper case: typing `de` means DE.
fn normalise(name: &str, value: &str) -> String {
    let value = value.trim();
    if name == "country" {
        value.to_ascii_uppercase()
    } else {
        value.to_owned()
    }
}

/// An address as the API takes it, an empty `line2` absent.
fn address_object(fields: &[(&'static str, String)]) -> serde_json::Value {
    let mut address = serde_json::Map::new();
    for (name, value) in fields {
        let value = if *name == "line2" && value.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::Value::String(value.clone())
        };
        address.insert((*name).to_owned(), value);
    }
    serde_json::Value::Object(address)
}

/// The test cards a shopper may pay with (no real card is ever charged): token, label, what
/// happens.
pub const PAYMENT_TOKENS: &[(&str, &str, &str)] = &[
    (
        "tok_visa",
        "Test Visa card",
        "the payment is approved and the order confirmed",
    ),
    (
        "tok_declined",
        "Declined test card",
        "the bank refuses the payment and the order is cancelled",
    ),
];

/// The address fields of the checkout form, named as the API's `shipping_address` names them.
pub const ADDRESS_FIELDS: [&str; 6] = ["name", "line1", "line2", "city", "postal_code", "country"];

/// What the shopper typed into the checkout form, kept to show it again.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckoutForm {
    /// By field name of [`ADDRESS_FIELDS`]; trimmed.
    pub address: Vec<(&'static str, String)>,
    pub payment_token: String,
}

impl CheckoutForm {
    pub fn from_fields<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Self {
        let address = ADDRESS_FIELDS
            .iter()
            .map(|name| (*name, normalise(name, get(name).unwrap_or_default())))
            .collect();
        Self {
            address,
            payment_token: get("payment_token").unwrap_or_default().trim().to_owned(),
        }
    }

    pub fn value(&self, name: &str) -> &str {
        self.address
            .iter()
            .find(|(field, _)| *field == name)
            .map_or("", |(_, value)| value.as_str())
    }

    /// The body of `POST /api/v1/orders` (the cart's lines), or the fields to correct first.
    /// Only the test cards are offered; the API judges the address.
    pub fn body(&self) -> Result<serde_json::Value, Vec<(String, String)>> {
        if !PAYMENT_TOKENS
            .iter()
            .any(|(token, _, _)| *token == self.payment_token)
        {
            return Err(vec![(
                "payment_token".into(),
                "Choose one of the test cards.".into(),
            )]);
        }
        Ok(serde_json::json!({
            "shipping_address": address_object(&self.address),
            "payment_token": self.payment_token,
        }))
    }
}

/// The rejected fields of an `invalid_input` answer, named as the checkout and profile forms
/// name them (`shipping_address.city` and `address.city` are `city`); anything else keeps the
/// API's name.
pub fn field_errors(body: &serde_json::Value) -> Vec<(String, String)> {
    body.pointer("/error/details/fields")
        .and_then(serde_json::Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|field| {
            let name = field["field"].as_str()?;
            let message = field["message"].as_str()?;
            let name = name
                .strip_prefix("shipping_address.")
                .or_else(|| name.strip_prefix("address."))
                .unwrap_or(name);
            Some((name.to_owned(), message.to_owned()))
        })
        .collect()
}

/// A form's idempotency key as it came back: one we made (a UUID), else none.
pub fn idempotency_key(text: Option<&str>) -> Option<&str> {
    text.filter(|key| uuid::Uuid::try_parse(key).is_ok())
}

#[cfg(test)]
mod tests;
