//! Rate limiting per client and route class: a fixed window counted atomically in Redis, by
//! the gate's script (`gate.rs`, in the same round trip as the other checks). This module
//! holds the pure parts — configuration, the client's address (trusted proxies and
//! `X-Forwarded-For`), the client key, the decision and the failure policy.

use std::net::{IpAddr, SocketAddr};

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
}

/// Who made a request, as far as the limiter cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Principal<'a> {
    Anonymous,
    /// A verified user token's `sub`.
    User(&'a str),
    /// The recovery credential (`auth::is_recovery_token`).
    Recovery,
}

/// Who is counted: on credential routes (register, login) always the client address — a token
/// there must not buy a budget of its own, or each new account would buy more Argon2 work
/// (#14); elsewhere the authenticated user or service, else the client address.
pub fn client_key(class: Class, principal: Principal<'_>, client: Option<IpAddr>) -> String {
    match (class, principal) {
        (Class::Auth, _) | (_, Principal::Anonymous) => match client {
            Some(ip) => format!("ip:{ip}"),
            None => "ip:unknown".into(),
        },
        (_, Principal::User(user)) => format!("user:{user}"),
        (_, Principal::Recovery) => "service:recovery".into(),
    }
}

/// The proxies whose `X-Forwarded-For` is believed: the `trusted_proxies` variable,
/// comma-separated IPs and CIDRs (`10.0.0.0/8`, `2001:db8::/32`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<(IpAddr, u8)>);

impl TrustedProxies {
    /// The list, and the entries that are neither an IP nor a CIDR (left out, to be logged).
    pub fn parse(text: &str) -> (Self, Vec<String>) {
        let mut networks = Vec::new();
        let mut invalid = Vec::new();
        for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            match parse_network(entry) {
                Some(network) => networks.push(network),
                None => invalid.push(entry.to_owned()),
            }
        }
        (Self(networks), invalid)
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0
            .iter()
            .any(|&(network, prefix)| in_network(ip, network, prefix))
    }
}

fn parse_network(entry: &str) -> Option<(IpAddr, u8)> {
    let (address, prefix) = match entry.split_once('/') {
        Some((address, prefix)) => (address, Some(prefix.parse::<u8>().ok()?)),
        None => (entry, None),
    };
    let address = address.parse::<IpAddr>().ok()?.to_canonical();
    let bits = if address.is_ipv4() { 32 } else { 128 };
    let prefix = prefix.unwrap_or(bits);
    (prefix <= bits).then_some((address, prefix))
}

fn in_network(ip: IpAddr, network: IpAddr, prefix: u8) -> bool {
    let (ip, network, bits) = match (ip, network) {
        (IpAddr::V4(ip), IpAddr::V4(network)) => {
            (u128::from(ip.to_bits()), u128::from(network.to_bits()), 32)
        }
        (IpAddr::V6(ip), IpAddr::V6(network)) => (ip.to_bits(), network.to_bits(), 128),
        _ => return false,
    };
    if prefix == 0 {
        return true;
    }
    let shift = bits - u32::from(prefix);
    (ip >> shift) == (network >> shift)
}

/// An address as a peer or a proxy writes it: an IP, or an IP with a port (`[v6]:port`).
fn parse_address(text: &str) -> Option<IpAddr> {
    let text = text.trim();
    text.parse::<IpAddr>()
        .or_else(|_| text.parse::<SocketAddr>().map(|a| a.ip()))
        .ok()
        .map(|ip| ip.to_canonical())
}

/// Whether `spin-client-addr` is that of a chained request (`http://gateway.spin.internal`):
/// the runtime gives those port 0 (local-infra `127.0.0.1:0`, Spin `0.0.0.0:0`), which no TCP
/// peer has. Only components whose `allowed_outbound_hosts` name the gateway can send one —
/// the storefront, forwarding its shopper's address — so such a peer is a trusted proxy.
pub fn is_chained(peer: &str) -> bool {
    peer.trim()
        .parse::<SocketAddr>()
        .is_ok_and(|address| address.port() == 0)
}

