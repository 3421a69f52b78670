//! Starting and stopping a whole app: what `up` runs, and what tests embed in-process.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::app::{App, RuntimeOptions, check_triggers};
use crate::engine::CacheOutcome;
use crate::manifest::Manifest;
use crate::triggers::http::HttpTrigger;
use crate::triggers::redis::RedisTrigger;

/// A running app; dropping it stops its triggers.
pub struct RunningApp {
    pub app: Arc<App>,
    pub http: Option<Arc<HttpTrigger>>,
    pub redis: Option<Arc<RedisTrigger>>,
    http_addr: Option<SocketAddr>,
    metrics_addr: Option<SocketAddr>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl RunningApp {
    /// Loads `manifest_path` and serves it on `listen` (port 0 picks a free one).
    pub async fn start(
        manifest_path: &Path,
        listen: SocketAddr,
        options: &RuntimeOptions,
        progress: impl FnMut(&str, CacheOutcome),
    ) -> anyhow::Result<Self> {
        let manifest = Manifest::from_file(manifest_path)?;
        Self::start_manifest(manifest, listen, options, progress).await
    }

    pub async fn start_manifest(
        manifest: Manifest,
        listen: SocketAddr,
        options: &RuntimeOptions,
        progress: impl FnMut(&str, CacheOutcome),
    ) -> anyhow::Result<Self> {
        check_triggers(&manifest)?;
        crate::private_fs::prepare_dir(&options.state_dir)
            .with_context(|| format!("creating state dir {}", options.state_dir.display()))?;
        let app = App::load(manifest, options, progress).await?;
        let (stop, stopped) = watch::channel(false);
        let shutdown = move || {
            let mut stopped = stopped.clone();
            async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            }
        };
        let mut tasks = Vec::new();

        let (http, http_addr) = if app.manifest.http_triggers.is_empty() {
            (None, None)
        } else {
            let (trigger, addr, task) = start_http(&app, listen, options, shutdown()).await?;
            tasks.push(task);
            (Some(trigger), Some(addr))
        };

        if !options.ticks.is_empty() {
            tasks.push(start_ticks(&app, http.clone(), options, shutdown())?);
        }

        let mut metrics_addr = None;
        if let Some(addr) = options.metrics_listen {
            let listener = crate::metrics::bind(addr).await?;
            metrics_addr = Some(listener.local_addr()?);
            tasks.push(tokio::spawn(crate::metrics::serve(
                app.metrics.clone(),
                app.sqlite.clone(),
                listener,
                shutdown(),
            )));
        }

        let mut redis = None;
        if !app.manifest.redis_triggers.is_empty() {
            let trigger = RedisTrigger::new(app.clone(), options.redis_queue.clone())?;
            tasks.push(tokio::spawn(trigger.clone().run(shutdown())));
            redis = Some(trigger);
        }

        Ok(Self {
            app,
            http,
            redis,
            http_addr,
            metrics_addr,
            stop,
            tasks,
        })
    }

    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http_addr
    }

    /// Where `/metrics` is served, when asked for.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        for task in self.tasks.drain(..) {
            let _ = task.await;
        }
    }
}

/// Serves the app's HTTP triggers on `listen` until `until` resolves: the trigger, the address
/// it listens on, and its task.
async fn start_http(
    app: &Arc<App>,
    listen: SocketAddr,
    options: &RuntimeOptions,
    until: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<(Arc<HttpTrigger>, SocketAddr, JoinHandle<()>)> {
    let trigger = HttpTrigger::new(app.clone())?;
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    let addr = listener.local_addr()?;
    let serving = trigger.clone();
    let limits = options.http.clone();
    let task = tokio::spawn(async move {
        if let Err(e) = serving.serve(listener, limits, until).await {
            tracing::error!("http trigger stopped: {e:#}");
        }
    });
    Ok((trigger, addr, task))
}

/// Runs `--tick`'s requests through the HTTP trigger until `until` resolves.
fn start_ticks(
    app: &App,
    http: Option<Arc<HttpTrigger>>,
    options: &RuntimeOptions,
    until: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<JoinHandle<()>> {
    let dispatch: Arc<dyn crate::capabilities::outbound_http::ServiceChaining> =
        http.context("--tick needs an HTTP trigger to reach the components")?;
    for tick in &options.ticks {
        if !app.manifest.components.contains_key(&tick.component) {
            anyhow::bail!("--tick: no component `{}` in the manifest", tick.component);
        }
    }
    Ok(tokio::spawn(crate::ticker::run(
        dispatch,
        options.ticks.clone(),
        options.tick_interval,
        until,
    )))
}

impl Drop for RunningApp {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        for task in &self.tasks {
            task.abort();
        }
    }
}
