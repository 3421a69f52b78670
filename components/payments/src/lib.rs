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

wasmshop_kit::component_entries!(
    http: http::handle,
    redis: { open: repo::open, consumer: messages::PaymentCommands, source: service::SOURCE },
);
