//! The shared response cache of public reads, kept in Redis beside the gate's keys. Pure: which
//! requests may use it, what may be stored, for how long, under which key and in which form;
//! the Redis calls ride on the gate's two scripts (`gate.rs` looks up, `gate_redis.rs` stores
//! or invalidates), so a hit costs no round trip of its own and spares the upstream instance
//! and its database.
//!
//! Only an upstream decides that an answer may be shared: a `200` to a `GET` on a public route
//! whose `Cache-Control` says `public` and a positive `max-age` (capped at [`MAX_TTL_MS`]). A
//! successful write through the gateway to the same path drops the entry at once, so a client
//! reads its own change; other changes show within the upstream's `max-age`.
//!
//! An entry is fresh for its `max-age` and kept as long again, stale: the first request to find
//! it stale refreshes it from the upstream while the others are still answered with it (the
//! `fresh` key doubles as the refresh lock). So an entry's expiry sends one request upstream,
//! not every request of that moment — which a bulkhead would refuse — and an upstream that
//! fails meanwhile leaves its last answer served until the entry lapses.

use spin_sdk::http::Response;

use crate::Context;
use crate::routes::{self, Route};

/// The longest an answer is kept, whatever its upstream asks.
pub const MAX_TTL_MS: i64 = 60_000;

/// The Redis keys of one cached answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys {
    /// The entry ([`encode`]), kept fresh and then as long again stale.
    pub entry: String,
    /// Present while the entry is fresh, or while one request refreshes it.
    pub fresh: String,
}

/// The keys of `path` (as the client sent it, without the query) and `query`.
pub fn keys(path: &str, query: &str) -> Keys {
    Keys {
        entry: format!("respcache:{path}?{query}"),
        fresh: format!("respcache-fresh:{path}?{query}"),
    }
}

/// How long an entry fresh for `ttl_ms` is kept in all: as long again, stale.
pub fn kept_for_ms(ttl_ms: i64) -> i64 {
    ttl_ms.saturating_mul(2)
}

/// How long an answer with this `Cache-Control` may be shared, or `None` when it may not be.
pub fn shareable_for_ms(cache_control: Option<&str>) -> Option<i64> {
    let mut public = false;
    let mut max_age_s: Option<i64> = None;
    for directive in cache_control?.split(',') {
        let directive = directive.trim().to_ascii_lowercase();
        match directive.split_once('=') {
            Some(("max-age", seconds)) => max_age_s = seconds.trim().parse().ok(),
            Some(_) => {}
            None => match directive.as_str() {
                "public" => public = true,
                "private" | "no-store" | "no-cache" => return None,
                _ => {}
            },
        }
    }
    let ttl_ms = max_age_s?.saturating_mul(1000).min(MAX_TTL_MS);
    (public && ttl_ms > 0).then_some(ttl_ms)
}

/// An entry: the content type, a newline, the body.
pub fn encode(content_type: &str, body: &[u8]) -> Vec<u8> {
    let mut entry = Vec::with_capacity(content_type.len() + 1 + body.len());
    entry.extend_from_slice(content_type.as_bytes());
    entry.push(b'\n');
    entry.extend_from_slice(body);
    entry
}

/// The content type and body of an entry; `None` for anything [`encode`] did not make.
pub fn decode(entry: &[u8]) -> Option<(&str, &[u8])> {
    let newline = entry.iter().position(|&byte| byte == b'\n')?;
    let content_type = std::str::from_utf8(&entry[..newline]).ok()?;
    Some((content_type, &entry[newline + 1..]))
}

/// What the outcome of a forwarded request does to the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Update {
    Keep,
    Store {
        keys: Keys,
        ttl_ms: i64,
        entry: Vec<u8>,
    },
    Drop {
        keys: Keys,
    },
}

/// Whether a request may be answered from, and its answer kept in, the shared response cache:
/// a `GET` on a route anyone may read. The upstream still decides per answer.
pub fn shared_read(method: &str, route: &Route) -> bool {
    method == "GET" && route.auth == routes::Auth::Public
}

/// The answer to a request served from its cached `entry`; `None` for an entry this gateway
/// did not write.
pub fn answer(entry: &[u8]) -> Option<Response> {
    let (content_type, body) = decode(entry)?;
    Some(
        Response::builder()
            .status(200)
            .header("content-type", content_type)
            .header("x-cache", "hit")
            .body(body.to_vec())
            .build(),
    )
}

/// What an upstream's answer does to the response cache: a shareable answer to a public read
/// is stored; a successful write drops the entry of its path, so its client reads the change.
pub fn update(context: &Context, route: &Route, response: &Response) -> Update {
    let method = context.method.to_string();
    let header = |name: &str| response.header(name).and_then(|value| value.as_str());
    let status = *response.status();
    if shared_read(&method, route) {
        if status != 200 {
            return Update::Keep;
        }
        return match shareable_for_ms(header("cache-control")) {
            Some(ttl_ms) => Update::Store {
                keys: keys(&context.path, &context.query),
                ttl_ms,
                entry: encode(
                    header("content-type").unwrap_or("application/octet-stream"),
                    response.body(),
                ),
            },
            None => Update::Keep,
        };
    }
    let writes = !matches!(method.as_str(), "GET" | "HEAD" | "OPTIONS");
    if writes && (200..300).contains(&status) {
        return Update::Drop {
            keys: keys(&context.path, ""),
        };
    }
    Update::Keep
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_answers_with_a_positive_max_age_are_shared() {
        assert_eq!(shareable_for_ms(Some("public, max-age=5")), Some(5_000));
        assert_eq!(shareable_for_ms(Some("max-age=2, PUBLIC")), Some(2_000));
        assert_eq!(
            shareable_for_ms(Some("public, max-age=86400")),
            Some(MAX_TTL_MS)
        );
        assert_eq!(
            shareable_for_ms(Some("public, max-age=9223372036854775807")),
            Some(MAX_TTL_MS)
        );
        for refused in [
            None,
            Some(""),
            Some("max-age=5"),
            Some("public"),
            Some("public, max-age=0"),
            Some("public, max-age=-3"),
            Some("public, max-age=soon"),
            Some("public, max-age=5, private"),
            Some("no-store, public, max-age=5"),
            Some("public, no-cache, max-age=5"),
        ] {
            assert_eq!(shareable_for_ms(refused), None, "{refused:?}");
        }
    }

    #[test]
    fn entries_keep_their_content_type_and_body() {
        let body = b"{\"name\":\"line one\nline two\"}";
        let entry = encode("application/json", body);
        assert_eq!(decode(&entry), Some(("application/json", &body[..])));
        assert_eq!(decode(b"no newline at all"), None);
        assert_eq!(decode(b"\xff\xfe\n{}"), None);
    }

    #[test]
    fn the_query_is_part_of_the_keys() {
        assert_ne!(
            keys("/api/v1/products", "page=1"),
            keys("/api/v1/products", "page=2")
        );
        let keys = keys("/api/v1/products/a", "");
        assert_eq!(keys.entry, "respcache:/api/v1/products/a?");
        assert_ne!(keys.entry, keys.fresh);
        assert_eq!(kept_for_ms(5_000), 10_000);
    }
}
