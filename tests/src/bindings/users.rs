wasmtime::component::bindgen!({
    path: ["../wit/events", "../wit/users"],
    world: "wasmshop:users/users",
    exports: { default: async },
});
