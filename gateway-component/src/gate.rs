//! The gate before the upstream: everything the gateway asks Redis before forwarding a request,
//! in one round trip — is the token revoked, the rate-limit count, the upstream's circuit state
//! (with the half-open probe lock) and a bulkhead slot; a public read may also be answered from
//! the shared response cache (`cache.rs`) in the same trip. This module holds the policy
//! (`gate`: what to ask, what each verdict answers, what happens when Redis is unreachable),
//! the Lua script that does the lookups and increments atomically, and the reading of its
//! reply into a verdict (pure). The decisions themselves are `limiter::decide` and
//! `resilience::admit`; the Redis calls are in `gate_redis.rs`.
//!
//! Asking separately cost four round trips per request (`EXISTS`, the limiter's script, the
//! breaker's script, its release); each is a host call, a trip through the runtime's shared
//! Redis connection and a wake-up of the request's task, about a quarter of the gateway's
//! time per request under load.

use spin_sdk::http::Response;
use wasmshop_kit::error::ApiError;

use crate::auth::{AuthError, Caller};
use crate::gate_redis::{self, Breaker};
use crate::limiter::{self, Decision, Limit};
use crate::resilience::{self, Admission, Snapshot};
use crate::routes::{self, Route};
use crate::{Context, Outcome, cache, config, unavailable};

/// KEYS: revoked-jti key, rate-limit counter, `open_until`, probe lock, in-flight set, cached
/// response, its fresh mark. ARGV: check revocation (1/0), window ms, requests allowed, now ms,
/// slot member, max in flight, slot lifetime ms, probe lock ms, look up the cache (1/0),
/// refresh lock ms.
///
/// Steps, each only if the previous one let the request on: a revoked token stops everything
/// (nothing counted); the window's counter is bumped (started on its first hit, re-armed if it
/// lost its TTL); past the limit, stop; a cached response ends it (the upstream is not called,
/// so its circuit and bulkhead are not asked) unless it is stale and this request is the one
/// that takes the fresh mark (`SET NX PX`) to refresh it — a refresh the circuit or the
/// bulkhead would refuse is answered with the stale entry instead; an open circuit stops; a half-open one needs the
/// probe lock (`SET NX PX`); then a bulkhead slot (the in-flight set, scored by start time, so
/// a slot of a dead instance lapses), released again with the probe lock when full.
///
/// Returns `{revoked 1/0, count, window ms left, open_until ms (0 = closed), slot}` with slot
/// 0 = not asked, 1 = taken, 2 = taken with the probe lock, -1 = full, 3 = cached, the last
/// followed by the cached entry.
pub const SCRIPT: &str = "\
if ARGV[1] == '1' and redis.call('EXISTS', KEYS[1]) == 1 then return {1, 0, 0, 0, 0} end \
local n = redis.call('INCR', KEYS[2]) \
local ttl = redis.call('PTTL', KEYS[2]) \
if n == 1 or ttl < 0 then redis.call('PEXPIRE', KEYS[2], ARGV[2]) ttl = tonumber(ARGV[2]) end \
if n > tonumber(ARGV[3]) then return {0, n, ttl, 0, 0} end \
local stale = false \
if ARGV[9] == '1' then \
  local hit = redis.call('GET', KEYS[6]) \
  if hit then \
    if not redis.call('SET', KEYS[7], '1', 'NX', 'PX', ARGV[10]) then return {0, n, ttl, 0, 3, hit} end \
    stale = hit \
  end \
end \
local now = tonumber(ARGV[4]) \
local open_until = tonumber(redis.call('GET', KEYS[3]) or '0') \
if open_until > now then \
  if stale then return {0, n, ttl, 0, 3, stale} end \
  return {0, n, ttl, open_until, 0} \
end \
local probe = 0 \
if open_until > 0 then \
  if not redis.call('SET', KEYS[4], '1', 'NX', 'PX', ARGV[8]) then \
    if stale then return {0, n, ttl, 0, 3, stale} end \
    return {0, n, ttl, open_until, 0} \
  end \
  probe = 1 \
end \
redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', now - tonumber(ARGV[7])) \
if redis.call('ZCARD', KEYS[5]) >= tonumber(ARGV[6]) then \
  if probe == 1 then redis.call('DEL', KEYS[4]) end \
  if stale then return {0, n, ttl, 0, 3, stale} end \
  return {0, n, ttl, open_until, -1} \
end \
redis.call('ZADD', KEYS[5], now, ARGV[5]) \
redis.call('PEXPIRE', KEYS[5], ARGV[7]) \
return {0, n, ttl, open_until, 1 + probe}";

