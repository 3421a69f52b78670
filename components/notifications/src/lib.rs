//! The notifications bounded context (being built).

/// The HTTP entry (`wasi:http/incoming-handler` in Wasm builds).
#[cfg_attr(target_arch = "wasm32", spin_sdk::http_component)]
pub fn handle(_req: spin_sdk::http::Request) -> spin_sdk::http::Response {
    wasmshop_kit::error::ApiError::not_found("no such route").into_response()
}

/// Events and commands from Redis (`fermyon:spin/inbound-redis` in Wasm builds).
#[cfg_attr(target_arch = "wasm32", spin_sdk::redis_component)]
pub fn on_message(_message: Vec<u8>) -> anyhow::Result<()> {
    Ok(())
}
