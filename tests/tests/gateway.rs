//! The public entry, booted with the whole app from the real `spin.toml`: routing, JWT
//! authentication (every attack gets 401), roles, identity forwarding, tracing, CORS, body
//! limit, health and readiness.

use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use wasmshop_tests::client::{Caller, PASSWORD};
use wasmshop_tests::tokens::{claims, now, sign};
use wasmshop_tests::{CONTEXTS, TEST_JWT_SECRET, Wasmshop, json};

/// Unpadded base64url, to hand-build hostile tokens.
fn b64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n =
            chunk.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b)) << (8 * (3 - chunk.len()));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

fn with(mut claims: Value, field: &str, value: Value) -> Value {
    claims[field] = value;
    claims
}

/// Registers `email` and logs in through the gateway: (user id, access token).
async fn account(shop: &Wasmshop, email: &str) -> (String, String) {
    let body = json!({ "email": email, "password": PASSWORD, "name": "Someone" });
    let (status, user) = shop
        .as_(Caller::Anonymous)
        .post("/api/v1/auth/register")
        .json(&body)
        .send()
        .await;
    assert_eq!(status, 201, "register {email}: {user}");
    let body = json!({ "email": email, "password": PASSWORD });
    let (status, token) = shop
        .as_(Caller::Anonymous)
        .post("/api/v1/auth/login")
        .json(&body)
        .send()
        .await;
    assert_eq!(status, 200, "login {email}: {token}");
    (
        user["id"].as_str().expect("id").to_owned(),
        token["access_token"].as_str().expect("token").to_owned(),
    )
}

/// The app's admin (made by the bootstrap): its bearer token.
async fn admin_token(shop: &Wasmshop) -> String {
    wasmshop_tests::client::ApiClient::admin(&shop.base_url, &shop.client)
        .await
        .expect("admin")
        .token
        .expect("token")
}

