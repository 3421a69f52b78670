//! wasmshop's single public entry. Every request: a request id and trace context, CORS, the
//! route table (`routes.rs`), bearer-token verification (`auth.rs`), the role check, a body
//! limit, then the gate — one Redis round trip for the token's revocation, the rate limit per
//! client and route class (`limiter.rs`), the upstream's circuit breaker and bulkhead slot
//! (`gate.rs`, `resilience.rs`, Redis adapter `breaker.rs`), which may answer a public read
//! from the shared response cache (`cache.rs`) — and forwarding to the owning component by
//! service chaining with retries for idempotent methods; one JSON log line per request on
//! stderr. `/health` is liveness, `/ready` checks every upstream.

mod audit;
pub mod auth;
mod breaker;
pub mod cache;
pub mod cors;
pub mod gate;
pub mod limiter;
pub mod resilience;
pub mod routes;
pub mod trace;
mod upstream;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{Value, json};
use spin_sdk::http::{IncomingRequest, Method, Request, Response};
use wasmshop_kit::error::ApiError;
use wasmshop_kit::identity::{USER_ID_HEADER, USER_ROLE_HEADER};

use auth::{AuthConfig, AuthError, Claims};
use cors::{CorsConfig, Preflight};
use resilience::Admission;
use routes::{Match, ROUTES, Route};
use trace::TraceParent;
use upstream::UpstreamError;

/// Largest request body forwarded (1 MiB); larger → 413.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// How long `/ready` waits for each upstream's `/health`.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// Client headers passed upstream; everything else (client `x-user-*` and `spin-*` included)
/// is dropped. `Authorization` is not among them: users alone gets one (its logout revokes the
/// presented token), rebuilt from the token the gateway verified (`forward`).
const FORWARDED_HEADERS: &[&str] = &[
    "accept",
    "accept-language",
    "content-type",
    "idempotency-key",
    "if-match",
    "if-none-match",
    "tracestate",
];

/// Upstream response headers not copied back (hop-by-hop, or recomputed).
const DROPPED_RESPONSE_HEADERS: &[&str] = &[
    "connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "content-length",
];

/// What the log line of a request records.
#[derive(Default)]
struct Outcome {
    route: Option<&'static str>,
    upstream: Option<&'static str>,
    user_id: Option<String>,
    upstream_ms: Option<f64>,
    rate_limit: Option<limiter::Decision>,
}

/// What the gateway knows about the request before dispatching it.
struct Context {
    method: Method,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    request_id: String,
    /// The context forwarded upstream and returned to the client.
    trace: TraceParent,
    /// The client's address (`limiter::client_address`), counted by the rate limit and
    /// forwarded to users for its login throttling.
    client: Option<IpAddr>,
}

impl Context {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The OpenAPI 3.1 document of the public API, served as it is in the repository; the route
/// table's test (`routes.rs`) keeps the two in step.
pub const OPENAPI: &str = include_str!("../openapi.json");
const OPENAPI_PATH: &str = "/api/v1/openapi.json";

fn variable(name: &str) -> Result<String, ApiError> {
    spin_sdk::variables::get(name).map_err(|e| {
        wasmshop_kit::trace::log("gateway", format_args!("variable `{name}`: {e}"));
        ApiError::internal("gateway misconfigured")
    })
}

fn json_response(status: u16, body: &Value) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(body.to_string())
        .build()
}

/// Uniform in [0, 1), for jitter.
fn random_fraction() -> f64 {
    let bytes = uuid::Uuid::new_v4().into_bytes();
    let n = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    f64::from(n) / (f64::from(u32::MAX) + 1.0)
}

fn unavailable(message: impl Into<String>) -> ApiError {
    ApiError::new(503, "service_unavailable", message)
}

