//! The HTTP trigger: a hyper server that routes each request, as Spin does, to a fresh instance
//! of the matching component, and the in-memory dispatcher for service chaining.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Weak};
use std::task::Poll;

use bytes::Bytes;
use futures::future::BoxFuture;
use http::{HeaderName, HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::{WasiBody, WasiHttpView};

use crate::app::{App, LoadedComponent};
use crate::capabilities::outbound_http::ServiceChaining;
use crate::manifest::HttpRoute;
use crate::state::InstanceState;
use crate::triggers::router::{RouteMatch, RoutePattern, Router};

pub const HEALTH_PATH: &str = "/.well-known/spin/health";

/// Where a request came from, for the `spin-*` headers.
#[derive(Debug, Clone)]
struct Origin {
    /// `scheme://authority` the client used.
    base_url: String,
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

    /// Accepts connections until `shutdown` resolves.
    pub async fn serve(
        self: Arc<Self>,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send,
    ) -> anyhow::Result<()> {
        let local = listener.local_addr()?;
        tokio::pin!(shutdown);
        loop {
            let (stream, client) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(pair) => pair,
                    Err(e) => {
                        tracing::warn!("accept failed: {e}");
                        continue;
                    }
                },
                () = &mut shutdown => return Ok(()),
            };
            let _ = stream.set_nodelay(true);
            let trigger = self.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request| {
                    let trigger = trigger.clone();
                    async move { Ok::<_, Infallible>(trigger.handle(request, local, client).await) }
                });
                if let Err(e) = hyper::server::conn::http1::Builder::new()
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(stream), service)
                    .await
                {
                    tracing::debug!("connection from {client} ended: {e}");
                }
            });
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
        let Some((pattern, id, matched)) = self.router.route(&path) else {
            return text_response(StatusCode::NOT_FOUND, "Not Found");
        };
        let Some(target) = self.components.get(id) else {
            return text_response(StatusCode::NOT_FOUND, "Not Found");
        };
        let authority = request
            .headers()
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_owned)
            .unwrap_or_else(|| local.to_string());
        let origin = Origin {
            base_url: format!("http://{authority}"),
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
                Ok(result) => result.map_err(ExecError::Guest),
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
                base_url: "http://localhost".into(),
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
    let mut response = Response::new(
        Full::new(Bytes::from_static(body.as_bytes()))
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain"),
    );
    response
}

/// Adds the request headers that Spin gives every component, and makes the URI absolute.
fn with_spin_headers<B>(
    request: Request<B>,
    pattern: &RoutePattern,
    matched: &RouteMatch,
    origin: &Origin,
) -> Request<B> {
    let (mut parts, body) = request.into_parts();
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|pq| pq.as_str().to_owned())
        .unwrap_or_else(|| "/".into());
    let full_url = format!("{}{}", origin.base_url, path_and_query);
    if let Ok(uri) = full_url.parse() {
        parts.uri = uri;
    }
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
