//! The thin HTTP adapter (private routes; the gateway maps `/api/v1/notifications...` here and
//! `/api/v1/admin/notifications/...` to `/admin/...`).
//!
//! | route | who |
//! | --- | --- |
//! | `GET /health` | anyone |
//! | `GET /notifications?page=&limit=&unread=true` | the caller's own |
//! | `POST /notifications/{id}/read` | its owner (anyone else: 404) |
//! | `GET /admin/notifications?user_id=&page=&limit=&unread=` | admin |
//! | `POST /events`, `POST /admin/recovery`, `/admin/dead-letters...` | `wasmshop_kit::messaging` |

use serde_json::json;
use spin_sdk::http::{Method, Request, Response};
use wasmshop_kit::error::ApiError;
use wasmshop_kit::http::{Page, Query, segments};
use wasmshop_kit::identity::Identity;
use wasmshop_kit::ids::is_id;
use wasmshop_kit::json::json_response;

use crate::bindings::wasmshop::notifications::types::Error;
use crate::{messages, repo, service};

pub fn handle(req: Request) -> Response {
    if let Some(response) =
        wasmshop_kit::messaging::routes(&req, &repo::open, &messages::Notifier, service::SOURCE)
    {
        return response;
    }
    route(&req).unwrap_or_else(ApiError::into_response)
}

fn route(req: &Request) -> Result<Response, ApiError> {
    let path = segments(req.path());
    match (req.method(), path.as_slice()) {
        (Method::Get, ["health"]) => Ok(json_response(200, &json!({ "status": "ok" }))),
        (Method::Get, ["notifications"]) => {
            let identity = Identity::require(req)?;
            list(req, Some(&identity.user_id))
        }
        (Method::Post, ["notifications", id, "read"]) => {
            let identity = Identity::require(req)?;
            let notification = service::mark_read(&identity.user_id, id).map_err(api_error)?;
            Ok(json_response(200, &notification))
        }
        (Method::Get, ["admin", "notifications"]) => {
            Identity::require_admin(req)?;
            let query = Query::parse(req.query());
            let user_id = query.get("user_id");
            if let Some(user_id) = user_id
                && !is_id(user_id)
            {
                return Err(ApiError::bad_request(
                    "invalid_query",
                    "`user_id` must be a user id",
                ));
            }
            list(req, user_id)
        }
        (_, ["health"] | ["notifications"] | ["admin", "notifications"]) => {
            Err(ApiError::method_not_allowed(&["GET"]))
        }
        (_, ["notifications", _, "read"]) => Err(ApiError::method_not_allowed(&["POST"])),
        _ => Err(ApiError::not_found(format!("no route for {}", req.path()))),
    }
}

fn list(req: &Request, user_id: Option<&str>) -> Result<Response, ApiError> {
    let query = Query::parse(req.query());
    let page = Page::from_query(&query)?;
    let unread_only = match query.get("unread") {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => {
            return Err(ApiError::bad_request(
                "invalid_query",
                "`unread` must be true or false",
            ));
        }
    };
    let found = service::list(user_id, unread_only, page.page, page.limit).map_err(api_error)?;
    Ok(json_response(200, &found))
}

fn api_error(error: Error) -> ApiError {
    match error {
        Error::InvalidInput(fields) => ApiError::invalid_input(&fields),
        Error::NotFound => ApiError::not_found("no such notification"),
        Error::Internal(message) => ApiError::internal(message),
    }
}
