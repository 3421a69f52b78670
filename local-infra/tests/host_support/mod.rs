//! Instance state built from a tiny inline `spin.toml`, as Spin's `factor-*` tests build theirs
//! from a manifest, so a capability's host methods can be called on [`InstanceState`] directly,
//! with no guest. The app is loaded by [`App::load`], exactly as `up` loads it (labels, runtime
//! config, allowed hosts, chaining handle), from an empty component: eight bytes that link and
//! run nothing, so no Wasm is built or compiled for these tests.

#![allow(dead_code)]

use std::sync::Arc;

use local_infra::app::{App, RuntimeOptions};
use local_infra::manifest::Manifest;
use local_infra::state::InstanceState;
use wasmtime::Store;
use wasmtime::component::Resource;

/// `(component)` in the binary format: the component preamble and nothing else.
const EMPTY_COMPONENT: &[u8] = b"\0asm\x0d\x00\x01\x00";

/// A loaded app and the temporary directory holding its manifest, runtime config and state.
pub struct HostApp {
    pub app: Arc<App>,
    pub dir: tempfile::TempDir,
}

impl HostApp {
    /// An app of `components`, each `(id, lines of its [component.<id>] section)`, each served
    /// on a route of its own; `runtime_config` is the runtime-config file's text, if any.
    pub async fn load(components: &[(&str, &str)], runtime_config: Option<&str>) -> Self {
        Self::try_load(components, runtime_config)
            .await
            .expect("the app loads")
    }

    /// As [`load`](Self::load), but a refusal to load is the caller's to check.
    pub async fn try_load(
        components: &[(&str, &str)],
        runtime_config: Option<&str>,
    ) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        std::fs::write(dir.path().join("empty.wasm"), EMPTY_COMPONENT)?;
        let manifest = Manifest::parse(&manifest_text(components), dir.path().to_owned())?;
        let mut options = RuntimeOptions::new(dir.path().join("state"));
        // No instance is ever made, so neither a pool of them nor a cache or logs are needed.
        options.engine.pooling = false;
        options.cache_dir = None;
        options.log_dir = None;
        if let Some(text) = runtime_config {
            let path = dir.path().join("runtime-config.toml");
            std::fs::write(&path, text)?;
            options.runtime_config_file = Some(path);
        }
        let app = App::load(manifest, &options, |_, _| {}).await?;
        Ok(Self { app, dir })
    }

    /// A fresh store of `component`, as a request gets one; its data is the instance state.
    pub fn instance(&self, component: &str) -> Store<InstanceState> {
        let loaded = self
            .app
            .component(component)
            .expect("a component of the app");
        self.app.new_store(loaded)
    }

    /// Asserts that `open`, called on a fresh instance of each `(component, label)`, returns
    /// what `is_denied` accepts: how each capability's tests check who may open what.
    pub async fn assert_each_denied<T: std::fmt::Debug>(
        &self,
        cases: &[(&str, &str)],
        mut open: impl AsyncFnMut(&mut InstanceState, String) -> T,
        is_denied: impl Fn(&T) -> bool,
    ) {
        for (component, label) in cases {
            let mut instance = self.instance(component);
            let outcome = open(instance.data_mut(), (*label).to_owned()).await;
            assert!(
                is_denied(&outcome),
                "{component} opens {label}: {outcome:?}"
            );
        }
    }
}

fn manifest_text(components: &[(&str, &str)]) -> String {
    let mut text = String::from("spin_manifest_version = 2\n[application]\nname = \"host-test\"\n");
    for (id, section) in components {
        text.push_str(&format!(
            "[[trigger.http]]\nroute = \"/{id}/...\"\ncomponent = \"{id}\"\n\
             [component.{id}]\nsource = \"empty.wasm\"\n{section}\n"
        ));
    }
    text
}

/// The handle a guest passes to a resource's method: a borrow of the one it owns.
pub fn borrow<T: 'static>(resource: &Resource<T>) -> Resource<T> {
    Resource::new_borrow(resource.rep())
}