// Only Wasm builds export the handler: a native link cannot carry WIT export names, and the
// workspace is also built natively (tests, clippy).
#[cfg_attr(target_arch = "wasm32", spin_sdk::http_component)]
pub async fn handle(req: IncomingRequest) -> Response {
    let started = Instant::now();
    let headers: Vec<(String, String)> = req
        .headers()
        .entries()
        .into_iter()
        .filter_map(|(name, value)| {
            Some((name.to_ascii_lowercase(), String::from_utf8(value).ok()?))
        })
        .collect();
    let path_with_query = req.path_with_query().unwrap_or_else(|| "/".into());
    let (path, query) = match path_with_query.split_once('?') {
        Some((path, query)) => (path.to_owned(), query.to_owned()),
        None => (path_with_query, String::new()),
    };
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    let request_id = header("x-request-id")
        .filter(|id| trace::sane_request_id(id))
        .map_or_else(|| uuid::Uuid::now_v7().to_string(), str::to_owned);
    let incoming_trace = header("traceparent").and_then(TraceParent::parse);
    let trace = TraceParent::child_of(
        incoming_trace.as_ref(),
        trace::new_span_id(),
        trace::new_trace_id(),
    );
    // The gateway's own log lines carry the trace it forwards.
    wasmshop_kit::trace::adopt(Some(&trace.header()));
    let client = client_address(&headers);
    let context = Context {
        method: req.method(),
        path,
        query,
        headers,
        request_id,
        trace,
        client,
    };

    let mut outcome = Outcome::default();
    // Only a request with an `Origin` can be answered differently by the allowed origins.
    let cors = match context.header("origin") {
        Some(_) => variable("cors_allowed_origins")
            .map(|list| CorsConfig::parse(&list))
            .unwrap_or_else(|_| CorsConfig::parse("")),
        None => CorsConfig::parse(""),
    };
    let mut response = dispatch(req, &context, &cors, &mut outcome)
        .await
        .unwrap_or_else(error_response);

    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    decorate(&mut response, &context, &cors, &outcome, elapsed_ms);
    log(&context, &outcome, response.status().to_owned(), elapsed_ms);
    response
}

/// The client's address: the peer's, or behind a proxy named in `trusted_proxies`, what the
/// proxies wrote in `X-Forwarded-For` (`limiter::client_address`).
fn client_address(headers: &[(String, String)]) -> Option<IpAddr> {
    let peer = headers
        .iter()
        .find(|(name, _)| name == "spin-client-addr")
        .map(|(_, value)| value.as_str());
    let forwarded: Vec<&str> = headers
        .iter()
        .filter(|(name, _)| name == "x-forwarded-for")
        .map(|(_, value)| value.as_str())
        .collect();
    // Without the header the peer is the client whoever it is: no need to ask the variable.
    let trusted = if forwarded.is_empty() {
        limiter::TrustedProxies::default()
    } else {
        let text = variable("trusted_proxies").unwrap_or_default();
        let (trusted, invalid) = limiter::TrustedProxies::parse(&text);
        if !invalid.is_empty() {
            wasmshop_kit::trace::log(
                "gateway",
                format_args!("`trusted_proxies`: ignoring {invalid:?}, not IPs or CIDRs"),
            );
        }
        trusted
    };
    limiter::client_address(peer, &forwarded, &trusted)
}

fn error_response(error: ApiError) -> Response {
    let unauthorized = error.status == 401;
    let mut response = error.into_response();
    if unauthorized {
        response.set_header("www-authenticate", "Bearer");
    }
    response
}

/// Headers every response gets: ids, timing, CORS.
fn decorate(
    response: &mut Response,
    context: &Context,
    cors: &CorsConfig,
    outcome: &Outcome,
    elapsed_ms: f64,
) {
    response.set_header("x-request-id", context.request_id.clone());
    response.set_header("traceparent", context.trace.header());
    response.set_header("x-response-time", format!("{elapsed_ms:.3}ms"));
    let mut timing = format!("gateway;dur={elapsed_ms:.3}");
    if let Some(upstream_ms) = outcome.upstream_ms {
        timing.push_str(&format!(", upstream;dur={upstream_ms:.3}"));
    }
    response.set_header("server-timing", timing);
    if response.status() == &401 && response.header("www-authenticate").is_none() {
        response.set_header("www-authenticate", "Bearer");
    }
    if let Some(decision) = &outcome.rate_limit {
        for (name, value) in decision.headers() {
            response.set_header(name, value);
        }
    }
    for (name, value) in cors.response_headers(context.header("origin")) {
        response.set_header(name, value);
    }
}

