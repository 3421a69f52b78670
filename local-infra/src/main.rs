//! `wasmshop-spin`: `up` serves a Spin app, `build` builds its components. Flag names follow
//! `spin up` / `spin build`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use local_infra::app::RuntimeOptions;
use local_infra::engine::CacheOutcome;
use local_infra::manifest::Manifest;
use local_infra::server::RunningApp;

// Every request allocates and frees a whole instance's worth of small objects (resource
// tables, WASI contexts, headers) across two threads; glibc's malloc spent a tenth of the
// runtime's time on them, mimalloc's thread-local free lists a fraction of that. How it is kept
// from holding on to memory at idle: `local_infra::memory`.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "wasmshop-spin",
    version,
    about = "A Spin-compatible runtime on wasmtime"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the Spin application
    Up(Box<UpArgs>),
    /// Build the Spin application
    Build(BuildArgs),
}

#[derive(Args)]
struct BuildArgs {
    /// The application to build: a manifest file or a directory containing spin.toml
    #[arg(short = 'f', long = "from", default_value = "spin.toml")]
    from: PathBuf,
    /// Component ID to build; may be repeated. The default is all components
    #[arg(short = 'c', long = "component-id")]
    component_id: Vec<String>,
}

#[derive(Args)]
struct UpArgs {
    /// The application to run: a manifest file or a directory containing spin.toml
    #[arg(short = 'f', long = "from", default_value = "spin.toml")]
    from: PathBuf,
    /// IP address and port to listen on
    #[arg(long, env = "SPIN_HTTP_LISTEN_ADDR", default_value = "127.0.0.1:3000")]
    listen: SocketAddr,
    /// Configuration file for key-value stores and SQLite databases
    #[arg(long = "runtime-config-file", env = "RUNTIME_CONFIG_FILE")]
    runtime_config_file: Option<PathBuf>,
    /// Application state directory; defaults to `.spin/` beside the manifest
    #[arg(long = "state-dir")]
    state_dir: Option<PathBuf>,
    /// Variable(s) for the app: `key=value`, `key=@file`, `@file.json` or `@file.toml`
    #[arg(long = "variable")]
    variable: Vec<String>,
    /// Environment variable (key=value) for all components
    #[arg(short = 'e', long = "env")]
    env: Vec<String>,
    /// Log directory for the stdout and stderr of components; empty disables logging to disk
    #[arg(short = 'L', long = "log-dir", env = "SPIN_LOG_DIR")]
    log_dir: Option<PathBuf>,
    /// Disable the compiled-component cache
    #[arg(long = "disable-cache", env = "DISABLE_WASMTIME_CACHE")]
    disable_cache: bool,
    /// Disable Wasmtime's pooling instance allocator
    #[arg(long = "disable-pooling")]
    disable_pooling: bool,
    /// Maximum memory of one instance, in bytes
    #[arg(long = "max-instance-memory", env = "SPIN_MAX_INSTANCE_MEMORY")]
    max_instance_memory: Option<usize>,
    /// Request timeout, e.g. `30s` or `500ms` (default 30s, as hosted Spin)
    #[arg(long = "request-timeout", value_parser = parse_duration)]
    request_timeout: Option<Duration>,
    /// Set a key/value pair (key=value) in the application's default store
    #[arg(long = "key-value")]
    key_value: Vec<String>,
    /// Run a SQLite statement against the default database; `@file` reads it from a file
    #[arg(long = "sqlite")]
    sqlite: Vec<String>,
    /// Run `build` before starting
    #[arg(long, env = "SPIN_ALWAYS_BUILD")]
    build: bool,
    /// POST to this component URL (`http://<component>.spin.internal/<path>`) every
    /// `--tick-interval`; may be repeated (wasmshop: the recovery tick). Not a Spin flag
    #[arg(long = "tick")]
    tick: Vec<String>,
    /// Serve Prometheus metrics at `http://<addr>/metrics` (not a Spin flag; Spin exports OTLP)
    #[arg(long = "metrics-listen")]
    metrics_listen: Option<SocketAddr>,
    /// Interval of `--tick` requests, e.g. `2s` (default 5s)
    #[arg(long = "tick-interval", value_parser = parse_duration)]
    tick_interval: Option<Duration>,
    /// Time a client has to send a request's headers, counted from connecting or from the
    /// previous response, e.g. `10s` (default 60s); then the connection is closed. Not a Spin
    /// flag
    #[arg(long = "http-header-read-timeout", value_parser = parse_nonzero_duration)]
    http_header_read_timeout: Option<Duration>,
    /// Close a keep-alive connection that has been idle this long, e.g. `5s` (default 75s). Not
    /// a Spin flag
    #[arg(long = "http-idle-timeout", value_parser = parse_nonzero_duration)]
    http_idle_timeout: Option<Duration>,
    /// Open HTTP connections in all; further clients wait to be accepted (default 1024). Not a
    /// Spin flag
    #[arg(long = "http-max-connections")]
    http_max_connections: Option<NonZeroUsize>,
    /// Open HTTP connections per client IP address; further ones are closed at once (default
    /// 512). Not a Spin flag
    #[arg(long = "http-max-connections-per-client")]
    http_max_connections_per_client: Option<NonZeroUsize>,
}

