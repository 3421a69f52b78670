//! The `catalog` component booted alone: the events it publishes and the saga commands it answers
//! over Redis and HTTP push.

use std::collections::BTreeSet;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wasmshop_tests::catalog_fixtures::{
    boot, boot_with, create_product, product_body, set_stock, stock,
};
use wasmshop_tests::client::Caller;
use wasmshop_tests::ids::{ADMIN, ALICE, new_id};
use wasmshop_tests::{Wasmshop, eventually};

/// Every envelope published on `catalog.events` (deduplicated by id), read on a thread of its
/// own until `stop` or a bounded deadline.
struct Events {
    rx: mpsc::Receiver<Value>,
    seen: BTreeSet<String>,
    pending: Vec<Value>,
}

impl Events {
    fn subscribe(shop: &Wasmshop) -> Self {
        let mut conn = shop.redis.connection().expect("redis connection");
        let (ready_tx, ready_rx) = mpsc::channel();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut pubsub = conn.as_pubsub();
            pubsub.subscribe("catalog.events").expect("subscribe");
            pubsub
                .set_read_timeout(Some(Duration::from_millis(200)))
                .expect("timeout");
            let _ = ready_tx.send(());
            let deadline = Instant::now() + Duration::from_secs(120);
            while Instant::now() < deadline {
                match pubsub.get_message() {
                    Ok(message) => {
                        let payload: String = message.get_payload().expect("text payload");
                        let event: Value = serde_json::from_str(&payload).expect("json envelope");
                        if tx.send(event).is_err() {
                            return;
                        }
                    }
                    Err(e) if e.is_timeout() => continue,
                    Err(_) => return,
                }
            }
        });
        ready_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("subscribed");
        Self {
            rx,
            seen: BTreeSet::new(),
            pending: Vec::new(),
        }
    }

    /// The next new event of `event_type` about `subject`, within a few seconds.
    fn expect(&mut self, event_type: &str, subject: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            // Events of one transaction arrive together and in any order of interest: keep
            // the ones not asked for yet.
            if let Some(i) = self
                .pending
                .iter()
                .position(|e| e["event_type"] == event_type && e["subject"] == subject)
            {
                let event = self.pending.remove(i);
                assert_eq!(event["source"], "catalog", "{event}");
                assert!(
                    event["time"].as_str().is_some_and(|t| t.ends_with('Z')),
                    "{event}"
                );
                return serde_json::from_str(event["data"].as_str().expect("data"))
                    .expect("payload json");
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let event = self.rx.recv_timeout(left).unwrap_or_else(|_| {
                panic!(
                    "no {event_type} about {subject} within 10 s; unclaimed: {:?}",
                    self.pending
                )
            });
            let id = event["id"].as_str().expect("event id").to_owned();
            if self.seen.insert(id) {
                self.pending.push(event);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_arrive_on_catalog_events() {
    let shop = boot().await;
    // Apply the migrations (and seed) before subscribing, so only our events follow.
    shop.as_(Caller::Anonymous).get("/health").send().await;
    shop.as_(Caller::Anonymous).get("/categories").send().await;
    let mut events = Events::subscribe(&shop);

    let product = create_product(&shop, &product_body("EVT-1", "Evented", 2500, None)).await;
    let id = product["id"].as_str().expect("id").to_owned();
    let created = events.expect("product.created", &id);
    assert_eq!(
        created,
        json!({ "product_id": id, "sku": "EVT-1", "name": "Evented",
            "price": { "amount": 2500, "currency": "EUR" }, "active": true })
    );
    let (status, _) = shop
        .as_(Caller::admin(ADMIN))
        .put(&format!("/products/{id}"))
        .json(&product_body("EVT-1", "Evented 2", 2600, None))
        .send()
        .await;
    assert_eq!(status, 200);
    assert_eq!(events.expect("product.updated", &id)["name"], "Evented 2");

    // Stock 8, threshold 5: reserving 4 leaves 4 < 5 → stock.low.
    set_stock(&shop, &id, 8).await;
    let order = new_id();
    let (status, _) = shop
        .as_(Caller::Anonymous)
        .post("/reservations")
        .json(&json!({ "order_id": order, "lines": [{ "product_id": id, "quantity": 4 }] }))
        .send()
        .await;
    assert_eq!(status, 201);
    assert_eq!(
        events.expect("stock.reserved", &order),
        json!({ "order_id": order, "lines": [{ "product_id": id, "quantity": 4 }] })
    );
    assert_eq!(
        events.expect("stock.low", &id),
        json!({ "product_id": id, "available": 4, "threshold": 5 })
    );

    let refused = new_id();
    let (status, _) = shop
        .as_(Caller::Anonymous)
        .post("/reservations")
        .json(&json!({ "order_id": refused, "lines": [{ "product_id": id, "quantity": 5 }] }))
        .send()
        .await;
    assert_eq!(status, 409);
    assert_eq!(
        events.expect("stock.reservation-failed", &refused),
        json!({ "order_id": refused, "reason": "insufficient_stock", "short": [id] })
    );

    let (status, _) = shop
        .as_(Caller::Anonymous)
        .post(&format!("/reservations/{order}/release"))
        .send()
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        events.expect("stock.released", &order)["lines"][0]["quantity"],
        4
    );

    let second = new_id();
    let (status, _) = shop
        .as_(Caller::Anonymous)
        .post("/reservations")
        .json(&json!({ "order_id": second, "lines": [{ "product_id": id, "quantity": 2 }] }))
        .send()
        .await;
    assert_eq!(status, 201);
    events.expect("stock.reserved", &second);
    let (status, _) = shop
        .as_(Caller::Anonymous)
        .post(&format!("/reservations/{second}/commit"))
        .send()
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        events.expect("stock.committed", &second),
        json!({ "order_id": second, "lines": [{ "product_id": id, "quantity": 2 }] })
    );

    // An admin count below the threshold: 6 available → 3.
    set_stock(&shop, &id, 3).await;
    assert_eq!(
        events.expect("stock.low", &id),
        json!({ "product_id": id, "available": 3, "threshold": 5 })
    );

    let unknown_product = new_id();
    let unavailable = new_id();
    let (status, _) = shop.as_(Caller::Anonymous).post("/reservations").json(&json!({ "order_id": unavailable, "lines": [{ "product_id": unknown_product, "quantity": 1 }] })).send()
    .await;
    assert_eq!(status, 404);
    assert_eq!(
        events.expect("stock.reservation-failed", &unavailable),
        json!({ "order_id": unavailable, "reason": "product_unavailable", "short": [unknown_product] })
    );

    let (status, _) = shop
        .as_(Caller::admin(ADMIN))
        .delete(&format!("/products/{id}"))
        .send()
        .await;
    assert_eq!(status, 204);
    assert_eq!(events.expect("product.updated", &id)["active"], false);
}

/// The catalog without its demo seed and one product with 50 units, well above the low-stock
/// threshold (so no `stock.low` among the replies): the shop and the product id.
async fn stocked_for_commands() -> (Wasmshop, String) {
    let shop = boot_with(&[("seed_demo_data", "false")]).await;
    let product = create_product(&shop, &product_body("CMD-1", "Command mug", 900, None)).await;
    let product_id = product["id"].as_str().expect("id").to_owned();
    set_stock(&shop, &product_id, 50).await;
    (shop, product_id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reserve_delivered_twice_and_retried_reserves_once_and_answers_each_command() {
    let (shop, product_id) = stocked_for_commands().await;
    let order_id = new_id();
    let lines =
        json!({ "order_id": order_id, "lines": [{ "product_id": product_id, "quantity": 2 }] });

    // The same command delivered twice (same id) and once more as a retry (new id).
    let replies = shop.subscribe("catalog.events", 2).expect("subscribe");
    let reserve = wasmshop_tests::envelope(
        "stock.reserve",
        "orders",
        &order_id,
        Some(&order_id),
        &lines,
    );
    assert_eq!(
        shop.publish("catalog.commands", &reserve).expect("publish"),
        1
    );
    assert_eq!(
        shop.publish("catalog.commands", &reserve).expect("publish"),
        1
    );
    let retry = wasmshop_tests::envelope(
        "stock.reserve",
        "orders",
        &order_id,
        Some(&order_id),
        &lines,
    );
    assert_eq!(
        shop.publish("catalog.commands", &retry).expect("publish"),
        1
    );
    let replies = replies.received().await;
    assert_eq!(replies.len(), 2, "{replies:?}");
    // Messages are handled concurrently: the replies may come in either order.
    let mut causes: Vec<&str> = replies
        .iter()
        .filter_map(|r| r["causation_id"].as_str())
        .collect();
    causes.sort_unstable();
    let mut commands = [
        reserve["id"].as_str().expect("id"),
        retry["id"].as_str().expect("id"),
    ];
    commands.sort_unstable();
    assert_eq!(causes, commands, "{replies:?}");
    for reply in &replies {
        assert_eq!(reply["event_type"], "stock.reserved", "{reply}");
        assert_eq!(reply["correlation_id"], order_id.as_str());
    }
    assert_eq!(
        stock(&shop, &product_id).await,
        (50, 2, 48),
        "reserved once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_pushed_over_http_is_applied_once_and_frees_the_units() {
    let (shop, product_id) = stocked_for_commands().await;
    let order_id = new_id();
    let lines =
        json!({ "order_id": order_id, "lines": [{ "product_id": product_id, "quantity": 2 }] });
    let reserve = wasmshop_tests::envelope(
        "stock.reserve",
        "orders",
        &order_id,
        Some(&order_id),
        &lines,
    );
    let replies = shop.exchange("catalog", &[reserve]).await;
    assert_eq!(replies[0]["event_type"], "stock.reserved", "{replies:?}");
    assert_eq!(stock(&shop, &product_id).await, (50, 2, 48));

    // Release arrives over the HTTP-push transport instead: same handler, same rules.
    let release = wasmshop_tests::envelope(
        "stock.release",
        "orders",
        &order_id,
        Some(&order_id),
        &json!({ "order_id": order_id, "reason": "payment declined" }),
    );
    let (status, body) = shop
        .as_(Caller::Anonymous)
        .post("/events")
        .raw_json(&release.to_string())
        .send()
        .await;
    assert_eq!(
        (status, &body["outcome"]),
        (202, &json!("applied")),
        "{body}"
    );
    let (status, body) = shop
        .as_(Caller::Anonymous)
        .post("/events")
        .raw_json(&release.to_string())
        .send()
        .await;
    assert_eq!(
        (status, &body["outcome"]),
        (202, &json!("duplicate")),
        "{body}"
    );
    assert_eq!(stock(&shop, &product_id).await, (50, 0, 50));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_that_overtakes_its_reserve_leaves_a_tombstone() {
    let (shop, product_id) = stocked_for_commands().await;
    // A release that overtakes its reserve leaves a tombstone: the late reserve takes nothing.
    let late_order = new_id();
    let released = shop.subscribe("catalog.events", 1).expect("subscribe");
    let release_first = wasmshop_tests::envelope(
        "stock.release",
        "orders",
        &late_order,
        Some(&late_order),
        &json!({ "order_id": late_order, "reason": null }),
    );
    shop.publish("catalog.commands", &release_first)
        .expect("publish");
    let mut replies = released.received().await;
    let refused = shop.subscribe("catalog.events", 1).expect("subscribe");
    let late_lines =
        json!({ "order_id": late_order, "lines": [{ "product_id": product_id, "quantity": 1 }] });
    let late_reserve = wasmshop_tests::envelope(
        "stock.reserve",
        "orders",
        &late_order,
        Some(&late_order),
        &late_lines,
    );
    shop.publish("catalog.commands", &late_reserve)
        .expect("publish");
    replies.extend(refused.received().await);
    let types: Vec<&str> = replies
        .iter()
        .filter_map(|r| r["event_type"].as_str())
        .collect();
    assert_eq!(
        types,
        ["stock.released", "stock.reservation-failed"],
        "{replies:?}"
    );
    assert_eq!(
        serde_json::from_str::<Value>(replies[1]["data"].as_str().expect("data")).expect("json")["reason"],
        "reservation_released"
    );
    assert_eq!(
        stock(&shop, &product_id).await,
        (50, 0, 50),
        "the late reserve took nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_commands_are_dead_letters_that_admins_retry_and_discard() {
    let (shop, _) = stocked_for_commands().await;
    let order_id = new_id();
    // Poison: not an envelope, and an unknown command type; both kept as dead letters.
    shop.publish("catalog.commands", &json!("{not json"))
        .expect("publish");
    let unknown = wasmshop_tests::envelope(
        "stock.teleport",
        "orders",
        &order_id,
        Some(&order_id),
        &json!({}),
    );
    shop.publish("catalog.commands", &unknown).expect("publish");
    let letters = eventually("two dead letters", || async {
        let (status, body) = shop
            .as_(Caller::admin(ADMIN))
            .get("/admin/dead-letters?status=dead")
            .send()
            .await;
        assert_eq!(status, 200, "{body}");
        let items = body["items"].as_array().cloned().unwrap_or_default();
        (items.len() == 2).then_some(items)
    })
    .await;
    assert!(
        letters.iter().any(|l| l["id"] == unknown["id"]
            && l["error"]
                .as_str()
                .unwrap_or("")
                .contains("not a catalog command")),
        "{letters:?}"
    );
    let (status, _) = shop
        .as_(Caller::customer(ALICE))
        .get("/admin/dead-letters")
        .send()
        .await;
    assert_eq!(status, 403);
    let unknown_id = unknown["id"].as_str().expect("id");
    let (status, retried) = shop
        .as_(Caller::admin(ADMIN))
        .post(&format!("/admin/dead-letters/{unknown_id}/retry"))
        .send()
        .await;
    assert_eq!(
        (status, &retried["dead_letter"]["status"]),
        (200, &json!("dead")),
        "{retried}"
    );
    assert_eq!(retried["dead_letter"]["attempts"], 2, "{retried}");
    let (status, discarded) = shop
        .as_(Caller::admin(ADMIN))
        .delete(&format!("/admin/dead-letters/{unknown_id}"))
        .send()
        .await;
    assert_eq!(
        (status, &discarded["status"]),
        (200, &json!("discarded")),
        "{discarded}"
    );
    let (status, _) = shop
        .as_(Caller::admin(ADMIN))
        .delete(&format!("/admin/dead-letters/{}", new_id()))
        .send()
        .await;
    assert_eq!(status, 404);

    // The recovery tick answers even with nothing to do.
    let (status, report) = shop
        .as_(Caller::Anonymous)
        .post("/admin/recovery")
        .send()
        .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["republished"], 0, "{report}");
}

/// Only orders sends catalog commands: an envelope on `catalog.commands` from any other source
/// is kept as a `dead` letter and never applied, whichever transport carried it, and an admin's
/// retry does not apply it either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_from_a_context_that_does_not_own_the_channel_are_refused() {
    let shop = boot_with(&[("seed_demo_data", "false")]).await;
    let product = create_product(&shop, &product_body("FORGE-1", "Forged mug", 900, None)).await;
    let product_id = product["id"].as_str().expect("id").to_owned();
    set_stock(&shop, &product_id, 50).await;
    let forged = |order_id: &str| {
        wasmshop_tests::envelope(
            "stock.reserve",
            "users",
            order_id,
            Some(order_id),
            &json!({ "order_id": order_id, "lines": [{ "product_id": product_id, "quantity": 2 }] }),
        )
    };
    let (by_redis, by_push) = (forged(&new_id()), forged(&new_id()));
    assert_eq!(
        shop.publish("catalog.commands", &by_redis)
            .expect("publish"),
        1
    );
    let (status, pushed) = shop
        .as_(Caller::Anonymous)
        .post("/events")
        .json(&by_push)
        .send()
        .await;
    assert_eq!(
        (status, &pushed["outcome"]),
        (202, &json!("dead_lettered")),
        "{pushed}"
    );

    let ids = [&by_redis["id"], &by_push["id"]];
    let letters = eventually("both forged commands kept as dead letters", || async {
        let (status, body) = shop
            .as_(Caller::admin(ADMIN))
            .get("/admin/dead-letters?status=dead")
            .send()
            .await;
        assert_eq!(status, 200, "{body}");
        let items = body["items"].as_array().cloned().unwrap_or_default();
        ids.iter()
            .all(|id| items.iter().any(|l| &&l["id"] == id))
            .then_some(items)
    })
    .await;
    for letter in &letters {
        let error = letter["error"].as_str().unwrap_or("");
        assert!(error.contains("untrusted_source"), "{letter}");
        assert!(error.contains("users"), "{letter}");
    }

    let (status, retried) = shop
        .as_(Caller::admin(ADMIN))
        .post(&format!(
            "/admin/dead-letters/{}/retry",
            by_push["id"].as_str().expect("id")
        ))
        .json(&json!({}))
        .send()
        .await;
    assert_eq!(
        (status, &retried["dead_letter"]["status"]),
        (200, &json!("dead")),
        "{retried}"
    );
    assert_eq!(
        stock(&shop, &product_id).await,
        (50, 0, 50),
        "nothing reserved"
    );
    for forged in [&by_redis, &by_push] {
        let order_id = forged["subject"].as_str().expect("subject");
        let (status, body) = shop
            .as_(Caller::admin(ADMIN))
            .get(&format!("/reservations/{order_id}"))
            .send()
            .await;
        assert_eq!(status, 404, "{body}");
    }
}
