//! The `catalog` component booted alone, driven over HTTP: products and categories from creation
//! to soft delete, and the input it refuses.

use std::collections::BTreeSet;

use serde_json::{Value, json};
use wasmshop_tests::catalog_fixtures::{
    assert_error, boot, boot_with, create_category, create_product, product_body, set_stock, stock,
};
use wasmshop_tests::client::Caller;
use wasmshop_tests::ids::{ADMIN, ALICE, new_id};
use wasmshop_tests::{Wasmshop, json};

/// A category and, in it, the product `TG-WIDGET-1` made by an admin: (category id, product).
async fn widget(shop: &Wasmshop) -> (String, Value) {
    let category = create_category(shop, "Test Gadgets").await;
    let product = create_product(
        shop,
        &product_body("tg-widget-1", "Widget One", 1250, Some(&category)),
    )
    .await;
    (category, product)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn categories_are_admin_made_unique_by_name_and_public_to_read() {
    let shop = boot().await;
    let category = create_category(&shop, "Test Gadgets").await;
    let (status, body) = shop
        .as_(Caller::admin(ADMIN))
        .post("/categories")
        .json(&json!({ "name": "  test GADGETS ", "description": "again" }))
        .send()
        .await;
    assert_error(
        status,
        &body,
        409,
        "category_taken",
        "same name, other case",
    );
    for (who, status_code, code) in [
        (Caller::Anonymous, 401, "unauthorized"),
        (Caller::customer(ALICE), 403, "forbidden"),
    ] {
        let (status, body) = shop
            .as_(who)
            .post("/categories")
            .json(&json!({ "name": "X" }))
            .send()
            .await;
        assert_error(status, &body, status_code, code, "category by non-admin");
    }
    let (status, body) = shop
        .as_(Caller::admin(ADMIN))
        .post("/categories")
        .json(&json!({ "name": " " }))
        .send()
        .await;
    assert_error(status, &body, 422, "invalid_input", "blank category");
    let (_, categories) = shop
        .as_(Caller::customer(ALICE))
        .get("/categories")
        .send()
        .await;
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
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn products_are_created_by_admins_only_with_upper_cased_skus_and_no_stock() {
    let shop = boot().await;
    let category = create_category(&shop, "Test Gadgets").await;
    // Create: admin only.
    let body = product_body("tg-widget-1", "Widget One", 1250, Some(&category));
    for (who, status_code, code) in [
        (Caller::Anonymous, 401, "unauthorized"),
        (Caller::customer(ALICE), 403, "forbidden"),
    ] {
        let (status, body) = shop.as_(who).post("/products").json(&body).send().await;
        assert_error(status, &body, status_code, code, "create by non-admin");
    }
    let response = shop
        .client
        .post(shop.url("/products"))
        .header("x-user-id", ADMIN)
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

    // Read: public.
    let (status, read) = shop
        .as_(Caller::Anonymous)
        .get(&format!("/products/{id}"))
        .send()
        .await;
    assert_eq!((status, &read), (200, &product));
    for path in [
        "/products/not-a-uuid".to_owned(),
        format!("/products/{}", new_id()),
    ] {
        let (status, body) = shop.as_(Caller::admin(ADMIN)).get(&path).send().await;
        assert_error(status, &body, 404, "not_found", &path);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn product_input_is_checked_field_by_field_and_skus_are_unique() {
    let shop = boot().await;
    widget(&shop).await;
    // Duplicate SKU, in any case.
    let (status, body) = shop
        .as_(Caller::admin(ADMIN))
        .post("/products")
        .json(&product_body("TG-WIDGET-1", "Other", 1, None))
        .send()
        .await;
    assert_error(status, &body, 409, "sku_taken", "duplicate sku");

    // Validation: every rule names its field.
    let (status, body) = shop
        .as_(Caller::admin(ADMIN))
        .post("/products")
        .json(&json!({ "sku": "a b", "name": "", "description": "",
            "price": { "amount": -5, "currency": "euro" }, "category_id": "gadgets" }))
        .send()
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
    let (status, body) = shop
        .as_(Caller::admin(ADMIN))
        .post("/products")
        .json(&product_body("TG-NOCAT", "No category", 1, Some(&new_id())))
        .send()
        .await;
    assert_error(status, &body, 422, "invalid_input", "unknown category");
    assert_eq!(
        body["error"]["details"]["fields"][0]["field"],
        "category_id"
    );
    let long_name = "n".repeat(201);
    let (status, body) = shop
        .as_(Caller::admin(ADMIN))
        .post("/products")
        .json(&product_body("TG-LONG", &long_name, 1, None))
        .send()
        .await;
    assert_error(status, &body, 422, "invalid_input", "name too long");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_is_a_full_replace_by_admins_that_keeps_created_at() {
    let shop = boot().await;
    let (category, product) = widget(&shop).await;
    let id = product["id"].as_str().expect("id").to_owned();
    // Update: full replace, admin only; created_at stays.
    let other = create_product(&shop, &product_body("TG-WIDGET-2", "Widget Two", 999, None)).await;
    let replacement = json!({ "sku": "TG-WIDGET-1B", "name": "Widget One B", "description": "new",
        "price": { "amount": 1500, "currency": "USD" } });
    for (who, status_code, code) in [
        (Caller::Anonymous, 401, "unauthorized"),
        (Caller::customer(ALICE), 403, "forbidden"),
    ] {
        let (status, body) = shop
            .as_(who)
            .put(&format!("/products/{id}"))
            .json(&replacement)
            .send()
            .await;
        assert_error(status, &body, status_code, code, "update by non-admin");
    }
    let (status, updated) = shop
        .as_(Caller::admin(ADMIN))
        .put(&format!("/products/{id}"))
        .json(&replacement)
        .send()
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
    let (status, body) = shop
        .as_(Caller::admin(ADMIN))
        .put(&format!("/products/{id}"))
        .json(&product_body("TG-WIDGET-2", "Steal", 1, None))
        .send()
        .await;
    assert_error(status, &body, 409, "sku_taken", "update onto another's sku");
    let (status, same_sku) = shop
        .as_(Caller::admin(ADMIN))
        .put(&format!("/products/{id}"))
        .json(&product_body(
            "TG-WIDGET-1B",
            "Keeps its own SKU",
            1,
            Some(&category),
        ))
        .send()
        .await;
    assert_eq!(status, 200, "{same_sku}");
    let (status, body) = shop
        .as_(Caller::admin(ADMIN))
        .put(&format!("/products/{}", new_id()))
        .json(&replacement)
        .send()
        .await;
    assert_error(status, &body, 404, "not_found", "update unknown");
    let (status, body) = shop
        .as_(Caller::admin(ADMIN))
        .put(&format!("/products/{id}"))
        .json(&json!({ "sku": "TG-1" }))
        .send()
        .await;
    assert_error(
        status,
        &body,
        400,
        "invalid_input",
        "update with missing fields",
    );
    assert_eq!(other["active"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_soft_delete_by_an_admin_is_idempotent_and_hides_the_product_from_the_public() {
    let shop = boot().await;
    let (category, product) = widget(&shop).await;
    let id = product["id"].as_str().expect("id").to_owned();
    // Soft delete: admin only, idempotent; gone for the public, kept for admins.
    for (who, status_code, code) in [
        (Caller::Anonymous, 401, "unauthorized"),
        (Caller::customer(ALICE), 403, "forbidden"),
    ] {
        let (status, body) = shop
            .as_(who)
            .delete(&format!("/products/{id}"))
            .send()
            .await;
        assert_error(status, &body, status_code, code, "delete by non-admin");
    }
    for _ in 0..2 {
        let response = shop
            .client
            .delete(shop.url(&format!("/products/{id}")))
            .header("x-user-id", ADMIN)
            .header("x-user-role", "admin")
            .send()
            .await
            .expect("delete");
        assert_eq!(response.status(), 204);
        assert!(response.text().await.expect("body").is_empty());
    }
    for who in [Caller::Anonymous, Caller::customer(ALICE)] {
        let (status, body) = shop.as_(who).get(&format!("/products/{id}")).send().await;
        assert_error(status, &body, 404, "not_found", "inactive for the public");
    }
    let (status, deleted) = shop
        .as_(Caller::admin(ADMIN))
        .get(&format!("/products/{id}"))
        .send()
        .await;
    assert_eq!((status, deleted["active"].clone()), (200, json!(false)));
    let (_, listed) = shop
        .as_(Caller::admin(ADMIN))
        .get(&format!("/products?category={category}"))
        .send()
        .await;
    assert_eq!(
        listed["total"], 0,
        "inactive products are not listed: {listed}"
    );
    let (status, body) = shop
        .as_(Caller::admin(ADMIN))
        .delete(&format!("/products/{}", new_id()))
        .send()
        .await;
    assert_error(status, &body, 404, "not_found", "delete unknown");
    let (status, body) = shop
        .as_(Caller::admin(ADMIN))
        .delete("/products/nope")
        .send()
        .await;
    assert_error(status, &body, 404, "not_found", "delete non-uuid");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_brings_a_deleted_product_back_with_active_true() {
    let shop = boot().await;
    let (_, product) = widget(&shop).await;
    let id = product["id"].as_str().expect("id").to_owned();
    let (status, _) = shop
        .as_(Caller::admin(ADMIN))
        .delete(&format!("/products/{id}"))
        .send()
        .await;
    assert_eq!(status, 204);
    // An admin can bring it back with `active: true`; `active` left out keeps the state.
    let mut revive = product_body("TG-WIDGET-1B", "Widget One B", 1500, None);
    let (_, kept) = shop
        .as_(Caller::admin(ADMIN))
        .put(&format!("/products/{id}"))
        .json(&revive)
        .send()
        .await;
    assert_eq!(kept["active"], false, "{kept}");
    revive["active"] = json!(true);
    let (_, revived) = shop
        .as_(Caller::admin(ADMIN))
        .put(&format!("/products/{id}"))
        .json(&revive)
        .send()
        .await;
    assert_eq!(revived["active"], true, "{revived}");
    let (status, _) = shop
        .as_(Caller::Anonymous)
        .get(&format!("/products/{id}"))
        .send()
        .await;
    assert_eq!(status, 200);
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
        let (status, response) = shop
            .as_(Caller::admin(ADMIN))
            .method(method, &path)
            .raw_json(&body)
            .send()
            .await;
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
        let (status, body) = shop
            .as_(Caller::Anonymous)
            .get(&format!("/products?{query}"))
            .send()
            .await;
        assert_error(status, &body, 400, "invalid_query", query);
    }
    let (status, body) = shop
        .as_(Caller::Anonymous)
        .get("/products?limit=100&page=1000")
        .send()
        .await;
    assert_eq!(
        (status, body["items"].clone()),
        (200, json!([])),
        "past the end: {body}"
    );

    // Nothing above reserved anything.
    assert_eq!(stock(&shop, &id).await, (10, 0, 10));
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
        let (status, body) = shop
            .as_(Caller::admin(ADMIN))
            .post("/products")
            .json(&product_body("CAP-002", "Too dear", amount, None))
            .send()
            .await;
        assert_error(status, &body, 422, "invalid_input", "create above the cap");
        assert_eq!(
            body["error"]["details"]["fields"][0]["field"], "price.amount",
            "{body}"
        );
        let (status, body) = shop
            .as_(Caller::admin(ADMIN))
            .put(&format!("/products/{id}"))
            .json(&product_body("CAP-001", "At the cap", amount, None))
            .send()
            .await;
        assert_error(status, &body, 422, "invalid_input", "update above the cap");
    }
}
