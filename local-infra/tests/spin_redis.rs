//! The Redis trigger and outbound Redis against Spin 4's semantics (`crates/trigger-redis`,
//! `crates/factor-outbound-redis`), over a real `redis-server`:
//! - per server address, one message at a time in arrival order, whatever its channel;
//! - for one message, every component on its channel runs concurrently, and the next message
//!   waits for all of them;
//! - addresses are independent of each other;
//! - a failed handler's message is dropped, not retried;
//! - each guest `open` is a connection of its own, closed when the guest is done with it.
//!
//! The fixture's `span` messages record `start`/`end` entries in a Redis list (see
//! `record_span` in the fixture), so the list shows how handlers overlapped.

mod support;

use std::time::Duration;

use support::{RedisServer, TestApp, encode, eventually};

/// Waits until every channel has at least `subscribers` subscriber connections on the server.
async fn wait_subscribed(redis: &RedisServer, channels: &[(&str, usize)]) {
    let mut conn = redis.connection().expect("redis");
    let ready = eventually(Duration::from_secs(10), || {
        let all = channels.iter().all(|(channel, subscribers)| {
            let numsub: (String, usize) = redis::cmd("PUBSUB")
                .arg("NUMSUB")
                .arg(channel)
                .query(&mut conn)
                .expect("PUBSUB NUMSUB");
            numsub.1 >= *subscribers
        });
        async move { all.then_some(()) }
    })
    .await;
    assert!(
        ready.is_some(),
        "the trigger never subscribed to {channels:?}"
    );
}

fn publish(conn: &mut redis::Connection, channel: &str, payload: &str) {
    let _: i64 = redis::cmd("PUBLISH")
        .arg(channel)
        .arg(payload)
        .query(conn)
        .expect("PUBLISH");
}

fn log(conn: &mut redis::Connection, list: &str) -> Vec<String> {
    redis::cmd("LRANGE")
        .arg(list)
        .arg(0)
        .arg(-1)
        .query(conn)
        .expect("LRANGE")
}

/// Waits until `list` has `len` entries, and returns them.
async fn log_of_len(redis: &RedisServer, list: &str, len: usize) -> Vec<String> {
    let mut conn = redis.connection().expect("redis");
    let mut last = Vec::new();
    let done = eventually(Duration::from_secs(20), || {
        last = log(&mut conn, list);
        let done = (last.len() >= len).then(|| last.clone());
        async move { done }
    })
    .await;
    done.unwrap_or_else(|| panic!("{list} never reached {len} entries: {last:?}"))
}

fn stat(conn: &mut redis::Connection, section: &str, field: &str) -> u64 {
    let info: String = redis::cmd("INFO").arg(section).query(conn).expect("INFO");
    info.lines()
        .find_map(|line| line.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("INFO {section} has no {field}: {info}"))
        .trim()
        .parse()
        .expect("a number")
}

/// Connections subscribed to at least one channel.
fn subscriber_connections(redis: &RedisServer) -> usize {
    let mut conn = redis.connection().expect("redis");
    let clients: String = redis::cmd("CLIENT")
        .arg("LIST")
        .query(&mut conn)
        .expect("CLIENT LIST");
    clients
        .lines()
        .filter(|client| !client.split(' ').any(|field| field == "sub=0"))
        .filter(|client| client.split(' ').any(|field| field.starts_with("sub=")))
        .count()
}

