//! The entry points every component of a context has, written once: the type its exported WIT
//! `api` is implemented on and its export, the HTTP handler, and for a context that consumes
//! events over Redis, the Redis handler (`wasmshop_kit::component_entries!`).

/// Declares `Component` (the type the crate's exported `api` is implemented on), exports it in
/// Wasm builds, and declares the HTTP entry `handle`, which adopts the request's trace and hands
/// it to `http:`. With `redis:`, also the Redis entry `on_message`, which receives a message as
/// the HTTP push's `/events` does (`messaging::on_redis_message`): the context's database
/// (`open`), what it does with each event (`consumer`), and its name (`source`).
///
/// Expects the crate's `bindings` module (wit-bindgen's `export!` macro) at its root, and
/// `spin_sdk` and `anyhow` among its dependencies.
#[macro_export]
macro_rules! component_entries {
    (http: $http:path $(,)?) => {
        /// The type the exported `api` is implemented on.
        pub struct Component;

        // Only Wasm builds export (the `api` and `wasi:http/incoming-handler`): a native cdylib,
        // linked for `cargo test`, cannot carry WIT export names such as
        // `wasi:http/...#handle`.
        #[cfg(target_arch = "wasm32")]
        bindings::export!(Component with_types_in bindings);

        /// The HTTP entry (`wasi:http/incoming-handler` in Wasm builds).
        #[cfg_attr(target_arch = "wasm32", spin_sdk::http_component)]
        pub fn handle(req: spin_sdk::http::Request) -> spin_sdk::http::Response {
            $crate::trace::adopt_request(&req);
            $http(req)
        }
    };
    (http: $http:path, redis: { open: $open:path, consumer: $consumer:expr, source: $source:expr $(,)? } $(,)?) => {
        $crate::component_entries!(http: $http);

        /// Events from Redis (`fermyon:spin/inbound-redis` in Wasm builds).
        #[cfg_attr(target_arch = "wasm32", spin_sdk::redis_component)]
        pub fn on_message(message: Vec<u8>) -> anyhow::Result<()> {
            $crate::messaging::on_redis_message(&$open, &message, &$consumer, $source).map(drop)
        }
    };
}
