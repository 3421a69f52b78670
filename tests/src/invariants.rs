//! The invariant checker of a wasmshop state dir: read straight from each context's SQLite
//! database (read-only), as an auditor would, after a workflow, concurrency or fault run.
//!
//! - every order is terminal (confirmed, cancelled or failed);
//! - stock: nothing is still reserved, no level is negative, and the units committed for each
//!   product are exactly those of its confirmed orders (so none was sold twice, none lost);
//! - money: captured − refunded over all payments equals the totals of the confirmed orders,
//!   and no order that is not confirmed keeps captured money;
//! - one order notification (confirmed, cancelled or failed) per terminal order.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};

fn open(state_dir: &Path, label: &str) -> Result<Connection, String> {
    Connection::open_with_flags(
        state_dir.join(format!("{label}.db")),
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| format!("{label}.db: {e}"))
}

fn rows<T>(
    conn: &Connection,
    sql: &str,
    map: impl Fn(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> Result<Vec<T>, String> {
    let mut statement = conn.prepare(sql).map_err(|e| format!("{sql}: {e}"))?;
    statement
        .query_map([], map)
        .and_then(|rows| rows.collect())
        .map_err(|e| format!("{sql}: {e}"))
}

/// Checks every invariant, waiting up to 15 s for what settles asynchronously (notifications
/// arrive after the order's last status); `Err` lists every violation still standing.
pub async fn check(state_dir: &Path) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        match violations(state_dir) {
            Ok(found) if found.is_empty() => return Ok(()),
            Ok(found) if Instant::now() > deadline => return Err(found.join("\n")),
            Err(e) if Instant::now() > deadline => return Err(e),
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// Every order: its status and total.
type Statuses = BTreeMap<String, (String, i64)>;

fn violations(state_dir: &Path) -> Result<Vec<String>, String> {
    let orders = open(state_dir, "orders")?;
    let statuses: Statuses = rows(&orders, "SELECT id, status, total FROM orders", |r| {
        Ok((
            r.get::<_, String>(0)?,
            (r.get::<_, String>(1)?, r.get::<_, i64>(2)?),
        ))
    })?
    .into_iter()
    .collect();
    let mut found = Vec::new();
    for (id, (status, _)) in &statuses {
        if !matches!(status.as_str(), "confirmed" | "cancelled" | "failed") {
            found.push(format!("order {id} is not terminal: {status}"));
        }
    }
    stock_violations(&open(state_dir, "catalog")?, &orders, &mut found)?;
    money_violations(&open(state_dir, "payments")?, &statuses, &mut found)?;
    notification_violations(&open(state_dir, "notifications")?, &statuses, &mut found)?;
    Ok(found)
}

/// Nothing reserved, no level negative, the units committed are those of confirmed orders.
fn stock_violations(
    catalog: &Connection,
    orders: &Connection,
    found: &mut Vec<String>,
) -> Result<(), String> {
    for (product, on_hand, reserved) in rows(
        catalog,
        "SELECT product_id, on_hand, reserved FROM stock",
        |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
            ))
        },
    )? {
        if on_hand < 0 || reserved < 0 || reserved > on_hand {
            found.push(format!(
                "stock of {product}: on_hand {on_hand}, reserved {reserved}"
            ));
        }
        if reserved != 0 {
            found.push(format!(
                "stock of {product}: {reserved} units still reserved"
            ));
        }
    }
    let committed: BTreeMap<(String, String), i64> = rows(
        catalog,
        "SELECT r.order_id, l.product_id, l.quantity FROM reservations r JOIN reservation_lines l ON l.order_id = r.order_id WHERE r.status = 'committed'",
        |r| Ok(((r.get::<_, String>(0)?, r.get::<_, String>(1)?), r.get::<_, i64>(2)?)),
    )?
    .into_iter()
    .collect();
    let sold: BTreeMap<(String, String), i64> = rows(
        orders,
        "SELECT o.id, l.product_id, l.quantity FROM orders o JOIN order_lines l ON l.order_id = o.id WHERE o.status = 'confirmed'",
        |r| Ok(((r.get::<_, String>(0)?, r.get::<_, String>(1)?), r.get::<_, i64>(2)?)),
    )?
    .into_iter()
    .collect();
    if committed != sold {
        found.push(format!(
            "committed stock {committed:?} differs from confirmed orders' lines {sold:?}"
        ));
    }
    Ok(())
}

