//! The thin HTTP adapter: routes by method and path, parses strictly, checks the identity the
//! gateway forwarded, calls the service and maps its WIT error onto the uniform JSON error.
//!
//! | route | who |
//! | --- | --- |
//! | `GET /health` | anyone |
//! | `GET /products`, `GET /products/{id}`, `GET /categories` | anyone (inactive products: admins) |
//! | `POST /products`, `PUT`/`DELETE /products/{id}`, `POST /categories` | admin |
//! | `GET`/`PUT /inventory/{product_id}` | admin |
//! | `POST /reservations`, `GET /reservations/{order_id}`, `POST /reservations/{order_id}/release` and `/commit` | services (private route; not for the gateway to expose) |

use serde::Deserialize;
use serde_json::json;
use spin_sdk::http::{Request, Response};
use wasmshop_kit::error::ApiError;
use wasmshop_kit::http::Query;
use wasmshop_kit::identity::Identity;
use wasmshop_kit::json::{json_response, parse_body};
use wasmshop_kit::router::{self, Handler, Route, health};

use crate::bindings::wasmshop::catalog::types::{
    CategoryInput, Error, ProductInput, ProductQuery, ProductSort, ReservationLine, StockInput,
};
use crate::domain::conflict;
use crate::service;

const ROUTES: &[Route<Handler>] = &[
    Route::get("/health", health),
    Route::get("/products", |req, _| list_products(req)),
    Route::post("/products", |req, _| create_product(req)),
    Route::get("/products/{id}", |req, p| get_product(req, p.get("id")?)),
    Route::put("/products/{id}", |req, p| update_product(req, p.get("id")?)),
    Route::delete("/products/{id}", |req, p| delete_product(req, p.get("id")?)),
    Route::get("/categories", |_, _| list_categories()),
    Route::post("/categories", |req, _| create_category(req)),
    Route::get("/inventory/{product_id}", |req, p| {
        get_stock(req, p.get("product_id")?)
    }),
    Route::put("/inventory/{product_id}", |req, p| {
        set_stock(req, p.get("product_id")?)
    }),
    Route::post("/reservations", |req, _| reserve(req)),
    Route::get("/reservations/{order_id}", |_, p| {
        get_reservation(p.get("order_id")?)
    }),
    Route::post("/reservations/{order_id}/release", |_, p| {
        release(p.get("order_id")?)
    }),
    Route::post("/reservations/{order_id}/commit", |_, p| {
        commit(p.get("order_id")?)
    }),
];

pub fn handle(req: Request) -> Response {
    if let Some(response) = wasmshop_kit::messaging::routes(
        &req,
        &crate::repo::open,
        &crate::messages::CatalogCommands,
        "catalog",
    ) {
        return response;
    }
    router::serve(ROUTES, &req).unwrap_or_else(ApiError::into_response)
}

/// The service's error as the uniform JSON error; `what` names the missing thing for 404s.
fn api_error(error: Error, what: &str) -> ApiError {
    match error {
        Error::InvalidInput(fields) => ApiError::invalid_input(&fields),
        Error::NotFound => ApiError::not_found(format!("{what} not found")),
        Error::Conflict(code) => conflict_error(&code),
        Error::InsufficientStock(products) => ApiError::conflict(
            "insufficient_stock",
            "not enough stock for some products; nothing was reserved",
        )
        .with_details(json!({ "products": products })),
        Error::Internal(message) => ApiError::internal(message),
    }
}

fn conflict_error(code: &str) -> ApiError {
    match code {
        conflict::SKU_TAKEN => {
            ApiError::conflict(conflict::SKU_TAKEN, "another product has this SKU")
        }
        conflict::CATEGORY_TAKEN => {
            ApiError::conflict(conflict::CATEGORY_TAKEN, "a category with this name exists")
        }
        conflict::ALREADY_COMMITTED => ApiError::conflict(
            conflict::ALREADY_COMMITTED,
            "the reservation was committed and can no longer be released",
        ),
        conflict::ALREADY_RELEASED => ApiError::conflict(
            conflict::ALREADY_RELEASED,
            "the reservation was released and can no longer be committed",
        ),
        conflict::BELOW_RESERVED => ApiError::conflict(
            conflict::BELOW_RESERVED,
            "on_hand must not be below the units already reserved",
        ),
        other => ApiError::conflict("conflict", other.to_owned()),
    }
}

// ---------------------------------------------------------------------------------------------
// Products and categories
// ---------------------------------------------------------------------------------------------

const QUERY_PARAMS: [&str; 7] = [
    "category",
    "q",
    "min_price",
    "max_price",
    "sort",
    "page",
    "limit",
];

fn invalid_query(message: impl Into<String>) -> ApiError {
    ApiError::bad_request("invalid_query", message)
}

fn product_query(query: &Query) -> Result<ProductQuery, ApiError> {
    if let Some(unknown) = query.names().find(|name| !QUERY_PARAMS.contains(name)) {
        return Err(invalid_query(format!(
            "unknown query parameter `{unknown}`; known: {}",
            QUERY_PARAMS.join(", ")
        )));
    }
    let sort = match query.get("sort") {
        None => None,
        Some(text) => Some(ProductSort::parse(text).ok_or_else(|| {
            invalid_query(
                "`sort` must be one of name-asc, name-desc, price-asc, price-desc, newest",
            )
        })?),
    };
    Ok(ProductQuery {
        category: query.get("category").map(str::to_owned),
        q: query.get("q").map(str::to_owned),
        min_price: query.number("min_price")?,
        max_price: query.number("max_price")?,
        sort,
        page: query.number("page")?,
        limit: query.number("limit")?,
    })
}

