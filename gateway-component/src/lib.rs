//! wasmshop's public entry. For now it answers liveness and gives every other path the uniform
//! JSON error; routing to the bounded contexts, JWT auth, rate limiting and the rest of the
//! gateway's duties arrive with the gateway issue.

use serde_json::json;
use spin_sdk::http::{IntoResponse, Request, Response};

fn json_response(status: u16, body: serde_json::Value) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(body.to_string())
        .build()
}

/// The error body every wasmshop HTTP edge uses: a stable `code` plus a human message.
fn error(status: u16, code: &str, message: &str) -> Response {
    json_response(
        status,
        json!({ "error": { "code": code, "message": message, "details": null } }),
    )
}

// Only Wasm builds export the handler: a native link cannot carry WIT export names, and the
// workspace is also built natively (tests, clippy).
#[cfg_attr(target_arch = "wasm32", spin_sdk::http_component)]
pub fn handle(req: Request) -> anyhow::Result<impl IntoResponse> {
    Ok(match req.path() {
        "/health" | "/api/v1/health" => json_response(200, json!({ "status": "ok" })),
        path => error(404, "not_found", &format!("no route for {path}")),
    })
}
