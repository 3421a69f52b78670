//! The notifications bounded context: turns other contexts' events into notifications —
//! rendered per template, recorded per simulated channel, optionally POSTed to a webhook —
//! at most once per event and template; read by their owners over HTTP and through the
//! exported WIT `wasmshop:notifications/api`.

mod api;
mod domain;
mod http;
mod messages;
mod repo;
mod service;

mod bindings {
    wit_bindgen::generate!({
        path: ["../../wit/events", "../../wit/notifications"],
        world: "wasmshop:notifications/notifications",
        with: { "wasmshop:events/common@0.1.0": wasmshop_kit::wit::wasmshop::events::common },
        additional_derives: [serde::Serialize, serde::Deserialize, PartialEq, Clone],
        additional_derives_ignore: ["channel", "delivery-status", "error"],
    });

    use crate::bindings::wasmshop::notifications::types::{Channel, DeliveryStatus};

    wasmshop_kit::wit_enum_json!(Channel {
        Email => "email",
        Sms => "sms",
        Push => "push",
        Webhook => "webhook",
    });

    wasmshop_kit::wit_enum_json!(DeliveryStatus {
        Pending => "pending",
        Delivered => "delivered",
        Skipped => "skipped",
        Failed => "failed",
        Abandoned => "abandoned",
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

/// Events from Redis (`fermyon:spin/inbound-redis` in Wasm builds).
#[cfg_attr(target_arch = "wasm32", spin_sdk::redis_component)]
pub fn on_message(message: Vec<u8>) -> anyhow::Result<()> {
    wasmshop_kit::messaging::on_redis_message(
        &repo::open,
        &message,
        &messages::Notifier,
        service::SOURCE,
    )
    .map(drop)
}
