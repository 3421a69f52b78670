//! The audit trail's feed: the gateway is the one place that sees every security-relevant
//! request with its verified identity, client address, trace and outcome, so it hands each to
//! the `audit` component (`POST http://audit.spin.internal/records`) once it has the answer.
//!
//! Which requests, and under which stable action name, is decided here from the route table
//! (pure, unit-tested): the credential routes, and every admin route that changes something.
//! What is sent is the actor, never a credential: for a login the email is parsed out of the
//! body and the rest of the body is dropped. A failed audit write is logged and the client
//! still gets its answer: an unavailable audit store must not take the shop down with it.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};
use spin_sdk::http::{Request, Response};
use wasmshop_kit::error::ApiError;

use crate::Context;
use crate::routes::{self, Auth, Route};
use crate::upstream;

/// How long a request may wait for its audit entry to be written: the entry is one SQLite
/// insert, and a slow audit store must not slow the shop.
pub const TIMEOUT: Duration = Duration::from_millis(1500);

/// The actor of a credential request whose body named no email address (a typo, or worse, a
/// password typed into the email field: never kept).
pub const UNKNOWN_ACTOR: &str = "-";

/// The stable action name of a route and method, `None` when it is not audited: the credential
/// routes, and every admin-only route except reads.
pub fn action(route: &Route, method: &str) -> Option<String> {
    let named = match (method, route.pattern) {
        ("POST", "/auth/login") => "auth.login",
        ("POST", "/auth/logout") => "auth.logout",
        ("POST", "/auth/bootstrap-admin") => "auth.bootstrap-admin",
        _ if route.auth != Auth::Admin || matches!(method, "GET" | "HEAD" | "OPTIONS") => {
            return None;
        }
        ("POST", "/products") => "catalog.product.create",
        ("PUT", "/products/{id}") => "catalog.product.update",
        ("DELETE", "/products/{id}") => "catalog.product.delete",
        ("POST", "/categories") => "catalog.category.create",
        ("PUT", "/inventory/{id}") => "catalog.stock.set",
        ("POST", "/admin/payments/payments/{id}/refund") => "payments.refund",
        ("POST", "/shipments/{id}/status") => "shipping.shipment.status",
        ("POST", "/shipments/{id}/cancel") => "shipping.shipment.cancel",
        _ => return operator_action(route, method),
    };
    Some(named.to_owned())
}

/// The operator routes every context has (`/admin/<context>/...`), and any admin write not
/// named above: `<upstream>.<words of the path>`, so a new admin route is audited from the
/// start under a name that does not change.
fn operator_action(route: &Route, method: &str) -> Option<String> {
    let segments: Vec<&str> = route
        .pattern
        .split('/')
        .filter(|s| !s.is_empty() && !s.starts_with('{'))
        .collect();
    let named = match (method, segments.as_slice()) {
        ("POST", ["admin", context, "recovery"]) => format!("{context}.recovery"),
        ("POST", ["admin", context, "dead-letters", "retry"]) => {
            format!("{context}.dead-letter.retry")
        }
        ("DELETE", ["admin", context, "dead-letters"]) => format!("{context}.dead-letter.discard"),
        _ => {
            let words: Vec<&str> = segments
                .iter()
                .copied()
                .filter(|s| *s != "admin" && *s != route.upstream)
                .collect();
            format!(
                "{}.{}.{}",
                route.upstream,
                words.join("."),
                method.to_ascii_lowercase()
            )
        }
    };
    Some(named)
}

/// The email a credential request names, normalised as users does, when it is shaped like an
/// address; anything else (absent, not JSON, a 100 KB string, a password typed in the wrong
/// field) is [`UNKNOWN_ACTOR`]. Nothing else of the body is read.
pub fn email_of(body: &[u8]) -> String {
    #[derive(Deserialize)]
    struct Named {
        email: Option<String>,
    }
    let email = serde_json::from_slice::<Named>(body)
        .ok()
        .and_then(|named| named.email)
        .map(|email| email.trim().to_lowercase());
    match email {
        Some(email)
            if email.len() <= 254
                && email.bytes().all(|b| b.is_ascii_graphic())
                && email.split_once('@').is_some_and(|(local, domain)| {
                    !local.is_empty() && domain.contains('.') && !domain.contains('@')
                }) =>
        {
            email
        }
        _ => UNKNOWN_ACTOR.to_owned(),
    }
}

