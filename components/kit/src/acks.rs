//! Acknowledgements, asked rather than written: a producer's second delivery asks each
//! subscriber which of its recent events it kept (`POST /events/kept`, one call per subscriber
//! and batch), and the subscriber answers from its inbox and dead letters. Nothing is written
//! per message to acknowledge it. Apart from `outbox` (which asks) and `messaging` (which
//! answers), so that neither needs the other.

use std::collections::{BTreeSet, HashSet};

use serde::{Deserialize, Serialize};
use spin_sdk::http::{Method, Request, Response};
use spin_sdk::sqlite3::Connection;

use crate::channels::interested;
use crate::db::{self, DbError};
use crate::error::ApiError;

/// At most this many events per question, so that one answer stays small.
pub const MAX_KEPT_QUERY: usize = 500;

/// An event a producer sent, as the question names it.
pub struct Sent<'a> {
    pub id: &'a str,
    pub channel: &'a str,
    pub event_type: &'a str,
}

/// An event a producer asks about: its id, and its type (a type the consumer ignores leaves
/// no trace, and counts as kept).
#[derive(Serialize, Deserialize)]
pub struct Asked {
    id: String,
    event_type: String,
}

#[derive(Serialize, Deserialize)]
pub struct KeptQuery {
    events: Vec<Asked>,
}

#[derive(Deserialize)]
struct KeptAnswer {
    kept: Vec<bool>,
}

/// For each event, whether every subscriber of its channel with an interest in its type has
/// kept it (applied, duplicate, ignored, or held as a dead letter). Each subscriber is asked
/// once for all its events. A subscriber that cannot answer has kept nothing: its events are
/// sent again, and its inbox drops what it already had.
pub fn kept_by_all(sent: &[Sent<'_>]) -> Vec<bool> {
    let mut kept = vec![true; sent.len()];
    // A consumer never sent an event it has no interest in has nothing to keep.
    let consumers: BTreeSet<&str> = sent
        .iter()
        .flat_map(|event| interested(event.channel, event.event_type))
        .collect();
    for consumer in consumers {
        let asked: Vec<usize> = (0..sent.len())
            .filter(|&index| {
                interested(sent[index].channel, sent[index].event_type).any(|c| c == consumer)
            })
            .collect();
        let query = KeptQuery {
            events: asked
                .iter()
                .map(|&index| Asked {
                    id: sent[index].id.to_owned(),
                    event_type: sent[index].event_type.to_owned(),
                })
                .collect(),
        };
        let answer = ask(consumer, &query).filter(|answer| answer.len() == asked.len());
        for (position, &index) in asked.iter().enumerate() {
            kept[index] &= answer.as_ref().is_some_and(|answer| answer[position]);
        }
    }
    kept
}

fn ask(consumer: &str, query: &KeptQuery) -> Option<Vec<bool>> {
    let url = format!("http://{consumer}.spin.internal/events/kept");
    let body = serde_json::to_vec(query).ok()?;
    let request = Request::builder()
        .method(Method::Post)
        .uri(&url)
        .header("content-type", "application/json")
        .body(body)
        .build();
    let response: Response = match spin_sdk::http::run(spin_sdk::http::send(request)) {
        Ok(response) => response,
        Err(e) => {
            crate::trace::log("messaging", format_args!("asking {url}: {e}"));
            return None;
        }
    };
    if *response.status() != 200 {
        return None;
    }
    serde_json::from_slice::<KeptAnswer>(response.body())
        .ok()
        .map(|answer| answer.kept)
}

/// A producer's question, from the body of `POST /events/kept`: at most [`MAX_KEPT_QUERY`]
/// events.
pub fn parse_query(body: &[u8]) -> Result<KeptQuery, ApiError> {
    let query: KeptQuery = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request("invalid_body", e.to_string()))?;
    if query.events.len() > MAX_KEPT_QUERY {
        return Err(ApiError::bad_request(
            "too_many_events",
            format!("at most {MAX_KEPT_QUERY} events per question"),
        ));
    }
    Ok(query)
}

/// The consumer's answer: which of the asked events it has kept — in its inbox, among its dead
/// letters, or of a type it `ignores`.
pub fn kept(
    conn: &Connection,
    query: &KeptQuery,
    ignores: &dyn Fn(&str) -> bool,
) -> Result<Vec<bool>, DbError> {
    let asked: Vec<&Asked> = query
        .events
        .iter()
        .filter(|event| !ignores(&event.event_type))
        .collect();
    let mut found = HashSet::new();
    if !asked.is_empty() {
        let placeholders = vec!["?"; asked.len()].join(", ");
        let ids: Vec<spin_sdk::sqlite3::Value> =
            asked.iter().map(|event| db::text(&event.id)).collect();
        let result = conn.execute(
            &format!(
                "SELECT event_id AS id FROM inbox WHERE event_id IN ({placeholders})
                 UNION SELECT id FROM dead_letters WHERE id IN ({placeholders})"
            ),
            &[ids.clone(), ids].concat(),
        )?;
        for row in db::rows(&result) {
            found.insert(row.text("id")?);
        }
    }
    Ok(query
        .events
        .iter()
        .map(|event| ignores(&event.event_type) || found.contains(&event.id))
        .collect())
}
