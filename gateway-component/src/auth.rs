//! Who a request comes from, and whether they may use its route: the bearer token verified by
//! the contract shared with users (`wasmshop_kit::token`), or the recovery credential on the
//! routes it opens; then the route's role check. Whether a user's token was revoked is asked
//! by the gate (`gate.rs`) in its round trip, or by `gate_redis::is_revoked` on a refusal.

use wasmshop_kit::error::ApiError;
use wasmshop_kit::token::{Claims, TokenError, bearer_token};

use crate::limiter::Principal;
use crate::routes::{Auth, Route};
use crate::{Context, config, gate_redis, unavailable};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthError {
    /// No `Authorization` header.
    Missing,
    /// Not `Bearer <token>`, or a token the contract refuses.
    Token(TokenError),
    Revoked,
}

impl AuthError {
    /// What the 401 says; deliberately coarse.
    pub fn message(self) -> &'static str {
        match self {
            AuthError::Missing => "an `Authorization: Bearer <token>` header is required",
            AuthError::Token(TokenError::Malformed) => {
                "the Authorization header must be `Bearer <token>`"
            }
            AuthError::Token(TokenError::Expired) => "the token has expired",
            AuthError::Revoked => "the token has been revoked",
            AuthError::Token(TokenError::Invalid | TokenError::NotYetValid) => {
                "the token is invalid"
            }
        }
    }

    pub fn into_api_error(self) -> ApiError {
        ApiError::unauthorized(self.message())
    }
}

/// A bearer token the gateway verified, with its claims.
pub struct Bearer {
    pub claims: Claims,
    pub token: String,
}

/// Who a request comes from.
pub enum Caller {
    Anonymous,
    User(Bearer),
    /// The recovery credential, on a route it opens: a service acting as an admin.
    Recovery,
}

/// What the upstreams see of the recovery credential (`x-user-id`), and the logs.
const RECOVERY_IDENTITY: &str = "service:recovery";

impl Caller {
    pub fn claims(&self) -> Option<&Claims> {
        match self {
            Caller::User(bearer) => Some(&bearer.claims),
            _ => None,
        }
    }

    pub fn user_id(&self) -> Option<String> {
        match self {
            Caller::Anonymous => None,
            Caller::User(bearer) => Some(bearer.claims.sub.clone()),
            Caller::Recovery => Some(RECOVERY_IDENTITY.into()),
        }
    }

    pub fn principal(&self) -> Principal<'_> {
        match self {
            Caller::Anonymous => Principal::Anonymous,
            Caller::User(bearer) => Principal::User(&bearer.claims.sub),
            Caller::Recovery => Principal::Recovery,
        }
    }

    /// The verified `(x-user-id, x-user-role)` forwarded upstream.
    pub fn identity(&self) -> Option<(&str, &str)> {
        match self {
            Caller::Anonymous => None,
            Caller::User(bearer) => Some((&bearer.claims.sub, &bearer.claims.role)),
            Caller::Recovery => Some((RECOVERY_IDENTITY, "admin")),
        }
    }

    /// Whether this caller may use `route`: `Ok` or the status to answer (401 or 403). The
    /// recovery credential exists only on the routes it opens (`recovery_route`).
    pub fn may_use(&self, route: &Route) -> Result<(), u16> {
        match self {
            Caller::Recovery => Ok(()),
            _ => authorize(route.auth, self.claims()),
        }
    }
}

/// Who sent the request: anonymous without an `Authorization` header; else its bearer token
/// must be valid even on public routes, and there may be only one. On a route the recovery
/// credential opens, that credential is accepted too; anywhere else it is an invalid token.
pub fn authenticate(context: &Context, route: &Route, method: &str) -> Result<Caller, ApiError> {
    let mut headers = context
        .headers
        .iter()
        .filter(|(name, _)| name == "authorization");
    let Some((_, header)) = headers.next() else {
        return Ok(Caller::Anonymous);
    };
    // With several, which one counts is up to each reader: the gateway verified the first
    // while users revoked another (#14).
    if headers.next().is_some() {
        return Err(ApiError::bad_request(
            "invalid_request",
            "send at most one Authorization header",
        ));
    }
    let refused = |e: TokenError| AuthError::Token(e).into_api_error();
    let token = bearer_token(header).map_err(refused)?;
    // A missing variable is a missing credential (logged by `config`), not an outage.
    if recovery_route(route, method) && is_recovery_token(token, &config::recovery_token()) {
        return Ok(Caller::Recovery);
    }
    let now = wasmshop_kit::ids::now_unix_seconds();
    let claims = config::tokens()?.verify(token, now).map_err(refused)?;
    Ok(Caller::User(Bearer {
        claims,
        token: token.to_owned(),
    }))
}

/// The answer to a caller the route's role check turned away with `status` (401 or 403). A
/// revoked token is refused as such even where its role would not do; Redis is asked
/// separately only on this rare path (the common one asks in the gate's round trip).
pub fn refusal(caller: &Caller, status: u16) -> ApiError {
    if let Some(claims) = caller.claims() {
        match is_revoked(&claims.jti) {
            Ok(false) => {}
            Ok(true) => return AuthError::Revoked.into_api_error(),
            Err(error) => return error,
        }
    }
    match status {
        403 => ApiError::forbidden("this route requires the admin role"),
        _ => AuthError::Missing.into_api_error(),
    }
}

/// Whether the token `jti` was revoked. Fails closed: when Redis cannot answer, no token is
/// accepted (503), since a revoked one might be among them.
fn is_revoked(jti: &str) -> Result<bool, ApiError> {
    let address = config::redis_address()?;
    gate_redis::is_revoked(&address, jti).map_err(|e| {
        wasmshop_kit::trace::log("gateway", format_args!("revocation check: {e}"));
        unavailable("token revocation cannot be checked; retry later")
    })
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn claims(role: &str) -> Claims {
        let claims: Value = json!({ "sub": "u1", "role": role, "jti": "j1", "iat": 1,
            "exp": 3601, "iss": "wasmshop", "aud": "wasmshop-api" });
        serde_json::from_value(claims).expect("claims")
    }

    #[test]
    fn refusals_say_little() {
        assert_eq!(
            AuthError::Token(TokenError::NotYetValid).message(),
            AuthError::Token(TokenError::Invalid).message()
        );
        let error = AuthError::Revoked.into_api_error();
        assert_eq!((error.status, error.code), (401, "unauthorized"));
        assert_eq!(error.message, "the token has been revoked");
    }

    #[test]
    fn authorizes_by_role() {
        let customer = claims("customer");
        let admin = claims("admin");
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
