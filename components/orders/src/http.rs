//! The thin HTTP adapter (private routes; the gateway maps `/api/v1/cart...` and
//! `/api/v1/orders...` here). Every route needs the identity the gateway forwards.
//!
//! | route | what |
//! | --- | --- |
//! | `GET /health` | liveness |
//! | `GET /cart`, `DELETE /cart` | the caller's cart, priced now / emptied |
//! | `POST /cart/items {product_id, quantity}` | add (merging lines, 1..=99 per product) |
//! | `PATCH /cart/items/{product_id} {quantity}`, `DELETE /cart/items/{product_id}` | change, remove |
//! | `POST /orders` + `Idempotency-Key` | checkout → 202 `{id, status}` |
//! | `GET /orders?page=&limit=[&all=true]`, `GET /orders/{id}` | own orders (admins: any) |
//! | `POST /orders/{id}/cancel` | cancel until a shipment exists → 202, else 409 |
//! | `POST /events`, `/admin/recovery`, `/admin/dead-letters...` | `wasmshop_kit::messaging` |

use serde::Deserialize;
use serde_json::json;
use spin_sdk::http::{Request, Response};
use wasmshop_kit::error::ApiError;
use wasmshop_kit::http::{Page, Query};
use wasmshop_kit::identity::Identity;
use wasmshop_kit::json::{json_response, parse_body};
use wasmshop_kit::router::{self, Handler, Params, Route, health};

use crate::domain::{self, CheckoutRequest, LineInput};
use crate::{messages, repo, service};

/// `/health` answers anyone; every other route acts for the caller the gateway identified,
/// required once the row is found (so a wrong path or method is a 404 or 405, not a 401).
#[derive(Clone, Copy)]
enum Door {
    Anyone(Handler),
    Caller(fn(&Request, &Params<'_>, &Identity) -> Result<Response, ApiError>),
}

const ROUTES: &[Route<Door>] = &[
    Route::get("/health", Door::Anyone(health)),
    Route::get(
        "/cart",
        Door::Caller(|_, _, identity| Ok(json_response(200, &service::cart(identity)?))),
    ),
    Route::delete(
        "/cart",
        Door::Caller(|_, _, identity| Ok(json_response(200, &service::clear_cart(identity)?))),
    ),
    Route::post(
        "/cart/items",
        Door::Caller(|req, _, identity| {
            let line: LineInput = parse_body(req.body())?;
            Ok(json_response(200, &service::add_to_cart(identity, &line)?))
        }),
    ),
    Route::patch(
        "/cart/items/{product_id}",
        Door::Caller(|req, p, identity| {
            let change: QuantityChange = parse_body(req.body())?;
            let cart = service::set_quantity(identity, p.get("product_id")?, change.quantity)?;
            Ok(json_response(200, &cart))
        }),
    ),
    Route::delete(
        "/cart/items/{product_id}",
        Door::Caller(|_, p, identity| {
            let cart = service::remove_from_cart(identity, p.get("product_id")?)?;
            Ok(json_response(200, &cart))
        }),
    ),
    Route::get(
        "/orders",
        Door::Caller(|req, _, identity| list(req, identity)),
    ),
    Route::post(
        "/orders",
        Door::Caller(|req, _, identity| checkout(req, identity)),
    ),
    Route::get(
        "/orders/{id}",
        Door::Caller(|_, p, identity| {
            Ok(json_response(200, &service::get(identity, p.get("id")?)?))
        }),
    ),
    Route::post(
        "/orders/{id}/cancel",
        Door::Caller(|_, p, identity| {
            let order = service::cancel(identity, p.get("id")?)?;
            Ok(json_response(
                202,
                &json!({ "id": order.id, "status": order.status }),
            ))
        }),
    ),
];

pub fn handle(req: Request) -> Response {
    if let Some(response) =
        wasmshop_kit::messaging::routes(&req, &repo::open, &messages::SagaReplies, service::SOURCE)
    {
        return response;
    }
    route(&req).unwrap_or_else(ApiError::into_response)
}

fn route(req: &Request) -> Result<Response, ApiError> {
    let method = req.method().to_string();
    let (route, params) = router::find(ROUTES, req.path(), &method).into_result(req.path())?;
    match route.handler {
        Door::Anyone(handler) => handler(req, &params),
        Door::Caller(handler) => handler(req, &params, &Identity::require(req)?),
    }
}

#[derive(Deserialize)]
struct QuantityChange {
    quantity: u32,
}

fn header<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.header(name).and_then(|v| v.as_str())
}

fn checkout(req: &Request, identity: &Identity) -> Result<Response, ApiError> {
    let key = domain::validate_idempotency_key(header(req, "idempotency-key"))
        .map_err(|message| ApiError::bad_request("idempotency_key_required", message))?;
    let request: CheckoutRequest = parse_body(req.body())?;
    let (id, status) = service::checkout(identity, &key, &request)?;
    let mut response = json_response(202, &json!({ "id": id, "status": status }));
    response.set_header("location", format!("/api/v1/orders/{id}"));
    Ok(response)
}

fn list(req: &Request, identity: &Identity) -> Result<Response, ApiError> {
    let query = Query::parse(req.query());
    let page = Page::from_query(&query)?;
    let everyone = query.get("all") == Some("true");
    Ok(json_response(
        200,
        &service::list(identity, everyone, page)?,
    ))
}
