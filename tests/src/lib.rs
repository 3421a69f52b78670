//! The wasmshop harness: builds the app's components with their `spin.toml` build commands and
//! boots the whole app, or one component alone, in-process on local-infra, on a free loopback
//! port with a fresh state dir and a `redis-server` of its own.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use local_infra::app::{LoadedComponent, RuntimeOptions};
use local_infra::manifest::{HttpRoute, Manifest};
use local_infra::server::RunningApp;
use local_infra::state::InstanceState;
use local_infra_testing::RedisServer;
use wasmtime::Store;

/// Host-side bindings of the components' exported `api`s, for calling them directly.
pub mod bindings;
pub mod catalog_fixtures;
pub mod client;
/// The shop front driven as a browser without JavaScript would.
pub mod html;
pub mod ids;
pub mod invariants;
pub mod process;
pub mod recorder;
/// N replicas of the app behind HAProxy, sharing Redis and the SQLite files (issue #17).
pub mod replicas;
pub mod tokens;

pub const TEST_JWT_SECRET: &str = "test-only-jwt-secret-0123456789abcdef";
/// The storefront's `storefront_csrf_secret` in every app the harness boots.
pub const TEST_STOREFRONT_CSRF_SECRET: &str = "test-only-storefront-csrf-secret-0123456789abcdef";
/// The users component's `admin_bootstrap_token` in every app the harness boots: see
/// [`client::ApiClient::admin`].
pub const TEST_ADMIN_BOOTSTRAP_TOKEN: &str = "test-only-admin-bootstrap-token-0123456789abcdef";
/// The gateway's `recovery_token` in every app the harness boots.
pub const TEST_RECOVERY_TOKEN: &str = "test-only-recovery-token-0123456789abcdef";

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace")
        .to_owned()
}

/// The compiled-component cache every boot of the tests shares, in-process or as processes: the
/// entries are named by the Wasm bytes, so a changed component is compiled again.
pub fn compile_cache_dir() -> PathBuf {
    workspace_root().join("target/wasm/cwasm-cache")
}

pub fn manifest_path() -> PathBuf {
    workspace_root().join("spin.toml")
}

/// Runs every component's build command once per test process, as `spin build` does.
pub fn build_app() -> anyhow::Result<Manifest> {
    let manifest = Manifest::from_file(&manifest_path())?;
    let ids: Vec<String> = manifest.components.keys().cloned().collect();
    build_once(&manifest, &ids)?;
    Ok(manifest)
}

/// The manifest with only `component_ids` built (a component's own suite needs no other).
pub fn build_only(component_ids: &[&str]) -> anyhow::Result<Manifest> {
    let manifest = Manifest::from_file(&manifest_path())?;
    let ids: Vec<String> = component_ids.iter().map(|id| (*id).to_owned()).collect();
    build_once(&manifest, &ids)?;
    Ok(manifest)
}

fn build_once(manifest: &Manifest, ids: &[String]) -> anyhow::Result<()> {
    static BUILT: Mutex<BTreeMap<String, Result<(), String>>> = Mutex::new(BTreeMap::new());
    let mut built = BUILT
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let missing: Vec<String> = ids
        .iter()
        .filter(|id| !built.contains_key(*id))
        .cloned()
        .collect();
    if !missing.is_empty() {
        let outcome =
            local_infra::build::build_components(manifest, &missing).map_err(|e| format!("{e:#}"));
        for id in missing {
            built.insert(id, outcome.clone());
        }
    }
    for id in ids {
        if let Some(Err(e)) = built.get(id) {
            anyhow::bail!("building `{id}`: {e}");
        }
    }
    Ok(())
}

/// A runtime config in `state_dir` defining every SQLite label of `manifest` as a file
/// there: as under Spin, a label other than `default` exists only when a runtime config
/// defines it (`runtime-config.local.toml` does for `up`).
pub fn write_runtime_config(state_dir: &Path, manifest: &Manifest) -> anyhow::Result<PathBuf> {
    let labels: std::collections::BTreeSet<&str> = manifest
        .components
        .values()
        .flat_map(|c| c.sqlite_databases.iter().map(String::as_str))
        .filter(|label| *label != "default")
        .collect();
    let mut text = String::new();
    for label in labels {
        text.push_str(&format!(
            "[sqlite_database.{label}]\ntype = \"spin\"\npath = \"{label}.db\"\n\n"
        ));
    }
    std::fs::create_dir_all(state_dir)?;
    let path = state_dir.join("runtime-config.toml");
    std::fs::write(&path, text)?;
    Ok(path)
}