fn main() -> anyhow::Result<()> {
    local_infra::capabilities::sqlite_process::configure_before_threads();
    local_infra::memory::return_freed_memory_when_idle();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("RUST_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,local_infra=info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Build(args) => {
            let manifest = Manifest::from_file(&manifest_path(&args.from))?;
            local_infra::build::build_components(&manifest, &args.component_id)
        }
        Command::Up(args) => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
            .block_on(up(*args)),
    }
}

fn manifest_path(from: &Path) -> PathBuf {
    if from.is_dir() {
        from.join("spin.toml")
    } else {
        from.to_owned()
    }
}

async fn up(args: UpArgs) -> anyhow::Result<()> {
    let manifest_file = manifest_path(&args.from);
    let manifest = Manifest::from_file(&manifest_file)?;
    let telemetry = local_infra::telemetry::init_from_env(&manifest.application.name)?;
    if args.build {
        local_infra::build::build_components(&manifest, &[])?;
    }
    let state_dir = args
        .state_dir
        .clone()
        .unwrap_or_else(|| manifest.base_dir.join(".spin"));
    let options = runtime_options(&args, state_dir)?;

    let started = Instant::now();
    println!("Loading {}", manifest_file.display());
    let running = RunningApp::start_manifest(manifest, args.listen, &options, |id, outcome| {
        let how = match outcome {
            CacheOutcome::Hit => "from cache",
            CacheOutcome::Compiled => "compiled and cached",
            CacheOutcome::Disabled => "compiled",
        };
        println!("  {id}: {how} ({:.1?})", started.elapsed());
    })
    .await?;
    print_routes(&running);
    println!("Ready in {:.1?}. Press Ctrl+C to stop.", started.elapsed());

    wait_for_signal().await?;
    println!("Shutting down");
    running.shutdown().await;
    // The last batch of spans leaves now, on a thread of its own: the exporter blocks.
    tokio::task::spawn_blocking(move || drop(telemetry)).await?;
    Ok(())
}

/// The runtime's options from `up`'s flags; a flag not given keeps the runtime's default.
fn runtime_options(args: &UpArgs, state_dir: PathBuf) -> anyhow::Result<RuntimeOptions> {
    let mut options = RuntimeOptions::new(state_dir);
    options.runtime_config_file = args.runtime_config_file.clone();
    options.variables = parse_variables(&args.variable)?;
    options.env = args
        .env
        .iter()
        .map(|pair| split_pair(pair, "--env"))
        .collect::<anyhow::Result<_>>()?;
    options.key_values = args
        .key_value
        .iter()
        .map(|pair| split_pair(pair, "--key-value"))
        .collect::<anyhow::Result<_>>()?;
    options.sqlite_statements = args
        .sqlite
        .iter()
        .map(|s| match s.strip_prefix('@') {
            Some(file) => {
                std::fs::read_to_string(file).with_context(|| format!("--sqlite @{file}"))
            }
            None => Ok(s.clone()),
        })
        .collect::<anyhow::Result<_>>()?;
    match &args.log_dir {
        Some(dir) if dir.as_os_str().is_empty() => options.log_dir = None,
        Some(dir) => options.log_dir = Some(dir.clone()),
        None => {}
    }
    if args.disable_cache {
        options.cache_dir = None;
    }
    options.engine.pooling = !args.disable_pooling;
    if let Some(bytes) = args.max_instance_memory {
        options.engine.max_instance_memory = bytes;
    }
    if let Some(timeout) = args.request_timeout {
        options.request_timeout = timeout;
    }
    options.ticks = args
        .tick
        .iter()
        .map(|url| local_infra::ticker::Tick::parse(url).map_err(anyhow::Error::msg))
        .collect::<anyhow::Result<_>>()?;
    if let Some(interval) = args.tick_interval {
        options.tick_interval = interval;
    }
    options.metrics_listen = args.metrics_listen;
    if let Some(timeout) = args.http_header_read_timeout {
        options.http.header_read_timeout = timeout;
    }
    if let Some(timeout) = args.http_idle_timeout {
        options.http.idle_timeout = timeout;
    }
    if let Some(max) = args.http_max_connections {
        options.http.max_connections = max.get();
    }
    if let Some(max) = args.http_max_connections_per_client {
        options.http.max_connections_per_client = max.get();
    }
    Ok(options)
}

