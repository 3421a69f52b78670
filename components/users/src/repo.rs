//! The users SQLite database (label `users`): accounts, failed-login windows and the outbox.

use spin_sdk::sqlite3::Connection;
use wasmshop_kit::db::{self, DbError, Migration, int, opt_text, text};
use wasmshop_kit::outbox;

use crate::domain::throttle::{Attempts, FORGET_AFTER_SECONDS};
use crate::{Address, Role, User};

pub const DATABASE: &str = "users";

const SCHEMA_V1: &str = "CREATE TABLE users (
  id TEXT PRIMARY KEY,
  email TEXT NOT NULL UNIQUE,
  password_hash TEXT NOT NULL,
  name TEXT NOT NULL,
  role TEXT NOT NULL CHECK (role IN ('customer', 'admin')),
  address_line1 TEXT,
  address_line2 TEXT,
  address_city TEXT,
  address_postal_code TEXT,
  address_country TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE TABLE login_attempts (
  email TEXT PRIMARY KEY,
  failures INTEGER NOT NULL,
  window_start INTEGER NOT NULL
);
CREATE INDEX login_attempts_window ON login_attempts (window_start)";

/// Login attempts counted per account and client address (#14): the old rows, per account
/// only, are throttling state that a fresh start may drop.
const LOGIN_ATTEMPTS_PER_CLIENT: &str = "DROP TABLE login_attempts;
CREATE TABLE login_attempts (
  email TEXT NOT NULL,
  client TEXT NOT NULL,
  failures INTEGER NOT NULL,
  last_attempt INTEGER NOT NULL,
  PRIMARY KEY (email, client)
);
CREATE INDEX login_attempts_last ON login_attempts (last_attempt)";

fn migrations() -> [Migration; 6] {
    [
        Migration {
            version: 1,
            sql: SCHEMA_V1,
        },
        outbox::migration(2),
        wasmshop_kit::messaging::migration(3),
        outbox::redelivery_migration(4),
        outbox::redelivery_backfill_migration(5),
        Migration {
            version: 6,
            sql: LOGIN_ATTEMPTS_PER_CLIENT,
        },
    ]
}

pub fn open() -> Result<Connection, DbError> {
    db::open(DATABASE, &migrations())
}

const USER_COLUMNS: &str = "id, email, name, role, address_line1, address_line2, address_city, \
     address_postal_code, address_country, created_at, updated_at";

fn user_from(row: &db::Row<'_>) -> Result<User, DbError> {
    let role = row.text("role")?;
    let address = match row.opt_text("address_line1")? {
        None => None,
        Some(line1) => Some(Address {
            line1,
            line2: row.opt_text("address_line2")?,
            city: row.text("address_city")?,
            postal_code: row.text("address_postal_code")?,
            country: row.text("address_country")?,
        }),
    };
    Ok(User {
        id: row.text("id")?,
        email: row.text("email")?,
        name: row.text("name")?,
        role: Role::parse(&role).ok_or_else(|| DbError::Data(format!("unknown role `{role}`")))?,
        address,
        created_at: row.text("created_at")?,
        updated_at: row.text("updated_at")?,
    })
}

pub fn find_user(conn: &Connection, id: &str) -> Result<Option<User>, DbError> {
    let result = conn.execute(
        &format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?"),
        &[text(id)],
    )?;
    db::rows(&result)
        .next()
        .map(|row| user_from(&row))
        .transpose()
}

pub fn email_taken(conn: &Connection, email: &str) -> Result<bool, DbError> {
    let result = conn.execute("SELECT 1 FROM users WHERE email = ?", &[text(email)])?;
    Ok(!result.rows.is_empty())
}

/// What login needs of an account.
pub struct Credentials {
    pub user_id: String,
    pub role: Role,
    pub password_hash: String,
}

pub fn find_credentials(conn: &Connection, email: &str) -> Result<Option<Credentials>, DbError> {
    let result = conn.execute(
        "SELECT id, role, password_hash FROM users WHERE email = ?",
        &[text(email)],
    )?;
    db::rows(&result)
        .next()
        .map(|row| {
            let role = row.text("role")?;
            Ok(Credentials {
                user_id: row.text("id")?,
                role: Role::parse(&role)
                    .ok_or_else(|| DbError::Data(format!("unknown role `{role}`")))?,
                password_hash: row.text("password_hash")?,
            })
        })
        .transpose()
}

