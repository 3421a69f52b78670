//! Audit's use cases: append an entry the gateway saw, list entries for an admin.

use wasmshop_kit::error::ApiError;
use wasmshop_kit::http::Page;
use wasmshop_kit::ids::{new_id, now_rfc3339};

use crate::bindings::wasmshop::audit::types::{Entry, EntryFilter, EntryPage, NewEntry};
use crate::{domain, repo};

pub fn append(entry: NewEntry) -> Result<Entry, ApiError> {
    domain::validate(&entry).map_err(|errors| ApiError::invalid_input(&errors))?;
    let conn = repo::open().map_err(ApiError::from)?;
    let (id, at) = (new_id(), now_rfc3339());
    repo::insert(&conn, &id, &at, &entry).map_err(ApiError::from)?;
    Ok(Entry {
        id,
        at,
        actor: entry.actor,
        actor_role: entry.actor_role,
        action: entry.action,
        outcome: entry.outcome,
        status: entry.status,
        method: entry.method,
        path: entry.path,
        client_addr: entry.client_addr,
        trace_id: entry.trace_id,
        request_id: entry.request_id,
    })
}

pub fn list(filter: &EntryFilter, page: Page) -> Result<EntryPage, ApiError> {
    let conn = repo::open().map_err(ApiError::from)?;
    let (items, total) =
        repo::list(&conn, filter, page.limit, page.offset()).map_err(ApiError::from)?;
    Ok(EntryPage {
        items,
        total,
        page: page.page,
        limit: page.limit,
    })
}
