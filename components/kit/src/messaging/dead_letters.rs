//! Dead letters: the messages a consumer could not apply, kept in `dead_letters` — `retrying`
//! with capped exponential backoff while the failure looks transient, `dead` when it is
//! permanent or came too often — until they are resolved by a retry or discarded by an
//! operator. Every statement on the table is here.

use serde_json::{Value, json};
use spin_sdk::sqlite3::Connection;

use super::{Failure, Outcome};
use crate::db::{self, DbError};
use crate::ids;

/// Attempts (the first included) before a transiently failing message is declared dead.
pub const MAX_ATTEMPTS: u32 = 6;
const RETRY_BASE_MS: i64 = 500;
const RETRY_CAP_MS: i64 = 30_000;

/// Dead-letter states.
pub mod status {
    pub const RETRYING: &str = "retrying";
    pub const DEAD: &str = "dead";
    pub const RESOLVED: &str = "resolved";
    pub const DISCARDED: &str = "discarded";

    /// Every state, as `GET /admin/dead-letters?status=` takes them.
    pub const ALL: [&str; 4] = [RETRYING, DEAD, RESOLVED, DISCARDED];
}

/// A kept message, as a retry reads it.
pub(super) struct Letter {
    pub payload: String,
    pub attempts: u32,
    pub event_type: Option<String>,
}

fn count(attempts: i64) -> u32 {
    u32::try_from(attempts).unwrap_or(u32::MAX)
}

/// The message kept as `id`, if any.
pub(super) fn letter(conn: &Connection, id: &str) -> Result<Option<Letter>, DbError> {
    let found = conn.execute(
        "SELECT payload, attempts, event_type FROM dead_letters WHERE id = ?",
        &[db::text(id)],
    )?;
    db::rows(&found)
        .next()
        .map(|row| {
            Ok(Letter {
                payload: row.text("payload")?,
                attempts: count(row.int("attempts")?),
                event_type: row.opt_text("event_type")?,
            })
        })
        .transpose()
}

/// Attempts already counted for the message `id`: a redelivery of a message already kept
/// continues its count.
pub(super) fn attempts_of(conn: &Connection, id: &str) -> Result<u32, DbError> {
    let kept = conn.execute(
        "SELECT attempts FROM dead_letters WHERE id = ?",
        &[db::text(id)],
    )?;
    Ok(db::rows(&kept)
        .next()
        .map(|row| row.int("attempts"))
        .transpose()?
        .map_or(0, count))
}

/// Keeps a failed message: retrying with backoff while transient and under the attempt cap,
/// dead otherwise. `previous_attempts` is what its dead-letter row already counted.
pub(super) fn record_failure(
    conn: &Connection,
    id: &str,
    event_type: &str,
    payload: &str,
    failure: &Failure,
    previous_attempts: u32,
) -> Result<Outcome, DbError> {
    let attempts = previous_attempts + 1;
    let (state, outcome) = match failure {
        Failure::Transient(error) if attempts < MAX_ATTEMPTS => (
            status::RETRYING,
            Outcome::Deferred {
                attempts,
                error: error.clone(),
            },
        ),
        other => (
            status::DEAD,
            Outcome::DeadLettered {
                error: other.to_string(),
            },
        ),
    };
    park(
        conn,
        id,
        Some(event_type),
        payload,
        &failure.to_string(),
        attempts,
        state,
    )?;
    Ok(outcome)
}

/// Keeps what is not even an envelope, `dead` at once, under a new id.
pub(super) fn park_unreadable(
    conn: &Connection,
    payload: &str,
    error: &str,
) -> Result<(), DbError> {
    park(conn, &ids::new_id(), None, payload, error, 1, status::DEAD)
}

