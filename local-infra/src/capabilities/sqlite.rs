//! SQLite databases: `fermyon:spin/sqlite@2.0.0` and `spin:sqlite/sqlite@3.0.0`, as Spin's
//! in-process implementation (`crates/sqlite-inproc`) provides them.
//!
//! Each label is a database file: `default` is `sqlite_db.db` under the state dir, any other
//! label must be defined by the runtime config, or the app does not start. A guest's `open`
//! is one plain `rusqlite` connection of its own, opened on first use and closed when the guest
//! drops it, so `BEGIN` ... `COMMIT` across several `execute` calls is one transaction and a
//! transaction left open is rolled back by SQLite on close. The host sets no pragma: journal
//! mode, synchronous, busy timeout (rusqlite's 5 s) are whatever the file and the app make
//! them, and concurrent writers meet in SQLite's own locks, exactly as under `spin up`.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
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

/// Spin's words when a component uses a label nothing defines (crates/factor-sqlite).
const UNDEFINED_DATABASES: [&str; 4] = [
    "One or more components use SQLite databases which are not defined.",
    "Check the spelling, or pass a runtime configuration file that defines these stores.",
    "See https://developer.fermyon.com/spin/dynamic-configuration#sqlite-storage-runtime-configuration",
    "Details:",
];

/// One database file.
pub struct Database {
    path: PathBuf,
    /// Whether this process has made sure the file exists with mode 0600.
    private: AtomicBool,
}

