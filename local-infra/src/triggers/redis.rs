//! The Redis trigger: subscribes to every channel in the manifest and calls the component's
//! `fermyon:spin/inbound-redis` export once per message, each in a fresh instance.
//!
//! As Spin's (`crates/trigger-redis`): per server address one subscriber connection for all of
//! that address's channels, and its messages handled one at a time, in arrival order. For one
//! message, every component on its channel runs concurrently, and the next message waits until
//! all of them have finished. A handler that fails or traps is logged and its message dropped:
//! no retry. Apps written for Spin may rely on this order: a later message of an address never
//! overtakes an earlier one, whatever their channels.
//!
//! Unlike Spin, a dropped connection is re-established with capped exponential backoff, so a
//! Redis restart does not silently end the subscription. Messages published while the
//! subscription is down are lost, as with any pub/sub; the app's own outbox covers that. This
//! changes nothing about how the messages that do arrive are handled. Each retry counts in
//! `wasmshop_runtime_redis_reconnects_total`, which the `WasmshopRedisTriggerReconnecting`
//! alert watches.
//!
//! Also unlike Spin, what waits for the handler is bounded ([`RedisQueueLimits`]): redis-rs
//! reads a subscription into an unbounded buffer as fast as Redis sends, so behind a slow
//! handler Spin's memory grows without limit. Here messages that do not fit are dropped, as
//! pub/sub may drop them anyway, counted (`outcome="dropped"`) and logged once per overflow.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::StreamExt;
use tokio::task::JoinSet;

use crate::app::{App, LoadedComponent};
use crate::bindings::redis_handler::RedisHandlerPre;
use crate::bindings::redis_handler::fermyon::spin::redis_types::Error as HandlerError;
use crate::capabilities::outbound_networking::redact_credentials;
use crate::metrics::outcome;
use crate::state::InstanceState;

/// One component on one channel.
struct Subscriber {
    channel: String,
    component: Arc<LoadedComponent>,
    handler: RedisHandlerPre<InstanceState>,
}

pub struct RedisTrigger {
    app: Arc<App>,
    /// Subscriptions grouped by server address.
    servers: BTreeMap<String, Vec<Subscriber>>,
    limits: RedisQueueLimits,
}

/// How much of one address's traffic may wait, received, while a message is handled: at most
/// `messages` messages and `bytes` bytes of channel names and payloads.
#[derive(Debug, Clone)]
pub struct RedisQueueLimits {
    pub messages: usize,
    pub bytes: usize,
}

impl Default for RedisQueueLimits {
    fn default() -> Self {
        Self {
            messages: 10_000,
            bytes: 64 << 20,
        }
    }
}

const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

impl RedisTrigger {
    pub fn new(app: Arc<App>, limits: RedisQueueLimits) -> anyhow::Result<Arc<Self>> {
        let mut servers: BTreeMap<String, Vec<Subscriber>> = BTreeMap::new();
        for trigger in &app.manifest.redis_triggers {
            let component = app
                .component(&trigger.component)
                .ok_or_else(|| anyhow::anyhow!("component `{}` is not loaded", trigger.component))?
                .clone();
            let handler = RedisHandlerPre::new(component.pre.clone()).map_err(|e| {
                anyhow::anyhow!(
                    "component `{}` is on a Redis trigger but does not export fermyon:spin/inbound-redis: {e}",
                    component.id
                )
            })?;
            let address = app
                .manifest
                .redis_address_for(trigger)
                .map(|a| app.variables.render(a))
                .transpose()
                .map_err(|e| anyhow::anyhow!("redis trigger `{}`: {e}", trigger.channel))?
                .ok_or_else(|| {
                    anyhow::anyhow!("redis trigger `{}` has no address", trigger.channel)
                })?;
            servers.entry(address).or_default().push(Subscriber {
                channel: trigger.channel.clone(),
                component,
                handler,
            });
        }
        Ok(Arc::new(Self {
            app,
            servers,
            limits,
        }))
    }

    /// `(address, channel, component)` for every subscription, the address as it may be shown:
    /// its password redacted.
    pub fn subscriptions(&self) -> Vec<(String, String, String)> {
        self.servers
            .iter()
            .flat_map(|(address, subs)| {
                let shown = redact_credentials(address);
                subs.iter()
                    .map(move |s| (shown.clone(), s.channel.clone(), s.component.id.clone()))
            })
            .collect()
    }

    /// Runs every subscription until `shutdown` resolves.
    pub async fn run(self: Arc<Self>, shutdown: impl Future<Output = ()> + Send) {
        let mut tasks = JoinSet::new();
        for address in self.servers.keys().cloned() {
            tasks.spawn(self.clone().subscribe_forever(address));
        }
        shutdown.await;
        tasks.abort_all();
    }

