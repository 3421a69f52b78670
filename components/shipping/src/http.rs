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

use crate::bindings::wasmshop::shipping::types::{Error, ShipmentStatus};
use crate::{messages, repo, service};

const ROUTES: &[Route<Handler>] = &[
    Route::get("/health", health),
    Route::get("/quotes", |req, _| quote(req)),
    Route::get("/shipments", |req, _| {
        let identity = Identity::require(req)?;
        let query = Query::parse(req.query());
        let page = Page::from_query(&query)?;
        let found = service::list(&identity, query.get("order_id"), page.page, page.limit)
            .map_err(api_error)?;
        Ok(json_response(200, &found))
    }),
    Route::get("/shipments/{id}", |req, p| {
        let identity = Identity::require(req)?;
        let shipment = service::get(&identity, p.get("id")?).map_err(api_error)?;
        Ok(json_response(200, &shipment))
    }),
    Route::post("/shipments/{id}/status", |req, p| {
        Identity::require_admin(req)?;
        let change: StatusChange = parse_body(req.body())?;
        let next = ShipmentStatus::parse(&change.status).ok_or_else(|| {
            ApiError::invalid_input(&[FieldError {
                field: "status".into(),
                message: "must be picked, in_transit, delivered or cancelled".into(),
            }])
        })?;
        let shipment = service::set_status(p.get("id")?, next).map_err(api_error)?;
        Ok(json_response(200, &shipment))
    }),
    Route::post("/shipments/{id}/cancel", |req, p| {
        Identity::require_admin(req)?;
        let shipment =
            service::set_status(p.get("id")?, ShipmentStatus::Cancelled).map_err(api_error)?;
        Ok(json_response(200, &shipment))
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
    let quote = service::quote(country, weight).map_err(api_error)?;
    let mut response = json_response(200, &quote);
    response.set_header(
        "cache-control",
        format!("public, max-age={QUOTE_MAX_AGE_SECONDS}"),
    );
    Ok(response)
}

/// The WIT error as the uniform JSON error with its stable code.
fn api_error(error: Error) -> ApiError {
    match error {
        Error::InvalidInput(fields) => ApiError::invalid_input(&fields),
        Error::NotFound => ApiError::not_found("no such shipment"),
        Error::IllegalTransition(message) => ApiError::conflict("illegal_transition", message),
        Error::Internal(message) => ApiError::internal(message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_wit_error_keeps_its_http_status_code_and_message() {
        let cases = [
            (Error::NotFound, 404, "not_found", "no such shipment"),
            (
                Error::IllegalTransition("a delivered shipment cannot become picked".into()),
                409,
                "illegal_transition",
                "a delivered shipment cannot become picked",
            ),
            (
                Error::Internal("database error".into()),
                500,
                "internal",
                "database error",
            ),
        ];
        for (error, status, code, message) in cases {
            let mapped = api_error(error);
            assert_eq!(
                (mapped.status, mapped.code, mapped.message.as_str()),
                (status, code, message)
            );
        }
        let invalid = api_error(Error::InvalidInput(vec![FieldError {
            field: "weight_grams".into(),
            message: "must be 1 to 30000".into(),
        }]));
        assert_eq!((invalid.status, invalid.code), (422, "invalid_input"));
        assert_eq!(invalid.field_errors()[0].field, "weight_grams");
    }
}
