//! What the catalog component's suites (`tests/tests/catalog_*.rs`) share: the component booted
//! alone (its private route made public at `/...`), products and stock made over its HTTP API
//! as an admin, and the shape checks of its answers.

use serde_json::{Value, json};

use crate::Wasmshop;
use crate::bindings::catalog::wasmshop::catalog::types::ReservationLine;
use crate::client::Caller;
use crate::ids::ADMIN;

pub async fn boot() -> Wasmshop {
    boot_with(&[]).await
}

/// Like [`boot`], with app variables set.
pub async fn boot_with(variables: &[(&str, &str)]) -> Wasmshop {
    Wasmshop::component("catalog")
        .variables(variables)
        .start()
        .await
        .expect("catalog boots from spin.toml")
}

pub fn product_body(sku: &str, name: &str, amount: i64, category: Option<&str>) -> Value {
    json!({
        "sku": sku,
        "name": name,
        "description": format!("About {name}"),
        "price": { "amount": amount, "currency": "EUR" },
        "category_id": category,
    })
}

pub async fn create_category(shop: &Wasmshop, name: &str) -> String {
    let (status, body) = shop
        .as_(Caller::admin(ADMIN))
        .post("/categories")
        .json(&json!({ "name": name }))
        .send()
        .await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().expect("id").to_owned()
}

pub async fn create_product(shop: &Wasmshop, body: &Value) -> Value {
    let (status, product) = shop
        .as_(Caller::admin(ADMIN))
        .post("/products")
        .json(body)
        .send()
        .await;
    assert_eq!(status, 201, "{product}");
    product
}

pub async fn set_stock(shop: &Wasmshop, product_id: &str, on_hand: u32) -> Value {
    let (status, stock) = shop
        .as_(Caller::admin(ADMIN))
        .put(&format!("/inventory/{product_id}"))
        .json(&json!({ "on_hand": on_hand }))
        .send()
        .await;
    assert_eq!(status, 200, "{stock}");
    stock
}

pub async fn stock(shop: &Wasmshop, product_id: &str) -> (u64, u64, u64) {
    let (status, stock) = shop
        .as_(Caller::admin(ADMIN))
        .get(&format!("/inventory/{product_id}"))
        .send()
        .await;
    assert_eq!(status, 200, "{stock}");
    (
        stock["on_hand"].as_u64().expect("on_hand"),
        stock["reserved"].as_u64().expect("reserved"),
        stock["available"].as_u64().expect("available"),
    )
}

pub fn assert_error(status: u16, body: &Value, expected_status: u16, code: &str, what: &str) {
    assert_eq!(status, expected_status, "{what}: {body}");
    assert_eq!(body["error"]["code"], code, "{what}: {body}");
}

pub fn page_ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|p| p["id"].as_str().expect("id").to_owned())
        .collect()
}

/// A line of a reservation made through the exported `api`.
pub fn line(product_id: &str, quantity: u32) -> ReservationLine {
    ReservationLine {
        product_id: product_id.into(),
        quantity,
    }
}
