//! The gate's Redis adapter: runs the per-request gate script (`gate.rs`: revocation, rate
//! limit, circuit state, bulkhead slot in one round trip), records the outcome after the call
//! (the circuit breaker's counters and transitions, the slot, the response cache's entry), and
//! answers the lone revocation lookup of a refused request (`is_revoked`).
//!
//! Keys per upstream: `breaker:<id>:open_until` (ms; absent = closed), `breaker:<id>:ok` /
//! `:fail` (outcome counters of the current window), `breaker:<id>:probe` (the half-open probe
//! lock, `SET NX PX`) and `bulkhead:<id>` (a sorted set of the requests in flight, scored by
//! start time, so a slot whose gateway instance died lapses instead of leaking).
//!
//! A request costs two round trips: the gate before the call, the outcome (which frees the
//! slot, and stores or drops the response cache's entry) after it; a circuit that opens or
//! closes costs one more; a cached answer costs only the first. What happens when Redis cannot
//! be asked is the caller's policy (`gate::gate`).

use spin_sdk::redis::{Connection, RedisParameter, RedisResult};
use wasmshop_kit::token::revocation_key;

use crate::cache;
use crate::gate;
use crate::limiter::Limit;
use crate::resilience::{self, Admission, BreakerConfig, Transition};

/// Frees the slot, counts one outcome in its window counter (starting the window on its first
/// hit), stores (1) or drops (2) the response cache's entry and its fresh mark, and returns
/// both counters.
/// KEYS: counter to bump, ok, fail, in-flight set, cached response, its fresh mark. ARGV:
/// window ms, request id, cache update (0/1/2), fresh ms, kept ms, entry.
const RECORD_SOURCE: &str = "redis.call('ZREM', KEYS[4], ARGV[2]) \
if ARGV[3] == '1' then \
  redis.call('SET', KEYS[5], ARGV[6], 'PX', ARGV[5]) \
  redis.call('SET', KEYS[6], '1', 'PX', ARGV[4]) \
elseif ARGV[3] == '2' then redis.call('DEL', KEYS[5], KEYS[6]) end \
local n = redis.call('INCR', KEYS[1]) \
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end \
return {tonumber(redis.call('GET', KEYS[2]) or '0'), tonumber(redis.call('GET', KEYS[3]) or '0')}";
const GATE_SCRIPT: Script = Script {
    source: gate::SCRIPT,
    sha1: "4e63367b726c5c6e50ad1e4f0d74344bcec02669",
};

const RECORD_SCRIPT: Script = Script {
    source: RECORD_SOURCE,
    sha1: "f25be6df67a1a1d22c0bbd589c51cb3a5b591226",
};

/// A Lua script run by its SHA-1 (`EVALSHA`): Redis neither receives nor hashes its text on
/// every request. A Redis that does not know it (restarted, flushed) answers `NOSCRIPT`; it is
/// then sent once with `EVAL`, which caches it again. `sha1` is checked against `source` by a
/// unit test.
pub struct Script {
    pub source: &'static str,
    pub sha1: &'static str,
}

impl Script {
    /// `EVALSHA`, or `EVAL` when Redis lacks the script. `keys_and_args` begins with the
    /// number of keys, as after the script in the Redis command.
    fn run(
        &self,
        connection: &Connection,
        keys_and_args: impl IntoIterator<Item = RedisParameter>,
    ) -> Result<Vec<RedisResult>, spin_sdk::redis::Error> {
        let mut arguments = vec![binary(self.sha1)];
        arguments.extend(keys_and_args);
        match connection.execute("EVALSHA", &arguments) {
            Err(e) if e.to_string().to_ascii_lowercase().contains("noscript") => {
                arguments[0] = binary(self.source);
                connection.execute("EVAL", &arguments)
            }
            answer => answer,
        }
    }
}

pub struct Breaker {
    connection: Connection,
    upstream: &'static str,
    config: BreakerConfig,
    /// The in-flight set the slot is in (`in_flight_key`).
    in_flight: String,
    /// This request's member of the in-flight set.
    slot: String,
    holds_slot: bool,
}

