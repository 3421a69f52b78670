//! SQLite as Spin 4 provides it (`crates/sqlite-inproc`), wherever an app can observe it: a
//! guest connection is one plain `rusqlite` connection of its own, opened on first use with no
//! pragma from the host and closed when the guest drops it; concurrent guests meet in SQLite's
//! own locks; and every label but `default` needs a runtime config.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::{TestApp, eventually};

const APP: &str = r#"
spin_manifest_version = 2
[application]
name = "spin-sqlite"
[[trigger.http]]
route = "/..."
component = "web"
[component.web]
source = "FIXTURE"
sqlite_databases = ["default"]
"#;

/// Spin's own words (crates/factor-sqlite), first line verbatim.
const UNDEFINED_LABELS: &str = "One or more components use SQLite databases which are not defined.";

/// Runs `statements` (`[sql, params]` pairs) on one guest connection to `default`; the status
/// and, on success, each statement's result, else the error's text.
async fn sql(app: &TestApp, statements: &[(&str, Value)]) -> (u16, Value) {
    let body: Vec<Value> = statements
        .iter()
        .map(|(sql, params)| json!({"sql": sql, "params": params}))
        .collect();
    let (status, body) = app
        .post("/?op=sql3&db=default", Value::Array(body).to_string())
        .await;
    let json = serde_json::from_str(&body).unwrap_or(Value::String(body));
    (status, json)
}

/// The single value a one-statement request returned.
async fn scalar(app: &TestApp, statement: &str) -> Value {
    let (status, out) = sql(app, &[(statement, json!([]))]).await;
    assert_eq!(status, 200, "{statement}: {out}");
    out[0]["rows"][0][0].clone()
}

