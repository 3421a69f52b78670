//! SQLite databases: `fermyon:spin/sqlite@2.0.0` and `spin:sqlite/sqlite@3.0.0`.
//!
//! Each label is a database file (the `default` label is `sqlite_db.db` under the state dir, as
//! in Spin). A guest connection owns one SQLite connection for its lifetime, so `BEGIN` ...
//! `COMMIT` across several `execute` calls is one transaction. Connections are pooled per
//! database because opening one costs far more than a typical query.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use wasmtime::component::Resource;

use crate::bindings::host::fermyon::spin2_0_0::sqlite as v2;
use crate::bindings::host::spin::sqlite::sqlite as v3;
use crate::state::InstanceState;

#[derive(Debug, thiserror::Error)]
pub enum SqliteError {
    #[error("no such database")]
    NoSuchDatabase,
    #[error("access denied")]
    AccessDenied,
    #[error("{0}")]
    Io(String),
}

/// One database file and its idle connections.
pub struct Database {
    path: PathBuf,
    idle: Mutex<Vec<rusqlite::Connection>>,
    /// Held from a guest's `BEGIN` until its transaction ends (or for one write outside a
    /// transaction). SQLite lets one writer in at a
    /// time and makes the others poll with growing sleeps (up to 100 ms), so under load the
    /// lock sits idle between sleepers and throughput collapses; queueing writers here instead
    /// hands the lock over in arrival order, at once. (This runtime is the only process
    /// writing its state dir's databases.)
    writer: Arc<tokio::sync::Mutex<()>>,
    /// The connection every transaction of the writer slot's holder runs on. Nobody else
    /// writes, so its page cache stays valid from one transaction to the next; a pooled
    /// connection's cache is thrown away whenever another connection committed since its last
    /// use, and under load that is every time.
    writer_connection: SharedConnection,
    checkpointer: Checkpointer,
}

type SharedConnection = Arc<Mutex<Option<rusqlite::Connection>>>;

/// Idle connections kept per database, for the next instances. Above the instances that use
/// one database at once under load (16 shoppers' checkouts plus their sagas' replies on the
/// orders database): past the cap every release closes a connection and the next acquire
/// opens one, with its pragmas and a cold page cache (16 kept: 289 orders/s; 64: 349).
const MAX_IDLE_CONNECTIONS: usize = 64;
/// How often the checkpointer looks for committed transactions to copy into the database file.
const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(200);

