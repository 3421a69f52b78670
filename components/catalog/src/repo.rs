//! The catalog's SQLite repository (database label `catalog`): schema migrations and queries.
//! Callers run writes inside `kit::db::transaction`; nothing here commits on its own.

use std::collections::BTreeMap;

use spin_sdk::sqlite3::{Connection, Value};
use wasmshop_kit::Money;
use wasmshop_kit::db::{self, DbError, Migration, Row, int, opt_text, text};

use crate::bindings::wasmshop::catalog::types::{
    Category, Product, ProductSort, Reservation, ReservationLine, ReservationStatus,
};
use crate::domain::{CategoryDraft, Level, ListParams};
use crate::seed;

pub const LABEL: &str = "catalog";

const SCHEMA: &str = "CREATE TABLE categories (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  name_key TEXT NOT NULL UNIQUE,
  description TEXT,
  created_at TEXT NOT NULL
);
CREATE TABLE products (
  id TEXT PRIMARY KEY,
  sku TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  description TEXT NOT NULL,
  search_text TEXT NOT NULL,
  price_amount INTEGER NOT NULL CHECK (price_amount >= 0),
  currency TEXT NOT NULL,
  category_id TEXT REFERENCES categories (id),
  active INTEGER NOT NULL,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE INDEX products_newest ON products (active, created_at, id);
CREATE INDEX products_name ON products (active, name COLLATE NOCASE, id);
CREATE INDEX products_price ON products (active, price_amount, id);
CREATE INDEX products_category ON products (category_id, active);
CREATE TABLE stock (
  product_id TEXT PRIMARY KEY REFERENCES products (id),
  on_hand INTEGER NOT NULL CHECK (on_hand >= 0),
  reserved INTEGER NOT NULL CHECK (reserved >= 0 AND reserved <= on_hand),
  low_stock_threshold INTEGER NOT NULL CHECK (low_stock_threshold >= 0)
);
CREATE TABLE reservations (
  order_id TEXT PRIMARY KEY,
  status TEXT NOT NULL CHECK (status IN ('reserved', 'released', 'committed')),
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE TABLE reservation_lines (
  order_id TEXT NOT NULL REFERENCES reservations (order_id),
  position INTEGER NOT NULL,
  product_id TEXT NOT NULL REFERENCES products (id),
  quantity INTEGER NOT NULL CHECK (quantity > 0),
  PRIMARY KEY (order_id, product_id)
)";

/// The demo data's version: always the last one.
pub const SEED_VERSION: u32 = 3;

fn migrations(seed: bool) -> Vec<Migration> {
    let mut migrations = vec![
        Migration {
            version: 1,
            sql: SCHEMA,
        },
        wasmshop_kit::outbox::migration(2),
    ];
    if seed {
        migrations.push(Migration {
            version: SEED_VERSION,
            sql: seed::SQL,
        });
    }
    // After the seed: a step below the highest applied version would be skipped.
    migrations.push(wasmshop_kit::messaging::migration(SEED_VERSION + 1));
    migrations.push(wasmshop_kit::outbox::redelivery_migration(SEED_VERSION + 2));
    migrations.push(wasmshop_kit::outbox::redelivery_backfill_migration(
        SEED_VERSION + 3,
    ));
    migrations
}

/// Whether the demo data is wanted: the `seed_demo_data` variable, "true" when not set.
fn seed_wanted() -> bool {
    match spin_sdk::variables::get("seed_demo_data") {
        Ok(value) => value.trim().eq_ignore_ascii_case("true"),
        Err(_) => true,
    }
}

/// Opens the catalog database with its schema (and, when wanted, the demo data) in place.
pub fn open() -> Result<Connection, DbError> {
    db::open(LABEL, &migrations(seed_wanted()))
}

fn first<'a>(result: &'a spin_sdk::sqlite3::QueryResult) -> Option<Row<'a>> {
    db::rows(result).next()
}

fn u32_of(row: &Row<'_>, column: &str) -> Result<u32, DbError> {
    let value = row.int(column)?;
    u32::try_from(value).map_err(|_| DbError::Data(format!("`{column}` = {value} is not a u32")))
}

