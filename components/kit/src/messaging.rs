//! Reliable consumption of events and commands, the same whatever carried them.
//!
//! Redis pub/sub under Spin is at-most-once: a message whose handler fails is dropped and nothing
//! redelivers it. So a consumer never lets a message fail: it is applied exactly once (its effect
//! and its inbox row commit together, a duplicate id is acknowledged and ignored) or it is kept
//! in `dead_letters` — to be re-driven by the recovery tick while the failure looks transient,
//! or parked as `dead` for an operator to retry or discard through the admin routes.
//!
//! Two transports reach the same [`receive`]: an HTTP push to the consumer's private `POST
//! /events` route ([`routes`], the default) and the Redis trigger ([`on_redis_message`]). Which
//! one producers use is the `event_transport` variable (see `outbox`). Either way, a producer's
//! recovery tick asks each subscriber which events it kept (`POST /events/kept`, answered from
//! the inbox and dead letters) and sends the rest once more.

use serde_json::{Value, json};
use spin_sdk::http::{Method, Request, Response};
use spin_sdk::sqlite3::Connection;

use crate::Event;
use crate::db::{self, DbError, Migration, transaction};
use crate::error::ApiError;
use crate::http::segments;
use crate::identity::Identity;
use crate::ids;
use crate::json::json_response;

/// Why a message could not be applied.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Failure {
    /// Will fail the same way every time: malformed, unknown type, broken invariant.
    #[error("permanent: {0}")]
    Permanent(String),
    /// May succeed later: a busy database, a peer that is down.
    #[error("transient: {0}")]
    Transient(String),
}

impl From<DbError> for Failure {
    fn from(e: DbError) -> Self {
        Failure::Transient(e.to_string())
    }
}

impl From<spin_sdk::sqlite3::Error> for Failure {
    fn from(e: spin_sdk::sqlite3::Error) -> Self {
        Failure::from(DbError::from(e))
    }
}

impl From<serde_json::Error> for Failure {
    fn from(e: serde_json::Error) -> Self {
        Failure::Permanent(format!("payload: {e}"))
    }
}

/// A context's handling of the events and commands it subscribes to.
pub trait Consumer {
    /// Applies one event inside the open write transaction `conn`: its effect, its inbox row
    /// (written by this module) and the outbox rows it enqueues commit together.
    fn apply(&self, conn: &Connection, event: &Event) -> Result<(), Failure>;

    /// Whether every event of `event_type` is nothing to this context, whatever its data. Such
    /// a message is acknowledged before the database is even opened, with no inbox row:
    /// ignoring it twice changes nothing. (Subscribers get every event of a channel, and most
    /// of a busy channel can be of no interest to one of them.)
    fn ignores(&self, _event_type: &str) -> bool {
        false
    }

    /// The context's own share of the recovery tick (orders: saga steps past their deadline).
    fn tick(&self, _conn: &Connection) -> Result<Value, Failure> {
        Ok(Value::Null)
    }
}

/// How a received message ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Applied,
    /// Its id was already in the inbox.
    Duplicate,
    /// Of a type the consumer [`Consumer::ignores`].
    Ignored,
    /// Failed transiently; the recovery tick re-drives it.
    Deferred {
        attempts: u32,
        error: String,
    },
    /// Failed for good (or too often); kept for an operator.
    DeadLettered {
        error: String,
    },
}

impl Outcome {
    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::Duplicate => "duplicate",
            Outcome::Ignored => "ignored",
            Outcome::Deferred { .. } => "deferred",
            Outcome::DeadLettered { .. } => "dead_lettered",
        }
    }
}

