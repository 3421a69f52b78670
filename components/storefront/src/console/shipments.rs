//! The console's shipment pages: find or list shipments, one shipment, and moving it on.

use serde_json::json;
use spin_sdk::http::{Method, Response};

use super::model::{Notice, SHIPMENT_STATUSES, Shipment};
use super::{Found, change, find_or_list, require_admin, views};
use crate::{FrontError, Visit, field, redirect};

pub async fn list(visit: &Visit, query_text: &str) -> Result<Response, FrontError> {
    match find_or_list::<Shipment>(visit, query_text, "shipments").await? {
        Found::One(jump) => Ok(jump),
        Found::Page(listing, order_id, paging) => Ok(visit.html(200, |c| {
            views::shipments(c, &listing.items, &order_id, paging)
        })),
    }
}

pub async fn show(visit: &Visit, id: &str, notice: Option<Notice>) -> Result<Response, FrontError> {
    require_admin(visit).await?;
    let shipment: Shipment = visit.fetch(&format!("/api/v1/shipments/{id}"), 200).await?;
    Ok(visit.html(200, |c| views::shipment(c, &shipment, notice)))
}

pub async fn set_status(
    visit: &Visit,
    id: &str,
    form: &[(String, String)],
) -> Result<Response, FrontError> {
    let Some(status) = field(form, "status").filter(|s| SHIPMENT_STATUSES.contains(s)) else {
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
