wasmtime::component::bindgen!({
    path: ["../wit/events", "../wit/notifications"],
    world: "wasmshop:notifications/notifications",
    exports: { default: async },
});
