//! The recovery tick of a context (`POST /admin/recovery`): what its outbox still owes, the
//! second delivery of recent events, the dead letters whose retry is due, then the context's
//! own share ([`Consumer::tick`]).
//!
//! Every replica of a context runs its own ticker, so a tick names a lease (`lease_ms`) and
//! runs its pass only when it takes its context's lease in Redis: one pass per interval across
//! the fleet instead of one per replica. A call without a lease (an operator's, a test's)
//! always runs.

use std::ops::RangeInclusive;

use serde::Serialize;
use serde_json::Value;
use spin_sdk::sqlite3::Connection;

use super::receive::redrive;
use super::{Consumer, Failure, Outcome, dead_letters};
use crate::lease::{self, Lease};
use crate::outbox;

/// Rows and letters per pass. A pass's second delivery asks each subscriber about at most this
/// many events, so one question always fits what a subscriber answers.
const RECOVERY_BATCH: u32 = crate::acks::MAX_KEPT_QUERY as u32;

/// How long a tick may hold its context's lease, in ms: a shorter lease would lapse during its
/// own pass; a longer one, from a wrong value, would hold recovery off for longer than anyone
/// would wait for it.
pub const LEASE_MS: RangeInclusive<u32> = 100..=600_000;

/// What a pass did, as the route answers it.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    /// Why no pass ran; absent when one did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<&'static str>,
    pub republished: usize,
    pub redelivered: usize,
    pub acknowledged: usize,
    pub redriven: usize,
    pub resolved: usize,
    /// The context's own tick (orders: `{due, moved}`).
    pub context: Value,
}

impl Report {
    /// A tick whose interval another replica has taken: the shape of a pass that did nothing,
    /// so that schedulers reading the counts need not tell the two apart.
    pub fn lease_held() -> Self {
        Self {
            skipped: Some("lease_held"),
            ..Self::default()
        }
    }
}

/// The Redis key of `source`'s recovery lease, shared by all its replicas.
fn lease_key(source: &str) -> String {
    format!("wasmshop:recovery-lease:{source}")
}

/// Whether a tick of `source` may run its pass: it took the lease for `lease_ms`, or Redis
/// gave no answer. A pass without the lease only repeats work the inboxes make harmless, while
/// skipping it would stop recovery for as long as Redis is away.
pub fn lease_granted(source: &str, lease_ms: u32) -> bool {
    match lease::take(&lease_key(source), lease_ms) {
        Ok(Lease::Taken) => true,
        Ok(Lease::HeldElsewhere) => false,
        Err(e) => {
            crate::trace::log(
                source,
                format_args!("recovery lease not taken, passing without it: {e}"),
            );
            true
        }
    }
}

/// One pass of the recovery tick for a context: re-publish what its outbox still holds, send
/// recent events a second time (`outbox::redeliver`), re-drive kept messages whose retry is
/// due, then the context's own [`Consumer::tick`].
pub fn recover(
    conn: &Connection,
    consumer: &dyn Consumer,
    source: &str,
) -> Result<Report, Failure> {
    let republished = match outbox::publish_pending(conn, RECOVERY_BATCH) {
        Ok(count) => count,
        Err(e) => {
            crate::trace::log(source, format_args!("recovery could not publish: {e}"));
            0
        }
    };
    let redelivery = match outbox::redeliver(conn, RECOVERY_BATCH) {
        Ok(redelivery) => redelivery,
        Err(e) => {
            crate::trace::log(source, format_args!("recovery could not redeliver: {e}"));
            outbox::Redelivery::default()
        }
    };
    let due = dead_letters::due(conn, RECOVERY_BATCH)?;
    let mut resolved = 0;
    for id in &due {
        if let Some(Outcome::Applied | Outcome::Duplicate) = redrive(conn, id, consumer, source)? {
            resolved += 1;
        }
    }
    let own = consumer.tick(conn)?;
    if !own.is_null() {
        outbox::relay_after_commit(conn, source);
    }
    Ok(Report {
        skipped: None,
        republished,
        redelivered: redelivery.published,
        acknowledged: redelivery.acknowledged,
        redriven: due.len(),
        resolved,
        context: own,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_skipped_tick_answers_in_the_shape_of_a_pass_that_did_nothing() {
        let skipped = serde_json::to_value(Report::lease_held()).expect("serializes");
        assert_eq!(
            skipped,
            json!({
                "skipped": "lease_held",
                "republished": 0,
                "redelivered": 0,
                "acknowledged": 0,
                "redriven": 0,
                "resolved": 0,
                "context": null,
            })
        );
        let pass = serde_json::to_value(Report::default()).expect("serializes");
        assert!(pass.get("skipped").is_none(), "{pass}");
    }

    #[test]
    fn each_context_has_its_own_lease() {
        assert_eq!(lease_key("orders"), "wasmshop:recovery-lease:orders");
        assert_ne!(lease_key("orders"), lease_key("catalog"));
    }
}
