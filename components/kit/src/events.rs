//! Building event envelopes (`wasmshop:events/envelope.event`).

use serde::Serialize;

use crate::{Event, TraceContext, ids};

/// An envelope for `payload`, of `event_type`, about `subject`, produced by `source`.
pub fn envelope<T: Serialize>(
    event_type: &str,
    source: &str,
    subject: &str,
    payload: &T,
) -> Result<Event, serde_json::Error> {
    Ok(Event {
        id: ids::new_id(),
        event_type: event_type.to_owned(),
        source: source.to_owned(),
        subject: subject.to_owned(),
        time: ids::now_rfc3339(),
        correlation_id: None,
        causation_id: None,
        trace: None,
        data: serde_json::to_string(payload)?,
    })
}

/// Carries the caller's `traceparent` onto an event, so consumers continue the same trace.
pub fn with_trace(mut event: Event, traceparent: Option<&str>) -> Event {
    event.trace = traceparent.map(|tp| TraceContext {
        traceparent: tp.to_owned(),
        tracestate: None,
    });
    event
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payloads::UserRegistered;

    #[test]
    fn envelope_round_trips_as_json() {
        let payload = UserRegistered {
            user_id: ids::new_id(),
            email: "a@example.com".into(),
            name: "A".into(),
        };
        let event = envelope("user.registered", "users", &payload.user_id, &payload).expect("json");
        let json = serde_json::to_string(&event).expect("serialises");
        let back: Event = serde_json::from_str(&json).expect("parses");
        assert_eq!(back, event);
        let data: UserRegistered = serde_json::from_str(&back.data).expect("payload");
        assert_eq!(data, payload);
        assert!(
            json.contains("\"event_type\":\"user.registered\""),
            "{json}"
        );
    }
}
