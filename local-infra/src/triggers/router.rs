//! Spin's HTTP route matching. A route is exact (`/a/b`), may capture single segments
//! (`/users/:id`) and may end in `/...` to capture the rest of the path. When several routes
//! match, the most specific wins: exact over wildcard, then more segments (longest prefix), then
//! more literal segments over `:param` captures.

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(String),
}

#[derive(Debug, Clone)]
pub struct RoutePattern {
    raw: String,
    segments: Vec<Segment>,
    trailing_wildcard: bool,
}

impl RoutePattern {
    /// As written in the manifest (`/...`, `/api/:id`).
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    pub fn parse(raw: &str) -> Self {
        let trimmed = raw.trim_start_matches('/');
        let mut parts: Vec<&str> = if trimmed.is_empty() {
            Vec::new()
        } else {
            trimmed.split('/').collect()
        };
        let trailing_wildcard = parts.last() == Some(&"...");
        if trailing_wildcard {
            parts.pop();
        }
        let segments = parts
            .into_iter()
            .map(|part| match part.strip_prefix(':') {
                Some(name) => Segment::Param(name.to_owned()),
                None => Segment::Literal(part.to_owned()),
            })
            .collect();
        Self {
            raw: raw.to_owned(),
            segments,
            trailing_wildcard,
        }
    }

    /// A private component is reached only by chaining and sees every path, like `/...`.
    pub fn catch_all() -> Self {
        Self::parse("/...")
    }

    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// The route without its `/...` suffix, as in `spin-component-route`.
    pub fn component_route(&self) -> String {
        if self.trailing_wildcard {
            self.raw
                .strip_suffix("/...")
                .unwrap_or(&self.raw)
                .to_owned()
        } else {
            self.raw.clone()
        }
    }

    fn specificity(&self) -> (bool, usize, usize) {
        let literals = self
            .segments
            .iter()
            .filter(|s| matches!(s, Segment::Literal(_)))
            .count();
        (!self.trailing_wildcard, self.segments.len(), literals)
    }

    pub fn matches(&self, path: &str) -> Option<RouteMatch> {
        let trimmed = path.trim_start_matches('/');
        let parts: Vec<&str> = if trimmed.is_empty() {
            Vec::new()
        } else {
            trimmed.split('/').collect()
        };
        if parts.len() < self.segments.len()
            || (!self.trailing_wildcard && parts.len() != self.segments.len())
        {
            return None;
        }
        let mut params = Vec::new();
        for (segment, part) in self.segments.iter().zip(&parts) {
            match segment {
                Segment::Literal(literal) if literal == part => {}
                Segment::Literal(_) => return None,
                Segment::Param(name) => params.push((name.clone(), (*part).to_owned())),
            }
        }
        let rest = &parts[self.segments.len()..];
        let path_info = if rest.is_empty() {
            String::new()
        } else {
            format!("/{}", rest.join("/"))
        };
        Some(RouteMatch { params, path_info })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMatch {
    pub params: Vec<(String, String)>,
    /// The part of the path after the matched prefix (`spin-path-info`).
    pub path_info: String,
}

#[derive(Debug, Clone)]
pub struct Router<T> {
    routes: Vec<(RoutePattern, T)>,
}

impl<T: Clone> Router<T> {
    pub fn new(routes: impl IntoIterator<Item = (RoutePattern, T)>) -> Self {
        let mut routes: Vec<_> = routes.into_iter().collect();
        // Most specific first, so the first match is the winner.
        routes.sort_by_key(|(pattern, _)| std::cmp::Reverse(pattern.specificity()));
        Self { routes }
    }

    pub fn route(&self, path: &str) -> Option<(&RoutePattern, &T, RouteMatch)> {
        self.routes
            .iter()
            .find_map(|(pattern, target)| pattern.matches(path).map(|m| (pattern, target, m)))
    }

    pub fn routes(&self) -> impl Iterator<Item = (&RoutePattern, &T)> {
        self.routes.iter().map(|(p, t)| (p, t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(routes: &[&str]) -> Router<String> {
        Router::new(
            routes
                .iter()
                .map(|r| (RoutePattern::parse(r), (*r).to_owned())),
        )
    }

    fn winner(router: &Router<String>, path: &str) -> Option<String> {
        router.route(path).map(|(_, target, _)| target.clone())
    }

    #[test]
    fn exact_beats_wildcard_and_longest_prefix_wins() {
        let r = router(&["/...", "/api/...", "/api/users", "/api/users/..."]);
        assert_eq!(winner(&r, "/api/users").as_deref(), Some("/api/users"));
        assert_eq!(
            winner(&r, "/api/users/7").as_deref(),
            Some("/api/users/...")
        );
        assert_eq!(winner(&r, "/api/orders").as_deref(), Some("/api/..."));
        assert_eq!(winner(&r, "/api").as_deref(), Some("/api/..."));
        assert_eq!(winner(&r, "/other").as_deref(), Some("/..."));
        assert_eq!(winner(&r, "/").as_deref(), Some("/..."));
    }

    #[test]
    fn literal_segments_beat_params() {
        let r = router(&["/users/:id", "/users/me"]);
        assert_eq!(winner(&r, "/users/me").as_deref(), Some("/users/me"));
        let (_, _, m) = r.route("/users/42").expect("match");
        assert_eq!(m.params, vec![("id".to_owned(), "42".to_owned())]);
        assert_eq!(winner(&r, "/users/42/extra"), None);
    }

    #[test]
    fn params_with_trailing_wildcard() {
        let pattern = RoutePattern::parse("/:path_segment/:path_end/...");
        let m = pattern.matches("/path/end/rest").expect("match");
        assert_eq!(m.path_info, "/rest");
        assert_eq!(m.params.len(), 2);
        assert_eq!(pattern.component_route(), "/:path_segment/:path_end");
    }

    #[test]
    fn exact_route_needs_the_whole_path() {
        let r = router(&["/health"]);
        assert!(r.route("/health").is_some());
        assert!(r.route("/health/x").is_none());
        assert!(r.route("/healthz").is_none());
    }
}
