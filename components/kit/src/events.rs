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

/// The answer to `command`: same saga (correlation id), caused by the command, same trace.
pub fn reply_to<T: Serialize>(
    command: &Event,
    event_type: &str,
    source: &str,
    subject: &str,
    payload: &T,
) -> Result<Event, serde_json::Error> {
    let mut reply = envelope(event_type, source, subject, payload)?;
    reply.correlation_id = command
        .correlation_id
        .clone()
        .or_else(|| Some(command.subject.clone()));
    reply.causation_id = Some(command.id.clone());
    reply.trace = command.trace.clone();
    Ok(reply)
}

/// The payload of `event`, as the record its type names.
pub fn payload<T: serde::de::DeserializeOwned>(event: &Event) -> Result<T, serde_json::Error> {
    serde_json::from_str(&event.data)
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
    fn a_reply_continues_the_commands_saga_and_trace() {
        let order = crate::payloads::OrderCommand {
            order_id: ids::new_id(),
            reason: None,
        };
        let mut command =
            envelope("stock.release", "orders", &order.order_id, &order).expect("json");
        command.correlation_id = Some(order.order_id.clone());
        let command = with_trace(
            command,
            Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
        );
        let reply = reply_to(
            &command,
            "stock.released",
            "catalog",
            &order.order_id,
            &order,
        )
        .expect("json");
        assert_eq!(
            reply.correlation_id.as_deref(),
            Some(order.order_id.as_str())
        );
        assert_eq!(reply.causation_id.as_deref(), Some(command.id.as_str()));
        assert_eq!(reply.trace, command.trace);
        assert_ne!(reply.id, command.id);
        let back: crate::payloads::OrderCommand = payload(&reply).expect("payload");
        assert_eq!(back, order);
    }

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
