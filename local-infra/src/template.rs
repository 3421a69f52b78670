//! Spin's `{{ variable }}` templates, used by component variables and outbound hosts.

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Variable(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

impl Template {
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("{{") {
            if start > 0 {
                parts.push(Part::Literal(rest[..start].to_owned()));
            }
            let after = &rest[start + 2..];
            let end = after
                .find("}}")
                .ok_or_else(|| format!("unterminated `{{{{` in `{text}`"))?;
            let name = after[..end].trim();
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            {
                return Err(format!("invalid variable reference `{name}` in `{text}`"));
            }
            parts.push(Part::Variable(name.to_owned()));
            rest = &after[end + 2..];
        }
        if rest.contains("}}") {
            return Err(format!("unmatched `}}}}` in `{text}`"));
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_owned()));
        }
        Ok(Self { parts })
    }

    pub fn references(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|part| match part {
            Part::Variable(name) => Some(name.as_str()),
            Part::Literal(_) => None,
        })
    }

    pub fn render<E>(
        &self,
        mut lookup: impl FnMut(&str) -> Result<String, E>,
    ) -> Result<String, E> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::Variable(name) => out.push_str(&lookup(name)?),
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_literals_and_variables() {
        let template = Template::parse("redis://{{ host }}:{{port}}/0").expect("parse");
        assert_eq!(template.references().collect::<Vec<_>>(), ["host", "port"]);
        let rendered: Result<String, ()> = template.render(|name| Ok(name.to_uppercase()));
        assert_eq!(rendered, Ok("redis://HOST:PORT/0".into()));
    }

    #[test]
    fn rejects_malformed_templates() {
        assert!(Template::parse("{{ open").is_err());
        assert!(Template::parse("{{ Bad-Name }}").is_err());
        assert!(Template::parse("close }}").is_err());
        assert!(Template::parse("{{}}").is_err());
    }
}
