//! What checkout and the cart ask other contexts, by Spin service chaining: a product's
//! current price (catalog) and a shipping quote (shipping).

use serde::Deserialize;
use spin_sdk::http::{Method, Request, Response};
use wasmshop_kit::Money;
use wasmshop_kit::error::ApiError;

#[derive(Debug, Clone, Deserialize)]
pub struct CatalogProduct {
    pub id: String,
    pub name: String,
    pub price: Money,
    pub active: bool,
    /// Not every catalog knows weights; checkout then assumes a default per unit.
    #[serde(default)]
    pub weight_grams: Option<u32>,
}

fn get(url: &str) -> Result<(u16, Vec<u8>), ApiError> {
    let mut request = Request::builder();
    request.method(Method::Get).uri(url);
    // Service chaining continues the caller's trace.
    if let Some(traceparent) = wasmshop_kit::trace::outgoing() {
        request.header("traceparent", traceparent);
    }
    let request = request.build();
    let response: Response = spin_sdk::http::run(spin_sdk::http::send(request)).map_err(|e| {
        wasmshop_kit::trace::log("orders", format_args!("GET {url}: {e}"));
        ApiError::new(
            502,
            "bad_gateway",
            "a service checkout depends on could not be reached",
        )
    })?;
    Ok((*response.status(), response.into_body()))
}

/// The active product `id`, or `None` when the catalog does not sell it.
pub fn product(id: &str) -> Result<Option<CatalogProduct>, ApiError> {
    let (status, body) = get(&format!("http://catalog.spin.internal/products/{id}"))?;
    match status {
        200 => {
            let product: CatalogProduct = serde_json::from_slice(&body).map_err(|e| {
                ApiError::internal(format!("catalog answered an unexpected product: {e}"))
            })?;
            Ok(product.active.then_some(product))
        }
        404 => Ok(None),
        other => {
            wasmshop_kit::trace::log(
                "orders",
                format_args!("catalog answered {other} for product {id}"),
            );
            Err(ApiError::new(
                503,
                "service_unavailable",
                "the catalog is unavailable",
            ))
        }
    }
}

/// The shipping price to `country` for `weight_grams`; `Err` with a 422 naming the country when
/// shipping does not go there.
pub fn shipping_quote(country: &str, weight_grams: u32) -> Result<Money, ApiError> {
    let url = format!(
        "http://shipping.spin.internal/quotes?country={}&weight_grams={weight_grams}",
        form_urlencoded::byte_serialize(country.as_bytes()).collect::<String>()
    );
    let (status, body) = get(&url)?;
    match status {
        200 => {
            #[derive(Deserialize)]
            struct Quote {
                amount: Money,
            }
            let quote: Quote = serde_json::from_slice(&body).map_err(|e| {
                ApiError::internal(format!("shipping answered an unexpected quote: {e}"))
            })?;
            Ok(quote.amount)
        }
        422 => {
            let details: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            let message = details["error"]["details"]["fields"][0]["message"]
                .as_str()
                .unwrap_or("shipping is not possible to this address")
                .to_owned();
            let field = if details["error"]["details"]["fields"][0]["field"] == "weight_grams" {
                "lines"
            } else {
                "shipping_address.country"
            };
            Err(ApiError::invalid_input(&[wasmshop_kit::FieldError {
                field: field.into(),
                message,
            }]))
        }
        other => {
            wasmshop_kit::trace::log(
                "orders",
                format_args!("shipping answered {other} for a quote"),
            );
            Err(ApiError::new(
                503,
                "service_unavailable",
                "shipping is unavailable",
            ))
        }
    }
}
