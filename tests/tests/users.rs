//! The users component alone, booted from the real `spin.toml` with its own Redis and state:
//! every route over HTTP, the exported api called directly, tokens decoded natively,
//! revocations and events checked on the harness Redis.

use std::time::Instant;

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Value, json};
use wasmshop_tests::bindings::users::wasmshop::users::types::{
    Address, Error as ApiError, LoginRequest, ProfileUpdate, RegisterRequest, Role,
};
use wasmshop_tests::client::Caller;
use wasmshop_tests::tokens::{now, sign};
use wasmshop_tests::{TEST_ADMIN_BOOTSTRAP_TOKEN, TEST_JWT_SECRET, Wasmshop, json};

const PASSWORD: &str = "correct horse battery";

async fn boot() -> Wasmshop {
    Wasmshop::boot_component("users")
        .await
        .expect("users boots from spin.toml")
}

async fn register(shop: &Wasmshop, email: &str, name: &str) -> Value {
    let (status, body) = shop
        .anonymous()
        .post("/auth/register")
        .json(&json!({ "email": email, "password": PASSWORD, "name": name }))
        .send()
        .await;
    assert_eq!(status, 201, "{body}");
    body
}

async fn login(shop: &Wasmshop, email: &str, password: &str) -> reqwest::Response {
    shop.anonymous()
        .post("/auth/login")
        .json(&json!({ "email": email, "password": password }))
        .response()
        .await
}

