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
mod tests {
    use super::*;

    #[test]
    fn money_is_shown_in_major_units() {
        let eur = |amount| Money {
            amount,
            currency: "EUR".into(),
        };
        assert_eq!(eur(1234).display(), "12.34 EUR");
        assert_eq!(eur(5).display(), "0.05 EUR");
        assert_eq!(eur(-250).display(), "-2.50 EUR");
        let yen = Money {
            amount: 500,
            currency: "JPY".into(),
        };
        assert_eq!(yen.display(), "500 JPY");
    }

    #[test]
    fn api_shapes_parse() {
        let cart: Cart = serde_json::from_str(
            r#"{"lines":[{"product_id":"p","name":null,"quantity":2,"unit_price":null,
                "line_total":null,"available":false}],"items":2,"subtotal":null}"#,
        )
        .expect("cart");
        assert_eq!(cart.lines[0].quantity, 2);
        let page: ProductPage = serde_json::from_str(
            r#"{"items":[{"id":"p","sku":"S","name":"N","description":"","price":{"amount":1,
                "currency":"EUR"},"category_id":null,"active":true}],"total":1,"page":1,"limit":12}"#,
        )
        .expect("page");
        assert_eq!(page.items[0].price.display(), "0.01 EUR");
        let body = serde_json::json!({ "error": { "code": "x", "message": "why" } });
        assert_eq!(error_message(&body).as_deref(), Some("why"));
        assert_eq!(error_message(&serde_json::json!({})), None);
    }

    #[test]
    fn the_shoppers_address_is_appended_to_what_was_forwarded() {
        assert_eq!(
            forwarded_for(&[], Some("203.0.113.7:51234")).as_deref(),
            Some("203.0.113.7")
        );
        assert_eq!(
            forwarded_for(&["198.51.100.1"], Some("[2001:db8::1]:443")).as_deref(),
            Some("198.51.100.1, 2001:db8::1")
        );
        assert_eq!(
            forwarded_for(&["a, b", "c"], Some("10.0.0.1:1")).as_deref(),
            Some("a, b, c, 10.0.0.1"),
            "hex-looking text is passed on: the gateway judges it"
        );
        // Garbage or padding is dropped, the peer still sent.
        assert_eq!(
            forwarded_for(&["evil\"<x>"], Some("10.0.0.1:1")).as_deref(),
            Some("10.0.0.1")
        );
        let padded = "1.1.1.1, ".repeat(200);
        assert_eq!(
            forwarded_for(&[&padded], Some("10.0.0.1:1")).as_deref(),
            Some("10.0.0.1")
        );
        assert_eq!(forwarded_for(&["1.1.1.1"], None), None);
        assert_eq!(forwarded_for(&[], Some("nonsense")), None);
    }

    #[test]
    fn quantities_are_one_to_ninety_nine() {
        assert_eq!(quantity(Some("3")), Some(3));
        assert_eq!(quantity(Some(" 99 ")), Some(99));
        assert_eq!(quantity(Some("0")), None);
        assert_eq!(quantity(Some("100")), None);
        assert_eq!(quantity(Some("x")), None);
        assert_eq!(quantity(None), None);
    }

    #[test]
    fn terminal_statuses_end_the_refresh() {
        for status in ["confirmed", "cancelled", "failed"] {
            assert!(is_terminal(status), "{status}");
        }
        for status in [
            "pending",
            "awaiting_payment",
            "compensating",
            "capturing_payment",
        ] {
            assert!(!is_terminal(status), "{status}");
        }
        assert_eq!(status_label("awaiting_shipment"), "Booking shipment");
    }

    #[test]
    fn orders_are_cancellable_until_the_payment_is_taken() {
        for status in ["pending", "awaiting_payment", "awaiting_shipment"] {
            assert!(can_cancel(status), "{status}");
            assert!(!is_terminal(status), "{status}");
        }
        for status in [
            "capturing_payment",
            "compensating",
            "confirmed",
            "cancelled",
            "failed",
            "",
            "PENDING",
        ] {
            assert!(!can_cancel(status), "{status}");
        }
        assert_eq!(status_label("new_status"), "new_status");
    }

    fn form(fields: &[(&str, &str)]) -> CheckoutForm {
        CheckoutForm::from_fields(|name| {
            fields
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| *value)
        })
    }

    #[test]
    fn the_checkout_form_becomes_the_apis_body() {
        let form = form(&[
            ("name", " Ada "),
            ("line1", "1 Analytical Way"),
            ("city", "Berlin"),
            ("postal_code", "10115"),
            ("country", "de"),
            ("payment_token", "tok_visa"),
        ]);
        assert_eq!(form.value("country"), "DE");
        assert_eq!(
            form.body().expect("valid"),
            serde_json::json!({ "shipping_address": { "name": "Ada", "line1": "1 Analytical Way",
                "line2": null, "city": "Berlin", "postal_code": "10115", "country": "DE" },
                "payment_token": "tok_visa" })
        );
    }

    #[test]
    fn only_test_cards_are_sent() {
        for token in ["", "tok_other", "4242424242424242"] {
            let errors = form(&[("payment_token", token)]).body().expect_err(token);
            assert_eq!(errors[0].0, "payment_token");
        }
    }

    #[test]
    fn field_errors_are_named_as_the_form_names_them() {
        let body = serde_json::json!({ "error": { "code": "invalid_input", "message": "m",
            "details": { "fields": [
                { "field": "shipping_address.city", "message": "must be 1 to 200 characters" },
                { "field": "payment_token", "message": "must be 1 to 100 characters" },
                { "field": 3, "message": "ignored" } ] } } });
        assert_eq!(
            field_errors(&body),
            [
                ("city".to_owned(), "must be 1 to 200 characters".to_owned()),
                (
                    "payment_token".to_owned(),
                    "must be 1 to 100 characters".to_owned()
                )
            ]
        );
        assert!(field_errors(&serde_json::json!({})).is_empty());
    }

    #[test]
    fn profile_errors_are_named_as_the_form_names_them() {
        let body = serde_json::json!({ "error": { "code": "invalid_input", "message": "m",
            "details": { "fields": [
                { "field": "name", "message": "is required" },
                { "field": "address.country", "message": "must be an ISO code" } ] } } });
        assert_eq!(
            field_errors(&body),
            [
                ("name".to_owned(), "is required".to_owned()),
                ("country".to_owned(), "must be an ISO code".to_owned())
            ]
        );
    }

    fn profile(fields: &[(&str, &str)]) -> ProfileForm {
        ProfileForm::from_fields(|name| {
            fields
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| *value)
        })
    }

    #[test]
    fn the_profile_form_sends_an_address_only_when_one_is_typed() {
        assert_eq!(
            profile(&[("name", " Ada L. "), ("line1", " "), ("country", "")]).body(),
            serde_json::json!({ "name": "Ada L." })
        );
        let moved = profile(&[
            ("name", "Ada"),
            ("line1", "1 Way"),
            ("city", "Berlin"),
            ("postal_code", "10115"),
            ("country", "de"),
        ]);
        assert_eq!(moved.value("country"), "DE");
        assert_eq!(
            moved.body(),
            serde_json::json!({ "name": "Ada", "address": { "line1": "1 Way", "line2": null,
                "city": "Berlin", "postal_code": "10115", "country": "DE" } })
        );
        // A partial address is sent too: the API names what is missing.
        assert_eq!(
            profile(&[("name", "Ada"), ("city", "Berlin")]).body()["address"]["city"],
            "Berlin"
        );
    }

    #[test]
    fn accounts_and_notifications_parse() {
        let account: Account = serde_json::from_str(
            r#"{"id":"u","email":"a@b.c","name":"Ada","role":"customer","address":{"line1":"L",
            "line2":null,"city":"C","postal_code":"1","country":"DE"},"created_at":"t",
            "updated_at":"t"}"#,
        )
        .expect("account");
        let form = ProfileForm::from_account(&account);
        assert_eq!((form.value("name"), form.value("city")), ("Ada", "C"));
        assert_eq!(form.value("line2"), "");
        let bare: Account = serde_json::from_str(
            r#"{"id":"u","email":"a@b.c","name":"Ada","role":"customer","address":null,
            "created_at":"t","updated_at":"t"}"#,
        )
        .expect("account without address");
        assert_eq!(
            ProfileForm::from_account(&bare).body(),
            serde_json::json!({ "name": "Ada" })
        );
        let page: NotificationPage = serde_json::from_str(
            r#"{"items":[{"id":"n","user_id":"u","template":"order_confirmed","subject_id":"o",
            "subject":"Order 1 confirmed","body":"Thanks","created_at":"t","read_at":null,
            "trace_id":null,"deliveries":[]}],"total":1,"page":1,"limit":20}"#,
        )
        .expect("notifications");
        assert_eq!(page.items[0].subject, "Order 1 confirmed");
        assert!(page.items[0].read_at.is_none());
    }

    #[test]
    fn only_our_own_idempotency_keys_come_back() {
        let key = uuid::Uuid::new_v4().to_string();
        assert_eq!(idempotency_key(Some(&key)), Some(key.as_str()));
        assert_eq!(idempotency_key(Some("x")), None);
        assert_eq!(idempotency_key(Some(&"a".repeat(300))), None);
        assert_eq!(idempotency_key(None), None);
    }

    #[test]
    fn orders_parse() {
        let order: Order = serde_json::from_str(
            r#"{"id":"o1","user_id":"u","status":"cancelled","lines":[{"product_id":"p",
            "name":"Mug","unit_price":{"amount":500,"currency":"EUR"},"quantity":2,
            "line_total":{"amount":1000,"currency":"EUR"}}],
            "subtotal":{"amount":1000,"currency":"EUR"},"shipping":{"amount":490,"currency":"EUR"},
            "total":{"amount":1490,"currency":"EUR"},"shipping_address":{"name":"A","line1":"L",
            "line2":null,"city":"C","postal_code":"1","country":"DE"},
            "cancel_reason":"payment declined: card_declined","created_at":"t","updated_at":"t",
            "timeline":[{"status":"pending","note":"","at":"t"}]}"#,
        )
        .expect("order");
        assert_eq!(order.total.display(), "14.90 EUR");
        assert_eq!(
            order.cancel_reason.as_deref(),
            Some("payment declined: card_declined")
        );
    }
}
