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

use spin_sdk::http::{Request, Response};
use wasmshop_kit::error::ApiError;
use wasmshop_kit::http::{Page, Query};
use wasmshop_kit::identity::Identity;
use wasmshop_kit::ids::is_id;
use wasmshop_kit::json::json_response;
use wasmshop_kit::router::{self, Handler, Route, health};

use crate::bindings::wasmshop::notifications::types::Error;
use crate::{messages, repo, service};

const ROUTES: &[Route<Handler>] = &[
    Route::get("/health", health),
    Route::get("/notifications", |req, _| {
        let identity = Identity::require(req)?;
        list(req, Some(&identity.user_id))
    }),
    Route::post("/notifications/{id}/read", |req, p| {
        let identity = Identity::require(req)?;
        let notification =
            service::mark_read(&identity.user_id, p.get("id")?).map_err(api_error)?;
        Ok(json_response(200, &notification))
    }),
    Route::get("/admin/notifications", |req, _| {
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
    }),
];

pub fn handle(req: Request) -> Response {
    if let Some(response) =
        wasmshop_kit::messaging::routes(&req, &repo::open, &messages::Notifier, service::SOURCE)
    {
        return response;
    }
    router::serve(ROUTES, &req).unwrap_or_else(ApiError::into_response)
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
