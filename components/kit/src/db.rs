//! SQLite through Spin (`spin:sqlite@3.0.0`): versioned migrations applied idempotently on first
//! use, and transactions that commit or roll back as one.

use spin_sdk::sqlite3::{Connection, Error as SqliteError, QueryResult, Value};

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("sqlite: {0:?}")]
    Sqlite(SqliteError),
    #[error("{0}")]
    Data(String),
}

impl From<SqliteError> for DbError {
    fn from(e: SqliteError) -> Self {
        DbError::Sqlite(e)
    }
}

/// The one place a database failure becomes an HTTP answer: logged in full for the operator,
/// a plain 500 for the client (SQLite's wording is nobody else's business).
impl From<DbError> for crate::error::ApiError {
    fn from(e: DbError) -> Self {
        crate::trace::log("database", &e);
        crate::error::ApiError::internal("database error")
    }
}

/// One schema step: its version and the SQL that takes the schema there.
pub struct Migration {
    pub version: u32,
    pub sql: &'static str,
}

/// Opens the database `label` and brings its schema up to date. Every request may call this:
/// applied versions are recorded in `schema_migrations` and skipped, and each step runs in a
/// write transaction so concurrent first requests cannot apply a step twice.
pub fn open(label: &str, migrations: &[Migration]) -> Result<Connection, DbError> {
    let conn = Connection::open(label)?;
    // Spin opens a fresh SQLite connection per `open` and sets nothing on it, so what a
    // connection needs is asked for here. `synchronous = NORMAL` is per connection: in WAL mode
    // a commit then appends to the log without waiting for the disk (a crash of the host loses
    // no committed transaction; a power cut may lose the last few), which keeps the write lock
    // short for the instances queued behind it.
    conn.execute("PRAGMA synchronous = NORMAL", &[])?;
    // The common case, a database already migrated, costs one read of the file's header: the
    // version applied last is kept there (`user_version`) as well as in `schema_migrations`,
    // and the header is read with the schema anyway, where the table would be one lookup more
    // on every open.
    let latest = migrations.iter().map(|m| m.version).max().unwrap_or(0);
    if header_version(&conn)? >= latest {
        return Ok(conn);
    }
    let applied = match current_version(&conn) {
        Ok(version) => version,
        Err(_) => {
            use_write_ahead_log(&conn);
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)",
                &[],
            )?;
            current_version(&conn)?
        }
    };
    if applied >= latest {
        // Migrated by a version that did not keep the header: it learns the version once.
        transaction(&conn, |conn| set_header_version(conn, applied))?;
        return Ok(conn);
    }
    use_write_ahead_log(&conn);
    for migration in migrations {
        transaction(&conn, |conn| -> Result<(), DbError> {
            // Re-read inside the write lock: another instance may have just applied it.
            if current_version(conn)? >= migration.version {
                return Ok(());
            }
            for statement in split_statements(migration.sql) {
                conn.execute(statement, &[])?;
            }
            conn.execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                &[
                    Value::Integer(i64::from(migration.version)),
                    Value::Text(crate::ids::now_rfc3339()),
                ],
            )?;
            set_header_version(conn, migration.version)
        })?;
    }
    Ok(conn)
}

fn header_version(conn: &Connection) -> Result<u32, DbError> {
    let result = conn.execute("PRAGMA user_version", &[])?;
    Ok(first_integer(&result))
}

/// Never lowers it: an instance that lost the race to a newer step must not undo its mark.
fn set_header_version(conn: &Connection, version: u32) -> Result<(), DbError> {
    if header_version(conn)? < version {
        // A pragma takes no parameters; `version` is a number of ours.
        conn.execute(&format!("PRAGMA user_version = {version}"), &[])?;
    }
    Ok(())
}

/// Puts the database file in WAL mode, once: the mode is stored in the file, so every later
/// connection has it. Readers then never wait for the writer, nor the writer for them; in the
/// default rollback journal every write would lock out all readers and sync the disk twice.
/// Best effort: a database another instance is switching at the same moment keeps whichever
/// mode it gets, and the next migration asks again.
fn use_write_ahead_log(conn: &Connection) {
    if let Err(e) = conn.execute("PRAGMA journal_mode = WAL", &[]) {
        crate::trace::log("database", format_args!("journal_mode = WAL: {e:?}"));
    }
}

fn current_version(conn: &Connection) -> Result<u32, DbError> {
    let result = conn.execute(
        "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
        &[],
    )?;
    Ok(first_integer(&result))
}

