//! The console's stock page: the products on sale with their levels, the low ones marked, and a
//! form per row to set a level.

use maud::{Markup, html};

use super::super::model::{Notice, Stock};
use super::{frame, paging};
use crate::model::Product;
use crate::pages::{Chrome, csrf_input};
use crate::route::Paging;

/// One row of the stock page: a product on sale and its stock (`None`: the catalog keeps no
/// level for it).
pub struct StockRow<'a> {
    pub product: &'a Product,
    pub stock: Option<Stock>,
}

pub fn stock(
    chrome: &Chrome<'_>,
    rows: &[StockRow<'_>],
    page: Paging,
    notice: Option<Notice>,
) -> Markup {
    frame(
        "Stock",
        chrome,
        notice,
        html! {
            h1 { "Stock" }
            p id="low-means" {
                "Marked " strong.low-badge { "Low" } " when fewer units are available (on hand less reserved) than the product's low-stock threshold — the point at which the catalog sends its low-stock alert. "
                "New products start with a threshold of 5; 0 never alerts."
            }
            @if rows.is_empty() {
                p { "No products on this page." }
            } @else {
                table.stock {
                    thead { tr {
                        th scope="col" { "Product" } th scope="col" { "On hand" } th scope="col" { "Reserved" }
                        th scope="col" { "Available" } th scope="col" { "Threshold" } th scope="col" { "Set level" }
                    } }
                    tbody {
                        @for row in rows {
                            @let low = row.stock.as_ref().is_some_and(Stock::is_low);
                            tr class=[low.then_some("low")] {
                                td data-label="Product" {
                                    a href={ "/console/products/" (row.product.id) } { (row.product.name) }
                                    @if low { " " strong.low-badge aria-describedby="low-means" { "Low" } }
                                }
                                @if let Some(stock) = &row.stock {
                                    td data-label="On hand" { (stock.on_hand) }
                                    td data-label="Reserved" { (stock.reserved) }
                                    td data-label="Available" { (stock.available) }
                                    td data-label="Threshold" { (stock.low_stock_threshold) }
                                } @else {
                                    td colspan="4" { "No stock record" }
                                }
                                td data-label="Set level" {
                                    @let id = &row.product.id;
                                    form.inline-form method="post" action={ "/console/stock/" (id) } {
                                        (csrf_input(chrome))
                                        input type="hidden" name="page" value=(page.page);
                                        label for={ "on-hand-" (id) } { "On hand" span.visually-hidden { " of " (row.product.name) } }
                                        input id={ "on-hand-" (id) } name="on_hand" type="number" min="0" max="1000000" required
                                            value=[row.stock.as_ref().map(|s| s.on_hand)];
                                        label for={ "threshold-" (id) } { "Threshold" span.visually-hidden { " of " (row.product.name) } }
                                        input id={ "threshold-" (id) } name="low_stock_threshold" type="number" min="0" max="1000000"
                                            value=[row.stock.as_ref().map(|s| s.low_stock_threshold)];
                                        button type="submit" { "Set" span.visually-hidden { " stock of " (row.product.name) } }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            (paging(page, |n| format!("/console/stock?page={n}")))
        },
    )
}
