//! The console's HTML, inside the shop's own page frame ([`pages::layout`]) with the console's
//! stylesheet and navigation added. No script and no inline style, as everywhere.

use maud::{Markup, html};

use super::model::{
    AuditEntry, AuditFilter, CatalogProduct, DEAD_LETTER_STATUSES, DeadLetter, Notice, Payment,
    ProductForm, SHIPMENT_STATUSES, Shipment, Stock, next_shipment_status,
};
use super::route::CONTEXTS;
use crate::model::{Category, Product};
use crate::pages::{self, Chrome, csrf_input};
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
                (audit_table(recent))
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

fn category_name<'a>(categories: &'a [Category], id: Option<&str>) -> &'a str {
    id.and_then(|id| categories.iter().find(|c| c.id == id))
        .map_or("—", |c| c.name.as_str())
}

pub fn products(
    chrome: &Chrome<'_>,
    products: &[Product],
    categories: &[Category],
    page: Paging,
) -> Markup {
    frame(
        "Products",
        chrome,
        None,
        html! {
            h1 { "Products" }
            p { a.button href="/console/products/new" { "New product" } }
            p { "Products on sale, by name. A product withdrawn from sale stays reachable by its link." }
            @if products.is_empty() {
                p { "No products on this page." }
            } @else {
                table {
                    thead { tr { th scope="col" { "Name" } th scope="col" { "Price" } th scope="col" { "Category" } } }
                    tbody {
                        @for product in products {
                            tr {
                                td data-label="Name" { a href={ "/console/products/" (product.id) } { (product.name) } }
                                td data-label="Price" { (product.price.display()) }
                                td data-label="Category" { (category_name(categories, product.category_id.as_deref())) }
                            }
                        }
                    }
                }
            }
            (paging(page, |n| format!("/console/products?page={n}")))
        },
    )
}

/// The product form: a new product when `product` is `None`.
pub struct ProductEditor<'a> {
    pub product: Option<&'a CatalogProduct>,
    pub form: &'a ProductForm,
    pub categories: &'a [Category],
    pub errors: &'a [(String, String)],
    pub problem: Option<&'a str>,
    pub notice: Option<Notice>,
}

