//! The shipping bounded context: rate quotes, shipments created and cancelled by the checkout
//! saga's commands (`shipping.commands` → `shipping.events`), tracked through their statuses
//! by operators.

mod domain;
mod http;
mod messages;
mod repo;
mod service;

/// The HTTP entry (`wasi:http/incoming-handler` in Wasm builds).
#[cfg_attr(target_arch = "wasm32", spin_sdk::http_component)]
pub fn handle(req: spin_sdk::http::Request) -> spin_sdk::http::Response {
    http::handle(req)
}

/// Saga commands from Redis (`fermyon:spin/inbound-redis` in Wasm builds).
#[cfg_attr(target_arch = "wasm32", spin_sdk::redis_component)]
pub fn on_message(message: Vec<u8>) -> anyhow::Result<()> {
    wasmshop_kit::messaging::on_redis_message(
        &repo::open,
        &message,
        &messages::ShippingCommands,
        service::SOURCE,
    )
}
