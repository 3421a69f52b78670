//! The HTML of every page (maud: checked at compile time, every interpolation escaped). No
//! script and no inline style: the Content-Security-Policy forbids both.

use maud::{DOCTYPE, Markup, html};

use crate::model::{
    ADDRESS_FIELDS, Cart, Category, CheckoutForm, Order, OrderSummary, PAYMENT_TOKENS, Product,
};
use crate::model::{is_terminal, status_label};
use crate::route::{FAVICON, Paging, STYLESHEET};
use crate::session::CSRF_FIELD;

/// What every page's frame needs: whether someone is logged in, and the CSRF token of the
/// forms it renders (the logout button is one).
pub struct Chrome<'a> {
    pub logged_in: bool,
    pub csrf: &'a str,
}

fn csrf_input(chrome: &Chrome<'_>) -> Markup {
    html! { input type="hidden" name=(CSRF_FIELD) value=(chrome.csrf); }
}

pub fn layout(title: &str, chrome: &Chrome<'_>, content: Markup) -> Markup {
    document(title, chrome, false, content)
}

/// Seconds between reloads of a page that follows something still moving (an order's saga):
/// a `<meta>` refresh, since the Content-Security-Policy allows no inline script.
const REFRESH_SECONDS: &str = "2";

/// A page; `refresh` reloads it every [`REFRESH_SECONDS`].
fn document(title: &str, chrome: &Chrome<'_>, refresh: bool, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                @if refresh { meta http-equiv="refresh" content=(REFRESH_SECONDS); }
                title { (title) " · wasmshop" }
                link rel="stylesheet" href=(STYLESHEET.path());
                link rel="icon" type=(FAVICON.content_type) href=(FAVICON.path());
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header {
                    a.brand href="/" { "wasmshop" }
                    nav aria-label="Account" {
                        ul {
                            li { a href="/cart" { "Cart" } }
                            @if chrome.logged_in {
                                li { a href="/orders" { "Orders" } }
                                li {
                                    form method="post" action="/logout" {
                                        (csrf_input(chrome))
                                        button type="submit" { "Log out" }
                                    }
                                }
                            } @else {
                                li { a href="/login" { "Log in" } }
                                li { a href="/register" { "Register" } }
                            }
                        }
                    }
                }
                main id="main" { (content) }
                footer { p { "wasmshop — a shop on WebAssembly" } }
            }
        }
    }
}

fn product_card(product: &Product) -> Markup {
    html! {
        li.card {
            h3 { a href={ "/products/" (product.id) } { (product.name) } }
            p.price { (product.price.display()) }
        }
    }
}

fn category_nav(categories: &[Category]) -> Markup {
    html! {
        nav aria-label="Categories" {
            h2 { "Categories" }
            ul.categories {
                @for category in categories {
                    li { a href={ "/category/" (category.id) } { (category.name) } }
                }
            }
        }
    }
}

pub fn home(chrome: &Chrome<'_>, categories: &[Category], featured: &[Product]) -> Markup {
    layout(
        "Shop",
        chrome,
        html! {
            h1 { "Welcome to wasmshop" }
            (category_nav(categories))
            section aria-labelledby="featured" {
                h2 id="featured" { "New in" }
                @if featured.is_empty() {
                    p { "Nothing on sale yet." }
                } @else {
                    ul.grid { @for product in featured { (product_card(product)) } }
                }
            }
        },
    )
}

pub fn category(
    chrome: &Chrome<'_>,
    category: &Category,
    products: &[Product],
    paging: Paging,
) -> Markup {
    layout(
        &category.name,
        chrome,
        html! {
            h1 { (category.name) }
            @if let Some(description) = &category.description { p { (description) } }
            @if products.is_empty() {
                p { "No products here yet." }
            } @else {
                ul.grid { @for product in products { (product_card(product)) } }
            }
            nav.paging aria-label="Pages" {
                @if let Some(previous) = paging.previous {
                    a rel="prev" href={ "/category/" (category.id) "?page=" (previous) } { "Previous" }
                }
                span { "Page " (paging.page) " of " (paging.pages) }
                @if let Some(next) = paging.next {
                    a rel="next" href={ "/category/" (category.id) "?page=" (next) } { "Next" }
                }
            }
        },
    )
}

pub fn product(chrome: &Chrome<'_>, product: &Product) -> Markup {
    layout(
        &product.name,
        chrome,
        html! {
            article {
                h1 { (product.name) }
                p.price { (product.price.display()) }
                p.availability {
                    @if product.active { "Available" } @else { "Not available" }
                }
                @if !product.description.is_empty() { p { (product.description) } }
                @if let Some(category) = &product.category_id {
                    p { a href={ "/category/" (category) } { "More from this category" } }
                }
                @if product.active {
                    form method="post" action="/cart/items" {
                        (csrf_input(chrome))
                        input type="hidden" name="product_id" value=(product.id);
                        label for="quantity" { "Quantity" }
                        input id="quantity" name="quantity" type="number" min="1" max="99" value="1" required;
                        button type="submit" { "Add to cart" }
                    }
                }
            }
        },
    )
}

