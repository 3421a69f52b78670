//! The exported `wasmshop:payments/api`: the HTTP reads and the operator's refund, for direct
//! component calls by trusted components that name the user they act for.

use wasmshop_kit::identity::Identity;

use crate::Component;
use crate::bindings::exports::wasmshop::payments::api::Guest;
use crate::bindings::wasmshop::payments::types::{Error, Payment, PaymentPage};
use crate::service;

/// `acting_for` refuses nothing but a blank viewer, which is invalid input.
fn acting_for(viewer: Option<&str>) -> Result<Identity, Error> {
    Identity::acting_for(viewer).map_err(|refused| Error::InvalidInput(refused.field_errors()))
}

impl Guest for Component {
    fn get_payment(viewer: Option<String>, id: String) -> Result<Payment, Error> {
        service::available()?;
        service::get(&acting_for(viewer.as_deref())?, &id)
    }

    fn list_payments(
        viewer: Option<String>,
        order_id: Option<String>,
        page: u32,
        limit: u32,
    ) -> Result<PaymentPage, Error> {
        service::available()?;
        let identity = acting_for(viewer.as_deref())?;
        service::list(&identity, order_id.as_deref(), page, limit)
    }

    fn refund(id: String) -> Result<Payment, Error> {
        service::available()?;
        service::admin_refund(&id)
    }
}
