//! Notifications' SQLite repository (database label `notifications`): its own copy of the
//! contacts it needs, the notifications (one per event and template at most) and one delivery
//! row per channel.

use std::collections::HashMap;

use spin_sdk::sqlite3::{Connection, Value};
use wasmshop_kit::db::{self, DbError, Migration, Row};
use wasmshop_kit::ids::now_rfc3339;

use crate::bindings::wasmshop::notifications::types::{
    Channel, Delivery, DeliveryStatus, Notification,
};
use crate::domain::Draft;

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
            Migration {
                version: 4,
                sql: "ALTER TABLE notifications ADD COLUMN trace_id TEXT",
            },
            wasmshop_kit::outbox::redelivery_migration(5),
            wasmshop_kit::outbox::redelivery_backfill_migration(6),
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

/// A profile update for a user never registered here (their `user.registered` predates this
/// context) changes nothing: without an email there is no contact to keep.
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

/// Inserts the notification unless `event_id` already made one of its template; whether it was
/// new. Runs in the message's write transaction, so the check and the insert cannot interleave
/// with another delivery of the same event; the UNIQUE constraint is the backstop.
/// `trace_id`: of the request that caused the event, kept to follow it to its notification.
pub fn insert(
    conn: &Connection,
    id: &str,
    event_id: &str,
    trace_id: Option<&str>,
    draft: &Draft,
) -> Result<bool, DbError> {
    let template = draft.template.as_str();
    let existing = conn.execute(
        "SELECT 1 FROM notifications WHERE event_id = ? AND template = ?",
        &[db::text(event_id), db::text(template)],
    )?;
    if !existing.rows.is_empty() {
        return Ok(false);
    }
    conn.execute(
        "INSERT INTO notifications (id, user_id, template, subject_id, subject, body, event_id, created_at, trace_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        &[
            db::text(id),
            db::text(&draft.user_id),
            db::text(template),
            db::text(&draft.subject_id),
            db::text(&draft.subject),
            db::text(&draft.body),
            db::text(event_id),
            db::text(now_rfc3339()),
            db::opt_text(trace_id),
        ],
    )?;
    Ok(true)
}

/// One delivery's state after an attempt (or its creation).
pub struct DeliveryState<'a> {
    pub status: DeliveryStatus,
    pub attempts: u32,
    pub last_error: Option<&'a str>,
    /// When it is due (webhook), `None` once settled.
    pub next_attempt_ms: Option<i64>,
}

pub fn set_delivery(
    conn: &Connection,
    notification_id: &str,
    channel: Channel,
    state: &DeliveryState<'_>,
) -> Result<(), DbError> {
    conn.execute(
        "INSERT INTO deliveries (notification_id, channel, status, attempts, last_error, next_attempt_ms, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (notification_id, channel) DO UPDATE SET status = excluded.status, attempts = excluded.attempts,
           last_error = excluded.last_error, next_attempt_ms = excluded.next_attempt_ms, updated_at = excluded.updated_at",
        &[
            db::text(notification_id),
            db::text(channel.as_str()),
            db::text(state.status.as_str()),
            db::int(state.attempts),
            db::opt_text(state.last_error),
            state.next_attempt_ms.map_or(Value::Null, Value::Integer),
            db::text(now_rfc3339()),
        ],
    )?;
    Ok(())
}

const COLUMNS: &str =
    "id, user_id, template, subject_id, subject, body, created_at, read_at, trace_id";

fn unknown(what: &str, text: &str) -> DbError {
    DbError::Data(format!("unknown {what} `{text}`"))
}

fn delivery_of(row: &Row<'_>) -> Result<Delivery, DbError> {
    let channel = row.text("channel")?;
    let status = row.text("status")?;
    Ok(Delivery {
        channel: Channel::parse(&channel).ok_or_else(|| unknown("channel", &channel))?,
        status: DeliveryStatus::parse(&status).ok_or_else(|| unknown("status", &status))?,
        attempts: u32::try_from(row.int("attempts")?).unwrap_or(u32::MAX),
        last_error: row.opt_text("last_error")?,
    })
}

fn notification_of(row: &Row<'_>) -> Result<Notification, DbError> {
    Ok(Notification {
        id: row.text("id")?,
        user_id: row.text("user_id")?,
        template: row.text("template")?,
        subject_id: row.text("subject_id")?,
        subject: row.text("subject")?,
        body: row.text("body")?,
        created_at: row.text("created_at")?,
        read_at: row.opt_text("read_at")?,
        trace_id: row.opt_text("trace_id")?,
        deliveries: Vec::new(),
    })
}

