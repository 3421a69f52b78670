//! The notifications bounded context: turns other contexts' events into notifications —
//! rendered per template, recorded per simulated channel, optionally POSTed to a webhook —
//! at most once per event; read over HTTP by their owners.

mod domain;
mod http;
mod messages;
mod repo;
mod service;

/// The HTTP entry (`wasi:http/incoming-handler` in Wasm builds).
#[cfg_attr(target_arch = "wasm32", spin_sdk::http_component)]
pub fn handle(req: spin_sdk::http::Request) -> spin_sdk::http::Response {
    http::handle(req)
}

/// Events from Redis (`fermyon:spin/inbound-redis` in Wasm builds); due webhook deliveries go
/// out right after, outside the message's transaction.
#[cfg_attr(target_arch = "wasm32", spin_sdk::redis_component)]
pub fn on_message(message: Vec<u8>) -> anyhow::Result<()> {
    wasmshop_kit::messaging::on_redis_message(
        &repo::open,
        &message,
        &messages::Notifier,
        service::SOURCE,
    )?;
    if let Ok(conn) = repo::open()
        && let Err(e) = service::deliver_webhooks(&conn)
    {
        eprintln!("notifications: webhook delivery: {e}");
    }
    Ok(())
}
