//! Conformance of the runtime with Spin's semantics, one test per semantic, driving the
//! fixture component (built from source by the test run) over real HTTP.

mod support;

use std::time::Duration;

use local_infra::app::RuntimeOptions;
use serde_json::Value;
use support::{RedisServer, TestApp, encode, eventually};

/// One app with every route shape; the same fixture under several component ids, each told
/// its own id through the environment.
const ROUTES: &str = r#"
spin_manifest_version = 2
[application]
name = "conformance"

[variables]
greeting = { default = "hello" }
upstream = { default = "127.0.0.1:1" }

[[trigger.http]]
route = "/..."
component = "web"
[[trigger.http]]
route = "/api/..."
component = "api"
[[trigger.http]]
route = "/api/users/:user_id"
component = "users"
[[trigger.http]]
route = "/exact"
component = "exact"
[[trigger.http]]
route = "/hdr/:path_segment/:path_end/..."
component = "headers"
[[trigger.http]]
route = { private = true }
component = "internal"

[component.web]
source = "FIXTURE"
environment = { COMPONENT = "web" }
key_value_stores = ["default"]
sqlite_databases = ["default", "orders"]
allowed_outbound_hosts = ["http://internal.spin.internal", "http://{{ upstream }}"]
variables = { greeting = "{{ greeting }} world" }

[component.api]
source = "FIXTURE"
environment = { COMPONENT = "api" }

[component.users]
source = "FIXTURE"
environment = { COMPONENT = "users" }

[component.exact]
source = "FIXTURE"
environment = { COMPONENT = "exact" }

[component.headers]
source = "FIXTURE"
environment = { COMPONENT = "headers" }

[component.internal]
source = "FIXTURE"
environment = { COMPONENT = "internal" }
"#;

/// ROUTES uses the `orders` database, which, as in Spin, only a runtime config can define.
fn routes_config(options: &mut RuntimeOptions) {
    support::runtime_config(options, &["orders"], "");
}

