//! `build`: runs each component's `[component.<id>.build]` command, like `spin build`.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, bail};

use crate::manifest::Manifest;

/// Builds the selected components (all when `only` is empty), in manifest order.
pub fn build_components(manifest: &Manifest, only: &[String]) -> anyhow::Result<()> {
    for id in only {
        if !manifest.components.contains_key(id) {
            bail!("no component `{id}` in the manifest");
        }
    }
    for (id, component) in &manifest.components {
        if !only.is_empty() && !only.contains(id) {
            continue;
        }
        let Some(build) = &component.build else {
            println!("{id}: no build command, skipping");
            continue;
        };
        let workdir = match &build.workdir {
            Some(dir) => manifest.base_dir.join(dir),
            None => manifest.base_dir.clone(),
        };
        for command in build.command.commands() {
            println!("Building component {id} with `{command}`");
            run(command, &workdir, &build.environment)
                .with_context(|| format!("building component `{id}`"))?;
        }
    }
    println!("Finished building all Spin components");
    Ok(())
}

fn run(
    command: &str,
    workdir: &Path,
    environment: &std::collections::BTreeMap<String, String>,
) -> anyhow::Result<()> {
    let status = Command::new("sh")
        .arg("-c")
        .arg(command)
        .current_dir(workdir)
        .envs(environment)
        .status()
        .with_context(|| format!("starting `{command}` in {}", workdir.display()))?;
    if !status.success() {
        bail!("`{command}` failed with {status}");
    }
    Ok(())
}
