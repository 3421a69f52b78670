//! The saga commands payments consumes on `payments.commands`.

use spin_sdk::sqlite3::Connection;
use wasmshop_kit::Event;
use wasmshop_kit::channels::payment;
use wasmshop_kit::events::payload;
use wasmshop_kit::messaging::{Consumer, Failure};

use crate::service::{self, Settle};

pub struct PaymentCommands;

impl Consumer for PaymentCommands {
    fn apply(&self, conn: &Connection, event: &Event) -> Result<(), Failure> {
        let settle = match event.event_type.as_str() {
            payment::AUTHORIZE => return service::authorize(conn, event, &payload(event)?),
            payment::CAPTURE => Settle::Capture,
            payment::VOID => Settle::Void,
            payment::REFUND => Settle::Refund,
            other => {
                return Err(Failure::Permanent(format!(
                    "`{other}` is not a payments command"
                )));
            }
        };
        service::settle(conn, event, &payload(event)?, settle)
    }
}
