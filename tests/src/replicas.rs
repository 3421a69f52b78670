//! A local replica topology (issue #17): N `wasmshop-spin up` processes serving the same
//! `spin.toml` with the same runtime config, behind HAProxy (round-robin, health-checked on
//! `/health`, `deploy/haproxy/haproxy.cfg.template`). They share one Redis, which also holds
//! the key-value store, and the contexts' SQLite files in WAL mode, standing in for SpinKube's
//! pods on a shared libSQL; each replica keeps a state dir of its own, as a pod keeps its disk,
//! so nothing is shared by accident.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use local_infra_testing::{RedisServer, free_port};

use crate::process::{RuntimeProcess, up_args};

/// How often each replica sends its recovery ticks.
pub const TICK_INTERVAL_MS: u64 = 500;
/// The lease a tick asks for: a little under the interval, as `scripts/up.sh` does, so that
/// however many replicas tick, one pass per context runs per interval.
pub const TICK_LEASE_MS: u64 = TICK_INTERVAL_MS * 3 / 4;

/// The HAProxy configuration's template, filled by [`balancer_config`] and by
/// `scripts/up-replicas.sh`.
pub const BALANCER_TEMPLATE: &str = "deploy/haproxy/haproxy.cfg.template";

/// The replicas, their Redis and the balancer; everything is stopped on drop.
pub struct Fleet {
    pub redis: RedisServer,
    replicas: Vec<RuntimeProcess>,
    metrics_ports: Vec<u16>,
    balancer: Option<Child>,
    balancer_port: u16,
    root: tempfile::TempDir,
}

impl Fleet {
    /// Builds the app, starts Redis, `count` replicas (each with the recovery ticks of every
    /// context and a metrics listener) and HAProxy, and returns once the balancer answers
    /// `/health`. `variables` come after the harness's (see [`up_args`]).
    pub async fn start(count: usize, variables: &[(&str, &str)]) -> anyhow::Result<Self> {
        anyhow::ensure!(count >= 1, "a fleet needs at least one replica");
        crate::build_app()?;
        let redis = RedisServer::start()?;
        let mut root = tempfile::tempdir()?;
        if std::env::var_os("WASMSHOP_KEEP_STATE").is_some() {
            root.disable_cleanup(true);
            eprintln!("fleet state kept: {}", root.path().display());
        }
        let shared = root.path().join("shared");
        // One runtime config for the whole fleet, which `up_args` writes in the state dir it is
        // given: each SQLite label a file in `shared/`; then the key-value store on Redis.
        let base = up_args(&shared, &redis.url(), variables);
        append_key_value_on_redis(&shared.join("runtime-config.toml"), &redis.url())?;
        // The harness's compiled-component cache (the key includes the Wasm's bytes): a debug
        // runtime takes long to compile the components, so not once per replica and run.
        let cache = crate::compile_cache_dir();
        std::fs::create_dir_all(&cache)?;
        let mut replicas = Vec::with_capacity(count);
        let mut metrics_ports = Vec::with_capacity(count);
        let mut pending = Vec::with_capacity(count);
        for index in 0..count {
            let state = root.path().join(format!("replica-{index}"));
            std::fs::create_dir_all(&state)?;
            std::os::unix::fs::symlink(&cache, state.join("cache"))?;
            let metrics_port = free_port()?;
            metrics_ports.push(metrics_port);
            let args = replica_args(&base, &state, metrics_port);
            pending.push((args, root.path().join(format!("replica-{index}.log"))));
        }
        let mut pending = pending.into_iter();
        if let Some((args, log)) = pending.next() {
            // The first one alone: it fills the cache, should it be empty, for the others.
            replicas.push(RuntimeProcess::start(args, &log).await?);
        }
        let others =
            pending.map(|(args, log)| async move { RuntimeProcess::start(args, &log).await });
        replicas.extend(futures_util::future::try_join_all(others).await?);
        let mut fleet = Self {
            redis,
            replicas,
            metrics_ports,
            balancer: None,
            balancer_port: free_port()?,
            root,
        };
        fleet.start_balancer().await?;
        Ok(fleet)
    }

