//! The HTTP trigger: a hyper server that routes each request, as Spin does, to a fresh instance
//! of the matching component, and the in-memory dispatcher for service chaining.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Weak};
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use http::uri::{Authority, PathAndQuery};
use http::{HeaderName, HeaderValue, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::{WasiBody, WasiHttpView};

use crate::app::{App, LoadedComponent};
use crate::capabilities::outbound_http::ServiceChaining;
use crate::manifest::HttpRoute;
use crate::state::InstanceState;
use crate::triggers::connections::{
    ACCEPT_BACKOFF, Activity, ConnectionLimiter, HttpLimits, Tracked, accept_needs_backoff,
};
use crate::triggers::router::{RouteMatch, RoutePattern, Router};

pub const HEALTH_PATH: &str = "/.well-known/spin/health";

/// Where a request came from, for the `spin-*` headers.
#[derive(Debug, Clone)]
struct Origin {
    /// The authority the client used (scheme `http`).
    authority: Authority,
    client_addr: String,
}

struct HttpComponent {
    component: Arc<LoadedComponent>,
    proxy: ProxyPre<InstanceState>,
    route: RoutePattern,
}

pub struct HttpTrigger {
    app: Arc<App>,
    router: Router<String>,
    components: HashMap<String, HttpComponent>,
}

#[derive(Debug, thiserror::Error)]
enum ExecError {
    #[error("instantiating or running the component failed: {0:?}")]
    Guest(wasmtime::Error),
    #[error("the component did not respond within {0:?}")]
    Deadline(std::time::Duration),
    #[error("the component never set a response")]
    NoResponse,
    #[error("no instance slot is free: {0}")]
    PoolExhausted(wasmtime::Error),
}

impl ExecError {
    fn guest(error: wasmtime::Error) -> Self {
        // The pooling allocator refuses at once when its slots (instances, memories, tables,
        // stacks) are all taken; that is load, not a fault of the component.
        if error.is::<wasmtime::PoolConcurrencyLimitError>() {
            Self::PoolExhausted(error)
        } else {
            Self::Guest(error)
        }
    }
}

impl HttpTrigger {
    /// Builds the router and binds service chaining of `app` to this trigger.
    pub fn new(app: Arc<App>) -> anyhow::Result<Arc<Self>> {
        let mut components = HashMap::new();
        let mut routes = Vec::new();
        for trigger in &app.manifest.http_triggers {
            let component = app
                .component(&trigger.component)
                .ok_or_else(|| anyhow::anyhow!("component `{}` is not loaded", trigger.component))?
                .clone();
            let proxy = ProxyPre::new(component.pre.clone()).map_err(|e| {
                anyhow::anyhow!(
                    "component `{}` is on an HTTP trigger but does not export wasi:http/incoming-handler: {e}",
                    component.id
                )
            })?;
            let route = match &trigger.route {
                HttpRoute::Public(route) => {
                    let pattern = RoutePattern::parse(route);
                    routes.push((pattern.clone(), component.id.clone()));
                    pattern
                }
                HttpRoute::Private => RoutePattern::catch_all(),
            };
            components.insert(
                component.id.clone(),
                HttpComponent {
                    component,
                    proxy,
                    route,
                },
            );
        }
        let trigger = Arc::new(Self {
            app,
            router: Router::new(routes),
            components,
        });
        let weak: Weak<dyn ServiceChaining> = Arc::downgrade(&trigger) as Weak<dyn ServiceChaining>;
        trigger.app.chaining().bind(weak);
        Ok(trigger)
    }

    /// Public routes and their components, most specific first.
    pub fn routes(&self) -> Vec<(String, String)> {
        self.router
            .routes()
            .map(|(pattern, id)| (pattern.raw().to_owned(), id.clone()))
            .collect()
    }

    /// Components reachable only through chaining.
    pub fn private_components(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .app
            .manifest
            .http_triggers
            .iter()
            .filter(|t| t.route == HttpRoute::Private)
            .map(|t| t.component.clone())
            .collect();
        ids.sort();
        ids
    }

    /// Accepts connections until `shutdown` resolves, within `limits`.
    pub async fn serve(
        self: Arc<Self>,
        listener: TcpListener,
        limits: HttpLimits,
        shutdown: impl Future<Output = ()> + Send,
    ) -> anyhow::Result<()> {
        let local = listener.local_addr()?;
        let limiter = ConnectionLimiter::new(&limits);
        let mut builder = http1::Builder::new();
        builder
            .keep_alive(true)
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout);
        let idle_timeout = limits.idle_timeout;
        let mut starved = false;
        tokio::pin!(shutdown);
        loop {
            let slot = tokio::select! {
                slot = limiter.slot() => slot,
                () = &mut shutdown => return Ok(()),
            };
            let (stream, client) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(pair) => pair,
                    Err(e) if accept_needs_backoff(&e) => {
                        if !starved {
                            tracing::warn!("accept failed: {e}; retrying every {ACCEPT_BACKOFF:?}");
                            starved = true;
                        }
                        tokio::select! {
                            () = tokio::time::sleep(ACCEPT_BACKOFF) => {}
                            () = &mut shutdown => return Ok(()),
                        }
                        continue;
                    }
                    Err(e) => {
                        tracing::debug!("accept failed: {e}");
                        continue;
                    }
                },
                () = &mut shutdown => return Ok(()),
            };
            if starved {
                tracing::info!("accepting connections again");
                starved = false;
            }
            let Some(admitted) = limiter.admit(client.ip(), slot) else {
                tracing::debug!(%client, "connection refused: the client has its fill");
                continue;
            };
            let _ = stream.set_nodelay(true);
            let connection =
                self.clone()
                    .serve_connection(stream, builder.clone(), local, client, idle_timeout);
            tokio::spawn(async move {
                // The connection counts against the limits until it ends.
                let _admitted = admitted;
                connection.await;
            });
        }
    }

    /// Serves one connection's requests until the client closes it or it idles for
    /// `idle_timeout`.
    async fn serve_connection(
        self: Arc<Self>,
        stream: TcpStream,
        builder: http1::Builder,
        local: SocketAddr,
        client: SocketAddr,
        idle_timeout: Duration,
    ) {
        let activity = Activity::new();
        let service = hyper::service::service_fn({
            let activity = activity.clone();
            move |request| {
                let trigger = self.clone();
                let in_flight = activity.request();
                async move {
                    let response = trigger.handle(request, local, client).await;
                    drop(in_flight);
                    Ok::<_, Infallible>(response)
                }
            }
        });
        let io = TokioIo::new(Tracked::new(stream, activity.clone()));
        let connection = builder.serve_connection(io, service);
        tokio::pin!(connection);
        // hyper closes a connection whose head is late, but keeps an idle one open for
        // as long as its head timer allows; this closes it once it has been idle for
        // `idle_timeout`. A graceful shutdown never cuts a response short.
        let ended = loop {
            let Some(deadline) = activity.idle_deadline(idle_timeout) else {
                connection.as_mut().graceful_shutdown();
                break connection.as_mut().await;
            };
            tokio::select! {
                ended = connection.as_mut() => break ended,
                () = tokio::time::sleep_until(deadline.into()) => {}
            }
        };
        if let Err(e) = ended {
            tracing::debug!("connection from {client} ended: {e}");
        }
    }

    /// Routes and runs one request as if it had arrived on `local` from `client`; the server
    /// calls this for every request, and benchmarks call it without a socket.
    pub async fn handle<B>(
        &self,
        request: Request<B>,
        local: SocketAddr,
        client: SocketAddr,
    ) -> Response<HyperOutgoingBody>
    where
        B: hyper::body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<wasmtime_wasi_http::Error>,
    {
        let path = request.uri().path().to_owned();
        if path == HEALTH_PATH {
            return text_response(StatusCode::OK, "OK");
        }
        let authority = match request_authority(&request, local) {
            Ok(authority) => authority,
            Err(why) => return json_error(StatusCode::BAD_REQUEST, "bad_request", why),
        };
        let Some((pattern, id, matched)) = self.router.route(&path) else {
            return text_response(StatusCode::NOT_FOUND, "Not Found");
        };
        let Some(target) = self.components.get(id) else {
            return text_response(StatusCode::NOT_FOUND, "Not Found");
        };
        let origin = Origin {
            authority,
            client_addr: client.to_string(),
        };
        let pattern = pattern.clone();
        self.execute(target, &pattern, matched, request, origin)
            .await
    }

    async fn execute<B>(
        &self,
        target: &HttpComponent,
        pattern: &RoutePattern,
        matched: RouteMatch,
        request: Request<B>,
        origin: Origin,
    ) -> Response<HyperOutgoingBody>
    where
        B: hyper::body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<wasmtime_wasi_http::Error>,
    {
        let request = with_spin_headers(request, pattern, &matched, &origin);
        let component_id = target.component.id.clone();
        let mut span = crate::telemetry::http_server_span(
            &component_id,
            request.method().as_str(),
            pattern.as_str(),
            request.headers(),
        );
        // Kept for the error line only; a header clone shares its bytes, no allocation.
        let traceparent = request.headers().get("traceparent").cloned();
        let started = std::time::Instant::now();
        let response = match self.run_guest(target, request).await {
            Ok(response) => response,
            Err(e @ ExecError::PoolExhausted(_)) => {
                tracing::warn!(component = %component_id, "request refused: {e}");
                if let Some(span) = &mut span {
                    span.set_error(e.to_string());
                }
                let mut response = json_error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "service_unavailable",
                    "the runtime is at its instance limit; retry later",
                );
                response
                    .headers_mut()
                    .insert(http::header::RETRY_AFTER, HeaderValue::from_static("1"));
                response
            }
            Err(e) => {
                let trace_id = trace_id(traceparent.as_ref());
                tracing::error!(component = %component_id, trace_id, "request failed: {e}");
                if let Some(span) = &mut span {
                    span.set_error(e.to_string());
                }
                self.app.metrics.trapped(&component_id);
                text_response(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
            }
        };
        self.app.metrics.request_served(
            &component_id,
            pattern.as_str(),
            response.status().as_u16(),
            started.elapsed(),
        );
        if let Some(span) = &mut span {
            span.set_status_code(response.status().as_u16());
        }
        response
    }

    async fn run_guest<B>(
        &self,
        target: &HttpComponent,
        request: Request<B>,
    ) -> Result<Response<HyperOutgoingBody>, ExecError>
    where
        B: hyper::body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<wasmtime_wasi_http::Error>,
    {
        let mut store = self.app.new_store(&target.component);
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let http = store.data_mut();
        let incoming = http
            .http()
            .new_incoming_request(Scheme::Http, request)
            .map_err(ExecError::Guest)?;
        let outparam = http
            .http()
            .new_response_outparam(sender)
            .map_err(ExecError::Guest)?;
        let proxy = target.proxy.clone();
        let timeout = self.app.request_timeout();
        let component_id = target.component.id.clone();
        let alive = self.app.metrics.instance_started(&component_id);
        let mut guest = Box::pin(async move {
            let _alive = alive;
            let run = async {
                let instance = proxy.instantiate_async(&mut store).await?;
                instance
                    .wasi_http_incoming_handler()
                    .call_handle(&mut store, incoming, outparam)
                    .await
            };
            match tokio::time::timeout(timeout, run).await {
                Ok(result) => result.map_err(ExecError::guest),
                Err(_) => Err(ExecError::Deadline(timeout)),
            }
        });
        let mut receiver = receiver;
        // The guest runs on this task until it sets the response head, which saves a hop
        // between threads on every request; only a guest still streaming its body after that
        // is moved to a task of its own.
        tokio::select! {
            biased;
            head = &mut receiver => {
                // Most handlers write a small body and return right after the head; one more
                // poll here usually finishes them without spawning anything.
                let rest = std::future::poll_fn(|cx| Poll::Ready(guest.as_mut().poll(cx))).await;
                match rest {
                    Poll::Ready(Err(e)) => {
                        tracing::error!(component = %component_id, "failed after responding: {e}");
                    }
                    Poll::Ready(Ok(())) => {}
                    Poll::Pending => {
                        tokio::spawn(async move {
                            if let Err(e) = guest.await {
                                tracing::error!(component = %component_id, "failed after responding: {e}");
                            }
                        });
                    }
                }
                match head {
                    Ok(Ok(response)) => Ok(response),
                    Ok(Err(code)) => Err(ExecError::Guest(wasmtime::Error::msg(format!(
                        "component responded with error code {code:?}"
                    )))),
                    Err(_) => Err(ExecError::NoResponse),
                }
            }
            finished = &mut guest => match receiver.try_recv() {
                Ok(Ok(response)) => Ok(response),
                Ok(Err(code)) => Err(ExecError::Guest(wasmtime::Error::msg(format!(
                    "component responded with error code {code:?}"
                )))),
                Err(_) => finished.and(Err(ExecError::NoResponse)),
            },
        }
    }
}

