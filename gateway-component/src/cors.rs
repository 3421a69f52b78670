//! CORS decisions (pure). Allowed origins come from the `cors_allowed_origins` variable
//! (comma-separated, exact `scheme://host[:port]`). Responses allow credentials, so the answer
//! always echoes one listed origin and never `*` (a `*` entry is ignored).

/// Request headers a browser may send cross-origin.
pub const ALLOWED_HEADERS: &[&str] = &[
    "authorization",
    "content-type",
    "traceparent",
    "tracestate",
    "x-request-id",
];

/// Response headers scripts may read.
pub const EXPOSED_HEADERS: &str = "x-request-id, traceparent, x-response-time, server-timing, retry-after, ratelimit-limit, ratelimit-remaining, ratelimit-reset";

pub const MAX_AGE_SECONDS: u32 = 600;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorsConfig {
    origins: Vec<String>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Preflight {
    /// 204 with these headers.
    Allowed(Vec<(&'static str, String)>),
    /// The origin, method or a header is not allowed: 403, no CORS headers.
    Denied(&'static str),
}

impl CorsConfig {
    pub fn parse(list: &str) -> Self {
        Self {
            origins: list
                .split(',')
                .map(|o| o.trim().trim_end_matches('/').to_owned())
                .filter(|o| !o.is_empty() && o != "*" && o != "null")
                .collect(),
        }
    }

    pub fn allows(&self, origin: &str) -> bool {
        self.origins.iter().any(|o| o == origin)
    }

    /// Headers for an ordinary response to a request from `origin` (`None`: no `Origin`).
    pub fn response_headers(&self, origin: Option<&str>) -> Vec<(&'static str, String)> {
        match origin {
            Some(origin) if self.allows(origin) => vec![
                ("access-control-allow-origin", origin.to_owned()),
                ("access-control-allow-credentials", "true".into()),
                ("access-control-expose-headers", EXPOSED_HEADERS.into()),
                ("vary", "Origin".into()),
            ],
            _ => vec![("vary", "Origin".into())],
        }
    }

    /// The answer to a preflight from `origin` asking for `method` and `request_headers`
    /// (the comma-separated `Access-Control-Request-Headers`) on a path whose methods are
    /// `path_methods`.
    pub fn preflight(
        &self,
        origin: &str,
        method: &str,
        request_headers: Option<&str>,
        path_methods: &[&str],
    ) -> Preflight {
        if !self.allows(origin) {
            return Preflight::Denied("origin not allowed");
        }
        if !path_methods.contains(&method) {
            return Preflight::Denied("method not allowed");
        }
        let requested: Vec<String> = request_headers
            .unwrap_or("")
            .split(',')
            .map(|h| h.trim().to_ascii_lowercase())
            .filter(|h| !h.is_empty())
            .collect();
        if requested
            .iter()
            .any(|h| !ALLOWED_HEADERS.contains(&h.as_str()))
        {
            return Preflight::Denied("request header not allowed");
        }
        Preflight::Allowed(vec![
            ("access-control-allow-origin", origin.to_owned()),
            ("access-control-allow-credentials", "true".into()),
            ("access-control-allow-methods", path_methods.join(", ")),
            ("access-control-allow-headers", ALLOWED_HEADERS.join(", ")),
            ("access-control-max-age", MAX_AGE_SECONDS.to_string()),
            ("vary", "Origin".into()),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> CorsConfig {
        CorsConfig::parse(" http://localhost:5173, https://shop.example/ ,*,")
    }

    fn header<'a>(headers: &'a [(&'static str, String)], name: &str) -> Option<&'a str> {
        headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn parses_the_origin_list_and_ignores_wildcards() {
        let config = config();
        assert!(config.allows("http://localhost:5173"));
        assert!(config.allows("https://shop.example"));
        assert!(!config.allows("*"));
        assert!(!config.allows("https://evil.example"));
        assert!(!config.allows("http://localhost:5174"));
        assert!(!CorsConfig::parse("*").allows("https://evil.example"));
    }

    #[test]
    fn ordinary_responses_echo_only_allowed_origins() {
        let config = config();
        let allowed = config.response_headers(Some("https://shop.example"));
        assert_eq!(
            header(&allowed, "access-control-allow-origin"),
            Some("https://shop.example")
        );
        assert_eq!(
            header(&allowed, "access-control-allow-credentials"),
            Some("true")
        );
        let denied = config.response_headers(Some("https://evil.example"));
        assert_eq!(header(&denied, "access-control-allow-origin"), None);
        assert_eq!(
            header(
                &config.response_headers(None),
                "access-control-allow-origin"
            ),
            None
        );
    }

    #[test]
    fn preflight_decisions() {
        let config = config();
        let methods = ["GET", "POST"];
        let Preflight::Allowed(headers) = config.preflight(
            "http://localhost:5173",
            "POST",
            Some("Content-Type, Authorization"),
            &methods,
        ) else {
            panic!("allowed");
        };
        assert_eq!(
            header(&headers, "access-control-allow-origin"),
            Some("http://localhost:5173")
        );
        assert_eq!(
            header(&headers, "access-control-allow-methods"),
            Some("GET, POST")
        );
        assert!(
            header(&headers, "access-control-allow-headers")
                .is_some_and(|h| h.contains("authorization"))
        );
        assert!(matches!(
            config.preflight("https://evil.example", "POST", None, &methods),
            Preflight::Denied(_)
        ));
        assert!(matches!(
            config.preflight("http://localhost:5173", "DELETE", None, &methods),
            Preflight::Denied(_)
        ));
        assert!(matches!(
            config.preflight("http://localhost:5173", "GET", Some("x-user-id"), &methods),
            Preflight::Denied(_)
        ));
    }
}
