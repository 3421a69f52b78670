//! Periodic requests to the app's own components: what drives wasmshop's recovery tick under
//! this runtime (`up --tick http://orders.spin.internal/admin/recovery`). Real Spin has no cron
//! trigger and SpinKube offers a CronJob instead, so this is a runtime option rather than a
//! trigger type in `spin.toml`: the manifest stays loadable by Spin with no plugins.
//!
//! Requests go through the same [`ServiceChaining`] dispatch as a component's chained calls.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};

use crate::capabilities::outbound_http::{CHAINING_DOMAIN, ServiceChaining};

/// One periodic `POST` to a component's private route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tick {
    pub component: String,
    pub path: String,
}

impl Tick {
    /// `http://<component>.spin.internal/<path>`, as a chained request would name it.
    pub fn parse(url: &str) -> Result<Self, String> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| format!("tick `{url}`: must start with http://"))?;
        let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
        let component = host
            .strip_suffix(CHAINING_DOMAIN)
            .filter(|id| !id.is_empty())
            .ok_or_else(|| {
                format!("tick `{url}`: the host must be <component>{CHAINING_DOMAIN}")
            })?;
        Ok(Self {
            component: component.to_owned(),
            path: format!("/{path}"),
        })
    }
}

/// Sends every tick each `interval` until `shutdown` resolves; one pass at a time, so a slow
/// pass delays the next instead of piling up.
pub async fn run(
    dispatch: Arc<dyn ServiceChaining>,
    ticks: Vec<Tick>,
    interval: Duration,
    shutdown: impl Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let mut timer = tokio::time::interval(interval);
    timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    timer.tick().await;
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            _ = timer.tick() => {}
        }
        for tick in &ticks {
            send(dispatch.clone(), tick).await;
        }
    }
}

async fn send(dispatch: Arc<dyn ServiceChaining>, tick: &Tick) {
    let request = http::Request::post(format!(
        "http://{}{CHAINING_DOMAIN}{}",
        tick.component, tick.path
    ))
    .body(
        Empty::<Bytes>::new()
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    let request = match request {
        Ok(request) => request,
        Err(e) => {
            tracing::error!(component = %tick.component, path = %tick.path, "tick request: {e}");
            return;
        }
    };
    match dispatch.dispatch(tick.component.clone(), request).await {
        Ok(response) if response.status().is_success() => {
            tracing::debug!(component = %tick.component, path = %tick.path, "tick done");
        }
        Ok(response) => {
            tracing::warn!(component = %tick.component, path = %tick.path, status = %response.status(), "tick answered an error");
        }
        Err(e) => {
            tracing::warn!(component = %tick.component, path = %tick.path, "tick failed: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_name_a_component_by_its_internal_host() {
        assert_eq!(
            Tick::parse("http://orders.spin.internal/admin/recovery"),
            Ok(Tick {
                component: "orders".into(),
                path: "/admin/recovery".into()
            })
        );
        assert_eq!(
            Tick::parse("http://orders.spin.internal").map(|t| t.path),
            Ok("/".into())
        );
        assert!(Tick::parse("http://example.com/admin").is_err());
        assert!(Tick::parse("https://orders.spin.internal/x").is_err());
        assert!(Tick::parse("http://.spin.internal/x").is_err());
    }
}
