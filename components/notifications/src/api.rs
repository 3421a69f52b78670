//! The exported `wasmshop:notifications/api`: the same reads as HTTP, for direct component
//! calls. Callers are trusted components that pass the user they act for.

use crate::Component;
use crate::bindings::exports::wasmshop::notifications::api::Guest;
use crate::bindings::wasmshop::notifications::types::{Error, Notification, NotificationPage};
use crate::service;

impl Guest for Component {
    fn list(
        user_id: String,
        page: u32,
        limit: u32,
        unread_only: bool,
    ) -> Result<NotificationPage, Error> {
        service::list(Some(&user_id), unread_only, page, limit)
    }

    fn mark_read(user_id: String, id: String) -> Result<Notification, Error> {
        service::mark_read(&user_id, &id)
    }
}
