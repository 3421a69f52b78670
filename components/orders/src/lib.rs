//! The orders bounded context: carts, checkout, orders, and the orchestrated checkout saga
//! (`domain::saga` decides, `service` applies) that drives catalog, payments and shipping
//! through their command channels and listens to their replies.
//!
//! Two doors onto the same use cases (`service`): the HTTP adapter (`http`, a private route
//! reached through the gateway) and the exported WIT `wasmshop:orders/api` (`api`).

mod api;
mod domain;
mod http;
mod messages;
mod repo;
mod service;
mod upstream;

mod bindings {
    wit_bindgen::generate!({
        path: ["../../wit/events", "../../wit/orders"],
        world: "wasmshop:orders/orders",
        with: {
            "wasmshop:events/common@0.1.0": wasmshop_kit::wit::wasmshop::events::common,
            "wasmshop:events/payloads@0.1.0": wasmshop_kit::wit::wasmshop::events::payloads,
        },
        additional_derives: [serde::Serialize, serde::Deserialize, PartialEq, Clone],
        additional_derives_ignore: ["order-status", "error"],
    });

    // Underscores, not the WIT's dashes: the HTTP API spells statuses this way.
    wasmshop_kit::wit_enum_json!(crate::bindings::wasmshop::orders::types::OrderStatus {
        Pending => "pending",
        AwaitingPayment => "awaiting_payment",
        AwaitingShipment => "awaiting_shipment",
        CapturingPayment => "capturing_payment",
        Confirmed => "confirmed",
        Compensating => "compensating",
        Cancelled => "cancelled",
        Failed => "failed",
    });
}

wasmshop_kit::component_entries!(
    http: http::handle,
    redis: { open: repo::open, consumer: messages::SagaReplies, source: service::SOURCE },
);