impl Database {
    pub fn new(path: PathBuf) -> anyhow::Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        // Open once up front so a bad path fails at startup, not on the first request.
        let conn = connect(&path)?;
        let db = Self {
            checkpointer: Checkpointer::start(&path)?,
            path,
            idle: Mutex::new(Vec::new()),
            writer: Arc::default(),
            writer_connection: Arc::default(),
        };
        db.release(conn);
        Ok(db)
    }

    fn connect(&self) -> anyhow::Result<rusqlite::Connection> {
        connect(&self.path)
    }

    fn acquire(&self) -> Result<rusqlite::Connection, SqliteError> {
        let pooled = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        match pooled {
            Some(conn) => Ok(conn),
            None => self.connect().map_err(|e| SqliteError::Io(e.to_string())),
        }
    }

    fn release(&self, conn: rusqlite::Connection) {
        // A guest that dropped its connection mid-transaction must not leak that transaction
        // into the next request.
        if !conn.is_autocommit() && conn.execute_batch("ROLLBACK").is_err() {
            return;
        }
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < MAX_IDLE_CONNECTIONS
        {
            idle.push(conn);
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Rows of `(text, count)` from a two-column query; none when the query fails (a
    /// database without the table asked about).
    pub fn counts(&self, sql: &str) -> Vec<(String, i64)> {
        let Ok(conn) = self.acquire() else {
            return Vec::new();
        };
        let rows = conn.prepare(sql).and_then(|mut statement| {
            statement
                .query_map([], |row| {
                    Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
                })?
                .collect::<Result<Vec<_>, _>>()
        });
        self.release(conn);
        rows.unwrap_or_default()
    }
}

fn connect(path: &Path) -> anyhow::Result<rusqlite::Connection> {
    let conn = rusqlite::Connection::open(path)
        .map_err(|e| anyhow::anyhow!("sqlite database {}: {e}", path.display()))?;
    // WAL lets readers proceed while one instance writes; the busy timeout makes concurrent
    // writers wait for the lock instead of failing at once.
    // The busy timeout first: under load a new connection's own `journal_mode` pragma
    // must wait for the lock like everything else instead of failing at once.
    conn.busy_timeout(Duration::from_secs(10))?;
    // No checkpoint inside a commit (the `Checkpointer` does them): a commit then only appends
    // to the WAL without syncing, so it can run on the request's task while other writers
    // queue for the writer slot — a checkpoint there would sync the disk with the slot held.
    // Statement journals and sorts stay in memory instead of temporary files. (No `mmap_size`:
    // a growing file makes every pooled connection remap, and each `munmap` interrupts all
    // cores to flush their TLBs — slower than the reads it saves.)
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = NORMAL;
         PRAGMA wal_autocheckpoint = 0;
         PRAGMA temp_store = MEMORY;",
    )?;
    Ok(conn)
}

/// Copies committed WAL frames back into the database file from its own thread, as SQLite's
/// automatic checkpoint would in the committing connection. Passive: it never waits for, nor
/// blocks, readers and writers; the next writer restarts the WAL once all of it is copied.
struct Checkpointer {
    /// Commits since the last checkpoint; nothing to do while 0.
    commits: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Checkpointer {
    fn start(path: &Path) -> anyhow::Result<Self> {
        let conn = connect(path)?;
        let commits = Arc::new(AtomicU64::new(1));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn({
                let (commits, stop) = (commits.clone(), stop.clone());
                move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::park_timeout(CHECKPOINT_INTERVAL);
                        if commits.swap(0, Ordering::Relaxed) > 0
                            && let Err(e) = conn.execute_batch("PRAGMA wal_checkpoint(PASSIVE)")
                        {
                            tracing::warn!("sqlite checkpoint: {e}");
                        }
                    }
                    // Leave the database file complete when the runtime stops.
                    let _ = conn.execute_batch("PRAGMA wal_checkpoint(PASSIVE)");
                }
            })?;
        Ok(Self {
            commits,
            stop,
            thread: Some(thread),
        })
    }

    fn committed(&self) {
        self.commits.fetch_add(1, Ordering::Relaxed);
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}

/// Every database of the app, by label.
#[derive(Default)]
pub struct SqliteService {
    databases: BTreeMap<String, Arc<Database>>,
}

impl SqliteService {
    pub fn open(
        labels: impl IntoIterator<Item = String>,
        configured: &BTreeMap<String, PathBuf>,
        state_dir: &Path,
    ) -> anyhow::Result<Self> {
        let mut databases = BTreeMap::new();
        let mut all: Vec<String> = labels.into_iter().collect();
        all.extend(configured.keys().cloned());
        all.sort();
        all.dedup();
        for label in all {
            let path = configured
                .get(&label)
                .cloned()
                .unwrap_or_else(|| default_database_path(state_dir, &label));
            databases.insert(label, Arc::new(Database::new(path)?));
        }
        Ok(Self { databases })
    }

    pub fn database(&self, label: &str) -> Option<&Arc<Database>> {
        self.databases.get(label)
    }

    pub fn databases(&self) -> impl Iterator<Item = (&String, &Arc<Database>)> {
        self.databases.iter()
    }

    /// Runs statements against the `default` database before the app starts (`--sqlite`).
    pub fn run_startup_statements(&self, statements: &[String]) -> anyhow::Result<()> {
        if statements.is_empty() {
            return Ok(());
        }
        let db = self.database("default").ok_or_else(|| {
            anyhow::anyhow!("--sqlite needs a component that uses the `default` database")
        })?;
        let conn = db.acquire()?;
        for statement in statements {
            conn.execute_batch(statement)
                .map_err(|e| anyhow::anyhow!("--sqlite `{statement}`: {e}"))?;
        }
        db.release(conn);
        Ok(())
    }
}

/// Spin keeps `default` in `sqlite_db.db` and other labels in `<label>.db`.
pub fn default_database_path(state_dir: &Path, label: &str) -> PathBuf {
    if label == "default" {
        state_dir.join("sqlite_db.db")
    } else {
        state_dir.join(format!("{label}.db"))
    }
}

/// What one component may open.
#[derive(Clone)]
pub struct SqliteAccess {
    service: Arc<SqliteService>,
    allowed: Arc<HashSet<String>>,
}

impl SqliteAccess {
    pub fn new(service: Arc<SqliteService>, labels: &[String]) -> Self {
        Self {
            service,
            allowed: Arc::new(labels.iter().cloned().collect()),
        }
    }

    pub fn open(&self, label: &str) -> Result<ConnectionHandle, SqliteError> {
        if !self.allowed.contains(label) {
            return Err(SqliteError::AccessDenied);
        }
        let db = self
            .service
            .database(label)
            .ok_or(SqliteError::NoSuchDatabase)?
            .clone();
        let conn = db.acquire()?;
        Ok(ConnectionHandle {
            inner: Arc::new(Mutex::new(Some(conn))),
            db,
            writing: Mutex::new(None),
            counters: Mutex::new((0, 0)),
        })
    }
}

/// A guest's connection; returned to its database's pool when the guest drops it.
pub struct ConnectionHandle {
    /// The pooled connection statements outside a write run on.
    inner: SharedConnection,
    db: Arc<Database>,
    /// The database's writer slot while this connection is in a transaction it began; its
    /// statements then run on the database's writer connection.
    writing: Mutex<Option<tokio::sync::OwnedMutexGuard<()>>>,
    /// `last_insert_rowid` and `changes` of the last statement, whichever connection ran it.
    counters: Mutex<(i64, u64)>,
}

impl Drop for ConnectionHandle {
    fn drop(&mut self) {
        // Rolled back (by `release`) before the writer slot is given up.
        if let Ok(mut slot) = self.inner.lock()
            && let Some(conn) = slot.take()
        {
            self.db.release(conn);
        }
        if let Ok(mut writing) = self.writing.lock()
            && let Some(slot) = writing.take()
        {
            // A guest gone mid-transaction: the next holder must find the connection clean.
            if let Ok(conn) = self.db.writer_connection.lock()
                && let Some(conn) = conn.as_ref()
                && !conn.is_autocommit()
            {
                let _ = conn.execute_batch("ROLLBACK");
            }
            drop(slot);
        }
    }
}

/// Statements that take SQLite's write lock when run outside a transaction: a `BEGIN` (whose
/// transaction is about to write) or a write on its own.
fn takes_write_lock(statement: &str) -> bool {
    let head = leading_keyword(statement);
    ["BEGIN", "INSERT", "UPDATE", "DELETE", "REPLACE"]
        .iter()
        .any(|keyword| head.eq_ignore_ascii_case(keyword))
}

/// Whether `statement` can run on the request's task instead of the blocking pool: it neither
/// waits for a lock nor syncs the disk, so it takes microseconds, less than the two thread
/// hand-offs of the pool. A read never waits in WAL mode; with the writer slot held nobody
/// else in this runtime writes, and a commit only appends to the WAL (checkpoints run on their
/// own thread). Anything else (DDL outside a transaction, pragmas) goes to the pool.
fn runs_inline(statement: &str, holds_writer_slot: bool) -> bool {
    let head = leading_keyword(statement);
    head.eq_ignore_ascii_case("SELECT")
        || (holds_writer_slot
            && [
                "BEGIN", "COMMIT", "END", "ROLLBACK", "INSERT", "UPDATE", "DELETE", "REPLACE",
            ]
            .iter()
            .any(|keyword| head.eq_ignore_ascii_case(keyword)))
}

fn leading_keyword(statement: &str) -> &str {
    statement
        .trim_start()
        .split(|c: char| !c.is_ascii_alphabetic())
        .next()
        .unwrap_or("")
}

/// A value crossing the guest boundary; both WIT versions share this shape.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Integer(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
    Null,
}

