//! The catalog's pure rules: input validation and normalisation, list-query parsing, stock
//! arithmetic, reservation planning and status transitions. No Spin calls, unit-tested natively.

use std::collections::BTreeMap;

use wasmshop_kit::FieldError;
use wasmshop_kit::ids::is_id;

use crate::bindings::wasmshop::catalog::types::{
    CategoryInput, ProductInput, ProductQuery, ProductSort, ReservationLine, ReservationStatus,
};

pub const DEFAULT_LIMIT: u32 = 20;
pub const MAX_LIMIT: u32 = 100;
pub const DEFAULT_LOW_STOCK_THRESHOLD: u32 = 5;
pub const MAX_NAME_CHARS: usize = 200;
pub const MAX_DESCRIPTION_CHARS: usize = 5000;
pub const MAX_CATEGORY_NAME_CHARS: usize = 100;
pub const MAX_CATEGORY_DESCRIPTION_CHARS: usize = 1000;
pub const MAX_SEARCH_CHARS: usize = 100;
pub const MAX_RESERVATION_LINES: usize = 100;
/// The dearest a product may be, in minor units (100,000,000.00 in a two-decimal currency):
/// orders multiply prices by up to 99 a line and 50 lines, which this keeps far inside `i64`.
pub const MAX_PRICE: i64 = 10_000_000_000;

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

// ---------------------------------------------------------------------------------------------
// Products and categories
// ---------------------------------------------------------------------------------------------

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

#[derive(Debug, Clone, PartialEq)]
pub struct CategoryDraft {
    pub name: String,
    /// The case-insensitive key names are unique on.
    pub key: String,
    pub description: Option<String>,
}

pub fn category_key(name: &str) -> String {
    name.trim().to_lowercase()
}

pub fn validate_category(input: &CategoryInput) -> Result<CategoryDraft, Vec<FieldError>> {
    let mut errors = Vec::new();
    let name = input.name.trim().to_owned();
    let name_chars = name.chars().count();
    if name_chars == 0 || name_chars > MAX_CATEGORY_NAME_CHARS {
        errors.push(field_error(
            "name",
            format!("must be 1 to {MAX_CATEGORY_NAME_CHARS} characters"),
        ));
    }
    let description = input
        .description
        .as_deref()
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(str::to_owned);
    if description
        .as_deref()
        .is_some_and(|d| d.chars().count() > MAX_CATEGORY_DESCRIPTION_CHARS)
    {
        errors.push(field_error(
            "description",
            format!("must be at most {MAX_CATEGORY_DESCRIPTION_CHARS} characters"),
        ));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(CategoryDraft {
        key: category_key(&name),
        name,
        description,
    })
}

// ---------------------------------------------------------------------------------------------
// Listing
// ---------------------------------------------------------------------------------------------

/// A validated `product-query`.
#[derive(Debug, Clone, PartialEq)]
pub struct ListParams {
    pub category: Option<String>,
    /// A `LIKE` pattern (with `\` as escape) over the lower-cased search text.
    pub pattern: Option<String>,
    pub min_price: Option<i64>,
    pub max_price: Option<i64>,
    pub sort: ProductSort,
    pub page: u32,
    pub limit: u32,
}

impl ListParams {
    pub fn offset(&self) -> i64 {
        (i64::from(self.page) - 1) * i64::from(self.limit)
    }

    /// `ORDER BY` for the sort key, always ending with the id so pages are stable.
    pub fn order_by(&self) -> &'static str {
        order_by(self.sort)
    }
}

pub fn order_by(sort: ProductSort) -> &'static str {
    match sort {
        ProductSort::NameAsc => "name COLLATE NOCASE ASC, id ASC",
        ProductSort::NameDesc => "name COLLATE NOCASE DESC, id DESC",
        ProductSort::PriceAsc => "price_amount ASC, id ASC",
        ProductSort::PriceDesc => "price_amount DESC, id DESC",
        ProductSort::Newest => "created_at DESC, id DESC",
    }
}

