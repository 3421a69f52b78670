//! One message, exactly once, whatever carried it: believed only from its channel's producer,
//! applied with its inbox row in one transaction (a known id is a duplicate), or kept as a
//! dead letter; then, once committed, its outbox rows relayed and the consumer's
//! [`Consumer::after_commit`] run. A dead letter's retry takes the same path.

use spin_sdk::sqlite3::Connection;

use super::dead_letters;
use super::{Consumer, Failure, Outcome};
use crate::Event;
use crate::channels::producer_for;
use crate::db::{self, DbError, transaction};
use crate::ids;

/// The stable start of the error of an envelope refused for its `source`.
pub const UNTRUSTED_SOURCE: &str = "untrusted_source";

/// An envelope is applied only if its `source` owns the channel that brought it
/// ([`producer_for`]): any context able to publish could otherwise command another (reserve
/// stock, capture a payment).
pub fn check_source(consumer: &str, event: &Event) -> Result<(), Failure> {
    let (event_type, source) = (&event.event_type, &event.source);
    match producer_for(consumer, event_type) {
        Some(producer) if producer == source => Ok(()),
        Some(producer) => Err(Failure::Permanent(format!(
            "{UNTRUSTED_SOURCE}: {consumer} takes `{event_type}` only from {producer}, not from `{source}`"
        ))),
        None => Err(Failure::Permanent(format!(
            "{UNTRUSTED_SOURCE}: no channel brings `{event_type}` to {consumer} (from `{source}`)"
        ))),
    }
}

/// The one entry of every transport. Never fails the message: what cannot be applied now is
/// kept, and an envelope not from its channel's producer ([`check_source`]) is kept `dead`.
/// `Err` only when even keeping it failed (the database is unusable).
pub fn receive(
    conn: &Connection,
    payload: &[u8],
    consumer: &dyn Consumer,
    source: &str,
) -> Result<Outcome, DbError> {
    let text = || String::from_utf8_lossy(payload).into_owned();
    let event: Event = match serde_json::from_slice(payload) {
        Ok(event) => event,
        Err(e) => {
            let error = format!("not an event envelope: {e}");
            dead_letters::park_unreadable(conn, &text(), &error)?;
            crate::trace::log(source, format_args!("dead letter: {error}"));
            return Ok(Outcome::DeadLettered { error });
        }
    };
    let outcome = match apply_once(conn, &event, consumer, source) {
        Ok(true) => Outcome::Applied,
        Ok(false) => Outcome::Duplicate,
        Err(failure) => {
            let previous = dead_letters::attempts_of(conn, &event.id)?;
            let outcome = dead_letters::record_failure(
                conn,
                &event.id,
                &event.event_type,
                &text(),
                &failure,
                previous,
            )?;
            crate::trace::log(
                source,
                format_args!(
                    "{} {} {}: {failure}",
                    event.event_type,
                    event.id,
                    outcome.as_str()
                ),
            );
            outcome
        }
    };
    if outcome == Outcome::Applied {
        after_commit(conn, &event, consumer, source);
    }
    Ok(outcome)
}

/// Applies `event` unless its id is in the inbox; `Ok(false)` for a duplicate. `name` is the
/// consumer's context.
fn apply_once(
    conn: &Connection,
    event: &Event,
    consumer: &dyn Consumer,
    name: &str,
) -> Result<bool, Failure> {
    check_source(name, event)?;
    // What the consumer emits, chains or logs continues the event's trace.
    crate::trace::adopt(event.trace.as_ref().map(|t| t.traceparent.as_str()));
    transaction(conn, |conn| -> Result<bool, Failure> {
        // The inbox row first, in the same transaction as the effect: a known id inserts
        // nothing, and the copy is a duplicate. One statement settles both the check and the
        // record, and two copies that race meet on the write lock.
        conn.execute(
            "INSERT INTO inbox (event_id, event_type, processed_at) VALUES (?, ?, ?) ON CONFLICT (event_id) DO NOTHING",
            &[
                db::text(&event.id),
                db::text(&event.event_type),
                db::text(ids::now_rfc3339()),
            ],
        )
        .map_err(DbError::from)?;
        if conn.changes() == 0 {
            return Ok(false);
        }
        consumer.apply(conn, event)?;
        Ok(true)
    })
}

/// What follows an applied event's commit, the same for every transport and every retry.
fn after_commit(conn: &Connection, event: &Event, consumer: &dyn Consumer, source: &str) {
    crate::outbox::relay_after_commit(conn, source);
    consumer.after_commit(conn, event);
}

