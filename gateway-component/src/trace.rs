//! W3C trace context (`traceparent`) and request ids: parsing (pure) and generation.

/// A parsed `traceparent` (version 00).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceParent {
    pub trace_id: String,
    pub parent_id: String,
    pub flags: String,
}

impl TraceParent {
    /// `00-<32 hex trace-id>-<16 hex parent-id>-<2 hex flags>`, lower-case, ids not all zero
    /// (the rule every context applies: `wasmshop_kit::trace::is_valid`).
    pub fn parse(header: &str) -> Option<Self> {
        let header = header.trim();
        if !wasmshop_kit::trace::is_valid(header) {
            return None;
        }
        let mut parts = header.split('-').skip(1).map(str::to_owned);
        Some(Self {
            trace_id: parts.next()?,
            parent_id: parts.next()?,
            flags: parts.next()?,
        })
    }

    /// The context the gateway forwards: the same trace (or a new one, sampled), with the
    /// gateway's own span as parent.
    pub fn child_of(
        incoming: Option<&TraceParent>,
        new_span_id: String,
        new_trace_id: String,
    ) -> Self {
        match incoming {
            Some(parent) => Self {
                trace_id: parent.trace_id.clone(),
                parent_id: new_span_id,
                flags: parent.flags.clone(),
            },
            None => Self {
                trace_id: new_trace_id,
                parent_id: new_span_id,
                flags: "01".into(),
            },
        }
    }

    pub fn header(&self) -> String {
        format!("00-{}-{}-{}", self.trace_id, self.parent_id, self.flags)
    }
}

/// Random ids: 32 hex for a trace, 16 for a span.
pub fn new_trace_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

pub fn new_span_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..16].to_owned()
}

/// A client's `x-request-id` is kept when sane: 1–128 of `[A-Za-z0-9._:-]`.
pub fn sane_request_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn parses_valid_traceparents() {
        let tp = TraceParent::parse(VALID).expect("valid");
        assert_eq!(tp.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(tp.parent_id, "00f067aa0ba902b7");
        assert_eq!(tp.header(), VALID);
    }

    #[test]
    fn rejects_invalid_traceparents() {
        for bad in [
            "",
            "garbage",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902bg-01",
        ] {
            assert_eq!(TraceParent::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn children_keep_the_trace_and_take_a_new_span() {
        let parent = TraceParent::parse(VALID).expect("valid");
        let child = TraceParent::child_of(Some(&parent), new_span_id(), new_trace_id());
        assert_eq!(child.trace_id, parent.trace_id);
        assert_ne!(child.parent_id, parent.parent_id);
        assert!(TraceParent::parse(&child.header()).is_some());
        let root = TraceParent::child_of(None, new_span_id(), new_trace_id());
        assert!(
            TraceParent::parse(&root.header()).is_some(),
            "{}",
            root.header()
        );
        assert_eq!(root.flags, "01");
    }

    #[test]
    fn keeps_only_sane_request_ids() {
        assert!(sane_request_id("req-123_abc.def:1"));
        assert!(sane_request_id(&uuid::Uuid::now_v7().to_string()));
        assert!(!sane_request_id(""));
        assert!(!sane_request_id("has space"));
        assert!(!sane_request_id("line\nbreak"));
        assert!(!sane_request_id(&"a".repeat(129)));
    }
}
