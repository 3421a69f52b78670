//! The HTML of every page (maud: checked at compile time, every interpolation escaped). No
//! script and no inline style: the Content-Security-Policy forbids both.

use maud::{DOCTYPE, Markup, html};

use crate::model::{Cart, Category, Product};
use crate::route::{Paging, STYLESHEET};
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
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · wasmshop" }
                link rel="stylesheet" href=(STYLESHEET);
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header {
                    a.brand href="/" { "wasmshop" }
                    nav aria-label="Account" {
                        ul {
                            li { a href="/cart" { "Cart" } }
                            @if chrome.logged_in {
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

/// The stylesheet (served from the component until Spin `files` mounts reach local-infra).
pub const CSS: &str = "\
:root{font-family:system-ui,sans-serif;line-height:1.5;color:#1d1d1f;background:#fff}
body{margin:0 auto;max-width:64rem;padding:0 1rem}
.skip{position:absolute;left:-999px}.skip:focus{left:1rem;top:1rem;background:#fff;padding:.5rem}
header{display:flex;flex-wrap:wrap;justify-content:space-between;align-items:center;border-bottom:1px solid #ddd}
header ul,.categories{display:flex;flex-wrap:wrap;gap:1rem;list-style:none;padding:0}
.brand{font-weight:700;font-size:1.25rem;text-decoration:none;color:inherit}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(12rem,1fr));gap:1rem;list-style:none;padding:0}
.card{border:1px solid #ddd;border-radius:.5rem;padding:1rem}
.price{font-weight:700}
.error{color:#a00000;border-left:4px solid #a00000;padding-left:.5rem}
form{display:inline}
main form[action='/login'],main form[action='/register']{display:grid;gap:.5rem;max-width:24rem}
input,button{font:inherit;padding:.25rem .5rem}
table{width:100%;border-collapse:collapse}th,td{text-align:left;padding:.5rem;border-bottom:1px solid #eee}
.visually-hidden{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}
.paging{display:flex;gap:1rem;margin:1rem 0}
footer{border-top:1px solid #ddd;margin-top:2rem;color:#555}
@media (max-width:40rem){table,thead,tbody,tr,td,th{display:block}thead{display:none}}
";

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
        for html in [
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
}
