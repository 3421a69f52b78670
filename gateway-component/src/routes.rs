//! The public route table — the one place that says which `/api/v1` path reaches which
//! component, with which methods, under which auth requirement and route class — and its pure
//! matcher.
//!
//! The matching itself is `wasmshop_kit::router`'s, the one every component routes by; this
//! table's rows carry more than a component's (upstream, upstream path, auth, class), so the
//! gateway keeps its own row type and lends it to the kit's matcher through `router::Row`.

use wasmshop_kit::router;

/// Every public API path starts with this; the upstream path is the rest.
pub const API_PREFIX: &str = "/api/v1";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// No token needed (a present token must still be valid).
    Public,
    /// Any valid, unrevoked token.
    Authenticated,
    /// A valid token whose role is `admin`.
    Admin,
}

/// Groups routes for limits and timeouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Credential endpoints (register, login).
    Auth,
    Read,
    Write,
}

impl Class {
    /// How long the upstream may take, retries included; below the runtime's 30 s deadline.
    /// Writes get longest: checkout prices its lines through two more services.
    pub fn timeout(self) -> std::time::Duration {
        std::time::Duration::from_secs(match self {
            Class::Auth => 10,
            Class::Read => 5,
            Class::Write => 20,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Class::Auth => "auth",
            Class::Read => "read",
            Class::Write => "write",
        }
    }
}

/// One row of the table. `pattern` and `upstream_path` use `{name}` for one path segment.
#[derive(Debug, PartialEq, Eq)]
pub struct Route {
    pub pattern: &'static str,
    pub methods: &'static [&'static str],
    /// Component id, reached as `http://<upstream>.spin.internal`.
    pub upstream: &'static str,
    pub upstream_path: &'static str,
    pub auth: Auth,
    pub class: Class,
}

const fn route(
    pattern: &'static str,
    methods: &'static [&'static str],
    upstream: &'static str,
    upstream_path: &'static str,
    auth: Auth,
    class: Class,
) -> Route {
    Route {
        pattern,
        methods,
        upstream,
        upstream_path,
        auth,
        class,
    }
}

pub const USERS: &str = "users";
pub const CATALOG: &str = "catalog";
pub const ORDERS: &str = "orders";
pub const PAYMENTS: &str = "payments";
pub const SHIPPING: &str = "shipping";
pub const NOTIFICATIONS: &str = "notifications";
/// The audit trail: fed by the gateway itself (`audit.rs`), read by admins. No bounded
/// context (no outbox, no inbox), so it has no operator routes; and not among the
/// [`UPSTREAMS`] `/ready` checks, since the shop serves while it is down.
pub const AUDIT: &str = "audit";

/// The upstreams `/ready` checks: every context.
pub const UPSTREAMS: &[&str] = &wasmshop_kit::CONTEXTS;

/// The table: the rows given, then for every context its operator routes under
/// `/admin/<context>/...` (recovery tick, dead letters), all admin-only.
macro_rules! route_table {
    ([$($row:expr),* $(,)?], [$($upstream:ident $name:literal),* $(,)?]) => {
        &[
            $($row,)*
            $(
                route(concat!("/admin/", $name, "/recovery"), &["POST"], $upstream, "/admin/recovery", Auth::Admin, Class::Write),
                route(concat!("/admin/", $name, "/dead-letters"), &["GET"], $upstream, "/admin/dead-letters", Auth::Admin, Class::Read),
                route(concat!("/admin/", $name, "/dead-letters/{id}"), &["GET"], $upstream, "/admin/dead-letters/{id}", Auth::Admin, Class::Read),
                route(concat!("/admin/", $name, "/dead-letters/{id}"), &["DELETE"], $upstream, "/admin/dead-letters/{id}", Auth::Admin, Class::Write),
                route(concat!("/admin/", $name, "/dead-letters/{id}/retry"), &["POST"], $upstream, "/admin/dead-letters/{id}/retry", Auth::Admin, Class::Write),
            )*
        ]
    };
}

