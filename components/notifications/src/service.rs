//! Notifications' use cases: an event becomes at most one notification per template (in the
//! messaging transaction, so a redelivered event changes nothing), its simulated deliveries are
//! recorded, and webhook deliveries go out after commit and are retried by the recovery tick.

use serde_json::json;
use spin_sdk::sqlite3::Connection;
use wasmshop_kit::db::DbError;
use wasmshop_kit::error::ApiError;
use wasmshop_kit::http::Page;
use wasmshop_kit::identity::Identity;
use wasmshop_kit::ids::{backoff_ms, new_id, now_unix_millis};
use wasmshop_kit::messaging::Failure;
use wasmshop_kit::payloads::{
    OrderChanged, PaymentFailed, ShipmentChanged, UserProfileUpdated, UserRegistered,
};
use wasmshop_kit::{Event, events};

use crate::domain::{self, Channel, Facts, Template};
use crate::repo::{self, NewNotification, Notification};

pub const SOURCE: &str = "notifications";

fn webhook_url() -> Option<String> {
    spin_sdk::variables::get("notification_webhook_url")
        .ok()
        .filter(|url| !url.trim().is_empty())
}

/// Applies one event (inside the messaging transaction).
pub fn apply(conn: &Connection, event: &Event) -> Result<(), Failure> {
    match event.event_type.as_str() {
        "user.registered" => {
            let user: UserRegistered = events::payload(event)?;
            repo::save_contact(conn, &user.user_id, &user.email, &user.name)?;
            notify(
                conn,
                event,
                Template::Welcome,
                &user.user_id,
                &user.user_id,
                &Facts::Welcome { name: &user.name },
            )
        }
        "user.profile-updated" => {
            let user: UserProfileUpdated = events::payload(event)?;
            repo::rename_contact(conn, &user.user_id, &user.name)?;
            Ok(())
        }
        "order.confirmed" | "order.cancelled" | "order.failed" => {
            let order: OrderChanged = events::payload(event)?;
            let template = match event.event_type.as_str() {
                "order.confirmed" => Template::OrderConfirmed,
                "order.cancelled" => Template::OrderCancelled,
                _ => Template::OrderFailed,
            };
            let facts = Facts::Order {
                order_id: &order.order_id,
                total: &order.total,
                reason: order.reason.as_deref(),
            };
            notify(
                conn,
                event,
                template,
                &order.user_id,
                &order.order_id,
                &facts,
            )
        }
        "payment.failed" => {
            let failed: PaymentFailed = events::payload(event)?;
            // Transient provider errors are the saga's to retry; the customer hears of final ones.
            if failed.retryable || failed.user_id.is_empty() {
                return Ok(());
            }
            let facts = Facts::PaymentFailed {
                order_id: &failed.order_id,
                reason: &failed.reason,
            };
            notify(
                conn,
                event,
                Template::PaymentFailed,
                &failed.user_id,
                &failed.order_id,
                &facts,
            )
        }
        "shipment.status-changed" => {
            let shipment: ShipmentChanged = events::payload(event)?;
            let facts = Facts::Shipment {
                order_id: &shipment.order_id,
                tracking_number: &shipment.tracking_number,
                status: &shipment.status,
            };
            notify(
                conn,
                event,
                Template::ShipmentStatus,
                &shipment.user_id,
                &shipment.order_id,
                &facts,
            )
        }
        _ => Ok(()),
    }
}

fn notify(
    conn: &Connection,
    event: &Event,
    template: Template,
    user_id: &str,
    subject_id: &str,
    facts: &Facts<'_>,
) -> Result<(), Failure> {
    let (subject, body) = domain::render(template, facts);
    let id = new_id();
    let new = repo::insert(
        conn,
        &NewNotification {
            id: &id,
            user_id,
            template: template.as_str(),
            subject_id,
            subject: &subject,
            body: &body,
            event_id: &event.id,
        },
    )?;
    if !new {
        return Ok(());
    }
    let email = repo::contact_email(conn, user_id)?;
    for channel in template.channels() {
        let (status, error) = match channel {
            Channel::Email if email.is_none() => ("skipped", Some("no_contact")),
            _ => ("delivered", None),
        };
        repo::set_delivery(conn, &id, channel.as_str(), status, 1, error, None)?;
    }
    if webhook_url().is_some() {
        repo::set_delivery(
            conn,
            &id,
            Channel::Webhook.as_str(),
            "pending",
            0,
            None,
            Some(now_unix_millis()),
        )?;
    }
    Ok(())
}

/// Sends the webhook deliveries that are due; returns how many were attempted.
pub fn deliver_webhooks(conn: &Connection) -> Result<usize, DbError> {
    let Some(url) = webhook_url() else {
        return Ok(0);
    };
    let due = repo::due_webhooks(conn, now_unix_millis())?;
    for (id, attempts) in &due {
        let Some(notification) = repo::by_id(conn, id)? else {
            continue;
        };
        let attempts = attempts + 1;
        match post(&url, &notification) {
            Ok(()) => repo::set_delivery(conn, id, "webhook", "delivered", attempts, None, None)?,
            Err(error) if attempts >= domain::WEBHOOK_MAX_ATTEMPTS => {
                repo::set_delivery(
                    conn,
                    id,
                    "webhook",
                    "abandoned",
                    attempts,
                    Some(&error),
                    None,
                )?;
            }
            Err(error) => {
                let next = now_unix_millis()
                    + backoff_ms(
                        attempts - 1,
                        domain::WEBHOOK_BASE_MS,
                        domain::WEBHOOK_CAP_MS,
                    );
                repo::set_delivery(
                    conn,
                    id,
                    "webhook",
                    "failed",
                    attempts,
                    Some(&error),
                    Some(next),
                )?;
            }
        }
    }
    Ok(due.len())
}

fn post(url: &str, notification: &Notification) -> Result<(), String> {
    let body = json!({
        "id": notification.id, "user_id": notification.user_id, "template": notification.template,
        "subject": notification.subject, "body": notification.body, "created_at": notification.created_at,
    });
    let request = spin_sdk::http::Request::builder()
        .method(spin_sdk::http::Method::Post)
        .uri(url)
        .header("content-type", "application/json")
        .body(body.to_string())
        .build();
    let response: spin_sdk::http::Response =
        spin_sdk::http::run(spin_sdk::http::send(request)).map_err(|e| e.to_string())?;
    if (200..300).contains(response.status()) {
        Ok(())
    } else {
        Err(format!("webhook answered {}", response.status()))
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP use cases
// ---------------------------------------------------------------------------------------------

fn db_error(e: DbError) -> ApiError {
    eprintln!("notifications: {e}");
    ApiError::internal("database error")
}

pub fn list(
    user_id: Option<&str>,
    unread_only: bool,
    page: Page,
) -> Result<serde_json::Value, ApiError> {
    let conn = repo::open().map_err(db_error)?;
    let (items, total) =
        repo::list(&conn, user_id, unread_only, page.limit, page.offset()).map_err(db_error)?;
    Ok(page.wrap(&items, total))
}

pub fn mark_read(identity: &Identity, id: &str) -> Result<Notification, ApiError> {
    let conn = repo::open().map_err(db_error)?;
    let owned = repo::by_id(&conn, id)
        .map_err(db_error)?
        .filter(|n| n.user_id == identity.user_id)
        .ok_or_else(|| ApiError::not_found("no such notification"))?;
    repo::mark_read(&conn, &owned.id).map_err(db_error)?;
    repo::by_id(&conn, id)
        .map_err(db_error)?
        .ok_or_else(|| ApiError::not_found("no such notification"))
}
