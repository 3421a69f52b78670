//! The events notifications consumes (`users.events`, `orders.events`, `payments.events`,
//! `shipping.events`); the recovery tick also retries webhook deliveries.

use spin_sdk::sqlite3::Connection;
use wasmshop_kit::Event;
use wasmshop_kit::messaging::{Consumer, Failure};

use crate::service;

pub struct Notifier;

impl Consumer for Notifier {
    fn apply(&self, conn: &Connection, event: &Event) -> Result<(), Failure> {
        service::apply(conn, event)
    }

    fn tick(&self, conn: &Connection) -> Result<serde_json::Value, Failure> {
        let attempted = service::deliver_webhooks(conn)?;
        Ok(serde_json::json!({ "webhooks_attempted": attempted }))
    }
}
