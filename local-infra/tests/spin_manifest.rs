//! Spin's start-up checks on a manifest, as `wasmshop-spin up` prints them: a component run by a
//! Redis trigger may not ask for service chaining.

mod support;

use std::process::Command;

const CHAINING_CONSUMER: &str = r#"
spin_manifest_version = 2
[application]
name = "requirements"
[application.trigger.redis]
address = "redis://127.0.0.1:1"
[[trigger.http]]
route = "/..."
component = "web"
[[trigger.redis]]
channel = "events"
component = "consumer"
[component.web]
source = "FIXTURE"
allowed_outbound_hosts = ["http://consumer.spin.internal"]
[component.consumer]
source = "FIXTURE"
allowed_outbound_hosts = ["HOSTS"]
"#;

/// `up` of the app above; the check runs before anything connects or listens, so a refused app
/// exits at once.
fn up(consumer_host: &str) -> std::process::Output {
    let dir = tempfile::tempdir().expect("dir");
    let manifest = dir.path().join("spin.toml");
    let text = CHAINING_CONSUMER
        .replace("FIXTURE", &support::fixture_wasm().display().to_string())
        .replace("HOSTS", consumer_host);
    std::fs::write(&manifest, text).expect("write manifest");
    Command::new(env!("CARGO_BIN_EXE_wasmshop-spin"))
        .args(["up", "--listen", "127.0.0.1:0", "--from"])
        .arg(&manifest)
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .output()
        .expect("runtime runs")
}

#[test]
fn a_redis_triggered_component_that_chains_is_refused_with_spins_words() {
    let refused = up("http://web.spin.internal");
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains(
            "This application requires the following features that are not available in this version of the 'redis' trigger: local_service_chaining"
        ),
        "{stderr}"
    );
}