fn address_values(address: Option<&Address>) -> [spin_sdk::sqlite3::Value; 5] {
    [
        opt_text(address.map(|a| a.line1.as_str())),
        opt_text(address.and_then(|a| a.line2.as_deref())),
        opt_text(address.map(|a| a.city.as_str())),
        opt_text(address.map(|a| a.postal_code.as_str())),
        opt_text(address.map(|a| a.country.as_str())),
    ]
}

pub fn insert_user(conn: &Connection, user: &User, password_hash: &str) -> Result<(), DbError> {
    let [line1, line2, city, postal_code, country] = address_values(user.address.as_ref());
    conn.execute(
        "INSERT INTO users (id, email, password_hash, name, role, address_line1, address_line2, \
         address_city, address_postal_code, address_country, created_at, updated_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        &[
            text(&user.id),
            text(&user.email),
            text(password_hash),
            text(&user.name),
            text(user.role.as_str()),
            line1,
            line2,
            city,
            postal_code,
            country,
            text(&user.created_at),
            text(&user.updated_at),
        ],
    )?;
    Ok(())
}

/// Whether any account is an admin: the bootstrap makes the first one only.
pub fn admin_exists(conn: &Connection) -> Result<bool, DbError> {
    let result = conn.execute(
        "SELECT 1 FROM users WHERE role = ? LIMIT 1",
        &[text(Role::Admin.as_str())],
    )?;
    Ok(!result.rows.is_empty())
}

pub fn set_role(conn: &Connection, id: &str, role: Role, now: &str) -> Result<(), DbError> {
    conn.execute(
        "UPDATE users SET role = ?, updated_at = ? WHERE id = ?",
        &[text(role.as_str()), text(now), text(id)],
    )?;
    Ok(())
}

pub fn update_profile(conn: &Connection, user: &User) -> Result<(), DbError> {
    let [line1, line2, city, postal_code, country] = address_values(user.address.as_ref());
    conn.execute(
        "UPDATE users SET name = ?, address_line1 = ?, address_line2 = ?, address_city = ?, \
         address_postal_code = ?, address_country = ?, updated_at = ? WHERE id = ?",
        &[
            text(&user.name),
            line1,
            line2,
            city,
            postal_code,
            country,
            text(&user.updated_at),
            text(&user.id),
        ],
    )?;
    Ok(())
}

pub fn login_attempts(
    conn: &Connection,
    email: &str,
    client: &str,
) -> Result<Option<Attempts>, DbError> {
    let result = conn.execute(
        "SELECT failures, last_attempt FROM login_attempts WHERE email = ? AND client = ?",
        &[text(email), text(client)],
    )?;
    db::rows(&result)
        .next()
        .map(|row| {
            Ok(Attempts {
                failures: u32::try_from(row.int("failures")?)
                    .map_err(|e| DbError::Data(format!("failures: {e}")))?,
                last_attempt: row.int("last_attempt")?,
            })
        })
        .transpose()
}

/// Stores the pair's attempts and forgets every pair quiet for long enough by `now`.
pub fn save_login_attempts(
    conn: &Connection,
    email: &str,
    client: &str,
    attempts: Attempts,
    now: i64,
) -> Result<(), DbError> {
    conn.execute(
        "DELETE FROM login_attempts WHERE last_attempt <= ?",
        &[int(now - FORGET_AFTER_SECONDS)],
    )?;
    conn.execute(
        "INSERT INTO login_attempts (email, client, failures, last_attempt) VALUES (?, ?, ?, ?) \
         ON CONFLICT (email, client) DO UPDATE SET failures = excluded.failures, \
         last_attempt = excluded.last_attempt",
        &[
            text(email),
            text(client),
            int(attempts.failures),
            int(attempts.last_attempt),
        ],
    )?;
    Ok(())
}

/// A success clears its own pair only: another client's failures still count against it.
pub fn clear_login_attempts(conn: &Connection, email: &str, client: &str) -> Result<(), DbError> {
    conn.execute(
        "DELETE FROM login_attempts WHERE email = ? AND client = ?",
        &[text(email), text(client)],
    )?;
    Ok(())
}
