//! Shipping's rules, pure: rate quotes, deliverability, tracking numbers and the shipment
//! status machine.
//!
//! Rates (EUR cents, standard service): the base price covers the first kilogram, each further
//! started kilogram adds the per-kg price. Parcels weigh 1 g to 30 kg.
//!
//! | country | base | per started kg after the first | days |
//! | --- | --- | --- | --- |
//! | DE | 490 | 100 | 2 |
//! | AT, NL, BE | 690 | 150 | 3 |
//! | FR, PL, DK | 890 | 180 | 3 |
//! | ES, IT, SE | 990 | 200 | 4 |
//! | GB | 1490 | 300 | 5 |
//! | US, CA | 2490 | 500 | 7 |
//!
//! A deterministic test address: postal code `00000` is undeliverable (shipment creation
//! fails with `shipment.failed`).

use wasmshop_kit::FieldError;

use crate::bindings::wasmshop::shipping::types::ShipmentStatus;

pub const MAX_WEIGHT_GRAMS: u32 = 30_000;
pub const CURRENCY: &str = "EUR";
pub const UNDELIVERABLE_POSTAL_CODE: &str = "00000";

struct Rate {
    countries: &'static [&'static str],
    base: i64,
    per_kg: i64,
    days: u32,
}

const RATES: &[Rate] = &[
    Rate {
        countries: &["DE"],
        base: 490,
        per_kg: 100,
        days: 2,
    },
    Rate {
        countries: &["AT", "NL", "BE"],
        base: 690,
        per_kg: 150,
        days: 3,
    },
    Rate {
        countries: &["FR", "PL", "DK"],
        base: 890,
        per_kg: 180,
        days: 3,
    },
    Rate {
        countries: &["ES", "IT", "SE"],
        base: 990,
        per_kg: 200,
        days: 4,
    },
    Rate {
        countries: &["GB"],
        base: 1490,
        per_kg: 300,
        days: 5,
    },
    Rate {
        countries: &["US", "CA"],
        base: 2490,
        per_kg: 500,
        days: 7,
    },
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quote {
    pub country: String,
    pub weight_grams: u32,
    pub amount: i64,
    pub estimated_days: u32,
}

fn field(field: &str, message: &str) -> FieldError {
    FieldError {
        field: field.into(),
        message: message.into(),
    }
}

pub fn supported(country: &str) -> bool {
    RATES.iter().any(|r| r.countries.contains(&country))
}

pub fn quote(country: &str, weight_grams: u32) -> Result<Quote, Vec<FieldError>> {
    let mut errors = Vec::new();
    let rate = RATES.iter().find(|r| r.countries.contains(&country));
    if rate.is_none() {
        errors.push(field("country", "we do not ship to this country"));
    }
    if !(1..=MAX_WEIGHT_GRAMS).contains(&weight_grams) {
        errors.push(field("weight_grams", "must be 1 to 30000"));
    }
    match rate {
        Some(rate) if errors.is_empty() => {
            let started_kg = i64::from(weight_grams.div_ceil(1000));
            Ok(Quote {
                country: country.to_owned(),
                weight_grams,
                amount: rate.base + rate.per_kg * (started_kg - 1),
                estimated_days: rate.days,
            })
        }
        _ => Err(errors),
    }
}

/// Why a shipment to this address cannot be created, if it cannot.
pub fn undeliverable(country: &str, postal_code: &str) -> Option<String> {
    if !supported(country) {
        return Some(format!("we do not ship to {country}"));
    }
    if postal_code.trim() == UNDELIVERABLE_POSTAL_CODE {
        return Some("the address is undeliverable".into());
    }
    None
}

/// `WS` + 12 upper-case alphanumerics from a (random, UUIDv7) id: unique as the id is.
pub fn tracking_number(id: &str) -> String {
    let hex: String = id.chars().filter(char::is_ascii_hexdigit).collect();
    let tail = &hex[hex.len().saturating_sub(12)..];
    format!("WS{}", tail.to_ascii_uppercase())
}

// The statuses are the contract's (one vocabulary); which moves between them are allowed is
// this module's rule.
impl ShipmentStatus {
    /// Forward one step at a time; cancelling only before pickup.
    pub fn can_become(self, next: ShipmentStatus) -> bool {
        matches!(
            (self, next),
            (ShipmentStatus::Created, ShipmentStatus::Picked)
                | (ShipmentStatus::Picked, ShipmentStatus::InTransit)
                | (ShipmentStatus::InTransit, ShipmentStatus::Delivered)
                | (ShipmentStatus::Created, ShipmentStatus::Cancelled)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_charge_per_started_kilogram() {
        assert_eq!(quote("DE", 1).map(|q| q.amount), Ok(490));
        assert_eq!(quote("DE", 1000).map(|q| q.amount), Ok(490));
        assert_eq!(quote("DE", 1001).map(|q| q.amount), Ok(590));
        assert_eq!(
            quote("US", 30_000).map(|q| (q.amount, q.estimated_days)),
            Ok((2490 + 500 * 29, 7))
        );
        assert_eq!(quote("NL", 2500).map(|q| q.amount), Ok(690 + 2 * 150));
    }

    #[test]
    fn quotes_refuse_unknown_countries_and_bad_weights() {
        let fields = |r: Result<Quote, Vec<FieldError>>| -> Vec<String> {
            r.expect_err("refused")
                .into_iter()
                .map(|e| e.field)
                .collect()
        };
        assert_eq!(fields(quote("ZZ", 100)), ["country"]);
        assert_eq!(fields(quote("DE", 0)), ["weight_grams"]);
        assert_eq!(fields(quote("DE", 30_001)), ["weight_grams"]);
        assert_eq!(fields(quote("de", 0)), ["country", "weight_grams"]);
    }

    #[test]
    fn test_addresses_and_tracking_numbers() {
        assert_eq!(undeliverable("DE", "10115"), None);
        assert!(undeliverable("DE", "00000").is_some());
        assert!(undeliverable("ZZ", "10115").is_some());
        let a = tracking_number("0190d7a0-0000-7000-8000-0000000000ab");
        assert_eq!(a, "WS0000000000AB");
        assert_eq!(a.len(), 14);
        assert_ne!(a, tracking_number("0190d7a0-0000-7000-8000-0000000000ac"));
    }

    #[test]
    fn shipments_move_forward_one_step_and_cancel_only_before_pickup() {
        use ShipmentStatus::*;
        let all = [Created, Picked, InTransit, Delivered, Cancelled];
        let legal = [
            (Created, Picked),
            (Picked, InTransit),
            (InTransit, Delivered),
            (Created, Cancelled),
        ];
        for from in all {
            for to in all {
                assert_eq!(
                    from.can_become(to),
                    legal.contains(&(from, to)),
                    "{from:?} → {to:?}"
                );
            }
            assert_eq!(ShipmentStatus::parse(from.as_str()), Some(from));
        }
        assert_eq!(ShipmentStatus::parse("lost"), None);
    }
}
