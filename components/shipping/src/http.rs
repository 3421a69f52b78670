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
use serde_json::json;
use spin_sdk::http::{Method, Request, Response};
use wasmshop_kit::FieldError;
use wasmshop_kit::error::ApiError;
use wasmshop_kit::http::{Page, Query, segments};
use wasmshop_kit::identity::Identity;
use wasmshop_kit::json::{json_response, parse_body};

use crate::domain::Status;
use crate::{messages, repo, service};

pub fn handle(req: Request) -> Response {
    if let Some(response) = wasmshop_kit::messaging::routes(
        &req,
        &repo::open,
        &messages::ShippingCommands,
        service::SOURCE,
    ) {
        return response;
    }
    route(&req).unwrap_or_else(ApiError::into_response)
}

#[derive(Deserialize)]
struct StatusChange {
    status: String,
}

fn route(req: &Request) -> Result<Response, ApiError> {
    let path = segments(req.path());
    match (req.method(), path.as_slice()) {
        (Method::Get, ["health"]) => Ok(json_response(200, &json!({ "status": "ok" }))),
        (Method::Get, ["quotes"]) => quote(req),
        (Method::Get, ["shipments"]) => {
            let identity = Identity::require(req)?;
            let query = Query::parse(req.query());
            let page = Page::from_query(&query)?;
            Ok(json_response(
                200,
                &service::list(&identity, query.get("order_id"), page)?,
            ))
        }
        (Method::Get, ["shipments", id]) => {
            let identity = Identity::require(req)?;
            Ok(json_response(200, &service::get(&identity, id)?))
        }
        (Method::Post, ["shipments", id, "status"]) => {
            Identity::require_admin(req)?;
            let change: StatusChange = parse_body(req.body())?;
            let next = Status::parse(&change.status).ok_or_else(|| {
                ApiError::invalid_input(&[FieldError {
                    field: "status".into(),
                    message: "must be picked, in_transit, delivered or cancelled".into(),
                }])
            })?;
            Ok(json_response(200, &service::set_status(id, next)?))
        }
        (Method::Post, ["shipments", id, "cancel"]) => {
            Identity::require_admin(req)?;
            Ok(json_response(
                200,
                &service::set_status(id, Status::Cancelled)?,
            ))
        }
        (_, ["health"] | ["quotes"] | ["shipments"] | ["shipments", _]) => {
            Err(ApiError::method_not_allowed(&["GET"]))
        }
        (_, ["shipments", _, "status" | "cancel"]) => Err(ApiError::method_not_allowed(&["POST"])),
        _ => Err(ApiError::not_found(format!("no route for {}", req.path()))),
    }
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
