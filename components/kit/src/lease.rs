//! A lease in Redis (`SET <key> <token> NX PX <ttl>`): of every replica that asks for the same
//! key, only the first gets it until it expires. It is never released early: a lease stands for
//! "this interval's share is taken", so the work it guards runs once per interval across a
//! fleet, however many replicas tick.

use spin_sdk::redis::{Connection, RedisParameter, RedisResult};

/// Whether the caller got the lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lease {
    Taken,
    /// Another holder has it until it expires.
    HeldElsewhere,
}

/// Why no answer came from Redis: the caller decides whether to go on without the lease.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LeaseError {
    #[error("no redis_address: {0}")]
    NoAddress(String),
    #[error("redis {address}: {error}")]
    Unreachable { address: String, error: String },
    #[error("unexpected reply to SET NX: {0}")]
    UnexpectedReply(String),
}

/// Takes `key` for `ttl_ms` on the Redis server of the component's `redis_address` variable
/// (the one its outbox publishes to), under a random token naming this holder.
pub fn take(key: &str, ttl_ms: u32) -> Result<Lease, LeaseError> {
    // Read directly, not through the outbox's transport: the lease needs Redis even when events
    // travel over HTTP.
    let address = spin_sdk::variables::get("redis_address")
        .map_err(|e| LeaseError::NoAddress(e.to_string()))?;
    let unreachable = |error: String| LeaseError::Unreachable {
        address: address.clone(),
        error,
    };
    let redis = Connection::open(&address).map_err(|e| unreachable(format!("{e:?}")))?;
    let token = uuid::Uuid::new_v4().to_string();
    let reply = redis
        .execute(
            "SET",
            &[
                RedisParameter::Binary(key.as_bytes().to_vec()),
                RedisParameter::Binary(token.into_bytes()),
                RedisParameter::Binary(b"NX".to_vec()),
                RedisParameter::Binary(b"PX".to_vec()),
                RedisParameter::Int64(i64::from(ttl_ms)),
            ],
        )
        .map_err(|e| unreachable(format!("{e:?}")))?;
    granted(&reply)
}

/// `SET ... NX` answers `OK` when it set the key and nil when the key was there already.
fn granted(reply: &[RedisResult]) -> Result<Lease, LeaseError> {
    match reply {
        [RedisResult::Status(status)] if status == "OK" => Ok(Lease::Taken),
        [RedisResult::Nil] => Ok(Lease::HeldElsewhere),
        other => Err(LeaseError::UnexpectedReply(format!("{other:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ok_takes_the_lease_and_nil_means_another_holder_has_it() {
        assert_eq!(
            granted(&[RedisResult::Status("OK".into())]),
            Ok(Lease::Taken)
        );
        assert_eq!(granted(&[RedisResult::Nil]), Ok(Lease::HeldElsewhere));
    }

    #[test]
    fn any_other_reply_is_no_answer() {
        for reply in [
            vec![],
            vec![RedisResult::Status("QUEUED".into())],
            vec![RedisResult::Int64(1)],
            vec![RedisResult::Nil, RedisResult::Nil],
        ] {
            assert!(
                matches!(granted(&reply), Err(LeaseError::UnexpectedReply(_))),
                "{reply:?}"
            );
        }
    }
}
