//! The HTTP routes every consuming context serves before its own: `POST /events` (the
//! HTTP-push transport), `POST /events/kept` (a producer's question, `crate::acks`), `POST
//! /admin/recovery` (the recovery tick; private, so only chaining, the gateway's admin API or
//! the runtime's tick reach it), and the dead-letter admin routes. Thin: parse, check the
//! caller, call; the statements are `dead_letters`'.

use serde_json::json;
use spin_sdk::http::{Method, Request, Response};
use spin_sdk::sqlite3::Connection;

use super::receive::{receive_opening, redrive};
use super::{Consumer, Failure, dead_letters, recover, status};
use crate::acks;
use crate::db::DbError;
use crate::error::ApiError;
use crate::http::segments;
use crate::identity::Identity;
use crate::json::json_response;

type Open<'a> = &'a dyn Fn() -> Result<Connection, DbError>;

/// The response of one of these routes; `None` when the path is none of them.
pub fn routes(
    req: &Request,
    open: Open<'_>,
    consumer: &dyn Consumer,
    source: &str,
) -> Option<Response> {
    let method = req.method();
    let only = |allowed: &[&str]| Err(ApiError::method_not_allowed(allowed));
    let admin = || Identity::require_admin(req);
    let result = match (segments(req.path()).as_slice(), method) {
        (["events"], Method::Post) => push(req, open, consumer, source),
        (["events", "kept"], Method::Post) => answer_kept(req, open, consumer),
        (["admin", "recovery"], Method::Post) => recovery(open, consumer, source),
        (["events"] | ["events", "kept"] | ["admin", "recovery"], _) => only(&["POST"]),
        (["admin", "dead-letters"], Method::Get) => admin().and_then(|_| list(req, open)),
        (["admin", "dead-letters"], _) => only(&["GET"]),
        (["admin", "dead-letters", id, "retry"], Method::Post) => {
            admin().and_then(|_| retry(&open()?, id, consumer, source))
        }
        (["admin", "dead-letters", _, "retry"], _) => only(&["POST"]),
        (["admin", "dead-letters", id], Method::Get) => {
            admin().and_then(|_| shown(dead_letters::find(&open()?, id)?))
        }
        (["admin", "dead-letters", id], Method::Delete) => {
            admin().and_then(|_| shown(dead_letters::discard(&open()?, id)?))
        }
        (["admin", "dead-letters", _], _) => only(&["GET", "DELETE"]),
        _ => return None,
    };
    Some(result.unwrap_or_else(ApiError::into_response))
}

fn recovery(open: Open<'_>, consumer: &dyn Consumer, source: &str) -> Result<Response, ApiError> {
    let report = recover(&open()?, consumer, source)
        .map_err(|failure: Failure| ApiError::new(503, "recovery_failed", failure.to_string()))?;
    Ok(json_response(200, &report))
}

fn shown(letter: Option<serde_json::Value>) -> Result<Response, ApiError> {
    letter
        .map(|letter| json_response(200, &letter))
        .ok_or_else(|| ApiError::not_found("no such dead letter"))
}

fn push(
    req: &Request,
    open: Open<'_>,
    consumer: &dyn Consumer,
    source: &str,
) -> Result<Response, ApiError> {
    // 503 only when the message could not even be kept: the producer's outbox row then stays
    // unsent and the push is repeated.
    let outcome = receive_opening(open, req.body(), consumer, source)
        .map_err(|e| ApiError::new(503, "not_kept", e.to_string()))?;
    Ok(json_response(202, &json!({ "outcome": outcome.as_str() })))
}

fn answer_kept(
    req: &Request,
    open: Open<'_>,
    consumer: &dyn Consumer,
) -> Result<Response, ApiError> {
    let query = acks::parse_query(req.body())?;
    let kept = acks::kept(&open()?, &query, &|event_type| consumer.ignores(event_type))?;
    Ok(json_response(200, &json!({ "kept": kept })))
}

fn retry(
    conn: &Connection,
    id: &str,
    consumer: &dyn Consumer,
    source: &str,
) -> Result<Response, ApiError> {
    let outcome = redrive(conn, id, consumer, source)?
        .ok_or_else(|| ApiError::not_found("no such dead letter"))?;
    let letter =
        dead_letters::find(conn, id)?.ok_or_else(|| ApiError::not_found("no such dead letter"))?;
    Ok(json_response(
        200,
        &json!({ "outcome": outcome.as_str(), "dead_letter": letter }),
    ))
}

fn list(req: &Request, open: Open<'_>) -> Result<Response, ApiError> {
    let query = crate::http::Query::parse(req.query());
    let wanted = query.get("status");
    if wanted.is_some_and(|wanted| !status::ALL.contains(&wanted)) {
        return Err(ApiError::bad_request(
            "invalid_query",
            "`status` must be retrying, dead, resolved or discarded",
        ));
    }
    let items = dead_letters::list(&open()?, wanted)?;
    Ok(json_response(200, &json!({ "items": items })))
}
