//! The catalog's use cases: domain rules + repository + outbox. Every state change and the
//! events announcing it are one `kit::db::transaction`; events are published after commit.
//! Both the HTTP adapter and the exported `api` call these.

use serde::Serialize;
use spin_sdk::sqlite3::Connection;
use wasmshop_kit::channels;
use wasmshop_kit::db::{DbError, transaction};
use wasmshop_kit::ids::{is_id, new_id, now_rfc3339};
use wasmshop_kit::payloads::{
    ProductChanged, StockLine, StockLow, StockReservation, StockReservationFailed,
};
use wasmshop_kit::{Event, Money, events, outbox};

use crate::bindings::wasmshop::catalog::types::{
    Category, CategoryInput, Error, Product, ProductInput, ProductPage, ProductQuery, Reservation,
    ReservationLine, ReservationStatus, Stock, StockInput,
};
use crate::domain::{self, Change, Level, Refusal, Transition, conflict};
use crate::repo;

const SOURCE: &str = "catalog";

impl From<DbError> for Error {
    fn from(e: DbError) -> Self {
        wasmshop_kit::trace::log("catalog", &e);
        Error::Internal("database error".into())
    }
}

fn open() -> Result<Connection, Error> {
    Ok(repo::open()?)
}

fn publish(conn: &Connection) {
    outbox::relay_after_commit(conn, SOURCE);
}

fn emit<T: Serialize>(
    conn: &Connection,
    event_type: &str,
    subject: &str,
    payload: &T,
) -> Result<(), Error> {
    let event = events::envelope(event_type, SOURCE, subject, payload)
        .map_err(|e| Error::Internal(format!("event {event_type}: {e}")))?;
    outbox::enqueue(conn, channels::CATALOG_EVENTS, &event)?;
    Ok(())
}

fn product_changed(product: &Product) -> ProductChanged {
    ProductChanged {
        product_id: product.id.clone(),
        sku: product.sku.clone(),
        name: product.name.clone(),
        price: product.price.clone(),
        active: product.active,
    }
}

fn stock_of(product_id: &str, level: &Level) -> Stock {
    Stock {
        product_id: product_id.to_owned(),
        on_hand: level.on_hand,
        reserved: level.reserved,
        available: level.available(),
        low_stock_threshold: level.threshold,
    }
}

/// `stock.low` for a product whose change deserves it.
fn emit_if_low(
    conn: &Connection,
    product_id: &str,
    before: &Level,
    after: &Level,
) -> Result<(), Error> {
    if domain::low_stock_alert(before, after) {
        emit(
            conn,
            channels::stock::LOW,
            product_id,
            &StockLow {
                product_id: product_id.to_owned(),
                available: after.available(),
                threshold: after.threshold,
            },
        )?;
    }
    Ok(())
}

fn save_changes(conn: &Connection, changes: &[Change]) -> Result<(), Error> {
    for change in changes {
        repo::save_level(conn, &change.product_id, &change.after)?;
    }
    Ok(())
}

/// The `stock.low` events a set of changes causes.
fn emit_low_stock(conn: &Connection, changes: &[Change]) -> Result<(), Error> {
    for change in changes {
        emit_if_low(conn, &change.product_id, &change.before, &change.after)?;
    }
    Ok(())
}

fn stock_reservation(reservation: &Reservation) -> StockReservation {
    StockReservation {
        order_id: reservation.order_id.clone(),
        lines: reservation
            .lines
            .iter()
            .map(|line| StockLine {
                product_id: line.product_id.clone(),
                quantity: line.quantity,
            })
            .collect(),
    }
}

fn check_category(conn: &Connection, category_id: Option<&str>) -> Result<(), Error> {
    match category_id {
        Some(id) if !repo::category_exists(conn, id)? => {
            Err(Error::InvalidInput(vec![wasmshop_kit::FieldError {
                field: "category_id".into(),
                message: "no such category".into(),
            }]))
        }
        _ => Ok(()),
    }
}

// ---------------------------------------------------------------------------------------------
// Products
// ---------------------------------------------------------------------------------------------

pub fn list_products(query: &ProductQuery) -> Result<ProductPage, Error> {
    let params = domain::list_params(query).map_err(Error::InvalidInput)?;
    let conn = open()?;
    let (items, total) = repo::list_products(&conn, &params)?;
    Ok(ProductPage {
        items,
        total,
        page: params.page.page,
        limit: params.page.limit,
    })
}

