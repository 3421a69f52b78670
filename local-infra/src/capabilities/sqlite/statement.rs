//! How one statement runs on a guest's connection, and where it waits for a lock: on the
//! caller's task unless SQLite would have to wait, then (by the caller) on the blocking pool
//! with the connection's own busy timeout. Also the values that cross between the guest and
//! `rusqlite`. Apart from [`connection`](super::connection) because this is the one place the
//! runtime departs from Spin in *how* (never in *what*) it runs SQL, and says why.

use std::time::Duration;

use super::SqliteError;

/// Runs `statement` on the caller's task, with the busy timeout briefly at zero: `None` when
/// SQLite would have had to wait for a lock (nothing was done; the caller runs it again on
/// the blocking pool, with the connection's own timeout).
///
/// Spin hands every statement to the blocking pool, but a statement that takes no lock
/// another connection holds runs in microseconds, less than the two thread switches of that
/// hand-off; on a busy host those switches were most of an instance's time. What the guest
/// sees is the same: the same connection, statements and busy timeout. (`PRAGMA busy_timeout`
/// itself takes no lock, and runs as it is: it reads or sets what is swapped here.)
pub(super) fn run_unless_busy(
    conn: &rusqlite::Connection,
    statement: &str,
    params: &[Value],
) -> Option<Result<QueryOutput, SqliteError>> {
    if is_busy_timeout_pragma(statement) {
        return Some(
            run_statement(conn, statement, params.to_vec())
                .map_err(|e| SqliteError::Io(e.to_string())),
        );
    }
    let patience: i64 = conn
        .pragma_query_value(None, "busy_timeout", |row| row.get(0))
        .ok()?;
    conn.busy_timeout(Duration::ZERO).ok()?;
    let outcome = run_statement(conn, statement, params.to_vec());
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

pub(super) fn run_statement(
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
}
