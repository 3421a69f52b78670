//! A loaded application: the manifest, the engine, and for each component its pre-linked
//! instance template and capabilities. Triggers ask it for fresh instances.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use wasmtime::component::{HasSelf, InstancePre, Linker};
use wasmtime::{Engine, Store};

use crate::bindings;
use crate::capabilities::files::{ComponentFiles, FilesStore};
use crate::capabilities::key_value::{KeyValueAccess, KeyValueService};
use crate::capabilities::outbound_http::{ChainingHandle, OutboundHttp};
use crate::capabilities::outbound_networking::AllowedHosts;
use crate::capabilities::redis::RedisAccess;
use crate::capabilities::sqlite::{SqliteAccess, SqliteService};
use crate::capabilities::variables::{AppVariables, ComponentVariables};
use crate::engine::{CacheOutcome, CompileCache, EngineOptions, EpochTicker};
use crate::manifest::{Component, Manifest};
use crate::runtime_config::RuntimeConfig;
use crate::state::{ComponentCapabilities, ComponentLogs, InstanceState};

/// Everything `up` can be told; defaults match `spin up`.
#[derive(Debug, Clone)]
pub struct RuntimeOptions {
    pub state_dir: PathBuf,
    pub runtime_config_file: Option<PathBuf>,
    pub variables: HashMap<String, String>,
    /// `-e KEY=VALUE`: extra environment for every component.
    pub env: Vec<(String, String)>,
    pub engine: EngineOptions,
    pub request_timeout: Duration,
    /// `None` disables the compiled-component cache.
    pub cache_dir: Option<PathBuf>,
    /// `None` disables component log files.
    pub log_dir: Option<PathBuf>,
    pub key_values: Vec<(String, String)>,
    pub sqlite_statements: Vec<String>,
    /// Requests the runtime sends by itself every `tick_interval` (the recovery tick).
    pub ticks: Vec<crate::ticker::Tick>,
    pub tick_interval: Duration,
    /// Where to serve Prometheus `/metrics`; `None`: nowhere.
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// Timeouts and connection caps of the HTTP edge.
    pub http: crate::triggers::connections::HttpLimits,
    /// What the Redis trigger holds while a message is handled.
    pub redis_queue: crate::triggers::redis::RedisQueueLimits,
}

impl RuntimeOptions {
    pub fn new(state_dir: PathBuf) -> Self {
        Self {
            cache_dir: Some(state_dir.join("cache")),
            log_dir: Some(state_dir.join("logs")),
            state_dir,
            runtime_config_file: None,
            variables: HashMap::new(),
            env: Vec::new(),
            engine: EngineOptions::default(),
            request_timeout: Duration::from_secs(30),
            key_values: Vec::new(),
            sqlite_statements: Vec::new(),
            ticks: Vec::new(),
            tick_interval: Duration::from_secs(5),
            metrics_listen: None,
            http: Default::default(),
            redis_queue: Default::default(),
        }
    }
}

pub struct LoadedComponent {
    pub id: String,
    pub(crate) pre: InstancePre<InstanceState>,
    pub(crate) capabilities: Arc<ComponentCapabilities>,
    pub cache: CacheOutcome,
}

impl LoadedComponent {
    /// The linked, not yet instantiated component (what every request instantiates).
    pub fn instance_pre(&self) -> &InstancePre<InstanceState> {
        &self.pre
    }
}

pub struct App {
    pub manifest: Manifest,
    pub metrics: Arc<crate::metrics::Metrics>,
    pub sqlite: Arc<SqliteService>,
    pub engine: Engine,
    pub variables: AppVariables,
    components: BTreeMap<String, Arc<LoadedComponent>>,
    chaining: ChainingHandle,
    request_timeout: Duration,
    _ticker: EpochTicker,
    /// The copies of the components' `files`, removed with the app.
    _files: Option<FilesStore>,
}

/// The components a trigger runs, once per trigger: the ones the app loads.
fn triggered_components(manifest: &Manifest) -> Vec<&String> {
    manifest
        .http_triggers
        .iter()
        .map(|t| &t.component)
        .chain(manifest.redis_triggers.iter().map(|t| &t.component))
        .collect()
}

/// The hosts `component` may reach, its variables rendered.
fn allowed_hosts(
    id: &str,
    component: &Component,
    variables: &AppVariables,
) -> anyhow::Result<AllowedHosts> {
    component
        .allowed_outbound_hosts
        .iter()
        .map(|host| variables.render(host))
        .collect::<Result<Vec<_>, _>>()
        .and_then(|hosts| AllowedHosts::parse(hosts.iter().map(String::as_str)))
        .map_err(|e| anyhow::anyhow!("component `{id}`: allowed_outbound_hosts: {e}"))
}