/// One structured line per request; never the token or the body.
fn log(context: &Context, outcome: &Outcome, status: u16, elapsed_ms: f64) {
    wasmshop_kit::trace::write_line(&json!({
        "msg": "request",
        "method": context.method.to_string(),
        "path": context.path,
        "route": outcome.route,
        "status": status,
        "duration_ms": (elapsed_ms * 1000.0).round() / 1000.0,
        "upstream": outcome.upstream,
        "upstream_ms": outcome.upstream_ms,
        "request_id": context.request_id,
        "trace_id": context.trace.trace_id,
        "user_id": outcome.user_id,
    }));
}

async fn dispatch(
    req: IncomingRequest,
    context: &Context,
    cors: &CorsConfig,
    outcome: &mut Outcome,
) -> Result<Response, ApiError> {
    let method = context.method.to_string();
    match context.path.as_str() {
        "/health" | "/api/v1/health" => {
            outcome.route = Some("/health");
            return match method.as_str() {
                "GET" => Ok(json_response(200, &json!({ "status": "ok" }))),
                _ => Err(ApiError::method_not_allowed(&["GET"])),
            };
        }
        OPENAPI_PATH => {
            outcome.route = Some(OPENAPI_PATH);
            return match method.as_str() {
                "GET" => Ok(Response::builder()
                    .status(200)
                    .header("content-type", "application/json")
                    .body(OPENAPI)
                    .build()),
                _ => Err(ApiError::method_not_allowed(&["GET"])),
            };
        }
        "/ready" => {
            outcome.route = Some("/ready");
            return match method.as_str() {
                "GET" => Ok(ready().await),
                _ => Err(ApiError::method_not_allowed(&["GET"])),
            };
        }
        _ => {}
    }

    let (route, upstream_path) = match routes::match_route(ROUTES, &context.path, &method) {
        Match::Found {
            route,
            upstream_path,
        } => (route, upstream_path),
        Match::MethodNotAllowed(allowed) if method == "OPTIONS" => {
            return Ok(options(context, cors, &allowed));
        }
        Match::MethodNotAllowed(allowed) => return Err(ApiError::method_not_allowed(&allowed)),
        Match::NotFound => {
            return Err(ApiError::not_found(format!(
                "no route for {}",
                context.path
            )));
        }
    };
    outcome.route = Some(route.pattern);
    outcome.upstream = Some(route.upstream);

    let caller = authenticate(context, route, &method)?;
    let claims = caller.claims();
    outcome.user_id = caller.user_id();
    // The recovery credential exists only on the routes it opens (`auth::recovery_route`).
    let authorized = match &caller {
        Caller::Recovery => Ok(()),
        _ => auth::authorize(route.auth, claims),
    };
    if let Err(status) = authorized {
        // A revoked token is refused as such even where its role would not do; Redis is asked
        // separately only on this rare path (the common one asks in the gate's round trip).
        if let Some(claims) = claims
            && is_revoked(&claims.jti)?
        {
            return Err(ApiError::unauthorized(AuthError::Revoked.message()));
        }
        return Err(match status {
            403 => ApiError::forbidden("this route requires the admin role"),
            _ => ApiError::unauthorized(AuthError::Missing.message()),
        });
    }

    // Read before the gate, so a slow upload never holds a bulkhead slot of the upstream.
    let body = read_body(req, context).await?;
    let pass = match gate(context, route, &caller, &method, outcome)? {
        Gated::Cached(response) => return Ok(response),
        Gated::Forward(pass) => pass,
    };
    let audited = audit::pending(route, &method, caller.identity(), &body);
    let answer = forward(context, route, &upstream_path, &caller, body, pass, outcome).await;
    if let Some(pending) = audited {
        audit::record(pending, context, &answer).await;
    }
    answer
}

/// `OPTIONS` on a known path: a CORS preflight when it is one, else the methods it has.
fn options(context: &Context, cors: &CorsConfig, allowed: &[&str]) -> Response {
    let requested = context.header("access-control-request-method");
    match (context.header("origin"), requested) {
        (Some(origin), Some(method)) => {
            match cors.preflight(
                origin,
                method,
                context.header("access-control-request-headers"),
                allowed,
            ) {
                Preflight::Allowed(headers) => {
                    let mut builder = Response::builder();
                    builder.status(204);
                    for (name, value) in headers {
                        builder.header(name, value);
                    }
                    builder.build()
                }
                Preflight::Denied(reason) => {
                    ApiError::forbidden(format!("CORS preflight refused: {reason}")).into_response()
                }
            }
        }
        _ => Response::builder()
            .status(204)
            .header("allow", allowed.join(", "))
            .build(),
    }
}