pub fn cart(chrome: &Chrome<'_>, cart: &Cart) -> Markup {
    layout(
        "Your cart",
        chrome,
        html! {
            h1 { "Your cart" }
            @if cart.lines.is_empty() {
                p { "Your cart is empty." }
            } @else {
                table {
                    caption { (cart.items) " item(s)" }
                    thead { tr { th scope="col" { "Product" } th scope="col" { "Quantity" } th scope="col" { "Total" } th scope="col" { "Remove" } } }
                    tbody {
                        @for line in &cart.lines {
                            @let name = line.name.as_deref().unwrap_or("Withdrawn product");
                            @let field = format!("quantity-{}", line.product_id);
                            tr {
                                td {
                                    a href={ "/products/" (line.product_id) } { (name) }
                                    @if !line.available { " (no longer available)" }
                                    @if let Some(unit) = &line.unit_price { br; small { (unit.display()) " each" } }
                                }
                                td {
                                    form method="post" action={ "/cart/items/" (line.product_id) } {
                                        (csrf_input(chrome))
                                        label.visually-hidden for=(field) { "Quantity of " (name) }
                                        input id=(field) name="quantity" type="number" min="1" max="99" value=(line.quantity) required;
                                        button type="submit" { "Update" }
                                    }
                                }
                                td { @if let Some(total) = &line.line_total { (total.display()) } }
                                td {
                                    form method="post" action={ "/cart/items/" (line.product_id) "/remove" } {
                                        (csrf_input(chrome))
                                        button type="submit" aria-label={ "Remove " (name) } { "Remove" }
                                    }
                                }
                            }
                        }
                    }
                }
                @if let Some(subtotal) = &cart.subtotal { p.subtotal { "Subtotal: " (subtotal.display()) } }
                p { a.button href="/checkout" { "Check out" } }
            }
        },
    )
}

/// The register and login forms; `error` shown above the form, `email` kept.
pub fn account_form(
    chrome: &Chrome<'_>,
    register: bool,
    error: Option<&str>,
    email: &str,
) -> Markup {
    let (title, action, button) = if register {
        ("Create an account", "/register", "Register")
    } else {
        ("Log in", "/login", "Log in")
    };
    layout(
        title,
        chrome,
        html! {
            h1 { (title) }
            @if let Some(error) = error { p.error role="alert" { (error) } }
            form method="post" action=(action) {
                (csrf_input(chrome))
                @if register {
                    label for="name" { "Name" }
                    input id="name" name="name" type="text" autocomplete="name" maxlength="100" required;
                }
                label for="email" { "Email" }
                input id="email" name="email" type="email" autocomplete="email" maxlength="254" value=(email) required;
                label for="password" { "Password" @if register { " (at least 12 characters)" } }
                input id="password" name="password" type="password"
                    autocomplete=(if register { "new-password" } else { "current-password" })
                    minlength=(if register { "12" } else { "1" }) required;
                button type="submit" { (button) }
            }
            @if register {
                p { "Already have an account? " a href="/login" { "Log in" } }
            } @else {
                p { "New here? " a href="/register" { "Create an account" } }
            }
        },
    )
}

/// What the checkout page shows: the cart being bought, the form as typed, what to correct.
pub struct Checkout<'a> {
    pub cart: &'a Cart,
    pub form: &'a CheckoutForm,
    /// By form field name (`city`, `payment_token`); others (`lines`) go to the top.
    pub errors: &'a [(String, String)],
    /// The problem with the whole checkout (an empty cart, no stock), if any.
    pub problem: Option<&'a str>,
    /// Sent with the form, so that submitting it twice makes one order.
    pub idempotency_key: &'a str,
}

fn address_label(name: &str) -> &'static str {
    match name {
        "name" => "Full name",
        "line1" => "Address",
        "line2" => "Address, line 2 (optional)",
        "city" => "City",
        "postal_code" => "Postal code",
        _ => "Country code (two letters, e.g. DE)",
    }
}

fn autocomplete(name: &str) -> &'static str {
    match name {
        "name" => "shipping name",
        "line1" => "shipping address-line1",
        "line2" => "shipping address-line2",
        "city" => "shipping address-level2",
        "postal_code" => "shipping postal-code",
        _ => "shipping country",
    }
}

