//! The wasmtime engine, configured the way Spin runs components: pooling allocator with
//! copy-on-write memory images, epoch interruption for request deadlines, and an on-disk cache
//! of compiled components keyed by content hash.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the epoch advances; deadlines are counted in these ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

#[derive(Debug, Clone)]
pub struct EngineOptions {
    pub pooling: bool,
    pub max_instance_memory: usize,
    /// Instances alive at once; bounds the pooling allocator's reservations.
    pub max_instances: u32,
    pub debug_info: bool,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            pooling: true,
            max_instance_memory: 128 * 1024 * 1024,
            max_instances: 1000,
            debug_info: false,
        }
    }
}

const RESIDENT_MEMORY_BYTES: usize = 4 << 20;
const RESIDENT_TABLE_BYTES: usize = 64 << 10;
const DECOMMIT_BATCH: usize = 32;

pub fn build_engine(options: &EngineOptions) -> anyhow::Result<Engine> {
    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .epoch_interruption(true)
        .memory_init_cow(true)
        .debug_info(options.debug_info)
        .cranelift_opt_level(wasmtime::OptLevel::Speed);
    if options.pooling {
        let mut pooling = PoolingAllocationConfig::new();
        // A spin-sdk component is two or three core modules (guest, adapter shims) with one
        // memory and a few tables each.
        pooling
            .total_component_instances(options.max_instances)
            .total_core_instances(options.max_instances * 8)
            .total_memories(options.max_instances * 2)
            .total_tables(options.max_instances * 8)
            .total_stacks(options.max_instances)
            .max_memories_per_component(4)
            .max_memory_size(options.max_instance_memory)
            .max_component_instance_size(1 << 20)
            .max_core_instances_per_component(16)
            .max_tables_per_component(16)
            // Per-request teardown dominated the cost of a request: `madvise` on every freed
            // memory forces TLB shootdowns on all cores, and the next instance then page-faults
            // its copy-on-write image back in. Instead keep slots resident and reset only the
            // pages the guest dirtied (PAGEMAP_SCAN, Linux >= 6.7; `memset` of the low
            // addresses elsewhere), and batch whatever decommits remain.
            .pagemap_scan(wasmtime::Enabled::Auto)
            .linear_memory_keep_resident(RESIDENT_MEMORY_BYTES)
            .table_keep_resident(RESIDENT_TABLE_BYTES)
            .decommit_batch_size(DECOMMIT_BATCH);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling));
    }
    Engine::new(&config).map_err(|e| anyhow::anyhow!("configuring wasmtime: {e}"))
}

/// Advances the engine's epoch on a timer thread until dropped.
pub struct EpochTicker {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl EpochTicker {
    pub fn start(engine: &Engine) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let engine = engine.weak();
        let thread = std::thread::Builder::new()
            .name("epoch-ticker".into())
            .spawn({
                let stop = stop.clone();
                move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(EPOCH_TICK);
                        match engine.upgrade() {
                            Some(engine) => engine.increment_epoch(),
                            None => break,
                        }
                    }
                }
            })
            .ok();
        Self { stop, thread }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Compiled components on disk, named by the hash of the Wasm bytes and of everything in the
/// engine that affects compiled code, so a stale entry can never be loaded.
pub struct CompileCache {
    dir: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheOutcome {
    Hit,
    Compiled,
    Disabled,
}

impl CompileCache {
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    pub fn load(
        cache: Option<&Self>,
        engine: &Engine,
        wasm_path: &Path,
    ) -> anyhow::Result<(Component, CacheOutcome)> {
        let bytes = std::fs::read(wasm_path)
            .with_context(|| format!("reading component {}", wasm_path.display()))?;
        let Some(cache) = cache else {
            let component = compile(engine, &bytes, wasm_path)?;
            return Ok((component, CacheOutcome::Disabled));
        };
        let entry = cache
            .dir
            .join(format!("{}.cwasm", cache_key(engine, &bytes)));
        if entry.exists() {
            // SAFETY: entries are written only by `precompile_component` of an engine with the
            // same compatibility hash (part of the file name), and never modified in place.
            match unsafe { Component::deserialize_file(engine, &entry) } {
                Ok(component) => return Ok((component, CacheOutcome::Hit)),
                Err(e) => {
                    tracing::warn!(entry = %entry.display(), "ignoring unusable cache entry: {e}")
                }
            }
        }
        let compiled = engine
            .precompile_component(&bytes)
            .map_err(|e| anyhow::anyhow!("compiling {}: {e:?}", wasm_path.display()))?;
        std::fs::create_dir_all(&cache.dir)
            .with_context(|| format!("creating cache dir {}", cache.dir.display()))?;
        // Write then rename, so a concurrent reader never sees half an entry; the partial name
        // is unique per load, as several threads of one process may compile the same bytes.
        static PARTIAL: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let partial = entry.with_extension(format!(
            "{}-{}.partial",
            std::process::id(),
            PARTIAL.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(&partial, &compiled)?;
        std::fs::rename(&partial, &entry)?;
        // SAFETY: the bytes were produced just above by this engine.
        let component = unsafe { Component::deserialize(engine, &compiled) }
            .map_err(|e| anyhow::anyhow!("loading compiled {}: {e}", wasm_path.display()))?;
        Ok((component, CacheOutcome::Compiled))
    }
}

fn compile(engine: &Engine, bytes: &[u8], path: &Path) -> anyhow::Result<Component> {
    Component::new(engine, bytes)
        .map_err(|e| anyhow::anyhow!("compiling {}: {e:?}", path.display()))
}

fn cache_key(engine: &Engine, bytes: &[u8]) -> String {
    use std::hash::{Hash, Hasher};
    struct Sha(Sha256);
    impl Hasher for Sha {
        fn finish(&self) -> u64 {
            0
        }
        fn write(&mut self, bytes: &[u8]) {
            self.0.update(bytes);
        }
    }
    let mut hasher = Sha(Sha256::new());
    engine.precompile_compatibility_hash().hash(&mut hasher);
    hasher.0.update(bytes);
    let digest = hasher.0.finalize();
    digest.iter().map(|b| format!("{b:02x}")).collect()
}
