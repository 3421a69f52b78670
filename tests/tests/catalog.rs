//! The `catalog` component booted alone from the real `spin.toml`, driven over HTTP (its private
//! route made public at `/...`) and through its exported `api`.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wasmshop_tests::bindings::catalog::wasmshop::catalog::types::{
    CategoryInput, Error as ApiError, ProductInput, ProductQuery, ProductSort, ReservationLine,
    ReservationStatus, StockInput,
};
use wasmshop_tests::bindings::catalog::wasmshop::events::common::Money;
use wasmshop_tests::{Wasmshop, eventually, json};

const ADMIN: (&str, &str) = ("0190d7a0-0000-7000-8000-000000000001", "admin");
const CUSTOMER: (&str, &str) = ("0190d7a0-0000-7000-8000-000000000002", "customer");

async fn boot() -> Wasmshop {
    Wasmshop::boot_component("catalog")
        .await
        .expect("catalog boots from spin.toml")
}

/// Like `boot_component`, with app variables set.
async fn boot_with(variables: &[(&str, &str)]) -> Wasmshop {
    Wasmshop::boot_components(&["catalog"], "catalog", variables)
        .await
        .expect("catalog boots")
}

fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

#[derive(Clone, Copy)]
enum Who {
    Anonymous,
    Customer,
    Admin,
}

/// Sends a request as `who` (identity headers as the gateway sets them); status and JSON body.
async fn call(
    shop: &Wasmshop,
    method: &str,
    path: &str,
    who: Who,
    body: Option<&str>,
) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut request = shop.client.request(method, shop.url(path));
    let identity = match who {
        Who::Anonymous => None,
        Who::Customer => Some(CUSTOMER),
        Who::Admin => Some(ADMIN),
    };
    if let Some((id, role)) = identity {
        request = request.header("x-user-id", id).header("x-user-role", role);
    }
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_owned());
    }
    json(request.send().await.expect("request")).await
}

async fn get(shop: &Wasmshop, path: &str, who: Who) -> (u16, Value) {
    call(shop, "GET", path, who, None).await
}

async fn send(shop: &Wasmshop, method: &str, path: &str, who: Who, body: &Value) -> (u16, Value) {
    call(shop, method, path, who, Some(&body.to_string())).await
}

fn product_body(sku: &str, name: &str, amount: i64, category: Option<&str>) -> Value {
    json!({
        "sku": sku,
        "name": name,
        "description": format!("About {name}"),
        "price": { "amount": amount, "currency": "EUR" },
        "category_id": category,
    })
}

async fn create_category(shop: &Wasmshop, name: &str) -> String {
    let (status, body) = send(
        shop,
        "POST",
        "/categories",
        Who::Admin,
        &json!({ "name": name }),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().expect("id").to_owned()
}

async fn create_product(shop: &Wasmshop, body: &Value) -> Value {
    let (status, product) = send(shop, "POST", "/products", Who::Admin, body).await;
    assert_eq!(status, 201, "{product}");
    product
}

async fn set_stock(shop: &Wasmshop, product_id: &str, on_hand: u32) -> Value {
    let (status, stock) = send(
        shop,
        "PUT",
        &format!("/inventory/{product_id}"),
        Who::Admin,
        &json!({ "on_hand": on_hand }),
    )
    .await;
    assert_eq!(status, 200, "{stock}");
    stock
}

async fn stock(shop: &Wasmshop, product_id: &str) -> (u64, u64, u64) {
    let (status, stock) = get(shop, &format!("/inventory/{product_id}"), Who::Admin).await;
    assert_eq!(status, 200, "{stock}");
    (
        stock["on_hand"].as_u64().expect("on_hand"),
        stock["reserved"].as_u64().expect("reserved"),
        stock["available"].as_u64().expect("available"),
    )
}

fn assert_error(status: u16, body: &Value, expected_status: u16, code: &str, what: &str) {
    assert_eq!(status, expected_status, "{what}: {body}");
    assert_eq!(body["error"]["code"], code, "{what}: {body}");
}

fn page_ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|p| p["id"].as_str().expect("id").to_owned())
        .collect()
}

// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_unknown_paths_and_wrong_methods() {
    let shop = boot().await;
    let (status, body) = get(&shop, "/health", Who::Anonymous).await;
    assert_eq!((status, body), (200, json!({ "status": "ok" })));

    for path in ["/nowhere", "/products/a/b", "/reservations/x/y/z", "/"] {
        let (status, body) = get(&shop, path, Who::Admin).await;
        assert_error(status, &body, 404, "not_found", path);
    }

    for (method, path, allow) in [
        ("PATCH", "/products", "GET, POST"),
        ("DELETE", "/categories", "GET, POST"),
        ("POST", "/health", "GET"),
        (
            "POST",
            "/products/0190d7a0-0000-7000-8000-000000000009",
            "GET, PUT, DELETE",
        ),
        ("GET", "/reservations", "POST"),
        ("DELETE", "/inventory/x", "GET, PUT"),
        ("GET", "/reservations/x/release", "POST"),
        ("PUT", "/reservations/x", "GET"),
    ] {
        let response = shop
            .client
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).expect("method"),
                shop.url(path),
            )
            .send()
            .await
            .expect("request");
        assert_eq!(
            response
                .headers()
                .get("allow")
                .and_then(|v| v.to_str().ok()),
            Some(allow),
            "{method} {path}"
        );
        let (status, body) = json(response).await;
        assert_error(status, &body, 405, "method_not_allowed", path);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_data_is_seeded_once_unless_disabled() {
    let shop = boot().await;
    let (status, page) = get(&shop, "/products?limit=100", Who::Anonymous).await;
    assert_eq!(status, 200, "{page}");
    let total = page["total"].as_u64().expect("total");
    assert!((45..=55).contains(&total), "{total} demo products");
    assert_eq!(page["items"].as_array().expect("items").len() as u64, total);
    let (status, categories) = get(&shop, "/categories", Who::Anonymous).await;
    assert_eq!(status, 200);
    let categories = categories.as_array().expect("list").clone();
    assert!((5..=6).contains(&categories.len()), "{categories:?}");
    let names: Vec<&str> = categories
        .iter()
        .map(|c| c["name"].as_str().expect("name"))
        .collect();
    assert!(names.contains(&"Electronics"), "{names:?}");

    for product in page["items"].as_array().expect("items") {
        assert_eq!(product["price"]["currency"], "EUR");
        assert!(product["price"]["amount"].as_i64().expect("amount") > 0);
        assert_eq!(product["active"], true);
        assert!(
            categories.iter().any(|c| c["id"] == product["category_id"]),
            "{product}"
        );
    }
    for product in page["items"].as_array().expect("items").iter().take(5) {
        let (on_hand, reserved, available) =
            stock(&shop, product["id"].as_str().expect("id")).await;
        assert!((10..=100).contains(&on_hand), "{product}");
        assert_eq!((reserved, available), (0, on_hand));
    }

    // Each category filter finds its share, and they add up.
    let mut sum = 0;
    for category in &categories {
        let id = category["id"].as_str().expect("id");
        let (status, page) = get(
            &shop,
            &format!("/products?category={id}&limit=1"),
            Who::Anonymous,
        )
        .await;
        assert_eq!(status, 200, "{page}");
        sum += page["total"].as_u64().expect("total");
    }
    assert_eq!(sum, total);

    let (_, found) = get(&shop, "/products?q=elec-hdp-001", Who::Anonymous).await;
    assert_eq!(found["total"], 1, "{found}");
    assert_eq!(found["items"][0]["sku"], "ELEC-HDP-001");

    // The same data after another request (migrations are recorded, not re-applied).
    let (_, again) = get(&shop, "/products?limit=1", Who::Anonymous).await;
    assert_eq!(again["total"].as_u64(), Some(total));

    let bare = boot_with(&[("seed_demo_data", "false")]).await;
    let (status, page) = get(&bare, "/products", Who::Anonymous).await;
    assert_eq!((status, page["total"].clone()), (200, json!(0)), "{page}");
    let (_, categories) = get(&bare, "/categories", Who::Anonymous).await;
    assert_eq!(categories, json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn products_and_categories_admin_lifecycle() {
    let shop = boot().await;
    let category = create_category(&shop, "Test Gadgets").await;
    let (status, body) = send(
        &shop,
        "POST",
        "/categories",
        Who::Admin,
        &json!({ "name": "  test GADGETS ", "description": "again" }),
    )
    .await;
    assert_error(
        status,
        &body,
        409,
        "category_taken",
        "same name, other case",
    );
    for (who, status_code, code) in [
        (Who::Anonymous, 401, "unauthorized"),
        (Who::Customer, 403, "forbidden"),
    ] {
        let (status, body) = send(&shop, "POST", "/categories", who, &json!({ "name": "X" })).await;
        assert_error(status, &body, status_code, code, "category by non-admin");
    }
    let (status, body) = send(
        &shop,
        "POST",
        "/categories",
        Who::Admin,
        &json!({ "name": " " }),
    )
    .await;
    assert_error(status, &body, 422, "invalid_input", "blank category");
    let (_, categories) = get(&shop, "/categories", Who::Customer).await;
    assert!(
        categories
            .as_array()
            .expect("list")
            .iter()
            .any(|c| c["id"] == category.as_str()
                && c["name"] == "Test Gadgets"
                && c["description"].is_null()),
        "{categories}"
    );

    // Create: admin only.
    let body = product_body("tg-widget-1", "Widget One", 1250, Some(&category));
    for (who, status_code, code) in [
        (Who::Anonymous, 401, "unauthorized"),
        (Who::Customer, 403, "forbidden"),
    ] {
        let (status, body) = send(&shop, "POST", "/products", who, &body).await;
        assert_error(status, &body, status_code, code, "create by non-admin");
    }
    let response = shop
        .client
        .post(shop.url("/products"))
        .header("x-user-id", ADMIN.0)
        .header("x-user-role", "admin")
        .body(body.to_string())
        .send()
        .await
        .expect("create");
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let (status, product) = json(response).await;
    assert_eq!(status, 201, "{product}");
    let id = product["id"].as_str().expect("id").to_owned();
    assert_eq!(location, Some(format!("/products/{id}")));
    assert_eq!(product["sku"], "TG-WIDGET-1", "SKUs are upper-cased");
    assert_eq!(product["name"], "Widget One");
    assert_eq!(
        product["price"],
        json!({ "amount": 1250, "currency": "EUR" })
    );
    assert_eq!(product["category_id"], category.as_str());
    assert_eq!(product["active"], true);
    assert_eq!(product["created_at"], product["updated_at"]);

    // A new product starts with no stock.
    assert_eq!(stock(&shop, &id).await, (0, 0, 0));

    // Duplicate SKU, in any case.
    let (status, body) = send(
        &shop,
        "POST",
        "/products",
        Who::Admin,
        &product_body("TG-WIDGET-1", "Other", 1, None),
    )
    .await;
    assert_error(status, &body, 409, "sku_taken", "duplicate sku");

    // Validation: every rule names its field.
    let (status, body) = send(
        &shop,
        "POST",
        "/products",
        Who::Admin,
        &json!({ "sku": "a b", "name": "", "description": "",
            "price": { "amount": -5, "currency": "euro" }, "category_id": "gadgets" }),
    )
    .await;
    assert_error(status, &body, 422, "invalid_input", "invalid product");
    let fields: BTreeSet<&str> = body["error"]["details"]["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .map(|f| f["field"].as_str().expect("field"))
        .collect();
    assert_eq!(
        fields,
        BTreeSet::from([
            "sku",
            "name",
            "price.amount",
            "price.currency",
            "category_id"
        ])
    );
    let (status, body) = send(
        &shop,
        "POST",
        "/products",
        Who::Admin,
        &product_body("TG-NOCAT", "No category", 1, Some(&new_id())),
    )
    .await;
    assert_error(status, &body, 422, "invalid_input", "unknown category");
    assert_eq!(
        body["error"]["details"]["fields"][0]["field"],
        "category_id"
    );
    let long_name = "n".repeat(201);
    let (status, body) = send(
        &shop,
        "POST",
        "/products",
        Who::Admin,
        &product_body("TG-LONG", &long_name, 1, None),
    )
    .await;
    assert_error(status, &body, 422, "invalid_input", "name too long");

    // Read: public.
    let (status, read) = get(&shop, &format!("/products/{id}"), Who::Anonymous).await;
    assert_eq!((status, &read), (200, &product));
    for path in [
        "/products/not-a-uuid".to_owned(),
        format!("/products/{}", new_id()),
    ] {
        let (status, body) = get(&shop, &path, Who::Admin).await;
        assert_error(status, &body, 404, "not_found", &path);
    }

    // Update: full replace, admin only; created_at stays.
    let other = create_product(&shop, &product_body("TG-WIDGET-2", "Widget Two", 999, None)).await;
    let replacement = json!({ "sku": "TG-WIDGET-1B", "name": "Widget One B", "description": "new",
        "price": { "amount": 1500, "currency": "USD" } });
    for (who, status_code, code) in [
        (Who::Anonymous, 401, "unauthorized"),
        (Who::Customer, 403, "forbidden"),
    ] {
        let (status, body) =
            send(&shop, "PUT", &format!("/products/{id}"), who, &replacement).await;
        assert_error(status, &body, status_code, code, "update by non-admin");
    }
    let (status, updated) = send(
        &shop,
        "PUT",
        &format!("/products/{id}"),
        Who::Admin,
        &replacement,
    )
    .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["sku"], "TG-WIDGET-1B");
    assert_eq!(updated["description"], "new");
    assert_eq!(
        updated["price"],
        json!({ "amount": 1500, "currency": "USD" })
    );
    assert_eq!(
        updated["category_id"],
        Value::Null,
        "full replace clears the category"
    );
    assert_eq!(updated["created_at"], product["created_at"]);
    assert!(updated["updated_at"].as_str() >= product["updated_at"].as_str());
    let (status, body) = send(
        &shop,
        "PUT",
        &format!("/products/{id}"),
        Who::Admin,
        &product_body("TG-WIDGET-2", "Steal", 1, None),
    )
    .await;
    assert_error(status, &body, 409, "sku_taken", "update onto another's sku");
    let (status, same_sku) = send(
        &shop,
        "PUT",
        &format!("/products/{id}"),
        Who::Admin,
        &product_body("TG-WIDGET-1B", "Keeps its own SKU", 1, Some(&category)),
    )
    .await;
    assert_eq!(status, 200, "{same_sku}");
    let (status, body) = send(
        &shop,
        "PUT",
        &format!("/products/{}", new_id()),
        Who::Admin,
        &replacement,
    )
    .await;
    assert_error(status, &body, 404, "not_found", "update unknown");
    let (status, body) = send(
        &shop,
        "PUT",
        &format!("/products/{id}"),
        Who::Admin,
        &json!({ "sku": "TG-1" }),
    )
    .await;
    assert_error(
        status,
        &body,
        400,
        "invalid_input",
        "update with missing fields",
    );

    // Soft delete: admin only, idempotent; gone for the public, kept for admins.
    for (who, status_code, code) in [
        (Who::Anonymous, 401, "unauthorized"),
        (Who::Customer, 403, "forbidden"),
    ] {
        let (status, body) = call(&shop, "DELETE", &format!("/products/{id}"), who, None).await;
        assert_error(status, &body, status_code, code, "delete by non-admin");
    }
    for _ in 0..2 {
        let response = shop
            .client
            .delete(shop.url(&format!("/products/{id}")))
            .header("x-user-id", ADMIN.0)
            .header("x-user-role", "admin")
            .send()
            .await
            .expect("delete");
        assert_eq!(response.status(), 204);
        assert!(response.text().await.expect("body").is_empty());
    }
    for who in [Who::Anonymous, Who::Customer] {
        let (status, body) = get(&shop, &format!("/products/{id}"), who).await;
        assert_error(status, &body, 404, "not_found", "inactive for the public");
    }
    let (status, deleted) = get(&shop, &format!("/products/{id}"), Who::Admin).await;
    assert_eq!((status, deleted["active"].clone()), (200, json!(false)));
    let (_, listed) = get(&shop, &format!("/products?category={category}"), Who::Admin).await;
    assert_eq!(
        listed["total"], 0,
        "inactive products are not listed: {listed}"
    );
    let (status, body) = call(
        &shop,
        "DELETE",
        &format!("/products/{}", new_id()),
        Who::Admin,
        None,
    )
    .await;
    assert_error(status, &body, 404, "not_found", "delete unknown");
    let (status, body) = call(&shop, "DELETE", "/products/nope", Who::Admin, None).await;
    assert_error(status, &body, 404, "not_found", "delete non-uuid");

    // An admin can bring it back with `active: true`; `active` left out keeps the state.
    let mut revive = product_body("TG-WIDGET-1B", "Widget One B", 1500, None);
    let (_, kept) = send(
        &shop,
        "PUT",
        &format!("/products/{id}"),
        Who::Admin,
        &revive,
    )
    .await;
    assert_eq!(kept["active"], false, "{kept}");
    revive["active"] = json!(true);
    let (_, revived) = send(
        &shop,
        "PUT",
        &format!("/products/{id}"),
        Who::Admin,
        &revive,
    )
    .await;
    assert_eq!(revived["active"], true, "{revived}");
    let (status, _) = get(&shop, &format!("/products/{id}"), Who::Anonymous).await;
    assert_eq!(status, 200);
    assert_eq!(other["active"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_a_json_4xx_never_500() {
    let shop = boot().await;
    let product = create_product(&shop, &product_body("BAD-INPUT-1", "Target", 100, None)).await;
    let id = product["id"].as_str().expect("id").to_owned();
    set_stock(&shop, &id, 10).await;
    let order = new_id();
    let inventory = format!("/inventory/{id}");

    let cases: Vec<(&str, String, String, u16, &str)> = vec![
        // products
        ("POST", "/products".into(), "{not json".into(), 400, "invalid_json"),
        ("POST", "/products".into(), "".into(), 400, "invalid_json"),
        ("POST", "/products".into(), "[]".into(), 400, "invalid_input"),
        ("POST", "/products".into(),
            r#"{"sku":"OK-1","name":"n","description":"","price":{"amount":"12","currency":"EUR"}}"#.into(), 400, "invalid_input"),
        ("POST", "/products".into(),
            r#"{"sku":"OK-1","name":"n","description":"","price":{"amount":1.5,"currency":"EUR"}}"#.into(), 400, "invalid_input"),
        ("POST", "/products".into(), r#"{"name":"n","description":"","price":{"amount":1,"currency":"EUR"}}"#.into(), 400, "invalid_input"),
        ("POST", "/products".into(),
            r#"{"sku":"OK-1","name":"n","description":"","price":{"amount":1,"currency":"EUR"},"colour":"red"}"#.into(), 400, "unknown_field"),
        ("POST", "/products".into(),
            r#"{"sku":"OK-1","name":"n","description":"","price":{"amount":1,"currency":"EUR","cents":1}}"#.into(), 400, "unknown_field"),
        ("POST", "/products".into(),
            r#"{"sku":"OK-1","name":"n","description":"","price":{"amount":-1,"currency":"EUR"}}"#.into(), 422, "invalid_input"),
        ("PUT", format!("/products/{id}"), r#"{"sku":5}"#.into(), 400, "invalid_input"),
        // categories
        ("POST", "/categories".into(), r#"{"name":5}"#.into(), 400, "invalid_input"),
        ("POST", "/categories".into(), r#"{"name":"x","parent":"y"}"#.into(), 400, "unknown_field"),
        ("POST", "/categories".into(), "{".into(), 400, "invalid_json"),
        // inventory
        ("PUT", inventory.clone(), r#"{"on_hand":-1}"#.into(), 400, "invalid_input"),
        ("PUT", inventory.clone(), r#"{"on_hand":"5"}"#.into(), 400, "invalid_input"),
        ("PUT", inventory.clone(), r#"{"on_hand":4294967296}"#.into(), 400, "invalid_input"),
        ("PUT", inventory.clone(), r#"{"low_stock_threshold":1}"#.into(), 400, "invalid_input"),
        ("PUT", inventory.clone(), r#"{"on_hand":1,"reserved":0}"#.into(), 400, "unknown_field"),
        ("PUT", inventory.clone(), "nope".into(), 400, "invalid_json"),
        // reservations
        ("POST", "/reservations".into(),
            format!(r#"{{"order_id":"{order}","lines":[{{"product_id":"{id}","quantity":0}}]}}"#), 422, "invalid_input"),
        ("POST", "/reservations".into(),
            format!(r#"{{"order_id":"{order}","lines":[{{"product_id":"{id}","quantity":-1}}]}}"#), 400, "invalid_input"),
        ("POST", "/reservations".into(),
            format!(r#"{{"order_id":"{order}","lines":[{{"product_id":"{id}","quantity":"1"}}]}}"#), 400, "invalid_input"),
        ("POST", "/reservations".into(),
            format!(r#"{{"order_id":"{order}","lines":[{{"product_id":"{id}"}}]}}"#), 400, "invalid_input"),
        ("POST", "/reservations".into(),
            format!(r#"{{"order_id":"{order}","lines":[{{"product_id":"{id}","quantity":1,"price":3}}]}}"#), 400, "unknown_field"),
        ("POST", "/reservations".into(), format!(r#"{{"order_id":"{order}","lines":[]}}"#), 422, "invalid_input"),
        ("POST", "/reservations".into(), format!(r#"{{"order_id":"{order}"}}"#), 400, "invalid_input"),
        ("POST", "/reservations".into(),
            format!(r#"{{"order_id":"order-1","lines":[{{"product_id":"{id}","quantity":1}}]}}"#), 422, "invalid_input"),
        ("POST", "/reservations".into(),
            format!(r#"{{"order_id":"{order}","lines":[{{"product_id":"p1","quantity":1}}]}}"#), 422, "invalid_input"),
        ("POST", "/reservations".into(), "{\"order_id\":".into(), 400, "invalid_json"),
    ];
    for (method, path, body, status_code, code) in cases {
        let (status, response) = call(&shop, method, &path, Who::Admin, Some(&body)).await;
        assert_error(
            status,
            &response,
            status_code,
            code,
            &format!("{method} {path} {body}"),
        );
    }

    for query in [
        "limit=0",
        "limit=1000",
        "limit=101",
        "limit=abc",
        "limit=-1",
        "page=0",
        "page=-2",
        "page=x",
        "sort=cheapest",
        "sort=PRICE-ASC",
        "min_price=-5",
        "min_price=10&max_price=5",
        "max_price=1e3",
        "category=shoes",
        "colour=red",
    ] {
        let (status, body) = get(&shop, &format!("/products?{query}"), Who::Anonymous).await;
        assert_error(status, &body, 400, "invalid_query", query);
    }
    let (status, body) = get(&shop, "/products?limit=100&page=1000", Who::Anonymous).await;
    assert_eq!(
        (status, body["items"].clone()),
        (200, json!([])),
        "past the end: {body}"
    );

    // Nothing above reserved anything.
    assert_eq!(stock(&shop, &id).await, (10, 0, 10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_filters_sorts_and_pages_stably() {
    let shop = boot().await;
    let category = create_category(&shop, "Pagination").await;
    // 25 products; prices repeat so ties must be broken by id.
    let mut created = Vec::new();
    for i in 0..25 {
        let name = format!(
            "Paged {}",
            ["Alpha", "beta", "Gamma", "delta", "Epsilon"][i % 5]
        );
        let product = create_product(
            &shop,
            &product_body(
                &format!("PG-{i:03}"),
                &name,
                100 * (i as i64 % 4),
                Some(&category),
            ),
        )
        .await;
        created.push(product);
    }
    let all: BTreeSet<String> = created
        .iter()
        .map(|p| p["id"].as_str().expect("id").to_owned())
        .collect();

    for sort in ["name-asc", "name-desc", "price-asc", "price-desc", "newest"] {
        let mut seen = Vec::new();
        for page in 1..=4 {
            let (status, body) = get(
                &shop,
                &format!("/products?category={category}&sort={sort}&limit=7&page={page}"),
                Who::Anonymous,
            )
            .await;
            assert_eq!(status, 200, "{body}");
            assert_eq!(body["total"], 25);
            assert_eq!(
                (body["page"].clone(), body["limit"].clone()),
                (json!(page), json!(7))
            );
            let ids = page_ids(&body);
            assert_eq!(
                ids.len(),
                if page == 4 { 4 } else { 7 },
                "{sort} page {page}"
            );
            seen.extend(body["items"].as_array().expect("items").iter().cloned());
        }
        let ids: Vec<String> = seen
            .iter()
            .map(|p| p["id"].as_str().expect("id").to_owned())
            .collect();
        let unique: BTreeSet<String> = ids.iter().cloned().collect();
        assert_eq!(unique.len(), 25, "{sort}: pages overlap");
        assert_eq!(unique, all, "{sort}: pages cover everything");
        let (_, past) = get(
            &shop,
            &format!("/products?category={category}&sort={sort}&limit=7&page=5"),
            Who::Anonymous,
        )
        .await;
        assert_eq!(past["items"], json!([]));

        // The order is the sort key, then the id.
        for pair in seen.windows(2) {
            let (a, b) = (&pair[0], &pair[1]);
            let key = |p: &Value| -> (String, i64, String, String) {
                (
                    p["name"].as_str().expect("name").to_lowercase(),
                    p["price"]["amount"].as_i64().expect("amount"),
                    p["created_at"].as_str().expect("created").to_owned(),
                    p["id"].as_str().expect("id").to_owned(),
                )
            };
            let (ka, kb) = (key(a), key(b));
            let ordered = match sort {
                "name-asc" => (&ka.0, &ka.3) < (&kb.0, &kb.3),
                "name-desc" => (&ka.0, &ka.3) > (&kb.0, &kb.3),
                "price-asc" => (ka.1, &ka.3) < (kb.1, &kb.3),
                "price-desc" => (ka.1, &ka.3) > (kb.1, &kb.3),
                _ => (&ka.2, &ka.3) > (&kb.2, &kb.3),
            };
            assert!(ordered, "{sort}: {a} before {b}");
        }
    }
    // Default sort is newest first: the last created leads.
    let (_, newest) = get(
        &shop,
        &format!("/products?category={category}&limit=1"),
        Who::Anonymous,
    )
    .await;
    assert_eq!(newest["items"][0]["id"], created[24]["id"]);
    assert_eq!(
        (newest["page"].clone(), newest["limit"].clone()),
        (json!(1), json!(1))
    );
    let (_, default_limit) = get(
        &shop,
        &format!("/products?category={category}"),
        Who::Anonymous,
    )
    .await;
    assert_eq!(default_limit["limit"], 20);
    assert_eq!(page_ids(&default_limit).len(), 20);

    // Price range, inclusive.
    let (_, ranged) = get(
        &shop,
        &format!("/products?category={category}&min_price=100&max_price=200&limit=100"),
        Who::Anonymous,
    )
    .await;
    let prices: BTreeSet<i64> = ranged["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|p| p["price"]["amount"].as_i64().expect("amount"))
        .collect();
    assert_eq!(prices, BTreeSet::from([100, 200]));
    assert_eq!(ranged["total"], 12, "i % 4 in 1..=2 for 12 of i < 25");

    // Search: name, description and SKU, case-insensitive; LIKE wildcards are literal.
    let special = create_product(
        &shop,
        &json!({ "sku": "PG-SPECIAL", "name": "100% Cotton_Tee", "description": "Straße Édition",
            "price": { "amount": 1, "currency": "EUR" }, "category_id": category }),
    )
    .await;
    for (q, expected) in [
        ("gamma", 5),
        ("GAMMA", 5),
        ("about paged beta", 5),
        ("pg-01", 10),
        ("%", 1),
        ("_", 1),
        ("0%", 1),
        ("n_T", 1),
        ("straße", 1),
        ("ÉDITION", 1),
        ("\\", 0),
        ("nothing like this", 0),
    ] {
        let (status, found) = get(
            &shop,
            &format!(
                "/products?category={category}&limit=100&q={}",
                q.replace('%', "%25").replace(' ', "+").replace('\\', "%5C")
            ),
            Who::Anonymous,
        )
        .await;
        assert_eq!(status, 200, "{found}");
        assert_eq!(found["total"], expected, "q={q}: {found}");
        if expected == 1 && q != "n_T" {
            assert_eq!(found["items"][0]["id"], special["id"], "q={q}");
        }
    }

    // A soft-deleted product leaves the listing and the total.
    let gone = created[0]["id"].as_str().expect("id");
    let (status, _) = call(
        &shop,
        "DELETE",
        &format!("/products/{gone}"),
        Who::Admin,
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (_, after) = get(
        &shop,
        &format!("/products?category={category}&limit=100"),
        Who::Anonymous,
    )
    .await;
    assert_eq!(after["total"], 25);
    assert!(!page_ids(&after).contains(&gone.to_owned()));
    let (_, unknown) = get(
        &shop,
        &format!("/products?category={}", new_id()),
        Who::Anonymous,
    )
    .await;
    assert_eq!(unknown["total"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inventory_is_admin_only_and_never_below_reserved() {
    let shop = boot().await;
    let product = create_product(&shop, &product_body("INV-1", "Stocked", 500, None)).await;
    let id = product["id"].as_str().expect("id").to_owned();
    let path = format!("/inventory/{id}");
    for (who, status_code, code) in [
        (Who::Anonymous, 401, "unauthorized"),
        (Who::Customer, 403, "forbidden"),
    ] {
        let (status, body) = get(&shop, &path, who).await;
        assert_error(status, &body, status_code, code, "get stock");
        let (status, body) = send(&shop, "PUT", &path, who, &json!({ "on_hand": 5 })).await;
        assert_error(status, &body, status_code, code, "set stock");
    }
    let (status, body) = get(&shop, &path, Who::Admin).await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({ "product_id": id, "on_hand": 0, "reserved": 0, "available": 0, "low_stock_threshold": 5 })
    );
    let (status, body) = send(
        &shop,
        "PUT",
        &path,
        Who::Admin,
        &json!({ "on_hand": 12, "low_stock_threshold": 3 }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({ "product_id": id, "on_hand": 12, "reserved": 0, "available": 12, "low_stock_threshold": 3 })
    );
    let stock_after_threshold = set_stock(&shop, &id, 12).await;
    assert_eq!(
        stock_after_threshold["low_stock_threshold"], 3,
        "threshold kept when left out"
    );

    let (status, _) = send(
        &shop,
        "POST",
        "/reservations",
        Who::Anonymous,
        &json!({ "order_id": new_id(), "lines": [{ "product_id": id, "quantity": 8 }] }),
    )
    .await;
    assert_eq!(status, 201);
    let (status, body) = send(&shop, "PUT", &path, Who::Admin, &json!({ "on_hand": 7 })).await;
    assert_error(status, &body, 409, "conflict", "on_hand below reserved");
    let ok = set_stock(&shop, &id, 8).await;
    assert_eq!(
        (ok["reserved"].clone(), ok["available"].clone()),
        (json!(8), json!(0))
    );

    for missing in [
        format!("/inventory/{}", new_id()),
        "/inventory/abc".to_owned(),
    ] {
        let (status, body) = get(&shop, &missing, Who::Admin).await;
        assert_error(status, &body, 404, "not_found", &missing);
        let (status, body) =
            send(&shop, "PUT", &missing, Who::Admin, &json!({ "on_hand": 1 })).await;
        assert_error(status, &body, 404, "not_found", &missing);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reservations_over_http() {
    let shop = boot().await;
    let a = create_product(&shop, &product_body("RES-A", "A", 100, None)).await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let b = create_product(&shop, &product_body("RES-B", "B", 100, None)).await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    set_stock(&shop, &a, 10).await;
    set_stock(&shop, &b, 5).await;

    // Duplicate lines merge; 201 on creation.
    let first = new_id();
    let request = json!({ "order_id": first, "lines": [
        { "product_id": a, "quantity": 2 }, { "product_id": b, "quantity": 1 }, { "product_id": a, "quantity": 1 }] });
    let (status, reservation) =
        send(&shop, "POST", "/reservations", Who::Anonymous, &request).await;
    assert_eq!(status, 201, "{reservation}");
    assert_eq!(
        reservation,
        json!({ "order_id": first, "status": "reserved", "lines": [
            { "product_id": a, "quantity": 3 }, { "product_id": b, "quantity": 1 }] })
    );
    assert_eq!(stock(&shop, &a).await, (10, 3, 7));
    assert_eq!(stock(&shop, &b).await, (5, 1, 4));

    // Again for the same order, even with other lines: the existing one, unchanged (200).
    let (status, again) = send(
        &shop,
        "POST",
        "/reservations",
        Who::Anonymous,
        &json!({ "order_id": first, "lines": [{ "product_id": b, "quantity": 4 }] }),
    )
    .await;
    assert_eq!((status, &again), (200, &reservation));
    assert_eq!(stock(&shop, &b).await, (5, 1, 4));
    let (status, read) = get(&shop, &format!("/reservations/{first}"), Who::Anonymous).await;
    assert_eq!((status, &read), (200, &reservation));

    // All or nothing: B is short, so A is not reserved either.
    let short = new_id();
    let (status, body) = send(
        &shop,
        "POST",
        "/reservations",
        Who::Anonymous,
        &json!({ "order_id": short, "lines": [{ "product_id": a, "quantity": 7 }, { "product_id": b, "quantity": 5 }] }),
    )
    .await;
    assert_error(status, &body, 409, "insufficient_stock", "b short");
    assert_eq!(body["error"]["details"]["products"], json!([b]));
    assert_eq!(stock(&shop, &a).await, (10, 3, 7));
    assert_eq!(stock(&shop, &b).await, (5, 1, 4));
    let (status, body) = get(&shop, &format!("/reservations/{short}"), Who::Anonymous).await;
    assert_error(
        status,
        &body,
        404,
        "not_found",
        "refused order has no reservation",
    );

    // Unknown and inactive products.
    let (status, body) = send(
        &shop,
        "POST",
        "/reservations",
        Who::Anonymous,
        &json!({ "order_id": new_id(), "lines": [{ "product_id": new_id(), "quantity": 1 }] }),
    )
    .await;
    assert_error(status, &body, 404, "not_found", "unknown product");
    let gone = create_product(&shop, &product_body("RES-GONE", "Gone", 1, None)).await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    set_stock(&shop, &gone, 10).await;
    call(
        &shop,
        "DELETE",
        &format!("/products/{gone}"),
        Who::Admin,
        None,
    )
    .await;
    let (status, body) = send(
        &shop,
        "POST",
        "/reservations",
        Who::Anonymous,
        &json!({ "order_id": new_id(), "lines": [{ "product_id": a, "quantity": 1 }, { "product_id": gone, "quantity": 1 }] }),
    )
    .await;
    assert_error(status, &body, 404, "not_found", "inactive product");
    assert_eq!(stock(&shop, &a).await, (10, 3, 7));

    // Release: back to available, idempotent; then commit is a conflict.
    let release = format!("/reservations/{first}/release");
    let (status, released) = call(&shop, "POST", &release, Who::Anonymous, None).await;
    assert_eq!(
        (status, released["status"].clone()),
        (200, json!("released")),
        "{released}"
    );
    assert_eq!(released["lines"], reservation["lines"]);
    assert_eq!(stock(&shop, &a).await, (10, 0, 10));
    assert_eq!(stock(&shop, &b).await, (5, 0, 5));
    let (status, twice) = call(&shop, "POST", &release, Who::Anonymous, None).await;
    assert_eq!((status, &twice), (200, &released));
    assert_eq!(stock(&shop, &a).await, (10, 0, 10));
    let (status, body) = call(
        &shop,
        "POST",
        &format!("/reservations/{first}/commit"),
        Who::Anonymous,
        None,
    )
    .await;
    assert_error(
        status,
        &body,
        409,
        "reservation_released",
        "commit after release",
    );

    // Commit: units leave on_hand, idempotent; then release is a conflict.
    let second = new_id();
    let (status, _) = send(
        &shop,
        "POST",
        "/reservations",
        Who::Anonymous,
        &json!({ "order_id": second, "lines": [{ "product_id": a, "quantity": 4 }] }),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(stock(&shop, &a).await, (10, 4, 6));
    let commit = format!("/reservations/{second}/commit");
    let (status, committed) = call(&shop, "POST", &commit, Who::Anonymous, None).await;
    assert_eq!(
        (status, committed["status"].clone()),
        (200, json!("committed"))
    );
    assert_eq!(stock(&shop, &a).await, (6, 0, 6));
    let (status, twice) = call(&shop, "POST", &commit, Who::Anonymous, None).await;
    assert_eq!((status, &twice), (200, &committed));
    assert_eq!(stock(&shop, &a).await, (6, 0, 6));
    let (status, body) = call(
        &shop,
        "POST",
        &format!("/reservations/{second}/release"),
        Who::Anonymous,
        None,
    )
    .await;
    assert_error(
        status,
        &body,
        409,
        "reservation_committed",
        "release after commit",
    );
    let (status, read) = get(&shop, &format!("/reservations/{second}"), Who::Anonymous).await;
    assert_eq!((status, read["status"].clone()), (200, json!("committed")));

    // Unknown orders.
    for path in [
        format!("/reservations/{}/release", new_id()),
        format!("/reservations/{}/commit", new_id()),
        "/reservations/nope/commit".to_owned(),
    ] {
        let (status, body) = call(&shop, "POST", &path, Who::Anonymous, None).await;
        assert_error(status, &body, 404, "not_found", &path);
    }
    for path in [
        format!("/reservations/{}", new_id()),
        "/reservations/nope".to_owned(),
    ] {
        let (status, body) = get(&shop, &path, Who::Anonymous).await;
        assert_error(status, &body, 404, "not_found", &path);
    }
}

fn money(amount: i64) -> Money {
    Money {
        amount,
        currency: "EUR".into(),
    }
}

fn input(sku: &str, name: &str, amount: i64, category: Option<String>) -> ProductInput {
    ProductInput {
        sku: sku.into(),
        name: name.into(),
        description: String::new(),
        price: money(amount),
        category_id: category,
        active: None,
    }
}

fn line(product_id: &str, quantity: u32) -> ReservationLine {
    ReservationLine {
        product_id: product_id.into(),
        quantity,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exported_api_serves_every_function() {
    let shop = boot().await;
    let (mut store, catalog) = shop.catalog_api().await.expect("instance");
    let api = catalog.wasmshop_catalog_api();

    let category = api
        .call_create_category(
            &mut store,
            &CategoryInput {
                name: "Api Things".into(),
                description: Some("via api".into()),
            },
        )
        .await
        .expect("call")
        .expect("created");
    assert_eq!(category.description.as_deref(), Some("via api"));
    assert!(matches!(
        api.call_create_category(&mut store, &CategoryInput { name: "API THINGS".into(), description: None })
            .await
            .expect("call"),
        Err(ApiError::Conflict(code)) if code == "category_taken"
    ));
    let categories = api
        .call_list_categories(&mut store)
        .await
        .expect("call")
        .expect("list");
    assert!(categories.iter().any(|c| c.id == category.id));

    let product = api
        .call_create_product(
            &mut store,
            &input("API-1", "Api One", 700, Some(category.id.clone())),
        )
        .await
        .expect("call")
        .expect("created");
    assert_eq!((product.sku.as_str(), product.active), ("API-1", true));
    match api
        .call_create_product(&mut store, &input("api-1", "Dup", 1, None))
        .await
        .expect("call")
    {
        Err(ApiError::Conflict(code)) => assert_eq!(code, "sku_taken"),
        other => panic!("duplicate sku: {other:?}"),
    }
    match api
        .call_create_product(&mut store, &input("x", "", -1, None))
        .await
        .expect("call")
    {
        Err(ApiError::InvalidInput(fields)) => {
            let names: Vec<&str> = fields.iter().map(|f| f.field.as_str()).collect();
            assert_eq!(names, vec!["sku", "name", "price.amount"]);
        }
        other => panic!("invalid product: {other:?}"),
    }

    let fetched = api
        .call_get_product(&mut store, &product.id)
        .await
        .expect("call")
        .expect("found");
    assert_eq!(format!("{fetched:?}"), format!("{product:?}"));
    assert!(matches!(
        api.call_get_product(&mut store, "nope")
            .await
            .expect("call"),
        Err(ApiError::NotFound)
    ));

    let mut replacement = input("API-1", "Api One Renamed", 800, None);
    replacement.description = "changed".into();
    let updated = api
        .call_update_product(&mut store, &product.id, &replacement)
        .await
        .expect("call")
        .expect("updated");
    assert_eq!(
        (
            updated.name.as_str(),
            updated.price.amount,
            updated.category_id.clone()
        ),
        ("Api One Renamed", 800, None)
    );
    assert!(matches!(
        api.call_update_product(
            &mut store,
            "01900000-0000-7000-8000-000000000000",
            &replacement
        )
        .await
        .expect("call"),
        Err(ApiError::NotFound)
    ));

    let page = api
        .call_list_products(
            &mut store,
            &ProductQuery {
                category: None,
                q: Some("renamed".into()),
                min_price: None,
                max_price: None,
                sort: Some(ProductSort::PriceAsc),
                page: None,
                limit: Some(5),
            },
        )
        .await
        .expect("call")
        .expect("page");
    assert_eq!((page.total, page.page, page.limit), (1, 1, 5));
    assert_eq!(page.items[0].id, product.id);
    match api
        .call_list_products(
            &mut store,
            &ProductQuery {
                category: None,
                q: None,
                min_price: None,
                max_price: None,
                sort: None,
                page: Some(0),
                limit: Some(0),
            },
        )
        .await
        .expect("call")
    {
        Err(ApiError::InvalidInput(fields)) => assert_eq!(fields.len(), 2, "{fields:?}"),
        other => panic!("bad query: {other:?}"),
    }

    let stock = api
        .call_set_stock(
            &mut store,
            &product.id,
            StockInput {
                on_hand: 3,
                low_stock_threshold: Some(1),
            },
        )
        .await
        .expect("call")
        .expect("set");
    assert_eq!(
        (
            stock.on_hand,
            stock.reserved,
            stock.available,
            stock.low_stock_threshold
        ),
        (3, 0, 3, 1)
    );
    let read = api
        .call_get_stock(&mut store, &product.id)
        .await
        .expect("call")
        .expect("stock");
    assert_eq!(format!("{read:?}"), format!("{stock:?}"));
    assert!(matches!(
        api.call_get_stock(&mut store, "01900000-0000-7000-8000-000000000000")
            .await
            .expect("call"),
        Err(ApiError::NotFound)
    ));

    let order = new_id();
    let reservation = api
        .call_reserve(&mut store, &order, &[line(&product.id, 2)])
        .await
        .expect("call")
        .expect("reserved");
    assert_eq!(reservation.status, ReservationStatus::Reserved);
    match api
        .call_reserve(&mut store, &new_id(), &[line(&product.id, 2)])
        .await
        .expect("call")
    {
        Err(ApiError::InsufficientStock(short)) => assert_eq!(short, vec![product.id.clone()]),
        other => panic!("short: {other:?}"),
    }
    assert!(matches!(
        api.call_reserve(&mut store, &new_id(), &[line(&product.id, 0)])
            .await
            .expect("call"),
        Err(ApiError::InvalidInput(_))
    ));
    assert!(matches!(
        api.call_set_stock(&mut store, &product.id, StockInput { on_hand: 1, low_stock_threshold: None })
            .await
            .expect("call"),
        Err(ApiError::Conflict(code)) if code == "conflict"
    ));
    let committed = api
        .call_commit(&mut store, &order)
        .await
        .expect("call")
        .expect("committed");
    assert_eq!(committed.status, ReservationStatus::Committed);
    assert!(matches!(
        api.call_release(&mut store, &order).await.expect("call"),
        Err(ApiError::Conflict(code)) if code == "reservation_committed"
    ));
    assert!(matches!(
        api.call_release(&mut store, &new_id()).await.expect("call"),
        Err(ApiError::NotFound)
    ));
    let stock = api
        .call_get_stock(&mut store, &product.id)
        .await
        .expect("call")
        .expect("stock");
    assert_eq!((stock.on_hand, stock.reserved, stock.available), (1, 0, 1));

    api.call_delete_product(&mut store, &product.id)
        .await
        .expect("call")
        .expect("deleted");
    api.call_delete_product(&mut store, &product.id)
        .await
        .expect("call")
        .expect("idempotent");
    let inactive = api
        .call_get_product(&mut store, &product.id)
        .await
        .expect("call")
        .expect("trusted callers see it");
    assert!(!inactive.active);
    assert!(matches!(
        api.call_delete_product(&mut store, "01900000-0000-7000-8000-000000000000")
            .await
            .expect("call"),
        Err(ApiError::NotFound)
    ));
    assert!(matches!(
        api.call_reserve(&mut store, &new_id(), &[line(&product.id, 1)])
            .await
            .expect("call"),
        Err(ApiError::NotFound)
    ));
}

/// Every envelope published on `catalog.events` (deduplicated by id), read on a thread of its
/// own until `stop` or a bounded deadline.
struct Events {
    rx: mpsc::Receiver<Value>,
    seen: BTreeSet<String>,
    pending: Vec<Value>,
}

impl Events {
    fn subscribe(shop: &Wasmshop) -> Self {
        let mut conn = shop.redis.connection().expect("redis connection");
        let (ready_tx, ready_rx) = mpsc::channel();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut pubsub = conn.as_pubsub();
            pubsub.subscribe("catalog.events").expect("subscribe");
            pubsub
                .set_read_timeout(Some(Duration::from_millis(200)))
                .expect("timeout");
            let _ = ready_tx.send(());
            let deadline = Instant::now() + Duration::from_secs(120);
            while Instant::now() < deadline {
                match pubsub.get_message() {
                    Ok(message) => {
                        let payload: String = message.get_payload().expect("text payload");
                        let event: Value = serde_json::from_str(&payload).expect("json envelope");
                        if tx.send(event).is_err() {
                            return;
                        }
                    }
                    Err(e) if e.is_timeout() => continue,
                    Err(_) => return,
                }
            }
        });
        ready_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("subscribed");
        Self {
            rx,
            seen: BTreeSet::new(),
            pending: Vec::new(),
        }
    }

    /// The next new event of `event_type` about `subject`, within a few seconds.
    fn expect(&mut self, event_type: &str, subject: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            // Events of one transaction arrive together and in any order of interest: keep
            // the ones not asked for yet.
            if let Some(i) = self
                .pending
                .iter()
                .position(|e| e["event_type"] == event_type && e["subject"] == subject)
            {
                let event = self.pending.remove(i);
                assert_eq!(event["source"], "catalog", "{event}");
                assert!(
                    event["time"].as_str().is_some_and(|t| t.ends_with('Z')),
                    "{event}"
                );
                return serde_json::from_str(event["data"].as_str().expect("data"))
                    .expect("payload json");
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let event = self.rx.recv_timeout(left).unwrap_or_else(|_| {
                panic!(
                    "no {event_type} about {subject} within 10 s; unclaimed: {:?}",
                    self.pending
                )
            });
            let id = event["id"].as_str().expect("event id").to_owned();
            if self.seen.insert(id) {
                self.pending.push(event);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_arrive_on_catalog_events() {
    let shop = boot().await;
    // Apply the migrations (and seed) before subscribing, so only our events follow.
    get(&shop, "/health", Who::Anonymous).await;
    get(&shop, "/categories", Who::Anonymous).await;
    let mut events = Events::subscribe(&shop);

    let product = create_product(&shop, &product_body("EVT-1", "Evented", 2500, None)).await;
    let id = product["id"].as_str().expect("id").to_owned();
    let created = events.expect("product.created", &id);
    assert_eq!(
        created,
        json!({ "product_id": id, "sku": "EVT-1", "name": "Evented",
            "price": { "amount": 2500, "currency": "EUR" }, "active": true })
    );
    let (status, _) = send(
        &shop,
        "PUT",
        &format!("/products/{id}"),
        Who::Admin,
        &product_body("EVT-1", "Evented 2", 2600, None),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(events.expect("product.updated", &id)["name"], "Evented 2");

    // Stock 8, threshold 5: reserving 4 leaves 4 < 5 → stock.low.
    set_stock(&shop, &id, 8).await;
    let order = new_id();
    let (status, _) = send(
        &shop,
        "POST",
        "/reservations",
        Who::Anonymous,
        &json!({ "order_id": order, "lines": [{ "product_id": id, "quantity": 4 }] }),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(
        events.expect("stock.reserved", &order),
        json!({ "order_id": order, "lines": [{ "product_id": id, "quantity": 4 }] })
    );
    assert_eq!(
        events.expect("stock.low", &id),
        json!({ "product_id": id, "available": 4, "threshold": 5 })
    );

    let refused = new_id();
    let (status, _) = send(
        &shop,
        "POST",
        "/reservations",
        Who::Anonymous,
        &json!({ "order_id": refused, "lines": [{ "product_id": id, "quantity": 5 }] }),
    )
    .await;
    assert_eq!(status, 409);
    assert_eq!(
        events.expect("stock.reservation-failed", &refused),
        json!({ "order_id": refused, "reason": "insufficient_stock", "short": [id] })
    );

    let (status, _) = call(
        &shop,
        "POST",
        &format!("/reservations/{order}/release"),
        Who::Anonymous,
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        events.expect("stock.released", &order)["lines"][0]["quantity"],
        4
    );

    let second = new_id();
    let (status, _) = send(
        &shop,
        "POST",
        "/reservations",
        Who::Anonymous,
        &json!({ "order_id": second, "lines": [{ "product_id": id, "quantity": 2 }] }),
    )
    .await;
    assert_eq!(status, 201);
    events.expect("stock.reserved", &second);
    let (status, _) = call(
        &shop,
        "POST",
        &format!("/reservations/{second}/commit"),
        Who::Anonymous,
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        events.expect("stock.committed", &second),
        json!({ "order_id": second, "lines": [{ "product_id": id, "quantity": 2 }] })
    );

    // An admin count below the threshold: 6 available → 3.
    set_stock(&shop, &id, 3).await;
    assert_eq!(
        events.expect("stock.low", &id),
        json!({ "product_id": id, "available": 3, "threshold": 5 })
    );

    let unknown_product = new_id();
    let unavailable = new_id();
    let (status, _) = send(
        &shop,
        "POST",
        "/reservations",
        Who::Anonymous,
        &json!({ "order_id": unavailable, "lines": [{ "product_id": unknown_product, "quantity": 1 }] }),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(
        events.expect("stock.reservation-failed", &unavailable),
        json!({ "order_id": unavailable, "reason": "product_unavailable", "short": [unknown_product] })
    );

    let (status, _) = call(
        &shop,
        "DELETE",
        &format!("/products/{id}"),
        Who::Admin,
        None,
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(events.expect("product.updated", &id)["active"], false);
}

/// 30 units, 100 concurrent single-unit reservations through `reserve`: exactly 30 win.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_api_reservations_never_oversell() {
    let shop = Arc::new(boot().await);
    let product = create_product(&shop, &product_body("RACE-API", "Contended", 100, None)).await;
    let id = product["id"].as_str().expect("id").to_owned();
    set_stock(&shop, &id, 30).await;

    let mut tasks = Vec::new();
    for _ in 0..100 {
        let (shop, id, order) = (shop.clone(), id.clone(), new_id());
        tasks.push(tokio::spawn(async move {
            let (mut store, catalog) = shop.catalog_api().await.expect("fresh instance");
            let result = catalog
                .wasmshop_catalog_api()
                .call_reserve(&mut store, &order, &[line(&id, 1)])
                .await
                .expect("call");
            (order, result)
        }));
    }
    let mut granted = Vec::new();
    let mut refused = 0;
    for task in tasks {
        match task.await.expect("task") {
            (order, Ok(reservation)) => {
                assert_eq!(reservation.order_id, order);
                granted.push(order);
            }
            (_, Err(ApiError::InsufficientStock(short))) => {
                assert_eq!(short, vec![id.clone()]);
                refused += 1;
            }
            (_, Err(other)) => panic!("unexpected error: {other:?}"),
        }
    }
    assert_eq!((granted.len(), refused), (30, 70));
    assert_eq!(stock(&shop, &id).await, (30, 30, 0));

    // Release 5 and commit 5 (each twice: idempotent), then the illegal transitions.
    let (mut store, catalog) = shop.catalog_api().await.expect("instance");
    let api = catalog.wasmshop_catalog_api();
    for order in &granted[..5] {
        for _ in 0..2 {
            let r = api
                .call_release(&mut store, order)
                .await
                .expect("call")
                .expect("released");
            assert_eq!(r.status, ReservationStatus::Released);
        }
    }
    for order in &granted[5..10] {
        for _ in 0..2 {
            let r = api
                .call_commit(&mut store, order)
                .await
                .expect("call")
                .expect("committed");
            assert_eq!(r.status, ReservationStatus::Committed);
        }
    }
    assert_eq!(stock(&shop, &id).await, (25, 20, 5));
    assert!(matches!(
        api.call_commit(&mut store, &granted[0]).await.expect("call"),
        Err(ApiError::Conflict(code)) if code == "reservation_released"
    ));
    assert!(matches!(
        api.call_release(&mut store, &granted[5]).await.expect("call"),
        Err(ApiError::Conflict(code)) if code == "reservation_committed"
    ));
    // A retried reserve of a granted order changes nothing.
    let again = api
        .call_reserve(&mut store, &granted[20], &[line(&id, 1)])
        .await
        .expect("call")
        .expect("existing");
    assert_eq!(again.status, ReservationStatus::Reserved);
    assert_eq!(stock(&shop, &id).await, (25, 20, 5));
}

/// The same race over HTTP: 100 concurrent `POST /reservations`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_http_reservations_never_oversell() {
    let shop = Arc::new(boot().await);
    let product = create_product(&shop, &product_body("RACE-HTTP", "Contended", 100, None)).await;
    let id = product["id"].as_str().expect("id").to_owned();
    set_stock(&shop, &id, 30).await;

    let mut tasks = Vec::new();
    for _ in 0..100 {
        let (shop, id) = (shop.clone(), id.clone());
        tasks.push(tokio::spawn(async move {
            let body =
                json!({ "order_id": new_id(), "lines": [{ "product_id": id, "quantity": 1 }] });
            send(&shop, "POST", "/reservations", Who::Anonymous, &body).await
        }));
    }
    let mut statuses = HashMap::new();
    for task in tasks {
        let (status, body) = task.await.expect("task");
        match status {
            201 => assert_eq!(body["status"], "reserved"),
            409 => assert_eq!(body["error"]["code"], "insufficient_stock", "{body}"),
            other => panic!("unexpected {other}: {body}"),
        }
        *statuses.entry(status).or_insert(0) += 1;
    }
    assert_eq!(statuses, HashMap::from([(201, 30), (409, 70)]));
    assert_eq!(stock(&shop, &id).await, (30, 30, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saga_commands_are_applied_once_and_answered() {
    let shop = boot_with(&[("seed_demo_data", "false")]).await;
    let product = create_product(&shop, &product_body("CMD-1", "Command mug", 900, None)).await;
    let product_id = product["id"].as_str().expect("id").to_owned();
    // Well above the low-stock threshold: no `stock.low` among the replies.
    set_stock(&shop, &product_id, 50).await;
    let order_id = new_id();
    let lines =
        json!({ "order_id": order_id, "lines": [{ "product_id": product_id, "quantity": 2 }] });

    // The same command delivered twice (same id) and once more as a retry (new id).
    let replies = shop.subscribe("catalog.events", 2).expect("subscribe");
    let reserve = wasmshop_tests::envelope(
        "stock.reserve",
        "orders",
        &order_id,
        Some(&order_id),
        &lines,
    );
    assert_eq!(
        shop.publish("catalog.commands", &reserve).expect("publish"),
        1
    );
    assert_eq!(
        shop.publish("catalog.commands", &reserve).expect("publish"),
        1
    );
    let retry = wasmshop_tests::envelope(
        "stock.reserve",
        "orders",
        &order_id,
        Some(&order_id),
        &lines,
    );
    assert_eq!(
        shop.publish("catalog.commands", &retry).expect("publish"),
        1
    );
    let replies = replies.received().await;
    assert_eq!(replies.len(), 2, "{replies:?}");
    // Messages are handled concurrently: the replies may come in either order.
    let mut causes: Vec<&str> = replies
        .iter()
        .filter_map(|r| r["causation_id"].as_str())
        .collect();
    causes.sort_unstable();
    let mut commands = [
        reserve["id"].as_str().expect("id"),
        retry["id"].as_str().expect("id"),
    ];
    commands.sort_unstable();
    assert_eq!(causes, commands, "{replies:?}");
    for reply in &replies {
        assert_eq!(reply["event_type"], "stock.reserved", "{reply}");
        assert_eq!(reply["correlation_id"], order_id.as_str());
    }
    assert_eq!(
        stock(&shop, &product_id).await,
        (50, 2, 48),
        "reserved once"
    );

    // Release arrives over the HTTP-push transport instead: same handler, same rules.
    let release = wasmshop_tests::envelope(
        "stock.release",
        "orders",
        &order_id,
        Some(&order_id),
        &json!({ "order_id": order_id, "reason": "payment declined" }),
    );
    let (status, body) = call(
        &shop,
        "POST",
        "/events",
        Who::Anonymous,
        Some(&release.to_string()),
    )
    .await;
    assert_eq!(
        (status, &body["outcome"]),
        (202, &json!("applied")),
        "{body}"
    );
    let (status, body) = call(
        &shop,
        "POST",
        "/events",
        Who::Anonymous,
        Some(&release.to_string()),
    )
    .await;
    assert_eq!(
        (status, &body["outcome"]),
        (202, &json!("duplicate")),
        "{body}"
    );
    assert_eq!(stock(&shop, &product_id).await, (50, 0, 50));

    // A release that overtakes its reserve leaves a tombstone: the late reserve takes nothing.
    let late_order = new_id();
    let released = shop.subscribe("catalog.events", 1).expect("subscribe");
    let release_first = wasmshop_tests::envelope(
        "stock.release",
        "orders",
        &late_order,
        Some(&late_order),
        &json!({ "order_id": late_order, "reason": null }),
    );
    shop.publish("catalog.commands", &release_first)
        .expect("publish");
    let mut replies = released.received().await;
    let refused = shop.subscribe("catalog.events", 1).expect("subscribe");
    let late_lines =
        json!({ "order_id": late_order, "lines": [{ "product_id": product_id, "quantity": 1 }] });
    let late_reserve = wasmshop_tests::envelope(
        "stock.reserve",
        "orders",
        &late_order,
        Some(&late_order),
        &late_lines,
    );
    shop.publish("catalog.commands", &late_reserve)
        .expect("publish");
    replies.extend(refused.received().await);
    let types: Vec<&str> = replies
        .iter()
        .filter_map(|r| r["event_type"].as_str())
        .collect();
    assert_eq!(
        types,
        ["stock.released", "stock.reservation-failed"],
        "{replies:?}"
    );
    assert_eq!(
        serde_json::from_str::<Value>(replies[1]["data"].as_str().expect("data")).expect("json")["reason"],
        "reservation_released"
    );
    assert_eq!(
        stock(&shop, &product_id).await,
        (50, 0, 50),
        "the late reserve took nothing"
    );

    // Poison: not an envelope, and an unknown command type; both kept as dead letters.
    shop.publish("catalog.commands", &json!("{not json"))
        .expect("publish");
    let unknown = wasmshop_tests::envelope(
        "stock.teleport",
        "orders",
        &order_id,
        Some(&order_id),
        &json!({}),
    );
    shop.publish("catalog.commands", &unknown).expect("publish");
    let letters = eventually("two dead letters", || async {
        let (status, body) = get(&shop, "/admin/dead-letters?status=dead", Who::Admin).await;
        assert_eq!(status, 200, "{body}");
        let items = body["items"].as_array().cloned().unwrap_or_default();
        (items.len() == 2).then_some(items)
    })
    .await;
    assert!(
        letters.iter().any(|l| l["id"] == unknown["id"]
            && l["error"]
                .as_str()
                .unwrap_or("")
                .contains("not a catalog command")),
        "{letters:?}"
    );
    let (status, _) = get(&shop, "/admin/dead-letters", Who::Customer).await;
    assert_eq!(status, 403);
    let unknown_id = unknown["id"].as_str().expect("id");
    let (status, retried) = call(
        &shop,
        "POST",
        &format!("/admin/dead-letters/{unknown_id}/retry"),
        Who::Admin,
        None,
    )
    .await;
    assert_eq!(
        (status, &retried["dead_letter"]["status"]),
        (200, &json!("dead")),
        "{retried}"
    );
    assert_eq!(retried["dead_letter"]["attempts"], 2, "{retried}");
    let (status, discarded) = call(
        &shop,
        "DELETE",
        &format!("/admin/dead-letters/{unknown_id}"),
        Who::Admin,
        None,
    )
    .await;
    assert_eq!(
        (status, &discarded["status"]),
        (200, &json!("discarded")),
        "{discarded}"
    );
    let (status, _) = call(
        &shop,
        "DELETE",
        &format!("/admin/dead-letters/{}", new_id()),
        Who::Admin,
        None,
    )
    .await;
    assert_eq!(status, 404);

    // The recovery tick answers even with nothing to do.
    let (status, report) = call(&shop, "POST", "/admin/recovery", Who::Anonymous, None).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["republished"], 0, "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prices_above_the_cap_are_refused_on_create_and_update() {
    let shop = boot_with(&[("seed_demo_data", "false")]).await;
    // The cap (10^10 minor units) keeps every order total (50 lines of 99) far from i64's end.
    let at_cap = create_product(
        &shop,
        &product_body("CAP-001", "At the cap", 10_000_000_000, None),
    )
    .await;
    let id = at_cap["id"].as_str().expect("id");
    for amount in [10_000_000_001_i64, 1 << 62] {
        let (status, body) = send(
            &shop,
            "POST",
            "/products",
            Who::Admin,
            &product_body("CAP-002", "Too dear", amount, None),
        )
        .await;
        assert_error(status, &body, 422, "invalid_input", "create above the cap");
        assert_eq!(
            body["error"]["details"]["fields"][0]["field"], "price.amount",
            "{body}"
        );
        let (status, body) = send(
            &shop,
            "PUT",
            &format!("/products/{id}"),
            Who::Admin,
            &product_body("CAP-001", "At the cap", amount, None),
        )
        .await;
        assert_error(status, &body, 422, "invalid_input", "update above the cap");
    }
}

/// Only orders sends catalog commands: an envelope on `catalog.commands` from any other source
/// is kept as a `dead` letter and never applied, whichever transport carried it, and an admin's
/// retry does not apply it either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_from_a_context_that_does_not_own_the_channel_are_refused() {
    let shop = boot_with(&[("seed_demo_data", "false")]).await;
    let product = create_product(&shop, &product_body("FORGE-1", "Forged mug", 900, None)).await;
    let product_id = product["id"].as_str().expect("id").to_owned();
    set_stock(&shop, &product_id, 50).await;
    let forged = |order_id: &str| {
        wasmshop_tests::envelope(
            "stock.reserve",
            "users",
            order_id,
            Some(order_id),
            &json!({ "order_id": order_id, "lines": [{ "product_id": product_id, "quantity": 2 }] }),
        )
    };
    let (by_redis, by_push) = (forged(&new_id()), forged(&new_id()));
    assert_eq!(
        shop.publish("catalog.commands", &by_redis)
            .expect("publish"),
        1
    );
    let (status, pushed) = send(&shop, "POST", "/events", Who::Anonymous, &by_push).await;
    assert_eq!(
        (status, &pushed["outcome"]),
        (202, &json!("dead_lettered")),
        "{pushed}"
    );

    let ids = [&by_redis["id"], &by_push["id"]];
    let letters = eventually("both forged commands kept as dead letters", || async {
        let (status, body) = get(&shop, "/admin/dead-letters?status=dead", Who::Admin).await;
        assert_eq!(status, 200, "{body}");
        let items = body["items"].as_array().cloned().unwrap_or_default();
        ids.iter()
            .all(|id| items.iter().any(|l| &&l["id"] == id))
            .then_some(items)
    })
    .await;
    for letter in &letters {
        let error = letter["error"].as_str().unwrap_or("");
        assert!(error.contains("untrusted_source"), "{letter}");
        assert!(error.contains("users"), "{letter}");
    }

    let (status, retried) = send(
        &shop,
        "POST",
        &format!(
            "/admin/dead-letters/{}/retry",
            by_push["id"].as_str().expect("id")
        ),
        Who::Admin,
        &json!({}),
    )
    .await;
    assert_eq!(
        (status, &retried["dead_letter"]["status"]),
        (200, &json!("dead")),
        "{retried}"
    );
    assert_eq!(
        stock(&shop, &product_id).await,
        (50, 0, 50),
        "nothing reserved"
    );
    for forged in [&by_redis, &by_push] {
        let order_id = forged["subject"].as_str().expect("subject");
        let (status, body) = get(&shop, &format!("/reservations/{order_id}"), Who::Admin).await;
        assert_eq!(status, 404, "{body}");
    }
}
