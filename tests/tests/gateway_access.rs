//! The public entry, booted with the whole app from the real `spin.toml`, on who reaches what:
//! routing, health and readiness, JWT authentication (every attack gets 401), roles, identity
//! forwarding and tracing, the operator routes and the recovery credential.

use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use wasmshop_tests::client::{
    ApiClient, Caller, PASSWORD, assert_error, assert_method_not_allowed, header,
};
use wasmshop_tests::tokens::{claims, now, sign};
use wasmshop_tests::{CONTEXTS, TEST_JWT_SECRET, TEST_RECOVERY_TOKEN, Wasmshop, json};

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

fn token(client: &ApiClient) -> &str {
    client.token.as_deref().expect("a logged-in client")
}

fn user_id(client: &ApiClient) -> &str {
    client.user_id.as_deref().expect("a logged-in client")
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

/// The whole app with its events on Redis, where a test can watch them.
async fn boot_over_redis() -> Wasmshop {
    Wasmshop::app()
        .variables(&[("event_transport", "redis")])
        .start()
        .await
        .expect("boot")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_answers_health_and_uniform_json_errors() {
    let shop = Wasmshop::app()
        .start()
        .await
        .expect("wasmshop boots from spin.toml");

    for path in ["/health", "/api/v1/health"] {
        let (status, body) = shop.anonymous().get(path).send().await;
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
        let (status, body) = shop.anonymous().get(path).send().await;
        assert_eq!(status, 404, "{path}: {body}");
        assert_eq!(body["error"]["code"], "not_found", "{path}");
    }
    let (status, _) = shop
        .anonymous()
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
        assert_method_not_allowed(&shop.anonymous(), method, path, allow).await;
    }

    let (status, body) = shop.anonymous().get("/ready").send().await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ready");
    for service in ["users", "catalog"] {
        assert_eq!(body["services"][service]["status"], "up", "{body}");
    }

    // Public reads reach the catalog without a token.
    let (status, page) = shop
        .anonymous()
        .get("/api/v1/products?limit=5")
        .send()
        .await;
    assert_eq!(status, 200, "{page}");
    let (status, _) = shop.anonymous().get("/api/v1/categories").send().await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_jwt_attack_gets_401() {
    let shop = Wasmshop::app().start().await.expect("boot");
    let victim = shop.customer("victim@example.com").await;
    let (user_id, token) = (user_id(&victim), token(&victim));

    // The real token works, and so does one crafted natively with the right secret and claims:
    // each attack below differs from it in exactly the attacked respect.
    let (status, me) = shop.as_(&victim).get("/api/v1/users/me").send().await;
    assert_eq!((status, me["id"].as_str()), (200, Some(user_id)), "{me}");
    let good = claims(user_id, "customer");
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
        let (status, body) = shop
            .anonymous()
            .get("/api/v1/users/me")
            .header("authorization", malformed)
            .send()
            .await;
        assert_eq!(status, 401, "{malformed}: {body}");
    }

    let payload = b64(good.to_string().as_bytes());
    let rs256 = format!("{}.{payload}", b64(br#"{"alg":"RS256","typ":"JWT"}"#));
    let hmac_of_rs256 = jsonwebtoken::crypto::sign(
        rs256.as_bytes(),
        &EncodingKey::from_secret(TEST_JWT_SECRET.as_bytes()),
        Algorithm::HS256,
    )
    .expect("hmac");
    let hs512 = jsonwebtoken::encode(
        &Header::new(Algorithm::HS512),
        &good,
        &EncodingKey::from_secret(TEST_JWT_SECRET.as_bytes()),
    )
    .expect("sign");
    let mut tampered: Vec<&str> = token.split('.').collect();
    let admin_payload = b64(with(good.clone(), "role", json!("admin"))
        .to_string()
        .as_bytes());
    tampered[1] = &admin_payload;
    let now = now();
    let signed_with = |field, value| sign(&with(good.clone(), field, value), TEST_JWT_SECRET);
    let attacks = [
        (
            "alg none",
            format!("{}.{payload}.", b64(br#"{"alg":"none","typ":"JWT"}"#)),
        ),
        ("RS256/HMAC confusion", format!("{rs256}.{hmac_of_rs256}")),
        ("HS512", hs512),
        (
            "wrong secret",
            sign(&good, "a-different-secret-0123456789abcdef"),
        ),
        ("tampered payload", tampered.join(".")),
        ("expired", signed_with("exp", json!(now - 120))),
        ("not yet valid", signed_with("nbf", json!(now + 300))),
        ("wrong aud", signed_with("aud", json!("another-api"))),
        ("wrong iss", signed_with("iss", json!("evil"))),
        ("unknown role", signed_with("role", json!("root"))),
    ];
    for (what, forged) in attacks {
        assert_unauthorized(&shop, Some(&forged), what).await;
    }

    // A present-but-invalid token is refused on public routes too.
    let (status, _) = shop
        .as_(Caller::bearer("garbage"))
        .get("/api/v1/products")
        .send()
        .await;
    assert_eq!(status, 401);

    // Revoked after logout.
    let (status, _) = shop.as_(&victim).post("/api/v1/auth/logout").send().await;
    assert_eq!(status, 204);
    assert_unauthorized(&shop, Some(token), "revoked").await;
    // Also where its role would not do: revoked comes first (401, not 403).
    assert_error(
        &shop
            .as_(&victim)
            .get("/api/v1/admin/orders/dead-letters")
            .send()
            .await,
        401,
        "unauthorized",
    );
}

/// Identity headers from a client are never believed: upstreams get the token's identity, and
/// the access log names it without the token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_is_verified() {
    let shop = Wasmshop::app().start().await.expect("boot");
    let customer = shop.customer("customer@example.com").await;
    let other = shop.customer("other@example.com").await;

    // A forged identity header is replaced by the token's.
    let (status, me) = shop
        .as_(&customer)
        .get("/api/v1/users/me")
        .header("x-user-id", user_id(&other))
        .header("x-user-role", "admin")
        .header("x-request-id", "forged-identity-1")
        .send()
        .await;
    assert_eq!(status, 200);
    assert_eq!(me["id"].as_str(), Some(user_id(&customer)), "{me}");

    // Its log line: one JSON object, the verified user, never the token.
    let log_path = shop.state_dir().join("logs/gateway_stderr.txt");
    let deadline = Instant::now() + Duration::from_secs(5);
    let line = loop {
        let logs = std::fs::read_to_string(&log_path).unwrap_or_default();
        assert!(
            !logs.contains(token(&customer)),
            "a token leaked into the logs"
        );
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
    assert_eq!(line["user_id"].as_str(), Some(user_id(&customer)));
    assert!(line["duration_ms"].as_f64().is_some(), "{line}");
    // Without a token, forged headers get nothing.
    let (status, _) = shop
        .anonymous()
        .get("/api/v1/users/me")
        .header("x-user-id", user_id(&other))
        .send()
        .await;
    assert_eq!(status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_are_enforced() {
    let shop = Wasmshop::app().start().await.expect("boot");
    let customer = shop.customer("customer@example.com").await;
    let admin = shop.admin().await;

    let product = json!({ "sku": "GW-1", "name": "Gateway mug", "description": "A mug",
        "price": { "amount": 1299, "currency": "EUR" }, "category_id": null });
    assert_error(
        &shop
            .anonymous()
            .post("/api/v1/products")
            .json(&product)
            .send()
            .await,
        401,
        "unauthorized",
    );
    assert_error(
        &shop
            .as_(&customer)
            .post("/api/v1/products")
            .json(&product)
            .send()
            .await,
        403,
        "forbidden",
    );
    let (status, created) = shop
        .as_(&admin)
        .post("/api/v1/products")
        .json(&product)
        .send()
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().expect("id");
    let (status, fetched) = shop
        .anonymous()
        .get(&format!("/api/v1/products/{id}"))
        .send()
        .await;
    assert_eq!((status, &fetched["sku"]), (200, &json!("GW-1")));
    let stock = format!("/api/v1/inventory/{id}");
    let (status, _) = shop.as_(&customer).get(&stock).send().await;
    assert_eq!(status, 403);
    let (status, stock) = shop.as_(&admin).get(&stock).send().await;
    assert_eq!(status, 200, "{stock}");
}

/// A valid traceparent and request id are kept, echoed, and forwarded (the users component
/// puts the trace on the event it publishes); invalid ones are replaced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_context_reaches_the_upstream() {
    let shop = boot_over_redis().await;
    let events = shop.subscribe("users.events", 1).expect("subscribed");
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let response = shop
        .anonymous()
        .post("/api/v1/auth/register")
        .header("traceparent", &format!("00-{trace_id}-00f067aa0ba902b7-01"))
        .header("x-request-id", "client-req-42")
        .json(&json!({ "email": "traced@example.com", "password": PASSWORD, "name": "T" }))
        .response()
        .await;
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

    let response = shop
        .anonymous()
        .get("/api/v1/products")
        .header("traceparent", "00-zzzz-00f067aa0ba902b7-01")
        .header("x-request-id", "bad id\twith tab")
        .response()
        .await;
    let request_id = header(&response, "x-request-id").expect("request id");
    assert!(uuid::Uuid::parse_str(&request_id).is_ok(), "{request_id}");
    let traceparent = header(&response, "traceparent").expect("traceparent");
    assert_eq!(traceparent.len(), 55, "{traceparent}");
    assert!(!traceparent.contains("zzzz"));
}

/// `/ready` asks all six upstreams.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_covers_every_context() {
    let shop = boot_over_redis().await;
    let (status, body) = shop.anonymous().get("/ready").send().await;
    assert_eq!(status, 200, "{body}");
    for service in CONTEXTS {
        assert_eq!(
            body["services"][service]["status"], "up",
            "{service}: {body}"
        );
    }
}

/// The shopping routes reach their contexts with what those need: the verified identity,
/// `Idempotency-Key`, `content-type`, `traceparent`; `Location` comes back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shopping_routes_reach_their_contexts() {
    let shop = boot_over_redis().await;
    let customer = shop.customer("shopper@example.com").await;

    // Public: shipping quotes (shipping's `/quotes`).
    let (status, quote) = shop
        .anonymous()
        .get("/api/v1/shipping/quotes?country=DE&weight_grams=500")
        .send()
        .await;
    assert_eq!(status, 200, "{quote}");

    // Signed in: the cart, then a checkout with an idempotency key, twice.
    let (_, page) = shop
        .anonymous()
        .get("/api/v1/products?limit=1")
        .send()
        .await;
    let product_id = page["items"][0]["id"].as_str().expect("a seeded product");
    let item = json!({ "product_id": product_id, "quantity": 1 });
    let (status, _) = shop
        .anonymous()
        .post("/api/v1/cart/items")
        .json(&item)
        .send()
        .await;
    assert_eq!(status, 401, "the cart needs a token");
    let (status, cart) = shop
        .as_(&customer)
        .post("/api/v1/cart/items")
        .json(&item)
        .send()
        .await;
    assert!(matches!(status, 200 | 201), "{status} {cart}");
    let (status, cart) = shop.as_(&customer).get("/api/v1/cart").send().await;
    assert_eq!(status, 200, "{cart}");
    assert_eq!(
        cart["lines"][0]["product_id"].as_str(),
        Some(product_id),
        "{cart}"
    );

    let checkout = json!({ "shipping_address": { "name": "Ada", "line1": "1 Way", "line2": null,
        "city": "Berlin", "postal_code": "10115", "country": "DE" }, "payment_token": "tok_visa" });
    assert_error(
        &shop
            .as_(&customer)
            .post("/api/v1/orders")
            .json(&checkout)
            .send()
            .await,
        400,
        "idempotency_key_required",
    );
    let events = shop.subscribe("orders.events", 1).expect("subscribed");
    let response = shop
        .as_(&customer)
        .post("/api/v1/orders")
        .header("idempotency-key", "gateway-checkout-1")
        .json(&checkout)
        .response()
        .await;
    let location = header(&response, "location").expect("location passes through");
    let traceparent = header(&response, "traceparent").expect("traceparent");
    let (status, order) = json(response).await;
    assert_eq!(status, 202, "{order}");
    let order_id = order["id"].as_str().expect("id").to_owned();
    assert_eq!(location, format!("/api/v1/orders/{order_id}"));
    let (status, again) = customer
        .checkout("gateway-checkout-1", &checkout)
        .await
        .expect("checkout again");
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
        .as_(&customer)
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
        let (status, body) = shop.as_(&customer).get(path).send().await;
        assert_eq!(status, 200, "{path}: {body}");
        let (status, _) = shop.anonymous().get(path).send().await;
        assert_eq!(status, 401, "{path} without a token");
    }
}

/// Operator routes: admin-only, mapped to each context's own `/admin/...`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_routes_are_admin_only() {
    let shop = boot_over_redis().await;
    let customer = shop.customer("shopper@example.com").await;
    let admin = shop.admin().await;

    for context in CONTEXTS {
        let path = format!("/api/v1/admin/{context}/dead-letters");
        let (status, body) = shop.as_(&customer).get(&path).send().await;
        assert_eq!(
            (status, &body["error"]["code"]),
            (403, &json!("forbidden")),
            "{path}"
        );
        let (status, body) = shop.as_(&admin).get(&path).send().await;
        assert_eq!(status, 200, "{path}: {body}");
        assert!(body["items"].is_array(), "{path}: {body}");
        let path = format!("/api/v1/admin/{context}/recovery");
        let (status, body) = shop.as_(&admin).post(&path).send().await;
        assert_eq!(status, 200, "{path}: {body}");
        let path =
            format!("/api/v1/admin/{context}/dead-letters/0190d7a0-0000-7000-8000-000000000009");
        let (status, _) = shop.as_(&admin).delete(&path).send().await;
        assert_eq!(status, 404, "{path}: no such dead letter");
    }
    let (status, body) = shop
        .as_(&admin)
        .get("/api/v1/admin/notifications/notifications")
        .send()
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = shop
        .as_(&customer)
        .post("/api/v1/admin/payments/payments/0190d7a0-0000-7000-8000-000000000009/refund")
        .send()
        .await;
    assert_eq!(status, 403);
    let shipment_status = json!({ "status": "in_transit" });
    let (status, _) = shop
        .as_(&customer)
        .post("/api/v1/shipments/0190d7a0-0000-7000-8000-000000000009/status")
        .json(&shipment_status)
        .send()
        .await;
    assert_eq!(status, 403, "shipment status is for operators");
    let response = shop.as_(&customer).put("/api/v1/orders").response().await;
    assert_eq!(header(&response, "allow").as_deref(), Some("GET, POST"));
    assert_eq!(response.status(), 405);
}

// #14 item 10: with two `Authorization` headers the gateway verified one and users revoked the
// other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_authorization_headers_are_refused() {
    let shop = Wasmshop::app().start().await.expect("boot");
    let ada = shop.customer("ada@example.com").await;
    let grace = shop.customer("grace@example.com").await;

    for (method, path) in [("POST", "/api/v1/auth/logout"), ("GET", "/api/v1/users/me")] {
        // `header` appends: the request carries both values.
        let (status, body) = shop
            .anonymous()
            .method(method, path)
            .header("authorization", &format!("Bearer {}", token(&ada)))
            .header("authorization", &format!("Bearer {}", token(&grace)))
            .send()
            .await;
        assert_eq!(status, 400, "{method} {path}: {body}");
        assert_eq!(body["error"]["code"], "invalid_request", "{body}");
        assert!(body["error"]["message"].is_string(), "{body}");
    }
    // Neither token was revoked.
    for client in [&ada, &grace] {
        let (status, _) = shop.as_(client).get("/api/v1/users/me").send().await;
        assert_eq!(status, 200);
    }

    // One header logs out as before, and only that token.
    let (status, _) = shop.as_(&grace).post("/api/v1/auth/logout").send().await;
    assert_eq!(status, 204);
    assert_unauthorized(&shop, Some(token(&grace)), "logged out").await;
    let (status, _) = shop.as_(&ada).get("/api/v1/users/me").send().await;
    assert_eq!(status, 200);
}

// #14 item 2: the recovery credential opens the recovery tick of each context and nothing else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_recovery_token_runs_the_recovery_tick_and_nothing_else() {
    let shop = Wasmshop::app().start().await.expect("boot");
    let recovery = Caller::bearer(TEST_RECOVERY_TOKEN);
    for context in CONTEXTS {
        let path = format!("/api/v1/admin/{context}/recovery");
        let (status, body) = shop.as_(&recovery).post(&path).send().await;
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
        let (status, body) = shop.as_(&recovery).method(method, path).send().await;
        assert_eq!(
            (status, &body["error"]["code"]),
            (401, &json!("unauthorized")),
            "{method} {path}: {body}"
        );
    }
    // Not the credential: a near miss is refused on the recovery route too.
    let near = format!("{TEST_RECOVERY_TOKEN}x");
    for token in [
        near.as_str(),
        &TEST_RECOVERY_TOKEN[..TEST_RECOVERY_TOKEN.len() - 1],
    ] {
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
    let shop = Wasmshop::app()
        .variables(&[("recovery_token", "")])
        .start()
        .await
        .expect("boot");
    let (status, body) = shop
        .as_(Caller::bearer(TEST_RECOVERY_TOKEN))
        .post("/api/v1/admin/catalog/recovery")
        .send()
        .await;
    assert_eq!(status, 401, "{body}");
}