/// Escapes `\`, `%` and `_` and wraps in `%`: a case-insensitive substring match.
pub fn like_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.to_lowercase().chars() {
        if matches!(c, '\\' | '%' | '_') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

pub fn list_params(query: &ProductQuery) -> Result<ListParams, Vec<FieldError>> {
    let mut errors = Vec::new();
    let page = query.page.unwrap_or(1);
    if page == 0 {
        errors.push(field_error("page", "must be at least 1"));
    }
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_LIMIT {
        errors.push(field_error(
            "limit",
            format!("must be between 1 and {MAX_LIMIT}"),
        ));
    }
    let category = query
        .category
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty());
    if category.is_some_and(|c| !is_id(c)) {
        errors.push(field_error("category", "must be a category id"));
    }
    let q = query.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
    if q.is_some_and(|q| q.chars().count() > MAX_SEARCH_CHARS) {
        errors.push(field_error(
            "q",
            format!("must be at most {MAX_SEARCH_CHARS} characters"),
        ));
    }
    for (name, value) in [
        ("min_price", query.min_price),
        ("max_price", query.max_price),
    ] {
        if value.is_some_and(|v| v < 0) {
            errors.push(field_error(name, "must not be negative"));
        }
    }
    if let (Some(min), Some(max)) = (query.min_price, query.max_price)
        && min > max
    {
        errors.push(field_error("min_price", "must not exceed max_price"));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(ListParams {
        category: category.map(str::to_owned),
        pattern: q.map(like_pattern),
        min_price: query.min_price,
        max_price: query.max_price,
        sort: query.sort.unwrap_or(ProductSort::Newest),
        page,
        limit,
    })
}

// ---------------------------------------------------------------------------------------------
// Stock
// ---------------------------------------------------------------------------------------------

/// A product's stock. Invariant: `reserved <= on_hand`, so `available` is never negative.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Level {
    pub on_hand: u32,
    pub reserved: u32,
    pub threshold: u32,
}

impl Level {
    pub fn new(on_hand: u32, reserved: u32, threshold: u32) -> Option<Self> {
        (reserved <= on_hand).then_some(Self {
            on_hand,
            reserved,
            threshold,
        })
    }

    pub fn available(&self) -> u32 {
        self.on_hand - self.reserved
    }

    pub fn is_low(&self) -> bool {
        self.available() < self.threshold
    }

    /// `quantity` more reserved, or `None` when fewer are available.
    pub fn reserve(&self, quantity: u32) -> Option<Self> {
        (quantity <= self.available()).then_some(Self {
            reserved: self.reserved + quantity,
            ..*self
        })
    }

    /// `quantity` reserved units back to available; `None` if fewer are reserved.
    pub fn release(&self, quantity: u32) -> Option<Self> {
        Some(Self {
            reserved: self.reserved.checked_sub(quantity)?,
            ..*self
        })
    }

    /// `quantity` reserved units leave the warehouse; `None` if fewer are reserved.
    pub fn commit(&self, quantity: u32) -> Option<Self> {
        Some(Self {
            on_hand: self.on_hand.checked_sub(quantity)?,
            reserved: self.reserved.checked_sub(quantity)?,
            ..*self
        })
    }

    /// An admin's stock count; `None` when it is below what is already reserved.
    pub fn set(&self, on_hand: u32, threshold: Option<u32>) -> Option<Self> {
        Self::new(on_hand, self.reserved, threshold.unwrap_or(self.threshold))
    }
}

/// Whether a change from `before` to `after` deserves a `stock.low` event: available is below
/// the threshold afterwards, and it either just crossed it or dropped further. Repeats are thus
/// bounded by the threshold per restock, and a change that leaves available as it was (commit)
/// stays quiet.
pub fn low_stock_alert(before: &Level, after: &Level) -> bool {
    after.is_low() && (!before.is_low() || after.available() < before.available())
}

// ---------------------------------------------------------------------------------------------
// Reservations
// ---------------------------------------------------------------------------------------------

