//! Reliable consumption of events and commands, the same whatever carried them.
//!
//! Redis pub/sub under Spin is at-most-once: a message whose handler fails is dropped and nothing
//! redelivers it. So a consumer never lets a message fail: it is applied exactly once (its effect
//! and its inbox row commit together, a duplicate id is acknowledged and ignored) or it is kept
//! in `dead_letters` — to be re-driven by the recovery tick while the failure looks transient,
//! or parked as `dead` for an operator to retry or discard through the admin routes.
//!
//! Two transports reach the same [`receive`]: an HTTP push to the consumer's private `POST
//! /events` route ([`routes`], the default) and the Redis trigger ([`on_redis_message`]). Which
//! one producers use is the `event_transport` variable (see `outbox`). Either way, a producer's
//! recovery tick asks each subscriber which events it kept (`POST /events/kept`, answered from
//! the inbox and dead letters, `crate::acks`) and sends the rest once more.
//!
//! Cut in four: [`receive`] (one message, exactly once), `dead_letters` (what failed, and all
//! the SQL of keeping it), `recovery` (the tick) and `routes` (the HTTP routes every consuming
//! context serves).

mod dead_letters;
mod receive;
mod recovery;
mod routes;

pub use dead_letters::{MAX_ATTEMPTS, status};
pub use receive::{UNTRUSTED_SOURCE, check_source, on_redis_message, receive};
pub use recovery::recover;
pub use routes::routes;

use serde_json::Value;
use spin_sdk::sqlite3::Connection;

use crate::Event;
use crate::db::{DbError, Migration};

/// Why a message could not be applied.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Failure {
    /// Will fail the same way every time: malformed, unknown type, broken invariant.
    #[error("permanent: {0}")]
    Permanent(String),
    /// May succeed later: a busy database, a peer that is down.
    #[error("transient: {0}")]
    Transient(String),
}

impl From<DbError> for Failure {
    fn from(e: DbError) -> Self {
        Failure::Transient(e.to_string())
    }
}

impl From<spin_sdk::sqlite3::Error> for Failure {
    fn from(e: spin_sdk::sqlite3::Error) -> Self {
        Failure::from(DbError::from(e))
    }
}

impl From<serde_json::Error> for Failure {
    fn from(e: serde_json::Error) -> Self {
        Failure::Permanent(format!("payload: {e}"))
    }
}

/// A context's handling of the events and commands it subscribes to.
pub trait Consumer {
    /// Applies one event inside the open write transaction `conn`: its effect, its inbox row
    /// (written by this module) and the outbox rows it enqueues commit together.
    fn apply(&self, conn: &Connection, event: &Event) -> Result<(), Failure>;

    /// Whether every event of `event_type` is nothing to this context, whatever its data. Such
    /// a message is acknowledged before the database is even opened, with no inbox row:
    /// ignoring it twice changes nothing. (Subscribers get every event of a channel, and most
    /// of a busy channel can be of no interest to one of them.)
    fn ignores(&self, _event_type: &str) -> bool {
        false
    }

    /// What follows an event this consumer applied, once its transaction committed and the
    /// outbox rows it wrote were relayed — whatever brought it: an HTTP push, Redis, or a dead
    /// letter's retry (an operator's or the recovery tick's). Never fails the message: what it
    /// cannot do now is left to [`Consumer::tick`] (notifications: the webhook).
    fn after_commit(&self, _conn: &Connection, _event: &Event) {}

    /// The context's own share of the recovery tick (orders: saga steps past their deadline).
    fn tick(&self, _conn: &Connection) -> Result<Value, Failure> {
        Ok(Value::Null)
    }
}

/// How a received message ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Applied,
    /// Its id was already in the inbox.
    Duplicate,
    /// Of a type the consumer [`Consumer::ignores`].
    Ignored,
    /// Failed transiently; the recovery tick re-drives it.
    Deferred {
        attempts: u32,
        error: String,
    },
    /// Failed for good (or too often); kept for an operator.
    DeadLettered {
        error: String,
    },
}

impl Outcome {
    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::Duplicate => "duplicate",
            Outcome::Ignored => "ignored",
            Outcome::Deferred { .. } => "deferred",
            Outcome::DeadLettered { .. } => "dead_lettered",
        }
    }
}

pub const MESSAGING_SQL: &str = "CREATE TABLE inbox (
  event_id TEXT PRIMARY KEY,
  event_type TEXT NOT NULL,
  processed_at TEXT NOT NULL
);
CREATE TABLE dead_letters (
  id TEXT PRIMARY KEY,
  event_type TEXT,
  payload TEXT NOT NULL,
  error TEXT NOT NULL,
  attempts INTEGER NOT NULL,
  status TEXT NOT NULL,
  next_attempt_ms INTEGER,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE INDEX dead_letters_due ON dead_letters (status, next_attempt_ms)";

/// Add to every consuming context's migrations (after the outbox's).
pub fn migration(version: u32) -> Migration {
    Migration {
        version,
        sql: MESSAGING_SQL,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_have_stable_names() {
        let names: Vec<&str> = [
            Outcome::Applied,
            Outcome::Duplicate,
            Outcome::Ignored,
            Outcome::Deferred {
                attempts: 1,
                error: String::new(),
            },
            Outcome::DeadLettered {
                error: String::new(),
            },
        ]
        .iter()
        .map(Outcome::as_str)
        .collect();
        assert_eq!(
            names,
            [
                "applied",
                "duplicate",
                "ignored",
                "deferred",
                "dead_lettered"
            ]
        );
    }
}
