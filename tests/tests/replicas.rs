//! Issue #17: the app on three replicas behind HAProxy, with a real Redis and the contexts'
//! SQLite files shared in WAL mode (`wasmshop_tests::replicas::Fleet`). One fleet serves the
//! whole file (booting it is most of the file's time) and its scenarios run one after the
//! other, because each would disturb the others' figures (a killed replica loses its metrics,
//! a burst of checkouts fills the shared bulkhead):
//!
//! - the rate limit is one budget for the fleet, whichever replica a request reaches;
//! - checkouts with one idempotency key sent to every replica at once give one order;
//! - every event is handled once per consuming context, not once per replica (HTTP push keeps
//!   an event on the replica that produced it);
//! - 200 concurrent checkouts for 50 units with a replica SIGKILLed and restarted mid-run:
//!   exactly 50 confirmed, every order terminal, a retried checkout never a second order;
//! - at the end, the invariant checker over everything the fleet did.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wasmshop_tests::client::{ApiClient, address};
use wasmshop_tests::invariants;
use wasmshop_tests::replicas::Fleet;

const REPLICAS: usize = 3;
/// Writes per user and window: above what a customer of the kill run sends in a window (10
/// checkouts retried at most every `MAX_PAUSE`), so only the rate-limit scenario reaches it,
/// and a window long enough for that scenario's burst to fall in one.
const WRITE_BUDGET: usize = 300;
const WRITE_WINDOW_SECONDS: u32 = 30;
/// How long a client keeps retrying a checkout. A SIGKILLed replica's bulkhead slots stay
/// taken until their lifetime ends (twice the write timeout, 40 s), so for that long the
/// fleet takes fewer writes at once and sheds more.
const PLACE_WITHIN: Duration = Duration::from_secs(60);
const MAX_PAUSE: Duration = Duration::from_secs(2);
const TERMINAL_WITHIN: Duration = Duration::from_secs(90);
/// Handlings per event and consumer that still count as "once" (a push repeated after a
/// partial failure reaches a consumer twice, and its inbox absorbs it).
const MAX_HANDLINGS_PER_EVENT: f64 = 1.1;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_behind_a_balancer_act_as_one_shop() {
    // Where the file's time goes, for keeping it short in CI.
    let started = Instant::now();
    let budget = format!("{WRITE_BUDGET}/{WRITE_WINDOW_SECONDS}");
    let mut fleet = Fleet::start(
        REPLICAS,
        &[
            ("rate_limit_write", &budget),
            // The balancer is the proxy in front of the gateways.
            ("trusted_proxies", "127.0.0.1"),
        ],
    )
    .await
    .expect("three replicas and the balancer start");
    let http = wasmshop_tests::http_client();
    let admin = ApiClient::admin(&fleet.url(""), &http)
        .await
        .expect("admin");

    let lap = |scenario: &str| eprintln!("{scenario}: done at {:?}", started.elapsed());
    lap("fleet up");
    the_rate_limit_is_one_budget_across_replicas(&fleet, &http).await;
    lap("rate limit");
    same_key_checkouts_on_every_replica_give_one_order(&fleet, &http, &admin).await;
    lap("same key");
    events_are_handled_once_per_context(&fleet, &http, &admin).await;
    lap("handlings per event");
    checkouts_survive_a_replica_killed_mid_run(&mut fleet, &http, &admin).await;
    lap("replica killed mid-run");
    invariants::assert_hold(&fleet.shared_dir()).await;
}

/// The same user on replica `index` itself, past the balancer.
fn on_replica(client: &ApiClient, fleet: &Fleet, index: usize) -> ApiClient {
    ApiClient {
        base_url: fleet.replica_url(index),
        ..client.clone()
    }
}

fn checkout_body(product: &str) -> Value {
    json!({ "shipping_address": address(), "payment_token": "tok_visa",
        "lines": [{ "product_id": product, "quantity": 1 }] })
}

