//! The audit trail's rules, pure: what an entry may hold (bounded, printable, never shaped like
//! a credential) and how a listing is filtered.

use wasmshop_kit::FieldError;

use crate::bindings::wasmshop::audit::types::{EntryFilter, NewEntry};

const MAX_ACTOR: usize = 254;
const MAX_ACTION: usize = 64;
const MAX_PATH: usize = 512;
const MAX_CLIENT_ADDR: usize = 64;
const MAX_REQUEST_ID: usize = 128;
const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

fn field(field: &str, message: &str) -> FieldError {
    FieldError {
        field: field.into(),
        message: message.into(),
    }
}

/// Visible ASCII only: no control characters to forge log lines with, no spaces.
fn printable(text: &str) -> bool {
    text.bytes().all(|b| b.is_ascii_graphic())
}

/// Whether `text` holds a token: a JWT (three base64url parts, the first a JSON header). The
/// gateway never sends one; an entry that carries one anyway is refused rather than kept for
/// every admin to read.
pub fn looks_like_credential(text: &str) -> bool {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        .any(|word| {
            let parts: Vec<&str> = word.split('.').collect();
            parts.len() == 3 && parts[0].starts_with("eyJ") && parts.iter().all(|p| p.len() >= 2)
        })
}

/// One error per field that is missing, too long, unprintable, badly shaped or a credential.
pub fn validate(entry: &NewEntry) -> Result<(), Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut text = |name: &str, value: &str, max: usize| {
        if value.is_empty() || value.len() > max || !printable(value) {
            errors.push(field(
                name,
                &format!("must be 1 to {max} visible ASCII characters"),
            ));
        } else if looks_like_credential(value) {
            errors.push(field(name, "must not hold a credential"));
        }
    };
    text("actor", &entry.actor, MAX_ACTOR);
    if let Some(role) = &entry.actor_role {
        text("actor_role", role, 16);
    }
    text("action", &entry.action, MAX_ACTION);
    text("path", &entry.path, MAX_PATH);
    if let Some(addr) = &entry.client_addr {
        text("client_addr", addr, MAX_CLIENT_ADDR);
    }
    text("request_id", &entry.request_id, MAX_REQUEST_ID);
    if !entry
        .action
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'-'))
    {
        errors.push(field("action", "must be lower-case words joined by . or -"));
    }
    if !entry.path.starts_with("/api/v1/") || entry.path.contains('?') {
        errors.push(field("path", "must be a public path without its query"));
    }
    if !METHODS.contains(&entry.method.as_str()) {
        errors.push(field("method", "must be GET, POST, PUT, PATCH or DELETE"));
    }
    if !(100..=599).contains(&entry.status) {
        errors.push(field("status", "must be an HTTP status"));
    }
    if entry.trace_id.len() != 32
        || !entry
            .trace_id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        errors.push(field("trace_id", "must be 32 lower-case hex digits"));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// A listing's filter from the query's `actor`, `action` and `since`: `since` is normalised to
