//! The public entry, booted with the whole app from the real `spin.toml`, on how it shapes
//! traffic: CORS, the body limit, rate limits (per client, per class, per address behind
//! proxies), the circuit breaker and bulkhead, the Redis outage policy and the shared cache.

use std::time::{Duration, Instant};

use serde_json::json;
use wasmshop_tests::client::{Caller, PASSWORD, assert_error, header};
use wasmshop_tests::tokens::{claims, sign};
use wasmshop_tests::{TEST_JWT_SECRET, Wasmshop, json};

/// The app with `catalog` played by the spin-conformance fixture, which fails or answers on
/// demand (`?op=trap`, `?op=noop`, `?op=sleep&ms=`), and `/metrics` served, so a test can count
/// what reaches the upstream.
async fn shop_with_puppet_catalog(variables: &[(&str, &str)]) -> Wasmshop {
    use local_infra::manifest::ComponentSource;
    let mut manifest = wasmshop_tests::build_app().expect("build");
    let fixture = local_infra_testing::build_wasm_package(
        &wasmshop_tests::workspace_root(),
        "spin-conformance",
    )
    .expect("fixture");
    let catalog = manifest.components.get_mut("catalog").expect("catalog");
    catalog.source = ComponentSource::Local(fixture.display().to_string());
    catalog.build = None;
    manifest.redis_triggers.retain(|t| t.component != "catalog");
    Wasmshop::manifest(manifest)
        .variables(variables)
        .metrics()
        .start()
        .await
        .expect("boot")
}