pub const MESSAGING_SQL: &str = "CREATE TABLE inbox (
  event_id TEXT PRIMARY KEY,
  event_type TEXT NOT NULL,
  processed_at TEXT NOT NULL
);
CREATE TABLE dead_letters (
  id TEXT PRIMARY KEY,
  event_type TEXT,
  payload TEXT NOT NULL,
  error TEXT NOT NULL,
  attempts INTEGER NOT NULL,
  status TEXT NOT NULL,
  next_attempt_ms INTEGER,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE INDEX dead_letters_due ON dead_letters (status, next_attempt_ms)";

/// Add to every consuming context's migrations (after the outbox's).
pub fn migration(version: u32) -> Migration {
    Migration {
        version,
        sql: MESSAGING_SQL,
    }
}

/// Attempts (the first included) before a transiently failing message is declared dead.
pub const MAX_ATTEMPTS: u32 = 6;
const RETRY_BASE_MS: i64 = 500;
const RETRY_CAP_MS: i64 = 30_000;

/// Dead-letter states.
pub mod status {
    pub const RETRYING: &str = "retrying";
    pub const DEAD: &str = "dead";
    pub const RESOLVED: &str = "resolved";
    pub const DISCARDED: &str = "discarded";
}

/// Which event types of a channel a consumer acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interest {
    Every,
    /// Only these; the channel's other types are nothing to it.
    Only(&'static [&'static str]),
}

impl Interest {
    pub fn covers(self, event_type: &str) -> bool {
        match self {
            Interest::Every => true,
            Interest::Only(types) => types.contains(&event_type),
        }
    }
}

/// Which components consume each channel, and what of it — the map the HTTP-push transport
/// delivers by. Its channels and consumers mirror the `[[trigger.redis]]` entries of
/// `spin.toml` (a test keeps the two equal). Pub/sub hands a subscriber every message of its
/// channel, but a push goes only where the event type is of interest: an instance started for
/// an event it ignores costs as much as one that does work.
pub const SUBSCRIBERS: &[(&str, &[(&str, Interest)])] = &[
    (
        "users.events",
        &[(
            "notifications",
            Interest::Only(&["user.registered", "user.profile-updated"]),
        )],
    ),
    ("catalog.commands", &[("catalog", Interest::Every)]),
    // Orders acts only on the replies it awaits; `stock.committed` is not awaited (the commit
    // is sent with the confirmation) and product facts are the gateway cache's business.
    (
        "catalog.events",
        &[(
            "orders",
            Interest::Only(&[
                "stock.reserved",
                "stock.reservation-failed",
                "stock.released",
            ]),
        )],
    ),
    ("payments.commands", &[("payments", Interest::Every)]),
    (
        "payments.events",
        &[
            ("orders", Interest::Every),
            ("notifications", Interest::Only(&["payment.failed"])),
        ],
    ),
    ("shipping.commands", &[("shipping", Interest::Every)]),
    (
        "shipping.events",
        &[
            ("orders", Interest::Every),
            (
                "notifications",
                Interest::Only(&["shipment.status-changed"]),
            ),
        ],
    ),
    (
        "orders.events",
        &[(
            "notifications",
            Interest::Only(&["order.confirmed", "order.cancelled", "order.failed"]),
        )],
    ),
];

/// The one context that publishes on each channel, and the families of event types it carries
/// (`stock` for `stock.*`). A consumer believes an envelope only from the producer of the
/// channel that brought it. No consumer reads two channels of one family, so the event type
/// names that channel: the Redis trigger does not say which channel a message came on, and a
/// push's `x-event-channel` header is only the sender's word.
pub const PRODUCERS: &[(&str, &str, &[&str])] = &[
    ("users.events", "users", &["user"]),
    ("catalog.commands", "orders", &["stock"]),
    ("catalog.events", "catalog", &["stock", "product"]),
    ("payments.commands", "orders", &["payment"]),
    ("payments.events", "payments", &["payment"]),
    ("shipping.commands", "orders", &["shipment"]),
    ("shipping.events", "shipping", &["shipment"]),
    ("orders.events", "orders", &["order"]),
];

/// The stable start of the error of an envelope refused for its `source`.
pub const UNTRUSTED_SOURCE: &str = "untrusted_source";

