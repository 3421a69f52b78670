//! The audit trail end to end, only through the public gateway: what an admin does and who
//! tried to log in is recorded with the actor, the client address and the trace id, never a
//! password or a token; only admins read it; and an audit store that is down fails no request.

use std::time::Duration;

use serde_json::{Value, json};
use wasmshop_tests::client::{ADMIN_EMAIL, ApiClient, PASSWORD, address};
use wasmshop_tests::{EventTransport, TEST_ADMIN_BOOTSTRAP_TOKEN, Wasmshop, build_app};

/// The trace id of a response's `traceparent` (`00-<trace id>-<span id>-<flags>`).
fn trace_id(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split('-').nth(1))
        .expect("a traceparent")
        .to_owned()
}

async fn entries(admin: &ApiClient, query: &str) -> Value {
    let (status, page) = admin
        .requests()
        .get(&format!("/api/v1/admin/audit?{query}"))
        .send()
        .await;
    assert_eq!(status, 200, "{query}: {page}");
    page
}

/// The gateway's app, its admin and a customer.
struct Audited {
    shop: Wasmshop,
    admin: ApiClient,
    admin_id: String,
    customer: ApiClient,
}

async fn audited() -> Audited {
    let shop = Wasmshop::app()
        .workflow(EventTransport::HttpPush)
        .start()
        .await
        .expect("boot");
    let admin = ApiClient::admin(&shop.base_url, &shop.client)
        .await
        .expect("admin");
    let admin_id = admin.user_id.clone().expect("admin id");
    let customer = ApiClient::register(&shop.base_url, &shop.client, "ada@example.com")
        .await
        .expect("customer");
    Audited {
        shop,
        admin,
        admin_id,
        customer,
    }
}

/// A confirmed order of the customer's whose payment the admin refunds: the refund's path
/// and the trace id of its response.
async fn refund_an_order(admin: &ApiClient, customer: &ApiClient) -> (String, String) {
    let product = admin.stocked_product(1_999, 5).await.expect("product");
    let body = json!({ "shipping_address": address(), "payment_token": "tok_visa",
        "lines": [{ "product_id": product, "quantity": 1 }] });
    let (status, placed) = customer.checkout("audit-1", &body).await.expect("checkout");
    assert_eq!(status, 202, "{placed}");
    let order_id = placed["id"].as_str().expect("order id").to_owned();
    let order = customer
        .wait_terminal(&order_id, Duration::from_secs(20))
        .await
        .expect("terminal");
    assert_eq!(order["status"], "confirmed", "{order}");
    // Refundable once captured, which follows the confirmation.
    let payment = customer
        .settled_payment(&order_id)
        .await
        .expect("payments")
        .expect("a payment");
    let payment_id = payment["id"].as_str().expect("payment id").to_owned();
    let refund_path = format!("/api/v1/admin/payments/payments/{payment_id}/refund");
    let response = admin.requests().post(&refund_path).response().await;
    assert_eq!(response.status(), 200);
    let refund_trace = trace_id(&response);
    (refund_path, refund_trace)
}

/// The wrong password Mallory tries.
const WRONG_PASSWORD: &str = "Tr0ub4dor&3-not-the-password";

