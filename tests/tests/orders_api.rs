//! The `orders` component with the catalog and shipping it asks for prices and quotes, called
//! through its exported `api`: the same cart and checkout as over HTTP.

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
async fn the_wit_cart_merges_lines_within_bounds_and_is_the_http_cart() {
    use wasmshop_tests::bindings::orders::exports::wasmshop::orders::api::Error as ApiError;
    use wasmshop_tests::bindings::orders::wasmshop::orders::types::LineInput;

    let shop = shop().await;
    let (headphones, speaker) = (DEMO_HEADPHONES.to_owned(), DEMO_SPEAKER.to_owned());
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
    let (status, http) = shop.as_(Caller::customer(ALICE)).get("/cart").send().await;
    assert_eq!((status, &http["items"]), (200, &json!(5)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wit_checkout_is_idempotent_owned_listed_and_cancellable() {
    use wasmshop_tests::bindings::orders::exports::wasmshop::orders::api::Error as ApiError;
    use wasmshop_tests::bindings::orders::wasmshop::orders::types::{
        CheckoutRequest, LineInput, OrderStatus,
    };

    let shop = shop().await;
    let (headphones, speaker) = (DEMO_HEADPHONES.to_owned(), DEMO_SPEAKER.to_owned());
    let (mut store, orders) = shop.orders_api().await.expect("instance");
    let api = orders.wasmshop_orders_api();
    let line = |product_id: &str, quantity| LineInput {
        product_id: product_id.to_owned(),
        quantity,
    };

    // Alice's cart: three headphones and two speakers.
    for (product, quantity) in [(&headphones, 3), (&speaker, 2)] {
        api.call_add_to_cart(&mut store, ALICE, &line(product, quantity))
            .await
            .expect("call")
            .expect("add");
    }
    let unit = api
        .call_get_cart(&mut store, ALICE)
        .await
        .expect("call")
        .expect("cart")
        .lines[0]
        .unit_price
        .clone()
        .expect("priced");

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
    let (a, _) = (DEMO_HEADPHONES.to_owned(), DEMO_SPEAKER.to_owned());
    // Opens the catalog (its tables and demo seed) at the product's seeded price.
    let line = json!({ "product_id": a, "quantity": 4 }).to_string();
    let (status, cart) = shop
        .as_(Caller::customer(ALICE))
        .post("/cart/items")
        .raw_json(&line)
        .send()
        .await;
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
    let (_, cart) = shop.as_(Caller::customer(ALICE)).get("/cart").send().await;
    assert_eq!(cart["subtotal"], Value::Null, "no wrapped subtotal: {cart}");

    let from_cart =
        json!({ "shipping_address": address_in("DE"), "payment_token": "tok_visa" }).to_string();
    let explicit = json!({ "shipping_address": address_in("DE"), "payment_token": "tok_visa",
        "lines": [{ "product_id": a, "quantity": 4 }] })
    .to_string();
    for (key, body) in [("k-cart", &from_cart), ("k-lines", &explicit)] {
        let (status, error) = shop
            .as_(Caller::customer(ALICE))
            .post("/orders")
            .header("idempotency-key", key)
            .raw_json(body)
            .send()
            .await;
        assert_eq!(
            (status, &error["error"]["code"]),
            (422, &json!("amount_out_of_range")),
            "{key}: {error}"
        );
    }

    // The WIT door refuses it with its own case too, not as an internal error.
    use wasmshop_tests::bindings::orders::exports::wasmshop::orders::api::Error as ApiError;
    let (mut store, orders) = shop.orders_api().await.expect("instance");
    let request = cart_checkout();
    let refused = orders
        .wasmshop_orders_api()
        .call_checkout(&mut store, ALICE, "k-wit", &request)
        .await
        .expect("call");
    assert!(
        matches!(refused, Err(ApiError::AmountOutOfRange)),
        "an overflowing total was not refused: {refused:?}"
    );

    let (_, page) = shop
        .as_(Caller::customer(ALICE))
        .get("/orders")
        .send()
        .await;
    assert_eq!(page["total"], 0, "no order was placed: {page}");
    let (_, cart) = shop.as_(Caller::customer(ALICE)).get("/cart").send().await;
    assert_eq!(cart["lines"].as_array().map(Vec::len), Some(1), "{cart}");
}
