//! The Redis trigger: subscribes to every channel in the manifest and calls the component's
//! `fermyon:spin/inbound-redis` export once per message, each in a fresh instance.
//!
//! Unlike Spin, a dropped connection is re-established with capped exponential backoff, so a
//! Redis restart does not silently end the subscription. Messages published while the
//! subscription is down are lost, as with any pub/sub; the app's own outbox covers that.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio::task::JoinSet;

use crate::app::{App, LoadedComponent};
use crate::bindings::redis_handler::RedisHandlerPre;
use crate::bindings::redis_handler::fermyon::spin::redis_types::Error as HandlerError;
use crate::state::InstanceState;

struct Subscriber {
    channel: String,
    component: Arc<LoadedComponent>,
    handler: RedisHandlerPre<InstanceState>,
    in_flight: Arc<tokio::sync::Semaphore>,
}

pub struct RedisTrigger {
    app: Arc<App>,
    /// Subscriptions grouped by server address.
    servers: BTreeMap<String, Vec<Subscriber>>,
}

/// How many messages one subscriber (component × channel) handles at once; the rest wait in
/// order of arrival. Per subscriber, so a busy consumer never holds up another's messages.
pub const MAX_CONCURRENT_MESSAGES: usize = 64;

const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

impl RedisTrigger {
    pub fn new(app: Arc<App>) -> anyhow::Result<Arc<Self>> {
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
                in_flight: Arc::new(tokio::sync::Semaphore::new(MAX_CONCURRENT_MESSAGES)),
            });
        }
        Ok(Arc::new(Self { app, servers }))
    }

    /// `(address, channel, component)` for every subscription.
    pub fn subscriptions(&self) -> Vec<(String, String, String)> {
        self.servers
            .iter()
            .flat_map(|(address, subs)| {
                subs.iter()
                    .map(|s| (address.clone(), s.channel.clone(), s.component.id.clone()))
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
        let mut backoff = MIN_BACKOFF;
        loop {
            match self.subscribe_once(&address, &mut backoff).await {
                Ok(()) => tracing::warn!(%address, "redis subscription ended; reconnecting"),
                Err(e) => {
                    tracing::warn!(%address, "redis subscription failed: {e}; retrying in {backoff:?}")
                }
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    async fn subscribe_once(&self, address: &str, backoff: &mut Duration) -> anyhow::Result<()> {
        let client = redis::Client::open(address)?;
        let mut pubsub = client.get_async_pubsub().await?;
        let subscribers = &self.servers[address];
        for subscriber in subscribers {
            pubsub.subscribe(&subscriber.channel).await?;
        }
        tracing::info!(%address, channels = subscribers.len(), "redis trigger subscribed");
        *backoff = MIN_BACKOFF;
        let mut messages = pubsub.on_message();
        while let Some(message) = messages.next().await {
            let channel = message.get_channel_name().to_owned();
            let payload = message.get_payload_bytes().to_vec();
            for subscriber in subscribers.iter().filter(|s| s.channel == channel) {
                let app = self.app.clone();
                let component = subscriber.component.clone();
                let handler = subscriber.handler.clone();
                let channel = channel.clone();
                let payload = payload.clone();
                let in_flight = subscriber.in_flight.clone();
                tokio::spawn(async move {
                    let Ok(_permit) = in_flight.acquire_owned().await else {
                        return;
                    };
                    let mut span = crate::telemetry::redis_message_span(&component.id, &channel);
                    let outcome = deliver(&app, &component, &handler, payload).await;
                    if let (Some(span), Err(e)) = (&mut span, &outcome) {
                        span.set_error(e.to_string());
                    }
                    let label = if outcome.is_ok() { "ok" } else { "error" };
                    app.metrics.message_handled(&channel, &component.id, label);
                    if let Err(e) = outcome {
                        app.metrics.trapped(&component.id);
                        tracing::error!(
                            %channel,
                            component = %component.id,
                            "redis message handler failed: {e}"
                        );
                    }
                });
            }
        }
        Ok(())
    }
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
