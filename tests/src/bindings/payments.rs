wasmtime::component::bindgen!({
    path: ["../wit/events", "../wit/payments"],
    world: "wasmshop:payments/payments",
    exports: { default: async },
});