async fn access_token(shop: &Wasmshop, email: &str) -> String {
    let (status, body) = json(login(shop, email, PASSWORD).await).await;
    assert_eq!(status, 200, "{body}");
    body["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned()
}

#[derive(Debug)]
struct Claims {
    sub: String,
    role: String,
    jti: String,
    iat: i64,
    exp: i64,
    iss: String,
    aud: String,
}

fn decode(token: &str) -> Claims {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_issuer(&["wasmshop"]);
    validation.set_audience(&["wasmshop-api"]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    let claims = jsonwebtoken::decode::<Value>(
        token,
        &DecodingKey::from_secret(TEST_JWT_SECRET.as_bytes()),
        &validation,
    )
    .expect("a valid HS256 token of wasmshop for wasmshop-api")
    .claims;
    let text = |name: &str| {
        claims[name]
            .as_str()
            .unwrap_or_else(|| panic!("`{name}` in {claims}"))
            .to_owned()
    };
    let number = |name: &str| {
        claims[name]
            .as_i64()
            .unwrap_or_else(|| panic!("`{name}` in {claims}"))
    };
    assert_eq!(
        claims.as_object().map(|c| c.len()),
        Some(7),
        "exactly sub, role, jti, iat, exp, iss, aud: {claims}"
    );
    Claims {
        sub: text("sub"),
        role: text("role"),
        jti: text("jti"),
        iat: number("iat"),
        exp: number("exp"),
        iss: text("iss"),
        aud: text("aud"),
    }
}

fn field_names(body: &Value) -> Vec<String> {
    body["error"]["details"]["fields"]
        .as_array()
        .unwrap_or_else(|| panic!("details.fields in {body}"))
        .iter()
        .map(|f| f["field"].as_str().expect("field").to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_unknown_paths_and_wrong_methods() {
    let shop = boot().await;
    let (status, body) = json(
        shop.client
            .get(shop.url("/health"))
            .send()
            .await
            .expect("health"),
    )
    .await;
    assert_eq!((status, body), (200, json!({ "status": "ok" })));

    let (status, body) = json(
        shop.client
            .get(shop.url("/auth/nowhere"))
            .send()
            .await
            .expect("request"),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "not_found");

    for (method, path, allow) in [
        (reqwest::Method::GET, "/auth/login", "POST"),
        (reqwest::Method::PUT, "/auth/register", "POST"),
        (reqwest::Method::GET, "/auth/logout", "POST"),
        (reqwest::Method::DELETE, "/users/me", "GET, PATCH"),
        (reqwest::Method::POST, "/health", "GET"),
    ] {
        let response = shop
            .client
            .request(method.clone(), shop.url(path))
            .send()
            .await
            .expect("request");
        assert_eq!(
            response
                .headers()
                .get("allow")
                .and_then(|v| v.to_str().ok()),
            Some(allow),
            "{method} {path}"
        );
        let (status, body) = json(response).await;
        assert_eq!(status, 405, "{method} {path}");
        assert_eq!(body["error"]["code"], "method_not_allowed");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_normalises_validates_and_refuses_duplicates() {
    let shop = boot().await;
    let user = register(&shop, "  Ada.Lovelace@Example.COM ", "  Ada Lovelace ").await;
    assert_eq!(user["email"], "ada.lovelace@example.com");
    assert_eq!(user["name"], "Ada Lovelace");
    assert_eq!(user["role"], "customer");
    assert_eq!(user["address"], Value::Null);
    let id = user["id"].as_str().expect("id");
    assert_eq!(
        uuid::Uuid::parse_str(id).expect("a UUID").get_version_num(),
        7
    );
    assert_eq!(user["created_at"], user["updated_at"]);
    let keys: Vec<&str> = user
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys.len(),
        7,
        "exactly the WIT record, no password hash: {user}"
    );

    // The same email, spelt differently.
    let (status, body) = shop.anonymous().post("/auth/register").json(&json!({ "email": "ADA.LOVELACE@example.com", "password": "another long password", "name": "Ada" })).send()
    .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "email_taken");

    let invalid = [
        (
            json!({ "email": "grace@example.com", "password": "short", "name": "Grace" }),
            vec!["password"],
        ),
        (
            json!({ "email": "grace@example.com", "password": "x".repeat(257), "name": "Grace" }),
            vec!["password"],
        ),
        (
            json!({ "email": "not-an-email", "password": PASSWORD, "name": "Grace" }),
            vec!["email"],
        ),
        (
            json!({ "email": "grace@example", "password": PASSWORD, "name": "Grace" }),
            vec!["email"],
        ),
        (
            json!({ "email": "grace@example.com", "password": PASSWORD, "name": "   " }),
            vec!["name"],
        ),
        (
            json!({ "email": "grace@example.com", "password": PASSWORD, "name": "n".repeat(101) }),
            vec!["name"],
        ),
        (
            json!({ "email": "", "password": "", "name": "" }),
            vec!["email", "password", "name"],
        ),
    ];
    for (request, fields) in invalid {
        let (status, body) = shop
            .anonymous()
            .post("/auth/register")
            .json(&request.clone())
            .send()
            .await;
        assert_eq!(status, 422, "{request} -> {body}");
        assert_eq!(body["error"]["code"], "invalid_input");
        assert_eq!(field_names(&body), fields, "{request}");
    }

    let bad_input: [(&'static str, &str); 8] = [
        ("", "invalid_json"),
        ("{not json", "invalid_json"),
        ("[]", "invalid_input"),
        (
            r#"{"email": 1, "password": "correct horse battery", "name": "G"}"#,
            "invalid_input",
        ),
        (
            r#"{"email": "g@example.com", "password": null, "name": "G"}"#,
            "invalid_input",
        ),
        (
            r#"{"email": "g@example.com", "name": "G"}"#,
            "invalid_input",
        ),
        (
            r#"{"email": "g@example.com", "password": "correct horse battery", "name": "G", "role": "admin"}"#,
            "unknown_field",
        ),
        (
            r#"{"email": "g@example.com", "password": "correct horse battery", "name": "G"} trailing"#,
            "invalid_json",
        ),
    ];
    for (body_text, code) in bad_input {
        let (status, body) = shop
            .anonymous()
            .post("/auth/register")
            .raw_json(body_text)
            .send()
            .await;
        assert_eq!(status, 400, "{body_text} -> {body}");
        assert_eq!(body["error"]["code"], code, "{body_text}");
    }

    // Nothing of the rejected ones was stored: the email is still free.
    register(&shop, "grace@example.com", "Grace").await;
}

/// No role follows from what a client types: whatever the email, registration makes a
/// customer (the address that once became admin included).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_never_makes_an_admin() {
    let shop = boot().await;
    for (email, name) in [
        (" Admin@WasmShop.local", "Would-be Admin"),
        ("ops@wasmshop.example", "Would-be Operator"),
    ] {
        let user = register(&shop, email, name).await;
        assert_eq!(user["role"], "customer", "{email}: {user}");
        let claims = decode(&access_token(&shop, email.trim()).await);
        assert_eq!(claims.role, "customer", "{email}");
        assert_eq!(claims.sub, user["id"].as_str().expect("id"));
    }
}

async fn bootstrap(shop: &Wasmshop, token: &str, email: &str, password: &str) -> (u16, Value) {
    shop.anonymous()
        .post("/auth/bootstrap-admin")
        .json(&json!({ "token": token, "email": email, "password": password }))
        .send()
        .await
}

/// The operator's token makes the first admin, once; a wrong token is refused with a stable
/// code and makes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bootstrap_token_makes_one_admin_once() {
    let shop = boot().await;
    let (status, body) = bootstrap(&shop, "guess", "ops@example.com", PASSWORD).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "invalid_bootstrap_token");
    let (status, body) = json(login(&shop, "ops@example.com", PASSWORD).await).await;
    assert_eq!(status, 401, "a wrong token creates no account: {body}");

    let (status, admin) = bootstrap(
        &shop,
        TEST_ADMIN_BOOTSTRAP_TOKEN,
        " Ops@Example.com ",
        PASSWORD,
    )
    .await;
    assert_eq!(status, 201, "{admin}");
    assert_eq!(admin["role"], "admin");
    assert_eq!(admin["email"], "ops@example.com");
    let claims = decode(&access_token(&shop, "ops@example.com").await);
    assert_eq!(claims.role, "admin");
    assert_eq!(claims.sub, admin["id"].as_str().expect("id"));

    // Once: neither another account nor the same one is made admin again.
    for email in ["second@example.com", "ops@example.com"] {
        let (status, body) = bootstrap(&shop, TEST_ADMIN_BOOTSTRAP_TOKEN, email, PASSWORD).await;
        assert_eq!(status, 409, "{email}: {body}");
        assert_eq!(body["error"]["code"], "already_bootstrapped");
    }
    let (status, _) = json(login(&shop, "second@example.com", PASSWORD).await).await;
    assert_eq!(status, 401, "the refused bootstrap created no account");
    // After it, a wrong token is still only a wrong token: nothing about the accounts shows.
    let (status, body) = bootstrap(&shop, "guess", "third@example.com", PASSWORD).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (403, &json!("invalid_bootstrap_token"))
    );
}

/// An existing account is made admin only with its own password.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bootstrap_promotes_an_existing_account_with_its_password() {
    let shop = boot().await;
    let user = register(&shop, "ada@example.com", "Ada").await;
    assert_eq!(user["role"], "customer");
    let (status, body) = bootstrap(
        &shop,
        TEST_ADMIN_BOOTSTRAP_TOKEN,
        "ada@example.com",
        "not ada's password",
    )
    .await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"]["code"], "invalid_credentials");
    assert_eq!(
        decode(&access_token(&shop, "ada@example.com").await).role,
        "customer"
    );

    let (status, admin) = bootstrap(
        &shop,
        TEST_ADMIN_BOOTSTRAP_TOKEN,
        "ada@example.com",
        PASSWORD,
    )
    .await;
    assert_eq!(status, 200, "{admin}");
    assert_eq!(
        (&admin["id"], &admin["role"]),
        (&user["id"], &json!("admin"))
    );
    assert_eq!(admin["name"], "Ada", "the account keeps its profile");
    assert_eq!(
        decode(&access_token(&shop, "ada@example.com").await).role,
        "admin"
    );
    let (status, body) = bootstrap(
        &shop,
        TEST_ADMIN_BOOTSTRAP_TOKEN,
        "ada@example.com",
        PASSWORD,
    )
    .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (409, &json!("already_bootstrapped"))
    );
}