fn first_integer(result: &QueryResult) -> u32 {
    result
        .rows
        .first()
        .and_then(|row| row.values.first())
        .and_then(|value| match value {
            Value::Integer(v) => u32::try_from(*v).ok(),
            _ => None,
        })
        .unwrap_or(0)
}

/// Statements of a migration, split on `;` at line ends (migrations hold no `;` in literals).
fn split_statements(sql: &str) -> impl Iterator<Item = &str> {
    sql.split(";\n")
        .map(|s| s.trim().trim_end_matches(';').trim())
        .filter(|s| !s.is_empty())
}

/// How long a transaction waits for the write lock before it fails, as rusqlite's default
/// busy timeout would.
const WRITE_LOCK_WAIT_MS: u64 = 5_000;
/// The first and the longest pause between two asks for the write lock.
const WRITE_LOCK_FIRST_PAUSE_US: u64 = 100;
const WRITE_LOCK_MAX_PAUSE_US: u64 = 1_000;

/// Runs `work` in one write transaction; commits on `Ok`, rolls back on `Err`.
///
/// `BEGIN IMMEDIATE` takes the write lock up front, so a writer waits before it has read
/// anything instead of failing when a read transaction tries to upgrade. The wait is paced
/// here rather than by SQLite's busy handler: that one sleeps a thread for 1, 2, 5, 10 ... up
/// to 100 ms between tries, so under load the lock sits idle while every waiter sleeps
/// (Spin gives each guest connection its own SQLite connection and queues nobody). Here a
/// waiter asks again after 0.1 ms, doubling to at most 1 ms with jitter, and sleeps on a WASI
/// timer, which holds no host thread.
pub fn transaction<T, E: From<DbError>>(
    conn: &Connection,
    work: impl FnOnce(&Connection) -> Result<T, E>,
) -> Result<T, E> {
    // Busy at once instead of in SQLite's sleeping busy handler; set back once the lock is
    // given up, for the statements this connection runs outside a transaction.
    conn.execute("PRAGMA busy_timeout = 0", &[])
        .map_err(DbError::from)?;
    // Events enqueued by `work` are relayed only if it commits.
    let mark = crate::outbox::enqueued_count();
    let outcome = begin_immediate(conn)
        .map_err(E::from)
        .and_then(|()| match work(conn) {
            Ok(value) => match conn.execute("COMMIT", &[]) {
                Ok(_) => Ok(value),
                Err(e) => {
                    let _ = conn.execute("ROLLBACK", &[]);
                    Err(DbError::from(e).into())
                }
            },
            Err(e) => {
                let _ = conn.execute("ROLLBACK", &[]);
                Err(e)
            }
        });
    if outcome.is_err() {
        crate::outbox::forget_since(mark);
    }
    let _ = conn.execute(&format!("PRAGMA busy_timeout = {WRITE_LOCK_WAIT_MS}"), &[]);
    outcome
}

fn begin_immediate(conn: &Connection) -> Result<(), DbError> {
    let started = std::time::Instant::now();
    let mut pause_us = WRITE_LOCK_FIRST_PAUSE_US;
    loop {
        match conn.execute("BEGIN IMMEDIATE", &[]) {
            Ok(_) => return Ok(()),
            Err(e) if is_busy(&e) => {
                if started.elapsed().as_millis() >= u128::from(WRITE_LOCK_WAIT_MS) {
                    return Err(DbError::Data(format!(
                        "the write lock was not granted within {WRITE_LOCK_WAIT_MS} ms"
                    )));
                }
                pause(jittered(pause_us));
                pause_us = (pause_us * 2).min(WRITE_LOCK_MAX_PAUSE_US);
            }
            Err(e) => return Err(DbError::from(e)),
        }
    }
}

/// Half to all of `micros`, so that waiters who met the lock busy together do not all ask
/// again together.
fn jittered(micros: u64) -> u64 {
    let random = u64::from(uuid::Uuid::new_v4().as_bytes()[0]);
    micros / 2 + micros * random / 512
}

/// Sleeps on a WASI timer: the host parks this instance, not a thread.
fn pause(micros: u64) {
    wasi::clocks::monotonic_clock::subscribe_duration(micros * 1_000).block();
}

/// Whether SQLite gave up waiting for a lock another connection holds.
fn is_busy(error: &SqliteError) -> bool {
    matches!(error, SqliteError::Io(message)
        if message.contains("database is locked") || message.contains("database is busy"))
}

/// A row as a small typed accessor over a query result.
pub struct Row<'a> {
    columns: &'a [String],
    values: &'a [Value],
}

