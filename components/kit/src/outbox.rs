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

pub fn migration(version: u32) -> Migration {
    Migration {
        version,
        sql: OUTBOX_SQL,
    }
}

/// Records `event` for `channel`; call inside the state change's transaction.
pub fn enqueue(conn: &Connection, channel: &str, event: &Event) -> Result<(), DbError> {
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
    Ok(())
}

/// Publishes unsent rows in order and marks each sent; stops at the first failure and leaves
/// the rest for the next relay. Returns how many were published.
pub fn publish_pending(
    conn: &Connection,
    redis_address: &str,
    limit: u32,
) -> Result<usize, DbError> {
    let pending = conn.execute(
        "SELECT id, channel, payload FROM outbox WHERE sent_at IS NULL ORDER BY created_at, id LIMIT ?",
        &[Value::Integer(i64::from(limit))],
    )?;
    if pending.rows.is_empty() {
        return Ok(0);
    }
    let redis = match spin_sdk::redis::Connection::open(redis_address) {
        Ok(redis) => redis,
        Err(e) => return Err(DbError::Data(format!("redis {redis_address}: {e:?}"))),
    };
    let mut published = 0;
    for row in db::rows(&pending) {
        let (id, channel, payload) = (row.text("id")?, row.text("channel")?, row.text("payload")?);
        if let Err(e) = redis.publish(&channel, &payload.into_bytes()) {
            return Err(DbError::Data(format!("publishing to {channel}: {e:?}")));
        }
        conn.execute(
            "UPDATE outbox SET sent_at = ? WHERE id = ?",
            &[db::text(crate::ids::now_rfc3339()), db::text(id)],
        )?;
        published += 1;
    }
    Ok(published)
}

/// How many rows one relay after a commit publishes at most.
pub const RELAY_BATCH: u32 = 100;

/// The step after every committing use case: publishes what the outbox holds to the Redis
/// server in the component's `redis_address` variable. A failure is logged for `source` and
/// not returned: the commit stands and the rows stay unsent for the next relay.
pub fn relay_after_commit(conn: &Connection, source: &str) {
    let address = match spin_sdk::variables::get("redis_address") {
        Ok(address) => address,
        Err(e) => {
            eprintln!("{source}: no redis_address to publish events: {e}");
            return;
        }
    };
    if let Err(e) = publish_pending(conn, &address, RELAY_BATCH) {
        eprintln!("{source}: events not published yet: {e}");
    }
}
