//! The replies and facts orders consumes (`catalog.events`, `payments.events`,
//! `shipping.events`): each moves its saga through `service::advance`, in the messaging
//! transaction. Facts that are no saga reply (product changes, low stock) are acknowledged and
//! ignored; a shipment's later progress is noted on the order's timeline.

use spin_sdk::sqlite3::Connection;
use wasmshop_kit::Event;
use wasmshop_kit::channels::{payment, shipment, stock};
use wasmshop_kit::events::payload;
use wasmshop_kit::messaging::{Consumer, Failure};
use wasmshop_kit::payloads::{
    PaymentChanged, PaymentFailed, ShipmentChanged, ShipmentFailed, StockReservation,
    StockReservationFailed,
};

use crate::domain::saga::Input;
use crate::repo;
use crate::service;

pub struct SagaReplies;

fn reply(event: &Event) -> Input {
    Input::Reply {
        event_type: event.event_type.clone(),
        retryable: false,
        code: None,
        reason: None,
    }
}

impl Consumer for SagaReplies {
    fn apply(&self, conn: &Connection, event: &Event) -> Result<(), Failure> {
        let input = match event.event_type.as_str() {
            stock::RESERVED | stock::RELEASED => {
                payload::<StockReservation>(event)?;
                reply(event)
            }
            stock::RESERVATION_FAILED => {
                let failed: StockReservationFailed = payload(event)?;
                Input::Reply {
                    event_type: event.event_type.clone(),
                    retryable: false,
                    code: Some(failed.reason.clone()),
                    reason: Some(if failed.short.is_empty() {
                        failed.reason
                    } else {
                        format!("{} ({})", failed.reason, failed.short.join(", "))
                    }),
                }
            }
            payment::AUTHORIZED | payment::CAPTURED | payment::VOIDED | payment::REFUNDED => {
                payload::<PaymentChanged>(event)?;
                reply(event)
            }
            payment::FAILED => {
                let failed: PaymentFailed = payload(event)?;
                Input::Reply {
                    event_type: event.event_type.clone(),
                    retryable: failed.retryable,
                    code: Some(failed.code),
                    reason: Some(failed.reason),
                }
            }
            shipment::CREATED | shipment::CANCELLED => {
                payload::<ShipmentChanged>(event)?;
                reply(event)
            }
            shipment::FAILED => {
                let failed: ShipmentFailed = payload(event)?;
                Input::Reply {
                    event_type: event.event_type.clone(),
                    retryable: false,
                    code: None,
                    reason: Some(failed.reason),
                }
            }
            shipment::STATUS_CHANGED => {
                let changed: ShipmentChanged = payload(event)?;
                if repo::order(conn, &changed.order_id)?.is_some() {
                    repo::add_note(
                        conn,
                        &changed.order_id,
                        &format!("shipment_{}", changed.status),
                        &format!(
                            "shipment {} is {}",
                            changed.tracking_number,
                            changed.status.replace('_', " ")
                        ),
                    )?;
                }
                return Ok(());
            }
            _ => return Ok(()),
        };
        let saga_id = event.correlation_id.as_deref().unwrap_or(&event.subject);
        service::advance(conn, saga_id, &input, Some(event)).map(drop)
    }

    /// Catalog's facts no saga awaits: over Redis pub/sub they still arrive (the HTTP push
    /// sends only the replies, `channels::CHANNELS`).
    fn ignores(&self, event_type: &str) -> bool {
        matches!(event_type, stock::COMMITTED | stock::LOW) || event_type.starts_with("product.")
    }

    fn tick(&self, conn: &Connection) -> Result<serde_json::Value, Failure> {
        service::tick(conn)
    }
}