impl ServiceChaining for HttpTrigger {
    fn dispatch(
        self: Arc<Self>,
        component_id: String,
        request: Request<WasiBody>,
    ) -> BoxFuture<'static, Result<Response<WasiBody>, wasmtime_wasi_http::Error>> {
        Box::pin(async move {
            let Some(target) = self.components.get(&component_id) else {
                tracing::warn!(component = %component_id, "chained request to a component without an HTTP trigger");
                return Err(wasmtime_wasi_http::Error::DestinationNotFound);
            };
            let Some(matched) = target.route.matches(request.uri().path()) else {
                return Ok(text_response(StatusCode::NOT_FOUND, "Not Found"));
            };
            // Spin presents a chained request to the callee as coming to `localhost`.
            let origin = Origin {
                authority: Authority::from_static("localhost"),
                client_addr: "127.0.0.1:0".into(),
            };
            let pattern = target.route.clone();
            Ok(self
                .execute(target, &pattern, matched, request, origin)
                .await)
        })
    }
}

/// The W3C trace id of a request, for the runtime's own log lines about it.
fn trace_id(traceparent: Option<&http::HeaderValue>) -> &str {
    traceparent
        .and_then(|v| v.to_str().ok())
        .and_then(|tp| tp.split('-').nth(1))
        .filter(|id| id.len() == 32)
        .unwrap_or("")
}

