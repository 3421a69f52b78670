//! The `orders` component with the catalog and shipping it asks for prices and quotes (no
//! payments: sagas stop at the payment step here; `saga.rs` runs them whole): carts, checkout
//! with idempotency keys, ownership, cancel, and the bad-input list.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wasmshop_tests::{Wasmshop, json};

const ALICE: &str = "0190d7a0-0000-7000-8000-00000000a11c";
const BOB: &str = "0190d7a0-0000-7000-8000-000000000b0b";

async fn shop() -> Wasmshop {
    Wasmshop::boot_components(&["orders", "catalog", "shipping"], "orders", &[])
        .await
        .expect("boot")
}

async fn call(
    shop: &Wasmshop,
    method: &str,
    path: &str,
    who: Option<&str>,
    body: Option<&str>,
    key: Option<&str>,
) -> (u16, Value) {
    let mut request = shop
        .client
        .request(method.parse().expect("method"), shop.url(path));
    if let Some(id) = who {
        request = request
            .header("x-user-id", id)
            .header("x-user-role", "customer");
    }
    if let Some(key) = key {
        request = request.header("idempotency-key", key);
    }
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_owned());
    }
    json(request.send().await.expect("request")).await
}

/// Two products of the catalog's demo seed (the headphones and the speaker).
fn products() -> (String, String) {
    (
        "01a20f32-c33d-7008-946d-1d48dfc3c251".into(),
        "01a20f32-c33e-76aa-89de-060a7d680969".into(),
    )
}

