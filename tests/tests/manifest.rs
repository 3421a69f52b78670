//! `spin.toml` must load unchanged under real Spin: it is checked against the manifest schema
//! that Spin 4.0.2 itself prints, and against the architecture's ownership rules.

use std::collections::BTreeMap;

use local_infra::manifest::Manifest;
use wasmshop_tests::{manifest_path, workspace_root};

#[test]
fn spin_toml_is_valid_for_real_spin() {
    let schema_path = workspace_root().join("../shared/spin/manifest-v2.schema.json");
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(&schema_path)
            .unwrap_or_else(|e| panic!("{}: {e}", schema_path.display())),
    )
    .expect("schema is JSON");
    let manifest: toml::Value =
        toml::from_str(&std::fs::read_to_string(manifest_path()).expect("spin.toml"))
            .expect("spin.toml is TOML");
    let manifest = serde_json::to_value(manifest).expect("TOML maps to JSON");
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(&manifest)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect();
    assert!(
        errors.is_empty(),
        "spin.toml violates Spin's schema: {errors:#?}"
    );

    // The check must be able to fail: a field real Spin does not know is rejected.
    let mut broken = manifest.clone();
    broken["component"]["gateway"]["sqlite_database"] = serde_json::json!(["x"]);
    assert!(!validator.is_valid(&broken));
}

#[test]
fn every_component_owns_its_data_and_builds() {
    let manifest = Manifest::from_file(&manifest_path()).expect("spin.toml loads");
    let mut owners: BTreeMap<(&str, &str), &str> = BTreeMap::new();
    for (id, component) in &manifest.components {
        assert!(
            component.build.is_some(),
            "component `{id}` has no build command"
        );
        let labels = component
            .key_value_stores
            .iter()
            .map(|l| ("key_value_stores", l.as_str()))
            .chain(
                component
                    .sqlite_databases
                    .iter()
                    .map(|l| ("sqlite_databases", l.as_str())),
            );
        for (kind, label) in labels {
            if let Some(other) = owners.insert((kind, label), id) {
                panic!("{kind} label `{label}` is shared by `{other}` and `{id}`");
            }
        }
    }
}

/// The HTTP-push transport delivers by `wasmshop_kit::messaging::SUBSCRIBERS`; the Redis
/// transport by the manifest's `[[trigger.redis]]`. Both must say the same, and a producer
/// must be allowed to push to every consumer of what it publishes.
#[test]
fn push_subscribers_mirror_the_redis_triggers() {
    use std::collections::BTreeSet;
    let manifest = Manifest::from_file(&manifest_path()).expect("spin.toml loads");
    let from_manifest: BTreeSet<(String, String)> = manifest
        .redis_triggers
        .iter()
        .map(|t| (t.channel.clone(), t.component.clone()))
        .collect();
    let from_kit: BTreeSet<(String, String)> = wasmshop_kit::messaging::SUBSCRIBERS
        .iter()
        .flat_map(|(channel, components)| {
            components
                .iter()
                .map(move |c| ((*channel).to_owned(), (*c).to_owned()))
        })
        .collect();
    assert_eq!(from_manifest, from_kit);

    for (channel, consumers) in wasmshop_kit::messaging::SUBSCRIBERS {
        let producer = channel.split('.').next().expect("channel has a context");
        // Commands are produced by the orchestrator, facts by the context that names them.
        let producer = if channel.ends_with(".commands") {
            "orders"
        } else {
            producer
        };
        let component = &manifest.components[producer];
        for consumer in *consumers {
            let host = format!("http://{consumer}.spin.internal");
            assert!(
                component.allowed_outbound_hosts.iter().any(|h| h == &host),
                "{producer} publishes on {channel} but may not push to {host}"
            );
        }
    }
}
