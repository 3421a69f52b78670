//! The console's shipment pages: the list with its find form, and one shipment with its history
//! and the form that moves it on.

use maud::{Markup, html};

use super::super::model::{Notice, SHIPMENT_STATUSES, Shipment, next_shipment_status, query};
use super::{finder, frame, paging};
use crate::pages::{Chrome, csrf_input};
use crate::route::Paging;

pub fn shipments(
    chrome: &Chrome<'_>,
    shipments: &[Shipment],
    order_id: &str,
    page: Paging,
) -> Markup {
    frame(
        "Shipments",
        chrome,
        None,
        html! {
            h1 { "Shipments" }
            (finder("/console/shipments", "Shipment", "", order_id))
            @if shipments.is_empty() {
                p { "No shipments found." }
            } @else {
                table {
                    thead { tr { th scope="col" { "Shipment" } th scope="col" { "Order" } th scope="col" { "Status" } th scope="col" { "Carrier" } th scope="col" { "Created" } } }
                    tbody {
                        @for shipment in shipments {
                            tr {
                                td data-label="Shipment" { a href={ "/console/shipments/" (shipment.id) } { code { (shipment.id) } } }
                                td data-label="Order" { code { (shipment.order_id) } }
                                td data-label="Status" { strong.status data-status=(shipment.status) { (shipment.status) } }
                                td data-label="Carrier" { (shipment.carrier) " " (shipment.tracking_number) }
                                td data-label="Created" { (shipment.created_at) }
                            }
                        }
                    }
                }
            }
            (paging(page, |n| format!("/console/shipments?{}", query([("order_id", order_id), ("page", n.to_string().as_str())]))))
        },
    )
}

pub fn shipment(chrome: &Chrome<'_>, shipment: &Shipment, notice: Option<Notice>) -> Markup {
    let next = next_shipment_status(&shipment.status);
    frame(
        "Shipment",
        chrome,
        notice,
        html! {
            h1 { "Shipment " code { (shipment.id) } }
            dl.facts {
                dt { "Status" } dd { strong.status data-status=(shipment.status) { (shipment.status) } }
                dt { "Order" } dd { code { (shipment.order_id) } }
                dt { "Carrier" } dd { (shipment.carrier) }
                dt { "Tracking number" } dd { (shipment.tracking_number) }
                dt { "Items" } dd { (shipment.items) " (" (shipment.weight_grams) " g)" }
                dt { "Created" } dd { (shipment.created_at) }
                @if let Some(address) = &shipment.address {
                    dt { "To" } dd {
                        (address.name) ", " (address.line1) ", "
                        @if let Some(line2) = address.line2.as_deref().filter(|l| !l.is_empty()) { (line2) ", " }
                        (address.postal_code) " " (address.city) ", " (address.country)
                    }
                }
            }
            h2 { "History" }
            ol.timeline { @for entry in &shipment.history { li { time datetime=(entry.at) { (entry.at) } " — " (entry.status) } } }
            @if !matches!(shipment.status.as_str(), "delivered" | "cancelled") {
                h2 { "Change status" }
                form.inline-form method="post" action={ "/console/shipments/" (shipment.id) "/status" } {
                    (csrf_input(chrome))
                    label for="shipment-status" { "New status" }
                    select id="shipment-status" name="status" {
                        @for status in SHIPMENT_STATUSES {
                            option value=(status) selected[next == Some(status)] { (status) }
                        }
                    }
                    button type="submit" { "Change status" }
                }
                p { "A shipment moves created → picked → in_transit → delivered, and can be cancelled before it is picked up; the shipping service refuses any other move." }
            }
            p { a href="/console/shipments" { "All shipments" } }
        },
    )
}
