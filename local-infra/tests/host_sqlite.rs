//! The SQLite capability at the host boundary, on instance state built from an inline manifest
//! (no guest): how connections of different instances meet in SQLite's write lock, as under
//! Spin 4 (a connection per `open`, no queue in front of the lock, the connection's own 5 s busy
//! timeout), and which databases a component may open.

mod host_support;

use std::time::{Duration, Instant};

use host_support::{HostApp, borrow};
use local_infra::bindings::host::spin::sqlite::sqlite::{
    Error, HostConnection, QueryResult, Value,
};
use local_infra::capabilities::sqlite::ConnectionHandle;
use local_infra::state::InstanceState;
use wasmtime::component::Resource;

/// How long the first writer keeps its transaction open while the second waits.
const HOLD: Duration = Duration::from_millis(300);

async fn app() -> HostApp {
    HostApp::load(
        &[
            ("web", r#"sqlite_databases = ["default"]"#),
            ("other", "sqlite_databases = []"),
        ],
        None,
    )
    .await
}

async fn open(state: &mut InstanceState) -> Resource<ConnectionHandle> {
    state
        .open("default".into())
        .await
        .expect("no trap")
        .expect("`default` opens")
}

async fn run(
    state: &mut InstanceState,
    connection: &Resource<ConnectionHandle>,
    statement: &str,
) -> Result<QueryResult, Error> {
    state
        .execute(borrow(connection), statement.into(), Vec::new())
        .await
        .expect("no trap")
}

async fn ok(state: &mut InstanceState, connection: &Resource<ConnectionHandle>, statement: &str) {
    if let Err(e) = run(state, connection, statement).await {
        panic!("{statement}: {e:?}");
    }
}

/// The one integer a query returns.
async fn integer(
    state: &mut InstanceState,
    connection: &Resource<ConnectionHandle>,
    query: &str,
) -> i64 {
    let result = run(state, connection, query).await;
    match result.as_ref().map(|r| &r.rows[..]) {
        Ok([row]) => match row.values[..] {
            [Value::Integer(n)] => n,
            _ => panic!("{query}: {result:?}"),
        },
        _ => panic!("{query}: {result:?}"),
    }
}

/// An open connection of its own instance holding the write lock: `t` has one committed row
/// and one row of the open transaction.
async fn writer_in_transaction(
    app: &HostApp,
) -> (wasmtime::Store<InstanceState>, Resource<ConnectionHandle>) {
    let mut store = app.instance("web");
    let state = store.data_mut();
    let connection = open(state).await;
    ok(state, &connection, "CREATE TABLE t (n INTEGER)").await;
    ok(state, &connection, "INSERT INTO t VALUES (1)").await;
    ok(state, &connection, "BEGIN IMMEDIATE").await;
    ok(state, &connection, "INSERT INTO t VALUES (2)").await;
    (store, connection)
}

/// A connection of a fresh instance, its busy timeout set to `milliseconds`.
async fn with_busy_timeout(
    app: &HostApp,
    milliseconds: u32,
) -> (wasmtime::Store<InstanceState>, Resource<ConnectionHandle>) {
    let mut store = app.instance("web");
    let connection = open(store.data_mut()).await;
    let pragma = format!("PRAGMA busy_timeout = {milliseconds}");
    ok(store.data_mut(), &connection, &pragma).await;
    (store, connection)
}

#[tokio::test]
async fn a_second_begin_waits_for_the_first_commit_and_then_holds_the_lock() {
    let app = app().await;
    let (mut first, first_connection) = writer_in_transaction(&app).await;
    let mut second = app.instance("web");
    let second_connection = open(second.data_mut()).await;

    let started = Instant::now();
    let (second_begin, committed_at) = tokio::join!(
        async {
            let begun = run(second.data_mut(), &second_connection, "BEGIN IMMEDIATE").await;
            (begun, Instant::now())
        },
        async {
            tokio::time::sleep(HOLD).await;
            ok(first.data_mut(), &first_connection, "COMMIT").await;
            Instant::now()
        },
    );
    let (begun, begun_at) = second_begin;
    assert!(begun.is_ok(), "the second BEGIN gets the lock: {begun:?}");
    assert!(
        begun_at >= committed_at && begun_at - started >= HOLD,
        "the second BEGIN returned before the first COMMIT"
    );

    // Now the second connection holds the lock: the first, unwilling to wait, is refused it.
    let first = first.data_mut();
    ok(first, &first_connection, "PRAGMA busy_timeout = 0").await;
    let refused = run(first, &first_connection, "BEGIN IMMEDIATE").await;
    assert!(
        matches!(&refused, Err(Error::Io(message)) if message.contains("locked")),
        "{refused:?}"
    );
    let second = second.data_mut();
    ok(second, &second_connection, "INSERT INTO t VALUES (3)").await;
    ok(second, &second_connection, "COMMIT").await;
    assert_eq!(
        integer(first, &first_connection, "SELECT COUNT(*) FROM t").await,
        3
    );
}

#[tokio::test]
async fn a_begin_that_waits_longer_than_its_own_busy_timeout_is_refused_as_locked() {
    let app = app().await;
    let (_first, _first_connection) = writer_in_transaction(&app).await;
    let (mut second, connection) = with_busy_timeout(&app, 200).await;
    let second = second.data_mut();

    let started = Instant::now();
    let refused = run(second, &connection, "BEGIN IMMEDIATE").await;
    assert!(
        matches!(&refused, Err(Error::Io(message)) if message.contains("locked")),
        "{refused:?}"
    );
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(150) && waited < Duration::from_secs(4),
        "waited {waited:?}, not its own 200 ms"
    );
}