/// The request is as strict as every other: unknown fields and bad input are refused and
/// make nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_bootstrap_makes_nothing() {
    let shop = boot().await;
    let (status, body) = shop
        .anonymous()
        .post("/auth/bootstrap-admin")
        .json(
            &json!({ "token": TEST_ADMIN_BOOTSTRAP_TOKEN, "email": "ops@example.com",
            "password": PASSWORD, "role": "admin" }),
        )
        .send()
        .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (400, &json!("unknown_field"))
    );
    let (status, body) =
        bootstrap(&shop, TEST_ADMIN_BOOTSTRAP_TOKEN, "not an email", "short").await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(field_names(&body), ["email", "password"]);
    let (status, body) = bootstrap(
        &shop,
        TEST_ADMIN_BOOTSTRAP_TOKEN,
        "ops@example.com",
        PASSWORD,
    )
    .await;
    assert_eq!(status, 201, "nothing was made before: {body}");
}

/// Without a configured token no admin can be made, whatever is sent (the empty token
/// included).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_configured_token_the_bootstrap_is_refused() {
    let shop = Wasmshop::boot_components(&["users"], "users", &[("admin_bootstrap_token", "")])
        .await
        .expect("users boots");
    for token in ["", TEST_ADMIN_BOOTSTRAP_TOKEN] {
        let (status, body) = bootstrap(&shop, token, "ops@example.com", PASSWORD).await;
        assert_eq!(status, 403, "{token:?}: {body}");
        assert_eq!(body["error"]["code"], "bootstrap_disabled");
    }
    let (status, _) = json(login(&shop, "ops@example.com", PASSWORD).await).await;
    assert_eq!(status, 401, "no account was made");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_issues_a_signed_token_with_the_expected_claims() {
    let shop = boot().await;
    let user = register(&shop, "ada@example.com", "Ada").await;
    let before = now();
    // The email is normalised on login too.
    let response = login(&shop, "  ADA@example.com ", PASSWORD).await;
    assert_eq!(
        response
            .headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok()),
        Some("no-store")
    );
    let (status, body) = json(response).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    let token = body["access_token"].as_str().expect("access_token");
    let header = jsonwebtoken::decode_header(token).expect("a JWT");
    assert_eq!(header.alg, Algorithm::HS256);

    let claims = decode(token);
    assert_eq!(claims.sub, user["id"].as_str().expect("id"));
    assert_eq!(claims.role, "customer");
    assert_eq!(claims.iss, "wasmshop");
    assert_eq!(claims.aud, "wasmshop-api");
    assert_eq!(
        uuid::Uuid::parse_str(&claims.jti)
            .expect("jti is a UUID")
            .get_version_num(),
        7
    );
    assert!(
        claims.iat >= before - 1 && claims.iat <= now() + 1,
        "iat {}",
        claims.iat
    );
    assert_eq!(claims.exp - claims.iat, 3600);

    // Every login gets a token of its own.
    let again = decode(&access_token(&shop, "ada@example.com").await);
    assert_ne!(again.jti, claims.jti);

    // A token signed with another key does not pass the same check.
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_audience(&["wasmshop-api"]);
    assert!(
        jsonwebtoken::decode::<Value>(
            token,
            &DecodingKey::from_secret(b"some-other-secret-0123456789abcdef"),
            &validation
        )
        .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_and_unknown_email_look_the_same() {
    let shop = boot().await;
    register(&shop, "ada@example.com", "Ada").await;
    let cases = [
        ("ada@example.com", "wrong password here"),
        ("nobody@example.com", PASSWORD),
        ("not an email", PASSWORD),
        ("ada@example.com", ""),
    ];
    for (email, password) in cases {
        let response = login(&shop, email, password).await;
        let (status, body) = json(response).await;
        assert_eq!(status, 401, "{email}: {body}");
        assert_eq!(body["error"]["code"], "invalid_credentials", "{email}");
        assert_eq!(
            body["error"]["message"], "the email or password is wrong",
            "{email}"
        );
    }
    let too_long = "p".repeat(300);
    let (status, body) = json(login(&shop, "ada@example.com", &too_long).await).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (401, &json!("invalid_credentials"))
    );

    for (body_text, code) in [
        ("{", "invalid_json"),
        (r#"{"email": "ada@example.com"}"#, "invalid_input"),
        (
            r#"{"email": "ada@example.com", "password": 12345678901234}"#,
            "invalid_input",
        ),
        (
            r#"{"email": "ada@example.com", "password": "x", "remember": true}"#,
            "unknown_field",
        ),
    ] {
        let (status, body) = shop
            .anonymous()
            .post("/auth/login")
            .raw_json(body_text)
            .send()
            .await;
        assert_eq!(status, 400, "{body_text} -> {body}");
        assert_eq!(body["error"]["code"], code, "{body_text}");
    }
}

/// A login sent to users as the gateway forwards it for the client at `address`.
async fn login_as_client(
    shop: &Wasmshop,
    address: &str,
    email: &str,
    password: &str,
) -> reqwest::Response {
    login_forwarded(shop, "/auth/login", address, email, password).await
}

/// A login POSTed to `path` with `X-Forwarded-For: address`.
async fn login_forwarded(
    shop: &Wasmshop,
    path: &str,
    address: &str,
    email: &str,
    password: &str,
) -> reqwest::Response {
    shop.client
        .post(shop.url(path))
        .header("x-forwarded-for", address)
        .json(&json!({ "email": email, "password": password }))
        .send()
        .await
        .expect("login")
}

fn retry_after(response: &reqwest::Response) -> u32 {
    response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After seconds")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_failures_slow_down_that_client_for_that_account_only() {
    let shop = boot().await;
    register(&shop, "ada@example.com", "Ada").await;
    register(&shop, "grace@example.com", "Grace").await;
    let guesser = "203.0.113.1";

    for attempt in 1..=5 {
        let (status, body) =
            json(login_as_client(&shop, guesser, "ada@example.com", "wrong password!!").await)
                .await;
        assert_eq!(status, 401, "attempt {attempt}: {body}");
    }
    // That client now waits, even with the right password, and differently spelt emails are
    // the same account.
    for email in ["ada@example.com", " ADA@example.com"] {
        let response = login_as_client(&shop, guesser, email, PASSWORD).await;
        let seconds = retry_after(&response);
        assert!((1..=2).contains(&seconds), "retry after {seconds}");
        let (status, body) = json(response).await;
        assert_eq!(status, 429, "{body}");
        assert_eq!(body["error"]["code"], "too_many_requests");
    }
    // The owner from another address, or from none, is not slowed down.
    let (status, body) =
        json(login_as_client(&shop, "198.51.100.1", "ada@example.com", PASSWORD).await).await;
    assert_eq!(status, 200, "{body}");
    access_token(&shop, "ada@example.com").await;
    // Nor are other accounts from the guessing client.
    let (status, _) =
        json(login_as_client(&shop, guesser, "grace@example.com", PASSWORD).await).await;
    assert_eq!(status, 200);

    // The wait doubles: after it passes, one more failure costs 4 s.
    tokio::time::sleep(std::time::Duration::from_millis(2_100)).await;
    let (status, body) =
        json(login_as_client(&shop, guesser, "ada@example.com", "wrong password!!").await).await;
    assert_eq!(status, 401, "the wait passed: {body}");
    let response = login_as_client(&shop, guesser, "ada@example.com", PASSWORD).await;
    let seconds = retry_after(&response);
    assert!((3..=4).contains(&seconds), "retry after {seconds}");
    assert_eq!(response.status(), 429);

    // A success clears the count: 4 failures, a success, 4 more failures are never throttled.
    for round in 0..2 {
        for attempt in 1..=4 {
            let (status, _) = json(
                login_as_client(&shop, guesser, "grace@example.com", "wrong password!!").await,
            )
            .await;
            assert_eq!(status, 401, "round {round}, attempt {attempt}");
        }
        let (status, _) =
            json(login_as_client(&shop, guesser, "grace@example.com", PASSWORD).await).await;
        assert_eq!(status, 200, "round {round}");
    }

    // Unknown emails are throttled alike, so a 429 tells nothing about which emails exist.
    for _ in 1..=5 {
        let (status, _) =
            json(login_as_client(&shop, guesser, "nobody@example.com", PASSWORD).await).await;
        assert_eq!(status, 401);
    }
    let (status, body) =
        json(login_as_client(&shop, guesser, "nobody@example.com", PASSWORD).await).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (429, &json!("too_many_requests"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_revokes_the_token_in_redis_until_it_expires() {
    let shop = boot().await;
    register(&shop, "ada@example.com", "Ada").await;
    let token = access_token(&shop, "ada@example.com").await;
    let claims = decode(&token);

    let response = shop
        .client
        .post(shop.url("/auth/logout"))
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await
        .expect("logout");
    assert_eq!(response.status(), 204);
    assert!(response.text().await.expect("body").is_empty());

    let mut redis = shop.redis.connection().expect("redis");
    let key = format!("revoked:jti:{}", claims.jti);
    let value: Option<String> = redis::cmd("GET").arg(&key).query(&mut redis).expect("GET");
    assert_eq!(value.as_deref(), Some("1"));
    let ttl: i64 = redis::cmd("TTL").arg(&key).query(&mut redis).expect("TTL");
    assert!(ttl > 0 && ttl <= 3600 + GATEWAY_LEEWAY_SECONDS, "ttl {ttl}");
    assert!(
        ttl >= claims.exp + GATEWAY_LEEWAY_SECONDS - now() - 5,
        "ttl {ttl} lasts until the gateway refuses the token"
    );

    // Scheme case does not matter; revoking twice is fine.
    let response = shop
        .client
        .post(shop.url("/auth/logout"))
        .header("authorization", format!("bearer {token}"))
        .send()
        .await
        .expect("logout");
    assert_eq!(response.status(), 204);

    let expired = sign(
        &json!({ "sub": claims.sub, "role": "customer", "jti": "0198c1f0-0000-7000-8000-0000000000aa",
                 "iat": now() - 7200, "exp": now() - 3600, "iss": "wasmshop", "aud": "wasmshop-api" }),
        TEST_JWT_SECRET,
    );
    let forged = sign(
        &json!({ "sub": claims.sub, "role": "admin", "jti": "0198c1f0-0000-7000-8000-0000000000ab",
                 "iat": now(), "exp": now() + 3600, "iss": "wasmshop", "aud": "wasmshop-api" }),
        "not-the-secret-0123456789abcdef0123456",
    );
    let other_audience = sign(
        &json!({ "sub": claims.sub, "role": "customer", "jti": "0198c1f0-0000-7000-8000-0000000000ac",
                 "iat": now(), "exp": now() + 3600, "iss": "wasmshop", "aud": "elsewhere" }),
        TEST_JWT_SECRET,
    );
    for authorization in [
        None,
        Some("Bearer".to_owned()),
        Some("Bearer ".to_owned()),
        Some(format!("Basic {token}")),
        Some("Bearer not.a.token".to_owned()),
        Some(format!("Bearer {expired}")),
        Some(format!("Bearer {forged}")),
        Some(format!("Bearer {other_audience}")),
    ] {
        let mut request = shop.client.post(shop.url("/auth/logout"));
        if let Some(value) = &authorization {
            request = request.header("authorization", value);
        }
        let response = request.send().await.expect("logout");
        assert_eq!(
            response
                .headers()
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok()),
            Some("Bearer")
        );
        let (status, body) = json(response).await;
        assert_eq!(status, 401, "{authorization:?}: {body}");
        assert_eq!(body["error"]["code"], "unauthorized");
    }
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("revoked:jti:*")
        .query(&mut redis)
        .expect("KEYS");
    assert_eq!(keys, vec![key], "only the real token was revoked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn me_reads_and_patches_the_callers_profile() {
    let shop = boot().await;
    let user = register(&shop, "ada@example.com", "Ada").await;
    let id = user["id"].as_str().expect("id");
    let me = |user_id: Option<&str>, method: reqwest::Method| {
        let mut request = shop.client.request(method, shop.url("/users/me"));
        if let Some(user_id) = user_id {
            request = request
                .header("x-user-id", user_id)
                .header("x-user-role", "customer");
        }
        request
    };

    let (status, body) = json(me(Some(id), reqwest::Method::GET).send().await.expect("me")).await;
    assert_eq!((status, &body), (200, &user));

    let (status, body) = json(me(None, reqwest::Method::GET).send().await.expect("me")).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (401, &json!("unauthorized"))
    );
    let (status, body) = json(
        me(None, reqwest::Method::PATCH)
            .json(&json!({ "name": "Eve" }))
            .send()
            .await
            .expect("patch"),
    )
    .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (401, &json!("unauthorized"))
    );
    for unknown in ["0198c1f0-0000-7000-8000-000000000000", "not-a-uuid"] {
        let (status, body) = json(
            me(Some(unknown), reqwest::Method::GET)
                .send()
                .await
                .expect("me"),
        )
        .await;
        assert_eq!(
            (status, &body["error"]["code"]),
            (404, &json!("not_found")),
            "{unknown}"
        );
        let (status, body) = json(
            me(Some(unknown), reqwest::Method::PATCH)
                .json(&json!({ "name": "Eve" }))
                .send()
                .await
                .expect("patch"),
        )
        .await;
        assert_eq!(
            (status, &body["error"]["code"]),
            (404, &json!("not_found")),
            "{unknown}"
        );
    }

    let events = shop.subscribe("users.events", 1).expect("subscribed");
    let address = json!({ "line1": " 12 Analytical Row ", "line2": null, "city": "London",
                          "postal_code": "W1 1AA", "country": "GB" });
    let (status, updated) = json(
        me(Some(id), reqwest::Method::PATCH)
            .header(
                "traceparent",
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            )
            .json(&json!({ "name": " Ada King ", "address": address }))
            .send()
            .await
            .expect("patch"),
    )
    .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["name"], "Ada King");
    assert_eq!(updated["address"]["line1"], "12 Analytical Row");
    assert_eq!(updated["address"]["line2"], Value::Null);
    assert_eq!(updated["address"]["country"], "GB");
    assert_eq!(updated["created_at"], user["created_at"]);
    assert_ne!(updated["updated_at"], user["updated_at"]);
    let event = events.received().await.pop().expect("user.profile-updated");
    assert_eq!(event["event_type"], "user.profile-updated");
    assert_eq!(event["subject"], id);
    assert_eq!(
        event["trace"]["traceparent"],
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    );
    let data: Value = serde_json::from_str(event["data"].as_str().expect("data")).expect("json");
    assert_eq!(data, json!({ "user_id": id, "name": "Ada King" }));

    // Absent fields are left alone; the change is stored.
    let (status, body) = json(
        me(Some(id), reqwest::Method::PATCH)
            .json(&json!({ "name": "Ada" }))
            .send()
            .await
            .expect("patch"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["address"], updated["address"]);
    let (_, stored) = json(me(Some(id), reqwest::Method::GET).send().await.expect("me")).await;
    assert_eq!(stored, body);

    let invalid = [
        (json!({ "name": "" }), vec!["name"]),
        (
            json!({ "address": { "line1": "", "line2": null, "city": " ", "postal_code": "", "country": "gb" } }),
            vec![
                "address.line1",
                "address.city",
                "address.postal_code",
                "address.country",
            ],
        ),
        (
            json!({ "name": "Ada", "address": { "line1": "1 Road", "line2": null, "city": "X", "postal_code": "1", "country": "XX" } }),
            vec!["address.country"],
        ),
    ];
    for (patch, fields) in invalid {
        let (status, body) = json(
            me(Some(id), reqwest::Method::PATCH)
                .json(&patch)
                .send()
                .await
                .expect("patch"),
        )
        .await;
        assert_eq!(status, 422, "{patch} -> {body}");
        assert_eq!(body["error"]["code"], "invalid_input");
        assert_eq!(field_names(&body), fields, "{patch}");
    }
    for (body_text, code) in [
        ("", "invalid_json"),
        ("{\"name\": ", "invalid_json"),
        (r#"{"name": 5}"#, "invalid_input"),
        (r#"{"address": {"line1": "1 Road"}}"#, "invalid_input"),
        (r#"{"email": "eve@example.com"}"#, "unknown_field"),
        (r#"{"role": "admin"}"#, "unknown_field"),
    ] {
        let (status, body) = json(
            me(Some(id), reqwest::Method::PATCH)
                .header("content-type", "application/json")
                .body(body_text)
                .send()
                .await
                .expect("patch"),
        )
        .await;
        assert_eq!(status, 400, "{body_text} -> {body}");
        assert_eq!(body["error"]["code"], code, "{body_text}");
    }
    // None of the rejected patches changed anything.
    let (_, after) = json(me(Some(id), reqwest::Method::GET).send().await.expect("me")).await;
    assert_eq!(after, stored);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_publishes_user_registered_from_the_outbox() {
    let shop = boot().await;
    let events = shop.subscribe("users.events", 1).expect("subscribed");
    let user = register(&shop, "ada@example.com", "Ada").await;
    let envelopes = events.received().await;
    assert_eq!(envelopes.len(), 1, "{envelopes:?}");
    let event = &envelopes[0];
    assert_eq!(event["event_type"], "user.registered");
    assert_eq!(event["source"], "users");
    assert_eq!(event["subject"], user["id"]);
    assert!(uuid::Uuid::parse_str(event["id"].as_str().expect("id")).is_ok());
    let data: Value = serde_json::from_str(event["data"].as_str().expect("data")).expect("json");
    assert_eq!(
        data,
        json!({ "user_id": user["id"], "email": "ada@example.com", "name": "Ada" })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_exported_api_shares_the_service() {
    let shop = boot().await;
    let request = RegisterRequest {
        email: " Api@Example.com".into(),
        password: PASSWORD.into(),
        name: "Api".into(),
    };

    let (mut store, users) = shop.users_api().await.expect("instance");
    let api = users.wasmshop_users_api();
    let user = api
        .call_register(&mut store, &request)
        .await
        .expect("call")
        .expect("registered");
    assert_eq!(user.email, "api@example.com");
    assert_eq!(user.role, Role::Customer);

    let (mut store, users) = shop.users_api().await.expect("instance");
    let api = users.wasmshop_users_api();
    assert!(matches!(
        api.call_register(&mut store, &request).await.expect("call"),
        Err(ApiError::EmailTaken)
    ));
    let weak = RegisterRequest {
        email: "x".into(),
        password: "short".into(),
        name: "X".into(),
    };
    match api.call_register(&mut store, &weak).await.expect("call") {
        Err(ApiError::InvalidInput(fields)) => {
            let names: Vec<&str> = fields.iter().map(|f| f.field.as_str()).collect();
            assert_eq!(names, vec!["email", "password"]);
        }
        other => panic!("{other:?}"),
    }

    // Registered over the api, visible over HTTP: one service, one database.
    let (status, body) = json(
        shop.client
            .get(shop.url("/users/me"))
            .header("x-user-id", &user.id)
            .send()
            .await
            .expect("me"),
    )
    .await;
    assert_eq!(
        (status, body["email"].as_str()),
        (200, Some("api@example.com"))
    );

    let (mut store, users) = shop.users_api().await.expect("instance");
    let api = users.wasmshop_users_api();
    let token = api
        .call_login(
            &mut store,
            &LoginRequest {
                email: "api@example.com".into(),
                password: PASSWORD.into(),
            },
        )
        .await
        .expect("call")
        .expect("logged in");
    assert_eq!(
        (token.token_type.as_str(), token.expires_in),
        ("Bearer", 3600)
    );
    assert_eq!(decode(&token.access_token).sub, user.id);
    assert!(matches!(
        api.call_login(
            &mut store,
            &LoginRequest {
                email: "api@example.com".into(),
                password: "wrong password!!".into(),
            },
        )
        .await
        .expect("call"),
        Err(ApiError::InvalidCredentials)
    ));

    let (mut store, users) = shop.users_api().await.expect("instance");
    let api = users.wasmshop_users_api();
    let found = api
        .call_get_user(&mut store, &user.id)
        .await
        .expect("call")
        .expect("found");
    assert_eq!(format!("{found:?}"), format!("{user:?}"));
    assert!(matches!(
        api.call_get_user(&mut store, "0198c1f0-0000-7000-8000-000000000000")
            .await
            .expect("call"),
        Err(ApiError::NotFound)
    ));
    let updated = api
        .call_update_profile(
            &mut store,
            &user.id,
            &ProfileUpdate {
                name: None,
                address: Some(Address {
                    line1: "1 Api Way".into(),
                    line2: Some("Suite 2".into()),
                    city: "Berlin".into(),
                    postal_code: "10115".into(),
                    country: "DE".into(),
                }),
            },
        )
        .await
        .expect("call")
        .expect("updated");
    assert_eq!(updated.name, "Api");
    assert_eq!(
        updated.address.as_ref().map(|a| a.line2.as_deref()),
        Some(Some("Suite 2"))
    );
    assert!(matches!(
        api.call_update_profile(
            &mut store,
            &user.id,
            &ProfileUpdate {
                name: Some(" ".into()),
                address: None
            },
        )
        .await
        .expect("call"),
        Err(ApiError::InvalidInput(_))
    ));

    let (mut store, users) = shop.users_api().await.expect("instance");
    let api = users.wasmshop_users_api();
    api.call_logout(&mut store, &token.access_token)
        .await
        .expect("call")
        .expect("revoked");
    assert!(matches!(
        api.call_logout(&mut store, "garbage").await.expect("call"),
        Err(ApiError::Unauthorized)
    ));
    let mut redis = shop.redis.connection().expect("redis");
    let ttl: i64 = redis::cmd("TTL")
        .arg(format!("revoked:jti:{}", decode(&token.access_token).jti))
        .query(&mut redis)
        .expect("TTL");
    assert!(ttl > 0, "ttl {ttl}");
}

async fn timed_login(shop: &Wasmshop, email: &str, password: &str) -> (u16, f64) {
    let start = Instant::now();
    let (status, _) = json(login(shop, email, password).await).await;
    (status, start.elapsed().as_secs_f64() * 1000.0)
}

fn median(mut millis: Vec<f64>) -> f64 {
    millis.sort_by(f64::total_cmp);
    millis[millis.len() / 2]
}

/// Not a pass/fail check: prints what one login (Argon2id verification included) costs in Wasm.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_latency_in_wasm() {
    let shop = boot().await;
    register(&shop, "ada@example.com", "Ada").await;
    // One login to warm up (first instance, database open).
    access_token(&shop, "ada@example.com").await;
    let mut millis = Vec::new();
    for _ in 0..5 {
        let (status, ms) = timed_login(&shop, "ada@example.com", PASSWORD).await;
        assert_eq!(status, 200);
        millis.push(ms);
    }
    eprintln!(
        "users: login over HTTP in Wasm, median of 5: {:.1} ms (all: {millis:.1?})",
        median(millis.clone())
    );
}

/// Unknown email and wrong password both pay for one Argon2 verification (against the dummy
/// hash for the unknown email), so their times are alike; without the dummy verification the
/// unknown email would answer some 20 times faster. The bound is loose for a shared machine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_email_costs_as_much_as_a_wrong_password() {
    let shop = boot().await;
    register(&shop, "ada@example.com", "Ada").await;
    access_token(&shop, "ada@example.com").await;
    let (mut wrong, mut unknown) = (Vec::new(), Vec::new());
    // Interleaved, five each: within the throttle's allowance for "ada".
    for i in 0..5 {
        let (status, ms) = timed_login(&shop, "ada@example.com", "wrong password!!").await;
        assert_eq!(status, 401);
        wrong.push(ms);
        let (status, ms) = timed_login(&shop, &format!("nobody{i}@example.com"), PASSWORD).await;
        assert_eq!(status, 401);
        unknown.push(ms);
    }
    let (wrong, unknown) = (median(wrong), median(unknown));
    eprintln!(
        "users: failed login in Wasm, median of 5: wrong password {wrong:.1} ms, unknown email {unknown:.1} ms"
    );
    // Loose on purpose (the machine is shared and noisy): a login that skipped the dummy hash
    // for unknown emails answered 25× faster, which this still catches.
    assert!(
        unknown > wrong * 0.2,
        "wrong password {wrong:.1} ms vs unknown email {unknown:.1} ms"
    );
}

/// Pub/sub acknowledges nothing, so an event whose consumer died while handling it would be
/// lost: the recovery tick sends every event once more a few seconds after its first
/// delivery (the consumers' inboxes make the copy a no-op), and only once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_recovery_tick_delivers_each_event_a_second_time_once() {
    let shop = boot().await;
    // This test stands in for the consumer: the first publish has a receiver, so it counts
    // as sent.
    let copies = shop.subscribe("users.events", 2).expect("subscribe");
    let (status, user) = shop
        .as_(Caller::Anonymous)
        .post("/auth/register")
        .json(&json!({ "email": "twice@example.com", "password": PASSWORD, "name": "Twice" }))
        .send()
        .await;
    assert_eq!(status, 201, "{user}");
    let (_, early) = shop
        .as_(Caller::Anonymous)
        .post("/admin/recovery")
        .send()
        .await;
    assert_eq!(early["redelivered"], 0, "not before 5 s: {early}");
    tokio::time::sleep(std::time::Duration::from_millis(5_200)).await;
    let (status, report) = shop
        .as_(Caller::Anonymous)
        .post("/admin/recovery")
        .send()
        .await;
    // Its subscriber, notifications, is not running here: nobody acknowledged it.
    assert_eq!(
        (status, &report["redelivered"], &report["acknowledged"]),
        (200, &json!(1), &json!(0)),
        "{report}"
    );
    let (_, again) = shop
        .as_(Caller::Anonymous)
        .post("/admin/recovery")
        .send()
        .await;
    assert_eq!(again["redelivered"], 0, "only once: {again}");
    let copies = copies.received().await;
    assert_eq!(copies.len(), 2, "{copies:?}");
    assert_eq!(copies[0]["id"], copies[1]["id"], "the same event twice");
    assert_eq!(copies[0]["event_type"], "user.registered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_every_subscriber_kept_is_not_delivered_again() {
    // Users and its one subscriber of `users.events`, notifications, over Redis.
    let shop = Wasmshop::boot_components(&["users", "notifications"], "users", &[])
        .await
        .expect("boot");
    let first = shop.subscribe("users.events", 1).expect("subscribe");
    let (status, user) = shop
        .as_(Caller::Anonymous)
        .post("/auth/register")
        .json(&json!({ "email": "once@example.com", "password": PASSWORD, "name": "Once" }))
        .send()
        .await;
    assert_eq!(status, 201, "{user}");
    assert_eq!(first.received().await.len(), 1, "published once");

    // Notifications kept it (its inbox says so when users' recovery tick asks, 5 s on).
    let again = shop.subscribe("users.events", 1).expect("subscribe");
    tokio::time::sleep(std::time::Duration::from_millis(5_200)).await;
    let (status, report) = shop
        .as_(Caller::Anonymous)
        .post("/admin/recovery")
        .send()
        .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(
        (&report["acknowledged"], &report["redelivered"]),
        (&json!(1), &json!(0)),
        "{report}"
    );
    let (_, later) = shop
        .as_(Caller::Anonymous)
        .post("/admin/recovery")
        .send()
        .await;
    assert_eq!(later["acknowledged"], 0, "marked once: {later}");
    assert!(
        again.received().await.is_empty(),
        "no second copy of an acknowledged event"
    );
}

/// The gateway accepts a token until `exp` plus this leeway (`auth::LEEWAY_SECONDS` in
/// gateway-component), so a revocation has to last that much longer than the token.
const GATEWAY_LEEWAY_SECONDS: i64 = 30;

/// Registers `email` and logs in through the gateway of the whole app.
async fn gateway_token(shop: &Wasmshop, email: &str) -> String {
    let (status, body) = shop
        .anonymous()
        .post("/api/v1/auth/register")
        .json(&json!({ "email": email, "password": PASSWORD, "name": "Someone" }))
        .send()
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = shop
        .anonymous()
        .post("/api/v1/auth/login")
        .json(&json!({ "email": email, "password": PASSWORD }))
        .send()
        .await;
    assert_eq!(status, 200, "{body}");
    body["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned()
}

// #14 item 7: a revocation that ended at `exp` let the token back in for the gateway's leeway.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_outlasts_the_gateways_leeway() {
    let shop = Wasmshop::boot().await.expect("the app boots");
    let token = gateway_token(&shop, "ada@example.com").await;
    let claims = decode(&token);

    let response = shop
        .client
        .post(shop.url("/api/v1/auth/logout"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("logout");
    assert_eq!(response.status(), 204);

    let mut redis = shop.redis.connection().expect("redis");
    let ttl: i64 = redis::cmd("TTL")
        .arg(format!("revoked:jti:{}", claims.jti))
        .query(&mut redis)
        .expect("TTL");
    let accepted_for = claims.exp - now() + GATEWAY_LEEWAY_SECONDS;
    // A few seconds of slack for the time between logout and this check.
    assert!(
        ttl >= accepted_for - 5,
        "the revocation lasts {ttl} s, the gateway accepts the token for {accepted_for} s"
    );
    assert!(ttl <= accepted_for + 5, "ttl {ttl}, at most {accepted_for}");
}

/// The `(email, client)` pairs login throttling keeps.
fn login_attempt_rows(shop: &Wasmshop) -> Vec<(String, String)> {
    let db = rusqlite::Connection::open(shop.state_dir().join("users.db")).expect("users.db");
    let mut statement = db
        .prepare("SELECT email, client FROM login_attempts ORDER BY email, client")
        .expect("prepare");
    statement
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
}

// #14 item 9: login stored whatever it was sent as an email, 100 KB included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_counts_no_attempt_for_a_malformed_email() {
    let shop = Wasmshop::boot().await.expect("the app boots");
    gateway_token(&shop, "ada@example.com").await;
    assert_eq!(login_attempt_rows(&shop), vec![]);

    let huge = format!("{}@example.com", "a".repeat(100 * 1024));
    let too_long = format!("{}@{}.com", "a".repeat(64), "b".repeat(200));
    for email in [huge.as_str(), &too_long, "not an email", "a@b@example.com"] {
        let (status, body) = shop
            .anonymous()
            .post("/api/v1/auth/login")
            .json(&json!({ "email": email, "password": PASSWORD }))
            .send()
            .await;
        let shown = &email[..email.len().min(40)];
        // The same answer as a wrong password: documented, and no hint about the email.
        assert_eq!(status, 401, "{shown}: {body}");
        assert_eq!(body["error"]["code"], "invalid_credentials", "{shown}");
        assert_eq!(
            body["error"]["message"], "the email or password is wrong",
            "{shown}"
        );
    }
    let counted: Vec<String> = login_attempt_rows(&shop)
        .into_iter()
        .map(|(email, _)| format!("{} ({} bytes)", &email[..email.len().min(40)], email.len()))
        .collect();
    assert_eq!(
        counted,
        Vec::<String>::new(),
        "malformed emails are not counted"
    );

    // A well-formed email is counted for the client's address (the gateway forwards the IP
    // alone), and a pair quiet for a day is deleted by the next attempt.
    let db = rusqlite::Connection::open(shop.state_dir().join("users.db")).expect("users.db");
    db.execute(
        "INSERT INTO login_attempts (email, client, failures, last_attempt) \
         VALUES (?1, '203.0.113.9', 12, ?2)",
        rusqlite::params!["old@example.com", now() - 24 * 60 * 60 - 1],
    )
    .expect("insert a pair quiet for a day");
    let (status, _) = shop
        .anonymous()
        .post("/api/v1/auth/login")
        .json(&json!({ "email": "nobody@example.com", "password": PASSWORD }))
        .send()
        .await;
    assert_eq!(status, 401);
    assert_eq!(
        login_attempt_rows(&shop),
        vec![("nobody@example.com".to_owned(), "127.0.0.1".to_owned())]
    );
}

/// A login through the gateway from the client at `address`, as a trusted proxy reports it.
async fn login_from(
    shop: &Wasmshop,
    address: &str,
    email: &str,
    password: &str,
) -> reqwest::Response {
    login_forwarded(shop, "/api/v1/auth/login", address, email, password).await
}

// #14 item 2: five wrong passwords from anyone made every login of the account answer 429 for
// 15 minutes, the owner's right password included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_strangers_failures_never_lock_the_owner_out() {
    let manifest = wasmshop_tests::build_app().expect("build");
    // The harness's loopback peer plays a proxy, so `X-Forwarded-For` names the clients.
    let variables = [("trusted_proxies".to_owned(), "127.0.0.1".to_owned())].into();
    let shop = Wasmshop::boot_with(manifest, variables)
        .await
        .expect("the app boots");
    gateway_token(&shop, "ada@example.com").await;
    let stranger = "203.0.113.66";
    for attempt in 1..=5 {
        let (status, body) =
            json(login_from(&shop, stranger, "ada@example.com", "wrong password!!").await).await;
        assert_eq!(status, 401, "attempt {attempt}: {body}");
    }
    // The owner, from another address, logs in at once ...
    let (status, body) =
        json(login_from(&shop, "198.51.100.7", "ada@example.com", PASSWORD).await).await;
    assert_eq!(status, 200, "the owner is not locked out: {body}");
    // ... while the stranger waits, right password or not (the owner's success is not theirs).
    let response = login_from(&shop, stranger, "ada@example.com", PASSWORD).await;
    let retry_after: u32 = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After seconds");
    assert!(
        (1..=4).contains(&retry_after),
        "a short wait: {retry_after}"
    );
    let (status, body) = json(response).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (429, &json!("too_many_requests"))
    );
}
