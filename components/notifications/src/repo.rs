//! Notifications' SQLite repository (database label `notifications`): its own copy of the
//! contacts it needs, the notifications and their deliveries.

use serde::Serialize;
use spin_sdk::sqlite3::Connection;
use wasmshop_kit::db::{self, DbError, Migration, Row};
use wasmshop_kit::ids::now_rfc3339;

const SCHEMA: &str = "CREATE TABLE contacts (
  user_id TEXT PRIMARY KEY,
  email TEXT NOT NULL,
  name TEXT NOT NULL
);
CREATE TABLE notifications (
  id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL,
  template TEXT NOT NULL,
  subject_id TEXT NOT NULL,
  subject TEXT NOT NULL,
  body TEXT NOT NULL,
  event_id TEXT NOT NULL,
  created_at TEXT NOT NULL,
  read_at TEXT,
  UNIQUE (event_id, template)
);
CREATE INDEX notifications_user ON notifications (user_id, created_at);
CREATE TABLE deliveries (
  notification_id TEXT NOT NULL REFERENCES notifications (id),
  channel TEXT NOT NULL,
  status TEXT NOT NULL,
  attempts INTEGER NOT NULL,
  last_error TEXT,
  next_attempt_ms INTEGER,
  updated_at TEXT NOT NULL,
  PRIMARY KEY (notification_id, channel)
);
CREATE INDEX deliveries_due ON deliveries (status, next_attempt_ms)";

pub fn open() -> Result<Connection, DbError> {
    db::open(
        "notifications",
        &[
            Migration {
                version: 1,
                sql: SCHEMA,
            },
            wasmshop_kit::outbox::migration(2),
            wasmshop_kit::messaging::migration(3),
        ],
    )
}

pub fn save_contact(
    conn: &Connection,
    user_id: &str,
    email: &str,
    name: &str,
) -> Result<(), DbError> {
    conn.execute(
        "INSERT INTO contacts (user_id, email, name) VALUES (?, ?, ?)
         ON CONFLICT (user_id) DO UPDATE SET email = excluded.email, name = excluded.name",
        &[db::text(user_id), db::text(email), db::text(name)],
    )?;
    Ok(())
}

pub fn rename_contact(conn: &Connection, user_id: &str, name: &str) -> Result<(), DbError> {
    conn.execute(
        "UPDATE contacts SET name = ? WHERE user_id = ?",
        &[db::text(name), db::text(user_id)],
    )?;
    Ok(())
}

pub fn contact_email(conn: &Connection, user_id: &str) -> Result<Option<String>, DbError> {
    let result = conn.execute(
        "SELECT email FROM contacts WHERE user_id = ?",
        &[db::text(user_id)],
    )?;
    db::rows(&result)
        .next()
        .map(|r| r.text("email"))
        .transpose()
}

pub struct NewNotification<'a> {
    pub id: &'a str,
    pub user_id: &'a str,
    pub template: &'a str,
    pub subject_id: &'a str,
    pub subject: &'a str,
    pub body: &'a str,
    pub event_id: &'a str,
}

/// Whether it was new (the same event and template never make two).
pub fn insert(conn: &Connection, n: &NewNotification<'_>) -> Result<bool, DbError> {
    let existing = conn.execute(
        "SELECT 1 FROM notifications WHERE event_id = ? AND template = ?",
        &[db::text(n.event_id), db::text(n.template)],
    )?;
    if !existing.rows.is_empty() {
        return Ok(false);
    }
    conn.execute(
        "INSERT INTO notifications (id, user_id, template, subject_id, subject, body, event_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        &[
            db::text(n.id),
            db::text(n.user_id),
            db::text(n.template),
            db::text(n.subject_id),
            db::text(n.subject),
            db::text(n.body),
            db::text(n.event_id),
            db::text(now_rfc3339()),
        ],
    )?;
    Ok(true)
}

pub fn set_delivery(
    conn: &Connection,
    notification_id: &str,
    channel: &str,
    status: &str,
    attempts: u32,
    last_error: Option<&str>,
    next_attempt_ms: Option<i64>,
) -> Result<(), DbError> {
    conn.execute(
        "INSERT INTO deliveries (notification_id, channel, status, attempts, last_error, next_attempt_ms, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (notification_id, channel) DO UPDATE SET status = excluded.status, attempts = excluded.attempts,
           last_error = excluded.last_error, next_attempt_ms = excluded.next_attempt_ms, updated_at = excluded.updated_at",
        &[
            db::text(notification_id),
            db::text(channel),
            db::text(status),
            db::int(attempts),
            db::opt_text(last_error),
            next_attempt_ms.map_or(spin_sdk::sqlite3::Value::Null, spin_sdk::sqlite3::Value::Integer),
            db::text(now_rfc3339()),
        ],
    )?;
    Ok(())
}

