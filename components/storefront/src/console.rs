//! The operator console at `/console`: products, stock, shipments, payments, dead letters,
//! recovery and the audit trail, as server-rendered pages over the admin API.
//!
//! The storefront decides nothing about roles: every page asks the API, and the gateway
//! enforces the admin role. A page whose own reads are open to customers (the product list,
//! a customer's own shipments and payments) first makes an admin-only read
//! ([`ADMIN_PROBE`]), so that a customer gets the console's 403 page instead of a console
//! view of their own data. Every change is a CSRF-checked POST (checked by `serve` in
//! `lib.rs` before this module runs) answered by a redirect (POST/redirect/GET).
//!
//! This module routes a page to its section's module (`products.rs`, `stock.rs`,
//! `shipments.rs`, `payments.rs`, `dead_letters.rs`, `audit.rs`) and holds what they share.

mod audit;
mod dead_letters;
mod model;
mod payments;
mod products;
mod route;
mod shipments;
mod stock;
mod views;

pub use route::{ConsolePage, route};
pub use views::CONSOLE_STYLESHEET;

use spin_sdk::http::{Method, Request, Response};

use crate::model::Listing;
use crate::route::{Paging, page_number, valid_id};
use crate::{FrontError, Visit, redirect};
use model::{AuditPage, Notice, PAGE_SIZE, param, query};

/// An admin-only read of one row: its answer says whether the visitor is an operator.
const ADMIN_PROBE: &str = "/api/v1/admin/audit?limit=1";
/// Audit entries on the console's home page.
const RECENT: u32 = 5;

/// Serves a console page; `form` is the POST's form, its CSRF token already checked.
pub async fn serve(
    req: &Request,
    page: &ConsolePage<'_>,
    visit: &mut Visit,
    form: &[(String, String)],
) -> Result<Response, FrontError> {
    if visit.session.is_none() {
        return Ok(redirect("/login"));
    }
    match dispatch(req.query(), page, visit, form).await {
        Err(FrontError::Api(403, _)) => Ok(visit.html(403, views::forbidden)),
        // A change the API judged wrong: what it said, and the way back to the form.
        Err(FrontError::Api(status @ (400 | 409 | 422), message)) if page.is_form_post() => {
            let back = back_from(page);
            Ok(visit.html(status, |c| views::refused(c, message.as_deref(), &back)))
        }
        other => other,
    }
}

/// The page a refused change goes back to.
fn back_from(page: &ConsolePage<'_>) -> String {
    use ConsolePage as C;
    match page {
        C::UpdateProduct { id } | C::RetireProduct { id } => format!("/console/products/{id}"),
        C::SetStock { .. } => "/console/stock".into(),
        C::SetShipmentStatus { id } => format!("/console/shipments/{id}"),
        C::Refund { id } => format!("/console/payments/{id}"),
        C::RetryDeadLetter { context, id } | C::DiscardDeadLetter { context, id } => {
            format!("/console/dead-letters/{context}/{id}")
        }
        C::Recovery { context } => format!("/console/dead-letters/{context}"),
        _ => "/console".into(),
    }
}

async fn require_admin(visit: &Visit) -> Result<(), FrontError> {
    let (status, body) = visit.api(Method::Get, ADMIN_PROBE, None).await?;
    match status {
        200 => Ok(()),
        status => Err(FrontError::Api(status, crate::model::error_message(&body))),
    }
}

/// A change through the API whose only good answer is `ok`; its body.
async fn change(
    visit: &Visit,
    method: Method,
    path: &str,
    body: Option<serde_json::Value>,
    ok: u16,
) -> Result<serde_json::Value, FrontError> {
    let (status, answer) = visit.api(method, path, body).await?;
    if status != ok {
        return Err(FrontError::Api(
            status,
            crate::model::error_message(&answer),
        ));
    }
    Ok(answer)
}

async fn dispatch(
    query_text: &str,
    page: &ConsolePage<'_>,
    visit: &Visit,
    form: &[(String, String)],
) -> Result<Response, FrontError> {
    use ConsolePage as C;
    let notice = Notice::from_query(query_text);
    match *page {
        C::Home => home(visit).await,
        C::Products => products::list(visit, query_text).await,
        C::NewProduct => products::blank(visit).await,
        C::CreateProduct => products::create(visit, form).await,
        C::Product { id } => products::show(visit, id, notice).await,
        C::UpdateProduct { id } => products::update(visit, id, form).await,
        C::RetireProduct { id } => products::retire(visit, id).await,
        C::Stock => stock::page(visit, page_number(query_text), notice).await,
        C::SetStock { product_id } => stock::set(visit, product_id, form).await,
        C::Shipments => shipments::list(visit, query_text).await,
        C::Shipment { id } => shipments::show(visit, id, notice).await,
        C::SetShipmentStatus { id } => shipments::set_status(visit, id, form).await,
        C::Payments => payments::list(visit, query_text).await,
        C::Payment { id } => payments::show(visit, id, notice).await,
        C::Refund { id } => payments::refund(visit, id).await,
        C::DeadLetterContexts => dead_letters::contexts(visit).await,
        C::DeadLetters { context } => dead_letters::list(visit, context, query_text, notice).await,
        C::DeadLetter { context, id } => dead_letters::show(visit, context, id, notice).await,
        C::RetryDeadLetter { context, id } => dead_letters::retry(visit, context, id).await,
        C::DiscardDeadLetter { context, id } => dead_letters::discard(visit, context, id).await,
        C::Recovery { context } => dead_letters::recover(visit, context).await,
        C::Audit => audit::page(visit, query_text).await,
    }
}

async fn home(visit: &Visit) -> Result<Response, FrontError> {
    let recent: AuditPage = visit
        .fetch(&format!("/api/v1/admin/audit?limit={RECENT}"), 200)
        .await?;
    Ok(visit.html(200, |c| views::home(c, &recent.items)))
}

/// What a find-or-list page of shipments or payments shows.
enum Found<T> {
    /// `?id=` named one: a redirect to its page.
    One(Response),
    /// A page of them, filtered by `?order_id=` (kept for the form), and its paging.
    Page(Listing<T>, String, Paging),
}

/// The shipments or payments page (`kind`, the API's collection): `?id=` jumps to one record;
/// otherwise a page of `/api/v1/<kind>?order_id=&page=&limit=`. Admins only.
async fn find_or_list<T: serde::de::DeserializeOwned>(
    visit: &Visit,
    query_text: &str,
    kind: &str,
) -> Result<Found<T>, FrontError> {
    require_admin(visit).await?;
    if let Some(id) = param(query_text, "id").filter(|id| valid_id(id)) {
        return Ok(Found::One(redirect(&format!("/console/{kind}/{id}"))));
    }
    let order_id = param(query_text, "order_id")
        .filter(|id| valid_id(id))
        .unwrap_or_default();
    let number = page_number(query_text);
    let (page_text, limit) = (number.to_string(), PAGE_SIZE.to_string());
    let api_query = query([
        ("order_id", order_id.as_str()),
        ("page", &page_text),
        ("limit", &limit),
    ]);
    let listing: Listing<T> = visit
        .fetch(&format!("/api/v1/{kind}?{api_query}"), 200)
        .await?;
    let paging = Paging::new(number, PAGE_SIZE, listing.total);
    Ok(Found::Page(listing, order_id, paging))
}