fn list_products(req: &Request) -> Result<Response, ApiError> {
    let query = product_query(&Query::parse(req.query()))?;
    let page = service::list_products(&query).map_err(|e| match e {
        // The query string is not a body: its problems are a 400 `invalid_query`.
        Error::InvalidInput(fields) => ApiError {
            status: 400,
            code: "invalid_query",
            message: "some query parameters are invalid".into(),
            ..ApiError::invalid_input(&fields)
        },
        other => api_error(other, "product"),
    })?;
    Ok(json_response(200, &page))
}

/// How long the answer about a product on sale may be shared (the gateway's response cache):
/// a product changes only by an admin's write, which drops the gateway's entry at once.
const PRODUCT_MAX_AGE_SECONDS: u32 = 5;

fn get_product(req: &Request, id: &str) -> Result<Response, ApiError> {
    let admin = Identity::from_request(req).is_some_and(|i| i.is_admin());
    let product = service::get_product(id, admin).map_err(|e| api_error(e, "product"))?;
    let mut response = json_response(200, &product);
    // Anyone may read a product on sale; one withdrawn from sale is shown to admins only.
    response.set_header(
        "cache-control",
        if product.active {
            format!("public, max-age={PRODUCT_MAX_AGE_SECONDS}")
        } else {
            "private, no-store".to_owned()
        },
    );
    Ok(response)
}

fn created(location: String, value: &impl serde::Serialize) -> Response {
    let mut response = json_response(201, value);
    response.set_header("location", location);
    response
}

fn create_product(req: &Request) -> Result<Response, ApiError> {
    Identity::require_admin(req)?;
    let input: ProductInput = parse_body(req.body())?;
    let product = service::create_product(&input).map_err(|e| api_error(e, "product"))?;
    Ok(created(format!("/products/{}", product.id), &product))
}

fn update_product(req: &Request, id: &str) -> Result<Response, ApiError> {
    Identity::require_admin(req)?;
    let input: ProductInput = parse_body(req.body())?;
    let product = service::update_product(id, &input).map_err(|e| api_error(e, "product"))?;
    Ok(json_response(200, &product))
}

fn delete_product(req: &Request, id: &str) -> Result<Response, ApiError> {
    Identity::require_admin(req)?;
    service::delete_product(id).map_err(|e| api_error(e, "product"))?;
    Ok(Response::builder().status(204).build())
}

fn list_categories() -> Result<Response, ApiError> {
    let categories = service::list_categories().map_err(|e| api_error(e, "category"))?;
    Ok(json_response(200, &categories))
}

fn create_category(req: &Request) -> Result<Response, ApiError> {
    Identity::require_admin(req)?;
    let input: CategoryInput = parse_body(req.body())?;
    let category = service::create_category(&input).map_err(|e| api_error(e, "category"))?;
    Ok(json_response(201, &category))
}

// ---------------------------------------------------------------------------------------------
// Inventory and reservations
// ---------------------------------------------------------------------------------------------

fn get_stock(req: &Request, product_id: &str) -> Result<Response, ApiError> {
    Identity::require_admin(req)?;
    let stock = service::get_stock(product_id).map_err(|e| api_error(e, "product"))?;
    Ok(json_response(200, &stock))
}

fn set_stock(req: &Request, product_id: &str) -> Result<Response, ApiError> {
    Identity::require_admin(req)?;
    let input: StockInput = parse_body(req.body())?;
    let stock = service::set_stock(product_id, &input).map_err(|e| api_error(e, "product"))?;
    Ok(json_response(200, &stock))
}

/// `POST /reservations`.
#[derive(Deserialize)]
struct ReserveBody {
    order_id: String,
    lines: Vec<ReservationLine>,
}

fn reserve(req: &Request) -> Result<Response, ApiError> {
    let body: ReserveBody = parse_body(req.body())?;
    let (reservation, created_now) =
        service::reserve(&body.order_id, &body.lines).map_err(|e| api_error(e, "product"))?;
    Ok(if created_now {
        created(
            format!("/reservations/{}", reservation.order_id),
            &reservation,
        )
    } else {
        json_response(200, &reservation)
    })
}

fn get_reservation(order_id: &str) -> Result<Response, ApiError> {
    let reservation =
        service::get_reservation(order_id).map_err(|e| api_error(e, "reservation"))?;
    Ok(json_response(200, &reservation))
}

fn release(order_id: &str) -> Result<Response, ApiError> {
    let reservation = service::release(order_id).map_err(|e| api_error(e, "reservation"))?;
    Ok(json_response(200, &reservation))
}

fn commit(order_id: &str) -> Result<Response, ApiError> {
    let reservation = service::commit(order_id).map_err(|e| api_error(e, "reservation"))?;
    Ok(json_response(200, &reservation))
}
