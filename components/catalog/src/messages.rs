//! The saga commands catalog consumes on `catalog.commands` (from orders' checkout saga); the
//! replies go out on `catalog.events` in the same transaction as the stock change.

use spin_sdk::sqlite3::Connection;
use wasmshop_kit::Event;
use wasmshop_kit::channels::stock;
use wasmshop_kit::events::payload;
use wasmshop_kit::messaging::{Consumer, Failure};
use wasmshop_kit::payloads::{OrderCommand, ReserveStock};

use crate::bindings::wasmshop::catalog::types::{Error, ReservationLine};
use crate::service::{self, Cause, Settlement};

pub struct CatalogCommands;

impl Consumer for CatalogCommands {
    fn apply(&self, conn: &Connection, event: &Event) -> Result<(), Failure> {
        let cause = Cause::Command(event);
        match event.event_type.as_str() {
            stock::RESERVE => {
                let command: ReserveStock = payload(event)?;
                let lines: Vec<ReservationLine> = command
                    .lines
                    .into_iter()
                    .map(|line| ReservationLine {
                        product_id: line.product_id,
                        quantity: line.quantity,
                    })
                    .collect();
                service::reserve_in(conn, cause, &command.order_id, &lines)
                    .map(drop)
                    .map_err(failure)
            }
            stock::RELEASE | stock::COMMIT => {
                let command: OrderCommand = payload(event)?;
                let settlement = if event.event_type == stock::RELEASE {
                    Settlement::Release
                } else {
                    Settlement::Commit
                };
                service::settle_in(conn, cause, &command.order_id, settlement)
                    .map(drop)
                    .map_err(failure)
            }
            other => Err(Failure::Permanent(format!(
                "`{other}` is not a catalog command"
            ))),
        }
    }
}

/// A command that breaks an invariant (committing a released reservation, an invalid line)
/// will fail the same way every time; only internal errors may pass.
fn failure(error: Error) -> Failure {
    match error {
        Error::Internal(message) => Failure::Transient(message),
        other => Failure::Permanent(format!("{other:?}")),
    }
}
