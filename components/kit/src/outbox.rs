//! The transactional outbox: an event is written to the `outbox` table in the same SQLite
//! transaction as the state change it announces, and published to Redis after commit. A row that
//! could not be published (Redis down, instance stopped) stays unsent for a later relay.

use spin_sdk::sqlite3::{Connection, Value};

use crate::Event;
use crate::db::{self, DbError, Migration};

/// Add to every context's migrations (any version number after its own tables).
pub const OUTBOX_SQL: &str = "CREATE TABLE outbox (
  id TEXT PRIMARY KEY,
  channel TEXT NOT NULL,
  event_type TEXT NOT NULL,
  payload TEXT NOT NULL,
  created_at TEXT NOT NULL,
  sent_at TEXT
);
CREATE INDEX outbox_unsent ON outbox (sent_at, created_at)";

/// The mark of an event's second delivery over Redis ([`redeliver`]).
pub fn redelivery_migration(version: u32) -> Migration {
    Migration {
        version,
        sql: "ALTER TABLE outbox ADD COLUMN redelivered_at TEXT;
CREATE INDEX outbox_redelivery ON outbox (redelivered_at, sent_at)",
    }
}

pub fn migration(version: u32) -> Migration {
    Migration {
        version,
        sql: OUTBOX_SQL,
    }
}

/// Ids this instance enqueued and has not relayed yet. Spin runs one instance per request or
/// message, so this is exactly "what this use case wrote": the relay after commit sends those
/// rows and no others. Relaying every pending row instead would make each instance re-send the
/// others' in-flight rows, and under load the duplicates would swamp the consumers.
static ENQUEUED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// Rows younger than this are left to the relay of the instance that wrote them.
const RECOVERY_GRACE_MS: i64 = 2_000;

/// Records `event` for `channel`; call inside the state change's transaction.
/// An event without a trace context continues the trace being handled, if any.
pub fn enqueue(conn: &Connection, channel: &str, event: &Event) -> Result<(), DbError> {
    let traced;
    let event = match (&event.trace, crate::trace::current()) {
        (None, Some(traceparent)) => {
            traced = crate::events::with_trace(event.clone(), Some(&traceparent));
            &traced
        }
        _ => event,
    };
    let payload = serde_json::to_string(event).map_err(|e| DbError::Data(e.to_string()))?;
    conn.execute(
        "INSERT INTO outbox (id, channel, event_type, payload, created_at) VALUES (?, ?, ?, ?, ?)",
        &[
            db::text(&event.id),
            db::text(channel),
            db::text(&event.event_type),
            db::text(payload),
            db::text(&event.time),
        ],
    )?;
    if let Ok(mut enqueued) = ENQUEUED.lock() {
        enqueued.push(event.id.clone());
    }
    Ok(())
}

/// How events leave a context, from its `event_transport` variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// `PUBLISH` on the Redis server at this address (the Redis triggers consume).
    Redis(String),
    /// `POST` to each subscriber's private `/events` route by service chaining.
    HttpPush,
}

impl Transport {
    /// From the component's variables: `event_transport` (`redis` when absent) and, for Redis,
    /// `redis_address`.
    pub fn configured() -> Result<Self, DbError> {
        let kind = spin_sdk::variables::get("event_transport").unwrap_or_else(|_| "redis".into());
        match kind.as_str() {
            "redis" | "" => spin_sdk::variables::get("redis_address")
                .map(Transport::Redis)
                .map_err(|e| DbError::Data(format!("no redis_address to publish events: {e}"))),
            "http" => Ok(Transport::HttpPush),
            other => Err(DbError::Data(format!(
                "event_transport `{other}` is neither `redis` nor `http`"
            ))),
        }
    }
}

/// Sends one outbox row; `Err` leaves it unsent.
trait Sender {
    fn send(&self, channel: &str, payload: &str) -> Result<(), String>;
}

struct RedisSender(spin_sdk::redis::Connection);

