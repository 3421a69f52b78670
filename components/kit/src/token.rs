//! The access-token contract between users, which signs tokens and revokes them at logout, and
//! the gateway, which verifies them on every request: the claims, the configuration (secret,
//! issuer, audience; HS256 pinned), verification with the clock-skew leeway, the
//! `Authorization: Bearer` parser and the Redis key of a revoked token. Written once so the
//! signer, the verifier and the revoker cannot drift apart (#18).

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// The one algorithm: a token's header cannot choose another (`none` and RS256 included).
pub const ALGORITHM: Algorithm = Algorithm::HS256;
/// Clock skew tolerated on `exp` and `nbf`, in seconds. Logout accepts a token as long as the
/// gateway does, and keeps its revocation that long ([`revocation_ttl`]).
pub const LEEWAY_SECONDS: i64 = 30;
/// HMAC-SHA-256 keys shorter than the hash give less than its strength (RFC 7518 §3.2).
pub const MIN_SECRET_BYTES: usize = 32;
/// The roles a token may carry.
pub const ROLES: [&str; 2] = ["customer", "admin"];

/// The Spin variables both sides read their [`TokenConfig`] from.
pub const SECRET_VARIABLE: &str = "jwt_secret";
pub const ISSUER_VARIABLE: &str = "jwt_issuer";
pub const AUDIENCE_VARIABLE: &str = "jwt_audience";

/// What a token says. Users always sets `iat` and never `nbf`; a verifier accepts tokens
/// without `iat` and checks `nbf` when present.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: String,
    /// One of [`ROLES`].
    pub role: String,
    /// The token's id, the handle for revocation (a UUIDv7 when users issued it).
    pub jti: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    pub iss: String,
    pub aud: String,
}

/// Where tokens come from and whom they are for.
#[derive(Clone)]
pub struct TokenConfig {
    secret: Vec<u8>,
    issuer: String,
    audience: String,
}

impl std::fmt::Debug for TokenConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenConfig")
            .field("secret", &"<redacted>")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish()
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("variable `{name}`: {reason}")]
    Variable { name: &'static str, reason: String },
    #[error("{SECRET_VARIABLE} must be at least {MIN_SECRET_BYTES} bytes")]
    WeakSecret,
}

/// Why a token or its header was refused. Deliberately coarse: the caller learns no more.
#[derive(Debug, Clone, Copy, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    /// The `Authorization` header is not `Bearer <token>`.
    #[error("the Authorization header must be `Bearer <token>`")]
    Malformed,
    /// Bad shape, algorithm, signature, issuer, audience, or claims.
    #[error("the token is invalid")]
    Invalid,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
}

impl TokenConfig {
    pub fn new(
        secret: impl Into<Vec<u8>>,
        issuer: impl Into<String>,
        audience: impl Into<String>,
    ) -> Result<Self, ConfigError> {
        let secret = secret.into();
        if secret.len() < MIN_SECRET_BYTES {
            return Err(ConfigError::WeakSecret);
        }
        Ok(Self {
            secret,
            issuer: issuer.into(),
            audience: audience.into(),
        })
    }

    /// From the component's [`SECRET_VARIABLE`], [`ISSUER_VARIABLE`] and [`AUDIENCE_VARIABLE`].
    pub fn from_variables() -> Result<Self, ConfigError> {
        let variable = |name: &'static str| {
            spin_sdk::variables::get(name).map_err(|e| ConfigError::Variable {
                name,
                reason: e.to_string(),
            })
        };
        Self::new(
            variable(SECRET_VARIABLE)?,
            variable(ISSUER_VARIABLE)?,
            variable(AUDIENCE_VARIABLE)?,
        )
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// The signed token of `claims`. HMAC signing of serialisable claims cannot fail in
    /// practice; the error is jsonwebtoken's, as text.
    pub fn sign(&self, claims: &Claims) -> Result<String, String> {
        jsonwebtoken::encode(
            &Header::new(ALGORITHM),
            claims,
            &EncodingKey::from_secret(&self.secret),
        )
        .map_err(|e| e.to_string())
    }

    /// Verifies `token` at `now` (Unix seconds): [`ALGORITHM`] only, signature, `iss`, `aud`,
    /// `exp` and `nbf` with [`LEEWAY_SECONDS`], one of [`ROLES`] and a non-empty `sub` and `jti`.
    pub fn verify(&self, token: &str, now: i64) -> Result<Claims, TokenError> {
        let mut validation = Validation::new(ALGORITHM);
        // Time claims are checked below against the caller's clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.leeway = 0;
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let claims = jsonwebtoken::decode::<Claims>(
            token,
            &DecodingKey::from_secret(&self.secret),
            &validation,
        )
        .map_err(|_| TokenError::Invalid)?
        .claims;
        if now > claims.exp.saturating_add(LEEWAY_SECONDS) {
            return Err(TokenError::Expired);
        }
        if let Some(nbf) = claims.nbf
            && nbf > now.saturating_add(LEEWAY_SECONDS)
        {
            return Err(TokenError::NotYetValid);
        }
        if claims.sub.is_empty() || claims.jti.is_empty() || !ROLES.contains(&claims.role.as_str())
        {
            return Err(TokenError::Invalid);
        }
        Ok(claims)
    }
}

