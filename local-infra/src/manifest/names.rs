//! The manifest's naming rules, as Spin's: variable names, component ids and HTTP routes.

/// Spin variable names: lower-case letters, digits and underscores, starting with a letter.
pub(super) fn validate_variable_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let starts_with_letter = chars.next().is_some_and(|c| c.is_ascii_lowercase());
    if starts_with_letter
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        Ok(())
    } else {
        Err(format!(
            "invalid variable name `{name}`: use lower-case letters, digits and `_`, starting with a letter"
        ))
    }
}

/// Spin component ids are kebab-case: lower-case words of letters and digits joined by `-`.
pub(super) fn validate_component_id(id: &str) -> Result<(), String> {
    let valid = !id.is_empty()
        && id.split('-').all(|word| {
            !word.is_empty()
                && word
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
        && id.starts_with(|c: char| c.is_ascii_lowercase());
    if valid {
        Ok(())
    } else {
        Err("component ids must be kebab-case (lower-case letters, digits and `-`)".into())
    }
}

/// A route is `/`-separated segments; `:name` captures one segment and a final `/...` captures
/// the rest of the path.
pub(super) fn validate_route(route: &str) -> Result<(), String> {
    if !route.starts_with('/') {
        return Err(format!("route `{route}` must start with `/`"));
    }
    let segments: Vec<&str> = route.trim_start_matches('/').split('/').collect();
    for (index, segment) in segments.iter().enumerate() {
        let last = index + 1 == segments.len();
        if *segment == "..." && !last {
            return Err(format!("route `{route}`: `...` is only allowed at the end"));
        }
        if segment.contains("...") && *segment != "..." {
            return Err(format!("route `{route}`: `...` must be a whole segment"));
        }
        if let Some(name) = segment.strip_prefix(':')
            && name.is_empty()
        {
            return Err(format!("route `{route}`: a `:` segment needs a name"));
        }
    }
    Ok(())
}
