//! Outbound HTTP at the host boundary: the instance's wasi-http hooks, on instance state built
//! from an inline manifest (no guest). A request to a host the component's
//! `allowed_outbound_hosts` does not name gets Spin's `HttpRequestDenied` and goes nowhere; a
//! request to `<component>.spin.internal` goes to the app's service-chaining handle, here a
//! fake that records what it was given.

mod host_support;

use std::sync::{Arc, Mutex, Weak};

use bytes::Bytes;
use futures::future::BoxFuture;
use host_support::HostApp;
use http_body_util::{BodyExt, Full};
use local_infra::capabilities::outbound_http::ServiceChaining;
use local_infra::state::InstanceState;
use wasmtime_wasi_http::{Error as HttpError, WasiBody, WasiHttpView};

const ALLOWED: &str =
    r#"allowed_outbound_hosts = ["http://api.spin.internal", "https://allowed.example.com"]"#;

/// Answers every chained request with 201 and `chained`, and keeps who it was for and where.
#[derive(Default)]
struct FakeChaining {
    dispatched: Mutex<Vec<(String, String)>>,
}

impl ServiceChaining for FakeChaining {
    fn dispatch(
        self: Arc<Self>,
        component_id: String,
        request: http::Request<WasiBody>,
    ) -> BoxFuture<'static, Result<http::Response<WasiBody>, HttpError>> {
        if let Ok(mut dispatched) = self.dispatched.lock() {
            dispatched.push((component_id, request.uri().to_string()));
        }
        Box::pin(async {
            Ok(http::Response::builder()
                .status(201)
                .body(body("chained"))
                .expect("a valid response"))
        })
    }
}

fn body(text: &'static str) -> WasiBody {
    Full::new(Bytes::from_static(text.as_bytes()))
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// Sends `uri` through the instance's hooks, as `wasi:http/outgoing-handler.handle` does.
async fn send(state: &mut InstanceState, uri: &str) -> Result<http::Response<WasiBody>, HttpError> {
    let request = http::Request::get(uri)
        .body(body(""))
        .expect("a valid request");
    let sent = state
        .http()
        .hooks
        .send_request(request, None, Box::new(async { Ok(()) }));
    Box::into_pin(sent).await.map(|(response, _io)| response)
}

async fn app_with_chaining() -> (HostApp, Arc<FakeChaining>) {
    let app = HostApp::load(&[("web", ALLOWED), ("api", "")], None).await;
    let chaining = Arc::new(FakeChaining::default());
    let target: Weak<dyn ServiceChaining> = Arc::downgrade(&chaining) as Weak<dyn ServiceChaining>;
    app.app.chaining().bind(target);
    (app, chaining)
}

fn dispatched(chaining: &FakeChaining) -> Vec<(String, String)> {
    chaining.dispatched.lock().expect("not poisoned").clone()
}

#[tokio::test]
async fn a_host_not_allowed_is_denied_as_spin_denies_it() {
    let (app, chaining) = app_with_chaining().await;
    let mut web = app.instance("web");
    for uri in [
        "http://denied.example.com/",
        // The scheme is part of what is allowed.
        "http://allowed.example.com/",
        // Chaining to a component the manifest does not name for this one.
        "http://other.spin.internal/",
    ] {
        let denied = send(web.data_mut(), uri).await;
        assert!(
            matches!(denied, Err(HttpError::HttpRequestDenied)),
            "{uri}: {:?}",
            denied.map(|response| response.status())
        );
    }
    assert!(dispatched(&chaining).is_empty(), "nothing was dispatched");
}

#[tokio::test]
async fn a_spin_internal_request_reaches_the_chaining_handle() {
    let (app, chaining) = app_with_chaining().await;
    let mut web = app.instance("web");
    let response = send(web.data_mut(), "http://api.spin.internal/orders?page=2")
        .await
        .expect("dispatched");
    assert_eq!(response.status(), 201);
    let answered = response
        .into_body()
        .collect()
        .await
        .expect("the fake's body")
        .to_bytes();
    assert_eq!(answered, "chained");
    assert_eq!(
        dispatched(&chaining),
        [(
            "api".to_owned(),
            "http://api.spin.internal/orders?page=2".to_owned()
        )]
    );
}

#[tokio::test]
async fn a_spin_internal_request_with_nothing_to_serve_it_finds_no_destination() {
    let app = HostApp::load(&[("web", ALLOWED), ("api", "")], None).await;
    let mut web = app.instance("web");
    let lost = send(web.data_mut(), "http://api.spin.internal/").await;
    assert!(
        matches!(lost, Err(HttpError::DestinationNotFound)),
        "{:?}",
        lost.map(|response| response.status())
    );
}
