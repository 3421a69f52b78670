//! The wasmtime engine, configured the way Spin runs components: pooling allocator with
//! copy-on-write memory images, epoch interruption for request deadlines, and an on-disk cache
//! of compiled components keyed by content hash and checked against a keyed tag before use.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::Context;
use hmac::{Hmac, Mac};
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

/// The cache's secret, beside its entries.
const KEY_FILE: &str = "cache.key";
const KEY_LEN: usize = 32;

type Tag = Hmac<Sha256>;

/// Compiled components on disk, named by the hash of the Wasm bytes and of everything in the
/// engine that affects compiled code, so a stale entry can never be loaded.
///
/// An entry is native code that the runtime maps executable, so the name alone cannot be
/// trusted: anyone who could write to the directory could put other code under it. Each entry
/// `<name>.cwasm` therefore has a tag `<name>.cwasm.tag`, an HMAC-SHA256 of the name and the
/// entry's bytes under a random key that only the runtime's user can read (`cache.key`, 0600,
/// made on first use). An entry whose tag is missing or wrong is never loaded: it is compiled
/// again and replaced.
pub struct CompileCache {
    dir: PathBuf,
    key: OnceLock<[u8; KEY_LEN]>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheOutcome {
    Hit,
    Compiled,
    Disabled,
}

/// Why an entry that exists was not loaded.
#[derive(Debug, thiserror::Error)]
enum Rejected {
    #[error("it has no tag (written by an older runtime, or not by this one)")]
    NoTag,
    #[error("its tag does not match its content and name")]
    BadTag,
    #[error("reading it failed: {0}")]
    Io(#[from] std::io::Error),
}

impl CompileCache {
    pub fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            key: OnceLock::new(),
        }
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
        crate::private_fs::prepare_dir(&cache.dir)
            .with_context(|| format!("creating cache dir {}", cache.dir.display()))?;
        let key = cache
            .key()
            .with_context(|| format!("cache key in {}", cache.dir.display()))?;
        let name = cache_key(engine, &bytes);
        let entry = cache.dir.join(format!("{name}.cwasm"));
        match read_verified(&key, &name, &entry) {
            Ok(Some(compiled)) => {
                // SAFETY: the tag proves that this runtime's cache wrote these bytes under this
                // name, and it writes only what `precompile_component` of an engine with the
                // same compatibility hash (part of the name) produced.
                match unsafe { Component::deserialize(engine, &compiled) } {
                    Ok(component) => return Ok((component, CacheOutcome::Hit)),
                    Err(e) => {
                        tracing::warn!(entry = %entry.display(), "ignoring unusable cache entry: {e}")
                    }
                }
            }
            Ok(None) => {}
            Err(why) => tracing::warn!(
                entry = %entry.display(),
                "not loading compiled-component cache entry: {why}; compiling it again"
            ),
        }
        let compiled = engine
            .precompile_component(&bytes)
            .map_err(|e| anyhow::anyhow!("compiling {}: {e:?}", wasm_path.display()))?;
        let tag = tag(&key, &name, &compiled).finalize().into_bytes();
        // Write then rename, so a concurrent reader never sees half an entry; the partial name
        // is unique per load, as several threads of one process may compile the same bytes. A
        // reader that comes between the two renames finds a tag that does not match, and
        // compiles too.
        static PARTIAL: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let unique = format!(
            "{}-{}.partial",
            std::process::id(),
            PARTIAL.fetch_add(1, Ordering::Relaxed)
        );
        for (path, content) in [(tag_path(&entry), &tag[..]), (entry.clone(), &compiled[..])] {
            let partial = path.with_extension(&unique);
            crate::private_fs::write_new(&partial, content)
                .with_context(|| format!("writing {}", partial.display()))?;
            std::fs::rename(&partial, &path)
                .with_context(|| format!("writing {}", path.display()))?;
        }
        // SAFETY: the bytes were produced just above by this engine.
        let component = unsafe { Component::deserialize(engine, &compiled) }
            .map_err(|e| anyhow::anyhow!("loading compiled {}: {e}", wasm_path.display()))?;
        Ok((component, CacheOutcome::Compiled))
    }

