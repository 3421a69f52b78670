//! Orders' use cases: the cart, checkout, reads, cancel — and the saga adapter that applies
//! `domain::saga`'s decisions: saga row, order status and timeline, and the commands and
//! events it emits, all in one transaction.

use serde_json::json;
use spin_sdk::sqlite3::Connection;
use wasmshop_kit::db::{DbError, transaction};
use wasmshop_kit::http::Page;
use wasmshop_kit::identity::Identity;
use wasmshop_kit::ids::{is_id, new_id, now_unix_millis};
use wasmshop_kit::messaging::Failure;
use wasmshop_kit::payloads::{
    AuthorizePayment, CreateShipment, OrderChanged, OrderCommand, ReserveStock, StockLine,
};
use wasmshop_kit::{Event, FieldError, Money, channels, events, outbox};

use crate::bindings::wasmshop::orders::types::{
    Cart, CartLine, CheckoutRequest, Error, LineInput, Order, OrderAccepted, OrderPage, OrderStatus,
};
use crate::domain::saga::{self, Command, Input, Refusal, Saga, Step};
use crate::domain::{self, PricedLine};
use crate::repo::{self, NewOrder, StoredOrder};
use crate::upstream;

pub const SOURCE: &str = "orders";

/// Logged in full for the operator; the caller learns only that the database failed.
impl From<DbError> for Error {
    fn from(e: DbError) -> Self {
        wasmshop_kit::trace::log("database", &e);
        Error::Internal("database error".into())
    }
}

fn open() -> Result<Connection, Error> {
    Ok(repo::open()?)
}

// ---------------------------------------------------------------------------------------------
// Cart
// ---------------------------------------------------------------------------------------------

/// The cart with today's prices from the catalog.
pub fn cart(identity: &Identity) -> Result<Cart, Error> {
    let lines = repo::cart(&open()?, &identity.user_id)?;
    let mut priced = Vec::new();
    let mut subtotal: Option<Money> = None;
    // A subtotal over mixed currencies, or beyond `i64`, would be a wrong number: none is shown.
    let mut unknown = false;
    for (product_id, quantity) in lines {
        let product = upstream::product(&product_id)?;
        let line_total = product.as_ref().and_then(|p| {
            let amount = domain::line_total(p.price.amount, quantity).ok();
            unknown |= amount.is_none();
            amount.map(|amount| Money {
                amount,
                currency: p.price.currency.clone(),
            })
        });
        if let Some(total) = &line_total {
            match &mut subtotal {
                None => subtotal = Some(total.clone()),
                Some(sum) if sum.currency == total.currency => {
                    match sum.amount.checked_add(total.amount) {
                        Some(amount) => sum.amount = amount,
                        None => unknown = true,
                    }
                }
                Some(_) => unknown = true,
            }
        }
        priced.push(CartLine {
            product_id,
            name: product.as_ref().map(|p| p.name.clone()),
            quantity,
            unit_price: product.as_ref().map(|p| p.price.clone()),
            line_total,
            available: product.is_some(),
        });
    }
    Ok(Cart {
        items: priced.iter().map(|l| l.quantity).sum(),
        lines: priced,
        subtotal: if unknown { None } else { subtotal },
    })
}

fn invalid(field: &str, message: &str) -> Error {
    Error::InvalidInput(vec![FieldError {
        field: field.into(),
        message: message.into(),
    }])
}

fn require_product(product_id: &str) -> Result<upstream::CatalogProduct, Error> {
    if !is_id(product_id) {
        return Err(invalid("product_id", "must be a product id"));
    }
    upstream::product(product_id)?.ok_or_else(|| invalid("product_id", "no such product for sale"))
}

pub fn add_to_cart(identity: &Identity, line: &LineInput) -> Result<Cart, Error> {
    require_product(&line.product_id)?;
    let conn = open()?;
    transaction(&conn, |conn| -> Result<(), Error> {
        let existing = repo::cart(conn, &identity.user_id)?
            .into_iter()
            .find(|(p, _)| *p == line.product_id)
            .map_or(0, |(_, q)| q);
        let quantity =
            domain::merged_quantity(existing, line.quantity).map_err(Error::InvalidInput)?;
        repo::set_cart_line(conn, &identity.user_id, &line.product_id, quantity)?;
        Ok(())
    })?;
    cart(identity)
}

pub fn set_quantity(identity: &Identity, product_id: &str, quantity: u32) -> Result<Cart, Error> {
    domain::validate_quantity(quantity, "quantity").map_err(Error::InvalidInput)?;
    let conn = open()?;
    transaction(&conn, |conn| -> Result<(), Error> {
        let present = repo::cart(conn, &identity.user_id)?
            .iter()
            .any(|(p, _)| p == product_id);
        if !present {
            return Err(Error::NotFound);
        }
        repo::set_cart_line(conn, &identity.user_id, product_id, quantity)?;
        Ok(())
    })?;
    cart(identity)
}

