//! Key-value stores: `fermyon:spin/key-value@2.0.0` and `wasi:keyvalue@0.2.0-draft2`.
//!
//! Stores are app-wide and addressed by label. A component may open only the labels listed in
//! its `key_value_stores`; any other label is `access-denied`, as in Spin. The default backend
//! is one SQLite file per app (Spin's `sqlite_key_value.db`); a label can be moved to Redis by
//! the runtime config.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use wasmtime::component::Resource;

use crate::bindings::host::fermyon::spin2_0_0::key_value as spin_kv;
use crate::bindings::host::wasi::keyvalue::{atomics, batch, store as wasi_kv};
use crate::capabilities::outbound_networking::redact_credentials;
use crate::state::InstanceState;

#[derive(Debug, thiserror::Error)]
pub enum KvError {
    #[error("no such store")]
    NoSuchStore,
    #[error("access denied")]
    AccessDenied,
    #[error("{0}")]
    Backend(String),
}

impl From<rusqlite::Error> for KvError {
    fn from(e: rusqlite::Error) -> Self {
        KvError::Backend(e.to_string())
    }
}

impl From<redis::RedisError> for KvError {
    fn from(e: redis::RedisError) -> Self {
        KvError::Backend(e.to_string())
    }
}

/// Where one store label keeps its data.
#[derive(Clone)]
pub enum KvBackend {
    Sqlite {
        db: Arc<Mutex<rusqlite::Connection>>,
        store: String,
    },
    Redis(ConnectionManager),
}

/// Every store of the app, shared by all instances.
#[derive(Default)]
pub struct KeyValueService {
    stores: BTreeMap<String, KvBackend>,
}

/// How a label is configured in the runtime config.
#[derive(Debug, Clone)]
pub enum KvStoreConfig {
    Sqlite { path: PathBuf },
    Redis { url: String },
}

impl KeyValueService {
    /// Opens every label the app uses; labels without explicit configuration live in
    /// `default_file`, as Spin's default store does.
    pub async fn open(
        labels: impl IntoIterator<Item = String>,
        configured: &BTreeMap<String, KvStoreConfig>,
        default_file: &Path,
    ) -> anyhow::Result<Self> {
        let mut files: BTreeMap<PathBuf, Arc<Mutex<rusqlite::Connection>>> = BTreeMap::new();
        let mut stores = BTreeMap::new();
        let mut all: Vec<String> = labels.into_iter().collect();
        all.extend(configured.keys().cloned());
        all.sort();
        all.dedup();
        for label in all {
            let config = configured
                .get(&label)
                .cloned()
                .unwrap_or(KvStoreConfig::Sqlite {
                    path: default_file.to_owned(),
                });
            let backend = match config {
                KvStoreConfig::Sqlite { path } => {
                    let db = match files.get(&path) {
                        Some(db) => db.clone(),
                        None => {
                            let db = Arc::new(Mutex::new(open_kv_file(&path)?));
                            files.insert(path.clone(), db.clone());
                            db
                        }
                    };
                    KvBackend::Sqlite {
                        db,
                        store: label.clone(),
                    }
                }
                KvStoreConfig::Redis { url } => {
                    let client = redis::Client::open(url.as_str())
                        .map_err(|e| anyhow::anyhow!("key-value store `{label}`: {e}"))?;
                    let manager = ConnectionManager::new(client).await.map_err(|e| {
                        let url = redact_credentials(&url);
                        anyhow::anyhow!("key-value store `{label}` ({url}): {e}")
                    })?;
                    KvBackend::Redis(manager)
                }
            };
            stores.insert(label, backend);
        }
        Ok(Self { stores })
    }

    /// Writes `key=value` pairs into the `default` store before the app starts (`--key-value`).
    pub async fn seed_default(&self, pairs: &[(String, String)]) -> Result<(), KvError> {
        let backend = self.stores.get("default").ok_or(KvError::NoSuchStore)?;
        for (key, value) in pairs {
            backend.set(key.clone(), value.clone().into_bytes()).await?;
        }
        Ok(())
    }

    pub fn backend(&self, label: &str) -> Option<&KvBackend> {
        self.stores.get(label)
    }
}