/// How events travel between contexts in a booted app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventTransport {
    /// Redis pub/sub, consumed by the manifest's Redis triggers (the `*-subscriber` components).
    Redis,
    /// Pushed to each consumer's private `/events` route by service chaining (the default).
    HttpPush,
}

/// A running app (whole or one component), with its own Redis and state dir.
pub struct Wasmshop {
    pub running: RunningApp,
    pub base_url: String,
    pub redis: RedisServer,
    pub client: reqwest::Client,
    state: tempfile::TempDir,
}

impl Wasmshop {
    /// The whole app from `spin.toml`, every component built.
    pub fn app() -> Boot {
        Boot::new(Scope::Whole)
    }

    /// Only `component_ids`, with their Redis triggers; `public` gets its private route made
    /// public at `/...` so tests reach it, the others stay private (reached by chaining).
    /// Events travel over Redis, so that a test can publish what a component consumes and
    /// subscribe to what it emits.
    pub fn components(component_ids: &[&str], public: &str) -> Boot {
        Boot::new(Scope::Components {
            ids: component_ids.iter().map(|id| (*id).to_owned()).collect(),
            public: public.to_owned(),
        })
    }

    /// Only `component_id`, reachable at `/...`: see [`components`](Self::components).
    pub fn component(component_id: &str) -> Boot {
        Self::components(&[component_id], component_id)
    }

    /// A manifest the test built (with [`build_app`] or [`build_only`]) and edited, as it is.
    pub fn manifest(manifest: Manifest) -> Boot {
        Boot::new(Scope::Edited(Box::new(manifest)))
    }
}

/// An app to boot, adjusted by its methods; nothing is built or started before [`start`].
///
/// [`start`]: Boot::start
#[must_use = "nothing boots until `start`"]
pub struct Boot {
    scope: Scope,
    workflow: Option<EventTransport>,
    metrics: bool,
    variables: Vec<(String, String)>,
    configure: Vec<Configure>,
}

type Configure = Box<dyn FnOnce(&mut RuntimeOptions) + Send>;

/// Which components boot, and where their manifest comes from.
enum Scope {
    Whole,
    Components { ids: Vec<String>, public: String },
    Edited(Box<Manifest>),
}

impl Boot {
    fn new(scope: Scope) -> Self {
        Self {
            scope,
            workflow: None,
            metrics: false,
            variables: Vec::new(),
            configure: Vec::new(),
        }
    }

    /// The app as a workflow test wants it: events over `transport`, the recovery tick of every
    /// context driven by the runtime every 200 ms, rate limits out of the way, and `/metrics`
    /// served.
    pub fn workflow(mut self, transport: EventTransport) -> Self {
        self.workflow = Some(transport);
        self.metrics()
    }

    /// Serves the runtime's `/metrics` on a free loopback port (see [`scrape_metrics`]).
    pub fn metrics(mut self) -> Self {
        self.metrics = true;
        self
    }

    /// App variables, set over those the harness and [`workflow`](Self::workflow) choose.
    pub fn variables(mut self, variables: &[(&str, &str)]) -> Self {
        self.variables.extend(
            variables
                .iter()
                .map(|(name, value)| ((*name).to_owned(), (*value).to_owned())),
        );
        self
    }

    /// Adjusts the runtime options last, after the harness and [`workflow`](Self::workflow)
    /// set theirs (e.g. the recovery `ticks`).
    pub fn configure(
        mut self,
        configure: impl FnOnce(&mut RuntimeOptions) + Send + 'static,
    ) -> Self {
        self.configure.push(Box::new(configure));
        self
    }