fn placeholders(n: usize) -> String {
    vec!["?"; n].join(", ")
}

// ---------------------------------------------------------------------------------------------
// Categories
// ---------------------------------------------------------------------------------------------

fn category_of(row: &Row<'_>) -> Result<Category, DbError> {
    Ok(Category {
        id: row.text("id")?,
        name: row.text("name")?,
        description: row.opt_text("description")?,
    })
}

pub fn list_categories(conn: &Connection) -> Result<Vec<Category>, DbError> {
    let result = conn.execute(
        "SELECT id, name, description FROM categories ORDER BY name_key, id",
        &[],
    )?;
    db::rows(&result).map(|row| category_of(&row)).collect()
}

pub fn category_exists(conn: &Connection, id: &str) -> Result<bool, DbError> {
    let result = conn.execute("SELECT 1 FROM categories WHERE id = ?", &[text(id)])?;
    Ok(!result.rows.is_empty())
}

pub fn category_key_taken(conn: &Connection, key: &str) -> Result<bool, DbError> {
    let result = conn.execute("SELECT 1 FROM categories WHERE name_key = ?", &[text(key)])?;
    Ok(!result.rows.is_empty())
}

pub fn insert_category(
    conn: &Connection,
    id: &str,
    draft: &CategoryDraft,
    now: &str,
) -> Result<(), DbError> {
    conn.execute(
        "INSERT INTO categories (id, name, name_key, description, created_at) VALUES (?, ?, ?, ?, ?)",
        &[
            text(id),
            text(&draft.name),
            text(&draft.key),
            opt_text(draft.description.as_deref()),
            text(now),
        ],
    )?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Products
// ---------------------------------------------------------------------------------------------

const PRODUCT_COLUMNS: &str = "id, sku, name, description, price_amount, currency, category_id, active, created_at, updated_at";

fn product_of(row: &Row<'_>) -> Result<Product, DbError> {
    Ok(Product {
        id: row.text("id")?,
        sku: row.text("sku")?,
        name: row.text("name")?,
        description: row.text("description")?,
        price: Money {
            amount: row.int("price_amount")?,
            currency: row.text("currency")?,
        },
        category_id: row.opt_text("category_id")?,
        active: row.int("active")? != 0,
        created_at: row.text("created_at")?,
        updated_at: row.text("updated_at")?,
    })
}

pub fn get_product(conn: &Connection, id: &str) -> Result<Option<Product>, DbError> {
    let result = conn.execute(
        &format!("SELECT {PRODUCT_COLUMNS} FROM products WHERE id = ?"),
        &[text(id)],
    )?;
    first(&result).map(|row| product_of(&row)).transpose()
}

/// The id of the product holding `sku`, if any.
pub fn sku_owner(conn: &Connection, sku: &str) -> Result<Option<String>, DbError> {
    let result = conn.execute("SELECT id FROM products WHERE sku = ?", &[text(sku)])?;
    first(&result).map(|row| row.text("id")).transpose()
}

fn product_params(product: &Product, search_text: &str) -> Vec<Value> {
    vec![
        text(&product.sku),
        text(&product.name),
        text(&product.description),
        text(search_text),
        int(product.price.amount),
        text(&product.price.currency),
        opt_text(product.category_id.as_deref()),
        int(i64::from(product.active)),
        text(&product.updated_at),
        text(&product.id),
    ]
}

/// Inserts a product and its empty stock row.
pub fn insert_product(
    conn: &Connection,
    product: &Product,
    search_text: &str,
    threshold: u32,
) -> Result<(), DbError> {
    let mut params = product_params(product, search_text);
    params.push(text(&product.created_at));
    conn.execute(
        "INSERT INTO products (sku, name, description, search_text, price_amount, currency, category_id, active, updated_at, id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        &params,
    )?;
    conn.execute(
        "INSERT INTO stock (product_id, on_hand, reserved, low_stock_threshold) VALUES (?, 0, 0, ?)",
        &[text(&product.id), int(threshold)],
    )?;
    Ok(())
}

pub fn update_product(
    conn: &Connection,
    product: &Product,
    search_text: &str,
) -> Result<(), DbError> {
    conn.execute(
        "UPDATE products SET sku = ?, name = ?, description = ?, search_text = ?, price_amount = ?, currency = ?, category_id = ?, active = ?, updated_at = ? WHERE id = ?",
        &product_params(product, search_text),
    )?;
    Ok(())
}

/// `ORDER BY` for the sort key, always ending with the id so pages are stable.
fn order_by(sort: ProductSort) -> &'static str {
    match sort {
        ProductSort::NameAsc => "name COLLATE NOCASE ASC, id ASC",
        ProductSort::NameDesc => "name COLLATE NOCASE DESC, id DESC",
        ProductSort::PriceAsc => "price_amount ASC, id ASC",
        ProductSort::PriceDesc => "price_amount DESC, id DESC",
        ProductSort::Newest => "created_at DESC, id DESC",
    }
}

