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
use spin_sdk::http::{Method, Request, Response};
use wasmshop_kit::error::ApiError;
use wasmshop_kit::http::{Page, Query, segments};
use wasmshop_kit::identity::Identity;
use wasmshop_kit::json::{json_response, parse_body};

use crate::domain::{self, CheckoutRequest, LineInput};
use crate::{messages, repo, service};

pub fn handle(req: Request) -> Response {
    if let Some(response) =
        wasmshop_kit::messaging::routes(&req, &repo::open, &messages::SagaReplies, service::SOURCE)
    {
        return response;
    }
    route(&req).unwrap_or_else(ApiError::into_response)
}

#[derive(Deserialize)]
struct QuantityChange {
    quantity: u32,
}

fn header<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.header(name).and_then(|v| v.as_str())
}

fn route(req: &Request) -> Result<Response, ApiError> {
    let path = segments(req.path());
    let method = req.method();
    if let (Method::Get, ["health"]) = (method, path.as_slice()) {
        return Ok(json_response(200, &json!({ "status": "ok" })));
    }
    let allowed: &[&str] = match path.as_slice() {
        ["cart"] => &["GET", "DELETE"],
        ["cart", "items"] => &["POST"],
        ["cart", "items", _] => &["PATCH", "DELETE"],
        ["orders"] => &["GET", "POST"],
        ["orders", _] => &["GET"],
        ["orders", _, "cancel"] => &["POST"],
        ["health"] => &["GET"],
        _ => return Err(ApiError::not_found(format!("no route for {}", req.path()))),
    };
    if !allowed.contains(&method.to_string().as_str()) {
        return Err(ApiError::method_not_allowed(allowed));
    }
    let identity = Identity::require(req)?;
    match (method, path.as_slice()) {
        (Method::Get, ["cart"]) => Ok(json_response(200, &service::cart(&identity)?)),
        (Method::Delete, ["cart"]) => Ok(json_response(200, &service::clear_cart(&identity)?)),
        (Method::Post, ["cart", "items"]) => {
            let line: LineInput = parse_body(req.body())?;
            Ok(json_response(200, &service::add_to_cart(&identity, &line)?))
        }
        (Method::Patch, ["cart", "items", product_id]) => {
            let change: QuantityChange = parse_body(req.body())?;
            Ok(json_response(
                200,
                &service::set_quantity(&identity, product_id, change.quantity)?,
            ))
        }
        (Method::Delete, ["cart", "items", product_id]) => Ok(json_response(
            200,
            &service::remove_from_cart(&identity, product_id)?,
        )),
        (Method::Post, ["orders"]) => {
            let key = domain::validate_idempotency_key(header(req, "idempotency-key"))
                .map_err(|message| ApiError::bad_request("idempotency_key_required", message))?;
            let request: CheckoutRequest = parse_body(req.body())?;
            let (id, status) = service::checkout(&identity, &key, &request)?;
            let mut response = json_response(202, &json!({ "id": id, "status": status }));
            response.set_header("location", format!("/api/v1/orders/{id}"));
            Ok(response)
        }
        (Method::Get, ["orders"]) => {
            let query = Query::parse(req.query());
            let page = Page::from_query(&query)?;
            let everyone = query.get("all") == Some("true");
            Ok(json_response(
                200,
                &service::list(&identity, everyone, page)?,
            ))
        }
        (Method::Get, ["orders", id]) => Ok(json_response(200, &service::get(&identity, id)?)),
        (Method::Post, ["orders", id, "cancel"]) => {
            let order = service::cancel(&identity, id)?;
            Ok(json_response(
                202,
                &json!({ "id": order.id, "status": order.status }),
            ))
        }
        _ => Err(ApiError::not_found(format!("no route for {}", req.path()))),
    }
}