/// A bearer token the gateway verified, with its claims.
struct Bearer {
    claims: Claims,
    token: String,
}

/// Who a request comes from.
enum Caller {
    Anonymous,
    User(Bearer),
    /// The recovery credential, on a route it opens: a service acting as an admin.
    Recovery,
}

/// What the upstreams see of the recovery credential (`x-user-id`), and the logs.
const RECOVERY_IDENTITY: &str = "service:recovery";

impl Caller {
    fn claims(&self) -> Option<&Claims> {
        match self {
            Caller::User(bearer) => Some(&bearer.claims),
            _ => None,
        }
    }

    fn user_id(&self) -> Option<String> {
        match self {
            Caller::Anonymous => None,
            Caller::User(bearer) => Some(bearer.claims.sub.clone()),
            Caller::Recovery => Some(RECOVERY_IDENTITY.into()),
        }
    }

    fn principal(&self) -> limiter::Principal<'_> {
        match self {
            Caller::Anonymous => limiter::Principal::Anonymous,
            Caller::User(bearer) => limiter::Principal::User(&bearer.claims.sub),
            Caller::Recovery => limiter::Principal::Recovery,
        }
    }

    /// The verified `(x-user-id, x-user-role)` forwarded upstream.
    fn identity(&self) -> Option<(&str, &str)> {
        match self {
            Caller::Anonymous => None,
            Caller::User(bearer) => Some((&bearer.claims.sub, &bearer.claims.role)),
            Caller::Recovery => Some((RECOVERY_IDENTITY, "admin")),
        }
    }
}

/// Who sent the request: anonymous without an `Authorization` header; else its bearer token
/// must be valid even on public routes, and there may be only one. On a route the recovery
/// credential opens, that credential is accepted too; anywhere else it is an invalid token.
/// Whether a user token was revoked is asked by the gate (or by `is_revoked`).
fn authenticate(context: &Context, route: &Route, method: &str) -> Result<Caller, ApiError> {
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
    let unauthorized = |e: AuthError| ApiError::unauthorized(e.message());
    let token = auth::bearer_token(header).map_err(unauthorized)?;
    // A missing variable is a missing credential (logged by `variable`), not an outage.
    if auth::recovery_route(route, method)
        && auth::is_recovery_token(token, &variable("recovery_token").unwrap_or_default())
    {
        return Ok(Caller::Recovery);
    }
    let config = AuthConfig {
        secret: variable("jwt_secret")?.into_bytes(),
        issuer: variable("jwt_issuer")?,
        audience: variable("jwt_audience")?,
    };
    let now = wasmshop_kit::ids::now_unix_seconds();
    let claims = auth::verify(token, &config, now).map_err(unauthorized)?;
    Ok(Caller::User(Bearer {
        claims,
        token: token.to_owned(),
    }))
}

/// `EXISTS revoked:jti:<jti>`. Fails closed: when Redis cannot answer, no token is accepted
/// (503), since a revoked one might be among them.
fn is_revoked(jti: &str) -> Result<bool, ApiError> {
    use spin_sdk::redis::{Connection, RedisParameter, RedisResult};
    let address = variable("redis_address")?;
    let failed = |e: spin_sdk::redis::Error| {
        wasmshop_kit::trace::log("gateway", format_args!("revocation check: {e}"));
        unavailable("token revocation cannot be checked; retry later")
    };
    let connection = Connection::open(&address).map_err(failed)?;
    let result = connection
        .execute(
            "EXISTS",
            &[RedisParameter::Binary(
                auth::revocation_key(jti).into_bytes(),
            )],
        )
        .map_err(failed)?;
    Ok(matches!(result.first(), Some(RedisResult::Int64(n)) if *n > 0))
}