/// What the script says about the bulkhead slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// Not asked: revoked, rate-limited, or the circuit is open.
    NotAsked,
    Taken,
    /// Taken, and this request is the half-open circuit's probe.
    TakenWithProbe,
    /// The upstream already has its maximum in flight.
    Full,
    /// Answered from the response cache; the upstream is not called.
    Cached,
}

/// The script's reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub revoked: bool,
    /// This request's number in its rate-limit window.
    pub count: i64,
    pub window_left_ms: i64,
    /// 0 when the circuit is closed.
    pub open_until_ms: i64,
    pub slot: Slot,
    /// The cached response (`cache::encode`), with [`Slot::Cached`] only.
    pub cached: Option<Vec<u8>>,
}

impl Reply {
    /// The five integers the script returns, and the entry that follows slot 3; `None` for
    /// anything else.
    pub fn parse(values: &[i64], cached: Option<Vec<u8>>) -> Option<Self> {
        let &[revoked, count, window_left_ms, open_until_ms, slot] = values else {
            return None;
        };
        let slot = match (slot, &cached) {
            (0, None) => Slot::NotAsked,
            (1, None) => Slot::Taken,
            (2, None) => Slot::TakenWithProbe,
            (-1, None) => Slot::Full,
            (3, Some(_)) => Slot::Cached,
            _ => return None,
        };
        Some(Self {
            revoked: revoked == 1,
            count,
            window_left_ms,
            open_until_ms,
            slot,
            cached,
        })
    }

