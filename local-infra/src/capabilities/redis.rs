//! Outbound Redis: `fermyon:spin/redis@2.0.0`.
//!
//! As in Spin, the address a guest opens must be allowed by `allowed_outbound_hosts`
//! (`redis://host:port`). Connections are multiplexed and shared per address across instances,
//! and reconnect on their own after the server restarts.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use tokio::sync::Mutex;
use wasmtime::component::Resource;

use crate::bindings::host::fermyon::spin2_0_0::redis as wit;
use crate::capabilities::outbound_networking::AllowedHosts;
use crate::state::InstanceState;

/// Connections of the whole app, one per address.
#[derive(Default)]
pub struct RedisService {
    connections: Mutex<HashMap<String, ConnectionManager>>,
}

/// How long a guest may wait for a new connection before `open` fails: a guest must learn
/// that Redis is down quickly enough to apply its own policy (fail open, 503, retry later).
const CONNECT_DEADLINE: Duration = Duration::from_secs(2);

impl RedisService {
    async fn connect(&self, address: &str) -> Result<ConnectionManager, wit::Error> {
        if let Some(conn) = self.connections.lock().await.get(address) {
            return Ok(conn.clone());
        }
        let client = redis::Client::open(address).map_err(|_| wit::Error::InvalidAddress)?;
        // Few, short retries: redis-rs's defaults back off for about two minutes.
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Duration::from_millis(500))
            .set_response_timeout(Duration::from_secs(5))
            .set_number_of_retries(2)
            .set_factor(50)
            .set_max_delay(200);
        // Connect without holding the lock, so one unreachable address cannot stall others.
        let conn = tokio::time::timeout(
            CONNECT_DEADLINE,
            ConnectionManager::new_with_config(client, config),
        )
        .await
        .map_err(|_| wit::Error::Other(format!("connecting to {address} timed out")))?
        .map_err(|e| wit::Error::Other(e.to_string()))?;
        Ok(self
            .connections
            .lock()
            .await
            .entry(address.to_owned())
            .or_insert(conn)
            .clone())
    }
}

/// What one component may reach.
#[derive(Clone)]
pub struct RedisAccess {
    service: Arc<RedisService>,
    allowed: Arc<AllowedHosts>,
}

impl RedisAccess {
    pub fn new(service: Arc<RedisService>, allowed: Arc<AllowedHosts>) -> Self {
        Self { service, allowed }
    }
}

pub struct RedisHandle {
    conn: ConnectionManager,
}

fn other(e: redis::RedisError) -> wit::Error {
    wit::Error::Other(e.to_string())
}

type HostResult<T> = wasmtime::Result<Result<T, wit::Error>>;

impl InstanceState {
    fn redis(&self, handle: &Resource<RedisHandle>) -> wasmtime::Result<ConnectionManager> {
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
            tracing::warn!(address, "redis address not in allowed_outbound_hosts");
            return Ok(Err(wit::Error::InvalidAddress));
        }
        match access.service.connect(&address).await {
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
