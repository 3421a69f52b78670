//! Notifications' use cases: an event becomes at most one notification per template (inside the
//! messaging transaction, so a redelivered event changes nothing) with its simulated deliveries;
//! webhook deliveries go out after commit and are retried by the recovery tick. Both the HTTP
//! adapter and the exported `api` call the read side here.

use serde_json::json;
use spin_sdk::sqlite3::Connection;
use wasmshop_kit::Event;
use wasmshop_kit::db::DbError;
use wasmshop_kit::ids::{is_id, new_id, now_unix_millis};
use wasmshop_kit::messaging::Failure;

use crate::bindings::wasmshop::notifications::types::{
    Channel, DeliveryStatus, Error, Notification, NotificationPage,
};
use crate::domain::{self, AfterFailure, Decision, Draft, Rejection};
use crate::repo::{self, DeliveryState};

pub const SOURCE: &str = "notifications";

/// How long a claimed webhook attempt may take before another instance may try it again: more
/// than an instance may live (the runtime's request deadline is 30 s).
const WEBHOOK_LEASE_MS: i64 = 60_000;
/// Webhook attempts per message or tick, so a slow endpoint cannot hold either for long.
const WEBHOOK_BATCH: usize = 20;

impl From<DbError> for Error {
    fn from(e: DbError) -> Self {
        wasmshop_kit::trace::log(SOURCE, &e);
        Error::Internal("database error".into())
    }
}

impl From<Rejection> for Failure {
    fn from(rejection: Rejection) -> Self {
        Failure::Permanent(rejection.to_string())
    }
}

fn webhook_url() -> Option<String> {
    spin_sdk::variables::get("notification_webhook_url")
        .ok()
        .map(|url| url.trim().to_owned())
        .filter(|url| !url.is_empty())
}

// ---------------------------------------------------------------------------------------------
// Events
// ---------------------------------------------------------------------------------------------

/// Applies one event inside the messaging transaction `conn`.
pub fn apply(conn: &Connection, event: &Event) -> Result<(), Failure> {
    match domain::decide(&event.event_type, &event.data)? {
        Decision::Register {
            user_id,
            email,
            name,
            welcome,
        } => {
            repo::save_contact(conn, &user_id, &email, &name)?;
            notify(conn, event, &welcome)
        }
        Decision::Rename { user_id, name } => Ok(repo::rename_contact(conn, &user_id, &name)?),
        Decision::Notify(draft) => notify(conn, event, &draft),
        Decision::Ignore => Ok(()),
    }
}

fn notify(conn: &Connection, event: &Event, draft: &Draft) -> Result<(), Failure> {
    let id = new_id();
    let trace_id = event
        .trace
        .as_ref()
        .and_then(|t| wasmshop_kit::trace::trace_id_of(&t.traceparent));
    if !repo::insert(conn, &id, &event.id, trace_id, draft)? {
        return Ok(());
    }
    let has_email = repo::contact_email(conn, &draft.user_id)?.is_some();
    for channel in draft.template.channels() {
        let (status, last_error) = domain::simulated_delivery(*channel, has_email);
        repo::set_delivery(
            conn,
            &id,
            *channel,
            &DeliveryState {
                status,
                attempts: u32::from(status == DeliveryStatus::Delivered),
                last_error,
                next_attempt_ms: None,
            },
        )?;
    }
    // Recorded as due now; the POST itself waits for the commit (see `after_commit`).
    if webhook_url().is_some() {
        repo::set_delivery(
            conn,
            &id,
            Channel::Webhook,
            &DeliveryState {
                status: DeliveryStatus::Pending,
                attempts: 0,
                last_error: None,
                next_attempt_ms: Some(now_unix_millis()),
            },
        )?;
    }
    Ok(())
}

/// After an event's transaction committed, whatever brought it (`Consumer::after_commit`):
/// POSTs the webhook of the notifications it made. Never fails the message — what is not
/// delivered now is retried by the recovery tick.
pub fn after_commit(conn: &Connection, event: &Event) {
    if let Err(e) = deliver_webhooks(conn, Some(&event.id)) {
        wasmshop_kit::trace::log(SOURCE, format_args!("webhook delivery: {e}"));
    }
}

/// The recovery tick's share: due webhook retries.
pub fn tick(conn: &Connection) -> Result<serde_json::Value, Failure> {
    let attempted = deliver_webhooks(conn, None)?;
    Ok(json!({ "webhooks_attempted": attempted }))
}

