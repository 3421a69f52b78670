//! The checkout saga end to end: the whole app from `spin.toml`, driven only through the public
//! gateway as customers and an admin would, with a real `redis-server` and the recovery tick
//! driven by the runtime. Every path of the saga, over Redis and over HTTP push, and after each
//! run the invariant checker.

use std::time::Duration;

use serde_json::{Value, json};
use wasmshop_tests::client::{ApiClient, address};
use wasmshop_tests::invariants;
use wasmshop_tests::{EventTransport, Wasmshop};

const TERMINAL_WITHIN: Duration = Duration::from_secs(20);

struct World {
    shop: Wasmshop,
    admin: ApiClient,
}

async fn world(transport: EventTransport, variables: &[(&str, &str)]) -> World {
    let mut variables = variables.to_vec();
    variables.push(("seed_demo_data", "false"));
    let shop = Wasmshop::app()
        .workflow(transport)
        .variables(&variables)
        .start()
        .await
        .expect("the app boots");
    let admin = ApiClient::admin(&shop.base_url, &shop.client)
        .await
        .expect("admin account");
    World { shop, admin }
}

impl World {
    async fn customer(&self, name: &str) -> ApiClient {
        let email = format!("{name}-{}@example.com", uuid::Uuid::now_v7().simple());
        ApiClient::register(&self.shop.base_url, &self.shop.client, &email)
            .await
            .expect("customer account")
    }

    /// A new product with `on_hand` units: its id.
    async fn product(&self, price: i64, on_hand: u32) -> String {
        self.admin
            .stocked_product(price, on_hand)
            .await
            .expect("a stocked product")
    }

    /// (on_hand, reserved) of a product, once settled.
    async fn stock(&self, product_id: &str) -> (u64, u64) {
        self.admin.settled_stock(product_id).await.expect("stock")
    }

    async fn check_invariants(&self) {
        invariants::assert_hold(self.shop.state_dir()).await;
    }
}

/// Checks out `quantity` of `product_id` with `token` and `address`: the order id.
async fn checkout(
    customer: &ApiClient,
    product_id: &str,
    quantity: u32,
    token: &str,
    address: Value,
) -> String {
    let body = json!({ "shipping_address": address, "payment_token": token,
        "lines": [{ "product_id": product_id, "quantity": quantity }] });
    let key = uuid::Uuid::now_v7().to_string();
    let (status, order) = customer.checkout(&key, &body).await.expect("checkout");
    assert_eq!(status, 202, "{order}");
    assert_eq!(order["status"], "pending", "{order}");
    order["id"].as_str().expect("id").to_owned()
}

/// The order's payment once settled ([`ApiClient::settled_payment`]).
async fn payment_of(customer: &ApiClient, order_id: &str) -> Option<Value> {
    customer
        .settled_payment(order_id)
        .await
        .expect("payments answer")
}

