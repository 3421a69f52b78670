//! What the users component's suites (`users_accounts.rs`, `users_login.rs`) share: the
//! component booted alone, accounts registered and logged in over its HTTP API, and its tokens
//! decoded natively.

// Each suite is a test binary of its own and uses a part of this.
#![allow(dead_code)]

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Value, json};
use wasmshop_tests::{TEST_JWT_SECRET, Wasmshop, json};

/// The password of every account, also those made with [`wasmshop_tests::client::ApiClient`].
pub use wasmshop_tests::client::PASSWORD;

pub async fn boot() -> Wasmshop {
    Wasmshop::component("users")
        .start()
        .await
        .expect("users boots from spin.toml")
}

pub async fn register(shop: &Wasmshop, email: &str, name: &str) -> Value {
    let (status, body) = shop
        .anonymous()
        .post("/auth/register")
        .json(&json!({ "email": email, "password": PASSWORD, "name": name }))
        .send()
        .await;
    assert_eq!(status, 201, "{body}");
    body
}

pub async fn login(shop: &Wasmshop, email: &str, password: &str) -> reqwest::Response {
    shop.anonymous()
        .post("/auth/login")
        .json(&json!({ "email": email, "password": password }))
        .response()
        .await
}

pub async fn access_token(shop: &Wasmshop, email: &str) -> String {
    let (status, body) = json(login(shop, email, PASSWORD).await).await;
    assert_eq!(status, 200, "{body}");
    body["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned()
}

#[derive(Debug)]
pub struct Claims {
    pub sub: String,
    pub role: String,
    pub jti: String,
    pub iat: i64,
    pub exp: i64,
    pub iss: String,
    pub aud: String,
}

pub fn decode(token: &str) -> Claims {
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

/// The fields an `invalid_input` error names.
pub fn field_names(body: &Value) -> Vec<String> {
    body["error"]["details"]["fields"]
        .as_array()
        .unwrap_or_else(|| panic!("details.fields in {body}"))
        .iter()
        .map(|f| f["field"].as_str().expect("field").to_owned())
        .collect()
}
