//! The runtime's edge against hostile or broken clients and a tampered state dir: slow and idle
//! connections are closed, connections are capped, an exhausted instance pool answers 503, a
//! `Host` header cannot change the path a component sees, and a swapped compiled-component
//! cache entry is never run.

mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{TestApp, eventually};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const APP: &str = r#"
spin_manifest_version = 2
[application]
name = "hardening"
[[trigger.http]]
route = "/..."
component = "web"
[component.web]
source = "FIXTURE"
environment = { COMPONENT = "web" }
"#;

fn addr(app: &TestApp) -> SocketAddr {
    app.base
        .trim_start_matches("http://")
        .parse()
        .expect("the app's address")
}

/// Reads until the server closes the connection (EOF or reset), or `limit` passes; returns
/// what was read and whether the server closed it.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (Vec<u8>, bool) {
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buffer)).await {
            Err(_) => return (received, false),
            Ok(Ok(0)) | Ok(Err(_)) => return (received, true),
            Ok(Ok(n)) => received.extend_from_slice(&buffer[..n]),
        }
    }
}

/// Sends one request on `stream` and reads its whole response (`content-length` or chunked);
/// returns the status and the body.
async fn exchange(stream: &mut TcpStream, request: &str) -> (u16, String) {
    stream
        .write_all(request.as_bytes())
        .await
        .expect("request sent");
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        if let Some(response) = parse_response(&received) {
            return response;
        }
        let n = tokio::time::timeout(Duration::from_secs(30), stream.read(&mut buffer))
            .await
            .expect("a response within 30 s")
            .expect("reading the response");
        assert!(
            n > 0,
            "connection closed mid-response: {:?}",
            String::from_utf8_lossy(&received)
        );
        received.extend_from_slice(&buffer[..n]);
    }
}

