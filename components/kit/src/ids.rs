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
    fn times_are_rfc3339_utc() {
        let now = now_rfc3339();
        assert!(chrono::DateTime::parse_from_rfc3339(&now).is_ok(), "{now}");
        assert!(now.ends_with('Z'));
    }
}
