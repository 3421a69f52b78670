//! The whole workflow as customers, an admin and an operator live it — only through the public
//! gateway — and the concurrency run: many checkouts competing for a few units.

use std::time::Duration;

use serde_json::{Value, json};
use wasmshop_tests::client::{ApiClient, address};
use wasmshop_tests::{EventTransport, Wasmshop, eventually, invariants};

async fn shop() -> (Wasmshop, ApiClient) {
    let shop = Wasmshop::app()
        .workflow(EventTransport::HttpPush)
        .start()
        .await
        .expect("the app boots");
    let admin = ApiClient::admin(&shop.base_url, &shop.client)
        .await
        .expect("admin");
    (shop, admin)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_shops_from_registration_to_delivery() {
    let (shop, admin) = shop().await;
    let anonymous = shop.anonymous();

    // Browse and search the seeded catalog without an account.
    let (status, page) = anonymous
        .get("/api/v1/products?limit=5&sort=price-asc")
        .send()
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["items"].as_array().map(Vec::len), Some(5), "{page}");
    let (status, found) = anonymous.get("/api/v1/products?q=rust").send().await;
    assert_eq!(status, 200, "{found}");
    let book = found["items"][0].clone();
    let book_id = book["id"]
        .as_str()
        .expect("a product matches `rust`")
        .to_owned();
    let (status, quote) = anonymous
        .get("/api/v1/shipping/quotes?country=DE&weight_grams=1000")
        .send()
        .await;
    assert_eq!(status, 200, "{quote}");

    // Register, log in, fill the cart.
    let customer = ApiClient::register(&shop.base_url, &shop.client, "grace@example.com")
        .await
        .expect("customer");
    let other_product = page["items"][0]["id"].as_str().expect("id").to_owned();
    for (product, quantity) in [(&book_id, 1), (&other_product, 2), (&book_id, 1)] {
        let body = json!({ "product_id": product, "quantity": quantity });
        let (status, cart) = customer
            .requests()
            .post("/api/v1/cart/items")
            .json(&body)
            .send()
            .await;
        assert!(status == 200 || status == 201, "{status} {cart}");
    }
    let (status, cart) = customer.requests().get("/api/v1/cart").send().await;
    assert_eq!(status, 200, "{cart}");
    let lines = cart["lines"].as_array().cloned().unwrap_or_default();
    assert_eq!(lines.len(), 2, "merged lines: {cart}");

    // Check out with an idempotency key; the same request again is the same order.
    let body = json!({ "shipping_address": address(), "payment_token": "tok_visa" });
    let (status, placed) = customer.checkout("grace-1", &body).await.expect("checkout");
    assert_eq!(status, 202, "{placed}");
    let order_id = placed["id"].as_str().expect("id").to_owned();
    let (status, again) = customer.checkout("grace-1", &body).await.expect("replay");
    assert_eq!((status, &again["id"]), (202, &placed["id"]), "{again}");
    let (status, cart) = customer.requests().get("/api/v1/cart").send().await;
    assert_eq!(status, 200);
    assert_eq!(
        cart["lines"].as_array().map(Vec::len),
        Some(0),
        "checkout empties the cart: {cart}"
    );

    let order = customer
        .wait_terminal(&order_id, Duration::from_secs(20))
        .await
        .expect("terminal");
    assert_eq!(order["status"], "confirmed", "{order}");
    let total = order["total"]["amount"].as_i64().expect("total");
    assert_eq!(
        total,
        order["subtotal"]["amount"].as_i64().expect("subtotal")
            + order["shipping"]["amount"].as_i64().expect("shipping"),
        "{order}"
    );

    // Payment captured for the total; a shipment with a tracking number; notifications.
    let payment = customer
        .settled_payment(&order_id)
        .await
        .expect("payments")
        .expect("a payment");
    assert_eq!(payment["status"], "captured", "{payment}");
    assert_eq!(
        payment["captured_amount"].as_i64(),
        Some(total),
        "{payment}"
    );
    let (status, shipments) = customer
        .requests()
        .get(&format!("/api/v1/shipments?order_id={order_id}"))
        .send()
        .await;
    assert_eq!(status, 200, "{shipments}");
    let shipment = shipments["items"][0].clone();
    let shipment_id = shipment["id"].as_str().expect("shipment").to_owned();
    assert!(
        shipment["tracking_number"]
            .as_str()
            .is_some_and(|t| !t.is_empty()),
        "{shipment}"
    );

    // The admin moves the shipment to delivered; the customer hears of each step.
    for status_name in ["picked", "in_transit", "delivered"] {
        let (status, moved) = admin
            .requests()
            .post(&format!("/api/v1/shipments/{shipment_id}/status"))
            .json(&json!({ "status": status_name }))
            .send()
            .await;
        assert_eq!(status, 200, "{moved}");
    }
    let (status, _) = customer
        .requests()
        .post(&format!("/api/v1/shipments/{shipment_id}/status"))
        .json(&json!({ "status": "delivered" }))
        .send()
        .await;
    assert_eq!(status, 403);
    let templates: Vec<String> =
        eventually("welcome, confirmation and three shipment notes", || async {
            let (status, page) = customer
                .requests()
                .get("/api/v1/notifications?limit=50")
                .try_send()
                .await
                .ok()?;
            assert_eq!(status, 200, "{page}");
            let templates: Vec<String> = page["items"]
                .as_array()?
                .iter()
                .filter_map(|n| n["template"].as_str().map(str::to_owned))
                .collect();
            (templates.iter().filter(|t| *t == "shipment_status").count() == 3).then_some(templates)
        })
        .await;
    assert!(templates.iter().any(|t| t == "welcome"), "{templates:?}");
    assert_eq!(
        templates.iter().filter(|t| *t == "order_confirmed").count(),
        1,
        "{templates:?}"
    );

    // Another customer sees none of it.
    let stranger = ApiClient::register(&shop.base_url, &shop.client, "eve@example.com")
        .await
        .expect("stranger");
    for path in [
        format!("/api/v1/orders/{order_id}"),
        format!("/api/v1/shipments/{shipment_id}"),
    ] {
        let (status, body) = stranger.requests().get(&path).send().await;
        assert_eq!(status, 404, "{path}: {body}");
    }

    // Log out: the token is refused from then on.
    let (status, _) = customer.requests().post("/api/v1/auth/logout").send().await;
    assert_eq!(status, 204);
    let (status, body) = customer.requests().get("/api/v1/orders").send().await;
    assert_eq!(status, 401, "{body}");

    invariants::assert_hold(shop.state_dir()).await;
}