/// An audited request before its answer: who did what.
#[derive(Debug, PartialEq, Eq)]
pub struct Pending {
    pub action: String,
    pub actor: String,
    pub actor_role: Option<String>,
}

/// What to record of this request, if anything: the verified `(id, role)` when the caller
/// has one (a user's token, or the recovery credential), else the email the body names.
pub fn pending(
    route: &Route,
    method: &str,
    identity: Option<(&str, &str)>,
    body: &[u8],
) -> Option<Pending> {
    let action = action(route, method)?;
    Some(match identity {
        Some((id, role)) => Pending {
            action,
            actor: id.to_owned(),
            actor_role: Some(role.to_owned()),
        },
        None => Pending {
            action,
            actor: email_of(body),
            actor_role: None,
        },
    })
}

/// The entry `audit` stores (`wasmshop:audit/types.new-entry`).
pub fn entry(pending: Pending, context: &Context, status: u16) -> Value {
    json!({
        "actor": pending.actor,
        "actor_role": pending.actor_role,
        "action": pending.action,
        "outcome": if status < 400 { "success" } else { "failure" },
        "status": status,
        "method": context.method.to_string(),
        "path": context.path,
        "client_addr": context.client.map(|ip| ip.to_string()),
        "trace_id": context.trace.trace_id,
        "request_id": context.request_id,
    })
}

