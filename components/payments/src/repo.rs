//! Payments' SQLite repository (database label `payments`). Writes run inside the caller's
//! transaction.

use spin_sdk::sqlite3::Connection;
use wasmshop_kit::Money;
use wasmshop_kit::db::{self, DbError, Migration, Row};
use wasmshop_kit::ids::now_rfc3339;

use crate::bindings::wasmshop::payments::types::{Operation, Payment, PaymentStatus};

const LABEL: &str = "payments";

const SCHEMA: &str = "CREATE TABLE payments (
  id TEXT PRIMARY KEY,
  order_id TEXT NOT NULL UNIQUE,
  user_id TEXT NOT NULL,
  amount INTEGER NOT NULL,
  currency TEXT NOT NULL,
  token_kind TEXT NOT NULL,
  status TEXT NOT NULL,
  failure_code TEXT,
  captured_amount INTEGER NOT NULL DEFAULT 0,
  refunded_amount INTEGER NOT NULL DEFAULT 0,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE INDEX payments_user ON payments (user_id, created_at);
CREATE TABLE operations (
  payment_id TEXT NOT NULL REFERENCES payments (id),
  operation TEXT NOT NULL,
  outcome TEXT NOT NULL,
  at TEXT NOT NULL
);
CREATE INDEX operations_payment ON operations (payment_id);
CREATE TABLE authorize_attempts (
  order_id TEXT PRIMARY KEY,
  attempts INTEGER NOT NULL
)";

pub fn open() -> Result<Connection, DbError> {
    db::open(
        LABEL,
        &[
            Migration {
                version: 1,
                sql: SCHEMA,
            },
            wasmshop_kit::outbox::migration(2),
            wasmshop_kit::messaging::migration(3),
            wasmshop_kit::outbox::redelivery_migration(4),
            wasmshop_kit::outbox::redelivery_backfill_migration(5),
        ],
    )
}

const COLUMNS: &str = "id, order_id, user_id, amount, currency, token_kind, status, failure_code, captured_amount, refunded_amount, created_at, updated_at";

fn payment_of(conn: &Connection, row: &Row<'_>) -> Result<Payment, DbError> {
    let id = row.text("id")?;
    let status = row.text("status")?;
    let history = conn.execute(
        "SELECT operation, outcome, at FROM operations WHERE payment_id = ? ORDER BY rowid",
        &[db::text(&id)],
    )?;
    let history = db::rows(&history)
        .map(|r| {
            Ok(Operation {
                operation: r.text("operation")?,
                outcome: r.text("outcome")?,
                at: r.text("at")?,
            })
        })
        .collect::<Result<Vec<_>, DbError>>()?;
    Ok(Payment {
        id,
        order_id: row.text("order_id")?,
        user_id: row.text("user_id")?,
        amount: Money {
            amount: row.int("amount")?,
            currency: row.text("currency")?,
        },
        status: PaymentStatus::parse(&status)
            .ok_or_else(|| DbError::Data(format!("unknown payment status `{status}`")))?,
        failure_code: row.opt_text("failure_code")?,
        captured_amount: row.int("captured_amount")?,
        refunded_amount: row.int("refunded_amount")?,
        token_kind: row.text("token_kind")?,
        created_at: row.text("created_at")?,
        updated_at: row.text("updated_at")?,
        history,
    })
}

fn one(conn: &Connection, clause: &str, value: &str) -> Result<Option<Payment>, DbError> {
    let result = conn.execute(
        &format!("SELECT {COLUMNS} FROM payments WHERE {clause} = ?"),
        &[db::text(value)],
    )?;
    db::rows(&result)
        .next()
        .map(|row| payment_of(conn, &row))
        .transpose()
}

pub fn by_id(conn: &Connection, id: &str) -> Result<Option<Payment>, DbError> {
    one(conn, "id", id)
}

pub fn by_order(conn: &Connection, order_id: &str) -> Result<Option<Payment>, DbError> {
    one(conn, "order_id", order_id)
}

/// Payments newest first: of `user_id` (or everyone's when `None`), of one order if given.
pub fn list(
    conn: &Connection,
    user_id: Option<&str>,
    order_id: Option<&str>,
    limit: u32,
    offset: i64,
) -> Result<(Vec<Payment>, u64), DbError> {
    let listing = db::Listing {
        columns: COLUMNS,
        table: "payments",
        filter: "(?1 IS NULL OR user_id = ?1) AND (?2 IS NULL OR order_id = ?2)",
        params: &[db::opt_text(user_id), db::opt_text(order_id)],
    };
    let (items, total) =
        db::newest_first(conn, &listing, limit, offset, |row| payment_of(conn, row))?;
    Ok((items, total))
}

pub struct NewPayment<'a> {
    pub id: &'a str,
    pub order_id: &'a str,
    pub user_id: &'a str,
    pub amount: &'a Money,
    pub token_kind: &'a str,
    pub status: PaymentStatus,
    pub failure_code: Option<&'a str>,
}

pub fn insert(conn: &Connection, payment: &NewPayment<'_>) -> Result<(), DbError> {
    let now = now_rfc3339();
    conn.execute(
        "INSERT INTO payments (id, order_id, user_id, amount, currency, token_kind, status, failure_code, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        &[
            db::text(payment.id),
            db::text(payment.order_id),
            db::text(payment.user_id),
            db::int(payment.amount.amount),
            db::text(&payment.amount.currency),
            db::text(payment.token_kind),
            db::text(payment.status.as_str()),
            db::opt_text(payment.failure_code),
            db::text(&now),
            db::text(&now),
        ],
    )?;
    Ok(())
}

/// Moves a payment to `status`; capturing sets the captured amount, refunding the refunded one.
pub fn set_status(conn: &Connection, id: &str, status: PaymentStatus) -> Result<(), DbError> {
    conn.execute(
        "UPDATE payments SET status = ?, updated_at = ?,
           captured_amount = CASE WHEN ? = 'captured' THEN amount ELSE captured_amount END,
           refunded_amount = CASE WHEN ? = 'refunded' THEN captured_amount ELSE refunded_amount END
         WHERE id = ?",
        &[
            db::text(status.as_str()),
            db::text(now_rfc3339()),
            db::text(status.as_str()),
            db::text(status.as_str()),
            db::text(id),
        ],
    )?;
    Ok(())
}

pub fn record(
    conn: &Connection,
    payment_id: &str,
    operation: &str,
    outcome: &str,
) -> Result<(), DbError> {
    conn.execute(
        "INSERT INTO operations (payment_id, operation, outcome, at) VALUES (?, ?, ?, ?)",
        &[
            db::text(payment_id),
            db::text(operation),
            db::text(outcome),
            db::text(now_rfc3339()),
        ],
    )?;
    Ok(())
}

/// Counts one more authorize attempt for `order_id`; returns the count including it.
pub fn next_attempt(conn: &Connection, order_id: &str) -> Result<u32, DbError> {
    conn.execute(
        "INSERT INTO authorize_attempts (order_id, attempts) VALUES (?, 1)
         ON CONFLICT (order_id) DO UPDATE SET attempts = attempts + 1",
        &[db::text(order_id)],
    )?;
    let result = conn.execute(
        "SELECT attempts FROM authorize_attempts WHERE order_id = ?",
        &[db::text(order_id)],
    )?;
    let attempts = db::rows(&result)
        .next()
        .map(|r| r.int("attempts"))
        .transpose()?
        .unwrap_or(1);
    Ok(u32::try_from(attempts).unwrap_or(u32::MAX))
}