/// The public API. Catalog's `/reservations` routes and every context's `/events` route are
/// internal and deliberately absent.
#[rustfmt::skip]
pub const ROUTES: &[Route] = route_table!([
    route("/auth/register", &["POST"], USERS, "/auth/register", Auth::Public, Class::Auth),
    route("/auth/login", &["POST"], USERS, "/auth/login", Auth::Public, Class::Auth),
    route("/auth/bootstrap-admin", &["POST"], USERS, "/auth/bootstrap-admin", Auth::Public, Class::Auth),
    route("/auth/logout", &["POST"], USERS, "/auth/logout", Auth::Authenticated, Class::Write),
    route("/users/me", &["GET"], USERS, "/users/me", Auth::Authenticated, Class::Read),
    route("/users/me", &["PATCH"], USERS, "/users/me", Auth::Authenticated, Class::Write),
    route("/products", &["GET"], CATALOG, "/products", Auth::Public, Class::Read),
    route("/products", &["POST"], CATALOG, "/products", Auth::Admin, Class::Write),
    route("/products/{id}", &["GET"], CATALOG, "/products/{id}", Auth::Public, Class::Read),
    route("/products/{id}", &["PUT", "DELETE"], CATALOG, "/products/{id}", Auth::Admin, Class::Write),
    route("/categories", &["GET"], CATALOG, "/categories", Auth::Public, Class::Read),
    route("/categories", &["POST"], CATALOG, "/categories", Auth::Admin, Class::Write),
    route("/inventory/{id}", &["GET"], CATALOG, "/inventory/{id}", Auth::Admin, Class::Read),
    route("/inventory/{id}", &["PUT"], CATALOG, "/inventory/{id}", Auth::Admin, Class::Write),
    route("/cart", &["GET"], ORDERS, "/cart", Auth::Authenticated, Class::Read),
    route("/cart", &["DELETE"], ORDERS, "/cart", Auth::Authenticated, Class::Write),
    route("/cart/items", &["POST"], ORDERS, "/cart/items", Auth::Authenticated, Class::Write),
    route("/cart/items/{product_id}", &["PATCH", "DELETE"], ORDERS, "/cart/items/{product_id}", Auth::Authenticated, Class::Write),
    route("/orders", &["GET"], ORDERS, "/orders", Auth::Authenticated, Class::Read),
    route("/orders", &["POST"], ORDERS, "/orders", Auth::Authenticated, Class::Write),
    route("/orders/{id}", &["GET"], ORDERS, "/orders/{id}", Auth::Authenticated, Class::Read),
    route("/orders/{id}/cancel", &["POST"], ORDERS, "/orders/{id}/cancel", Auth::Authenticated, Class::Write),
    route("/payments", &["GET"], PAYMENTS, "/payments", Auth::Authenticated, Class::Read),
    route("/payments/{id}", &["GET"], PAYMENTS, "/payments/{id}", Auth::Authenticated, Class::Read),
    route("/shipping/quotes", &["GET"], SHIPPING, "/quotes", Auth::Public, Class::Read),
    route("/shipments", &["GET"], SHIPPING, "/shipments", Auth::Authenticated, Class::Read),
    route("/shipments/{id}", &["GET"], SHIPPING, "/shipments/{id}", Auth::Authenticated, Class::Read),
    route("/shipments/{id}/status", &["POST"], SHIPPING, "/shipments/{id}/status", Auth::Admin, Class::Write),
    route("/shipments/{id}/cancel", &["POST"], SHIPPING, "/shipments/{id}/cancel", Auth::Admin, Class::Write),
    route("/notifications", &["GET"], NOTIFICATIONS, "/notifications", Auth::Authenticated, Class::Read),
    route("/notifications/{id}/read", &["POST"], NOTIFICATIONS, "/notifications/{id}/read", Auth::Authenticated, Class::Write),
    route("/admin/payments/payments/{id}/refund", &["POST"], PAYMENTS, "/admin/payments/{id}/refund", Auth::Admin, Class::Write),
    route("/admin/notifications/notifications", &["GET"], NOTIFICATIONS, "/admin/notifications", Auth::Admin, Class::Read),
    route("/admin/audit", &["GET"], AUDIT, "/records", Auth::Admin, Class::Read),
], [
    USERS "users", CATALOG "catalog", ORDERS "orders", PAYMENTS "payments", SHIPPING "shipping",
    NOTIFICATIONS "notifications",
]);