/// A complete response in `received`, if there is one yet.
fn parse_response(received: &[u8]) -> Option<(u16, String)> {
    let text = String::from_utf8_lossy(received);
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let header = |wanted: &str| {
        head.lines().skip(1).find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case(wanted)
                .then(|| value.trim().to_ascii_lowercase())
        })
    };
    if let Some(length) = header("content-length") {
        let length: usize = length.parse().expect("a content-length");
        return (body.len() >= length).then(|| (status, body[..length].to_owned()));
    }
    assert_eq!(
        header("transfer-encoding").as_deref(),
        Some("chunked"),
        "{head}"
    );
    let mut decoded = String::new();
    let mut rest = body;
    loop {
        let (size, after) = rest.split_once("\r\n")?;
        let size = usize::from_str_radix(size.trim(), 16).expect("a chunk size");
        if size == 0 {
            return after.starts_with("\r\n").then_some((status, decoded));
        }
        if after.len() < size + 2 {
            return None;
        }
        decoded.push_str(&after[..size]);
        rest = &after[size + 2..];
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_head_not_finished_in_time_is_closed() {
    let app = TestApp::start_with(APP, |options| {
        options.http.header_read_timeout = Duration::from_millis(500);
    })
    .await;

    // Half a head, then silence.
    let mut stream = TcpStream::connect(addr(&app)).await.expect("connects");
    let started = Instant::now();
    stream
        .write_all(b"GET /?op=noop HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
        .await
        .expect("partial head sent");
    let (_, closed) = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    assert!(
        closed,
        "a connection with an unfinished head was still open after 5 s"
    );
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "closed only after {:?}",
        started.elapsed()
    );

    // A head trickled a byte at a time is bounded by the same deadline: it is not an
    // inactivity timeout.
    let mut stream = TcpStream::connect(addr(&app)).await.expect("connects");
    let started = Instant::now();
    let head = b"GET /?op=noop HTTP/1.1\r\nHost: localhost\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let mut closed = false;
    for byte in head {
        if stream.write_all(&[*byte]).await.is_err() {
            closed = true;
            break;
        }
        let (_, eof) = read_until_closed(&mut stream, Duration::from_millis(100)).await;
        if eof {
            closed = true;
            break;
        }
    }
    assert!(closed, "a head trickled for 5 s was never cut off");
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "closed only after {:?}",
        started.elapsed()
    );

    // A client that sends its head in time is served.
    assert_eq!(app.get("/?op=noop").await, (200, "ok".to_owned()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_keep_alive_connection_is_closed() {
    let app = TestApp::start_with(APP, |options| {
        options.http.idle_timeout = Duration::from_millis(500);
        // Longer, so that what closes the connection is the idle timeout.
        options.http.header_read_timeout = Duration::from_secs(30);
    })
    .await;
    let mut stream = TcpStream::connect(addr(&app)).await.expect("connects");
    let request = "GET /?op=noop HTTP/1.1\r\nHost: localhost\r\n\r\n";
    assert_eq!(exchange(&mut stream, request).await, (200, "ok".to_owned()));
    // Kept alive: a second request on the same connection is served.
    assert_eq!(exchange(&mut stream, request).await, (200, "ok".to_owned()));
    let idle_since = Instant::now();
    let (_, closed) = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    assert!(
        closed,
        "an idle keep-alive connection was still open after 5 s"
    );
    let idle = idle_since.elapsed();
    assert!(
        idle >= Duration::from_millis(400) && idle < Duration::from_millis(2500),
        "closed after {idle:?} idle"
    );
}

/// Active instances of `web`, from the metrics registry.
fn active_instances(app: &TestApp) -> u64 {
    let text = app.running.app.metrics.render(&app.running.app.sqlite);
    text.lines()
        .find(|line| line.starts_with("wasmshop_runtime_active_instances{component=\"web\"}"))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exhausted_instance_pool_answers_503_and_recovers() {
    let app = TestApp::start_with(APP, |options| {
        options.engine.max_instances = 2;
    })
    .await;
    let busy: Vec<_> = (0..2)
        .map(|_| {
            let url = format!("{}/?op=sleep&ms=3000", app.base);
            tokio::spawn(async move { support::send(reqwest::Client::new().get(url)).await })
        })
        .collect();
    let full = eventually(Duration::from_secs(10), || {
        let n = active_instances(&app);
        async move { (n >= 2).then_some(()) }
    })
    .await;
    assert!(full.is_some(), "the two slow requests never both started");

    let started = Instant::now();
    let (status, body) = app.get("/?op=noop").await;
    let waited = started.elapsed();
    assert_eq!(status, 503, "{body}");
    assert!(
        waited < Duration::from_secs(1),
        "the 503 took {waited:?}: it must not wait for a slot"
    );
    let error: Value = serde_json::from_str(&body).expect("a JSON error body");
    assert_eq!(error["error"]["code"], "service_unavailable", "{body}");

    for request in busy {
        let (status, body) = request.await.expect("joins");
        assert_eq!((status, body.as_str()), (200, "ok"));
    }
    assert_eq!(app.get("/?op=noop").await, (200, "ok".to_owned()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_are_capped_per_client_and_in_total() {
    let app = TestApp::start_with(APP, |options| {
        options.http.max_connections_per_client = 2;
    })
    .await;
    let request = "GET /?op=noop HTTP/1.1\r\nHost: localhost\r\n\r\n";
    let mut first = TcpStream::connect(addr(&app)).await.expect("connects");
    let mut second = TcpStream::connect(addr(&app)).await.expect("connects");
    assert_eq!(exchange(&mut first, request).await.0, 200);
    assert_eq!(exchange(&mut second, request).await.0, 200);
    // A third from the same address is closed without being served.
    let mut third = TcpStream::connect(addr(&app)).await.expect("connects");
    let _ = third.write_all(request.as_bytes()).await;
    let (received, closed) = read_until_closed(&mut third, Duration::from_secs(3)).await;
    assert!(
        closed && received.is_empty(),
        "a third connection of one client was served: {:?}",
        String::from_utf8_lossy(&received)
    );
    // The first two still are, and a slot freed is a slot again.
    assert_eq!(exchange(&mut first, request).await.0, 200);
    drop(second);
    let served = eventually(Duration::from_secs(5), || {
        let addr = addr(&app);
        async move {
            let mut again = TcpStream::connect(addr).await.ok()?;
            again.write_all(request.as_bytes()).await.ok()?;
            let (received, _) = read_until_closed(&mut again, Duration::from_millis(500)).await;
            String::from_utf8_lossy(&received)
                .starts_with("HTTP/1.1 200")
                .then_some(())
        }
    })
    .await;
    assert!(served.is_some(), "a freed slot was never reused");
    drop(app);

    let app = TestApp::start_with(APP, |options| {
        options.http.max_connections = 1;
    })
    .await;
    let mut first = TcpStream::connect(addr(&app)).await.expect("connects");
    assert_eq!(exchange(&mut first, request).await.0, 200);
    // Past the total, a connection waits in the listen backlog until a slot frees.
    let mut waiting = TcpStream::connect(addr(&app)).await.expect("connects");
    waiting
        .write_all(request.as_bytes())
        .await
        .expect("request sent");
    let mut buffer = [0u8; 64];
    let early = tokio::time::timeout(Duration::from_millis(700), waiting.read(&mut buffer)).await;
    assert!(
        early.is_err(),
        "a connection past the total was served at once"
    );
    drop(first);
    let (status, body) = exchange(&mut waiting, "").await;
    assert_eq!((status, body.as_str()), (200, "ok"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_host_header_cannot_change_the_path_a_component_sees() {
    let app = TestApp::start(APP).await;
    for host in [
        "x/api/v1/admin/catalog/dead-letters?",
        "x?admin=1",
        "x#frag",
        "user:pw@x",
        "bad host",
    ] {
        let mut stream = TcpStream::connect(addr(&app)).await.expect("connects");
        let request = format!(
            "GET /api/v1/products?op=headers HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        );
        let (status, body) = exchange(&mut stream, &request).await;
        assert_eq!(status, 400, "Host `{host}` was accepted: {body}");
        let error: Value = serde_json::from_str(&body).expect("a JSON error body");
        assert_eq!(error["error"]["code"], "bad_request", "{body}");
    }

    // Two `Host` headers are as ambiguous as a malformed one (RFC 9112 §3.2).
    let mut stream = TcpStream::connect(addr(&app)).await.expect("connects");
    let request = "GET /?op=headers HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n";
    assert_eq!(exchange(&mut stream, request).await.0, 400);

    // A normal authority is kept, and the component sees the request line's path.
    let mut stream = TcpStream::connect(addr(&app)).await.expect("connects");
    let request = "GET /api/v1/products?op=headers HTTP/1.1\r\nHost: shop.example:8080\r\nConnection: close\r\n\r\n";
    let (status, body) = exchange(&mut stream, request).await;
    assert_eq!(status, 200, "{body}");
    let echoed: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(
        echoed["headers"]["spin-full-url"],
        "http://shop.example:8080/api/v1/products?op=headers"
    );
    assert_eq!(echoed["headers"]["spin-path-info"], "/api/v1/products");
    let uri = echoed["uri"].as_str().expect("uri");
    assert!(
        uri.ends_with("/api/v1/products?op=headers"),
        "the guest saw {uri}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_swapped_compile_cache_entry_is_recompiled_not_run() {
    let fixture = support::fixture_wasm();
    let hello = support::hello_wasm();
    let cache_dir = tempfile::tempdir().expect("cache dir");
    let cache = local_infra::engine::CompileCache::new(cache_dir.path().to_owned());
    let engine = local_infra::engine::build_engine(&local_infra::engine::EngineOptions::default())
        .expect("engine");
    let entries = || -> Vec<std::path::PathBuf> {
        let mut entries: Vec<_> = std::fs::read_dir(cache_dir.path())
            .expect("cache dir")
            .map(|entry| entry.expect("entry").path())
            .filter(|path| path.extension().is_some_and(|e| e == "cwasm"))
            .collect();
        entries.sort();
        entries
    };
    local_infra::engine::CompileCache::load(Some(&cache), &engine, fixture).expect("fixture");
    let fixture_entry = entries().pop().expect("the fixture's entry");
    local_infra::engine::CompileCache::load(Some(&cache), &engine, hello).expect("hello");
    let hello_entry = entries()
        .into_iter()
        .find(|entry| *entry != fixture_entry)
        .expect("hello's entry");

    // What an attacker with write access to the cache would do: put other code, with whatever
    // goes with it, under the fixture's name.
    std::fs::copy(&hello_entry, &fixture_entry).expect("swap");
    let tag = |entry: &std::path::Path| entry.with_extension("cwasm.tag");
    if tag(&hello_entry).exists() {
        std::fs::copy(tag(&hello_entry), tag(&fixture_entry)).expect("swap the tag");
    }
    let hello_bytes = std::fs::read(&hello_entry).expect("hello's entry");

    let state = tempfile::tempdir().expect("state dir");
    let mut outcomes = Vec::new();
    let running = local_infra::server::RunningApp::start_manifest(
        support::manifest_with_fixture(APP),
        "127.0.0.1:0".parse().expect("addr"),
        &{
            let mut options = support::options(state.path());
            options.cache_dir = Some(cache_dir.path().to_owned());
            options
        },
        |_, outcome| outcomes.push(outcome),
    )
    .await
    .expect("starts");
    let base = format!("http://{}", running.http_addr().expect("http"));
    let served =
        support::send(reqwest::Client::new().get(format!("{base}/?op=env&name=COMPONENT"))).await;
    running.shutdown().await;
    assert_eq!(served, (200, "web".to_owned()), "the swapped entry ran");
    assert_eq!(outcomes, [local_infra::engine::CacheOutcome::Compiled]);
    assert_ne!(
        std::fs::read(&fixture_entry).expect("entry"),
        hello_bytes,
        "the bad entry was not replaced"
    );
}