impl<'a> Row<'a> {
    fn value(&self, column: &str) -> Result<&'a Value, DbError> {
        self.columns
            .iter()
            .position(|c| c == column)
            .and_then(|i| self.values.get(i))
            .ok_or_else(|| DbError::Data(format!("no column `{column}`")))
    }

    pub fn text(&self, column: &str) -> Result<String, DbError> {
        match self.value(column)? {
            Value::Text(s) => Ok(s.clone()),
            other => Err(DbError::Data(format!("`{column}` is {other:?}, not text"))),
        }
    }

    pub fn opt_text(&self, column: &str) -> Result<Option<String>, DbError> {
        match self.value(column)? {
            Value::Null => Ok(None),
            Value::Text(s) => Ok(Some(s.clone())),
            other => Err(DbError::Data(format!("`{column}` is {other:?}, not text"))),
        }
    }

    pub fn int(&self, column: &str) -> Result<i64, DbError> {
        match self.value(column)? {
            Value::Integer(i) => Ok(*i),
            other => Err(DbError::Data(format!(
                "`{column}` is {other:?}, not an integer"
            ))),
        }
    }

    pub fn opt_int(&self, column: &str) -> Result<Option<i64>, DbError> {
        match self.value(column)? {
            Value::Null => Ok(None),
            Value::Integer(i) => Ok(Some(*i)),
            other => Err(DbError::Data(format!(
                "`{column}` is {other:?}, not an integer"
            ))),
        }
    }
}

/// What [`newest_first`] lists: `SELECT {columns} FROM {table} WHERE {filter}`, `filter`
/// binding `params` as `?1`..`?n`.
pub struct Listing<'a> {
    pub columns: &'a str,
    pub table: &'a str,
    pub filter: &'a str,
    pub params: &'a [Value],
}

/// One page of `listing`, newest first, each row made a `T` by `item`, and how many rows match
/// in all. The page's limit and offset are bound after the filter's parameters.
pub fn newest_first<T>(
    conn: &Connection,
    listing: &Listing<'_>,
    limit: u32,
    offset: i64,
    mut item: impl FnMut(&Row<'_>) -> Result<T, DbError>,
) -> Result<(Vec<T>, u64), DbError> {
    let Listing {
        columns,
        table,
        filter,
        params,
    } = *listing;
    let counted = conn.execute(
        &format!("SELECT COUNT(*) AS n FROM {table} WHERE {filter}"),
        params,
    )?;
    let total = rows(&counted)
        .next()
        .map(|row| row.int("n"))
        .transpose()?
        .unwrap_or(0);
    let mut page = params.to_vec();
    page.push(int(limit));
    page.push(int(offset));
    let (limit_at, offset_at) = (params.len() + 1, params.len() + 2);
    // Ties of `created_at` (same millisecond) go by `rowid`, the order of insertion: UUIDv7 ids
    // made by different instances within one millisecond are in no particular order.
    let result = conn.execute(
        &format!(
            "SELECT {columns} FROM {table} WHERE {filter} ORDER BY created_at DESC, rowid DESC LIMIT ?{limit_at} OFFSET ?{offset_at}"
        ),
        &page,
    )?;
    let items = rows(&result)
        .map(|row| item(&row))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((items, u64::try_from(total).unwrap_or(0)))
}

pub fn rows(result: &QueryResult) -> impl Iterator<Item = Row<'_>> {
    result.rows.iter().map(|row| Row {
        columns: &result.columns,
        values: &row.values,
    })
}

pub fn text(value: impl Into<String>) -> Value {
    Value::Text(value.into())
}

pub fn int(value: impl Into<i64>) -> Value {
    Value::Integer(value.into())
}

pub fn opt_text(value: Option<impl Into<String>>) -> Value {
    value.map(|v| Value::Text(v.into())).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_are_jittered_within_half_to_all_of_the_step() {
        for _ in 0..100 {
            let pause = jittered(1_000);
            assert!((500..1_000).contains(&pause), "{pause}");
        }
    }

    #[test]
    fn lock_timeouts_are_busy_and_other_errors_are_not() {
        assert!(is_busy(&SqliteError::Io("database is locked".into())));
        assert!(!is_busy(&SqliteError::Io("no such table: t".into())));
        assert!(!is_busy(&SqliteError::AccessDenied));
    }

    #[test]
    fn splits_migration_statements() {
        let sql = "CREATE TABLE a (x INTEGER);\nCREATE INDEX i ON a (x);\n";
        assert_eq!(
            split_statements(sql).collect::<Vec<_>>(),
            vec!["CREATE TABLE a (x INTEGER)", "CREATE INDEX i ON a (x)"]
        );
    }
}