/// Checkouts racing for fewer units than asked: exactly as many confirm as there are units,
/// the rest cancel uncharged, stock never goes negative, every order ends within the bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_checkouts_never_oversell() {
    const UNITS: u32 = 50;
    const CHECKOUTS: usize = 200;
    let (shop, admin) = shop().await;
    let product = admin.stocked_product(4_999, UNITS).await.expect("product");

    let mut customers = Vec::new();
    for n in 0..20 {
        customers.push(
            ApiClient::register(
                &shop.base_url,
                &shop.client,
                &format!("racer{n}@example.com"),
            )
            .await
            .expect("customer"),
        );
    }
    let started = std::time::Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..CHECKOUTS {
        let customer = customers[n % customers.len()].clone();
        let product = product.clone();
        tasks.spawn(async move {
            let body = json!({ "shipping_address": address(), "payment_token": "tok_visa",
                "lines": [{ "product_id": product, "quantity": 1 }] });
            // As a well-behaved client would: a shed request (bulkhead full) is sent again
            // after a while with the same key, which idempotency makes safe.
            let mut attempts = 0;
            let (status, order) = loop {
                let (status, order) = customer
                    .checkout(&format!("race-{n}"), &body)
                    .await
                    .expect("checkout");
                attempts += 1;
                if status != 503 || order["error"]["code"] != "upstream_busy" || attempts == 20 {
                    break (status, order);
                }
                tokio::time::sleep(Duration::from_millis(100 * attempts)).await;
            };
            assert_eq!(status, 202, "{order}");
            let id = order["id"].as_str().expect("id").to_owned();
            customer
                .wait_terminal(&id, Duration::from_secs(90))
                .await
                .expect("terminal")
        });
    }
    let mut outcomes: std::collections::BTreeMap<String, usize> = Default::default();
    while let Some(order) = tasks.join_next().await {
        let order: Value = order.expect("task");
        *outcomes
            .entry(order["status"].as_str().unwrap_or("?").to_owned())
            .or_default() += 1;
    }
    let elapsed = started.elapsed();
    eprintln!("{CHECKOUTS} checkouts for {UNITS} units: {outcomes:?} in {elapsed:?}");
    assert_eq!(
        outcomes.get("confirmed"),
        Some(&(UNITS as usize)),
        "{outcomes:?}"
    );
    assert_eq!(
        outcomes.get("cancelled"),
        Some(&(CHECKOUTS - UNITS as usize)),
        "{outcomes:?}"
    );
    invariants::assert_stock_settled_and_invariants_hold(&admin, &product, 0, shop.state_dir())
        .await;
}

/// A hundred people signing up and logging in at the same moment: each registration and login
/// writes the users database from its own instance and SQLite connection (as under Spin),
/// and none of them may end in a server error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_concurrent_registrations_and_logins_end_without_a_server_error() {
    let shop = Wasmshop::app()
        .workflow(EventTransport::HttpPush)
        .start()
        .await
        .expect("the app boots");
    let mut signups = tokio::task::JoinSet::new();
    for n in 0..100 {
        let (base_url, http) = (shop.base_url.clone(), shop.client.clone());
        signups.spawn(async move {
            let client = ApiClient::anonymous(&base_url, &http);
            let email = format!("crowd{n}@example.com");
            let credentials = json!({ "email": email, "password": "correct horse battery" });
            let mut registration = credentials.clone();
            registration["name"] = json!(format!("Crowd {n}"));
            let (registered, body) = client
                .requests()
                .post("/api/v1/auth/register")
                .json(&registration)
                .send()
                .await;
            let (logged_in, token) = client
                .requests()
                .post("/api/v1/auth/login")
                .json(&credentials)
                .send()
                .await;
            (registered, body, logged_in, token)
        });
    }
    let mut outcomes = Vec::new();
    while let Some(outcome) = signups.join_next().await {
        outcomes.push(outcome.expect("task"));
    }
    let failed: Vec<_> = outcomes
        .iter()
        .filter(|(registered, _, logged_in, _)| (*registered, *logged_in) != (201, 200))
        .collect();
    assert!(
        failed.is_empty(),
        "{} of 100 failed: {failed:?}",
        failed.len()
    );
}
