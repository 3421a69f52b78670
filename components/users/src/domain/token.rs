//! Access tokens: HS256 JWTs. The gateway verifies them with the same secret, issuer and
//! audience, and refuses any whose `jti` is in Redis as `revoked:jti:<jti>`.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::Role;

/// Lifetime of an access token; `expires_in` of the login answer.
pub const TOKEN_TTL_SECONDS: u32 = 3600;
/// HMAC-SHA-256 keys shorter than the hash give less than its strength (RFC 7518 §3.2).
pub const MIN_SECRET_BYTES: usize = 32;
pub const TOKEN_TYPE: &str = "Bearer";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: String,
    /// `customer` or `admin`.
    pub role: String,
    /// UUIDv7, the handle for revocation.
    pub jti: String,
    pub iat: i64,
    pub exp: i64,
    pub iss: String,
    pub aud: String,
}

/// Where tokens come from and whom they are for, from the component's variables.
#[derive(Clone)]
pub struct TokenConfig {
    pub secret: Vec<u8>,
    pub issuer: String,
    pub audience: String,
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
pub enum TokenError {
    #[error("jwt_secret must be at least {MIN_SECRET_BYTES} bytes")]
    WeakSecret,
    #[error("signing the token: {0}")]
    Signing(String),
    /// Bad signature, algorithm, issuer, audience, shape, or expired: the caller learns no more.
    #[error("invalid token")]
    Invalid,
}

impl TokenConfig {
    pub fn new(
        secret: impl Into<Vec<u8>>,
        issuer: impl Into<String>,
        audience: impl Into<String>,
    ) -> Result<Self, TokenError> {
        let secret = secret.into();
        if secret.len() < MIN_SECRET_BYTES {
            return Err(TokenError::WeakSecret);
        }
        Ok(Self {
            secret,
            issuer: issuer.into(),
            audience: audience.into(),
        })
    }

    /// The claims of a token issued at `now` (Unix seconds), valid for [`TOKEN_TTL_SECONDS`].
    pub fn claims(&self, user_id: &str, role: Role, jti: &str, now: i64) -> Claims {
        Claims {
            sub: user_id.to_owned(),
            role: role.as_str().to_owned(),
            jti: jti.to_owned(),
            iat: now,
            exp: now + i64::from(TOKEN_TTL_SECONDS),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
        }
    }

    pub fn sign(&self, claims: &Claims) -> Result<String, TokenError> {
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            claims,
            &EncodingKey::from_secret(&self.secret),
        )
        .map_err(|e| TokenError::Signing(e.to_string()))
    }

    /// The claims of a token this service issued and that has not expired: HS256 only (the
    /// header's `alg` cannot choose another), signature, `exp` (no leeway), `iss`, `aud` and
    /// `sub` checked, and a `jti` that is a UUID.
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let data = jsonwebtoken::decode::<Claims>(
            token,
            &DecodingKey::from_secret(&self.secret),
            &validation,
        )
        .map_err(|_| TokenError::Invalid)?;
        if !wasmshop_kit::ids::is_id(&data.claims.jti) {
            return Err(TokenError::Invalid);
        }
        Ok(data.claims)
    }
}

/// How long after `exp` the gateway still accepts a token: its clock-skew leeway
/// (`auth::LEEWAY_SECONDS` in gateway-component, which users cannot depend on). A revocation
/// that ended at `exp` would let a logged-out token in again for that long; a unit test below
/// reads the gateway's constant so the two cannot drift apart.
pub const GATEWAY_LEEWAY_SECONDS: i64 = 30;

