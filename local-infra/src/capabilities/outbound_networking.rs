//! `allowed_outbound_hosts`, with Spin's syntax: `scheme://host[:port]`, where the scheme may be
//! `*`, the host `*`, `*.suffix` or `self`, and the port a number, `*` or a range `a..b`
//! (missing: the scheme's default port). `{{ var }}` templates are rendered before parsing.

use std::ops::RangeInclusive;

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    Any,
    /// `*.example.com` matches `a.example.com` but not `example.com`.
    Suffix(String),
    Exact(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PortPattern {
    Any,
    Range(RangeInclusive<u16>),
    /// No port given: the default port of whichever scheme the request uses.
    SchemeDefault,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHost {
    scheme: Option<String>,
    host: HostPattern,
    port: PortPattern,
}

pub fn default_port(scheme: &str) -> Option<u16> {
    Some(match scheme {
        "http" => 80,
        "https" => 443,
        "redis" => 6379,
        "rediss" => 6380,
        "mysql" => 3306,
        "postgres" => 5432,
        "mqtt" => 1883,
        _ => return None,
    })
}

impl AllowedHost {
    pub fn parse(text: &str) -> Result<Self, String> {
        let (scheme, rest) = text
            .split_once("://")
            .ok_or_else(|| format!("`{text}` needs a scheme, e.g. `https://{text}`"))?;
        if scheme.is_empty() {
            return Err(format!("`{text}` has an empty scheme"));
        }
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains('/') {
            return Err(format!("`{text}` must not contain a path"));
        }
        let (host, port) = match rest.rsplit_once(':') {
            Some((host, port)) if !host.ends_with(']') || rest.starts_with('[') => {
                (host, Some(port))
            }
            _ => (rest, None),
        };
        if host.is_empty() {
            return Err(format!("`{text}` has no host"));
        }
        let host = if host == "*" {
            HostPattern::Any
        } else if let Some(suffix) = host.strip_prefix("*.") {
            HostPattern::Suffix(suffix.to_ascii_lowercase())
        } else if host.contains('*') {
            return Err(format!(
                "`{text}`: `*` must be the whole host or its first label"
            ));
        } else {
            HostPattern::Exact(host.to_ascii_lowercase())
        };
        let port = match port {
            None => PortPattern::SchemeDefault,
            Some("*") => PortPattern::Any,
            Some(port) => match port.split_once("..") {
                Some((start, end)) => {
                    let start = parse_port(text, start)?;
                    let end = parse_port(text, end)?;
                    if start > end {
                        return Err(format!("`{text}`: empty port range"));
                    }
                    PortPattern::Range(start..=end)
                }
                None => {
                    let port = parse_port(text, port)?;
                    PortPattern::Range(port..=port)
                }
            },
        };
        let scheme = (scheme != "*").then(|| scheme.to_ascii_lowercase());
        if port == PortPattern::SchemeDefault
            && let Some(scheme) = &scheme
            && default_port(scheme).is_none()
        {
            return Err(format!(
                "`{text}`: scheme `{scheme}` has no default port; give one"
            ));
        }
        Ok(Self { scheme, host, port })
    }

    /// Whether this entry names a `*.spin.internal` host, i.e. asks for local service
    /// chaining: what Spin's loader turns into the component's `local_service_chaining` host
    /// requirement.
    pub fn is_service_chaining(&self) -> bool {
        const CHAINING_DOMAIN: &str = "spin.internal";
        match &self.host {
            HostPattern::Suffix(suffix) => suffix == CHAINING_DOMAIN,
            HostPattern::Exact(host) => host
                .strip_suffix(CHAINING_DOMAIN)
                .is_some_and(|prefix| prefix.ends_with('.') && prefix.len() > 1),
            HostPattern::Any => false,
        }
    }

    fn allows(&self, scheme: &str, host: &str, port: u16) -> bool {
        if self.scheme.as_deref().is_some_and(|s| s != scheme) {
            return false;
        }
        let host = host.to_ascii_lowercase();
        let host_ok = match &self.host {
            HostPattern::Any => true,
            HostPattern::Suffix(suffix) => host
                .strip_suffix(suffix.as_str())
                .is_some_and(|prefix| prefix.ends_with('.') && prefix.len() > 1),
            HostPattern::Exact(exact) => *exact == host,
        };
        let port_ok = match &self.port {
            PortPattern::Any => true,
            PortPattern::Range(range) => range.contains(&port),
            PortPattern::SchemeDefault => default_port(scheme) == Some(port),
        };
        host_ok && port_ok
    }
}

fn parse_port(text: &str, port: &str) -> Result<u16, String> {
    port.parse()
        .map_err(|_| format!("`{text}`: `{port}` is not a port number"))
}

/// The rendered list of one component.
#[derive(Debug, Clone, Default)]
pub struct AllowedHosts {
    hosts: Vec<AllowedHost>,
}

impl AllowedHosts {
    pub fn parse<'a>(entries: impl IntoIterator<Item = &'a str>) -> Result<Self, String> {
        let hosts = entries
            .into_iter()
            .map(AllowedHost::parse)
            .collect::<Result<_, _>>()?;
        Ok(Self { hosts })
    }

    pub fn allows(&self, scheme: &str, host: &str, port: Option<u16>) -> bool {
        let Some(port) = port.or_else(|| default_port(scheme)) else {
            return false;
        };
        self.hosts.iter().any(|h| h.allows(scheme, host, port))
    }

    pub fn allows_uri(&self, uri: &http::Uri) -> bool {
        match (uri.scheme_str(), uri.host()) {
            (Some(scheme), Some(host)) => self.allows(scheme, host, uri.port_u16()),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(entries: &[&str]) -> AllowedHosts {
        AllowedHosts::parse(entries.iter().copied()).expect("valid hosts")
    }

    #[test]
    fn exact_host_uses_scheme_default_port() {
        let hosts = allowed(&["https://api.example.com"]);
        assert!(hosts.allows("https", "api.example.com", None));
        assert!(hosts.allows("https", "API.example.com", Some(443)));
        assert!(!hosts.allows("https", "api.example.com", Some(8443)));
        assert!(!hosts.allows("http", "api.example.com", None));
        assert!(!hosts.allows("https", "example.com", None));
    }

    #[test]
    fn wildcards_for_host_scheme_and_port() {
        let hosts = allowed(&[
            "http://*.spin.internal",
            "*://localhost:*",
            "redis://db:6000..6010",
        ]);
        assert!(hosts.allows("http", "users.spin.internal", None));
        assert!(!hosts.allows("http", "spin.internal", None));
        assert!(hosts.allows("https", "localhost", Some(1234)));
        assert!(hosts.allows("redis", "db", Some(6005)));
        assert!(!hosts.allows("redis", "db", Some(6011)));
    }

    #[test]
    fn rejects_malformed_entries() {
        for bad in [
            "example.com",
            "https://",
            "https://a/b",
            "https://a:xx",
            "https://a*b",
            "foo://x",
        ] {
            assert!(AllowedHost::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn empty_list_denies_everything() {
        let hosts = allowed(&[]);
        assert!(!hosts.allows("https", "example.com", None));
    }
}