pub fn remove_from_cart(identity: &Identity, product_id: &str) -> Result<Cart, Error> {
    let conn = open()?;
    if !repo::remove_cart_line(&conn, &identity.user_id, product_id)? {
        return Err(Error::NotFound);
    }
    cart(identity)
}

pub fn clear_cart(identity: &Identity) -> Result<Cart, Error> {
    repo::clear_cart(&open()?, &identity.user_id)?;
    cart(identity)
}

// ---------------------------------------------------------------------------------------------
// Checkout
// ---------------------------------------------------------------------------------------------

/// Places an order (the saga takes it from there). The same key with the same request gives
/// the same order; with another request, `idempotency-key-reused`.
pub fn checkout(
    identity: &Identity,
    key: &str,
    request: &CheckoutRequest,
) -> Result<OrderAccepted, Error> {
    let key =
        &domain::validate_idempotency_key(Some(key)).map_err(|_| Error::IdempotencyKeyRequired)?;
    let explicit = domain::validate_checkout(request).map_err(Error::InvalidInput)?;
    let canonical = domain::canonical(request);
    let conn = open()?;
    if let Some(found) = replay(&conn, identity, key, &canonical)? {
        return Ok(found);
    }
    let from_cart = explicit.is_none();
    let wanted: Vec<LineInput> = match explicit {
        Some(lines) => lines,
        None => repo::cart(&conn, &identity.user_id)?
            .into_iter()
            .map(|(product_id, quantity)| LineInput {
                product_id,
                quantity,
            })
            .collect(),
    };
    if wanted.is_empty() {
        return Err(Error::EmptyCart);
    }
    let (lines, currency) = price_lines(&wanted)?;
    let weight = domain::total_weight(&lines);
    let shipping = upstream::shipping_quote(&request.shipping_address.country, weight)?;
    if shipping.currency != currency {
        return Err(invalid(
            "shipping_address.country",
            "shipping to this country is priced in another currency",
        ));
    }
    let totals = domain::totals(&lines, shipping.amount)?;
    let id = new_id();
    let created = transaction(&conn, |conn| -> Result<Option<OrderAccepted>, Error> {
        // Another request with the same key may have committed meanwhile.
        if let Some(found) = replay(conn, identity, key, &canonical)? {
            return Ok(Some(found));
        }
        repo::insert_order(
            conn,
            &NewOrder {
                id: &id,
                user_id: &identity.user_id,
                currency: &currency,
                totals: &totals,
                lines: &lines,
                address: &request.shipping_address,
                payment_token: request.payment_token.trim(),
                // The saga's later steps run from replies and ticks: the order keeps the
                // checkout's trace for every event it emits.
                traceparent: wasmshop_kit::trace::current().as_deref(),
            },
        )?;
        repo::remember(conn, &identity.user_id, key, &canonical, &id)?;
        if from_cart {
            take_from_cart(conn, &identity.user_id, &wanted)?;
        }
        let saga = Saga::start(now_unix_millis());
        repo::save_saga(conn, &id, &saga)?;
        let row = repo::order_row(conn, &id)?.ok_or_else(vanished)?;
        announce(conn, &row, channels::order::CREATED, None).map_err(failure_error)?;
        send(conn, &row, Command::Do(Step::ReserveStock), None).map_err(failure_error)?;
        Ok(None)
    })?;
    if let Some(found) = created {
        return Ok(found);
    }
    outbox::relay_after_commit(&conn, SOURCE);
    Ok(OrderAccepted {
        id,
        status: OrderStatus::Pending,
    })
}

/// Each wanted line at the catalog's current price, and the one currency they are priced in.
fn price_lines(wanted: &[LineInput]) -> Result<(Vec<PricedLine>, String), Error> {
    let mut lines: Vec<PricedLine> = Vec::new();
    let mut currency: Option<String> = None;
    for (i, line) in wanted.iter().enumerate() {
        let product = upstream::product(&line.product_id)?.ok_or_else(|| {
            invalid(
                &format!("lines[{i}].product_id"),
                "no such product for sale",
            )
        })?;
        match &currency {
            None => currency = Some(product.price.currency.clone()),
            Some(c) if *c != product.price.currency => {
                return Err(invalid(
                    "lines",
                    "all products of an order must be priced in one currency",
                ));
            }
            Some(_) => {}
        }
        lines.push(domain::price(
            &product.id,
            &product.name,
            product.price.amount,
            line.quantity,
            product.weight_grams,
        )?);
    }
    Ok((lines, currency.unwrap_or_else(|| "EUR".into())))
}