/// What the gate is asked about one request.
pub struct Ask<'a> {
    pub upstream: &'static str,
    /// The token's id, when the request has one: checked against the revocations.
    pub jti: Option<&'a str>,
    /// The client's counter for the route's class (`limiter::redis_key`).
    pub limit_key: String,
    pub limit: Limit,
    /// How long a bulkhead slot counts if it is never given back.
    pub slot_lifetime_ms: i64,
    /// A write: its slot is taken in the upstream's bulkhead of writes.
    pub writes: bool,
    /// The response cache's entry to answer from, for a public read.
    pub cache: Option<cache::Keys>,
    /// How long a request that refreshes a stale entry holds its fresh mark.
    pub refresh_ms: i64,
    /// The upstream's circuit breaker settings (`config::breaker`).
    pub breaker: BreakerConfig,
    /// The size of the bulkhead the slot is taken in (`config::max_in_flight`).
    pub max_in_flight: i64,
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn binary(text: impl Into<String>) -> RedisParameter {
    RedisParameter::Binary(text.into().into_bytes())
}

fn key(upstream: &str, suffix: &str) -> String {
    format!("breaker:{upstream}:{suffix}")
}

/// The in-flight set of an upstream's reads, or of its writes (a bulkhead of their own).
fn in_flight_key(upstream: &str, writes: bool) -> String {
    if writes {
        format!("bulkhead:{upstream}:writes")
    } else {
        format!("bulkhead:{upstream}")
    }
}

/// Runs the gate script: the verdict, and the breaker that must record the outcome of an
/// admitted request (it gives its bulkhead slot back when dropped). `Err` when Redis cannot
/// be asked.
pub fn ask(address: &str, ask: &Ask<'_>) -> Result<(gate::Verdict, Breaker), String> {
    let config = ask.breaker;
    let in_flight = in_flight_key(ask.upstream, ask.writes);
    let connection = Connection::open(address).map_err(|e| e.to_string())?;
    // Not the client-supplied request id: two requests may share that.
    let slot = uuid::Uuid::new_v4().to_string();
    let now = now_ms();
    let upstream = ask.upstream;
    let reply = GATE_SCRIPT
        .run(
            &connection,
            [
                RedisParameter::Int64(7),
                binary(revocation_key(ask.jti.unwrap_or_default())),
                binary(ask.limit_key.clone()),
                binary(key(upstream, "open_until")),
                binary(key(upstream, "probe")),
                binary(in_flight.clone()),
                binary(
                    ask.cache
                        .as_ref()
                        .map(|k| k.entry.clone())
                        .unwrap_or_default(),
                ),
                binary(
                    ask.cache
                        .as_ref()
                        .map(|k| k.fresh.clone())
                        .unwrap_or_default(),
                ),
                binary(if ask.jti.is_some() { "1" } else { "0" }),
                RedisParameter::Int64(i64::from(ask.limit.window_seconds) * 1000),
                RedisParameter::Int64(i64::from(ask.limit.requests)),
                RedisParameter::Int64(now),
                binary(slot.clone()),
                RedisParameter::Int64(ask.max_in_flight),
                RedisParameter::Int64(ask.slot_lifetime_ms),
                RedisParameter::Int64(config.probe_ms),
                binary(if ask.cache.is_some() { "1" } else { "0" }),
                RedisParameter::Int64(ask.refresh_ms),
            ],
        )
        .map_err(|e| e.to_string())?;
    let unexpected = || format!("unexpected gate reply of {} values", reply.len());
    let (numbers, cached) = match reply.as_slice() {
        [numbers @ .., RedisResult::Binary(entry)] => (numbers, Some(entry.clone())),
        numbers => (numbers, None),
    };
    let values: Vec<i64> = numbers
        .iter()
        .map(|value| match value {
            RedisResult::Int64(n) => Ok(*n),
            _ => Err(unexpected()),
        })
        .collect::<Result<_, _>>()?;
    let reply = gate::Reply::parse(&values, cached).ok_or_else(unexpected)?;
    let breaker = Breaker {
        connection,
        upstream,
        config,
        in_flight,
        slot,
        holds_slot: reply.holds_slot(),
    };
    Ok((gate::decide(reply, ask.limit, now), breaker))
}

/// `EXISTS revoked:jti:<jti>`: the revocation lookup of a request refused for its role (the
/// common path asks in the gate's script). `Err` when Redis cannot be asked.
pub fn is_revoked(address: &str, jti: &str) -> Result<bool, spin_sdk::redis::Error> {
    let connection = Connection::open(address)?;
    let result = connection.execute("EXISTS", &[binary(revocation_key(jti))])?;
    Ok(matches!(result.first(), Some(RedisResult::Int64(n)) if *n > 0))
}

