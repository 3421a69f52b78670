//! The orders bounded context: carts, checkout, orders, and the orchestrated checkout saga
//! (`domain::saga` decides, `service` applies) that drives catalog, payments and shipping
//! through their command channels and listens to their replies.

mod domain;
mod http;
mod messages;
mod repo;
mod service;
mod upstream;

/// The HTTP entry (`wasi:http/incoming-handler` in Wasm builds).
#[cfg_attr(target_arch = "wasm32", spin_sdk::http_component)]
pub fn handle(req: spin_sdk::http::Request) -> spin_sdk::http::Response {
    http::handle(req)
}

/// Saga replies from Redis (`fermyon:spin/inbound-redis` in Wasm builds).
#[cfg_attr(target_arch = "wasm32", spin_sdk::redis_component)]
pub fn on_message(message: Vec<u8>) -> anyhow::Result<()> {
    wasmshop_kit::messaging::on_redis_message(
        &repo::open,
        &message,
        &messages::SagaReplies,
        service::SOURCE,
    )
}
