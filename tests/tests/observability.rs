//! What an operator sees of a checkout: one W3C trace from the client's request through the
//! gateway's chained call, the saga's events and the replies to the notification it caused
//! (and its webhook call); and the runtime's Prometheus counters moving with the traffic.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use wasmshop_tests::client::{ApiClient, address};
use wasmshop_tests::recorder::recording_endpoint;
use wasmshop_tests::{EventTransport, Wasmshop, eventually, invariants};

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CLIENT_SPAN: &str = "00f067aa0ba902b7";

fn trace_of(traceparent: &str) -> (&str, &str) {
    let parts: Vec<&str> = traceparent.split('-').collect();
    assert_eq!(parts.len(), 4, "{traceparent}");
    (parts[1], parts[2])
}

fn event_trace(message: &str) -> (String, String) {
    let event: Value = serde_json::from_str(message).expect("an envelope");
    let traceparent = event["trace"]["traceparent"]
        .as_str()
        .unwrap_or_else(|| panic!("no trace on {event}"));
    let (trace, span) = trace_of(traceparent);
    (trace.to_owned(), span.to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_traceparent_follows_a_checkout_to_its_notification() {
    let (origin, webhook_calls) = recording_endpoint(vec![204]).await.expect("webhook");
    let url = format!("{origin}/hooks/orders");
    let shop = Wasmshop::app()
        .workflow(EventTransport::Redis)
        .variables(&[
            ("notification_webhook_url", &url),
            ("notification_webhook_origin", &origin),
        ])
        .start()
        .await
        .expect("boot");
    let admin = ApiClient::admin(&shop.base_url, &shop.client)
        .await
        .expect("admin");
    let product = admin.stocked_product(1_500, 3).await.expect("product");
    let customer = ApiClient::register(&shop.base_url, &shop.client, "traced@example.com")
        .await
        .expect("customer");
    let line = json!({ "product_id": product, "quantity": 1 });
    let (status, _) = customer
        .requests()
        .post("/api/v1/cart/items")
        .json(&line)
        .send()
        .await;
    assert_eq!(status, 200);

    // Commands and replies of the saga, and the order's own events, as they travel.
    let commands = shop.subscribe("payments.commands", 2).expect("subscribe");
    let replies = shop.subscribe("payments.events", 2).expect("subscribe");
    let order_events = shop.subscribe("orders.events", 2).expect("subscribe");

    let client_traceparent = format!("00-{TRACE_ID}-{CLIENT_SPAN}-01");
    let response = customer
        .requests()
        .post("/api/v1/orders")
        .header("traceparent", &client_traceparent)
        .header("idempotency-key", "traced-1")
        .json(&json!({ "shipping_address": address(), "payment_token": "tok_visa" }))
        .response()
        .await;
    assert_eq!(response.status(), 202);
    let gateway_traceparent = response
        .headers()
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .expect("the gateway answers with its traceparent")
        .to_owned();
    let (trace, gateway_span) = trace_of(&gateway_traceparent);
    assert_eq!(trace, TRACE_ID, "the gateway continues the client's trace");
    assert_ne!(gateway_span, CLIENT_SPAN, "under a span of its own");
    let accepted: Value = response.json().await.expect("json");
    let order_id = accepted["id"].as_str().expect("id").to_owned();
    let order = customer
        .wait_terminal(&order_id, std::time::Duration::from_secs(20))
        .await
        .expect("terminal");
    assert_eq!(order["status"], "confirmed", "{order}");

    // Through the chained call: orders got the gateway's span as parent and kept it.
    let orders_db =
        rusqlite::Connection::open(shop.state_dir().join("orders.db")).expect("orders.db");
    let stored: String = orders_db
        .query_row(
            "SELECT traceparent FROM orders WHERE id = ?1",
            [&order_id],
            |row| row.get(0),
        )
        .expect("the order's traceparent");
    assert_eq!(stored, gateway_traceparent);

    // Through the events: the saga's commands, the consumer's replies, the order's events.
    for (what, messages) in [
        ("payments.commands", commands.received().await),
        ("payments.events", replies.received().await),
        ("orders.events", order_events.received().await),
    ] {
        assert_eq!(messages.len(), 2, "{what}: {messages:?}");
        for message in &messages {
            assert_eq!(event_trace(&message.to_string()).0, TRACE_ID, "{what}");
        }
    }

    // To the notification the confirmation caused, and its webhook call.
    let notification = eventually("the order_confirmed notification", || async {
        let (_, page) = customer
            .requests()
            .get("/api/v1/notifications")
            .try_send()
            .await
            .ok()?;
        page["items"]
            .as_array()?
            .iter()
            .find(|n| n["template"] == "order_confirmed" && n["subject_id"] == order_id.as_str())
            .cloned()
    })
    .await;
    assert_eq!(notification["trace_id"], TRACE_ID, "{notification}");
    let webhook_traceparent = eventually("the webhook call", || async {
        webhook_calls
            .lock()
            .expect("lock")
            .iter()
            .find(|call| call.body["id"] == notification["id"])
            .and_then(|call| call.traceparent.clone())
    })
    .await;
    assert_eq!(trace_of(&webhook_traceparent).0, TRACE_ID);

    // A notification from an untraced cause has no trace id rather than a made-up one.
    let (_, page) = admin.requests().get("/api/v1/notifications").send().await;
    let welcome = &page["items"][0];
    assert_eq!(welcome["template"], "welcome");
    assert_eq!(
        welcome["trace_id"].as_str().map(str::len),
        Some(32),
        "registration went through the gateway too, which started a trace: {welcome}"
    );
    invariants::assert_hold(shop.state_dir()).await;
}

/// `/metrics` as `name{labels}` → value.
async fn scrape(shop: &Wasmshop) -> BTreeMap<String, f64> {
    let text = wasmshop_tests::scrape_metrics(shop).await.expect("scrape");
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            Some((series.to_owned(), value.parse().ok()?))
        })
        .collect()
}

