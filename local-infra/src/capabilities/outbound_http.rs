//! Outbound HTTP through `wasi:http/outgoing-handler`, with Spin's rules.
//!
//! A request leaves only if its scheme, host and port are allowed by the component's
//! `allowed_outbound_hosts`; otherwise the guest gets `HttpRequestDenied`, as under Spin.
//! `http://<component-id>.spin.internal/...` is service chaining: the request is dispatched in
//! memory to that component through a [`ServiceChaining`] handle, with no socket involved. The
//! handle is a trait so that this capability knows nothing of the HTTP trigger that serves it.

use std::sync::{Arc, OnceLock, Weak};

use futures::future::BoxFuture;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

use crate::capabilities::outbound_networking::{AllowedHosts, redact_credentials};

pub const CHAINING_DOMAIN: &str = ".spin.internal";

/// Dispatches a chained request to a component of the same app.
pub trait ServiceChaining: Send + Sync {
    fn dispatch(
        self: Arc<Self>,
        component_id: String,
        request: http::Request<WasiBody>,
    ) -> BoxFuture<'static, Result<http::Response<WasiBody>, HttpError>>;
}

/// Late-bound: the app is built before whatever serves chained requests exists, and must not
/// keep it alive.
#[derive(Clone, Default)]
pub struct ChainingHandle(Arc<OnceLock<Weak<dyn ServiceChaining>>>);

impl ChainingHandle {
    pub fn bind(&self, target: Weak<dyn ServiceChaining>) {
        // Only the first trigger to start serves chained calls; later binds are no-ops.
        let _ = self.0.set(target);
    }

    fn get(&self) -> Option<Arc<dyn ServiceChaining>> {
        self.0.get().and_then(Weak::upgrade)
    }
}

/// The per-component outbound HTTP policy, also used as the instance's wasi-http hooks.
#[derive(Clone)]
pub struct OutboundHttp {
    component_id: Arc<str>,
    allowed: Arc<AllowedHosts>,
    chaining: ChainingHandle,
}

impl OutboundHttp {
    pub fn new(component_id: &str, allowed: Arc<AllowedHosts>, chaining: ChainingHandle) -> Self {
        Self {
            component_id: component_id.into(),
            allowed,
            chaining,
        }
    }
}

type SendFuture = Box<
    dyn Future<
            Output = Result<
                (
                    http::Response<WasiBody>,
                    Box<dyn Future<Output = Result<(), HttpError>> + Send>,
                ),
                HttpError,
            >,
        > + Send,
>;

fn done() -> Box<dyn Future<Output = Result<(), HttpError>> + Send> {
    Box::new(async { Ok(()) })
}

impl WasiHttpHooks for OutboundHttp {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _response_done: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> SendFuture {
        let uri = request.uri().clone();
        if !self.allowed.allows_uri(&uri) {
            tracing::warn!(
                component = %self.component_id,
                url = %redact_credentials(&uri.to_string()),
                "outbound request denied: host not in allowed_outbound_hosts"
            );
            return Box::new(async { Err(HttpError::HttpRequestDenied) });
        }
        let chained_component = uri
            .host()
            .and_then(|host| host.strip_suffix(CHAINING_DOMAIN))
            .map(str::to_owned);
        if let Some(component_id) = chained_component {
            let chaining = self.chaining.get();
            return Box::new(async move {
                let chaining = chaining.ok_or(HttpError::DestinationNotFound)?;
                let response = chaining.dispatch(component_id, request).await?;
                Ok((response, done()))
            });
        }
        Box::new(async move {
            use http_body_util::BodyExt;
            let (response, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            Ok((
                response.map(BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn Future<Output = Result<(), HttpError>> + Send>,
            ))
        })
    }
}