/// What the gate made of a request.
enum Gated {
    Forward(Pass),
    /// A public read answered from the response cache.
    Cached(Response),
}

/// A request the gate let through to its upstream.
struct Pass {
    /// Records the outcome and frees the bulkhead slot; `None` when Redis could not be asked.
    breaker: Option<breaker::Breaker>,
    admission: Admission,
}

/// The gate before the upstream, one Redis round trip (`gate.rs`): the token's revocation,
/// the client's rate-limit window for the route's class, the upstream's circuit and a slot of
/// its bulkhead. `None` breaker: Redis could not be asked and the policy let the request on.
///
/// Policy when Redis is unreachable: an anonymous read (GET/HEAD) fails open — no limit, no
/// breaker: browsing must survive a Redis outage and reads change nothing; everything else is
/// refused with 503 `service_unavailable` — an unthrottled write path (login guessing, order
/// spam) is worse than a brief outage, and a revoked token could not be recognised.
fn gate(
    context: &Context,
    route: &Route,
    caller: &Caller,
    method: &str,
    outcome: &mut Outcome,
) -> Result<Gated, ApiError> {
    use limiter::Limit;

    let claims = caller.claims();
    let name = limiter::variable_name(route.class);
    let limit = match variable(&name) {
        Ok(text) => Limit::parse(&text).unwrap_or_else(|| {
            wasmshop_kit::trace::log(
                "gateway",
                format_args!(
                    "`{name}` = {text:?} is not `<requests>/<seconds>`; using the default"
                ),
            );
            Limit::default_for(route.class)
        }),
        Err(_) => Limit::default_for(route.class),
    };
    let client = limiter::client_key(route.class, caller.principal(), context.client);
    let timeout = route.class.timeout();
    let ask = breaker::Ask {
        upstream: route.upstream,
        jti: claims.map(|c| c.jti.as_str()),
        limit_key: limiter::redis_key(route.class, &client),
        limit,
        slot_lifetime_ms: i64::try_from(timeout.as_millis()).unwrap_or(i64::MAX) * 2,
        writes: route.class == routes::Class::Write,
        cache: shared_read(method, route).then(|| cache::keys(&context.path, &context.query)),
        refresh_ms: i64::try_from(timeout.as_millis()).unwrap_or(i64::MAX),
    };
    let asked = variable("redis_address")
        .map_err(|e| e.message)
        .and_then(|address| breaker::ask(&address, &ask));
    let (verdict, breaker) = match asked {
        Ok(answer) => answer,
        Err(e) => {
            wasmshop_kit::trace::log("gateway", format_args!("gate for {}: {e}", route.upstream));
            if matches!(caller, Caller::Anonymous) && limiter::fail_open(method) {
                return Ok(Gated::Forward(Pass {
                    breaker: None,
                    admission: Admission::Send,
                }));
            }
            return Err(unavailable(if claims.is_some() {
                "token revocation cannot be checked; retry later"
            } else {
                "rate limiting is unavailable; retry later"
            }));
        }
    };
    match verdict {
        gate::Verdict::Revoked => Err(ApiError::unauthorized(AuthError::Revoked.message())),
        gate::Verdict::Limited(decision) => {
            outcome.rate_limit = Some(decision);
            Err(ApiError::too_many_requests(decision.reset_seconds))
        }
        gate::Verdict::Cached {
            rate_limit,
            response,
        } => {
            outcome.rate_limit = Some(rate_limit);
            match cache::decode(&response) {
                Some((content_type, body)) => Ok(Gated::Cached(
                    Response::builder()
                        .status(200)
                        .header("content-type", content_type)
                        .header("x-cache", "hit")
                        .body(body.to_vec())
                        .build(),
                )),
                // Not an entry this gateway wrote: ask the upstream, outside the bulkhead
                // (the gate did not reach it).
                None => {
                    wasmshop_kit::trace::log("gateway", "unreadable response cache entry");
                    Ok(Gated::Forward(Pass {
                        breaker: None,
                        admission: Admission::Send,
                    }))
                }
            }
        }
        gate::Verdict::Counted {
            rate_limit,
            admission,
        } => {
            outcome.rate_limit = Some(rate_limit);
            match admission {
                Admission::Reject {
                    retry_after_seconds,
                } => {
                    let mut error = unavailable(format!(
                        "{} is failing; the circuit is open",
                        route.upstream
                    ));
                    error.code = "circuit_open";
                    error.retry_after = Some(retry_after_seconds);
                    Err(error)
                }
                Admission::Full => {
                    let mut error = unavailable(format!(
                        "{} has too many requests in flight",
                        route.upstream
                    ));
                    error.code = "upstream_busy";
                    error.retry_after = Some(1);
                    Err(error)
                }
                Admission::Send | Admission::Probe => Ok(Gated::Forward(Pass {
                    breaker: Some(breaker),
                    admission,
                })),
            }
        }
    }
}

