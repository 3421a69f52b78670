//! The transactional outbox: an event is written to the `outbox` table in the same SQLite
//! transaction as the state change it announces, and published to Redis after commit. A row that
//! could not be published (Redis down, instance stopped) stays unsent for a later relay.

use spin_sdk::sqlite3::{Connection, Value};

use crate::Event;
use crate::acks;
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

/// Marks as redelivered the rows older than the bound [`redeliver`] used to have (10 minutes),
/// so that dropping the bound does not send a context's whole history again.
pub fn redelivery_backfill_migration(version: u32) -> Migration {
    Migration {
        version,
        sql: "UPDATE outbox SET redelivered_at = sent_at
WHERE redelivered_at IS NULL AND sent_at IS NOT NULL
  AND sent_at < strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-10 minutes')",
    }
}

pub fn migration(version: u32) -> Migration {
    Migration {
        version,
        sql: OUTBOX_SQL,
    }
}

/// Rows this instance enqueued and has not relayed yet, in order. Spin runs one instance per
/// request or message, so this is exactly "what this use case wrote": the relay sends those
/// rows and no others. Relaying every pending row instead would make each instance re-send the
/// others' in-flight rows, and under load the duplicates would swamp the consumers. The rows of
/// a transaction that rolled back are taken off again ([`forget_since`]), so what is here is
/// committed and the relay needs no read of its own.
static ENQUEUED: std::sync::Mutex<Vec<Pending>> = std::sync::Mutex::new(Vec::new());

fn enqueued() -> std::sync::MutexGuard<'static, Vec<Pending>> {
    ENQUEUED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// How many rows are enqueued: a transaction's mark, for [`forget_since`].
pub(crate) fn enqueued_count() -> usize {
    enqueued().len()
}

/// Drops the rows enqueued after `mark`: their transaction did not commit.
pub(crate) fn forget_since(mark: usize) {
    enqueued().truncate(mark);
}

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
    // The first delivery is stamped here, inside the transaction, so that the relay after
    // commit sends without a write of its own: a write is a turn on the context's one SQLite
    // writer, taken after every relay otherwise. An instance that dies before it sends leaves
    // the row to the recovery tick's second delivery, a few seconds later; a send that fails
    // clears the stamp, and the tick's first delivery retries the row.
    conn.execute(
        "INSERT INTO outbox (id, channel, event_type, payload, created_at, sent_at) VALUES (?, ?, ?, ?, ?, ?)",
        &[
            db::text(&event.id),
            db::text(channel),
            db::text(&event.event_type),
            db::text(&payload),
            db::text(&event.time),
            db::text(crate::ids::now_rfc3339()),
        ],
    )?;
    enqueued().push(Pending {
        id: event.id.clone(),
        channel: channel.to_owned(),
        event_type: event.event_type.clone(),
        payload,
    });
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
        // Read once per instance (Spin makes one per request or message): every enqueued event
        // asks.
        static CONFIGURED: std::sync::OnceLock<Result<Transport, String>> =
            std::sync::OnceLock::new();
        CONFIGURED
            .get_or_init(|| Self::read().map_err(|e| e.to_string()))
            .clone()
            .map_err(DbError::Data)
    }

    fn read() -> Result<Self, DbError> {
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
    fn send(&self, row: &Pending) -> Result<(), String>;
}

struct RedisSender(spin_sdk::redis::Connection);

/// Marks the error of a message nobody received: later rows may still go out.
const NO_RECEIVER: &str = "no subscriber";

impl Sender for RedisSender {
    /// Pub/sub keeps nothing: a message published while its consumers are not subscribed
    /// (restarting, reconnecting after Redis came back) is gone. So a channel that has
    /// consumers counts as sent only when a subscriber received it; otherwise the row stays
    /// for the recovery tick.
    fn send(&self, row: &Pending) -> Result<(), String> {
        use spin_sdk::redis::{RedisParameter, RedisResult};
        let (channel, payload) = (&row.channel, &row.payload);
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
        if received == 0 && crate::channels::subscribers(channel).next().is_some() {
            return Err(format!("{NO_RECEIVER} of {channel} received it"));
        }
        Ok(())
    }
}

