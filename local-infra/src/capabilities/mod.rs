//! One module per Spin host capability, cut the way Spin's `crates/factor-*` are.

pub mod files;
pub mod key_value;
pub mod outbound_http;
pub mod outbound_networking;
pub mod redis;
pub mod sqlite;
pub mod sqlite_process;
pub mod variables;