/// The request body, at most [`MAX_BODY_BYTES`]: a larger declared `content-length` is refused
/// before reading, a larger streamed body as soon as it passes the limit.
async fn read_body(req: IncomingRequest, context: &Context) -> Result<Vec<u8>, ApiError> {
    let too_large = || {
        ApiError::new(
            413,
            "payload_too_large",
            format!("the request body exceeds {MAX_BODY_BYTES} bytes"),
        )
    };
    if let Some(length) = context.header("content-length") {
        match length.trim().parse::<u64>() {
            Ok(length) if length > MAX_BODY_BYTES as u64 => return Err(too_large()),
            Ok(_) => {}
            Err(_) => {
                return Err(ApiError::bad_request(
                    "invalid_request",
                    "bad content-length",
                ));
            }
        }
    }
    let mut body = Vec::new();
    let mut stream = req.into_body_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| {
            ApiError::bad_request("invalid_request", "the request body could not be read")
        })?;
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

async fn forward(
    context: &Context,
    route: &Route,
    upstream_path: &str,
    caller: &Caller,
    body: Vec<u8>,
    pass: Pass,
    outcome: &mut Outcome,
) -> Result<Response, ApiError> {
    let mut url = format!("{}{upstream_path}", upstream::base_url(route.upstream));
    if !context.query.is_empty() {
        url.push('?');
        url.push_str(&context.query);
    }
    let mut headers: Vec<(String, String)> = context
        .headers
        .iter()
        .filter(|(name, _)| FORWARDED_HEADERS.contains(&name.as_str()))
        .cloned()
        .collect();
    // The verified token, never the client's header list: users must act on the very
    // credential the gateway checked.
    if let Caller::User(bearer) = caller
        && route.upstream == routes::USERS
    {
        headers.push(("authorization".into(), format!("Bearer {}", bearer.token)));
    }
    headers.push(("x-request-id".into(), context.request_id.clone()));
    headers.push(("traceparent".into(), context.trace.header()));
    // The one address the gateway determined: a client's own `X-Forwarded-For` is never
    // forwarded (not in `FORWARDED_HEADERS`), so users can trust this header.
    if let Some(client) = context.client {
        headers.push(("x-forwarded-for".into(), client.to_string()));
    }
    if let Some((user_id, role)) = caller.identity() {
        headers.push((USER_ID_HEADER.into(), user_id.to_owned()));
        headers.push((USER_ROLE_HEADER.into(), role.to_owned()));
    }
    let build = || {
        let mut builder = Request::builder();
        builder.method(context.method.clone()).uri(url.clone());
        for (name, value) in &headers {
            builder.header(name.clone(), value.clone());
        }
        builder.body(body.clone());
        builder.build()
    };

    let timeout = route.class.timeout();
    let started = Instant::now();
    let method = context.method.to_string();
    let mut attempt = 0;
    let result = loop {
        let result = upstream::send(build(), timeout).await;
        let failed = match &result {
            Ok(response) => resilience::retryable_status(*response.status()),
            Err(UpstreamError::Failed(_)) => true,
            // A timeout already took long; retrying would exceed the request deadline.
            Err(UpstreamError::Timeout) => false,
        };
        if !(failed && resilience::retryable_method(&method) && attempt < resilience::MAX_RETRIES) {
            break result;
        }
        attempt += 1;
        upstream::sleep(resilience::backoff(attempt, random_fraction())).await;
    };
    outcome.upstream_ms = Some(started.elapsed().as_secs_f64() * 1000.0);
    let success = matches!(&result, Ok(response) if *response.status() < 500);
    let Pass {
        mut breaker,
        admission,
    } = pass;
    if let Some(breaker) = &mut breaker {
        let update = match &result {
            Ok(response) => cache_update(context, route, response),
            Err(_) => cache::Update::Keep,
        };
        breaker.record(admission, success, update);
    }
    let upstream_response = result.map_err(|e| match e {
        UpstreamError::Timeout => ApiError::new(
            504,
            "upstream_timeout",
            format!("{} did not answer in time", route.upstream),
        ),
        UpstreamError::Failed(reason) => {
            wasmshop_kit::trace::log(
                "gateway",
                format_args!("{} {}: {reason}", route.upstream, upstream_path),
            );
            ApiError::new(
                502,
                "bad_gateway",
                format!("{} could not be reached", route.upstream),
            )
        }
    })?;

    let mut builder = Response::builder();
    builder.status(*upstream_response.status());
    for (name, value) in upstream_response.headers() {
        let name = name.to_ascii_lowercase();
        if !DROPPED_RESPONSE_HEADERS.contains(&name.as_str()) {
            builder.header(name, String::from_utf8_lossy(value.as_bytes()).into_owned());
        }
    }
    builder.body(upstream_response.into_body());
    Ok(builder.build())
}

