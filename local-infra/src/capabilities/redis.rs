//! Outbound Redis: `fermyon:spin/redis@2.0.0`.
//!
//! As in Spin (`crates/factor-outbound-redis`): the address a guest opens must be allowed by
//! `allowed_outbound_hosts` (`redis://host:port`), and each `open` makes a new multiplexed
//! connection, the guest's own, closed when the guest drops it or its instance ends. Nothing is
//! shared between guests, so one guest's `SELECT`, `WATCH` or `MULTI` can never leak into
//! another's commands. Unlike Spin, `open` gives up after [`CONNECT_DEADLINE`].

use std::sync::Arc;
use std::time::Duration;

use redis::AsyncCommands;
use redis::aio::MultiplexedConnection;
use wasmtime::component::Resource;

use crate::bindings::host::fermyon::spin2_0_0::redis as wit;
use crate::capabilities::outbound_networking::{AllowedHosts, redact_credentials};
use crate::state::InstanceState;

/// How long a guest may wait for a new connection before `open` fails: a guest must learn
/// that Redis is down quickly enough to apply its own policy (fail open, 503, retry later).
/// redis-rs on its own waits for the OS's TCP connect timeout.
const CONNECT_DEADLINE: Duration = Duration::from_secs(2);

/// A new connection of the guest's own: nothing app-wide is kept between `open`s.
async fn connect(address: &str) -> Result<MultiplexedConnection, wit::Error> {
    let client = redis::Client::open(address).map_err(|_| wit::Error::InvalidAddress)?;
    let config = redis::AsyncConnectionConfig::new();
    tokio::time::timeout(
        CONNECT_DEADLINE,
        client.get_multiplexed_async_connection_with_config(&config),
    )
    .await
    .map_err(|_| {
        wit::Error::Other(format!(
            "connecting to {} timed out",
            redact_credentials(address)
        ))
    })?
    .map_err(other)
}

/// What one component may reach.
#[derive(Clone)]
pub struct RedisAccess {
    allowed: Arc<AllowedHosts>,
}

impl RedisAccess {
    pub fn new(allowed: Arc<AllowedHosts>) -> Self {
        Self { allowed }
    }
}

pub struct RedisHandle {
    conn: MultiplexedConnection,
}

fn other(e: redis::RedisError) -> wit::Error {
    wit::Error::Other(e.to_string())
}

type HostResult<T> = wasmtime::Result<Result<T, wit::Error>>;

impl InstanceState {
    /// A clone of the guest's connection: a handle onto the same socket, not a new one.
    fn redis(&self, handle: &Resource<RedisHandle>) -> wasmtime::Result<MultiplexedConnection> {
        Ok(self.table.get(handle)?.conn.clone())
    }
}

impl wit::Host for InstanceState {}

impl wit::HostConnection for InstanceState {
    async fn open(&mut self, address: String) -> HostResult<Resource<RedisHandle>> {
        let access = self.capabilities.redis.clone();
        let Ok(url) = address.parse::<http::Uri>() else {
            return Ok(Err(wit::Error::InvalidAddress));
        };
        if !access.allowed.allows_uri(&url) {
            let address = redact_credentials(&address);
            tracing::warn!(address, "redis address not in allowed_outbound_hosts");
            return Ok(Err(wit::Error::InvalidAddress));
        }
        match connect(&address).await {
            Ok(conn) => Ok(Ok(self.table.push(RedisHandle { conn })?)),
            Err(e) => Ok(Err(e)),
        }
    }

    async fn publish(
        &mut self,
        conn: Resource<RedisHandle>,
        channel: String,
        payload: Vec<u8>,
    ) -> HostResult<()> {
        let mut conn = self.redis(&conn)?;
        Ok(conn
            .publish::<_, _, ()>(channel, payload)
            .await
            .map_err(other))
    }

    async fn get(
        &mut self,
        conn: Resource<RedisHandle>,
        key: String,
    ) -> HostResult<Option<Vec<u8>>> {
        let mut conn = self.redis(&conn)?;
        Ok(conn.get(key).await.map_err(other))
    }

