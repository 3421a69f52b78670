//! Identifiers (UUIDv7: unique and time-ordered) and timestamps (RFC 3339, UTC).

pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

pub fn now_unix_seconds() -> i64 {
    chrono::Utc::now().timestamp()
}

pub fn now_unix_millis() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Capped exponential backoff: `base_ms · 2^attempt`, at most `cap_ms`.
pub fn backoff_ms(attempt: u32, base_ms: i64, cap_ms: i64) -> i64 {
    base_ms
        .saturating_mul(1_i64.checked_shl(attempt.min(62)).unwrap_or(i64::MAX))
        .min(cap_ms)
}

/// Whether `text` is a UUID, as every id in a path or body must be.
pub fn is_id(text: &str) -> bool {
    uuid::Uuid::parse_str(text).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_uuids_and_time_ordered() {
        let (a, b) = (new_id(), new_id());
        assert!(is_id(&a) && is_id(&b));
        assert!(a < b, "{a} !< {b}");
        assert!(!is_id("42"));
    }

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let delays: Vec<i64> = (0..6).map(|n| backoff_ms(n, 200, 5_000)).collect();
        assert_eq!(delays, vec![200, 400, 800, 1_600, 3_200, 5_000]);
        assert_eq!(backoff_ms(200, 200, 5_000), 5_000);
    }

    #[test]
    fn times_are_rfc3339_utc() {
        let now = now_rfc3339();
        assert!(chrono::DateTime::parse_from_rfc3339(&now).is_ok(), "{now}");
        assert!(now.ends_with('Z'));
    }
}