impl Database {
    pub fn new(path: PathBuf) -> anyhow::Result<Self> {
        // As Spin: the directory exists from startup; the file is made by the first connection.
        if let Some(dir) = path.parent() {
            crate::private_fs::create_dir_all(dir).map_err(|e| {
                anyhow::anyhow!(
                    "failed to create sqlite database directory '{}': {e}",
                    dir.display()
                )
            })?;
        }
        Ok(Self {
            path,
            private: AtomicBool::new(false),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A new connection, as `rusqlite::Connection::open` makes it. SQLite would create a
    /// missing file 0644 (and its journal and WAL files with the same mode), so the file is
    /// made 0600 first; once per process, as a file that exists keeps its mode.
    fn connect(&self) -> Result<rusqlite::Connection, SqliteError> {
        if !self.private.load(Ordering::Relaxed) {
            crate::private_fs::ensure_file(&self.path)
                .map_err(|e| SqliteError::Io(format!("{}: {e}", self.path.display())))?;
            self.private.store(true, Ordering::Relaxed);
        }
        rusqlite::Connection::open(&self.path).map_err(|e| SqliteError::Io(e.to_string()))
    }

    /// Rows of `(text, count)` from a two-column query; none when the query fails (a
    /// database without the table asked about, or not created yet).
    pub fn counts(&self, sql: &str) -> Vec<(String, i64)> {
        // Without `CREATE`: a scrape must not make the file of a database no guest has used.
        let flags =
            rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let Ok(conn) = rusqlite::Connection::open_with_flags(&self.path, flags) else {
            return Vec::new();
        };
        conn.prepare(sql)
            .and_then(|mut statement| {
                statement
                    .query_map([], |row| {
                        Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
                    })?
                    .collect::<Result<Vec<_>, _>>()
            })
            .unwrap_or_default()
    }
}

/// Every database of the app, by label.
#[derive(Default)]
pub struct SqliteService {
    databases: BTreeMap<String, Arc<Database>>,
}

impl SqliteService {
    /// The databases that `uses` (component id, the labels it declares) and the runtime config
    /// (`configured`) name. Fails, as Spin does, when a component uses a label other than
    /// `default` that the runtime config does not define.
    pub fn open<'a>(
        uses: impl IntoIterator<Item = (&'a str, &'a [String])>,
        configured: &BTreeMap<String, PathBuf>,
        state_dir: &Path,
    ) -> anyhow::Result<Self> {
        let mut labels: BTreeSet<String> = configured.keys().cloned().collect();
        let mut undefined = BTreeSet::new();
        for (component, used) in uses {
            for label in used {
                if label == "default" || configured.contains_key(label) {
                    labels.insert(label.clone());
                } else {
                    undefined.insert(format!("- Component {component} uses database '{label}'"));
                }
            }
        }
        if !undefined.is_empty() {
            let lines: Vec<String> = UNDEFINED_DATABASES
                .iter()
                .map(|line| (*line).to_owned())
                .chain(undefined)
                .collect();
            anyhow::bail!("{}", lines.join("\n"));
        }
        let mut databases = BTreeMap::new();
        for label in labels {
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

    /// Runs statements against the `default` database before the app starts (`--sqlite`), on
    /// one connection, as `spin up --sqlite` does.
    pub fn run_startup_statements(&self, statements: &[String]) -> anyhow::Result<()> {
        if statements.is_empty() {
            return Ok(());
        }
        let db = self.database("default").ok_or_else(|| {
            anyhow::anyhow!("--sqlite needs a component that uses the `default` database")
        })?;
        let conn = db.connect().map_err(|e| anyhow::anyhow!("--sqlite: {e}"))?;
        for statement in statements {
            conn.execute_batch(statement)
                .map_err(|e| anyhow::anyhow!("--sqlite `{statement}`: {e}"))?;
        }
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

fn lock(
    connection: &Mutex<rusqlite::Connection>,
) -> Result<std::sync::MutexGuard<'_, rusqlite::Connection>, SqliteError> {
    connection
        .lock()
        .map_err(|_| SqliteError::Io("connection lock poisoned".into()))
}

/// Runs `statement` on the caller's task, with the busy timeout briefly at zero: `None` when
/// SQLite would have had to wait for a lock (nothing was done; the caller runs it again on
/// the blocking pool, with the connection's own timeout).
///
/// Spin hands every statement to the blocking pool, but a statement that takes no lock
/// another connection holds runs in microseconds, less than the two thread switches of that
/// hand-off; on a busy host those switches were most of an instance's time. What the guest
/// sees is the same: the same connection, statements and busy timeout. (`PRAGMA busy_timeout`
/// itself takes no lock, and runs as it is: it reads or sets what is swapped here.)
fn run_unless_busy(
    connection: &Mutex<rusqlite::Connection>,
    statement: &str,
    params: &[Value],
) -> Option<Result<QueryOutput, SqliteError>> {
    let conn = match lock(connection) {
        Ok(conn) => conn,
        Err(e) => return Some(Err(e)),
    };
    if is_busy_timeout_pragma(statement) {
        return Some(
            run_statement(&conn, statement, params.to_vec())
                .map_err(|e| SqliteError::Io(e.to_string())),
        );
    }
    let patience: i64 = conn
        .pragma_query_value(None, "busy_timeout", |row| row.get(0))
        .ok()?;
    conn.busy_timeout(Duration::ZERO).ok()?;
    let outcome = run_statement(&conn, statement, params.to_vec());
    let restored = conn.busy_timeout(Duration::from_millis(u64::try_from(patience).unwrap_or(0)));
    match (outcome, restored) {
        (Err(e), _) if is_busy(&e) => None,
        (outcome, Ok(())) => Some(outcome.map_err(|e| SqliteError::Io(e.to_string()))),
        (_, Err(e)) => Some(Err(SqliteError::Io(e.to_string()))),
    }
}

fn is_busy(error: &rusqlite::Error) -> bool {
    matches!(
        error.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

fn is_busy_timeout_pragma(statement: &str) -> bool {
    let mut words = statement
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|word| !word.is_empty());
    words
        .next()
        .is_some_and(|word| word.eq_ignore_ascii_case("PRAGMA"))
        && words.any(|word| word.eq_ignore_ascii_case("busy_timeout"))
}

/// A connection exactly as Spin opens one: rusqlite's defaults, nothing else.
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
        Ok(ConnectionHandle {
            db,
            connection: OnceLock::new(),
        })
    }
}

/// A guest's connection. Its SQLite connection is opened on first use, as Spin's, so an
/// `open` never fails on I/O, and is closed when the guest drops the handle (or its instance
/// ends): SQLite then rolls back whatever transaction the guest left open.
pub struct ConnectionHandle {
    db: Arc<Database>,
    connection: OnceLock<Arc<Mutex<rusqlite::Connection>>>,
}

impl ConnectionHandle {
    fn connection(&self) -> Result<Arc<Mutex<rusqlite::Connection>>, SqliteError> {
        if let Some(conn) = self.connection.get() {
            return Ok(conn.clone());
        }
        let conn = Arc::new(Mutex::new(self.db.connect()?));
        Ok(self.connection.get_or_init(|| conn).clone())
    }

    pub async fn execute(
        &self,
        statement: String,
        params: Vec<Value>,
    ) -> Result<QueryOutput, SqliteError> {
        let connection = self.connection()?;
        if let Some(done) = run_unless_busy(&connection, &statement, &params) {
            return done;
        }
        // It has to wait for a lock, in SQLite's busy handler with the connection's own busy
        // timeout, as under Spin: on a thread of the blocking pool.
        tokio::task::spawn_blocking(move || {
            let conn = lock(&connection)?;
            run_statement(&conn, &statement, params).map_err(|e| SqliteError::Io(e.to_string()))
        })
        .await
        .map_err(|e| SqliteError::Io(format!("internal runtime error: {e}")))?
    }

    /// Reads the connection itself, as Spin does: `changes` and `last_insert_rowid` tell about
    /// its last statement, whichever it was.
    fn read<T>(&self, counter: impl FnOnce(&rusqlite::Connection) -> T) -> Result<T, SqliteError> {
        let conn = self.connection()?;
        Ok(counter(&*lock(&conn)?))
    }
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
    Ok(QueryOutput {
        columns,
        rows: rows_out,
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

    // The WIT gives these no error: a connection that cannot even open reads as 0, which is
    // also what a fresh connection says.
    async fn last_insert_rowid(
        &mut self,
        connection: Resource<ConnectionHandle>,
    ) -> wasmtime::Result<i64> {
        let handle = self.table.get(&connection)?;
        Ok(handle
            .read(rusqlite::Connection::last_insert_rowid)
            .unwrap_or(0))
    }

    async fn changes(&mut self, connection: Resource<ConnectionHandle>) -> wasmtime::Result<u64> {
        let handle = self.table.get(&connection)?;
        Ok(handle.read(rusqlite::Connection::changes).unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_busy_timeout_pragmas_skip_the_swapped_timeout() {
        for statement in [
            "PRAGMA busy_timeout",
            "pragma busy_timeout = 0",
            "  PRAGMA main.busy_timeout=5000",
        ] {
            assert!(super::is_busy_timeout_pragma(statement), "{statement}");
        }
        for statement in [
            "PRAGMA synchronous = NORMAL",
            "PRAGMA journal_mode = WAL",
            "SELECT busy_timeout FROM t",
            "BEGIN IMMEDIATE",
        ] {
            assert!(!super::is_busy_timeout_pragma(statement), "{statement}");
        }
    }

    use super::*;

    fn labels(list: &[&str]) -> Vec<String> {
        list.iter().map(|label| (*label).to_owned()).collect()
    }

    #[test]
    fn only_default_or_a_configured_label_may_be_used() {
        let state = tempfile::tempdir().expect("dir");
        let (web, api) = (labels(&["default", "orders"]), labels(&["orders", "carts"]));
        let uses = || [("web", &web[..]), ("api", &api[..]), ("web", &web[..])];
        let err = SqliteService::open(uses(), &BTreeMap::new(), state.path())
            .err()
            .expect("undefined labels")
            .to_string();
        let mut lines = err.lines();
        assert_eq!(lines.next(), Some(UNDEFINED_DATABASES[0]));
        let details: Vec<&str> = lines.skip_while(|line| *line != "Details:").collect();
        assert_eq!(
            details,
            [
                "Details:",
                "- Component api uses database 'carts'",
                "- Component api uses database 'orders'",
                "- Component web uses database 'orders'",
            ]
        );

        let configured = BTreeMap::from([
            ("orders".to_owned(), state.path().join("o/orders.db")),
            ("carts".to_owned(), state.path().join("carts.db")),
        ]);
        let service = SqliteService::open(uses(), &configured, state.path()).expect("defined");
        let paths: Vec<(&str, &Path)> = service
            .databases()
            .map(|(label, db)| (label.as_str(), db.path()))
            .collect();
        let default = state.path().join("sqlite_db.db");
        assert_eq!(
            paths,
            [
                ("carts", configured["carts"].as_path()),
                ("default", default.as_path()),
                ("orders", configured["orders"].as_path()),
            ]
        );
        // Directories exist from startup, files only once a connection makes them.
        assert!(state.path().join("o").is_dir());
        assert!(!configured["orders"].exists());
    }

    #[test]
    fn counting_does_not_create_a_database() {
        let state = tempfile::tempdir().expect("dir");
        let db = Database::new(state.path().join("unused.db")).expect("database");
        assert!(db.counts("SELECT 'x', 1").is_empty());
        assert!(!db.path().exists());

        rusqlite::Connection::open(db.path())
            .and_then(|conn| {
                conn.execute_batch("CREATE TABLE t (s TEXT); INSERT INTO t VALUES ('a'), ('a');")
            })
            .expect("seeded");
        assert_eq!(
            db.counts("SELECT s, COUNT(*) FROM t GROUP BY s"),
            [("a".to_owned(), 2)]
        );
        assert!(
            db.counts("SELECT s, COUNT(*) FROM absent GROUP BY s")
                .is_empty()
        );
    }
}