/// Attempts the due webhook deliveries (of `event_id`'s notifications only, when given); how
/// many were attempted.
fn deliver_webhooks(conn: &Connection, event_id: Option<&str>) -> Result<usize, DbError> {
    let Some(url) = webhook_url() else {
        return Ok(0);
    };
    let mut attempted = 0;
    while attempted < WEBHOOK_BATCH {
        let now = now_unix_millis();
        let Some(claim) = repo::claim_webhook(
            conn,
            now,
            now + WEBHOOK_LEASE_MS,
            event_id,
            domain::WEBHOOK_MAX_ATTEMPTS,
        )?
        else {
            break;
        };
        attempted += 1;
        let Some(notification) = repo::by_id(conn, &claim.notification_id)? else {
            continue;
        };
        let attempts = claim.attempt;
        let outcome = post(&url, &notification);
        let (status, next_attempt_ms) = match &outcome {
            Ok(()) => (DeliveryStatus::Delivered, None),
            Err(error) => {
                wasmshop_kit::trace::log(
                    SOURCE,
                    format_args!(
                        "webhook for {} (attempt {attempts}): {error}",
                        notification.id
                    ),
                );
                match domain::after_webhook_failure(attempts) {
                    AfterFailure::RetryInMs(delay) => {
                        (DeliveryStatus::Failed, Some(now_unix_millis() + delay))
                    }
                    AfterFailure::Abandon => (DeliveryStatus::Abandoned, None),
                }
            }
        };
        let last_error = outcome.err().map(|e| e.to_string());
        repo::set_delivery(
            conn,
            &notification.id,
            Channel::Webhook,
            &DeliveryState {
                status,
                attempts,
                last_error: last_error.as_deref(),
                next_attempt_ms,
            },
        )?;
    }
    Ok(attempted)
}

#[derive(Debug, thiserror::Error)]
enum WebhookError {
    /// Refused by the host (not in `allowed_outbound_hosts`), unreachable, or not a URL.
    #[error("webhook not reached: {0}")]
    Unreachable(String),
    #[error("webhook answered {0}")]
    Status(u16),
}

fn post(url: &str, notification: &Notification) -> Result<(), WebhookError> {
    let body = json!({
        "id": notification.id,
        "user_id": notification.user_id,
        "template": notification.template,
        "subject": notification.subject,
        "body": notification.body,
        "created_at": notification.created_at,
    });
    let mut request = spin_sdk::http::Request::builder();
    request
        .method(spin_sdk::http::Method::Post)
        .uri(url)
        .header("content-type", "application/json");
    // Retries from the tick run untraced: the notification keeps its cause's trace.
    if let Some(traceparent) = notification
        .trace_id
        .as_deref()
        .and_then(wasmshop_kit::trace::outgoing_for)
    {
        request.header("traceparent", traceparent);
    }
    let request = request.body(body.to_string()).build();
    let response: spin_sdk::http::Response = spin_sdk::http::run(spin_sdk::http::send(request))
        .map_err(|e| WebhookError::Unreachable(e.to_string()))?;
    let status = *response.status();
    if (200..300).contains(&status) {
        Ok(())
    } else {
        Err(WebhookError::Status(status))
    }
}

// ---------------------------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------------------------

/// `page` from 1, `limit` 1 to 100 (as `wasmshop_kit::http::Page` checks for HTTP).
/// Notifications of `user_id` (everyone's when `None`, for admins), newest first.
pub fn list(
    user_id: Option<&str>,
    unread_only: bool,
    page: u32,
    limit: u32,
) -> Result<NotificationPage, Error> {
    wasmshop_kit::http::Page::new(page, limit).map_err(Error::InvalidInput)?;
    let conn = repo::open()?;
    let offset = i64::from(page - 1) * i64::from(limit);
    let (items, total) = repo::list(&conn, user_id, unread_only, limit, offset)?;
    Ok(NotificationPage {
        items,
        total,
        page,
        limit,
    })
}

/// Marks `user_id`'s notification `id` read (the first read time stays); another user's is
/// not found, as is one that does not exist.
pub fn mark_read(user_id: &str, id: &str) -> Result<Notification, Error> {
    if !is_id(id) {
        return Err(Error::NotFound);
    }
    let conn = repo::open()?;
    match repo::by_id(&conn, id)? {
        Some(n) if n.user_id == user_id => {}
        _ => return Err(Error::NotFound),
    }
    repo::mark_read(&conn, id)?;
    repo::by_id(&conn, id)?.ok_or(Error::NotFound)
}