impl Breaker {
    fn key(&self, suffix: &str) -> String {
        key(self.upstream, suffix)
    }

    fn run(&self, command: &str, arguments: &[RedisParameter]) -> Option<Vec<RedisResult>> {
        self.connection
            .execute(command, arguments)
            .map_err(|e| self.log_failure(&e))
            .ok()
    }

    fn log_failure(&self, error: &spin_sdk::redis::Error) {
        wasmshop_kit::trace::log(
            "gateway",
            format_args!("breaker for {}: {error}", self.upstream),
        );
    }

    /// Gives the bulkhead slot back without counting an outcome.
    fn release(&mut self) {
        if std::mem::take(&mut self.holds_slot) {
            self.run(
                "ZREM",
                &[binary(self.in_flight.clone()), binary(self.slot.clone())],
            );
        }
    }

    /// Records the outcome of a request that `admit` let through, frees its slot, applies the
    /// response cache's `update`, and stores the transition. A probe's outcome leaves the cache
    /// as it is: the probe only asks whether the upstream is back.
    pub fn record(&mut self, admission: Admission, success: bool, update: cache::Update) {
        let now = now_ms();
        let config = self.config;
        let transition = match admission {
            Admission::Reject { .. } | Admission::Full => return,
            Admission::Probe => {
                self.release();
                resilience::after_probe(success, now, &config)
            }
            Admission::Send => {
                let counter = if success { "ok" } else { "fail" };
                let none = || cache::Keys {
                    entry: String::new(),
                    fresh: String::new(),
                };
                let (operation, keys, ttl_ms, entry) = match update {
                    cache::Update::Keep => ("0", none(), 0, Vec::new()),
                    cache::Update::Store {
                        keys,
                        ttl_ms,
                        entry,
                    } => ("1", keys, ttl_ms, entry),
                    cache::Update::Drop { keys } => ("2", keys, 0, Vec::new()),
                };
                let reply = RECORD_SCRIPT
                    .run(
                        &self.connection,
                        [
                            RedisParameter::Int64(6),
                            binary(self.key(counter)),
                            binary(self.key("ok")),
                            binary(self.key("fail")),
                            binary(self.in_flight.clone()),
                            binary(keys.entry),
                            binary(keys.fresh),
                            RedisParameter::Int64(config.window_ms),
                            binary(self.slot.clone()),
                            binary(operation),
                            RedisParameter::Int64(ttl_ms),
                            RedisParameter::Int64(cache::kept_for_ms(ttl_ms)),
                            RedisParameter::Binary(entry),
                        ],
                    )
                    .map_err(|e| self.log_failure(&e))
                    .ok();
                self.holds_slot = false;
                match reply.as_deref() {
                    Some([RedisResult::Int64(ok), RedisResult::Int64(fail)]) => {
                        resilience::after_outcome(*ok, *fail, now, &config)
                    }
                    _ => return,
                }
            }
        };
        self.store(transition);
    }

    /// Stores a circuit's transition: open (until when) or closed again.
    fn store(&self, transition: Transition) {
        let config = self.config;
        let counters = [self.key("ok"), self.key("fail"), self.key("probe")];
        match transition {
            Transition::Stay => {}
            Transition::Open { until_ms } => {
                wasmshop_kit::trace::log(
                    "gateway",
                    format_args!("circuit for {} opens", self.upstream),
                );
                // Kept well past the open period so a half-open state is seen; then it lapses.
                self.run(
                    "SET",
                    &[
                        binary(self.key("open_until")),
                        binary(until_ms.to_string()),
                        binary("PX"),
                        RedisParameter::Int64(config.open_ms + config.window_ms),
                    ],
                );
                self.run("DEL", &counters.map(binary));
            }
            Transition::Close => {
                wasmshop_kit::trace::log(
                    "gateway",
                    format_args!("circuit for {} closes", self.upstream),
                );
                let mut keys = counters.map(binary).to_vec();
                keys.push(binary(self.key("open_until")));
                self.run("DEL", &keys);
            }
        }
    }
}

impl Drop for Breaker {
    /// A request abandoned between admission and outcome still frees its slot.
    fn drop(&mut self) {
        self.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_are_named_by_the_sha1_of_their_source() {
        for script in [GATE_SCRIPT, RECORD_SCRIPT] {
            assert_eq!(
                sha1_smol::Sha1::from(script.source).digest().to_string(),
                script.sha1,
                "{}",
                script.source
            );
        }
    }
}
