//! A Spin-compatible runtime on wasmtime: it loads a Spin manifest (v2), gives spin-sdk 5.2
//! components the Spin host interfaces with Spin's semantics, and serves the HTTP and Redis
//! triggers. It is both `wasmshop-spin up` and the engine of the test harness.

pub mod app;
pub mod bindings;
pub mod build;
pub mod capabilities;
pub mod engine;
pub mod host_requirements;
pub mod logs;
pub mod manifest;
pub mod memory;
pub mod metrics;
pub mod private_fs;
pub mod runtime_config;
pub mod server;
pub mod state;
pub mod telemetry;
pub mod template;
pub mod ticker;
pub mod triggers;
