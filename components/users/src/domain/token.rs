//! Access tokens as users issues them (an hour's lifetime, the login answer's type) and the
//! check logout makes before revoking one. The contract itself — claims, HS256 signing and
//! verification with the gateway's leeway, the revocation key — is shared with the gateway in
//! `wasmshop_kit::token`.

use wasmshop_kit::ids::is_id;
use wasmshop_kit::token::{Claims, TokenConfig, TokenError};

use crate::Role;

/// Lifetime of an access token; `expires_in` of the login answer.
pub const TOKEN_TTL_SECONDS: u32 = 3600;
pub const TOKEN_TYPE: &str = "Bearer";

/// The claims of a token issued at `now` (Unix seconds), valid for [`TOKEN_TTL_SECONDS`].
pub fn claims(config: &TokenConfig, user_id: &str, role: Role, jti: &str, now: i64) -> Claims {
    Claims {
        sub: user_id.to_owned(),
        role: role.as_str().to_owned(),
        jti: jti.to_owned(),
        iat: Some(now),
        exp: now + i64::from(TOKEN_TTL_SECONDS),
        nbf: None,
        iss: config.issuer().to_owned(),
        aud: config.audience().to_owned(),
    }
}

/// The claims of a token logout may revoke: exactly what the gateway accepts at `now` (the same
/// verification and leeway, so a token the gateway still lets through can be logged out), with
/// a `jti` that is a UUID as this service issues them.
pub fn verify_for_logout(
    config: &TokenConfig,
    token: &str,
    now: i64,
) -> Result<Claims, TokenError> {
    let claims = config.verify(token, now)?;
    if !is_id(&claims.jti) {
        return Err(TokenError::Invalid);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmshop_kit::token::{LEEWAY_SECONDS, revocation_ttl};

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
        let claims = claims(&config(), USER, Role::Admin, JTI, 1_750_000_000);
        assert_eq!(
            claims,
            Claims {
                sub: USER.into(),
                role: "admin".into(),
                jti: JTI.into(),
                iat: Some(1_750_000_000),
                exp: 1_750_003_600,
                nbf: None,
                iss: "wasmshop".into(),
                aud: "wasmshop-api".into(),
            }
        );
        assert_eq!(claims.exp - 1_750_000_000, i64::from(TOKEN_TTL_SECONDS));
        assert_eq!(revocation_ttl(&claims, 1_750_000_000), 3630);
        assert_eq!(revocation_ttl(&claims, 1_750_003_599), 31);
        assert_eq!(revocation_ttl(&claims, 1_750_003_629), 1);
        assert_eq!(revocation_ttl(&claims, 1_750_009_999), 1);
    }

    #[test]
    fn signed_tokens_verify_and_carry_their_claims() {
        let config = config();
        let claims = claims(&config, USER, Role::Customer, JTI, now());
        let token = config.sign(&claims).expect("signs");
        assert_eq!(verify_for_logout(&config, &token, now()), Ok(claims));
    }

    // #18: logout verified with no leeway while the gateway allowed 30 s, so a token the
    // gateway still forwarded in those 30 s could not be logged out (401), and stayed usable.
    #[test]
    fn logout_accepts_a_token_as_long_as_the_gateway_does() {
        let config = config();
        let issued_at = 1_750_000_000;
        let token = config
            .sign(&claims(&config, USER, Role::Customer, JTI, issued_at))
            .expect("signs");
        let exp = issued_at + i64::from(TOKEN_TTL_SECONDS);
        for now in [exp, exp + 1, exp + LEEWAY_SECONDS] {
            assert_eq!(
                verify_for_logout(&config, &token, now).map(|c| c.jti),
                Ok(JTI.to_owned()),
                "{now}"
            );
        }
        assert_eq!(
            verify_for_logout(&config, &token, exp + LEEWAY_SECONDS + 1),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn tokens_are_refused_when_anything_is_off() {
        let config = config();
        let now = now();
        let good = claims(&config, USER, Role::Customer, JTI, now);
        let other_secret = TokenConfig::new(
            "another-secret-0123456789abcdef0123",
            "wasmshop",
            "wasmshop-api",
        )
        .expect("config");
        let long_ago = now - i64::from(TOKEN_TTL_SECONDS) - LEEWAY_SECONDS - 1;
        let cases = [
            ("other secret", other_secret.sign(&good).expect("signs")),
            (
                "expired past the leeway",
                config
                    .sign(&claims(&config, USER, Role::Customer, JTI, long_ago))
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
            ("garbage", "not.a.token".to_owned()),
            ("empty", String::new()),
        ];
        for (case, token) in cases {
            let expected = if case.starts_with("expired") {
                TokenError::Expired
            } else {
                TokenError::Invalid
            };
            assert_eq!(
                verify_for_logout(&config, &token, now),
                Err(expected),
                "{case}"
            );
        }
        // `alg: none` with the signature stripped.
        let signed = config.sign(&good).expect("signs");
        let payload = signed.split('.').nth(1).expect("payload");
        let none = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}.");
        assert_eq!(
            verify_for_logout(&config, &none, now),
            Err(TokenError::Invalid)
        );
    }
}