fn open_kv_file(path: &Path) -> anyhow::Result<rusqlite::Connection> {
    if let Some(dir) = path.parent() {
        crate::private_fs::create_dir_all(dir)?;
    }
    // Made 0600 before SQLite opens it, which then gives its WAL files the same mode.
    crate::private_fs::ensure_file(path)
        .map_err(|e| anyhow::anyhow!("key-value file {}: {e}", path.display()))?;
    let conn = rusqlite::Connection::open(path)
        .map_err(|e| anyhow::anyhow!("key-value file {}: {e}", path.display()))?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA busy_timeout = 5000;
         CREATE TABLE IF NOT EXISTS spin_key_value (
           store TEXT NOT NULL,
           key   TEXT NOT NULL,
           value BLOB NOT NULL,
           PRIMARY KEY (store, key)
         );",
    )?;
    Ok(conn)
}

/// Runs a SQLite closure: on the caller's task when the store's connection is free (a point
/// statement on a cached prepare takes microseconds, a hop to the blocking pool and back costs
/// more than that), else off the async worker threads, where waiting for the lock is allowed.
async fn with_db<T: Send + 'static>(
    db: &Arc<Mutex<rusqlite::Connection>>,
    work: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<T> + Send + 'static,
) -> Result<T, KvError> {
    if let Ok(conn) = db.try_lock() {
        return work(&conn).map_err(KvError::from);
    }
    let db = db.clone();
    tokio::task::spawn_blocking(move || {
        let conn = db
            .lock()
            .map_err(|_| KvError::Backend("key-value database lock poisoned".into()))?;
        work(&conn).map_err(KvError::from)
    })
    .await
    .map_err(|e| KvError::Backend(e.to_string()))?
}

impl KvBackend {
    pub async fn get(&self, key: String) -> Result<Option<Vec<u8>>, KvError> {
        match self {
            KvBackend::Sqlite { db, store } => {
                let store = store.clone();
                with_db(db, move |c| {
                    use rusqlite::OptionalExtension;
                    c.prepare_cached(
                        "SELECT value FROM spin_key_value WHERE store = ?1 AND key = ?2",
                    )?
                    .query_row((store, key), |row| row.get(0))
                    .optional()
                })
                .await
            }
            KvBackend::Redis(conn) => Ok(conn.clone().get(key).await?),
        }
    }

    pub async fn set(&self, key: String, value: Vec<u8>) -> Result<(), KvError> {
        match self {
            KvBackend::Sqlite { db, store } => {
                let store = store.clone();
                with_db(db, move |c| {
                    c.prepare_cached(
                        "INSERT INTO spin_key_value (store, key, value) VALUES (?1, ?2, ?3)
                         ON CONFLICT (store, key) DO UPDATE SET value = excluded.value",
                    )?
                    .execute((store, key, value))
                    .map(drop)
                })
                .await
            }
            KvBackend::Redis(conn) => Ok(conn.clone().set(key, value).await?),
        }
    }

    pub async fn delete(&self, key: String) -> Result<(), KvError> {
        match self {
            KvBackend::Sqlite { db, store } => {
                let store = store.clone();
                with_db(db, move |c| {
                    c.prepare_cached("DELETE FROM spin_key_value WHERE store = ?1 AND key = ?2")?
                        .execute((store, key))
                        .map(drop)
                })
                .await
            }
            KvBackend::Redis(conn) => Ok(conn.clone().del(key).await?),
        }
    }

    pub async fn exists(&self, key: String) -> Result<bool, KvError> {
        match self {
            KvBackend::Sqlite { .. } => Ok(self.get(key).await?.is_some()),
            KvBackend::Redis(conn) => Ok(conn.clone().exists(key).await?),
        }
    }

    pub async fn keys(&self) -> Result<Vec<String>, KvError> {
        match self {
            KvBackend::Sqlite { db, store } => {
                let store = store.clone();
                with_db(db, move |c| {
                    let mut stmt = c.prepare_cached(
                        "SELECT key FROM spin_key_value WHERE store = ?1 ORDER BY key",
                    )?;
                    stmt.query_map([store], |row| row.get(0))?.collect()
                })
                .await
            }
            KvBackend::Redis(conn) => Ok(conn.clone().keys("*").await?),
        }
    }

