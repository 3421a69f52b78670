//! The exported `wasmshop:audit/api`: appending and listing, for direct component calls by
//! trusted components (the listing shows everything: the caller acts for an operator).

use wasmshop_kit::error::ApiError;
use wasmshop_kit::http::Page;

use crate::Component;
use crate::bindings::exports::wasmshop::audit::api::Guest;
use crate::bindings::wasmshop::audit::types::{Entry, EntryFilter, EntryPage, Error, NewEntry};
use crate::{domain, service};

fn error(e: ApiError) -> Error {
    match e.code {
        "invalid_input" => Error::InvalidInput(e.field_errors()),
        _ => Error::Internal(e.message),
    }
}

impl Guest for Component {
    fn append(entry: NewEntry) -> Result<Entry, Error> {
        service::append(entry).map_err(error)
    }

    fn list_entries(filter: EntryFilter, page: u32, limit: u32) -> Result<EntryPage, Error> {
        let page = Page::new(page, limit).map_err(Error::InvalidInput)?;
        let filter = domain::filter(
            filter.actor.as_deref(),
            filter.action.as_deref(),
            filter.since.as_deref(),
        )
        .map_err(Error::InvalidInput)?;
        service::list(&filter, page).map_err(error)
    }
}