/// A product; an inactive one only when `include_inactive` (admins, trusted callers).
pub fn get_product(id: &str, include_inactive: bool) -> Result<Product, Error> {
    if !is_id(id) {
        return Err(Error::NotFound);
    }
    let conn = open()?;
    match repo::get_product(&conn, id)? {
        Some(product) if product.active || include_inactive => Ok(product),
        _ => Err(Error::NotFound),
    }
}

pub fn create_product(input: &ProductInput) -> Result<Product, Error> {
    let draft = domain::validate_product(input).map_err(Error::InvalidInput)?;
    let conn = open()?;
    let product = transaction(&conn, |conn| -> Result<Product, Error> {
        if repo::sku_owner(conn, &draft.sku)?.is_some() {
            return Err(Error::Conflict(conflict::SKU_TAKEN.into()));
        }
        check_category(conn, draft.category_id.as_deref())?;
        let now = now_rfc3339();
        let product = product_from(&draft, new_id(), true, now.clone(), now);
        repo::insert_product(
            conn,
            &product,
            &draft.search_text(),
            domain::DEFAULT_LOW_STOCK_THRESHOLD,
        )?;
        emit(
            conn,
            channels::product::CREATED,
            &product.id,
            &product_changed(&product),
        )?;
        Ok(product)
    })?;
    publish(&conn);
    Ok(product)
}

/// The product a validated draft describes; `active_by_default` applies when the input left
/// `active` out (true on create, the current state on update).
fn product_from(
    draft: &domain::ProductDraft,
    id: String,
    active_by_default: bool,
    created_at: String,
    updated_at: String,
) -> Product {
    Product {
        id,
        sku: draft.sku.clone(),
        name: draft.name.clone(),
        description: draft.description.clone(),
        price: Money {
            amount: draft.price_amount,
            currency: draft.currency.clone(),
        },
        category_id: draft.category_id.clone(),
        active: draft.active.unwrap_or(active_by_default),
        created_at,
        updated_at,
    }
}

/// Full replace; `active` left out keeps the product's current state.
pub fn update_product(id: &str, input: &ProductInput) -> Result<Product, Error> {
    if !is_id(id) {
        return Err(Error::NotFound);
    }
    let draft = domain::validate_product(input).map_err(Error::InvalidInput)?;
    let conn = open()?;
    let product = transaction(&conn, |conn| -> Result<Product, Error> {
        let existing = repo::get_product(conn, id)?.ok_or(Error::NotFound)?;
        if repo::sku_owner(conn, &draft.sku)?.is_some_and(|owner| owner != id) {
            return Err(Error::Conflict(conflict::SKU_TAKEN.into()));
        }
        check_category(conn, draft.category_id.as_deref())?;
        let product = product_from(
            &draft,
            existing.id,
            existing.active,
            existing.created_at,
            now_rfc3339(),
        );
        repo::update_product(conn, &product, &draft.search_text())?;
        emit(
            conn,
            channels::product::UPDATED,
            &product.id,
            &product_changed(&product),
        )?;
        Ok(product)
    })?;
    publish(&conn);
    Ok(product)
}

