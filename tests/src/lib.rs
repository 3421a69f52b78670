//! The wasmshop harness: builds the app's components with their `spin.toml` build commands and
//! boots the whole app in-process on local-infra, on a free loopback port with a fresh state dir.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use local_infra::app::RuntimeOptions;
use local_infra::manifest::Manifest;
use local_infra::server::RunningApp;

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace")
        .to_owned()
}

pub fn manifest_path() -> PathBuf {
    workspace_root().join("spin.toml")
}

/// Runs every component's build command once per test process, as `spin build` does.
pub fn build_app() -> anyhow::Result<Manifest> {
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    let manifest = Manifest::from_file(&manifest_path())?;
    BUILT
        .get_or_init(|| {
            local_infra::build::build_components(&manifest, &[]).map_err(|e| format!("{e:#}"))
        })
        .clone()
        .map_err(anyhow::Error::msg)?;
    Ok(manifest)
}

/// The whole app, running until dropped.
pub struct Wasmshop {
    pub running: RunningApp,
    pub base_url: String,
    _state: tempfile::TempDir,
}

impl Wasmshop {
    pub async fn boot() -> anyhow::Result<Self> {
        let manifest = build_app()?;
        let state = tempfile::tempdir()?;
        let mut options = RuntimeOptions::new(state.path().to_owned());
        // Compiled components are shared between test processes; the key includes the bytes.
        options.cache_dir = Some(workspace_root().join("target/wasm/cwasm-cache"));
        let running = RunningApp::start_manifest(
            manifest,
            SocketAddr::from(([127, 0, 0, 1], 0)),
            &options,
            |_, _| {},
        )
        .await?;
        let addr = running
            .http_addr()
            .ok_or_else(|| anyhow::anyhow!("spin.toml has no HTTP trigger"))?;
        Ok(Self {
            running,
            base_url: format!("http://{addr}"),
            _state: state,
        })
    }
}
