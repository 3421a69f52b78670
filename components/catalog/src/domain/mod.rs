//! The catalog's pure rules, one concept a file: no Spin calls, unit-tested natively
//! (`cargo test -p catalog`).
//!
//! - `product`: validating and normalising product input, and the text `q` searches;
//! - `category`: validating category input and the case-insensitive key names are unique on;
//! - `listing`: parsing a product list query into filters, sort and page;
//! - `stock`: a product's stock level, its arithmetic and when it deserves a low-stock alert;
//! - `reservation`: validating a reservation, planning it all or nothing, and settling it.
//!
//! Callers name the items through this module (`domain::validate_product`): the files are how
//! the rules are kept, not a second way to reach them.

mod category;
mod listing;
mod product;
mod reservation;
mod stock;

/// Only the seed's tests ask for a category's key on its own.
#[cfg(test)]
pub use category::category_key;
pub use category::{CategoryDraft, validate_category};
pub use listing::{ListParams, list_params};
pub use product::{ProductDraft, search_text, validate_product};
pub use reservation::{
    Change, Refusal, Transition, commit_transition, plan_reservation, release_transition, settle,
    validate_reservation,
};
pub use stock::{DEFAULT_LOW_STOCK_THRESHOLD, Level, low_stock_alert};

use wasmshop_kit::FieldError;

/// Conflict codes carried by the WIT `conflict(string)` error; the HTTP adapter uses them as
/// the error body's `code`.
pub mod conflict {
    pub const SKU_TAKEN: &str = "sku_taken";
    pub const CATEGORY_TAKEN: &str = "category_taken";
    /// `on_hand` set below what is already reserved.
    pub const BELOW_RESERVED: &str = "conflict";
    /// Releasing a reservation that was already committed.
    pub const ALREADY_COMMITTED: &str = "reservation_committed";
    /// Committing a reservation that was already released.
    pub const ALREADY_RELEASED: &str = "reservation_released";
}

fn field_error(field: impl Into<String>, message: impl Into<String>) -> FieldError {
    FieldError {
        field: field.into(),
        message: message.into(),
    }
}

/// The names of the fields `errors` report, in order: what the rules' tests compare.
#[cfg(test)]
fn fields(errors: &[FieldError]) -> Vec<&str> {
    errors.iter().map(|e| e.field.as_str()).collect()
}