/// The component's environment, then every `-e` of the command line.
fn component_environment(component: &Component, options: &RuntimeOptions) -> Vec<(String, String)> {
    let mut environment: Vec<(String, String)> = component
        .environment
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    environment.extend(options.env.iter().cloned());
    environment
}

/// The component's `files`, copied into its own directory of the app's files store (made for
/// the first component that has any). `None` without files: like Spin, no file system.
fn component_files(
    files_store: &mut Option<FilesStore>,
    id: &str,
    base_dir: &Path,
    component: &Component,
) -> anyhow::Result<Option<ComponentFiles>> {
    if component.files.is_empty() {
        return Ok(None);
    }
    let store = match files_store {
        Some(store) => store,
        empty => {
            empty.insert(FilesStore::new().context("creating the directory for component files")?)
        }
    };
    store
        .prepare(id, base_dir, &component.files, &component.exclude_files)
        .map_err(|e| anyhow::anyhow!("component `{id}`: files: {e}"))
}

impl App {
    /// Loads and links every component that a trigger uses. Fails early, naming the culprit,
    /// on a missing required variable, a bad runtime config, or a component whose imports this
    /// runtime cannot satisfy.
    pub async fn load(
        manifest: Manifest,
        options: &RuntimeOptions,
        mut progress: impl FnMut(&str, CacheOutcome),
    ) -> anyhow::Result<Arc<Self>> {
        let variables = AppVariables::resolve(&manifest.variables, &options.variables, |key| {
            std::env::var(key).ok()
        })?;
        let runtime_config = match &options.runtime_config_file {
            Some(path) => {
                RuntimeConfig::from_file(path, &options.state_dir, |text| variables.render(text))?
            }
            None => RuntimeConfig::default(),
        };

        let used = triggered_components(&manifest);
        let (key_value, sqlite) =
            Self::open_stores(&manifest, &used, &runtime_config, options).await?;

        let engine = crate::engine::build_engine(&options.engine)?;
        let ticker = EpochTicker::start(&engine);
        let linker = build_linker(&engine)?;
        let cache = options.cache_dir.clone().map(CompileCache::new);
        let chaining = ChainingHandle::default();

        let mut files_store: Option<FilesStore> = None;
        let mut components = BTreeMap::new();
        let mut ids: Vec<&String> = used.clone();
        ids.sort();
        ids.dedup();
        let compiled = compile_each(&manifest, &ids, cache.as_ref(), &engine)?;
        for (id, (wasm, outcome)) in ids.into_iter().zip(compiled) {
            let component = &manifest.components[id];
            let allowed = Arc::new(allowed_hosts(id, component, &variables)?);
            let files = component_files(&mut files_store, id, &manifest.base_dir, component)?;
            let capabilities = Arc::new(ComponentCapabilities {
                component_id: id.clone(),
                key_value: KeyValueAccess::new(key_value.clone(), &component.key_value_stores),
                sqlite: SqliteAccess::new(sqlite.clone(), &component.sqlite_databases),
                redis: RedisAccess::new(allowed.clone()),
                variables: ComponentVariables::new(&variables, &component.variables)?,
                outbound_http: OutboundHttp::new(id, allowed, chaining.clone()),
                environment: component_environment(component, options),
                files,
                logs: open_logs(options.log_dir.as_deref(), id)?,
                max_memory_bytes: options.engine.max_instance_memory,
            });
            progress(id, outcome);
            let pre = linker
                .instantiate_pre(&wasm)
                .map_err(|e| anyhow::anyhow!("component `{id}` cannot be linked: {e}"))?;
            components.insert(
                id.clone(),
                Arc::new(LoadedComponent {
                    id: id.clone(),
                    pre,
                    capabilities,
                    cache: outcome,
                }),
            );
        }

        Ok(Arc::new(App {
            manifest,
            metrics: Arc::new(crate::metrics::Metrics::for_components(components.keys())),
            sqlite,
            engine,
            variables,
            components,
            chaining,
            request_timeout: options.request_timeout,
            _ticker: ticker,
            _files: files_store,
        }))
    }

    /// The app's key-value stores and SQLite databases, as the components in `used` declare
    /// them, with `--key-value` and `--sqlite` applied.
    async fn open_stores(
        manifest: &Manifest,
        used: &[&String],
        runtime_config: &RuntimeConfig,
        options: &RuntimeOptions,
    ) -> anyhow::Result<(Arc<KeyValueService>, Arc<SqliteService>)> {
        let kv_labels = used
            .iter()
            .flat_map(|id| manifest.components[*id].key_value_stores.iter().cloned());
        let key_value = Arc::new(
            KeyValueService::open(
                kv_labels,
                &runtime_config.key_value_stores,
                &options.state_dir.join("sqlite_key_value.db"),
            )
            .await?,
        );
        if !options.key_values.is_empty() {
            key_value
                .seed_default(&options.key_values)
                .await
                .context("--key-value needs a component that uses the `default` store")?;
        }
        let sql_uses = used
            .iter()
            .map(|id| (id.as_str(), &manifest.components[*id].sqlite_databases[..]));
        let sqlite = Arc::new(SqliteService::open(
            sql_uses,
            &runtime_config.sqlite_databases,
            &options.state_dir,
        )?);
        sqlite.run_startup_statements(&options.sqlite_statements)?;
        Ok((key_value, sqlite))
    }

