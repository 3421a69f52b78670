//! Listing products: a `product-query` (from the HTTP query string or the WIT `api`) checked
//! and turned into [`ListParams`] — filters, sort and the shop's usual page; the repository
//! turns them into SQL.

use wasmshop_kit::FieldError;
use wasmshop_kit::http::Page;
use wasmshop_kit::ids::is_id;

use super::field_error;
use crate::bindings::wasmshop::catalog::types::{ProductQuery, ProductSort};

pub const DEFAULT_LIMIT: u32 = 20;
pub const MAX_SEARCH_CHARS: usize = 100;

/// A validated `product-query`.
#[derive(Debug, Clone, PartialEq)]
pub struct ListParams {
    pub category: Option<String>,
    /// What `q` asked for, trimmed; matched case-insensitively anywhere in the search text.
    pub search: Option<String>,
    pub min_price: Option<i64>,
    pub max_price: Option<i64>,
    pub sort: ProductSort,
    pub page: Page,
}

pub fn list_params(query: &ProductQuery) -> Result<ListParams, Vec<FieldError>> {
    let (page, mut errors) = match Page::new(
        query.page.unwrap_or(1),
        query.limit.unwrap_or(DEFAULT_LIMIT),
    ) {
        Ok(page) => (Some(page), Vec::new()),
        Err(errors) => (None, errors),
    };
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
    match page {
        Some(page) if errors.is_empty() => Ok(ListParams {
            category: category.map(str::to_owned),
            search: q.map(str::to_owned),
            min_price: query.min_price,
            max_price: query.max_price,
            sort: query.sort.unwrap_or(ProductSort::Newest),
            page,
        }),
        _ => Err(errors),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::fields;
    use wasmshop_kit::ids::new_id;

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
        assert_eq!(
            params.page,
            Page {
                page: 1,
                limit: DEFAULT_LIMIT
            }
        );
        assert_eq!(params.sort, ProductSort::Newest);
        assert_eq!(params.page.offset(), 0);
        assert_eq!(params.search, None);
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
        assert_eq!(list_params(&q).expect("valid").page.offset(), 50);
        q.page = Some(u32::MAX);
        q.limit = Some(Page::MAX_LIMIT);
        assert_eq!(
            list_params(&q).expect("valid").page.offset(),
            (i64::from(u32::MAX) - 1) * 100
        );
    }

    #[test]
    fn page_errors_come_first_and_with_the_others() {
        let mut q = query();
        q.page = Some(0);
        q.limit = Some(0);
        q.category = Some("shoes".into());
        assert_eq!(
            fields(&list_params(&q).expect_err("invalid")),
            vec!["page", "limit", "category"]
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
    fn search_is_trimmed_blank_is_none_and_long_is_refused() {
        let mut q = query();
        q.q = Some("  Red Shoe ".into());
        assert_eq!(
            list_params(&q).expect("valid").search.as_deref(),
            Some("Red Shoe")
        );
        q.q = Some("  ".into());
        assert_eq!(list_params(&q).expect("blank").search, None);
        q.q = Some("x".repeat(MAX_SEARCH_CHARS + 1));
        assert_eq!(fields(&list_params(&q).expect_err("long")), vec!["q"]);
    }
}
