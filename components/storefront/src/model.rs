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

#[derive(Debug, Clone, Deserialize)]
pub struct ProductPage {
    pub items: Vec<Product>,
    pub total: u64,
}

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
}