/// Mallory's login with [`WRONG_PASSWORD`], refused: the trace id of the answer.
async fn failed_login(shop: &Wasmshop) -> String {
    let response = shop
        .anonymous()
        .post("/api/v1/auth/login")
        .json(&json!({ "email": "mallory@example.com", "password": WRONG_PASSWORD }))
        .response()
        .await;
    assert_eq!(response.status(), 401);
    trace_id(&response)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refund_is_recorded_with_its_admin_route_client_address_and_trace() {
    let Audited {
        shop: _shop,
        admin,
        admin_id,
        customer,
    } = audited().await;
    let (refund_path, refund_trace) = refund_an_order(&admin, &customer).await;

    let page = entries(&admin, "action=payments.refund").await;
    assert_eq!(page["total"], 1, "{page}");
    let entry = &page["items"][0];
    assert_eq!(entry["actor"], admin_id.as_str(), "{entry}");
    assert_eq!(entry["actor_role"], "admin", "{entry}");
    assert_eq!(
        (&entry["outcome"], &entry["status"], &entry["method"]),
        (&json!("success"), &json!(200), &json!("POST")),
        "{entry}"
    );
    assert_eq!(entry["path"], refund_path.as_str(), "{entry}");
    assert_eq!(entry["trace_id"], refund_trace.as_str(), "{entry}");
    assert!(
        entry["client_addr"]
            .as_str()
            .is_some_and(|a| a.starts_with("127.0.0.1")),
        "{entry}"
    );
    assert!(
        entry["at"].as_str().is_some_and(|t| t.ends_with('Z')),
        "{entry}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admins_writes_and_the_first_bootstrap_are_recorded_under_their_actions() {
    let Audited {
        shop: _shop,
        admin,
        admin_id,
        customer,
    } = audited().await;
    refund_an_order(&admin, &customer).await;

    // The admin's other writes are there too, each under its route's action; the first admin's
    // bootstrap by the email it named.
    let mine = entries(&admin, &format!("actor={admin_id}&limit=100")).await;
    let actions: Vec<&str> = mine["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    for expected in [
        "payments.refund",
        "catalog.stock.set",
        "catalog.product.create",
    ] {
        assert!(actions.contains(&expected), "{expected}: {actions:?}");
    }
    let bootstrap = entries(&admin, "action=auth.bootstrap-admin").await;
    assert_eq!(bootstrap["items"][0]["actor"], ADMIN_EMAIL, "{bootstrap}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_login_is_recorded_by_the_email_tried_without_the_password() {
    let Audited { shop, admin, .. } = audited().await;
    let login_trace = failed_login(&shop).await;
    let failed = entries(&admin, "actor=mallory@example.com&action=auth.login").await;
    assert_eq!(failed["total"], 1, "{failed}");
    let entry = &failed["items"][0];
    assert_eq!(
        (&entry["outcome"], &entry["status"], &entry["actor_role"]),
        (&json!("failure"), &json!(401), &Value::Null),
        "{entry}"
    );
    assert_eq!(entry["trace_id"], login_trace.as_str(), "{entry}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_trail_is_paged_filtered_free_of_secrets_and_read_by_admins_only() {
    let Audited {
        shop,
        admin,
        customer,
        ..
    } = audited().await;
    refund_an_order(&admin, &customer).await;
    failed_login(&shop).await;

    // Paged, filtered by time, and free of every secret this test used.
    let one = entries(&admin, "limit=1&page=2").await;
    assert_eq!(one["items"].as_array().map(Vec::len), Some(1), "{one}");
    assert!(one["total"].as_u64().is_some_and(|n| n >= 6), "{one}");
    let later = entries(&admin, "since=2999-01-01T00:00:00Z").await;
    assert_eq!(later["total"], 0, "{later}");
    let everything = entries(&admin, "limit=100").await.to_string();
    let admin_token = admin.token.clone().expect("token");
    let customer_token = customer.token.clone().expect("token");
    for secret in [
        WRONG_PASSWORD,
        PASSWORD,
        TEST_ADMIN_BOOTSTRAP_TOKEN,
        admin_token.as_str(),
        customer_token.as_str(),
    ] {
        assert!(!everything.contains(secret), "the trail holds a secret");
    }

    let (status, body) = admin
        .requests()
        .get("/api/v1/admin/audit?since=yesterday")
        .send()
        .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (422, &json!("invalid_input")),
        "{body}"
    );

    // Only admins read it.
    let (status, body) = customer.requests().get("/api/v1/admin/audit").send().await;
    assert_eq!(status, 403, "{body}");
    let (status, _) = shop.anonymous().get("/api/v1/admin/audit").send().await;
    assert_eq!(status, 401);
}

/// The app without its audit component: the gateway cannot write an entry, logs that, and
/// answers the request anyway.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_audit_store_fails_no_request() {
    let mut manifest = build_app().expect("build");
    manifest.components.remove("audit");
    manifest.http_triggers.retain(|t| t.component != "audit");
    let shop = Wasmshop::manifest(manifest).start().await.expect("boot");
    let admin = ApiClient::admin(&shop.base_url, &shop.client)
        .await
        .expect("an audited bootstrap and login still succeed");
    let product = admin
        .stocked_product(500, 1)
        .await
        .expect("audited admin writes still succeed");
    let (status, body) = admin
        .requests()
        .delete(&format!("/api/v1/products/{product}"))
        .send()
        .await;
    assert!(status < 300, "{status} {body}");
    let (status, body) = admin.requests().get("/api/v1/admin/audit").send().await;
    assert_eq!(status, 502, "the trail itself is unavailable: {body}");
}