fn timeline_statuses(order: &Value) -> Vec<String> {
    order["timeline"]
        .as_array()
        .map(|entries| {
            entries
                .iter()
                .filter_map(|e| e["status"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The notifications of `customer` whose template is `template`, once `expected` exist (or
/// what there is after 10 s).
async fn notified(customer: &ApiClient, template: &str, expected: usize) -> Vec<Value> {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (status, page) = customer
            .requests()
            .get("/api/v1/notifications?limit=100")
            .send()
            .await;
        assert_eq!(status, 200, "{page}");
        let found: Vec<Value> = page["items"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter(|n| n["template"] == template)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        if found.len() >= expected || std::time::Instant::now() > deadline {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every terminal path of the saga, over one transport.
async fn every_path(transport: EventTransport) {
    let world = world(transport, &[]).await;
    let customer = world.customer("paths").await;
    let product = world.product(1_500, 10).await;

    // Happy path: stock committed, payment captured, shipment created, customer told.
    let confirmed = checkout(&customer, &product, 2, "tok_visa", address()).await;
    let order = customer
        .wait_terminal(&confirmed, TERMINAL_WITHIN)
        .await
        .expect("terminal");
    assert_eq!(order["status"], "confirmed", "{order}");
    let steps = timeline_statuses(&order);
    assert_eq!(
        steps.first().map(String::as_str),
        Some("pending"),
        "{order}"
    );
    assert_eq!(
        steps.last().map(String::as_str),
        Some("confirmed"),
        "{order}"
    );
    assert_eq!(world.stock(&product).await, (8, 0));
    let payment = payment_of(&customer, &confirmed).await.expect("a payment");
    assert_eq!(payment["status"], "captured", "{payment}");
    assert_eq!(
        payment["captured_amount"], order["total"]["amount"],
        "{payment} vs {order}"
    );
    let (status, shipments) = customer
        .requests()
        .get(&format!("/api/v1/shipments?order_id={confirmed}"))
        .send()
        .await;
    assert_eq!(status, 200, "{shipments}");
    assert_eq!(shipments["items"][0]["status"], "created", "{shipments}");
    assert_eq!(notified(&customer, "order_confirmed", 1).await.len(), 1);

    // Declined card: cancelled, stock released, nothing captured.
    let declined = checkout(&customer, &product, 1, "tok_declined", address()).await;
    let order = customer
        .wait_terminal(&declined, TERMINAL_WITHIN)
        .await
        .expect("terminal");
    assert_eq!(order["status"], "cancelled", "{order}");
    assert!(
        order["cancel_reason"]
            .as_str()
            .unwrap_or("")
            .contains("card_declined"),
        "{order}"
    );
    assert_eq!(world.stock(&product).await, (8, 0));
    if let Some(payment) = payment_of(&customer, &declined).await {
        assert_ne!(payment["status"], "captured", "{payment}");
        assert_eq!(
            payment["captured_amount"].as_i64().unwrap_or(0),
            0,
            "{payment}"
        );
    }

    // Out of stock: cancelled before any payment is asked for.
    let short = checkout(&customer, &product, 9, "tok_visa", address()).await;
    let order = customer
        .wait_terminal(&short, TERMINAL_WITHIN)
        .await
        .expect("terminal");
    assert_eq!(order["status"], "cancelled", "{order}");
    assert_eq!(payment_of(&customer, &short).await, None, "nothing charged");
    assert_eq!(world.stock(&product).await, (8, 0));

    // Shipment impossible (undeliverable test address): stock released, authorization voided.
    let mut undeliverable = address();
    undeliverable["postal_code"] = json!("00000");
    let unshippable = checkout(&customer, &product, 1, "tok_visa", undeliverable).await;
    let order = customer
        .wait_terminal(&unshippable, TERMINAL_WITHIN)
        .await
        .expect("terminal");
    assert_eq!(order["status"], "cancelled", "{order}");
    let payment = payment_of(&customer, &unshippable)
        .await
        .expect("authorized, then voided");
    assert_eq!(payment["status"], "voided", "{payment}");
    assert_eq!(world.stock(&product).await, (8, 0));

    // A transient provider error is retried, then the order confirms.
    let flaky = checkout(&customer, &product, 1, "tok_flaky", address()).await;
    let order = customer
        .wait_terminal(&flaky, TERMINAL_WITHIN)
        .await
        .expect("terminal");
    assert_eq!(order["status"], "confirmed", "{order}");
    assert_eq!(world.stock(&product).await, (7, 0));

    assert_eq!(notified(&customer, "order_cancelled", 3).await.len(), 3);
    world.check_invariants().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_saga_path_over_redis() {
    every_path(EventTransport::Redis).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_saga_path_over_http_push() {
    every_path(EventTransport::HttpPush).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customer_cancel_and_retry_exhaustion_compensate_over_redis() {
    cancel_and_exhaustion(EventTransport::Redis).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customer_cancel_and_retry_exhaustion_compensate_over_http_push() {
    cancel_and_exhaustion(EventTransport::HttpPush).await;
}

/// With the payment provider failing every call, authorization is retried with backoff while
/// the customer may still cancel; an order nobody cancels fails after the attempt cap — both
/// compensated, nothing charged.
async fn cancel_and_exhaustion(transport: EventTransport) {
    let world = world(transport, &[("payments_fault", "error")]).await;
    let customer = world.customer("cancel").await;
    let product = world.product(2_000, 5).await;

    let cancelled = checkout(&customer, &product, 2, "tok_visa", address()).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_, order) = customer
            .requests()
            .get(&format!("/api/v1/orders/{cancelled}"))
            .send()
            .await;
        if order["status"] == "awaiting_payment" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never awaited payment: {order}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (status, body) = customer
        .requests()
        .post(&format!("/api/v1/orders/{cancelled}/cancel"))
        .send()
        .await;
    assert_eq!(status, 202, "{body}");
    let order = customer
        .wait_terminal(&cancelled, TERMINAL_WITHIN)
        .await
        .expect("terminal");
    assert_eq!(order["status"], "cancelled", "{order}");
    assert!(
        order["cancel_reason"]
            .as_str()
            .unwrap_or("")
            .contains("customer"),
        "{order}"
    );
    assert_eq!(world.stock(&product).await, (5, 0));
    let (status, body) = customer
        .requests()
        .post(&format!("/api/v1/orders/{cancelled}/cancel"))
        .send()
        .await;
    assert_eq!(status, 409, "{body}");

    let exhausted = checkout(&customer, &product, 1, "tok_visa", address()).await;
    let order = customer
        .wait_terminal(&exhausted, Duration::from_secs(40))
        .await
        .expect("terminal");
    assert_eq!(order["status"], "failed", "{order}");
    assert_eq!(world.stock(&product).await, (5, 0));
    world.check_invariants().await;
}

/// Places `count` orders of one unit each, by one customer: their ids.
async fn place_orders(customer: &ApiClient, product: &str, count: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for _ in 0..count {
        ids.push(checkout(customer, product, 1, "tok_visa", address()).await);
    }
    ids
}

/// Redis stopped while sagas are in flight and started again: events that could not be
/// published stay in the outboxes, commands lost with the connection are re-sent when their
/// step times out, the Redis trigger reconnects — every order still ends confirmed, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sagas_complete_after_redis_restarts() {
    let mut world = world(EventTransport::Redis, &[]).await;
    let customer = world.customer("redis-fault").await;
    let product = world.product(700, 100).await;

    let orders = place_orders(&customer, &product, 6).await;
    world.shop.redis.stop();
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    world.shop.redis.restart().expect("redis restarts");

    for order_id in &orders {
        let order = customer
            .wait_terminal(order_id, Duration::from_secs(60))
            .await
            .expect("terminal after Redis came back");
        assert_eq!(order["status"], "confirmed", "{order}");
    }
    assert_eq!(world.stock(&product).await, (94, 0));
    world.check_invariants().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sagas_complete_after_the_runtime_is_killed() {
    killed_mid_saga("redis").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sagas_complete_after_the_runtime_is_killed_over_http_push() {
    killed_mid_saga("http").await;
}

/// The runtime killed with SIGKILL while sagas are in flight, then restarted on the same state
/// dir: every saga completes, none twice.
async fn killed_mid_saga(event_transport: &str) {
    use wasmshop_tests::process::RuntimeProcess;

    let manifest = wasmshop_tests::build_app().expect("build");
    drop(manifest);
    let redis = local_infra_testing::RedisServer::start().expect("redis");
    let state = tempfile::tempdir().expect("state dir");
    let args = wasmshop_tests::process::up_args(
        state.path(),
        &redis.url(),
        &[("event_transport", event_transport)],
    );
    let log = state.path().join("runtime.log");
    let mut runtime = RuntimeProcess::start(args, &log)
        .await
        .expect("runtime starts");
    let http = wasmshop_tests::http_client();
    let admin = ApiClient::admin(&runtime.base_url(), &http)
        .await
        .expect("admin");
    let customer = ApiClient::register(&runtime.base_url(), &http, "killed@example.com")
        .await
        .expect("customer");
    let product = admin.stocked_product(1_200, 50).await.expect("product");

    let orders = place_orders(&customer, &product, 8).await;
    runtime.kill();
    let restart = runtime.restart().await.expect("restarts on the same state");
    eprintln!("restart to first served request: {restart:?}");

    for order_id in &orders {
        let order = customer
            .wait_terminal(order_id, Duration::from_secs(60))
            .await
            .expect("terminal after the restart");
        assert_eq!(order["status"], "confirmed", "{order}");
    }
    // Checked while the runtime runs: a notification may still be on its way.
    invariants::assert_stock_settled_and_invariants_hold(&admin, &product, 42, state.path()).await;
    runtime.kill();
}

/// Every event of finished sagas delivered again, twice, in reverse order: nothing changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redelivered_and_reordered_events_have_no_second_effect() {
    let world = world(EventTransport::Redis, &[]).await;
    let customer = world.customer("replay").await;
    let product = world.product(900, 10).await;
    let confirmed = checkout(&customer, &product, 1, "tok_visa", address()).await;
    let declined = checkout(&customer, &product, 1, "tok_declined", address()).await;
    for id in [&confirmed, &declined] {
        customer
            .wait_terminal(id, TERMINAL_WITHIN)
            .await
            .expect("terminal");
    }
    let before = invariants::snapshot(world.shop.state_dir()).expect("snapshot");

    let mut sent = invariants::sent_events(world.shop.state_dir()).expect("outboxes");
    sent.reverse();
    assert!(
        sent.len() >= 10,
        "the sagas sent their commands and replies: {}",
        sent.len()
    );
    for _ in 0..2 {
        for (channel, payload) in &sent {
            let message: Value = serde_json::from_str(payload).expect("envelope");
            world.shop.publish(channel, &message).expect("publish");
        }
    }
    // Let every consumer drain what was published (a marker event goes last on each channel).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = invariants::snapshot(world.shop.state_dir()).expect("snapshot");
    assert_eq!(before, after, "replayed events changed state");
    world.check_invariants().await;
}

/// A poison message lands in the consumer's dead letters, visible to an admin through the
/// gateway, and can be discarded there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_messages_are_dead_lettered_and_shown_to_admins() {
    let world = world(EventTransport::Redis, &[]).await;
    let poison = wasmshop_tests::envelope(
        "payment.authorized",
        "payments",
        "x",
        Some("not-an-order"),
        &json!({ "broken": true }),
    );
    assert_eq!(
        world
            .shop
            .publish("payments.events", &poison)
            .expect("publish"),
        1,
        "one subscribed connection fans the channel out to orders and notifications"
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let letter = loop {
        let (status, page) = world
            .admin
            .requests()
            .get("/api/v1/admin/orders/dead-letters")
            .send()
            .await;
        assert_eq!(status, 200, "{page}");
        if let Some(letter) = page["items"]
            .as_array()
            .and_then(|items| items.iter().find(|l| l["id"] == poison["id"]))
        {
            break letter.clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never dead-lettered: {page}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(letter["status"], "dead", "{letter}");
    let customer = world.customer("nosy").await;
    let (status, _) = customer
        .requests()
        .get("/api/v1/admin/orders/dead-letters")
        .send()
        .await;
    assert_eq!(status, 403);
    let id = poison["id"].as_str().expect("id");
    let (status, letter) = world
        .admin
        .requests()
        .delete(&format!("/api/v1/admin/orders/dead-letters/{id}"))
        .send()
        .await;
    assert_eq!(
        (status, &letter["status"]),
        (200, &json!("discarded")),
        "{letter}"
    );
}
