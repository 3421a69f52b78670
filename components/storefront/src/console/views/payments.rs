//! The console's payment pages: the list with its find form, and one payment with its
//! operations and the refund form.

use maud::{Markup, html};

use super::super::model::{Notice, Payment, query};
use super::{finder, frame, paging};
use crate::pages::{Chrome, csrf_input};
use crate::route::Paging;

pub fn payments(chrome: &Chrome<'_>, payments: &[Payment], order_id: &str, page: Paging) -> Markup {
    frame(
        "Payments",
        chrome,
        None,
        html! {
            h1 { "Payments" }
            (finder("/console/payments", "Payment", "", order_id))
            @if payments.is_empty() {
                p { "No payments found." }
            } @else {
                table {
                    thead { tr { th scope="col" { "Payment" } th scope="col" { "Order" } th scope="col" { "Status" } th scope="col" { "Amount" } th scope="col" { "Created" } } }
                    tbody {
                        @for payment in payments {
                            tr {
                                td data-label="Payment" { a href={ "/console/payments/" (payment.id) } { code { (payment.id) } } }
                                td data-label="Order" { code { (payment.order_id) } }
                                td data-label="Status" { strong.status data-status=(payment.status) { (payment.status) } }
                                td data-label="Amount" { (payment.amount.display()) }
                                td data-label="Created" { (payment.created_at) }
                            }
                        }
                    }
                }
            }
            (paging(page, |n| format!("/console/payments?{}", query([("order_id", order_id), ("page", n.to_string().as_str())]))))
        },
    )
}

pub fn payment(chrome: &Chrome<'_>, payment: &Payment, notice: Option<Notice>) -> Markup {
    frame(
        "Payment",
        chrome,
        notice,
        html! {
            h1 { "Payment " code { (payment.id) } }
            dl.facts {
                dt { "Status" } dd { strong.status data-status=(payment.status) { (payment.status) } }
                @if let Some(code) = &payment.failure_code { dt { "Failure" } dd { (code) } }
                dt { "Order" } dd { code { (payment.order_id) } }
                dt { "Customer" } dd { code { (payment.user_id) } }
                dt { "Amount" } dd { (payment.amount.display()) }
                dt { "Captured" } dd { (payment.money(payment.captured_amount).display()) }
                dt { "Refunded" } dd { (payment.money(payment.refunded_amount).display()) }
                dt { "Created" } dd { (payment.created_at) }
            }
            h2 { "Operations" }
            ol.timeline {
                @for operation in &payment.history {
                    li { time datetime=(operation.at) { (operation.at) } " — " (operation.operation) ": " (operation.outcome) }
                }
            }
            @if payment.refundable() {
                h2 { "Refund" }
                p { "Refunds the captured " (payment.money(payment.captured_amount).display()) " in full. Sending it twice refunds once." }
                form method="post" action={ "/console/payments/" (payment.id) "/refund" } {
                    (csrf_input(chrome))
                    button.danger type="submit" { "Refund payment" }
                }
            }
            p { a href="/console/payments" { "All payments" } }
        },
    )
}