pub fn product_editor(chrome: &Chrome<'_>, editor: &ProductEditor<'_>) -> Markup {
    let error_of = |name: &str| {
        editor
            .errors
            .iter()
            .find(|(field, _)| field == name)
            .map(|(_, message)| message.as_str())
    };
    let known = [
        "sku",
        "name",
        "description",
        "price",
        "currency",
        "category_id",
    ];
    let general: Vec<&str> = editor
        .errors
        .iter()
        .filter(|(field, _)| !known.contains(&field.as_str()))
        .map(|(_, message)| message.as_str())
        .collect();
    let form = editor.form;
    let (title, action) = match editor.product {
        Some(product) => (
            product.name.clone(),
            format!("/console/products/{}", product.id),
        ),
        None => ("New product".to_owned(), "/console/products".to_owned()),
    };
    let field_error = |name: &str| {
        html! {
            @if let Some(error) = error_of(name) {
                span.field-error id={ "product-" (name) "-error" } { (error) }
            }
        }
    };
    let described = |name: &str| error_of(name).map(|_| format!("product-{name}-error"));
    frame(
        &title,
        chrome,
        editor.notice,
        html! {
            h1 { (title) }
            (problem(editor.problem))
            @if !editor.errors.is_empty() {
                div.error role="alert" {
                    p { "Please correct the marked fields." }
                    @if !general.is_empty() { ul { @for error in &general { li { (error) } } } }
                }
            }
            @if let Some(product) = editor.product {
                dl.facts {
                    dt { "Id" } dd { code { (product.id) } }
                    dt { "SKU" } dd { (product.sku) }
                    dt { "Current price" } dd { (product.price.display()) }
                    dt { "On sale" } dd {
                        @if product.active { a href={ "/products/" (product.id) } { "Yes — its shop page" } }
                        @else { "No, withdrawn" }
                    }
                }
            }
            form.console-form method="post" action=(action) {
                (csrf_input(chrome))
                @if editor.product.is_none() {
                    label for="product-sku" { "SKU (3 to 32 of A–Z, 0–9 and -)" }
                    (field_error("sku"))
                    input id="product-sku" name="sku" type="text" value=(form.sku) maxlength="32" required
                        aria-invalid=[error_of("sku").map(|_| "true")] aria-describedby=[described("sku")];
                }
                label for="product-name" { "Name" }
                (field_error("name"))
                input id="product-name" name="name" type="text" value=(form.name) maxlength="200" required
                    aria-invalid=[error_of("name").map(|_| "true")] aria-describedby=[described("name")];
                label for="product-description" { "Description" }
                (field_error("description"))
                textarea id="product-description" name="description" rows="4" maxlength="5000"
                    aria-invalid=[error_of("description").map(|_| "true")]
                    aria-describedby=[described("description")] { (form.description) }
                label for="product-price" { "Price (e.g. 12.50)" }
                (field_error("price"))
                input id="product-price" name="price" type="text" inputmode="decimal" value=(form.price) required
                    aria-invalid=[error_of("price").map(|_| "true")] aria-describedby=[described("price")];
                label for="product-currency" { "Currency (three letters, e.g. EUR)" }
                (field_error("currency"))
                input id="product-currency" name="currency" type="text" value=(form.currency)
                    minlength="3" maxlength="3" required
                    aria-invalid=[error_of("currency").map(|_| "true")] aria-describedby=[described("currency")];
                label for="product-category" { "Category" }
                (field_error("category_id"))
                select id="product-category" name="category_id"
                    aria-invalid=[error_of("category_id").map(|_| "true")]
                    aria-describedby=[described("category_id")] {
                    option value="" selected[form.category_id.is_empty()] { "No category" }
                    @for category in editor.categories {
                        option value=(category.id) selected[form.category_id == category.id] { (category.name) }
                    }
                }
                div.check {
                    input id="product-active" name="active" type="checkbox" value="on" checked[form.active];
                    label for="product-active" { "On sale" }
                }
                button type="submit" { @if editor.product.is_some() { "Save changes" } @else { "Create product" } }
            }
            @if let Some(product) = editor.product.filter(|p| p.active) {
                section aria-labelledby="retire" {
                    h2 id="retire" { "Withdraw from sale" }
                    p { "The product leaves the shop; past orders keep it. Tick “On sale” above to bring it back." }
                    form method="post" action={ "/console/products/" (product.id) "/retire" } {
                        (csrf_input(chrome))
                        button.danger type="submit" { "Withdraw " (product.name) }
                    }
                }
            }
        },
    )
}

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
            (paging(page, |n| format!("/console/shipments?{}", super::model::query([("order_id", order_id), ("page", n.to_string().as_str())]))))
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
            (paging(page, |n| format!("/console/payments?{}", super::model::query([("order_id", order_id), ("page", n.to_string().as_str())]))))
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

fn recovery_form(chrome: &Chrome<'_>, context: &str) -> Markup {
    html! {
        form method="post" action={ "/console/recovery/" (context) } {
            (csrf_input(chrome))
            button type="submit" { "Run recovery" span.visually-hidden { " of " (context) } }
        }
    }
}

pub fn dead_letter_contexts(chrome: &Chrome<'_>) -> Markup {
    frame(
        "Dead letters",
        chrome,
        None,
        html! {
            h1 { "Dead letters & recovery" }
            p { "Each context keeps the messages it could not apply. A recovery pass sends unsent events again, retries the letters that are due and runs the context's own clock." }
            table {
                thead { tr { th scope="col" { "Context" } th scope="col" { "Recovery" } } }
                tbody {
                    @for context in CONTEXTS {
                        tr {
                            td data-label="Context" { a href={ "/console/dead-letters/" (context) } { (context) } }
                            td data-label="Recovery" { (recovery_form(chrome, context)) }
                        }
                    }
                }
            }
        },
    )
}

pub fn dead_letters(
    chrome: &Chrome<'_>,
    context: &str,
    letters: &[DeadLetter],
    status: Option<&str>,
    notice: Option<Notice>,
) -> Markup {
    frame(
        &format!("Dead letters of {context}"),
        chrome,
        notice,
        html! {
            h1 { "Dead letters of " (context) }
            form.filters method="get" action={ "/console/dead-letters/" (context) } aria-label="Filter" {
                div {
                    label for="letter-status" { "Status" }
                    select id="letter-status" name="status" {
                        option value="" selected[status.is_none()] { "Any" }
                        @for option in DEAD_LETTER_STATUSES {
                            option value=(option) selected[status == Some(option)] { (option) }
                        }
                    }
                }
                button type="submit" { "Show" }
            }
            (recovery_form(chrome, context))
            @if letters.is_empty() {
                p { "No dead letters." }
            } @else {
                table {
                    caption { (letters.len()) " letter(s), newest first" }
                    thead { tr { th scope="col" { "Letter" } th scope="col" { "Event" } th scope="col" { "Status" } th scope="col" { "Attempts" } th scope="col" { "Created" } } }
                    tbody {
                        @for letter in letters {
                            tr {
                                td data-label="Letter" { a href={ "/console/dead-letters/" (context) "/" (letter.id) } { code { (letter.id) } } }
                                td data-label="Event" { (letter.event_type.as_deref().unwrap_or("unreadable")) }
                                td data-label="Status" { strong.status data-status=(letter.status) { (letter.status) } }
                                td data-label="Attempts" { (letter.attempts) }
                                td data-label="Created" { (letter.created_at) }
                            }
                        }
                    }
                }
            }
            p { a href="/console/dead-letters" { "All contexts" } }
        },
    )
}

