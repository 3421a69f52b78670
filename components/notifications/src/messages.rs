//! The events notifications consumes (`users.events`, `orders.events`, `payments.events`,
//! `shipping.events`); once an event it applied has committed, the webhook of what it made
//! goes out, whichever transport or retry brought it; its share of the recovery tick retries
//! webhook deliveries.

use spin_sdk::sqlite3::Connection;
use wasmshop_kit::Event;
use wasmshop_kit::messaging::{Consumer, Failure};

use crate::service;

pub struct Notifier;

impl Consumer for Notifier {
    fn apply(&self, conn: &Connection, event: &Event) -> Result<(), Failure> {
        service::apply(conn, event)
    }

    fn ignores(&self, event_type: &str) -> bool {
        crate::domain::always_ignored(event_type)
    }

    fn after_commit(&self, conn: &Connection, event: &Event) {
        service::after_commit(conn, event);
    }

    fn tick(&self, conn: &Connection) -> Result<serde_json::Value, Failure> {
        service::tick(conn)
    }
}
