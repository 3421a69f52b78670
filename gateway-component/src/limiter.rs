//! Rate limiting per client and route class: a fixed window counted atomically in Redis, by
//! the gate's script (`gate.rs`, in the same round trip as the other checks). This module
//! holds the pure parts — configuration, the client key, the decision and the failure policy.

use crate::routes::Class;

/// At most `requests` per `window_seconds`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub requests: u32,
    pub window_seconds: u32,
}

impl Limit {
    /// `"<requests>/<window seconds>"`, both at least 1, e.g. `"120/60"`.
    pub fn parse(text: &str) -> Option<Self> {
        let (requests, window) = text.trim().split_once('/')?;
        let limit = Self {
            requests: requests.trim().parse().ok()?,
            window_seconds: window.trim().parse().ok()?,
        };
        (limit.requests >= 1 && limit.window_seconds >= 1).then_some(limit)
    }

    /// The default for a route class when its variable is absent or invalid.
    pub fn default_for(class: Class) -> Self {
        let (requests, window_seconds) = match class {
            Class::Auth => (20, 60),
            Class::Read => (600, 60),
            Class::Write => (120, 60),
        };
        Self {
            requests,
            window_seconds,
        }
    }
}

/// The variable holding a class's limit.
pub fn variable_name(class: Class) -> String {
    format!("rate_limit_{}", class.as_str())
}

/// Who is counted: the authenticated user, else the client IP (`spin-client-addr` without its
/// port).
pub fn client_key(user_id: Option<&str>, client_addr: Option<&str>) -> String {
    match (user_id, client_addr) {
        (Some(user), _) => format!("user:{user}"),
        (None, Some(addr)) => {
            let ip = addr
                .parse::<std::net::SocketAddr>()
                .map(|a| a.ip().to_string())
                .unwrap_or_else(|_| addr.to_owned());
            format!("ip:{ip}")
        }
        (None, None) => "ip:unknown".into(),
    }
}

pub fn redis_key(class: Class, client: &str) -> String {
    format!("ratelimit:{}:{client}", class.as_str())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until the window resets (at least 1).
    pub reset_seconds: u32,
}

impl Decision {
    /// `RateLimit-*` headers (IETF draft) for every counted response.
    pub fn headers(&self) -> [(&'static str, String); 3] {
        [
            ("ratelimit-limit", self.limit.to_string()),
            ("ratelimit-remaining", self.remaining.to_string()),
            ("ratelimit-reset", self.reset_seconds.to_string()),
        ]
    }
}

/// The decision for the `count`-th request of a window with `ttl_ms` left.
pub fn decide(limit: Limit, count: i64, ttl_ms: i64) -> Decision {
    let used = u32::try_from(count.max(0)).unwrap_or(u32::MAX);
    let reset_seconds = u32::try_from((ttl_ms.max(0) + 999) / 1000)
        .unwrap_or(limit.window_seconds)
        .clamp(1, limit.window_seconds);
    Decision {
        allowed: used <= limit.requests,
        limit: limit.requests,
        remaining: limit.requests.saturating_sub(used),
        reset_seconds,
    }
}

/// What to do when Redis cannot be asked: reads (GET/HEAD) fail open — browsing must survive a
/// Redis outage and reads change nothing — while writes fail closed (503), since an
/// unthrottled write path (login guessing, order spam) is worse than a brief outage.
pub fn fail_open(method: &str) -> bool {
    matches!(method, "GET" | "HEAD")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_limits() {
        assert_eq!(
            Limit::parse("120/60"),
            Some(Limit {
                requests: 120,
                window_seconds: 60
            })
        );
        assert_eq!(
            Limit::parse(" 3 / 2 "),
            Some(Limit {
                requests: 3,
                window_seconds: 2
            })
        );
        for bad in ["", "120", "0/60", "10/0", "-1/60", "a/b", "10/60/1"] {
            assert_eq!(Limit::parse(bad), None, "{bad}");
        }
        assert_eq!(variable_name(Class::Write), "rate_limit_write");
    }

    #[test]
    fn decides_exactly_at_the_limit() {
        let limit = Limit {
            requests: 3,
            window_seconds: 10,
        };
        let third = decide(limit, 3, 9_500);
        assert!(third.allowed);
        assert_eq!((third.remaining, third.reset_seconds), (0, 10));
        let fourth = decide(limit, 4, 1_200);
        assert!(!fourth.allowed);
        assert_eq!((fourth.remaining, fourth.reset_seconds), (0, 2));
        let first = decide(limit, 1, 10_000);
        assert_eq!((first.allowed, first.remaining), (true, 2));
        assert_eq!(decide(limit, 5, -1).reset_seconds, 1);
    }

    #[test]
    fn keys_clients_by_user_then_ip() {
        assert_eq!(client_key(Some("u1"), Some("10.0.0.1:5000")), "user:u1");
        assert_eq!(client_key(None, Some("10.0.0.1:5000")), "ip:10.0.0.1");
        assert_eq!(client_key(None, Some("[::1]:5000")), "ip:::1");
        assert_eq!(client_key(None, None), "ip:unknown");
        assert_eq!(
            redis_key(Class::Read, "ip:10.0.0.1"),
            "ratelimit:read:ip:10.0.0.1"
        );
    }

    #[test]
    fn reads_fail_open_and_writes_fail_closed() {
        assert!(fail_open("GET") && fail_open("HEAD"));
        assert!(
            !fail_open("POST") && !fail_open("PUT") && !fail_open("PATCH") && !fail_open("DELETE")
        );
    }
}
