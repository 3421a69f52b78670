//! Issue #17: with N replicas, each running its own ticker, the recovery pass of a context runs
//! once per interval, not N times. A tick names a lease (`?lease_ms=`) and runs its pass only
//! when it takes its context's lease in Redis; a call without one always runs. Another
//! replica is stood in for by this test writing the lease key itself: the lease lives only in
//! Redis, so that is all a replica does.

use serde_json::Value;
use wasmshop_tests::{Wasmshop, eventually};

const LEASE_KEY: &str = "wasmshop:recovery-lease:catalog";
const LEASE_MS: u64 = 3_000;

async fn recovery(shop: &Wasmshop, query: &str) -> (u16, Value) {
    shop.anonymous()
        .post(&format!("/admin/recovery{query}"))
        .send()
        .await
}

async fn tick(shop: &Wasmshop) -> (u16, Value) {
    recovery(shop, &format!("?lease_ms={LEASE_MS}")).await
}

fn assert_ran(status: u16, report: &Value) {
    assert_eq!(status, 200, "{report}");
    assert!(report.get("skipped").is_none(), "a pass ran: {report}");
    assert!(report["republished"].is_u64(), "{report}");
}

fn assert_skipped(status: u16, report: &Value) {
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["skipped"], "lease_held", "{report}");
    // The shape of a pass that did nothing, so schedulers reading the counts are unaffected.
    for count in [
        "republished",
        "redelivered",
        "acknowledged",
        "redriven",
        "resolved",
    ] {
        assert_eq!(report[count], 0, "{count}: {report}");
    }
}

fn redis(shop: &Wasmshop) -> redis::Connection {
    shop.redis.connection().expect("redis connection")
}

/// Milliseconds left on `key` (-2: no such key).
fn ttl_left(shop: &Wasmshop, key: &str) -> i64 {
    redis::cmd("PTTL")
        .arg(key)
        .query(&mut redis(shop))
        .expect("PTTL")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tick_runs_once_per_lease_and_an_explicit_call_always_runs() {
    let mut shop = Wasmshop::component("catalog")
        .start()
        .await
        .expect("catalog boots from spin.toml");

    // A lease out of bounds is refused before any lease is taken.
    for lease_ms in ["99", "0", "600001", "99999999999"] {
        let (status, body) = recovery(&shop, &format!("?lease_ms={lease_ms}")).await;
        assert_eq!(
            (status, &body["error"]["code"]),
            (422, &Value::from("invalid_input")),
            "{lease_ms}: {body}"
        );
        assert_eq!(
            body["error"]["details"]["fields"][0]["field"], "lease_ms",
            "{body}"
        );
    }
    let (status, body) = recovery(&shop, "?lease_ms=soon").await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (400, &Value::from("invalid_query")),
        "{body}"
    );
    assert_eq!(
        ttl_left(&shop, LEASE_KEY),
        -2,
        "no lease taken by a refused tick"
    );

    // Each context has its own lease: another context's does not hold this one back.
    let _: () = redis::cmd("SET")
        .arg("wasmshop:recovery-lease:orders")
        .arg("replica-b")
        .arg("PX")
        .arg(60_000)
        .query(&mut redis(&shop))
        .expect("SET");
    let (status, first) = tick(&shop).await;
    assert_ran(status, &first);
    let left = ttl_left(&shop, LEASE_KEY);
    assert!(
        (1..=LEASE_MS as i64).contains(&left),
        "held for lease_ms: {left}"
    );

    // A second tick within the lease (another replica's, or this one's) skips its pass.
    let (status, second) = tick(&shop).await;
    assert_skipped(status, &second);

    // An operator's or a test's call names no lease: it runs even while the lease is held.
    let (status, explicit) = recovery(&shop, "").await;
    assert_ran(status, &explicit);
    assert!(ttl_left(&shop, LEASE_KEY) > 0, "the lease still holds");
    let (status, still) = tick(&shop).await;
    assert_skipped(status, &still);

    // Once the lease expires, the next tick runs and takes it again.
    eventually("the lease to expire", || async {
        (ttl_left(&shop, LEASE_KEY) == -2).then_some(())
    })
    .await;
    let (status, after) = tick(&shop).await;
    assert_ran(status, &after);
    assert!(ttl_left(&shop, LEASE_KEY) > 0, "taken again");

    // A lease another replica holds is neither overwritten nor extended.
    let _: () = redis::cmd("SET")
        .arg(LEASE_KEY)
        .arg("replica-b")
        .arg("PX")
        .arg(60_000)
        .query(&mut redis(&shop))
        .expect("SET");
    let (status, skipped) = tick(&shop).await;
    assert_skipped(status, &skipped);
    let holder: String = redis::cmd("GET")
        .arg(LEASE_KEY)
        .query(&mut redis(&shop))
        .expect("GET");
    assert_eq!(holder, "replica-b");
    assert!(ttl_left(&shop, LEASE_KEY) > 50_000, "not shortened");

    // With Redis away no lease can be taken, and the pass runs anyway: skipping it would stop
    // recovery for as long as Redis is down.
    shop.redis.stop();
    let (status, without_redis) = tick(&shop).await;
    assert_ran(status, &without_redis);
    // The log is written when the instance ends, which may be just after it answered.
    let log = shop.state_dir().join("logs/catalog_stderr.txt");
    eventually("the missing lease in catalog's log", || async {
        std::fs::read_to_string(&log)
            .ok()
            .filter(|log| log.contains("recovery lease not taken, passing without it"))
    })
    .await;
}