/// Requests the runtime has served to `component`, from its `/metrics`.
async fn served_to(shop: &Wasmshop, component: &str) -> u64 {
    let text = wasmshop_tests::scrape_metrics(shop).await.expect("scrape");
    let needle = format!("component=\"{component}\"");
    text.lines()
        .filter(|line| {
            line.starts_with("wasmshop_runtime_http_requests_total{") && line.contains(&needle)
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// `breaker:catalog:open_until` in the gateway's Redis.
fn catalog_breaker_open_until(shop: &Wasmshop) -> Option<String> {
    let mut redis = shop.redis.connection().expect("redis");
    redis::cmd("GET")
        .arg("breaker:catalog:open_until")
        .query(&mut redis)
        .expect("GET")
}

/// CORS: a preflight is answered by the gateway, for the allowed origin only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_allows_only_the_configured_origin() {
    let shop = Wasmshop::app().start().await.expect("boot");
    let origin = "http://localhost:5173";
    let response = shop
        .anonymous()
        .method("OPTIONS", "/api/v1/products")
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type",
        )
        .response()
        .await;
    assert_eq!(response.status(), 204);
    assert_eq!(
        header(&response, "access-control-allow-origin").as_deref(),
        Some(origin)
    );
    assert_eq!(
        header(&response, "access-control-allow-credentials").as_deref(),
        Some("true")
    );
    assert!(header(&response, "access-control-allow-methods").is_some_and(|m| m.contains("POST")));
    assert!(
        header(&response, "access-control-allow-headers")
            .is_some_and(|h| h.contains("authorization"))
    );
    let response = shop
        .anonymous()
        .method("OPTIONS", "/api/v1/products")
        .header("origin", "https://evil.example")
        .header("access-control-request-method", "POST")
        .response()
        .await;
    assert_eq!(response.status(), 403);
    assert_eq!(header(&response, "access-control-allow-origin"), None);
    let response = shop
        .anonymous()
        .get("/api/v1/categories")
        .header("origin", origin)
        .response()
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, "access-control-allow-origin").as_deref(),
        Some(origin)
    );
    let response = shop
        .anonymous()
        .get("/api/v1/categories")
        .header("origin", "https://evil.example")
        .response()
        .await;
    assert_eq!(header(&response, "access-control-allow-origin"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_one_mib_is_refused() {
    let shop = Wasmshop::app().start().await.expect("boot");
    let oversized = "x".repeat(1024 * 1024 + 1);
    assert_error(
        &shop
            .anonymous()
            .post("/api/v1/auth/register")
            .raw_json(&oversized)
            .send()
            .await,
        413,
        "payload_too_large",
    );

    // Also without a declared length: a chunked body is cut off once it passes the limit.
    // Written on a raw socket, as the request builder declares the length of every body.
    let addr = shop.base_url.trim_start_matches("http://").to_owned();
    let head = tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let chunk = vec![b'x'; 700 * 1024];
        let mut request = b"POST /api/v1/auth/register HTTP/1.1\r\nhost: localhost\r\n\
content-type: application/json\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n"
            .to_vec();
        for _ in 0..2 {
            request.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
            request.extend_from_slice(&chunk);
            request.extend_from_slice(b"\r\n");
        }
        request.extend_from_slice(b"0\r\n\r\n");
        // The server may answer (and close) before reading everything.
        let _ = stream.write_all(&request);
        let mut response = vec![0; 256];
        let n = stream.read(&mut response).expect("response");
        String::from_utf8_lossy(&response[..n]).into_owned()
    })
    .await
    .expect("join");
    assert!(head.starts_with("HTTP/1.1 413"), "{head}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_per_client_and_class() {
    let shop = Wasmshop::app()
        .variables(&[("rate_limit_read", "3/2")])
        .start()
        .await
        .expect("boot");

    for remaining in ["2", "1", "0"] {
        let response = shop.anonymous().get("/api/v1/categories").response().await;
        assert_eq!(response.status(), 200);
        assert_eq!(header(&response, "ratelimit-limit").as_deref(), Some("3"));
        assert_eq!(
            header(&response, "ratelimit-remaining").as_deref(),
            Some(remaining)
        );
        assert!(header(&response, "ratelimit-reset").is_some());
    }
    let response = shop.anonymous().get("/api/v1/products").response().await;
    let retry_after: u64 = header(&response, "retry-after")
        .expect("retry-after")
        .parse()
        .expect("seconds");
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    assert_eq!(
        header(&response, "ratelimit-remaining").as_deref(),
        Some("0")
    );
    assert_error(&json(response).await, 429, "too_many_requests");

    // Another class has its own budget.
    let body = json!({ "email": "limited@example.com", "password": PASSWORD, "name": "L" });
    let (status, _) = shop
        .anonymous()
        .post("/api/v1/auth/register")
        .json(&body)
        .send()
        .await;
    assert_eq!(status, 201);

    // The window passes.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let response = shop.anonymous().get("/api/v1/categories").response().await;
        if response.status() == 200 {
            assert_eq!(
                header(&response, "ratelimit-remaining").as_deref(),
                Some("2")
            );
            break;
        }
        assert_eq!(response.status(), 429);
        assert!(Instant::now() < deadline, "the window never reset");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `POST /api/v1/auth/login` for `email` with the right password as `caller`, optionally with
/// an `X-Forwarded-For`.
async fn login_as(
    shop: &Wasmshop,
    email: &str,
    caller: impl Into<Caller>,
    forwarded_for: Option<&str>,
) -> reqwest::Response {
    let mut request = shop
        .as_(caller)
        .post("/api/v1/auth/login")
        .json(&json!({ "email": email, "password": PASSWORD }));
    if let Some(forwarded_for) = forwarded_for {
        request = request.header("x-forwarded-for", forwarded_for);
    }
    request.response().await
}

// #14 item 3: a credential request carrying any valid token was counted under its user, so each
// new account bought a fresh budget of Argon2 work from the same address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credential_routes_are_limited_per_address_even_with_a_token() {
    let shop = Wasmshop::app()
        .variables(&[("rate_limit_auth", "3/60")])
        .start()
        .await
        .expect("boot");
    // Register and log in: two of the address's three.
    let ada = shop.customer("ada@example.com").await;
    let response = login_as(&shop, "ada@example.com", &ada, None).await;
    assert_eq!(response.status(), 200, "the third request of the window");
    assert_eq!(
        header(&response, "ratelimit-remaining").as_deref(),
        Some("0")
    );
    let (status, body) = json(login_as(&shop, "ada@example.com", &ada, None).await).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (429, &json!("too_many_requests")),
        "a token buys no budget of its own: {body}"
    );
    let register = json!({ "email": "bob@example.com", "password": PASSWORD, "name": "Bob" });
    let (status, body) = shop
        .as_(&ada)
        .post("/api/v1/auth/register")
        .json(&register)
        .send()
        .await;
    assert_eq!(status, 429, "{body}");
    // Other classes still count per user: the token's owner reads its profile.
    let (status, body) = shop.as_(&ada).get("/api/v1/users/me").send().await;
    assert_eq!(status, 200, "{body}");
}

