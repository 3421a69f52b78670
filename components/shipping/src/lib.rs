//! The shipping bounded context: rate quotes, shipments created and cancelled by the checkout
//! saga's commands (`shipping.commands` → `shipping.events`), tracked through their statuses
//! by operators; read over HTTP and through the exported WIT `wasmshop:shipping/api`.

mod api;
mod domain;
mod http;
mod messages;
mod repo;
mod service;

mod bindings {
    wit_bindgen::generate!({
        path: ["../../wit/events", "../../wit/shipping"],
        world: "wasmshop:shipping/shipping",
        with: {
            "wasmshop:events/common@0.1.0": wasmshop_kit::wit::wasmshop::events::common,
            "wasmshop:events/payloads@0.1.0": wasmshop_kit::wit::wasmshop::events::payloads,
        },
        additional_derives: [serde::Serialize, serde::Deserialize, PartialEq, Clone],
        additional_derives_ignore: ["shipment-status", "error"],
    });

    // Underscores, not the WIT's dashes: the HTTP API spells statuses this way.
    wasmshop_kit::wit_enum_json!(crate::bindings::wasmshop::shipping::types::ShipmentStatus {
        Created => "created",
        Picked => "picked",
        InTransit => "in_transit",
        Delivered => "delivered",
        Cancelled => "cancelled",
    });
}

wasmshop_kit::component_entries!(
    http: http::handle,
    redis: { open: repo::open, consumer: messages::ShippingCommands, source: service::SOURCE },
);