fn db_file(app: &TestApp) -> std::path::PathBuf {
    app.state_dir.join("sqlite_db.db")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_label_other_than_default_needs_a_runtime_config() {
    let manifest = APP.replace(
        r#"sqlite_databases = ["default"]"#,
        r#"sqlite_databases = ["default", "orders"]"#,
    );
    let dir = tempfile::tempdir().expect("state dir");
    let refused = TestApp::try_start_in(&manifest, dir.path(), |_| {}).await;
    let message = format!("{:#}", refused.err().expect("startup is refused"));
    assert_eq!(message.lines().next(), Some(UNDEFINED_LABELS), "{message}");
    assert!(
        message.contains("- Component web uses database 'orders'"),
        "{message}"
    );
    assert!(!message.contains("'default'"), "{message}");

    // A runtime config that defines some other label does not define this one.
    let refused = TestApp::try_start_in(&manifest, dir.path(), |options| {
        support::runtime_config(options, &["inventory"], "");
    })
    .await;
    let message = format!("{:#}", refused.err().expect("startup is refused"));
    assert_eq!(message.lines().next(), Some(UNDEFINED_LABELS), "{message}");

    let app = TestApp::start_in(&manifest, dir.path(), |options| {
        support::runtime_config(options, &["orders"], "");
    })
    .await;
    let (status, body) = app
        .post(
            "/?op=sql&db=orders",
            r#"[{"sql": "CREATE TABLE t (x)"}, {"sql": "SELECT count(*) FROM t"}]"#,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(dir.path().join("orders.db").exists());

    // `default` alone needs no runtime config.
    TestApp::start(APP).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_host_sets_no_pragma() {
    let app = TestApp::start(APP).await;
    assert_eq!(scalar(&app, "PRAGMA journal_mode").await, "delete");
    // rusqlite's own default, which Spin keeps.
    assert_eq!(scalar(&app, "PRAGMA busy_timeout").await, 5000);

    // Everything else as a plain `rusqlite::Connection::open` of a fresh file has it.
    let dir = tempfile::tempdir().expect("dir");
    let plain = rusqlite::Connection::open(dir.path().join("plain.db")).expect("open");
    for pragma in [
        "journal_mode",
        "synchronous",
        "temp_store",
        "wal_autocheckpoint",
        "cache_size",
        "mmap_size",
        "locking_mode",
        "foreign_keys",
        "busy_timeout",
    ] {
        let statement = format!("PRAGMA {pragma}");
        let expected: rusqlite::types::Value = plain
            .query_row(&statement, [], |row| row.get(0))
            .expect(&statement);
        let expected = match expected {
            rusqlite::types::Value::Integer(i) => json!(i),
            rusqlite::types::Value::Text(t) => json!(t),
            other => panic!("{statement}: {other:?}"),
        };
        assert_eq!(scalar(&app, &statement).await, expected, "{statement}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_apps_journal_mode_stays_in_the_file() {
    let dir = tempfile::tempdir().expect("state dir");
    let app = TestApp::start_in(APP, dir.path(), |_| {}).await;
    assert_eq!(scalar(&app, "PRAGMA journal_mode = WAL").await, "wal");
    assert_eq!(scalar(&app, "PRAGMA journal_mode").await, "wal");
    app.stop().await;

    let app = TestApp::start_in(APP, dir.path(), |_| {}).await;
    assert_eq!(scalar(&app, "PRAGMA journal_mode").await, "wal");
    let file = rusqlite::Connection::open(db_file(&app)).expect("open");
    let mode: String = file
        .query_row("PRAGMA journal_mode", [], |row| row.get(0))
        .expect("journal_mode");
    assert_eq!(mode, "wal");
    drop(file);

    // And back: a runtime that set WAL on every connection would undo this.
    assert_eq!(scalar(&app, "PRAGMA journal_mode = DELETE").await, "delete");
    assert_eq!(scalar(&app, "PRAGMA journal_mode").await, "delete");
    app.stop().await;
    let app = TestApp::start_in(APP, dir.path(), |_| {}).await;
    assert_eq!(scalar(&app, "PRAGMA journal_mode").await, "delete");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_open_is_a_connection_of_its_own() {
    let app = TestApp::start(APP).await;
    let (status, out) = sql(
        &app,
        &[
            ("CREATE TEMP TABLE scratch (x)", json!([])),
            ("INSERT INTO scratch VALUES (1)", json!([])),
            ("SELECT count(*) FROM temp.scratch", json!([])),
        ],
    )
    .await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out[2]["rows"], json!([[1]]));
    // Temporary tables live and die with their connection: the next guest never sees one.
    for _ in 0..3 {
        let (status, out) = sql(&app, &[("SELECT count(*) FROM temp.scratch", json!([]))]).await;
        assert_eq!(
            status, 500,
            "a previous guest's connection was reused: {out}"
        );
        assert!(out.to_string().contains("no such table"), "{out}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_the_guest_left_open_is_rolled_back() {
    let app = TestApp::start(APP).await;
    let (status, out) = sql(&app, &[("CREATE TABLE t (x)", json!([]))]).await;
    assert_eq!(status, 200, "{out}");
    // The guest returns with its transaction open; dropping the connection closes it.
    let (status, out) = sql(
        &app,
        &[
            ("BEGIN IMMEDIATE", json!([])),
            ("INSERT INTO t VALUES (?)", json!(["left open"])),
        ],
    )
    .await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(scalar(&app, "SELECT count(*) FROM t").await, 0);
    // Nothing holds the write lock any more: a writer that will not wait gets it at once.
    let (status, out) = sql(
        &app,
        &[
            ("PRAGMA busy_timeout = 0", json!([])),
            ("BEGIN IMMEDIATE", json!([])),
            ("INSERT INTO t VALUES (?)", json!(["next"])),
            ("COMMIT", json!([])),
        ],
    )
    .await;
    assert_eq!(status, 200, "{out}");

    // The same when a statement fails mid-transaction and the guest gives up.
    let (status, _) = sql(
        &app,
        &[
            ("BEGIN IMMEDIATE", json!([])),
            ("INSERT INTO t VALUES (?)", json!(["failed"])),
            ("SELEC nonsense", json!([])),
        ],
    )
    .await;
    assert_eq!(status, 500);
    let (status, out) = sql(
        &app,
        &[
            ("PRAGMA busy_timeout = 0", json!([])),
            ("BEGIN IMMEDIATE", json!([])),
            ("SELECT x FROM t", json!([])),
            ("COMMIT", json!([])),
        ],
    )
    .await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out[2]["rows"], json!([["next"]]));
}

/// Two guests writing at once meet in SQLite's locks, as they do in Spin: one that will not
/// wait is told `database is locked`, one with the default busy timeout waits in SQLite's busy
/// handler and goes on once the first has committed. A reader outside the app holds the first
/// writer in its `COMMIT` (in rollback-journal mode a commit waits for readers), so the test
/// decides when the lock is released instead of guessing how long a statement takes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_contend_in_sqlite() {
    let app = TestApp::start(APP).await;
    let (status, out) = sql(
        &app,
        &[(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, who TEXT)",
            json!([]),
        )],
    )
    .await;
    assert_eq!(status, 200, "{out}");

    let reader = rusqlite::Connection::open(db_file(&app)).expect("open");
    reader.execute_batch("BEGIN").expect("begin");
    let rows: i64 = reader
        .query_row("SELECT count(*) FROM t", [], |row| row.get(0))
        .expect("read");
    assert_eq!(rows, 0);

    let write = |who: &'static str| {
        let (base, client) = (app.base.clone(), reqwest::Client::new());
        tokio::spawn(async move {
            let body = json!([
                {"sql": "BEGIN IMMEDIATE"},
                {"sql": "INSERT INTO t (who) VALUES (?)", "params": [who]},
                {"sql": "COMMIT"},
            ]);
            support::send(
                client
                    .post(format!("{base}/?op=sql3&db=default"))
                    .body(body.to_string()),
            )
            .await
        })
    };
    let first = write("first");

    // The first writer holds the write lock (waiting in its COMMIT for the reader): a guest
    // that will not wait is refused by SQLite itself.
    let locked = eventually(Duration::from_secs(10), || async {
        let (status, out) = sql(
            &app,
            &[
                ("PRAGMA busy_timeout = 0", json!([])),
                ("BEGIN IMMEDIATE", json!([])),
            ],
        )
        .await;
        (status == 500).then_some(out)
    })
    .await
    .expect("the first writer never held the write lock");
    assert!(
        locked.to_string().contains("database is locked"),
        "{locked}"
    );

    let second = write("second");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !first.is_finished(),
        "the first writer committed past a reader"
    );
    assert!(
        !second.is_finished(),
        "the second writer did not wait for the first"
    );

    reader.execute_batch("COMMIT").expect("end the read");
    let (status, body) = first.await.expect("first");
    assert_eq!(status, 200, "{body}");
    let (status, body) = second.await.expect("second");
    assert_eq!(status, 200, "{body}");
    let (status, out) = sql(&app, &[("SELECT who FROM t ORDER BY id", json!([]))]).await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out[0]["rows"], json!([["first"], ["second"]]));
}