/// Fills in the deliveries of `notifications` with one query.
fn with_deliveries(
    conn: &Connection,
    mut notifications: Vec<Notification>,
) -> Result<Vec<Notification>, DbError> {
    if notifications.is_empty() {
        return Ok(notifications);
    }
    let marks = vec!["?"; notifications.len()].join(", ");
    let ids: Vec<Value> = notifications.iter().map(|n| db::text(&n.id)).collect();
    // The channel order is the delivery order of the template's table, webhook last.
    let result = conn.execute(
        &format!(
            "SELECT notification_id, channel, status, attempts, last_error FROM deliveries WHERE notification_id IN ({marks})
             ORDER BY notification_id, CASE channel WHEN 'webhook' THEN 1 ELSE 0 END, rowid"
        ),
        &ids,
    )?;
    let mut by_notification: HashMap<String, Vec<Delivery>> = HashMap::new();
    for row in db::rows(&result) {
        by_notification
            .entry(row.text("notification_id")?)
            .or_default()
            .push(delivery_of(&row)?);
    }
    for notification in &mut notifications {
        notification.deliveries = by_notification.remove(&notification.id).unwrap_or_default();
    }
    Ok(notifications)
}

pub fn by_id(conn: &Connection, id: &str) -> Result<Option<Notification>, DbError> {
    let result = conn.execute(
        &format!("SELECT {COLUMNS} FROM notifications WHERE id = ?"),
        &[db::text(id)],
    )?;
    let found = db::rows(&result)
        .map(|row| notification_of(&row))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(with_deliveries(conn, found)?.pop())
}

/// A page of notifications (of `user_id`, or everyone's), newest first, and the total.
pub fn list(
    conn: &Connection,
    user_id: Option<&str>,
    unread_only: bool,
    limit: u32,
    offset: i64,
) -> Result<(Vec<Notification>, u64), DbError> {
    let listing = db::Listing {
        columns: COLUMNS,
        table: "notifications",
        filter: "(?1 IS NULL OR user_id = ?1) AND (?2 = 0 OR read_at IS NULL)",
        params: &[db::opt_text(user_id), db::int(i64::from(unread_only))],
    };
    let (items, total) = db::newest_first(conn, &listing, limit, offset, notification_of)?;
    Ok((with_deliveries(conn, items)?, total))
}

pub fn mark_read(conn: &Connection, id: &str) -> Result<(), DbError> {
    conn.execute(
        "UPDATE notifications SET read_at = COALESCE(read_at, ?) WHERE id = ?",
        &[db::text(now_rfc3339()), db::text(id)],
    )?;
    Ok(())
}

/// A webhook delivery claimed for one attempt.
pub struct Claimed {
    pub notification_id: String,
    /// This attempt's number, from 1: counted when claimed, so an attempt whose instance died
    /// (a webhook that hangs past the request deadline) still counts towards giving up.
    pub attempt: u32,
}

/// Claims the next webhook delivery due at `now_ms` (of `event_id`'s notifications only, when
/// given) by counting the attempt and moving its due time to `lease_until_ms`. One statement,
/// so two instances running at once (a message and the recovery tick) never claim the same
/// one; if this instance dies mid-attempt, the delivery is due again when the lease ends.
pub fn claim_webhook(
    conn: &Connection,
    now_ms: i64,
    lease_until_ms: i64,
    event_id: Option<&str>,
    max_attempts: u32,
) -> Result<Option<Claimed>, DbError> {
    // Out of attempts yet still due: its last attempt never came back.
    conn.execute(
        "UPDATE deliveries SET status = 'abandoned', next_attempt_ms = NULL,
           last_error = COALESCE(last_error, 'attempt interrupted'), updated_at = ?3
         WHERE channel = 'webhook' AND status IN ('pending', 'failed') AND next_attempt_ms <= ?1
           AND attempts >= ?2",
        &[
            db::int(now_ms),
            db::int(max_attempts),
            db::text(now_rfc3339()),
        ],
    )?;
    let result = conn.execute(
        "UPDATE deliveries SET next_attempt_ms = ?2, attempts = attempts + 1, updated_at = ?4
         WHERE channel = 'webhook' AND notification_id = (
             SELECT d.notification_id FROM deliveries d JOIN notifications n ON n.id = d.notification_id
             WHERE d.channel = 'webhook' AND d.status IN ('pending', 'failed') AND d.next_attempt_ms <= ?1
               AND (?3 IS NULL OR n.event_id = ?3)
             ORDER BY d.next_attempt_ms LIMIT 1)
         RETURNING notification_id, attempts",
        &[
            db::int(now_ms),
            db::int(lease_until_ms),
            db::opt_text(event_id),
            db::text(now_rfc3339()),
        ],
    )?;
    db::rows(&result)
        .next()
        .map(|r| {
            Ok(Claimed {
                notification_id: r.text("notification_id")?,
                attempt: u32::try_from(r.int("attempts")?).unwrap_or(u32::MAX),
            })
        })
        .transpose()
}