fn text_response(status: StatusCode, body: &'static str) -> Response<HyperOutgoingBody> {
    whole_response(status, "text/plain", Bytes::from_static(body.as_bytes()))
}

/// A response of the runtime's own: `body`, all of it, as `content_type`.
fn whole_response(
    status: StatusCode,
    content_type: &'static str,
    body: Bytes,
) -> Response<HyperOutgoingBody> {
    let mut response = Response::new(
        Full::new(body)
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(content_type),
    );
    response
}

/// The authority a request was sent to: the request line's in absolute form, else the `Host`
/// header's, else (HTTP/1.0) the address it arrived on. A `Host` that is not a bare authority
/// (a path, query or fragment in it, or credentials) is refused: the component's URL is built
/// from it, and `x/admin?` would otherwise turn `GET /public` into a request for `/admin`.
fn request_authority<B>(
    request: &Request<B>,
    local: SocketAddr,
) -> Result<Authority, &'static str> {
    let authority = match request.uri().authority() {
        Some(authority) => authority.clone(),
        None => {
            let mut hosts = request.headers().get_all(http::header::HOST).iter();
            let host = hosts.next();
            if hosts.next().is_some() {
                return Err("more than one Host header");
            }
            match host.map(HeaderValue::as_bytes) {
                None | Some(b"") => Authority::try_from(local.to_string().as_str())
                    .map_err(|_| "the local address is not an authority")?,
                Some(host) => {
                    Authority::try_from(host).map_err(|_| "the Host header is not an authority")?
                }
            }
        }
    };
    if authority.as_str().contains('@') {
        return Err("the authority must not carry credentials");
    }
    Ok(authority)
}