/// Whom `consumer` takes events of `event_type` from: the producer of its channel of that
/// type's family; `None` when no channel brings such events to it.
pub fn producer_for(consumer: &str, event_type: &str) -> Option<&'static str> {
    let (family, _) = event_type.split_once('.')?;
    PRODUCERS
        .iter()
        .find(|(channel, _, families)| {
            families.contains(&family) && subscribers(channel).any(|c| c == consumer)
        })
        .map(|(_, producer, _)| *producer)
}

/// An envelope is applied only if its `source` owns the channel that brought it: any context
/// able to publish could otherwise command another (reserve stock, capture a payment).
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

fn channel_consumers(channel: &str) -> &'static [(&'static str, Interest)] {
    SUBSCRIBERS
        .iter()
        .find(|(name, _)| *name == channel)
        .map(|(_, consumers)| *consumers)
        .unwrap_or(&[])
}

/// Every consumer of `channel`, whatever the event.
pub fn subscribers(channel: &str) -> impl Iterator<Item = &'static str> {
    channel_consumers(channel)
        .iter()
        .map(|(consumer, _)| *consumer)
}

/// The consumers of `channel` that act on events of `event_type`.
pub fn interested(channel: &str, event_type: &str) -> impl Iterator<Item = &'static str> {
    channel_consumers(channel)
        .iter()
        .filter(move |(_, interest)| interest.covers(event_type))
        .map(|(consumer, _)| *consumer)
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
    let event: Event = match serde_json::from_slice(payload) {
        Ok(event) => event,
        Err(e) => {
            let error = format!("not an event envelope: {e}");
            let text = String::from_utf8_lossy(payload).into_owned();
            park(conn, &ids::new_id(), None, &text, &error, 1, status::DEAD)?;
            crate::trace::log(source, format_args!("dead letter: {error}"));
            return Ok(Outcome::DeadLettered { error });
        }
    };
    let outcome = match apply_once(conn, &event, consumer, source) {
        Ok(true) => Outcome::Applied,
        Ok(false) => Outcome::Duplicate,
        Err(failure) => {
            let text = String::from_utf8_lossy(payload).into_owned();
            // A redelivery of a message already kept continues its count.
            let kept = conn.execute(
                "SELECT attempts FROM dead_letters WHERE id = ?",
                &[db::text(&event.id)],
            )?;
            let previous = db::rows(&kept)
                .next()
                .map(|row| row.int("attempts"))
                .transpose()?
                .map_or(0, |n| u32::try_from(n).unwrap_or(u32::MAX));
            let outcome = record_failure(
                conn,
                &event.id,
                &event.event_type,
                &text,
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
        crate::outbox::relay_after_commit(conn, source);
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

/// Keeps a failed message: retrying with backoff while transient and under the attempt cap,
/// dead otherwise. `previous_attempts` is what its dead-letter row already counted.
fn record_failure(
    conn: &Connection,
    id: &str,
    event_type: &str,
    payload: &str,
    failure: &Failure,
    previous_attempts: u32,
) -> Result<Outcome, DbError> {
    let attempts = previous_attempts + 1;
    let (state, outcome) = match failure {
        Failure::Transient(error) if attempts < MAX_ATTEMPTS => (
            status::RETRYING,
            Outcome::Deferred {
                attempts,
                error: error.clone(),
            },
        ),
        other => (
            status::DEAD,
            Outcome::DeadLettered {
                error: other.to_string(),
            },
        ),
    };
    park(
        conn,
        id,
        Some(event_type),
        payload,
        &failure.to_string(),
        attempts,
        state,
    )?;
    Ok(outcome)
}

fn park(
    conn: &Connection,
    id: &str,
    event_type: Option<&str>,
    payload: &str,
    error: &str,
    attempts: u32,
    state: &str,
) -> Result<(), DbError> {
    let now = ids::now_rfc3339();
    let next_attempt = (state == status::RETRYING).then(|| {
        ids::now_unix_millis()
            + ids::backoff_ms(attempts.saturating_sub(1), RETRY_BASE_MS, RETRY_CAP_MS)
    });
    conn.execute(
        "INSERT INTO dead_letters (id, event_type, payload, error, attempts, status, next_attempt_ms, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET error = excluded.error, attempts = excluded.attempts,
           status = excluded.status, next_attempt_ms = excluded.next_attempt_ms, updated_at = excluded.updated_at",
        &[
            db::text(id),
            db::opt_text(event_type),
            db::text(payload),
            db::text(error),
            db::int(attempts),
            db::text(state),
            next_attempt.map_or(spin_sdk::sqlite3::Value::Null, spin_sdk::sqlite3::Value::Integer),
            db::text(&now),
            db::text(&now),
        ],
    )?;
    Ok(())
}

/// Re-drives one kept message now; its row ends `resolved` or with its failure recorded.
fn redrive(
    conn: &Connection,
    id: &str,
    consumer: &dyn Consumer,
    source: &str,
) -> Result<Option<Outcome>, DbError> {
    let found = conn.execute(
        "SELECT payload, attempts, event_type FROM dead_letters WHERE id = ?",
        &[db::text(id)],
    )?;
    let Some(row) = db::rows(&found).next() else {
        return Ok(None);
    };
    let payload = row.text("payload")?;
    let attempts = u32::try_from(row.int("attempts")?).unwrap_or(u32::MAX);
    let event_type = row.opt_text("event_type")?.unwrap_or_default();
    let outcome = match serde_json::from_str::<Event>(&payload) {
        Err(e) => record_failure(
            conn,
            id,
            &event_type,
            &payload,
            &Failure::Permanent(format!("not an event envelope: {e}")),
            attempts,
        )?,
        Ok(event) => match apply_once(conn, &event, consumer, source) {
            Ok(applied) => {
                conn.execute(
                    "UPDATE dead_letters SET status = ?, next_attempt_ms = NULL, updated_at = ? WHERE id = ?",
                    &[db::text(status::RESOLVED), db::text(ids::now_rfc3339()), db::text(id)],
                )?;
                if applied {
                    Outcome::Applied
                } else {
                    Outcome::Duplicate
                }
            }
            Err(failure) => record_failure(conn, id, &event_type, &payload, &failure, attempts)?,
        },
    };
    Ok(Some(outcome))
}

/// One pass of the recovery tick for a context: re-publish what its outbox still holds, send
/// recent events a second time over Redis (`outbox::redeliver`),
/// re-drive kept messages whose retry is due, then the context's own [`Consumer::tick`].
pub fn recover(conn: &Connection, consumer: &dyn Consumer, source: &str) -> Result<Value, Failure> {
    let republished = match crate::outbox::publish_pending(conn, RECOVERY_BATCH) {
        Ok(count) => count,
        Err(e) => {
            crate::trace::log(source, format_args!("recovery could not publish: {e}"));
            0
        }
    };
    let redelivery = match crate::outbox::redeliver(conn, RECOVERY_BATCH) {
        Ok(redelivery) => redelivery,
        Err(e) => {
            crate::trace::log(source, format_args!("recovery could not redeliver: {e}"));
            crate::outbox::Redelivery::default()
        }
    };
    let due = conn.execute(
        "SELECT id FROM dead_letters WHERE status = ? AND next_attempt_ms <= ? ORDER BY next_attempt_ms LIMIT ?",
        &[
            db::text(status::RETRYING),
            db::int(ids::now_unix_millis()),
            db::int(RECOVERY_BATCH),
        ],
    )?;
    let mut redriven = 0;
    let mut resolved = 0;
    for row in db::rows(&due) {
        redriven += 1;
        if let Some(Outcome::Applied | Outcome::Duplicate) =
            redrive(conn, &row.text("id")?, consumer, source)?
        {
            resolved += 1;
        }
    }
    if resolved > 0 {
        crate::outbox::relay_after_commit(conn, source);
    }
    let own = consumer.tick(conn)?;
    if !own.is_null() {
        crate::outbox::relay_after_commit(conn, source);
    }
    Ok(json!({
        "republished": republished,
        "redelivered": redelivery.published,
        "acknowledged": redelivery.acknowledged,
        "redriven": redriven,
        "resolved": resolved,
        "context": own,
    }))
}

const RECOVERY_BATCH: u32 = 500;

/// The body of a `#[redis_component]` named `source` (its context's name in [`SUBSCRIBERS`]).
pub fn on_redis_message(
    open: &dyn Fn() -> Result<Connection, DbError>,
    payload: &[u8],
    consumer: &dyn Consumer,
    source: &str,
) -> anyhow::Result<Outcome> {
    receive_opening(open, payload, Head::of(payload).as_ref(), consumer, source)
        .map_err(|e| anyhow::anyhow!("{source}: could not keep a message: {e}"))
}

/// An event a producer asks about: its id, and its type (a type the consumer ignores leaves
/// no trace, and counts as kept).
#[derive(serde::Serialize, serde::Deserialize)]
struct Asked {
    id: String,
    event_type: String,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct KeptQuery {
    events: Vec<Asked>,
}

#[derive(serde::Deserialize)]
struct KeptAnswer {
    kept: Vec<bool>,
}

/// For each row, whether every subscriber of its channel has kept it (applied, duplicate,
/// ignored, or held as a dead letter). Each subscriber is asked once for all its rows, by
/// service chaining to its private `POST /events/kept`. A subscriber that cannot answer has
/// kept nothing: its rows are sent again, and its inbox drops what it already had.
pub fn kept_by_all(rows: &[crate::outbox::Pending]) -> Vec<bool> {
    let mut kept = vec![true; rows.len()];
    // A consumer never sent an event it has no interest in has nothing to keep.
    let consumers: std::collections::BTreeSet<&str> = rows
        .iter()
        .flat_map(|row| interested(&row.channel, &row.event_type))
        .collect();
    for consumer in consumers {
        let asked: Vec<usize> = (0..rows.len())
            .filter(|&index| {
                interested(&rows[index].channel, &rows[index].event_type).any(|c| c == consumer)
            })
            .collect();
        let query = KeptQuery {
            events: asked
                .iter()
                .map(|&index| Asked {
                    id: rows[index].id.clone(),
                    event_type: rows[index].event_type.clone(),
                })
                .collect(),
        };
        let answer = ask_kept(consumer, &query).filter(|answer| answer.len() == asked.len());
        for (position, &index) in asked.iter().enumerate() {
            kept[index] &= answer.as_ref().is_some_and(|answer| answer[position]);
        }
    }
    kept
}

fn ask_kept(consumer: &str, query: &KeptQuery) -> Option<Vec<bool>> {
    let url = format!("http://{consumer}.spin.internal/events/kept");
    let body = serde_json::to_vec(query).ok()?;
    let request = spin_sdk::http::Request::builder()
        .method(Method::Post)
        .uri(&url)
        .header("content-type", "application/json")
        .body(body)
        .build();
    let response: Response = match spin_sdk::http::run(spin_sdk::http::send(request)) {
        Ok(response) => response,
        Err(e) => {
            crate::trace::log("messaging", format_args!("asking {url}: {e}"));
            return None;
        }
    };
    if *response.status() != 200 {
        return None;
    }
    serde_json::from_slice::<KeptAnswer>(response.body())
        .ok()
        .map(|answer| answer.kept)
}

/// Which of `events` this consumer has kept: in its inbox, among its dead letters, or of a type
/// it ignores.
fn kept(
    conn: &Connection,
    events: &[Asked],
    consumer: &dyn Consumer,
) -> Result<Vec<bool>, DbError> {
    let asked: Vec<&Asked> = events
        .iter()
        .filter(|event| !consumer.ignores(&event.event_type))
        .collect();
    let mut found = std::collections::HashSet::new();
    if !asked.is_empty() {
        let placeholders = vec!["?"; asked.len()].join(", ");
        let ids: Vec<spin_sdk::sqlite3::Value> =
            asked.iter().map(|event| db::text(&event.id)).collect();
        let result = conn.execute(
            &format!(
                "SELECT event_id AS id FROM inbox WHERE event_id IN ({placeholders})
                 UNION SELECT id FROM dead_letters WHERE id IN ({placeholders})"
            ),
            &[ids.clone(), ids].concat(),
        )?;
        for row in db::rows(&result) {
            found.insert(row.text("id")?);
        }
    }
    Ok(events
        .iter()
        .map(|event| consumer.ignores(&event.event_type) || found.contains(&event.id))
        .collect())
}

/// At most this many events per question, so that one answer stays small.
pub const MAX_KEPT_QUERY: usize = RECOVERY_BATCH as usize;

/// [`receive`], opening the database only for a message the consumer does not ignore.
fn receive_opening(
    open: &dyn Fn() -> Result<Connection, DbError>,
    payload: &[u8],
    head: Option<&Head>,
    consumer: &dyn Consumer,
    source: &str,
) -> Result<Outcome, DbError> {
    if head.is_some_and(|head| consumer.ignores(&head.event_type)) {
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

/// The routes every consuming context serves, before its own: `POST /events` (the HTTP-push
/// transport), `POST /admin/recovery` (the recovery tick; private, so only chaining, the
/// gateway's admin API or the runtime's tick reach it), and the dead-letter admin routes.
/// `None` when the path is none of them.
pub fn routes(
    req: &Request,
    open: &dyn Fn() -> Result<Connection, DbError>,
    consumer: &dyn Consumer,
    source: &str,
) -> Option<Response> {
    let method = req.method();
    let path = segments(req.path());
    let result = match path.as_slice() {
        ["events"] => Some(match method {
            Method::Post => push(req, open, consumer, source),
            _ => Err(ApiError::method_not_allowed(&["POST"])),
        }),
        ["events", "kept"] => Some(match method {
            Method::Post => answer_kept(req, open, consumer),
            _ => Err(ApiError::method_not_allowed(&["POST"])),
        }),
        ["admin", "recovery"] => Some(match method {
            Method::Post => open()
                .map_err(ApiError::from)
                .and_then(|conn| recover(&conn, consumer, source).map_err(failure_error))
                .map(|report| json_response(200, &report)),
            _ => Err(ApiError::method_not_allowed(&["POST"])),
        }),
        ["admin", "dead-letters"] => Some(match method {
            Method::Get => Identity::require_admin(req)
                .and_then(|_| list_dead_letters(req, open)),
            _ => Err(ApiError::method_not_allowed(&["GET"])),
        }),
        ["admin", "dead-letters", id, "retry"] => Some(match method {
            Method::Post => Identity::require_admin(req).and_then(|_| {
                let conn = open()?;
                match redrive(&conn, id, consumer, source)? {
                    None => Err(ApiError::not_found("no such dead letter")),
                    Some(outcome) => {
                        if matches!(outcome, Outcome::Applied) {
                            crate::outbox::relay_after_commit(&conn, source);
                        }
                        let letter = dead_letter(&conn, id)?
                            .ok_or_else(|| ApiError::not_found("no such dead letter"))?;
                        Ok(json_response(
                            200,
                            &json!({ "outcome": outcome.as_str(), "dead_letter": letter }),
                        ))
                    }
                }
            }),
            _ => Err(ApiError::method_not_allowed(&["POST"])),
        }),
        ["admin", "dead-letters", id] => Some(match method {
            Method::Get => Identity::require_admin(req).and_then(|_| {
                dead_letter(&open()?, id)?
                    .map(|letter| json_response(200, &letter))
                    .ok_or_else(|| ApiError::not_found("no such dead letter"))
            }),
            Method::Delete => Identity::require_admin(req).and_then(|_| {
                let conn = open()?;
                conn.execute(
                    "UPDATE dead_letters SET status = ?, next_attempt_ms = NULL, updated_at = ? WHERE id = ? AND status IN (?, ?)",
                    &[
                        db::text(status::DISCARDED),
                        db::text(ids::now_rfc3339()),
                        db::text(*id),
                        db::text(status::RETRYING),
                        db::text(status::DEAD),
                    ],
                )
                .map_err(DbError::from)?;
                dead_letter(&conn, id)?
                    .map(|letter| json_response(200, &letter))
                    .ok_or_else(|| ApiError::not_found("no such dead letter"))
            }),
            _ => Err(ApiError::method_not_allowed(&["GET", "DELETE"])),
        }),
        _ => None,
    };
    result.map(|result| result.unwrap_or_else(ApiError::into_response))
}

fn failure_error(failure: Failure) -> ApiError {
    ApiError::new(503, "recovery_failed", failure.to_string())
}

fn push(
    req: &Request,
    open: &dyn Fn() -> Result<Connection, DbError>,
    consumer: &dyn Consumer,
    source: &str,
) -> Result<Response, ApiError> {
    // 503 only when the message could not even be kept: the producer's outbox row then stays
    // unsent and the push is repeated.
    let body = req.body();
    let outcome = receive_opening(open, body, Head::of(body).as_ref(), consumer, source)
        .map_err(|e| ApiError::new(503, "not_kept", e.to_string()))?;
    Ok(json_response(202, &json!({ "outcome": outcome.as_str() })))
}

fn answer_kept(
    req: &Request,
    open: &dyn Fn() -> Result<Connection, DbError>,
    consumer: &dyn Consumer,
) -> Result<Response, ApiError> {
    let query: KeptQuery = serde_json::from_slice(req.body())
        .map_err(|e| ApiError::bad_request("invalid_body", e.to_string()))?;
    if query.events.len() > MAX_KEPT_QUERY {
        return Err(ApiError::bad_request(
            "too_many_events",
            format!("at most {MAX_KEPT_QUERY} events per question"),
        ));
    }
    let kept = kept(&open()?, &query.events, consumer)?;
    Ok(json_response(200, &json!({ "kept": kept })))
}

fn list_dead_letters(
    req: &Request,
    open: &dyn Fn() -> Result<Connection, DbError>,
) -> Result<Response, ApiError> {
    let query = crate::http::Query::parse(req.query());
    let wanted = query.get("status");
    if let Some(wanted) = wanted
        && ![
            status::RETRYING,
            status::DEAD,
            status::RESOLVED,
            status::DISCARDED,
        ]
        .contains(&wanted)
    {
        return Err(ApiError::bad_request(
            "invalid_query",
            "`status` must be retrying, dead, resolved or discarded",
        ));
    }
    let conn = open()?;
    let result = conn
        .execute(
            "SELECT * FROM dead_letters WHERE (? IS NULL OR status = ?) ORDER BY created_at DESC LIMIT 200",
            &[db::opt_text(wanted), db::opt_text(wanted)],
        )
        .map_err(DbError::from)?;
    let items = db::rows(&result)
        .map(|row| dead_letter_json(&row))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(json_response(200, &json!({ "items": items })))
}

fn dead_letter(conn: &Connection, id: &str) -> Result<Option<Value>, DbError> {
    let result = conn.execute("SELECT * FROM dead_letters WHERE id = ?", &[db::text(id)])?;
    db::rows(&result)
        .next()
        .map(|row| dead_letter_json(&row))
        .transpose()
}

fn dead_letter_json(row: &db::Row<'_>) -> Result<Value, DbError> {
    Ok(json!({
        "id": row.text("id")?,
        "event_type": row.opt_text("event_type")?,
        "payload": row.text("payload")?,
        "error": row.text("error")?,
        "attempts": row.int("attempts")?,
        "status": row.text("status")?,
        "next_attempt_ms": row.opt_int("next_attempt_ms")?,
        "created_at": row.text("created_at")?,
        "updated_at": row.text("updated_at")?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_channel_has_its_consumers() {
        let all = |channel| subscribers(channel).collect::<Vec<_>>();
        assert_eq!(all("payments.events"), ["orders", "notifications"]);
        assert_eq!(all("catalog.commands"), ["catalog"]);
        assert!(all("nobody.listens").is_empty());
    }

    #[test]
    fn pushes_go_only_where_the_event_type_is_of_interest() {
        let to = |channel, event_type| interested(channel, event_type).collect::<Vec<_>>();
        assert_eq!(
            to("payments.events", "payment.failed"),
            ["orders", "notifications"]
        );
        assert_eq!(to("payments.events", "payment.captured"), ["orders"]);
        assert!(to("orders.events", "order.created").is_empty());
        assert_eq!(to("orders.events", "order.confirmed"), ["notifications"]);
    }

    #[test]
    fn every_channel_has_one_producer() {
        let consumed: Vec<&str> = SUBSCRIBERS.iter().map(|(channel, _)| *channel).collect();
        let produced: Vec<&str> = PRODUCERS.iter().map(|(channel, _, _)| *channel).collect();
        assert_eq!(consumed, produced);
    }

    /// What lets the event type name the channel it came on.
    #[test]
    fn no_consumer_reads_two_channels_of_one_family() {
        for (channel, _, families) in PRODUCERS {
            for (other, _, others) in PRODUCERS.iter().filter(|(c, _, _)| c != channel) {
                let shared = families.iter().any(|family| others.contains(family));
                let both = subscribers(channel).find(|c| subscribers(other).any(|o| o == *c));
                assert!(
                    !shared || both.is_none(),
                    "{both:?} reads {channel} and {other}"
                );
            }
        }
    }

    #[test]
    fn commands_and_replies_are_believed_only_from_their_channels_producer() {
        let from = |event_type: &str, source: &str| {
            crate::events::envelope(event_type, source, "order-1", &json!({})).expect("json")
        };
        for (consumer, event_type, producer) in [
            ("catalog", "stock.reserve", "orders"),
            ("orders", "stock.reserved", "catalog"),
            ("orders", "product.updated", "catalog"),
            ("orders", "payment.captured", "payments"),
            ("orders", "shipment.created", "shipping"),
            ("payments", "payment.authorize", "orders"),
            ("shipping", "shipment.cancel", "orders"),
            ("notifications", "user.registered", "users"),
            ("notifications", "order.confirmed", "orders"),
            ("notifications", "payment.failed", "payments"),
        ] {
            assert_eq!(producer_for(consumer, event_type), Some(producer));
            assert_eq!(check_source(consumer, &from(event_type, producer)), Ok(()));
        }
        let refused = |consumer: &str, event: Event| match check_source(consumer, &event) {
            Err(Failure::Permanent(error)) => error,
            other => panic!("{consumer} accepted {event:?}: {other:?}"),
        };
        let error = refused("catalog", from("stock.reserve", "users"));
        assert_eq!(
            error,
            "untrusted_source: catalog takes `stock.reserve` only from orders, not from `users`"
        );
        // A reply names the context that answers, a command the orchestrator.
        assert!(
            refused("orders", from("payment.authorized", "shipping")).starts_with(UNTRUSTED_SOURCE)
        );
        assert!(
            refused("payments", from("payment.capture", "payments")).starts_with(UNTRUSTED_SOURCE)
        );
        assert!(refused("notifications", from("payment.authorize", "orders")).contains("payments"));
        // Nothing reaches a context on a channel it does not read.
        assert_eq!(producer_for("notifications", "stock.low"), None);
        assert!(refused("notifications", from("stock.low", "catalog")).contains("no channel"));
        assert!(refused("users", from("user.registered", "users")).starts_with(UNTRUSTED_SOURCE));
        assert!(refused("catalog", from("stock", "orders")).starts_with(UNTRUSTED_SOURCE));
    }

    #[test]
    fn outcomes_have_stable_names() {
        let names: Vec<&str> = [
            Outcome::Applied,
            Outcome::Duplicate,
            Outcome::Deferred {
                attempts: 1,
                error: String::new(),
            },
            Outcome::DeadLettered {
                error: String::new(),
            },
        ]
        .iter()
        .map(Outcome::as_str)
        .collect();
        assert_eq!(names, ["applied", "duplicate", "deferred", "dead_lettered"]);
    }
}