fn delta(before: &BTreeMap<String, f64>, after: &BTreeMap<String, f64>, series: &str) -> f64 {
    after.get(series).copied().unwrap_or(0.0) - before.get(series).copied().unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_move_with_a_checkout() {
    let shop = Wasmshop::app()
        .workflow(EventTransport::Redis)
        .start()
        .await
        .expect("boot");
    let admin = ApiClient::admin(&shop.base_url, &shop.client)
        .await
        .expect("admin");
    let product = admin.stocked_product(2_000, 5).await.expect("product");
    let customer = ApiClient::register(&shop.base_url, &shop.client, "metered@example.com")
        .await
        .expect("customer");
    let before = scrape(&shop).await;

    let body = json!({ "shipping_address": address(), "payment_token": "tok_visa",
        "lines": [{ "product_id": product, "quantity": 2 }] });
    let (status, accepted) = customer
        .checkout("metered-1", &body)
        .await
        .expect("checkout");
    assert_eq!(status, 202, "{accepted}");
    let order_id = accepted["id"].as_str().expect("id");
    let order = customer
        .wait_terminal(order_id, std::time::Duration::from_secs(20))
        .await
        .expect("terminal");
    assert_eq!(order["status"], "confirmed");
    let (status, _) = customer.requests().get("/api/v1/nowhere").send().await;
    assert_eq!(status, 404);
    // The consumers' outboxes and the notification settle after the order does.
    let after = eventually("the saga's last messages", || {
        let shop = &shop;
        let before = &before;
        async move {
            let after = scrape(shop).await;
            (delta(
                before,
                &after,
                r#"wasmshop_runtime_redis_messages_total{channel="orders.events",component="notifications-subscriber",outcome="ok"}"#,
            ) >= 2.0)
                .then_some(after)
        }
    })
    .await;

    let gateway = |status: u16| {
        format!(
            r#"wasmshop_runtime_http_requests_total{{component="gateway",route="/api/...",status="{status}"}}"#
        )
    };
    assert_eq!(delta(&before, &after, &gateway(202)), 1.0, "the checkout");
    assert_eq!(
        delta(&before, &after, &gateway(404)),
        1.0,
        "the unknown route"
    );
    assert!(delta(&before, &after, &gateway(200)) >= 1.0, "the polls");
    assert!(
        delta(
            &before,
            &after,
            r#"wasmshop_runtime_http_requests_total{component="orders",route="/...",status="202"}"#
        ) >= 1.0,
        "the chained checkout"
    );
    assert!(
        delta(
            &before,
            &after,
            r#"wasmshop_runtime_http_request_duration_seconds_count{component="gateway"}"#
        ) >= 3.0
    );
    // reserve + commit; authorize + capture; create shipment: each handled once, as "ok", by
    // the context's Redis subscriber.
    for (channel, component, at_least) in [
        ("catalog.commands", "catalog-subscriber", 2.0),
        ("payments.commands", "payments-subscriber", 2.0),
        ("shipping.commands", "shipping-subscriber", 1.0),
        ("payments.events", "orders-subscriber", 2.0),
        ("shipping.events", "orders-subscriber", 1.0),
    ] {
        let series = format!(
            r#"wasmshop_runtime_redis_messages_total{{channel="{channel}",component="{component}",outcome="ok"}}"#
        );
        assert!(
            delta(&before, &after, &series) >= at_least,
            "{series}: {}",
            delta(&before, &after, &series)
        );
    }
    for component in ["gateway", "orders", "payments-subscriber", "catalog"] {
        let series = format!(r#"wasmshop_runtime_instances_total{{component="{component}"}}"#);
        assert!(delta(&before, &after, &series) >= 1.0, "{series}");
    }
    let traps: f64 = after
        .iter()
        .filter(|(series, _)| series.starts_with("wasmshop_runtime_traps_total"))
        .map(|(_, value)| value)
        .sum();
    assert_eq!(traps, 0.0);
    let dead_letters: f64 = after
        .iter()
        .filter(|(series, _)| series.starts_with("wasmshop_runtime_dead_letters"))
        .map(|(_, value)| value)
        .sum();
    assert_eq!(dead_letters, 0.0);
    assert!(
        after
            .keys()
            .any(|series| series.starts_with("wasmshop_runtime_outbox_backlog")),
        "the outbox backlog is exported"
    );
    invariants::assert_hold(shop.state_dir()).await;
}

/// With `OTEL_EXPORTER_OTLP_ENDPOINT` set, as under `spin up`, the runtime exports a span per
/// request each component serves, in the client's trace: the gateway's span is the child of
/// the client's, and the chained call's span (catalog) is in the same trace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_go_to_the_otlp_endpoint_in_the_clients_trace() {
    use wasmshop_tests::process::{RuntimeProcess, up_args};

    let (collector, exports) = recording_endpoint(vec![200]).await.expect("collector");
    drop(wasmshop_tests::build_app().expect("build"));
    let redis = local_infra_testing::RedisServer::start().expect("redis");
    let state = tempfile::tempdir().expect("state dir");
    let runtime = RuntimeProcess::start_with_env(
        up_args(state.path(), &redis.url(), &[("seed_demo_data", "true")]),
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", collector.as_str()),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ],
        &state.path().join("runtime.log"),
    )
    .await
    .expect("runtime starts");
    let response = reqwest::Client::new()
        .get(format!("{}/api/v1/products?limit=1", runtime.base_url()))
        .header("traceparent", format!("00-{TRACE_ID}-{CLIENT_SPAN}-01"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);

    // Spans of the trace, by component, as OTLP/JSON carries them.
    let spans = eventually("the gateway's and catalog's spans", || async {
        let mut spans: BTreeMap<String, Value> = BTreeMap::new();
        for call in exports.lock().expect("lock").iter() {
            let Some(resources) = call.body["resourceSpans"].as_array() else {
                continue;
            };
            for span in resources
                .iter()
                .flat_map(|r| r["scopeSpans"].as_array().into_iter().flatten())
                .flat_map(|s| s["spans"].as_array().into_iter().flatten())
                .filter(|span| span["traceId"] == TRACE_ID)
            {
                let component = span["attributes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|a| a["key"] == "spin.component")
                    .and_then(|a| a["value"]["stringValue"].as_str())
                    .unwrap_or_default()
                    .to_owned();
                spans.insert(component, span.clone());
            }
        }
        (spans.contains_key("gateway") && spans.contains_key("catalog")).then_some(spans)
    })
    .await;
    let gateway = &spans["gateway"];
    assert_eq!(gateway["parentSpanId"], CLIENT_SPAN, "{gateway}");
    assert_eq!(gateway["name"], "GET /api/...");
    assert_eq!(gateway["kind"], 2, "a server span");
    let catalog = &spans["catalog"];
    assert_ne!(catalog["spanId"], gateway["spanId"]);
    let status_code = catalog["attributes"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|a| a["key"] == "http.response.status_code")
        .map(|a| a["value"]["intValue"].clone());
    assert_eq!(status_code, Some(json!("200")), "{catalog}");
}