    fn key(&self) -> std::io::Result<[u8; KEY_LEN]> {
        if let Some(key) = self.key.get() {
            return Ok(*key);
        }
        let key = load_or_create_key(&self.dir.join(KEY_FILE))?;
        Ok(*self.key.get_or_init(|| key))
    }
}

fn tag_path(entry: &Path) -> PathBuf {
    entry.with_extension("cwasm.tag")
}

fn tag(key: &[u8; KEY_LEN], name: &str, compiled: &[u8]) -> Tag {
    let mut mac = <Tag as Mac>::new_from_slice(key).expect("HMAC takes a key of any length");
    // The name is fixed-length hex, so name and content cannot be split another way.
    mac.update(name.as_bytes());
    mac.update(compiled);
    mac
}

/// The entry's bytes if its tag is right; `None` if there is no entry.
fn read_verified(
    key: &[u8; KEY_LEN],
    name: &str,
    entry: &Path,
) -> Result<Option<Vec<u8>>, Rejected> {
    // Read once, and what was verified is what gets loaded: nothing can change in between.
    let compiled = match std::fs::read(entry) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let expected = match std::fs::read(tag_path(entry)) {
        Ok(tag) => tag,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Rejected::NoTag),
        Err(e) => return Err(e.into()),
    };
    tag(key, name, &compiled)
        .verify_slice(&expected)
        .map_err(|_| Rejected::BadTag)?;
    Ok(Some(compiled))
}

