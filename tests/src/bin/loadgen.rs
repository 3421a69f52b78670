//! wasmshop's load generator: simulated shoppers browsing, filling carts and checking out
//! through the public gateway, or checkouts at a fixed offered rate; prints req/s and latency
//! percentiles per route, errors, completed orders per second and order-to-confirmed latency.
//!
//! Without `--url` it boots the whole app in-process (its own Redis, fresh state, recovery tick
//! on) from `spin.toml`; order completion is then timed from its orders database, otherwise
//! from `orders.events` on `--redis`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use serde_json::{Value, json};
use wasmshop_tests::client::{ApiClient, address};
use wasmshop_tests::{EventTransport, Wasmshop};

// The app runs in this process: it gets the allocator `wasmshop-spin` runs with.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser, Debug)]
#[command(about = "Drives wasmshop like its shoppers do and reports what it measured")]
struct Args {
    /// A running wasmshop (its gateway); without it the app is booted in-process
    #[arg(long)]
    url: Option<String>,
    /// The running app's Redis, to time order completion from `orders.events`; with its
    /// password when it has one (`redis://:<password>@host:6379`)
    #[arg(long)]
    redis: Option<String>,
    /// With `--url`: the app's orders database file, to time order completion from it (over
    /// HTTP push, the default transport, nothing reaches `--redis` to time it by)
    #[arg(long)]
    orders_db: Option<std::path::PathBuf>,
    /// Simulated shoppers (mixed mode)
    #[arg(long, default_value_t = 20)]
    users: usize,
    /// How long to drive traffic, in seconds
    #[arg(long, default_value_t = 20)]
    duration: u64,
    /// Checkouts per second at a fixed offered rate instead of the shopper mix
    #[arg(long)]
    orders_per_sec: Option<f64>,
    /// Closed loop of back-to-back checkouts by `--users` shoppers (maximum throughput)
    #[arg(long)]
    checkouts_only: bool,
    /// Without `--url`: how often the runtime runs each context's recovery tick, in ms; the
    /// default is `scripts/up.sh`'s (the tests tick every 200 ms, to be quick, not to be
    /// measured)
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u64).range(1..))]
    tick_ms: u64,
    /// `redis` to carry events over Redis pub/sub instead of pushing them by service chaining
    /// (in-process only)
    #[arg(long, default_value = "http")]
    transport: String,
    /// With `--url`: the app's `admin_bootstrap_token`; loadgen makes its admin with it, or
    /// logs in as that admin when the app has it already
    #[arg(long, default_value = wasmshop_tests::TEST_ADMIN_BOOTSTRAP_TOKEN)]
    admin_bootstrap_token: String,
    /// Where to write the figures as JSON
    #[arg(long)]
    json_out: Option<std::path::PathBuf>,
}

#[derive(Default)]
struct Stats {
    /// Latencies in µs per route name, errors per route name.
    latencies: BTreeMap<&'static str, Vec<u64>>,
    errors: BTreeMap<&'static str, u64>,
    /// Order id → when its checkout was sent.
    placed: HashMap<String, Sent>,
    /// Order id → when it was seen terminal, and how it ended.
    finished: HashMap<String, Finished>,
}

struct Sent {
    at: Instant,
    unix_micros: i64,
}

struct Finished {
    seen: Instant,
    outcome: String,
    /// When the app recorded the status, in ms since the epoch (its timeline's `at`), where
    /// the watcher reads the orders database.
    recorded_unix_ms: Option<i64>,
}

fn unix_micros_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

type Shared = Arc<Mutex<Stats>>;

fn lock(stats: &Shared) -> std::sync::MutexGuard<'_, Stats> {
    stats
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn timed(
    stats: &Shared,
    route: &'static str,
    call: impl std::future::Future<Output = anyhow::Result<(u16, Value)>>,
) -> Option<Value> {
    let started = Instant::now();
    let outcome = call.await;
    let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    let mut stats = lock(stats);
    stats.latencies.entry(route).or_default().push(micros);
    match outcome {
        Ok((status, body)) if (200..300).contains(&status) => Some(body),
        _ => {
            *stats.errors.entry(route).or_default() += 1;
            None
        }
    }
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[rank.min(sorted.len() - 1)] as f64 / 1000.0
}

