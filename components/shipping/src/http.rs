//! The thin HTTP adapter (private routes; the gateway maps `/api/v1/shipping/quotes` and
//! `/api/v1/shipments...` here).
//!
//! | route | who |
//! | --- | --- |
//! | `GET /health`, `GET /quotes?country=&weight_grams=` | anyone |
//! | `GET /shipments/{id}`, `GET /shipments?order_id=&page=&limit=` | owner (admins: all) |
//! | `POST /shipments/{id}/status {status}`, `POST /shipments/{id}/cancel` | admin |
//! | `POST /events`, `/admin/recovery`, `/admin/dead-letters...` | `wasmshop_kit::messaging` |

use serde::Deserialize;
use spin_sdk::http::{Request, Response};
use wasmshop_kit::FieldError;
use wasmshop_kit::error::ApiError;
use wasmshop_kit::http::{Page, Query};
use wasmshop_kit::identity::Identity;
use wasmshop_kit::json::{json_response, parse_body};
use wasmshop_kit::router::{self, Handler, Route, health};

use crate::domain::Status;
use crate::{messages, repo, service};

const ROUTES: &[Route<Handler>] = &[
    Route::get("/health", health),
    Route::get("/quotes", |req, _| quote(req)),
    Route::get("/shipments", |req, _| {
        let identity = Identity::require(req)?;
        let query = Query::parse(req.query());
        let page = Page::from_query(&query)?;
        Ok(json_response(
            200,
            &service::list(&identity, query.get("order_id"), page)?,
        ))
    }),
    Route::get("/shipments/{id}", |req, p| {
        let identity = Identity::require(req)?;
        Ok(json_response(200, &service::get(&identity, p.get("id")?)?))
    }),
    Route::post("/shipments/{id}/status", |req, p| {
        Identity::require_admin(req)?;
        let change: StatusChange = parse_body(req.body())?;
        let next = Status::parse(&change.status).ok_or_else(|| {
            ApiError::invalid_input(&[FieldError {
                field: "status".into(),
                message: "must be picked, in_transit, delivered or cancelled".into(),
            }])
        })?;
        Ok(json_response(
            200,
            &service::set_status(p.get("id")?, next)?,
        ))
    }),
    Route::post("/shipments/{id}/cancel", |req, p| {
        Identity::require_admin(req)?;
        Ok(json_response(
            200,
            &service::set_status(p.get("id")?, Status::Cancelled)?,
        ))
    }),
];

pub fn handle(req: Request) -> Response {
    if let Some(response) = wasmshop_kit::messaging::routes(
        &req,
        &repo::open,
        &messages::ShippingCommands,
        service::SOURCE,
    ) {
        return response;
    }
    router::serve(ROUTES, &req).unwrap_or_else(ApiError::into_response)
}

#[derive(Deserialize)]
struct StatusChange {
    status: String,
}

/// How long a quote may be reused: the rates change only with a new release of shipping.
const QUOTE_MAX_AGE_SECONDS: u32 = 300;

fn quote(req: &Request) -> Result<Response, ApiError> {
    let query = Query::parse(req.query());
    let country = query.get("country").unwrap_or("");
    let weight = query.number::<u32>("weight_grams")?.unwrap_or(0);
    let mut response = json_response(200, &service::quote(country, weight)?);
    response.set_header(
        "cache-control",
        format!("public, max-age={QUOTE_MAX_AGE_SECONDS}"),
    );
    Ok(response)
}
