//! Runtime benchmarks (`cargo bench -p local-infra --bench runtime`):
//!
//! 1. per-request instance overhead: instantiate + call of a trivial HTTP handler, in-process
//!    through the trigger's routing, without a socket; median and p99 over many requests;
//! 2. served throughput: req/s, p50 and p99 at 64 concurrent keep-alive connections against
//!    the running server on loopback (the load generator shares the machine).
//!
//! Results are printed and written to `target/bench/runtime.json`.

#[path = "../tests/support/mod.rs"]
mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use support::TestApp;

const APP: &str = r#"
spin_manifest_version = 2
[application]
name = "bench"
[[trigger.http]]
route = "/..."
component = "trivial"
[[trigger.http]]
route = "/sdk/..."
component = "sdk"
[component.trivial]
source = "HELLO"
[component.sdk]
source = "FIXTURE"
"#;

const OVERHEAD_ROUNDS: usize = 5;
const OVERHEAD_REQUESTS: usize = 10_000;
const CONNECTIONS: usize = 64;
const LOAD_SECONDS: u64 = 10;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

fn request(path: &str) -> http::Request<Empty<Bytes>> {
    http::Request::get(path)
        .header("host", "localhost")
        .body(Empty::new())
        .expect("request")
}

/// Where the time of one request goes: store construction alone, then store + instantiation.
async fn breakdown(app: &TestApp) {
    let component = app
        .running
        .app
        .component("trivial")
        .expect("component")
        .clone();
    let proxy = wasmtime_wasi_http::p2::bindings::ProxyPre::new(component.instance_pre().clone())
        .expect("proxy");
    let mut store_only = Vec::new();
    let mut instantiate = Vec::new();
    for _ in 0..OVERHEAD_REQUESTS {
        let started = Instant::now();
        let store = app.running.app.new_store(&component);
        store_only.push(started.elapsed());
        drop(store);
        let started = Instant::now();
        let mut store = app.running.app.new_store(&component);
        let _instance = proxy
            .instantiate_async(&mut store)
            .await
            .expect("instantiate");
        drop(store);
        instantiate.push(started.elapsed());
    }
    store_only.sort();
    instantiate.sort();
    println!(
        "  breakdown: new store {:.1} µs, new store + instantiate + drop {:.1} µs (medians)",
        micros(percentile(&store_only, 0.5)),
        micros(percentile(&instantiate, 0.5))
    );
}

async fn instance_overhead(app: &TestApp, path: &str) -> (f64, f64) {
    let trigger = app.running.http.clone().expect("http trigger");
    let local: SocketAddr = "127.0.0.1:3000".parse().expect("addr");
    for _ in 0..1_000 {
        let response = trigger.handle(request(path), local, local).await;
        let _ = response.into_body().collect().await;
    }
    let mut medians = Vec::new();
    let mut p99s = Vec::new();
    for round in 0..OVERHEAD_ROUNDS {
        let mut samples = Vec::with_capacity(OVERHEAD_REQUESTS);
        for _ in 0..OVERHEAD_REQUESTS {
            let started = Instant::now();
            let response = trigger.handle(request(path), local, local).await;
            assert_eq!(response.status(), 200);
            let _ = response.into_body().collect().await;
            samples.push(started.elapsed());
        }
        samples.sort();
        let (p50, p99) = (percentile(&samples, 0.5), percentile(&samples, 0.99));
        println!(
            "  round {}: median {:.1} µs, p99 {:.1} µs",
            round + 1,
            micros(p50),
            micros(p99)
        );
        medians.push(micros(p50));
        p99s.push(micros(p99));
    }
    (median(&mut medians), median(&mut p99s))
}

struct LoadResult {
    requests: usize,
    errors: usize,
    elapsed: Duration,
    p50: Duration,
    p99: Duration,
}

async fn served_load(addr: SocketAddr) -> LoadResult {
    let deadline = Instant::now() + Duration::from_secs(LOAD_SECONDS);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CONNECTIONS {
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0usize;
            let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
            stream.set_nodelay(true).expect("nodelay");
            let (mut sender, connection) =
                hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                    .await
                    .expect("handshake");
            tokio::spawn(connection);
            while Instant::now() < deadline {
                let begun = Instant::now();
                match sender.send_request(request("/")).await {
                    Ok(response) if response.status() == 200 => {
                        let _ = response.into_body().collect().await;
                        latencies.push(begun.elapsed());
                    }
                    _ => errors += 1,
                }
            }
            (latencies, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let (latencies, task_errors) = task.await.expect("load task");
        all.extend(latencies);
        errors += task_errors;
    }
    let elapsed = started.elapsed();
    all.sort();
    LoadResult {
        requests: all.len(),
        errors,
        elapsed,
        p50: percentile(&all, 0.5),
        p99: percentile(&all, 0.99),
    }
}

fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio");
    runtime.block_on(async {
        let app = TestApp::start(APP).await;
        println!("instantiate + call of a trivial WASI HTTP component (no SDK), in-process ({OVERHEAD_ROUNDS} rounds × {OVERHEAD_REQUESTS}):");
        let (overhead_median, overhead_p99) = instance_overhead(&app, "/").await;
        println!("  => median of medians {overhead_median:.1} µs, median p99 {overhead_p99:.1} µs");
        breakdown(&app).await;
        println!("the same through a spin-sdk 5.2 component (GET /sdk/?op=noop), as app components pay it:");
        let (sdk_median, sdk_p99) = instance_overhead(&app, "/sdk/?op=noop").await;
        println!("  => median of medians {sdk_median:.1} µs, median p99 {sdk_p99:.1} µs");

        if std::env::var("BENCH_SKIP_LOAD").is_ok() {
            return;
        }
        let addr: SocketAddr = app
            .base
            .trim_start_matches("http://")
            .parse()
            .expect("server address");
        println!("served load: {CONNECTIONS} connections, {LOAD_SECONDS} s, GET / (trivial component)");
        let load = served_load(addr).await;
        let rps = load.requests as f64 / load.elapsed.as_secs_f64();
        println!(
            "  => {rps:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, {} errors, RSS {} KiB",
            load.p50.as_secs_f64() * 1e3,
            load.p99.as_secs_f64() * 1e3,
            load.errors,
            rss_kib().unwrap_or(0)
        );

        let results = serde_json::json!({
            "machine": format!("{} cores", std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)),
            "instance_overhead_us": { "median": overhead_median, "p99": overhead_p99,
                "rounds": OVERHEAD_ROUNDS, "requests_per_round": OVERHEAD_REQUESTS },
            "spin_sdk_request_us": { "median": sdk_median, "p99": sdk_p99 },
            "served": { "connections": CONNECTIONS, "seconds": LOAD_SECONDS, "requests_per_second": rps,
                "p50_ms": load.p50.as_secs_f64() * 1e3, "p99_ms": load.p99.as_secs_f64() * 1e3,
                "errors": load.errors, "rss_kib": rss_kib() },
        });
        let out = support::workspace_root().join("target/bench");
        std::fs::create_dir_all(&out).expect("bench dir");
        std::fs::write(out.join("runtime.json"), serde_json::to_string_pretty(&results).expect("json"))
            .expect("write results");
    });
}
