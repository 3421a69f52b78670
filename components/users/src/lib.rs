//! The `users` bounded context: registration, login (Argon2id passwords, HS256 JWTs), logout
//! (token revocation in Redis) and profiles. Served over HTTP (private route, reached through
//! the gateway) and as the exported WIT `wasmshop:users/api`; both call `service`.

mod api;
pub mod domain;
mod http;
mod repo;
mod service;

#[allow(clippy::all, clippy::pedantic)]
pub mod bindings {
    wit_bindgen::generate!({
        path: ["../../wit/events", "../../wit/users"],
        world: "wasmshop:users/users",
        with: { "wasmshop:events/common@0.1.0": wasmshop_kit::wit::wasmshop::events::common },
        additional_derives: [serde::Serialize, serde::Deserialize, PartialEq, Clone],
        additional_derives_ignore: ["role", "error"],
        pub_export_macro: true,
    });
}

pub use bindings::wasmshop::users::types::{
    Address, Error, LoginRequest, ProfileUpdate, RegisterRequest, Role, Token, User,
};

wasmshop_kit::wit_enum_json!(Role {
    Customer => "customer",
    Admin => "admin",
});

wasmshop_kit::component_entries!(http: http::handle);
