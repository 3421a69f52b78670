//! Audit's SQLite repository (database label `audit`). The table is append-only: triggers
//! refuse every `UPDATE` and `DELETE`, so no code path (nor a later bug) can rewrite history.

use spin_sdk::sqlite3::Connection;
use wasmshop_kit::db::{self, DbError, Migration, Row};

use crate::bindings::wasmshop::audit::types::{Entry, EntryFilter, NewEntry, Outcome};

// Each trigger on one line: migrations are split on `;` at line ends.
const SCHEMA: &str = "CREATE TABLE entries (
  id TEXT PRIMARY KEY,
  created_at TEXT NOT NULL,
  actor TEXT NOT NULL,
  actor_role TEXT,
  action TEXT NOT NULL,
  outcome TEXT NOT NULL,
  status INTEGER NOT NULL,
  method TEXT NOT NULL,
  path TEXT NOT NULL,
  client_addr TEXT,
  trace_id TEXT NOT NULL,
  request_id TEXT NOT NULL
);
CREATE INDEX entries_created ON entries (created_at);
CREATE INDEX entries_actor ON entries (actor, created_at);
CREATE INDEX entries_action ON entries (action, created_at);
CREATE TRIGGER entries_no_update BEFORE UPDATE ON entries BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
CREATE TRIGGER entries_no_delete BEFORE DELETE ON entries BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END";

pub fn open() -> Result<Connection, DbError> {
    db::open(
        "audit",
        &[Migration {
            version: 1,
            sql: SCHEMA,
        }],
    )
}

const COLUMNS: &str = "id, created_at, actor, actor_role, action, outcome, status, method, path, client_addr, trace_id, request_id";

fn entry_of(row: &Row<'_>) -> Result<Entry, DbError> {
    let outcome = row.text("outcome")?;
    Ok(Entry {
        id: row.text("id")?,
        at: row.text("created_at")?,
        actor: row.text("actor")?,
        actor_role: row.opt_text("actor_role")?,
        action: row.text("action")?,
        outcome: Outcome::parse(&outcome)
            .ok_or_else(|| DbError::Data(format!("unknown outcome `{outcome}`")))?,
        status: u16::try_from(row.int("status")?)
            .map_err(|_| DbError::Data("status out of range".into()))?,
        method: row.text("method")?,
        path: row.text("path")?,
        client_addr: row.opt_text("client_addr")?,
        trace_id: row.text("trace_id")?,
        request_id: row.text("request_id")?,
    })
}

/// One statement, so atomic without a transaction.
pub fn insert(conn: &Connection, id: &str, at: &str, entry: &NewEntry) -> Result<(), DbError> {
    conn.execute(
        &format!("INSERT INTO entries ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
        &[
            db::text(id),
            db::text(at),
            db::text(&entry.actor),
            db::opt_text(entry.actor_role.as_deref()),
            db::text(&entry.action),
            db::text(entry.outcome.as_str()),
            db::int(entry.status),
            db::text(&entry.method),
            db::text(&entry.path),
            db::opt_text(entry.client_addr.as_deref()),
            db::text(&entry.trace_id),
            db::text(&entry.request_id),
        ],
    )?;
    Ok(())
}

pub fn list(
    conn: &Connection,
    filter: &EntryFilter,
    limit: u32,
    offset: i64,
) -> Result<(Vec<Entry>, u64), DbError> {
    let listing = db::Listing {
        columns: COLUMNS,
        table: "entries",
        filter: "(?1 IS NULL OR actor = ?1) AND (?2 IS NULL OR action = ?2) AND (?3 IS NULL OR created_at >= ?3)",
        params: &[
            db::opt_text(filter.actor.as_deref()),
            db::opt_text(filter.action.as_deref()),
            db::opt_text(filter.since.as_deref()),
        ],
    };
    let (items, total) = db::newest_first(conn, &listing, limit, offset, entry_of)?;
    Ok((items, total))
}
