//! Categories: validating an admin's category input into a [`CategoryDraft`], with the
//! case-insensitive key category names are unique on.

use wasmshop_kit::FieldError;

use super::field_error;
use crate::bindings::wasmshop::catalog::types::CategoryInput;

pub const MAX_CATEGORY_NAME_CHARS: usize = 100;
pub const MAX_CATEGORY_DESCRIPTION_CHARS: usize = 1000;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::fields;

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
}