    /// Builds what the app needs (once per test process) and boots it on a free loopback port,
    /// with a fresh state dir and a `redis-server` of its own.
    pub async fn start(self) -> anyhow::Result<Wasmshop> {
        let mut variables = HashMap::new();
        let manifest = match self.scope {
            Scope::Whole => build_app()?,
            Scope::Components { ids, public } => {
                variables.insert("event_transport".to_owned(), "redis".to_owned());
                only_components(&ids, &public)?
            }
            Scope::Edited(manifest) => *manifest,
        };
        if let Some(transport) = self.workflow {
            variables.extend(
                [
                    ("rate_limit_auth", "100000/60"),
                    ("rate_limit_read", "1000000/60"),
                    ("rate_limit_write", "1000000/60"),
                ]
                .map(|(name, value)| (name.to_owned(), value.to_owned())),
            );
            if transport == EventTransport::Redis {
                variables.insert("event_transport".into(), "redis".into());
            }
        }
        variables.extend(self.variables);

        let redis = RedisServer::start()?;
        let mut state = tempfile::tempdir()?;
        // For a post-mortem: the state dir (databases, component logs) survives the test.
        if std::env::var_os("WASMSHOP_KEEP_STATE").is_some() {
            state.disable_cleanup(true);
            eprintln!("state dir kept: {}", state.path().display());
        }
        let mut options = RuntimeOptions::new(state.path().to_owned());
        // Compiled components are shared between test processes; the key includes the bytes.
        options.cache_dir = Some(compile_cache_dir());
        for (name, value) in [
            ("redis_address", redis.url()),
            ("jwt_secret", TEST_JWT_SECRET.to_owned()),
            (
                "storefront_csrf_secret",
                TEST_STOREFRONT_CSRF_SECRET.to_owned(),
            ),
            (
                "admin_bootstrap_token",
                TEST_ADMIN_BOOTSTRAP_TOKEN.to_owned(),
            ),
            ("recovery_token", TEST_RECOVERY_TOKEN.to_owned()),
        ] {
            if manifest.variables.contains_key(name) {
                options.variables.insert(name.to_owned(), value);
            }
        }
        options.variables.extend(variables);
        options.runtime_config_file = Some(write_runtime_config(state.path(), &manifest)?);
        if self.metrics {
            options.metrics_listen = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
        }
        if self.workflow.is_some() {
            options.ticks = manifest
                .http_triggers
                .iter()
                // Only the bounded contexts have a recovery tick (audit keeps no outbox or inbox).
                .filter(|t| CONTEXTS.contains(&t.component.as_str()))
                .map(|t| local_infra::ticker::Tick {
                    component: t.component.clone(),
                    path: "/admin/recovery".into(),
                })
                .collect();
            options.tick_interval = std::time::Duration::from_millis(200);
        }
        for configure in self.configure {
            configure(&mut options);
        }
        let running = RunningApp::start_manifest(
            manifest,
            SocketAddr::from(([127, 0, 0, 1], 0)),
            &options,
            |_, _| {},
        )
        .await?;
        wait_for_subscriptions(&running, &redis).await?;
        let addr = running
            .http_addr()
            .ok_or_else(|| anyhow::anyhow!("no HTTP trigger"))?;
        Ok(Wasmshop {
            running,
            base_url: format!("http://{addr}"),
            redis,
            client: http_client(),
            state,
        })
    }
}

/// `spin.toml` cut down to `component_ids` and their Redis twins, with `public`'s HTTP route
/// made public at `/...`.
fn only_components(component_ids: &[String], public: &str) -> anyhow::Result<Manifest> {
    let ids: Vec<&str> = component_ids.iter().map(String::as_str).collect();
    let mut manifest = build_only(&ids)?;
    for id in &ids {
        anyhow::ensure!(
            manifest.components.contains_key(*id),
            "spin.toml has no component `{id}`"
        );
    }
    // A context's Redis subscriber runs the same Wasm as its HTTP component.
    let sources: Vec<String> = ids
        .iter()
        .map(|id| format!("{:?}", manifest.components[*id].source))
        .collect();
    manifest
        .components
        .retain(|_, component| sources.contains(&format!("{:?}", component.source)));
    manifest
        .http_triggers
        .retain(|t| ids.contains(&t.component.as_str()));
    for trigger in &mut manifest.http_triggers {
        if trigger.component == public {
            trigger.route = HttpRoute::Public("/...".into());
        }
    }
    let kept: Vec<String> = manifest.components.keys().cloned().collect();
    manifest
        .redis_triggers
        .retain(|t| kept.contains(&t.component));
    Ok(manifest)
}

