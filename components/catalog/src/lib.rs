//! The catalog bounded context: products, categories, stock and reservations.
//!
//! One crate, two doors onto the same use cases (`service`): the HTTP adapter (`http`, private
//! route, reached through the gateway or service chaining) and the exported WIT `api`
//! (`wasmshop:catalog/api`) for direct component calls.

mod api;
mod domain;
mod http;
mod messages;
mod repo;
mod seed;
mod service;

mod bindings {
    wit_bindgen::generate!({
        path: ["../../wit/events", "../../wit/catalog"],
        world: "wasmshop:catalog/catalog",
        with: { "wasmshop:events/common@0.1.0": wasmshop_kit::wit::wasmshop::events::common },
        additional_derives: [serde::Serialize, serde::Deserialize, PartialEq, Clone],
        additional_derives_ignore: ["product-sort", "reservation-status", "error"],
    });

    use crate::bindings::wasmshop::catalog::types::{ProductSort, ReservationStatus};

    wasmshop_kit::wit_enum_json!(ProductSort {
        NameAsc => "name-asc",
        NameDesc => "name-desc",
        PriceAsc => "price-asc",
        PriceDesc => "price-desc",
        Newest => "newest",
    });

    wasmshop_kit::wit_enum_json!(ReservationStatus {
        Reserved => "reserved",
        Released => "released",
        Committed => "committed",
    });
}

wasmshop_kit::component_entries!(
    http: http::handle,
    redis: { open: repo::open, consumer: messages::CatalogCommands, source: "catalog" },
);
