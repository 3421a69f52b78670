//! The operator console at `/console`: products, stock, shipments, payments, dead letters,
//! recovery and the audit trail, as server-rendered pages over the admin API.
//!
//! The storefront decides nothing about roles: every page asks the API, and the gateway
//! enforces the admin role. A page whose own reads are open to customers (the product list,
//! a customer's own shipments and payments) first makes an admin-only read
//! ([`ADMIN_PROBE`]), so that a customer gets the console's 403 page instead of a console
//! view of their own data. Every change is a CSRF-checked POST (checked by `serve` in
//! `lib.rs` before this module runs) answered by a redirect (POST/redirect/GET).

mod model;
mod route;
mod views;

pub use route::{ConsolePage, route};
pub use views::CONSOLE_STYLESHEET;

use serde_json::json;
use spin_sdk::http::{Method, Request, Response};

use crate::model::{Category, Listing, ProductPage};
use crate::route::{Paging, page_number, page_value, valid_id};
use crate::{FrontError, Visit, expect, field, redirect};
use model::{
    AuditFilter, AuditPage, CatalogProduct, Created, DEAD_LETTER_STATUSES, DeadLetter,
    DeadLetterList, Notice, PAGE_SIZE, Payment, ProductForm, RecoveryReport, SHIPMENT_STATUSES,
    Shipment, Stock, param, product_field_errors, query, stock_body,
};
use views::{ProductEditor, StockRow};

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
        C::Home => {
            let recent: AuditPage = visit
                .fetch(&format!("/api/v1/admin/audit?limit={RECENT}"), 200)
                .await?;
            Ok(visit.html(200, |c| views::home(c, &recent.items)))
        }
        C::Products => {
            require_admin(visit).await?;
            let number = page_number(query_text);
            let listing: ProductPage = visit
                .fetch(
                    &format!("/api/v1/products?sort=name-asc&page={number}&limit={PAGE_SIZE}"),
                    200,
                )
                .await?;
            let categories: Vec<Category> = visit.fetch("/api/v1/categories", 200).await?;
            let paging = Paging::new(number, PAGE_SIZE, listing.total);
            Ok(visit.html(200, |c| {
                views::products(c, &listing.items, &categories, paging)
            }))
        }
        C::NewProduct => {
            require_admin(visit).await?;
            let categories: Vec<Category> = visit.fetch("/api/v1/categories", 200).await?;
            let form = ProductForm::default();
            Ok(editor(
                visit,
                200,
                &ProductEditor {
                    product: None,
                    form: &form,
                    categories: &categories,
                    errors: &[],
                    problem: None,
                    notice: None,
                },
            ))
        }
        C::CreateProduct => {
            let typed = ProductForm::from_fields(|name| field(form, name));
            save_product(visit, None, typed).await
        }
        C::Product { id } => {
            require_admin(visit).await?;
            let product: CatalogProduct =
                visit.fetch(&format!("/api/v1/products/{id}"), 200).await?;
            let categories: Vec<Category> = visit.fetch("/api/v1/categories", 200).await?;
            let form = ProductForm::of(&product);
            Ok(editor(
                visit,
                200,
                &ProductEditor {
                    product: Some(&product),
                    form: &form,
                    categories: &categories,
                    errors: &[],
                    problem: None,
                    notice,
                },
            ))
        }
        C::UpdateProduct { id } => {
            require_admin(visit).await?;
            // The SKU is the stored one: the form does not carry it.
            let product: CatalogProduct =
                visit.fetch(&format!("/api/v1/products/{id}"), 200).await?;
            let typed = ProductForm::from_fields(|name| field(form, name));
            save_product(visit, Some(&product), typed).await
        }
        C::RetireProduct { id } => {
            change(
                visit,
                Method::Delete,
                &format!("/api/v1/products/{id}"),
                None,
                204,
            )
            .await?;
            Ok(redirect(&format!(
                "/console/products/{id}?{}",
                Notice::Retired.query()
            )))
        }
        C::Stock => stock(visit, page_number(query_text), notice).await,
        C::SetStock { product_id } => {
            let body = stock_body(field(form, "on_hand"), field(form, "low_stock_threshold"))
                .map_err(|message| FrontError::Api(422, Some(message)))?;
            change(
                visit,
                Method::Put,
                &format!("/api/v1/inventory/{product_id}"),
                Some(body),
                200,
            )
            .await?;
            let number = page_value(field(form, "page").unwrap_or(""));
            Ok(redirect(&format!(
                "/console/stock?page={number}&{}",
                Notice::StockSet.query()
            )))
        }
        C::Shipments => match find_or_list::<Shipment>(visit, query_text, "shipments").await? {
            Found::One(jump) => Ok(jump),
            Found::Page(listing, order_id, paging) => Ok(visit.html(200, |c| {
                views::shipments(c, &listing.items, &order_id, paging)
            })),
        },
        C::Shipment { id } => {
            require_admin(visit).await?;
            let shipment: Shipment = visit.fetch(&format!("/api/v1/shipments/{id}"), 200).await?;
            Ok(visit.html(200, |c| views::shipment(c, &shipment, notice)))
        }
        C::SetShipmentStatus { id } => {
            let Some(status) = field(form, "status").filter(|s| SHIPMENT_STATUSES.contains(s))
            else {
                return Err(FrontError::Api(
                    422,
                    Some(format!("Choose one of: {}.", SHIPMENT_STATUSES.join(", "))),
                ));
            };
            change(
                visit,
                Method::Post,
                &format!("/api/v1/shipments/{id}/status"),
                Some(json!({ "status": status })),
                200,
            )
            .await?;
            Ok(redirect(&format!(
                "/console/shipments/{id}?{}",
                Notice::StatusChanged.query()
            )))
        }
        C::Payments => match find_or_list::<Payment>(visit, query_text, "payments").await? {
            Found::One(jump) => Ok(jump),
            Found::Page(listing, order_id, paging) => Ok(visit.html(200, |c| {
                views::payments(c, &listing.items, &order_id, paging)
            })),
        },
        C::Payment { id } => {
            require_admin(visit).await?;
            let payment: Payment = visit.fetch(&format!("/api/v1/payments/{id}"), 200).await?;
            Ok(visit.html(200, |c| views::payment(c, &payment, notice)))
        }
        C::Refund { id } => {
            change(
                visit,
                Method::Post,
                &format!("/api/v1/admin/payments/payments/{id}/refund"),
                None,
                200,
            )
            .await?;
            Ok(redirect(&format!(
                "/console/payments/{id}?{}",
                Notice::Refunded.query()
            )))
        }
        C::DeadLetterContexts => {
            require_admin(visit).await?;
            Ok(visit.html(200, views::dead_letter_contexts))
        }
        C::DeadLetters { context } => {
            let status = param(query_text, "status")
                .and_then(|s| DEAD_LETTER_STATUSES.into_iter().find(|known| *known == s));
            let filter = query([("status", status.unwrap_or(""))]);
            let letters: DeadLetterList = visit
                .fetch(
                    &format!("/api/v1/admin/{context}/dead-letters?{filter}"),
                    200,
                )
                .await?;
            Ok(visit.html(200, |c| {
                views::dead_letters(c, context, &letters.items, status, notice)
            }))
        }
        C::DeadLetter { context, id } => {
            let letter: DeadLetter = visit
                .fetch(&format!("/api/v1/admin/{context}/dead-letters/{id}"), 200)
                .await?;
            Ok(visit.html(200, |c| views::dead_letter(c, context, &letter, notice)))
        }
        C::RetryDeadLetter { context, id } => {
            let path = format!("/api/v1/admin/{context}/dead-letters/{id}");
            change(visit, Method::Post, &format!("{path}/retry"), None, 200).await?;
            Ok(redirect(&format!(
                "/console/dead-letters/{context}/{id}?{}",
                Notice::Retried.query()
            )))
        }
        C::DiscardDeadLetter { context, id } => {
            let path = format!("/api/v1/admin/{context}/dead-letters/{id}");
            change(visit, Method::Delete, &path, None, 200).await?;
            Ok(redirect(&format!(
                "/console/dead-letters/{context}/{id}?{}",
                Notice::Discarded.query()
            )))
        }
        C::Recovery { context } => {
            let answer = change(
                visit,
                Method::Post,
                &format!("/api/v1/admin/{context}/recovery"),
                None,
                200,
            )
            .await?;
            let report: RecoveryReport = expect(200, 200, answer)?;
            Ok(redirect(&format!(
                "/console/dead-letters/{context}?{}",
                Notice::Recovered(report).query()
            )))
        }
        C::Audit => audit(visit, query_text).await,
    }
}