    async fn start_balancer(&mut self) -> anyhow::Result<()> {
        let template = std::fs::read_to_string(crate::workspace_root().join(BALANCER_TEMPLATE))?;
        let ports: Vec<u16> = self.replicas.iter().map(|r| r.port).collect();
        let config = self.root.path().join("haproxy.cfg");
        std::fs::write(
            &config,
            balancer_config(
                &template,
                &format!("127.0.0.1:{}", self.balancer_port),
                &ports,
            ),
        )?;
        let log_path = self.root.path().join("haproxy.log");
        let log = std::fs::File::create(&log_path)?;
        let child = Command::new("haproxy")
            .arg("-db")
            .arg("-f")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .map_err(|e| {
                anyhow::anyhow!("starting haproxy ({e}); scripts/ensure-test-tools.sh installs it")
            })?;
        self.balancer = Some(child);
        let http = crate::http_client();
        let url = self.url("/health");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(child) = &mut self.balancer
                && let Some(status) = child.try_wait()?
            {
                anyhow::bail!("haproxy exited with {status}; see {}", log_path.display());
            }
            if let Ok(response) = http.get(&url).send().await
                && response.status().is_success()
            {
                return Ok(());
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "haproxy not answering in 10 s; see {}",
                log_path.display()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// `path` on the balancer.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.balancer_port)
    }

    /// Replica `index`'s own address, bypassing the balancer.
    pub fn replica_url(&self, index: usize) -> String {
        self.replicas[index].base_url()
    }

    pub fn len(&self) -> usize {
        self.replicas.len()
    }

    pub fn is_empty(&self) -> bool {
        self.replicas.is_empty()
    }

    /// Where the contexts' SQLite files are (`<context>.db`), for the invariant checker.
    pub fn shared_dir(&self) -> PathBuf {
        self.root.path().join("shared")
    }

    /// SIGKILL to replica `index`: no shutdown path runs, as when a node dies.
    pub fn kill(&mut self, index: usize) {
        self.replicas[index].kill();
    }

    /// Starts replica `index` again on its port and state dir; the time until it served.
    pub async fn restart(&mut self, index: usize) -> anyhow::Result<Duration> {
        self.replicas[index].restart().await
    }

    /// Requests answered 202 per component, summed over the replicas that answer: a
    /// consumer's `/events` answers a push with 202, whether it applied the event or found it
    /// a duplicate (orders also answers its checkouts and cancellations with 202; no other
    /// context's API does).
    pub async fn accepted_requests(
        &self,
        http: &reqwest::Client,
    ) -> anyhow::Result<BTreeMap<String, u64>> {
        let mut total = BTreeMap::new();
        for port in &self.metrics_ports {
            let Ok(response) = http
                .get(format!("http://127.0.0.1:{port}/metrics"))
                .send()
                .await
            else {
                continue;
            };
            for (component, count) in accepted_by_component(&response.text().await?) {
                *total.entry(component).or_default() += count;
            }
        }
        Ok(total)
    }

    /// Events `context` applied: its inbox holds one row per event id, however often it came.
    pub fn applied_events(&self, context: &str) -> anyhow::Result<u64> {
        let conn = rusqlite::Connection::open_with_flags(
            self.shared_dir().join(format!("{context}.db")),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )?;
        let count: i64 = conn.query_row("SELECT COUNT(*) FROM inbox", [], |row| row.get(0))?;
        Ok(u64::try_from(count)?)
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        if let Some(mut balancer) = self.balancer.take() {
            let _ = balancer.kill();
            let _ = balancer.wait();
        }
        for replica in &mut self.replicas {
            replica.kill();
        }
    }
}

/// A replica's `up` arguments: the fleet's (`base`, from [`up_args`]: manifest, variables,
/// shared runtime config) with the replica's own state dir, a metrics listener, and recovery
/// ticks that ask for a lease.
fn replica_args(base: &[String], state: &Path, metrics_port: u16) -> Vec<String> {
    // `up_args` gives nothing but `--flag value` pairs.
    let mut args: Vec<String> = base
        .chunks_exact(2)
        .filter(|pair| {
            !matches!(
                pair[0].as_str(),
                "--state-dir" | "--tick" | "--tick-interval"
            )
        })
        .flatten()
        .cloned()
        .collect();
    args.extend([
        "--state-dir".into(),
        state.display().to_string(),
        "--metrics-listen".into(),
        format!("127.0.0.1:{metrics_port}"),
        "--tick-interval".into(),
        format!("{TICK_INTERVAL_MS}ms"),
    ]);
    for context in crate::CONTEXTS {
        args.push("--tick".into());
        args.push(format!(
            "http://{context}.spin.internal/admin/recovery?lease_ms={TICK_LEASE_MS}"
        ));
    }
    args
}

/// The default key-value store on Redis (without it each replica would keep its own SQLite
/// store under its state dir, and orders' cached shipping quotes would differ per replica).
fn append_key_value_on_redis(config: &Path, redis: &str) -> anyhow::Result<()> {
    let mut text = std::fs::read_to_string(config)?;
    text.push_str(&format!(
        "[key_value_store.default]\ntype = \"redis\"\nurl = \"{redis}\"\n"
    ));
    std::fs::write(config, text)?;
    Ok(())
}

/// The balancer's configuration: `template` with `@LISTEN@` and one `server` line per replica
/// port in place of `@SERVERS@`.
pub fn balancer_config(template: &str, listen: &str, ports: &[u16]) -> String {
    let servers: Vec<String> = ports
        .iter()
        .enumerate()
        .map(|(index, port)| format!("    server replica-{index} 127.0.0.1:{port}"))
        .collect();
    template
        .replace("@LISTEN@", listen)
        .replace("@SERVERS@", &servers.join("\n"))
}

/// `wasmshop_runtime_http_requests_total` samples with status 202, summed per component.
fn accepted_by_component(metrics: &str) -> BTreeMap<String, u64> {
    let mut total = BTreeMap::new();
    for sample in metrics
        .lines()
        .filter(|line| line.starts_with("wasmshop_runtime_http_requests_total{"))
        .filter(|line| line.contains("status=\"202\""))
    {
        let component = label(sample, "component");
        let count = sample
            .rsplit(' ')
            .next()
            .and_then(|n| n.parse::<f64>().ok());
        if let (Some(component), Some(count)) = (component, count) {
            // Counters are whole numbers printed as floats.
            *total.entry(component.to_owned()).or_default() += count as u64;
        }
    }
    total
}

/// The value of `name` in a Prometheus sample's labels.
fn label<'a>(sample: &'a str, name: &str) -> Option<&'a str> {
    let start = sample.find(&format!("{name}=\""))? + name.len() + 2;
    let rest = &sample[start..];
    Some(&rest[..rest.find('"')?])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_balancer_lists_every_replica_and_listens_where_asked() {
        let config = balancer_config("bind @LISTEN@\n@SERVERS@\n", "127.0.0.1:9", &[7001, 7002]);
        assert_eq!(
            config,
            "bind 127.0.0.1:9\n    server replica-0 127.0.0.1:7001\n    server replica-1 127.0.0.1:7002\n"
        );
    }

    #[test]
    fn the_template_has_both_placeholders() {
        let template = std::fs::read_to_string(crate::workspace_root().join(BALANCER_TEMPLATE))
            .expect("template");
        for placeholder in ["@LISTEN@", "@SERVERS@"] {
            assert_eq!(template.matches(placeholder).count(), 1, "{placeholder}");
        }
        assert!(template.contains("option httpchk GET /health"));
        assert!(template.contains("balance roundrobin"));
    }

    #[test]
    fn accepted_requests_are_summed_per_component() {
        let metrics = "\
# TYPE wasmshop_runtime_http_requests_total counter
wasmshop_runtime_http_requests_total{component=\"orders\",route=\"private\",status=\"202\"} 7
wasmshop_runtime_http_requests_total{component=\"orders\",route=\"private\",status=\"200\"} 40
wasmshop_runtime_http_requests_total{component=\"catalog\",route=\"private\",status=\"202\"} 3
wasmshop_runtime_instances_total{component=\"orders\"} 99
";
        let accepted = accepted_by_component(metrics);
        assert_eq!(
            accepted,
            BTreeMap::from([("catalog".to_owned(), 3), ("orders".to_owned(), 7)])
        );
    }

    #[test]
    fn replica_args_take_the_replicas_state_dir_and_leased_ticks() {
        let base: Vec<String> = [
            "--from",
            "spin.toml",
            "--state-dir",
            "/shared",
            "--tick-interval",
            "200ms",
            "--runtime-config-file",
            "/shared/runtime-config.toml",
            "--variable",
            "a=b",
            "--tick",
            "http://orders.spin.internal/admin/recovery",
        ]
        .map(str::to_owned)
        .to_vec();
        let args = replica_args(&base, Path::new("/r0"), 9100);
        let values = |flag: &str| -> Vec<&str> {
            args.chunks_exact(2)
                .filter(|pair| pair[0] == flag)
                .map(|pair| pair[1].as_str())
                .collect()
        };
        assert_eq!(values("--state-dir"), ["/r0"]);
        assert_eq!(
            values("--runtime-config-file"),
            ["/shared/runtime-config.toml"]
        );
        assert_eq!(values("--variable"), ["a=b"]);
        assert_eq!(values("--tick-interval"), ["500ms"]);
        assert_eq!(values("--metrics-listen"), ["127.0.0.1:9100"]);
        let ticks = values("--tick");
        assert_eq!(ticks.len(), crate::CONTEXTS.len());
        assert!(
            ticks
                .iter()
                .all(|t| t.ends_with("/admin/recovery?lease_ms=375")),
            "{ticks:?}"
        );
    }
}