/// Soft delete: the product becomes inactive; deleting an inactive product changes nothing.
pub fn delete_product(id: &str) -> Result<(), Error> {
    if !is_id(id) {
        return Err(Error::NotFound);
    }
    let conn = open()?;
    let changed = transaction(&conn, |conn| -> Result<bool, Error> {
        let mut product = repo::get_product(conn, id)?.ok_or(Error::NotFound)?;
        if !product.active {
            return Ok(false);
        }
        product.active = false;
        product.updated_at = now_rfc3339();
        let search_text = domain::search_text(&product.name, &product.description, &product.sku);
        repo::update_product(conn, &product, &search_text)?;
        emit(
            conn,
            channels::product::UPDATED,
            &product.id,
            &product_changed(&product),
        )?;
        Ok(true)
    })?;
    if changed {
        publish(&conn);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Categories
// ---------------------------------------------------------------------------------------------

pub fn list_categories() -> Result<Vec<Category>, Error> {
    let conn = open()?;
    Ok(repo::list_categories(&conn)?)
}

pub fn create_category(input: &CategoryInput) -> Result<Category, Error> {
    let draft = domain::validate_category(input).map_err(Error::InvalidInput)?;
    let conn = open()?;
    transaction(&conn, |conn| -> Result<Category, Error> {
        if repo::category_key_taken(conn, &draft.key)? {
            return Err(Error::Conflict(conflict::CATEGORY_TAKEN.into()));
        }
        let id = new_id();
        repo::insert_category(conn, &id, &draft, &now_rfc3339())?;
        Ok(Category {
            id,
            name: draft.name.clone(),
            description: draft.description.clone(),
        })
    })
}

// ---------------------------------------------------------------------------------------------
// Stock
// ---------------------------------------------------------------------------------------------

pub fn get_stock(product_id: &str) -> Result<Stock, Error> {
    if !is_id(product_id) {
        return Err(Error::NotFound);
    }
    let conn = open()?;
    let level = repo::get_level(&conn, product_id)?.ok_or(Error::NotFound)?;
    Ok(stock_of(product_id, &level))
}

/// An admin's stock count; refused (conflict) below what is already reserved.
pub fn set_stock(product_id: &str, input: &StockInput) -> Result<Stock, Error> {
    if !is_id(product_id) {
        return Err(Error::NotFound);
    }
    let conn = open()?;
    let level = transaction(&conn, |conn| -> Result<Level, Error> {
        let before = repo::get_level(conn, product_id)?.ok_or(Error::NotFound)?;
        let after = before
            .set(input.on_hand, input.low_stock_threshold)
            .ok_or_else(|| Error::Conflict(conflict::BELOW_RESERVED.into()))?;
        repo::save_level(conn, product_id, &after)?;
        emit_if_low(conn, product_id, &before, &after)?;
        Ok(after)
    })?;
    publish(&conn);
    Ok(stock_of(product_id, &level))
}

// ---------------------------------------------------------------------------------------------
// Reservations
// ---------------------------------------------------------------------------------------------

/// What caused a reservation change, which decides how its events are stamped: a fact of the
/// HTTP API, or the reply to a saga command (same correlation id, caused by the command).
#[derive(Clone, Copy)]
pub enum Cause<'a> {
    Request,
    Command(&'a Event),
}

fn emit_for<T: Serialize>(
    conn: &Connection,
    cause: Cause<'_>,
    event_type: &str,
    order_id: &str,
    payload: &T,
) -> Result<(), Error> {
    let event = match cause {
        Cause::Request => events::envelope(event_type, SOURCE, order_id, payload),
        Cause::Command(command) => events::reply_to(command, event_type, SOURCE, order_id, payload),
    }
    .map_err(|e| Error::Internal(format!("event {event_type}: {e}")))?;
    outbox::enqueue(conn, channels::CATALOG_EVENTS, &event)?;
    Ok(())
}

/// What a reservation request came to inside its transaction.
pub enum Outcome {
    Created(Reservation),
    Existing(Reservation),
    Refused(Refusal),
}

/// Reserves every line or none, inside the caller's write transaction, and records the answer
/// as an event: `stock.reserved`, or `stock.reservation-failed` naming the short products. An
/// order that already has a reservation gets it back unchanged and its event again (a repeated
/// command is answered the same way); a released one — possibly a tombstone left by a release
/// that overtook its reserve — refuses.
pub fn reserve_in(
    conn: &Connection,
    cause: Cause<'_>,
    order_id: &str,
    lines: &[ReservationLine],
) -> Result<Outcome, Error> {
    let refuse = |refusal: Refusal| -> Result<Outcome, Error> {
        emit_for(
            conn,
            cause,
            channels::stock::RESERVATION_FAILED,
            order_id,
            &StockReservationFailed {
                order_id: order_id.to_owned(),
                reason: refusal.reason().to_owned(),
                short: refusal.products().to_vec(),
            },
        )?;
        Ok(Outcome::Refused(refusal))
    };
    if let Some(existing) = repo::get_reservation(conn, order_id)? {
        if existing.status == ReservationStatus::Released {
            return refuse(Refusal::Released);
        }
        if let Cause::Command(_) = cause {
            emit_for(
                conn,
                cause,
                channels::stock::RESERVED,
                order_id,
                &stock_reservation(&existing),
            )?;
        }
        return Ok(Outcome::Existing(existing));
    }
    let lines = domain::validate_reservation(order_id, lines).map_err(Error::InvalidInput)?;
    let ids: Vec<&str> = lines.iter().map(|l| l.product_id.as_str()).collect();
    let levels = repo::levels(conn, &ids, true)?;
    let changes = match domain::plan_reservation(&lines, &levels) {
        Ok(changes) => changes,
        Err(refusal) => return refuse(refusal),
    };
    save_changes(conn, &changes)?;
    let reservation = Reservation {
        order_id: order_id.to_owned(),
        lines,
        status: ReservationStatus::Reserved,
    };
    repo::insert_reservation(conn, &reservation, &now_rfc3339())?;
    emit_for(
        conn,
        cause,
        channels::stock::RESERVED,
        order_id,
        &stock_reservation(&reservation),
    )?;
    emit_low_stock(conn, &changes)?;
    Ok(Outcome::Created(reservation))
}

/// `POST /reservations` and the exported `reserve`: [`reserve_in`] in a transaction of its own
/// (`false`: the reservation existed already).
pub fn reserve(order_id: &str, lines: &[ReservationLine]) -> Result<(Reservation, bool), Error> {
    domain::validate_reservation(order_id, lines).map_err(Error::InvalidInput)?;
    let conn = open()?;
    let outcome = transaction(&conn, |conn| {
        reserve_in(conn, Cause::Request, order_id, lines)
    })?;
    publish(&conn);
    match outcome {
        Outcome::Existing(reservation) => Ok((reservation, false)),
        Outcome::Created(reservation) => Ok((reservation, true)),
        Outcome::Refused(Refusal::Short(ids)) => Err(Error::InsufficientStock(ids)),
        Outcome::Refused(Refusal::Unavailable(_)) => Err(Error::NotFound),
        Outcome::Refused(Refusal::Released) => {
            Err(Error::Conflict(domain::conflict::ALREADY_RELEASED.into()))
        }
    }
}

pub fn get_reservation(order_id: &str) -> Result<Reservation, Error> {
    if !is_id(order_id) {
        return Err(Error::NotFound);
    }
    let conn = open()?;
    repo::get_reservation(&conn, order_id)?.ok_or(Error::NotFound)
}

/// Releasing: reserved units become available again; idempotent.
pub fn release(order_id: &str) -> Result<Reservation, Error> {
    settle(order_id, Settlement::Release)
}

/// Reserved units leave on-hand stock; idempotent; a released reservation is a conflict.
pub fn commit(order_id: &str) -> Result<Reservation, Error> {
    settle(order_id, Settlement::Commit)
}

#[derive(Clone, Copy)]
pub enum Settlement {
    Release,
    Commit,
}

fn settle(order_id: &str, settlement: Settlement) -> Result<Reservation, Error> {
    if !is_id(order_id) {
        return Err(Error::NotFound);
    }
    let conn = open()?;
    let reservation = transaction(&conn, |conn| {
        settle_in(conn, Cause::Request, order_id, settlement)
    })?;
    publish(&conn);
    Ok(reservation)
}

/// Moves an order's reservation to released or committed inside the caller's transaction and
/// records the event. From the HTTP API an unknown order is not found and a repeat changes
/// nothing; a saga command is answered every time, and releasing an order with no reservation
/// leaves a released tombstone, so that a reserve command overtaken by its compensation can
/// never take stock afterwards.
pub fn settle_in(
    conn: &Connection,
    cause: Cause<'_>,
    order_id: &str,
    settlement: Settlement,
) -> Result<Reservation, Error> {
    let (transition, event_type): (fn(ReservationStatus) -> _, _) = match settlement {
        Settlement::Release => (domain::release_transition, channels::stock::RELEASED),
        Settlement::Commit => (domain::commit_transition, channels::stock::COMMITTED),
    };
    let existing = repo::get_reservation(conn, order_id)?;
    let mut reservation = match (existing, settlement, cause) {
        (Some(reservation), _, _) => reservation,
        (None, Settlement::Release, Cause::Command(_)) => {
            let tombstone = Reservation {
                order_id: order_id.to_owned(),
                lines: Vec::new(),
                status: ReservationStatus::Released,
            };
            repo::insert_reservation(conn, &tombstone, &now_rfc3339())?;
            emit_for(
                conn,
                cause,
                event_type,
                order_id,
                &stock_reservation(&tombstone),
            )?;
            return Ok(tombstone);
        }
        (None, _, _) => return Err(Error::NotFound),
    };
    let to = match transition(reservation.status).map_err(|code| Error::Conflict(code.into()))? {
        Transition::Unchanged => {
            if let Cause::Command(_) = cause {
                emit_for(
                    conn,
                    cause,
                    event_type,
                    order_id,
                    &stock_reservation(&reservation),
                )?;
            }
            return Ok(reservation);
        }
        Transition::To(to) => to,
    };
    let ids: Vec<&str> = reservation
        .lines
        .iter()
        .map(|l| l.product_id.as_str())
        .collect();
    let levels = repo::levels(conn, &ids, false)?;
    let changes = domain::settle(&reservation.lines, &levels, to).map_err(|product_id| {
        Error::Internal(format!(
            "stock of {product_id} does not hold order {order_id}"
        ))
    })?;
    save_changes(conn, &changes)?;
    repo::set_reservation_status(conn, order_id, to, &now_rfc3339())?;
    reservation.status = to;
    emit_for(
        conn,
        cause,
        event_type,
        order_id,
        &stock_reservation(&reservation),
    )?;
    emit_low_stock(conn, &changes)?;
    Ok(reservation)
}
