//! The HTTP routes every consuming context serves before its own: `POST /events` (the
//! HTTP-push transport), `POST /events/kept` (a producer's question, `crate::acks`), `POST
//! /admin/recovery` (the recovery tick; private, so only chaining, the gateway's admin API or
//! the runtime's tick reach it), and the dead-letter admin routes. Thin: parse, check the
//! caller, call; the statements are `dead_letters`'.

use serde_json::json;
use spin_sdk::http::{Request, Response};
use spin_sdk::sqlite3::Connection;

use super::receive::{receive_opening, redrive};
use super::recovery::{self, Report};
use super::{Consumer, Failure, dead_letters, recover, status};
use crate::FieldError;
use crate::acks;
use crate::db::DbError;
use crate::error::ApiError;
use crate::http::Query;
use crate::identity::Identity;
use crate::json::json_response;
use crate::router::{self, Match, Params, Route};

type Open<'a> = &'a dyn Fn() -> Result<Connection, DbError>;

/// What every one of these routes may need beside the request: the context's database, its
/// consumer and its name.
struct Context<'a> {
    open: Open<'a>,
    consumer: &'a dyn Consumer,
    source: &'a str,
}

type Handler = fn(&Request, &Params<'_>, &Context<'_>) -> Result<Response, ApiError>;

const ROUTES: &[Route<Handler>] = &[
    Route::post("/events", |req, _, cx| {
        push(req, cx.open, cx.consumer, cx.source)
    }),
    Route::post("/events/kept", |req, _, cx| {
        answer_kept(req, cx.open, cx.consumer)
    }),
    Route::post("/admin/recovery", |req, _, cx| {
        recovery(req, cx.open, cx.consumer, cx.source)
    }),
    Route::get("/admin/dead-letters", |req, _, cx| {
        Identity::require_admin(req)?;
        list(req, cx.open)
    }),
    Route::post("/admin/dead-letters/{id}/retry", |req, params, cx| {
        Identity::require_admin(req)?;
        retry(&(cx.open)()?, params.get("id")?, cx.consumer, cx.source)
    }),
    Route::get("/admin/dead-letters/{id}", |req, params, cx| {
        Identity::require_admin(req)?;
        shown(dead_letters::find(&(cx.open)()?, params.get("id")?)?)
    }),
    Route::delete("/admin/dead-letters/{id}", |req, params, cx| {
        Identity::require_admin(req)?;
        shown(dead_letters::discard(&(cx.open)()?, params.get("id")?)?)
    }),
];

/// The response of one of these routes; `None` when the path is none of them.
pub fn routes(
    req: &Request,
    open: Open<'_>,
    consumer: &dyn Consumer,
    source: &str,
) -> Option<Response> {
    let method = req.method().to_string();
    let result = match router::find(ROUTES, req.path(), &method) {
        Match::NotFound => return None,
        other => other.into_result(req.path()).and_then(|(route, params)| {
            let context = Context {
                open,
                consumer,
                source,
            };
            (route.handler)(req, &params, &context)
        }),
    };
    Some(result.unwrap_or_else(ApiError::into_response))
}

fn recovery(
    req: &Request,
    open: Open<'_>,
    consumer: &dyn Consumer,
    source: &str,
) -> Result<Response, ApiError> {
    if let Some(lease_ms) = requested_lease(&Query::parse(req.query()))?
        && !recovery::lease_granted(source, lease_ms)
    {
        return Ok(json_response(200, &Report::lease_held()));
    }
    let report = recover(&open()?, consumer, source)
        .map_err(|failure: Failure| ApiError::new(503, "recovery_failed", failure.to_string()))?;
    Ok(json_response(200, &report))
}