/// Validates a reservation request and merges lines naming the same product (first position
/// kept). The order id and every product id must be UUIDs, every quantity at least 1.
pub fn validate_reservation(
    order_id: &str,
    lines: &[ReservationLine],
) -> Result<Vec<ReservationLine>, Vec<FieldError>> {
    let mut errors = Vec::new();
    if !is_id(order_id) {
        errors.push(field_error("order_id", "must be an order id"));
    }
    if lines.is_empty() {
        errors.push(field_error("lines", "must not be empty"));
    }
    if lines.len() > MAX_RESERVATION_LINES {
        errors.push(field_error(
            "lines",
            format!("must have at most {MAX_RESERVATION_LINES} lines"),
        ));
    }
    let mut merged: Vec<ReservationLine> = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        let mut valid = true;
        if !is_id(&line.product_id) {
            errors.push(field_error(
                format!("lines[{i}].product_id"),
                "must be a product id",
            ));
            valid = false;
        }
        if line.quantity == 0 {
            errors.push(field_error(
                format!("lines[{i}].quantity"),
                "must be at least 1",
            ));
            valid = false;
        }
        if !valid {
            continue;
        }
        match merged.iter_mut().find(|m| m.product_id == line.product_id) {
            Some(existing) => match existing.quantity.checked_add(line.quantity) {
                Some(total) => existing.quantity = total,
                None => errors.push(field_error(
                    format!("lines[{i}].quantity"),
                    "total quantity for this product is too large",
                )),
            },
            None => merged.push(line.clone()),
        }
    }
    if errors.is_empty() {
        Ok(merged)
    } else {
        Err(errors)
    }
}

/// Why a reservation cannot be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Products that do not exist or are inactive.
    Unavailable(Vec<String>),
    /// Products whose available stock is below the requested quantity.
    Short(Vec<String>),
    /// The order's reservation was released (or cancelled before it arrived): never again.
    Released,
}

impl Refusal {
    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::Unavailable(_) => "product_unavailable",
            Refusal::Short(_) => "insufficient_stock",
            Refusal::Released => "reservation_released",
        }
    }

    pub fn products(&self) -> &[String] {
        match self {
            Refusal::Unavailable(ids) | Refusal::Short(ids) => ids,
            Refusal::Released => &[],
        }
    }
}

/// One product's change in a reservation plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub product_id: String,
    pub before: Level,
    pub after: Level,
}

/// All or nothing: the new level of every line's product, or every product that is
/// unavailable (absent from `levels`, which holds only active products) or short.
pub fn plan_reservation(
    lines: &[ReservationLine],
    levels: &BTreeMap<String, Level>,
) -> Result<Vec<Change>, Refusal> {
    let unavailable: Vec<String> = lines
        .iter()
        .filter(|l| !levels.contains_key(&l.product_id))
        .map(|l| l.product_id.clone())
        .collect();
    if !unavailable.is_empty() {
        return Err(Refusal::Unavailable(unavailable));
    }
    let mut changes = Vec::with_capacity(lines.len());
    let mut short = Vec::new();
    for line in lines {
        let before = levels[&line.product_id];
        match before.reserve(line.quantity) {
            Some(after) => changes.push(Change {
                product_id: line.product_id.clone(),
                before,
                after,
            }),
            None => short.push(line.product_id.clone()),
        }
    }
    if short.is_empty() {
        Ok(changes)
    } else {
        Err(Refusal::Short(short))
    }
}

/// What a release or commit does to a reservation in `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// Apply the stock change and move to this status.
    To(ReservationStatus),
    /// Already there: nothing changes (idempotent repeat).
    Unchanged,
}

/// Releasing: reserved → released; released again changes nothing; committed is a conflict.
pub fn release_transition(status: ReservationStatus) -> Result<Transition, &'static str> {
    match status {
        ReservationStatus::Reserved => Ok(Transition::To(ReservationStatus::Released)),
        ReservationStatus::Released => Ok(Transition::Unchanged),
        ReservationStatus::Committed => Err(conflict::ALREADY_COMMITTED),
    }
}

/// Committing: reserved → committed; committed again changes nothing; released is a conflict.
pub fn commit_transition(status: ReservationStatus) -> Result<Transition, &'static str> {
    match status {
        ReservationStatus::Reserved => Ok(Transition::To(ReservationStatus::Committed)),
        ReservationStatus::Committed => Ok(Transition::Unchanged),
        ReservationStatus::Released => Err(conflict::ALREADY_RELEASED),
    }
}

