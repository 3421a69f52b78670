//! The thin HTTP adapter (private routes; the gateway posts every entry and maps
//! `GET /api/v1/admin/audit` to the listing).
//!
//! | route | who |
//! | --- | --- |
//! | `GET /health` | anyone |
//! | `POST /records {new-entry}` | the gateway (the route is private) |
//! | `GET /records?actor=&action=&since=&page=&limit=` | admin |

use serde_json::json;
use spin_sdk::http::{Method, Request, Response};
use wasmshop_kit::error::ApiError;
use wasmshop_kit::http::{Page, Query, segments};
use wasmshop_kit::identity::Identity;
use wasmshop_kit::json::{json_response, parse_body};

use crate::bindings::wasmshop::audit::types::NewEntry;
use crate::{domain, service};

pub fn handle(req: Request) -> Response {
    route(&req).unwrap_or_else(ApiError::into_response)
}

fn route(req: &Request) -> Result<Response, ApiError> {
    let path = segments(req.path());
    match (req.method(), path.as_slice()) {
        (Method::Get, ["health"]) => Ok(json_response(200, &json!({ "status": "ok" }))),
        (Method::Post, ["records"]) => {
            let entry: NewEntry = parse_body(req.body())?;
            Ok(json_response(201, &service::append(entry)?))
        }
        (Method::Get, ["records"]) => {
            Identity::require_admin(req)?;
            let query = Query::parse(req.query());
            let page = Page::from_query(&query)?;
            let filter =
                domain::filter(query.get("actor"), query.get("action"), query.get("since"))
                    .map_err(|errors| ApiError::invalid_input(&errors))?;
            Ok(json_response(200, &service::list(&filter, page)?))
        }
        (_, ["health"]) => Err(ApiError::method_not_allowed(&["GET"])),
        (_, ["records"]) => Err(ApiError::method_not_allowed(&["GET", "POST"])),
        _ => Err(ApiError::not_found(format!("no route for {}", req.path()))),
    }
}
