//! The `shipping` component alone from the real `spin.toml`: quotes, shipments created and
//! cancelled by saga commands (once per order), the status machine for operators, ownership.

use serde_json::{Value, json};
use wasmshop_tests::client::Caller;
use wasmshop_tests::ids::{ADMIN, ALICE, BOB, new_id};
use wasmshop_tests::{Wasmshop, envelope};

fn create(order_id: &str, postal_code: &str) -> Value {
    envelope(
        "shipment.create",
        "orders",
        order_id,
        Some(order_id),
        &json!({ "order_id": order_id, "user_id": ALICE, "weight_grams": 1_200, "items": 2,
            "address": { "name": "Ada", "line1": "1 Way", "line2": null, "city": "Berlin",
                "postal_code": postal_code, "country": "DE" } }),
    )
}

fn cancel(order_id: &str) -> Value {
    envelope(
        "shipment.cancel",
        "orders",
        order_id,
        Some(order_id),
        &json!({ "order_id": order_id, "reason": null }),
    )
}

/// The types of the replies to `commands` (see [`Wasmshop::exchange`]).
async fn reply_types(shop: &Wasmshop, commands: &[Value]) -> Vec<String> {
    shop.exchange("shipping", commands)
        .await
        .iter()
        .map(|reply| reply["event_type"].as_str().unwrap_or("?").to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quotes_follow_the_rate_table() {
    let shop = Wasmshop::component("shipping").start().await.expect("boot");
    let (status, quote) = shop
        .as_(Caller::Anonymous)
        .get("/quotes?country=DE&weight_grams=2500")
        .send()
        .await;
    assert_eq!(status, 200, "{quote}");
    assert_eq!(
        quote["amount"],
        json!({ "amount": 690, "currency": "EUR" }),
        "{quote}"
    );
    for (query, field) in [
        ("country=ZZ&weight_grams=100", "country"),
        ("country=DE&weight_grams=0", "weight_grams"),
        ("country=DE&weight_grams=30001", "weight_grams"),
        ("weight_grams=100", "country"),
    ] {
        let (status, body) = shop
            .as_(Caller::Anonymous)
            .get(&format!("/quotes?{query}"))
            .send()
            .await;
        assert_eq!(status, 422, "{query}: {body}");
        assert_eq!(
            body["error"]["details"]["fields"][0]["field"], field,
            "{query}: {body}"
        );
    }
    let (status, _) = shop
        .as_(Caller::Anonymous)
        .get("/quotes?country=DE&weight_grams=heavy")
        .send()
        .await;
    assert_eq!(status, 400);
    let (status, _) = shop.as_(Caller::Anonymous).post("/quotes").send().await;
    assert_eq!(status, 405);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shipments_are_created_once_and_cancelled_before_pickup() {
    let shop = Wasmshop::component("shipping").start().await.expect("boot");
    let order = new_id();
    assert_eq!(
        reply_types(&shop, &[create(&order, "10115"), create(&order, "10115")]).await,
        ["shipment.created", "shipment.created"]
    );
    let (_, page) = shop
        .as_(Caller::customer(ALICE))
        .get(&format!("/shipments?order_id={order}"))
        .send()
        .await;
    assert_eq!(page["total"], 1, "one shipment for two commands: {page}");
    let shipment = page["items"][0].clone();
    let tracking = shipment["tracking_number"].as_str().expect("tracking");
    assert!(
        tracking.starts_with("WS") && tracking.len() == 14,
        "{tracking}"
    );
    assert_eq!(
        reply_types(&shop, &[cancel(&order), cancel(&order)]).await,
        ["shipment.cancelled", "shipment.cancelled"]
    );

    // Undeliverable test address; cancel overtaking its create; cancel after pickup.
    assert_eq!(
        reply_types(&shop, &[create(&new_id(), "00000")]).await,
        ["shipment.failed"]
    );
    let late = new_id();
    assert_eq!(
        reply_types(&shop, &[cancel(&late), create(&late, "10115")]).await,
        ["shipment.cancelled", "shipment.failed"]
    );
    let picked = new_id();
    reply_types(&shop, &[create(&picked, "10115")]).await;
    let (_, page) = shop
        .as_(Caller::admin(ADMIN))
        .get(&format!("/shipments?order_id={picked}"))
        .send()
        .await;
    let id = page["items"][0]["id"].as_str().expect("id").to_owned();
    let (status, _) = shop
        .as_(Caller::admin(ADMIN))
        .post(&format!("/shipments/{id}/status"))
        .json(&json!({ "status": "picked" }))
        .send()
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        reply_types(&shop, &[cancel(&picked)]).await,
        ["shipment.failed"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_move_shipments_forward_and_owners_read_them() {
    let shop = Wasmshop::component("shipping").start().await.expect("boot");
    let order = new_id();
    reply_types(&shop, &[create(&order, "10115")]).await;
    let (_, page) = shop
        .as_(Caller::customer(ALICE))
        .get("/shipments")
        .send()
        .await;
    let id = page["items"][0]["id"].as_str().expect("id").to_owned();
    let status_path = format!("/shipments/{id}/status");

    let (status, _) = shop
        .as_(Caller::customer(ALICE))
        .post(&status_path)
        .json(&json!({ "status": "picked" }))
        .send()
        .await;
    assert_eq!(status, 403);
    let (status, body) = shop
        .as_(Caller::admin(ADMIN))
        .post(&status_path)
        .json(&json!({ "status": "delivered" }))
        .send()
        .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (409, &json!("illegal_transition")),
        "{body}"
    );
    let events = shop.subscribe("shipping.events", 3).expect("subscribe");
    for next in ["picked", "in_transit", "delivered"] {
        let (status, shipment) = shop
            .as_(Caller::admin(ADMIN))
            .post(&status_path)
            .json(&json!({ "status": next }))
            .send()
            .await;
        assert_eq!(
            (status, &shipment["status"]),
            (200, &json!(next)),
            "{shipment}"
        );
    }
    let events = events.received().await;
    assert!(
        events
            .iter()
            .all(|e| e["event_type"] == "shipment.status-changed"),
        "{events:?}"
    );
    let (status, _) = shop
        .as_(Caller::admin(ADMIN))
        .post(&format!("/shipments/{id}/cancel"))
        .send()
        .await;
    assert_eq!(status, 409, "no cancel after pickup");

    let (status, shipment) = shop
        .as_(Caller::customer(ALICE))
        .get(&format!("/shipments/{id}"))
        .send()
        .await;
    assert_eq!(status, 200);
    let history: Vec<&str> = shipment["history"]
        .as_array()
        .expect("history")
        .iter()
        .filter_map(|h| h["status"].as_str())
        .collect();
    assert_eq!(history, ["created", "picked", "in_transit", "delivered"]);
    let (status, _) = shop
        .as_(Caller::customer(BOB))
        .get(&format!("/shipments/{id}"))
        .send()
        .await;
    assert_eq!(status, 404, "another's shipment is invisible");
    let (status, _) = shop.as_(Caller::Anonymous).get("/shipments").send().await;
    assert_eq!(status, 401);

    for (body, expected) in [
        ("{not json", 400),
        (r#"{"status":"picked","extra":1}"#, 400),
        (r#"{"status":7}"#, 400),
        (r#"{"status":"lost"}"#, 422),
    ] {
        let response = shop
            .client
            .post(shop.url(&status_path))
            .header("x-user-id", ADMIN)
            .header("x-user-role", "admin")
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("send");
        assert_eq!(response.status().as_u16(), expected, "{body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wit_api_quotes_reads_and_moves_shipments() {
    use wasmshop_tests::bindings::shipping::exports::wasmshop::shipping::api::Error as ApiError;
    use wasmshop_tests::bindings::shipping::wasmshop::shipping::types::ShipmentStatus;

    let shop = Wasmshop::component("shipping").start().await.expect("boot");
    let order = new_id();
    reply_types(&shop, &[create(&order, "10115")]).await;
    let (mut store, shipping) = shop.shipping_api().await.expect("instance");
    let api = shipping.wasmshop_shipping_api();

    let quote = api
        .call_get_quote(&mut store, "DE", 2_500)
        .await
        .expect("call")
        .expect("quote");
    let (status, http) = shop
        .as_(Caller::Anonymous)
        .get("/quotes?country=DE&weight_grams=2500")
        .send()
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        (
            quote.amount.amount,
            quote.estimated_days,
            quote.service.as_str()
        ),
        (
            http["amount"]["amount"].as_i64().expect("amount"),
            u32::try_from(http["estimated_days"].as_u64().expect("days")).expect("days"),
            "standard"
        )
    );
    let Err(ApiError::InvalidInput(fields)) =
        api.call_get_quote(&mut store, "XX", 0).await.expect("call")
    else {
        panic!("unsupported country accepted");
    };
    let mut fields: Vec<String> = fields.into_iter().map(|f| f.field).collect();
    fields.sort_unstable();
    assert_eq!(fields, ["country", "weight_grams"]);

    let page = api
        .call_list_shipments(&mut store, Some(ALICE), Some(&order), 1, 10)
        .await
        .expect("call")
        .expect("list");
    assert_eq!(page.total, 1);
    let shipment = &page.items[0];
    assert_eq!(shipment.status, ShipmentStatus::Created);
    assert!(shipment.tracking_number.starts_with("WS"));
    assert_eq!(
        shipment.address.as_ref().map(|a| a.postal_code.as_str()),
        Some("10115")
    );
    assert!(matches!(
        api.call_get_shipment(&mut store, Some(BOB), &shipment.id)
            .await
            .expect("call"),
        Err(ApiError::NotFound)
    ));
    let bobs = api
        .call_list_shipments(&mut store, Some(BOB), None, 1, 10)
        .await
        .expect("call")
        .expect("list");
    assert_eq!(bobs.total, 0);

    let Err(ApiError::IllegalTransition(why)) = api
        .call_set_status(&mut store, &shipment.id, ShipmentStatus::Delivered)
        .await
        .expect("call")
    else {
        panic!("created → delivered accepted");
    };
    assert!(why.contains("delivered"), "{why}");
    let events = shop.subscribe("shipping.events", 2).expect("subscribe");
    for next in [ShipmentStatus::Picked, ShipmentStatus::InTransit] {
        let moved = api
            .call_set_status(&mut store, &shipment.id, next)
            .await
            .expect("call")
            .expect("status");
        assert_eq!(moved.status, next);
    }
    let events = events.received().await;
    assert_eq!(events.len(), 2);
    let (_, http) = shop
        .as_(Caller::admin(ADMIN))
        .get(&format!("/shipments/{}", shipment.id))
        .send()
        .await;
    assert_eq!(http["status"], "in_transit", "both doors show the move");
    let operator = api
        .call_get_shipment(&mut store, None, &shipment.id)
        .await
        .expect("call")
        .expect("operator read");
    let history: Vec<&str> = operator.history.iter().map(|h| h.status.as_str()).collect();
    assert_eq!(history, ["created", "picked", "in_transit"]);
}
