//! A shopper's orders: one order with its timeline (and its cancel while it can be), and the
//! list of them.

use maud::{Markup, html};

use super::{Chrome, csrf_input, document, layout};
use crate::model::{Order, OrderSummary, can_cancel, is_terminal, status_label};
use crate::route::Paging;

fn status_badge(status: &str) -> Markup {
    html! { strong.status data-status=(status) { (status_label(status)) } }
}

/// An order's page; `refusal` says why the shopper's cancel was refused, if it was.
pub fn order(chrome: &Chrome<'_>, order: &Order, refusal: Option<&str>) -> Markup {
    let moving = !is_terminal(&order.status);
    let address = &order.shipping_address;
    document(
        "Your order",
        chrome,
        moving,
        html! {
            h1 { "Order " code { (order.id) } }
            p role="status" {
                "Status: " (status_badge(&order.status))
                @if moving { " — this page updates itself until the order is settled." }
            }
            @if let Some(refusal) = refusal { p.error role="alert" { (refusal) } }
            @if let Some(reason) = &order.cancel_reason { p.error { "Reason: " (reason) } }
            @if can_cancel(&order.status) {
                form.cancel method="post" action={ "/orders/" (order.id) "/cancel" } {
                    (csrf_input(chrome))
                    button type="submit" { "Cancel order" }
                }
            }
            table {
                caption { "Placed " (order.created_at) }
                thead { tr { th scope="col" { "Product" } th scope="col" { "Quantity" } th scope="col" { "Price" } th scope="col" { "Total" } } }
                tbody {
                    @for line in &order.lines {
                        tr {
                            td { a href={ "/products/" (line.product_id) } { (line.name) } }
                            td { (line.quantity) }
                            td { (line.unit_price.display()) }
                            td { (line.line_total.display()) }
                        }
                    }
                }
            }
            dl.totals {
                dt { "Subtotal" } dd { (order.subtotal.display()) }
                dt { "Shipping" } dd { (order.shipping.display()) }
                dt { "Total" } dd { strong { (order.total.display()) } }
            }
            h2 { "Shipping to" }
            address {
                (address.name) br; (address.line1) br;
                @if let Some(line2) = address.line2.as_deref().filter(|l| !l.is_empty()) { (line2) br; }
                (address.postal_code) " " (address.city) br; (address.country)
            }
            h2 { "Timeline" }
            ol.timeline {
                @for entry in &order.timeline {
                    li {
                        time datetime=(entry.at) { (entry.at) } " — " (status_label(&entry.status))
                        @if !entry.note.is_empty() { ": " (entry.note) }
                    }
                }
            }
            p { a href="/orders" { "All your orders" } }
        },
    )
}

pub fn orders(chrome: &Chrome<'_>, orders: &[OrderSummary], paging: Paging) -> Markup {
    layout(
        "Your orders",
        chrome,
        html! {
            h1 { "Your orders" }
            @if orders.is_empty() {
                p { "No orders yet." }
            } @else {
                table {
                    thead { tr { th scope="col" { "Order" } th scope="col" { "Placed" } th scope="col" { "Status" } th scope="col" { "Total" } } }
                    tbody {
                        @for order in orders {
                            tr {
                                td { a href={ "/orders/" (order.id) } { code { (order.id) } } }
                                td { (order.created_at) }
                                td { (status_badge(&order.status)) }
                                td { (order.total.display()) }
                            }
                        }
                    }
                }
            }
            nav.paging aria-label="Pages" {
                @if let Some(previous) = paging.previous { a rel="prev" href={ "/orders?page=" (previous) } { "Previous" } }
                span { "Page " (paging.page) " of " (paging.pages) }
                @if let Some(next) = paging.next { a rel="next" href={ "/orders?page=" (next) } { "Next" } }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Money;
    use crate::pages::tests::{CHROME, csrf_fields, post_forms};

    fn order(status: &str, cancel_reason: Option<&str>) -> Order {
        let eur = |amount| Money {
            amount,
            currency: "EUR".into(),
        };
        Order {
            id: "o1".into(),
            status: status.into(),
            lines: vec![crate::model::OrderLine {
                product_id: "p1".into(),
                name: "Mug <b>".into(),
                unit_price: eur(500),
                quantity: 2,
                line_total: eur(1000),
            }],
            subtotal: eur(1000),
            shipping: eur(490),
            total: eur(1490),
            shipping_address: crate::model::Address {
                name: "Ada".into(),
                line1: "1 Way".into(),
                line2: None,
                city: "Berlin".into(),
                postal_code: "10115".into(),
                country: "DE".into(),
            },
            cancel_reason: cancel_reason.map(str::to_owned),
            created_at: "2026-01-01T00:00:00Z".into(),
            timeline: vec![crate::model::TimelineEntry {
                status: "pending".into(),
                note: "order placed".into(),
                at: "2026-01-01T00:00:00Z".into(),
            }],
        }
    }

    #[test]
    fn an_order_page_refreshes_until_the_order_is_settled() {
        let refresh = r#"<meta http-equiv="refresh" content="2">"#;
        let moving = super::order(&CHROME, &order("awaiting_payment", None), None).into_string();
        assert!(moving.contains(refresh), "{moving}");
        assert!(moving.contains(r#"data-status="awaiting_payment""#));
        assert!(moving.contains("Mug &lt;b&gt;") && moving.contains("14.90 EUR"));
        assert!(moving.contains("order placed"));
        let settled = super::order(
            &CHROME,
            &order("cancelled", Some("payment declined: card_declined")),
            None,
        )
        .into_string();
        assert!(!settled.contains("http-equiv"), "{settled}");
        assert!(settled.contains("payment declined: card_declined"));
        assert!(!settled.contains("<script") && !settled.contains("style="));
    }

    #[test]
    fn an_order_offers_its_cancel_only_while_it_can_be_cancelled() {
        let cancel = r#"action="/orders/o1/cancel""#;
        let waiting = super::order(&CHROME, &order("awaiting_payment", None), None).into_string();
        assert!(waiting.contains(cancel), "{waiting}");
        assert_eq!(post_forms(&waiting), csrf_fields(&waiting));
        for status in [
            "capturing_payment",
            "compensating",
            "confirmed",
            "cancelled",
        ] {
            let html = super::order(&CHROME, &order(status, None), None).into_string();
            assert!(!html.contains(cancel), "{status}");
        }
        let refused = super::order(
            &CHROME,
            &order("capturing_payment", None),
            Some("Too late <now>"),
        )
        .into_string();
        assert!(
            refused.contains(r#"<p class="error" role="alert">Too late &lt;now&gt;</p>"#),
            "{refused}"
        );
    }
}
