//! The console's stock page: the products on sale with their stock levels, and setting a level.

use spin_sdk::http::{Method, Response};

use super::model::{Notice, PAGE_SIZE, Stock, stock_body};
use super::views::{self, StockRow};
use super::{change, require_admin};
use crate::model::ProductPage;
use crate::route::{Paging, page_value};
use crate::{FrontError, Visit, expect, field, redirect};

/// The products on sale of page `number`, each with its stock.
pub async fn page(
    visit: &Visit,
    number: u32,
    notice: Option<Notice>,
) -> Result<Response, FrontError> {
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

/// Sets a product's stock level, then shows the page of the list the form was on.
pub async fn set(
    visit: &Visit,
    product_id: &str,
    form: &[(String, String)],
) -> Result<Response, FrontError> {
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
