//! The exported `wasmshop:shipping/api`: quotes, the HTTP reads and the operator's status
//! changes, for direct component calls by trusted components that name the user they act for.

use wasmshop_kit::error::ApiError;
use wasmshop_kit::http::Page;
use wasmshop_kit::identity::Identity;
use wasmshop_kit::json::reshape;

use crate::Component;
use crate::bindings::exports::wasmshop::shipping::api::Guest;
use crate::bindings::wasmshop::shipping::types::{
    Error, Quote, Shipment, ShipmentPage, ShipmentStatus,
};
use crate::domain::Status;
use crate::service;

fn error(e: ApiError) -> Error {
    match e.code {
        "invalid_input" => Error::InvalidInput(e.field_errors()),
        "not_found" => Error::NotFound,
        "illegal_transition" => Error::IllegalTransition(e.message),
        _ => Error::Internal(e.message),
    }
}

impl Guest for Component {
    fn get_quote(country: String, weight_grams: u32) -> Result<Quote, Error> {
        reshape(&service::quote(&country, weight_grams).map_err(error)?).map_err(error)
    }

    fn get_shipment(viewer: Option<String>, id: String) -> Result<Shipment, Error> {
        let identity = Identity::acting_for(viewer.as_deref()).map_err(error)?;
        reshape(&service::get(&identity, &id).map_err(error)?).map_err(error)
    }

    fn list_shipments(
        viewer: Option<String>,
        order_id: Option<String>,
        page: u32,
        limit: u32,
    ) -> Result<ShipmentPage, Error> {
        let identity = Identity::acting_for(viewer.as_deref()).map_err(error)?;
        let page = Page::new(page, limit).map_err(Error::InvalidInput)?;
        reshape(&service::list(&identity, order_id.as_deref(), page).map_err(error)?).map_err(error)
    }

    fn set_status(id: String, status: ShipmentStatus) -> Result<Shipment, Error> {
        // Both spell statuses as the HTTP API does.
        let next = Status::parse(status.as_str())
            .ok_or_else(|| Error::Internal(format!("unknown status {}", status.as_str())))?;
        reshape(&service::set_status(&id, next).map_err(error)?).map_err(error)
    }
}
