//! Triggers: what turns outside events into component invocations.

pub mod connections;
pub mod http;
pub mod redis;
pub mod router;