struct Setup {
    base_url: String,
    http: reqwest::Client,
    products: Vec<String>,
    shop: Option<Wasmshop>,
    redis_url: Option<String>,
}

async fn setup(args: &Args) -> anyhow::Result<Setup> {
    let http = wasmshop_tests::http_client();
    let (base_url, shop, redis_url) = match &args.url {
        Some(url) => (
            url.trim_end_matches('/').to_owned(),
            None,
            args.redis.clone(),
        ),
        None => {
            let transport = match args.transport.as_str() {
                "redis" => EventTransport::Redis,
                _ => EventTransport::HttpPush,
            };
            let tick = Duration::from_millis(args.tick_ms);
            let shop = Wasmshop::app()
                .workflow(transport)
                .variables(&[("seed_demo_data", "false")])
                .configure(move |options| options.tick_interval = tick)
                .start()
                .await?;
            let redis = shop.redis.url();
            (shop.base_url.clone(), Some(shop), Some(redis))
        }
    };
    let admin = ApiClient::admin_with(&base_url, &http, &args.admin_bootstrap_token)
        .await
        .context("admin (bootstrap, or login once bootstrapped)")?;
    let mut products = Vec::new();
    for n in 0..20 {
        let sku = format!(
            "LOAD-{}-{n}",
            &uuid::Uuid::now_v7().simple().to_string()[24..]
        )
        .to_uppercase();
        let body = json!({ "sku": sku, "name": format!("Load item {n}"), "description": "load",
            "price": { "amount": 500 + n * 100, "currency": "EUR" }, "category_id": null });
        let (status, product) = admin
            .requests()
            .post("/api/v1/products")
            .json(&body)
            .try_send()
            .await?;
        anyhow::ensure!(status == 201, "create product: {status} {product}");
        let id = product["id"].as_str().context("product id")?.to_owned();
        let (status, stock) = admin
            .requests()
            .put(&format!("/api/v1/inventory/{id}"))
            .json(&json!({ "on_hand": 1_000_000 }))
            .try_send()
            .await?;
        anyhow::ensure!(status == 200, "stock: {status} {stock}");
        products.push(id);
    }
    Ok(Setup {
        base_url,
        http,
        products,
        shop,
        redis_url,
    })
}

/// Records when each order is seen terminal in the orders database of an app booted here, and
/// when the app recorded it so (the timeline entry's `at`, ms, taken under the write lock of
/// the transaction that commits it): whatever the event transport, that row is where an order
/// ends, and the recorded time is free of this poll's own lag. Polled every 5 ms (WAL mode:
/// the reads never hold up the app's writers) from the order timeline's new rows only: the
/// timeline entry of a status commits with it, and a range of rowids costs what arrived since
/// the last poll, where a scan of `orders` grew with every order placed and took its share of
/// the cores the app runs on.
fn watch_orders_in(database: std::path::PathBuf, stats: Shared) -> anyhow::Result<()> {
    let conn = rusqlite::Connection::open_with_flags(
        &database,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )?;
    let mut after: i64 = 0;
    loop {
        std::thread::sleep(Duration::from_millis(5));
        let Ok(mut statement) = conn.prepare_cached(
            "SELECT rowid, order_id, status, CAST(unixepoch(at, 'subsec') * 1000 AS INTEGER)
             FROM timeline WHERE rowid > ?1 ORDER BY rowid",
        ) else {
            continue; // not migrated yet
        };
        let rows: Vec<(i64, String, String, Option<i64>)> = statement
            .query_map([after], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
            })?
            .collect::<Result<_, _>>()?;
        let now = Instant::now();
        let mut stats = lock(&stats);
        for (rowid, id, status, recorded_unix_ms) in rows {
            after = after.max(rowid);
            if matches!(status.as_str(), "confirmed" | "cancelled" | "failed") {
                stats.finished.entry(id).or_insert(Finished {
                    seen: now,
                    outcome: status,
                    recorded_unix_ms,
                });
            }
        }
    }
}