/// Marks the error of a message nobody received: later rows may still go out.
const NO_RECEIVER: &str = "no subscriber";

impl Sender for RedisSender {
    /// Pub/sub keeps nothing: a message published while its consumers are not subscribed
    /// (restarting, reconnecting after Redis came back) is gone. So a channel that has
    /// consumers counts as sent only when a subscriber received it; otherwise the row stays
    /// for the recovery tick.
    fn send(&self, channel: &str, payload: &str) -> Result<(), String> {
        use spin_sdk::redis::{RedisParameter, RedisResult};
        let reply = self
            .0
            .execute(
                "PUBLISH",
                &[
                    RedisParameter::Binary(channel.as_bytes().to_vec()),
                    RedisParameter::Binary(payload.as_bytes().to_vec()),
                ],
            )
            .map_err(|e| format!("publishing to {channel}: {e:?}"))?;
        let received = match reply.first() {
            Some(RedisResult::Int64(n)) => *n,
            _ => 0,
        };
        if received == 0 && !crate::messaging::subscribers(channel).is_empty() {
            return Err(format!("{NO_RECEIVER} of {channel} received it"));
        }
        Ok(())
    }
}

struct HttpPushSender;

impl Sender for HttpPushSender {
    /// Every subscriber must take it; a row re-sent after a partial failure reaches some twice,
    /// which their inboxes absorb.
    fn send(&self, channel: &str, payload: &str) -> Result<(), String> {
        for component in crate::messaging::subscribers(channel) {
            let url = format!("http://{component}.spin.internal/events");
            let mut request = spin_sdk::http::Request::builder();
            request
                .method(spin_sdk::http::Method::Post)
                .uri(&url)
                .header("content-type", "application/json")
                .header("x-event-channel", channel);
            if let Some(traceparent) = crate::trace::outgoing() {
                request.header("traceparent", traceparent);
            }
            let request = request.body(payload.as_bytes().to_vec()).build();
            let response: spin_sdk::http::Response =
                spin_sdk::http::run(spin_sdk::http::send(request))
                    .map_err(|e| format!("pushing to {url}: {e}"))?;
            if !(200..300).contains(response.status()) {
                return Err(format!("pushing to {url}: status {}", response.status()));
            }
        }
        Ok(())
    }
}

/// Which delivery of a row a publish pass makes, and so which column it stamps.
#[derive(Clone, Copy)]
enum Delivery {
    First,
    Second,
}

fn sender(transport: Transport) -> Result<Box<dyn Sender>, DbError> {
    Ok(match transport {
        Transport::Redis(address) => match spin_sdk::redis::Connection::open(&address) {
            Ok(redis) => Box::new(RedisSender(redis)),
            Err(e) => return Err(DbError::Data(format!("redis {address}: {e:?}"))),
        },
        Transport::HttpPush => Box::new(HttpPushSender),
    })
}

/// Publishes unsent rows in order over the configured transport and marks each sent; stops at
/// the first failure and leaves the rest for later. Returns how many were published.
fn publish(conn: &Connection, pending: &spin_sdk::sqlite3::QueryResult) -> Result<usize, DbError> {
    if pending.rows.is_empty() {
        return Ok(0);
    }
    send_rows(
        conn,
        pending,
        sender(Transport::configured()?)?,
        Delivery::First,
    )
}

fn send_rows(
    conn: &Connection,
    pending: &spin_sdk::sqlite3::QueryResult,
    sender: Box<dyn Sender>,
    delivery: Delivery,
) -> Result<usize, DbError> {
    let mark = match delivery {
        Delivery::First => "UPDATE outbox SET sent_at = ? WHERE id = ?",
        Delivery::Second => "UPDATE outbox SET redelivered_at = ? WHERE id = ?",
    };
    let mut published = 0;
    let mut unreceived = None;
    for row in db::rows(pending) {
        let (id, channel, payload) = (row.text("id")?, row.text("channel")?, row.text("payload")?);
        match sender.send(&channel, &payload) {
            Ok(()) => {}
            // Its consumers are away; other channels' consumers may not be.
            Err(e) if e.starts_with(NO_RECEIVER) => {
                unreceived = Some(e);
                continue;
            }
            Err(e) => return Err(DbError::Data(e)),
        }
        conn.execute(mark, &[db::text(crate::ids::now_rfc3339()), db::text(id)])?;
        published += 1;
    }
    match unreceived {
        Some(e) => Err(DbError::Data(e)),
        None => Ok(published),
    }
}

