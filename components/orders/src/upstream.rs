//! What checkout and the cart ask other contexts, by Spin service chaining: a product's
//! current price (catalog) and a shipping quote (shipping). Quotes are reused for as long as
//! shipping's `cache-control: max-age` allows, from the app's default key-value store: every
//! checkout needs one, and asking cost a shipping instance each time. Prices are always asked
//! afresh (an order is charged the price of the moment).

use serde::Deserialize;
use spin_sdk::http::{Method, Request, Response};
use wasmshop_kit::Money;

use crate::bindings::wasmshop::orders::types::Error;

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

/// An answer and how long it may be reused (`None`: not at all).
struct Fetched {
    status: u16,
    body: Vec<u8>,
    max_age_seconds: Option<u64>,
}

fn get(url: &str) -> Result<Fetched, Error> {
    let mut request = Request::builder();
    request.method(Method::Get).uri(url);
    // Service chaining continues the caller's trace.
    if let Some(traceparent) = wasmshop_kit::trace::outgoing() {
        request.header("traceparent", traceparent);
    }
    let request = request.build();
    let response: Response = spin_sdk::http::run(spin_sdk::http::send(request)).map_err(|e| {
        wasmshop_kit::trace::log("orders", format_args!("GET {url}: {e}"));
        Error::Unreachable
    })?;
    let max_age_seconds = response
        .header("cache-control")
        .and_then(|value| value.as_str())
        .and_then(shared_max_age);
    Ok(Fetched {
        status: *response.status(),
        body: response.into_body(),
        max_age_seconds,
    })
}

/// `max-age` of a `cache-control` that lets anyone reuse the answer.
fn shared_max_age(cache_control: &str) -> Option<u64> {
    let directives: Vec<&str> = cache_control.split(',').map(str::trim).collect();
    if directives
        .iter()
        .any(|d| d.eq_ignore_ascii_case("no-store") || d.eq_ignore_ascii_case("private"))
    {
        return None;
    }
    directives
        .iter()
        .find_map(|d| d.strip_prefix("max-age="))
        .and_then(|seconds| seconds.parse().ok())
        .filter(|seconds| *seconds > 0)
}

/// A 200 answer to `url` kept in the key-value store until it expires; else asked for (and
/// kept, when its `cache-control` allows). The store failing costs only the reuse.
fn get_reusable(url: &str) -> Result<(u16, Vec<u8>), Error> {
    let key = format!("orders:reuse:{url}");
    let now_ms = u64::try_from(wasmshop_kit::ids::now_unix_millis()).unwrap_or(0);
    let store = spin_sdk::key_value::Store::open_default()
        .map_err(|e| wasmshop_kit::trace::log("orders", format_args!("key-value store: {e}")))
        .ok();
    if let Some(Ok(Some(kept))) = store.as_ref().map(|s| s.get(&key))
        && let Some(body) = fresh(&kept, now_ms)
    {
        return Ok((200, body.to_vec()));
    }
    let fetched = get(url)?;
    if let (200, Some(seconds), Some(store)) = (fetched.status, fetched.max_age_seconds, &store) {
        let expires_ms = now_ms.saturating_add(seconds.saturating_mul(1_000));
        let mut kept = expires_ms.to_be_bytes().to_vec();
        kept.extend_from_slice(&fetched.body);
        if let Err(e) = store.set(&key, &kept) {
            wasmshop_kit::trace::log("orders", format_args!("keeping {url}: {e}"));
        }
    }
    Ok((fetched.status, fetched.body))
}

/// The body of a kept answer (its expiry in ms, big-endian, then the body) still fresh at
/// `now_ms`.
fn fresh(kept: &[u8], now_ms: u64) -> Option<&[u8]> {
    let (expiry, body) = kept.split_first_chunk::<8>()?;
    (u64::from_be_bytes(*expiry) > now_ms).then_some(body)
}

/// The active product `id`, or `None` when the catalog does not sell it.
pub fn product(id: &str) -> Result<Option<CatalogProduct>, Error> {
    let Fetched { status, body, .. } = get(&format!("http://catalog.spin.internal/products/{id}"))?;
    match status {
        200 => {
            let product: CatalogProduct = serde_json::from_slice(&body).map_err(|e| {
                Error::Internal(format!("catalog answered an unexpected product: {e}"))
            })?;
            Ok(product.active.then_some(product))
        }
        404 => Ok(None),
        other => {
            wasmshop_kit::trace::log(
                "orders",
                format_args!("catalog answered {other} for product {id}"),
            );
            Err(Error::Unavailable("the catalog is unavailable".into()))
        }
    }
}

/// The shipping price to `country` for `weight_grams`; `Err` with invalid input naming the
/// country when shipping does not go there.
pub fn shipping_quote(country: &str, weight_grams: u32) -> Result<Money, Error> {
    let url = format!(
        "http://shipping.spin.internal/quotes?country={}&weight_grams={weight_grams}",
        form_urlencoded::byte_serialize(country.as_bytes()).collect::<String>()
    );
    let (status, body) = get_reusable(&url)?;
    match status {
        200 => {
            #[derive(Deserialize)]
            struct Quote {
                amount: Money,
            }
            let quote: Quote = serde_json::from_slice(&body).map_err(|e| {
                Error::Internal(format!("shipping answered an unexpected quote: {e}"))
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
            Err(Error::InvalidInput(vec![wasmshop_kit::FieldError {
                field: field.into(),
                message,
            }]))
        }
        other => {
            wasmshop_kit::trace::log(
                "orders",
                format_args!("shipping answered {other} for a quote"),
            );
            Err(Error::Unavailable("shipping is unavailable".into()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_answers_anyone_may_reuse_have_an_age() {
        assert_eq!(shared_max_age("public, max-age=300"), Some(300));
        assert_eq!(shared_max_age("max-age=5"), Some(5));
        assert_eq!(shared_max_age("private, max-age=300"), None);
        assert_eq!(shared_max_age("no-store"), None);
        assert_eq!(shared_max_age("public, max-age=0"), None);
        assert_eq!(shared_max_age("public, max-age=soon"), None);
        assert_eq!(shared_max_age("public"), None);
    }

    #[test]
    fn a_kept_answer_is_fresh_until_its_expiry() {
        let mut kept = 1_000u64.to_be_bytes().to_vec();
        kept.extend_from_slice(b"{}");
        assert_eq!(fresh(&kept, 999), Some(&b"{}"[..]));
        assert_eq!(fresh(&kept, 1_000), None);
        assert_eq!(fresh(b"short", 0), None);
    }
}
