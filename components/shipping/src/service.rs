//! Shipping's use cases. Saga commands run inside the messaging transaction and answer on
//! `shipping.events` in that same transaction; a repeated command is answered with its first
//! result. Status changes by an operator are announced as `shipment.status-changed`.

use serde::Serialize;
use spin_sdk::sqlite3::Connection;
use wasmshop_kit::channels;
use wasmshop_kit::db::{DbError, transaction};
use wasmshop_kit::identity::Identity;
use wasmshop_kit::ids::new_id;
use wasmshop_kit::messaging::Failure;
use wasmshop_kit::payloads::{CreateShipment, OrderCommand, ShipmentChanged, ShipmentFailed};
use wasmshop_kit::{Event, Money, events, outbox};

use crate::bindings::wasmshop::shipping::types::{
    Error, Quote, Shipment, ShipmentPage, ShipmentStatus,
};
use crate::domain;
use crate::repo::{self, NewShipment};

pub const SOURCE: &str = "shipping";

impl From<DbError> for Error {
    fn from(e: DbError) -> Self {
        // The operator reads the cause in the log; callers learn only that it was internal.
        wasmshop_kit::trace::log(SOURCE, &e);
        Error::Internal("database error".into())
    }
}

fn changed(shipment: &Shipment, previous: Option<&str>) -> ShipmentChanged {
    ShipmentChanged {
        shipment_id: shipment.id.clone(),
        order_id: shipment.order_id.clone(),
        user_id: shipment.user_id.clone(),
        tracking_number: shipment.tracking_number.clone(),
        status: shipment.status.as_str().to_owned(),
        previous_status: previous.map(str::to_owned),
    }
}

fn reply<T: Serialize>(
    conn: &Connection,
    command: &Event,
    event_type: &str,
    order_id: &str,
    payload: &T,
) -> Result<(), Failure> {
    let event = events::reply_to(command, event_type, SOURCE, order_id, payload)?;
    outbox::enqueue(conn, channels::SHIPPING_EVENTS, &event)?;
    Ok(())
}

fn refuse(
    conn: &Connection,
    command: &Event,
    order_id: &str,
    user_id: &str,
    reason: &str,
) -> Result<(), Failure> {
    reply(
        conn,
        command,
        channels::shipment::FAILED,
        order_id,
        &ShipmentFailed {
            order_id: order_id.to_owned(),
            user_id: user_id.to_owned(),
            reason: reason.to_owned(),
        },
    )
}

fn reload(conn: &Connection, id: &str) -> Result<Shipment, Failure> {
    repo::by_id(conn, id)?.ok_or_else(|| Failure::Transient(format!("shipment {id} vanished")))
}

pub fn create(conn: &Connection, command: &Event, request: &CreateShipment) -> Result<(), Failure> {
    if let Some(existing) = repo::by_order(conn, &request.order_id)? {
        return match existing.status {
            ShipmentStatus::Cancelled => refuse(
                conn,
                command,
                &request.order_id,
                &request.user_id,
                "order cancelled",
            ),
            _ => reply(
                conn,
                command,
                channels::shipment::CREATED,
                &existing.order_id,
                &changed(&existing, None),
            ),
        };
    }
    let address = &request.address;
    if let Some(reason) = domain::undeliverable(&address.country, &address.postal_code) {
        return refuse(conn, command, &request.order_id, &request.user_id, &reason);
    }
    let id = new_id();
    repo::insert(
        conn,
        &NewShipment {
            id: &id,
            order_id: &request.order_id,
            user_id: &request.user_id,
            tracking_number: &domain::tracking_number(&id),
            status: ShipmentStatus::Created,
            address: Some(address),
            weight_grams: request.weight_grams,
            items: request.items,
        },
    )?;
    let shipment = reload(conn, &id)?;
    reply(
        conn,
        command,
        channels::shipment::CREATED,
        &shipment.order_id,
        &changed(&shipment, None),
    )
}

