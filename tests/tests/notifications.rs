//! The `notifications` component alone from the real `spin.toml`: events become notifications
//! once each, per template and channel; other facts are ignored and foreign messages kept as
//! dead letters; reading is the owner's; the exported WIT api; the webhook with its retries.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wasmshop_tests::bindings::notifications::exports::wasmshop::notifications::api::Error as ApiError;
use wasmshop_tests::bindings::notifications::wasmshop::notifications::types::{
    Channel, DeliveryStatus,
};
use wasmshop_tests::client::Caller;
use wasmshop_tests::ids::{ADMIN, ALICE, BOB};
use wasmshop_tests::recorder::{Calls, recording_endpoint};
use wasmshop_tests::{Wasmshop, envelope, json};

const CUSTOMER: &str = "customer";

/// The HTTP-push transport: applied before it answers, so its outcome is the message's.
async fn push(shop: &Wasmshop, event: &Value) -> String {
    let (status, body) = json(
        shop.client
            .post(shop.url("/events"))
            .json(event)
            .send()
            .await
            .expect("push"),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    body["outcome"].as_str().unwrap_or_default().to_owned()
}

/// `user`'s notifications once there are at least `count` (or after 10 s, whatever there is).
async fn notifications(shop: &Wasmshop, user: &str, count: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, page) = shop
            .as_(Caller::customer(user))
            .get("/notifications?limit=100")
            .send()
            .await;
        assert_eq!(status, 200, "{page}");
        let items = page["items"].as_array().cloned().unwrap_or_default();
        if items.len() >= count || Instant::now() > deadline {
            return items;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `GET path` as Alice.
async fn alices(shop: &Wasmshop, path: &str) -> (u16, Value) {
    shop.as_(Caller::customer(ALICE)).get(path).send().await
}

fn by<'a>(items: &'a [Value], template: &str) -> &'a Value {
    items
        .iter()
        .find(|n| n["template"] == template)
        .unwrap_or_else(|| panic!("no {template} in {items:?}"))
}

fn text<'a>(value: &'a Value, field: &str) -> &'a str {
    value[field].as_str().unwrap_or_default()
}

/// `channel:status` of each delivery, in order.
fn channels(notification: &Value) -> Vec<String> {
    notification["deliveries"]
        .as_array()
        .expect("deliveries")
        .iter()
        .map(|d| format!("{}:{}", text(d, "channel"), text(d, "status")))
        .collect()
}

fn registered(user: &str, email: &str, name: &str) -> Value {
    envelope(
        "user.registered",
        "users",
        user,
        None,
        &json!({ "user_id": user, "email": email, "name": name }),
    )
}

fn order_event(event_type: &str, user: &str, reason: Option<&str>) -> Value {
    let order = uuid::Uuid::now_v7().to_string();
    envelope(
        event_type,
        "orders",
        &order,
        Some(&order),
        &json!({ "order_id": order, "user_id": user,
            "status": event_type.trim_start_matches("order."),
            "total": { "amount": 6_989, "currency": "EUR" }, "reason": reason }),
    )
}

fn payment_failed(user: &str, code: &str, retryable: bool) -> Value {
    let order = uuid::Uuid::now_v7().to_string();
    envelope(
        "payment.failed",
        "payments",
        &order,
        Some(&order),
        &json!({ "order_id": order, "user_id": user, "code": code,
            "reason": "the card was declined", "retryable": retryable }),
    )
}

fn shipment_event(event_type: &str, user: &str, status: &str) -> Value {
    let order = uuid::Uuid::now_v7().to_string();
    envelope(
        event_type,
        "shipping",
        &order,
        Some(&order),
        &json!({ "shipment_id": uuid::Uuid::now_v7().to_string(), "order_id": order,
            "user_id": user, "tracking_number": "WS0000000000AB", "status": status,
            "previous_status": "picked" }),
    )
}

