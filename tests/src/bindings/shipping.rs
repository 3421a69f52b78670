wasmtime::component::bindgen!({
    path: ["../wit/events", "../wit/shipping"],
    world: "wasmshop:shipping/shipping",
    exports: { default: async },
});