pub fn checkout(chrome: &Chrome<'_>, checkout: &Checkout<'_>) -> Markup {
    let error_of = |name: &str| {
        checkout
            .errors
            .iter()
            .find(|(field, _)| field == name)
            .map(|(_, message)| message.as_str())
    };
    let known = |name: &str| name == "payment_token" || ADDRESS_FIELDS.contains(&name);
    let general: Vec<&str> = checkout
        .errors
        .iter()
        .filter(|(field, _)| !known(field))
        .map(|(_, message)| message.as_str())
        .collect();
    layout(
        "Check out",
        chrome,
        html! {
            h1 { "Check out" }
            @if let Some(problem) = checkout.problem { p.error role="alert" { (problem) } }
            @if !checkout.errors.is_empty() {
                div.error role="alert" {
                    p { "Please correct the marked fields." }
                    @if !general.is_empty() {
                        ul { @for error in &general { li { (error) } } }
                    }
                }
            }
            @if checkout.cart.lines.is_empty() {
                p { "Your cart is empty. " a href="/" { "Find something you like" } "." }
            } @else {
                section aria-labelledby="summary" {
                    h2 id="summary" { "Your order" }
                    ul {
                        @for line in &checkout.cart.lines {
                            li {
                                (line.quantity) " × " (line.name.as_deref().unwrap_or("Withdrawn product"))
                                @if let Some(total) = &line.line_total { " — " (total.display()) }
                            }
                        }
                    }
                    @if let Some(subtotal) = &checkout.cart.subtotal {
                        p.subtotal { "Subtotal: " (subtotal.display()) " (shipping is added by destination)" }
                    }
                }
                form.checkout method="post" action="/checkout" {
                    (csrf_input(chrome))
                    input type="hidden" name="idempotency_key" value=(checkout.idempotency_key);
                    fieldset {
                        legend { "Shipping address" }
                        @for name in ADDRESS_FIELDS {
                            @let error = error_of(name);
                            @let id = format!("address-{name}");
                            @let error_id = format!("{id}-error");
                            label for=(id) { (address_label(name)) }
                            @if let Some(error) = error {
                                span.field-error id=(error_id) { (error) }
                            }
                            input id=(id) name=(name) type="text" value=(checkout.form.value(name))
                                autocomplete=(autocomplete(name))
                                maxlength=(if name == "country" { "2" } else { "200" })
                                required[name != "line2"]
                                aria-invalid=[error.map(|_| "true")]
                                aria-describedby=[error.map(|_| error_id.as_str())];
                        }
                    }
                    fieldset aria-describedby=[error_of("payment_token").map(|_| "payment-error")] {
                        legend { "Payment" }
                        p { "This is a demo shop: no real card is charged. Choose a test card:" }
                        @if let Some(error) = error_of("payment_token") {
                            span.field-error id="payment-error" { (error) }
                        }
                        @for (token, label, outcome) in PAYMENT_TOKENS {
                            @let id = format!("payment-{token}");
                            div {
                                input id=(id) type="radio" name="payment_token" value=(token)
                                    required checked[checkout.form.payment_token == *token];
                                label for=(id) { (label) " (" code { (token) } "): " (outcome) "." }
                            }
                        }
                    }
                    button type="submit" { "Place order" }
                }
            }
        },
    )
}

fn status_badge(status: &str) -> Markup {
    html! { strong.status data-status=(status) { (status_label(status)) } }
}