/// Re-drives one kept message now (an operator's retry, or the recovery tick's); its row ends
/// `resolved` or with its failure recorded. `None` when there is no such dead letter.
pub(super) fn redrive(
    conn: &Connection,
    id: &str,
    consumer: &dyn Consumer,
    source: &str,
) -> Result<Option<Outcome>, DbError> {
    let Some(letter) = dead_letters::letter(conn, id)? else {
        return Ok(None);
    };
    let event_type = letter.event_type.unwrap_or_default();
    let failed = |failure: &Failure| {
        dead_letters::record_failure(
            conn,
            id,
            &event_type,
            &letter.payload,
            failure,
            letter.attempts,
        )
    };
    let event = match serde_json::from_str::<Event>(&letter.payload) {
        Ok(event) => event,
        Err(e) => {
            return failed(&Failure::Permanent(format!("not an event envelope: {e}"))).map(Some);
        }
    };
    let outcome = match apply_once(conn, &event, consumer, source) {
        Ok(applied) => {
            dead_letters::resolve(conn, id)?;
            if applied {
                after_commit(conn, &event, consumer, source);
                Outcome::Applied
            } else {
                Outcome::Duplicate
            }
        }
        Err(failure) => failed(&failure)?,
    };
    Ok(Some(outcome))
}

/// [`receive`], opening the database only for a message the consumer does not ignore.
pub(super) fn receive_opening(
    open: &dyn Fn() -> Result<Connection, DbError>,
    payload: &[u8],
    consumer: &dyn Consumer,
    source: &str,
) -> Result<Outcome, DbError> {
    if Head::of(payload).is_some_and(|head| consumer.ignores(&head.event_type)) {
        return Ok(Outcome::Ignored);
    }
    receive(&open()?, payload, consumer, source)
}

/// The envelope field read before the whole event: what decides ignoring it.
#[derive(serde::Deserialize)]
struct Head {
    event_type: String,
}

impl Head {
    fn of(payload: &[u8]) -> Option<Self> {
        serde_json::from_slice(payload).ok()
    }
}

/// The body of a `#[redis_component]` named `source` (its context's name in
/// `crate::channels::CHANNELS`).
pub fn on_redis_message(
    open: &dyn Fn() -> Result<Connection, DbError>,
    payload: &[u8],
    consumer: &dyn Consumer,
    source: &str,
) -> anyhow::Result<Outcome> {
    receive_opening(open, payload, consumer, source)
        .map_err(|e| anyhow::anyhow!("{source}: could not keep a message: {e}"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::channels::{payment, shipment, stock, user};

    #[test]
    fn commands_and_replies_are_believed_only_from_their_channels_producer() {
        let from = |event_type: &str, source: &str| {
            crate::events::envelope(event_type, source, "order-1", &json!({})).expect("json")
        };
        // Whatever the catalogue brings a consumer, from the channel's producer.
        for channel in crate::channels::CHANNELS {
            for (consumer, _) in channel.consumers {
                for event_type in channel.carries {
                    let event = from(event_type, channel.producer);
                    assert_eq!(check_source(consumer, &event), Ok(()), "{event:?}");
                }
            }
        }
        let refused = |consumer: &str, event: Event| match check_source(consumer, &event) {
            Err(Failure::Permanent(error)) => error,
            other => panic!("{consumer} accepted {event:?}: {other:?}"),
        };
        let error = refused("catalog", from(stock::RESERVE, "users"));
        assert_eq!(
            error,
            "untrusted_source: catalog takes `stock.reserve` only from orders, not from `users`"
        );
        // A reply names the context that answers, a command the orchestrator.
        assert!(
            refused("orders", from(payment::AUTHORIZED, "shipping")).starts_with(UNTRUSTED_SOURCE)
        );
        assert!(
            refused("payments", from(payment::CAPTURE, "payments")).starts_with(UNTRUSTED_SOURCE)
        );
        assert!(refused("notifications", from(payment::AUTHORIZE, "orders")).contains("payments"));
        assert!(
            refused("shipping", from(shipment::CANCEL, "shipping")).starts_with(UNTRUSTED_SOURCE)
        );
        // Nothing reaches a context on a channel it does not read.
        assert!(refused("notifications", from(stock::LOW, "catalog")).contains("no channel"));
        assert!(refused("users", from(user::REGISTERED, "users")).starts_with(UNTRUSTED_SOURCE));
        assert!(refused("catalog", from("stock", "orders")).starts_with(UNTRUSTED_SOURCE));
    }
}