impl From<domain::AmountOutOfRange> for Error {
    fn from(_: domain::AmountOutOfRange) -> Self {
        Error::AmountOutOfRange
    }
}

fn vanished() -> Error {
    Error::Internal("order vanished".into())
}

/// Takes the ordered lines off the cart as it is now, not as checkout read it before pricing:
/// a line added or raised meanwhile stays for the next order.
fn take_from_cart(conn: &Connection, user_id: &str, ordered: &[LineInput]) -> Result<(), DbError> {
    let now = repo::cart(conn, user_id)?;
    let left = domain::cart_after_checkout(&now, ordered);
    for (product_id, quantity) in &now {
        match left.iter().find(|(p, _)| p == product_id) {
            Some((_, kept)) if kept == quantity => {}
            Some((_, kept)) => repo::set_cart_line(conn, user_id, product_id, *kept)?,
            None => {
                repo::remove_cart_line(conn, user_id, product_id)?;
            }
        }
    }
    Ok(())
}

fn replay(
    conn: &Connection,
    identity: &Identity,
    key: &str,
    canonical: &str,
) -> Result<Option<OrderAccepted>, Error> {
    let Some((request, order_id)) = repo::idempotency(conn, &identity.user_id, key)? else {
        return Ok(None);
    };
    if request != canonical {
        return Err(Error::IdempotencyKeyReused);
    }
    let row = repo::order_row(conn, &order_id)?.ok_or_else(vanished)?;
    Ok(Some(accepted(&row.order)))
}

fn accepted(order: &Order) -> OrderAccepted {
    OrderAccepted {
        id: order.id.clone(),
        status: order.status,
    }
}

fn failure_error(failure: Failure) -> Error {
    Error::Internal(failure.to_string())
}

// ---------------------------------------------------------------------------------------------
// Reads and cancel
// ---------------------------------------------------------------------------------------------

pub fn get(identity: &Identity, id: &str) -> Result<Order, Error> {
    repo::order(&open()?, id)?
        .map(|row| row.order)
        .filter(|o| identity.may_see(&o.user_id))
        .ok_or(Error::NotFound)
}

pub fn list(identity: &Identity, everyone: bool, page: Page) -> Result<OrderPage, Error> {
    let owner = (!(everyone && identity.is_admin())).then_some(identity.user_id.as_str());
    let (items, total) = repo::orders(&open()?, owner, page.limit, page.offset())?;
    Ok(OrderPage {
        items,
        total,
        page: page.page,
        limit: page.limit,
    })
}

pub fn cancel(identity: &Identity, id: &str) -> Result<OrderAccepted, Error> {
    let order = get(identity, id)?;
    let conn = open()?;
    let outcome = transaction(&conn, |conn| -> Result<Advance, Error> {
        advance(conn, &order.id, &Input::CustomerCancel, None).map_err(failure_error)
    })?;
    match outcome {
        Advance::Moved => {
            outbox::relay_after_commit(&conn, SOURCE);
            get(identity, id).map(|order| accepted(&order))
        }
        Advance::NotCancellable | Advance::Ignored => Err(Error::OrderNotCancellable(order.status)),
    }
}

// ---------------------------------------------------------------------------------------------
// The saga adapter
// ---------------------------------------------------------------------------------------------

#[derive(Debug, PartialEq, Eq)]
pub enum Advance {
    Moved,
    Ignored,
    NotCancellable,
}

/// Applies `input` to the saga of `order_id` inside the caller's transaction.
pub fn advance(
    conn: &Connection,
    order_id: &str,
    input: &Input,
    cause: Option<&Event>,
) -> Result<Advance, Failure> {
    let (Some(saga), Some(mut row)) = (
        repo::saga(conn, order_id)?,
        repo::order_row(conn, order_id)?,
    ) else {
        return Ok(Advance::Ignored);
    };
    let decision = match saga::decide(&saga, input, now_unix_millis()) {
        Ok(decision) => decision,
        Err(Refusal::Ignored) => return Ok(Advance::Ignored),
        Err(Refusal::NotCancellable) => return Ok(Advance::NotCancellable),
    };
    repo::save_saga(conn, order_id, &decision.saga)?;
    if let Some((status, note)) = &decision.status {
        let current = row.order.status;
        if !current.can_become(*status) {
            return Err(Failure::Permanent(format!(
                "saga of {order_id} would move the order from {} to {}",
                current.as_str(),
                status.as_str()
            )));
        }
        let reason =
            matches!(status, OrderStatus::Cancelled | OrderStatus::Failed).then_some(note.as_str());
        repo::set_status(conn, order_id, *status, note, reason)?;
        // What the row now holds, without reading it back.
        row.order.status = *status;
        if let Some(reason) = reason {
            row.order.cancel_reason = Some(reason.to_owned());
        }
        let event_type = match status {
            OrderStatus::Confirmed => Some(channels::order::CONFIRMED),
            OrderStatus::Cancelled => Some(channels::order::CANCELLED),
            OrderStatus::Failed => Some(channels::order::FAILED),
            _ => None,
        };
        if let Some(event_type) = event_type {
            announce(conn, &row, event_type, cause)?;
        }
    }
    for command in decision.send {
        send(conn, &row, command, cause)?;
    }
    Ok(Advance::Moved)
}

