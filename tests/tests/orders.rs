//! The `orders` component with the catalog and shipping it asks for prices and quotes (no
//! payments: sagas stop at the payment step here; `saga.rs` runs them whole): carts, checkout
//! with idempotency keys, ownership, cancel, and the bad-input list.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wasmshop_tests::Wasmshop;
use wasmshop_tests::client::{Caller, address_in};
use wasmshop_tests::ids::{ALICE, BOB, DEMO_HEADPHONES, DEMO_SPEAKER};

async fn shop() -> Wasmshop {
    Wasmshop::components(&["orders", "catalog", "shipping"], "orders")
        .start()
        .await
        .expect("boot")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adding_a_product_again_merges_its_line_and_the_catalog_prices_the_cart() {
    let shop = shop().await;
    let (a, b) = (DEMO_HEADPHONES.to_owned(), DEMO_SPEAKER.to_owned());
    let add = |product: &str, quantity: i64| {
        json!({ "product_id": product, "quantity": quantity }).to_string()
    };
    let (status, cart) = alice_adds(&shop, &add(&a, 2)).await;
    assert_eq!(status, 200, "{cart}");
    let (_, cart) = alice_adds(&shop, &add(&a, 3)).await;
    let (_, cart2) = alice_adds(&shop, &add(&b, 1)).await;
    assert_eq!(cart["lines"][0]["quantity"], 5, "merged: {cart}");
    assert_eq!(cart2["lines"].as_array().map(Vec::len), Some(2), "{cart2}");
    let unit = cart2["lines"][0]["unit_price"]["amount"]
        .as_i64()
        .expect("price");
    let total: i64 = cart2["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .map(|l| l["line_total"]["amount"].as_i64().unwrap_or(0))
        .sum();
    assert_eq!(cart2["subtotal"]["amount"].as_i64(), Some(total));
    assert_eq!(
        cart2["lines"][0]["line_total"]["amount"].as_i64(),
        Some(unit * 5)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cart_lines_are_edited_within_bounds_removed_once_and_kept_per_user() {
    let shop = shop().await;
    let (a, b) = (DEMO_HEADPHONES.to_owned(), DEMO_SPEAKER.to_owned());
    let add = |product: &str, quantity: i64| {
        json!({ "product_id": product, "quantity": quantity }).to_string()
    };
    for (product, quantity) in [(&a, 5), (&b, 1)] {
        let (status, cart) = alice_adds(&shop, &add(product, quantity)).await;
        assert_eq!(status, 200, "{cart}");
    }

    let (status, body) = alice_adds(&shop, &add(&a, 95)).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (422, &json!("invalid_input")),
        "at most 99: {body}"
    );
    let (status, _) = shop
        .as_(Caller::customer(ALICE))
        .patch(&format!("/cart/items/{a}"))
        .raw_json(r#"{"quantity":7}"#)
        .send()
        .await;
    assert_eq!(status, 200);
    let (status, _) = shop
        .as_(Caller::customer(ALICE))
        .patch(&format!("/cart/items/{a}"))
        .raw_json(r#"{"quantity":0}"#)
        .send()
        .await;
    assert_eq!(status, 422);
    let (status, cart) = shop
        .as_(Caller::customer(ALICE))
        .delete(&format!("/cart/items/{b}"))
        .send()
        .await;
    assert_eq!(
        (status, cart["lines"].as_array().map(Vec::len)),
        (200, Some(1))
    );
    let (status, _) = shop
        .as_(Caller::customer(ALICE))
        .delete(&format!("/cart/items/{b}"))
        .send()
        .await;
    assert_eq!(status, 404);
    let (_, bobs) = shop.as_(Caller::customer(BOB)).get("/cart").send().await;
    assert_eq!(
        bobs["lines"].as_array().map(Vec::len),
        Some(0),
        "carts are per user: {bobs}"
    );
    let (status, cart) = shop
        .as_(Caller::customer(ALICE))
        .delete("/cart")
        .send()
        .await;
    assert_eq!((status, cart["items"].as_i64()), (200, Some(0)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_cart_input_is_a_json_error_and_the_cart_needs_a_caller() {
    let shop = shop().await;
    let a = DEMO_HEADPHONES.to_owned();
    let add = |product: &str, quantity: i64| {
        json!({ "product_id": product, "quantity": quantity }).to_string()
    };
    let unknown = uuid::Uuid::now_v7().to_string();
    for (body, expected) in [
        (add(&unknown, 1), 422),
        (add("not-an-id", 1), 422),
        (add(&a, 0), 422),
        (add(&a, 100), 422),
        ("{not json".to_owned(), 400),
        (
            json!({ "product_id": a, "quantity": 1, "colour": "red" }).to_string(),
            400,
        ),
        (
            json!({ "product_id": a, "quantity": "one" }).to_string(),
            400,
        ),
        (json!({ "product_id": a }).to_string(), 400),
    ] {
        let (status, error) = alice_adds(&shop, &body).await;
        assert_eq!(status, expected, "{body}: {error}");
        assert!(error["error"]["code"].is_string(), "{error}");
    }
    let (status, _) = shop.as_(Caller::Anonymous).get("/cart").send().await;
    assert_eq!(status, 401);
    let (status, _) = shop.as_(Caller::customer(ALICE)).put("/cart").send().await;
    assert_eq!(status, 405);
}

/// Alice's `POST /cart/items` with `body`.
async fn alice_adds(shop: &Wasmshop, body: &str) -> (u16, Value) {
    shop.as_(Caller::customer(ALICE))
        .post("/cart/items")
        .raw_json(body)
        .send()
        .await
}

/// A checkout of two units of the headphones to Germany, as JSON text.
fn two_headphones() -> String {
    let (a, _) = (DEMO_HEADPHONES.to_owned(), DEMO_SPEAKER.to_owned());
    json!({ "shipping_address": address_in("DE"), "payment_token": "tok_visa",
        "lines": [{ "product_id": a, "quantity": 2 }] })
    .to_string()
}

/// `customer`'s `POST /orders` of `body` with the idempotency `key`.
async fn checkout(shop: &Wasmshop, customer: &str, key: &str, body: &str) -> (u16, Value) {
    shop.as_(Caller::customer(customer))
        .post("/orders")
        .header("idempotency-key", key)
        .raw_json(body)
        .send()
        .await
}

/// `customer` checks out `body` with `key`: the order id.
async fn place(shop: &Wasmshop, customer: &str, key: &str, body: &str) -> String {
    let (status, placed) = checkout(shop, customer, key, body).await;
    assert_eq!(status, 202, "{placed}");
    placed["id"].as_str().expect("id").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkout_needs_a_key_lines_and_a_valid_address_in() {
    let shop = shop().await;
    let (a, _) = (DEMO_HEADPHONES.to_owned(), DEMO_SPEAKER.to_owned());
    let body = two_headphones();

    let (status, error) = shop
        .as_(Caller::customer(ALICE))
        .post("/orders")
        .raw_json(&body)
        .send()
        .await;
    assert_eq!(
        (status, &error["error"]["code"]),
        (400, &json!("idempotency_key_required"))
    );
    let empty =
        json!({ "shipping_address": address_in("DE"), "payment_token": "tok_visa" }).to_string();
    let (status, error) = checkout(&shop, ALICE, "k-empty", &empty).await;
    assert_eq!(
        (status, &error["error"]["code"]),
        (422, &json!("empty_cart"))
    );
    let nowhere = json!({ "shipping_address": address_in("ZZ"), "payment_token": "tok_visa",
        "lines": [{ "product_id": a, "quantity": 1 }] })
    .to_string();
    let (status, error) = checkout(&shop, ALICE, "k-zz", &nowhere).await;
    assert_eq!(status, 422, "{error}");
    assert_eq!(
        error["error"]["details"]["fields"][0]["field"], "shipping_address.country",
        "{error}"
    );
    let sloppy = json!({ "shipping_address": address_in("Germany"), "payment_token": "",
        "lines": [{ "product_id": a, "quantity": 0 }] })
    .to_string();
    let (status, error) = checkout(&shop, ALICE, "k-bad", &sloppy).await;
    assert_eq!(status, 422, "{error}");
    assert_eq!(
        error["error"]["details"]["fields"].as_array().map(Vec::len),
        Some(3),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkout_key_gives_the_same_order_refuses_another_body_and_is_per_user() {
    let shop = shop().await;
    let body = two_headphones();
    let (status, placed) = checkout(&shop, ALICE, "k-1", &body).await;
    assert_eq!(status, 202, "{placed}");
    let (status, again) = checkout(&shop, ALICE, "k-1", &body).await;
    assert_eq!(
        (status, &again["id"]),
        (202, &placed["id"]),
        "same key, same body: same order"
    );
    let other = body.replace("\"quantity\":2", "\"quantity\":3");
    let (status, error) = checkout(&shop, ALICE, "k-1", &other).await;
    assert_eq!(
        (status, &error["error"]["code"]),
        (422, &json!("idempotency_key_reused"))
    );
    let (status, _) = checkout(&shop, BOB, "k-1", &body).await;
    assert_eq!(status, 202, "keys are per user");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_is_priced_with_shipping_and_only_its_owner_sees_it() {
    let shop = shop().await;
    let id = place(&shop, ALICE, "k-1", &two_headphones()).await;
    place(&shop, BOB, "k-1", &two_headphones()).await;
    let (status, order) = shop
        .as_(Caller::customer(ALICE))
        .get(&format!("/orders/{id}"))
        .send()
        .await;
    assert_eq!(status, 200, "{order}");
    assert_eq!(
        order["total"]["amount"].as_i64(),
        Some(order["subtotal"]["amount"].as_i64().unwrap_or(0) + 490),
        "DE, two units of 500 g: {order}"
    );
    assert!(order.get("payment_token").is_none());
    let (status, _) = shop
        .as_(Caller::customer(BOB))
        .get(&format!("/orders/{id}"))
        .send()
        .await;
    assert_eq!(status, 404, "another's order is invisible");
    let (_, mine) = shop
        .as_(Caller::customer(ALICE))
        .get("/orders")
        .send()
        .await;
    assert_eq!(mine["total"], 1, "{mine}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_cancels_a_waiting_order_once_and_the_saga_compensates() {
    let shop = shop().await;
    let id = place(&shop, ALICE, "k-1", &two_headphones()).await;
    // With no payments context running the saga waits at the payment step; the customer
    // cancels, the saga compensates (and waits for payments' answer), a second cancel is 409.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, order) = shop
            .as_(Caller::customer(ALICE))
            .get(&format!("/orders/{id}"))
            .send()
            .await;
        if order["status"] == "awaiting_payment" {
            break;
        }
        assert!(Instant::now() < deadline, "never reserved: {order}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (status, cancelled) = shop
        .as_(Caller::customer(ALICE))
        .post(&format!("/orders/{id}/cancel"))
        .send()
        .await;
    assert_eq!(
        (status, &cancelled["status"]),
        (202, &json!("compensating")),
        "{cancelled}"
    );
    let (status, error) = shop
        .as_(Caller::customer(ALICE))
        .post(&format!("/orders/{id}/cancel"))
        .send()
        .await;
    assert_eq!(
        (status, &error["error"]["code"]),
        (409, &json!("order_not_cancellable"))
    );
    let (status, _) = shop
        .as_(Caller::customer(BOB))
        .post(&format!("/orders/{id}/cancel"))
        .send()
        .await;
    assert_eq!(status, 404);
    let (_, order) = shop
        .as_(Caller::customer(ALICE))
        .get(&format!("/orders/{id}"))
        .send()
        .await;
    let timeline: Vec<&str> = order["timeline"]
        .as_array()
        .expect("timeline")
        .iter()
        .filter_map(|t| t["status"].as_str())
        .collect();
    assert_eq!(
        timeline,
        ["pending", "awaiting_payment", "compensating"],
        "{order}"
    );
}
