//! What every wasmshop bounded context shares, written once: the uniform JSON error, strict JSON
//! input, ids and times, the identity the gateway forwards, SQLite migrations and transactions,
//! the event envelope and the transactional outbox.
//!
//! Pure helpers are natively testable; the ones that touch Spin (`db`, `outbox`) run in Wasm.

pub mod acks;
pub mod channels;
pub mod db;
mod entry;
pub mod error;
pub mod events;
pub mod http;
pub mod identity;
pub mod ids;
pub mod json;
pub mod lease;
pub mod messaging;
pub mod outbox;
pub mod router;
pub mod token;
pub mod trace;

/// Rust types of the `wasmshop:events` WIT package, shared by every component's bindings
/// (`with: { "wasmshop:events/common@0.1.0": wasmshop_kit::wit::wasmshop::events::common, ... }`).
pub mod wit {
    wit_bindgen::generate!({
        path: "../../wit/events",
        world: "wasmshop:events/shared-types",
        additional_derives: [serde::Serialize, serde::Deserialize, PartialEq, Clone],
        generate_all,
        generate_unused_types: true,
    });
}

/// Every bounded context behind the gateway: each owns a database with an outbox and an inbox,
/// has a private health route, a recovery tick and operator routes under `/admin/<context>/`.
/// The one list of them: the gateway's upstreams and the test harness take it from here, and
/// tests check `spin.toml`, `scripts/up.sh`, `scripts/test.sh` and the SpinKube CronJob
/// against it. (The audit trail is behind the gateway too, but appends only: no context.)
pub const CONTEXTS: [&str; 6] = [
    "users",
    "catalog",
    "orders",
    "payments",
    "shipping",
    "notifications",
];

pub use wit::wasmshop::events::common::{FieldError, Money};
pub use wit::wasmshop::events::envelope::{Event, TraceContext};
pub use wit::wasmshop::events::payloads;

/// JSON for a WIT `enum`: its case names exactly as the WIT spells them (`name-asc`), which is
/// what the contract promises and what `serde`'s derive (Rust's `NameAsc`) would not give.
#[macro_export]
macro_rules! wit_enum_json {
    ($ty:ty { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl ::serde::Serialize for $ty {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(match self { $(<$ty>::$variant => $name),+ })
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $ty {
            fn deserialize<D: ::serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <::std::borrow::Cow<'de, str> as ::serde::Deserialize>::deserialize(deserializer)?;
                match text.as_ref() {
                    $($name => Ok(<$ty>::$variant),)+
                    other => Err(<D::Error as ::serde::de::Error>::unknown_variant(other, &[$($name),+])),
                }
            }
        }

        impl $ty {
            pub fn as_str(&self) -> &'static str {
                match self { $(<$ty>::$variant => $name),+ }
            }

            pub fn parse(text: &str) -> Option<Self> {
                match text { $($name => Some(<$ty>::$variant),)+ _ => None }
            }
        }
    };
}
