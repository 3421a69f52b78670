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

use crate::bindings::wasmshop::payments::types::Error;
use crate::{messages, repo, service};

const ROUTES: &[Route<Handler>] = &[
    Route::get("/health", health),
    Route::get("/payments", |req, _| {
        let identity = Identity::require(req)?;
        let query = Query::parse(req.query());
        let page = Page::from_query(&query)?;
        let found = service::list(&identity, query.get("order_id"), page.page, page.limit)
            .map_err(api_error)?;
        Ok(json_response(200, &found))
    }),
    Route::get("/payments/{id}", |req, p| {
        let identity = Identity::require(req)?;
        let payment = service::get(&identity, p.get("id")?).map_err(api_error)?;
        Ok(json_response(200, &payment))
    }),
    Route::post("/admin/payments/{id}/refund", |req, p| {
        Identity::require_admin(req)?;
        let payment = service::admin_refund(p.get("id")?).map_err(api_error)?;
        Ok(json_response(200, &payment))
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
    if segments(req.path()) != ["health"] {
        service::available().map_err(api_error)?;
    }
    router::serve(ROUTES, req)
}

/// The WIT error as the uniform JSON error with its stable code.
fn api_error(error: Error) -> ApiError {
    match error {
        Error::InvalidInput(fields) => ApiError::invalid_input(&fields),
        Error::NotFound => ApiError::not_found("no such payment"),
        Error::NotCaptured(status) => ApiError::conflict(
            "not_captured",
            format!("a {} payment cannot be refunded", status.as_str()),
        ),
        Error::Unavailable(message) => ApiError::new(503, "provider_unavailable", message),
        Error::Internal(message) => ApiError::internal(message),
    }
}

#[cfg(test)]
mod tests {
    use wasmshop_kit::FieldError;

    use super::*;
    use crate::bindings::wasmshop::payments::types::PaymentStatus;

    #[test]
    fn each_wit_error_keeps_its_http_status_code_and_message() {
        let cases = [
            (Error::NotFound, 404, "not_found", "no such payment"),
            (
                Error::NotCaptured(PaymentStatus::Voided),
                409,
                "not_captured",
                "a voided payment cannot be refunded",
            ),
            (
                Error::Unavailable("the payment provider is unavailable".into()),
                503,
                "provider_unavailable",
                "the payment provider is unavailable",
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
            field: "limit".into(),
            message: "must be 1 to 100".into(),
        }]));
        assert_eq!((invalid.status, invalid.code), (422, "invalid_input"));
        assert_eq!(invalid.field_errors()[0].field, "limit");
    }
}
