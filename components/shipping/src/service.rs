//! Shipping's use cases. Saga commands run inside the messaging transaction and answer on
//! `shipping.events` in that same transaction; a repeated command is answered with its first
//! result. Status changes by an operator are announced as `shipment.status-changed`.

use serde::Serialize;
use spin_sdk::sqlite3::Connection;
use wasmshop_kit::channels;
use wasmshop_kit::db::transaction;
use wasmshop_kit::error::ApiError;
use wasmshop_kit::http::Page;
use wasmshop_kit::identity::Identity;
use wasmshop_kit::ids::new_id;
use wasmshop_kit::messaging::Failure;
use wasmshop_kit::payloads::{CreateShipment, OrderCommand, ShipmentChanged, ShipmentFailed};
use wasmshop_kit::{Event, Money, events, outbox};

use crate::domain::{self, Status};
use crate::repo::{self, NewShipment, Shipment};

pub const SOURCE: &str = "shipping";

fn changed(shipment: &Shipment, previous: Option<&str>) -> ShipmentChanged {
    ShipmentChanged {
        shipment_id: shipment.id.clone(),
        order_id: shipment.order_id.clone(),
        user_id: shipment.user_id.clone(),
        tracking_number: shipment.tracking_number.clone(),
        status: shipment.status.clone(),
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
        return match existing.status()? {
            Status::Cancelled => refuse(
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
            status: Status::Created,
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
                status: Status::Cancelled,
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
    let status = shipment.status()?;
    if status == Status::Cancelled {
        return reply(
            conn,
            command,
            channels::shipment::CANCELLED,
            &shipment.order_id,
            &changed(&shipment, None),
        );
    }
    if !status.can_become(Status::Cancelled) {
        return refuse(
            conn,
            command,
            &shipment.order_id,
            &shipment.user_id,
            "already picked",
        );
    }
    repo::set_status(conn, &shipment.id, Status::Cancelled)?;
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
// HTTP use cases
// ---------------------------------------------------------------------------------------------

/// A quote as both doors show it: the rate table's answer with its currency and service.
#[derive(Debug, Serialize)]
pub struct QuoteView {
    pub country: String,
    pub weight_grams: u32,
    pub service: &'static str,
    pub amount: Money,
    pub estimated_days: u32,
}

pub fn quote(country: &str, weight_grams: u32) -> Result<QuoteView, ApiError> {
    let quote =
        domain::quote(country, weight_grams).map_err(|errors| ApiError::invalid_input(&errors))?;
    Ok(QuoteView {
        country: quote.country,
        weight_grams: quote.weight_grams,
        service: "standard",
        amount: Money {
            amount: quote.amount,
            currency: domain::CURRENCY.into(),
        },
        estimated_days: quote.estimated_days,
    })
}

pub fn get(identity: &Identity, id: &str) -> Result<Shipment, ApiError> {
    let conn = repo::open().map_err(ApiError::from)?;
    repo::by_id(&conn, id)
        .map_err(ApiError::from)?
        .filter(|s| identity.may_see(&s.user_id))
        .ok_or_else(|| ApiError::not_found("no such shipment"))
}

pub fn list(
    identity: &Identity,
    order_id: Option<&str>,
    page: Page,
) -> Result<serde_json::Value, ApiError> {
    let conn = repo::open().map_err(ApiError::from)?;
    let (items, total) = repo::list(
        &conn,
        identity.owner_scope(),
        order_id,
        page.limit,
        page.offset(),
    )
    .map_err(ApiError::from)?;
    Ok(page.wrap(&items, total))
}

/// An operator moves a shipment on (or cancels it before pickup); the change is announced.
pub fn set_status(id: &str, next: Status) -> Result<Shipment, ApiError> {
    let conn = repo::open().map_err(ApiError::from)?;
    let shipment = transaction(&conn, |conn| -> Result<Shipment, ApiError> {
        let shipment = repo::by_id(conn, id)
            .map_err(ApiError::from)?
            .ok_or_else(|| ApiError::not_found("no such shipment"))?;
        let current = shipment.status().map_err(ApiError::from)?;
        if !current.can_become(next) {
            return Err(ApiError::conflict(
                "illegal_transition",
                format!(
                    "a {} shipment cannot become {}",
                    current.as_str(),
                    next.as_str()
                ),
            ));
        }
        repo::set_status(conn, id, next).map_err(ApiError::from)?;
        let after = repo::by_id(conn, id)
            .map_err(ApiError::from)?
            .ok_or_else(|| ApiError::not_found("no such shipment"))?;
        let event_type = if next == Status::Cancelled {
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
        .map_err(|e| ApiError::internal(e.to_string()))?;
        event.correlation_id = Some(after.order_id.clone());
        outbox::enqueue(conn, channels::SHIPPING_EVENTS, &event).map_err(ApiError::from)?;
        Ok(after)
    })?;
    outbox::relay_after_commit(&conn, SOURCE);
    Ok(shipment)
}
