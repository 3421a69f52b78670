//! The runtime as its own process (`wasmshop-spin up`), for what in-process boots cannot show:
//! a SIGKILL mid-workflow and a restart on the same state dir.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use local_infra_testing::free_port;

use crate::CONTEXTS;

/// Builds the `wasmshop-spin` binary once per test process (debug, as the tests are).
pub fn runtime_binary() -> anyhow::Result<PathBuf> {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let root = crate::workspace_root();
            let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
                .args(["build", "-p", "local-infra", "--bin", "wasmshop-spin"])
                .current_dir(&root)
                .status()
                .map_err(|e| format!("cargo build: {e}"))?;
            if !status.success() {
                return Err(format!("cargo build of wasmshop-spin: {status}"));
            }
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| root.join("target"));
            Ok(target.join("debug/wasmshop-spin"))
        })
        .clone()
        .map_err(anyhow::Error::msg)
}

/// `up` arguments for a test run of the whole app from `spin.toml` on `state`, with Redis at
/// `redis`: the recovery tick of every context every 200 ms, rate limits out of the way, the
/// demo seed off, then `variables`.
pub fn up_args(state: &Path, redis: &str, variables: &[(&str, &str)]) -> Vec<String> {
    let mut args: Vec<String> = vec![
        "--from".into(),
        crate::manifest_path().display().to_string(),
        "--state-dir".into(),
        state.display().to_string(),
        "--tick-interval".into(),
        "200ms".into(),
    ];
    let manifest = local_infra::manifest::Manifest::from_file(&crate::manifest_path())
        .expect("spin.toml loads");
    let config = crate::write_runtime_config(state, &manifest).expect("runtime config written");
    args.push("--runtime-config-file".into());
    args.push(config.display().to_string());
    let defaults = [
        ("redis_address", redis),
        ("jwt_secret", crate::TEST_JWT_SECRET),
        ("storefront_csrf_secret", crate::TEST_STOREFRONT_CSRF_SECRET),
        ("admin_bootstrap_token", crate::TEST_ADMIN_BOOTSTRAP_TOKEN),
        ("seed_demo_data", "false"),
        ("rate_limit_auth", "100000/60"),
        ("rate_limit_read", "100000/60"),
        ("rate_limit_write", "100000/60"),
    ];
    for (name, value) in defaults.iter().chain(variables) {
        args.push("--variable".into());
        args.push(format!("{name}={value}"));
    }
    for context in CONTEXTS {
        args.push("--tick".into());
        args.push(format!("http://{context}.spin.internal/admin/recovery"));
    }
    args
}

/// A `wasmshop-spin up` child serving a manifest; killed (SIGKILL) on drop.
pub struct RuntimeProcess {
    binary: PathBuf,
    child: Option<Child>,
    /// What `up` gets besides `--listen`; change it between a kill and a restart.
    pub args: Vec<String>,
    /// Environment of the child besides this process's (e.g. `OTEL_EXPORTER_OTLP_ENDPOINT`).
    pub env: Vec<(String, String)>,
    pub port: u16,
    log: PathBuf,
}

impl RuntimeProcess {
    /// Starts `up` on a free port with `args` (manifest, state dir, variables, ticks) and waits
    /// until `/health` answers through the gateway.
    pub async fn start(args: Vec<String>, log: &Path) -> anyhow::Result<Self> {
        Self::start_binary(runtime_binary()?, args, log).await
    }

    /// Like [`start`](Self::start) with a given `wasmshop-spin` (e.g. a release build).
    pub async fn start_binary(
        binary: PathBuf,
        args: Vec<String>,
        log: &Path,
    ) -> anyhow::Result<Self> {
        Self::launch(binary, args, &[], log).await
    }

    /// Like [`start`](Self::start), with `env` added to the child's environment.
    pub async fn start_with_env(
        args: Vec<String>,
        env: &[(&str, &str)],
        log: &Path,
    ) -> anyhow::Result<Self> {
        Self::launch(runtime_binary()?, args, env, log).await
    }

    async fn launch(
        binary: PathBuf,
        args: Vec<String>,
        env: &[(&str, &str)],
        log: &Path,
    ) -> anyhow::Result<Self> {
        let mut process = Self {
            binary,
            child: None,
            args,
            env: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            port: free_port()?,
            log: log.to_owned(),
        };
        process.spawn().await?;
        Ok(process)
    }

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    async fn spawn(&mut self) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)?;
        let child = Command::new(&self.binary)
            .arg("up")
            .args(&self.args)
            .args(["--listen", &format!("127.0.0.1:{}", self.port)])
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        self.child = Some(child);
        self.wait_ready().await
    }

    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let client = crate::http_client();
        let deadline = Instant::now() + Duration::from_secs(60);
        // The gateway component's answer (the runtime's own health check is elsewhere).
        let url = format!("{}/health", self.base_url());
        while Instant::now() < deadline {
            if let Some(child) = &mut self.child
                && let Some(status) = child.try_wait()?
            {
                anyhow::bail!(
                    "wasmshop-spin exited with {status}; see {}",
                    self.log.display()
                );
            }
            if let Ok(response) = client.get(&url).send().await
                && response.status().is_success()
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        anyhow::bail!(
            "wasmshop-spin not ready in 60 s; see {}",
            self.log.display()
        )
    }

    /// SIGKILL: no shutdown path runs, as when a node dies.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts again with the same arguments and port (same state dir).
    pub async fn restart(&mut self) -> anyhow::Result<Duration> {
        self.kill();
        let started = Instant::now();
        self.spawn().await?;
        Ok(started.elapsed())
    }
}

impl Drop for RuntimeProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
