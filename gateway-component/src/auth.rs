//! Bearer-token verification (pure: the clock is a parameter), the route's role check and the
//! recovery credential's scope.
//! The revocation lookup in Redis is part of the gate (`gate.rs`).

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use crate::routes::{Auth, Route};

/// Clock skew tolerated on `exp` and `nbf`, in seconds.
pub const LEEWAY_SECONDS: i64 = 30;

/// The claims the users component signs (`nbf` optional).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub role: String,
    pub jti: String,
    pub exp: i64,
    #[serde(default)]
    pub nbf: Option<i64>,
    #[serde(default)]
    pub iat: Option<i64>,
    pub iss: String,
    pub aud: String,
}

pub struct AuthConfig {
    pub secret: Vec<u8>,
    pub issuer: String,
    pub audience: String,
}

impl std::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthConfig")
            .field("secret", &"<redacted>")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthError {
    /// No `Authorization` header.
    Missing,
    /// Not `Bearer <token>`.
    Malformed,
    /// Bad shape, algorithm, signature, issuer, audience, or claims.
    Invalid,
    Expired,
    NotYetValid,
    Revoked,
}

impl AuthError {
    /// What the 401 says; deliberately coarse.
    pub fn message(self) -> &'static str {
        match self {
            AuthError::Missing => "an `Authorization: Bearer <token>` header is required",
            AuthError::Malformed => "the Authorization header must be `Bearer <token>`",
            AuthError::Expired => "the token has expired",
            AuthError::Revoked => "the token has been revoked",
            AuthError::Invalid | AuthError::NotYetValid => "the token is invalid",
        }
    }
}

/// The token of an `Authorization` header value: `Bearer <token>`, scheme case-insensitive.
pub fn bearer_token(header: &str) -> Result<&str, AuthError> {
    let (scheme, token) = header.trim().split_once(' ').ok_or(AuthError::Malformed)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() || token.contains(' ') {
        return Err(AuthError::Malformed);
    }
    Ok(token)
}