struct HttpPushSender;

impl Sender for HttpPushSender {
    /// Every subscriber with an interest in its type must take it; a row re-sent after a
    /// partial failure reaches some twice, which their inboxes absorb.
    fn send(&self, row: &Pending) -> Result<(), String> {
        let (channel, payload) = (&row.channel, &row.payload);
        for component in crate::channels::interested(channel, &row.event_type) {
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

/// Which delivery of a row a publish pass makes, and so what it writes afterwards.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Delivery {
    /// Rows stamped sent by [`enqueue`]: only the ones that did not go out are written,
    /// unstamped.
    Claimed,
    /// Unstamped rows: the ones that went out are stamped `sent_at`.
    First,
    /// The second delivery: the ones that went out are stamped `redelivered_at`.
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

/// An outbox row on its way out.
pub struct Pending {
    pub id: String,
    pub channel: String,
    pub event_type: String,
    pub payload: String,
}

/// The columns [`pending`] reads.
const PENDING_COLUMNS: &str = "id, channel, event_type, payload";

fn pending(result: &spin_sdk::sqlite3::QueryResult) -> Result<Vec<Pending>, DbError> {
    db::rows(result)
        .map(|row| {
            Ok(Pending {
                id: row.text("id")?,
                channel: row.text("channel")?,
                event_type: row.text("event_type")?,
                payload: row.text("payload")?,
            })
        })
        .collect()
}

/// Publishes `rows` in order over `transport`, then records which went out in one statement.
/// A channel nobody received skips its row; any other failure stops the pass and leaves the
/// rest for later. Returns how many were published.
fn deliver(
    conn: &Connection,
    rows: &[&Pending],
    transport: Transport,
    delivery: Delivery,
) -> Result<usize, DbError> {
    if rows.is_empty() {
        return Ok(0);
    }
    let mut sent = vec![false; rows.len()];
    let mut failure = None;
    match sender(transport) {
        Ok(sender) => {
            for (index, row) in rows.iter().enumerate() {
                match sender.send(row) {
                    Ok(()) => sent[index] = true,
                    // Its consumers are away; other channels' consumers may not be.
                    Err(e) if e.starts_with(NO_RECEIVER) => failure = Some(e),
                    Err(e) => {
                        failure = Some(e);
                        break;
                    }
                }
            }
        }
        Err(e) => failure = Some(e.to_string()),
    }
    let with = |outcome: bool| {
        rows.iter()
            .zip(&sent)
            .filter(move |(_, sent)| **sent == outcome)
            .map(|(row, _)| row.id.as_str())
    };
    match delivery {
        Delivery::Claimed => stamp(conn, Stamp::Unsent, with(false))?,
        Delivery::First => stamp(conn, Stamp::Sent, with(true))?,
        Delivery::Second => stamp(conn, Stamp::Redelivered, with(true))?,
    }
    match failure {
        Some(e) => Err(DbError::Data(e)),
        None => Ok(sent.iter().filter(|&&sent| sent).count()),
    }
}

enum Stamp {
    /// `sent_at` cleared: the recovery tick's first delivery sends the row again.
    Unsent,
    Sent,
    Redelivered,
}

/// Stamps rows in one statement.
fn stamp<'a>(
    conn: &Connection,
    stamp: Stamp,
    ids: impl Iterator<Item = &'a str>,
) -> Result<(), DbError> {
    let mut params = Vec::new();
    let statement = match stamp {
        Stamp::Unsent => "UPDATE outbox SET sent_at = NULL WHERE id IN",
        Stamp::Sent => "UPDATE outbox SET sent_at = ? WHERE id IN",
        Stamp::Redelivered => "UPDATE outbox SET redelivered_at = ? WHERE id IN",
    };
    if !matches!(stamp, Stamp::Unsent) {
        params.push(db::text(crate::ids::now_rfc3339()));
    }
    let first_id = params.len();
    params.extend(ids.map(db::text));
    if params.len() == first_id {
        return Ok(());
    }
    let placeholders = vec!["?"; params.len() - first_id].join(", ");
    conn.execute(&format!("{statement} ({placeholders})"), &params)?;
    Ok(())
}

/// How long after its first delivery an event is sent again.
const REDELIVERY_AFTER_MS: i64 = 5_000;

/// The recovery tick's second delivery. A send counts as done once the consumer's runtime took
/// the message, not once the consumer kept it: a consumer killed while it handles a message
/// (SIGKILL, OOM, a node lost) loses it, and so would a producer killed between its commit and
/// its send. So every event still unconfirmed a few seconds after its first delivery is sent
/// once more. Whether a subscriber kept it is asked of the subscriber itself, in one call per
/// subscriber and batch ([`crate::acks::kept_by_all`]): its inbox and dead letters are the
/// record, and nothing is written per message to acknowledge it.
pub fn redeliver(conn: &Connection, limit: u32) -> Result<Redelivery, DbError> {
    let transport = Transport::configured()?;
    let due_before = chrono::Utc::now() - chrono::Duration::milliseconds(REDELIVERY_AFTER_MS);
    let due = pending(&conn.execute(
        &format!(
            "SELECT {PENDING_COLUMNS} FROM outbox WHERE redelivered_at IS NULL AND sent_at IS NOT NULL AND sent_at <= ? ORDER BY sent_at, id LIMIT ?"
        ),
        &[
            db::text(due_before.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
            Value::Integer(i64::from(limit)),
        ],
    )?)?;
    if due.is_empty() {
        return Ok(Redelivery::default());
    }
    let sent: Vec<acks::Sent<'_>> = due
        .iter()
        .map(|row| acks::Sent {
            id: &row.id,
            channel: &row.channel,
            event_type: &row.event_type,
        })
        .collect();
    let kept_by_all = acks::kept_by_all(&sent);
    let (kept, unconfirmed): (Vec<_>, Vec<_>) =
        due.iter().zip(kept_by_all).partition(|(_, kept)| *kept);
    stamp(
        conn,
        Stamp::Redelivered,
        kept.iter().map(|(row, _)| row.id.as_str()),
    )?;
    let unconfirmed: Vec<&Pending> = unconfirmed.into_iter().map(|(row, _)| row).collect();
    Ok(Redelivery {
        published: deliver(conn, &unconfirmed, transport, Delivery::Second)?,
        acknowledged: kept.len(),
    })
}

/// What one pass of [`redeliver`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Redelivery {
    /// Events published a second time.
    pub published: usize,
    /// Events every subscriber had kept: marked, not sent.
    pub acknowledged: usize,
}

/// The recovery tick's relay: rows still unsent a while after they were written (their
/// writer's relay failed or never ran), oldest first.
pub fn publish_pending(conn: &Connection, limit: u32) -> Result<usize, DbError> {
    let cutoff = chrono::Utc::now() - chrono::Duration::milliseconds(RECOVERY_GRACE_MS);
    let cutoff = cutoff.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let unsent = pending(&conn.execute(
        &format!(
            "SELECT {PENDING_COLUMNS} FROM outbox WHERE sent_at IS NULL AND created_at <= ? ORDER BY created_at, id LIMIT ?"
        ),
        &[db::text(cutoff), Value::Integer(i64::from(limit))],
    )?)?;
    deliver(
        conn,
        &unsent.iter().collect::<Vec<_>>(),
        Transport::configured()?,
        Delivery::First,
    )
}

/// The step after every committing use case: publishes the rows this instance enqueued in
/// committed transactions. A failure is logged for `source` and not returned: the commit stands
/// and the rows that did not go out are unstamped for the recovery tick.
pub fn relay_after_commit(conn: &Connection, source: &str) {
    let rows = std::mem::take(&mut *enqueued());
    if rows.is_empty() {
        return;
    }
    let relayed = Transport::configured().and_then(|transport| {
        deliver(
            conn,
            &rows.iter().collect::<Vec<_>>(),
            transport,
            Delivery::Claimed,
        )
    });
    if let Err(e) = relayed {
        crate::trace::log(source, format_args!("events not published yet: {e}"));
    }
}