fn stamp(mut event: Event, row: &StoredOrder, cause: Option<&Event>) -> Event {
    event.correlation_id = Some(row.order.id.clone());
    event.causation_id = cause.map(|c| c.id.clone());
    event.trace = cause.and_then(|c| c.trace.clone());
    match &event.trace {
        Some(_) => event,
        None => events::with_trace(event, row.traceparent.as_deref()),
    }
}

fn announce(
    conn: &Connection,
    row: &StoredOrder,
    event_type: &str,
    cause: Option<&Event>,
) -> Result<(), Failure> {
    let payload = OrderChanged {
        order_id: row.order.id.clone(),
        user_id: row.order.user_id.clone(),
        status: row.order.status.as_str().to_owned(),
        total: row.order.total.clone(),
        reason: row.order.cancel_reason.clone(),
    };
    let event = stamp(
        events::envelope(event_type, SOURCE, &row.order.id, &payload)?,
        row,
        cause,
    );
    outbox::enqueue(conn, channels::ORDERS_EVENTS, &event)?;
    Ok(())
}

/// Enqueues `to_send` for the order of `row`: its channel and type are the saga's
/// ([`Command::route`]), its payload is filled in from the order.
fn send(
    conn: &Connection,
    row: &StoredOrder,
    to_send: Command,
    cause: Option<&Event>,
) -> Result<(), Failure> {
    let (channel, event_type) = to_send.route();
    let envelope = match to_send {
        Command::Do(Step::ReserveStock) => {
            let lines = repo::order_lines(conn, &row.order.id, &row.order.total.currency)?
                .iter()
                .map(|l| StockLine {
                    product_id: l.product_id.clone(),
                    quantity: l.quantity,
                })
                .collect();
            let payload = ReserveStock {
                order_id: row.order.id.clone(),
                lines,
            };
            events::envelope(event_type, SOURCE, &row.order.id, &payload)
        }
        Command::Do(Step::AuthorizePayment) => {
            let payload = AuthorizePayment {
                order_id: row.order.id.clone(),
                user_id: row.order.user_id.clone(),
                amount: row.order.total.clone(),
                payment_token: row.payment_token.clone(),
            };
            events::envelope(event_type, SOURCE, &row.order.id, &payload)
        }
        Command::Do(Step::CreateShipment) => {
            let payload = CreateShipment {
                order_id: row.order.id.clone(),
                user_id: row.order.user_id.clone(),
                address: row.order.shipping_address.clone(),
                weight_grams: row.weight_grams.max(1),
                items: row.items,
            };
            events::envelope(event_type, SOURCE, &row.order.id, &payload)
        }
        Command::Do(Step::CapturePayment)
        | Command::CapturePayment
        | Command::CommitStock
        | Command::Undo(_) => {
            let payload = OrderCommand {
                order_id: row.order.id.clone(),
                reason: row.order.cancel_reason.clone(),
            };
            events::envelope(event_type, SOURCE, &row.order.id, &payload)
        }
    };
    outbox::enqueue(conn, channel, &stamp(envelope?, row, cause))?;
    Ok(())
}

/// The recovery tick's share: every saga whose step is due moves on (resend, retry, give up).
pub fn tick(conn: &Connection) -> Result<serde_json::Value, Failure> {
    let due = repo::due_sagas(conn, now_unix_millis(), 200)?;
    let mut moved = 0;
    for order_id in &due {
        let outcome = transaction(conn, |conn| advance(conn, order_id, &Input::Tick, None));
        match outcome {
            Ok(Advance::Moved) => moved += 1,
            Ok(_) => {}
            Err(e) => {
                wasmshop_kit::trace::log(SOURCE, format_args!("tick of saga {order_id}: {e}"))
            }
        }
    }
    Ok(json!({ "due": due.len(), "moved": moved }))
}
