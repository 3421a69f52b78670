//! Orders' rules, pure: carts, checkout input, totals, the order status machine, and (in
//! `saga`) the checkout saga's decisions.

pub mod saga;

use serde::{Deserialize, Serialize};
use wasmshop_kit::FieldError;
use wasmshop_kit::ids::is_id;
use wasmshop_kit::payloads::Address;

pub const MAX_QUANTITY: u32 = 99;
pub const MAX_LINES: usize = 50;
pub const MAX_IDEMPOTENCY_KEY: usize = 200;
/// Products without a catalog weight are shipped as this heavy, per unit.
pub const DEFAULT_UNIT_WEIGHT_GRAMS: u32 = 500;

fn field(field: impl Into<String>, message: impl Into<String>) -> FieldError {
    FieldError {
        field: field.into(),
        message: message.into(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderStatus {
    Pending,
    AwaitingPayment,
    AwaitingShipment,
    CapturingPayment,
    CommittingStock,
    Confirmed,
    Compensating,
    Cancelled,
    Failed,
}

impl OrderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Pending => "pending",
            OrderStatus::AwaitingPayment => "awaiting_payment",
            OrderStatus::AwaitingShipment => "awaiting_shipment",
            OrderStatus::CapturingPayment => "capturing_payment",
            OrderStatus::CommittingStock => "committing_stock",
            OrderStatus::Confirmed => "confirmed",
            OrderStatus::Compensating => "compensating",
            OrderStatus::Cancelled => "cancelled",
            OrderStatus::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        use OrderStatus::*;
        [
            Pending,
            AwaitingPayment,
            AwaitingShipment,
            CapturingPayment,
            CommittingStock,
            Confirmed,
            Compensating,
            Cancelled,
            Failed,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }

    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            OrderStatus::Confirmed | OrderStatus::Cancelled | OrderStatus::Failed
        )
    }

    /// The order's life: forward one step at a time to `confirmed`; from any non-terminal
    /// state into compensation, which ends `cancelled` or `failed`; straight to `cancelled`
    /// when no stock could be reserved (nothing to undo).
    pub fn can_become(self, next: OrderStatus) -> bool {
        use OrderStatus::*;
        matches!(
            (self, next),
            (Pending, AwaitingPayment)
                | (AwaitingPayment, AwaitingShipment)
                | (AwaitingShipment, CapturingPayment)
                | (CapturingPayment, CommittingStock)
                | (CommittingStock, Confirmed)
                | (Pending, Cancelled)
                | (Compensating, Cancelled | Failed)
        ) || (next == Compensating && !self.is_terminal() && self != Compensating)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineInput {
    pub product_id: String,
    pub quantity: u32,
}

/// `POST /orders`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckoutRequest {
    pub shipping_address: Address,
    pub payment_token: String,
    #[serde(default)]
    pub lines: Option<Vec<LineInput>>,
}

pub fn validate_quantity(quantity: u32, field_name: &str) -> Result<(), Vec<FieldError>> {
    if (1..=MAX_QUANTITY).contains(&quantity) {
        Ok(())
    } else {
        Err(vec![field(
            field_name,
            format!("must be 1 to {MAX_QUANTITY}"),
        )])
    }
}

/// The quantity a cart line has after adding `added` to `existing` (merging lines).
pub fn merged_quantity(existing: u32, added: u32) -> Result<u32, Vec<FieldError>> {
    validate_quantity(added, "quantity")?;
    let total = existing.saturating_add(added);
    if total > MAX_QUANTITY {
        return Err(vec![field(
            "quantity",
            format!("the cart would hold {total}; at most {MAX_QUANTITY} of one product"),
        )]);
    }
    Ok(total)
}

/// Checkout input checks that need no other service; lines merged by product.
pub fn validate_checkout(
    request: &CheckoutRequest,
) -> Result<Option<Vec<LineInput>>, Vec<FieldError>> {
    let mut errors = Vec::new();
    let address = &request.shipping_address;
    for (name, value) in [
        ("shipping_address.name", &address.name),
        ("shipping_address.line1", &address.line1),
        ("shipping_address.city", &address.city),
        ("shipping_address.postal_code", &address.postal_code),
    ] {
        let length = value.trim().chars().count();
        if length == 0 || length > 200 {
            errors.push(field(name, "must be 1 to 200 characters"));
        }
    }
    if address.country.len() != 2 || !address.country.bytes().all(|b| b.is_ascii_uppercase()) {
        errors.push(field(
            "shipping_address.country",
            "must be an ISO 3166-1 alpha-2 code, e.g. DE",
        ));
    }
    let token = request.payment_token.trim();
    if token.is_empty() || token.len() > 100 {
        errors.push(field("payment_token", "must be 1 to 100 characters"));
    }
    let lines = request.lines.as_ref().map(|lines| {
        if lines.is_empty() || lines.len() > MAX_LINES {
            errors.push(field("lines", format!("must hold 1 to {MAX_LINES} lines")));
        }
        let mut merged: Vec<LineInput> = Vec::new();
        for (i, line) in lines.iter().enumerate() {
            if !is_id(&line.product_id) {
                errors.push(field(
                    format!("lines[{i}].product_id"),
                    "must be a product id",
                ));
            }
            if let Err(e) = validate_quantity(line.quantity, &format!("lines[{i}].quantity")) {
                errors.extend(e);
            }
            match merged.iter_mut().find(|m| m.product_id == line.product_id) {
                Some(existing) => {
                    existing.quantity = existing.quantity.saturating_add(line.quantity)
                }
                None => merged.push(line.clone()),
            }
        }
        if merged.iter().any(|m| m.quantity > MAX_QUANTITY) && errors.is_empty() {
            errors.push(field(
                "lines",
                format!("at most {MAX_QUANTITY} of one product"),
            ));
        }
        merged
    });
    if errors.is_empty() {
        Ok(lines)
    } else {
        Err(errors)
    }
}

pub fn validate_idempotency_key(key: Option<&str>) -> Result<String, &'static str> {
    match key.map(str::trim) {
        Some(key) if !key.is_empty() && key.len() <= MAX_IDEMPOTENCY_KEY => Ok(key.to_owned()),
        Some(_) => Err("the Idempotency-Key header must be 1 to 200 characters"),
        None => Err("POST /orders needs an Idempotency-Key header"),
    }
}