pub fn dead_letter(
    chrome: &Chrome<'_>,
    context: &str,
    letter: &DeadLetter,
    notice: Option<Notice>,
) -> Markup {
    let base = format!("/console/dead-letters/{context}/{}", letter.id);
    frame(
        "Dead letter",
        chrome,
        notice,
        html! {
            h1 { "Dead letter " code { (letter.id) } }
            dl.facts {
                dt { "Context" } dd { (context) }
                dt { "Event" } dd { (letter.event_type.as_deref().unwrap_or("unreadable")) }
                dt { "Status" } dd { strong.status data-status=(letter.status) { (letter.status) } }
                dt { "Attempts" } dd { (letter.attempts) }
                dt { "Created" } dd { (letter.created_at) }
                dt { "Updated" } dd { (letter.updated_at) }
            }
            h2 { "Error" }
            pre.payload { (letter.error) }
            h2 { "Message" }
            pre.payload { (letter.payload) }
            @if letter.open() {
                div.actions {
                    form method="post" action={ (base) "/retry" } {
                        (csrf_input(chrome))
                        button type="submit" { "Retry now" }
                    }
                    form method="post" action={ (base) "/discard" } {
                        (csrf_input(chrome))
                        button.danger type="submit" { "Discard" }
                    }
                }
            }
            p { a href={ "/console/dead-letters/" (context) } { "All dead letters of " (context) } }
        },
    )
}

fn audit_table(entries: &[AuditEntry]) -> Markup {
    html! {
        @if entries.is_empty() {
            p { "No entries." }
        } @else {
            table.audit {
                thead { tr {
                    th scope="col" { "When" } th scope="col" { "Actor" } th scope="col" { "Action" }
                    th scope="col" { "Outcome" } th scope="col" { "Request" } th scope="col" { "Trace" }
                } }
                tbody {
                    @for entry in entries {
                        tr {
                            td data-label="When" { time datetime=(entry.at) { (entry.at) } }
                            td data-label="Actor" {
                                (entry.actor)
                                @if let Some(role) = &entry.actor_role { " (" (role) ")" }
                            }
                            td data-label="Action" { code { (entry.action) } }
                            td data-label="Outcome" { (entry.outcome) " " (entry.status) }
                            td data-label="Request" {
                                (entry.method) " " code { (entry.path) }
                                @if let Some(client) = &entry.client_addr { br; small { "from " (client) } }
                            }
                            td data-label="Trace" { code { (entry.trace_id) } }
                        }
                    }
                }
            }
        }
    }
}

pub fn audit(
    chrome: &Chrome<'_>,
    filter: &AuditFilter,
    entries: &[AuditEntry],
    page: Paging,
    problem_text: Option<&str>,
) -> Markup {
    frame(
        "Audit trail",
        chrome,
        None,
        html! {
            h1 { "Audit trail" }
            form.filters method="get" action="/console/audit" role="search" aria-label="Filter the audit trail" {
                div { label for="audit-actor" { "Actor (user id or email)" } input id="audit-actor" name="actor" type="text" value=(filter.actor) maxlength="254"; }
                div { label for="audit-action" { "Action (e.g. catalog.product.update)" } input id="audit-action" name="action" type="text" value=(filter.action) maxlength="64"; }
                div { label for="audit-since" { "Since (UTC)" } input id="audit-since" name="since" type="datetime-local" step="1" value=(filter.since); }
                button type="submit" { "Filter" }
                a href="/console/audit" { "Clear" }
            }
            (problem(problem_text))
            (audit_table(entries))
            (paging(page, |n| filter.link(n)))
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Money;

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