/// The token of an `Authorization` header value: `Bearer <token>`, scheme case-insensitive, one
/// token without spaces.
pub fn bearer_token(header: &str) -> Result<&str, TokenError> {
    let (scheme, token) = header.trim().split_once(' ').ok_or(TokenError::Malformed)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() || token.contains(' ') {
        return Err(TokenError::Malformed);
    }
    Ok(token)
}

/// The Redis key of a revoked token: logout sets it, the gateway refuses the token while it
/// exists.
pub fn revocation_key(jti: &str) -> String {
    format!("revoked:jti:{jti}")
}

/// Seconds from `now` for which a revocation must be kept: until verification stops accepting
/// the token (`exp` plus [`LEEWAY_SECONDS`]), at least 1 (Redis refuses a zero TTL). A
/// revocation that ended at `exp` would let a logged-out token in again for the leeway.
pub fn revocation_ttl(claims: &Claims, now: i64) -> u64 {
    let accepted_until = claims.exp.saturating_add(LEEWAY_SECONDS);
    u64::try_from(accepted_until.saturating_sub(now))
        .unwrap_or(0)
        .max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    const SECRET: &str = "unit-test-secret-0123456789abcdef0123";
    const NOW: i64 = 1_800_000_000;

    fn config() -> TokenConfig {
        TokenConfig::new(SECRET, "wasmshop", "wasmshop-api").expect("config")
    }

    fn claims() -> Value {
        json!({ "sub": "u1", "role": "customer", "jti": "j1", "iat": NOW - 10,
            "exp": NOW + 3600, "iss": "wasmshop", "aud": "wasmshop-api" })
    }

    /// Signs arbitrary JSON, which [`TokenConfig::sign`]'s typed claims cannot express.
    fn sign(claims: &Value, secret: &str) -> String {
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .expect("sign")
    }

    fn with(field: &str, value: Value) -> Value {
        let mut c = claims();
        c[field] = value;
        c
    }

    /// Minimal unpadded base64url, so tests can hand-build hostile tokens.
    fn b64(bytes: &[u8]) -> String {
        const ALPHABET: &[u8; 64] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let n = chunk.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b))
                << (8 * (3 - chunk.len()));
            for i in 0..=chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            }
        }
        out
    }

    #[test]
    fn a_token_users_signs_is_what_the_gateway_accepts() {
        // Users' side: typed claims, serialised without the `nbf` it never sets.
        let issued = Claims {
            sub: "0198c1f0-0000-7000-8000-000000000001".into(),
            role: "admin".into(),
            jti: "0198c1f0-0000-7000-8000-0000000000aa".into(),
            iat: Some(NOW),
            exp: NOW + 3600,
            nbf: None,
            iss: "wasmshop".into(),
            aud: "wasmshop-api".into(),
        };
        let token = config().sign(&issued).expect("signs");
        let header = jsonwebtoken::decode_header(&token).expect("header");
        assert_eq!(header.alg, ALGORITHM);
        // The gateway's side: the same configuration read from the same variables.
        let gateway = TokenConfig::new(SECRET, "wasmshop", "wasmshop-api").expect("config");
        assert_eq!(gateway.verify(&token, NOW + 3600), Ok(issued));
    }

    #[test]
    fn tokens_without_iat_are_accepted_and_claims_without_options_omit_them() {
        let mut no_iat = claims();
        no_iat.as_object_mut().expect("object").remove("iat");
        let verified = config().verify(&sign(&no_iat, SECRET), NOW).expect("valid");
        assert_eq!((verified.iat, verified.nbf), (None, None));
        let json = serde_json::to_value(&verified).expect("json");
        assert!(
            json.get("iat").is_none() && json.get("nbf").is_none(),
            "{json}"
        );
    }

    #[test]
    fn rejects_bad_signatures_and_algorithms() {
        let config = config();
        assert_eq!(
            config.verify(&sign(&claims(), "another-secret-0123456789abcdef0123"), NOW),
            Err(TokenError::Invalid)
        );
        assert_eq!(config.verify("not-a-token", NOW), Err(TokenError::Invalid));
        assert_eq!(config.verify("", NOW), Err(TokenError::Invalid));
        let payload = b64(claims().to_string().as_bytes());
        let none = format!("{}.{payload}.", b64(br#"{"alg":"none","typ":"JWT"}"#));
        assert_eq!(config.verify(&none, NOW), Err(TokenError::Invalid));
        // Algorithm confusion: RS256 header, HMAC-signed with the secret.
        let header = b64(br#"{"alg":"RS256","typ":"JWT"}"#);
        let signing_input = format!("{header}.{payload}");
        let signature = jsonwebtoken::crypto::sign(
            signing_input.as_bytes(),
            &EncodingKey::from_secret(SECRET.as_bytes()),
            Algorithm::HS256,
        )
        .expect("hmac");
        assert_eq!(
            config.verify(&format!("{signing_input}.{signature}"), NOW),
            Err(TokenError::Invalid)
        );
        // HS512 with the right secret is still not HS256.
        let hs512 = jsonwebtoken::encode(
            &Header::new(Algorithm::HS512),
            &claims(),
            &EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .expect("sign");
        assert_eq!(config.verify(&hs512, NOW), Err(TokenError::Invalid));
    }

    #[test]
    fn checks_time_claims_with_leeway() {
        let config = config();
        let expired = sign(&with("exp", json!(NOW - LEEWAY_SECONDS - 1)), SECRET);
        assert_eq!(config.verify(&expired, NOW), Err(TokenError::Expired));
        let just_expired = sign(&with("exp", json!(NOW - LEEWAY_SECONDS + 1)), SECRET);
        assert!(config.verify(&just_expired, NOW).is_ok());
        let future = sign(&with("nbf", json!(NOW + LEEWAY_SECONDS + 1)), SECRET);
        assert_eq!(config.verify(&future, NOW), Err(TokenError::NotYetValid));
        let soon = sign(&with("nbf", json!(NOW + LEEWAY_SECONDS - 1)), SECRET);
        assert!(config.verify(&soon, NOW).is_ok());
    }

    #[test]
    fn checks_issuer_audience_and_claims() {
        let config = config();
        for (field, value) in [
            ("iss", json!("someone-else")),
            ("aud", json!("another-api")),
            ("role", json!("root")),
            ("sub", json!("")),
            ("jti", json!("")),
            ("exp", json!("tomorrow")),
        ] {
            let token = sign(&with(field, value), SECRET);
            assert_eq!(
                config.verify(&token, NOW),
                Err(TokenError::Invalid),
                "{field}"
            );
        }
        let mut no_exp = claims();
        no_exp.as_object_mut().expect("object").remove("exp");
        assert_eq!(
            config.verify(&sign(&no_exp, SECRET), NOW),
            Err(TokenError::Invalid)
        );
    }

    #[test]
    fn parses_bearer_headers() {
        assert_eq!(bearer_token("Bearer abc"), Ok("abc"));
        assert_eq!(bearer_token("bearer  abc "), Ok("abc"));
        assert_eq!(bearer_token(" BEARER abc"), Ok("abc"));
        for malformed in [
            "",
            "   ",
            "Bearer",
            "Bearer ",
            "Bearer    ",
            "Basic abc",
            "Bearerabc",
            "Bearer a b",
            "Token abc",
        ] {
            assert_eq!(
                bearer_token(malformed),
                Err(TokenError::Malformed),
                "{malformed:?}"
            );
        }
    }

    #[test]
    fn revocations_are_keyed_by_jti_and_outlast_the_leeway() {
        assert_eq!(
            revocation_key("0198c1f0-0000-7000-8000-0000000000aa"),
            "revoked:jti:0198c1f0-0000-7000-8000-0000000000aa"
        );
        let claims: Claims = serde_json::from_value(claims()).expect("claims");
        let exp = claims.exp;
        assert_eq!(
            revocation_ttl(&claims, exp - 3600),
            3600 + LEEWAY_SECONDS.unsigned_abs()
        );
        assert_eq!(revocation_ttl(&claims, exp - 1), 31);
        assert_eq!(revocation_ttl(&claims, exp + LEEWAY_SECONDS - 1), 1);
        assert_eq!(revocation_ttl(&claims, exp + 9_999), 1);
        // As long as a token verifies, its revocation has not lapsed.
        let token = config().sign(&claims).expect("signs");
        let last_accepted = exp + LEEWAY_SECONDS;
        for now in [
            exp - 3600,
            exp - 1,
            exp,
            exp + 1,
            last_accepted - 1,
            last_accepted,
        ] {
            assert!(config().verify(&token, now).is_ok(), "{now}");
            let kept_until = now + i64::try_from(revocation_ttl(&claims, now)).expect("small");
            assert!(
                kept_until >= last_accepted,
                "{now}: kept until {kept_until}"
            );
        }
        assert_eq!(
            config().verify(&token, last_accepted + 1),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn short_secrets_are_refused_and_never_printed() {
        assert_eq!(
            TokenConfig::new("short", "i", "a").unwrap_err(),
            ConfigError::WeakSecret
        );
        assert!(TokenConfig::new([7u8; MIN_SECRET_BYTES], "i", "a").is_ok());
        assert!(!format!("{:?}", config()).contains(SECRET));
    }
}