/// The request as compared for idempotency: its JSON with keys sorted, whitespace gone.
pub fn canonical(request: &CheckoutRequest) -> String {
    serde_json::to_value(request)
        .map(|value| value.to_string())
        .unwrap_or_default()
}

/// A priced line of an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PricedLine {
    pub product_id: String,
    pub name: String,
    pub unit_price: i64,
    pub quantity: u32,
    pub line_total: i64,
    pub weight_grams: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Totals {
    pub subtotal: i64,
    pub shipping: i64,
    pub total: i64,
    pub weight_grams: u32,
    pub items: u32,
}

pub fn totals(lines: &[PricedLine], shipping: i64) -> Totals {
    let subtotal = lines.iter().map(|l| l.line_total).sum();
    Totals {
        subtotal,
        shipping,
        total: subtotal + shipping,
        weight_grams: lines
            .iter()
            .map(|l| l.weight_grams.saturating_mul(l.quantity))
            .fold(0u32, u32::saturating_add),
        items: lines.iter().map(|l| l.quantity).sum(),
    }
}

pub fn price(
    product_id: &str,
    name: &str,
    unit_price: i64,
    quantity: u32,
    unit_weight: Option<u32>,
) -> PricedLine {
    PricedLine {
        product_id: product_id.to_owned(),
        name: name.to_owned(),
        unit_price,
        quantity,
        line_total: unit_price * i64::from(quantity),
        weight_grams: unit_weight.unwrap_or(DEFAULT_UNIT_WEIGHT_GRAMS),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRODUCT: &str = "0190d7a0-0000-7000-8000-000000000001";
    const OTHER: &str = "0190d7a0-0000-7000-8000-000000000002";

    fn address() -> Address {
        Address {
            name: "Ada".into(),
            line1: "1 Way".into(),
            line2: None,
            city: "Berlin".into(),
            postal_code: "10115".into(),
            country: "DE".into(),
        }
    }

    fn request(lines: Option<Vec<(&str, u32)>>) -> CheckoutRequest {
        CheckoutRequest {
            shipping_address: address(),
            payment_token: "tok_visa".into(),
            lines: lines.map(|l| {
                l.into_iter()
                    .map(|(p, q)| LineInput {
                        product_id: p.into(),
                        quantity: q,
                    })
                    .collect()
            }),
        }
    }

    fn fields(errors: Vec<FieldError>) -> Vec<String> {
        errors.into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn cart_lines_merge_within_bounds() {
        assert_eq!(merged_quantity(0, 1), Ok(1));
        assert_eq!(merged_quantity(40, 59), Ok(99));
        assert_eq!(
            fields(merged_quantity(40, 60).expect_err("100")),
            ["quantity"]
        );
        assert_eq!(
            fields(merged_quantity(0, 0).expect_err("zero")),
            ["quantity"]
        );
        assert_eq!(
            fields(merged_quantity(0, 100).expect_err("too many")),
            ["quantity"]
        );
    }

    #[test]
    fn checkout_input_is_checked_and_lines_merged() {
        let lines = validate_checkout(&request(Some(vec![(PRODUCT, 2), (OTHER, 1), (PRODUCT, 3)])))
            .expect("valid")
            .expect("lines");
        assert_eq!(
            lines,
            vec![
                LineInput {
                    product_id: PRODUCT.into(),
                    quantity: 5
                },
                LineInput {
                    product_id: OTHER.into(),
                    quantity: 1
                }
            ]
        );
        assert_eq!(validate_checkout(&request(None)), Ok(None));
        assert_eq!(
            fields(validate_checkout(&request(Some(vec![]))).expect_err("empty")),
            ["lines"]
        );
        assert_eq!(
            fields(validate_checkout(&request(Some(vec![("nope", 0)]))).expect_err("bad")),
            ["lines[0].product_id", "lines[0].quantity"]
        );
        let mut bad = request(None);
        bad.shipping_address.country = "Germany".into();
        bad.shipping_address.city = " ".into();
        bad.payment_token = String::new();
        assert_eq!(
            fields(validate_checkout(&bad).expect_err("bad address")),
            [
                "shipping_address.city",
                "shipping_address.country",
                "payment_token"
            ]
        );
        assert_eq!(
            fields(
                validate_checkout(&request(Some(vec![(PRODUCT, 60), (PRODUCT, 60)])))
                    .expect_err("merged too many")
            ),
            ["lines"]
        );
    }

    #[test]
    fn idempotency_compares_the_canonical_request() {
        assert_eq!(canonical(&request(None)), canonical(&request(None)));
        assert_ne!(
            canonical(&request(None)),
            canonical(&request(Some(vec![(PRODUCT, 1)])))
        );
        assert_eq!(validate_idempotency_key(Some(" k-1 ")), Ok("k-1".into()));
        assert!(validate_idempotency_key(None).is_err());
        assert!(validate_idempotency_key(Some("")).is_err());
        assert!(validate_idempotency_key(Some(&"x".repeat(201))).is_err());
    }

    #[test]
    fn totals_add_lines_and_shipping() {
        let lines = [
            price(PRODUCT, "Mug", 1_250, 2, Some(300)),
            price(OTHER, "Book", 3_999, 1, None),
        ];
        assert_eq!(
            totals(&lines, 490),
            Totals {
                subtotal: 6_499,
                shipping: 490,
                total: 6_989,
                weight_grams: 1_100,
                items: 3
            }
        );
    }

    #[test]
    fn the_order_status_machine_rejects_illegal_moves() {
        use OrderStatus::*;
        let forward = [
            Pending,
            AwaitingPayment,
            AwaitingShipment,
            CapturingPayment,
            CommittingStock,
            Confirmed,
        ];
        for pair in forward.windows(2) {
            assert!(pair[0].can_become(pair[1]), "{pair:?}");
            assert!(!pair[1].can_become(pair[0]), "no way back: {pair:?}");
        }
        assert!(Pending.can_become(Cancelled));
        assert!(
            !AwaitingPayment.can_become(Cancelled),
            "cancelling means compensating first"
        );
        assert!(AwaitingShipment.can_become(Compensating));
        assert!(Compensating.can_become(Failed) && Compensating.can_become(Cancelled));
        assert!(!Compensating.can_become(Confirmed));
        for terminal in [Confirmed, Cancelled, Failed] {
            assert!(terminal.is_terminal());
            for next in forward.into_iter().chain([Compensating, Cancelled, Failed]) {
                assert!(!terminal.can_become(next), "{terminal:?} → {next:?}");
            }
        }
        assert!(!Pending.can_become(Confirmed));
        for status in forward.into_iter().chain([Compensating, Cancelled, Failed]) {
            assert_eq!(OrderStatus::parse(status.as_str()), Some(status));
        }
    }
}
