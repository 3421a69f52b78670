//! Outbound Redis (`fermyon:spin/redis@2.0.0`) at the host boundary, on instance state built
//! from an inline manifest (no guest), against the password-protected `redis-server` that
//! `local_infra_testing` starts: commands reach the server, and only an address the
//! component's `allowed_outbound_hosts` names may be opened.

mod host_support;

use std::time::Duration;

use host_support::{HostApp, borrow};
use local_infra::bindings::host::fermyon::spin2_0_0::redis::{Error, HostConnection};
use local_infra::capabilities::outbound_networking::redact_credentials;
use local_infra_testing::RedisServer;

async fn app(server: &RedisServer) -> HostApp {
    let allowed = format!(
        r#"allowed_outbound_hosts = ["redis://127.0.0.1:{}"]"#,
        server.port
    );
    HostApp::load(&[("web", &allowed)], None).await
}

#[tokio::test]
async fn an_allowed_address_sets_gets_and_publishes() {
    let server = RedisServer::start().expect("redis-server starts");
    let app = app(&server).await;
    let mut web = app.instance("web");
    let web = web.data_mut();
    let connection = web
        .open(server.url())
        .await
        .expect("no trap")
        .expect("an allowed address opens");

    web.set(borrow(&connection), "greeting".into(), b"hello".to_vec())
        .await
        .expect("no trap")
        .expect("SET");
    let got = web
        .get(borrow(&connection), "greeting".into())
        .await
        .expect("no trap")
        .expect("GET");
    assert_eq!(got.as_deref(), Some(&b"hello"[..]));
    let mut direct = server.connection().expect("a client of the test");
    let stored: Vec<u8> = redis::cmd("GET")
        .arg("greeting")
        .query(&mut direct)
        .expect("GET from outside");
    assert_eq!(
        stored, b"hello",
        "the value is on the server, not in the host"
    );

    let mut subscriber = server.connection().expect("a subscriber");
    let mut subscription = subscriber.as_pubsub();
    subscription.subscribe("events").expect("SUBSCRIBE");
    subscription
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("read timeout");
    web.publish(borrow(&connection), "events".into(), b"payload".to_vec())
        .await
        .expect("no trap")
        .expect("PUBLISH");
    let message = subscription.get_message().expect("the message arrives");
    assert_eq!(message.get_channel_name(), "events");
    assert_eq!(message.get_payload_bytes(), b"payload");

    HostConnection::drop(web, connection)
        .await
        .expect("dropped");
}

#[tokio::test]
async fn an_address_not_allowed_is_refused() {
    let server = RedisServer::start().expect("redis-server starts");
    let other = RedisServer::start().expect("a second redis-server starts");
    let app = app(&server).await;
    let mut web = app.instance("web");
    let web = web.data_mut();
    // The other server would accept the connection: what refuses it is the component's policy.
    for address in [
        other.url(),
        format!("redis://localhost:{}", server.port),
        "not an address".to_owned(),
    ] {
        let refused = web.open(address.clone()).await.expect("no trap");
        assert!(
            matches!(refused, Err(Error::InvalidAddress)),
            "{}: {:?}",
            redact_credentials(&address),
            refused.err()
        );
    }
}
