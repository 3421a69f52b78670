//! The `wasmshop-spin` binary as a user runs it: startup errors, variables from the
//! environment, printed routes, and `build`.

mod support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

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
    let (child, printed) = start_up(
        &manifest,
        port,
        &["--variable", "token=s3cr3t-value"],
        &[("SPIN_VARIABLE_GREETING", "from-env")],
        Stdio::piped(),
    );
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

/// Starts `up` on `manifest` with `args` and `env`, stderr to `stderr` (a file, or a pipe for a
/// runtime that logs little: one nobody reads would block its logging), and returns it once it
/// printed `Ready`, with what it printed.
fn start_up(
    manifest: &Path,
    port: u16,
    args: &[&str],
    env: &[(&str, &str)],
    stderr: Stdio,
) -> (Killed, String) {
    let mut child = runtime()
        .args(["up", "--from"])
        .arg(manifest)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(args)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("runtime starts");
    let stdout = child.stdout.take().expect("stdout");
    let child = Killed(child);
    let mut printed = String::new();
    let mut lines = BufReader::new(stdout).lines();
    while let Some(Ok(line)) = lines.next() {
        printed.push_str(&line);
        printed.push('\n');
        if line.starts_with("Ready") {
            break;
        }
    }
    assert!(printed.contains("Ready"), "{printed}");
    (child, printed)
}

const STATEFUL: &str = r#"
spin_manifest_version = 2
[application]
name = "stateful"
[[trigger.http]]
route = "/..."
component = "web"
[component.web]
source = "FIXTURE"
key_value_stores = ["default"]
sqlite_databases = ["default"]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_is_readable_by_its_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("dir");
    let manifest = write_manifest(dir.path(), STATEFUL);
    let port = support::free_port();
    let (child, _) = start_up(&manifest, port, &[], &[], Stdio::null());
    let base = format!("http://127.0.0.1:{port}");
    let statements = r#"[{"sql": "CREATE TABLE t (x)"}, {"sql": "INSERT INTO t VALUES (1)"}]"#;
    let (status, body) = support::send(
        reqwest::Client::new()
            .post(format!("{base}/?op=sql&db=default"))
            .body(statements),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = support::send(
        reqwest::Client::new()
            .post(format!("{base}/?op=kv-set&store=default&key=k"))
            .body("v"),
    )
    .await;
    assert_eq!(status, 200, "{body}");

    let state = dir.path().join(".spin");
    let mut seen = Vec::new();
    let mut pending = vec![state.clone()];
    while let Some(path) = pending.pop() {
        let meta = std::fs::symlink_metadata(&path).expect("metadata");
        let mode = meta.permissions().mode() & 0o777;
        let shown = path.strip_prefix(dir.path()).expect("inside").display();
        if meta.is_dir() {
            assert_eq!(mode, 0o700, "{shown} is {mode:o}");
            for entry in std::fs::read_dir(&path).expect("dir") {
                pending.push(entry.expect("entry").path());
            }
        } else {
            assert_eq!(mode, 0o600, "{shown} is {mode:o}");
        }
        seen.push(shown.to_string());
    }
    for expected in ["sqlite_db.db", "sqlite_key_value.db", "cache", "logs"] {
        assert!(
            seen.iter().any(|p| p.ends_with(expected)),
            "no {expected} in {seen:?}"
        );
    }
    drop(child);
}

/// CPU time (user + system) of a process so far, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')').expect("stat format").1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of stat(5), 12 and 13 after the name.
    fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_file_descriptors_the_accept_loop_backs_off() {
    let dir = tempfile::tempdir().expect("dir");
    let manifest = write_manifest(dir.path(), STATEFUL);
    let port = support::free_port();
    // The caps well above the descriptors left, so that it is the descriptors that run out.
    let caps = [
        "--http-max-connections",
        "4096",
        "--http-max-connections-per-client",
        "4096",
    ];
    let (child, _) = start_up(&manifest, port, &caps, &[], Stdio::null());
    let pid = child.0.id();
    let open = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("fds")
        .count();
    // Room for a few connections only.
    let status = Command::new("prlimit")
        .arg(format!("--pid={pid}"))
        .arg(format!("--nofile={}", open + 4))
        .status()
        .expect("prlimit runs");
    assert!(status.success());
    let mut held = Vec::new();
    for _ in 0..16 {
        held.push(
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .expect("connects (the backlog takes what accept cannot)"),
        );
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = cpu_ticks(pid);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let busy = cpu_ticks(pid) - before;
    // Ticks are 10 ms: 2 s of spinning is ~200.
    assert!(
        busy < 40,
        "the runtime burnt {busy} ticks in 2 s while out of file descriptors"
    );

    // Once connections close, the rest are accepted and served.
    drop(held);
    let (status, body) =
        support::send(reqwest::Client::new().get(format!("http://127.0.0.1:{port}/?op=noop")))
            .await;
    assert_eq!((status, body.as_str()), (200, "ok"));
    drop(child);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_credentials_are_never_printed() {
    let dir = tempfile::tempdir().expect("dir");
    // Nothing listens on these ports: the subscriptions fail and log their address.
    let (app_port, trigger_port) = (support::free_port(), support::free_port());
    let text = format!(
        r#"
spin_manifest_version = 2
[application]
name = "secret-redis"
[application.trigger.redis]
address = "redis://:s3cr3t-one@127.0.0.1:{app_port}"
[[trigger.http]]
route = "/..."
component = "web"
[[trigger.redis]]
channel = "events"
component = "sub"
[[trigger.redis]]
address = "redis://user:s3cr3t-two@127.0.0.1:{trigger_port}/0"
channel = "other"
component = "sub"
[component.web]
source = "FIXTURE"
allowed_outbound_hosts = ["redis://:s3cr3t-one@127.0.0.1:{app_port}"]
[component.sub]
source = "FIXTURE"
"#
    );
    let manifest = write_manifest(dir.path(), &text);
    let log = dir.path().join("stderr.txt");
    let port = support::free_port();
    let (child, printed) = start_up(
        &manifest,
        port,
        &[],
        &[],
        Stdio::from(std::fs::File::create(&log).expect("log file")),
    );
    assert!(
        printed.contains(&format!("sub: events on redis://:***@127.0.0.1:{app_port}")),
        "{printed}"
    );
    assert!(
        printed.contains(&format!(
            "sub: other on redis://user:***@127.0.0.1:{trigger_port}/0"
        )),
        "{printed}"
    );
    // A guest's denied open is logged with its address.
    let denied = format!("redis://:s3cr3t-three@127.0.0.1:{trigger_port}");
    let url = format!(
        "http://127.0.0.1:{port}/?op=redis-get&key=k&address={}",
        support::encode(&denied)
    );
    let (status, body) = support::send(reqwest::Client::new().get(url)).await;
    assert_eq!(status, 500, "{body}");
    // The subscriptions fail and are retried, with a warning each time.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    drop(child);
    let stderr = std::fs::read_to_string(&log).expect("stderr");
    assert!(
        stderr.contains("redis subscription failed"),
        "the failing subscriptions logged nothing: {stderr}"
    );
    assert!(
        stderr.contains("redis address not in allowed_outbound_hosts"),
        "the denied open logged nothing: {stderr}"
    );
    assert!(
        !printed.contains("s3cr3t") && !stderr.contains("s3cr3t"),
        "a Redis password was printed:\n{printed}\n{stderr}"
    );
}