/// Writes the entry of an answered request; a failure is logged, never the client's problem.
pub async fn record(pending: Pending, context: &Context, answer: &Result<Response, ApiError>) {
    let status = match answer {
        Ok(response) => *response.status(),
        Err(error) => error.status,
    };
    let action = pending.action.clone();
    let request = Request::post(
        format!("{}/records", upstream::base_url(routes::AUDIT)),
        entry(pending, context, status).to_string(),
    )
    .header("content-type", "application/json")
    .header("traceparent", context.trace.header())
    .header("x-request-id", context.request_id.clone())
    .build();
    let failure = match upstream::send(request, TIMEOUT).await {
        Ok(response) if *response.status() == 201 => return,
        Ok(response) => format!("answered {}", response.status()),
        Err(upstream::UpstreamError::Timeout) => "timed out".to_owned(),
        Err(upstream::UpstreamError::Failed(reason)) => reason,
    };
    wasmshop_kit::trace::log(
        "gateway",
        format_args!("audit entry `{action}` ({status}) not written: {failure}"),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::{Match, ROUTES, match_route};
    use wasmshop_kit::token::Claims;

    fn route(path: &str, method: &str) -> &'static Route {
        match match_route(ROUTES, path, method) {
            Match::Found { route, .. } => route,
            other => panic!("{method} {path}: {other:?}"),
        }
    }

    fn action_of(path: &str, method: &str) -> Option<String> {
        action(route(path, method), method)
    }

    #[test]
    fn credential_routes_and_admin_writes_are_audited_under_stable_names() {
        for (method, path, expected) in [
            ("POST", "/api/v1/auth/login", "auth.login"),
            ("POST", "/api/v1/auth/logout", "auth.logout"),
            (
                "POST",
                "/api/v1/auth/bootstrap-admin",
                "auth.bootstrap-admin",
            ),
            ("POST", "/api/v1/products", "catalog.product.create"),
            ("PUT", "/api/v1/products/p-1", "catalog.product.update"),
            ("DELETE", "/api/v1/products/p-1", "catalog.product.delete"),
            ("PUT", "/api/v1/inventory/p-1", "catalog.stock.set"),
            (
                "POST",
                "/api/v1/admin/payments/payments/p-1/refund",
                "payments.refund",
            ),
            (
                "POST",
                "/api/v1/shipments/s-1/status",
                "shipping.shipment.status",
            ),
            ("POST", "/api/v1/admin/orders/recovery", "orders.recovery"),
            (
                "POST",
                "/api/v1/admin/users/dead-letters/d-1/retry",
                "users.dead-letter.retry",
            ),
            (
                "DELETE",
                "/api/v1/admin/shipping/dead-letters/d-1",
                "shipping.dead-letter.discard",
            ),
        ] {
            assert_eq!(
                action_of(path, method).as_deref(),
                Some(expected),
                "{method} {path}"
            );
        }
    }

    #[test]
    fn reads_and_customer_writes_are_not_audited() {
        for (method, path) in [
            ("GET", "/api/v1/products"),
            ("GET", "/api/v1/inventory/p-1"),
            ("GET", "/api/v1/admin/orders/dead-letters"),
            ("GET", "/api/v1/admin/audit"),
            ("POST", "/api/v1/orders"),
            ("PATCH", "/api/v1/users/me"),
            ("POST", "/api/v1/auth/register"),
        ] {
            assert_eq!(action_of(path, method), None, "{method} {path}");
        }
    }

    /// Every admin write of the table is audited, under a name no other route has: an entry's
    /// action says which route it was.
    #[test]
    fn every_admin_write_has_its_own_action() {
        let mut seen = std::collections::BTreeMap::new();
        for route in ROUTES {
            for method in route.methods {
                let audited = action(route, method);
                if route.auth == Auth::Admin && *method != "GET" {
                    let name = audited.unwrap_or_else(|| panic!("{method} {}", route.pattern));
                    assert!(
                        name.bytes()
                            .all(|b| b.is_ascii_lowercase() || b == b'.' || b == b'-'),
                        "{name}"
                    );
                    if let Some(other) = seen.insert(name.clone(), route.pattern) {
                        panic!("{name}: {other} and {}", route.pattern);
                    }
                }
            }
        }
    }

    #[test]
    fn a_login_is_recorded_by_its_email_and_never_its_password() {
        let body = br#"{"email":" Mallory@Example.com ","password":"hunter2-secret"}"#;
        let login = route("/api/v1/auth/login", "POST");
        let pending = pending(login, "POST", None, body).expect("audited");
        assert_eq!(
            pending,
            Pending {
                action: "auth.login".into(),
                actor: "mallory@example.com".into(),
                actor_role: None,
            }
        );
        assert!(!format!("{pending:?}").contains("hunter2"));
        // A password typed into the email field, junk, or nothing: no actor is made up of it.
        for body in [
            &br#"{"email":"hunter2-secret","password":"x"}"#[..],
            br#"{"email":"two words@example.com"}"#,
            br#"{"password":"x"}"#,
            b"not json",
            b"",
        ] {
            assert_eq!(
                email_of(body),
                UNKNOWN_ACTOR,
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        assert_eq!(
            email_of(format!(r#"{{"email":"{}@x.io"}}"#, "a".repeat(300)).as_bytes()),
            UNKNOWN_ACTOR
        );
    }

    #[test]
    fn a_token_holder_is_recorded_by_the_verified_identity() {
        let claims = Claims {
            sub: "0190d7a0-0000-7000-8000-0000000ad111".into(),
            role: "admin".into(),
            jti: "j".into(),
            exp: 0,
            nbf: None,
            iat: None,
            iss: "wasmshop".into(),
            aud: "wasmshop-api".into(),
        };
        let refund = route("/api/v1/admin/payments/payments/p-1/refund", "POST");
        // A body naming someone else does not change who acted.
        let pending = pending(
            refund,
            "POST",
            Some((&claims.sub, &claims.role)),
            br#"{"email":"x@y.io"}"#,
        )
        .expect("audited");
        assert_eq!(pending.actor, claims.sub);
        assert_eq!(pending.actor_role.as_deref(), Some("admin"));
    }
}