/// The app with a credential budget of two requests a minute per client and these proxies
/// trusted.
async fn two_logins_a_minute_behind(trusted_proxies: &str) -> Wasmshop {
    Wasmshop::app()
        .variables(&[
            ("rate_limit_auth", "2/60"),
            ("trusted_proxies", trusted_proxies),
        ])
        .start()
        .await
        .expect("boot")
}

// #14 item 3: `X-Forwarded-For` is believed only from a trusted proxy; the harness's peer
// (loopback) is not one here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_for_from_an_untrusted_peer_changes_nothing() {
    let shop = two_logins_a_minute_behind("10.0.0.0/8, 192.0.2.7").await;
    let login_from =
        |forwarded| login_as(&shop, "nobody@example.com", Caller::Anonymous, forwarded);
    for (i, forwarded) in ["203.0.113.1", "203.0.113.2"].into_iter().enumerate() {
        let (status, body) = json(login_from(Some(forwarded)).await).await;
        assert_eq!(status, 401, "request {i}: {body}");
    }
    for forwarded in [
        "203.0.113.3",
        "10.1.2.3",
        "192.0.2.7",
        "127.0.0.1",
        "garbage",
    ] {
        let (status, body) = json(login_from(Some(forwarded)).await).await;
        assert_eq!(status, 429, "X-Forwarded-For {forwarded}: {body}");
    }
}