    pub fn component(&self, id: &str) -> Option<&Arc<LoadedComponent>> {
        self.components.get(id)
    }

    pub fn components(&self) -> impl Iterator<Item = &Arc<LoadedComponent>> {
        self.components.values()
    }

    pub fn chaining(&self) -> &ChainingHandle {
        &self.chaining
    }

    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }

    /// A fresh store for one request or message, with its memory limit and deadline armed.
    pub fn new_store(&self, component: &LoadedComponent) -> Store<InstanceState> {
        let mut store = Store::new(
            &self.engine,
            InstanceState::new(component.capabilities.clone()),
        );
        store.limiter(|state| &mut state.limits);
        // At every epoch tick the guest gives its thread back to the other requests' tasks,
        // and past the request deadline it traps. Without the yields a CPU-bound guest (an
        // Argon2 hash) held a worker until it finished, and under a burst every other task,
        // the host's own timers included, waited behind such guests.
        let deadline = std::time::Instant::now() + self.request_timeout;
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            if std::time::Instant::now() >= deadline {
                Err(wasmtime::Trap::Interrupt.into())
            } else {
                Ok(wasmtime::UpdateDeadline::Yield(1))
            }
        });
        store
    }
}

/// Each component of `ids`, in order, compiled or taken from the cache. Components that share
/// one Wasm file (an HTTP component and its Redis-triggered twin) share its code, loaded once.
fn compile_each(
    manifest: &Manifest,
    ids: &[&String],
    cache: Option<&CompileCache>,
    engine: &Engine,
) -> anyhow::Result<Vec<(wasmtime::component::Component, CacheOutcome)>> {
    let sources = ids
        .iter()
        .map(|id| {
            manifest
                .source_path(&manifest.components[*id])
                .with_context(|| {
                    format!("component `{id}`: only local `source` files are supported")
                })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut distinct: Vec<&Path> = sources.iter().map(PathBuf::as_path).collect();
    distinct.sort_unstable();
    distinct.dedup();
    let loaded: HashMap<&Path, _> = distinct
        .iter()
        .copied()
        .zip(CompileCache::load_all(cache, engine, &distinct))
        .collect();
    ids.iter()
        .zip(&sources)
        .map(|(id, path)| match &loaded[path.as_path()] {
            Ok(compiled) => Ok(compiled.clone()),
            Err(e) => Err(anyhow::anyhow!("component `{id}`: {e:#}")),
        })
        .collect()
}

fn build_linker(engine: &Engine) -> anyhow::Result<Linker<InstanceState>> {
    let mut linker = Linker::new(engine);
    let wasm_err = |e: wasmtime::Error| anyhow::anyhow!("{e}");
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(wasm_err)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker).map_err(wasm_err)?;
    bindings::host::Host_::add_to_linker::<_, HasSelf<InstanceState>>(&mut linker, |state| state)
        .map_err(wasm_err)?;
    Ok(linker)
}

fn open_logs(log_dir: Option<&Path>, component_id: &str) -> anyhow::Result<ComponentLogs> {
    let Some(dir) = log_dir else {
        return Ok(ComponentLogs::default());
    };
    crate::private_fs::create_dir_all(dir)
        .with_context(|| format!("creating log dir {}", dir.display()))?;
    let open = |stream: &str| {
        let path = dir.join(format!("{component_id}_{stream}.txt"));
        let file = crate::private_fs::open_options()
            .create(true)
            .append(true)
            .open(&path)?;
        // A log written by an older runtime may be readable by others; what components print
        // is the app's business only.
        if let Err(e) = crate::private_fs::restrict_file(&path) {
            tracing::warn!(log = %path.display(), "cannot restrict the log file to its owner: {e}");
        }
        Ok::<_, std::io::Error>(file)
    };
    Ok(ComponentLogs {
        stdout: Some(Arc::new(open("stdout")?)),
        stderr: Some(Arc::new(open("stderr")?)),
    })
}

/// Checks that the app can be served at all before any socket is opened.
pub fn check_triggers(manifest: &Manifest) -> anyhow::Result<()> {
    if manifest.http_triggers.is_empty() && manifest.redis_triggers.is_empty() {
        bail!("the manifest declares no triggers: nothing to run");
    }
    crate::host_requirements::ensure_supported(manifest)?;
    Ok(())
}
