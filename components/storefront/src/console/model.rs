//! What the console shows, as the admin API returns it (only the fields it uses), and the
//! small pure decisions around it: forms into API bodies, query strings, notices.

use serde::Deserialize;
use serde_json::{Value, json};

use crate::model::{Address, Listing, Money};

/// Rows per console listing.
pub const PAGE_SIZE: u32 = 20;

/// A product as an admin edits it: with its SKU (a `PUT` replaces the whole product) and
/// whether it is on sale.
#[derive(Debug, Clone, Deserialize)]
pub struct CatalogProduct {
    pub id: String,
    pub sku: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub price: Money,
    #[serde(default)]
    pub category_id: Option<String>,
    pub active: bool,
}

/// `{"id", ...}` of something the API created.
#[derive(Debug, Clone, Deserialize)]
pub struct Created {
    pub id: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Stock {
    pub on_hand: u64,
    pub reserved: u64,
    pub available: u64,
    pub low_stock_threshold: u64,
}

impl Stock {
    /// The catalog's own rule, the one its low-stock alerts follow: fewer available than the
    /// product's threshold.
    pub fn is_low(&self) -> bool {
        self.available < self.low_stock_threshold
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Shipment {
    pub id: String,
    pub order_id: String,
    pub tracking_number: String,
    pub status: String,
    #[serde(default)]
    pub address: Option<Address>,
    pub weight_grams: i64,
    pub items: i64,
    pub carrier: String,
    pub created_at: String,
    #[serde(default)]
    pub history: Vec<StatusEntry>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct StatusEntry {
    pub status: String,
    pub at: String,
}

/// What an operator may move a shipment to (`POST /shipments/{id}/status`), in the order it
/// travels; the API refuses a move its state machine does not allow.
pub const SHIPMENT_STATUSES: [&str; 4] = ["picked", "in_transit", "delivered", "cancelled"];

/// The move after `status` along created → picked → in_transit → delivered, if any.
pub fn next_shipment_status(status: &str) -> Option<&'static str> {
    match status {
        "created" => Some("picked"),
        "picked" => Some("in_transit"),
        "in_transit" => Some("delivered"),
        _ => None,
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Payment {
    pub id: String,
    pub order_id: String,
    pub user_id: String,
    pub amount: Money,
    pub status: String,
    #[serde(default)]
    pub failure_code: Option<String>,
    pub captured_amount: i64,
    pub refunded_amount: i64,
    pub created_at: String,
    #[serde(default)]
    pub history: Vec<PaymentOperation>,
}

impl Payment {
    /// Only a captured payment can be refunded (the API answers 409 otherwise).
    pub fn refundable(&self) -> bool {
        self.status == "captured"
    }

    /// `amount` minor units in the payment's currency.
    pub fn money(&self, amount: i64) -> Money {
        Money {
            amount,
            currency: self.amount.currency.clone(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct PaymentOperation {
    pub operation: String,
    pub outcome: String,
    pub at: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DeadLetter {
    pub id: String,
    #[serde(default)]
    pub event_type: Option<String>,
    pub payload: String,
    pub error: String,
    pub attempts: u64,
    pub status: String,
    pub created_at: String,
    pub updated_at: String,
}

impl DeadLetter {
    /// Retry and discard apply to letters still waiting; resolved or discarded ones are done.
    pub fn open(&self) -> bool {
        matches!(self.status.as_str(), "retrying" | "dead")
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct DeadLetterList {
    pub items: Vec<DeadLetter>,
}

/// The statuses a dead-letter listing may be narrowed to.
pub const DEAD_LETTER_STATUSES: [&str; 4] = ["retrying", "dead", "resolved", "discarded"];

/// What one recovery pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub struct RecoveryReport {
    pub republished: u64,
    pub redelivered: u64,
    pub acknowledged: u64,
    pub redriven: u64,
    pub resolved: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AuditEntry {
    pub at: String,
    pub actor: String,
    #[serde(default)]
    pub actor_role: Option<String>,
    pub action: String,
    pub outcome: String,
    pub status: u16,
    pub method: String,
    pub path: String,
    #[serde(default)]
    pub client_addr: Option<String>,
    pub trace_id: String,
}

pub type AuditPage = Listing<AuditEntry>;

/// The value of `name` in a query string; the first when repeated, trimmed, `None` when empty.
pub fn param(query: &str, name: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.trim().to_owned())
        .filter(|value| !value.is_empty())
}

/// A query string of the non-empty `pairs` (values encoded).
pub fn query<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (name, value) in pairs {
        if !value.is_empty() {
            query.append_pair(name, value);
        }
    }
    query.finish()
}

/// What a redirect after a change tells the next page: a fixed set of messages (the query
/// string is the visitor's, so it selects a message and never supplies one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    Created,
    Saved,
    Retired,
    StockSet,
    StatusChanged,
    Refunded,
    Retried,
    Discarded,
    Recovered(RecoveryReport),
}

const REPORT_FIELDS: [&str; 5] = [
    "republished",
    "redelivered",
    "acknowledged",
    "redriven",
    "resolved",
];

impl Notice {
    fn name(&self) -> &'static str {
        match self {
            Notice::Created => "created",
            Notice::Saved => "saved",
            Notice::Retired => "retired",
            Notice::StockSet => "stock-set",
            Notice::StatusChanged => "status-changed",
            Notice::Refunded => "refunded",
            Notice::Retried => "retried",
            Notice::Discarded => "discarded",
            Notice::Recovered(_) => "recovered",
        }
    }

    /// Its query string (`notice=saved`; a recovery's with the pass's counts).
    pub fn query(&self) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        query.append_pair("notice", self.name());
        if let Notice::Recovered(report) = self {
            for (name, count) in REPORT_FIELDS.iter().zip(report_counts(report)) {
                query.append_pair(name, &count.to_string());
            }
        }
        query.finish()
    }

    pub fn from_query(text: &str) -> Option<Self> {
        let name = param(text, "notice")?;
        let simple = [
            Notice::Created,
            Notice::Saved,
            Notice::Retired,
            Notice::StockSet,
            Notice::StatusChanged,
            Notice::Refunded,
            Notice::Retried,
            Notice::Discarded,
        ];
        if let Some(notice) = simple.into_iter().find(|n| n.name() == name) {
            return Some(notice);
        }
        (name == "recovered").then(|| {
            let count = |field| param(text, field).and_then(|v| v.parse().ok()).unwrap_or(0);
            Notice::Recovered(RecoveryReport {
                republished: count("republished"),
                redelivered: count("redelivered"),
                acknowledged: count("acknowledged"),
                redriven: count("redriven"),
                resolved: count("resolved"),
            })
        })
    }

    pub fn message(&self) -> String {
        match self {
            Notice::Created => "Product created.".into(),
            Notice::Saved => "Changes saved.".into(),
            Notice::Retired => "Product withdrawn from sale.".into(),
            Notice::StockSet => "Stock level set.".into(),
            Notice::StatusChanged => "Shipment status changed.".into(),
            Notice::Refunded => "Payment refunded.".into(),
            Notice::Retried => "Dead letter retried; its status below says how it went.".into(),
            Notice::Discarded => "Dead letter discarded.".into(),
            Notice::Recovered(report) => {
                let counts: Vec<String> = REPORT_FIELDS
                    .iter()
                    .zip(report_counts(report))
                    .map(|(name, count)| format!("{count} {name}"))
                    .collect();
                format!("Recovery pass run: {}.", counts.join(", "))
            }
        }
    }
}

fn report_counts(report: &RecoveryReport) -> [u64; 5] {
    [
        report.republished,
        report.redelivered,
        report.acknowledged,
        report.redriven,
        report.resolved,
    ]
}

/// The longest filter text passed on to the API (its own limits are 254 and 64 characters):
/// a longer one is refused there, never forwarded at any length.
const MAX_FILTER_CHARS: usize = 256;

/// The audit trail's filters as the console's form sends them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub actor: String,
    pub action: String,
    /// As typed: `datetime-local` (`2026-11-29T08:00`) or RFC 3339.
    pub since: String,
    pub page: u32,
}

impl AuditFilter {
    pub fn from_query(text: &str) -> Self {
        let value = |name| {
            param(text, name)
                .map(|v| v.chars().take(MAX_FILTER_CHARS).collect())
                .unwrap_or_default()
        };
        Self {
            actor: value("actor"),
            action: value("action"),
            since: value("since"),
            page: crate::route::page_number(text),
        }
    }

    /// The query of `GET /api/v1/admin/audit`.
    pub fn api_query(&self) -> String {
        let since = rfc3339_since(&self.since);
        let (page, limit) = (self.page.to_string(), PAGE_SIZE.to_string());
        query([
            ("actor", self.actor.as_str()),
            ("action", self.action.as_str()),
            ("since", since.as_str()),
            ("page", page.as_str()),
            ("limit", limit.as_str()),
        ])
    }

    /// The console's link to page `page` under the same filters.
    pub fn link(&self, page: u32) -> String {
        let page = page.to_string();
        let query = query([
            ("actor", self.actor.as_str()),
            ("action", self.action.as_str()),
            ("since", self.since.as_str()),
            ("page", page.as_str()),
        ]);
        format!("/console/audit?{query}")
    }
}

/// A `datetime-local` value (`2026-11-29T08:00`, seconds optional, no zone) read as UTC in
/// RFC 3339; anything else as typed, for the API to judge.
pub fn rfc3339_since(text: &str) -> String {
    let local = |t: &str| {
        let bytes = t.as_bytes();
        (t.len() == 16 || t.len() == 19)
            && bytes.iter().enumerate().all(|(i, b)| match i {
                4 | 7 => *b == b'-',
                10 => *b == b'T',
                13 | 16 => *b == b':',
                _ => b.is_ascii_digit(),
            })
    };
    match text.len() {
        16 if local(text) => format!("{text}:00Z"),
        19 if local(text) => format!("{text}Z"),
        _ => text.to_owned(),
    }
}

/// Digits after the decimal point in `currency`'s prices, as [`Money::display`] shows them:
/// the form reads prices back in the shape the pages show.
fn decimals(currency: &str) -> usize {
    let shown = Money {
        amount: 0,
        currency: currency.to_owned(),
    }
    .display();
    shown
        .split_once('.')
        .map_or(0, |(_, rest)| rest.split(' ').next().unwrap_or("").len())
}

/// A price typed in major units (`12.50`, `12,5`, `12`) as minor units of `currency`; `None`
/// when it is not a plain non-negative amount with at most the currency's decimals.
pub fn parse_price(text: &str, currency: &str) -> Option<i64> {
    let text = text.trim();
    let digits = decimals(currency);
    let (whole, fraction) = match text.split_once(['.', ',']) {
        Some((whole, fraction)) if !fraction.is_empty() => (whole, fraction),
        Some(_) => return None,
        None => (text, ""),
    };
    let numeric = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
    // Twelve digits of major units is already past the catalog's largest price.
    if whole.is_empty() || whole.len() > 12 || !numeric(whole) {
        return None;
    }
    if fraction.len() > digits || !numeric(fraction) {
        return None;
    }
    let scale = 10_i64.checked_pow(u32::try_from(digits).ok()?)?;
    let fraction: i64 = format!("{fraction:0<digits$}").parse().unwrap_or(0);
    whole
        .parse::<i64>()
        .ok()?
        .checked_mul(scale)?
        .checked_add(fraction)
}

/// A price as the form shows it: [`Money::display`] without the currency.
pub fn price_input(price: &Money) -> String {
    let shown = price.display();
    shown
        .rsplit_once(' ')
        .map_or(shown.clone(), |(amount, _)| amount.to_owned())
}

/// What the product form holds, as typed (to show it again with what to correct).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductForm {
    pub sku: String,
    pub name: String,
    pub description: String,
    pub price: String,
    pub currency: String,
    /// Empty: no category.
    pub category_id: String,
    pub active: bool,
}

impl Default for ProductForm {
    fn default() -> Self {
        Self {
            sku: String::new(),
            name: String::new(),
            description: String::new(),
            price: String::new(),
            currency: "EUR".into(),
            category_id: String::new(),
            active: true,
        }
    }
}

impl ProductForm {
    pub fn of(product: &CatalogProduct) -> Self {
        Self {
            sku: product.sku.clone(),
            name: product.name.clone(),
            description: product.description.clone(),
            price: price_input(&product.price),
            currency: product.price.currency.clone(),
            category_id: product.category_id.clone().unwrap_or_default(),
            active: product.active,
        }
    }

    pub fn from_fields<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Self {
        let text = |name| get(name).unwrap_or_default().trim().to_owned();
        Self {
            sku: text("sku"),
            name: text("name"),
            description: text("description"),
            price: text("price"),
            currency: text("currency").to_ascii_uppercase(),
            category_id: text("category_id"),
            // An unchecked box sends nothing.
            active: get("active").is_some(),
        }
    }

    /// The body of `POST /products` or `PUT /products/{id}` under `sku`, or the fields to
    /// correct first (the API judges the rest).
    pub fn body(&self, sku: &str) -> Result<Value, Vec<(String, String)>> {
        let Some(amount) = parse_price(&self.price, &self.currency) else {
            return Err(vec![(
                "price".into(),
                "Give the price as an amount like 12.50 (no currency sign).".into(),
            )]);
        };
        let category = (!self.category_id.is_empty()).then_some(self.category_id.as_str());
        Ok(json!({
            "sku": sku,
            "name": self.name,
            "description": self.description,
            "price": { "amount": amount, "currency": self.currency },
            "category_id": category,
            "active": self.active,
        }))
    }
}

/// The API's field errors named as the product form names its fields.
pub fn product_field_errors(body: &Value) -> Vec<(String, String)> {
    crate::model::field_errors(body)
        .into_iter()
        .map(|(field, message)| {
            let field = match field.as_str() {
                "price.amount" => "price".to_owned(),
                "price.currency" => "currency".to_owned(),
                _ => field,
            };
            (field, message)
        })
        .collect()
}

/// The most stock a product may have on hand (the API's bound).
pub const MAX_ON_HAND: u64 = 1_000_000;

/// The body of `PUT /inventory/{id}` from the stock form: `on_hand`, and the low-stock
/// threshold when one was given (left out, the product keeps its own).
pub fn stock_body(on_hand: Option<&str>, threshold: Option<&str>) -> Result<Value, String> {
    let count = |text: &str| {
        text.trim()
            .parse::<u64>()
            .ok()
            .filter(|n| *n <= MAX_ON_HAND)
    };
    let on_hand = on_hand
        .and_then(count)
        .ok_or_else(|| format!("On hand must be a whole number from 0 to {MAX_ON_HAND}."))?;
    let threshold = match threshold.map(str::trim).filter(|t| !t.is_empty()) {
        None => Value::Null,
        Some(text) => count(text).map(Value::from).ok_or_else(|| {
            format!("The threshold must be a whole number from 0 to {MAX_ON_HAND}.")
        })?,
    };
    Ok(json!({ "on_hand": on_hand, "low_stock_threshold": threshold }))
}

#[cfg(test)]
mod tests;
