//! The console's HTML, inside the shop's own page frame ([`pages::layout`]) with the console's
//! stylesheet and navigation added. No script and no inline style, as everywhere.
//!
//! This module holds the frame and what every section shares; each section's pages are in
//! its own module (`products.rs`, `stock.rs`, `shipments.rs`, `payments.rs`,
//! `dead_letters.rs`, `audit.rs`).

mod audit;
mod dead_letters;
mod payments;
mod products;
mod shipments;
mod stock;

pub use audit::audit;
pub use dead_letters::{dead_letter, dead_letter_contexts, dead_letters};
pub use payments::{payment, payments};
pub use products::{ProductEditor, product_editor, products};
pub use shipments::{shipment, shipments};
pub use stock::{StockRow, stock};

use maud::{Markup, html};

use super::model::{AuditEntry, Notice};
use crate::pages::{self, Chrome};
use crate::route::{Asset, Paging};

/// The console's stylesheet, on top of the shop's; linked from console pages only.
pub const CONSOLE_STYLESHEET: Asset = Asset {
    name: "console-v1.css",
    content_type: "text/css; charset=utf-8",
};

const SECTIONS: [(&str, &str, &str); 6] = [
    (
        "/console/products",
        "Products",
        "Create products, change names, prices and categories, withdraw them from sale.",
    ),
    (
        "/console/stock",
        "Stock",
        "Stock levels of the products on sale, the low ones marked; set a level.",
    ),
    (
        "/console/shipments",
        "Shipments",
        "Find shipments and move them on: picked, in transit, delivered.",
    ),
    (
        "/console/payments",
        "Payments",
        "Find payments and refund captured ones.",
    ),
    (
        "/console/dead-letters",
        "Dead letters & recovery",
        "Messages a context could not apply: inspect, retry, discard; run a recovery pass.",
    ),
    (
        "/console/audit",
        "Audit trail",
        "Who did what and when: logins and every admin change.",
    ),
];

/// A console page: the shop's frame, the console's stylesheet (a body-ok `<link>`, so that the
/// shop's `<head>` stays the shop's) and navigation, the notice of a change just made.
fn frame(title: &str, chrome: &Chrome<'_>, notice: Option<Notice>, content: Markup) -> Markup {
    pages::layout(
        title,
        chrome,
        html! {
            link rel="stylesheet" href=(CONSOLE_STYLESHEET.path());
            nav.console-nav aria-label="Console" {
                ul {
                    li { a href="/console" { "Console" } }
                    @for (href, name, _) in SECTIONS { li { a href=(href) { (name) } } }
                }
            }
            @if let Some(notice) = notice { p.notice role="status" { (notice.message()) } }
            (content)
        },
    )
}

fn paging(paging: Paging, link: impl Fn(u32) -> String) -> Markup {
    html! {
        nav.paging aria-label="Pages" {
            @if let Some(previous) = paging.previous { a rel="prev" href=(link(previous)) { "Previous" } }
            span { "Page " (paging.page) " of " (paging.pages) }
            @if let Some(next) = paging.next { a rel="next" href=(link(next)) { "Next" } }
        }
    }
}

fn problem(text: Option<&str>) -> Markup {
    html! { @if let Some(text) = text { p.error role="alert" { (text) } } }
}

pub fn home(chrome: &Chrome<'_>, recent: &[AuditEntry]) -> Markup {
    frame(
        "Console",
        chrome,
        None,
        html! {
            h1 { "Operator console" }
            ul.sections {
                @for (href, name, what) in SECTIONS {
                    li { a href=(href) { (name) } p { (what) } }
                }
            }
            section aria-labelledby="recent" {
                h2 id="recent" { "Latest activity" }
                (audit::table(recent))
                p { a href="/console/audit" { "The whole audit trail" } }
            }
        },
    )
}

/// Who is a customer but not an operator: the API refused them.
pub fn forbidden(chrome: &Chrome<'_>) -> Markup {
    pages::layout(
        "Operators only",
        chrome,
        html! {
            h1 { "Operators only" }
            p { "This console is for the shop's operators, and your account is not one." }
            p { "If you should have access, ask an administrator; otherwise, happy shopping." }
            p { a href="/" { "Back to the shop" } }
        },
    )
}

