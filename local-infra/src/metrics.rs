//! Prometheus metrics of the running app, served on a listener of their own
//! (`up --metrics-listen`): what the triggers did (requests, latency, instances, traps, Redis
//! messages and reconnects) and, read at scrape time from the apps' own SQLite databases, the
//! backlog of the reliable-messaging tables (unsent outbox rows, dead letters) and the sagas
//! stuck past their deadline, wherever a database has them. The alert rules and the dashboard
//! over them are in `deploy/prometheus/` and `deploy/grafana/`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicI64;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

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
pub struct AddressLabels {
    pub address: String,
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
    redis_reconnects: Family<AddressLabels, Counter>,
    outbox_backlog: Family<DatabaseLabels, Gauge<i64, AtomicI64>>,
    dead_letters: Family<DeadLetterLabels, Gauge<i64, AtomicI64>>,
    stuck_sagas: Family<DatabaseLabels, Gauge<i64, AtomicI64>>,
}

/// The `outcome` of a Redis trigger message.
pub mod outcome {
    pub const OK: &str = "ok";
    /// The handler failed, trapped or timed out.
    pub const ERROR: &str = "error";
    /// The trigger's bounded queue was full.
    pub const DROPPED: &str = "dropped";
}

/// Dead letter statuses (wasmshop-kit's `dead_letters::status`), shown at 0 while no row has
/// them: a status whose last row moved on must read 0, not keep its last count.
const DEAD_LETTER_STATUSES: [&str; 4] = ["retrying", "dead", "resolved", "discarded"];

/// How long past its step's deadline a saga counts as stuck. The recovery tick advances a due
/// saga on its next pass (every 2 s under `scripts/up.sh`, every minute from the SpinKube
/// CronJob), so only a tick that no longer runs, or fails on that saga, leaves it this late.
pub const STUCK_SAGA_GRACE: Duration = Duration::from_secs(120);

/// Registers `metric` and gives it back, for the runtime to update.
fn registered<M: prometheus_client::registry::Metric + Clone>(
    registry: &mut Registry,
    name: &str,
    help: impl Into<String>,
    metric: M,
) -> M {
    registry.register(name, help, metric.clone());
    metric
}

