//! The `payments` component alone from the real `spin.toml`: saga commands over Redis and HTTP
//! push, answered once per order however often they come; reads by owners; the fault switch.

use serde_json::{Value, json};
use wasmshop_tests::client::Caller;
use wasmshop_tests::ids::{ADMIN, ALICE, BOB, new_id};
use wasmshop_tests::{Wasmshop, envelope, json};

fn authorize(order_id: &str, token: &str, amount: i64) -> Value {
    envelope(
        "payment.authorize",
        "orders",
        order_id,
        Some(order_id),
        &json!({ "order_id": order_id, "user_id": ALICE, "amount": { "amount": amount, "currency": "EUR" },
            "payment_token": token }),
    )
}

fn command(event_type: &str, order_id: &str) -> Value {
    envelope(
        event_type,
        "orders",
        order_id,
        Some(order_id),
        &json!({ "order_id": order_id, "reason": null }),
    )
}

fn data(reply: &Value) -> Value {
    serde_json::from_str(reply["data"].as_str().expect("data")).expect("payload")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_move_money_once_per_order() {
    let shop = Wasmshop::component("payments").start().await.expect("boot");
    let order = new_id();
    let replies = shop
        .exchange(
            "payments",
            &[
                authorize(&order, "tok_visa", 2_500),
                authorize(&order, "tok_visa", 2_500),
                command("payment.capture", &order),
                command("payment.capture", &order),
                command("payment.void", &order),
                command("payment.refund", &order),
                command("payment.refund", &order),
            ],
        )
        .await;
    let types: Vec<&str> = replies
        .iter()
        .filter_map(|r| r["event_type"].as_str())
        .collect();
    assert_eq!(
        types,
        [
            "payment.authorized",
            "payment.authorized",
            "payment.captured",
            "payment.captured",
            "payment.failed",
            "payment.refunded",
            "payment.refunded"
        ]
    );
    assert_eq!(
        data(&replies[4])["code"],
        "invalid_state",
        "a captured payment is refunded, not voided"
    );
    let (status, page) = shop
        .as_(Caller::customer(ALICE))
        .get(&format!("/payments?order_id={order}"))
        .send()
        .await;
    assert_eq!(status, 200, "{page}");
    let payment = &page["items"][0];
    assert_eq!(
        (
            payment["status"].as_str(),
            payment["captured_amount"].as_i64(),
            payment["refunded_amount"].as_i64()
        ),
        (Some("refunded"), Some(2_500), Some(2_500)),
        "{payment}"
    );
    let operations: Vec<&str> = payment["history"]
        .as_array()
        .expect("history")
        .iter()
        .filter_map(|o| o["operation"].as_str())
        .collect();
    assert_eq!(
        operations,
        ["authorize", "capture", "void", "refund"],
        "one effect each: {payment}"
    );
    assert!(
        payment.get("payment_token").is_none(),
        "the token never comes back"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_tokens_and_limits_answer_deterministically() {
    let shop = Wasmshop::component("payments").start().await.expect("boot");
    let cases = [
        ("tok_declined", 1_000, "card_declined", false),
        ("tok_insufficient_funds", 1_000, "insufficient_funds", false),
        ("tok_bogus", 1_000, "invalid_token", false),
        ("tok_visa", 500_001, "amount_limit_exceeded", false),
        ("tok_flaky", 1_000, "provider_error", true),
    ];
    for (token, amount, code, retryable) in cases {
        let order = new_id();
        let reply = &shop
            .exchange("payments", &[authorize(&order, token, amount)])
            .await[0];
        assert_eq!(reply["event_type"], "payment.failed", "{token}");
        let failure = data(reply);
        assert_eq!(
            (failure["code"].as_str(), failure["retryable"].as_bool()),
            (Some(code), Some(retryable)),
            "{token}"
        );
    }
    // tok_flaky: two provider errors, then approved; a decline is replayed, never retried.
    let order = new_id();
    let replies = shop
        .exchange(
            "payments",
            &[
                authorize(&order, "tok_flaky", 900),
                authorize(&order, "tok_flaky", 900),
                authorize(&order, "tok_flaky", 900),
                authorize(&order, "tok_flaky", 900),
            ],
        )
        .await;
    let types: Vec<&str> = replies
        .iter()
        .filter_map(|r| r["event_type"].as_str())
        .collect();
    assert_eq!(
        types,
        [
            "payment.failed",
            "payment.failed",
            "payment.authorized",
            "payment.authorized"
        ]
    );

    // A void that overtakes its authorize leaves a tombstone: the late authorize is refused.
    let order = new_id();
    let replies = shop
        .exchange(
            "payments",
            &[
                command("payment.void", &order),
                authorize(&order, "tok_visa", 700),
            ],
        )
        .await;
    assert_eq!(replies[0]["event_type"], "payment.voided");
    assert_eq!(data(&replies[1])["code"], "order_voided");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_are_owned_and_refunds_are_for_admins() {
    let shop = Wasmshop::component("payments").start().await.expect("boot");
    let order = new_id();
    shop.exchange(
        "payments",
        &[
            authorize(&order, "tok_visa", 1_200),
            command("payment.capture", &order),
        ],
    )
    .await;
    let (_, page) = shop
        .as_(Caller::customer(ALICE))
        .get("/payments")
        .send()
        .await;
    let id = page["items"][0]["id"].as_str().expect("id").to_owned();
    assert_eq!(page["total"], 1);

    let (status, _) = shop
        .as_(Caller::customer(ALICE))
        .get(&format!("/payments/{id}"))
        .send()
        .await;
    assert_eq!(status, 200);
    let (status, body) = shop
        .as_(Caller::customer(BOB))
        .get(&format!("/payments/{id}"))
        .send()
        .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (404, &json!("not_found")),
        "another's payment is invisible"
    );
    let (_, page) = shop
        .as_(Caller::customer(BOB))
        .get("/payments")
        .send()
        .await;
    assert_eq!(page["total"], 0);
    let (_, page) = shop.as_(Caller::admin(ADMIN)).get("/payments").send().await;
    assert_eq!(page["total"], 1, "admins see all");
    let (status, _) = shop.as_(Caller::Anonymous).get("/payments").send().await;
    assert_eq!(status, 401);
    let (status, body) = shop
        .as_(Caller::customer(ALICE))
        .get("/payments?limit=0")
        .send()
        .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (422, &json!("invalid_input")),
        "{body}"
    );
    let (status, _) = shop
        .as_(Caller::customer(ALICE))
        .get("/payments?page=x")
        .send()
        .await;
    assert_eq!(status, 400);
    let (status, _) = shop
        .as_(Caller::customer(ALICE))
        .delete(&format!("/payments/{id}"))
        .send()
        .await;
    assert_eq!(status, 405);

    let refund = format!("/admin/payments/{id}/refund");
    let (status, _) = shop.as_(Caller::customer(ALICE)).post(&refund).send().await;
    assert_eq!(status, 403);
    let events = shop.subscribe("payments.events", 1).expect("subscribe");
    let (status, payment) = shop.as_(Caller::admin(ADMIN)).post(&refund).send().await;
    assert_eq!(
        (status, &payment["status"]),
        (200, &json!("refunded")),
        "{payment}"
    );
    assert_eq!(events.received().await[0]["event_type"], "payment.refunded");
    let (status, payment) = shop.as_(Caller::admin(ADMIN)).post(&refund).send().await;
    assert_eq!(
        (status, &payment["refunded_amount"]),
        (200, &json!(1_200)),
        "refunding twice refunds once"
    );
    let (status, _) = shop
        .as_(Caller::admin(ADMIN))
        .post(&format!("/admin/payments/{}/refund", new_id()))
        .send()
        .await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fault_switch_fails_the_provider_transiently() {
    let shop = Wasmshop::component("payments")
        .variables(&[("payments_fault", "error")])
        .start()
        .await
        .expect("boot");
    let order = new_id();
    let replies = shop
        .exchange(
            "payments",
            &[
                authorize(&order, "tok_visa", 1_000),
                command("payment.void", &order),
            ],
        )
        .await;
    let failure = data(&replies[0]);
    assert_eq!(
        (failure["code"].as_str(), failure["retryable"].as_bool()),
        (Some("provider_error"), Some(true))
    );
    assert_eq!(
        replies[1]["event_type"], "payment.voided",
        "compensations still work"
    );
    let (status, body) = shop
        .as_(Caller::customer(ALICE))
        .get("/payments")
        .send()
        .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (503, &json!("provider_unavailable"))
    );
    let (status, _) = shop.as_(Caller::Anonymous).get("/health").send().await;
    assert_eq!(status, 200);

    // Over HTTP push too, and a command it does not know is a dead letter.
    let push = |body: Value| {
        let client = shop.client.clone();
        let url = shop.url("/events");
        async move { json(client.post(url).json(&body).send().await.expect("push")).await }
    };
    let (status, outcome) = push(command("payment.teleport", &order)).await;
    assert_eq!(
        (status, &outcome["outcome"]),
        (202, &json!("dead_lettered"))
    );
    let (status, letters) = shop
        .as_(Caller::admin(ADMIN))
        .get("/admin/dead-letters")
        .send()
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        letters["items"].as_array().map(Vec::len),
        Some(1),
        "{letters}"
    );

    // Nobody awaits a capture (the saga sends it with the confirmation), so during the outage
    // it waits in the dead letters to be retried instead of answering a failure: a payment
    // authorized before the outage stays authorized.
    let authorized = new_id();
    rusqlite::Connection::open(shop.state_dir().join("payments.db"))
        .expect("payments.db")
        .execute(
            "INSERT INTO payments (id, order_id, user_id, amount, currency, token_kind, status, created_at, updated_at)
             VALUES (?1, ?2, ?3, 1000, 'EUR', 'visa', 'authorized', ?4, ?4)",
            rusqlite::params![new_id(), authorized, ALICE, "2026-11-29T12:00:00.000Z"],
        )
        .expect("a payment authorized before the outage");
    let (status, outcome) = push(command("payment.capture", &authorized)).await;
    assert_eq!((status, &outcome["outcome"]), (202, &json!("deferred")));
    let (_, letters) = shop
        .as_(Caller::admin(ADMIN))
        .get("/admin/dead-letters?status=retrying")
        .send()
        .await;
    assert_eq!(
        letters["items"][0]["event_type"], "payment.capture",
        "{letters}"
    );
    let replies = shop
        .exchange("payments", &[command("payment.void", &authorized)])
        .await;
    assert_eq!(
        replies[0]["event_type"], "payment.voided",
        "still authorized, so voidable: {replies:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wit_api_reads_and_refunds_as_http_does() {
    use wasmshop_tests::bindings::payments::exports::wasmshop::payments::api::Error as ApiError;
    use wasmshop_tests::bindings::payments::wasmshop::payments::types::PaymentStatus;

    let shop = Wasmshop::component("payments").start().await.expect("boot");
    let (captured, declined) = (new_id(), new_id());
    shop.exchange(
        "payments",
        &[
            authorize(&captured, "tok_visa", 4_200),
            command("payment.capture", &captured),
            authorize(&declined, "tok_declined", 900),
        ],
    )
    .await;
    let (mut store, payments) = shop.payments_api().await.expect("instance");
    let api = payments.wasmshop_payments_api();

    let page = api
        .call_list_payments(&mut store, Some(ALICE), None, 1, 10)
        .await
        .expect("call")
        .expect("list");
    assert_eq!((page.total, page.page, page.limit), (2, 1, 10));
    let mine = api
        .call_list_payments(&mut store, Some(ALICE), Some(&captured), 1, 10)
        .await
        .expect("call")
        .expect("list");
    assert_eq!(mine.total, 1);
    let payment = &mine.items[0];
    assert_eq!(
        (
            payment.status,
            payment.amount.amount,
            payment.captured_amount
        ),
        (PaymentStatus::Captured, 4_200, 4_200)
    );
    let operations: Vec<&str> = payment
        .history
        .iter()
        .map(|o| o.operation.as_str())
        .collect();
    assert_eq!(operations, ["authorize", "capture"]);

    // The HTTP door shows the same payment.
    let (status, body) = shop
        .as_(Caller::customer(ALICE))
        .get(&format!("/payments/{}", payment.id))
        .send()
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "captured");
    assert_eq!(body["id"].as_str(), Some(payment.id.as_str()));

    let declined_page = api
        .call_list_payments(&mut store, None, Some(&declined), 1, 10)
        .await
        .expect("call")
        .expect("operator list");
    assert_eq!(
        declined_page.items[0].failure_code.as_deref(),
        Some("card_declined")
    );
    assert!(matches!(
        api.call_get_payment(&mut store, Some(BOB), &payment.id)
            .await
            .expect("call"),
        Err(ApiError::NotFound)
    ));
    let Err(ApiError::InvalidInput(fields)) = api
        .call_list_payments(&mut store, Some(ALICE), None, 0, 101)
        .await
        .expect("call")
    else {
        panic!("page 0, limit 101 accepted");
    };
    assert_eq!(fields.len(), 2);
    assert!(matches!(
        api.call_get_payment(&mut store, Some(" "), &payment.id)
            .await
            .expect("call"),
        Err(ApiError::InvalidInput(_))
    ));

    let refunded = api
        .call_refund(&mut store, &payment.id)
        .await
        .expect("call")
        .expect("refund");
    assert_eq!(
        (refunded.status, refunded.refunded_amount),
        (PaymentStatus::Refunded, 4_200)
    );
    let again = api
        .call_refund(&mut store, &payment.id)
        .await
        .expect("call")
        .expect("refund again");
    assert_eq!(again.refunded_amount, 4_200, "refunding twice refunds once");
    let voided_id = &declined_page.items[0].id;
    assert!(matches!(
        api.call_refund(&mut store, voided_id).await.expect("call"),
        Err(ApiError::NotCaptured(PaymentStatus::Declined))
    ));
}

/// The schema's version is read from the file's header on every open; a database migrated by a
/// version that kept it only in `schema_migrations` learns it once, and nothing is applied
/// twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_migrated_before_the_header_kept_its_version_is_not_migrated_again() {
    let shop = Wasmshop::component("payments").start().await.expect("boot");
    let order = new_id();
    let replies = shop
        .exchange("payments", &[authorize(&order, "tok_visa", 1_200)])
        .await;
    assert_eq!(replies[0]["event_type"], "payment.authorized");
    let database =
        rusqlite::Connection::open(shop.state_dir().join("payments.db")).expect("payments.db");
    let versions = |db: &rusqlite::Connection| -> (i64, i64, i64) {
        let header = db
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .expect("user_version");
        let (latest, steps) = db
            .query_row(
                "SELECT MAX(version), COUNT(*) FROM schema_migrations",
                [],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .expect("schema_migrations");
        (header, latest, steps)
    };
    let (header, latest, steps) = versions(&database);
    assert!(latest > 1, "{latest}");
    assert_eq!(
        header, latest,
        "a new database keeps its version in the header"
    );

    database
        .execute_batch("PRAGMA user_version = 0")
        .expect("as an earlier version left it");
    let replies = shop
        .exchange("payments", &[command("payment.capture", &order)])
        .await;
    assert_eq!(replies[0]["event_type"], "payment.captured");
    assert_eq!(versions(&database), (latest, latest, steps));
}