/// An app whose `components` are all on channel `events` at `url`, each told its id through the
/// environment; `web` serves HTTP, which the test harness needs.
fn one_channel_app(url: &str, port: u16, components: &[&str]) -> String {
    let mut manifest = format!(
        r#"
spin_manifest_version = 2
[application]
name = "spin-redis"
[application.trigger.redis]
address = "{url}"
[[trigger.http]]
route = "/..."
component = "web"
[component.web]
source = "FIXTURE"
"#
    );
    for component in components {
        manifest.push_str(&format!(
            r#"
[[trigger.redis]]
channel = "events"
component = "{component}"
[component.{component}]
source = "FIXTURE"
environment = {{ COMPONENT = "{component}" }}
allowed_outbound_hosts = ["redis://127.0.0.1:{port}"]
"#
        ));
    }
    manifest
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_of_one_address_are_handled_one_at_a_time_in_publish_order() {
    let redis = RedisServer::start();
    let _app = TestApp::start(&one_channel_app(&redis.url(), redis.port, &["a"])).await;
    wait_subscribed(&redis, &[("events", 1)]).await;

    let mut conn = redis.connection().expect("redis");
    const MESSAGES: usize = 6;
    for i in 0..MESSAGES {
        publish(
            &mut conn,
            "events",
            &format!("span {} log m{i} 80", redis.url()),
        );
    }
    let entries = log_of_len(&redis, "log", 2 * MESSAGES).await;
    let expected: Vec<String> = (0..MESSAGES)
        .flat_map(|i| [format!("start m{i} a"), format!("end m{i} a")])
        .collect();
    assert_eq!(entries, expected, "handlers overlapped or ran out of order");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_component_on_a_channel_runs_and_the_next_message_waits_for_all() {
    let redis = RedisServer::start();
    let _app = TestApp::start(&one_channel_app(&redis.url(), redis.port, &["a", "b"])).await;
    // One subscriber connection per address serves both components.
    wait_subscribed(&redis, &[("events", 1)]).await;

    let mut conn = redis.connection().expect("redis");
    const MESSAGES: usize = 3;
    for i in 0..MESSAGES {
        publish(
            &mut conn,
            "events",
            &format!("span {} log m{i} 300", redis.url()),
        );
    }
    let entries = log_of_len(&redis, "log", 4 * MESSAGES).await;
    for (i, group) in entries.chunks(4).enumerate() {
        let mut starts = group[..2].to_vec();
        let mut ends = group[2..].to_vec();
        starts.sort();
        ends.sort();
        // Both start before either ends: the components of one message run concurrently,
        // and the next message starts only once both have ended.
        assert_eq!(
            (starts, ends),
            (
                vec![format!("start m{i} a"), format!("start m{i} b")],
                vec![format!("end m{i} a"), format!("end m{i} b")]
            ),
            "{entries:?}"
        );
    }
    assert_eq!(
        subscriber_connections(&redis),
        1,
        "one subscriber connection per address"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn addresses_are_independent_and_channels_of_one_address_share_its_queue() {
    let redis = RedisServer::start();
    let url = redis.url();
    let port = redis.port;
    // `/1` selects another database: a distinct address, so a subscriber of its own, on the
    // same server (pub/sub ignores the database).
    let manifest = format!(
        r#"
spin_manifest_version = 2
[application]
name = "spin-redis-addresses"
[[trigger.http]]
route = "/..."
component = "worker"
[[trigger.redis]]
channel = "slow"
address = "{url}"
component = "worker"
[[trigger.redis]]
channel = "same-address"
address = "{url}"
component = "worker"
[[trigger.redis]]
channel = "other-address"
address = "{url}/1"
component = "worker"
[component.worker]
source = "FIXTURE"
allowed_outbound_hosts = ["redis://127.0.0.1:{port}"]
"#
    );
    let _app = TestApp::start(&manifest).await;
    wait_subscribed(
        &redis,
        &[("slow", 1), ("same-address", 1), ("other-address", 1)],
    )
    .await;
    let mut conn = redis.connection().expect("redis");
    publish(&mut conn, "slow", &format!("span {url} log slow 1500"));
    log_of_len(&redis, "log", 1).await;
    publish(&mut conn, "same-address", &format!("span {url} log same 0"));
    publish(
        &mut conn,
        "other-address",
        &format!("span {url} log other 0"),
    );

    let entries = log_of_len(&redis, "log", 6).await;
    let at = |entry: &str| {
        entries
            .iter()
            .position(|e| e == entry)
            .unwrap_or_else(|| panic!("no `{entry}` in {entries:?}"))
    };
    assert!(
        at("end other") < at("end slow"),
        "a slow message held up another address: {entries:?}"
    );
    assert!(
        at("start same") > at("end slow"),
        "another channel of the same address overtook a message: {entries:?}"
    );
    assert_eq!(subscriber_connections(&redis), 2, "{entries:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_handlers_message_is_dropped_and_the_next_one_handled() {
    let redis = RedisServer::start();
    let _app = TestApp::start(&one_channel_app(&redis.url(), redis.port, &["a"])).await;
    wait_subscribed(&redis, &[("events", 1)]).await;

    let mut conn = redis.connection().expect("redis");
    let url = redis.url();
    publish(
        &mut conn,
        "events",
        &format!("span {url} log failing 0 error"),
    );
    publish(
        &mut conn,
        "events",
        &format!("span {url} log trapping 0 trap"),
    );
    publish(&mut conn, "events", &format!("span {url} log next 0"));
    let expected = [
        "start failing a",
        "end failing a",
        "start trapping a",
        "end trapping a",
        "start next a",
        "end next a",
    ];
    assert_eq!(log_of_len(&redis, "log", expected.len()).await, expected);
    // Not retried: nothing more arrives.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(log(&mut conn, "log"), expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_outbound_open_is_a_new_connection_closed_after_use() {
    let redis = RedisServer::start();
    let manifest = format!(
        r#"
spin_manifest_version = 2
[application]
name = "spin-redis-outbound"
[[trigger.http]]
route = "/..."
component = "web"
[component.web]
source = "FIXTURE"
allowed_outbound_hosts = ["redis://127.0.0.1:{port}"]
"#,
        port = redis.port
    );
    let app = TestApp::start(&manifest).await;
    let open = |count: usize| {
        let app = &app;
        let path = format!(
            "/?op=redis-open&address={}&count={count}",
            encode(&redis.url())
        );
        async move {
            let (status, body) = app.get(&path).await;
            assert_eq!(status, 200, "{body}");
            serde_json::from_str::<Vec<i64>>(&body).expect("client ids")
        }
    };
    // Held throughout, so it is the only connection of the test's own.
    let mut admin = redis.connection().expect("redis");
    let connections_before = stat(&mut admin, "stats", "total_connections_received");
    let clients_before = stat(&mut admin, "clients", "connected_clients");

    let first = open(3).await;
    let second = open(1).await;
    let third = open(1).await;
    let mut ids: Vec<i64> = [first, second, third].concat();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 5, "an open reused a connection: {ids:?}");
    assert_eq!(
        stat(&mut admin, "stats", "total_connections_received"),
        connections_before + 5,
        "five opens, five new connections"
    );
    // Each is closed once its guest is done with it.
    let closed = eventually(Duration::from_secs(5), || {
        let clients = stat(&mut admin, "clients", "connected_clients");
        async move { (clients == clients_before).then_some(()) }
    })
    .await;
    assert!(
        closed.is_some(),
        "connections outlived their instance: {} clients, {clients_before} before",
        stat(&mut admin, "clients", "connected_clients")
    );
}

/// Not Spin's: redis-rs reads a subscription into an unbounded buffer, so under Spin a handler
/// slower than its publishers grows the runtime's memory without limit. Here what waits for the
/// handler is bounded; past the bound, messages are dropped (at most once, as pub/sub already
/// is; the app's outbox delivers again) and counted, and the subscription carries on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_waits_for_a_slow_handler_is_bounded() {
    bounded_queue(|limits, _| limits.messages = 2).await;
    // Room for two of the burst's messages (payload and channel name), whatever their count.
    bounded_queue(|limits, url| limits.bytes = 2 * (format!("span {url} log m10 0").len() + 6))
        .await;
}

/// Publishes a burst behind a slow message to a trigger whose queue has room for two messages.
async fn bounded_queue(
    limit: impl FnOnce(&mut local_infra::triggers::redis::RedisQueueLimits, &str),
) {
    let redis = RedisServer::start();
    let url = redis.url();
    let app = TestApp::start_with(&one_channel_app(&url, redis.port, &["a"]), |o| {
        limit(&mut o.redis_queue, &url);
    })
    .await;
    wait_subscribed(&redis, &[("events", 1)]).await;

    let mut conn = redis.connection().expect("redis");
    const BURST: usize = 12;
    publish(&mut conn, "events", &format!("span {url} log m0 800"));
    for i in 1..BURST {
        publish(&mut conn, "events", &format!("span {url} log m{i} 0"));
    }
    // Once the burst is through, a later message is still handled.
    let handled = eventually(Duration::from_secs(20), || {
        let entries = log(&mut conn, "log");
        async move {
            entries
                .iter()
                .any(|e| e.starts_with("end m0"))
                .then_some(())
        }
    })
    .await;
    assert!(handled.is_some(), "the first message was never handled");
    tokio::time::sleep(Duration::from_millis(500)).await;
    publish(&mut conn, "events", &format!("span {url} log last 0"));
    let mut entries = Vec::new();
    let done = eventually(Duration::from_secs(20), || {
        entries = log(&mut conn, "log");
        let done = entries.iter().any(|e| e == "end last a");
        async move { done.then_some(()) }
    })
    .await;
    assert!(done.is_some(), "the subscription stopped: {entries:?}");

    let tags: Vec<&str> = entries
        .iter()
        .filter_map(|e| e.strip_prefix("end "))
        .filter_map(|e| e.strip_suffix(" a"))
        .filter(|tag| *tag != "last")
        .collect();
    // The one being handled, the two that fit, and one more that the handler may have taken
    // off the queue before the burst arrived.
    assert!(
        tags.len() <= 3,
        "{} of {BURST} messages were kept for a handler busy for 800 ms with room for 2: {tags:?}",
        tags.len()
    );
    let expected: Vec<String> = (0..tags.len()).map(|i| format!("m{i}")).collect();
    assert_eq!(tags, expected, "the kept messages are the first, in order");
    let metrics = app.running.app.metrics.render(&app.running.app.sqlite);
    let dropped: u64 = metrics
        .lines()
        .filter(|line| line.starts_with("wasmshop_runtime_redis_messages_total"))
        .filter(|line| line.contains("outcome=\"dropped\""))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    assert_eq!(dropped as usize, BURST - tags.len(), "{metrics}");
}
