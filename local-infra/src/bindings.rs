//! Host bindings generated from the vendored Spin WIT in `wit/`.

pub mod host {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "wasmshop:spin-host/host",
        imports: { default: async | trappable },
        with: {
            "fermyon:spin/key-value@2.0.0.store": crate::capabilities::key_value::StoreHandle,
            "fermyon:spin/sqlite@2.0.0.connection": crate::capabilities::sqlite::ConnectionHandle,
            "spin:sqlite/sqlite@3.0.0.connection": crate::capabilities::sqlite::ConnectionHandle,
            "fermyon:spin/redis@2.0.0.connection": crate::capabilities::redis::RedisHandle,
            "wasi:keyvalue/store@0.2.0-draft2.bucket": crate::capabilities::key_value::StoreHandle,
            "wasi:keyvalue/atomics@0.2.0-draft2.cas": crate::capabilities::key_value::CasHandle,
        },
    });
}

pub mod redis_handler {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "wasmshop:spin-host/redis-handler",
        exports: { default: async },
    });
}