/// A change the API refused (a conflict, a value out of range): what it said, and the way back.
pub fn refused(chrome: &Chrome<'_>, message: Option<&str>, back: &str) -> Markup {
    frame(
        "Change refused",
        chrome,
        None,
        html! {
            h1 { "Change refused" }
            p.error role="alert" { (message.unwrap_or("The shop refused this change.")) }
            p { a href=(back) { "Back" } }
        },
    )
}

/// The find form of shipments and payments: by its own id or by order.
fn finder(action: &str, what: &str, id: &str, order_id: &str) -> Markup {
    html! {
        form.filters method="get" action=(action) role="search" aria-label={ "Find " (what) } {
            div { label for="find-id" { (what) " id" } input id="find-id" name="id" type="text" value=(id) maxlength="128"; }
            div { label for="find-order" { "Order id" } input id="find-order" name="order_id" type="text" value=(order_id) maxlength="128"; }
            button type="submit" { "Find" }
            a href=(action) { "Show all" }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::model::{
        AuditFilter, CatalogProduct, DeadLetter, Payment, ProductForm, Shipment, Stock,
    };
    use super::*;
    use crate::model::{Category, Money, Product};

    const CHROME: Chrome<'static> = Chrome {
        logged_in: true,
        csrf: "tok",
    };

    fn eur(amount: i64) -> Money {
        Money {
            amount,
            currency: "EUR".into(),
        }
    }

    fn catalog_product() -> CatalogProduct {
        CatalogProduct {
            id: "p1".into(),
            sku: "MUG-1".into(),
            name: "Mug <b>".into(),
            description: "</textarea><script>x</script>".into(),
            price: eur(1250),
            category_id: Some("c1".into()),
            active: true,
        }
    }

    fn letter(status: &str) -> DeadLetter {
        DeadLetter {
            id: "d1".into(),
            event_type: Some("order.placed".into()),
            payload: r#"{"x":"<script>"}"#.into(),
            error: "boom".into(),
            attempts: 3,
            status: status.into(),
            created_at: "t".into(),
            updated_at: "t".into(),
        }
    }

    fn a_payment(status: &str) -> Payment {
        Payment {
            id: "y1".into(),
            order_id: "o1".into(),
            user_id: "u1".into(),
            amount: eur(1490),
            status: status.into(),
            failure_code: None,
            captured_amount: 1490,
            refunded_amount: 0,
            created_at: "t".into(),
            history: Vec::new(),
        }
    }

    fn a_shipment(status: &str) -> Shipment {
        Shipment {
            id: "s1".into(),
            order_id: "o1".into(),
            tracking_number: "T1".into(),
            status: status.into(),
            address: None,
            weight_grams: 500,
            items: 1,
            carrier: "Post".into(),
            created_at: "t".into(),
            history: Vec::new(),
        }
    }

    fn editor_page(errors: &[(String, String)]) -> String {
        let product = catalog_product();
        let form = ProductForm::of(&product);
        let categories = [Category {
            id: "c1".into(),
            name: "Mugs".into(),
            description: None,
        }];
        product_editor(
            &CHROME,
            &ProductEditor {
                product: Some(&product),
                form: &form,
                categories: &categories,
                errors,
                problem: None,
                notice: Some(Notice::Saved),
            },
        )
        .into_string()
    }

    fn all_pages() -> Vec<String> {
        let product = Product {
            id: "p1".into(),
            name: "Mug".into(),
            description: String::new(),
            price: eur(100),
            category_id: None,
            active: true,
        };
        let rows = [StockRow {
            product: &product,
            stock: Some(Stock {
                on_hand: 3,
                reserved: 0,
                available: 3,
                low_stock_threshold: 5,
            }),
        }];
        let paging = Paging::new(1, 20, 1);
        vec![
            home(&CHROME, &[]).into_string(),
            editor_page(&[]),
            stock(&CHROME, &rows, paging, None).into_string(),
            shipments(&CHROME, &[a_shipment("created")], "", paging).into_string(),
            shipment(&CHROME, &a_shipment("created"), None).into_string(),
            payments(&CHROME, &[a_payment("captured")], "", paging).into_string(),
            payment(&CHROME, &a_payment("captured"), None).into_string(),
            dead_letter_contexts(&CHROME).into_string(),
            dead_letters(&CHROME, "orders", &[letter("dead")], None, None).into_string(),
            dead_letter(&CHROME, "orders", &letter("dead"), None).into_string(),
            audit(&CHROME, &AuditFilter::default(), &[], paging, None).into_string(),
        ]
    }

    #[test]
    fn every_post_form_carries_the_csrf_token_and_every_input_a_label() {
        for html in all_pages() {
            let posts = html.matches(r#"method="post""#).count();
            let tokens = html
                .matches(r#"<input type="hidden" name="csrf" value="tok">"#)
                .count();
            assert_eq!(posts, tokens, "{html}");
            // Every visible control has a label naming its id.
            for control in ["<input id=\"", "<select id=\"", "<textarea id=\""] {
                for (at, _) in html.match_indices(control) {
                    let start = at + control.len();
                    let id = &html[start..start + html[start..].find('"').expect("quote")];
                    assert!(
                        html.contains(&format!(r#"for="{id}">"#)),
                        "{id} has no label: {html}"
                    );
                }
            }
        }
    }

    #[test]
    fn console_pages_have_landmarks_their_stylesheet_and_no_script_or_style() {
        for html in all_pages() {
            assert!(html.contains(r#"<nav class="console-nav" aria-label="Console">"#));
            assert!(html.contains(r#"<main id="main">"#));
            assert!(html.contains(r#"href="/static/console-v1.css""#));
            assert!(
                !html.contains("<script") && !html.contains("style="),
                "{html}"
            );
        }
        let forbidden = forbidden(&CHROME).into_string();
        assert!(forbidden.contains("Operators only"));
        assert!(!forbidden.contains("console-v1.css"));
    }

    #[test]
    fn the_product_editor_keeps_values_inert_and_marks_errors() {
        let html = editor_page(&[
            ("price".into(), "too dear".into()),
            ("other".into(), "general <problem>".into()),
        ]);
        assert!(html.contains("&lt;/textarea&gt;&lt;script&gt;"), "{html}");
        assert!(html.contains(r#"value="12.50""#));
        assert!(
            html.contains(r#"<option value="c1" selected>Mugs</option>"#),
            "{html}"
        );
        assert!(html.contains(r#"checked"#));
        assert!(html.contains(r#"aria-invalid="true" aria-describedby="product-price-error""#));
        assert!(html.contains("general &lt;problem&gt;"));
        assert!(html.contains("Changes saved."));
        assert!(html.contains(r#"action="/console/products/p1/retire""#));
        assert!(!html.contains(r#"name="sku""#), "the SKU is not edited");
    }

    #[test]
    fn low_stock_is_marked_and_explained() {
        let html = &all_pages()[2];
        assert!(html.contains(r#"<tr class="low">"#), "{html}");
        for html in all_pages() {
            assert!(!html.contains(r#"class="""#), "no empty classes: {html}");
        }
        assert!(html.contains("low-stock threshold"));
        assert!(html.contains(r#"name="page" value="1""#));
    }

    #[test]
    fn actions_are_offered_only_where_the_api_allows_them() {
        let refunded = payment(&CHROME, &a_payment("refunded"), None).into_string();
        assert!(!refunded.contains("/refund"));
        let captured = payment(&CHROME, &a_payment("captured"), None).into_string();
        assert!(captured.contains(r#"action="/console/payments/y1/refund""#));
        let resolved = dead_letter(&CHROME, "orders", &letter("resolved"), None).into_string();
        assert!(!resolved.contains("/retry") && !resolved.contains("/discard"));
        let dead = dead_letter(&CHROME, "orders", &letter("dead"), None).into_string();
        assert!(dead.contains(r#"action="/console/dead-letters/orders/d1/retry""#));
        assert!(dead.contains("&lt;script&gt;"), "payloads render inert");
        let delivered = shipment(&CHROME, &a_shipment("delivered"), None).into_string();
        assert!(!delivered.contains("/status"));
        let created = shipment(&CHROME, &a_shipment("created"), None).into_string();
        assert!(
            created.contains(r#"<option value="picked" selected>"#),
            "{created}"
        );
    }

    #[test]
    fn audit_paging_keeps_the_filters() {
        let filter = AuditFilter::from_query("action=auth.login&page=2");
        let html = audit(
            &CHROME,
            &filter,
            &[],
            Paging::new(2, 20, 60),
            Some("bad since"),
        )
        .into_string();
        assert!(
            html.contains(r#"href="/console/audit?action=auth.login&amp;page=1""#),
            "{html}"
        );
        assert!(html.contains(r#"href="/console/audit?action=auth.login&amp;page=3""#));
        assert!(html.contains(r#"value="auth.login""#));
        assert!(html.contains("bad since"));
    }
}
