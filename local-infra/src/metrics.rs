//! Prometheus metrics of the running app, served on a listener of their own
//! (`up --metrics-listen`): what the triggers did (requests, latency, instances, traps, Redis
//! messages) and, read at scrape time from the apps' own SQLite databases, the backlog of the
//! reliable-messaging tables (unsent outbox rows, dead letters) wherever a database has them.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicI64;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;

use crate::capabilities::sqlite::SqliteService;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub component: String,
    pub route: String,
    pub status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ComponentLabels {
    pub component: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MessageLabels {
    pub channel: String,
    pub component: String,
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DatabaseLabels {
    pub database: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DeadLetterLabels {
    pub database: String,
    pub status: String,
}

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    request_seconds: Family<ComponentLabels, Histogram>,
    instances: Family<ComponentLabels, Counter>,
    active_instances: Family<ComponentLabels, Gauge>,
    traps: Family<ComponentLabels, Counter>,
    messages: Family<MessageLabels, Counter>,
    outbox_backlog: Family<DatabaseLabels, Gauge<i64, AtomicI64>>,
    dead_letters: Family<DeadLetterLabels, Gauge<i64, AtomicI64>>,
}

fn latency_histogram() -> Histogram {
    // 50 µs to ~13 s.
    Histogram::new(exponential_buckets(0.000_05, 2.0, 19))
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("wasmshop_runtime");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests served by a component (public and chained), by route and status",
            requests.clone(),
        );
        let request_seconds = Family::<ComponentLabels, Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to a component's response head",
            request_seconds.clone(),
        );
        let instances = Family::<ComponentLabels, Counter>::default();
        registry.register(
            "instances",
            "Instances created (one per request or message)",
            instances.clone(),
        );
        let active_instances = Family::<ComponentLabels, Gauge>::default();
        registry.register(
            "active_instances",
            "Instances alive now",
            active_instances.clone(),
        );
        let traps = Family::<ComponentLabels, Counter>::default();
        registry.register(
            "traps",
            "Requests or messages whose guest trapped or timed out",
            traps.clone(),
        );
        let messages = Family::<MessageLabels, Counter>::default();
        registry.register(
            "redis_messages",
            "Redis trigger messages by channel and outcome",
            messages.clone(),
        );
        let outbox_backlog = Family::<DatabaseLabels, Gauge<i64, AtomicI64>>::default();
        registry.register(
            "outbox_backlog",
            "Outbox rows not yet sent, per SQLite database that has an outbox",
            outbox_backlog.clone(),
        );
        let dead_letters = Family::<DeadLetterLabels, Gauge<i64, AtomicI64>>::default();
        registry.register(
            "dead_letters",
            "Dead letters by status, per SQLite database",
            dead_letters.clone(),
        );
        Self {
            registry,
            requests,
            request_seconds,
            instances,
            active_instances,
            traps,
            messages,
            outbox_backlog,
            dead_letters,
        }
    }
}

/// Counts an instance as alive until dropped.
pub struct InstanceGuard {
    gauge: Gauge,
}

impl Drop for InstanceGuard {
    fn drop(&mut self) {
        self.gauge.dec();
    }
}

fn component(id: &str) -> ComponentLabels {
    ComponentLabels {
        component: id.to_owned(),
    }
}

impl Metrics {
    pub fn instance_started(&self, component_id: &str) -> InstanceGuard {
        let labels = component(component_id);
        self.instances.get_or_create(&labels).inc();
        let gauge = self.active_instances.get_or_create(&labels).clone();
        gauge.inc();
        InstanceGuard { gauge }
    }

    pub fn request_served(&self, component_id: &str, route: &str, status: u16, elapsed: Duration) {
        self.requests
            .get_or_create(&RequestLabels {
                component: component_id.to_owned(),
                route: route.to_owned(),
                status: status.to_string(),
            })
            .inc();
        self.request_seconds
            .get_or_create(&component(component_id))
            .observe(elapsed.as_secs_f64());
    }