impl Wasmshop {
    pub fn state_dir(&self) -> &Path {
        self.state.path()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// A fresh instance's store and linked component, to call its exported `api` directly.
    pub fn instance(
        &self,
        component_id: &str,
    ) -> anyhow::Result<(Store<InstanceState>, Arc<LoadedComponent>)> {
        let component = self
            .running
            .app
            .component(component_id)
            .ok_or_else(|| anyhow::anyhow!("component `{component_id}` is not loaded"))?
            .clone();
        Ok((self.running.app.new_store(&component), component))
    }
}

/// Every bounded context behind the gateway (the one list, in the kit).
pub use wasmshop_kit::CONTEXTS;

/// The runtime's `/metrics` text (the shop must have been booted with a metrics listener).
/// The HTTP client of tests and the load generator. Its idle connections are dropped well
/// before the runtime closes them (60 s), so a request never goes out on a connection the
/// server is closing at that moment (which loses a POST).
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_idle_timeout(std::time::Duration::from_secs(20))
        .pool_max_idle_per_host(1024)
        .build()
        .unwrap_or_default()
}

pub async fn scrape_metrics(shop: &Wasmshop) -> anyhow::Result<String> {
    let addr = shop
        .running
        .metrics_addr()
        .ok_or_else(|| anyhow::anyhow!("metrics are not served"))?;
    Ok(reqwest::get(format!("http://{addr}/metrics"))
        .await?
        .text()
        .await?)
}

/// Polls `check` every 50 ms until it gives a value; panics naming `what` after 15 s.
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// `Wasmshop::<context>_api()`: a fresh instance of the context's component with its exported
/// `api` bound, and the store to call it with.
macro_rules! api_instances {
    ($($method:ident: $id:literal => $module:ident::$pre:ident -> $world:ident;)+) => {
        impl Wasmshop {
            $(
                pub async fn $method(
                    &self,
                ) -> anyhow::Result<(Store<InstanceState>, bindings::$module::$world)> {
                    let (mut store, component) = self.instance($id)?;
                    let pre = bindings::$module::$pre::new(component.instance_pre().clone())
                        .map_err(|e| anyhow::anyhow!("{e}"))?;
                    let api = pre
                        .instantiate_async(&mut store)
                        .await
                        .map_err(|e| anyhow::anyhow!("{e}"))?;
                    Ok((store, api))
                }
            )+
        }
    };
}

api_instances! {
    users_api: "users" => users::UsersPre -> Users;
    catalog_api: "catalog" => catalog::CatalogPre -> Catalog;
    orders_api: "orders" => orders::OrdersPre -> Orders;
    payments_api: "payments" => payments::PaymentsPre -> Payments;
    shipping_api: "shipping" => shipping::ShippingPre -> Shipping;
    notifications_api: "notifications" => notifications::NotificationsPre -> Notifications;
}