/// Creates (`existing` is `None`) or replaces a product from the typed form: the product's
/// page after it, or the form again with what to correct.
async fn save_product(
    visit: &Visit,
    existing: Option<&CatalogProduct>,
    typed: ProductForm,
) -> Result<Response, FrontError> {
    let sku = existing.map_or(typed.sku.as_str(), |product| product.sku.as_str());
    let (status, errors, answer) = match typed.body(sku) {
        Err(errors) => (422, errors, serde_json::Value::Null),
        Ok(body) => {
            let (method, path, ok, notice) = match existing {
                Some(product) => (
                    Method::Put,
                    format!("/api/v1/products/{}", product.id),
                    200,
                    Notice::Saved,
                ),
                None => (
                    Method::Post,
                    "/api/v1/products".to_owned(),
                    201,
                    Notice::Created,
                ),
            };
            let (status, answer) = visit.api(method, &path, Some(body)).await?;
            if status == ok {
                let saved: Created = expect(ok, ok, answer)?;
                if !valid_id(&saved.id) {
                    return Err(FrontError::Unreachable("unexpected product id".into()));
                }
                return Ok(redirect(&format!(
                    "/console/products/{}?{}",
                    saved.id,
                    notice.query()
                )));
            }
            if !matches!(status, 400 | 409 | 422) {
                return Err(FrontError::Api(
                    status,
                    crate::model::error_message(&answer),
                ));
            }
            (status, product_field_errors(&answer), answer)
        }
    };
    // A refusal naming no field (a SKU taken) is said above the form.
    let problem = errors
        .is_empty()
        .then(|| crate::model::error_message(&answer))
        .flatten();
    let categories: Vec<Category> = visit.fetch("/api/v1/categories", 200).await?;
    Ok(editor(
        visit,
        status,
        &ProductEditor {
            product: existing,
            form: &typed,
            categories: &categories,
            errors: &errors,
            problem: problem.as_deref(),
            notice: None,
        },
    ))
}