    /// Atomically adds `delta` to an integer value (missing keys count as 0).
    pub async fn increment(&self, key: String, delta: i64) -> Result<i64, KvError> {
        match self {
            KvBackend::Sqlite { db, store } => {
                let store = store.clone();
                let value = with_db(db, move |c| {
                    use rusqlite::OptionalExtension;
                    let tx = c.unchecked_transaction()?;
                    let current: Option<Vec<u8>> = tx
                        .query_row(
                            "SELECT value FROM spin_key_value WHERE store = ?1 AND key = ?2",
                            (&store, &key),
                            |row| row.get(0),
                        )
                        .optional()?;
                    let current = match current {
                        None => 0,
                        Some(bytes) => match parse_counter(&bytes) {
                            Some(n) => n,
                            None => return Ok(Err(())),
                        },
                    };
                    let next = current.wrapping_add(delta);
                    tx.execute(
                        "INSERT INTO spin_key_value (store, key, value) VALUES (?1, ?2, ?3)
                         ON CONFLICT (store, key) DO UPDATE SET value = excluded.value",
                        (&store, &key, next.to_string().into_bytes()),
                    )?;
                    tx.commit()?;
                    Ok(Ok(next))
                })
                .await?;
                value.map_err(|()| KvError::Backend("value is not an integer".into()))
            }
            KvBackend::Redis(conn) => Ok(conn.clone().incr(key, delta).await?),
        }
    }

    /// Sets `key` to `value` only if it still holds `expected`; returns whether it did.
    pub async fn compare_and_swap(
        &self,
        key: String,
        expected: Option<Vec<u8>>,
        value: Vec<u8>,
    ) -> Result<bool, KvError> {
        match self {
            KvBackend::Sqlite { db, store } => {
                let store = store.clone();
                with_db(db, move |c| {
                    let changed = match expected {
                        Some(old) => c.execute(
                            "UPDATE spin_key_value SET value = ?4
                             WHERE store = ?1 AND key = ?2 AND value = ?3",
                            (&store, &key, old, value),
                        )?,
                        None => c.execute(
                            "INSERT INTO spin_key_value (store, key, value) VALUES (?1, ?2, ?3)
                             ON CONFLICT (store, key) DO NOTHING",
                            (&store, &key, value),
                        )?,
                    };
                    Ok(changed == 1)
                })
                .await
            }
            KvBackend::Redis(conn) => {
                // One script so the comparison and the write are a single atomic step.
                let script = redis::Script::new(
                    r"local current = redis.call('GET', KEYS[1])
                      if ARGV[1] == '1' then
                        if current ~= false then return 0 end
                      elseif current ~= ARGV[2] then return 0 end
                      redis.call('SET', KEYS[1], ARGV[3])
                      return 1",
                );
                let absent = if expected.is_none() { "1" } else { "0" };
                let swapped: i64 = script
                    .key(key)
                    .arg(absent)
                    .arg(expected.unwrap_or_default())
                    .arg(value)
                    .invoke_async(&mut conn.clone())
                    .await?;
                Ok(swapped == 1)
            }
        }
    }
}

fn parse_counter(bytes: &[u8]) -> Option<i64> {
    std::str::from_utf8(bytes).ok()?.trim().parse().ok()
}

/// What one component may open.
#[derive(Clone)]
pub struct KeyValueAccess {
    service: Arc<KeyValueService>,
    allowed: Arc<HashSet<String>>,
}

impl KeyValueAccess {
    pub fn new(service: Arc<KeyValueService>, labels: &[String]) -> Self {
        Self {
            service,
            allowed: Arc::new(labels.iter().cloned().collect()),
        }
    }

    pub fn open(&self, label: &str) -> Result<StoreHandle, KvError> {
        if !self.allowed.contains(label) {
            return Err(KvError::AccessDenied);
        }
        let backend = self.service.backend(label).ok_or(KvError::NoSuchStore)?;
        Ok(StoreHandle {
            backend: backend.clone(),
        })
    }
}