/// the form entries are stored in (UTC, milliseconds), so comparing the text compares times.
pub fn filter(
    actor: Option<&str>,
    action: Option<&str>,
    since: Option<&str>,
) -> Result<EntryFilter, Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut bounded = |name: &str, value: Option<&str>, max: usize| {
        if value.is_some_and(|v| v.chars().count() > max) {
            errors.push(field(name, &format!("must be at most {max} characters")));
        }
        value
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let actor = bounded("actor", actor, MAX_ACTOR);
    let action = bounded("action", action, MAX_ACTION);
    let since = since
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .and_then(|text| match chrono::DateTime::parse_from_rfc3339(text) {
            Ok(time) => Some(
                time.with_timezone(&chrono::Utc)
                    .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            ),
            Err(_) => {
                errors.push(field(
                    "since",
                    "must be an RFC 3339 time like 2026-01-31T12:00:00Z",
                ));
                None
            }
        });
    if errors.is_empty() {
        Ok(EntryFilter {
            actor,
            action,
            since,
        })
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::wasmshop::audit::types::Outcome;

    fn entry() -> NewEntry {
        NewEntry {
            actor: "0190d7a0-0000-7000-8000-0000000ad111".into(),
            actor_role: Some("admin".into()),
            action: "payments.refund".into(),
            outcome: Outcome::Success,
            status: 200,
            method: "POST".into(),
            path: "/api/v1/admin/payments/payments/p-1/refund".into(),
            client_addr: Some("127.0.0.1:50123".into()),
            trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".into(),
            request_id: "0190d7a0-0000-7000-8000-000000000001".into(),
        }
    }

    fn fields(result: Result<(), Vec<FieldError>>) -> Vec<String> {
        result
            .err()
            .unwrap_or_default()
            .into_iter()
            .map(|e| e.field)
            .collect()
    }

    #[test]
    fn a_gateway_entry_is_accepted() {
        assert_eq!(validate(&entry()), Ok(()));
        let login = NewEntry {
            actor: "mallory@example.com".into(),
            actor_role: None,
            action: "auth.login".into(),
            outcome: Outcome::Failure,
            status: 401,
            path: "/api/v1/auth/login".into(),
            client_addr: None,
            ..entry()
        };
        assert_eq!(validate(&login), Ok(()));
    }

    #[test]
    fn entries_are_bounded_and_shaped() {
        let cases: Vec<(NewEntry, &str)> = vec![
            (
                NewEntry {
                    actor: String::new(),
                    ..entry()
                },
                "actor",
            ),
            (
                NewEntry {
                    actor: "a".repeat(255),
                    ..entry()
                },
                "actor",
            ),
            (
                NewEntry {
                    actor: "forged\n{\"line\":1}".into(),
                    ..entry()
                },
                "actor",
            ),
            (
                NewEntry {
                    action: "Payments Refund".into(),
                    ..entry()
                },
                "action",
            ),
            (
                NewEntry {
                    path: "/api/v1/products?token=x".into(),
                    ..entry()
                },
                "path",
            ),
            (
                NewEntry {
                    path: "/elsewhere".into(),
                    ..entry()
                },
                "path",
            ),
            (
                NewEntry {
                    method: "TRACE".into(),
                    ..entry()
                },
                "method",
            ),
            (
                NewEntry {
                    status: 42,
                    ..entry()
                },
                "status",
            ),
            (
                NewEntry {
                    trace_id: "4BF92F3577B34DA6A3CE929D0E0E4736".into(),
                    ..entry()
                },
                "trace_id",
            ),
        ];
        for (bad, expected) in cases {
            assert!(
                fields(validate(&bad)).contains(&expected.to_owned()),
                "{expected}: {bad:?}"
            );
        }
    }

    #[test]
    fn no_credential_is_stored() {
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLXNpZ25hdHVyZQ";
        assert!(looks_like_credential(jwt));
        assert!(looks_like_credential(&format!("Bearer {jwt}")));
        assert!(!looks_like_credential("mallory@example.com"));
        assert!(!looks_like_credential(
            "0190d7a0-0000-7000-8000-0000000ad111"
        ));
        assert!(!looks_like_credential("127.0.0.1:50123"));
        assert!(!looks_like_credential("/api/v1/products/a.b.c"));
        for bad in [
            NewEntry {
                actor: jwt.into(),
                ..entry()
            },
            NewEntry {
                request_id: jwt.into(),
                ..entry()
            },
            NewEntry {
                path: format!("/api/v1/x/{jwt}"),
                ..entry()
            },
        ] {
            assert!(validate(&bad).is_err(), "{bad:?}");
        }
        // The wire format has no field a body, a header or a password could travel in.
        let mut json = serde_json::to_value(entry()).expect("serialises");
        json["password"] = serde_json::json!("hunter2");
        assert!(
            wasmshop_kit::json::parse_body::<NewEntry>(json.to_string().as_bytes()).is_err(),
            "unknown fields are refused"
        );
    }

    #[test]
    fn filters_are_optional_bounded_and_since_is_normalised() {
        assert_eq!(
            filter(None, Some(""), None),
            Ok(EntryFilter {
                actor: None,
                action: None,
                since: None
            })
        );
        let narrowed = filter(
            Some(" admin-id "),
            Some("payments.refund"),
            Some("2026-11-24T13:00:00+01:00"),
        )
        .expect("valid");
        assert_eq!(narrowed.actor.as_deref(), Some("admin-id"));
        assert_eq!(narrowed.action.as_deref(), Some("payments.refund"));
        // Stored times are UTC with milliseconds: the text compares as the time does.
        assert_eq!(narrowed.since.as_deref(), Some("2026-11-24T12:00:00.000Z"));
        let names = |r: Result<EntryFilter, Vec<FieldError>>| -> Vec<String> {
            r.err()
                .unwrap_or_default()
                .into_iter()
                .map(|e| e.field)
                .collect()
        };
        assert_eq!(names(filter(None, None, Some("yesterday"))), ["since"]);
        assert_eq!(
            names(filter(Some(&"a".repeat(255)), Some(&"b".repeat(65)), None)),
            ["actor", "action"]
        );
    }
}