/// The key in `path`, made on first use. A key that others could read, or that is not
/// `KEY_LEN` bytes, no longer proves anything: it is replaced, and every entry compiled again.
fn load_or_create_key(path: &Path) -> std::io::Result<[u8; KEY_LEN]> {
    match read_key(path) {
        Ok(Some(key)) => return Ok(key),
        Ok(None) => {
            tracing::warn!(key = %path.display(), "compile cache key is readable by others or malformed; replacing it");
            return write_key(path, true);
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    write_key(path, false)
}

fn read_key(path: &Path) -> std::io::Result<Option<[u8; KEY_LEN]>> {
    use std::os::unix::fs::PermissionsExt;
    let mut file = std::fs::File::open(path)?;
    let meta = file.metadata()?;
    if meta.permissions().mode() & 0o077 != 0 || meta.len() != KEY_LEN as u64 {
        return Ok(None);
    }
    let mut key = [0u8; KEY_LEN];
    file.read_exact(&mut key)?;
    Ok(Some(key))
}

/// Writes a fresh random key to `path`: over the old one when `replace`, else only if there is
/// none yet, so that processes sharing a cache that start together all end up with one key.
fn write_key(path: &Path, replace: bool) -> std::io::Result<[u8; KEY_LEN]> {
    let mut key = [0u8; KEY_LEN];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut key)?;
    let partial = path.with_extension(format!("{}.partial", std::process::id()));
    let _ = std::fs::remove_file(&partial);
    crate::private_fs::write_new(&partial, &key)?;
    let placed = if replace {
        std::fs::rename(&partial, path)
    } else {
        // A link, unlike a rename, fails if another process has placed its key meanwhile.
        let linked = std::fs::hard_link(&partial, path);
        let _ = std::fs::remove_file(&partial);
        match linked {
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return read_key(path)?.ok_or_else(|| {
                    std::io::Error::other("another process wrote a malformed cache key")
                });
            }
            other => other,
        }
    };
    placed?;
    Ok(key)
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

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    /// The smallest component: its preamble alone.
    const EMPTY: &[u8] = b"\0asm\x0d\x00\x01\x00";

    fn unpooled_engine() -> Engine {
        build_engine(&EngineOptions {
            pooling: false,
            ..EngineOptions::default()
        })
        .expect("engine")
    }

    /// Another component, told apart from `EMPTY` by a custom section.
    fn named(name: &str) -> Vec<u8> {
        let mut bytes = EMPTY.to_vec();
        let payload_len = u8::try_from(name.len() + 1).expect("a short name");
        bytes.extend([0x00, payload_len, u8::try_from(name.len()).expect("short")]);
        bytes.extend(name.as_bytes());
        bytes
    }

    fn entries(dir: &Path, extension: &str) -> Vec<PathBuf> {
        let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
            .expect("cache dir")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == extension))
            .collect();
        found.sort();
        found
    }

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path)
            .expect("metadata")
            .permissions()
            .mode()
            & 0o777
    }

    #[test]
    fn only_entries_tagged_with_the_cache_key_are_loaded() {
        let work = tempfile::tempdir().expect("dir");
        let (a, b) = (work.path().join("a.wasm"), work.path().join("b.wasm"));
        std::fs::write(&a, EMPTY).expect("a");
        std::fs::write(&b, named("b")).expect("b");
        let dir = work.path().join("cache");
        let cache = CompileCache::new(dir.clone());
        let engine = unpooled_engine();
        let load = |path: &Path| {
            CompileCache::load(Some(&cache), &engine, path)
                .expect("loads")
                .1
        };
        assert_eq!(load(&a), CacheOutcome::Compiled);
        let entry_a = entries(&dir, "cwasm").pop().expect("a's entry");
        assert_eq!(load(&b), CacheOutcome::Compiled);
        let entry_b = entries(&dir, "cwasm")
            .into_iter()
            .find(|e| *e != entry_a)
            .expect("b's entry");
        assert_eq!(load(&a), CacheOutcome::Hit);
        let tag = |entry: &Path| entry.with_extension("cwasm.tag");

        // b's entry, with its tag, under a's name. (The two compile to the same code: what
        // gives the swap away is the name under the tag.)
        std::fs::copy(&entry_b, &entry_a).expect("swap");
        let _ = std::fs::copy(tag(&entry_b), tag(&entry_a));
        assert_eq!(
            load(&a),
            CacheOutcome::Compiled,
            "a swapped entry was loaded"
        );
        // Replaced by one tagged for its own name.
        assert_eq!(load(&a), CacheOutcome::Hit);

        // No tag, a wrong tag, a changed entry: each is compiled again.
        std::fs::remove_file(tag(&entry_a)).expect("tag exists");
        assert_eq!(load(&a), CacheOutcome::Compiled);
        assert_eq!(load(&a), CacheOutcome::Hit);
        std::fs::write(tag(&entry_a), [0u8; 32]).expect("bad tag");
        assert_eq!(load(&a), CacheOutcome::Compiled);
        let mut bytes = std::fs::read(&entry_a).expect("entry");
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&entry_a, bytes).expect("changed entry");
        assert_eq!(load(&a), CacheOutcome::Compiled);
        assert_eq!(load(&a), CacheOutcome::Hit);

        // The key and everything the cache writes are its owner's alone.
        assert_eq!(mode(&dir), 0o700);
        let key = dir.join(KEY_FILE);
        assert_eq!(std::fs::read(&key).expect("key").len(), 32);
        for file in [
            key,
            entry_a.clone(),
            tag(&entry_a),
            entry_b.clone(),
            tag(&entry_b),
        ] {
            assert_eq!(mode(&file), 0o600, "{}", file.display());
        }
    }

    #[test]
    fn a_key_others_can_read_is_replaced() {
        let work = tempfile::tempdir().expect("dir");
        let wasm = work.path().join("a.wasm");
        std::fs::write(&wasm, EMPTY).expect("a");
        let dir = work.path().join("cache");
        let cache = CompileCache::new(dir.clone());
        let engine = unpooled_engine();
        CompileCache::load(Some(&cache), &engine, &wasm).expect("loads");
        let key = dir.join(KEY_FILE);
        let before = std::fs::read(&key).expect("key");
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let cache = CompileCache::new(dir.clone());
        let (_, outcome) = CompileCache::load(Some(&cache), &engine, &wasm).expect("loads");
        assert_eq!(outcome, CacheOutcome::Compiled, "tagged with a leaked key");
        assert_ne!(std::fs::read(&key).expect("key"), before);
        assert_eq!(mode(&key), 0o600);
    }
}
