//! Host requirements, checked per trigger type before an app starts, as Spin does.
//!
//! Spin's loader gives a component the `local_service_chaining` requirement when its
//! `allowed_outbound_hosts` names a `*.spin.internal` host, and each trigger type refuses to
//! start if a component it runs needs a feature it lacks: the HTTP trigger can chain, the Redis
//! trigger cannot (spinframework/spin `crates/locked-app/src/locked.rs`, `ensure_needs_only`).
//! So a manifest that this runtime would happily serve is refused by `spin up`; refusing it here
//! too, with Spin's words, keeps the difference from going unnoticed.

use std::collections::BTreeSet;

use crate::capabilities::outbound_networking::AllowedHost;
use crate::manifest::{Component, Manifest};

/// The feature a component needs to call `http://<id>.spin.internal`.
pub const SERVICE_CHAINING: &str = "local_service_chaining";

/// The trigger types this runtime serves, with the host features each one supports.
const TRIGGER_SUPPORT: [(&str, &[&str]); 2] = [("http", &[SERVICE_CHAINING]), ("redis", &[])];

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "This application requires the following features that are not available in this version of the '{trigger_type}' trigger: {unmet}"
)]
pub struct UnmetRequirements {
    pub trigger_type: &'static str,
    /// Comma-separated, as Spin prints them.
    pub unmet: String,
}

/// What `component` needs from the host that runs it.
pub fn component_requirements(component: &Component) -> BTreeSet<&'static str> {
    // A host given by a variable (`{{ redis_address }}`) is not known when Spin locks the app,
    // so, as there, it asks for nothing.
    let chains = component
        .allowed_outbound_hosts
        .iter()
        .filter(|entry| !entry.contains("{{"))
        .filter_map(|entry| AllowedHost::parse(entry).ok())
        .any(|host| host.is_service_chaining());
    chains.then_some(SERVICE_CHAINING).into_iter().collect()
}

/// Fails, as `spin up` would, when a trigger type runs a component needing a feature it lacks.
pub fn ensure_supported(manifest: &Manifest) -> Result<(), UnmetRequirements> {
    for (trigger_type, supported) in TRIGGER_SUPPORT {
        let components: BTreeSet<&str> = match trigger_type {
            "http" => manifest
                .http_triggers
                .iter()
                .map(|t| t.component.as_str())
                .collect(),
            _ => manifest
                .redis_triggers
                .iter()
                .map(|t| t.component.as_str())
                .collect(),
        };
        let unmet: BTreeSet<&str> = components
            .iter()
            .filter_map(|id| manifest.components.get(*id))
            .flat_map(component_requirements)
            .filter(|requirement| !supported.contains(requirement))
            .collect();
        if !unmet.is_empty() {
            return Err(UnmetRequirements {
                trigger_type,
                unmet: unmet.into_iter().collect::<Vec<_>>().join(", "),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(consumer_hosts: &str) -> Manifest {
        let text = format!(
            r#"
spin_manifest_version = 2
[application]
name = "requirements"
[[trigger.http]]
route = "/..."
component = "web"
[[trigger.redis]]
address = "redis://127.0.0.1:6379"
channel = "events"
component = "consumer"
[component.web]
source = "web.wasm"
allowed_outbound_hosts = ["http://*.spin.internal"]
[component.consumer]
source = "consumer.wasm"
allowed_outbound_hosts = [{consumer_hosts}]
"#
        );
        Manifest::parse(&text, ".".into()).expect("valid manifest")
    }

    #[test]
    fn chaining_is_fine_on_the_http_trigger_only() {
        assert_eq!(
            ensure_supported(&manifest(r#""redis://127.0.0.1:6379""#)),
            Ok(())
        );
        for chaining in [
            r#""http://orders.spin.internal""#,
            r#""http://*.spin.internal""#,
            r#""redis://127.0.0.1:6379", "http://a.spin.internal:80""#,
        ] {
            let refused = ensure_supported(&manifest(chaining)).expect_err(chaining);
            assert_eq!(
                refused.to_string(),
                "This application requires the following features that are not available in this version of the 'redis' trigger: local_service_chaining"
            );
        }
    }

    #[test]
    fn only_spin_internal_hosts_ask_for_chaining() {
        let manifest = manifest(r#""https://spin.internal.example.com", "http://spin.internal""#);
        assert_eq!(ensure_supported(&manifest), Ok(()));
    }
}