#[derive(Debug, PartialEq, Eq)]
pub enum Match<'a> {
    Found {
        route: &'a Route,
        /// The upstream path with the parameters filled in.
        upstream_path: String,
    },
    /// The path exists, not with this method: the methods it has, for `Allow`.
    MethodNotAllowed(Vec<&'static str>),
    NotFound,
}

impl router::Row for Route {
    fn pattern(&self) -> &'static str {
        self.pattern
    }

    fn methods(&self) -> &'static [&'static str] {
        self.methods
    }
}

/// A path parameter is one segment of `[A-Za-z0-9_-]`: no dot segments, no encoded slashes,
/// nothing an upstream could re-interpret.
fn valid_param(segment: &str) -> bool {
    !segment.is_empty()
        && segment.len() <= 128
        && segment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Matches a public path (with the `/api/v1` prefix) and method against `table`, by
/// `wasmshop_kit::router` with the gateway's stricter parameters.
pub fn match_route<'a>(table: &'a [Route], path: &str, method: &str) -> Match<'a> {
    let Some(rest) = path.strip_prefix(API_PREFIX) else {
        return Match::NotFound;
    };
    if !(rest.is_empty() || rest.starts_with('/')) {
        return Match::NotFound;
    }
    match router::find_where(table, rest, method, valid_param) {
        router::Match::Found { route, params } => {
            let mut upstream_path = route.upstream_path.to_owned();
            for (name, value) in params.iter() {
                upstream_path = upstream_path.replace(&format!("{{{name}}}"), value);
            }
            Match::Found {
                route,
                upstream_path,
            }
        }
        router::Match::MethodNotAllowed(allowed) => Match::MethodNotAllowed(allowed),
        router::Match::NotFound => Match::NotFound,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(path: &str, method: &str) -> (&'static Route, String) {
        match match_route(ROUTES, path, method) {
            Match::Found {
                route,
                upstream_path,
            } => (route, upstream_path),
            other => panic!("{method} {path}: {other:?}"),
        }
    }

    #[test]
    fn maps_public_paths_to_upstreams() {
        let (route, path) = found("/api/v1/auth/login", "POST");
        assert_eq!(
            (route.upstream, route.auth, path.as_str()),
            (USERS, Auth::Public, "/auth/login")
        );
        let (route, path) = found("/api/v1/users/me", "PATCH");
        assert_eq!(
            (route.upstream, route.auth, route.class),
            (USERS, Auth::Authenticated, Class::Write)
        );
        assert_eq!(path, "/users/me");
        let (route, path) = found(
            "/api/v1/products/0198c1f0-0000-7000-8000-000000000001",
            "GET",
        );
        assert_eq!((route.upstream, route.auth), (CATALOG, Auth::Public));
        assert_eq!(path, "/products/0198c1f0-0000-7000-8000-000000000001");
        assert_eq!(found("/api/v1/products/", "GET").1, "/products");
        assert_eq!(found("/api/v1/products", "POST").0.auth, Auth::Admin);
        assert_eq!(found("/api/v1/products/x", "DELETE").0.auth, Auth::Admin);
        assert_eq!(found("/api/v1/categories", "GET").0.auth, Auth::Public);
        assert_eq!(found("/api/v1/categories", "POST").0.auth, Auth::Admin);
        assert_eq!(found("/api/v1/inventory/abc", "GET").0.auth, Auth::Admin);
        assert_eq!(found("/api/v1/inventory/abc", "PUT").1, "/inventory/abc");
    }

    #[test]
    fn maps_the_shopping_contexts_and_their_operator_routes() {
        let (route, path) = found("/api/v1/cart/items/p-1", "PATCH");
        assert_eq!(
            (route.upstream, route.auth, path.as_str()),
            (ORDERS, Auth::Authenticated, "/cart/items/p-1")
        );
        assert_eq!(found("/api/v1/orders", "POST").0.class, Class::Write);
        assert_eq!(
            found("/api/v1/orders/o-1/cancel", "POST").1,
            "/orders/o-1/cancel"
        );
        assert_eq!(found("/api/v1/payments/p-1", "GET").0.upstream, PAYMENTS);
        let (route, path) = found("/api/v1/shipping/quotes", "GET");
        assert_eq!(
            (route.upstream, route.auth, path.as_str()),
            (SHIPPING, Auth::Public, "/quotes")
        );
        assert_eq!(
            found("/api/v1/shipments/s-1/status", "POST").0.auth,
            Auth::Admin
        );
        assert_eq!(
            found("/api/v1/shipments/s-1", "GET").0.auth,
            Auth::Authenticated
        );
        assert_eq!(
            found("/api/v1/notifications/n-1/read", "POST").0.upstream,
            NOTIFICATIONS
        );
        for context in UPSTREAMS {
            let (route, path) = found(&format!("/api/v1/admin/{context}/recovery"), "POST");
            assert_eq!(
                (route.upstream, route.auth, path.as_str()),
                (*context, Auth::Admin, "/admin/recovery")
            );
            let (route, path) = found(
                &format!("/api/v1/admin/{context}/dead-letters/d-1/retry"),
                "POST",
            );
            assert_eq!((route.upstream, route.auth), (*context, Auth::Admin));
            assert_eq!(path, "/admin/dead-letters/d-1/retry");
            assert_eq!(
                found(
                    &format!("/api/v1/admin/{context}/dead-letters/d-1"),
                    "DELETE"
                )
                .0
                .class,
                Class::Write
            );
            assert_eq!(
                found(&format!("/api/v1/admin/{context}/dead-letters"), "GET")
                    .0
                    .class,
                Class::Read
            );
        }
        assert_eq!(
            found("/api/v1/admin/payments/payments/p-1/refund", "POST").1,
            "/admin/payments/p-1/refund"
        );
        assert_eq!(
            match_route(ROUTES, "/api/v1/cart", "PUT"),
            Match::MethodNotAllowed(vec!["GET", "DELETE"])
        );
        let (route, path) = found("/api/v1/admin/audit", "GET");
        assert_eq!(
            (route.upstream, route.auth, path.as_str()),
            (AUDIT, Auth::Admin, "/records")
        );
        assert_eq!(
            match_route(ROUTES, "/api/v1/admin/audit/recovery", "POST"),
            Match::NotFound
        );
        assert_eq!(
            match_route(ROUTES, "/api/v1/admin/nobody/recovery", "POST"),
            Match::NotFound
        );
        assert_eq!(
            match_route(ROUTES, "/api/v1/events", "POST"),
            Match::NotFound
        );
    }

    #[test]
    fn writes_may_take_longer_than_reads_but_never_the_runtime_deadline() {
        assert!(Class::Read.timeout() < Class::Write.timeout());
        for class in [Class::Auth, Class::Read, Class::Write] {
            assert!(
                class.timeout() < std::time::Duration::from_secs(30),
                "{class:?}"
            );
        }
    }

    #[test]
    fn unknown_paths_and_hidden_routes_are_not_found() {
        for path in [
            "/",
            "/products",
            "/api/v1",
            "/api/v1/",
            "/api/v10/products",
            "/api/v1products",
            "/api/v1/reservations",
            "/api/v1/reservations/x/commit",
            "/api/v1/products/a/b",
            "/api/v1/products/..",
            "/api/v1/products/a%2Fb",
            "/api/v1/health/x",
        ] {
            assert_eq!(match_route(ROUTES, path, "GET"), Match::NotFound, "{path}");
            assert_eq!(match_route(ROUTES, path, "POST"), Match::NotFound, "{path}");
        }
    }

    #[test]
    fn wrong_method_lists_the_allowed_ones() {
        assert_eq!(
            match_route(ROUTES, "/api/v1/products/x", "PATCH"),
            Match::MethodNotAllowed(vec!["GET", "PUT", "DELETE"])
        );
        assert_eq!(
            match_route(ROUTES, "/api/v1/auth/login", "GET"),
            Match::MethodNotAllowed(vec!["POST"])
        );
        assert_eq!(
            match_route(ROUTES, "/api/v1/users/me", "DELETE"),
            Match::MethodNotAllowed(vec!["GET", "PATCH"])
        );
    }

    #[test]
    fn every_route_is_well_formed() {
        for route in ROUTES {
            assert!(route.pattern.starts_with('/'), "{route:?}");
            assert!(!route.methods.is_empty(), "{route:?}");
            assert!(
                UPSTREAMS.contains(&route.upstream) || route.upstream == AUDIT,
                "{route:?}"
            );
            assert!(!route.upstream_path.contains("reservations"), "{route:?}");
            assert!(!route.upstream_path.starts_with("/events"), "{route:?}");
            if route.pattern.starts_with("/admin/") {
                assert_eq!(route.auth, Auth::Admin, "{route:?}");
            }
        }
    }
}