pub fn order(chrome: &Chrome<'_>, order: &Order) -> Markup {
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
            @if let Some(reason) = &order.cancel_reason { p.error { "Reason: " (reason) } }
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

/// A friendly page for an error status: never the API's JSON.
pub fn error(chrome: &Chrome<'_>, status: u16, detail: Option<&str>) -> Markup {
    let (title, text) = match status {
        403 => (
            "Request refused",
            "This form expired or did not come from this shop. Go back, reload the page and try again.",
        ),
        404 => (
            "Page not found",
            "We could not find that page. It may have been moved or withdrawn.",
        ),
        405 => ("Not allowed", "That action is not available here."),
        429 => (
            "Slow down",
            "Too many requests from you just now. Wait a moment and try again.",
        ),
        502..=504 => (
            "Shop unavailable",
            "The shop cannot answer right now. Please try again in a moment.",
        ),
        _ => (
            "Something went wrong",
            "An error on our side stopped this page. Please try again.",
        ),
    };
    layout(
        title,
        chrome,
        html! {
            h1 { (title) }
            p { (text) }
            @if let Some(detail) = detail { p { (detail) } }
            p { a href="/" { "Back to the shop" } }
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

    fn product(name: &str) -> Product {
        Product {
            id: "p1".into(),
            name: name.into(),
            description: "<b>bold</b>".into(),
            price: Money {
                amount: 1999,
                currency: "EUR".into(),
            },
            category_id: None,
            active: true,
        }
    }

    #[test]
    fn names_render_inert() {
        let html = super::product(&CHROME, &product("<script>alert(1)</script>")).into_string();
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("&lt;b&gt;bold&lt;/b&gt;"));
        assert!(html.contains("19.99 EUR"));
    }

    #[test]
    fn every_form_carries_the_csrf_token() {
        let cart = Cart {
            lines: vec![crate::model::CartLine {
                product_id: "p1".into(),
                name: Some("Mug".into()),
                quantity: 2,
                unit_price: None,
                line_total: None,
                available: true,
            }],
            items: 2,
            subtotal: None,
        };
        let form = CheckoutForm::default();
        let checkout = Checkout {
            cart: &cart,
            form: &form,
            errors: &[],
            problem: None,
            idempotency_key: "k",
        };
        for html in [
            super::checkout(&CHROME, &checkout).into_string(),
            super::cart(&CHROME, &cart).into_string(),
            super::product(&CHROME, &product("Mug")).into_string(),
            account_form(&CHROME, true, None, "").into_string(),
        ] {
            let forms = html.matches("<form").count();
            let tokens = html
                .matches(r#"<input type="hidden" name="csrf" value="tok">"#)
                .count();
            assert!(forms > 0);
            assert_eq!(forms, tokens, "{html}");
        }
    }

    #[test]
    fn pages_have_landmarks_labels_and_no_inline_script_or_style() {
        let html = account_form(&CHROME, false, Some("Wrong <password>"), "a@b.c").into_string();
        for landmark in [
            "<header>",
            "<main id=\"main\">",
            "<footer>",
            "<nav aria-label",
        ] {
            assert!(html.contains(landmark), "{landmark}");
        }
        assert!(html.contains(r#"<label for="email">"#));
        assert!(html.contains(r#"<label for="password">"#));
        assert!(html.contains("Wrong &lt;password&gt;"));
        assert!(!html.contains("<script") && !html.contains("style="));
    }

    #[test]
    fn logged_out_pages_offer_login_not_logout() {
        let chrome = Chrome {
            logged_in: false,
            csrf: "t",
        };
        let html = error(&chrome, 404, None).into_string();
        assert!(html.contains("Page not found"));
        assert!(html.contains(r#"href="/login""#));
        assert!(!html.contains("/logout"));
    }

    #[test]
    fn paging_links_keep_the_category() {
        let category = Category {
            id: "c1".into(),
            name: "Mugs".into(),
            description: None,
        };
        let html = super::category(&CHROME, &category, &[], Paging::new(2, 12, 40)).into_string();
        assert!(html.contains(r#"href="/category/c1?page=1""#));
        assert!(html.contains(r#"href="/category/c1?page=3""#));
        assert!(html.contains("Page 2 of 4"));
    }

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
        let moving = super::order(&CHROME, &order("awaiting_payment", None)).into_string();
        assert!(moving.contains(refresh), "{moving}");
        assert!(moving.contains(r#"data-status="awaiting_payment""#));
        assert!(moving.contains("Mug &lt;b&gt;") && moving.contains("14.90 EUR"));
        assert!(moving.contains("order placed"));
        let settled = super::order(
            &CHROME,
            &order("cancelled", Some("payment declined: card_declined")),
        )
        .into_string();
        assert!(!settled.contains("http-equiv"), "{settled}");
        assert!(settled.contains("payment declined: card_declined"));
        assert!(!settled.contains("<script") && !settled.contains("style="));
    }

    #[test]
    fn checkout_marks_the_fields_to_correct_and_keeps_what_was_typed() {
        let cart = Cart {
            lines: vec![crate::model::CartLine {
                product_id: "p1".into(),
                name: Some("Mug".into()),
                quantity: 1,
                unit_price: None,
                line_total: None,
                available: true,
            }],
            items: 1,
            subtotal: None,
        };
        let form = CheckoutForm::from_fields(|name| match name {
            "city" => Some("<Berlin>"),
            "payment_token" => Some("tok_declined"),
            _ => None,
        });
        let errors = [
            ("name".to_owned(), "must be 1 to 200 characters".to_owned()),
            ("lines".to_owned(), "no stock for Mug".to_owned()),
        ];
        let html = super::checkout(
            &CHROME,
            &Checkout {
                cart: &cart,
                form: &form,
                errors: &errors,
                problem: None,
                idempotency_key: "key-1",
            },
        )
        .into_string();
        assert!(
            html.contains(r#"aria-invalid="true" aria-describedby="address-name-error""#),
            "{html}"
        );
        assert!(html.contains(r#"id="address-name-error">must be 1 to 200 characters"#));
        assert!(
            html.contains("no stock for Mug"),
            "unattached errors are listed"
        );
        assert!(html.contains(r#"value="&lt;Berlin&gt;""#));
        assert!(
            html.contains(r#"value="tok_declined" required checked"#),
            "{html}"
        );
        assert!(html.contains(r#"name="idempotency_key" value="key-1""#));
        assert_eq!(html.matches("aria-invalid").count(), 1);
    }
}