/// Records when each order is seen terminal on `orders.events`.
async fn watch_orders(redis_url: String, stats: Shared) -> anyhow::Result<()> {
    use futures_util::StreamExt;
    let client = redis::Client::open(redis_url)?;
    let mut pubsub = client.get_async_pubsub().await?;
    pubsub.subscribe("orders.events").await?;
    let mut messages = pubsub.into_on_message();
    while let Some(message) = messages.next().await {
        let Ok(payload) = message.get_payload::<String>() else {
            continue;
        };
        let Ok(event) = serde_json::from_str::<Value>(&payload) else {
            continue;
        };
        let outcome = match event["event_type"].as_str() {
            Some("order.confirmed") => "confirmed",
            Some("order.cancelled") => "cancelled",
            Some("order.failed") => "failed",
            _ => continue,
        };
        if let Some(order_id) = event["subject"].as_str() {
            lock(&stats)
                .finished
                .entry(order_id.to_owned())
                .or_insert(Finished {
                    seen: Instant::now(),
                    outcome: outcome.to_owned(),
                    recorded_unix_ms: None,
                });
        }
    }
    Ok(())
}

async fn place_order(client: &ApiClient, stats: &Shared, product: &str, from_cart: bool) {
    let mut body = json!({ "shipping_address": address(), "payment_token": "tok_visa" });
    if !from_cart {
        body["lines"] = json!([{ "product_id": product, "quantity": 1 }]);
    }
    let key = uuid::Uuid::now_v7().to_string();
    let sent = Sent {
        at: Instant::now(),
        unix_micros: unix_micros_now(),
    };
    if let Some(order) = timed(stats, "POST /orders", client.checkout(&key, &body)).await
        && let Some(id) = order["id"].as_str()
    {
        lock(stats).placed.insert(id.to_owned(), sent);
    }
}

async fn shopper(
    setup: Arc<Setup>,
    stats: Shared,
    n: usize,
    until: Instant,
    checkouts_only: bool,
) -> anyhow::Result<()> {
    let email = format!("shopper{n}-{}@load.example", uuid::Uuid::now_v7().simple());
    let client = ApiClient::register(&setup.base_url, &setup.http, &email).await?;
    let mut step: usize = n;
    while Instant::now() < until {
        step = step
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let product = &setup.products[(step >> 33) % setup.products.len()];
        if checkouts_only {
            place_order(&client, &stats, product, false).await;
            continue;
        }
        match (step >> 40) % 20 {
            0..=7 => {
                let page = (step >> 50) % 3 + 1;
                timed(
                    &stats,
                    "GET /products",
                    client
                        .requests()
                        .get(&format!("/api/v1/products?page={page}&limit=10"))
                        .try_send(),
                )
                .await;
            }
            8..=13 => {
                timed(
                    &stats,
                    "GET /products/{id}",
                    client
                        .requests()
                        .get(&format!("/api/v1/products/{product}"))
                        .try_send(),
                )
                .await;
            }
            14..=16 => {
                let body = json!({ "product_id": product, "quantity": 1 });
                timed(
                    &stats,
                    "POST /cart/items",
                    client
                        .requests()
                        .post("/api/v1/cart/items")
                        .json(&body)
                        .try_send(),
                )
                .await;
            }
            17 | 18 => {
                timed(
                    &stats,
                    "GET /cart",
                    client.requests().get("/api/v1/cart").try_send(),
                )
                .await;
            }
            _ => {
                let body = json!({ "product_id": product, "quantity": 1 });
                timed(
                    &stats,
                    "POST /cart/items",
                    client
                        .requests()
                        .post("/api/v1/cart/items")
                        .json(&body)
                        .try_send(),
                )
                .await;
                place_order(&client, &stats, product, true).await;
            }
        }
    }
    Ok(())
}

/// Checkouts at `rate` per second, each from its own task, by a pool of shoppers.
/// The shoppers the fixed rate cycles through, registered before the clock starts (each
/// registration and login costs an Argon2 hash: counting them would lower the offered rate).
async fn rate_shoppers(setup: &Setup, users: usize) -> anyhow::Result<Vec<ApiClient>> {
    let mut clients = Vec::new();
    for n in 0..users.max(1) {
        let email = format!("rate{n}-{}@load.example", uuid::Uuid::now_v7().simple());
        clients.push(ApiClient::register(&setup.base_url, &setup.http, &email).await?);
    }
    Ok(clients)
}

