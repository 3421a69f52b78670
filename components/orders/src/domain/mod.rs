//! Orders' rules, pure: carts, checkout input, totals, the order status machine, and (in
//! `saga`) the checkout saga's decisions.

pub mod saga;

use serde::Serialize;
use wasmshop_kit::FieldError;
use wasmshop_kit::ids::is_id;

pub use crate::bindings::wasmshop::orders::types::{CheckoutRequest, LineInput, OrderStatus};

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

// The contract's enum, not a copy: its JSON spelling (`as_str`, `parse`) is in `lib.rs`, the
// rules of the order's life are here.
impl OrderStatus {
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
                | (AwaitingShipment, Confirmed)
                | (CapturingPayment, Confirmed)
                | (Pending, Cancelled)
                | (Compensating, Cancelled | Failed)
        ) || (next == Compensating && !self.is_terminal() && self != Compensating)
    }
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

/// Why a given idempotency key is refused.
pub const IDEMPOTENCY_KEY_BOUNDS: &str = "the Idempotency-Key header must be 1 to 200 characters";

pub fn validate_idempotency_key(key: Option<&str>) -> Result<String, &'static str> {
    match key.map(str::trim) {
        Some(key) if !key.is_empty() && key.len() <= MAX_IDEMPOTENCY_KEY => Ok(key.to_owned()),
        Some(_) => Err(IDEMPOTENCY_KEY_BOUNDS),
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

/// A sum of money beyond what `i64` minor units hold: only reachable through prices stored
/// before the catalog capped them, and refused rather than wrapped (Wasm builds do not trap).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AmountOutOfRange;

pub fn line_total(unit_price: i64, quantity: u32) -> Result<i64, AmountOutOfRange> {
    unit_price
        .checked_mul(i64::from(quantity))
        .ok_or(AmountOutOfRange)
}

pub fn totals(lines: &[PricedLine], shipping: i64) -> Result<Totals, AmountOutOfRange> {
    let subtotal = lines
        .iter()
        .try_fold(0i64, |sum, l| sum.checked_add(l.line_total))
        .ok_or(AmountOutOfRange)?;
    Ok(Totals {
        subtotal,
        shipping,
        total: subtotal.checked_add(shipping).ok_or(AmountOutOfRange)?,
        weight_grams: total_weight(lines),
        items: lines
            .iter()
            .map(|l| l.quantity)
            .fold(0u32, u32::saturating_add),
    })
}

/// What the lines weigh together; saturating, as the quote only needs "very heavy".
pub fn total_weight(lines: &[PricedLine]) -> u32 {
    lines
        .iter()
        .map(|l| l.weight_grams.saturating_mul(l.quantity))
        .fold(0u32, u32::saturating_add)
}

pub fn price(
    product_id: &str,
    name: &str,
    unit_price: i64,
    quantity: u32,
    unit_weight: Option<u32>,
) -> Result<PricedLine, AmountOutOfRange> {
    Ok(PricedLine {
        product_id: product_id.to_owned(),
        name: name.to_owned(),
        unit_price,
        quantity,
        line_total: line_total(unit_price, quantity)?,
        weight_grams: unit_weight.unwrap_or(DEFAULT_UNIT_WEIGHT_GRAMS),
    })
}

/// The cart left once `ordered` was checked out of it: each ordered quantity comes off its
/// product's line, so what was added to the cart after checkout read it stays there.
pub fn cart_after_checkout(cart: &[(String, u32)], ordered: &[LineInput]) -> Vec<(String, u32)> {
    cart.iter()
        .filter_map(|(product_id, quantity)| {
            let taken = ordered
                .iter()
                .filter(|o| o.product_id == *product_id)
                .map(|o| o.quantity)
                .fold(0u32, u32::saturating_add);
            let left = quantity.saturating_sub(taken);
            (left > 0).then(|| (product_id.clone(), left))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use wasmshop_kit::payloads::Address;

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
            price(PRODUCT, "Mug", 1_250, 2, Some(300)).expect("fits"),
            price(OTHER, "Book", 3_999, 1, None).expect("fits"),
        ];
        assert_eq!(
            totals(&lines, 490),
            Ok(Totals {
                subtotal: 6_499,
                shipping: 490,
                total: 6_989,
                weight_grams: 1_100,
                items: 3
            })
        );
    }

    #[test]
    fn totals_that_overflow_are_refused_not_wrapped() {
        // 2^62 x 4 wraps to 0 where overflow is not checked.
        assert_eq!(
            price(PRODUCT, "Gold", 1 << 62, 4, None),
            Err(AmountOutOfRange)
        );
        assert_eq!(line_total(i64::MAX, 1), Ok(i64::MAX));
        let half = price(PRODUCT, "Half", i64::MAX / 2 + 1, 1, None).expect("fits");
        assert_eq!(
            totals(&[half.clone(), half.clone()], 0),
            Err(AmountOutOfRange),
            "subtotal"
        );
        let max = price(PRODUCT, "Max", i64::MAX, 1, None).expect("fits");
        assert_eq!(totals(&[max], 1), Err(AmountOutOfRange), "with shipping");
        assert_eq!(totals(&[half], 0).map(|t| t.total), Ok(i64::MAX / 2 + 1));
    }

    #[test]
    fn checkout_takes_only_the_ordered_lines_off_the_cart() {
        let ordered = [LineInput {
            product_id: PRODUCT.into(),
            quantity: 2,
        }];
        let now = [(PRODUCT.to_owned(), 2), (OTHER.to_owned(), 1)];
        assert_eq!(
            cart_after_checkout(&now, &ordered),
            vec![(OTHER.to_owned(), 1)],
            "a line added while checking out stays"
        );
        let raised = [(PRODUCT.to_owned(), 5)];
        assert_eq!(
            cart_after_checkout(&raised, &ordered),
            vec![(PRODUCT.to_owned(), 3)],
            "what was added to an ordered line stays"
        );
        let lowered = [(PRODUCT.to_owned(), 1)];
        assert_eq!(cart_after_checkout(&lowered, &ordered), vec![]);
        assert_eq!(cart_after_checkout(&[], &ordered), vec![]);
    }

    #[test]
    fn the_order_status_machine_rejects_illegal_moves() {
        use OrderStatus::*;
        let forward = [Pending, AwaitingPayment, AwaitingShipment, Confirmed];
        for pair in forward.windows(2) {
            assert!(pair[0].can_become(pair[1]), "{pair:?}");
            assert!(!pair[1].can_become(pair[0]), "no way back: {pair:?}");
        }
        // Orders an earlier version left capturing their payment still end confirmed; none
        // enters that status any more.
        assert!(CapturingPayment.can_become(Confirmed));
        assert!(!AwaitingShipment.can_become(CapturingPayment));
        let forward = [
            Pending,
            AwaitingPayment,
            AwaitingShipment,
            CapturingPayment,
            Confirmed,
        ];
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
