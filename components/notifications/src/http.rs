//! The thin HTTP adapter (private routes; the gateway maps `/api/v1/notifications...` here).
//!
//! | route | who |
//! | --- | --- |
//! | `GET /health` | anyone |
//! | `GET /notifications?page=&limit=&unread=true` | the caller's own |
//! | `POST /notifications/{id}/read` | its owner |
//! | `GET /admin/notifications?user_id=&page=&limit=` | admin |
//! | `POST /events`, `/admin/recovery`, `/admin/dead-letters...` | `wasmshop_kit::messaging` |

use serde_json::json;
use spin_sdk::http::{Method, Request, Response};
use wasmshop_kit::error::ApiError;
use wasmshop_kit::http::{Page, Query, segments};
use wasmshop_kit::identity::Identity;
use wasmshop_kit::json::json_response;

use crate::{messages, repo, service};

pub fn handle(req: Request) -> Response {
    if let Some(response) =
        wasmshop_kit::messaging::routes(&req, &repo::open, &messages::Notifier, service::SOURCE)
    {
        return response;
    }
    route(&req).unwrap_or_else(ApiError::into_response)
}

fn unread(query: &Query) -> Result<bool, ApiError> {
    match query.get("unread") {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(_) => Err(ApiError::bad_request(
            "invalid_query",
            "`unread` must be true or false",
        )),
    }
}

fn route(req: &Request) -> Result<Response, ApiError> {
    let path = segments(req.path());
    match (req.method(), path.as_slice()) {
        (Method::Get, ["health"]) => Ok(json_response(200, &json!({ "status": "ok" }))),
        (Method::Get, ["notifications"]) => {
            let identity = Identity::require(req)?;
            let query = Query::parse(req.query());
            let page = Page::from_query(&query)?;
            Ok(json_response(
                200,
                &service::list(Some(&identity.user_id), unread(&query)?, page)?,
            ))
        }
        (Method::Post, ["notifications", id, "read"]) => {
            let identity = Identity::require(req)?;
            Ok(json_response(200, &service::mark_read(&identity, id)?))
        }
        (Method::Get, ["admin", "notifications"]) => {
            Identity::require_admin(req)?;
            let query = Query::parse(req.query());
            let page = Page::from_query(&query)?;
            Ok(json_response(
                200,
                &service::list(query.get("user_id"), unread(&query)?, page)?,
            ))
        }
        (_, ["health"] | ["notifications"] | ["admin", "notifications"]) => {
            Err(ApiError::method_not_allowed(&["GET"]))
        }
        (_, ["notifications", _, "read"]) => Err(ApiError::method_not_allowed(&["POST"])),
        _ => Err(ApiError::not_found(format!("no route for {}", req.path()))),
    }
}
