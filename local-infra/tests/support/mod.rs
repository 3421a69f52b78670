//! Shared by the runtime's integration tests: builds the fixture component from source, runs a
//! real `redis-server` on a free loopback port, and boots apps in-process.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use local_infra::app::RuntimeOptions;
use local_infra::engine::{CompileCache, EngineOptions};
use local_infra::manifest::Manifest;
use local_infra::server::RunningApp;

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("local-infra sits in the workspace")
        .to_owned()
}

/// The conformance fixture (spin-sdk), built once per test process for `wasm32-wasip2`.
pub fn fixture_wasm() -> &'static Path {
    static WASM: OnceLock<PathBuf> = OnceLock::new();
    WASM.get_or_init(|| build_fixture("spin-conformance"))
}

/// The smallest WASI HTTP handler, no SDK: for measuring the runtime's own overhead.
pub fn hello_wasm() -> &'static Path {
    static WASM: OnceLock<PathBuf> = OnceLock::new();
    WASM.get_or_init(|| build_fixture("wasi-hello"))
}

fn build_fixture(package: &str) -> PathBuf {
    let wasm = local_infra_testing::build_wasm_package(&workspace_root(), package)
        .expect("building a fixture component");
    // Compile once into the shared cache so parallel tests do not all run Cranelift.
    let engine = local_infra::engine::build_engine(&EngineOptions::default()).expect("engine");
    CompileCache::load(Some(&CompileCache::new(cache_dir())), &engine, &wasm)
        .expect("precompiling the fixture");
    wasm
}

pub fn cache_dir() -> PathBuf {
    workspace_root().join("target/wasm/cwasm-cache")
}

pub fn free_port() -> u16 {
    local_infra_testing::free_port().expect("a free loopback port")
}

/// A `redis-server` of our own, stopped on drop.
pub struct RedisServer(pub local_infra_testing::RedisServer);

impl RedisServer {
    pub fn start() -> Self {
        Self(local_infra_testing::RedisServer::start().expect("redis-server starts"))
    }

    pub fn start_on(port: u16) -> Self {
        Self(local_infra_testing::RedisServer::start_on(port).expect("redis-server starts"))
    }
}

impl std::ops::Deref for RedisServer {
    type Target = local_infra_testing::RedisServer;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for RedisServer {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

/// An app booted in-process from manifest text, with its own state dir.
pub struct TestApp {
    pub running: RunningApp,
    pub base: String,
    pub state_dir: PathBuf,
    _dir: Option<tempfile::TempDir>,
}

pub fn manifest_with_fixture(text: &str) -> Manifest {
    let mut text = text.replace("FIXTURE", &fixture_wasm().display().to_string());
    if text.contains("HELLO") {
        text = text.replace("HELLO", &hello_wasm().display().to_string());
    }
    Manifest::parse(&text, workspace_root()).expect("test manifest is valid")
}

/// Writes a runtime config into the state dir that defines each of `sqlite_labels` as a Spin
/// SQLite database (`<label>.db` in the state dir) and holds `extra` sections, and points
/// `options` at it. As in Spin, a component may use the `default` database without a runtime
/// config, and any other label only when one defines it.
pub fn runtime_config(options: &mut RuntimeOptions, sqlite_labels: &[&str], extra: &str) {
    let mut text = String::new();
    for label in sqlite_labels {
        text.push_str(&format!("[sqlite_database.{label}]\ntype = \"spin\"\n"));
    }
    text.push_str(extra);
    std::fs::create_dir_all(&options.state_dir).expect("state dir");
    let path = options.state_dir.join("runtime-config.toml");
    std::fs::write(&path, text).expect("writing the runtime config");
    options.runtime_config_file = Some(path);
}

pub fn options(state_dir: &Path) -> RuntimeOptions {
    let mut options = RuntimeOptions::new(state_dir.to_owned());
    options.cache_dir = Some(cache_dir());
    options.engine.max_instances = 200;
    options
}

impl TestApp {
    pub async fn start(manifest: &str) -> Self {
        Self::start_with(manifest, |_| {}).await
    }

    pub async fn start_with(manifest: &str, configure: impl FnOnce(&mut RuntimeOptions)) -> Self {
        let dir = tempfile::tempdir().expect("state dir");
        let state_dir = dir.path().to_owned();
        let mut app = Self::start_in(manifest, &state_dir, configure).await;
        app._dir = Some(dir);
        app
    }

    /// Boots on an existing state dir (to test what survives a restart).
    pub async fn start_in(
        manifest: &str,
        state_dir: &Path,
        configure: impl FnOnce(&mut RuntimeOptions),
    ) -> Self {
        Self::try_start_in(manifest, state_dir, configure)
            .await
            .expect("app starts")
    }

    /// As `start_in`, but a refusal to start is the caller's to check.
    pub async fn try_start_in(
        manifest: &str,
        state_dir: &Path,
        configure: impl FnOnce(&mut RuntimeOptions),
    ) -> anyhow::Result<Self> {
        let manifest = manifest_with_fixture(manifest);
        let mut options = options(state_dir);
        configure(&mut options);
        let running = RunningApp::start_manifest(
            manifest,
            SocketAddr::from(([127, 0, 0, 1], 0)),
            &options,
            |_, _| {},
        )
        .await?;
        let addr = running.http_addr().expect("has an HTTP trigger");
        Ok(Self {
            running,
            base: format!("http://{addr}"),
            state_dir: state_dir.to_owned(),
            _dir: None,
        })
    }

    pub async fn get(&self, path: &str) -> (u16, String) {
        send(reqwest::Client::new().get(format!("{}{path}", self.base))).await
    }

    pub async fn post(&self, path: &str, body: impl Into<reqwest::Body>) -> (u16, String) {
        send(
            reqwest::Client::new()
                .post(format!("{}{path}", self.base))
                .body(body),
        )
        .await
    }

    pub async fn stop(self) -> PathBuf {
        let state = self.state_dir.clone();
        self.running.shutdown().await;
        state
    }
}

pub async fn send(request: reqwest::RequestBuilder) -> (u16, String) {
    let response = request
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .expect("request reaches the server");
    let status = response.status().as_u16();
    let body = response.text().await.expect("response body");
    (status, body)
}

/// Percent-encodes a value for a query string.
pub fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Polls `check` until it returns `Some` or the timeout passes.
pub async fn eventually<T, F, Fut>(timeout: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return Some(value);
        }
        if Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