    async fn subscribe_forever(self: Arc<Self>, address: String) {
        let shown = redact_credentials(&address);
        let reconnects = self.app.metrics.redis_reconnects(&shown);
        for subscriber in &self.servers[&address] {
            self.app
                .metrics
                .redis_subscriber(&subscriber.channel, &subscriber.component.id);
        }
        let mut backoff = MIN_BACKOFF;
        loop {
            match self.subscribe_once(&address, &mut backoff).await {
                Ok(()) => {
                    tracing::warn!(address = %shown, "redis subscription ended; reconnecting")
                }
                Err(e) => {
                    tracing::warn!(address = %shown, "redis subscription failed: {e}; retrying in {backoff:?}")
                }
            }
            reconnects.inc();
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    async fn subscribe_once(&self, address: &str, backoff: &mut Duration) -> anyhow::Result<()> {
        let client = redis::Client::open(address)?;
        let mut pubsub = client.get_async_pubsub().await?;
        let subscribers = &self.servers[address];
        let channels: BTreeSet<&str> = subscribers.iter().map(|s| s.channel.as_str()).collect();
        for channel in &channels {
            pubsub.subscribe(*channel).await?;
        }
        let shown = redact_credentials(address);
        tracing::info!(address = %shown, channels = channels.len(), "redis trigger subscribed");
        *backoff = MIN_BACKOFF;
        let mut messages = pubsub.on_message();
        // redis-rs buffers whatever arrives, without limit, until it is taken; so it is taken at
        // once, into a queue of our own that is bounded, and handled from there one at a time.
        let (queue, mut queued) =
            tokio::sync::mpsc::channel::<redis::Msg>(self.limits.messages.max(1));
        let queued_bytes = AtomicUsize::new(0);
        let receive = async {
            // Owned here, so that it is dropped when the subscription ends.
            let queue = queue;
            let mut dropped = 0u64;
            while let Some(message) = messages.next().await {
                let size = message_size(&message);
                let fits = queued_bytes.load(Ordering::Relaxed) + size <= self.limits.bytes;
                let refused = if fits {
                    // Counted before it can be taken, so the handler's decrement never underflows.
                    queued_bytes.fetch_add(size, Ordering::Relaxed);
                    match queue.try_send(message) {
                        Ok(()) => None,
                        Err(e) => {
                            queued_bytes.fetch_sub(size, Ordering::Relaxed);
                            Some(e.into_inner())
                        }
                    }
                } else {
                    Some(message)
                };
                match refused {
                    None if dropped > 0 => {
                        tracing::warn!(address = %shown, dropped, "redis trigger queue drained; messages dropped while it was full");
                        dropped = 0;
                    }
                    None => {}
                    Some(message) => {
                        if dropped == 0 {
                            tracing::warn!(
                                address = %shown,
                                messages = self.limits.messages,
                                bytes = self.limits.bytes,
                                "redis trigger queue full: dropping messages until the handlers catch up"
                            );
                        }
                        dropped += 1;
                        self.count_dropped(subscribers, message.get_channel_name());
                    }
                }
            }
        };
        let handle = async {
            while let Some(message) = queued.recv().await {
                queued_bytes.fetch_sub(message_size(&message), Ordering::Relaxed);
                let channel = message.get_channel_name();
                let payload = message.get_payload_bytes();
                let handlers = subscribers
                    .iter()
                    .filter(|s| s.channel == channel)
                    .map(|subscriber| self.dispatch(subscriber, payload.to_vec()));
                futures::future::join_all(handlers).await;
            }
        };
        // When the subscription ends, `handle` still handles what was received, then returns.
        futures::future::join(receive, handle).await;
        Ok(())
    }

    fn count_dropped(&self, subscribers: &[Subscriber], channel: &str) {
        for subscriber in subscribers.iter().filter(|s| s.channel == channel) {
            self.app
                .metrics
                .message_handled(channel, &subscriber.component.id, outcome::DROPPED);
        }
    }

    /// Handles one message for one component; a failure is logged and counted, never retried.
    async fn dispatch(&self, subscriber: &Subscriber, payload: Vec<u8>) {
        let (app, component, channel) = (&self.app, &subscriber.component, &subscriber.channel);
        let mut span = crate::telemetry::redis_message_span(&component.id, channel);
        let delivered = deliver(app, component, &subscriber.handler, payload).await;
        if let (Some(span), Err(e)) = (&mut span, &delivered) {
            span.set_error(e.to_string());
        }
        let label = if delivered.is_ok() {
            outcome::OK
        } else {
            outcome::ERROR
        };
        app.metrics.message_handled(channel, &component.id, label);
        if let Err(e) = delivered {
            app.metrics.trapped(&component.id);
            tracing::error!(
                %channel,
                component = %component.id,
                "redis message handler failed: {e}"
            );
        }
    }
}

/// What a queued message costs: its payload and its channel's name.
fn message_size(message: &redis::Msg) -> usize {
    message.get_payload_bytes().len() + message.get_channel_name().len()
}

/// Calls the handler for one message in a fresh instance.
pub async fn deliver(
    app: &App,
    component: &LoadedComponent,
    handler: &RedisHandlerPre<InstanceState>,
    payload: Vec<u8>,
) -> anyhow::Result<()> {
    let _alive = app.metrics.instance_started(&component.id);
    let mut store = app.new_store(component);
    let timeout = app.request_timeout();
    let run = async {
        let instance = handler.instantiate_async(&mut store).await?;
        instance
            .fermyon_spin_inbound_redis()
            .call_handle_message(&mut store, &payload)
            .await
    };
    match tokio::time::timeout(timeout, run).await {
        Ok(Ok(Ok(()))) => Ok(()),
        Ok(Ok(Err(HandlerError::Success))) => Ok(()),
        Ok(Ok(Err(HandlerError::Error))) => anyhow::bail!("the handler returned an error"),
        Ok(Err(trap)) => anyhow::bail!("the handler trapped: {trap:?}"),
        Err(_) => anyhow::bail!("the handler did not finish within {timeout:?}"),
    }
}