/// The stock changes of moving a reservation's `lines` to `to` (released or committed), or the
/// first product whose stock does not hold the reserved units (inconsistent data).
pub fn settle(
    lines: &[ReservationLine],
    levels: &BTreeMap<String, Level>,
    to: ReservationStatus,
) -> Result<Vec<Change>, String> {
    lines
        .iter()
        .map(|line| {
            let before = *levels
                .get(&line.product_id)
                .ok_or_else(|| line.product_id.clone())?;
            let after = match to {
                ReservationStatus::Released => before.release(line.quantity),
                ReservationStatus::Committed => before.commit(line.quantity),
                ReservationStatus::Reserved => before.reserve(line.quantity),
            }
            .ok_or_else(|| line.product_id.clone())?;
            Ok(Change {
                product_id: line.product_id.clone(),
                before,
                after,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmshop_kit::Money;
    use wasmshop_kit::ids::new_id;

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

    fn fields(errors: &[FieldError]) -> Vec<&str> {
        errors.iter().map(|e| e.field.as_str()).collect()
    }

    fn line(product_id: &str, quantity: u32) -> ReservationLine {
        ReservationLine {
            product_id: product_id.into(),
            quantity,
        }
    }

    fn level(on_hand: u32, reserved: u32) -> Level {
        Level::new(on_hand, reserved, DEFAULT_LOW_STOCK_THRESHOLD).expect("valid level")
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

    #[test]
    fn category_names_are_trimmed_and_keyed_case_insensitively() {
        let draft = validate_category(&CategoryInput {
            name: "  Home & Kitchen ".into(),
            description: Some("   ".into()),
        })
        .expect("valid");
        assert_eq!(draft.name, "Home & Kitchen");
        assert_eq!(draft.key, "home & kitchen");
        assert_eq!(draft.description, None);
        assert_eq!(category_key("HOME & kitchen"), draft.key);
        let errors = validate_category(&CategoryInput {
            name: "".into(),
            description: Some("x".repeat(MAX_CATEGORY_DESCRIPTION_CHARS + 1)),
        })
        .expect_err("invalid");
        assert_eq!(fields(&errors), vec!["name", "description"]);
    }

    fn query() -> ProductQuery {
        ProductQuery {
            category: None,
            q: None,
            min_price: None,
            max_price: None,
            sort: None,
            page: None,
            limit: None,
        }
    }

    #[test]
    fn list_defaults() {
        let params = list_params(&query()).expect("valid");
        assert_eq!(params.page, 1);
        assert_eq!(params.limit, DEFAULT_LIMIT);
        assert_eq!(params.sort, ProductSort::Newest);
        assert_eq!(params.offset(), 0);
        assert_eq!(params.pattern, None);
    }

    #[test]
    fn limit_bounds_and_page_offsets() {
        for (limit, ok) in [
            (0, false),
            (1, true),
            (100, true),
            (101, false),
            (1000, false),
        ] {
            let mut q = query();
            q.limit = Some(limit);
            assert_eq!(list_params(&q).is_ok(), ok, "limit {limit}");
        }
        let mut q = query();
        q.page = Some(0);
        assert_eq!(fields(&list_params(&q).expect_err("page 0")), vec!["page"]);
        q.page = Some(3);
        q.limit = Some(25);
        assert_eq!(list_params(&q).expect("valid").offset(), 50);
        q.page = Some(u32::MAX);
        q.limit = Some(MAX_LIMIT);
        assert_eq!(
            list_params(&q).expect("valid").offset(),
            (i64::from(u32::MAX) - 1) * 100
        );
    }

    #[test]
    fn price_range_and_category_are_checked() {
        let mut q = query();
        q.min_price = Some(500);
        q.max_price = Some(100);
        assert_eq!(
            fields(&list_params(&q).expect_err("inverted")),
            vec!["min_price"]
        );
        q.min_price = Some(-1);
        q.max_price = None;
        assert_eq!(
            fields(&list_params(&q).expect_err("negative")),
            vec!["min_price"]
        );
        let mut q = query();
        q.category = Some("shoes".into());
        assert_eq!(
            fields(&list_params(&q).expect_err("not an id")),
            vec!["category"]
        );
        q.category = Some(new_id());
        assert!(list_params(&q).is_ok());
        q.category = Some("  ".into());
        assert_eq!(list_params(&q).expect("blank is none").category, None);
    }

    #[test]
    fn every_sort_orders_by_its_key_then_id() {
        for sort in [
            ProductSort::NameAsc,
            ProductSort::NameDesc,
            ProductSort::PriceAsc,
            ProductSort::PriceDesc,
            ProductSort::Newest,
        ] {
            assert!(order_by(sort).ends_with(", id ASC") || order_by(sort).ends_with(", id DESC"));
        }
        assert!(order_by(ProductSort::PriceDesc).starts_with("price_amount DESC"));
        assert_eq!(ProductSort::parse("price-asc"), Some(ProductSort::PriceAsc));
        assert_eq!(ProductSort::parse("cheapest"), None);
    }

    #[test]
    fn search_patterns_escape_like_wildcards() {
        assert_eq!(like_pattern("Red Shoe"), "%red shoe%");
        assert_eq!(like_pattern("50%_off\\"), "%50\\%\\_off\\\\%");
        assert_eq!(like_pattern("ÉCLAIR"), "%éclair%");
        let mut q = query();
        q.q = Some("  ".into());
        assert_eq!(list_params(&q).expect("blank").pattern, None);
        q.q = Some("x".repeat(MAX_SEARCH_CHARS + 1));
        assert_eq!(fields(&list_params(&q).expect_err("long")), vec!["q"]);
    }

    #[test]
    fn stock_arithmetic_keeps_available_non_negative() {
        let start = level(10, 0);
        assert_eq!(start.available(), 10);
        let reserved = start.reserve(10).expect("exactly available");
        assert_eq!((reserved.reserved, reserved.available()), (10, 0));
        assert_eq!(reserved.reserve(1), None);
        assert_eq!(level(10, 4).reserve(7), None);
        let released = level(10, 4).release(3).expect("held");
        assert_eq!((released.on_hand, released.reserved), (10, 1));
        assert_eq!(level(10, 4).release(5), None);
        let committed = level(10, 4).commit(4).expect("held");
        assert_eq!(
            (committed.on_hand, committed.reserved, committed.available()),
            (6, 0, 6)
        );
        assert_eq!(level(10, 4).commit(5), None);
        assert_eq!(Level::new(3, 4, 5), None);
    }

    #[test]
    fn setting_stock_below_reserved_is_refused() {
        let current = level(10, 6);
        assert_eq!(current.set(5, None), None);
        let set = current.set(6, Some(2)).expect("equal to reserved");
        assert_eq!((set.on_hand, set.available(), set.threshold), (6, 0, 2));
        assert_eq!(current.set(20, None).expect("more").threshold, 5);
    }

    #[test]
    fn low_stock_is_signalled_on_crossing_and_further_drops() {
        // threshold 5
        assert!(!low_stock_alert(&level(20, 0), &level(20, 10)));
        assert!(
            !low_stock_alert(&level(20, 0), &level(20, 15)),
            "5 is not below 5"
        );
        assert!(low_stock_alert(&level(20, 15), &level(20, 16)), "crossed");
        assert!(
            low_stock_alert(&level(20, 16), &level(20, 20)),
            "dropped further"
        );
        assert!(
            !low_stock_alert(&level(20, 16), &level(16, 12)),
            "commit leaves available as it was"
        );
        assert!(
            !low_stock_alert(&level(20, 18), &level(20, 16)),
            "released: rising"
        );
        let raised = Level::new(20, 0, 50).expect("valid");
        assert!(
            low_stock_alert(&level(20, 0), &raised),
            "threshold raised above available"
        );
    }

    #[test]
    fn duplicate_lines_are_merged_in_first_position() {
        let (a, b) = (new_id(), new_id());
        let merged = validate_reservation(&new_id(), &[line(&a, 2), line(&b, 1), line(&a, 3)])
            .expect("valid");
        assert_eq!(merged, vec![line(&a, 5), line(&b, 1)]);
    }

    #[test]
    fn reservation_input_errors_name_each_line() {
        let a = new_id();
        let errors =
            validate_reservation("order-1", &[line(&a, 0), line("p", 1)]).expect_err("invalid");
        assert_eq!(
            fields(&errors),
            vec!["order_id", "lines[0].quantity", "lines[1].product_id"]
        );
        assert_eq!(
            fields(&validate_reservation(&new_id(), &[]).expect_err("empty")),
            vec!["lines"]
        );
        let too_many: Vec<_> = (0..=MAX_RESERVATION_LINES).map(|_| line(&a, 1)).collect();
        assert_eq!(
            fields(&validate_reservation(&new_id(), &too_many).expect_err("too many")),
            vec!["lines"]
        );
        let overflow = validate_reservation(&new_id(), &[line(&a, u32::MAX), line(&a, 1)])
            .expect_err("overflow");
        assert_eq!(fields(&overflow), vec!["lines[1].quantity"]);
    }

    #[test]
    fn reservation_plan_is_all_or_nothing() {
        let (a, b, c) = (new_id(), new_id(), new_id());
        let levels = BTreeMap::from([
            (a.clone(), level(10, 0)),
            (b.clone(), level(3, 1)),
            (c.clone(), level(0, 0)),
        ]);
        let plan = plan_reservation(&[line(&a, 4), line(&b, 2)], &levels).expect("enough");
        assert_eq!(plan.len(), 2);
        assert_eq!(plan[0].after, level(10, 4));
        assert_eq!(plan[1].after, level(3, 3));
        assert_eq!(
            plan_reservation(&[line(&a, 4), line(&b, 3), line(&c, 1)], &levels),
            Err(Refusal::Short(vec![b.clone(), c.clone()])),
            "one short line refuses the whole request and names every short product"
        );
        let unknown = new_id();
        let refusal =
            plan_reservation(&[line(&a, 1), line(&unknown, 1)], &levels).expect_err("unknown");
        assert_eq!(refusal, Refusal::Unavailable(vec![unknown]));
        assert_eq!(refusal.reason(), "product_unavailable");
    }

    #[test]
    fn thirty_units_serve_exactly_thirty_single_reservations() {
        let p = new_id();
        let mut levels = BTreeMap::from([(p.clone(), level(30, 0))]);
        let mut granted = 0;
        for _ in 0..100 {
            match plan_reservation(&[line(&p, 1)], &levels) {
                Ok(changes) => {
                    levels.insert(p.clone(), changes[0].after);
                    granted += 1;
                }
                Err(refusal) => assert_eq!(refusal, Refusal::Short(vec![p.clone()])),
            }
        }
        assert_eq!(granted, 30);
        assert_eq!(levels[&p], level(30, 30));
        assert_eq!(levels[&p].available(), 0);
    }

    #[test]
    fn release_and_commit_are_idempotent_and_exclusive() {
        use ReservationStatus::*;
        assert_eq!(release_transition(Reserved), Ok(Transition::To(Released)));
        assert_eq!(release_transition(Released), Ok(Transition::Unchanged));
        assert_eq!(
            release_transition(Committed),
            Err(conflict::ALREADY_COMMITTED)
        );
        assert_eq!(commit_transition(Reserved), Ok(Transition::To(Committed)));
        assert_eq!(commit_transition(Committed), Ok(Transition::Unchanged));
        assert_eq!(commit_transition(Released), Err(conflict::ALREADY_RELEASED));
    }

    #[test]
    fn settling_moves_reserved_units() {
        let (a, b) = (new_id(), new_id());
        let levels = BTreeMap::from([(a.clone(), level(10, 4)), (b.clone(), level(5, 5))]);
        let lines = [line(&a, 3), line(&b, 5)];
        let released = settle(&lines, &levels, ReservationStatus::Released).expect("held");
        assert_eq!(released[0].after, level(10, 1));
        assert_eq!(released[1].after, level(5, 0));
        let committed = settle(&lines, &levels, ReservationStatus::Committed).expect("held");
        assert_eq!(committed[0].after, level(7, 1));
        assert_eq!(committed[1].after, level(0, 0));
        assert_eq!(
            settle(&[line(&a, 5)], &levels, ReservationStatus::Released),
            Err(a.clone()),
            "more than is reserved: inconsistent"
        );
    }
}