/// Verifies `token` at `now` (Unix seconds): HS256 only (the header cannot choose another
/// algorithm, `none` included), signature, `iss`, `aud`, `exp` and `nbf` with
/// [`LEEWAY_SECONDS`], a known role and a non-empty `sub` and `jti`.
pub fn verify(token: &str, config: &AuthConfig, now: i64) -> Result<Claims, AuthError> {
    let mut validation = Validation::new(Algorithm::HS256);
    // Time claims are checked below against the caller's clock.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.leeway = 0;
    validation.set_issuer(&[&config.issuer]);
    validation.set_audience(&[&config.audience]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    let claims = jsonwebtoken::decode::<Claims>(
        token,
        &DecodingKey::from_secret(&config.secret),
        &validation,
    )
    .map_err(|_| AuthError::Invalid)?
    .claims;
    if now > claims.exp.saturating_add(LEEWAY_SECONDS) {
        return Err(AuthError::Expired);
    }
    if let Some(nbf) = claims.nbf
        && nbf > now.saturating_add(LEEWAY_SECONDS)
    {
        return Err(AuthError::NotYetValid);
    }
    if claims.sub.is_empty()
        || claims.jti.is_empty()
        || !matches!(claims.role.as_str(), "customer" | "admin")
    {
        return Err(AuthError::Invalid);
    }
    Ok(claims)
}

/// Whether `claims` (None: anonymous) may use a route requiring `auth`: `Ok` or the status to
/// answer (401 or 403).
pub fn authorize(auth: Auth, claims: Option<&Claims>) -> Result<(), u16> {
    match (auth, claims) {
        (Auth::Public, _) => Ok(()),
        (_, None) => Err(401),
        (Auth::Authenticated, Some(_)) => Ok(()),
        (Auth::Admin, Some(claims)) if claims.role == "admin" => Ok(()),
        (Auth::Admin, Some(_)) => Err(403),
    }
}

/// Whether a request may present the recovery credential: `POST` on a context's recovery
/// tick (`/admin/<context>/recovery`), the one thing a scheduler needs. Anywhere else the
/// credential is just an invalid token.
pub fn recovery_route(route: &Route, method: &str) -> bool {
    let segments: Vec<&str> = route.pattern.split('/').collect();
    method == "POST"
        && route.auth == Auth::Admin
        && route.upstream_path == "/admin/recovery"
        && matches!(segments.as_slice(), ["", "admin", context, "recovery"] if *context == route.upstream)
}

/// Whether `token` is the recovery credential `configured`; an empty `configured` means there
/// is none. Compared in constant time: the time taken depends on `configured`'s length only,
/// never on how much of it a guess got right.
pub fn is_recovery_token(token: &str, configured: &str) -> bool {
    let (token, configured) = (token.as_bytes(), configured.as_bytes());
    let mut difference = token.len() ^ configured.len();
    for (i, expected) in configured.iter().enumerate() {
        let got = token.get(i).copied().unwrap_or(0);
        difference |= usize::from(std::hint::black_box(got ^ expected));
    }
    !configured.is_empty() && std::hint::black_box(difference) == 0
}

/// The Redis key users' logout sets.
pub fn revocation_key(jti: &str) -> String {
    format!("revoked:jti:{jti}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header, encode};
    use serde_json::{Value, json};

    const SECRET: &str = "unit-test-secret-0123456789abcdef0123";
    const NOW: i64 = 1_800_000_000;

    fn config() -> AuthConfig {
        AuthConfig {
            secret: SECRET.as_bytes().to_vec(),
            issuer: "wasmshop".into(),
            audience: "wasmshop-api".into(),
        }
    }

    fn claims() -> Value {
        json!({ "sub": "u1", "role": "customer", "jti": "j1", "iat": NOW - 10,
            "exp": NOW + 3600, "iss": "wasmshop", "aud": "wasmshop-api" })
    }

    fn sign(claims: &Value, secret: &str) -> String {
        encode(
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
    fn accepts_a_valid_token() {
        let token = sign(&claims(), SECRET);
        let claims = verify(&token, &config(), NOW).expect("valid");
        assert_eq!(
            (claims.sub.as_str(), claims.role.as_str()),
            ("u1", "customer")
        );
    }

    #[test]
    fn rejects_bad_signatures_and_algorithms() {
        let config = config();
        assert_eq!(
            verify(
                &sign(&claims(), "another-secret-0123456789abcdef0123"),
                &config,
                NOW
            ),
            Err(AuthError::Invalid)
        );
        assert_eq!(verify("not-a-token", &config, NOW), Err(AuthError::Invalid));
        let payload = b64(claims().to_string().as_bytes());
        let none = format!("{}.{payload}.", b64(br#"{"alg":"none","typ":"JWT"}"#));
        assert_eq!(verify(&none, &config, NOW), Err(AuthError::Invalid));
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
            verify(&format!("{signing_input}.{signature}"), &config, NOW),
            Err(AuthError::Invalid)
        );
        // HS512 with the right secret is still not HS256.
        let hs512 = encode(
            &Header::new(Algorithm::HS512),
            &claims(),
            &EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .expect("sign");
        assert_eq!(verify(&hs512, &config, NOW), Err(AuthError::Invalid));
    }

    #[test]
    fn checks_time_claims_with_leeway() {
        let config = config();
        let expired = sign(&with("exp", json!(NOW - LEEWAY_SECONDS - 1)), SECRET);
        assert_eq!(verify(&expired, &config, NOW), Err(AuthError::Expired));
        let just_expired = sign(&with("exp", json!(NOW - LEEWAY_SECONDS + 1)), SECRET);
        assert!(verify(&just_expired, &config, NOW).is_ok());
        let future = sign(&with("nbf", json!(NOW + LEEWAY_SECONDS + 1)), SECRET);
        assert_eq!(verify(&future, &config, NOW), Err(AuthError::NotYetValid));
        let soon = sign(&with("nbf", json!(NOW + LEEWAY_SECONDS - 1)), SECRET);
        assert!(verify(&soon, &config, NOW).is_ok());
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
                verify(&token, &config, NOW),
                Err(AuthError::Invalid),
                "{field}"
            );
        }
        let mut no_exp = claims();
        no_exp.as_object_mut().expect("object").remove("exp");
        assert_eq!(
            verify(&sign(&no_exp, SECRET), &config, NOW),
            Err(AuthError::Invalid)
        );
    }

    #[test]
    fn parses_bearer_headers() {
        assert_eq!(bearer_token("Bearer abc"), Ok("abc"));
        assert_eq!(bearer_token("bearer  abc "), Ok("abc"));
        assert_eq!(bearer_token("Basic abc"), Err(AuthError::Malformed));
        assert_eq!(bearer_token("Bearer"), Err(AuthError::Malformed));
        assert_eq!(bearer_token("Bearer a b"), Err(AuthError::Malformed));
    }

    #[test]
    fn authorizes_by_role() {
        let customer: Claims = serde_json::from_value(claims()).expect("claims");
        let admin: Claims = serde_json::from_value(with("role", json!("admin"))).expect("claims");
        assert_eq!(authorize(Auth::Public, None), Ok(()));
        assert_eq!(authorize(Auth::Authenticated, None), Err(401));
        assert_eq!(authorize(Auth::Authenticated, Some(&customer)), Ok(()));
        assert_eq!(authorize(Auth::Admin, None), Err(401));
        assert_eq!(authorize(Auth::Admin, Some(&customer)), Err(403));
        assert_eq!(authorize(Auth::Admin, Some(&admin)), Ok(()));
    }

    #[test]
    fn the_recovery_credential_matches_exactly_and_only_when_configured() {
        let configured = "recovery-0123456789abcdef";
        assert!(is_recovery_token(configured, configured));
        for wrong in [
            "",
            "recovery-0123456789abcde",
            "recovery-0123456789abcdef0",
            "recovery-0123456789abcdeF",
            "xecovery-0123456789abcdef",
        ] {
            assert!(!is_recovery_token(wrong, configured), "{wrong}");
        }
        // No credential exists when the variable is empty, whatever is presented.
        assert!(!is_recovery_token("", ""));
        assert!(!is_recovery_token("anything", ""));
    }

    #[test]
    fn the_recovery_credential_opens_only_the_recovery_ticks() {
        use crate::routes::{Match, ROUTES, match_route};
        let mut opened = Vec::new();
        for route in ROUTES {
            for method in route.methods {
                if recovery_route(route, method) {
                    opened.push(format!("{method} {}", route.pattern));
                }
            }
        }
        let mut expected: Vec<String> = crate::routes::UPSTREAMS
            .iter()
            .map(|context| format!("POST /admin/{context}/recovery"))
            .collect();
        opened.sort();
        expected.sort();
        assert_eq!(opened, expected);
        let Match::Found { route, .. } =
            match_route(ROUTES, "/api/v1/admin/catalog/recovery", "POST")
        else {
            panic!("the recovery route exists");
        };
        assert!(recovery_route(route, "POST"));
        assert!(!recovery_route(route, "GET"));
    }
}
