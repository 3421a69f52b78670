wasmtime::component::bindgen!({
    path: ["../wit/events", "../wit/catalog"],
    world: "wasmshop:catalog/catalog",
    exports: { default: async },
});
