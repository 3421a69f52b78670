//! The recovery tick of a context (`POST /admin/recovery`): what its outbox still owes, the
//! second delivery of recent events, the dead letters whose retry is due, then the context's
//! own share ([`Consumer::tick`]).

use serde_json::{Value, json};
use spin_sdk::sqlite3::Connection;

use super::receive::redrive;
use super::{Consumer, Failure, Outcome, dead_letters};
use crate::outbox;

/// Rows and letters per pass. A pass's second delivery asks each subscriber about at most this
/// many events, so one question always fits what a subscriber answers.
const RECOVERY_BATCH: u32 = crate::acks::MAX_KEPT_QUERY as u32;

/// One pass of the recovery tick for a context: re-publish what its outbox still holds, send
/// recent events a second time (`outbox::redeliver`), re-drive kept messages whose retry is
/// due, then the context's own [`Consumer::tick`].
pub fn recover(conn: &Connection, consumer: &dyn Consumer, source: &str) -> Result<Value, Failure> {
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
    Ok(json!({
        "republished": republished,
        "redelivered": redelivery.published,
        "acknowledged": redelivery.acknowledged,
        "redriven": due.len(),
        "resolved": resolved,
        "context": own,
    }))
}