fn park(
    conn: &Connection,
    id: &str,
    event_type: Option<&str>,
    payload: &str,
    error: &str,
    attempts: u32,
    state: &str,
) -> Result<(), DbError> {
    let now = ids::now_rfc3339();
    let next_attempt = (state == status::RETRYING).then(|| {
        ids::now_unix_millis()
            + ids::backoff_ms(attempts.saturating_sub(1), RETRY_BASE_MS, RETRY_CAP_MS)
    });
    conn.execute(
        "INSERT INTO dead_letters (id, event_type, payload, error, attempts, status, next_attempt_ms, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET error = excluded.error, attempts = excluded.attempts,
           status = excluded.status, next_attempt_ms = excluded.next_attempt_ms, updated_at = excluded.updated_at",
        &[
            db::text(id),
            db::opt_text(event_type),
            db::text(payload),
            db::text(error),
            db::int(attempts),
            db::text(state),
            next_attempt.map_or(spin_sdk::sqlite3::Value::Null, spin_sdk::sqlite3::Value::Integer),
            db::text(&now),
            db::text(&now),
        ],
    )?;
    Ok(())
}

/// Marks `id` applied at last (or found a duplicate) by a retry.
pub(super) fn resolve(conn: &Connection, id: &str) -> Result<(), DbError> {
    conn.execute(
        "UPDATE dead_letters SET status = ?, next_attempt_ms = NULL, updated_at = ? WHERE id = ?",
        &[
            db::text(status::RESOLVED),
            db::text(ids::now_rfc3339()),
            db::text(id),
        ],
    )?;
    Ok(())
}

/// The ids of at most `limit` messages whose retry is due, the most overdue first.
pub(super) fn due(conn: &Connection, limit: u32) -> Result<Vec<String>, DbError> {
    let due = conn.execute(
        "SELECT id FROM dead_letters WHERE status = ? AND next_attempt_ms <= ? ORDER BY next_attempt_ms LIMIT ?",
        &[
            db::text(status::RETRYING),
            db::int(ids::now_unix_millis()),
            db::int(limit),
        ],
    )?;
    db::rows(&due).map(|row| row.text("id")).collect()
}

/// An operator's discard of a message still retrying or dead; the row as it now stands, `None`
/// when there is no such dead letter.
pub(super) fn discard(conn: &Connection, id: &str) -> Result<Option<Value>, DbError> {
    conn.execute(
        "UPDATE dead_letters SET status = ?, next_attempt_ms = NULL, updated_at = ? WHERE id = ? AND status IN (?, ?)",
        &[
            db::text(status::DISCARDED),
            db::text(ids::now_rfc3339()),
            db::text(id),
            db::text(status::RETRYING),
            db::text(status::DEAD),
        ],
    )?;
    find(conn, id)
}

/// The newest 200 dead letters, of state `wanted` only when given.
pub(super) fn list(conn: &Connection, wanted: Option<&str>) -> Result<Vec<Value>, DbError> {
    let result = conn.execute(
        "SELECT * FROM dead_letters WHERE (? IS NULL OR status = ?) ORDER BY created_at DESC LIMIT 200",
        &[db::opt_text(wanted), db::opt_text(wanted)],
    )?;
    db::rows(&result).map(|row| as_json(&row)).collect()
}

/// The dead letter `id`, as the admin routes show it.
pub(super) fn find(conn: &Connection, id: &str) -> Result<Option<Value>, DbError> {
    let result = conn.execute("SELECT * FROM dead_letters WHERE id = ?", &[db::text(id)])?;
    db::rows(&result)
        .next()
        .map(|row| as_json(&row))
        .transpose()
}

fn as_json(row: &db::Row<'_>) -> Result<Value, DbError> {
    Ok(json!({
        "id": row.text("id")?,
        "event_type": row.opt_text("event_type")?,
        "payload": row.text("payload")?,
        "error": row.text("error")?,
        "attempts": row.int("attempts")?,
        "status": row.text("status")?,
        "next_attempt_ms": row.opt_int("next_attempt_ms")?,
        "created_at": row.text("created_at")?,
        "updated_at": row.text("updated_at")?,
    }))
}
