//! The payments bounded context: a simulated provider with real semantics — authorize,
//! capture, void and refund per order, each idempotent — driven by the checkout saga's
//! commands on `payments.commands`, answering on `payments.events`; read by owners over HTTP
//! and through the exported WIT `wasmshop:payments/api`.

mod api;
mod domain;
mod http;
mod messages;
mod repo;
mod service;

mod bindings {
    wit_bindgen::generate!({
        path: ["../../wit/events", "../../wit/payments"],
        world: "wasmshop:payments/payments",
        with: { "wasmshop:events/common@0.1.0": wasmshop_kit::wit::wasmshop::events::common },
        additional_derives: [serde::Serialize, serde::Deserialize, PartialEq, Clone],
        additional_derives_ignore: ["payment-status", "error"],
    });

    wasmshop_kit::wit_enum_json!(crate::bindings::wasmshop::payments::types::PaymentStatus {
        Authorized => "authorized",
        Captured => "captured",
        Voided => "voided",
        Refunded => "refunded",
        Declined => "declined",
    });
}

/// The type the exported `api` is implemented on.
pub struct Component;

// Only Wasm builds export (the `api` and `wasi:http/incoming-handler`): a native cdylib, linked
// for `cargo test`, cannot carry WIT export names.
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
        &messages::PaymentCommands,
        service::SOURCE,
    )
    .map(drop)
}