/// The OpenAPI document (`openapi.json`, served at `/api/v1/openapi.json`) and this table
/// describe the same API: a route served but not documented, or documented but not served,
/// fails here.
#[cfg(test)]
mod openapi_tests {
    use std::collections::BTreeSet;

    use serde_json::Value;

    use super::*;

    /// The gateway's own endpoints, answered before the table is consulted.
    const OWN: [(&str, &str); 4] = [
        ("/health", "get"),
        ("/api/v1/health", "get"),
        ("/ready", "get"),
        ("/api/v1/openapi.json", "get"),
    ];

    fn document() -> Value {
        serde_json::from_str(crate::OPENAPI).expect("openapi.json is JSON")
    }

    fn documented(doc: &Value) -> BTreeSet<(String, String)> {
        let mut operations = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for method in [
                "get", "put", "post", "delete", "options", "head", "patch", "trace",
            ] {
                if item.get(method).is_some() {
                    operations.insert((path.clone(), method.to_owned()));
                }
            }
        }
        operations
    }

    fn served() -> BTreeSet<(String, String)> {
        let mut operations: BTreeSet<(String, String)> = ROUTES
            .iter()
            .flat_map(|route| {
                route.methods.iter().map(|method| {
                    (
                        format!("{API_PREFIX}{}", route.pattern),
                        method.to_ascii_lowercase(),
                    )
                })
            })
            .collect();
        operations.extend(OWN.iter().map(|(p, m)| ((*p).to_owned(), (*m).to_owned())));
        operations
    }

    #[test]
    fn the_document_lists_exactly_the_routes_served() {
        let doc = document();
        assert_eq!(doc["openapi"], "3.1.0");
        let documented = documented(&doc);
        let served = served();
        let undocumented: Vec<_> = served.difference(&documented).collect();
        let unserved: Vec<_> = documented.difference(&served).collect();
        assert!(
            undocumented.is_empty(),
            "served, not documented: {undocumented:?}"
        );
        assert!(unserved.is_empty(), "documented, not served: {unserved:?}");
    }

    #[test]
    fn operations_are_named_once_and_secured_as_their_routes() {
        let doc = document();
        let mut ids = BTreeSet::new();
        for (path, method) in documented(&doc) {
            let operation = &doc["paths"][&path][&method];
            let id = operation["operationId"].as_str().expect("operationId");
            assert!(ids.insert(id.to_owned()), "operationId {id} twice");
            let secured = operation["security"]
                .as_array()
                .is_some_and(|s| !s.is_empty());
            let route = path.strip_prefix(API_PREFIX).and_then(|pattern| {
                ROUTES.iter().find(|r| {
                    r.pattern == pattern
                        && r.methods.iter().any(|m| m.eq_ignore_ascii_case(&method))
                })
            });
            let needs_token = route.is_some_and(|r| r.auth != Auth::Public);
            assert_eq!(secured, needs_token, "{method} {path}: security");
            if route.is_some_and(|r| r.auth == Auth::Admin) {
                assert!(
                    operation["responses"].get("403").is_some(),
                    "{method} {path} documents its 403"
                );
            }
        }
    }

    /// Every `$ref` points at something in the document.
    #[test]
    fn every_reference_resolves() {
        fn walk(doc: &Value, value: &Value, found: &mut Vec<String>) {
            match value {
                Value::Object(map) => {
                    if let Some(reference) = map.get("$ref").and_then(Value::as_str) {
                        let pointer = reference.trim_start_matches('#');
                        if doc.pointer(pointer).is_none() {
                            found.push(reference.to_owned());
                        }
                    }
                    map.values().for_each(|v| walk(doc, v, found));
                }
                Value::Array(items) => items.iter().for_each(|v| walk(doc, v, found)),
                _ => {}
            }
        }
        let doc = document();
        let mut dangling = Vec::new();
        walk(&doc, &doc, &mut dangling);
        assert!(dangling.is_empty(), "dangling: {dangling:?}");
    }
}
