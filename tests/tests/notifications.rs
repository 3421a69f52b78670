//! The `notifications` component alone from the real `spin.toml`: events become notifications
//! once each, per template and channel; ownership; the webhook with retries.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wasmshop_tests::{Wasmshop, envelope, json};

const ALICE: &str = "0190d7a0-0000-7000-8000-00000000a11c";
const BOB: &str = "0190d7a0-0000-7000-8000-000000000b0b";
const ADMIN: &str = "0190d7a0-0000-7000-8000-0000000ad111";

async fn call(
    shop: &Wasmshop,
    method: &str,
    path: &str,
    who: Option<(&str, &str)>,
) -> (u16, Value) {
    let mut request = shop
        .client
        .request(method.parse().expect("method"), shop.url(path));
    if let Some((id, role)) = who {
        request = request.header("x-user-id", id).header("x-user-role", role);
    }
    json(request.send().await.expect("request")).await
}

/// Alice's notifications once there are `count` of them.
async fn notifications(shop: &Wasmshop, count: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, page) = call(
            shop,
            "GET",
            "/notifications?limit=100",
            Some((ALICE, "customer")),
        )
        .await;
        assert_eq!(status, 200, "{page}");
        let items = page["items"].as_array().cloned().unwrap_or_default();
        if items.len() >= count || Instant::now() > deadline {
            return items;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn order_event(event_type: &str, reason: Option<&str>) -> Value {
    let order = uuid::Uuid::now_v7().to_string();
    envelope(
        event_type,
        "orders",
        &order,
        Some(&order),
        &json!({ "order_id": order, "user_id": ALICE,
        "status": event_type.trim_start_matches("order."), "total": { "amount": 6_989, "currency": "EUR" },
        "reason": reason }),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_event_becomes_one_notification_per_template() {
    let shop = Wasmshop::boot_component("notifications")
        .await
        .expect("boot");
    let welcome = envelope(
        "user.registered",
        "users",
        ALICE,
        None,
        &json!({ "user_id": ALICE, "email": "alice@example.com", "name": "Alice" }),
    );
    let confirmed = order_event("order.confirmed", None);
    let cancelled = order_event("order.cancelled", Some("payment declined: card_declined"));
    let declined = envelope(
        "payment.failed",
        "payments",
        "o",
        Some("o"),
        &json!({ "order_id": "o", "user_id": ALICE,
        "code": "card_declined", "reason": "the card was declined", "retryable": false }),
    );
    let transient = envelope(
        "payment.failed",
        "payments",
        "o",
        Some("o"),
        &json!({ "order_id": "o", "user_id": ALICE,
        "code": "provider_error", "reason": "down", "retryable": true }),
    );
    let shipped = envelope(
        "shipment.status-changed",
        "shipping",
        "o",
        Some("o"),
        &json!({ "shipment_id": "s",
        "order_id": "o", "user_id": ALICE, "tracking_number": "WS0000000000AB", "status": "in_transit",
        "previous_status": "picked" }),
    );
    let ignored = envelope(
        "stock.low",
        "catalog",
        "p",
        None,
        &json!({ "product_id": "p", "available": 1, "threshold": 5 }),
    );
    // The contact first: deliveries by email need the address the welcome event brings.
    shop.publish("users.events", &welcome).expect("publish");
    assert_eq!(notifications(&shop, 1).await.len(), 1);
    for (channel, event) in [
        ("orders.events", &confirmed),
        ("orders.events", &cancelled),
        ("payments.events", &declined),
        ("payments.events", &transient),
        ("shipping.events", &shipped),
        ("orders.events", &confirmed),
        ("users.events", &welcome),
    ] {
        shop.publish(channel, event).expect("publish");
    }
    let items = notifications(&shop, 5).await;
    // Over HTTP push the same event again is a duplicate; an ignored type is still applied.
    let (status, body) = json(
        shop.client
            .post(shop.url("/events"))
            .json(&cancelled)
            .send()
            .await
            .expect("push"),
    )
    .await;
    assert_eq!(
        (status, &body["outcome"]),
        (202, &json!("duplicate")),
        "{body}"
    );
    let (status, body) = json(
        shop.client
            .post(shop.url("/events"))
            .json(&ignored)
            .send()
            .await
            .expect("push"),
    )
    .await;
    assert_eq!(
        (status, &body["outcome"]),
        (202, &json!("applied")),
        "{body}"
    );

    let mut templates: Vec<&str> = items
        .iter()
        .filter_map(|n| n["template"].as_str())
        .collect();
    templates.sort_unstable();
    assert_eq!(
        templates,
        [
            "order_cancelled",
            "order_confirmed",
            "payment_failed",
            "shipment_status",
            "welcome"
        ]
    );
    let by = |template: &str| {
        items
            .iter()
            .find(|n| n["template"] == template)
            .cloned()
            .expect(template)
    };
    assert!(
        by("order_cancelled")["body"]
            .as_str()
            .unwrap_or("")
            .contains("payment declined: card_declined")
    );
    assert!(
        by("order_confirmed")["body"]
            .as_str()
            .unwrap_or("")
            .contains("EUR 69.89")
    );
    let channels = |n: &Value| -> Vec<String> {
        n["deliveries"]
            .as_array()
            .expect("deliveries")
            .iter()
            .map(|d| {
                format!(
                    "{}:{}",
                    d["channel"].as_str().unwrap_or(""),
                    d["status"].as_str().unwrap_or("")
                )
            })
            .collect()
    };
    assert_eq!(
        channels(&by("order_confirmed")),
        ["email:delivered", "push:delivered"]
    );
    assert_eq!(
        channels(&by("payment_failed")),
        ["email:delivered", "sms:delivered"]
    );
    assert_eq!(channels(&by("welcome")), ["email:delivered"]);

    // Reading is the owner's; the admin can list anyone's.
    let id = by("welcome")["id"].as_str().expect("id").to_owned();
    let (status, _) = call(
        &shop,
        "POST",
        &format!("/notifications/{id}/read"),
        Some((BOB, "customer")),
    )
    .await;
    assert_eq!(status, 404);
    let (status, read) = call(
        &shop,
        "POST",
        &format!("/notifications/{id}/read"),
        Some((ALICE, "customer")),
    )
    .await;
    assert_eq!(status, 200);
    assert!(read["read_at"].is_string(), "{read}");
    let (_, unread) = call(
        &shop,
        "GET",
        "/notifications?unread=true",
        Some((ALICE, "customer")),
    )
    .await;
    assert_eq!(unread["total"], 4);
    let (status, _) = call(
        &shop,
        "GET",
        "/notifications?unread=maybe",
        Some((ALICE, "customer")),
    )
    .await;
    assert_eq!(status, 400);
    let (status, _) = call(&shop, "GET", "/notifications", None).await;
    assert_eq!(status, 401);
    let (status, _) = call(
        &shop,
        "GET",
        &format!("/admin/notifications?user_id={ALICE}"),
        Some((BOB, "customer")),
    )
    .await;
    assert_eq!(status, 403);
    let (status, page) = call(
        &shop,
        "GET",
        &format!("/admin/notifications?user_id={ALICE}"),
        Some((ADMIN, "admin")),
    )
    .await;
    assert_eq!((status, &page["total"]), (200, &json!(5)));
    let (status, body) = call(&shop, "DELETE", "/notifications", Some((ALICE, "customer"))).await;
    assert_eq!(status, 405, "{body}");
}

/// A webhook that fails its first call: the delivery is recorded failed, then retried by the
/// recovery tick and recorded delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_deliveries_are_recorded_and_retried() {
    use hyper::service::service_fn;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let seen = seen.clone();
            tokio::spawn(async move {
                let service = service_fn(move |_request: hyper::Request<hyper::body::Incoming>| {
                    let n = seen.fetch_add(1, Ordering::SeqCst);
                    async move {
                        let status = if n == 0 { 500 } else { 204 };
                        hyper::Response::builder()
                            .status(status)
                            .body(http_body_util::Empty::<bytes::Bytes>::new())
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    let origin = format!("http://127.0.0.1:{port}");
    let url = format!("{origin}/hooks/wasmshop");
    let shop = Wasmshop::boot_components(
        &["notifications"],
        "notifications",
        &[
            ("notification_webhook_url", &url),
            ("notification_webhook_origin", &origin),
        ],
    )
    .await
    .expect("boot");
    shop.publish("orders.events", &order_event("order.confirmed", None))
        .expect("publish");
    let webhook = |items: &[Value]| -> Option<Value> {
        items.first()?["deliveries"]
            .as_array()?
            .iter()
            .find(|d| d["channel"] == "webhook")
            .cloned()
    };
    // The attempt follows the message's commit; wait until it is recorded.
    let deadline = Instant::now() + Duration::from_secs(10);
    let first = loop {
        let delivery = webhook(&notifications(&shop, 1).await).expect("a webhook delivery");
        if delivery["status"] != "pending" || Instant::now() > deadline {
            break delivery;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(
        (first["status"].as_str(), first["attempts"].as_i64()),
        (Some("failed"), Some(1)),
        "{first}"
    );
    assert_eq!(first["last_error"], "webhook answered 500");

    // The retry is due after 1 s; the recovery tick sends it.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let (status, report) = call(&shop, "POST", "/admin/recovery", None).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["context"]["webhooks_attempted"], 1, "{report}");
    let delivered = webhook(&notifications(&shop, 1).await).expect("delivery");
    assert_eq!(
        (delivered["status"].as_str(), delivered["attempts"].as_i64()),
        (Some("delivered"), Some(2)),
        "{delivered}"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}