/// Escapes `\`, `%` and `_` and wraps in `%`: a case-insensitive substring match over the
/// lower-cased search text (with `\` as the `LIKE` escape).
fn like_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.to_lowercase().chars() {
        if matches!(c, '\\' | '%' | '_') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// One page of active products matching `params`, and how many match in all.
pub fn list_products(
    conn: &Connection,
    params: &ListParams,
) -> Result<(Vec<Product>, u64), DbError> {
    let mut clauses = vec!["active = 1"];
    let mut values = Vec::new();
    if let Some(category) = &params.category {
        clauses.push("category_id = ?");
        values.push(text(category));
    }
    if let Some(search) = &params.search {
        clauses.push("search_text LIKE ? ESCAPE '\\'");
        values.push(text(like_pattern(search)));
    }
    if let Some(min) = params.min_price {
        clauses.push("price_amount >= ?");
        values.push(int(min));
    }
    if let Some(max) = params.max_price {
        clauses.push("price_amount <= ?");
        values.push(int(max));
    }
    let filter = clauses.join(" AND ");
    let count = conn.execute(
        &format!("SELECT COUNT(*) AS n FROM products WHERE {filter}"),
        &values,
    )?;
    let total = match first(&count) {
        Some(row) => u64::try_from(row.int("n")?).unwrap_or(0),
        None => 0,
    };
    values.push(int(params.page.limit));
    values.push(int(params.page.offset()));
    let page = conn.execute(
        &format!(
            "SELECT {PRODUCT_COLUMNS} FROM products WHERE {filter} ORDER BY {} LIMIT ? OFFSET ?",
            order_by(params.sort)
        ),
        &values,
    )?;
    let items = db::rows(&page)
        .map(|row| product_of(&row))
        .collect::<Result<_, _>>()?;
    Ok((items, total))
}

// ---------------------------------------------------------------------------------------------
// Stock
// ---------------------------------------------------------------------------------------------

fn level_of(row: &Row<'_>) -> Result<Level, DbError> {
    let (on_hand, reserved) = (u32_of(row, "on_hand")?, u32_of(row, "reserved")?);
    Level::new(on_hand, reserved, u32_of(row, "low_stock_threshold")?)
        .ok_or_else(|| DbError::Data(format!("stock reserved {reserved} > on hand {on_hand}")))
}

pub fn get_level(conn: &Connection, product_id: &str) -> Result<Option<Level>, DbError> {
    let result = conn.execute(
        "SELECT on_hand, reserved, low_stock_threshold FROM stock WHERE product_id = ?",
        &[text(product_id)],
    )?;
    first(&result).map(|row| level_of(&row)).transpose()
}

/// The stock of those of `product_ids` that exist (and, with `active_only`, are active).
pub fn levels(
    conn: &Connection,
    product_ids: &[&str],
    active_only: bool,
) -> Result<BTreeMap<String, Level>, DbError> {
    if product_ids.is_empty() {
        return Ok(BTreeMap::new());
    }
    let sql = format!(
        "SELECT s.product_id, s.on_hand, s.reserved, s.low_stock_threshold FROM stock s JOIN products p ON p.id = s.product_id WHERE s.product_id IN ({}){}",
        placeholders(product_ids.len()),
        if active_only { " AND p.active = 1" } else { "" }
    );
    let values: Vec<Value> = product_ids.iter().map(|id| text(*id)).collect();
    let result = conn.execute(&sql, &values)?;
    db::rows(&result)
        .map(|row| Ok((row.text("product_id")?, level_of(&row)?)))
        .collect()
}

pub fn save_level(conn: &Connection, product_id: &str, level: &Level) -> Result<(), DbError> {
    conn.execute(
        "UPDATE stock SET on_hand = ?, reserved = ?, low_stock_threshold = ? WHERE product_id = ?",
        &[
            int(level.on_hand),
            int(level.reserved),
            int(level.threshold),
            text(product_id),
        ],
    )?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Reservations
// ---------------------------------------------------------------------------------------------

pub fn get_reservation(conn: &Connection, order_id: &str) -> Result<Option<Reservation>, DbError> {
    let head = conn.execute(
        "SELECT status FROM reservations WHERE order_id = ?",
        &[text(order_id)],
    )?;
    let Some(row) = first(&head) else {
        return Ok(None);
    };
    let status_text = row.text("status")?;
    let status = ReservationStatus::parse(&status_text)
        .ok_or_else(|| DbError::Data(format!("unknown reservation status `{status_text}`")))?;
    let lines = conn.execute(
        "SELECT product_id, quantity FROM reservation_lines WHERE order_id = ? ORDER BY position",
        &[text(order_id)],
    )?;
    let lines = db::rows(&lines)
        .map(|row| {
            Ok(ReservationLine {
                product_id: row.text("product_id")?,
                quantity: u32_of(&row, "quantity")?,
            })
        })
        .collect::<Result<_, DbError>>()?;
    Ok(Some(Reservation {
        order_id: order_id.to_owned(),
        lines,
        status,
    }))
}

pub fn insert_reservation(
    conn: &Connection,
    reservation: &Reservation,
    now: &str,
) -> Result<(), DbError> {
    conn.execute(
        "INSERT INTO reservations (order_id, status, created_at, updated_at) VALUES (?, ?, ?, ?)",
        &[
            text(&reservation.order_id),
            text(reservation.status.as_str()),
            text(now),
            text(now),
        ],
    )?;
    for (position, line) in reservation.lines.iter().enumerate() {
        conn.execute(
            "INSERT INTO reservation_lines (order_id, position, product_id, quantity) VALUES (?, ?, ?, ?)",
            &[
                text(&reservation.order_id),
                int(i64::try_from(position).unwrap_or(i64::MAX)),
                text(&line.product_id),
                int(line.quantity),
            ],
        )?;
    }
    Ok(())
}

pub fn set_reservation_status(
    conn: &Connection,
    order_id: &str,
    status: ReservationStatus,
    now: &str,
) -> Result<(), DbError> {
    conn.execute(
        "UPDATE reservations SET status = ?, updated_at = ? WHERE order_id = ?",
        &[text(status.as_str()), text(now), text(order_id)],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sort_orders_by_its_key_then_id() {
        for sort in [
            ProductSort::NameAsc,
            ProductSort::NameDesc,
            ProductSort::PriceAsc,
            ProductSort::PriceDesc,
            ProductSort::Newest,
        ] {
            assert!(order_by(sort).ends_with(", id ASC") || order_by(sort).ends_with(", id DESC"));
        }
        assert!(order_by(ProductSort::PriceDesc).starts_with("price_amount DESC"));
        assert_eq!(ProductSort::parse("price-asc"), Some(ProductSort::PriceAsc));
        assert_eq!(ProductSort::parse("cheapest"), None);
    }

    #[test]
    fn search_patterns_escape_like_wildcards() {
        assert_eq!(like_pattern("Red Shoe"), "%red shoe%");
        assert_eq!(like_pattern("50%_off\\"), "%50\\%\\_off\\\\%");
        assert_eq!(like_pattern("ÉCLAIR"), "%éclair%");
    }
}
