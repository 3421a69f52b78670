//! The circuit breaker's Redis adapter: stores what `resilience` decides. Keys per upstream:
//! `breaker:<id>:open_until` (ms; absent = closed), `breaker:<id>:ok` / `:fail` (outcome counters
//! of the current window) and `breaker:<id>:probe` (the half-open probe lock, `SET NX PX`).
//! When Redis cannot be asked the breaker is skipped (requests go through, logged): it protects
//! upstreams, it must not become an outage of its own.

use spin_sdk::redis::{Connection, RedisParameter, RedisResult};

use crate::resilience::{self, Admission, BREAKER, Snapshot, Transition};

/// Counts one outcome in its window counter (starting the window on its first hit) and returns
/// both counters: one round trip.
const RECORD_SCRIPT: &str = "local n = redis.call('INCR', KEYS[1]) \
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end \
return {tonumber(redis.call('GET', KEYS[2]) or '0'), tonumber(redis.call('GET', KEYS[3]) or '0')}";

pub struct Breaker {
    connection: Connection,
    upstream: &'static str,
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
    /// `None` (breaker skipped) when Redis is unavailable.
    pub fn open(upstream: &'static str) -> Option<Self> {
        let address = spin_sdk::variables::get("redis_address").ok()?;
        match Connection::open(&address) {
            Ok(connection) => Some(Self {
                connection,
                upstream,
            }),
            Err(e) => {
                eprintln!("gateway: breaker for {upstream} skipped: {e}");
                None
            }
        }
    }

    fn key(&self, suffix: &str) -> String {
        format!("breaker:{}:{suffix}", self.upstream)
    }

    fn run(&self, command: &str, arguments: &[RedisParameter]) -> Option<Vec<RedisResult>> {
        self.connection
            .execute(command, arguments)
            .map_err(|e| eprintln!("gateway: breaker for {}: {e}", self.upstream))
            .ok()
    }

    /// Whether a request may go to the upstream now.
    pub fn admit(&self) -> Admission {
        let Some(reply) = self.run("GET", &[binary(self.key("open_until"))]) else {
            return Admission::Send;
        };
        let open_until_ms = match reply.first() {
            Some(RedisResult::Binary(bytes)) => std::str::from_utf8(bytes)
                .ok()
                .and_then(|t| t.parse().ok())
                .unwrap_or(0),
            _ => 0,
        };
        let state = Snapshot { open_until_ms }.state(now_ms());
        resilience::admit(state, || {
            let reply = self.run(
                "SET",
                &[
                    binary(self.key("probe")),
                    binary("1"),
                    binary("NX"),
                    binary("PX"),
                    RedisParameter::Int64(BREAKER.probe_ms),
                ],
            );
            matches!(reply.as_deref(), Some([RedisResult::Status(s)]) if s == "OK")
        })
    }

    /// Records the outcome of a request that `admit` let through, and stores the transition.
    pub fn record(&self, admission: Admission, success: bool) {
        let now = now_ms();
        let transition = match admission {
            Admission::Reject { .. } => return,
            Admission::Probe => resilience::after_probe(success, now, &BREAKER),
            Admission::Send => {
                let counter = if success { "ok" } else { "fail" };
                let reply = self.run(
                    "EVAL",
                    &[
                        binary(RECORD_SCRIPT),
                        RedisParameter::Int64(3),
                        binary(self.key(counter)),
                        binary(self.key("ok")),
                        binary(self.key("fail")),
                        RedisParameter::Int64(BREAKER.window_ms),
                    ],
                );
                match reply.as_deref() {
                    Some([RedisResult::Int64(ok), RedisResult::Int64(fail)]) => {
                        resilience::after_outcome(*ok, *fail, now, &BREAKER)
                    }
                    _ => return,
                }
            }
        };
        let counters = [self.key("ok"), self.key("fail"), self.key("probe")];
        match transition {
            Transition::Stay => {}
            Transition::Open { until_ms } => {
                eprintln!("gateway: circuit for {} opens", self.upstream);
                // Kept well past the open period so a half-open state is seen; then it lapses.
                self.run(
                    "SET",
                    &[
                        binary(self.key("open_until")),
                        binary(until_ms.to_string()),
                        binary("PX"),
                        RedisParameter::Int64(BREAKER.open_ms + BREAKER.window_ms),
                    ],
                );
                self.run("DEL", &counters.map(binary));
            }
            Transition::Close => {
                eprintln!("gateway: circuit for {} closes", self.upstream);
                let mut keys = counters.map(binary).to_vec();
                keys.push(binary(self.key("open_until")));
                self.run("DEL", &keys);
            }
        }
    }
}
