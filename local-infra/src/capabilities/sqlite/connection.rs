//! One database file and one guest's connection to it, as Spin's `sqlite-inproc` makes them:
//! the file is created 0600 by the first connection, and a guest's `open` is a plain
//! `rusqlite` connection of its own, opened on first use and closed with the handle. Apart
//! from [`statement`](super::statement) because what a connection *is* (its lifetime, which
//! transaction it holds) is another concern than how a statement on it runs.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use super::SqliteError;
use super::statement::{QueryOutput, Value, run_statement, run_unless_busy};

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
    pub(super) fn connect(&self) -> Result<rusqlite::Connection, SqliteError> {
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

/// A guest's connection. Its SQLite connection is opened on first use, as Spin's, so an
/// `open` never fails on I/O, and is closed when the guest drops the handle (or its instance
/// ends): SQLite then rolls back whatever transaction the guest left open.
///
/// One lock, the connection's `Mutex`: it lets a statement that must wait for SQLite's lock
/// take the connection to a thread of the blocking pool. The `OnceLock` only publishes the
/// connection once it is opened.
pub struct ConnectionHandle {
    db: Arc<Database>,
    connection: OnceLock<Arc<Mutex<rusqlite::Connection>>>,
}

impl ConnectionHandle {
    pub(super) fn new(db: Arc<Database>) -> Self {
        Self {
            db,
            connection: OnceLock::new(),
        }
    }

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
        if let Some(done) = run_unless_busy(&*lock(&connection)?, &statement, &params) {
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
    pub(super) fn read<T>(
        &self,
        counter: impl FnOnce(&rusqlite::Connection) -> T,
    ) -> Result<T, SqliteError> {
        let conn = self.connection()?;
        Ok(counter(&*lock(&conn)?))
    }
}

fn lock(
    connection: &Mutex<rusqlite::Connection>,
) -> Result<MutexGuard<'_, rusqlite::Connection>, SqliteError> {
    connection
        .lock()
        .map_err(|_| SqliteError::Io("connection lock poisoned".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

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