pub struct QueryOutput {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
    pub last_insert_rowid: i64,
    pub changes: u64,
}

impl ConnectionHandle {
    pub async fn execute(
        &self,
        statement: String,
        params: Vec<Value>,
    ) -> Result<QueryOutput, SqliteError> {
        let mut holds_slot = self.holds_writer_slot();
        if !holds_slot && takes_write_lock(&statement) && self.in_autocommit() {
            let slot = self.db.writer.clone().lock_owned().await;
            if let Ok(mut writing) = self.writing.lock() {
                *writing = Some(slot);
                holds_slot = true;
            }
        }
        let inline = runs_inline(&statement, holds_slot);
        let (connection, db) = (self.connection(holds_slot), self.db.clone());
        let run = move || {
            let mut slot = connection
                .lock()
                .map_err(|_| SqliteError::Io("connection lock poisoned".into()))?;
            if slot.is_none() && holds_slot {
                *slot = Some(db.connect().map_err(|e| SqliteError::Io(e.to_string()))?);
            }
            let conn = slot
                .as_ref()
                .ok_or_else(|| SqliteError::Io("connection closed".into()))?;
            let result =
                run_statement(conn, &statement, params).map_err(|e| SqliteError::Io(e.to_string()));
            Ok::<_, SqliteError>((result, conn.is_autocommit()))
        };
        let (result, autocommit) = if inline {
            run()?
        } else {
            tokio::task::spawn_blocking(run)
                .await
                .map_err(|e| SqliteError::Io(e.to_string()))??
        };
        // The transaction is over (committed, rolled back, or never begun): next writer.
        if autocommit && holds_slot {
            if let Ok(mut writing) = self.writing.lock() {
                writing.take();
            }
            self.db.checkpointer.committed();
        }
        if let (Ok(output), Ok(mut counters)) = (&result, self.counters.lock()) {
            *counters = (output.last_insert_rowid, output.changes);
        }
        result
    }

