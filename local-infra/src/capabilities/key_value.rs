//! Key-value stores: `fermyon:spin/key-value@2.0.0` and `wasi:keyvalue@0.2.0-draft2`.
//!
//! Stores are app-wide and addressed by label. A component may open only the labels listed in
//! its `key_value_stores`; any other label is `access-denied`, as in Spin. The default backend
//! is one SQLite file per app (Spin's `sqlite_key_value.db`); a label can be moved to Redis by
//! the runtime config. The guests' interfaces on these stores are in `key_value/host.rs`.

mod host;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use redis::AsyncCommands;
use redis::aio::ConnectionManager;

use crate::capabilities::outbound_networking::redact_credentials;

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
