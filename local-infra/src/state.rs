//! The data of one instance's `Store`: WASI contexts plus the component's capabilities.
//!
//! Everything that can be computed once per component lives in [`ComponentCapabilities`] behind
//! an `Arc`; building an [`InstanceState`] per request only allocates the per-instance tables.

use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime::{StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::capabilities::files::ComponentFiles;
use crate::capabilities::key_value::KeyValueAccess;
use crate::capabilities::outbound_http::OutboundHttp;
use crate::capabilities::redis::RedisAccess;
use crate::capabilities::sqlite::SqliteAccess;
use crate::capabilities::variables::ComponentVariables;
use crate::logs::InstanceLog;

/// What one component may use, fixed when the app loads.
pub struct ComponentCapabilities {
    pub component_id: String,
    pub key_value: KeyValueAccess,
    pub sqlite: SqliteAccess,
    pub redis: RedisAccess,
    pub variables: ComponentVariables,
    pub outbound_http: OutboundHttp,
    pub environment: Vec<(String, String)>,
    /// The component's `files`, mounted read-only at `/`; `None`: no file system at all.
    pub files: Option<ComponentFiles>,
    pub logs: ComponentLogs,
    pub max_memory_bytes: usize,
}

/// Where a component's stdout and stderr go: files under the log dir, as `spin up` does.
#[derive(Default)]
pub struct ComponentLogs {
    pub stdout: Option<Arc<std::fs::File>>,
    pub stderr: Option<Arc<std::fs::File>>,
}

pub struct InstanceState {
    pub(crate) table: ResourceTable,
    pub(crate) capabilities: Arc<ComponentCapabilities>,
    wasi: WasiCtx,
    http: WasiHttpCtx,
    http_hooks: OutboundHttp,
    pub(crate) limits: StoreLimits,
}

impl InstanceState {
    pub fn new(capabilities: Arc<ComponentCapabilities>) -> Self {
        let mut wasi = WasiCtx::builder();
        wasi.envs(&capabilities.environment);
        if let Some(files) = &capabilities.files {
            files.preopen(&mut wasi, &capabilities.component_id);
        }
        if let Some(file) = &capabilities.logs.stdout {
            wasi.stdout(InstanceLog::new(file.clone()));
        }
        if let Some(file) = &capabilities.logs.stderr {
            wasi.stderr(InstanceLog::new(file.clone()));
        }
        let limits = StoreLimitsBuilder::new()
            .memory_size(capabilities.max_memory_bytes)
            .trap_on_grow_failure(false)
            .build();
        Self {
            table: ResourceTable::new(),
            wasi: wasi.build(),
            http: WasiHttpCtx::new(),
            http_hooks: capabilities.outbound_http.clone(),
            capabilities,
            limits,
        }
    }

    pub fn component_id(&self) -> &str {
        &self.capabilities.component_id
    }
}

impl WasiView for InstanceState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for InstanceState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.http_hooks,
        }
    }
}