/// Whether a request may be answered from, and its answer kept in, the shared response cache:
/// a `GET` on a route anyone may read. The upstream still decides per answer.
fn shared_read(method: &str, route: &Route) -> bool {
    method == "GET" && route.auth == routes::Auth::Public
}

/// What an upstream's answer does to the response cache: a shareable answer to a public read
/// is stored; a successful write drops the entry of its path, so its client reads the change.
fn cache_update(context: &Context, route: &Route, response: &Response) -> cache::Update {
    let method = context.method.to_string();
    let header = |name: &str| response.header(name).and_then(|value| value.as_str());
    let status = *response.status();
    if shared_read(&method, route) {
        if status != 200 {
            return cache::Update::Keep;
        }
        return match cache::shareable_for_ms(header("cache-control")) {
            Some(ttl_ms) => cache::Update::Store {
                keys: cache::keys(&context.path, &context.query),
                ttl_ms,
                entry: cache::encode(
                    header("content-type").unwrap_or("application/octet-stream"),
                    response.body(),
                ),
            },
            None => cache::Update::Keep,
        };
    }
    let writes = !matches!(method.as_str(), "GET" | "HEAD" | "OPTIONS");
    if writes && (200..300).contains(&status) {
        return cache::Update::Drop {
            keys: cache::keys(&context.path, ""),
        };
    }
    cache::Update::Keep
}

/// Readiness: every upstream's private `GET /health`, concurrently, each within
/// [`READY_TIMEOUT`]; 200 when all are up, else 503, with per-service detail.
async fn ready() -> Response {
    let checks = routes::UPSTREAMS.iter().map(|&name| async move {
        let started = Instant::now();
        let request = Request::get(format!("{}/health", upstream::base_url(name))).build();
        let result = upstream::send(request, READY_TIMEOUT).await;
        let latency_ms = (started.elapsed().as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0;
        let detail = match result {
            Ok(response) if *response.status() == 200 => {
                json!({ "status": "up", "latency_ms": latency_ms })
            }
            Ok(response) => json!({ "status": "down", "latency_ms": latency_ms,
                "reason": format!("health answered {}", response.status()) }),
            Err(UpstreamError::Timeout) => {
                json!({ "status": "down", "latency_ms": latency_ms, "reason": "timeout" })
            }
            Err(UpstreamError::Failed(reason)) => {
                json!({ "status": "down", "latency_ms": latency_ms, "reason": reason })
            }
        };
        (name, detail)
    });
    let results = futures::future::join_all(checks).await;
    let all_up = results.iter().all(|(_, d)| d["status"] == "up");
    let services: serde_json::Map<String, Value> = results
        .into_iter()
        .map(|(name, detail)| (name.to_owned(), detail))
        .collect();
    json_response(
        if all_up { 200 } else { 503 },
        &json!({ "status": if all_up { "ready" } else { "unavailable" }, "services": services }),
    )
}
