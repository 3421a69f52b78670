//! The deployment files must fit the app they deploy: the SpinKube manifests are checked
//! against the spin-operator CRDs (vendored in `tests/fixtures/spinkube/`; made strict, as
//! `kubectl apply` validates fields) and against `spin.toml` (every variable, database and
//! context accounted for); the production runtime config loads in the runtime and covers every
//! database.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use local_infra::manifest::Manifest;
use local_infra::runtime_config::RuntimeConfig;
use serde::Deserialize;
use serde_json::{Value, json};
use wasmshop_tests::{manifest_path, workspace_root};

/// Every document of every YAML file under `deploy/spinkube`, by kind.
fn documents() -> BTreeMap<String, Vec<Value>> {
    let dir = workspace_root().join("deploy/spinkube");
    let mut by_kind: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .expect("deploy/spinkube")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    entries.sort();
    for path in entries {
        let text = std::fs::read_to_string(&path).expect("read");
        for document in serde_yaml_ng::Deserializer::from_str(&text) {
            let value =
                Value::deserialize(document).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let kind = value["kind"].as_str().expect("kind").to_owned();
            by_kind.entry(kind).or_default().push(value);
        }
    }
    by_kind
}

/// A CRD's schema as the API server applies it with strict field validation: an object that
/// lists its properties accepts no others (unless it says it preserves unknown fields).
fn strict(schema: &mut Value) {
    if let Value::Object(map) = schema {
        if map.contains_key("properties")
            && !map.contains_key("additionalProperties")
            && map.get("x-kubernetes-preserve-unknown-fields") != Some(&json!(true))
        {
            map.insert("additionalProperties".into(), json!(false));
        }
        for value in map.values_mut() {
            strict(value);
        }
    } else if let Value::Array(items) = schema {
        items.iter_mut().for_each(strict);
    }
}

fn crd_validator(file: &str) -> jsonschema::Validator {
    let path = workspace_root().join("tests/fixtures/spinkube").join(file);
    let crd: Value = serde_yaml_ng::from_str(&std::fs::read_to_string(&path).expect("CRD"))
        .expect("CRD is YAML");
    let mut schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone();
    // `metadata` is the API server's, not the CRD's, to check.
    schema["properties"]["metadata"] = json!({ "type": "object" });
    strict(&mut schema);
    jsonschema::validator_for(&schema).expect("CRD schema compiles")
}

fn errors(validator: &jsonschema::Validator, document: &Value) -> Vec<String> {
    validator
        .iter_errors(document)
        .map(|e| format!("{e} at {}", e.instance_path))
        .collect()
}

/// `(secret name, key)` of every `secretKeyRef` under `value`.
fn secret_refs(value: &Value, found: &mut BTreeSet<(String, String)>) {
    match value {
        Value::Object(map) => {
            if let Some(reference) = map.get("secretKeyRef") {
                found.insert((
                    reference["name"].as_str().expect("name").to_owned(),
                    reference["key"].as_str().expect("key").to_owned(),
                ));
            }
            map.values().for_each(|v| secret_refs(v, found));
        }
        Value::Array(items) => items.iter().for_each(|v| secret_refs(v, found)),
        _ => {}
    }
}

#[test]
fn spinkube_manifests_are_valid_for_the_operator() {
    let documents = documents();
    let spinapps = &documents["SpinApp"];
    assert_eq!(spinapps.len(), 1);
    let validator = crd_validator("core.spinkube.dev_spinapps.yaml");
    assert_eq!(errors(&validator, &spinapps[0]), Vec::<String>::new());
    let executor = crd_validator("core.spinkube.dev_spinappexecutors.yaml");
    for document in &documents["SpinAppExecutor"] {
        assert_eq!(errors(&executor, document), Vec::<String>::new());
    }
    assert_eq!(
        documents["SpinAppExecutor"][0]["metadata"]["name"], spinapps[0]["spec"]["executor"],
        "the SpinApp names the executor that is deployed"
    );

    // The checks must be able to fail: a misspelt field and a wrong type are rejected.
    let mut typo = spinapps[0].clone();
    typo["spec"]["replica"] = json!(2);
    assert!(!validator.is_valid(&typo));
    let mut wrong_type = spinapps[0].clone();
    wrong_type["spec"]["variables"][0]["value"] = json!(5);
    assert!(!validator.is_valid(&wrong_type));
}