    /// Whether this request holds a bulkhead slot to give back.
    pub fn holds_slot(&self) -> bool {
        matches!(self.slot, Slot::Taken | Slot::TakenWithProbe)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The token was revoked (logout): 401.
    Revoked,
    /// Past the client's limit: 429.
    Limited(Decision),
    /// Within the limit; `admission` says whether the upstream may be called (`Send`,
    /// `Probe`) or not (`Reject` while the circuit is open, `Full` for the bulkhead).
    Counted {
        rate_limit: Decision,
        admission: Admission,
    },
    /// Within the limit, and answered from the response cache (`cache::encode`d).
    Cached {
        rate_limit: Decision,
        response: Vec<u8>,
    },
}

/// The verdict on a request given the script's reply, its route class's `limit` and the
/// `now_ms` the script was given.
pub fn decide(reply: Reply, limit: Limit, now_ms: i64) -> Verdict {
    if reply.revoked {
        return Verdict::Revoked;
    }
    let rate_limit = limiter::decide(limit, reply.count, reply.window_left_ms);
    if !rate_limit.allowed {
        return Verdict::Limited(rate_limit);
    }
    if let Some(response) = reply.cached {
        return Verdict::Cached {
            rate_limit,
            response,
        };
    }
    let admission = match reply.slot {
        Slot::Taken => Admission::Send,
        Slot::TakenWithProbe => Admission::Probe,
        Slot::Full => Admission::Full,
        // Open, or half-open with the probe lock taken by another request; a closed circuit
        // always asks for a slot, so `Send` here is only a guard against a malformed reply.
        Slot::NotAsked | Slot::Cached => resilience::admit(
            Snapshot {
                open_until_ms: reply.open_until_ms,
            }
            .state(now_ms),
            || false,
        ),
    };
    Verdict::Counted {
        rate_limit,
        admission,
    }
}

/// What the gate made of a request.
pub enum Gated {
    Forward(Pass),
    /// A public read answered from the response cache.
    Cached(Response),
}

/// A request the gate let through to its upstream.
pub struct Pass {
    /// Records the outcome and frees the bulkhead slot; `None` when Redis could not be asked.
    pub breaker: Option<Breaker>,
    pub admission: Admission,
}

impl Pass {
    /// Let through without Redis's word: nothing to record, no slot to free.
    fn unguarded() -> Gated {
        Gated::Forward(Pass {
            breaker: None,
            admission: Admission::Send,
        })
    }
}

/// The gate for one request (one Redis round trip): the token's revocation, the client's
/// rate-limit window for the route's class, the upstream's circuit and a slot of its
/// bulkhead, or a public read's cached answer. The rate-limit decision goes to `outcome`.
pub fn gate(
    context: &Context,
    route: &Route,
    caller: &Caller,
    method: &str,
    outcome: &mut Outcome,
) -> Result<Gated, ApiError> {
    let client = limiter::client_key(route.class, caller.principal(), context.client);
    let timeout_ms = i64::try_from(route.class.timeout().as_millis()).unwrap_or(i64::MAX);
    let writes = route.class == routes::Class::Write;
    let ask = gate_redis::Ask {
        upstream: route.upstream,
        jti: caller.claims().map(|c| c.jti.as_str()),
        limit_key: limiter::redis_key(route.class, &client),
        limit: config::rate_limit(route.class),
        slot_lifetime_ms: timeout_ms.saturating_mul(2),
        writes,
        cache: cache::shared_read(method, route)
            .then(|| cache::keys(&context.path, &context.query)),
        refresh_ms: timeout_ms,
        breaker: config::breaker(),
        max_in_flight: config::max_in_flight(writes),
    };
    let asked = config::redis_address()
        .map_err(|e| e.message)
        .and_then(|address| gate_redis::ask(&address, &ask));
    let (verdict, breaker) = match asked {
        Ok(answer) => answer,
        Err(e) => {
            wasmshop_kit::trace::log("gateway", format_args!("gate for {}: {e}", route.upstream));
            return without_redis(caller, method);
        }
    };
    match verdict {
        Verdict::Revoked => Err(AuthError::Revoked.into_api_error()),
        Verdict::Limited(decision) => {
            outcome.rate_limit = Some(decision);
            Err(ApiError::too_many_requests(decision.reset_seconds))
        }
        Verdict::Cached {
            rate_limit,
            response,
        } => {
            outcome.rate_limit = Some(rate_limit);
            Ok(cache::answer(&response).map_or_else(
                || {
                    // Not an entry this gateway wrote: ask the upstream, outside the bulkhead
                    // (the gate did not reach it).
                    wasmshop_kit::trace::log("gateway", "unreadable response cache entry");
                    Pass::unguarded()
                },
                Gated::Cached,
            ))
        }
        Verdict::Counted {
            rate_limit,
            admission,
        } => {
            outcome.rate_limit = Some(rate_limit);
            admitted(route, admission, breaker)
        }
    }
}

/// Policy when Redis is unreachable: an anonymous read (GET/HEAD) fails open — no limit, no
/// breaker: browsing must survive a Redis outage and reads change nothing; everything else is
/// refused with 503 `service_unavailable` — an unthrottled write path (login guessing, order
/// spam) is worse than a brief outage, and a revoked token could not be recognised.
fn without_redis(caller: &Caller, method: &str) -> Result<Gated, ApiError> {
    if matches!(caller, Caller::Anonymous) && limiter::fail_open(method) {
        return Ok(Pass::unguarded());
    }
    Err(unavailable(if caller.claims().is_some() {
        "token revocation cannot be checked; retry later"
    } else {
        "rate limiting is unavailable; retry later"
    }))
}

/// What the upstream's circuit and bulkhead said of a request within its rate limit.
fn admitted(route: &Route, admission: Admission, breaker: Breaker) -> Result<Gated, ApiError> {
    match admission {
        Admission::Reject {
            retry_after_seconds,
        } => {
            let mut error = unavailable(format!(
                "{} is failing; the circuit is open",
                route.upstream
            ));
            error.code = "circuit_open";
            error.retry_after = Some(retry_after_seconds);
            Err(error)
        }
        Admission::Full => {
            let mut error = unavailable(format!(
                "{} has too many requests in flight",
                route.upstream
            ));
            error.code = "upstream_busy";
            error.retry_after = Some(1);
            Err(error)
        }
        Admission::Send | Admission::Probe => Ok(Gated::Forward(Pass {
            breaker: Some(breaker),
            admission,
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;
    const LIMIT: Limit = Limit {
        requests: 3,
        window_seconds: 10,
    };

    fn reply(values: [i64; 5]) -> Reply {
        Reply::parse(&values, None).expect("a well-formed reply")
    }

    #[test]
    fn parses_only_the_scripts_shape() {
        assert_eq!(
            reply([0, 2, 9_000, 0, 1]),
            Reply {
                revoked: false,
                count: 2,
                window_left_ms: 9_000,
                open_until_ms: 0,
                slot: Slot::Taken,
                cached: None,
            }
        );
        assert_eq!(reply([1, 0, 0, 0, 0]).slot, Slot::NotAsked);
        assert_eq!(reply([0, 1, 1, 5, 2]).slot, Slot::TakenWithProbe);
        assert_eq!(reply([0, 1, 1, 0, -1]).slot, Slot::Full);
        assert!(reply([0, 1, 1, 0, 2]).holds_slot() && reply([0, 1, 1, 0, 1]).holds_slot());
        assert!(!reply([0, 1, 1, 0, -1]).holds_slot() && !reply([0, 1, 1, 0, 0]).holds_slot());
        for bad in [
            &[][..],
            &[0, 1, 1, 0],
            &[0, 1, 1, 0, 1, 0],
            &[0, 1, 1, 0, 3],
        ] {
            assert_eq!(Reply::parse(bad, None), None, "{bad:?}");
        }
        // An entry comes with slot 3 and only with it.
        assert_eq!(
            Reply::parse(&[0, 1, 1, 0, 3], Some(b"x".to_vec())).map(|r| r.slot),
            Some(Slot::Cached)
        );
        assert_eq!(Reply::parse(&[0, 1, 1, 0, 1], Some(b"x".to_vec())), None);
    }

    #[test]
    fn a_cached_answer_is_counted_and_never_admitted_upstream() {
        let reply = Reply::parse(&[0, 2, 9_000, 0, 3], Some(b"entry".to_vec())).expect("cached");
        let Verdict::Cached {
            rate_limit,
            response,
        } = decide(reply, LIMIT, NOW)
        else {
            panic!("a cached reply is served");
        };
        assert_eq!((rate_limit.allowed, rate_limit.remaining), (true, 1));
        assert_eq!(response, b"entry");
    }

    #[test]
    fn a_revoked_token_stops_before_anything_is_counted() {
        assert_eq!(decide(reply([1, 0, 0, 0, 0]), LIMIT, NOW), Verdict::Revoked);
    }

    #[test]
    fn the_limit_is_exact_and_a_limited_request_is_not_admitted() {
        let Verdict::Counted {
            rate_limit,
            admission,
        } = decide(reply([0, 3, 9_500, 0, 1]), LIMIT, NOW)
        else {
            panic!("the third request is within the limit");
        };
        assert_eq!((rate_limit.remaining, rate_limit.reset_seconds), (0, 10));
        assert_eq!(admission, Admission::Send);
        let Verdict::Limited(decision) = decide(reply([0, 4, 1_200, 0, 0]), LIMIT, NOW) else {
            panic!("the fourth request is past the limit");
        };
        assert!(!decision.allowed);
        assert_eq!(decision.reset_seconds, 2);
    }

    #[test]
    fn open_half_open_and_full_circuits_map_to_their_admissions() {
        let counted = |values| match decide(reply(values), LIMIT, NOW) {
            Verdict::Counted { admission, .. } => admission,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            counted([0, 1, 10_000, NOW + 2_500, 0]),
            Admission::Reject {
                retry_after_seconds: 3
            }
        );
        // Half-open, the probe lock held by someone else.
        assert_eq!(
            counted([0, 1, 10_000, NOW - 1, 0]),
            Admission::Reject {
                retry_after_seconds: 1
            }
        );
        assert_eq!(counted([0, 1, 10_000, NOW - 1, 2]), Admission::Probe);
        assert_eq!(counted([0, 1, 10_000, 0, -1]), Admission::Full);
        assert_eq!(counted([0, 1, 10_000, 0, 1]), Admission::Send);
    }

    #[test]
    fn the_script_declares_every_key_it_touches() {
        // Redis requires scripts to name their keys in KEYS (cluster and replication rely on
        // it): no key built inside the script.
        assert!(!SCRIPT.contains(".."), "no key concatenation in Lua");
        for n in 1..=7 {
            assert!(SCRIPT.contains(&format!("KEYS[{n}]")), "KEYS[{n}]");
        }
        assert!(!SCRIPT.contains("KEYS[8]"));
    }
}
