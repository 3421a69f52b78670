//! `spin.toml` must load unchanged under real Spin: it is checked against the manifest schema
//! that Spin 4.0.2 itself prints (vendored in `tests/fixtures/spin/`), and against the
//! architecture's ownership rules.

use std::collections::BTreeMap;

use local_infra::manifest::Manifest;
use wasmshop_tests::{manifest_path, workspace_root};

#[test]
fn spin_toml_is_valid_for_real_spin() {
    let schema_path = workspace_root().join("tests/fixtures/spin/manifest-v2.schema.json");
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

/// One context = one crate's components: components that share a database run the same Wasm
/// (a context's HTTP component and its Redis subscriber), and each Wasm is built by exactly one
/// of them.
#[test]
fn every_context_owns_its_data_and_builds() {
    let manifest = Manifest::from_file(&manifest_path()).expect("spin.toml loads");
    let mut owners: BTreeMap<(&str, &str), String> = BTreeMap::new();
    let mut builders: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for (id, component) in &manifest.components {
        let source = source_of(component);
        let builds = builders.entry(source.clone()).or_default();
        if component.build.is_some() {
            builds.push(id);
        }
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
            if let Some(other) = owners.insert((kind, label), source.clone())
                && other != source
            {
                panic!("{kind} label `{label}` is shared by `{other}` and `{source}` (`{id}`)");
            }
        }
    }
    for (source, builds) in builders {
        assert_eq!(builds.len(), 1, "{source} is built by {builds:?}");
    }
}

/// Spin refuses to start an app whose Redis-triggered components list `*.spin.internal`
/// hosts; the manifest must pass that check for every trigger type.
#[test]
fn spin_toml_meets_every_triggers_host_requirements() {
    let manifest = Manifest::from_file(&manifest_path()).expect("spin.toml loads");
    local_infra::host_requirements::ensure_supported(&manifest)
        .expect("spin up would refuse spin.toml");
}

fn source_of(component: &local_infra::manifest::Component) -> String {
    format!("{:?}", component.source)
}

/// The context a component belongs to: the HTTP-triggered component running the same Wasm.
fn context_of<'a>(manifest: &'a Manifest, component_id: &'a str) -> &'a str {
    let source = source_of(&manifest.components[component_id]);
    manifest
        .http_triggers
        .iter()
        .map(|t| t.component.as_str())
        .find(|id| source_of(&manifest.components[*id]) == source)
        .unwrap_or(component_id)
}

/// The HTTP-push transport delivers by the event catalogue (`wasmshop_kit::channels`); the
/// Redis transport by the manifest's `[[trigger.redis]]`. Both must say the same, and each
/// channel's producer must be allowed to push to every consumer of what it publishes.
#[test]
fn push_subscribers_mirror_the_redis_triggers() {
    use std::collections::BTreeSet;
    use wasmshop_kit::channels::{CHANNELS, SUBSCRIBERS};
    let manifest = Manifest::from_file(&manifest_path()).expect("spin.toml loads");
    let from_manifest: BTreeSet<(String, String)> = manifest
        .redis_triggers
        .iter()
        .map(|t| {
            (
                t.channel.clone(),
                context_of(&manifest, &t.component).to_owned(),
            )
        })
        .collect();
    let from_kit: BTreeSet<(String, String)> = SUBSCRIBERS
        .iter()
        .flat_map(|(channel, components)| {
            components
                .iter()
                .map(move |(c, _)| ((*channel).to_owned(), (*c).to_owned()))
        })
        .collect();
    assert_eq!(from_manifest, from_kit);

    for channel in CHANNELS {
        let component = &manifest.components[channel.producer];
        for (consumer, _) in channel.consumers {
            let host = format!("http://{consumer}.spin.internal");
            assert!(
                component.allowed_outbound_hosts.iter().any(|h| h == &host),
                "{} publishes on {} but may not push to {host}",
                channel.producer,
                channel.name
            );
        }
    }
}

/// The contexts are listed once (`wasmshop_kit::CONTEXTS`, which the gateway and the harness
/// use); the copies that cannot import it must name the same six.
#[test]
fn every_list_of_the_contexts_names_the_same_six() {
    use std::collections::BTreeSet;
    let contexts: BTreeSet<&str> = wasmshop_kit::CONTEXTS.into_iter().collect();

    let manifest = Manifest::from_file(&manifest_path()).expect("spin.toml loads");
    // A context's HTTP component is private and keeps a database; the gateway, the storefront
    // and the audit trail are not contexts.
    let in_manifest: BTreeSet<&str> = manifest
        .http_triggers
        .iter()
        .map(|t| t.component.as_str())
        .filter(|id| !matches!(*id, "gateway" | "storefront" | "audit"))
        .collect();
    assert_eq!(in_manifest, contexts, "spin.toml's HTTP components");

    for script in ["scripts/up.sh", "scripts/up-replicas.sh"] {
        let text = std::fs::read_to_string(workspace_root().join(script)).expect(script);
        let ticked: BTreeSet<&str> = text
            .lines()
            .find_map(|line| line.trim().strip_prefix("for context in "))
            .and_then(|rest| rest.strip_suffix("; do"))
            .unwrap_or_else(|| {
                panic!("{script} ticks each context in a `for context in ...; do` loop")
            })
            .split_whitespace()
            .collect();
        assert_eq!(ticked, contexts, "the contexts {script} ticks");
    }

    let test_sh =
        std::fs::read_to_string(workspace_root().join("scripts/test.sh")).expect("test.sh");
    let linted: BTreeSet<&str> = test_sh
        .split_whitespace()
        .collect::<Vec<_>>()
        .windows(2)
        .filter(|pair| pair[0] == "-p")
        .map(|pair| pair[1])
        .collect();
    let unlinted: Vec<&&str> = contexts.difference(&linted).collect();
    assert!(
        unlinted.is_empty(),
        "scripts/test.sh's Wasm lint misses {unlinted:?}"
    );

    let consumers: BTreeSet<&str> = wasmshop_kit::channels::SUBSCRIBERS
        .iter()
        .flat_map(|(_, consumers)| consumers.iter().map(|(context, _)| *context))
        .collect();
    let strangers: Vec<&&str> = consumers.difference(&contexts).collect();
    assert!(
        strangers.is_empty(),
        "subscribers that are no context: {strangers:?}"
    );
}