fn editor(visit: &Visit, status: u16, editor: &ProductEditor<'_>) -> Response {
    visit.html(status, |c| views::product_editor(c, editor))
}

/// The products on sale of page `number`, each with its stock.
async fn stock(visit: &Visit, number: u32, notice: Option<Notice>) -> Result<Response, FrontError> {
    require_admin(visit).await?;
    let listing: ProductPage = visit
        .fetch(
            &format!("/api/v1/products?sort=name-asc&page={number}&limit={PAGE_SIZE}"),
            200,
        )
        .await?;
    let mut rows = Vec::with_capacity(listing.items.len());
    for product in &listing.items {
        let (status, body) = visit
            .api(
                Method::Get,
                &format!("/api/v1/inventory/{}", product.id),
                None,
            )
            .await?;
        let stock: Option<Stock> = match status {
            200 => Some(expect(200, 200, body)?),
            404 => None,
            status => return Err(FrontError::Api(status, crate::model::error_message(&body))),
        };
        rows.push(StockRow { product, stock });
    }
    let paging = Paging::new(number, PAGE_SIZE, listing.total);
    Ok(visit.html(200, |c| views::stock(c, &rows, paging, notice)))
}

async fn audit(visit: &Visit, query_text: &str) -> Result<Response, FrontError> {
    let filter = AuditFilter::from_query(query_text);
    let (status, body) = visit
        .api(
            Method::Get,
            &format!("/api/v1/admin/audit?{}", filter.api_query()),
            None,
        )
        .await?;
    match status {
        200 => {
            let entries: AuditPage = expect(200, 200, body)?;
            let paging = Paging::new(filter.page, PAGE_SIZE, entries.total);
            Ok(visit.html(200, |c| {
                views::audit(c, &filter, &entries.items, paging, None)
            }))
        }
        // The filters did not suit the API (a `since` that is no time): the form again.
        400 | 422 => {
            let problem = crate::model::error_message(&body)
                .unwrap_or_else(|| "Check the filters and try again.".into());
            let paging = Paging::new(1, PAGE_SIZE, 0);
            Ok(visit.html(422, |c| {
                views::audit(c, &filter, &[], paging, Some(&problem))
            }))
        }
        status => Err(FrontError::Api(status, crate::model::error_message(&body))),
    }
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
