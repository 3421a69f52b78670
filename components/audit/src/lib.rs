//! The audit trail: the security-relevant requests the gateway saw (logins, logouts, the
//! first-admin bootstrap, every admin write), appended once and never changed; read by admins
//! over HTTP and through the exported WIT `wasmshop:audit/api`.
//!
//! Fed by the gateway alone (`POST /records`, private): it is the one place that sees each of
//! these requests with its verified identity, client address, trace and outcome
//! (ARCHITECTURE.md, "Audit trail").

mod api;
mod domain;
mod http;
mod repo;
mod service;

mod bindings {
    wit_bindgen::generate!({
        path: ["../../wit/events", "../../wit/audit"],
        world: "wasmshop:audit/audit",
        with: { "wasmshop:events/common@0.1.0": wasmshop_kit::wit::wasmshop::events::common },
        additional_derives: [serde::Serialize, serde::Deserialize, PartialEq, Clone],
        additional_derives_ignore: ["outcome", "error"],
    });

    wasmshop_kit::wit_enum_json!(crate::bindings::wasmshop::audit::types::Outcome {
        Success => "success",
        Failure => "failure",
    });
}

wasmshop_kit::component_entries!(http: http::handle);
