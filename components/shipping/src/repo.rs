//! Shipping's SQLite repository (database label `shipping`). Writes run inside the caller's
//! transaction.

use spin_sdk::sqlite3::Connection;
use wasmshop_kit::db::{self, DbError, Migration, Row};
use wasmshop_kit::ids::now_rfc3339;
use wasmshop_kit::payloads::Address;

use crate::bindings::wasmshop::shipping::types::{HistoryEntry, Shipment, ShipmentStatus};

const SCHEMA: &str = "CREATE TABLE shipments (
  id TEXT PRIMARY KEY,
  order_id TEXT NOT NULL UNIQUE,
  user_id TEXT NOT NULL,
  tracking_number TEXT NOT NULL UNIQUE,
  status TEXT NOT NULL,
  address TEXT NOT NULL,
  weight_grams INTEGER NOT NULL,
  items INTEGER NOT NULL,
  carrier TEXT NOT NULL,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE INDEX shipments_user ON shipments (user_id, created_at);
CREATE TABLE shipment_history (
  shipment_id TEXT NOT NULL REFERENCES shipments (id),
  status TEXT NOT NULL,
  at TEXT NOT NULL
)";

pub fn open() -> Result<Connection, DbError> {
    db::open(
        "shipping",
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

const COLUMNS: &str = "id, order_id, user_id, tracking_number, status, address, weight_grams, items, carrier, created_at, updated_at";

fn shipment_of(conn: &Connection, row: &Row<'_>) -> Result<Shipment, DbError> {
    let id = row.text("id")?;
    let status = row.text("status")?;
    let history = conn.execute(
        "SELECT status, at FROM shipment_history WHERE shipment_id = ? ORDER BY rowid",
        &[db::text(&id)],
    )?;
    let history = db::rows(&history)
        .map(|r| {
            Ok(HistoryEntry {
                status: r.text("status")?,
                at: r.text("at")?,
            })
        })
        .collect::<Result<Vec<_>, DbError>>()?;
    let address: Option<Address> = serde_json::from_str(&row.text("address")?)
        .map_err(|e| DbError::Data(format!("address: {e}")))?;
    Ok(Shipment {
        id,
        order_id: row.text("order_id")?,
        user_id: row.text("user_id")?,
        tracking_number: row.text("tracking_number")?,
        status: ShipmentStatus::parse(&status)
            .ok_or_else(|| DbError::Data(format!("unknown shipment status `{status}`")))?,
        address,
        weight_grams: row.int("weight_grams")?,
        items: row.int("items")?,
        carrier: row.text("carrier")?,
        created_at: row.text("created_at")?,
        updated_at: row.text("updated_at")?,
        history,
    })
}

fn one(conn: &Connection, column: &str, value: &str) -> Result<Option<Shipment>, DbError> {
    let result = conn.execute(
        &format!("SELECT {COLUMNS} FROM shipments WHERE {column} = ?"),
        &[db::text(value)],
    )?;
    db::rows(&result)
        .next()
        .map(|row| shipment_of(conn, &row))
        .transpose()
}

pub fn by_id(conn: &Connection, id: &str) -> Result<Option<Shipment>, DbError> {
    one(conn, "id", id)
}

pub fn by_order(conn: &Connection, order_id: &str) -> Result<Option<Shipment>, DbError> {
    one(conn, "order_id", order_id)
}

pub fn list(
    conn: &Connection,
    user_id: Option<&str>,
    order_id: Option<&str>,
    limit: u32,
    offset: i64,
) -> Result<(Vec<Shipment>, u64), DbError> {
    let listing = db::Listing {
        columns: COLUMNS,
        table: "shipments",
        filter: "(?1 IS NULL OR user_id = ?1) AND (?2 IS NULL OR order_id = ?2)",
        params: &[db::opt_text(user_id), db::opt_text(order_id)],
    };
    let (items, total) =
        db::newest_first(conn, &listing, limit, offset, |row| shipment_of(conn, row))?;
    Ok((items, total))
}

pub struct NewShipment<'a> {
    pub id: &'a str,
    pub order_id: &'a str,
    pub user_id: &'a str,
    pub tracking_number: &'a str,
    pub status: ShipmentStatus,
    pub address: Option<&'a Address>,
    pub weight_grams: u32,
    pub items: u32,
}

pub fn insert(conn: &Connection, shipment: &NewShipment<'_>) -> Result<(), DbError> {
    let now = now_rfc3339();
    let address =
        serde_json::to_string(&shipment.address).map_err(|e| DbError::Data(e.to_string()))?;
    conn.execute(
        "INSERT INTO shipments (id, order_id, user_id, tracking_number, status, address, weight_grams, items, carrier, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'wasmshop-post', ?, ?)",
        &[
            db::text(shipment.id),
            db::text(shipment.order_id),
            db::text(shipment.user_id),
            db::text(shipment.tracking_number),
            db::text(shipment.status.as_str()),
            db::text(address),
            db::int(shipment.weight_grams),
            db::int(shipment.items),
            db::text(&now),
            db::text(&now),
        ],
    )?;
    add_history(conn, shipment.id, shipment.status)
}

pub fn set_status(conn: &Connection, id: &str, status: ShipmentStatus) -> Result<(), DbError> {
    conn.execute(
        "UPDATE shipments SET status = ?, updated_at = ? WHERE id = ?",
        &[
            db::text(status.as_str()),
            db::text(now_rfc3339()),
            db::text(id),
        ],
    )?;
    add_history(conn, id, status)
}

fn add_history(conn: &Connection, id: &str, status: ShipmentStatus) -> Result<(), DbError> {
    conn.execute(
        "INSERT INTO shipment_history (shipment_id, status, at) VALUES (?, ?, ?)",
        &[
            db::text(id),
            db::text(status.as_str()),
            db::text(now_rfc3339()),
        ],
    )?;
    Ok(())
}