    fn connection(&self, holds_writer_slot: bool) -> SharedConnection {
        if holds_writer_slot {
            self.db.writer_connection.clone()
        } else {
            self.inner.clone()
        }
    }

    fn holds_writer_slot(&self) -> bool {
        self.writing.lock().map(|w| w.is_some()).unwrap_or(false)
    }

    fn in_autocommit(&self) -> bool {
        let connection = self.connection(self.holds_writer_slot());
        let slot = connection.lock();
        match slot.as_deref() {
            Ok(Some(conn)) => conn.is_autocommit(),
            // Not opened yet: nothing begun on it.
            Ok(None) => true,
            Err(_) => false,
        }
    }

    fn counters(&self) -> (i64, u64) {
        self.counters.lock().map_or((0, 0), |counters| *counters)
    }
}

fn run_statement(
    conn: &rusqlite::Connection,
    statement: &str,
    params: Vec<Value>,
) -> rusqlite::Result<QueryOutput> {
    let mut stmt = conn.prepare_cached(statement)?;
    let columns: Vec<String> = stmt.column_names().into_iter().map(str::to_owned).collect();
    let params: Vec<rusqlite::types::Value> = params.into_iter().map(Into::into).collect();
    let mut rows_out = Vec::new();
    let mut rows = stmt.query(rusqlite::params_from_iter(params))?;
    while let Some(row) = rows.next()? {
        let mut values = Vec::with_capacity(columns.len());
        for index in 0..columns.len() {
            values.push(Value::from(row.get_ref(index)?));
        }
        rows_out.push(values);
    }
    drop(rows);
    Ok(QueryOutput {
        columns,
        rows: rows_out,
        last_insert_rowid: conn.last_insert_rowid(),
        changes: conn.changes(),
    })
}