#[test]
fn spinkube_manifests_provide_what_the_app_needs() {
    let manifest = Manifest::from_file(&manifest_path()).expect("spin.toml loads");
    let documents = documents();
    let spec = &documents["SpinApp"][0]["spec"];

    let version = manifest.application.version.clone().expect("version");
    assert!(
        spec["image"]
            .as_str()
            .expect("image")
            .ends_with(&format!(":{version}")),
        "the image is tagged with the app's version"
    );
    if let Some(subset) = spec["components"].as_array() {
        let subset: BTreeSet<&str> = subset.iter().filter_map(Value::as_str).collect();
        let all: BTreeSet<&str> = manifest.components.keys().map(String::as_str).collect();
        assert_eq!(subset, all, "every component runs");
    }

    let variables: BTreeMap<&str, &Value> = spec["variables"]
        .as_array()
        .expect("variables")
        .iter()
        .map(|v| (v["name"].as_str().expect("name"), v))
        .collect();
    for name in variables.keys() {
        assert!(
            manifest.variables.contains_key(*name),
            "`{name}` is not a variable of spin.toml"
        );
    }
    for (name, declaration) in &manifest.variables {
        if declaration.default.is_none() {
            assert!(
                variables.contains_key(name.as_str()),
                "`{name}` is required"
            );
        }
        if declaration.secret {
            assert!(
                variables
                    .get(name.as_str())
                    .is_some_and(|v| v["valueFrom"]["secretKeyRef"].is_object()),
                "secret `{name}` must come from a Secret"
            );
        }
    }
    assert!(
        variables.contains_key("redis_address")
            && variables["redis_address"]["valueFrom"]["secretKeyRef"].is_object(),
        "the Redis address carries its password: from a Secret"
    );
    assert!(
        !variables.contains_key("payments_fault"),
        "the test-only fault switch stays off in production"
    );

    // Every database a component opens is provided, and only those.
    let used: BTreeSet<&str> = manifest
        .components
        .values()
        .flat_map(|c| c.sqlite_databases.iter().map(String::as_str))
        .collect();
    let provided: BTreeSet<&str> = spec["runtimeConfig"]["sqliteDatabases"]
        .as_array()
        .expect("sqliteDatabases")
        .iter()
        .filter_map(|d| d["name"].as_str())
        .collect();
    assert_eq!(provided, used);

    // Every Secret key referred to exists.
    let mut referred = BTreeSet::new();
    for kind in ["SpinApp", "CronJob", "Deployment"] {
        for document in &documents[kind] {
            secret_refs(document, &mut referred);
        }
    }
    let defined: BTreeSet<(String, String)> = documents["Secret"]
        .iter()
        .flat_map(|secret| {
            let name = secret["metadata"]["name"]
                .as_str()
                .expect("name")
                .to_owned();
            secret["stringData"]
                .as_object()
                .expect("stringData")
                .keys()
                .map(move |key| (name.clone(), key.clone()))
        })
        .collect();
    let missing: Vec<_> = referred.difference(&defined).collect();
    assert!(missing.is_empty(), "undefined secret keys: {missing:?}");

    // The Redis address points at the Redis deployed beside the app.
    let address = documents["Secret"]
        .iter()
        .find(|s| s["metadata"]["name"] == "wasmshop-variables")
        .and_then(|s| s["stringData"]["redis_address"].as_str())
        .expect("redis_address");
    let service = documents["Service"][0]["metadata"]["name"]
        .as_str()
        .expect("service");
    assert!(address.contains(&format!("@{service}:6379")), "{address}");
}

