//! Orders' SQLite repository (database label `orders`): carts, orders and their lines and
//! timeline, the sagas, idempotency keys. Writes run inside the caller's transaction.

use spin_sdk::sqlite3::Connection;
use wasmshop_kit::Money;
use wasmshop_kit::db::{self, DbError, Migration, Row};
use wasmshop_kit::ids::now_rfc3339;
use wasmshop_kit::payloads::Address;

use crate::bindings::wasmshop::orders::types::{Order, OrderLine, OrderStatus, TimelineEntry};
use crate::domain::saga::{Saga, Stage, Undo};
use crate::domain::{PricedLine, Totals};

const SCHEMA: &str = "CREATE TABLE cart_lines (
  user_id TEXT NOT NULL,
  product_id TEXT NOT NULL,
  quantity INTEGER NOT NULL,
  added_at TEXT NOT NULL,
  PRIMARY KEY (user_id, product_id)
);
CREATE TABLE orders (
  id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL,
  status TEXT NOT NULL,
  currency TEXT NOT NULL,
  subtotal INTEGER NOT NULL,
  shipping INTEGER NOT NULL,
  total INTEGER NOT NULL,
  weight_grams INTEGER NOT NULL,
  items INTEGER NOT NULL,
  address TEXT NOT NULL,
  payment_token TEXT NOT NULL,
  cancel_reason TEXT,
  traceparent TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE INDEX orders_user ON orders (user_id, created_at);
CREATE TABLE order_lines (
  order_id TEXT NOT NULL REFERENCES orders (id),
  position INTEGER NOT NULL,
  product_id TEXT NOT NULL,
  name TEXT NOT NULL,
  unit_price INTEGER NOT NULL,
  quantity INTEGER NOT NULL,
  line_total INTEGER NOT NULL,
  PRIMARY KEY (order_id, position)
);
CREATE TABLE timeline (
  order_id TEXT NOT NULL REFERENCES orders (id),
  status TEXT NOT NULL,
  note TEXT NOT NULL,
  at TEXT NOT NULL
);
CREATE INDEX timeline_order ON timeline (order_id);
CREATE TABLE sagas (
  order_id TEXT PRIMARY KEY REFERENCES orders (id),
  stage TEXT NOT NULL,
  attempts INTEGER NOT NULL,
  due_ms INTEGER NOT NULL,
  undo_queue TEXT NOT NULL,
  ending_status TEXT,
  ending_reason TEXT,
  updated_at TEXT NOT NULL
);
CREATE INDEX sagas_due ON sagas (stage, due_ms);
CREATE TABLE idempotency_keys (
  user_id TEXT NOT NULL,
  key TEXT NOT NULL,
  request TEXT NOT NULL,
  order_id TEXT NOT NULL,
  created_at TEXT NOT NULL,
  PRIMARY KEY (user_id, key)
)";

pub fn open() -> Result<Connection, DbError> {
    db::open(
        "orders",
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

// ---------------------------------------------------------------------------------------------
// Carts
// ---------------------------------------------------------------------------------------------

pub fn cart(conn: &Connection, user_id: &str) -> Result<Vec<(String, u32)>, DbError> {
    let result = conn.execute(
        "SELECT product_id, quantity FROM cart_lines WHERE user_id = ? ORDER BY added_at, product_id",
        &[db::text(user_id)],
    )?;
    db::rows(&result)
        .map(|r| {
            Ok((
                r.text("product_id")?,
                u32::try_from(r.int("quantity")?).unwrap_or(0),
            ))
        })
        .collect()
}

pub fn set_cart_line(
    conn: &Connection,
    user_id: &str,
    product_id: &str,
    quantity: u32,
) -> Result<(), DbError> {
    conn.execute(
        "INSERT INTO cart_lines (user_id, product_id, quantity, added_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (user_id, product_id) DO UPDATE SET quantity = excluded.quantity",
        &[
            db::text(user_id),
            db::text(product_id),
            db::int(quantity),
            db::text(now_rfc3339()),
        ],
    )?;
    Ok(())
}

/// Whether the line existed.
pub fn remove_cart_line(
    conn: &Connection,
    user_id: &str,
    product_id: &str,
) -> Result<bool, DbError> {
    let existed = conn.execute(
        "SELECT 1 FROM cart_lines WHERE user_id = ? AND product_id = ?",
        &[db::text(user_id), db::text(product_id)],
    )?;
    conn.execute(
        "DELETE FROM cart_lines WHERE user_id = ? AND product_id = ?",
        &[db::text(user_id), db::text(product_id)],
    )?;
    Ok(!existed.rows.is_empty())
}

pub fn clear_cart(conn: &Connection, user_id: &str) -> Result<(), DbError> {
    conn.execute(
        "DELETE FROM cart_lines WHERE user_id = ?",
        &[db::text(user_id)],
    )?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Orders
// ---------------------------------------------------------------------------------------------

/// An order's row: the order as its owner sees it, and what only the saga reads of it (never
/// shown).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredOrder {
    pub order: Order,
    pub payment_token: String,
    pub weight_grams: u32,
    pub items: u32,
    pub traceparent: Option<String>,
}

fn order_status(text: &str) -> Result<OrderStatus, DbError> {
    OrderStatus::parse(text).ok_or_else(|| DbError::Data(format!("unknown order status `{text}`")))
}

const COLUMNS: &str = "id, user_id, status, currency, subtotal, shipping, total, weight_grams, items, address, payment_token, cancel_reason, traceparent, created_at, updated_at";

fn money(amount: i64, currency: &str) -> Money {
    Money {
        amount,
        currency: currency.to_owned(),
    }
}

fn order_of(conn: &Connection, row: &Row<'_>, with_details: bool) -> Result<StoredOrder, DbError> {
    let id = row.text("id")?;
    let currency = row.text("currency")?;
    let (mut lines, mut timeline) = (Vec::new(), Vec::new());
    if with_details {
        lines = order_lines(conn, &id, &currency)?;
        let result = conn.execute(
            "SELECT status, note, at FROM timeline WHERE order_id = ? ORDER BY rowid",
            &[db::text(&id)],
        )?;
        for r in db::rows(&result) {
            timeline.push(TimelineEntry {
                status: r.text("status")?,
                note: r.text("note")?,
                at: r.text("at")?,
            });
        }
    }
    Ok(StoredOrder {
        order: Order {
            id,
            user_id: row.text("user_id")?,
            status: order_status(&row.text("status")?)?,
            lines,
            subtotal: money(row.int("subtotal")?, &currency),
            shipping: money(row.int("shipping")?, &currency),
            total: money(row.int("total")?, &currency),
            shipping_address: serde_json::from_str(&row.text("address")?)
                .map_err(|e| DbError::Data(format!("address: {e}")))?,
            cancel_reason: row.opt_text("cancel_reason")?,
            created_at: row.text("created_at")?,
            updated_at: row.text("updated_at")?,
            timeline,
        },
        payment_token: row.text("payment_token")?,
        weight_grams: u32::try_from(row.int("weight_grams")?).unwrap_or(0),
        items: u32::try_from(row.int("items")?).unwrap_or(0),
        traceparent: row.opt_text("traceparent")?,
    })
}

pub fn order(conn: &Connection, id: &str) -> Result<Option<StoredOrder>, DbError> {
    find(conn, id, true)
}

fn find(conn: &Connection, id: &str, with_details: bool) -> Result<Option<StoredOrder>, DbError> {
    let result = conn.execute(
        &format!("SELECT {COLUMNS} FROM orders WHERE id = ?"),
        &[db::text(id)],
    )?;
    db::rows(&result)
        .next()
        .map(|row| order_of(conn, &row, with_details))
        .transpose()
}

/// The lines of order `id`, in the order they were placed.
pub fn order_lines(conn: &Connection, id: &str, currency: &str) -> Result<Vec<OrderLine>, DbError> {
    let result = conn.execute(
        "SELECT product_id, name, unit_price, quantity, line_total FROM order_lines WHERE order_id = ? ORDER BY position",
        &[db::text(id)],
    )?;
    db::rows(&result)
        .map(|r| {
            Ok(OrderLine {
                product_id: r.text("product_id")?,
                name: r.text("name")?,
                unit_price: money(r.int("unit_price")?, currency),
                quantity: u32::try_from(r.int("quantity")?).unwrap_or(0),
                line_total: money(r.int("line_total")?, currency),
            })
        })
        .collect()
}

/// The order's own row, without its lines and timeline: what a saga step needs.
pub fn order_row(conn: &Connection, id: &str) -> Result<Option<StoredOrder>, DbError> {
    find(conn, id, false)
}

/// Orders newest first (of `user_id`, or everyone's when `None`) without lines and timeline.
pub fn orders(
    conn: &Connection,
    user_id: Option<&str>,
    limit: u32,
    offset: i64,
) -> Result<(Vec<Order>, u64), DbError> {
    let listing = db::Listing {
        columns: COLUMNS,
        table: "orders",
        filter: "?1 IS NULL OR user_id = ?1",
        params: &[db::opt_text(user_id)],
    };
    let (items, total) = db::newest_first(conn, &listing, limit, offset, |row| {
        order_of(conn, row, false).map(|stored| stored.order)
    })?;
    Ok((items, total))
}

pub struct NewOrder<'a> {
    pub id: &'a str,
    pub user_id: &'a str,
    pub currency: &'a str,
    pub totals: &'a Totals,
    pub lines: &'a [PricedLine],
    pub address: &'a Address,
    pub payment_token: &'a str,
    pub traceparent: Option<&'a str>,
}

pub fn insert_order(conn: &Connection, order: &NewOrder<'_>) -> Result<(), DbError> {
    let now = now_rfc3339();
    let address = serde_json::to_string(order.address).map_err(|e| DbError::Data(e.to_string()))?;
    conn.execute(
        &format!(
            "INSERT INTO orders ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?)"
        ),
        &[
            db::text(order.id),
            db::text(order.user_id),
            db::text(OrderStatus::Pending.as_str()),
            db::text(order.currency),
            db::int(order.totals.subtotal),
            db::int(order.totals.shipping),
            db::int(order.totals.total),
            db::int(order.totals.weight_grams),
            db::int(order.totals.items),
            db::text(address),
            db::text(order.payment_token),
            db::opt_text(order.traceparent),
            db::text(&now),
            db::text(&now),
        ],
    )?;
    for (position, line) in order.lines.iter().enumerate() {
        conn.execute(
            "INSERT INTO order_lines (order_id, position, product_id, name, unit_price, quantity, line_total) VALUES (?, ?, ?, ?, ?, ?, ?)",
            &[
                db::text(order.id),
                db::int(i64::try_from(position).unwrap_or(i64::MAX)),
                db::text(&line.product_id),
                db::text(&line.name),
                db::int(line.unit_price),
                db::int(line.quantity),
                db::int(line.line_total),
            ],
        )?;
    }
    add_timeline(conn, order.id, OrderStatus::Pending, "order placed")
}

pub fn set_status(
    conn: &Connection,
    id: &str,
    status: OrderStatus,
    note: &str,
    reason: Option<&str>,
) -> Result<(), DbError> {
    conn.execute(
        "UPDATE orders SET status = ?, cancel_reason = COALESCE(?, cancel_reason), updated_at = ? WHERE id = ?",
        &[db::text(status.as_str()), db::opt_text(reason), db::text(now_rfc3339()), db::text(id)],
    )?;
    add_timeline(conn, id, status, note)
}

pub fn add_timeline(
    conn: &Connection,
    id: &str,
    status: OrderStatus,
    note: &str,
) -> Result<(), DbError> {
    add_note(conn, id, status.as_str(), note)
}

/// A timeline entry that is not a status of the order itself (e.g. the shipment's progress).
pub fn add_note(conn: &Connection, id: &str, status: &str, note: &str) -> Result<(), DbError> {
    conn.execute(
        "INSERT INTO timeline (order_id, status, note, at) VALUES (?, ?, ?, ?)",
        &[
            db::text(id),
            db::text(status),
            db::text(note),
            db::text(now_rfc3339()),
        ],
    )?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Idempotency keys
// ---------------------------------------------------------------------------------------------

/// The canonical request and order recorded under `(user_id, key)`.
pub fn idempotency(
    conn: &Connection,
    user_id: &str,
    key: &str,
) -> Result<Option<(String, String)>, DbError> {
    let result = conn.execute(
        "SELECT request, order_id FROM idempotency_keys WHERE user_id = ? AND key = ?",
        &[db::text(user_id), db::text(key)],
    )?;
    db::rows(&result)
        .next()
        .map(|r| Ok((r.text("request")?, r.text("order_id")?)))
        .transpose()
}

pub fn remember(
    conn: &Connection,
    user_id: &str,
    key: &str,
    request: &str,
    order_id: &str,
) -> Result<(), DbError> {
    conn.execute(
        "INSERT INTO idempotency_keys (user_id, key, request, order_id, created_at) VALUES (?, ?, ?, ?, ?)",
        &[db::text(user_id), db::text(key), db::text(request), db::text(order_id), db::text(now_rfc3339())],
    )?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Sagas
// ---------------------------------------------------------------------------------------------

fn undo_names(undos: &[Undo]) -> String {
    undos.iter().map(|u| u.name()).collect::<Vec<_>>().join(",")
}

fn parse_undos(text: &str) -> Result<Vec<Undo>, DbError> {
    text.split(',')
        .filter(|s| !s.is_empty())
        .map(|name| match Stage::parse(name) {
            Some(Stage::Undoing(undo)) => Ok(undo),
            _ => Err(DbError::Data(format!("unknown compensation `{name}`"))),
        })
        .collect()
}

pub fn save_saga(conn: &Connection, order_id: &str, saga: &Saga) -> Result<(), DbError> {
    let (ending_status, ending_reason) = match &saga.ending {
        Some((status, reason)) => (Some(status.as_str()), Some(reason.as_str())),
        None => (None, None),
    };
    conn.execute(
        "INSERT INTO sagas (order_id, stage, attempts, due_ms, undo_queue, ending_status, ending_reason, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (order_id) DO UPDATE SET stage = excluded.stage, attempts = excluded.attempts, due_ms = excluded.due_ms,
           undo_queue = excluded.undo_queue, ending_status = excluded.ending_status, ending_reason = excluded.ending_reason,
           updated_at = excluded.updated_at",
        &[
            db::text(order_id),
            db::text(saga.stage.name()),
            db::int(saga.attempts),
            db::int(saga.due_ms),
            db::text(undo_names(&saga.undo_queue)),
            db::opt_text(ending_status),
            db::opt_text(ending_reason),
            db::text(now_rfc3339()),
        ],
    )?;
    Ok(())
}

pub fn saga(conn: &Connection, order_id: &str) -> Result<Option<Saga>, DbError> {
    let result = conn.execute(
        "SELECT stage, attempts, due_ms, undo_queue, ending_status, ending_reason FROM sagas WHERE order_id = ?",
        &[db::text(order_id)],
    )?;
    let Some(row) = db::rows(&result).next() else {
        return Ok(None);
    };
    let stage_name = row.text("stage")?;
    let stage = Stage::parse(&stage_name)
        .ok_or_else(|| DbError::Data(format!("unknown saga stage `{stage_name}`")))?;
    let ending = match (
        row.opt_text("ending_status")?,
        row.opt_text("ending_reason")?,
    ) {
        (Some(status), Some(reason)) => Some((order_status(&status)?, reason)),
        _ => None,
    };
    Ok(Some(Saga {
        stage,
        attempts: u32::try_from(row.int("attempts")?).unwrap_or(u32::MAX),
        due_ms: row.int("due_ms")?,
        undo_queue: parse_undos(&row.text("undo_queue")?)?,
        ending,
    }))
}

/// Sagas not done whose step is due at `now_ms`.
pub fn due_sagas(conn: &Connection, now_ms: i64, limit: u32) -> Result<Vec<String>, DbError> {
    let result = conn.execute(
        "SELECT order_id FROM sagas WHERE stage != 'done' AND due_ms <= ? ORDER BY due_ms LIMIT ?",
        &[db::int(now_ms), db::int(limit)],
    )?;
    db::rows(&result).map(|r| r.text("order_id")).collect()
}
