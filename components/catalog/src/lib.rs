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

/// The type the exported `api` is implemented on.
pub struct Component;

// Only Wasm builds export (the `api` and `wasi:http/incoming-handler`): a native cdylib, linked
// for `cargo test`, cannot carry WIT export names such as `wasi:http/...#handle`.
#[cfg(target_arch = "wasm32")]
bindings::export!(Component with_types_in bindings);

/// The HTTP entry (`wasi:http/incoming-handler` in Wasm builds).
#[cfg_attr(target_arch = "wasm32", spin_sdk::http_component)]
pub fn handle(req: spin_sdk::http::Request) -> spin_sdk::http::Response {
    wasmshop_kit::trace::adopt_request(&req);
    http::handle(req)
}

/// Saga commands from Redis (`fermyon:spin/inbound-redis` in Wasm builds).
#[cfg_attr(target_arch = "wasm32", spin_sdk::redis_component)]
pub fn on_message(message: Vec<u8>) -> anyhow::Result<()> {
    wasmshop_kit::messaging::on_redis_message(
        &repo::open,
        &message,
        &messages::CatalogCommands,
        "catalog",
    )
    .map(drop)
}
