//! Calls to other components through Spin service chaining (`http://<id>.spin.internal`), with
//! a deadline (a WASI monotonic-clock timer raced against the request): forwarding an admitted
//! request with its retries, its outcome recorded by the circuit breaker, and `/ready`'s
//! health checks.

use std::pin::{Pin, pin};
use std::task::Poll;
use std::time::{Duration, Instant};

use futures::future::{Either, select};
use serde_json::{Value, json};
use spin_sdk::http::{Request, Response};
use wasi::clocks::monotonic_clock;
use wasmshop_kit::error::ApiError;
use wasmshop_kit::identity::{USER_ID_HEADER, USER_ROLE_HEADER};

use crate::auth::Caller;
use crate::gate::Pass;
use crate::routes::{self, Route};
use crate::{Context, Outcome, cache, json_response, resilience};

/// Client headers passed upstream; everything else (client `x-user-*` and `spin-*` included)
/// is dropped. `Authorization` is not among them: users alone gets one (its logout revokes the
/// presented token), rebuilt from the token the gateway verified (`headers`).
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

/// How long `/ready` waits for each upstream's `/health`.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug)]
pub enum UpstreamError {
    Timeout,
    /// Connection refused, unknown component, denied host, broken response...
    Failed(String),
}

/// Resolves after `duration` (the executor wakes it through a clock pollable).
pub fn sleep(duration: Duration) -> Sleep {
    let nanos = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
    Sleep {
        deadline: monotonic_clock::now().saturating_add(nanos),
        registration: None,
    }
}

pub struct Sleep {
    deadline: u64,
    /// The pending clock registration; replacing or dropping it cancels it.
    registration: Option<spin_executor::CancelOnDropToken>,
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<()> {
        if monotonic_clock::now() >= self.deadline {
            self.registration = None;
            return Poll::Ready(());
        }
        let pollable = monotonic_clock::subscribe_instant(self.deadline);
        self.registration =
            Some(spin_executor::push_waker_and_get_token(pollable, cx.waker().clone()).into());
        Poll::Pending
    }
}

/// Sends `request`, giving up after `timeout`.
pub async fn send(request: Request, timeout: Duration) -> Result<Response, UpstreamError> {
    let call = pin!(spin_sdk::http::send::<_, Response>(request));
    let timer = pin!(sleep(timeout));
    match select(call, timer).await {
        Either::Left((result, _)) => result.map_err(|e| UpstreamError::Failed(e.to_string())),
        Either::Right(((), _)) => Err(UpstreamError::Timeout),
    }
}

/// The base URL of a component reached by service chaining.
pub fn base_url(component: &str) -> String {
    format!("http://{component}.spin.internal")
}

/// Forwards a request the gate let through (`pass`) to its upstream at `upstream_path`, with
/// the verified identity, retrying idempotent methods; records the outcome in the breaker and
/// the response cache, and returns the upstream's answer without its hop-by-hop headers.
pub async fn forward(
    context: &Context,
    route: &Route,
    upstream_path: &str,
    caller: &Caller,
    body: Vec<u8>,
    pass: Pass,
    outcome: &mut Outcome,
) -> Result<Response, ApiError> {
    let mut url = format!("{}{upstream_path}", base_url(route.upstream));
    if !context.query.is_empty() {
        url.push('?');
        url.push_str(&context.query);
    }
    let headers = headers(context, route, caller);
    let build = || {
        let mut builder = Request::builder();
        builder.method(context.method.clone()).uri(url.clone());
        for (name, value) in &headers {
            builder.header(name.clone(), value.clone());
        }
        builder.body(body.clone());
        builder.build()
    };
    let started = Instant::now();
    let result = send_with_retries(&context.method.to_string(), route, build).await;
    outcome.upstream_ms = Some(started.elapsed().as_secs_f64() * 1000.0);
    record(context, route, pass, &result);
    let answer = result.map_err(|e| match e {
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
    Ok(relay(answer))
}

/// The headers sent upstream: the allowed client headers, then what the gateway vouches for.
fn headers(context: &Context, route: &Route, caller: &Caller) -> Vec<(String, String)> {
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
    headers
}

/// Sends `build()`'s request within the route class's timeout, again after a backoff while it
/// fails retryably and `method` is idempotent (`resilience`).
async fn send_with_retries(
    method: &str,
    route: &Route,
    build: impl Fn() -> Request,
) -> Result<Response, UpstreamError> {
    let timeout = route.class.timeout();
    let mut attempt = 0;
    loop {
        let result = send(build(), timeout).await;
        let failed = match &result {
            Ok(response) => resilience::retryable_status(*response.status()),
            Err(UpstreamError::Failed(_)) => true,
            // A timeout already took long; retrying would exceed the request deadline.
            Err(UpstreamError::Timeout) => false,
        };
        if !(failed && resilience::retryable_method(method) && attempt < resilience::MAX_RETRIES) {
            return result;
        }
        attempt += 1;
        sleep(resilience::backoff(attempt, random_fraction())).await;
    }
}

/// Uniform in [0, 1), for jitter.
fn random_fraction() -> f64 {
    let bytes = uuid::Uuid::new_v4().into_bytes();
    let n = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    f64::from(n) / (f64::from(u32::MAX) + 1.0)
}

/// Tells the breaker how the call went (a 5xx or no answer is a failure), and the response
/// cache what the answer changes; frees the bulkhead slot.
fn record(context: &Context, route: &Route, pass: Pass, result: &Result<Response, UpstreamError>) {
    let Pass { breaker, admission } = pass;
    let Some(mut breaker) = breaker else {
        return;
    };
    let success = matches!(result, Ok(response) if *response.status() < 500);
    let update = match result {
        Ok(response) => cache::update(context, route, response),
        Err(_) => cache::Update::Keep,
    };
    breaker.record(admission, success, update);
}

/// The upstream's answer as the client gets it: status, body and end-to-end headers.
fn relay(answer: Response) -> Response {
    let mut builder = Response::builder();
    builder.status(*answer.status());
    for (name, value) in answer.headers() {
        let name = name.to_ascii_lowercase();
        if !DROPPED_RESPONSE_HEADERS.contains(&name.as_str()) {
            builder.header(name, String::from_utf8_lossy(value.as_bytes()).into_owned());
        }
    }
    builder.body(answer.into_body());
    builder.build()
}

/// Readiness: every upstream's private `GET /health`, concurrently, each within
/// [`READY_TIMEOUT`]; 200 when all are up, else 503, with per-service detail.
pub async fn ready() -> Response {
    let checks = routes::UPSTREAMS.iter().map(|&name| async move {
        let started = Instant::now();
        let request = Request::get(format!("{}/health", base_url(name))).build();
        let result = send(request, READY_TIMEOUT).await;
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
