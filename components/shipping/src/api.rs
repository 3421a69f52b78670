//! The exported `wasmshop:shipping/api`: quotes, the HTTP reads and the operator's status
//! changes, for direct component calls by trusted components that name the user they act for.

use wasmshop_kit::identity::Identity;

use crate::Component;
use crate::bindings::exports::wasmshop::shipping::api::Guest;
use crate::bindings::wasmshop::shipping::types::{
    Error, Quote, Shipment, ShipmentPage, ShipmentStatus,
};
use crate::service;

/// `acting_for` refuses nothing but a blank viewer, which is invalid input.
fn acting_for(viewer: Option<&str>) -> Result<Identity, Error> {
    Identity::acting_for(viewer).map_err(|refused| Error::InvalidInput(refused.field_errors()))
}

impl Guest for Component {
    fn get_quote(country: String, weight_grams: u32) -> Result<Quote, Error> {
        service::quote(&country, weight_grams)
    }

    fn get_shipment(viewer: Option<String>, id: String) -> Result<Shipment, Error> {
        service::get(&acting_for(viewer.as_deref())?, &id)
    }

    fn list_shipments(
        viewer: Option<String>,
        order_id: Option<String>,
        page: u32,
        limit: u32,
    ) -> Result<ShipmentPage, Error> {
        let identity = acting_for(viewer.as_deref())?;
        service::list(&identity, order_id.as_deref(), page, limit)
    }

    fn set_status(id: String, status: ShipmentStatus) -> Result<Shipment, Error> {
        service::set_status(&id, status)
    }
}