async fn register_all(
    fleet: &Fleet,
    http: &reqwest::Client,
    prefix: &str,
    count: usize,
) -> Vec<ApiClient> {
    let base_url = fleet.url("");
    futures_util::future::try_join_all((0..count).map(|n| {
        let (base_url, email) = (&base_url, format!("{prefix}{n}@example.com"));
        async move { ApiClient::register(base_url, http, &email).await }
    }))
    .await
    .expect("customers register")
}

/// The order once terminal. A poll that loses its connection (its replica was killed under
/// it) is made again, as a client would.
async fn terminal(customer: &ApiClient, id: &str) -> Value {
    let deadline = Instant::now() + TERMINAL_WITHIN;
    loop {
        match customer
            .wait_terminal(id, deadline.saturating_duration_since(Instant::now()))
            .await
        {
            Ok(order) => return order,
            Err(e) if Instant::now() >= deadline => panic!("order {id}: {e:#}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// Orders of `user_ids` in the shared orders database.
fn orders_of(fleet: &Fleet, user_ids: &[String]) -> usize {
    let conn = rusqlite::Connection::open_with_flags(
        fleet.shared_dir().join("orders.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("orders.db");
    user_ids
        .iter()
        .map(|user| {
            conn.query_row(
                "SELECT COUNT(*) FROM orders WHERE user_id = ?1",
                [user],
                |row| row.get::<_, i64>(0),
            )
            .expect("count orders")
        })
        .map(|count| usize::try_from(count).expect("a count"))
        .sum()
}

/// Writes sent in turn to each replica directly are counted against one budget: with a limit
/// per replica, every one of them would pass.
async fn the_rate_limit_is_one_budget_across_replicas(fleet: &Fleet, http: &reqwest::Client) {
    let customer = ApiClient::register(&fleet.url(""), http, "budget@example.com")
        .await
        .expect("customer");
    let replicas: Vec<ApiClient> = (0..fleet.len())
        .map(|index| on_replica(&customer, fleet, index))
        .collect();
    let mut passed = vec![0usize; fleet.len()];
    let mut limited = 0usize;
    for n in 0..WRITE_BUDGET * 3 / 2 {
        let index = n % fleet.len();
        // A cheap write: orders refuses the empty line after the gateway has counted it.
        let (status, answer) = replicas[index]
            .requests()
            .post("/api/v1/cart/items")
            .json(&json!({}))
            .send()
            .await;
        match status {
            429 => limited += 1,
            400..=499 => passed[index] += 1,
            _ => panic!("write {n} on replica {index}: {status} {answer}"),
        }
    }
    assert_eq!(passed.iter().sum::<usize>(), WRITE_BUDGET, "{passed:?}");
    assert_eq!(limited, WRITE_BUDGET / 2);
    assert!(
        passed.iter().all(|n| *n > 0),
        "every replica took writes: {passed:?}"
    );
}

/// The same checkout, with the same key, sent to every replica at the same moment.
async fn same_key_checkouts_on_every_replica_give_one_order(
    fleet: &Fleet,
    http: &reqwest::Client,
    admin: &ApiClient,
) {
    const KEYS: usize = 5;
    let product = admin.stocked_product(1_500, 20).await.expect("product");
    let customer = ApiClient::register(&fleet.url(""), http, "same-key@example.com")
        .await
        .expect("customer");
    let body = checkout_body(&product);
    let mut orders = Vec::new();
    for n in 0..KEYS {
        let key = format!("same-key-{n}");
        let answers = futures_util::future::join_all((0..fleet.len()).map(|index| {
            let replica = on_replica(&customer, fleet, index);
            let (key, body) = (key.clone(), body.clone());
            async move { replica.checkout(&key, &body).await.expect("checkout") }
        }))
        .await;
        let ids: BTreeSet<&str> = answers
            .iter()
            .map(|(status, order)| {
                assert_eq!(*status, 202, "{order}");
                order["id"].as_str().expect("an order id")
            })
            .collect();
        assert_eq!(ids.len(), 1, "one order per key: {answers:?}");
        orders.extend(ids.into_iter().map(str::to_owned));
    }
    for id in &orders {
        let order = terminal(&customer, id).await;
        assert_eq!(order["status"], "confirmed", "{order}");
    }
    let user = customer.user_id.clone().expect("user id");
    assert_eq!(orders_of(fleet, &[user]), KEYS);
}

/// Per consuming context: pushes it answered (202, summed over the replicas) and events it
/// applied (its inbox rows).
#[derive(Debug, PartialEq)]
struct Handlings {
    pushed: BTreeMap<String, u64>,
    applied: BTreeMap<String, u64>,
}

fn consumers() -> BTreeSet<&'static str> {
    wasmshop_kit::channels::CHANNELS
        .iter()
        .flat_map(|channel| channel.consumers.iter().map(|(name, _)| *name))
        .collect()
}

/// The counts once nothing moves any more (a saga's last notifications come after its order
/// reads terminal).
async fn settled_handlings(fleet: &Fleet, http: &reqwest::Client) -> Handlings {
    let read = || async {
        let mut applied = BTreeMap::new();
        for consumer in consumers() {
            let rows = fleet.applied_events(consumer).expect("inbox");
            applied.insert(consumer.to_owned(), rows);
        }
        Handlings {
            pushed: fleet.accepted_requests(http).await.expect("metrics"),
            applied,
        }
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut last = read().await;
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now = read().await;
        if now == last {
            return now;
        }
        assert!(Instant::now() < deadline, "still moving: {now:?}");
        last = now;
    }
}

/// Orders placed through the balancer reach every replica, and each replica's events are
/// pushed to the consumers on that replica: a consumer handles each event once, however many
/// replicas run it.
async fn events_are_handled_once_per_context(
    fleet: &Fleet,
    http: &reqwest::Client,
    admin: &ApiClient,
) {
    const ORDERS: usize = 30;
    let product = admin.stocked_product(900, 30).await.expect("product");
    let customers = register_all(fleet, http, "handled", 3).await;
    let before = settled_handlings(fleet, http).await;
    let body = checkout_body(&product);
    let placed = futures_util::future::join_all((0..ORDERS).map(|n| {
        let customer = &customers[n % customers.len()];
        let body = &body;
        async move {
            let id = place(customer, &format!("handled-{n}"), body).await;
            terminal(customer, &id).await
        }
    }))
    .await;
    for order in &placed {
        assert_eq!(order["status"], "confirmed", "{order}");
    }
    let after = settled_handlings(fleet, http).await;
    let delta = |counts: fn(&Handlings) -> &BTreeMap<String, u64>, consumer: &str| {
        let count = |h: &Handlings| counts(h).get(consumer).copied().unwrap_or(0);
        count(&after) - count(&before)
    };
    for consumer in consumers() {
        let applied = delta(|h| &h.applied, consumer);
        let mut pushed = delta(|h| &h.pushed, consumer);
        if consumer == "orders" {
            // Its checkouts are answered 202 too.
            pushed -= ORDERS as u64;
        }
        assert!(applied > 0, "{consumer} applied none of the orders' events");
        let per_event = pushed as f64 / applied as f64;
        eprintln!("{consumer}: {pushed} handlings of {applied} events = {per_event:.3} per event");
        assert!(
            (1.0..=MAX_HANDLINGS_PER_EVENT).contains(&per_event),
            "{consumer}: {pushed} handlings of {applied} events"
        );
    }
}

/// As a well-behaved client: a checkout that got no answer (its replica died under it) or was
/// shed (bulkhead full, no replica behind the balancer) is sent again after a while with the
/// same key, which idempotency makes safe. The order's id.
async fn place(customer: &ApiClient, key: &str, body: &Value) -> String {
    let deadline = Instant::now() + PLACE_WITHIN;
    let mut answers = Vec::new();
    for attempt in 1.. {
        match customer.checkout(key, body).await {
            Ok((202, order)) => return order["id"].as_str().expect("an order id").to_owned(),
            Ok((status @ 502..=504, answer)) => answers.push(format!("{status} {answer}")),
            Err(e) => answers.push(format!("{e}")),
            Ok((status, order)) => panic!("checkout {key}: {status} {order}"),
        }
        if Instant::now() > deadline {
            break;
        }
        tokio::time::sleep((Duration::from_millis(100) * attempt).min(MAX_PAUSE)).await;
    }
    panic!("checkout {key}: no order in {PLACE_WITHIN:?}: {answers:?}")
}

/// Checkouts racing for fewer units than asked while one replica is SIGKILLed and restarted:
/// the others finish its sagas, exactly as many confirm as there are units.
async fn checkouts_survive_a_replica_killed_mid_run(
    fleet: &mut Fleet,
    http: &reqwest::Client,
    admin: &ApiClient,
) {
    const UNITS: u32 = 50;
    const CHECKOUTS: usize = 200;
    const VICTIM: usize = 1;
    const DOWN_FOR: Duration = Duration::from_secs(3);
    let product = admin.stocked_product(4_999, UNITS).await.expect("product");
    let customers = register_all(fleet, http, "racer", 20).await;
    let accepted = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..CHECKOUTS {
        let customer = customers[n % customers.len()].clone();
        let body = checkout_body(&product);
        let accepted = accepted.clone();
        tasks.spawn(async move {
            let id = place(&customer, &format!("race-{n}"), &body).await;
            accepted.fetch_add(1, Ordering::Relaxed);
            let order = terminal(&customer, &id).await;
            (id, order["status"].as_str().unwrap_or("?").to_owned())
        });
    }
    wasmshop_tests::eventually("a fifth of the checkouts accepted", || {
        let accepted = accepted.clone();
        async move { (accepted.load(Ordering::Relaxed) >= CHECKOUTS / 5).then_some(()) }
    })
    .await;
    fleet.kill(VICTIM);
    let killed_at = accepted.load(Ordering::Relaxed);
    // Down long enough for the balancer to take it out and for the others' recovery ticks to
    // take over what it had in flight.
    tokio::time::sleep(DOWN_FOR).await;
    let restart = fleet.restart(VICTIM).await.expect("the replica restarts");
    let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
    let mut ids = BTreeSet::new();
    while let Some(done) = tasks.join_next().await {
        let (id, status) = done.expect("checkout task");
        ids.insert(id);
        *outcomes.entry(status).or_default() += 1;
    }
    eprintln!(
        "{CHECKOUTS} checkouts for {UNITS} units, replica {VICTIM} killed after {killed_at} \
         accepted, down for {DOWN_FOR:?}, then serving again {restart:?} after its start: {outcomes:?} in {:?}",
        started.elapsed()
    );
    assert_eq!(ids.len(), CHECKOUTS, "one order per key");
    assert_eq!(
        outcomes.get("confirmed"),
        Some(&(UNITS as usize)),
        "{outcomes:?}"
    );
    assert_eq!(
        outcomes.get("cancelled").copied().unwrap_or(0)
            + outcomes.get("failed").copied().unwrap_or(0),
        CHECKOUTS - UNITS as usize,
        "{outcomes:?}"
    );
    let users: Vec<String> = customers
        .iter()
        .map(|c| c.user_id.clone().expect("user id"))
        .collect();
    assert_eq!(
        orders_of(fleet, &users),
        CHECKOUTS,
        "a retried checkout made a second order"
    );
    invariants::assert_stock_settled_and_invariants_hold(admin, &product, 0, &fleet.shared_dir())
        .await;
}
