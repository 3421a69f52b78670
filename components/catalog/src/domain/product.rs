//! Products: validating and normalising an admin's product input into a [`ProductDraft`], and
//! the lower-cased text the list query's `q` searches.

use wasmshop_kit::FieldError;
use wasmshop_kit::ids::is_id;

use super::field_error;
use crate::bindings::wasmshop::catalog::types::ProductInput;

pub const MAX_NAME_CHARS: usize = 200;
pub const MAX_DESCRIPTION_CHARS: usize = 5000;
/// The dearest a product may be, in minor units (100,000,000.00 in a two-decimal currency):
/// orders multiply prices by up to 99 a line and 50 lines, which this keeps far inside `i64`.
pub const MAX_PRICE: i64 = 10_000_000_000;

/// A product input that passed validation, normalised (trimmed, SKU upper-cased).
#[derive(Debug, Clone, PartialEq)]
pub struct ProductDraft {
    pub sku: String,
    pub name: String,
    pub description: String,
    pub price_amount: i64,
    pub currency: String,
    pub category_id: Option<String>,
    /// `None` when the input left it out: true on create, unchanged on update.
    pub active: Option<bool>,
}

impl ProductDraft {
    /// The lower-cased text `q` searches: name, description and SKU.
    pub fn search_text(&self) -> String {
        search_text(&self.name, &self.description, &self.sku)
    }
}

pub fn search_text(name: &str, description: &str, sku: &str) -> String {
    format!("{name}\n{description}\n{sku}").to_lowercase()
}

/// `[A-Z0-9-]{3,32}`.
pub fn is_valid_sku(sku: &str) -> bool {
    (3..=32).contains(&sku.len())
        && sku
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-')
}

/// An ISO 4217-shaped code: three upper-case ASCII letters.
pub fn is_currency(code: &str) -> bool {
    code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase())
}

pub fn validate_product(input: &ProductInput) -> Result<ProductDraft, Vec<FieldError>> {
    let mut errors = Vec::new();
    let sku = input.sku.trim().to_ascii_uppercase();
    if !is_valid_sku(&sku) {
        errors.push(field_error(
            "sku",
            "must be 3 to 32 characters of A-Z, 0-9 and -",
        ));
    }
    let name = input.name.trim().to_owned();
    let name_chars = name.chars().count();
    if name_chars == 0 || name_chars > MAX_NAME_CHARS {
        errors.push(field_error(
            "name",
            format!("must be 1 to {MAX_NAME_CHARS} characters"),
        ));
    }
    let description = input.description.trim().to_owned();
    if description.chars().count() > MAX_DESCRIPTION_CHARS {
        errors.push(field_error(
            "description",
            format!("must be at most {MAX_DESCRIPTION_CHARS} characters"),
        ));
    }
    if !(0..=MAX_PRICE).contains(&input.price.amount) {
        errors.push(field_error(
            "price.amount",
            format!("must be 0 to {MAX_PRICE} minor units"),
        ));
    }
    if !is_currency(&input.price.currency) {
        errors.push(field_error(
            "price.currency",
            "must be an ISO 4217 code of three upper-case letters",
        ));
    }
    if let Some(category) = &input.category_id
        && !is_id(category)
    {
        errors.push(field_error("category_id", "must be a category id"));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(ProductDraft {
        sku,
        name,
        description,
        price_amount: input.price.amount,
        currency: input.price.currency.clone(),
        category_id: input.category_id.clone(),
        active: input.active,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::fields;
    use wasmshop_kit::Money;

    fn product_input() -> ProductInput {
        ProductInput {
            sku: "KB-001".into(),
            name: "Keyboard".into(),
            description: "A keyboard".into(),
            price: Money {
                amount: 4999,
                currency: "EUR".into(),
            },
            category_id: None,
            active: None,
        }
    }

    #[test]
    fn valid_product_is_normalised() {
        let mut input = product_input();
        input.sku = "  kb-001 ".into();
        input.name = "  Keyboard  ".into();
        let draft = validate_product(&input).expect("valid");
        assert_eq!(draft.sku, "KB-001");
        assert_eq!(draft.name, "Keyboard");
        assert_eq!(draft.active, None);
        assert_eq!(draft.search_text(), "keyboard\na keyboard\nkb-001");
    }

    #[test]
    fn sku_pattern() {
        for good in ["ABC", "KB-001", "A1-B2-C3", &"X".repeat(32)] {
            assert!(is_valid_sku(good), "{good}");
        }
        for bad in [
            "AB",
            "",
            "KB_001",
            "KB 001",
            "KÖ-1",
            &"X".repeat(33),
            "ab-c",
        ] {
            assert!(!is_valid_sku(bad), "{bad}");
        }
    }

    #[test]
    fn every_product_rule_reports_its_field() {
        let mut input = product_input();
        input.sku = "x".into();
        input.name = "   ".into();
        input.description = "d".repeat(MAX_DESCRIPTION_CHARS + 1);
        input.price = Money {
            amount: -1,
            currency: "eur".into(),
        };
        input.category_id = Some("electronics".into());
        let errors = validate_product(&input).expect_err("invalid");
        assert_eq!(
            fields(&errors),
            vec![
                "sku",
                "name",
                "description",
                "price.amount",
                "price.currency",
                "category_id"
            ]
        );
    }

    #[test]
    fn name_length_is_counted_in_characters() {
        let mut input = product_input();
        input.name = "é".repeat(MAX_NAME_CHARS);
        assert!(validate_product(&input).is_ok());
        input.name = "é".repeat(MAX_NAME_CHARS + 1);
        assert_eq!(
            fields(&validate_product(&input).expect_err("too long")),
            vec!["name"]
        );
    }

    #[test]
    fn zero_price_is_allowed_and_currency_must_be_three_letters() {
        let mut input = product_input();
        input.price.amount = 0;
        assert!(validate_product(&input).is_ok());
        for bad in ["EU", "EURO", "E1R", ""] {
            input.price.currency = bad.into();
            assert!(validate_product(&input).is_err(), "{bad}");
        }
    }

    #[test]
    fn prices_above_the_cap_are_refused() {
        let mut input = product_input();
        input.price.amount = MAX_PRICE;
        assert!(
            validate_product(&input).is_ok(),
            "the cap itself is a price"
        );
        for too_much in [MAX_PRICE + 1, 1 << 62, i64::MAX] {
            input.price.amount = too_much;
            assert_eq!(
                fields(&validate_product(&input).expect_err("above the cap")),
                vec!["price.amount"],
                "{too_much}"
            );
        }
    }
}