/// Seconds from `now` for which a revocation of the token must be kept: until the gateway stops
/// accepting it (`exp` plus [`GATEWAY_LEEWAY_SECONDS`]), at least 1 (Redis refuses a zero TTL).
pub fn revocation_ttl(claims: &Claims, now: i64) -> u64 {
    let accepted_until = claims.exp.saturating_add(GATEWAY_LEEWAY_SECONDS);
    u64::try_from(accepted_until.saturating_sub(now))
        .unwrap_or(0)
        .max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "unit-test-secret-0123456789abcdef0123";
    const JTI: &str = "0198c1f0-0000-7000-8000-0000000000aa";
    const USER: &str = "0198c1f0-0000-7000-8000-000000000001";

    fn config() -> TokenConfig {
        TokenConfig::new(SECRET, "wasmshop", "wasmshop-api").expect("config")
    }

    fn now() -> i64 {
        wasmshop_kit::ids::now_unix_seconds()
    }

    #[test]
    fn claims_expire_an_hour_after_issue() {
        let claims = config().claims(USER, Role::Admin, JTI, 1_750_000_000);
        assert_eq!(
            claims,
            Claims {
                sub: USER.into(),
                role: "admin".into(),
                jti: JTI.into(),
                iat: 1_750_000_000,
                exp: 1_750_003_600,
                iss: "wasmshop".into(),
                aud: "wasmshop-api".into(),
            }
        );
        assert_eq!(claims.exp - claims.iat, i64::from(TOKEN_TTL_SECONDS));
        assert_eq!(revocation_ttl(&claims, 1_750_000_000), 3630);
        assert_eq!(revocation_ttl(&claims, 1_750_003_599), 31);
        assert_eq!(revocation_ttl(&claims, 1_750_003_629), 1);
        assert_eq!(revocation_ttl(&claims, 1_750_009_999), 1);
    }

    #[test]
    fn revocations_cover_the_gateways_leeway() {
        let gateway = include_str!("../../../../gateway-component/src/auth.rs");
        let declared = "pub const LEEWAY_SECONDS: i64 = ";
        let leeway: i64 = gateway
            .lines()
            .find_map(|line| line.trim().strip_prefix(declared))
            .and_then(|rest| rest.strip_suffix(';'))
            .and_then(|value| value.trim().parse().ok())
            .expect("the gateway declares `pub const LEEWAY_SECONDS: i64 = <n>;` in auth.rs");
        assert_eq!(GATEWAY_LEEWAY_SECONDS, leeway);
    }

    #[test]
    fn short_secrets_are_refused() {
        assert_eq!(
            TokenConfig::new("short", "i", "a").unwrap_err(),
            TokenError::WeakSecret
        );
        assert!(!format!("{:?}", config()).contains(SECRET));
    }

    #[test]
    fn signed_tokens_verify_and_carry_their_claims() {
        let config = config();
        let claims = config.claims(USER, Role::Customer, JTI, now());
        let token = config.sign(&claims).expect("signs");
        let header = jsonwebtoken::decode_header(&token).expect("header");
        assert_eq!(header.alg, Algorithm::HS256);
        assert_eq!(config.verify(&token), Ok(claims));
    }

    #[test]
    fn tokens_are_refused_when_anything_is_off() {
        let config = config();
        let good = config.claims(USER, Role::Customer, JTI, now());
        let other_secret = TokenConfig::new(
            "another-secret-0123456789abcdef0123",
            "wasmshop",
            "wasmshop-api",
        )
        .expect("config");
        let cases = [
            ("other secret", other_secret.sign(&good).expect("signs")),
            (
                "expired",
                config
                    .sign(&config.claims(USER, Role::Customer, JTI, now() - 3601))
                    .expect("signs"),
            ),
            (
                "other issuer",
                config
                    .sign(&Claims {
                        iss: "someone-else".into(),
                        ..good.clone()
                    })
                    .expect("signs"),
            ),
            (
                "other audience",
                config
                    .sign(&Claims {
                        aud: "another-api".into(),
                        ..good.clone()
                    })
                    .expect("signs"),
            ),
            (
                "jti not a uuid",
                config
                    .sign(&Claims {
                        jti: "x".into(),
                        ..good.clone()
                    })
                    .expect("signs"),
            ),
            (
                "HS512",
                jsonwebtoken::encode(
                    &Header::new(Algorithm::HS512),
                    &good,
                    &EncodingKey::from_secret(SECRET.as_bytes()),
                )
                .expect("signs"),
            ),
            ("garbage", "not.a.token".to_owned()),
            ("empty", String::new()),
        ];
        for (case, token) in cases {
            assert_eq!(config.verify(&token), Err(TokenError::Invalid), "{case}");
        }
        // `alg: none` with the signature stripped.
        let signed = config.sign(&good).expect("signs");
        let payload = signed.split('.').nth(1).expect("payload");
        let none = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}.");
        assert_eq!(config.verify(&none), Err(TokenError::Invalid));
    }
}