// #14 item 3: behind a trusted proxy each client has its own budget, and the right-most address
// the proxies did not add is the client, whatever the client wrote to the left of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_proxy_each_client_address_is_counted_apart() {
    let shop = two_logins_a_minute_behind("127.0.0.1, 10.0.0.0/8").await;
    let login_from =
        |forwarded| login_as(&shop, "nobody@example.com", Caller::Anonymous, forwarded);
    for forwarded in ["203.0.113.1", "198.51.100.1, 203.0.113.1, 10.0.0.5"] {
        let (status, body) = json(login_from(Some(forwarded)).await).await;
        assert_eq!(status, 401, "{forwarded}: {body}");
    }
    // A forged left part does not make the same client someone else.
    let (status, body) = json(login_from(Some("198.51.100.2, 203.0.113.1")).await).await;
    assert_eq!(status, 429, "{body}");
    // Another client behind the same proxy has its own budget.
    let (status, body) = json(login_from(Some("203.0.113.2")).await).await;
    assert_eq!(status, 401, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn breaker_opens_on_a_failing_upstream_and_fails_fast() {
    // Without the catalog component, chaining to it fails at once: a failing upstream.
    let mut manifest = wasmshop_tests::build_app().expect("build");
    manifest.components.retain(|id, _| id != "catalog");
    manifest.http_triggers.retain(|t| t.component != "catalog");
    manifest.redis_triggers.retain(|t| t.component != "catalog");
    let shop = Wasmshop::manifest(manifest).start().await.expect("boot");

    let (status, body) = shop.anonymous().get("/ready").send().await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["services"]["catalog"]["status"], "down", "{body}");
    assert_eq!(body["services"]["users"]["status"], "up", "{body}");

    // Five failures in the window (each GET already retried twice) open the circuit.
    for _ in 0..5 {
        assert_error(
            &shop.anonymous().get("/api/v1/categories").send().await,
            502,
            "bad_gateway",
        );
    }
    let started = Instant::now();
    let response = shop.anonymous().get("/api/v1/products").response().await;
    let retry_after: u64 = header(&response, "retry-after")
        .expect("retry-after")
        .parse()
        .expect("seconds");
    assert!((1..=10).contains(&retry_after), "{retry_after}");
    assert_error(&json(response).await, 503, "circuit_open");
    assert!(started.elapsed() < Duration::from_secs(2), "fails fast");
    assert!(
        catalog_breaker_open_until(&shop).is_some(),
        "the state is in Redis"
    );

    // Other upstreams are unaffected.
    let body = json!({ "email": "breaker@example.com", "password": PASSWORD, "name": "B" });
    let (status, _) = shop
        .anonymous()
        .post("/api/v1/auth/register")
        .json(&body)
        .send()
        .await;
    assert_eq!(status, 201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_breaker_spares_the_upstream_and_closes_after_it_recovers() {
    let shop = shop_with_puppet_catalog(&[("breaker_open_ms", "1500")]).await;
    let noop = || shop.anonymous().get("/api/v1/products?op=noop").response();

    // Five failures in the window open the circuit (a trap is a 500: not retried).
    for _ in 0..5 {
        let response = shop
            .anonymous()
            .get("/api/v1/products?op=trap")
            .response()
            .await;
        assert_eq!(response.status(), 500);
    }
    let before = served_to(&shop, "catalog").await;
    assert_eq!(before, 5, "each failure reached the upstream once");

    // While open: fast 503s, and the upstream sees nothing.
    for _ in 0..5 {
        let response = noop().await;
        assert!(header(&response, "retry-after").is_some());
        assert_error(&json(response).await, 503, "circuit_open");
    }
    assert_eq!(
        served_to(&shop, "catalog").await,
        before,
        "no call while open"
    );

    // After the open period one probe goes through; it succeeds and the circuit closes.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let response = noop().await;
        if response.status() == 200 {
            break;
        }
        assert_eq!(response.status(), 503);
        assert!(
            Instant::now() < deadline,
            "the circuit never let a probe through"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for _ in 0..3 {
        assert_eq!(noop().await.status(), 200);
    }
    assert_eq!(
        catalog_breaker_open_until(&shop),
        None,
        "closed: the state is cleared"
    );
    assert_eq!(served_to(&shop, "catalog").await, before + 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bulkhead_caps_requests_in_flight_per_upstream() {
    let shop = shop_with_puppet_catalog(&[("upstream_max_in_flight", "1")]).await;
    let slow = tokio::spawn(
        shop.anonymous()
            .get("/api/v1/products?op=sleep&ms=1500")
            .response(),
    );
    // Wait until the slow request holds the only slot.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut redis = shop.redis.connection().expect("redis");
    loop {
        let in_flight: u64 = redis::cmd("ZCARD")
            .arg("bulkhead:catalog")
            .query(&mut redis)
            .expect("ZCARD");
        if in_flight == 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the slow request never took its slot"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let noop = || shop.anonymous().get("/api/v1/products?op=noop").response();
    let response = noop().await;
    assert_eq!(header(&response, "retry-after").as_deref(), Some("1"));
    assert_error(&json(response).await, 503, "upstream_busy");
    // Other upstreams have their own bulkheads.
    let (status, _) = shop.anonymous().get("/api/v1/users/me").send().await;
    assert_eq!(status, 401);
    assert_eq!(slow.await.expect("join").status(), 200);
    assert_eq!(noop().await.status(), 200, "the slot was given back");
}

/// Redis down: public reads still served (fail open), writes and anything needing a token
/// refused with a JSON 503 (fail closed: a revoked token could not be recognised); back to
/// normal when Redis returns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_outage_policy_fails_open_for_reads_and_closed_for_writes() {
    let mut shop = Wasmshop::app().start().await.expect("boot");
    let customer = shop.customer("outage@example.com").await;
    shop.redis.stop();

    let (status, body) = shop
        .anonymous()
        .get("/api/v1/products?limit=1")
        .send()
        .await;
    assert_eq!(status, 200, "reads fail open: {body}");
    let body = json!({ "email": "late@example.com", "password": PASSWORD, "name": "Late" });
    let register = |shop: &Wasmshop| {
        shop.anonymous()
            .post("/api/v1/auth/register")
            .json(&body)
            .send()
    };
    assert_error(&register(&shop).await, 503, "service_unavailable");
    assert_error(
        &shop.as_(&customer).get("/api/v1/users/me").send().await,
        503,
        "service_unavailable",
    );

    shop.redis.restart().expect("redis restarts");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (status, _) = register(&shop).await;
        if status == 201 {
            break;
        }
        assert_eq!(status, 503);
        assert!(Instant::now() < deadline, "never recovered");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (status, _) = shop.as_(&customer).get("/api/v1/users/me").send().await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_reads_are_shared_from_the_cache_and_writes_drop_them() {
    let shop = Wasmshop::app().metrics().start().await.expect("boot");
    let admin = Caller::bearer(sign(
        &claims(&uuid::Uuid::now_v7().to_string(), "admin"),
        TEST_JWT_SECRET,
    ));
    let body = json!({ "sku": "CACHE-1", "name": "Cached lamp", "description": "",
        "price": { "amount": 1_500, "currency": "EUR" }, "category_id": null });
    let (status, product) = shop
        .as_(&admin)
        .post("/api/v1/products")
        .json(&body)
        .send()
        .await;
    assert_eq!(status, 201, "{product}");
    let path = format!("/api/v1/products/{}", product["id"].as_str().expect("id"));
    let served_before = served_to(&shop, "catalog").await;

    // The first read asks catalog and keeps its public answer; the next ones, anonymous or
    // not, are answered from the cache, with the same body and the client's rate-limit count.
    let first = shop.anonymous().get(&path).response().await;
    assert_eq!(header(&first, "x-cache"), None);
    let (status, first) = json(first).await;
    assert_eq!((status, &first["price"]["amount"]), (200, &json!(1_500)));
    let customer = shop.customer("cache-reader@example.com").await;
    for reader in [Caller::Anonymous, Caller::from(&customer)] {
        let again = shop.as_(reader).get(&path).response().await;
        assert_eq!(header(&again, "x-cache").as_deref(), Some("hit"));
        assert!(header(&again, "ratelimit-remaining").is_some());
        assert_eq!(json(again).await, (200, first.clone()));
    }
    assert_eq!(served_to(&shop, "catalog").await - served_before, 1);

    // An admin's change through the gateway is read back at once.
    let change = json!({ "sku": "CACHE-1", "name": "Cached lamp", "description": "",
        "price": { "amount": 1_900, "currency": "EUR" }, "category_id": null, "active": true });
    let (status, changed) = shop.as_(&admin).put(&path).json(&change).send().await;
    assert_eq!(status, 200, "{changed}");
    let after = shop.anonymous().get(&path).response().await;
    assert_eq!(header(&after, "x-cache"), None);
    assert_eq!(json(after).await.1["price"]["amount"], 1_900);

    // Withdrawn from sale: only admins see it, and their answer is never shared.
    let (status, _) = shop.as_(&admin).delete(&path).send().await;
    assert!(status == 200 || status == 204, "delete: {status}");
    for _ in 0..2 {
        let seen = shop.as_(&admin).get(&path).response().await;
        assert_eq!(header(&seen, "x-cache"), None);
        assert_eq!(json(seen).await.0, 200);
    }
    assert_eq!(shop.anonymous().get(&path).send().await.0, 404);

    // A reader's own data is never looked up in the cache.
    for _ in 0..2 {
        let me = shop.as_(&customer).get("/api/v1/users/me").response().await;
        assert_eq!(header(&me, "x-cache"), None);
        assert_eq!(json(me).await.0, 200);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_entry_is_refreshed_by_one_request_while_the_others_are_answered_with_it() {
    let shop = shop_with_puppet_catalog(&[]).await;
    let path = "/api/v1/products/any?op=shared&max_age=1";
    let read = || async {
        let response = shop.anonymous().get(path).response().await;
        let hit = header(&response, "x-cache").is_some();
        let status = response.status().as_u16();
        (status, hit, response.text().await.expect("body"))
    };
    let (status, hit, first) = read().await;
    assert_eq!((status, hit), (200, false));
    let (status, hit, again) = read().await;
    assert_eq!((status, hit, &again), (200, true, &first));
    let before = served_to(&shop, "catalog").await;

    // Stale after its second: of a burst of readers, one asks the upstream and the others are
    // answered with the entry they found, the previous answer.
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let burst = futures_util::future::join_all((0..8).map(|_| read())).await;
    assert!(burst.iter().all(|(status, ..)| *status == 200), "{burst:?}");
    assert_eq!(served_to(&shop, "catalog").await, before + 1, "{burst:?}");
    let refreshed: Vec<_> = burst.iter().filter(|(_, hit, _)| !hit).collect();
    assert_eq!(refreshed.len(), 1, "{burst:?}");
    assert_ne!(refreshed[0].2, first);
    assert!(
        burst
            .iter()
            .filter(|(_, hit, _)| *hit)
            .all(|(_, _, body)| *body == first || *body == refreshed[0].2),
        "{burst:?}"
    );
    // The refreshed answer is the one shared now.
    let (_, hit, now) = read().await;
    assert!(hit);
    assert_eq!(now, refreshed[0].2);
}
