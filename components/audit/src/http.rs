//! The thin HTTP adapter (private routes; the gateway posts every entry and maps
//! `GET /api/v1/admin/audit` to the listing).
//!
//! | route | who |
//! | --- | --- |
//! | `GET /health` | anyone |
//! | `POST /records {new-entry}` | the gateway (the route is private) |
//! | `GET /records?actor=&action=&since=&page=&limit=` | admin |

use spin_sdk::http::{Request, Response};
use wasmshop_kit::error::ApiError;
use wasmshop_kit::http::{Page, Query};
use wasmshop_kit::identity::Identity;
use wasmshop_kit::json::{json_response, parse_body};
use wasmshop_kit::router::{self, Handler, Route, health};

use crate::bindings::wasmshop::audit::types::NewEntry;
use crate::{domain, service};

const ROUTES: &[Route<Handler>] = &[
    Route::get("/health", health),
    Route::get("/records", |req, _| list(req)),
    Route::post("/records", |req, _| append(req)),
];

pub fn handle(req: Request) -> Response {
    router::serve(ROUTES, &req).unwrap_or_else(ApiError::into_response)
}

fn append(req: &Request) -> Result<Response, ApiError> {
    let entry: NewEntry = parse_body(req.body())?;
    Ok(json_response(201, &service::append(entry)?))
}

fn list(req: &Request) -> Result<Response, ApiError> {
    Identity::require_admin(req)?;
    let query = Query::parse(req.query());
    let page = Page::from_query(&query)?;
    let filter = domain::filter(query.get("actor"), query.get("action"), query.get("since"))
        .map_err(|errors| ApiError::invalid_input(&errors))?;
    Ok(json_response(200, &service::list(&filter, page)?))
}
