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
}