#[test]
fn the_recovery_cronjob_ticks_every_context_through_the_gateway() {
    let manifest = Manifest::from_file(&manifest_path()).expect("spin.toml loads");
    let documents = documents();
    let job = &documents["CronJob"][0];
    let container = &job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0];
    let env: BTreeMap<&str, &Value> = container["env"]
        .as_array()
        .expect("env")
        .iter()
        .map(|e| (e["name"].as_str().expect("name"), e))
        .collect();
    let contexts: BTreeSet<&str> = env["CONTEXTS"]["value"]
        .as_str()
        .expect("CONTEXTS")
        .split_whitespace()
        .collect();
    // Every context behind the gateway (a private HTTP component) keeps an outbox and an
    // inbox, so each has a tick; its Redis subscriber shares its database and its tick. The
    // audit trail is behind the gateway too, but appends only: it has nothing to recover; the
    // storefront is in front of the gateway and keeps no state.
    let behind_gateway: BTreeSet<&str> = manifest
        .http_triggers
        .iter()
        .map(|t| t.component.as_str())
        .filter(|id| !matches!(*id, "gateway" | "audit" | "storefront"))
        .collect();
    assert_eq!(contexts, behind_gateway);
    assert_eq!(
        env["GATEWAY"]["value"],
        format!(
            "http://{}",
            documents["SpinApp"][0]["metadata"]["name"]
                .as_str()
                .expect("name")
        ),
        "the SpinApp's Service is named after it"
    );
    let script = container["command"][2].as_str().expect("script");
    assert!(
        script.contains("/api/v1/admin/$context/recovery")
            && script.contains("authorization: Bearer $RECOVERY_TOKEN"),
        "the job ticks with the recovery credential: {script}"
    );
    // #17: however many replicas serve, one pass per context per run (the lease outlives the
    // run's own passes and ends before the next run, a minute later).
    assert!(
        script.contains("/api/v1/admin/$context/recovery?lease_ms=50000"),
        "the job takes the fleet-wide lease: {script}"
    );
    // #14: through the public login, five wrong passwords for the operator kept the job out.
    assert!(
        !script.contains("/api/v1/auth/"),
        "the job needs no account: {script}"
    );
    // The job's credential is the gateway's variable, from the same Secret key.
    let reference = |env: &Value| {
        let key = &env["valueFrom"]["secretKeyRef"];
        (
            key["name"].as_str().map(str::to_owned),
            key["key"].as_str().map(str::to_owned),
        )
    };
    let expected = (
        Some("wasmshop-variables".to_owned()),
        Some("recovery_token".to_owned()),
    );
    assert_eq!(reference(env["RECOVERY_TOKEN"]), expected);
    let app_variable = documents["SpinApp"][0]["spec"]["variables"]
        .as_array()
        .expect("variables")
        .iter()
        .find(|v| v["name"] == "recovery_token")
        .expect("the SpinApp sets recovery_token");
    assert_eq!(reference(app_variable), expected);
    assert!(
        documents["Secret"]
            .iter()
            .find(|s| s["metadata"]["name"] == "wasmshop-variables")
            .is_some_and(|s| s["stringData"]["recovery_token"].is_string()),
        "secrets.yaml has the key"
    );
    assert!(
        manifest.variables.contains_key("recovery_token"),
        "spin.toml declares it"
    );
    assert_eq!(job["spec"]["concurrencyPolicy"], "Forbid");
}

#[test]
fn the_production_runtime_config_loads_and_covers_every_database() {
    let manifest = Manifest::from_file(&manifest_path()).expect("spin.toml loads");
    let path = workspace_root().join("deploy/runtime-config.toml");
    let config = RuntimeConfig::from_file(&path, Path::new("/unused"), |s| Ok(s.to_owned()))
        .expect("the runtime accepts it");
    let used: BTreeSet<&str> = manifest
        .components
        .values()
        .flat_map(|c| c.sqlite_databases.iter().map(String::as_str))
        .collect();
    let configured: BTreeSet<&str> = config.sqlite_databases.keys().map(String::as_str).collect();
    assert_eq!(configured, used);
    let files: BTreeSet<_> = config.sqlite_databases.values().collect();
    assert_eq!(files.len(), used.len(), "one file per context");
    assert!(
        config
            .sqlite_databases
            .values()
            .all(|p| p.starts_with("/var/lib/wasmshop")),
        "absolute paths on the data volume"
    );
}

/// The CronJob's own script, run against the app with the recovery credential: it ticks every
/// context, and fails without the right credential.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_recovery_cronjob_script_works_against_the_app() {
    let shop = wasmshop_tests::Wasmshop::app()
        .workflow(wasmshop_tests::EventTransport::HttpPush)
        .start()
        .await
        .expect("boot");
    let documents = documents();
    let container = &documents["CronJob"][0]["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
        [0];
    let contexts = container["env"]
        .as_array()
        .expect("env")
        .iter()
        .find(|e| e["name"] == "CONTEXTS")
        .and_then(|e| e["value"].as_str())
        .expect("CONTEXTS");
    let output = tokio::process::Command::new("/bin/sh")
        .arg("-ec")
        .arg(container["command"][2].as_str().expect("script"))
        .env("GATEWAY", &shop.base_url)
        .env("CONTEXTS", contexts)
        .env("RECOVERY_TOKEN", wasmshop_tests::TEST_RECOVERY_TOKEN)
        .output()
        .await
        .expect("sh runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let reports: Vec<Value> = stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    assert_eq!(reports.len(), 6, "one report per context: {stdout}");

    // With a wrong or no credential the job fails rather than passing silently.
    for token in ["wrong", ""] {
        let failed = tokio::process::Command::new("/bin/sh")
            .arg("-ec")
            .arg(container["command"][2].as_str().expect("script"))
            .env("GATEWAY", &shop.base_url)
            .env("CONTEXTS", contexts)
            .env("RECOVERY_TOKEN", token)
            .output()
            .await
            .expect("sh runs");
        assert!(!failed.status.success(), "token {token:?}");
    }
}
