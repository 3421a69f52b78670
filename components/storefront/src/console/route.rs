//! The console's pages: which one a method and the path under `/console` ask for.

use crate::route::{Page, valid_id};

/// The bounded contexts with operator routes (`/api/v1/admin/<context>/...`): dead letters and
/// a recovery pass each. A path naming anything else is not found.
pub use wasmshop_kit::CONTEXTS;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsolePage<'a> {
    Home,
    Products,
    NewProduct,
    CreateProduct,
    Product { id: &'a str },
    UpdateProduct { id: &'a str },
    RetireProduct { id: &'a str },
    Stock,
    SetStock { product_id: &'a str },
    Shipments,
    Shipment { id: &'a str },
    SetShipmentStatus { id: &'a str },
    Payments,
    Payment { id: &'a str },
    Refund { id: &'a str },
    DeadLetterContexts,
    DeadLetters { context: &'static str },
    DeadLetter { context: &'static str, id: &'a str },
    RetryDeadLetter { context: &'static str, id: &'a str },
    DiscardDeadLetter { context: &'static str, id: &'a str },
    Recovery { context: &'static str },
    Audit,
}

impl ConsolePage<'_> {
    /// Whether the page changes state: a POST, which must carry a valid CSRF token.
    pub fn is_form_post(&self) -> bool {
        use ConsolePage as C;
        matches!(
            self,
            C::CreateProduct
                | C::UpdateProduct { .. }
                | C::RetireProduct { .. }
                | C::SetStock { .. }
                | C::SetShipmentStatus { .. }
                | C::Refund { .. }
                | C::RetryDeadLetter { .. }
                | C::DiscardDeadLetter { .. }
                | C::Recovery { .. }
        )
    }
}

fn context(name: &str) -> Option<&'static str> {
    CONTEXTS.iter().copied().find(|context| *context == name)
}

const GET: &str = "GET, HEAD";
const POST: &str = "POST";
const GET_POST: &str = "GET, HEAD, POST";

/// The page of `method` and the path segments after `/console`.
pub fn route<'a>(method: &str, rest: &[&'a str]) -> Page<'a> {
    use ConsolePage as C;
    let get = method == "GET" || method == "HEAD";
    let post = method == "POST";
    let page = match rest {
        [] | [""] => get.then_some(C::Home).ok_or(GET),
        ["products"] if get => Ok(C::Products),
        ["products"] => post.then_some(C::CreateProduct).ok_or(GET_POST),
        // Before `{id}`: product ids are UUIDs, never `new`.
        ["products", "new"] => get.then_some(C::NewProduct).ok_or(GET),
        ["products", id] if valid_id(id) && get => Ok(C::Product { id }),
        ["products", id] if valid_id(id) => post.then_some(C::UpdateProduct { id }).ok_or(GET_POST),
        ["products", id, "retire"] if valid_id(id) => {
            post.then_some(C::RetireProduct { id }).ok_or(POST)
        }
        ["stock"] => get.then_some(C::Stock).ok_or(GET),
        ["stock", id] if valid_id(id) => post.then_some(C::SetStock { product_id: id }).ok_or(POST),
        ["shipments"] => get.then_some(C::Shipments).ok_or(GET),
        ["shipments", id] if valid_id(id) => get.then_some(C::Shipment { id }).ok_or(GET),
        ["shipments", id, "status"] if valid_id(id) => {
            post.then_some(C::SetShipmentStatus { id }).ok_or(POST)
        }
        ["payments"] => get.then_some(C::Payments).ok_or(GET),
        ["payments", id] if valid_id(id) => get.then_some(C::Payment { id }).ok_or(GET),
        ["payments", id, "refund"] if valid_id(id) => post.then_some(C::Refund { id }).ok_or(POST),
        ["dead-letters"] => get.then_some(C::DeadLetterContexts).ok_or(GET),
        ["dead-letters", name, tail @ ..] => {
            let Some(context) = context(name) else {
                return Page::NotFound;
            };
            match tail {
                [] => get.then_some(C::DeadLetters { context }).ok_or(GET),
                [id] if valid_id(id) => get.then_some(C::DeadLetter { context, id }).ok_or(GET),
                [id, "retry"] if valid_id(id) => post
                    .then_some(C::RetryDeadLetter { context, id })
                    .ok_or(POST),
                [id, "discard"] if valid_id(id) => post
                    .then_some(C::DiscardDeadLetter { context, id })
                    .ok_or(POST),
                _ => return Page::NotFound,
            }
        }
        ["recovery", name] => match context(name) {
            Some(context) => post.then_some(C::Recovery { context }).ok_or(POST),
            None => return Page::NotFound,
        },
        ["audit"] => get.then_some(C::Audit).ok_or(GET),
        _ => return Page::NotFound,
    };
    page.map_or_else(Page::MethodNotAllowed, Page::Console)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::route::route as site;

    fn console(method: &str, path: &'static str) -> ConsolePage<'static> {
        match site(method, path) {
            Page::Console(page) => page,
            other => panic!("{method} {path}: {other:?}"),
        }
    }

    #[test]
    fn paths_and_methods_name_console_pages() {
        use ConsolePage as C;
        for (method, path, page) in [
            ("GET", "/console", C::Home),
            ("GET", "/console/", C::Home),
            ("HEAD", "/console", C::Home),
            ("GET", "/console/products", C::Products),
            ("POST", "/console/products", C::CreateProduct),
            ("GET", "/console/products/new", C::NewProduct),
            ("GET", "/console/products/p-1", C::Product { id: "p-1" }),
            (
                "POST",
                "/console/products/p-1",
                C::UpdateProduct { id: "p-1" },
            ),
            (
                "POST",
                "/console/products/p-1/retire",
                C::RetireProduct { id: "p-1" },
            ),
            ("GET", "/console/stock", C::Stock),
            (
                "POST",
                "/console/stock/p_1",
                C::SetStock { product_id: "p_1" },
            ),
            ("GET", "/console/shipments", C::Shipments),
            ("GET", "/console/shipments/s1", C::Shipment { id: "s1" }),
            (
                "POST",
                "/console/shipments/s1/status",
                C::SetShipmentStatus { id: "s1" },
            ),
            ("GET", "/console/payments", C::Payments),
            ("GET", "/console/payments/y1", C::Payment { id: "y1" }),
            (
                "POST",
                "/console/payments/y1/refund",
                C::Refund { id: "y1" },
            ),
            ("GET", "/console/dead-letters", C::DeadLetterContexts),
            (
                "GET",
                "/console/dead-letters/orders",
                C::DeadLetters { context: "orders" },
            ),
            (
                "GET",
                "/console/dead-letters/shipping/d1",
                C::DeadLetter {
                    context: "shipping",
                    id: "d1",
                },
            ),
            (
                "POST",
                "/console/dead-letters/users/d1/retry",
                C::RetryDeadLetter {
                    context: "users",
                    id: "d1",
                },
            ),
            (
                "POST",
                "/console/dead-letters/notifications/d1/discard",
                C::DiscardDeadLetter {
                    context: "notifications",
                    id: "d1",
                },
            ),
            (
                "POST",
                "/console/recovery/payments",
                C::Recovery {
                    context: "payments",
                },
            ),
            ("GET", "/console/audit", C::Audit),
        ] {
            assert_eq!(console(method, path), page, "{method} {path}");
        }
    }

    #[test]
    fn every_context_has_its_dead_letters_and_recovery() {
        for context in CONTEXTS {
            assert_eq!(
                site("GET", &format!("/console/dead-letters/{context}")),
                Page::Console(ConsolePage::DeadLetters { context })
            );
            assert_eq!(
                site("POST", &format!("/console/recovery/{context}")),
                Page::Console(ConsolePage::Recovery { context })
            );
        }
    }

    #[test]
    fn unknown_paths_contexts_and_ids_are_not_found() {
        for path in [
            "/console/nope",
            "/console/products/a b",
            "/console/products/p/edit",
            "/console/dead-letters/audit",
            "/console/dead-letters/../users",
            "/console/dead-letters/orders/d1/resend",
            "/console/dead-letters/orders/<x>",
            "/console/recovery/audit",
            "/console/recovery",
            "/console/shipments/s1/status/x",
            "/consoles",
        ] {
            assert_eq!(site("GET", path), Page::NotFound, "{path}");
            assert_eq!(site("POST", path), Page::NotFound, "{path}");
        }
    }

    #[test]
    fn a_wrong_method_names_the_right_ones() {
        for (method, path, allowed) in [
            ("POST", "/console", GET),
            ("DELETE", "/console/products", GET_POST),
            ("POST", "/console/products/new", GET),
            ("PUT", "/console/products/p1", GET_POST),
            ("GET", "/console/products/p1/retire", POST),
            ("POST", "/console/stock", GET),
            ("GET", "/console/stock/p1", POST),
            ("GET", "/console/shipments/s1/status", POST),
            ("GET", "/console/payments/y1/refund", POST),
            ("POST", "/console/dead-letters/orders", GET),
            ("DELETE", "/console/dead-letters/orders/d1", GET),
            ("GET", "/console/dead-letters/orders/d1/retry", POST),
            ("GET", "/console/recovery/orders", POST),
            ("POST", "/console/audit", GET),
        ] {
            assert_eq!(
                site(method, path),
                Page::MethodNotAllowed(allowed),
                "{method} {path}"
            );
        }
    }

    #[test]
    fn exactly_the_state_changing_posts_are_form_posts() {
        for (method, path) in [
            ("POST", "/console/products"),
            ("POST", "/console/products/p1"),
            ("POST", "/console/products/p1/retire"),
            ("POST", "/console/stock/p1"),
            ("POST", "/console/shipments/s1/status"),
            ("POST", "/console/payments/y1/refund"),
            ("POST", "/console/dead-letters/orders/d1/retry"),
            ("POST", "/console/dead-letters/orders/d1/discard"),
            ("POST", "/console/recovery/orders"),
        ] {
            assert!(site(method, path).is_form_post(), "{method} {path}");
        }
        for path in [
            "/console",
            "/console/products",
            "/console/products/p1",
            "/console/audit",
            "/console/dead-letters/orders/d1",
        ] {
            assert!(!site("GET", path).is_form_post(), "{path}");
        }
    }
}
