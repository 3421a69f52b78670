//! Access tokens made by hand, as an attacker or a test would: signed with any secret, with any
//! claims.

use serde_json::{Value, json};

/// Seconds since the Unix epoch, as token claims count time.
pub fn now() -> i64 {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs());
    i64::try_from(seconds).unwrap_or(i64::MAX)
}

/// `claims` signed HS256 with `secret`.
pub fn sign(claims: &Value, secret: &str) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap_or_else(|e| panic!("signing {claims}: {e}"))
}

/// Claims as the users component issues them for `user_id`, valid for 15 minutes.
pub fn claims(user_id: &str, role: &str) -> Value {
    let now = now();
    json!({ "sub": user_id, "role": role, "jti": uuid::Uuid::now_v7().to_string(), "iat": now,
        "exp": now + 900, "iss": "wasmshop", "aud": "wasmshop-api" })
}
