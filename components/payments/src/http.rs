//! The thin HTTP adapter (private routes; the gateway maps `/api/v1/payments...` here).
//!
//! | route | who |
//! | --- | --- |
//! | `GET /health` | anyone |
//! | `GET /payments/{id}` | its owner, admins |
//! | `GET /payments?order_id=&page=&limit=` | own payments (admins: all) |
//! | `POST /admin/payments/{id}/refund` | admin |
//! | `POST /events`, `/admin/recovery`, `/admin/dead-letters...` | `wasmshop_kit::messaging` |

use serde_json::json;
use spin_sdk::http::{Method, Request, Response};
use wasmshop_kit::error::ApiError;
use wasmshop_kit::http::{Page, Query, segments};
use wasmshop_kit::identity::Identity;
use wasmshop_kit::json::json_response;

use crate::{messages, repo, service};

pub fn handle(req: Request) -> Response {
    if let Some(response) = wasmshop_kit::messaging::routes(
        &req,
        &repo::open,
        &messages::PaymentCommands,
        service::SOURCE,
    ) {
        return response;
    }
    route(&req).unwrap_or_else(ApiError::into_response)
}

fn route(req: &Request) -> Result<Response, ApiError> {
    let path = segments(req.path());
    if path.as_slice() == ["health"] {
        return match req.method() {
            Method::Get => Ok(json_response(200, &json!({ "status": "ok" }))),
            _ => Err(ApiError::method_not_allowed(&["GET"])),
        };
    }
    if service::provider_down() {
        return Err(ApiError::new(
            503,
            "provider_unavailable",
            "the payment provider is unavailable",
        ));
    }
    match (req.method(), path.as_slice()) {
        (Method::Get, ["payments"]) => {
            let identity = Identity::require(req)?;
            let query = Query::parse(req.query());
            let page = Page::from_query(&query)?;
            let order_id = query.get("order_id");
            Ok(json_response(
                200,
                &service::list(&identity, order_id, page)?,
            ))
        }
        (Method::Get, ["payments", id]) => {
            let identity = Identity::require(req)?;
            Ok(json_response(200, &service::get(&identity, id)?))
        }
        (Method::Post, ["admin", "payments", id, "refund"]) => {
            Identity::require_admin(req)?;
            Ok(json_response(200, &service::admin_refund(id)?))
        }
        (_, ["payments"] | ["payments", _]) => Err(ApiError::method_not_allowed(&["GET"])),
        (_, ["admin", "payments", _, "refund"]) => Err(ApiError::method_not_allowed(&["POST"])),
        _ => Err(ApiError::not_found(format!("no route for {}", req.path()))),
    }
}
