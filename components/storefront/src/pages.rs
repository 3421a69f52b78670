//! The HTML of every page (maud: checked at compile time, every interpolation escaped). No
//! script and no inline style: the Content-Security-Policy forbids both.

use maud::{DOCTYPE, Markup, html};

use crate::listing::MAX_SEARCH_CHARS;
use crate::model::{ADDRESS_FIELDS, Cart, Category, CheckoutForm, PAYMENT_TOKENS, Product};
use crate::route::{FAVICON, STYLESHEET};
use crate::session::CSRF_FIELD;

mod account;
mod catalog;
mod orders;

pub use account::{Profile, notifications, profile};
pub use catalog::{ListingView, category, search};
pub use orders::{order, orders};

/// What every page's frame needs: whether someone is logged in, and the CSRF token of the
/// forms it renders (the logout button is one).
pub struct Chrome<'a> {
    pub logged_in: bool,
    pub csrf: &'a str,
}

pub(crate) fn csrf_input(chrome: &Chrome<'_>) -> Markup {
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
                    form.search role="search" method="get" action="/search" {
                        label.visually-hidden for="site-search" { "Search products" }
                        input id="site-search" type="search" name="q" maxlength=(MAX_SEARCH_CHARS)
                            placeholder="Search products";
                        button type="submit" { "Search" }
                    }
                    nav aria-label="Account" {
                        ul {
                            li { a href="/cart" { "Cart" } }
                            @if chrome.logged_in {
                                li { a href="/orders" { "Orders" } }
                                li { a href="/notifications" { "Notifications" } }
                                li { a href="/profile" { "Profile" } }
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

/// The `autocomplete` token of an address field (checkout prefixes `shipping`).
fn autocomplete(name: &str) -> &'static str {
    match name {
        "name" => "name",
        "line1" => "address-line1",
        "line2" => "address-line2",
        "city" => "address-level2",
        "postal_code" => "postal-code",
        _ => "country",
    }
}

/// A labelled text input; its error, if any, shown above it and announced with it.
struct TextField<'a> {
    id: &'a str,
    name: &'a str,
    label: &'a str,
    value: &'a str,
    autocomplete: &'a str,
    maxlength: usize,
    required: bool,
    error: Option<&'a str>,
}

fn text_field(field: &TextField<'_>) -> Markup {
    let error_id = format!("{}-error", field.id);
    html! {
        label for=(field.id) { (field.label) }
        @if let Some(error) = field.error {
            span.field-error id=(error_id) { (error) }
        }
        input id=(field.id) name=(field.name) type="text" value=(field.value)
            autocomplete=(field.autocomplete)
            maxlength=(field.maxlength)
            required[field.required]
            aria-invalid=[field.error.map(|_| "true")]
            aria-describedby=[field.error.map(|_| error_id.as_str())];
    }
}

/// The errors of a form that belong to none of its fields (`known` tells them apart).
fn unattached(errors: &[(String, String)], known: impl Fn(&str) -> bool) -> Vec<&str> {
    errors
        .iter()
        .filter(|(field, _)| !known(field))
        .map(|(_, message)| message.as_str())
        .collect()
}

/// The message of `name`'s error among `errors`.
fn error_of<'a>(errors: &'a [(String, String)], name: &str) -> Option<&'a str> {
    errors
        .iter()
        .find(|(field, _)| field == name)
        .map(|(_, message)| message.as_str())
}

/// "Please correct the marked fields", with the errors no field shows.
fn correction_notice(errors: &[(String, String)], general: &[&str]) -> Markup {
    html! {
        @if !errors.is_empty() {
            div.error role="alert" {
                p { "Please correct the marked fields." }
                @if !general.is_empty() {
                    ul { @for error in general { li { (error) } } }
                }
            }
        }
    }
}

pub fn checkout(chrome: &Chrome<'_>, checkout: &Checkout<'_>) -> Markup {
    let field_error = |name: &str| error_of(checkout.errors, name);
    let general = unattached(checkout.errors, |name| {
        name == "payment_token" || ADDRESS_FIELDS.contains(&name)
    });
    layout(
        "Check out",
        chrome,
        html! {
            h1 { "Check out" }
            @if let Some(problem) = checkout.problem { p.error role="alert" { (problem) } }
            (correction_notice(checkout.errors, &general))
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
                            (text_field(&TextField {
                                id: &format!("address-{name}"),
                                name,
                                label: address_label(name),
                                value: checkout.form.value(name),
                                autocomplete: &format!("shipping {}", autocomplete(name)),
                                maxlength: if name == "country" { 2 } else { 200 },
                                required: name != "line2",
                                error: field_error(name),
                            }))
                        }
                    }
                    fieldset aria-describedby=[field_error("payment_token").map(|_| "payment-error")] {
                        legend { "Payment" }
                        p { "This is a demo shop: no real card is charged. Choose a test card:" }
                        @if let Some(error) = field_error("payment_token") {
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

    pub(super) const CHROME: Chrome<'static> = Chrome {
        logged_in: true,
        csrf: "tok",
    };

    pub(super) fn product(name: &str) -> Product {
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
            let forms = post_forms(&html);
            assert!(forms > 0);
            assert_eq!(forms, csrf_fields(&html), "{html}");
            // The rest are the search forms, which change nothing.
            assert_eq!(
                html.matches("<form").count() - forms,
                html.matches(r#"method="get""#).count()
            );
        }
    }

    /// The state-changing forms of a page.
    pub(super) fn post_forms(html: &str) -> usize {
        html.matches(r#"method="post""#).count()
    }

    pub(super) fn csrf_fields(html: &str) -> usize {
        html.matches(r#"<input type="hidden" name="csrf" value="tok">"#)
            .count()
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
    fn every_page_has_the_search_box_and_account_links() {
        let html = error(&CHROME, 404, None).into_string();
        assert!(
            html.contains(r#"<form class="search" role="search" method="get" action="/search">"#),
            "{html}"
        );
        assert!(html.contains(r#"<label class="visually-hidden" for="site-search">"#));
        assert!(html.contains(r#"name="q" maxlength="100""#));
        assert!(html.contains(r#"href="/notifications""#) && html.contains(r#"href="/profile""#));
        let anonymous = error(
            &Chrome {
                logged_in: false,
                csrf: "t",
            },
            404,
            None,
        )
        .into_string();
        assert!(anonymous.contains(r#"action="/search""#));
        assert!(!anonymous.contains("/notifications") && !anonymous.contains("/profile"));
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