fn latency_histogram() -> Histogram {
    // 50 µs to ~13 s.
    Histogram::new(exponential_buckets(0.000_05, 2.0, 19))
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("wasmshop_runtime");
        Self {
            requests: registered(
                &mut registry,
                "http_requests",
                "HTTP requests served by a component (public and chained), by route and status",
                Family::default(),
            ),
            request_seconds: registered(
                &mut registry,
                "http_request_duration_seconds",
                "Time to a component's response head",
                Family::<ComponentLabels, Histogram>::new_with_constructor(
                    latency_histogram as fn() -> Histogram,
                ),
            ),
            instances: registered(
                &mut registry,
                "instances",
                "Instances created (one per request or message)",
                Family::default(),
            ),
            active_instances: registered(
                &mut registry,
                "active_instances",
                "Instances alive now",
                Family::default(),
            ),
            traps: registered(
                &mut registry,
                "traps",
                "Requests or messages whose guest trapped or timed out",
                Family::default(),
            ),
            messages: registered(
                &mut registry,
                "redis_messages",
                "Redis trigger messages by channel and outcome",
                Family::default(),
            ),
            redis_reconnects: registered(
                &mut registry,
                "redis_reconnects",
                "Redis trigger subscriptions that ended or failed to open and are retried, by server address",
                Family::default(),
            ),
            outbox_backlog: registered(
                &mut registry,
                "outbox_backlog",
                "Outbox rows not yet sent, per SQLite database that has an outbox",
                Family::default(),
            ),
            dead_letters: registered(
                &mut registry,
                "dead_letters",
                "Dead letters by status, per SQLite database",
                Family::default(),
            ),
            stuck_sagas: registered(
                &mut registry,
                "stuck_sagas",
                format!(
                    "Sagas not done whose step deadline passed over {} s ago, per SQLite database that has sagas",
                    STUCK_SAGA_GRACE.as_secs()
                ),
                Family::default(),
            ),
            registry,
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
    /// Metrics with each component's counters and gauges there at zero from the start: an
    /// `increase()` over a series that first appears at 1 misses that first trap or instance.
    pub fn for_components<'a>(component_ids: impl IntoIterator<Item = &'a String>) -> Self {
        let metrics = Self::default();
        for id in component_ids {
            let labels = component(id);
            drop(metrics.instances.get_or_create(&labels));
            drop(metrics.active_instances.get_or_create(&labels));
            drop(metrics.traps.get_or_create(&labels));
        }
        metrics
    }

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

    /// Makes the series of `component_id`'s messages on `channel` exist at 0, for every
    /// outcome, before the first message.
    pub fn redis_subscriber(&self, channel: &str, component_id: &str) {
        for outcome in [outcome::OK, outcome::ERROR, outcome::DROPPED] {
            drop(self.messages.get_or_create(&MessageLabels {
                channel: channel.to_owned(),
                component: component_id.to_owned(),
                outcome: outcome.to_owned(),
            }));
        }
    }

    /// The reconnect counter of the Redis trigger's subscription to `address` (shown without
    /// its password). Taken when the subscription starts, so the series is there at zero before
    /// the first reconnect, as `increase()` needs it to see that one.
    pub fn redis_reconnects(&self, address: &str) -> Counter {
        self.redis_reconnects
            .get_or_create(&AddressLabels {
                address: address.to_owned(),
            })
            .clone()
    }

    /// The text exposition, with the messaging backlog and the stuck sagas read from `sqlite`
    /// now.
    pub fn render(&self, sqlite: &SqliteService) -> String {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_millis());
        let stuck_before_ms =
            i64::try_from(now_ms.saturating_sub(STUCK_SAGA_GRACE.as_millis())).unwrap_or(i64::MAX);
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
            let zeros: String = DEAD_LETTER_STATUSES
                .iter()
                .map(|status| format!(" UNION ALL SELECT '{status}', 0"))
                .collect();
            for (status, count) in database.counts(&format!(
                "SELECT status, SUM(n) FROM (SELECT status, 1 AS n FROM dead_letters{zeros}) GROUP BY status"
            )) {
                self.dead_letters
                    .get_or_create(&DeadLetterLabels {
                        database: label.clone(),
                        status,
                    })
                    .set(count);
            }
            // The same test as orders' `due_sagas`, shifted back by the grace.
            if let Some(stuck) = database
                .counts(&format!(
                    "SELECT 'stuck', COUNT(*) FROM sagas WHERE stage != 'done' AND due_ms <= {stuck_before_ms}"
                ))
                .first()
            {
                self.stuck_sagas.get_or_create(&labels).set(stuck.1);
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
    use std::path::Path;

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

    #[test]
    fn every_component_starts_with_zero_instances_and_traps() {
        let ids = ["gateway".to_owned(), "orders".to_owned()];
        let text = Metrics::for_components(&ids).render(&SqliteService::default());
        for id in ids {
            for expected in [
                format!(r#"wasmshop_runtime_instances_total{{component="{id}"}} 0"#),
                format!(r#"wasmshop_runtime_active_instances{{component="{id}"}} 0"#),
                format!(r#"wasmshop_runtime_traps_total{{component="{id}"}} 0"#),
            ] {
                assert!(text.contains(&expected), "missing `{expected}` in:\n{text}");
            }
        }
    }

    #[test]
    fn redis_reconnects_count_from_zero_per_address() {
        let metrics = Metrics::default();
        let reconnects = metrics.redis_reconnects("redis://127.0.0.1:6379");
        let series = r#"wasmshop_runtime_redis_reconnects_total{address="redis://127.0.0.1:6379"}"#;
        let text = metrics.render(&SqliteService::default());
        assert!(text.contains(&format!("{series} 0")), "{text}");
        reconnects.inc();
        metrics.redis_reconnects("redis://127.0.0.1:6379").inc();
        let text = metrics.render(&SqliteService::default());
        assert!(text.contains(&format!("{series} 2")), "{text}");
    }

    #[test]
    fn a_redis_subscriber_has_every_outcome_from_zero() {
        let metrics = Metrics::default();
        metrics.redis_subscriber("orders.events", "notifications-subscriber");
        metrics.message_handled("orders.events", "notifications-subscriber", outcome::OK);
        let text = metrics.render(&SqliteService::default());
        for (outcome, count) in [(outcome::OK, 1), (outcome::ERROR, 0), (outcome::DROPPED, 0)] {
            let expected = format!(
                r#"wasmshop_runtime_redis_messages_total{{channel="orders.events",component="notifications-subscriber",outcome="{outcome}"}} {count}"#
            );
            assert!(text.contains(&expected), "missing `{expected}` in:\n{text}");
        }
    }

    /// A service over `labels`' databases, each a file in `state`.
    fn databases(state: &Path, labels: &[&str]) -> SqliteService {
        let configured = labels
            .iter()
            .map(|label| ((*label).to_owned(), state.join(format!("{label}.db"))))
            .collect();
        SqliteService::open(std::iter::empty(), &configured, state).expect("open")
    }

    #[test]
    fn a_dead_letter_status_no_row_has_any_more_reads_zero() {
        let state = tempfile::tempdir().expect("state dir");
        let sqlite = databases(state.path(), &["payments"]);
        let payments =
            rusqlite::Connection::open(state.path().join("payments.db")).expect("payments");
        payments
            .execute_batch(
                "CREATE TABLE dead_letters (id TEXT PRIMARY KEY, status TEXT NOT NULL);
                 INSERT INTO dead_letters VALUES ('a', 'dead'), ('b', 'dead'), ('c', 'retrying');",
            )
            .expect("dead letters");
        let metrics = Metrics::default();
        let series = |status: &str| {
            format!(r#"wasmshop_runtime_dead_letters{{database="payments",status="{status}"}}"#)
        };
        let text = metrics.render(&sqlite);
        for (status, count) in [
            ("dead", 2),
            ("retrying", 1),
            ("resolved", 0),
            ("discarded", 0),
        ] {
            assert!(
                text.contains(&format!("{} {count}", series(status))),
                "{text}"
            );
        }

        payments
            .execute_batch("UPDATE dead_letters SET status = 'discarded' WHERE status = 'dead'")
            .expect("discard");
        let text = metrics.render(&sqlite);
        for (status, count) in [("dead", 0), ("retrying", 1), ("discarded", 2)] {
            assert!(
                text.contains(&format!("{} {count}", series(status))),
                "{text}"
            );
        }
    }

    #[test]
    fn stuck_sagas_are_the_ones_long_past_their_deadline() {
        let state = tempfile::tempdir().expect("state dir");
        let sqlite = databases(state.path(), &["orders", "catalog"]);
        let orders = rusqlite::Connection::open(state.path().join("orders.db")).expect("orders");
        orders
            .execute_batch("CREATE TABLE sagas (order_id TEXT PRIMARY KEY, stage TEXT NOT NULL, due_ms INTEGER NOT NULL)")
            .expect("schema");
        let now_ms = i64::try_from(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .expect("after 1970")
                .as_millis(),
        )
        .expect("fits");
        let grace_ms = i64::try_from(STUCK_SAGA_GRACE.as_millis()).expect("fits");
        for (order_id, stage, due_ms) in [
            (
                "stuck-forward",
                "authorize_payment",
                now_ms - grace_ms - 60_000,
            ),
            ("stuck-undoing", "release_stock", now_ms - 2 * grace_ms),
            ("due-now", "reserve_stock", now_ms - 1_000),
            ("waiting", "create_shipment", now_ms + 5_000),
            ("finished", "done", now_ms - 10 * grace_ms),
        ] {
            orders
                .execute(
                    "INSERT INTO sagas VALUES (?1, ?2, ?3)",
                    rusqlite::params![order_id, stage, due_ms],
                )
                .expect("insert");
        }
        rusqlite::Connection::open(state.path().join("catalog.db"))
            .and_then(|catalog| catalog.execute_batch("CREATE TABLE products (id TEXT)"))
            .expect("catalog");

        let text = Metrics::default().render(&sqlite);
        assert!(
            text.contains(r#"wasmshop_runtime_stuck_sagas{database="orders"} 2"#),
            "{text}"
        );
        assert!(
            !text.contains(r#"wasmshop_runtime_stuck_sagas{database="catalog"}"#),
            "a database without sagas has no series: {text}"
        );
    }
}