    pub fn trapped(&self, component_id: &str) {
        self.traps.get_or_create(&component(component_id)).inc();
    }

    pub fn message_handled(&self, channel: &str, component_id: &str, outcome: &str) {
        self.messages
            .get_or_create(&MessageLabels {
                channel: channel.to_owned(),
                component: component_id.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    /// The text exposition, with the messaging backlog read from `sqlite` now.
    pub fn render(&self, sqlite: &SqliteService) -> String {
        for (label, database) in sqlite.databases() {
            let labels = DatabaseLabels {
                database: label.clone(),
            };
            if let Some(unsent) = database
                .counts("SELECT 'unsent', COUNT(*) FROM outbox WHERE sent_at IS NULL")
                .first()
            {
                self.outbox_backlog.get_or_create(&labels).set(unsent.1);
            }
            for (status, count) in
                database.counts("SELECT status, COUNT(*) FROM dead_letters GROUP BY status")
            {
                self.dead_letters
                    .get_or_create(&DeadLetterLabels {
                        database: label.clone(),
                        status,
                    })
                    .set(count);
            }
        }
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

/// Serves `GET /metrics` on `listener` until `shutdown` resolves.
pub async fn serve(
    metrics: Arc<Metrics>,
    sqlite: Arc<SqliteService>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    tracing::warn!("metrics accept failed: {e}");
                    // Out of file descriptors, an immediate retry fails the same way.
                    if crate::triggers::connections::accept_needs_backoff(&e) {
                        tokio::select! {
                            () = tokio::time::sleep(crate::triggers::connections::ACCEPT_BACKOFF) => {}
                            () = &mut shutdown => return,
                        }
                    }
                    continue;
                }
            },
            () = &mut shutdown => return,
        };
        let (metrics, sqlite) = (metrics.clone(), sqlite.clone());
        tokio::spawn(async move {
            let service =
                hyper::service::service_fn(move |request: http::Request<hyper::body::Incoming>| {
                    let (metrics, sqlite) = (metrics.clone(), sqlite.clone());
                    async move {
                        if request.uri().path() == "/metrics" {
                            // SQLite reads block; keep them off the async workers.
                            let text = tokio::task::spawn_blocking(move || metrics.render(&sqlite))
                                .await
                                .unwrap_or_default();
                            http::Response::builder()
                                .header(
                                    "content-type",
                                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                                )
                                .body(Full::new(Bytes::from(text)))
                        } else {
                            http::Response::builder()
                                .status(404)
                                .body(Full::new(Bytes::from_static(b"Not Found")))
                        }
                    }
                });
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!("metrics connection ended: {e}");
            }
        });
    }
}

/// Binds the metrics listener (so a taken port fails startup, not the first scrape).
pub async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("metrics listener {addr}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_and_gauges_show_in_the_exposition() {
        let metrics = Metrics::default();
        {
            let _alive = metrics.instance_started("orders");
            metrics.request_served("orders", "/...", 202, Duration::from_millis(3));
        }
        metrics.trapped("orders");
        metrics.message_handled("payments.events", "orders", "ok");
        let text = metrics.render(&SqliteService::default());
        for expected in [
            r#"wasmshop_runtime_http_requests_total{component="orders",route="/...",status="202"} 1"#,
            r#"wasmshop_runtime_instances_total{component="orders"} 1"#,
            r#"wasmshop_runtime_active_instances{component="orders"} 0"#,
            r#"wasmshop_runtime_traps_total{component="orders"} 1"#,
            r#"wasmshop_runtime_redis_messages_total{channel="payments.events",component="orders",outcome="ok"} 1"#,
            r#"wasmshop_runtime_http_request_duration_seconds_count{component="orders"} 1"#,
        ] {
            assert!(text.contains(expected), "missing `{expected}` in:\n{text}");
        }
    }
}