/// An open store, as held in an instance's resource table.
pub struct StoreHandle {
    backend: KvBackend,
}

/// A snapshot for `wasi:keyvalue/atomics` compare-and-swap.
pub struct CasHandle {
    backend: KvBackend,
    key: String,
    current: Option<Vec<u8>>,
}

impl From<KvError> for spin_kv::Error {
    fn from(e: KvError) -> Self {
        match e {
            KvError::NoSuchStore => spin_kv::Error::NoSuchStore,
            KvError::AccessDenied => spin_kv::Error::AccessDenied,
            KvError::Backend(message) => spin_kv::Error::Other(message),
        }
    }
}

impl From<KvError> for wasi_kv::Error {
    fn from(e: KvError) -> Self {
        match e {
            KvError::NoSuchStore => wasi_kv::Error::NoSuchStore,
            KvError::AccessDenied => wasi_kv::Error::AccessDenied,
            KvError::Backend(message) => wasi_kv::Error::Other(message),
        }
    }
}

type HostResult<T, E> = wasmtime::Result<Result<T, E>>;

impl InstanceState {
    fn kv_backend(&self, handle: &Resource<StoreHandle>) -> wasmtime::Result<KvBackend> {
        Ok(self.table.get(handle)?.backend.clone())
    }
}

/// The four data operations are the same in Spin's and WASI's key-value interfaces.
macro_rules! store_methods {
    ($error:ty) => {
        async fn get(
            &mut self,
            store: Resource<StoreHandle>,
            key: String,
        ) -> HostResult<Option<Vec<u8>>, $error> {
            Ok(self.kv_backend(&store)?.get(key).await.map_err(Into::into))
        }

        async fn set(
            &mut self,
            store: Resource<StoreHandle>,
            key: String,
            value: Vec<u8>,
        ) -> HostResult<(), $error> {
            Ok(self
                .kv_backend(&store)?
                .set(key, value)
                .await
                .map_err(Into::into))
        }

        async fn delete(
            &mut self,
            store: Resource<StoreHandle>,
            key: String,
        ) -> HostResult<(), $error> {
            Ok(self
                .kv_backend(&store)?
                .delete(key)
                .await
                .map_err(Into::into))
        }

        async fn exists(
            &mut self,
            store: Resource<StoreHandle>,
            key: String,
        ) -> HostResult<bool, $error> {
            Ok(self
                .kv_backend(&store)?
                .exists(key)
                .await
                .map_err(Into::into))
        }
    };
}

impl spin_kv::Host for InstanceState {}

impl spin_kv::HostStore for InstanceState {
    async fn open(&mut self, label: String) -> HostResult<Resource<StoreHandle>, spin_kv::Error> {
        match self.capabilities.key_value.open(&label) {
            Ok(handle) => Ok(Ok(self.table.push(handle)?)),
            Err(e) => Ok(Err(e.into())),
        }
    }

    store_methods!(spin_kv::Error);

    async fn get_keys(
        &mut self,
        store: Resource<StoreHandle>,
    ) -> HostResult<Vec<String>, spin_kv::Error> {
        Ok(self.kv_backend(&store)?.keys().await.map_err(Into::into))
    }

    async fn drop(&mut self, store: Resource<StoreHandle>) -> wasmtime::Result<()> {
        self.table.delete(store)?;
        Ok(())
    }
}

impl wasi_kv::Host for InstanceState {
    async fn open(
        &mut self,
        identifier: String,
    ) -> HostResult<Resource<StoreHandle>, wasi_kv::Error> {
        match self.capabilities.key_value.open(&identifier) {
            Ok(handle) => Ok(Ok(self.table.push(handle)?)),
            Err(e) => Ok(Err(e.into())),
        }
    }
}

impl wasi_kv::HostBucket for InstanceState {
    store_methods!(wasi_kv::Error);

