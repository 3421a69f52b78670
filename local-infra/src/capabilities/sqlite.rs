//! SQLite databases: `fermyon:spin/sqlite@2.0.0` and `spin:sqlite/sqlite@3.0.0`, as Spin's
//! in-process implementation (`crates/sqlite-inproc`) provides them.
//!
//! Each label is a database file: `default` is `sqlite_db.db` under the state dir, any other
//! label must be defined by the runtime config, or the app does not start. A guest's `open`
//! is one plain `rusqlite` connection of its own, opened on first use and closed when the guest
//! drops it, so `BEGIN` ... `COMMIT` across several `execute` calls is one transaction and a
//! transaction left open is rolled back by SQLite on close. The host sets no pragma: journal
//! mode, synchronous, busy timeout (rusqlite's 5 s) are whatever the file and the app make
//! them, and concurrent writers meet in SQLite's own locks, exactly as under `spin up`: no
//! pool, no writer queue.
//!
//! Cut as Spin's `crates/factor-sqlite`: this file is the app-wide part (which labels exist,
//! Spin's refusal of undefined ones, what a component may open); [`connection`] is one file and
//! one guest's connection to it (Spin's `sqlite-inproc`); [`statement`] is how a statement runs
//! and where it waits for a lock; [`host`] maps both WIT versions onto them.

mod connection;
mod host;
mod statement;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use connection::{ConnectionHandle, Database};
pub use statement::{QueryOutput, Value};

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
        Ok(ConnectionHandle::new(db))
    }
}

#[cfg(test)]
mod tests {
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
}