fn contact_name(shop: &Wasmshop, user: &str) -> Option<String> {
    let db = rusqlite::Connection::open_with_flags(
        shop.state_dir().join("notifications.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("notifications.db");
    db.query_row(
        "SELECT name FROM contacts WHERE user_id = ?",
        [user],
        |row| row.get(0),
    )
    .ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_event_becomes_one_notification_per_template() {
    let shop = Wasmshop::component("notifications")
        .start()
        .await
        .expect("boot");
    let welcome = registered(ALICE, "alice@example.com", "Alice");
    // The contact first: deliveries by email need the address the welcome event brings.
    shop.publish("users.events", &welcome).expect("publish");
    assert_eq!(notifications(&shop, ALICE, 1).await.len(), 1);

    let confirmed = order_event("order.confirmed", ALICE, None);
    let cancelled = order_event(
        "order.cancelled",
        ALICE,
        Some("payment declined: card_declined"),
    );
    let failed = order_event("order.failed", ALICE, Some("payment step out of attempts"));
    let declined = payment_failed(ALICE, "card_declined", false);
    let transient = payment_failed(ALICE, "provider_error", true);
    let shipped = shipment_event("shipment.status-changed", ALICE, "in_transit");
    let created = shipment_event("shipment.created", ALICE, "created");
    // Bob never registered here: no address to email.
    let bobs = order_event("order.confirmed", BOB, None);
    for (channel, event) in [
        ("orders.events", &confirmed),
        ("orders.events", &cancelled),
        ("orders.events", &failed),
        ("payments.events", &declined),
        ("payments.events", &transient),
        ("shipping.events", &shipped),
        ("shipping.events", &created),
        ("orders.events", &bobs),
        // The same events again: redeliveries change nothing.
        ("orders.events", &confirmed),
        ("users.events", &welcome),
        ("shipping.events", &shipped),
    ] {
        assert_eq!(
            shop.publish(channel, event).expect("publish"),
            1,
            "{channel}"
        );
    }
    let items = notifications(&shop, ALICE, 6).await;
    // Once more over HTTP push: acknowledged as a duplicate, synchronously.
    assert_eq!(push(&shop, &cancelled).await, "duplicate");
    assert_eq!(push(&shop, &welcome).await, "duplicate");

    let mut templates: Vec<&str> = items.iter().map(|n| text(n, "template")).collect();
    templates.sort_unstable();
    assert_eq!(
        templates,
        [
            "order_cancelled",
            "order_confirmed",
            "order_failed",
            "payment_failed",
            "shipment_status",
            "welcome"
        ],
        "{items:?}"
    );
    let welcome_note = by(&items, "welcome");
    assert_eq!(text(welcome_note, "subject"), "Welcome to wasmshop");
    assert!(text(welcome_note, "body").contains("Hello Alice"));
    assert_eq!(text(welcome_note, "user_id"), ALICE);
    assert!(welcome_note["read_at"].is_null());
    let confirmed_id = text(&confirmed, "subject");
    let confirmed_note = by(&items, "order_confirmed");
    assert_eq!(text(confirmed_note, "subject_id"), confirmed_id);
    assert!(
        text(confirmed_note, "body").contains("EUR 69.89")
            && text(confirmed_note, "body").contains(confirmed_id),
        "{confirmed_note}"
    );
    assert!(
        text(by(&items, "order_cancelled"), "body").contains("payment declined: card_declined")
    );
    assert!(text(by(&items, "order_failed"), "body").contains("payment step out of attempts"));
    assert!(text(by(&items, "payment_failed"), "body").contains("the card was declined"));
    let shipped_note = by(&items, "shipment_status");
    assert_eq!(text(shipped_note, "subject"), "Your parcel is in transit");
    assert!(text(shipped_note, "body").contains("WS0000000000AB"));

    // The channel table, every simulated delivery recorded.
    let table: Vec<(&str, Vec<String>)> = [
        "welcome",
        "order_confirmed",
        "order_cancelled",
        "order_failed",
        "payment_failed",
        "shipment_status",
    ]
    .into_iter()
    .map(|t| (t, channels(by(&items, t))))
    .collect();
    let expected: Vec<(&str, Vec<String>)> = [
        ("welcome", vec!["email:delivered"]),
        ("order_confirmed", vec!["email:delivered", "push:delivered"]),
        ("order_cancelled", vec!["email:delivered"]),
        ("order_failed", vec!["email:delivered"]),
        ("payment_failed", vec!["email:delivered", "sms:delivered"]),
        ("shipment_status", vec!["push:delivered", "email:delivered"]),
    ]
    .into_iter()
    .map(|(t, c)| (t, c.into_iter().map(String::from).collect()))
    .collect();
    assert_eq!(table, expected);
    let delivery = &by(&items, "order_confirmed")["deliveries"][0];
    assert_eq!(
        (delivery["attempts"].as_i64(), &delivery["last_error"]),
        (Some(1), &Value::Null)
    );

    // Without a known address the email is skipped, the push still goes out.
    let bob = notifications(&shop, BOB, 1).await;
    assert_eq!(bob.len(), 1);
    assert_eq!(
        channels(&bob[0]),
        ["email:skipped", "push:delivered"],
        "{}",
        bob[0]
    );
    assert_eq!(bob[0]["deliveries"][0]["last_error"], "no_contact");
    assert_eq!(bob[0]["deliveries"][0]["attempts"], 0);

    // A profile update renames the contact notifications keeps.
    let renamed = envelope(
        "user.profile-updated",
        "users",
        ALICE,
        None,
        &json!({ "user_id": ALICE, "name": "Alice Liddell" }),
    );
    assert_eq!(contact_name(&shop, ALICE).as_deref(), Some("Alice"));
    assert_eq!(push(&shop, &renamed).await, "applied");
    assert_eq!(contact_name(&shop, ALICE).as_deref(), Some("Alice Liddell"));

    // Every redelivery above has long been handled: still one notification each.
    let (_, page) = shop
        .as_(Caller::customer(ALICE))
        .get("/notifications")
        .send()
        .await;
    assert_eq!(page["total"], 6, "{page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_facts_are_ignored_and_foreign_messages_dead_lettered() {
    let shop = Wasmshop::component("notifications")
        .start()
        .await
        .expect("boot");
    assert_eq!(
        push(&shop, &registered(ALICE, "alice@example.com", "Alice")).await,
        "applied"
    );
    // Facts of the channels notifications reads that tell the customer nothing: those whose
    // data decides it go through the inbox; the types that never matter are acknowledged
    // without one.
    let order = uuid::Uuid::now_v7().to_string();
    for event in [
        payment_failed(ALICE, "provider_error", true),
        payment_failed(ALICE, "order_voided", false),
    ] {
        assert_eq!(push(&shop, &event).await, "applied", "{event}");
    }
    for event in [
        order_event("order.created", ALICE, None),
        envelope(
            "payment.authorized",
            "payments",
            &order,
            Some(&order),
            &json!({ "payment_id": order, "order_id": order, "user_id": ALICE,
                "amount": { "amount": 100, "currency": "EUR" }, "status": "authorized" }),
        ),
        shipment_event("shipment.created", ALICE, "created"),
        shipment_event("shipment.cancelled", ALICE, "cancelled"),
    ] {
        assert_eq!(push(&shop, &event).await, "ignored", "{event}");
    }
    let (_, page) = shop
        .as_(Caller::customer(ALICE))
        .get("/notifications")
        .send()
        .await;
    assert_eq!(page["total"], 1, "{page}");
    assert_eq!(page["items"][0]["template"], "welcome");

    // What cannot be on these channels, or cannot be read, is kept for an operator.
    let stock_low = envelope(
        "stock.low",
        "catalog",
        "p",
        None,
        &json!({ "product_id": "p", "available": 1, "threshold": 5 }),
    );
    let command = envelope(
        "payment.authorize",
        "orders",
        &order,
        Some(&order),
        &json!({ "order_id": order }),
    );
    let mut broken = order_event("order.confirmed", ALICE, None);
    broken["data"] = json!("{\"order_id\": 42}");
    for event in [&stock_low, &command, &broken] {
        assert_eq!(push(&shop, event).await, "dead_lettered", "{event}");
    }
    let (status, dead) = shop
        .as_(Caller::admin(ADMIN))
        .get("/admin/dead-letters?status=dead")
        .send()
        .await;
    assert_eq!(status, 200, "{dead}");
    let mut kept: Vec<&str> = dead["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|d| text(d, "event_type"))
        .collect();
    kept.sort_unstable();
    assert_eq!(kept, ["order.confirmed", "payment.authorize", "stock.low"]);
    let (_, page) = shop
        .as_(Caller::customer(ALICE))
        .get("/notifications")
        .send()
        .await;
    assert_eq!(page["total"], 1, "{page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reading_is_the_owners() {
    let shop = Wasmshop::component("notifications")
        .start()
        .await
        .expect("boot");
    let (status, health) = shop.as_(Caller::Anonymous).get("/health").send().await;
    assert_eq!((status, health), (200, json!({ "status": "ok" })));

    push(&shop, &registered(ALICE, "alice@example.com", "Alice")).await;
    push(&shop, &registered(BOB, "bob@example.com", "Bob")).await;
    let events = [
        order_event("order.confirmed", ALICE, None),
        order_event("order.cancelled", ALICE, Some("changed my mind")),
        shipment_event("shipment.status-changed", ALICE, "delivered"),
    ];
    for event in &events {
        assert_eq!(push(&shop, event).await, "applied");
    }

    // Newest first, paginated.
    let (status, all) = alices(&shop, "/notifications").await;
    assert_eq!(status, 200, "{all}");
    assert_eq!(
        (&all["total"], &all["page"], &all["limit"]),
        (&json!(4), &json!(1), &json!(20))
    );
    let templates: Vec<&str> = all["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|n| text(n, "template"))
        .collect();
    assert_eq!(
        templates,
        [
            "shipment_status",
            "order_cancelled",
            "order_confirmed",
            "welcome"
        ]
    );
    let (_, second) = alices(&shop, "/notifications?page=2&limit=3").await;
    assert_eq!((&second["total"], &second["page"]), (&json!(4), &json!(2)));
    assert_eq!(second["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(second["items"][0]["template"], "welcome");
    let (_, beyond) = alices(&shop, "/notifications?page=9").await;
    assert_eq!(
        (&beyond["total"], beyond["items"].as_array().map(Vec::len)),
        (&json!(4), Some(0))
    );

    // Reading: the owner's only, idempotent.
    let id = text(&all["items"][1], "id").to_owned();
    let path = format!("/notifications/{id}/read");
    let (status, body) = shop.as_(Caller::customer(BOB)).post(&path).send().await;
    assert_eq!((status, &body["error"]["code"]), (404, &json!("not_found")));
    let (status, read) = shop.as_(Caller::customer(ALICE)).post(&path).send().await;
    assert_eq!(status, 200, "{read}");
    assert_eq!(
        (text(&read, "id"), text(&read, "template")),
        (id.as_str(), "order_cancelled")
    );
    let read_at = read["read_at"].as_str().expect("read_at").to_owned();
    assert_eq!(channels(&read), ["email:delivered"]);
    let (status, again) = shop.as_(Caller::customer(ALICE)).post(&path).send().await;
    assert_eq!((status, text(&again, "read_at")), (200, read_at.as_str()));
    let (_, unread) = alices(&shop, "/notifications?unread=true").await;
    assert_eq!(unread["total"], 3, "{unread}");
    assert!(
        unread["items"]
            .as_array()
            .expect("items")
            .iter()
            .all(|n| n["id"] != id.as_str() && n["read_at"].is_null())
    );
    let (_, everything) = alices(&shop, "/notifications?unread=false").await;
    assert_eq!(everything["total"], 4);
    // Bob's list does not show Alice's.
    let (_, bobs) = shop
        .as_(Caller::customer(BOB))
        .get("/notifications")
        .send()
        .await;
    assert_eq!(bobs["total"], 1);
    assert_eq!(bobs["items"][0]["user_id"], BOB);
    for missing in [uuid::Uuid::now_v7().to_string(), "not-an-id".to_owned()] {
        let (status, _) = shop
            .as_(Caller::customer(ALICE))
            .post(&format!("/notifications/{missing}/read"))
            .send()
            .await;
        assert_eq!(status, 404, "{missing}");
    }

    // Admin: anyone's, filtered by user.
    let admin = Some((ADMIN, "admin"));
    let (status, page) = shop
        .as_(admin)
        .get(&format!("/admin/notifications?user_id={ALICE}"))
        .send()
        .await;
    assert_eq!((status, &page["total"]), (200, &json!(4)), "{page}");
    let (_, page) = shop.as_(admin).get("/admin/notifications").send().await;
    assert_eq!(page["total"], 5);
    let (_, page) = shop
        .as_(admin)
        .get("/admin/notifications?unread=true&limit=1")
        .send()
        .await;
    assert_eq!(
        (&page["total"], page["items"].as_array().map(Vec::len)),
        (&json!(4), Some(1))
    );

    // Bad input.
    for (path, who, expected) in [
        ("/notifications", None, 401),
        ("/notifications/x/read", None, 401),
        ("/admin/notifications", Some((BOB, CUSTOMER)), 403),
        ("/admin/notifications", None, 401),
        ("/notifications?page=x", Some((ALICE, CUSTOMER)), 400),
        ("/notifications?limit=-1", Some((ALICE, CUSTOMER)), 400),
        (
            "/notifications?limit=99999999999",
            Some((ALICE, CUSTOMER)),
            400,
        ),
        ("/notifications?unread=maybe", Some((ALICE, CUSTOMER)), 400),
        ("/notifications?page=0", Some((ALICE, CUSTOMER)), 422),
        ("/notifications?limit=0", Some((ALICE, CUSTOMER)), 422),
        ("/notifications?limit=101", Some((ALICE, CUSTOMER)), 422),
        (
            "/admin/notifications?user_id=bob",
            Some((ADMIN, "admin")),
            400,
        ),
        ("/admin/notifications?limit=x", Some((ADMIN, "admin")), 400),
    ] {
        let method = if path.ends_with("/read") {
            "POST"
        } else {
            "GET"
        };
        let (status, body) = shop.as_(who).method(method, path).send().await;
        assert_eq!(status, expected, "{method} {path}: {body}");
        assert!(body["error"]["code"].is_string(), "{path}: {body}");
    }
    let (_, body) = alices(&shop, "/notifications?limit=0&page=0").await;
    let mut fields: Vec<&str> = body["error"]["details"]["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .map(|f| text(f, "field"))
        .collect();
    fields.sort_unstable();
    assert_eq!(fields, ["limit", "page"]);
    for (method, path, allow) in [
        ("DELETE", "/notifications", "GET"),
        ("POST", "/admin/notifications", "GET"),
        ("GET", &path as &str, "POST"),
    ] {
        let response = shop
            .client
            .request(method.parse().expect("method"), shop.url(path))
            .header("x-user-id", ALICE)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 405, "{method} {path}");
        assert_eq!(
            response
                .headers()
                .get("allow")
                .and_then(|v| v.to_str().ok()),
            Some(allow)
        );
    }
    let (status, _) = alices(&shop, "/nowhere").await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wit_api_lists_and_marks_read() {
    let shop = Wasmshop::component("notifications")
        .start()
        .await
        .expect("boot");
    push(&shop, &registered(ALICE, "alice@example.com", "Alice")).await;
    push(&shop, &order_event("order.confirmed", ALICE, None)).await;
    push(&shop, &payment_failed(ALICE, "insufficient_funds", false)).await;

    let (mut store, notifications) = shop.notifications_api().await.expect("instance");
    let api = notifications.wasmshop_notifications_api();

    let page = api
        .call_list(&mut store, ALICE, 1, 10, false)
        .await
        .expect("call")
        .expect("list");
    assert_eq!((page.total, page.page, page.limit), (3, 1, 10));
    let templates: Vec<&str> = page.items.iter().map(|n| n.template.as_str()).collect();
    assert_eq!(templates, ["payment_failed", "order_confirmed", "welcome"]);
    let failed = &page.items[0];
    assert_eq!(
        failed
            .deliveries
            .iter()
            .map(|d| (d.channel, d.status, d.attempts))
            .collect::<Vec<_>>(),
        [
            (Channel::Email, DeliveryStatus::Delivered, 1),
            (Channel::Sms, DeliveryStatus::Delivered, 1)
        ]
    );
    assert!(failed.read_at.is_none());

    let read = api
        .call_mark_read(&mut store, ALICE, &failed.id)
        .await
        .expect("call")
        .expect("mark read");
    assert!(read.read_at.is_some());
    let again = api
        .call_mark_read(&mut store, ALICE, &failed.id)
        .await
        .expect("call")
        .expect("mark read");
    assert_eq!(again.read_at, read.read_at);
    let unread = api
        .call_list(&mut store, ALICE, 1, 10, true)
        .await
        .expect("call")
        .expect("list");
    assert_eq!(unread.total, 2);

    assert!(matches!(
        api.call_mark_read(&mut store, BOB, &failed.id)
            .await
            .expect("call"),
        Err(ApiError::NotFound)
    ));
    let Err(ApiError::InvalidInput(fields)) = api
        .call_list(&mut store, ALICE, 0, 500, false)
        .await
        .expect("call")
    else {
        panic!("page 0, limit 500 accepted");
    };
    let mut fields: Vec<String> = fields.into_iter().map(|f| f.field).collect();
    fields.sort_unstable();
    assert_eq!(fields, ["limit", "page"]);
    let bobs = api
        .call_list(&mut store, BOB, 1, 10, false)
        .await
        .expect("call")
        .expect("list");
    assert_eq!(bobs.total, 0);
}

fn webhook(items: &[Value]) -> Option<Value> {
    items.first()?["deliveries"]
        .as_array()?
        .iter()
        .find(|d| d["channel"] == "webhook")
        .cloned()
}

/// Alice's only notification's webhook delivery, once it has left `pending`.
async fn settled_webhook(shop: &Wasmshop) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let delivery = webhook(&notifications(shop, ALICE, 1).await).expect("a webhook delivery");
        if delivery["status"] != "pending" || Instant::now() > deadline {
            return delivery;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Notifications alone, with a webhook the manifest allows, answering `statuses` in turn.
async fn with_webhook(statuses: Vec<u16>) -> (Wasmshop, Calls) {
    let (origin, calls) = recording_endpoint(statuses).await.expect("webhook");
    let url = format!("{origin}/hooks/wasmshop");
    let shop = Wasmshop::component("notifications")
        .variables(&[
            ("notification_webhook_url", &url),
            ("notification_webhook_origin", &origin),
        ])
        .start()
        .await
        .expect("boot");
    (shop, calls)
}

/// A webhook that fails its first call: the delivery is recorded failed, then retried by the
/// recovery tick and recorded delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_deliveries_are_recorded_and_retried() {
    let (shop, bodies) = with_webhook(vec![500, 204]).await;
    let confirmed = order_event("order.confirmed", ALICE, None);
    shop.publish("orders.events", &confirmed).expect("publish");

    // The attempt follows the message's commit, with no tick: wait until it is recorded.
    let first = settled_webhook(&shop).await;
    assert_eq!(
        (first["status"].as_str(), first["attempts"].as_i64()),
        (Some("failed"), Some(1)),
        "{first}"
    );
    assert_eq!(first["last_error"], "webhook answered 500");
    let items = notifications(&shop, ALICE, 1).await;
    assert_eq!(
        channels(&items[0]),
        ["email:skipped", "push:delivered", "webhook:failed"]
    );

    // Not due yet: a tick now sends nothing.
    let (status, report) = shop
        .as_(Caller::Anonymous)
        .post("/admin/recovery")
        .send()
        .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["context"]["webhooks_attempted"], 0, "{report}");
    // The retry is due 1 s after the failure; the recovery tick sends it.
    let deadline = Instant::now() + Duration::from_secs(10);
    let report = loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let (status, report) = shop
            .as_(Caller::Anonymous)
            .post("/admin/recovery")
            .send()
            .await;
        assert_eq!(status, 200, "{report}");
        if report["context"]["webhooks_attempted"] != 0 || Instant::now() > deadline {
            break report;
        }
    };
    assert_eq!(report["context"]["webhooks_attempted"], 1, "{report}");
    let delivered = webhook(&notifications(&shop, ALICE, 1).await).expect("delivery");
    assert_eq!(
        (
            delivered["status"].as_str(),
            delivered["attempts"].as_i64(),
            &delivered["last_error"]
        ),
        (Some("delivered"), Some(2), &Value::Null),
        "{delivered}"
    );
    // Delivered is final: the next tick sends nothing again.
    let (_, report) = shop
        .as_(Caller::Anonymous)
        .post("/admin/recovery")
        .send()
        .await;
    assert_eq!(report["context"]["webhooks_attempted"], 0, "{report}");

    let bodies: Vec<Value> = bodies
        .lock()
        .expect("lock")
        .iter()
        .map(|call| call.body.clone())
        .collect();
    assert_eq!(bodies.len(), 2, "{bodies:?}");
    let note = &items[0];
    let expected = json!({ "id": note["id"], "user_id": ALICE, "template": "order_confirmed",
        "subject": note["subject"], "body": note["body"], "created_at": note["created_at"] });
    assert_eq!(bodies[0], expected);
    assert_eq!(bodies[1], expected);
}

/// A webhook host the manifest does not allow: the attempt is refused by the runtime, recorded
/// as failed, and the notification itself is unharmed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_to_a_host_not_allowed_is_recorded_failed() {
    let (origin, bodies) = recording_endpoint(vec![204]).await.expect("webhook");
    let url = format!("{origin}/hooks/wasmshop");
    // `notification_webhook_origin` keeps its default, which is not this server.
    let shop = Wasmshop::component("notifications")
        .variables(&[("notification_webhook_url", &url)])
        .start()
        .await
        .expect("boot");
    push(&shop, &registered(ALICE, "alice@example.com", "Alice")).await;
    let delivery = settled_webhook(&shop).await;
    assert_eq!(
        (delivery["status"].as_str(), delivery["attempts"].as_i64()),
        (Some("failed"), Some(1)),
        "{delivery}"
    );
    assert!(
        text(&delivery, "last_error").starts_with("webhook not reached"),
        "{delivery}"
    );
    let items = notifications(&shop, ALICE, 1).await;
    assert_eq!(channels(&items[0]), ["email:delivered", "webhook:failed"]);
    assert!(bodies.lock().expect("lock").is_empty());
}

/// A message that failed is re-driven by an operator's retry: the webhook of the notification
/// it makes goes out with the retry itself, as after any other delivery, not only when a
/// recovery tick comes by (none runs here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_dead_letter_sends_its_webhook_at_the_retry() {
    let (shop, bodies) = with_webhook(vec![204]).await;
    // Opens the database (its migrations run), so that a write can be made to fail for a while.
    let (status, page) = alices(&shop, "/notifications").await;
    assert_eq!((status, &page["total"]), (200, &json!(0)), "{page}");
    let database = rusqlite::Connection::open(shop.state_dir().join("notifications.db"))
        .expect("notifications.db");
    database
        .execute_batch(
            "CREATE TRIGGER outage BEFORE INSERT ON notifications
             BEGIN SELECT RAISE(ABORT, 'disk trouble'); END",
        )
        .expect("trigger");
    let confirmed = order_event("order.confirmed", ALICE, None);
    assert_eq!(push(&shop, &confirmed).await, "deferred");
    database
        .execute_batch("DROP TRIGGER outage")
        .expect("drop trigger");

    let id = text(&confirmed, "id");
    let (status, retried) = shop
        .as_(Caller::admin(ADMIN))
        .post(&format!("/admin/dead-letters/{id}/retry"))
        .send()
        .await;
    assert_eq!(
        (
            status,
            &retried["outcome"],
            &retried["dead_letter"]["status"]
        ),
        (200, &json!("applied"), &json!("resolved")),
        "{retried}"
    );
    // Sent before the retry answered.
    let delivery = webhook(&notifications(&shop, ALICE, 1).await).expect("a webhook delivery");
    assert_eq!(
        (delivery["status"].as_str(), delivery["attempts"].as_i64()),
        (Some("delivered"), Some(1)),
        "{delivery}"
    );
    let calls: Vec<Value> = bodies
        .lock()
        .expect("lock")
        .iter()
        .map(|call| call.body.clone())
        .collect();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0]["template"], "order_confirmed");
    assert_eq!(calls[0]["user_id"], ALICE);
}
