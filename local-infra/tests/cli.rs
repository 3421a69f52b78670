//! The `wasmshop-spin` binary as a user runs it: startup errors, variables from the
//! environment, printed routes, and `build`.

mod support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const APP: &str = r#"
spin_manifest_version = 2
[application]
name = "cli"
[variables]
greeting = { default = "hello" }
token = { required = true, secret = true }
[[trigger.http]]
route = "/..."
component = "web"
[[trigger.http]]
route = { private = true }
component = "hidden"
[component.web]
source = "FIXTURE"
variables = { greeting = "{{ greeting }}", token = "{{ token }}" }
[component.hidden]
source = "FIXTURE"
"#;

fn write_manifest(dir: &Path, text: &str) -> std::path::PathBuf {
    let path = dir.join("spin.toml");
    let text = text.replace("FIXTURE", &support::fixture_wasm().display().to_string());
    std::fs::write(&path, text).expect("write manifest");
    path
}

fn runtime() -> Command {
    Command::new(env!("CARGO_BIN_EXE_wasmshop-spin"))
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_serves_with_env_override_and_never_prints_secrets() {
    let dir = tempfile::tempdir().expect("dir");
    let manifest = write_manifest(dir.path(), APP);
    let port = support::free_port();
    let mut child = runtime()
        .args(["up", "--from"])
        .arg(&manifest)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--variable", "token=s3cr3t-value"])
        .env("SPIN_VARIABLE_GREETING", "from-env")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("runtime starts");
    let stdout = child.stdout.take().expect("stdout");
    let child = Killed(child);
    let mut printed = String::new();
    let mut lines = BufReader::new(stdout).lines();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let Some(Ok(line)) = lines.next() else { break };
        printed.push_str(&line);
        printed.push('\n');
        if line.starts_with("Ready") {
            break;
        }
    }
    assert!(printed.contains("Ready"), "{printed}");
    assert!(
        printed.contains(&format!("web: http://127.0.0.1:{port} (wildcard)")),
        "{printed}"
    );
    assert!(printed.contains("hidden: (private"), "{printed}");
    assert!(
        !printed.contains("s3cr3t"),
        "a secret was printed: {printed}"
    );
    // The default state dir is `.spin` beside the manifest, as with `spin up`.
    assert!(dir.path().join(".spin/cache").is_dir());

    let base = format!("http://127.0.0.1:{port}");
    let (status, body) =
        support::send(reqwest::Client::new().get(format!("{base}/?op=var&name=greeting"))).await;
    assert_eq!((status, body.as_str()), (200, "from-env"));
    let (status, body) =
        support::send(reqwest::Client::new().get(format!("{base}/?op=var&name=token"))).await;
    assert_eq!((status, body.as_str()), (200, "s3cr3t-value"));
    drop(child);
}

#[test]
fn missing_required_variable_stops_startup() {
    let dir = tempfile::tempdir().expect("dir");
    let manifest = write_manifest(dir.path(), APP);
    let output = runtime()
        .args(["up", "--listen", "127.0.0.1:0", "--from"])
        .arg(&manifest)
        .env_remove("SPIN_VARIABLE_TOKEN")
        .output()
        .expect("runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("required variable `token`"), "{stderr}");
    assert!(stderr.contains("SPIN_VARIABLE_TOKEN"), "{stderr}");
}

#[test]
fn undefined_sqlite_database_stops_startup_until_a_runtime_config_defines_it() {
    let dir = tempfile::tempdir().expect("dir");
    let text = APP.replace(
        "[component.hidden]\n",
        "[component.hidden]\nsqlite_databases = [\"default\", \"orders\"]\n",
    );
    let manifest = write_manifest(dir.path(), &text);
    let output = runtime()
        .args(["up", "--listen", "127.0.0.1:0", "--from"])
        .arg(&manifest)
        .args(["--variable", "token=t"])
        .output()
        .expect("runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("One or more components use SQLite databases which are not defined."),
        "{stderr}"
    );
    assert!(
        stderr.contains("- Component hidden uses database 'orders'"),
        "{stderr}"
    );

    // Defined, it starts (and is stopped once it is serving).
    let config = dir.path().join("runtime-config.toml");
    std::fs::write(&config, "[sqlite_database.orders]\ntype = \"spin\"\n").expect("config");
    let mut child = runtime()
        .args(["up", "--listen", "127.0.0.1:0", "--from"])
        .arg(&manifest)
        .args(["--variable", "token=t", "--runtime-config-file"])
        .arg(&config)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("runtime starts");
    let stdout = child.stdout.take().expect("stdout");
    let _child = Killed(child);
    let ready = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .any(|line| line.starts_with("Ready"));
    assert!(ready, "the runtime did not start with `orders` defined");
}

#[test]
fn malformed_manifest_gives_a_clear_error() {
    let dir = tempfile::tempdir().expect("dir");
    let cases = [
        (
            APP.replace("variables = {", "sqlite_database = [\"x\"]\nvariables = {"),
            "`web`",
            "sqlite_database",
        ),
        (
            APP.replace("spin_manifest_version = 2", "spin_manifest_version = 3"),
            "spin_manifest_version",
            "expected 2",
        ),
        (
            APP.replace("route = \"/...\"", "route = \"no-slash\""),
            "trigger.http",
            "must start with `/`",
        ),
        (
            "spin_manifest_version = 2\n[application\n".to_owned(),
            "invalid manifest",
            "",
        ),
    ];
    for (text, first, second) in cases {
        let manifest = write_manifest(dir.path(), &text);
        let output = runtime()
            .args(["up", "--listen", "127.0.0.1:0", "--from"])
            .arg(&manifest)
            .output()
            .expect("runs");
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(first) && stderr.contains(second),
            "{stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[test]
fn build_runs_each_components_build_command() {
    let dir = tempfile::tempdir().expect("dir");
    let text = APP.to_owned()
        + "[component.web.build]\ncommand = \"echo web > built-web.txt\"\nworkdir = \"out\"\n"
        + "[component.hidden.build]\ncommand = [\"echo one > built-hidden.txt\", \"echo two >> built-hidden.txt\"]\n";
    let manifest = write_manifest(dir.path(), &text);
    std::fs::create_dir(dir.path().join("out")).expect("workdir");
    let output = runtime()
        .args(["build", "--from"])
        .arg(&manifest)
        .output()
        .expect("runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("out/built-web.txt")).expect("web built"),
        "web\n"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("built-hidden.txt")).expect("hidden built"),
        "one\ntwo\n"
    );

    let failing = APP.to_owned() + "[component.web.build]\ncommand = \"exit 3\"\n";
    let manifest = write_manifest(dir.path(), &failing);
    let output = runtime()
        .args(["build", "--from"])
        .arg(&manifest)
        .output()
        .expect("runs");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("building component `web`"));
}