fn address(country: &str) -> Value {
    json!({ "name": "Ada", "line1": "1 Way", "line2": null, "city": "Berlin", "postal_code": "10115", "country": country })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn carts_merge_lines_and_price_them_from_the_catalog() {
    let shop = shop().await;
    let (a, b) = products();
    let add = |product: &str, quantity: i64| {
        json!({ "product_id": product, "quantity": quantity }).to_string()
    };
    let (status, cart) = call(
        &shop,
        "POST",
        "/cart/items",
        Some(ALICE),
        Some(&add(&a, 2)),
        None,
    )
    .await;
    assert_eq!(status, 200, "{cart}");
    let (_, cart) = call(
        &shop,
        "POST",
        "/cart/items",
        Some(ALICE),
        Some(&add(&a, 3)),
        None,
    )
    .await;
    let (_, cart2) = call(
        &shop,
        "POST",
        "/cart/items",
        Some(ALICE),
        Some(&add(&b, 1)),
        None,
    )
    .await;
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

    let (status, body) = call(
        &shop,
        "POST",
        "/cart/items",
        Some(ALICE),
        Some(&add(&a, 95)),
        None,
    )
    .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (422, &json!("invalid_input")),
        "at most 99: {body}"
    );
    let (status, _) = call(
        &shop,
        "PATCH",
        &format!("/cart/items/{a}"),
        Some(ALICE),
        Some(r#"{"quantity":7}"#),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = call(
        &shop,
        "PATCH",
        &format!("/cart/items/{a}"),
        Some(ALICE),
        Some(r#"{"quantity":0}"#),
        None,
    )
    .await;
    assert_eq!(status, 422);
    let (status, cart) = call(
        &shop,
        "DELETE",
        &format!("/cart/items/{b}"),
        Some(ALICE),
        None,
        None,
    )
    .await;
    assert_eq!(
        (status, cart["lines"].as_array().map(Vec::len)),
        (200, Some(1))
    );
    let (status, _) = call(
        &shop,
        "DELETE",
        &format!("/cart/items/{b}"),
        Some(ALICE),
        None,
        None,
    )
    .await;
    assert_eq!(status, 404);
    let (_, bobs) = call(&shop, "GET", "/cart", Some(BOB), None, None).await;
    assert_eq!(
        bobs["lines"].as_array().map(Vec::len),
        Some(0),
        "carts are per user: {bobs}"
    );
    let (status, cart) = call(&shop, "DELETE", "/cart", Some(ALICE), None, None).await;
    assert_eq!((status, cart["items"].as_i64()), (200, Some(0)));

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
        let (status, error) =
            call(&shop, "POST", "/cart/items", Some(ALICE), Some(&body), None).await;
        assert_eq!(status, expected, "{body}: {error}");
        assert!(error["error"]["code"].is_string(), "{error}");
    }
    let (status, _) = call(&shop, "GET", "/cart", None, None, None).await;
    assert_eq!(status, 401);
    let (status, _) = call(&shop, "PUT", "/cart", Some(ALICE), None, None).await;
    assert_eq!(status, 405);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkout_is_idempotent_owned_and_cancellable_until_shipment() {
    let shop = shop().await;
    let (a, _) = products();
    let body = json!({ "shipping_address": address("DE"), "payment_token": "tok_visa",
        "lines": [{ "product_id": a, "quantity": 2 }] })
    .to_string();

    let (status, error) = call(&shop, "POST", "/orders", Some(ALICE), Some(&body), None).await;
    assert_eq!(
        (status, &error["error"]["code"]),
        (400, &json!("idempotency_key_required"))
    );
    let empty =
        json!({ "shipping_address": address("DE"), "payment_token": "tok_visa" }).to_string();
    let (status, error) = call(
        &shop,
        "POST",
        "/orders",
        Some(ALICE),
        Some(&empty),
        Some("k-empty"),
    )
    .await;
    assert_eq!(
        (status, &error["error"]["code"]),
        (422, &json!("empty_cart"))
    );
    let nowhere = json!({ "shipping_address": address("ZZ"), "payment_token": "tok_visa",
        "lines": [{ "product_id": a, "quantity": 1 }] })
    .to_string();
    let (status, error) = call(
        &shop,
        "POST",
        "/orders",
        Some(ALICE),
        Some(&nowhere),
        Some("k-zz"),
    )
    .await;
    assert_eq!(status, 422, "{error}");
    assert_eq!(
        error["error"]["details"]["fields"][0]["field"], "shipping_address.country",
        "{error}"
    );
    let sloppy = json!({ "shipping_address": address("Germany"), "payment_token": "",
        "lines": [{ "product_id": a, "quantity": 0 }] })
    .to_string();
    let (status, error) = call(
        &shop,
        "POST",
        "/orders",
        Some(ALICE),
        Some(&sloppy),
        Some("k-bad"),
    )
    .await;
    assert_eq!(status, 422, "{error}");
    assert_eq!(
        error["error"]["details"]["fields"].as_array().map(Vec::len),
        Some(3),
        "{error}"
    );

    let (status, placed) = call(
        &shop,
        "POST",
        "/orders",
        Some(ALICE),
        Some(&body),
        Some("k-1"),
    )
    .await;
    assert_eq!(status, 202, "{placed}");
    let id = placed["id"].as_str().expect("id").to_owned();
    let (status, again) = call(
        &shop,
        "POST",
        "/orders",
        Some(ALICE),
        Some(&body),
        Some("k-1"),
    )
    .await;
    assert_eq!(
        (status, &again["id"]),
        (202, &placed["id"]),
        "same key, same body: same order"
    );
    let other = body.replace("\"quantity\":2", "\"quantity\":3");
    let (status, error) = call(
        &shop,
        "POST",
        "/orders",
        Some(ALICE),
        Some(&other),
        Some("k-1"),
    )
    .await;
    assert_eq!(
        (status, &error["error"]["code"]),
        (422, &json!("idempotency_key_reused"))
    );
    let (status, _) = call(
        &shop,
        "POST",
        "/orders",
        Some(BOB),
        Some(&body),
        Some("k-1"),
    )
    .await;
    assert_eq!(status, 202, "keys are per user");

    let (status, order) = call(
        &shop,
        "GET",
        &format!("/orders/{id}"),
        Some(ALICE),
        None,
        None,
    )
    .await;
    assert_eq!(status, 200, "{order}");
    assert_eq!(
        order["total"]["amount"].as_i64(),
        Some(order["subtotal"]["amount"].as_i64().unwrap_or(0) + 490),
        "DE, two units of 500 g: {order}"
    );
    assert!(order.get("payment_token").is_none());
    let (status, _) = call(
        &shop,
        "GET",
        &format!("/orders/{id}"),
        Some(BOB),
        None,
        None,
    )
    .await;
    assert_eq!(status, 404, "another's order is invisible");
    let (_, mine) = call(&shop, "GET", "/orders", Some(ALICE), None, None).await;
    assert_eq!(mine["total"], 1, "{mine}");

    // With no payments context running the saga waits at the payment step; the customer
    // cancels, the saga compensates (and waits for payments' answer), a second cancel is 409.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, order) = call(
            &shop,
            "GET",
            &format!("/orders/{id}"),
            Some(ALICE),
            None,
            None,
        )
        .await;
        if order["status"] == "awaiting_payment" {
            break;
        }
        assert!(Instant::now() < deadline, "never reserved: {order}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (status, cancelled) = call(
        &shop,
        "POST",
        &format!("/orders/{id}/cancel"),
        Some(ALICE),
        None,
        None,
    )
    .await;
    assert_eq!(
        (status, &cancelled["status"]),
        (202, &json!("compensating")),
        "{cancelled}"
    );
    let (status, error) = call(
        &shop,
        "POST",
        &format!("/orders/{id}/cancel"),
        Some(ALICE),
        None,
        None,
    )
    .await;
    assert_eq!(
        (status, &error["error"]["code"]),
        (409, &json!("order_not_cancellable"))
    );
    let (status, _) = call(
        &shop,
        "POST",
        &format!("/orders/{id}/cancel"),
        Some(BOB),
        None,
        None,
    )
    .await;
    assert_eq!(status, 404);
    let (_, order) = call(
        &shop,
        "GET",
        &format!("/orders/{id}"),
        Some(ALICE),
        None,
        None,
    )
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

/// A WIT checkout of the caller's cart to Ada in Berlin, paid with the test card.
fn cart_checkout() -> wasmshop_tests::bindings::orders::wasmshop::orders::types::CheckoutRequest {
    use wasmshop_tests::bindings::orders::wasmshop::events::payloads::Address;
    use wasmshop_tests::bindings::orders::wasmshop::orders::types::CheckoutRequest;
    CheckoutRequest {
        shipping_address: Address {
            name: "Ada".into(),
            line1: "1 Way".into(),
            line2: None,
            city: "Berlin".into(),
            postal_code: "10115".into(),
            country: "DE".into(),
        },
        payment_token: "tok_visa".into(),
        lines: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wit_api_runs_the_cart_and_checkout_as_http_does() {
    use wasmshop_tests::bindings::orders::exports::wasmshop::orders::api::Error as ApiError;
    use wasmshop_tests::bindings::orders::wasmshop::orders::types::{
        CheckoutRequest, LineInput, OrderStatus,
    };

    let shop = shop().await;
    let (headphones, speaker) = products();
    let (mut store, orders) = shop.orders_api().await.expect("instance");
    let api = orders.wasmshop_orders_api();
    let line = |product_id: &str, quantity| LineInput {
        product_id: product_id.to_owned(),
        quantity,
    };

    api.call_add_to_cart(&mut store, ALICE, &line(&headphones, 2))
        .await
        .expect("call")
        .expect("add");
    let cart = api
        .call_add_to_cart(&mut store, ALICE, &line(&headphones, 1))
        .await
        .expect("call")
        .expect("merge");
    assert_eq!((cart.lines.len(), cart.items), (1, 3), "lines merge");
    let unit = cart.lines[0].unit_price.clone().expect("priced");
    assert_eq!(
        cart.subtotal.as_ref().map(|m| m.amount),
        Some(unit.amount * 3)
    );
    let Err(ApiError::InvalidInput(fields)) = api
        .call_add_to_cart(&mut store, ALICE, &line(&headphones, 97))
        .await
        .expect("call")
    else {
        panic!("100 of one product accepted");
    };
    assert_eq!(fields[0].field, "quantity");
    api.call_add_to_cart(&mut store, ALICE, &line(&speaker, 1))
        .await
        .expect("call")
        .expect("add");
    let cart = api
        .call_set_quantity(&mut store, ALICE, &speaker, 2)
        .await
        .expect("call")
        .expect("set");
    assert_eq!(cart.items, 5);
    assert!(matches!(
        api.call_remove_item(&mut store, BOB, &speaker)
            .await
            .expect("call"),
        Err(ApiError::NotFound)
    ));

    // The HTTP door shows the same cart.
    let (status, http) = call(&shop, "GET", "/cart", Some(ALICE), None, None).await;
    assert_eq!((status, &http["items"]), (200, &json!(5)));

    let request = cart_checkout();
    assert!(matches!(
        api.call_checkout(&mut store, BOB, "bob-1", &request)
            .await
            .expect("call"),
        Err(ApiError::EmptyCart)
    ));
    assert!(matches!(
        api.call_checkout(&mut store, ALICE, " ", &request)
            .await
            .expect("call"),
        Err(ApiError::IdempotencyKeyRequired)
    ));
    let accepted = api
        .call_checkout(&mut store, ALICE, "alice-1", &request)
        .await
        .expect("call")
        .expect("checkout");
    assert_eq!(accepted.status, OrderStatus::Pending);
    let again = api
        .call_checkout(&mut store, ALICE, "alice-1", &request)
        .await
        .expect("call")
        .expect("replayed checkout");
    assert_eq!(again.id, accepted.id, "same key, same order");
    let other = CheckoutRequest {
        payment_token: "tok_declined".into(),
        ..request.clone()
    };
    assert!(matches!(
        api.call_checkout(&mut store, ALICE, "alice-1", &other)
            .await
            .expect("call"),
        Err(ApiError::IdempotencyKeyReused)
    ));
    let cart = api
        .call_get_cart(&mut store, ALICE)
        .await
        .expect("call")
        .expect("cart");
    assert!(cart.lines.is_empty(), "checkout empties the cart");

    let order = api
        .call_get_order(&mut store, ALICE, &accepted.id)
        .await
        .expect("call")
        .expect("order");
    assert_eq!(order.lines.len(), 2);
    assert_eq!(
        order.total.amount,
        order.subtotal.amount + order.shipping.amount
    );
    assert_eq!(
        order.subtotal.amount,
        unit.amount * 3 + order.lines[1].unit_price.amount * 2
    );
    assert!(!order.timeline.is_empty());
    assert!(matches!(
        api.call_get_order(&mut store, BOB, &accepted.id)
            .await
            .expect("call"),
        Err(ApiError::NotFound)
    ));
    let page = api
        .call_list_orders(&mut store, ALICE, 1, 10)
        .await
        .expect("call")
        .expect("list");
    assert_eq!(
        (page.total, page.items[0].id.as_str()),
        (1, accepted.id.as_str())
    );
    let Err(ApiError::InvalidInput(_)) = api
        .call_list_orders(&mut store, ALICE, 0, 10)
        .await
        .expect("call")
    else {
        panic!("page 0 accepted");
    };

    // No payments component here: the saga waits at the payment step, where cancel is allowed.
    let cancelled = api
        .call_cancel_order(&mut store, ALICE, &accepted.id)
        .await
        .expect("call")
        .expect("cancel");
    assert!(
        matches!(
            cancelled.status,
            OrderStatus::Compensating | OrderStatus::Cancelled
        ),
        "{:?}",
        cancelled.status
    );
    assert!(matches!(
        api.call_cancel_order(&mut store, ALICE, &accepted.id)
            .await
            .expect("call"),
        Err(ApiError::OrderNotCancellable(
            OrderStatus::Compensating | OrderStatus::Cancelled
        ))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkout_whose_total_would_overflow_is_refused_not_wrapped() {
    let shop = shop().await;
    let (a, _) = products();
    // Opens the catalog (its tables and demo seed) at the product's seeded price.
    let line = json!({ "product_id": a, "quantity": 4 }).to_string();
    let (status, cart) = call(&shop, "POST", "/cart/items", Some(ALICE), Some(&line), None).await;
    assert_eq!(status, 200, "{cart}");
    // The catalog refuses such a price now; a row stored before the cap can still hold one.
    let catalog =
        rusqlite::Connection::open(shop.state_dir().join("catalog.db")).expect("catalog.db");
    let changed = catalog
        .execute(
            "UPDATE products SET price_amount = ?1 WHERE id = ?2",
            rusqlite::params![1_i64 << 62, a],
        )
        .expect("price the product at 2^62");
    assert_eq!(changed, 1);
    let (_, cart) = call(&shop, "GET", "/cart", Some(ALICE), None, None).await;
    assert_eq!(cart["subtotal"], Value::Null, "no wrapped subtotal: {cart}");

    let from_cart =
        json!({ "shipping_address": address("DE"), "payment_token": "tok_visa" }).to_string();
    let explicit = json!({ "shipping_address": address("DE"), "payment_token": "tok_visa",
        "lines": [{ "product_id": a, "quantity": 4 }] })
    .to_string();
    for (key, body) in [("k-cart", &from_cart), ("k-lines", &explicit)] {
        let (status, error) =
            call(&shop, "POST", "/orders", Some(ALICE), Some(body), Some(key)).await;
        assert_eq!(
            (status, &error["error"]["code"]),
            (422, &json!("amount_out_of_range")),
            "{key}: {error}"
        );
    }

    // The WIT door refuses it as the lines' fault too, not as an internal error.
    use wasmshop_tests::bindings::orders::exports::wasmshop::orders::api::Error as ApiError;
    let (mut store, orders) = shop.orders_api().await.expect("instance");
    let request = cart_checkout();
    let refused = orders
        .wasmshop_orders_api()
        .call_checkout(&mut store, ALICE, "k-wit", &request)
        .await
        .expect("call");
    let Err(ApiError::InvalidInput(fields)) = refused else {
        panic!("an overflowing total was not refused: {refused:?}");
    };
    assert_eq!(fields[0].field, "lines");

    let (_, page) = call(&shop, "GET", "/orders", Some(ALICE), None, None).await;
    assert_eq!(page["total"], 0, "no order was placed: {page}");
    let (_, cart) = call(&shop, "GET", "/cart", Some(ALICE), None, None).await;
    assert_eq!(cart["lines"].as_array().map(Vec::len), Some(1), "{cart}");
}
