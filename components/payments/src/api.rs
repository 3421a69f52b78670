//! The exported `wasmshop:payments/api`: the HTTP reads and the operator's refund, for direct
//! component calls by trusted components that name the user they act for.

use wasmshop_kit::error::ApiError;
use wasmshop_kit::http::Page;
use wasmshop_kit::identity::Identity;
use wasmshop_kit::json::reshape;

use crate::Component;
use crate::bindings::exports::wasmshop::payments::api::Guest;
use crate::bindings::wasmshop::payments::types::{Error, Payment, PaymentPage};
use crate::service;

fn error(e: ApiError) -> Error {
    match e.code {
        "invalid_input" => Error::InvalidInput(e.field_errors()),
        "not_found" => Error::NotFound,
        "not_captured" => Error::NotCaptured,
        _ => Error::Internal(e.message),
    }
}

/// The test fault switch (`payments_fault`) takes this door down as it does HTTP.
fn available() -> Result<(), Error> {
    if service::provider_down() {
        return Err(Error::Unavailable(
            "the payment provider is unavailable".into(),
        ));
    }
    Ok(())
}

impl Guest for Component {
    fn get_payment(viewer: Option<String>, id: String) -> Result<Payment, Error> {
        available()?;
        let identity = Identity::acting_for(viewer.as_deref()).map_err(error)?;
        reshape(&service::get(&identity, &id).map_err(error)?).map_err(error)
    }

    fn list_payments(
        viewer: Option<String>,
        order_id: Option<String>,
        page: u32,
        limit: u32,
    ) -> Result<PaymentPage, Error> {
        available()?;
        let identity = Identity::acting_for(viewer.as_deref()).map_err(error)?;
        let page = Page::new(page, limit).map_err(Error::InvalidInput)?;
        reshape(&service::list(&identity, order_id.as_deref(), page).map_err(error)?).map_err(error)
    }

    fn refund(id: String) -> Result<Payment, Error> {
        available()?;
        reshape(&service::admin_refund(&id).map_err(error)?).map_err(error)
    }
}