/// How long after its first delivery an event is sent again, and up to how long.
const REDELIVERY_AFTER_MS: i64 = 5_000;
const REDELIVERY_WINDOW_MS: i64 = 10 * 60 * 1_000;

/// The recovery tick's second delivery over Redis. Pub/sub acknowledges nothing: a consumer
/// that dies while it handles a message (SIGKILL, OOM, a node lost) loses it, and the
/// producer, told that the message was received, would never send it again. So every event is
/// published once more a few seconds after its first delivery; the consumers' inboxes make
/// that second copy a no-op whenever the first one took. HTTP push is acknowledged by each
/// subscriber: nothing to redeliver. Rows older than the window are left alone.
pub fn redeliver(conn: &Connection, limit: u32) -> Result<usize, DbError> {
    let transport = Transport::configured()?;
    if transport == Transport::HttpPush {
        return Ok(0);
    }
    let now = chrono::Utc::now();
    let stamp = |ms| {
        (now - chrono::Duration::milliseconds(ms))
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    };
    let due = conn.execute(
        "SELECT id, channel, payload FROM outbox WHERE redelivered_at IS NULL AND sent_at IS NOT NULL AND sent_at <= ? AND sent_at >= ? ORDER BY sent_at, id LIMIT ?",
        &[
            db::text(stamp(REDELIVERY_AFTER_MS)),
            db::text(stamp(REDELIVERY_WINDOW_MS)),
            Value::Integer(i64::from(limit)),
        ],
    )?;
    if due.rows.is_empty() {
        return Ok(0);
    }
    send_rows(conn, &due, sender(transport)?, Delivery::Second)
}

/// The recovery tick's relay: rows still unsent a while after they were written (their
/// writer's relay failed or never ran), oldest first.
pub fn publish_pending(conn: &Connection, limit: u32) -> Result<usize, DbError> {
    let cutoff = chrono::Utc::now() - chrono::Duration::milliseconds(RECOVERY_GRACE_MS);
    let cutoff = cutoff.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let pending = conn.execute(
        "SELECT id, channel, payload FROM outbox WHERE sent_at IS NULL AND created_at <= ? ORDER BY created_at, id LIMIT ?",
        &[db::text(cutoff), Value::Integer(i64::from(limit))],
    )?;
    publish(conn, &pending)
}

/// The step after every committing use case: publishes the rows this instance enqueued (those
/// of rolled-back transactions are simply not there). A failure is logged for `source` and not
/// returned: the commit stands and the rows stay unsent for the recovery tick.
pub fn relay_after_commit(conn: &Connection, source: &str) {
    let ids = ENQUEUED
        .lock()
        .map(|mut ids| std::mem::take(&mut *ids))
        .unwrap_or_default();
    if ids.is_empty() {
        return;
    }
    let placeholders = vec!["?"; ids.len()].join(", ");
    let pending = conn.execute(
        &format!(
            "SELECT id, channel, payload FROM outbox WHERE sent_at IS NULL AND id IN ({placeholders}) ORDER BY created_at, id"
        ),
        &ids.into_iter().map(db::text).collect::<Vec<_>>(),
    );
    if let Err(e) = pending
        .map_err(DbError::from)
        .and_then(|rows| publish(conn, &rows))
    {
        crate::trace::log(source, format_args!("events not published yet: {e}"));
    }
}
