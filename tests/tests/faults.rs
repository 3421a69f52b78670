//! Fault runs on the runtime as its own process: a service that fails while traffic flows —
//! the gateway's breaker opens, orders compensate — and, once it recovers, new orders confirm.
//! (Redis restarts and SIGKILL mid-saga are in `saga.rs`.)

use std::time::Duration;

use serde_json::json;
use wasmshop_tests::client::{ApiClient, address};
use wasmshop_tests::invariants;
use wasmshop_tests::process::RuntimeProcess;

fn up_args(state: &std::path::Path, redis: &str, payments_fault: &str) -> Vec<String> {
    wasmshop_tests::process::up_args(
        state,
        redis,
        &[
            ("breaker_open_ms", "2000"),
            ("payments_fault", payments_fault),
        ],
    )
}

async fn place(customer: &ApiClient, product: &str) -> String {
    let body = json!({ "shipping_address": address(), "payment_token": "tok_visa",
        "lines": [{ "product_id": product, "quantity": 1 }] });
    let (status, order) = customer
        .checkout(&uuid::Uuid::now_v7().to_string(), &body)
        .await
        .expect("checkout");
    assert_eq!(status, 202, "{order}");
    order["id"].as_str().expect("id").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_payment_service_trips_the_breaker_then_orders_confirm_after_recovery() {
    wasmshop_tests::build_app().expect("build");
    let redis = local_infra_testing::RedisServer::start().expect("redis");
    let state = tempfile::tempdir().expect("state");
    let log = state.path().join("runtime.log");
    let mut runtime = RuntimeProcess::start(up_args(state.path(), &redis.url(), "error"), &log)
        .await
        .expect("runtime");
    let http = wasmshop_tests::http_client();
    let admin = ApiClient::admin(&runtime.base_url(), &http)
        .await
        .expect("admin");
    let customer = ApiClient::register(&runtime.base_url(), &http, "unlucky@example.com")
        .await
        .expect("customer");
    let product = admin.stocked_product(2_000, 20).await.expect("product");

    // Traffic while payments fails: its reads fail until the breaker opens and fails fast.
    let doomed: Vec<String> =
        futures_util::future::join_all((0..3).map(|_| place(&customer, &product))).await;
    let mut codes = Vec::new();
    for _ in 0..8 {
        let (status, body) = customer.requests().get("/api/v1/payments").send().await;
        assert_eq!(status, 503, "{body}");
        codes.push(body["error"]["code"].as_str().unwrap_or("").to_owned());
    }
    assert_eq!(codes[0], "provider_unavailable", "{codes:?}");
    assert_eq!(
        codes.last().map(String::as_str),
        Some("circuit_open"),
        "{codes:?}"
    );

    // The sagas retry the authorization, run out of attempts and compensate: nothing charged.
    for id in &doomed {
        let order = customer
            .wait_terminal(id, Duration::from_secs(60))
            .await
            .expect("terminal");
        assert_eq!(order["status"], "failed", "{order}");
        assert!(
            order["cancel_reason"]
                .as_str()
                .unwrap_or("")
                .contains("payment"),
            "{order}"
        );
    }

    // Payments recovers (restarted without the fault, same state): new orders confirm, and
    // once the open period passes the breaker lets reads through again.
    runtime.kill();
    runtime.args = up_args(state.path(), &redis.url(), "");
    runtime.restart().await.expect("restart");
    let recovered = place(&customer, &product).await;
    let order = customer
        .wait_terminal(&recovered, Duration::from_secs(30))
        .await
        .expect("terminal");
    assert_eq!(order["status"], "confirmed", "{order}");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = customer.requests().get("/api/v1/payments").send().await;
        if status == 200 {
            assert_eq!(
                body["total"], 1,
                "only the recovered order was charged: {body}"
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the breaker never closed: {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Checked while the runtime runs: a notification may still be on its way.
    invariants::assert_stock_settled_and_invariants_hold(&admin, &product, 19, state.path()).await;
    runtime.kill();
}
