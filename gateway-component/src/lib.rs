//! wasmshop's single public entry, one request's pipeline read top to bottom in this file:
//! a request id and trace context (`trace.rs`), the gateway's own endpoints (`/health`,
//! `/ready`, the OpenAPI document), the route table (`routes.rs`) with CORS preflights
//! (`cors.rs`), who the caller is and the role check (`auth.rs`, the token contract shared
//! with users in `wasmshop_kit::token`), the body limit, then the gate — one Redis round trip
//! for the token's revocation, the rate limit (`limiter.rs`), the upstream's circuit breaker
//! and bulkhead slot (`resilience.rs`), or a cached public read (`cache.rs`); the gate's
//! policy and script are in `gate.rs`, its Redis calls in `gate_redis.rs` — then forwarding
//! to the owning component with retries (`upstream.rs`), the audit trail's feed (`audit.rs`),
//! and one JSON log line per request on stderr. Every Spin variable is read in `config.rs`.

mod audit;
pub mod auth;
pub mod cache;
mod config;
pub mod cors;
pub mod gate;
mod gate_redis;
pub mod limiter;
pub mod resilience;
pub mod routes;
pub mod trace;
mod upstream;

use std::net::IpAddr;
use std::time::Instant;

use futures::StreamExt;
use serde_json::{Value, json};
use spin_sdk::http::{IncomingRequest, Method, Response};
use wasmshop_kit::error::ApiError;

use cors::{CorsConfig, Preflight};
use gate::Gated;
use routes::{Match, ROUTES};
use trace::TraceParent;

/// Largest request body forwarded (1 MiB); larger → 413.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The OpenAPI 3.1 document of the public API, served as it is in the repository; the route
/// table's test (`routes.rs`) keeps the two in step.
pub const OPENAPI: &str = include_str!("../openapi.json");
const OPENAPI_PATH: &str = "/api/v1/openapi.json";

/// What the log line of a request records.
#[derive(Default)]
pub struct Outcome {
    pub route: Option<&'static str>,
    pub upstream: Option<&'static str>,
    pub user_id: Option<String>,
    pub upstream_ms: Option<f64>,
    pub rate_limit: Option<limiter::Decision>,
}

/// What the gateway knows about the request before dispatching it.
pub struct Context {
    pub method: Method,
    pub path: String,
    pub query: String,
    /// Names in lower case; values that are not UTF-8 are dropped.
    pub headers: Vec<(String, String)>,
    pub request_id: String,
    /// The context forwarded upstream and returned to the client.
    pub trace: TraceParent,
    /// The client's address (`limiter::client_address`), counted by the rate limit and
    /// forwarded to users for its login throttling.
    pub client: Option<IpAddr>,
}

// Only Wasm builds export the handler: a native link cannot carry WIT export names, and the
// workspace is also built natively (tests, clippy).
#[cfg_attr(target_arch = "wasm32", spin_sdk::http_component)]
pub async fn handle(req: IncomingRequest) -> Response {
    let started = Instant::now();
    let context = Context::of(&req);
    // Only a request with an `Origin` can be answered differently by the allowed origins.
    let cors = match context.header("origin") {
        Some(_) => config::cors(),
        None => CorsConfig::parse(""),
    };
    let mut outcome = Outcome::default();
    let mut response = dispatch(req, &context, &cors, &mut outcome)
        .await
        .unwrap_or_else(error_response);

    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    decorate(&mut response, &context, &cors, &outcome, elapsed_ms);
    log(&context, &outcome, response.status().to_owned(), elapsed_ms);
    response
}

/// The pipeline after the request's context: the gateway's own endpoints, or a route's
/// caller, role check, body, gate, upstream and audit record, in that order.
async fn dispatch(
    req: IncomingRequest,
    context: &Context,
    cors: &CorsConfig,
    outcome: &mut Outcome,
) -> Result<Response, ApiError> {
    if let Some(answer) = own_endpoint(context, outcome).await {
        return answer;
    }
    let method = context.method.to_string();
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

    let caller = auth::authenticate(context, route, &method)?;
    outcome.user_id = caller.user_id();
    caller
        .may_use(route)
        .map_err(|status| auth::refusal(&caller, status))?;

    // Read before the gate, so a slow upload never holds a bulkhead slot of the upstream.
    let body = read_body(req, context).await?;
    let pass = match gate::gate(context, route, &caller, &method, outcome)? {
        Gated::Cached(response) => return Ok(response),
        Gated::Forward(pass) => pass,
    };
    let audited = audit::pending(route, &method, caller.identity(), &body);
    let answer =
        upstream::forward(context, route, &upstream_path, &caller, body, pass, outcome).await;
    if let Some(pending) = audited {
        audit::record(pending, context, &answer).await;
    }
    answer
}

/// The gateway's own endpoints, GET only: liveness, readiness, the OpenAPI document. `None`
/// for any other path.
async fn own_endpoint(
    context: &Context,
    outcome: &mut Outcome,
) -> Option<Result<Response, ApiError>> {
    let route = match context.path.as_str() {
        "/health" | "/api/v1/health" => "/health",
        OPENAPI_PATH => OPENAPI_PATH,
        "/ready" => "/ready",
        _ => return None,
    };
    outcome.route = Some(route);
    if context.method.to_string() != "GET" {
        return Some(Err(ApiError::method_not_allowed(&["GET"])));
    }
    Some(Ok(match route {
        "/health" => json_response(200, &json!({ "status": "ok" })),
        "/ready" => upstream::ready().await,
        _ => Response::builder()
            .status(200)
            .header("content-type", "application/json")
            .body(OPENAPI)
            .build(),
    }))
}

impl Context {
    fn of(req: &IncomingRequest) -> Self {
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
        let request_id = first_header(&headers, "x-request-id")
            .filter(|id| trace::sane_request_id(id))
            .map_or_else(|| uuid::Uuid::now_v7().to_string(), str::to_owned);
        let incoming = first_header(&headers, "traceparent").and_then(TraceParent::parse);
        let trace = TraceParent::child_of(
            incoming.as_ref(),
            trace::new_span_id(),
            trace::new_trace_id(),
        );
        // The gateway's own log lines, from here on, carry the trace it forwards.
        wasmshop_kit::trace::adopt(Some(&trace.header()));
        let client = client_address(&headers);
        Context {
            method: req.method(),
            path,
            query,
            headers,
            request_id,
            trace,
            client,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        first_header(&self.headers, name)
    }
}

fn first_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// The client's address: the peer's, or behind a proxy named in `trusted_proxies`, what the
/// proxies wrote in `X-Forwarded-For` (`limiter::client_address`).
fn client_address(headers: &[(String, String)]) -> Option<IpAddr> {
    let peer = first_header(headers, "spin-client-addr");
    let forwarded: Vec<&str> = headers
        .iter()
        .filter(|(name, _)| name == "x-forwarded-for")
        .map(|(_, value)| value.as_str())
        .collect();
    // Without the header the peer is the client whoever it is: no need to ask the variable.
    let trusted = if forwarded.is_empty() {
        limiter::TrustedProxies::default()
    } else {
        config::trusted_proxies()
    };
    limiter::client_address(peer, &forwarded, &trusted)
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

fn json_response(status: u16, body: &Value) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(body.to_string())
        .build()
}

fn unavailable(message: impl Into<String>) -> ApiError {
    ApiError::new(503, "service_unavailable", message)
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