async fn fixed_rate(
    setup: Arc<Setup>,
    stats: Shared,
    rate: f64,
    until: Instant,
    clients: Vec<ApiClient>,
) -> anyhow::Result<()> {
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut tasks = tokio::task::JoinSet::new();
    let mut n = 0usize;
    while Instant::now() < until {
        ticker.tick().await;
        let client = clients[n % clients.len()].clone();
        let product = setup.products[n % setup.products.len()].clone();
        let stats = stats.clone();
        tasks.spawn(async move { place_order(&client, &stats, &product, false).await });
        n += 1;
    }
    while tasks.join_next().await.is_some() {}
    Ok(())
}

fn main() -> anyhow::Result<()> {
    // The shop runs in this process, so it gets the settings `wasmshop-spin` makes.
    local_infra::capabilities::sqlite_process::configure_before_threads();
    local_infra::memory::return_freed_memory_when_idle();
    let args = Args::parse();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let setup = Arc::new(setup(&args).await?);
    let stats: Shared = Arc::default();
    let orders_db = match &setup.shop {
        Some(shop) => Some(shop.state_dir().join("orders.db")),
        None => args.orders_db.clone(),
    };
    if let Some(database) = orders_db {
        let stats = stats.clone();
        std::thread::spawn(move || {
            // A running app creates its databases when a component first opens them.
            let deadline = Instant::now() + Duration::from_secs(10);
            while !database.exists() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            if let Err(e) = watch_orders_in(database, stats) {
                eprintln!("watching the orders database: {e:#}");
            }
        });
    } else if let Some(redis_url) = setup.redis_url.clone() {
        let stats = stats.clone();
        tokio::spawn(async move {
            if let Err(e) = watch_orders(redis_url, stats).await {
                eprintln!("watching orders.events: {e:#}");
            }
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let rate_clients = match args.orders_per_sec {
        Some(rate) if rate > 0.0 => rate_shoppers(&setup, args.users).await?,
        _ => Vec::new(),
    };
    let started = Instant::now();
    let until = started + Duration::from_secs(args.duration);
    match args.orders_per_sec {
        Some(rate) if rate > 0.0 => {
            fixed_rate(setup.clone(), stats.clone(), rate, until, rate_clients).await?
        }
        _ => {
            let mut tasks = tokio::task::JoinSet::new();
            for n in 0..args.users {
                tasks.spawn(shopper(
                    setup.clone(),
                    stats.clone(),
                    n,
                    until,
                    args.checkouts_only,
                ));
            }
            while let Some(done) = tasks.join_next().await {
                done??;
            }
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let load_stopped = Instant::now();
    // Orders still in flight get a grace period to finish before the figures are taken.
    let grace = Instant::now() + Duration::from_secs(10);
    while Instant::now() < grace {
        let all_finished = {
            let stats = lock(&stats);
            stats
                .placed
                .keys()
                .all(|id| stats.finished.contains_key(id))
        };
        if all_finished {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if let Some(shop) = &setup.shop {
        let placed = lock(&stats).placed.len();
        print_instances(shop, placed).await;
    }
    report(
        &args,
        &lock(&stats),
        elapsed,
        load_stopped,
        setup.redis_url.is_some() || args.orders_db.is_some(),
    )
}

/// Instances the in-process app created per placed order, by component, from its `/metrics`
/// (every request and message gets one): what an order costs in the runtime's currency.
async fn print_instances(shop: &Wasmshop, placed: usize) {
    let Ok(metrics) = wasmshop_tests::scrape_metrics(shop).await else {
        return;
    };
    let mut line = String::new();
    for sample in metrics
        .lines()
        .filter(|l| l.starts_with("wasmshop_runtime_instances_total{"))
    {
        let (Some(component), Some(count)) = (
            sample.split('"').nth(1),
            sample
                .rsplit(' ')
                .next()
                .and_then(|n| n.parse::<f64>().ok()),
        ) else {
            continue;
        };
        line.push_str(&format!(" {component} {:.1}", count / placed.max(1) as f64));
    }
    println!("instances per placed order:{line}");
}

fn report(
    args: &Args,
    stats: &Stats,
    elapsed: f64,
    load_stopped: Instant,
    timed_orders: bool,
) -> anyhow::Result<()> {
    let mut routes = serde_json::Map::new();
    let mut total = 0usize;
    println!(
        "{:<22} {:>8} {:>9} {:>8} {:>8} {:>8} {:>7}",
        "route", "requests", "req/s", "p50 ms", "p95 ms", "p99 ms", "errors"
    );
    for (route, latencies) in &stats.latencies {
        let mut sorted = latencies.clone();
        sorted.sort_unstable();
        total += sorted.len();
        let errors = stats.errors.get(route).copied().unwrap_or(0);
        let (p50, p95, p99) = (
            percentile(&sorted, 50.0),
            percentile(&sorted, 95.0),
            percentile(&sorted, 99.0),
        );
        println!(
            "{route:<22} {:>8} {:>9.1} {p50:>8.2} {p95:>8.2} {p99:>8.2} {errors:>7}",
            sorted.len(),
            sorted.len() as f64 / elapsed
        );
        routes.insert(
            (*route).to_owned(),
            json!({ "requests": sorted.len(), "rps": sorted.len() as f64 / elapsed,
            "p50_ms": p50, "p95_ms": p95, "p99_ms": p99, "errors": errors }),
        );
    }
    println!(
        "total: {total} requests in {elapsed:.1} s = {:.1} req/s",
        total as f64 / elapsed
    );
    let mut order = json!(null);
    if timed_orders {
        // Order-to-confirmed as recorded by the app where the watcher reads its database; as
        // seen by the watcher (its poll's lag included) always.
        let (mut recorded, mut seen): (Vec<u64>, Vec<u64>) = (Vec::new(), Vec::new());
        let mut outcomes: BTreeMap<&str, usize> = BTreeMap::new();
        for (id, sent) in &stats.placed {
            match stats.finished.get(id) {
                Some(finished) => {
                    *outcomes.entry(finished.outcome.as_str()).or_default() += 1;
                    if finished.outcome == "confirmed" {
                        seen.push(
                            u64::try_from(
                                finished.seen.saturating_duration_since(sent.at).as_micros(),
                            )
                            .unwrap_or(u64::MAX),
                        );
                        if let Some(ms) = finished.recorded_unix_ms {
                            let micros = ms.saturating_mul(1_000) - sent.unix_micros;
                            recorded.push(u64::try_from(micros).unwrap_or(0));
                        }
                    }
                }
                None => *outcomes.entry("unfinished").or_default() += 1,
            }
        }
        recorded.sort_unstable();
        seen.sort_unstable();
        let confirmed_per_sec = seen.len() as f64 / elapsed;
        let exact = !recorded.is_empty() && recorded.len() == seen.len();
        let to_confirmed = if exact { &recorded } else { &seen };
        let (p50, p95, p99) = (
            percentile(to_confirmed, 50.0),
            percentile(to_confirmed, 95.0),
            percentile(to_confirmed, 99.0),
        );
        let seen_p99 = percentile(&seen, 99.0);
        println!(
            "orders: placed {}, outcomes {outcomes:?}",
            stats.placed.len()
        );
        let how = if exact {
            format!("as recorded by the app; as seen by polling: p99 {seen_p99:.1} ms")
        } else {
            "as seen".to_owned()
        };
        println!(
            "completed orders/s: {confirmed_per_sec:.1}; order-to-confirmed p50 {p50:.1} ms, p95 {p95:.1} ms, p99 {p99:.1} ms ({how})"
        );
        // The backlog the load left: how long after the last checkout the last order ended.
        let drained_ms = stats
            .finished
            .values()
            .map(|finished| {
                finished
                    .seen
                    .saturating_duration_since(load_stopped)
                    .as_millis()
            })
            .max()
            .unwrap_or(0);
        println!("last order ended {drained_ms} ms after the load stopped");
        order = json!({ "placed": stats.placed.len(), "outcomes": outcomes, "confirmed_per_sec": confirmed_per_sec,
            "to_confirmed_p50_ms": p50, "to_confirmed_p95_ms": p95, "to_confirmed_p99_ms": p99,
            "to_confirmed_recorded": exact, "to_confirmed_seen_p99_ms": seen_p99,
            "drained_ms_after_load": drained_ms });
    }
    if let Some(path) = &args.json_out {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let figures = json!({ "users": args.users, "duration_s": elapsed, "orders_per_sec_offered": args.orders_per_sec,
            "checkouts_only": args.checkouts_only, "transport": args.transport,
            "routes": routes, "total_rps": total as f64 / elapsed, "orders": order });
        std::fs::write(path, serde_json::to_string_pretty(&figures)?)?;
    }
    Ok(())
}
