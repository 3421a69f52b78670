//! The circuit breaker's and the bulkhead's Redis adapter: stores what `resilience` decides.
//! Keys per upstream: `breaker:<id>:open_until` (ms; absent = closed), `breaker:<id>:ok` /
//! `:fail` (outcome counters of the current window), `breaker:<id>:probe` (the half-open probe
//! lock, `SET NX PX`) and `bulkhead:<id>` (a sorted set of the requests in flight, scored by
//! start time, so a slot whose gateway instance died lapses instead of leaking).
//!
//! Admission and release each cost one round trip, the bulkhead riding in the breaker's
//! scripts. When Redis cannot be asked both are skipped (requests go through, logged): they
//! protect upstreams, they must not become an outage of their own.

use spin_sdk::redis::{Connection, RedisParameter, RedisResult};

use crate::resilience::{self, Admission, BreakerConfig, Snapshot, Transition};

/// Reads the breaker state and, unless it is open, takes a bulkhead slot.
/// KEYS: open_until, in-flight set. ARGV: now ms, request id, max in flight, slot lifetime ms.
/// Returns {open_until ms, 1 = slot taken | 0 = not asked (open) | -1 = full}.
const ADMIT_SCRIPT: &str = "local open_until = tonumber(redis.call('GET', KEYS[1]) or '0') \
if open_until > tonumber(ARGV[1]) then return {open_until, 0} end \
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', tonumber(ARGV[1]) - tonumber(ARGV[4])) \
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[3]) then return {open_until, -1} end \
redis.call('ZADD', KEYS[2], ARGV[1], ARGV[2]) \
redis.call('PEXPIRE', KEYS[2], ARGV[4]) \
return {open_until, 1}";

/// Frees the slot, counts one outcome in its window counter (starting the window on its first
/// hit) and returns both counters.
/// KEYS: counter to bump, ok, fail, in-flight set. ARGV: window ms, request id.
const RECORD_SCRIPT: &str = "redis.call('ZREM', KEYS[4], ARGV[2]) \
local n = redis.call('INCR', KEYS[1]) \
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end \
return {tonumber(redis.call('GET', KEYS[2]) or '0'), tonumber(redis.call('GET', KEYS[3]) or '0')}";

pub struct Breaker {
    connection: Connection,
    upstream: &'static str,
    config: BreakerConfig,
    max_in_flight: i64,
    /// This request's member of the in-flight set.
    request_id: String,
    holds_slot: bool,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn binary(text: impl Into<String>) -> RedisParameter {
    RedisParameter::Binary(text.into().into_bytes())
}

impl Breaker {
    /// `None` (breaker and bulkhead skipped) when Redis is unavailable.
    pub fn open(upstream: &'static str) -> Option<Self> {
        let address = spin_sdk::variables::get("redis_address").ok()?;
        let config = BreakerConfig::with_open_ms(
            spin_sdk::variables::get("breaker_open_ms").ok().as_deref(),
        );
        let max_in_flight = resilience::max_in_flight(
            spin_sdk::variables::get("upstream_max_in_flight")
                .ok()
                .as_deref(),
        );
        match Connection::open(&address) {
            Ok(connection) => Some(Self {
                connection,
                upstream,
                config,
                max_in_flight,
                // Not the client-supplied request id: two requests may share that.
                request_id: uuid::Uuid::new_v4().to_string(),
                holds_slot: false,
            }),
            Err(e) => {
                wasmshop_kit::trace::log(
                    "gateway",
                    format_args!("breaker for {upstream} skipped: {e}"),
                );
                None
            }
        }
    }

    fn key(&self, suffix: &str) -> String {
        format!("breaker:{}:{suffix}", self.upstream)
    }

    fn in_flight_key(&self) -> String {
        format!("bulkhead:{}", self.upstream)
    }

    fn run(&self, command: &str, arguments: &[RedisParameter]) -> Option<Vec<RedisResult>> {
        self.connection
            .execute(command, arguments)
            .map_err(|e| {
                wasmshop_kit::trace::log(
                    "gateway",
                    format_args!("breaker for {}: {e}", self.upstream),
                );
            })
            .ok()
    }

    /// Whether a request may go to the upstream now; `slot_lifetime_ms` bounds how long its
    /// bulkhead slot counts if it is never released.
    pub fn admit(&mut self, slot_lifetime_ms: i64) -> Admission {
        let now = now_ms();
        let reply = self.run(
            "EVAL",
            &[
                binary(ADMIT_SCRIPT),
                RedisParameter::Int64(2),
                binary(self.key("open_until")),
                binary(self.in_flight_key()),
                RedisParameter::Int64(now),
                binary(self.request_id.clone()),
                RedisParameter::Int64(self.max_in_flight),
                RedisParameter::Int64(slot_lifetime_ms),
            ],
        );
        let Some([RedisResult::Int64(open_until_ms), RedisResult::Int64(slot)]) = reply.as_deref()
        else {
            return Admission::Send;
        };
        self.holds_slot = *slot == 1;
        if *slot == -1 {
            return Admission::Full;
        }
        let state = Snapshot {
            open_until_ms: *open_until_ms,
        }
        .state(now);
        let admission = resilience::admit(state, || {
            let reply = self.run(
                "SET",
                &[
                    binary(self.key("probe")),
                    binary("1"),
                    binary("NX"),
                    binary("PX"),
                    RedisParameter::Int64(self.config.probe_ms),
                ],
            );
            matches!(reply.as_deref(), Some([RedisResult::Status(s)]) if s == "OK")
        });
        if matches!(admission, Admission::Reject { .. }) {
            self.release();
        }
        admission
    }

    /// Gives the bulkhead slot back without counting an outcome.
    fn release(&mut self) {
        if std::mem::take(&mut self.holds_slot) {
            self.run(
                "ZREM",
                &[
                    binary(self.in_flight_key()),
                    binary(self.request_id.clone()),
                ],
            );
        }
    }

    /// Records the outcome of a request that `admit` let through, frees its slot, and stores
    /// the transition.
    pub fn record(&mut self, admission: Admission, success: bool) {
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
                let reply = self.run(
                    "EVAL",
                    &[
                        binary(RECORD_SCRIPT),
                        RedisParameter::Int64(4),
                        binary(self.key(counter)),
                        binary(self.key("ok")),
                        binary(self.key("fail")),
                        binary(self.in_flight_key()),
                        RedisParameter::Int64(config.window_ms),
                        binary(self.request_id.clone()),
                    ],
                );
                self.holds_slot = false;
                match reply.as_deref() {
                    Some([RedisResult::Int64(ok), RedisResult::Int64(fail)]) => {
                        resilience::after_outcome(*ok, *fail, now, &config)
                    }
                    _ => return,
                }
            }
        };
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
