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
        // An entry is often the very address the component opens (`{{ redis_address }}`), whose
        // credentials say nothing about where it may connect: as `url`'s host does in Spin,
        // matching looks at what follows the last `@`.
        let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
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

/// `address` fit for a log line or the console: the password of its userinfo (or the whole
/// userinfo when it has no `:`, as a token-only URL does) replaced by `***`. Anything that is not
/// `scheme://...` is returned as it is.
pub fn redact_credentials(address: &str) -> String {
    let Some((scheme, rest)) = address.split_once("://") else {
        return address.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let Some((userinfo, host)) = authority.rsplit_once('@') else {
        return address.to_owned();
    };
    let shown = match userinfo.split_once(':') {
        Some((user, _)) => format!("{user}:***"),
        None => "***".to_owned(),
    };
    format!("{scheme}://{shown}@{host}{tail}")
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

    #[test]
    fn userinfo_is_not_part_of_the_host() {
        // `allowed_outbound_hosts = ["{{ redis_address }}"]` with a password in the address.
        for entry in [
            "redis://:pw@cache:6379",
            "redis://user:pw@cache:6379",
            "redis://user@cache:6379",
            "redis://:p@ss@cache:6379",
        ] {
            let hosts = allowed(&[entry]);
            assert!(hosts.allows("redis", "cache", Some(6379)), "{entry}");
            assert!(!hosts.allows("redis", "other", Some(6379)), "{entry}");
            let uri: http::Uri = "redis://:pw@cache:6379".parse().expect("uri");
            assert!(hosts.allows_uri(&uri), "{entry}");
        }
        let hosts = allowed(&["redis://cache:6379"]);
        for address in ["redis://:pw@cache:6379", "redis://user:pw@cache:6379"] {
            let uri: http::Uri = address.parse().expect("uri");
            assert!(hosts.allows_uri(&uri), "{address}");
        }
        let uri: http::Uri = "redis://cache:pw@evil:6379".parse().expect("uri");
        assert!(!hosts.allows_uri(&uri));
        assert!(AllowedHost::parse("redis://pw@").is_err());
    }

    #[test]
    fn credentials_are_redacted() {
        for (address, shown) in [
            ("redis://:pw@cache:6379", "redis://:***@cache:6379"),
            (
                "redis://user:pw@cache:6379/0",
                "redis://user:***@cache:6379/0",
            ),
            ("rediss://default:p@ss@cache", "rediss://default:***@cache"),
            ("redis://token@cache", "redis://***@cache"),
            ("redis://cache:6379", "redis://cache:6379"),
            ("http://host/a@b?c=d@e", "http://host/a@b?c=d@e"),
            ("http://u:p@host/a@b", "http://u:***@host/a@b"),
            ("not a url: x@y", "not a url: x@y"),
        ] {
            assert_eq!(redact_credentials(address), shown, "{address}");
        }
    }
}