/// The lease a tick asks for (`lease_ms`), within [`recovery::LEASE_MS`]; `None` for a call
/// that must run whatever other replicas do. The route is private, so the value comes from our
/// own schedulers, but a typo there must not hold recovery off for hours.
fn requested_lease(query: &Query) -> Result<Option<u32>, ApiError> {
    let Some(lease_ms) = query.number::<u64>("lease_ms")? else {
        return Ok(None);
    };
    u32::try_from(lease_ms)
        .ok()
        .filter(|lease_ms| recovery::LEASE_MS.contains(lease_ms))
        .map(Some)
        .ok_or_else(|| {
            ApiError::invalid_input(&[FieldError {
                field: "lease_ms".into(),
                message: format!(
                    "must be {} to {} ms",
                    recovery::LEASE_MS.start(),
                    recovery::LEASE_MS.end()
                ),
            }])
        })
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
    let query = Query::parse(req.query());
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

#[cfg(test)]
mod tests {
    use spin_sdk::http::Method;

    use super::*;
    use crate::Event;

    struct Nothing;

    impl Consumer for Nothing {
        fn apply(&self, _conn: &Connection, _event: &Event) -> Result<(), Failure> {
            Err(Failure::Permanent("consumes nothing".into()))
        }
    }

    /// No database natively: a route that opens one answers 500, which these tests rule out.
    fn no_database() -> Result<Connection, DbError> {
        Err(DbError::Data("no database in a unit test".into()))
    }

    fn answer(method: Method, path: &str) -> Option<Response> {
        routes(&Request::new(method, path), &no_database, &Nothing, "test")
    }

    #[test]
    fn a_wrong_method_is_answered_here_with_the_methods_of_that_path() {
        for (method, path, allow) in [
            (Method::Get, "/events", "POST"),
            (Method::Get, "/events/kept", "POST"),
            (Method::Get, "/admin/recovery/", "POST"),
            (Method::Post, "/admin/dead-letters", "GET"),
            (Method::Put, "/admin/dead-letters/d-1", "GET, DELETE"),
            (Method::Get, "/admin/dead-letters/d-1/retry", "POST"),
        ] {
            let response = answer(method, path).expect(path);
            assert_eq!(*response.status(), 405, "{path}");
            assert_eq!(
                response.header("allow").and_then(|v| v.as_str()),
                Some(allow),
                "{path}"
            );
        }
    }

    #[test]
    fn other_paths_are_left_to_the_component() {
        for path in [
            "/health",
            "/admin/notifications",
            "/admin/dead-letters/d-1/retry/x",
            "/events/kept/x",
        ] {
            assert!(answer(Method::Post, path).is_none(), "{path}");
        }
    }

    #[test]
    fn a_tick_may_hold_its_lease_from_100_ms_to_ten_minutes() {
        let lease = |query: &str| requested_lease(&Query::parse(query));
        assert_eq!(lease("").expect("no lease"), None);
        assert_eq!(lease("lease_ms=100").expect("shortest"), Some(100));
        assert_eq!(lease("lease_ms=600000").expect("longest"), Some(600_000));
        for query in [
            "lease_ms=99",
            "lease_ms=0",
            "lease_ms=600001",
            "lease_ms=4294967396",
        ] {
            let error = lease(query).expect_err(query);
            assert_eq!(
                (
                    error.status,
                    error.code,
                    error.field_errors()[0].field.as_str()
                ),
                (422, "invalid_input", "lease_ms"),
                "{query}"
            );
        }
        let error = lease("lease_ms=1.5").expect_err("not a whole number");
        assert_eq!((error.status, error.code), (400, "invalid_query"));
    }

    #[test]
    fn a_bad_lease_is_refused_before_redis_or_the_database() {
        let response = answer(Method::Post, "/admin/recovery?lease_ms=600001").expect("served");
        assert_eq!(*response.status(), 422);
    }

    #[test]
    fn the_dead_letter_routes_check_the_caller_before_opening_the_database() {
        for (method, path) in [
            (Method::Get, "/admin/dead-letters"),
            (Method::Get, "/admin/dead-letters/d-1"),
            (Method::Delete, "/admin/dead-letters/d-1"),
            (Method::Post, "/admin/dead-letters/d-1/retry"),
        ] {
            let response = answer(method, path).expect(path);
            assert_eq!(*response.status(), 401, "{path}");
        }
    }
}
