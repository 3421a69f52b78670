//! The saga commands shipping consumes on `shipping.commands`.

use spin_sdk::sqlite3::Connection;
use wasmshop_kit::Event;
use wasmshop_kit::channels::shipment;
use wasmshop_kit::events::payload;
use wasmshop_kit::messaging::{Consumer, Failure};

use crate::service;

pub struct ShippingCommands;

impl Consumer for ShippingCommands {
    fn apply(&self, conn: &Connection, event: &Event) -> Result<(), Failure> {
        match event.event_type.as_str() {
            shipment::CREATE => service::create(conn, event, &payload(event)?),
            shipment::CANCEL => service::cancel(conn, event, &payload(event)?),
            other => Err(Failure::Permanent(format!(
                "`{other}` is not a shipping command"
            ))),
        }
    }
}