/// Captured − refunded equals the confirmed orders' totals; no other order keeps money.
fn money_violations(
    payments: &Connection,
    statuses: &Statuses,
    found: &mut Vec<String>,
) -> Result<(), String> {
    let money: Vec<(String, String, i64, i64)> = rows(
        payments,
        "SELECT order_id, status, captured_amount, refunded_amount FROM payments",
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )?;
    let kept: i64 = money
        .iter()
        .map(|(_, _, captured, refunded)| captured - refunded)
        .sum();
    let confirmed_total: i64 = statuses
        .values()
        .filter(|(s, _)| s == "confirmed")
        .map(|(_, total)| total)
        .sum();
    if kept != confirmed_total {
        found.push(format!(
            "captured − refunded = {kept}, confirmed orders total {confirmed_total}"
        ));
    }
    for (order_id, status, captured, refunded) in &money {
        let confirmed = statuses
            .get(order_id)
            .is_some_and(|(s, _)| s == "confirmed");
        if !confirmed && captured - refunded != 0 {
            found.push(format!(
                "order {order_id} is not confirmed but its payment ({status}) keeps {}",
                captured - refunded
            ));
        }
    }
    Ok(())
}

/// One order notification per order.
fn notification_violations(
    notifications: &Connection,
    statuses: &Statuses,
    found: &mut Vec<String>,
) -> Result<(), String> {
    let told: BTreeMap<String, i64> = rows(
        notifications,
        "SELECT subject_id, COUNT(*) FROM notifications WHERE template IN ('order_confirmed', 'order_cancelled', 'order_failed') GROUP BY subject_id",
        |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)),
    )?
    .into_iter()
    .collect();
    for id in statuses.keys() {
        match told.get(id) {
            Some(1) => {}
            other => found.push(format!(
                "order {id} has {} order notifications",
                other.copied().unwrap_or(0)
            )),
        }
    }
    Ok(())
}

/// Everything the saga and its consumers decide, to compare before and after a replay.
#[derive(Debug, PartialEq, Eq)]
pub struct Snapshot {
    pub orders: Vec<(String, String)>,
    pub stock: Vec<(String, i64, i64)>,
    pub reservations: Vec<(String, String)>,
    pub payments: Vec<(String, String, i64, i64)>,
    pub shipments: Vec<(String, String)>,
    pub notifications: i64,
}

pub fn snapshot(state_dir: &Path) -> Result<Snapshot, String> {
    let orders = open(state_dir, "orders")?;
    let catalog = open(state_dir, "catalog")?;
    let payments = open(state_dir, "payments")?;
    let shipping = open(state_dir, "shipping")?;
    let notifications = open(state_dir, "notifications")?;
    Ok(Snapshot {
        orders: rows(&orders, "SELECT id, status FROM orders ORDER BY id", |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?,
        stock: rows(
            &catalog,
            "SELECT product_id, on_hand, reserved FROM stock ORDER BY product_id",
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?,
        reservations: rows(
            &catalog,
            "SELECT order_id, status FROM reservations ORDER BY order_id",
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?,
        payments: rows(
            &payments,
            "SELECT order_id, status, captured_amount, refunded_amount FROM payments ORDER BY order_id",
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )?,
        shipments: rows(
            &shipping,
            "SELECT order_id, status FROM shipments ORDER BY order_id",
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?,
        notifications: rows(&notifications, "SELECT COUNT(*) FROM notifications", |r| {
            r.get(0)
        })?
        .first()
        .copied()
        .unwrap_or(0),
    })
}

/// Every event every context has sent, as (channel, envelope JSON), oldest first per context.
pub fn sent_events(state_dir: &Path) -> Result<Vec<(String, String)>, String> {
    let mut all = Vec::new();
    for label in ["users", "catalog", "orders", "payments", "shipping"] {
        let conn = open(state_dir, label)?;
        all.extend(rows(
            &conn,
            "SELECT channel, payload FROM outbox WHERE sent_at IS NOT NULL ORDER BY created_at, id",
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?);
    }
    Ok(all)
}

/// [`check`], panicking with every violation still standing.
pub async fn assert_hold(state_dir: &Path) {
    if let Err(violations) = check(state_dir).await {
        panic!("invariants violated:\n{violations}");
    }
}

/// Once `product`'s stock has settled (nothing reserved) as `admin` reads it, asserts it has
/// `on_hand` units, then that every invariant holds.
pub async fn assert_stock_settled_and_invariants_hold(
    admin: &crate::client::ApiClient,
    product: &str,
    on_hand: u64,
    state_dir: &Path,
) {
    let settled = admin
        .settled_stock(product)
        .await
        .unwrap_or_else(|e| panic!("stock of {product}: {e:#}"));
    assert_eq!(settled, (on_hand, 0), "stock of {product} once settled");
    assert_hold(state_dir).await;
}