fn header(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

async fn assert_unauthorized(shop: &Wasmshop, token: Option<&str>, what: &str) {
    let response = shop
        .as_(token.map(Caller::bearer))
        .get("/api/v1/users/me")
        .response()
        .await;
    assert_eq!(
        header(&response, "www-authenticate").as_deref(),
        Some("Bearer"),
        "{what}"
    );
    let (status, body) = json(response).await;
    assert_eq!(status, 401, "{what}: {body}");
    assert_eq!(body["error"]["code"], "unauthorized", "{what}: {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_answers_health_and_uniform_json_errors() {
    let shop = Wasmshop::boot()
        .await
        .expect("wasmshop boots from spin.toml");

    for path in ["/health", "/api/v1/health"] {
        let (status, body) = shop.as_(Caller::Anonymous).get(path).send().await;
        assert_eq!((status, &body["status"]), (200, &json!("ok")), "{path}");
    }

    for path in [
        "/api/v1/nowhere",
        "/api/v1/reservations",
        "/api/v1/reservations/0190d7a0-0000-7000-8000-000000000009",
        // Unversioned: not the API (outside `/api/` it is the storefront's HTML 404).
        "/api/products",
        "/api/v1/products/a/b",
    ] {
        let (status, body) = shop.as_(Caller::Anonymous).get(path).send().await;
        assert_eq!(status, 404, "{path}: {body}");
        assert_eq!(body["error"]["code"], "not_found", "{path}");
    }
    let (status, _) = shop
        .as_(Caller::Anonymous)
        .post("/api/v1/reservations")
        .json(&json!({}))
        .send()
        .await;
    assert_eq!(status, 404, "reservations are not public");

    for (method, path, allow) in [
        ("DELETE", "/api/v1/users/me", "GET, PATCH"),
        ("GET", "/api/v1/auth/login", "POST"),
        ("PATCH", "/api/v1/products", "GET, POST"),
    ] {
        let response = shop
            .as_(Caller::Anonymous)
            .method(method, path)
            .response()
            .await;
        assert_eq!(
            header(&response, "allow").as_deref(),
            Some(allow),
            "{method} {path}"
        );
        let (status, body) = json(response).await;
        assert_eq!(status, 405, "{method} {path}");
        assert_eq!(body["error"]["code"], "method_not_allowed");
    }

    let (status, body) = shop.as_(Caller::Anonymous).get("/ready").send().await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ready");
    for service in ["users", "catalog"] {
        assert_eq!(body["services"][service]["status"], "up", "{body}");
    }

    // Public reads reach the catalog without a token.
    let (status, page) = shop
        .as_(Caller::Anonymous)
        .get("/api/v1/products?limit=5")
        .send()
        .await;
    assert_eq!(status, 200, "{page}");
    let (status, _) = shop
        .as_(Caller::Anonymous)
        .get("/api/v1/categories")
        .send()
        .await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_jwt_attack_gets_401() {
    let shop = Wasmshop::boot().await.expect("boot");
    let (user_id, token) = account(&shop, "victim@example.com").await;

    // The real token works, and so does one crafted natively with the right secret and claims:
    // each attack below differs from it in exactly the attacked respect.
    let (status, me) = shop
        .as_(Caller::bearer(&token))
        .get("/api/v1/users/me")
        .send()
        .await;
    assert_eq!(
        (status, me["id"].as_str()),
        (200, Some(user_id.as_str())),
        "{me}"
    );
    let good = claims(&user_id, "customer");
    let (status, _) = shop
        .as_(Caller::bearer(sign(&good, TEST_JWT_SECRET)))
        .get("/api/v1/users/me")
        .send()
        .await;
    assert_eq!(status, 200, "a well-formed crafted token is accepted");

    assert_unauthorized(&shop, None, "missing").await;
    for malformed in [
        "Basic dXNlcjpwYXNz",
        "Bearer",
        "Bearer not.a.jwt",
        "Bearer a.b",
    ] {
        let response = shop
            .client
            .get(shop.url("/api/v1/users/me"))
            .header("authorization", malformed)
            .send()
            .await
            .expect("request");
        let (status, body) = json(response).await;
        assert_eq!(status, 401, "{malformed}: {body}");
    }

    let payload = b64(good.to_string().as_bytes());
    let none = format!("{}.{payload}.", b64(br#"{"alg":"none","typ":"JWT"}"#));
    assert_unauthorized(&shop, Some(&none), "alg none").await;
    let header = b64(br#"{"alg":"RS256","typ":"JWT"}"#);
    let signing_input = format!("{header}.{payload}");
    let signature = jsonwebtoken::crypto::sign(
        signing_input.as_bytes(),
        &EncodingKey::from_secret(TEST_JWT_SECRET.as_bytes()),
        Algorithm::HS256,
    )
    .expect("hmac");
    assert_unauthorized(
        &shop,
        Some(&format!("{signing_input}.{signature}")),
        "RS256/HMAC confusion",
    )
    .await;
    let hs512 = jsonwebtoken::encode(
        &Header::new(Algorithm::HS512),
        &good,
        &EncodingKey::from_secret(TEST_JWT_SECRET.as_bytes()),
    )
    .expect("sign");
    assert_unauthorized(&shop, Some(&hs512), "HS512").await;
    assert_unauthorized(
        &shop,
        Some(&sign(&good, "a-different-secret-0123456789abcdef")),
        "wrong secret",
    )
    .await;
    let mut tampered: Vec<&str> = token.split('.').collect();
    let admin_payload = b64(with(good.clone(), "role", json!("admin"))
        .to_string()
        .as_bytes());
    tampered[1] = &admin_payload;
    assert_unauthorized(&shop, Some(&tampered.join(".")), "tampered payload").await;

    let now = now();
    for (what, claims) in [
        ("expired", with(good.clone(), "exp", json!(now - 120))),
        ("not yet valid", with(good.clone(), "nbf", json!(now + 300))),
        ("wrong aud", with(good.clone(), "aud", json!("another-api"))),
        ("wrong iss", with(good.clone(), "iss", json!("evil"))),
        ("unknown role", with(good.clone(), "role", json!("root"))),
    ] {
        assert_unauthorized(&shop, Some(&sign(&claims, TEST_JWT_SECRET)), what).await;
    }

    // A present-but-invalid token is refused on public routes too.
    let (status, _) = shop
        .as_(Caller::bearer("garbage"))
        .get("/api/v1/products")
        .send()
        .await;
    assert_eq!(status, 401);

    // Revoked after logout.
    let (status, _) = shop
        .as_(Caller::bearer(&token))
        .post("/api/v1/auth/logout")
        .send()
        .await;
    assert_eq!(status, 204);
    assert_unauthorized(&shop, Some(&token), "revoked").await;
    // Also where its role would not do: revoked comes first (401, not 403).
    let (status, body) = shop
        .as_(Caller::bearer(&token))
        .get("/api/v1/admin/orders/dead-letters")
        .send()
        .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (401, &json!("unauthorized")),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_is_verified_and_roles_are_enforced() {
    let shop = Wasmshop::boot().await.expect("boot");
    let (customer_id, customer) = account(&shop, "customer@example.com").await;
    let (other_id, _) = account(&shop, "other@example.com").await;
    let admin = admin_token(&shop).await;

    // A forged identity header is replaced by the token's.
    let response = shop
        .client
        .get(shop.url("/api/v1/users/me"))
        .bearer_auth(&customer)
        .header("x-user-id", &other_id)
        .header("x-user-role", "admin")
        .header("x-request-id", "forged-identity-1")
        .send()
        .await
        .expect("request");
    let (status, me) = json(response).await;
    assert_eq!(status, 200);
    assert_eq!(me["id"].as_str(), Some(customer_id.as_str()), "{me}");

    // Its log line: one JSON object, the verified user, never the token.
    let log_path = shop.state_dir().join("logs/gateway_stderr.txt");
    let deadline = Instant::now() + Duration::from_secs(5);
    let line = loop {
        let logs = std::fs::read_to_string(&log_path).unwrap_or_default();
        assert!(!logs.contains(&customer), "a token leaked into the logs");
        if let Some(line) = logs.lines().find(|l| l.contains("forged-identity-1")) {
            break line.to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "no log line in {}",
            log_path.display()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let line: Value = serde_json::from_str(&line).expect("a JSON log line");
    assert_eq!(line["method"], "GET");
    assert_eq!(line["route"], "/users/me");
    assert_eq!(line["status"], 200);
    assert_eq!(line["upstream"], "users");
    assert_eq!(line["user_id"].as_str(), Some(customer_id.as_str()));
    assert!(line["duration_ms"].as_f64().is_some(), "{line}");
    // Without a token, forged headers get nothing.
    let response = shop
        .client
        .get(shop.url("/api/v1/users/me"))
        .header("x-user-id", &other_id)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 401);

    let product = json!({ "sku": "GW-1", "name": "Gateway mug", "description": "A mug",
        "price": { "amount": 1299, "currency": "EUR" }, "category_id": null });
    let (status, body) = shop
        .as_(Caller::Anonymous)
        .post("/api/v1/products")
        .json(&product)
        .send()
        .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (401, &json!("unauthorized"))
    );
    let (status, body) = shop
        .as_(Caller::bearer(&customer))
        .post("/api/v1/products")
        .json(&product)
        .send()
        .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (403, &json!("forbidden")),
        "{body}"
    );
    let (status, created) = shop
        .as_(Caller::bearer(&admin))
        .post("/api/v1/products")
        .json(&product)
        .send()
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().expect("id");
    let (status, fetched) = shop
        .as_(Caller::Anonymous)
        .get(&format!("/api/v1/products/{id}"))
        .send()
        .await;
    assert_eq!((status, &fetched["sku"]), (200, &json!("GW-1")));
    let (status, _) = shop
        .as_(Caller::bearer(&customer))
        .get(&format!("/api/v1/inventory/{id}"))
        .send()
        .await;
    assert_eq!(status, 403);
    let (status, stock) = shop
        .as_(Caller::bearer(&admin))
        .get(&format!("/api/v1/inventory/{id}"))
        .send()
        .await;
    assert_eq!(status, 200, "{stock}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tracing_cors_and_body_limit() {
    let shop = boot_over_redis().await;

    // A valid traceparent and request id are kept, echoed, and forwarded: the users component
    // puts the trace on the event it publishes.
    let events = shop.subscribe("users.events", 1).expect("subscribed");
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let response = shop
        .client
        .post(shop.url("/api/v1/auth/register"))
        .header("traceparent", format!("00-{trace_id}-00f067aa0ba902b7-01"))
        .header("x-request-id", "client-req-42")
        .json(&json!({ "email": "traced@example.com", "password": PASSWORD, "name": "T" }))
        .send()
        .await
        .expect("register");
    assert_eq!(response.status(), 201);
    assert_eq!(
        header(&response, "x-request-id").as_deref(),
        Some("client-req-42")
    );
    let traceparent = header(&response, "traceparent").expect("traceparent");
    assert!(
        traceparent.starts_with(&format!("00-{trace_id}-")),
        "{traceparent}"
    );
    assert!(
        !traceparent.contains("00f067aa0ba902b7"),
        "the gateway is a new span"
    );
    assert!(header(&response, "x-response-time").is_some_and(|v| v.ends_with("ms")));
    assert!(header(&response, "server-timing").is_some_and(|v| v.contains("gateway;dur=")));
    let event = events
        .received()
        .await
        .pop()
        .expect("user.registered published");
    assert_eq!(
        event["trace"]["traceparent"].as_str(),
        Some(traceparent.as_str()),
        "{event}"
    );

    // Invalid ones are replaced.
    let response = shop
        .client
        .get(shop.url("/api/v1/products"))
        .header("traceparent", "00-zzzz-00f067aa0ba902b7-01")
        .header("x-request-id", "bad id\twith tab")
        .send()
        .await
        .expect("request");
    let request_id = header(&response, "x-request-id").expect("request id");
    assert!(uuid::Uuid::parse_str(&request_id).is_ok(), "{request_id}");
    let traceparent = header(&response, "traceparent").expect("traceparent");
    assert_eq!(traceparent.len(), 55, "{traceparent}");
    assert!(!traceparent.contains("zzzz"));

    // CORS: preflight answered by the gateway, allowed origin only.
    let origin = "http://localhost:5173";
    let response = shop
        .client
        .request(reqwest::Method::OPTIONS, shop.url("/api/v1/products"))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type",
        )
        .send()
        .await
        .expect("preflight");
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
        .client
        .request(reqwest::Method::OPTIONS, shop.url("/api/v1/products"))
        .header("origin", "https://evil.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .expect("preflight");
    assert_eq!(response.status(), 403);
    assert_eq!(header(&response, "access-control-allow-origin"), None);
    let response = shop
        .client
        .get(shop.url("/api/v1/categories"))
        .header("origin", origin)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, "access-control-allow-origin").as_deref(),
        Some(origin)
    );
    let response = shop
        .client
        .get(shop.url("/api/v1/categories"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .expect("request");
    assert_eq!(header(&response, "access-control-allow-origin"), None);

    // Body limit: 1 MiB.
    let oversized = "x".repeat(1024 * 1024 + 1);
    let response = shop
        .client
        .post(shop.url("/api/v1/auth/register"))
        .header("content-type", "application/json")
        .body(oversized)
        .send()
        .await
        .expect("oversized");
    let (status, body) = json(response).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (413, &json!("payload_too_large")),
        "{body}"
    );

    // Also without a declared length: a chunked body is cut off once it passes the limit.
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
    let manifest = wasmshop_tests::build_app().expect("build");
    let variables = [("rate_limit_read".to_owned(), "3/2".to_owned())].into();
    let shop = Wasmshop::boot_with(manifest, variables)
        .await
        .expect("boot");

    for remaining in ["2", "1", "0"] {
        let response = shop
            .as_(Caller::Anonymous)
            .get("/api/v1/categories")
            .response()
            .await;
        assert_eq!(response.status(), 200);
        assert_eq!(header(&response, "ratelimit-limit").as_deref(), Some("3"));
        assert_eq!(
            header(&response, "ratelimit-remaining").as_deref(),
            Some(remaining)
        );
        assert!(header(&response, "ratelimit-reset").is_some());
    }
    let response = shop
        .as_(Caller::Anonymous)
        .get("/api/v1/products")
        .response()
        .await;
    let retry_after: u64 = header(&response, "retry-after")
        .expect("retry-after")
        .parse()
        .expect("seconds");
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    assert_eq!(
        header(&response, "ratelimit-remaining").as_deref(),
        Some("0")
    );
    let (status, body) = json(response).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (429, &json!("too_many_requests"))
    );

    // Another class has its own budget.
    let body = json!({ "email": "limited@example.com", "password": PASSWORD, "name": "L" });
    let (status, _) = shop
        .as_(Caller::Anonymous)
        .post("/api/v1/auth/register")
        .json(&body)
        .send()
        .await;
    assert_eq!(status, 201);

    // The window passes.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let response = shop
            .as_(Caller::Anonymous)
            .get("/api/v1/categories")
            .response()
            .await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn breaker_opens_on_a_failing_upstream_and_fails_fast() {
    // Without the catalog component, chaining to it fails at once: a failing upstream.
    let mut manifest = wasmshop_tests::build_app().expect("build");
    manifest.components.retain(|id, _| id != "catalog");
    manifest.http_triggers.retain(|t| t.component != "catalog");
    manifest.redis_triggers.retain(|t| t.component != "catalog");
    let shop = Wasmshop::boot_with(manifest, Default::default())
        .await
        .expect("boot");

    let (status, body) = shop.as_(Caller::Anonymous).get("/ready").send().await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["services"]["catalog"]["status"], "down", "{body}");
    assert_eq!(body["services"]["users"]["status"], "up", "{body}");

    // Five failures in the window (each GET already retried twice) open the circuit.
    for _ in 0..5 {
        let (status, body) = shop
            .as_(Caller::Anonymous)
            .get("/api/v1/categories")
            .send()
            .await;
        assert_eq!(
            (status, &body["error"]["code"]),
            (502, &json!("bad_gateway")),
            "{body}"
        );
    }
    let started = Instant::now();
    let response = shop
        .as_(Caller::Anonymous)
        .get("/api/v1/products")
        .response()
        .await;
    let retry_after: u64 = header(&response, "retry-after")
        .expect("retry-after")
        .parse()
        .expect("seconds");
    assert!((1..=10).contains(&retry_after), "{retry_after}");
    let (status, body) = json(response).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (503, &json!("circuit_open")),
        "{body}"
    );
    assert!(started.elapsed() < Duration::from_secs(2), "fails fast");
    let mut redis = shop.redis.connection().expect("redis");
    let open_until: Option<String> = redis::cmd("GET")
        .arg("breaker:catalog:open_until")
        .query(&mut redis)
        .expect("GET");
    assert!(open_until.is_some(), "the state is in Redis");

    // Other upstreams are unaffected.
    let body = json!({ "email": "breaker@example.com", "password": PASSWORD, "name": "B" });
    let (status, _) = shop
        .as_(Caller::Anonymous)
        .post("/api/v1/auth/register")
        .json(&body)
        .send()
        .await;
    assert_eq!(status, 201);
}

/// The app with `catalog` played by the spin-conformance fixture, which fails or answers on
/// demand (`?op=trap`, `?op=noop`, `?op=sleep&ms=`), and `/metrics` served, so a test can count
/// what reaches the upstream.
/// The whole app with its events on Redis, where a test can watch them.
async fn boot_over_redis() -> Wasmshop {
    let manifest = wasmshop_tests::build_app().expect("build");
    let variables = [("event_transport".to_owned(), "redis".to_owned())].into();
    Wasmshop::boot_with(manifest, variables)
        .await
        .expect("boot")
}

async fn shop_with_puppet_catalog(variables: &[(&str, &str)]) -> Wasmshop {
    use local_infra::manifest::ComponentSource;
    let mut manifest = wasmshop_tests::build_app().expect("build");
    let fixture = local_infra::testing::build_wasm_package(
        &wasmshop_tests::workspace_root(),
        "spin-conformance",
    )
    .expect("fixture");
    let catalog = manifest.components.get_mut("catalog").expect("catalog");
    catalog.source = ComponentSource::Local(fixture.display().to_string());
    catalog.build = None;
    manifest.redis_triggers.retain(|t| t.component != "catalog");
    let variables = variables
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    Wasmshop::boot_configured(manifest, variables, |options| {
        options.metrics_listen = Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
    })
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_breaker_spares_the_upstream_and_closes_after_it_recovers() {
    let shop = shop_with_puppet_catalog(&[("breaker_open_ms", "1500")]).await;

    // Five failures in the window open the circuit (a trap is a 500: not retried).
    for _ in 0..5 {
        let response = shop
            .as_(Caller::Anonymous)
            .get("/api/v1/products?op=trap")
            .response()
            .await;
        assert_eq!(response.status(), 500);
    }
    let before = served_to(&shop, "catalog").await;
    assert_eq!(before, 5, "each failure reached the upstream once");

    // While open: fast 503s, and the upstream sees nothing.
    for _ in 0..5 {
        let response = shop
            .as_(Caller::Anonymous)
            .get("/api/v1/products?op=noop")
            .response()
            .await;
        assert!(header(&response, "retry-after").is_some());
        let (status, body) = json(response).await;
        assert_eq!(
            (status, &body["error"]["code"]),
            (503, &json!("circuit_open")),
            "{body}"
        );
    }
    assert_eq!(
        served_to(&shop, "catalog").await,
        before,
        "no call while open"
    );

    // After the open period one probe goes through; it succeeds and the circuit closes.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let response = shop
            .as_(Caller::Anonymous)
            .get("/api/v1/products?op=noop")
            .response()
            .await;
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
        let response = shop
            .as_(Caller::Anonymous)
            .get("/api/v1/products?op=noop")
            .response()
            .await;
        assert_eq!(response.status(), 200);
    }
    let mut redis = shop.redis.connection().expect("redis");
    let open_until: Option<String> = redis::cmd("GET")
        .arg("breaker:catalog:open_until")
        .query(&mut redis)
        .expect("GET");
    assert_eq!(open_until, None, "closed: the state is cleared");
    assert_eq!(served_to(&shop, "catalog").await, before + 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bulkhead_caps_requests_in_flight_per_upstream() {
    let shop = shop_with_puppet_catalog(&[("upstream_max_in_flight", "1")]).await;
    let slow = {
        let client = shop.client.clone();
        let url = shop.url("/api/v1/products?op=sleep&ms=1500");
        tokio::spawn(async move { client.get(url).send().await.expect("slow").status() })
    };
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
    let response = shop
        .as_(Caller::Anonymous)
        .get("/api/v1/products?op=noop")
        .response()
        .await;
    assert_eq!(header(&response, "retry-after").as_deref(), Some("1"));
    let (status, body) = json(response).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (503, &json!("upstream_busy")),
        "{body}"
    );
    // Other upstreams have their own bulkheads.
    let (status, _) = shop
        .as_(Caller::Anonymous)
        .get("/api/v1/users/me")
        .send()
        .await;
    assert_eq!(status, 401);
    assert_eq!(slow.await.expect("join"), 200);
    let response = shop
        .as_(Caller::Anonymous)
        .get("/api/v1/products?op=noop")
        .response()
        .await;
    assert_eq!(response.status(), 200, "the slot was given back");
}

/// Redis down: public reads still served (fail open), writes and anything needing a token
/// refused with a JSON 503 (fail closed: a revoked token could not be recognised); back to
/// normal when Redis returns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_outage_policy_fails_open_for_reads_and_closed_for_writes() {
    let mut shop = Wasmshop::boot().await.expect("boot");
    let (_, token) = account(&shop, "outage@example.com").await;
    shop.redis.stop();

    let (status, body) = shop
        .as_(Caller::Anonymous)
        .get("/api/v1/products?limit=1")
        .send()
        .await;
    assert_eq!(status, 200, "reads fail open: {body}");
    let body = json!({ "email": "late@example.com", "password": PASSWORD, "name": "Late" });
    let (status, error) = shop
        .as_(Caller::Anonymous)
        .post("/api/v1/auth/register")
        .json(&body)
        .send()
        .await;
    assert_eq!(
        (status, &error["error"]["code"]),
        (503, &json!("service_unavailable")),
        "{error}"
    );
    let (status, error) = shop
        .as_(Caller::bearer(&token))
        .get("/api/v1/users/me")
        .send()
        .await;
    assert_eq!(
        (status, &error["error"]["code"]),
        (503, &json!("service_unavailable")),
        "{error}"
    );

    shop.redis.restart().expect("redis restarts");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (status, _) = shop
            .as_(Caller::Anonymous)
            .post("/api/v1/auth/register")
            .json(&body)
            .send()
            .await;
        if status == 201 {
            break;
        }
        assert_eq!(status, 503);
        assert!(Instant::now() < deadline, "never recovered");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (status, _) = shop
        .as_(Caller::bearer(&token))
        .get("/api/v1/users/me")
        .send()
        .await;
    assert_eq!(status, 200);
}

/// The shopping and operator routes reach their contexts with what those need: the verified
/// identity, `Idempotency-Key`, `content-type`, `traceparent`; `Location` comes back; admin
/// routes of every context are admin-only; `/ready` covers all six upstreams.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shopping_and_operator_routes_reach_their_contexts() {
    let shop = boot_over_redis().await;
    let (_, customer) = account(&shop, "shopper@example.com").await;
    let admin = admin_token(&shop).await;

    let (status, body) = shop.as_(Caller::Anonymous).get("/ready").send().await;
    assert_eq!(status, 200, "{body}");
    for service in CONTEXTS {
        assert_eq!(
            body["services"][service]["status"], "up",
            "{service}: {body}"
        );
    }

    // Public: shipping quotes (shipping's `/quotes`).
    let (status, quote) = shop
        .as_(Caller::Anonymous)
        .get("/api/v1/shipping/quotes?country=DE&weight_grams=500")
        .send()
        .await;
    assert_eq!(status, 200, "{quote}");

    // Signed in: the cart, then a checkout with an idempotency key, twice.
    let (_, page) = shop
        .as_(Caller::Anonymous)
        .get("/api/v1/products?limit=1")
        .send()
        .await;
    let product_id = page["items"][0]["id"].as_str().expect("a seeded product");
    let item = json!({ "product_id": product_id, "quantity": 1 });
    let (status, _) = shop
        .as_(Caller::Anonymous)
        .post("/api/v1/cart/items")
        .json(&item)
        .send()
        .await;
    assert_eq!(status, 401, "the cart needs a token");
    let (status, cart) = shop
        .as_(Caller::bearer(&customer))
        .post("/api/v1/cart/items")
        .json(&item)
        .send()
        .await;
    assert!(matches!(status, 200 | 201), "{status} {cart}");
    let (status, cart) = shop
        .as_(Caller::bearer(&customer))
        .get("/api/v1/cart")
        .send()
        .await;
    assert_eq!(status, 200, "{cart}");
    assert_eq!(
        cart["lines"][0]["product_id"].as_str(),
        Some(product_id),
        "{cart}"
    );

    let checkout = json!({ "shipping_address": { "name": "Ada", "line1": "1 Way", "line2": null,
        "city": "Berlin", "postal_code": "10115", "country": "DE" }, "payment_token": "tok_visa" });
    let (status, error) = shop
        .as_(Caller::bearer(&customer))
        .post("/api/v1/orders")
        .json(&checkout)
        .send()
        .await;
    assert_eq!(
        (status, &error["error"]["code"]),
        (400, &json!("idempotency_key_required")),
        "{error}"
    );
    let events = shop.subscribe("orders.events", 1).expect("subscribed");
    let place = || {
        shop.client
            .post(shop.url("/api/v1/orders"))
            .bearer_auth(&customer)
            .header("idempotency-key", "gateway-checkout-1")
            .json(&checkout)
            .send()
    };
    let response = place().await.expect("checkout");
    let location = header(&response, "location").expect("location passes through");
    let traceparent = header(&response, "traceparent").expect("traceparent");
    let (status, order) = json(response).await;
    assert_eq!(status, 202, "{order}");
    let order_id = order["id"].as_str().expect("id").to_owned();
    assert_eq!(location, format!("/api/v1/orders/{order_id}"));
    let (status, again) = json(place().await.expect("checkout again")).await;
    assert_eq!(
        (status, again["id"].as_str()),
        (202, Some(order_id.as_str())),
        "the key reached orders: {again}"
    );
    let created = events.received().await.pop().expect("order.created");
    assert_eq!(
        created["subject"].as_str(),
        Some(order_id.as_str()),
        "{created}"
    );
    assert_eq!(
        created["trace"]["traceparent"].as_str(),
        Some(traceparent.as_str()),
        "the gateway's trace context reached orders: {created}"
    );
    let (status, fetched) = shop
        .as_(Caller::bearer(&customer))
        .get(&format!("/api/v1/orders/{order_id}"))
        .send()
        .await;
    assert_eq!(status, 200, "{fetched}");
    for path in [
        "/api/v1/orders",
        "/api/v1/payments",
        "/api/v1/shipments",
        "/api/v1/notifications",
    ] {
        let (status, body) = shop.as_(Caller::bearer(&customer)).get(path).send().await;
        assert_eq!(status, 200, "{path}: {body}");
        let (status, _) = shop.as_(Caller::Anonymous).get(path).send().await;
        assert_eq!(status, 401, "{path} without a token");
    }

    // Operator routes: admin-only, mapped to each context's own `/admin/...`.
    for context in CONTEXTS {
        let path = format!("/api/v1/admin/{context}/dead-letters");
        let (status, body) = shop.as_(Caller::bearer(&customer)).get(&path).send().await;
        assert_eq!(
            (status, &body["error"]["code"]),
            (403, &json!("forbidden")),
            "{path}"
        );
        let (status, body) = shop.as_(Caller::bearer(&admin)).get(&path).send().await;
        assert_eq!(status, 200, "{path}: {body}");
        assert!(body["items"].is_array(), "{path}: {body}");
        let path = format!("/api/v1/admin/{context}/recovery");
        let (status, body) = shop.as_(Caller::bearer(&admin)).post(&path).send().await;
        assert_eq!(status, 200, "{path}: {body}");
        let path =
            format!("/api/v1/admin/{context}/dead-letters/0190d7a0-0000-7000-8000-000000000009");
        let (status, _) = shop.as_(Caller::bearer(&admin)).delete(&path).send().await;
        assert_eq!(status, 404, "{path}: no such dead letter");
    }
    let (status, body) = shop
        .as_(Caller::bearer(&admin))
        .get("/api/v1/admin/notifications/notifications")
        .send()
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = shop
        .as_(Caller::bearer(&customer))
        .post("/api/v1/admin/payments/payments/0190d7a0-0000-7000-8000-000000000009/refund")
        .send()
        .await;
    assert_eq!(status, 403);
    let shipment_status = json!({ "status": "in_transit" });
    let (status, _) = shop
        .as_(Caller::bearer(&customer))
        .post("/api/v1/shipments/0190d7a0-0000-7000-8000-000000000009/status")
        .json(&shipment_status)
        .send()
        .await;
    assert_eq!(status, 403, "shipment status is for operators");
    let response = shop
        .as_(Caller::bearer(&customer))
        .put("/api/v1/orders")
        .response()
        .await;
    assert_eq!(header(&response, "allow").as_deref(), Some("GET, POST"));
    assert_eq!(response.status(), 405);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_reads_are_shared_from_the_cache_and_writes_drop_them() {
    let manifest = wasmshop_tests::build_app().expect("build");
    let shop = Wasmshop::boot_configured(manifest, Default::default(), |options| {
        options.metrics_listen = Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
    })
    .await
    .expect("boot");
    let admin = sign(
        &claims(&uuid::Uuid::now_v7().to_string(), "admin"),
        TEST_JWT_SECRET,
    );
    let body = json!({ "sku": "CACHE-1", "name": "Cached lamp", "description": "",
        "price": { "amount": 1_500, "currency": "EUR" }, "category_id": null });
    let (status, product) = shop
        .as_(Caller::bearer(&admin))
        .post("/api/v1/products")
        .json(&body)
        .send()
        .await;
    assert_eq!(status, 201, "{product}");
    let path = format!("/api/v1/products/{}", product["id"].as_str().expect("id"));
    let served_before = served_to(&shop, "catalog").await;

    // The first read asks catalog and keeps its public answer; the next ones, anonymous or
    // not, are answered from the cache, with the same body and the client's rate-limit count.
    let first = shop.as_(Caller::Anonymous).get(&path).response().await;
    assert_eq!(header(&first, "x-cache"), None);
    let (status, first) = json(first).await;
    assert_eq!((status, &first["price"]["amount"]), (200, &json!(1_500)));
    let (_, customer) = account(&shop, "cache-reader@example.com").await;
    for token in [None, Some(customer.as_str())] {
        let again = shop
            .as_(token.map(Caller::bearer))
            .get(&path)
            .response()
            .await;
        assert_eq!(header(&again, "x-cache").as_deref(), Some("hit"));
        assert!(header(&again, "ratelimit-remaining").is_some());
        assert_eq!(json(again).await, (200, first.clone()));
    }
    assert_eq!(served_to(&shop, "catalog").await - served_before, 1);

    // An admin's change through the gateway is read back at once.
    let change = json!({ "sku": "CACHE-1", "name": "Cached lamp", "description": "",
        "price": { "amount": 1_900, "currency": "EUR" }, "category_id": null, "active": true });
    let (status, changed) = shop
        .as_(Caller::bearer(&admin))
        .put(&path)
        .json(&change)
        .send()
        .await;
    assert_eq!(status, 200, "{changed}");
    let after = shop.as_(Caller::Anonymous).get(&path).response().await;
    assert_eq!(header(&after, "x-cache"), None);
    assert_eq!(json(after).await.1["price"]["amount"], 1_900);

    // Withdrawn from sale: only admins see it, and their answer is never shared.
    let (status, _) = shop.as_(Caller::bearer(&admin)).delete(&path).send().await;
    assert!(status == 200 || status == 204, "delete: {status}");
    for _ in 0..2 {
        let seen = shop.as_(Caller::bearer(&admin)).get(&path).response().await;
        assert_eq!(header(&seen, "x-cache"), None);
        assert_eq!(json(seen).await.0, 200);
    }
    assert_eq!(shop.as_(Caller::Anonymous).get(&path).send().await.0, 404);

    // A reader's own data is never looked up in the cache.
    for _ in 0..2 {
        let me = shop
            .as_(Caller::bearer(&customer))
            .get("/api/v1/users/me")
            .response()
            .await;
        assert_eq!(header(&me, "x-cache"), None);
        assert_eq!(json(me).await.0, 200);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_entry_is_refreshed_by_one_request_while_the_others_are_answered_with_it() {
    let shop = shop_with_puppet_catalog(&[]).await;
    let path = "/api/v1/products/any?op=shared&max_age=1";
    let read = || async {
        let response = shop.as_(Caller::Anonymous).get(path).response().await;
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

// #14 item 10: with two `Authorization` headers the gateway verified one and users revoked the
// other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_authorization_headers_are_refused() {
    use reqwest::header::AUTHORIZATION;

    let shop = Wasmshop::boot().await.expect("boot");
    let (_, ada) = account(&shop, "ada@example.com").await;
    let (_, grace) = account(&shop, "grace@example.com").await;

    for (method, path) in [("POST", "/api/v1/auth/logout"), ("GET", "/api/v1/users/me")] {
        // `RequestBuilder::header` appends: the request carries both values.
        let response = shop
            .client
            .request(method.parse().expect("method"), shop.url(path))
            .header(AUTHORIZATION, format!("Bearer {ada}"))
            .header(AUTHORIZATION, format!("Bearer {grace}"))
            .send()
            .await
            .expect("request");
        let (status, body) = json(response).await;
        assert_eq!(status, 400, "{method} {path}: {body}");
        assert_eq!(body["error"]["code"], "invalid_request", "{body}");
        assert!(body["error"]["message"].is_string(), "{body}");
    }
    // Neither token was revoked.
    for token in [&ada, &grace] {
        let response = shop
            .as_(Caller::bearer(token))
            .get("/api/v1/users/me")
            .response()
            .await;
        assert_eq!(response.status(), 200);
    }

    // One header logs out as before, and only that token.
    let response = shop
        .as_(Caller::bearer(&grace))
        .post("/api/v1/auth/logout")
        .response()
        .await;
    assert_eq!(response.status(), 204);
    assert_unauthorized(&shop, Some(&grace), "logged out").await;
    let response = shop
        .as_(Caller::bearer(&ada))
        .get("/api/v1/users/me")
        .response()
        .await;
    assert_eq!(response.status(), 200);
}

/// The whole app with `variables` on top of the defaults.
async fn boot_with_variables(variables: &[(&str, &str)]) -> Wasmshop {
    let manifest = wasmshop_tests::build_app().expect("build");
    let variables = variables
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect();
    Wasmshop::boot_with(manifest, variables)
        .await
        .expect("boot")
}

/// `POST /api/v1/auth/login` for `email` with the right password, optionally carrying a bearer
/// token and an `X-Forwarded-For`.
async fn login_as(
    shop: &Wasmshop,
    email: &str,
    token: Option<&str>,
    forwarded_for: Option<&str>,
) -> reqwest::Response {
    let mut request = shop
        .client
        .post(shop.url("/api/v1/auth/login"))
        .json(&json!({ "email": email, "password": PASSWORD }));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(forwarded_for) = forwarded_for {
        request = request.header("x-forwarded-for", forwarded_for);
    }
    request.send().await.expect("login")
}

// #14 item 3: a credential request carrying any valid token was counted under its user, so each
// new account bought a fresh budget of Argon2 work from the same address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credential_routes_are_limited_per_address_even_with_a_token() {
    let shop = boot_with_variables(&[("rate_limit_auth", "3/60")]).await;
    // Register and log in: two of the address's three.
    let (_, token) = account(&shop, "ada@example.com").await;
    let response = login_as(&shop, "ada@example.com", Some(&token), None).await;
    assert_eq!(response.status(), 200, "the third request of the window");
    assert_eq!(
        header(&response, "ratelimit-remaining").as_deref(),
        Some("0")
    );
    let (status, body) = json(login_as(&shop, "ada@example.com", Some(&token), None).await).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (429, &json!("too_many_requests")),
        "a token buys no budget of its own: {body}"
    );
    let register = json!({ "email": "bob@example.com", "password": PASSWORD, "name": "Bob" });
    let (status, body) = shop
        .as_(Caller::bearer(&token))
        .post("/api/v1/auth/register")
        .json(&register)
        .send()
        .await;
    assert_eq!(status, 429, "{body}");
    // Other classes still count per user: the token's owner reads its profile.
    let (status, body) = shop
        .as_(Caller::bearer(&token))
        .get("/api/v1/users/me")
        .send()
        .await;
    assert_eq!(status, 200, "{body}");
}

// #14 item 3: `X-Forwarded-For` is believed only from a trusted proxy; the harness's peer
// (loopback) is not one here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_for_from_an_untrusted_peer_changes_nothing() {
    let shop = boot_with_variables(&[
        ("rate_limit_auth", "2/60"),
        ("trusted_proxies", "10.0.0.0/8, 192.0.2.7"),
    ])
    .await;
    for (i, forwarded) in ["203.0.113.1", "203.0.113.2"].into_iter().enumerate() {
        let (status, body) =
            json(login_as(&shop, "nobody@example.com", None, Some(forwarded)).await).await;
        assert_eq!(status, 401, "request {i}: {body}");
    }
    for forwarded in [
        "203.0.113.3",
        "10.1.2.3",
        "192.0.2.7",
        "127.0.0.1",
        "garbage",
    ] {
        let (status, body) =
            json(login_as(&shop, "nobody@example.com", None, Some(forwarded)).await).await;
        assert_eq!(status, 429, "X-Forwarded-For {forwarded}: {body}");
    }
}

// #14 item 3: behind a trusted proxy each client has its own budget, and the right-most address
// the proxies did not add is the client, whatever the client wrote to the left of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_proxy_each_client_address_is_counted_apart() {
    let shop = boot_with_variables(&[
        ("rate_limit_auth", "2/60"),
        ("trusted_proxies", "127.0.0.1, 10.0.0.0/8"),
    ])
    .await;
    for forwarded in ["203.0.113.1", "198.51.100.1, 203.0.113.1, 10.0.0.5"] {
        let (status, body) =
            json(login_as(&shop, "nobody@example.com", None, Some(forwarded)).await).await;
        assert_eq!(status, 401, "{forwarded}: {body}");
    }
    // A forged left part does not make the same client someone else.
    let (status, body) = json(
        login_as(
            &shop,
            "nobody@example.com",
            None,
            Some("198.51.100.2, 203.0.113.1"),
        )
        .await,
    )
    .await;
    assert_eq!(status, 429, "{body}");
    // Another client behind the same proxy has its own budget.
    let (status, body) =
        json(login_as(&shop, "nobody@example.com", None, Some("203.0.113.2")).await).await;
    assert_eq!(status, 401, "{body}");
}

// #14 item 2: the recovery credential opens the recovery tick of each context and nothing else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_recovery_token_runs_the_recovery_tick_and_nothing_else() {
    let shop = Wasmshop::boot().await.expect("boot");
    let recovery = wasmshop_tests::TEST_RECOVERY_TOKEN;
    for context in CONTEXTS {
        let path = format!("/api/v1/admin/{context}/recovery");
        let (status, body) = shop.as_(Caller::bearer(recovery)).post(&path).send().await;
        assert_eq!(status, 200, "{path}: {body}");
        assert!(body.is_object(), "{path}: a report: {body}");
    }
    let refused = [
        ("GET", "/api/v1/admin/catalog/dead-letters"),
        (
            "POST",
            "/api/v1/admin/catalog/dead-letters/0190d7a0-0000-7000-8000-000000000009/retry",
        ),
        ("GET", "/api/v1/admin/notifications/notifications"),
        ("GET", "/api/v1/users/me"),
        ("GET", "/api/v1/orders"),
        ("GET", "/api/v1/products"),
        ("POST", "/api/v1/auth/logout"),
    ];
    for (method, path) in refused {
        let (status, body) = shop
            .as_(Caller::bearer(recovery))
            .method(method, path)
            .send()
            .await;
        assert_eq!(
            (status, &body["error"]["code"]),
            (401, &json!("unauthorized")),
            "{method} {path}: {body}"
        );
    }
    // Not the credential: a near miss is refused on the recovery route too.
    let near = format!("{recovery}x");
    for token in [near.as_str(), &recovery[..recovery.len() - 1]] {
        let (status, body) = shop
            .as_(Caller::bearer(token))
            .post("/api/v1/admin/catalog/recovery")
            .send()
            .await;
        assert_eq!(status, 401, "{body}");
    }
}

// An empty `recovery_token` (the default) means there is no recovery credential at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_recovery_token_opens_nothing() {
    let shop = boot_with_variables(&[("recovery_token", "")]).await;
    let (status, body) = shop
        .as_(Caller::bearer(wasmshop_tests::TEST_RECOVERY_TOKEN))
        .post("/api/v1/admin/catalog/recovery")
        .send()
        .await;
    assert_eq!(status, 401, "{body}");
}
