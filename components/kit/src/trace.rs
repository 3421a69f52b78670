//! W3C trace context inside a context: the `traceparent` of what is being handled now — the
//! HTTP request (the gateway forwards one on every call) or the event (its envelope carries
//! one) — so that events emitted, calls chained and lines logged while handling it all carry
//! the same trace id. Spin creates an instance per request or message, so "now" is the
//! instance's whole life.

use std::cell::RefCell;
use std::fmt::Display;

thread_local! {
    static CURRENT: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// `00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`, ids not all zero.
pub fn is_valid(traceparent: &str) -> bool {
    let parts: Vec<&str> = traceparent.split('-').collect();
    let hex = |s: &str, n: usize| {
        s.len() == n
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    matches!(parts.as_slice(), [version, trace, parent, flags]
        if *version == "00" && hex(trace, 32) && hex(parent, 16) && hex(flags, 2)
            && trace.bytes().any(|b| b != b'0') && parent.bytes().any(|b| b != b'0'))
}

/// Handling `traceparent` from now on; an invalid one is dropped, as W3C asks.
pub fn adopt(traceparent: Option<&str>) {
    let valid = traceparent.filter(|tp| is_valid(tp)).map(str::to_owned);
    CURRENT.with(|current| *current.borrow_mut() = valid);
}

/// The `traceparent` header of an incoming Spin request.
pub fn adopt_request(req: &spin_sdk::http::Request) {
    adopt(req.header("traceparent").and_then(|v| v.as_str()));
}

pub fn current() -> Option<String> {
    CURRENT.with(|current| current.borrow().clone())
}

pub fn trace_id() -> Option<String> {
    current().and_then(|tp| trace_id_of(&tp).map(str::to_owned))
}

/// The `traceparent` for a call made now: the same trace, a new parent (span) id.
pub fn outgoing() -> Option<String> {
    let current = current()?;
    let parts: Vec<&str> = current.split('-').collect();
    Some(child(parts[1], parts[3]))
}

/// The `traceparent` for a call made later on behalf of `trace_id` (a retry from the recovery
/// tick, when nothing traced is being handled), sampled.
pub fn outgoing_for(trace_id: &str) -> Option<String> {
    let traceparent = child(trace_id, "01");
    is_valid(&traceparent).then_some(traceparent)
}

fn child(trace_id: &str, flags: &str) -> String {
    let span = uuid::Uuid::new_v4().simple().to_string();
    format!("00-{trace_id}-{}-{flags}", &span[..16])
}

/// The trace id of a `traceparent`.
pub fn trace_id_of(traceparent: &str) -> Option<&str> {
    is_valid(traceparent).then(|| &traceparent[3..35])
}

/// One JSON line on stderr (Spin keeps each component's stderr as its log), with the trace
/// id of what is being handled, so an operator can follow one request through every context.
pub fn log(source: &str, message: impl Display) {
    write_line(&serde_json::json!({
        "source": source,
        "trace_id": trace_id(),
        "msg": message.to_string(),
    }));
}

/// `line` and a newline on stderr in one write: `eprintln!` of a JSON value writes it token by
/// token, and in Wasm each write is a host call.
pub fn write_line(line: &serde_json::Value) {
    use std::io::Write;
    let mut text = line.to_string();
    text.push('\n');
    // A log line that cannot be written has nowhere to be reported.
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn adopts_valid_trace_contexts_only() {
        adopt(Some(PARENT));
        assert_eq!(
            trace_id().as_deref(),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
        for invalid in [
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f35-00f067aa0ba902b7-01",
            "garbage",
        ] {
            adopt(Some(invalid));
            assert_eq!(current(), None, "{invalid}");
        }
        adopt(None);
        assert_eq!(outgoing(), None);
    }

    #[test]
    fn calls_continue_the_trace_with_a_new_span() {
        adopt(Some(PARENT));
        let child = outgoing().expect("a trace");
        assert!(is_valid(&child), "{child}");
        assert!(child.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"));
        assert!(child.ends_with("-01"));
        assert_ne!(child, PARENT);
        let later = outgoing_for("4bf92f3577b34da6a3ce929d0e0e4736").expect("valid");
        assert_eq!(
            trace_id_of(&later),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
        assert_eq!(outgoing_for("nonsense"), None);
    }
}
