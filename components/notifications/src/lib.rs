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

wasmshop_kit::component_entries!(
    http: http::handle,
    redis: { open: repo::open, consumer: messages::Notifier, source: service::SOURCE },
);