    async fn set(
        &mut self,
        conn: Resource<RedisHandle>,
        key: String,
        value: Vec<u8>,
    ) -> HostResult<()> {
        let mut conn = self.redis(&conn)?;
        Ok(conn.set::<_, _, ()>(key, value).await.map_err(other))
    }

    async fn incr(&mut self, conn: Resource<RedisHandle>, key: String) -> HostResult<i64> {
        let mut conn = self.redis(&conn)?;
        Ok(conn.incr(key, 1).await.map_err(other))
    }

    async fn del(&mut self, conn: Resource<RedisHandle>, keys: Vec<String>) -> HostResult<u32> {
        let mut conn = self.redis(&conn)?;
        Ok(conn.del(keys).await.map_err(other))
    }

    async fn sadd(
        &mut self,
        conn: Resource<RedisHandle>,
        key: String,
        values: Vec<String>,
    ) -> HostResult<u32> {
        let mut conn = self.redis(&conn)?;
        Ok(conn.sadd(key, values).await.map_err(other))
    }

    async fn smembers(
        &mut self,
        conn: Resource<RedisHandle>,
        key: String,
    ) -> HostResult<Vec<String>> {
        let mut conn = self.redis(&conn)?;
        Ok(conn.smembers(key).await.map_err(other))
    }

    async fn srem(
        &mut self,
        conn: Resource<RedisHandle>,
        key: String,
        values: Vec<String>,
    ) -> HostResult<u32> {
        let mut conn = self.redis(&conn)?;
        Ok(conn.srem(key, values).await.map_err(other))
    }

    async fn execute(
        &mut self,
        conn: Resource<RedisHandle>,
        command: String,
        arguments: Vec<wit::RedisParameter>,
    ) -> HostResult<Vec<wit::RedisResult>> {
        let mut conn = self.redis(&conn)?;
        let mut cmd = redis::cmd(&command);
        for argument in arguments {
            match argument {
                wit::RedisParameter::Int64(i) => cmd.arg(i),
                wit::RedisParameter::Binary(bytes) => cmd.arg(bytes),
            };
        }
        let value: redis::Value = match cmd.query_async(&mut conn).await {
            Ok(value) => value,
            Err(e) => return Ok(Err(other(e))),
        };
        let mut results = Vec::new();
        flatten(value, &mut results);
        Ok(Ok(results))
    }

    async fn drop(&mut self, conn: Resource<RedisHandle>) -> wasmtime::Result<()> {
        self.table.delete(conn)?;
        Ok(())
    }
}

/// Spin's `execute` returns a flat list: arrays are spread into their elements.
fn flatten(value: redis::Value, out: &mut Vec<wit::RedisResult>) {
    use redis::Value;
    match value {
        Value::Nil => out.push(wit::RedisResult::Nil),
        Value::Int(i) => out.push(wit::RedisResult::Int64(i)),
        Value::BulkString(bytes) => out.push(wit::RedisResult::Binary(bytes)),
        Value::SimpleString(s) => out.push(wit::RedisResult::Status(s)),
        Value::Okay => out.push(wit::RedisResult::Status("OK".into())),
        Value::Array(items) | Value::Set(items) => {
            for item in items {
                flatten(item, out);
            }
        }
        Value::Boolean(b) => out.push(wit::RedisResult::Int64(i64::from(b))),
        Value::Double(f) => out.push(wit::RedisResult::Binary(f.to_string().into_bytes())),
        Value::VerbatimString { text, .. } => out.push(wit::RedisResult::Binary(text.into_bytes())),
        Value::BigNumber(n) => out.push(wit::RedisResult::Binary(n.to_string().into_bytes())),
        Value::Map(pairs) => {
            for (key, value) in pairs {
                flatten(key, out);
                flatten(value, out);
            }
        }
        Value::Attribute { data, .. } => flatten(*data, out),
        Value::Push { data, .. } => {
            for item in data {
                flatten(item, out);
            }
        }
        Value::ServerError(e) => out.push(wit::RedisResult::Status(format!("{e:?}"))),
    }
}