impl From<Value> for rusqlite::types::Value {
    fn from(value: Value) -> Self {
        match value {
            Value::Integer(i) => Self::Integer(i),
            Value::Real(f) => Self::Real(f),
            Value::Text(s) => Self::Text(s),
            Value::Blob(b) => Self::Blob(b),
            Value::Null => Self::Null,
        }
    }
}

impl From<rusqlite::types::ValueRef<'_>> for Value {
    fn from(value: rusqlite::types::ValueRef<'_>) -> Self {
        use rusqlite::types::ValueRef;
        match value {
            ValueRef::Null => Value::Null,
            ValueRef::Integer(i) => Value::Integer(i),
            ValueRef::Real(f) => Value::Real(f),
            ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
            ValueRef::Blob(b) => Value::Blob(b.to_vec()),
        }
    }
}

/// Both WIT versions generate structurally identical types; one macro maps each of them.
macro_rules! wit_conversions {
    ($wit:ident) => {
        impl From<$wit::Value> for Value {
            fn from(value: $wit::Value) -> Self {
                match value {
                    $wit::Value::Integer(i) => Value::Integer(i),
                    $wit::Value::Real(f) => Value::Real(f),
                    $wit::Value::Text(s) => Value::Text(s),
                    $wit::Value::Blob(b) => Value::Blob(b),
                    $wit::Value::Null => Value::Null,
                }
            }
        }

        impl From<Value> for $wit::Value {
            fn from(value: Value) -> Self {
                match value {
                    Value::Integer(i) => $wit::Value::Integer(i),
                    Value::Real(f) => $wit::Value::Real(f),
                    Value::Text(s) => $wit::Value::Text(s),
                    Value::Blob(b) => $wit::Value::Blob(b),
                    Value::Null => $wit::Value::Null,
                }
            }
        }

        impl From<SqliteError> for $wit::Error {
            fn from(e: SqliteError) -> Self {
                match e {
                    SqliteError::NoSuchDatabase => $wit::Error::NoSuchDatabase,
                    SqliteError::AccessDenied => $wit::Error::AccessDenied,
                    SqliteError::Io(message) => $wit::Error::Io(message),
                }
            }
        }

        impl From<QueryOutput> for $wit::QueryResult {
            fn from(output: QueryOutput) -> Self {
                $wit::QueryResult {
                    columns: output.columns,
                    rows: output
                        .rows
                        .into_iter()
                        .map(|values| $wit::RowResult {
                            values: values.into_iter().map(Into::into).collect(),
                        })
                        .collect(),
                }
            }
        }

        impl $wit::Host for InstanceState {}
    };
}

wit_conversions!(v2);
wit_conversions!(v3);

type HostResult<T, E> = wasmtime::Result<Result<T, E>>;

impl InstanceState {
    fn sqlite_open(
        &mut self,
        label: &str,
    ) -> wasmtime::Result<Result<Resource<ConnectionHandle>, SqliteError>> {
        match self.capabilities.sqlite.open(label) {
            Ok(handle) => Ok(Ok(self.table.push(handle)?)),
            Err(e) => Ok(Err(e)),
        }
    }

    async fn sqlite_execute(
        &mut self,
        connection: &Resource<ConnectionHandle>,
        statement: String,
        params: Vec<Value>,
    ) -> wasmtime::Result<Result<QueryOutput, SqliteError>> {
        let handle = self.table.get(connection)?;
        Ok(handle.execute(statement, params).await)
    }
}

