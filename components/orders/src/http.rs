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

use crate::bindings::wasmshop::orders::types::{Cart, CheckoutRequest, Error, LineInput};
use crate::domain::{self, IDEMPOTENCY_KEY_BOUNDS};
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
        Door::Caller(|_, _, identity| cart_response(service::cart(identity))),
    ),
    Route::delete(
        "/cart",
        Door::Caller(|_, _, identity| cart_response(service::clear_cart(identity))),
    ),
    Route::post(
        "/cart/items",
        Door::Caller(|req, _, identity| {
            let line: LineInput = parse_body(req.body())?;
            cart_response(service::add_to_cart(identity, &line))
        }),
    ),
    Route::patch(
        "/cart/items/{product_id}",
        Door::Caller(|req, p, identity| {
            let change: QuantityChange = parse_body(req.body())?;
            let product_id = p.get("product_id")?;
            cart_response(service::set_quantity(identity, product_id, change.quantity))
        }),
    ),
    Route::delete(
        "/cart/items/{product_id}",
        Door::Caller(|_, p, identity| {
            cart_response(service::remove_from_cart(identity, p.get("product_id")?))
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
            let order = service::get(identity, p.get("id")?).map_err(api_error)?;
            Ok(json_response(200, &order))
        }),
    ),
    Route::post(
        "/orders/{id}/cancel",
        Door::Caller(|_, p, identity| {
            let accepted = service::cancel(identity, p.get("id")?).map_err(api_error)?;
            Ok(json_response(202, &accepted))
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

fn key_required(message: &str) -> ApiError {
    ApiError::bad_request("idempotency_key_required", message)
}

fn checkout(req: &Request, identity: &Identity) -> Result<Response, ApiError> {
    // Checked before the body is read, in the words of the header.
    let key =
        domain::validate_idempotency_key(header(req, "idempotency-key")).map_err(key_required)?;
    let request: CheckoutRequest = parse_body(req.body())?;
    let accepted = service::checkout(identity, &key, &request).map_err(api_error)?;
    let mut response = json_response(202, &accepted);
    response.set_header("location", format!("/api/v1/orders/{}", accepted.id));
    Ok(response)
}

fn list(req: &Request, identity: &Identity) -> Result<Response, ApiError> {
    let query = Query::parse(req.query());
    let page = Page::from_query(&query)?;
    let everyone = query.get("all") == Some("true");
    let page = service::list(identity, everyone, page).map_err(api_error)?;
    // This list was always answered as a `serde_json::Value`, whose objects sort their keys;
    // it still is, so its bytes stay what clients have seen.
    let page = serde_json::to_value(page)
        .map_err(|e| ApiError::internal(format!("serialising the response: {e}")))?;
    Ok(json_response(200, &page))
}

fn cart_response(cart: Result<Cart, Error>) -> Result<Response, ApiError> {
    let cart = cart.map_err(|e| match e {
        // The cart's missing thing is a line, not an order.
        Error::NotFound => ApiError::not_found("the product is not in the cart"),
        other => api_error(other),
    })?;
    Ok(json_response(200, &cart))
}

/// The WIT error as the uniform JSON error with its stable code.
fn api_error(error: Error) -> ApiError {
    match error {
        Error::InvalidInput(fields) => ApiError::invalid_input(&fields),
        Error::NotFound => ApiError::not_found("no such order"),
        Error::EmptyCart => ApiError::new(
            422,
            "empty_cart",
            "the cart is empty and no lines were given",
        ),
        Error::IdempotencyKeyRequired => key_required(IDEMPOTENCY_KEY_BOUNDS),
        Error::IdempotencyKeyReused => ApiError::new(
            422,
            "idempotency_key_reused",
            "this Idempotency-Key was used with a different request",
        ),
        Error::OrderNotCancellable(status) => ApiError::conflict(
            "order_not_cancellable",
            format!("a {} order can no longer be cancelled", status.as_str()),
        )
        .with_details(json!({ "status": status })),
        Error::AmountOutOfRange => ApiError::new(
            422,
            "amount_out_of_range",
            "the order's total is beyond the amounts that can be charged",
        ),
        Error::Unavailable(message) => ApiError::new(503, "service_unavailable", message),
        Error::Unreachable => ApiError::new(
            502,
            "bad_gateway",
            "a service checkout depends on could not be reached",
        ),
        Error::Internal(message) => ApiError::internal(message),
    }
}