fn print_routes(running: &RunningApp) {
    if let Some(addr) = running.metrics_addr() {
        println!("Metrics: http://{addr}/metrics");
    }
    if let (Some(http), Some(addr)) = (&running.http, running.http_addr()) {
        println!("\nServing http://{addr}");
        println!("Available Routes:");
        for (route, id) in http.routes() {
            match route.strip_suffix("/...") {
                Some(prefix) => println!("  {id}: http://{addr}{prefix} (wildcard)"),
                None => println!("  {id}: http://{addr}{route}"),
            }
        }
        for id in http.private_components() {
            println!("  {id}: (private, reachable as http://{id}.spin.internal)");
        }
    }
    if let Some(redis) = &running.redis {
        println!("Redis subscriptions:");
        for (address, channel, id) in redis.subscriptions() {
            println!("  {id}: {channel} on {address}");
        }
    }
}

async fn wait_for_signal() -> anyhow::Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result?,
        _ = terminate.recv() => {}
    }
    Ok(())
}

fn split_pair(pair: &str, flag: &str) -> anyhow::Result<(String, String)> {
    pair.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .with_context(|| format!("{flag} `{pair}`: expected KEY=VALUE"))
}

/// `key=value`, `key=@file`, `@file.json` or `@file.toml`, as `spin up --variable` takes them.
fn parse_variables(entries: &[String]) -> anyhow::Result<HashMap<String, String>> {
    let mut out = HashMap::new();
    for entry in entries {
        if let Some(file) = entry.strip_prefix('@') {
            let text =
                std::fs::read_to_string(file).with_context(|| format!("--variable @{file}"))?;
            let table: HashMap<String, String> = if file.ends_with(".json") {
                serde_json::from_str(&text).with_context(|| format!("--variable @{file}"))?
            } else if file.ends_with(".toml") {
                toml::from_str(&text).with_context(|| format!("--variable @{file}"))?
            } else {
                bail!("--variable @{file}: expected a .json or .toml file");
            };
            out.extend(table);
            continue;
        }
        let (key, value) = split_pair(entry, "--variable")?;
        let value = match value.strip_prefix('@') {
            Some(file) => std::fs::read_to_string(file)
                .with_context(|| format!("--variable {key}=@{file}"))?
                .trim_end_matches('\n')
                .to_owned(),
            None => value,
        };
        out.insert(key, value);
    }
    Ok(out)
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(index) => text.split_at(index),
        None => (text, "s"),
    };
    let value: u64 = number
        .parse()
        .map_err(|_| format!("invalid duration `{text}`"))?;
    match unit {
        "s" => Ok(Duration::from_secs(value)),
        "ms" => Ok(Duration::from_millis(value)),
        "us" | "μs" => Ok(Duration::from_micros(value)),
        "ns" => Ok(Duration::from_nanos(value)),
        _ => Err(format!("invalid duration unit in `{text}`")),
    }
}

/// A duration of which zero would make no sense (a timeout that fires at once).
fn parse_nonzero_duration(text: &str) -> Result<Duration, String> {
    match parse_duration(text)? {
        Duration::ZERO => Err(format!("`{text}`: must be more than zero")),
        duration => Ok(duration),
    }
}