#[derive(Debug, Clone, Serialize)]
pub struct Delivery {
    pub channel: String,
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Notification {
    pub id: String,
    pub user_id: String,
    pub template: String,
    /// The order (or user) the notification is about.
    pub subject_id: String,
    pub subject: String,
    pub body: String,
    pub created_at: String,
    pub read_at: Option<String>,
    pub deliveries: Vec<Delivery>,
}

const COLUMNS: &str = "id, user_id, template, subject_id, subject, body, created_at, read_at";

fn notification_of(conn: &Connection, row: &Row<'_>) -> Result<Notification, DbError> {
    let id = row.text("id")?;
    let result = conn.execute(
        "SELECT channel, status, attempts, last_error FROM deliveries WHERE notification_id = ? ORDER BY channel",
        &[db::text(&id)],
    )?;
    let deliveries = db::rows(&result)
        .map(|r| {
            Ok(Delivery {
                channel: r.text("channel")?,
                status: r.text("status")?,
                attempts: r.int("attempts")?,
                last_error: r.opt_text("last_error")?,
            })
        })
        .collect::<Result<Vec<_>, DbError>>()?;
    Ok(Notification {
        id,
        user_id: row.text("user_id")?,
        template: row.text("template")?,
        subject_id: row.text("subject_id")?,
        subject: row.text("subject")?,
        body: row.text("body")?,
        created_at: row.text("created_at")?,
        read_at: row.opt_text("read_at")?,
        deliveries,
    })
}

pub fn by_id(conn: &Connection, id: &str) -> Result<Option<Notification>, DbError> {
    let result = conn.execute(
        &format!("SELECT {COLUMNS} FROM notifications WHERE id = ?"),
        &[db::text(id)],
    )?;
    db::rows(&result)
        .next()
        .map(|row| notification_of(conn, &row))
        .transpose()
}

pub fn list(
    conn: &Connection,
    user_id: Option<&str>,
    unread_only: bool,
    limit: u32,
    offset: i64,
) -> Result<(Vec<Notification>, i64), DbError> {
    let filter = "(? IS NULL OR user_id = ?) AND (? = 0 OR read_at IS NULL)";
    let params = [
        db::opt_text(user_id),
        db::opt_text(user_id),
        db::int(i64::from(unread_only)),
    ];
    let total = conn.execute(
        &format!("SELECT COUNT(*) AS n FROM notifications WHERE {filter}"),
        &params,
    )?;
    let total = db::rows(&total)
        .next()
        .map(|r| r.int("n"))
        .transpose()?
        .unwrap_or(0);
    let mut page = params.to_vec();
    page.push(db::int(limit));
    page.push(db::int(offset));
    let result = conn.execute(
        &format!("SELECT {COLUMNS} FROM notifications WHERE {filter} ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?"),
        &page,
    )?;
    let items = db::rows(&result)
        .map(|row| notification_of(conn, &row))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((items, total))
}

pub fn mark_read(conn: &Connection, id: &str) -> Result<(), DbError> {
    conn.execute(
        "UPDATE notifications SET read_at = COALESCE(read_at, ?) WHERE id = ?",
        &[db::text(now_rfc3339()), db::text(id)],
    )?;
    Ok(())
}

/// Webhook deliveries due at `now_ms`: (notification id, attempts so far).
pub fn due_webhooks(conn: &Connection, now_ms: i64) -> Result<Vec<(String, u32)>, DbError> {
    let result = conn.execute(
        "SELECT notification_id, attempts FROM deliveries WHERE channel = 'webhook' AND status IN ('pending', 'failed') AND next_attempt_ms <= ? ORDER BY next_attempt_ms LIMIT 100",
        &[db::int(now_ms)],
    )?;
    db::rows(&result)
        .map(|r| {
            Ok((
                r.text("notification_id")?,
                u32::try_from(r.int("attempts")?).unwrap_or(u32::MAX),
            ))
        })
        .collect()
}
