wasmtime::component::bindgen!({
    path: ["../wit/events", "../wit/orders"],
    world: "wasmshop:orders/orders",
    exports: { default: async },
});