pub fn cancel(conn: &Connection, command: &Event, request: &OrderCommand) -> Result<(), Failure> {
    let Some(shipment) = repo::by_order(conn, &request.order_id)? else {
        // A cancel that overtook its create: remember it, so the late create is refused.
        let id = new_id();
        repo::insert(
            conn,
            &NewShipment {
                id: &id,
                order_id: &request.order_id,
                user_id: "",
                tracking_number: &domain::tracking_number(&id),
                status: ShipmentStatus::Cancelled,
                address: None,
                weight_grams: 0,
                items: 0,
            },
        )?;
        let shipment = reload(conn, &id)?;
        return reply(
            conn,
            command,
            channels::shipment::CANCELLED,
            &request.order_id,
            &changed(&shipment, None),
        );
    };
    let status = shipment.status;
    if status == ShipmentStatus::Cancelled {
        return reply(
            conn,
            command,
            channels::shipment::CANCELLED,
            &shipment.order_id,
            &changed(&shipment, None),
        );
    }
    if !status.can_become(ShipmentStatus::Cancelled) {
        return refuse(
            conn,
            command,
            &shipment.order_id,
            &shipment.user_id,
            "already picked",
        );
    }
    repo::set_status(conn, &shipment.id, ShipmentStatus::Cancelled)?;
    let after = reload(conn, &shipment.id)?;
    reply(
        conn,
        command,
        channels::shipment::CANCELLED,
        &after.order_id,
        &changed(&after, Some(status.as_str())),
    )
}

// ---------------------------------------------------------------------------------------------
// Reads and operators' changes, for HTTP and the exported `api` alike
// ---------------------------------------------------------------------------------------------

/// The rate table's answer with its currency and service.
pub fn quote(country: &str, weight_grams: u32) -> Result<Quote, Error> {
    let quote = domain::quote(country, weight_grams).map_err(Error::InvalidInput)?;
    Ok(Quote {
        country: quote.country,
        weight_grams: quote.weight_grams,
        service: "standard".into(),
        amount: Money {
            amount: quote.amount,
            currency: domain::CURRENCY.into(),
        },
        estimated_days: quote.estimated_days,
    })
}

/// Owners see their shipments; admins see all; anyone else is told there is no such shipment
/// (existence is not revealed).
pub fn get(identity: &Identity, id: &str) -> Result<Shipment, Error> {
    let conn = repo::open()?;
    repo::by_id(&conn, id)?
        .filter(|s| identity.may_see(&s.user_id))
        .ok_or(Error::NotFound)
}

/// `page` from 1, `limit` 1 to 100 (as `wasmshop_kit::http::Page` checks for HTTP).
pub fn list(
    identity: &Identity,
    order_id: Option<&str>,
    page: u32,
    limit: u32,
) -> Result<ShipmentPage, Error> {
    let page = wasmshop_kit::http::Page::new(page, limit).map_err(Error::InvalidInput)?;
    let conn = repo::open()?;
    let (items, total) = repo::list(
        &conn,
        identity.owner_scope(),
        order_id,
        page.limit,
        page.offset(),
    )?;
    Ok(ShipmentPage {
        items,
        total,
        page: page.page,
        limit: page.limit,
    })
}

/// An operator moves a shipment on (or cancels it before pickup); the change is announced.
pub fn set_status(id: &str, next: ShipmentStatus) -> Result<Shipment, Error> {
    let conn = repo::open()?;
    let shipment = transaction(&conn, |conn| -> Result<Shipment, Error> {
        let shipment = repo::by_id(conn, id)?.ok_or(Error::NotFound)?;
        let current = shipment.status;
        if !current.can_become(next) {
            return Err(Error::IllegalTransition(format!(
                "a {} shipment cannot become {}",
                current.as_str(),
                next.as_str()
            )));
        }
        repo::set_status(conn, id, next)?;
        let after = repo::by_id(conn, id)?.ok_or(Error::NotFound)?;
        let event_type = if next == ShipmentStatus::Cancelled {
            channels::shipment::CANCELLED
        } else {
            channels::shipment::STATUS_CHANGED
        };
        let mut event = events::envelope(
            event_type,
            SOURCE,
            &after.order_id,
            &changed(&after, Some(current.as_str())),
        )
        .map_err(|e| Error::Internal(e.to_string()))?;
        event.correlation_id = Some(after.order_id.clone());
        outbox::enqueue(conn, channels::SHIPPING_EVENTS, &event)?;
        Ok(after)
    })?;
    outbox::relay_after_commit(&conn, SOURCE);
    Ok(shipment)
}
