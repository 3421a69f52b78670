//! The wasmtime engine, configured the way Spin runs components: pooling allocator with
//! copy-on-write memory images, epoch interruption for request deadlines, and an on-disk cache
//! of compiled components keyed by content hash and checked against a keyed tag before use.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sha2::{Digest, Sha256};
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
mod compile_cache;

pub use compile_cache::{CacheOutcome, CompileCache};

/// Compiles a component for `engine` (issue #16: what compiling left behind was half of the
/// runtime's idle heap). On an engine of its own, dropped when done: Cranelift keeps the scratch
/// memory of the largest function each thread compiled for as long as its engine lives, which
/// the serving engine, which never compiles again, held for good. And on a thread of its own
/// that then exits: compiling on the loading thread interleaved its short-lived blocks with the
/// app's long-lived ones, and left pages partly in use.
fn precompile(engine: &Engine, bytes: &[u8], path: &Path) -> anyhow::Result<Vec<u8>> {
    let compile = || {
        let compiler = compiler_for(engine);
        compiler
            .as_ref()
            .unwrap_or(engine)
            .precompile_component(bytes)
            .map_err(|e| anyhow::anyhow!("compiling {}: {e:?}", path.display()))
    };
    std::thread::scope(|scope| {
        match std::thread::Builder::new()
            .name("compile".into())
            .spawn_scoped(scope, compile)
        {
            Ok(thread) => thread
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            Err(_) => compile(),
        }
    })
}

/// An engine that compiles exactly the code `engine` would, if one can be made.
fn compiler_for(engine: &Engine) -> Option<Engine> {
    let mut config = engine.config().clone();
    // Compiling needs no instances, so none of the pooling allocator's reservations.
    config.allocation_strategy(InstanceAllocationStrategy::OnDemand);
    // On the compiling thread alone: rayon's pool threads live on idle, and what the compiler
    // freed from elsewhere stayed with them at idle. The app's uncached start took as long
    // either way on two cores, within the noise of a shared host.
    config.parallel_compilation(false);
    Engine::new(&config)
        .ok()
        .filter(|compiler| compatibility(compiler).finalize() == compatibility(engine).finalize())
}

/// Hashing state seeded with everything in `engine` that affects compiled code.
fn compatibility(engine: &Engine) -> Sha256 {
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
    hasher.0
}