/// Returns once every Redis trigger of the app has subscribed: until then a published message
/// would reach nobody (pub/sub keeps nothing).
async fn wait_for_subscriptions(running: &RunningApp, redis: &RedisServer) -> anyhow::Result<()> {
    let channels: Vec<String> = running
        .app
        .manifest
        .redis_triggers
        .iter()
        .map(|t| t.channel.clone())
        .collect();
    if channels.is_empty() {
        return Ok(());
    }
    let mut connection = redis.connection()?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let counts: Vec<(String, u32)> = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg(&channels)
            .query(&mut connection)?;
        if counts.iter().all(|(_, n)| *n > 0) {
            return Ok(());
        }
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "the Redis triggers did not subscribe: {counts:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// A subscription to a Redis channel on the harness's server, read on a thread of its own.
pub struct Subscription(std::sync::mpsc::Receiver<Vec<String>>);

impl Wasmshop {
    /// Subscribes to `channel` now (returns once subscribed); `received` then hands back the
    /// first `count` messages, or what arrived within 10 s.
    pub fn subscribe(&self, channel: &str, count: usize) -> anyhow::Result<Subscription> {
        use std::time::{Duration, Instant};
        let mut connection = self.redis.connection()?;
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let name = channel.to_owned();
        std::thread::spawn(move || {
            let mut pubsub = connection.as_pubsub();
            let subscribed = pubsub
                .subscribe(&name)
                .and_then(|()| pubsub.set_read_timeout(Some(Duration::from_millis(200))));
            if ready_tx.send(subscribed.is_ok()).is_err() || subscribed.is_err() {
                return;
            }
            let deadline = Instant::now() + Duration::from_secs(10);
            let mut messages = Vec::new();
            while messages.len() < count && Instant::now() < deadline {
                if let Ok(message) = pubsub.get_message()
                    && let Ok(payload) = message.get_payload::<String>()
                {
                    messages.push(payload);
                }
            }
            let _ = done_tx.send(messages);
        });
        match ready_rx.recv_timeout(Duration::from_secs(10)) {
            Ok(true) => Ok(Subscription(done_rx)),
            _ => anyhow::bail!("could not subscribe to {channel}"),
        }
    }
}

impl Subscription {
    /// The messages as JSON (envelopes); an unparsable message becomes a JSON string.
    pub async fn received(self) -> Vec<serde_json::Value> {
        let messages = tokio::task::spawn_blocking(move || {
            self.0.recv_timeout(std::time::Duration::from_secs(15))
        })
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
        messages
            .into_iter()
            .map(|m| serde_json::from_str(&m).unwrap_or(serde_json::Value::String(m)))
            .collect()
    }
}

/// Status and parsed JSON body (or `null` when the body is not JSON).
pub async fn json(response: reqwest::Response) -> (u16, serde_json::Value) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
    )
}

/// An event envelope (`wasmshop:events/envelope.event`) as JSON, for tests that publish commands
/// and events themselves; `correlation_id` is the saga (order) id.
pub fn envelope(
    event_type: &str,
    source: &str,
    subject: &str,
    correlation_id: Option<&str>,
    data: &serde_json::Value,
) -> serde_json::Value {
    serde_json::json!({
        "id": uuid::Uuid::now_v7().to_string(),
        "event_type": event_type,
        "source": source,
        "subject": subject,
        "time": "2026-11-24T00:00:00.000Z",
        "correlation_id": correlation_id,
        "causation_id": null,
        "trace": null,
        "data": data.to_string(),
    })
}

impl Wasmshop {
    /// `PUBLISH`es `message` on `channel` of the harness's Redis; how many subscribers got it.
    pub fn publish(&self, channel: &str, message: &serde_json::Value) -> anyhow::Result<u32> {
        let mut connection = self.redis.connection()?;
        Ok(redis::cmd("PUBLISH")
            .arg(channel)
            .arg(message.to_string())
            .query(&mut connection)?)
    }
}

impl Wasmshop {
    /// Publishes each of `commands` on `<context>.commands` once the previous one was answered
    /// on `<context>.events` (a Redis trigger handles messages concurrently, so only this fixes
    /// their order): the replies, each checked to answer its command.
    pub async fn exchange(
        &self,
        context: &str,
        commands: &[serde_json::Value],
    ) -> Vec<serde_json::Value> {
        let mut replies = Vec::new();
        for command in commands {
            let reply = self
                .subscribe(&format!("{context}.events"), 1)
                .unwrap_or_else(|e| panic!("subscribing to {context}.events: {e:#}"));
            let listeners = self
                .publish(&format!("{context}.commands"), command)
                .unwrap_or_else(|e| panic!("publishing {command}: {e:#}"));
            assert_eq!(listeners, 1, "{context}.commands has one subscriber");
            let reply = reply
                .received()
                .await
                .pop()
                .unwrap_or_else(|| panic!("no reply to {command}"));
            assert_eq!(reply["causation_id"], command["id"], "{reply}");
            assert_eq!(
                reply["correlation_id"], command["correlation_id"],
                "{reply}"
            );
            replies.push(reply);
        }
        replies
    }
}