async fn served_by(app: &TestApp, path: &str) -> String {
    let separator = if path.contains('?') { '&' } else { '?' };
    let (status, body) = app
        .get(&format!("{path}{separator}op=env&name=COMPONENT"))
        .await;
    assert_eq!(status, 200, "{path}: {body}");
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route_precedence_and_params() {
    let app = TestApp::start_with(ROUTES, routes_config).await;
    assert_eq!(served_by(&app, "/exact").await, "exact");
    assert_eq!(served_by(&app, "/exact/more").await, "web");
    assert_eq!(served_by(&app, "/api/users/42").await, "users");
    assert_eq!(served_by(&app, "/api/users/42/x").await, "api");
    assert_eq!(served_by(&app, "/api").await, "api");
    assert_eq!(served_by(&app, "/api/orders").await, "api");
    assert_eq!(served_by(&app, "/").await, "web");

    let (status, body) = app.get("/api/users/42").await;
    assert_eq!(status, 200);
    let echoed: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(echoed["headers"]["spin-path-match-user-id"], "42");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_spin_header_is_set() {
    let app = TestApp::start_with(ROUTES, routes_config).await;
    let (status, body) = support::send(
        reqwest::Client::new()
            .get(format!("{}/hdr/path/end/rest?key=value", app.base))
            // A client cannot forge what the runtime asserts.
            .header("spin-path-info", "/forged"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let echoed: Value = serde_json::from_str(&body).expect("json");
    let headers = &echoed["headers"];
    let addr = app.base.trim_start_matches("http://");
    let expected = [
        (
            "spin-full-url",
            format!("http://{addr}/hdr/path/end/rest?key=value"),
        ),
        ("spin-path-info", "/rest".to_owned()),
        (
            "spin-matched-route",
            "/hdr/:path_segment/:path_end/...".to_owned(),
        ),
        (
            "spin-raw-component-route",
            "/hdr/:path_segment/:path_end/...".to_owned(),
        ),
        (
            "spin-component-route",
            "/hdr/:path_segment/:path_end".to_owned(),
        ),
        ("spin-base-path", "/".to_owned()),
        ("spin-path-match-path-segment", "path".to_owned()),
        ("spin-path-match-path-end", "end".to_owned()),
    ];
    for (name, value) in expected {
        assert_eq!(headers[name], value.as_str(), "{name} in {headers}");
    }
    let client = headers["spin-client-addr"].as_str().expect("client addr");
    assert!(client.starts_with("127.0.0.1:"), "{client}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_route_is_404_outside_but_reachable_by_chaining() {
    let manifest = ROUTES.replace(
        "route = \"/...\"\ncomponent = \"web\"",
        "route = \"/web/...\"\ncomponent = \"web\"",
    );
    let app = TestApp::start_with(&manifest, routes_config).await;
    let (status, _) = app.get("/internal").await;
    assert_eq!(status, 404);
    let (status, _) = app.get("/").await;
    assert_eq!(status, 404);

    let target = "http://internal.spin.internal/some/path?op=env&name=COMPONENT";
    let (status, body) = app
        .get(&format!("/web?op=fetch&url={}", encode(target)))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, "internal");

    // The callee sees the chained request as coming to localhost, with the whole path.
    let target = "http://internal.spin.internal/some/path";
    let (status, body) = app
        .get(&format!("/web?op=fetch&url={}", encode(target)))
        .await;
    assert_eq!(status, 200, "{body}");
    let echoed: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(
        echoed["headers"]["spin-full-url"],
        "http://localhost/some/path"
    );
    assert_eq!(echoed["headers"]["spin-path-info"], "/some/path");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaining_is_denied_without_allowed_outbound_host() {
    let app = TestApp::start_with(ROUTES, routes_config).await;
    let target = "http://internal.spin.internal/";
    let (status, body) = app
        .get(&format!("/api?op=fetch&url={}", encode(target)))
        .await;
    assert_eq!(status, 502, "{body}");
    assert!(body.contains("HttpRequestDenied"), "{body}");
}

/// A one-shot HTTP server standing in for an external host.
async fn upstream() -> std::net::SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = stream.read(&mut buf).await;
                let _ = stream
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 8\r\nconnection: close\r\n\r\nupstream")
                    .await;
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_http_allowed_and_denied_hosts() {
    let allowed = upstream().await;
    let other = upstream().await;
    let app = TestApp::start_with(ROUTES, |options| {
        routes_config(options);
        options
            .variables
            .insert("upstream".into(), allowed.to_string());
    })
    .await;
    let (status, body) = app
        .get(&format!(
            "/?op=fetch&url={}",
            encode(&format!("http://{allowed}/x"))
        ))
        .await;
    assert_eq!((status, body.as_str()), (200, "upstream"));

    let (status, body) = app
        .get(&format!(
            "/?op=fetch&url={}",
            encode(&format!("http://{other}/x"))
        ))
        .await;
    assert_eq!(status, 502, "{body}");
    assert!(body.contains("HttpRequestDenied"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_value_round_trip_persists_across_restart() {
    let app = TestApp::start_with(ROUTES, routes_config).await;
    let (status, _) = app
        .post("/?op=kv-set&store=default&key=greeting", "bonjour")
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        app.get("/?op=kv-get&store=default&key=greeting").await,
        (200, "bonjour".to_owned())
    );
    assert_eq!(app.get("/?op=kv-get&store=default&key=absent").await.0, 404);
    assert_eq!(
        app.get("/?op=kv-keys&store=default").await,
        (200, "[\"greeting\"]".to_owned())
    );

    let dir = tempfile::tempdir().expect("dir");
    let first = TestApp::start_in(ROUTES, dir.path(), routes_config).await;
    first
        .post("/?op=kv-set&store=default&key=k", "survives")
        .await;
    first.stop().await;
    assert!(dir.path().join("sqlite_key_value.db").exists());
    let second = TestApp::start_in(ROUTES, dir.path(), routes_config).await;
    assert_eq!(
        second.get("/?op=kv-get&store=default&key=k").await,
        (200, "survives".to_owned())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wasi_keyvalue_and_wasi_config_share_spins_stores_and_variables() {
    let app = TestApp::start_with(ROUTES, routes_config).await;
    assert_eq!(
        app.post("/?op=wkv-set&store=default&key=a", "1").await.0,
        200
    );
    // The same label is the same store through either interface.
    assert_eq!(
        app.get("/?op=kv-get&store=default&key=a").await,
        (200, "1".to_owned())
    );
    assert_eq!(
        app.get("/?op=wkv-incr&store=default&key=a&delta=41").await,
        (200, "42".to_owned())
    );
    assert_eq!(
        app.get("/?op=wkv-get&store=default&key=a").await,
        (200, "42".to_owned())
    );
    assert_eq!(
        app.get("/?op=wkv-keys&store=default").await,
        (200, "a".to_owned())
    );
    assert_eq!(app.get("/api?op=wkv-get&store=default&key=a").await.0, 403);

    assert_eq!(
        app.get("/?op=config&name=greeting").await,
        (200, "hello world".to_owned())
    );
    assert_eq!(app.get("/?op=config&name=absent").await.0, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_value_on_redis_backend_from_runtime_config() {
    let redis = RedisServer::start();
    let key_value = format!(
        "[key_value_store.default]\ntype = \"redis\"\nurl = \"{}\"\n",
        redis.url()
    );
    let app = TestApp::start_with(ROUTES, |options| {
        support::runtime_config(options, &["orders"], &key_value);
    })
    .await;
    assert_eq!(
        app.post("/?op=kv-set&store=default&key=cart", "3").await.0,
        200
    );
    let mut conn = redis::Client::open(redis.url())
        .and_then(|c| c.get_connection())
        .expect("redis");
    let stored: String = redis::cmd("GET").arg("cart").query(&mut conn).expect("get");
    assert_eq!(stored, "3");
    assert_eq!(
        app.get("/?op=kv-get&store=default&key=cart").await,
        (200, "3".to_owned())
    );
    // Atomic increments run in Redis itself.
    assert_eq!(
        app.get("/?op=wkv-incr&store=default&key=cart&delta=2")
            .await,
        (200, "5".to_owned())
    );
}

async fn sql(app: &TestApp, op: &str, db: &str, statements: Value) -> (u16, Value) {
    let (status, body) = app
        .post(&format!("/?op={op}&db={db}"), statements.to_string())
        .await;
    let json = serde_json::from_str(&body).unwrap_or(Value::String(body));
    (status, json)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_round_trip_with_transactions() {
    let app = TestApp::start_with(ROUTES, routes_config).await;
    let (status, _) = sql(
        &app,
        "sql",
        "default",
        serde_json::json!([
            {"sql": "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, price REAL, data BLOB)"},
            {"sql": "INSERT INTO items (name, price) VALUES (?, ?)", "params": ["apple", 1.5]},
        ]),
    )
    .await;
    assert_eq!(status, 200);
    // A transaction spans statements on one connection: the rollback undoes the insert.
    let (status, out) = sql(
        &app,
        "sql",
        "default",
        serde_json::json!([
            {"sql": "BEGIN"},
            {"sql": "INSERT INTO items (name, price) VALUES ('pear', 2.0)"},
            {"sql": "ROLLBACK"},
            {"sql": "SELECT id, name, price, data FROM items ORDER BY id"},
        ]),
    )
    .await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(
        out[3]["columns"],
        serde_json::json!(["id", "name", "price", "data"])
    );
    assert_eq!(out[3]["rows"], serde_json::json!([[1, "apple", 1.5, null]]));

    let (status, out) = sql(
        &app,
        "sql3",
        "orders",
        serde_json::json!([
            {"sql": "CREATE TABLE orders (id INTEGER PRIMARY KEY, total INTEGER)"},
            {"sql": "INSERT INTO orders (total) VALUES (?), (?)", "params": [100, 250]},
        ]),
    )
    .await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out[1]["last_insert_rowid"], 2);
    assert_eq!(out[1]["changes"], 2);
    assert!(app.state_dir.join("sqlite_db.db").exists());
    assert!(app.state_dir.join("orders.db").exists());

    let (status, out) = sql(
        &app,
        "sql",
        "default",
        serde_json::json!([{"sql": "SELEC nonsense"}]),
    )
    .await;
    assert_eq!(status, 500, "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undeclared_store_or_database_is_access_denied() {
    let app = TestApp::start_with(ROUTES, routes_config).await;
    assert_eq!(
        app.get("/api?op=kv-get&store=default&key=x").await,
        (403, "access-denied".to_owned())
    );
    let (status, out) = sql(
        &app,
        "sql",
        "default",
        serde_json::json!([{"sql": "SELECT 1"}]),
    )
    .await;
    assert_eq!(status, 200, "web declared default: {out}");
    let (status, body) = app
        .post("/api?op=sql&db=default", r#"[{"sql":"SELECT 1"}]"#)
        .await;
    assert_eq!((status, body.as_str()), (403, "access-denied"));
    // Declared by nobody: still access-denied, never a leak of another store's existence.
    assert_eq!(app.get("/?op=kv-get&store=other&key=x").await.0, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn component_variables_render_app_variables() {
    let app = TestApp::start_with(ROUTES, |options| {
        routes_config(options);
        options.variables.insert("greeting".into(), "salut".into());
    })
    .await;
    assert_eq!(
        app.get("/?op=var&name=greeting").await,
        (200, "salut world".to_owned())
    );
    let (status, body) = app.get("/?op=var&name=undeclared").await;
    assert_eq!(status, 500);
    assert!(body.contains("Undefined"), "{body}");
    // A component sees only its own variables.
    assert_eq!(app.get("/api?op=var&name=greeting").await.0, 500);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_publish_reaches_another_components_trigger() {
    let redis = RedisServer::start();
    let manifest = format!(
        r#"
spin_manifest_version = 2
[application]
name = "pubsub"
[application.trigger.redis]
address = "{url}"
[[trigger.http]]
route = "/..."
component = "publisher"
[[trigger.redis]]
channel = "events"
component = "subscriber"
[component.publisher]
source = "FIXTURE"
key_value_stores = ["default"]
allowed_outbound_hosts = ["redis://127.0.0.1:{port}"]
[component.subscriber]
source = "FIXTURE"
key_value_stores = ["default"]
"#,
        url = redis.url(),
        port = redis.port
    );
    let app = TestApp::start(&manifest).await;
    let publish = |payload: &'static str| {
        let app = &app;
        let url = redis.url();
        async move {
            app.post(
                &format!("/?op=publish&address={}&channel=events", encode(&url)),
                payload,
            )
            .await
        }
    };
    // The subscription may take a moment after startup.
    let received = eventually(Duration::from_secs(10), || async {
        assert_eq!(publish("first").await.0, 200);
        let (_, body) = app
            .get("/?op=kv-get&store=default&key=redis-messages")
            .await;
        body.contains("first").then_some(())
    })
    .await;
    assert!(received.is_some(), "the subscriber never saw the message");

    // A failing handler is logged and does not stop the subscription.
    assert_eq!(publish("trap").await.0, 200);
    assert_eq!(publish("second").await.0, 200);
    let messages = eventually(Duration::from_secs(10), || async {
        let (_, body) = app
            .get("/?op=kv-get&store=default&key=redis-messages")
            .await;
        body.contains("second").then_some(body)
    })
    .await
    .expect("second message delivered");
    assert!(!messages.contains("trap"), "{messages}");

    let (status, body) = app
        .get(&format!(
            "/?op=redis-ops&address={}&key=counter",
            encode(&redis.url())
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    let ops: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(
        ops,
        serde_json::json!({
            "incr": 1, "incr_again": 2, "sadd": 3, "srem": 1, "smembers": ["a", "b"],
            "execute": [12], "del": 2, "get_after_del": true
        })
    );

    // Outbound Redis needs the address in allowed_outbound_hosts, as in Spin.
    let other = "redis://127.0.0.1:1";
    let (status, body) = app
        .post(
            &format!("/?op=publish&address={}&channel=events", encode(other)),
            "x",
        )
        .await;
    assert_eq!(status, 500);
    assert!(body.contains("InvalidAddress"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_redis_fails_fast_when_redis_is_down() {
    let port = support::free_port();
    let manifest = format!(
        r#"
spin_manifest_version = 2
[application]
name = "redis-down"
[[trigger.http]]
route = "/..."
component = "web"
[component.web]
source = "FIXTURE"
allowed_outbound_hosts = ["redis://127.0.0.1:{port}"]
"#
    );
    let app = TestApp::start(&manifest).await;
    let address = format!("redis://127.0.0.1:{port}");
    let started = std::time::Instant::now();
    let (status, body) = app
        .post(
            &format!("/?op=publish&address={}&channel=c", encode(&address)),
            "x",
        )
        .await;
    // The guest gets an error it can act on, well before the request deadline (30 s) and
    // redis-rs's own reconnect backoff (about two minutes).
    assert_eq!(status, 500, "{body}");
    assert!(body.contains("Other"), "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_trigger_reconnects_after_redis_restarts() {
    let port = support::free_port();
    let mut redis = RedisServer::start_on(port);
    let manifest = format!(
        r#"
spin_manifest_version = 2
[application]
name = "reconnect"
[[trigger.http]]
route = "/..."
component = "reader"
[[trigger.redis]]
channel = "events"
address = "{url}"
component = "reader"
[component.reader]
source = "FIXTURE"
key_value_stores = ["default"]
"#,
        url = redis.url()
    );
    let app = TestApp::start(&manifest).await;
    // Stopped and started again on the same port with the same password: the address the
    // trigger reconnects to.
    redis.restart().expect("redis-server restarts");
    let mut conn = redis::Client::open(redis.url())
        .and_then(|c| c.get_connection())
        .expect("redis");
    let delivered = eventually(Duration::from_secs(15), || {
        let _: i64 = redis::cmd("PUBLISH")
            .arg("events")
            .arg("after-restart")
            .query(&mut conn)
            .unwrap_or(0);
        async {
            let (_, body) = app
                .get("/?op=kv-get&store=default&key=redis-messages")
                .await;
            body.contains("after-restart").then_some(())
        }
    })
    .await;
    assert!(delivered.is_some(), "no delivery after Redis restarted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trap_does_not_affect_the_next_request() {
    let app = TestApp::start_with(ROUTES, routes_config).await;
    assert_eq!(app.get("/?op=trap").await.0, 500);
    assert_eq!(served_by(&app, "/").await, "web");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadline_kills_an_infinite_loop() {
    let app = TestApp::start_with(ROUTES, |options| {
        routes_config(options);
        options.request_timeout = Duration::from_millis(500);
    })
    .await;
    let started = std::time::Instant::now();
    assert_eq!(app.get("/?op=loop").await.0, 500);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(served_by(&app, "/").await, "web");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instance_memory_is_limited() {
    let app = TestApp::start_with(ROUTES, |options| {
        routes_config(options);
        options.engine.max_instance_memory = 32 * 1024 * 1024;
    })
    .await;
    assert_eq!(app.get("/?op=alloc&mb=8").await.0, 200);
    assert_eq!(app.get("/?op=alloc&mb=64").await.0, 500);
    assert_eq!(app.get("/?op=alloc&mb=8").await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compiled_components_come_from_the_cache() {
    support::fixture_wasm();
    let dir = tempfile::tempdir().expect("dir");
    let mut outcomes = Vec::new();
    let manifest = support::manifest_with_fixture(ROUTES);
    let running = local_infra::server::RunningApp::start_manifest(
        manifest,
        "127.0.0.1:0".parse().expect("addr"),
        &{
            let mut options = support::options(dir.path());
            routes_config(&mut options);
            options
        },
        |id, outcome| outcomes.push((id.to_owned(), outcome)),
    )
    .await
    .expect("starts");
    running.shutdown().await;
    assert_eq!(outcomes.len(), 6, "{outcomes:?}");
    assert!(
        outcomes
            .iter()
            .all(|(_, o)| *o == local_infra::engine::CacheOutcome::Hit),
        "{outcomes:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_endpoint_answers() {
    let app = TestApp::start_with(ROUTES, routes_config).await;
    assert_eq!(
        app.get("/.well-known/spin/health").await,
        (200, "OK".to_owned())
    );
}