/// An error of the runtime's own as the app's components answer theirs (`wasmshop-kit`'s
/// `ApiError`): `{"error": {"code", "message", "details"}}`.
fn json_error(
    status: StatusCode,
    code: &'static str,
    message: &'static str,
) -> Response<HyperOutgoingBody> {
    let body = serde_json::json!({
        "error": { "code": code, "message": message, "details": null }
    });
    whole_response(status, "application/json", Bytes::from(body.to_string()))
}

/// Adds the request headers that Spin gives every component, and makes the URI absolute.
fn with_spin_headers<B>(
    request: Request<B>,
    pattern: &RoutePattern,
    matched: &RouteMatch,
    origin: &Origin,
) -> Request<B> {
    let (mut parts, body) = request.into_parts();
    // Built from parts, not parsed from text: the path is the request line's, whatever the
    // authority holds.
    let path_and_query = parts
        .uri
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| PathAndQuery::from_static("/"));
    let mut uri = http::uri::Parts::default();
    uri.scheme = Some(http::uri::Scheme::HTTP);
    uri.authority = Some(origin.authority.clone());
    uri.path_and_query = Some(path_and_query.clone());
    let full_url = match Uri::from_parts(uri) {
        Ok(uri) => {
            let full_url = uri.to_string();
            parts.uri = uri;
            full_url
        }
        // `OPTIONS *`: no absolute URI has that path.
        Err(_) => format!("http://{}{path_and_query}", origin.authority),
    };
    let headers = &mut parts.headers;
    // A client must not be able to forge what the runtime asserts.
    let forged: Vec<HeaderName> = headers
        .keys()
        .filter(|name| name.as_str().starts_with("spin-"))
        .cloned()
        .collect();
    for name in forged {
        headers.remove(name);
    }
    let mut set = |name: &str, value: &str| {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            headers.insert(name, value);
        }
    };
    set("spin-full-url", &full_url);
    set("spin-path-info", &matched.path_info);
    set("spin-matched-route", pattern.raw());
    set("spin-raw-component-route", pattern.raw());
    set("spin-component-route", &pattern.component_route());
    set("spin-base-path", "/");
    set("spin-client-addr", &origin.client_addr);
    for (name, value) in &matched.params {
        set(
            &format!("spin-path-match-{}", name.replace('_', "-")),
            value,
        );
    }
    Request::from_parts(parts, body)
}
