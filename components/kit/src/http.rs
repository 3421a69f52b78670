//! Small HTTP helpers for the thin adapters: query parameters and path segments.

use std::collections::HashMap;

use crate::error::ApiError;

/// Query parameters, decoded; a repeated name keeps its last value.
#[derive(Debug, Default)]
pub struct Query(HashMap<String, String>);

impl Query {
    pub fn parse(query: &str) -> Self {
        Self(
            form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect(),
        )
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// A number parameter; present but not a number is a 400 naming it.
    pub fn number<T: std::str::FromStr>(&self, name: &str) -> Result<Option<T>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(text) => text.parse().map(Some).map_err(|_| {
                ApiError::bad_request("invalid_query", format!("`{name}` must be a number"))
            }),
        }
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }
}

/// `page` (from 1) and `limit` (1..=100, default 20) of a list route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub page: u32,
    pub limit: u32,
}

impl Page {
    pub const MAX_LIMIT: u32 = 100;

    pub fn from_query(query: &Query) -> Result<Self, ApiError> {
        let page = query.number::<u32>("page")?.unwrap_or(1);
        let limit = query.number::<u32>("limit")?.unwrap_or(20);
        Self::new(page, limit).map_err(|errors| ApiError::invalid_input(&errors))
    }

    /// `page` from 1, `limit` 1 to [`Self::MAX_LIMIT`]; one error per field out of range.
    pub fn new(page: u32, limit: u32) -> Result<Self, Vec<crate::FieldError>> {
        let mut errors = Vec::new();
        if page == 0 {
            errors.push(crate::FieldError {
                field: "page".into(),
                message: "must be at least 1".into(),
            });
        }
        if !(1..=Self::MAX_LIMIT).contains(&limit) {
            errors.push(crate::FieldError {
                field: "limit".into(),
                message: format!("must be 1 to {}", Self::MAX_LIMIT),
            });
        }
        if errors.is_empty() {
            Ok(Self { page, limit })
        } else {
            Err(errors)
        }
    }

    pub fn offset(&self) -> i64 {
        i64::from(self.page - 1) * i64::from(self.limit)
    }
}

/// Path segments without empty ones: `/products/42/` → `["products", "42"]`.
pub fn segments(path: &str) -> Vec<&str> {
    path.split('/').filter(|s| !s.is_empty()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_decodes() {
        let q = Query::parse("q=red+shoe&limit=5&page=x&empty=");
        assert_eq!(q.get("q"), Some("red shoe"));
        assert_eq!(q.number::<u32>("limit"), Ok(Some(5)));
        assert_eq!(
            q.number::<u32>("page").expect_err("not a number").status,
            400
        );
        assert_eq!(q.get("empty"), None);
        assert_eq!(segments("/products/42/"), vec!["products", "42"]);
    }

    #[test]
    fn pages_are_bounded() {
        let page = Page::from_query(&Query::parse("page=3&limit=10")).expect("valid");
        assert_eq!((page.page, page.limit, page.offset()), (3, 10, 20));
        assert_eq!(
            Page::from_query(&Query::parse("")),
            Ok(Page { page: 1, limit: 20 })
        );
        for bad in ["page=0", "limit=0", "limit=101"] {
            assert_eq!(
                Page::from_query(&Query::parse(bad)).expect_err(bad).status,
                422,
                "{bad}"
            );
        }
        assert_eq!(
            Page::from_query(&Query::parse("page=x"))
                .expect_err("nan")
                .status,
            400
        );
    }
}
