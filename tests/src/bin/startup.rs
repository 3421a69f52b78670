//! Cold start of the whole app: `wasmshop-spin up` spawned until the gateway component serves
//! its first request, without the compiled-component cache and with a warm one; plus each
//! component's Wasm size. Medians of `--runs`; writes `target/bench/startup.json`.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use serde_json::json;
use wasmshop_tests::process::RuntimeProcess;

#[derive(Parser, Debug)]
struct Args {
    /// The `wasmshop-spin` to measure (build it with `cargo build --release -p local-infra`)
    #[arg(long, default_value = "target/release/wasmshop-spin")]
    runtime: PathBuf,
    #[arg(long, default_value_t = 5)]
    runs: usize,
    #[arg(long, default_value = "target/bench/startup.json")]
    json_out: PathBuf,
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort_unstable();
    samples[samples.len() / 2]
}

async fn start_once(
    args: &Args,
    manifest: &local_infra::manifest::Manifest,
    state: &std::path::Path,
    redis: &str,
    extra: &[&str],
) -> anyhow::Result<Duration> {
    let mut argv: Vec<String> = vec![
        "--from".into(),
        wasmshop_tests::manifest_path().display().to_string(),
        "--state-dir".into(),
        state.display().to_string(),
        "--variable".into(),
        format!("redis_address={redis}"),
        "--variable".into(),
        format!("jwt_secret={}", wasmshop_tests::TEST_JWT_SECRET),
        "--variable".into(),
        format!(
            "storefront_csrf_secret={}",
            wasmshop_tests::TEST_STOREFRONT_CSRF_SECRET
        ),
        "--runtime-config-file".into(),
        wasmshop_tests::write_runtime_config(state, manifest)?
            .display()
            .to_string(),
    ];
    argv.extend(extra.iter().map(|s| (*s).to_owned()));
    let started = std::time::Instant::now();
    let mut process =
        RuntimeProcess::start_binary(args.runtime.clone(), argv, &state.join("runtime.log"))
            .await?;
    let elapsed = started.elapsed();
    process.kill();
    Ok(elapsed)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let manifest = wasmshop_tests::build_app()?;
    let redis = local_infra_testing::RedisServer::start()?;
    let state = tempfile::tempdir()?;

    let mut uncached = Vec::new();
    let mut cached = Vec::new();
    for _ in 0..args.runs {
        uncached.push(
            start_once(
                &args,
                &manifest,
                state.path(),
                &redis.url(),
                &["--disable-cache"],
            )
            .await?,
        );
    }
    // The first cached start fills the cache; the measured ones find it warm.
    start_once(&args, &manifest, state.path(), &redis.url(), &[]).await?;
    for _ in 0..args.runs {
        cached.push(start_once(&args, &manifest, state.path(), &redis.url(), &[]).await?);
    }
    let (uncached, cached) = (median(uncached), median(cached));
    println!(
        "start to first served request, median of {}: without cache {uncached:?}, with cache {cached:?}",
        args.runs
    );

    let mut sizes = serde_json::Map::new();
    for (id, component) in &manifest.components {
        if let Some(path) = manifest.source_path(component) {
            let bytes = std::fs::metadata(&path)?.len();
            println!("{id}: {bytes} bytes ({})", path.display());
            sizes.insert(id.clone(), json!(bytes));
        }
    }
    if let Some(dir) = args.json_out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(
        &args.json_out,
        serde_json::to_string_pretty(&json!({
            "runs": args.runs,
            "start_to_first_request_ms": {
                "without_cache": uncached.as_secs_f64() * 1000.0,
                "with_cache": cached.as_secs_f64() * 1000.0,
            },
            "wasm_bytes": sizes,
        }))?,
    )?;
    Ok(())
}