    async fn list_keys(
        &mut self,
        bucket: Resource<StoreHandle>,
        cursor: Option<String>,
    ) -> HostResult<wasi_kv::KeyResponse, wasi_kv::Error> {
        // Keys come sorted, so a cursor is simply the last key already returned.
        let keys = match self.kv_backend(&bucket)?.keys().await {
            Ok(mut keys) => {
                keys.sort();
                keys
            }
            Err(e) => return Ok(Err(e.into())),
        };
        let keys = match cursor {
            Some(after) => keys.into_iter().filter(|k| *k > after).collect(),
            None => keys,
        };
        Ok(Ok(wasi_kv::KeyResponse { keys, cursor: None }))
    }

    async fn drop(&mut self, bucket: Resource<StoreHandle>) -> wasmtime::Result<()> {
        self.table.delete(bucket)?;
        Ok(())
    }
}

impl atomics::Host for InstanceState {
    async fn increment(
        &mut self,
        bucket: Resource<StoreHandle>,
        key: String,
        delta: i64,
    ) -> HostResult<i64, wasi_kv::Error> {
        Ok(self
            .kv_backend(&bucket)?
            .increment(key, delta)
            .await
            .map_err(Into::into))
    }

    async fn swap(
        &mut self,
        cas: Resource<CasHandle>,
        value: Vec<u8>,
    ) -> HostResult<(), atomics::CasError> {
        let CasHandle {
            backend,
            key,
            current,
        } = self.table.delete(cas)?;
        match backend
            .compare_and_swap(key.clone(), current.clone(), value)
            .await
        {
            Ok(true) => Ok(Ok(())),
            Ok(false) => {
                let fresh = backend.get(key.clone()).await.ok().flatten();
                let retry = self.table.push(CasHandle {
                    backend,
                    key,
                    current: fresh,
                })?;
                Ok(Err(atomics::CasError::CasFailed(retry)))
            }
            Err(e) => Ok(Err(atomics::CasError::StoreError(e.into()))),
        }
    }
}

impl atomics::HostCas for InstanceState {
    async fn new(
        &mut self,
        bucket: Resource<StoreHandle>,
        key: String,
    ) -> HostResult<Resource<CasHandle>, wasi_kv::Error> {
        let backend = self.kv_backend(&bucket)?;
        let current = match backend.get(key.clone()).await {
            Ok(current) => current,
            Err(e) => return Ok(Err(e.into())),
        };
        let handle = self.table.push(CasHandle {
            backend,
            key,
            current,
        })?;
        Ok(Ok(handle))
    }

    async fn current(
        &mut self,
        cas: Resource<CasHandle>,
    ) -> HostResult<Option<Vec<u8>>, wasi_kv::Error> {
        Ok(Ok(self.table.get(&cas)?.current.clone()))
    }

    async fn drop(&mut self, cas: Resource<CasHandle>) -> wasmtime::Result<()> {
        self.table.delete(cas)?;
        Ok(())
    }
}

impl batch::Host for InstanceState {
    async fn get_many(
        &mut self,
        bucket: Resource<StoreHandle>,
        keys: Vec<String>,
    ) -> HostResult<Vec<(String, Option<Vec<u8>>)>, wasi_kv::Error> {
        let backend = self.kv_backend(&bucket)?;
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            match backend.get(key.clone()).await {
                Ok(value) => out.push((key, value)),
                Err(e) => return Ok(Err(e.into())),
            }
        }
        Ok(Ok(out))
    }

    async fn set_many(
        &mut self,
        bucket: Resource<StoreHandle>,
        key_values: Vec<(String, Vec<u8>)>,
    ) -> HostResult<(), wasi_kv::Error> {
        let backend = self.kv_backend(&bucket)?;
        for (key, value) in key_values {
            if let Err(e) = backend.set(key, value).await {
                return Ok(Err(e.into()));
            }
        }
        Ok(Ok(()))
    }

    async fn delete_many(
        &mut self,
        bucket: Resource<StoreHandle>,
        keys: Vec<String>,
    ) -> HostResult<(), wasi_kv::Error> {
        let backend = self.kv_backend(&bucket)?;
        for key in keys {
            if let Err(e) = backend.delete(key).await {
                return Ok(Err(e.into()));
            }
        }
        Ok(Ok(()))
    }
}
