//! The thin HTTP adapter (private routes; the gateway maps `/api/v1/payments...` here).
//!
//! | route | who |
//! | --- | --- |
//! | `GET /health` | anyone |
//! | `GET /payments/{id}` | its owner, admins |
//! | `GET /payments?order_id=&page=&limit=` | own payments (admins: all) |
//! | `POST /admin/payments/{id}/refund` | admin |
//! | `POST /events`, `/admin/recovery`, `/admin/dead-letters...` | `wasmshop_kit::messaging` |

use spin_sdk::http::{Request, Response};
use wasmshop_kit::error::ApiError;
use wasmshop_kit::http::{Page, Query, segments};
use wasmshop_kit::identity::Identity;
use wasmshop_kit::json::json_response;
use wasmshop_kit::router::{self, Handler, Route, health};

use crate::{messages, repo, service};

const ROUTES: &[Route<Handler>] = &[
    Route::get("/health", health),
    Route::get("/payments", |req, _| {
        let identity = Identity::require(req)?;
        let query = Query::parse(req.query());
        let page = Page::from_query(&query)?;
        let order_id = query.get("order_id");
        Ok(json_response(
            200,
            &service::list(&identity, order_id, page)?,
        ))
    }),
    Route::get("/payments/{id}", |req, p| {
        let identity = Identity::require(req)?;
        Ok(json_response(200, &service::get(&identity, p.get("id")?)?))
    }),
    Route::post("/admin/payments/{id}/refund", |req, p| {
        Identity::require_admin(req)?;
        Ok(json_response(200, &service::admin_refund(p.get("id")?)?))
    }),
];

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
    // Liveness is this component's own; all else waits on the provider, so an outage answers
    // 503 before any route is looked at.
    if segments(req.path()) != ["health"] && service::provider_down() {
        return Err(ApiError::new(
            503,
            "provider_unavailable",
            "the payment provider is unavailable",
        ));
    }
    router::serve(ROUTES, req)
}
