//! The console's payment pages: find or list payments, one payment, and refunding it.

use spin_sdk::http::{Method, Response};

use super::model::{Notice, Payment};
use super::{Found, change, find_or_list, require_admin, views};
use crate::{FrontError, Visit, redirect};

pub async fn list(visit: &Visit, query_text: &str) -> Result<Response, FrontError> {
    match find_or_list::<Payment>(visit, query_text, "payments").await? {
        Found::One(jump) => Ok(jump),
        Found::Page(listing, order_id, paging) => Ok(visit.html(200, |c| {
            views::payments(c, &listing.items, &order_id, paging)
        })),
    }
}

pub async fn show(visit: &Visit, id: &str, notice: Option<Notice>) -> Result<Response, FrontError> {
    require_admin(visit).await?;
    let payment: Payment = visit.fetch(&format!("/api/v1/payments/{id}"), 200).await?;
    Ok(visit.html(200, |c| views::payment(c, &payment, notice)))
}

pub async fn refund(visit: &Visit, id: &str) -> Result<Response, FrontError> {
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