/// A new connection takes the write lock at once (were it still held, `BEGIN` would fail at
/// once with the busy timeout at 0, instead of waiting 5 s) and finds only the committed row.
async fn assert_the_lock_is_free_and_the_open_transaction_lost(app: &HostApp) {
    let (mut next, connection) = with_busy_timeout(app, 0).await;
    let next = next.data_mut();
    ok(next, &connection, "BEGIN IMMEDIATE").await;
    assert_eq!(
        integer(next, &connection, "SELECT COUNT(*) FROM t").await,
        1
    );
}

#[tokio::test]
async fn a_connection_dropped_mid_transaction_frees_the_lock_and_loses_its_writes() {
    let app = app().await;
    let (mut first, first_connection) = writer_in_transaction(&app).await;
    HostConnection::drop(first.data_mut(), first_connection)
        .await
        .expect("dropped");
    assert_the_lock_is_free_and_the_open_transaction_lost(&app).await;
}

#[tokio::test]
async fn an_instance_that_ends_mid_transaction_frees_the_lock() {
    let app = app().await;
    let (first, _connection) = writer_in_transaction(&app).await;
    drop(first);
    assert_the_lock_is_free_and_the_open_transaction_lost(&app).await;
}

/// Statements that take no lock the writer holds run on the caller's task: here the blocking
/// pool's only thread is taken, so one sent there would not come back.
#[test]
fn statements_that_take_no_lock_run_while_another_connection_holds_the_write_lock() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(1)
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let app = app().await;
        let (_writer, _writer_connection) = writer_in_transaction(&app).await;
        let (release, held) = std::sync::mpsc::channel::<()>();
        let occupied = tokio::task::spawn_blocking(move || held.recv());

        let mut reader = app.instance("web");
        let reader = reader.data_mut();
        let connection = open(reader).await;
        let reads = async {
            let committed = integer(reader, &connection, "SELECT COUNT(*) FROM t").await;
            let patience = integer(reader, &connection, "PRAGMA busy_timeout").await;
            (committed, patience)
        };
        let outcome = tokio::time::timeout(Duration::from_secs(3), reads).await;
        release.send(()).expect("the blocking task waits");
        occupied.await.expect("joined").expect("released");

        let (committed, patience) = outcome.expect("the reads ran on the caller's task");
        assert_eq!(committed, 1, "only the committed row is seen");
        assert_eq!(
            patience, 5_000,
            "rusqlite's busy timeout, as it was before the reads"
        );
    });
}

#[tokio::test]
async fn a_database_not_granted_is_refused_and_a_granted_one_counts_changes() {
    let app = app().await;
    // Not listed by the component, whether the label exists (`default`) or not (`orders`).
    app.assert_each_denied(
        &[("other", "default"), ("web", "orders")],
        async |state, label| state.open(label).await.expect("no trap").err(),
        |refused| matches!(refused, Some(Error::AccessDenied)),
    )
    .await;

    let mut web = app.instance("web");
    let web = web.data_mut();
    let connection = open(web).await;
    ok(web, &connection, "CREATE TABLE t (n INTEGER)").await;
    ok(web, &connection, "INSERT INTO t VALUES (1), (2)").await;
    assert_eq!(web.changes(borrow(&connection)).await.expect("no trap"), 2);
    assert_eq!(
        web.last_insert_rowid(borrow(&connection))
            .await
            .expect("no trap"),
        2
    );
}