/// The client's address: the peer's (`spin-client-addr`), unless the peer is a trusted proxy
/// or a chained request (`is_chained`); then the right-most address of `X-Forwarded-For` (all
/// its headers, in order) that is not a trusted proxy — everything left of it was written by
/// the client and proves nothing. An entry that is not an address ends the walk at the
/// nearest proxy; so does a chain of proxies only.
pub fn client_address(
    peer: Option<&str>,
    forwarded_for: &[&str],
    trusted: &TrustedProxies,
) -> Option<IpAddr> {
    let peer = peer?;
    let mut client = parse_address(peer)?;
    if !is_chained(peer) && !trusted.contains(client) {
        return Some(client);
    }
    let hops = forwarded_for
        .iter()
        .rev()
        .flat_map(|header| header.rsplit(','));
    for hop in hops {
        let Some(ip) = parse_address(hop) else {
            break;
        };
        client = ip;
        if !trusted.contains(ip) {
            break;
        }
    }
    Some(client)
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

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an address")
    }

    #[test]
    fn keys_clients_by_user_then_address() {
        let client = Some(ip("10.0.0.1"));
        for class in [Class::Read, Class::Write] {
            assert_eq!(client_key(class, Principal::User("u1"), client), "user:u1");
            assert_eq!(
                client_key(class, Principal::Recovery, client),
                "service:recovery"
            );
            assert_eq!(
                client_key(class, Principal::Anonymous, client),
                "ip:10.0.0.1"
            );
        }
        assert_eq!(
            client_key(Class::Read, Principal::Anonymous, Some(ip("::1"))),
            "ip:::1"
        );
        assert_eq!(
            client_key(Class::Read, Principal::Anonymous, None),
            "ip:unknown"
        );
        assert_eq!(
            redis_key(Class::Read, "ip:10.0.0.1"),
            "ratelimit:read:ip:10.0.0.1"
        );
    }

    #[test]
    fn credential_routes_always_count_the_address() {
        let client = Some(ip("203.0.113.9"));
        for principal in [
            Principal::Anonymous,
            Principal::User("u1"),
            Principal::Recovery,
        ] {
            assert_eq!(
                client_key(Class::Auth, principal, client),
                "ip:203.0.113.9",
                "{principal:?}"
            );
        }
        assert_eq!(
            client_key(Class::Auth, Principal::User("u1"), None),
            "ip:unknown"
        );
    }

    #[test]
    fn parses_trusted_proxies() {
        let (trusted, invalid) = TrustedProxies::parse(
            " 10.0.0.0/8, 192.0.2.7 ,, 2001:db8::/32, x, 1.2.3.4/33, /8, 10.0.0.1/a",
        );
        assert_eq!(invalid, ["x", "1.2.3.4/33", "/8", "10.0.0.1/a"]);
        for inside in [
            "10.0.0.1",
            "10.255.255.255",
            "192.0.2.7",
            "2001:db8::1",
            "::ffff:10.1.1.1",
        ] {
            assert!(trusted.contains(ip(inside)), "{inside}");
        }
        for outside in ["11.0.0.1", "192.0.2.8", "2001:db9::1", "::1", "127.0.0.1"] {
            assert!(!trusted.contains(ip(outside)), "{outside}");
        }
        assert_eq!(
            TrustedProxies::parse(""),
            (TrustedProxies::default(), vec![])
        );
        let (everyone, _) = TrustedProxies::parse("0.0.0.0/0");
        assert!(everyone.contains(ip("203.0.113.1")) && !everyone.contains(ip("::2")));
        let (mapped, _) = TrustedProxies::parse("::ffff:127.0.0.1");
        assert!(mapped.contains(ip("127.0.0.1")));
    }

    #[test]
    fn the_peer_is_the_client_unless_it_is_a_trusted_proxy() {
        let none = TrustedProxies::default();
        let forged = ["203.0.113.1"];
        assert_eq!(
            client_address(Some("127.0.0.1:5000"), &forged, &none),
            Some(ip("127.0.0.1"))
        );
        assert_eq!(
            client_address(Some("[::1]:5000"), &forged, &none),
            Some(ip("::1"))
        );
        assert_eq!(client_address(None, &forged, &none), None);
        assert_eq!(client_address(Some("nonsense"), &forged, &none), None);
        let (others, _) = TrustedProxies::parse("10.0.0.0/8");
        assert_eq!(
            client_address(Some("127.0.0.1:5000"), &forged, &others),
            Some(ip("127.0.0.1"))
        );
    }

    #[test]
    fn behind_trusted_proxies_the_right_most_untrusted_address_is_the_client() {
        let (trusted, _) = TrustedProxies::parse("127.0.0.1, 10.0.0.0/8");
        let peer = Some("127.0.0.1:40000");
        let client = |headers: &[&str]| client_address(peer, headers, &trusted);
        assert_eq!(client(&["203.0.113.1"]), Some(ip("203.0.113.1")));
        // Whatever the client wrote on the left proves nothing.
        assert_eq!(
            client(&["198.51.100.2, 203.0.113.1, 10.0.0.5"]),
            Some(ip("203.0.113.1"))
        );
        // Several headers are one list, in order.
        assert_eq!(
            client(&["198.51.100.2", "203.0.113.1", "10.0.0.5"]),
            Some(ip("203.0.113.1"))
        );
        assert_eq!(client(&["203.0.113.1:443"]), Some(ip("203.0.113.1")));
        assert_eq!(client(&["[2001:db8::7]:443"]), Some(ip("2001:db8::7")));
        // No header, or only proxies: the nearest one we know.
        assert_eq!(client(&[]), Some(ip("127.0.0.1")));
        assert_eq!(client(&["10.0.0.9, 10.0.0.5"]), Some(ip("10.0.0.9")));
        // Garbage where the proxies should have written an address: stop at the last proxy.
        assert_eq!(
            client(&["203.0.113.1, garbage, 10.0.0.5"]),
            Some(ip("10.0.0.5"))
        );
        assert_eq!(client(&["203.0.113.1, "]), Some(ip("127.0.0.1")));
    }

    #[test]
    fn a_chained_request_forwards_its_shoppers_address() {
        let none = TrustedProxies::default();
        // Port 0: local-infra's and Spin's address of a chained (`*.spin.internal`) request,
        // which only a component allowed to chain to the gateway (the storefront) can send.
        for peer in ["127.0.0.1:0", "0.0.0.0:0"] {
            assert_eq!(
                client_address(Some(peer), &["203.0.113.9"], &none),
                Some(ip("203.0.113.9")),
                "{peer}"
            );
            // Left of the storefront's own entry is what the shopper wrote: not believed.
            assert_eq!(
                client_address(Some(peer), &["198.51.100.1, 203.0.113.9"], &none),
                Some(ip("203.0.113.9"))
            );
        }
        // Behind a trusted proxy in front of the storefront, the walk goes on as usual.
        let (trusted, _) = TrustedProxies::parse("10.0.0.0/8");
        assert_eq!(
            client_address(Some("127.0.0.1:0"), &["203.0.113.9, 10.0.0.5"], &trusted),
            Some(ip("203.0.113.9"))
        );
        // A real connection never comes from port 0: a public client's header proves nothing.
        assert_eq!(
            client_address(Some("127.0.0.1:40000"), &["203.0.113.9"], &none),
            Some(ip("127.0.0.1"))
        );
        assert!(
            is_chained("127.0.0.1:0") && !is_chained("127.0.0.1:1") && !is_chained("127.0.0.1")
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