/// `open`, `execute` and `drop` are the same in both WIT versions; v3 adds two counters.
macro_rules! connection_methods {
    ($wit:ident) => {
        async fn open(
            &mut self,
            database: String,
        ) -> HostResult<Resource<ConnectionHandle>, $wit::Error> {
            Ok(self.sqlite_open(&database)?.map_err(Into::into))
        }

        async fn execute(
            &mut self,
            connection: Resource<ConnectionHandle>,
            statement: String,
            parameters: Vec<$wit::Value>,
        ) -> HostResult<$wit::QueryResult, $wit::Error> {
            let params = parameters.into_iter().map(Into::into).collect();
            Ok(self
                .sqlite_execute(&connection, statement, params)
                .await?
                .map(Into::into)
                .map_err(Into::into))
        }

        async fn drop(&mut self, connection: Resource<ConnectionHandle>) -> wasmtime::Result<()> {
            self.table.delete(connection)?;
            Ok(())
        }
    };
}

impl v2::HostConnection for InstanceState {
    connection_methods!(v2);
}

impl v3::HostConnection for InstanceState {
    connection_methods!(v3);

    async fn last_insert_rowid(
        &mut self,
        connection: Resource<ConnectionHandle>,
    ) -> wasmtime::Result<i64> {
        Ok(self.table.get(&connection)?.counters().0)
    }

    async fn changes(&mut self, connection: Resource<ConnectionHandle>) -> wasmtime::Result<u64> {
        Ok(self.table.get(&connection)?.counters().1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_transactions_queue_for_the_writer_slot() {
        for statement in [
            "BEGIN IMMEDIATE",
            "  begin",
            "INSERT INTO t VALUES (1)",
            "update t set x = 1",
            "DELETE FROM t",
            "REPLACE INTO t VALUES (1)",
        ] {
            assert!(takes_write_lock(statement), "{statement}");
        }
        for statement in [
            "SELECT * FROM t",
            "COMMIT",
            "ROLLBACK",
            "CREATE TABLE IF NOT EXISTS t (x)",
            "PRAGMA user_version",
            "",
            "INSERTS",
        ] {
            assert!(!takes_write_lock(statement), "{statement}");
        }
    }

    #[test]
    fn only_lock_free_statements_run_on_the_request_task() {
        for (statement, holds_writer_slot) in [
            ("SELECT 1", false),
            ("BEGIN IMMEDIATE", true),
            ("INSERT INTO t VALUES (1)", true),
            ("COMMIT", true),
        ] {
            assert!(runs_inline(statement, holds_writer_slot), "{statement}");
        }
        for (statement, holds_writer_slot) in [
            ("INSERT INTO t VALUES (1)", false),
            ("COMMIT", false),
            ("CREATE TABLE t (x)", true),
            ("PRAGMA user_version", true),
        ] {
            assert!(!runs_inline(statement, holds_writer_slot), "{statement}");
        }
    }

    #[tokio::test]
    async fn committed_pages_reach_the_database_file_without_a_checkpoint_in_the_commit() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("checkpointed.db");
        let db = Arc::new(Database::new(path.clone()).expect("database"));
        let handle = ConnectionHandle {
            inner: Arc::new(Mutex::new(Some(db.acquire().expect("connection")))),
            db: db.clone(),
            writing: Mutex::new(None),
            counters: Mutex::new((0, 0)),
        };
        for statement in [
            "CREATE TABLE blobs (data BLOB)",
            "INSERT INTO blobs VALUES (zeroblob(1048576))",
        ] {
            handle
                .execute(statement.into(), Vec::new())
                .await
                .expect(statement);
        }
        let file_size = || std::fs::metadata(&path).map_or(0, |m| m.len());
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while file_size() < 1 << 20 && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(
            file_size() >= 1 << 20,
            "the megabyte committed is still only in the WAL: {} bytes in the file",
            file_size()
        );
    }
}
