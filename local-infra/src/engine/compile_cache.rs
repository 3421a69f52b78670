//! The on-disk cache of compiled components: entries named by the hash of the Wasm bytes and
//! the engine's compatibility, each checked against a tag under a key only the runtime's user
//! can read before its native code is mapped, and what a full check proved remembered with the
//! file's stamp so that a start from a warm cache hashes nothing it has seen.

use std::fs::File;
use std::io::{Read, Seek};
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::Ordering;

use anyhow::Context;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use super::{compatibility, precompile};

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
///
/// A verified entry is mapped, not copied: only the code and metadata a component touches
/// become resident, and as page cache rather than heap (issue #16: copies of the components'
/// code were a large part of the runtime's idle memory). The tag proves what the file held when it
/// was read, and the mapping shows the file as it is whenever a page is first touched; so an
/// entry is trusted only if nobody but the runtime's user can write it, and the runtime never
/// writes an entry in place (it writes a new file and renames it).
///
/// Hashing is most of a start from a warm cache, so what a full check proved is remembered
/// with the file's stamp (`Seen`, `SourceIndex`): a file unchanged since is not hashed again.
pub struct CompileCache {
    dir: PathBuf,
    key: OnceLock<[u8; KEY_LEN]>,
    /// The owner of the files this process creates, which is what an entry's owner must be.
    uid: OnceLock<u32>,
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
    #[error("others could change it (owner {uid}, mode {mode:o}): only the runtime's user may")]
    Writable { uid: u32, mode: u32 },
    #[error("reading it failed: {0}")]
    Io(#[from] std::io::Error),
}

impl CompileCache {
    pub fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            key: OnceLock::new(),
            uid: OnceLock::new(),
        }
    }

    pub fn load(
        cache: Option<&Self>,
        engine: &Engine,
        wasm_path: &Path,
    ) -> anyhow::Result<(Component, CacheOutcome)> {
        let mut loaded = Self::load_all(cache, engine, &[wasm_path]);
        loaded
            .pop()
            .unwrap_or_else(|| unreachable!("one path, one result"))
    }

    /// Loads each of `wasm_paths`, in order, on as many threads as there are cores. From a warm
    /// cache, hashing the source and verifying the entry's tag (SHA-256) is most of a start's
    /// work, and each file is independent of the others.
    pub fn load_all(
        cache: Option<&Self>,
        engine: &Engine,
        wasm_paths: &[&Path],
    ) -> Vec<anyhow::Result<(Component, CacheOutcome)>> {
        if let Some(cache) = cache {
            // The key is made on first use: made by one thread, before the loads share it. (An
            // error here comes back from each load below.)
            let _ = crate::private_fs::prepare_dir(&cache.dir)
                .and_then(|()| cache.key())
                .and_then(|_| cache.uid());
        }
        let next = std::sync::atomic::AtomicUsize::new(0);
        let work = || {
            let mut done = Vec::new();
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                let Some(path) = wasm_paths.get(index) else {
                    return done;
                };
                done.push((index, Self::load_from(cache, engine, path)));
            }
        };
        let threads = std::thread::available_parallelism()
            .map_or(1, usize::from)
            .min(wasm_paths.len());
        let mut loaded: Vec<_> = std::thread::scope(|scope| {
            let helpers: Vec<_> = (1..threads)
                .filter_map(|_| std::thread::Builder::new().spawn_scoped(scope, work).ok())
                .collect();
            let mut loaded = work();
            for helper in helpers {
                loaded.extend(
                    helper
                        .join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
                );
            }
            loaded
        });
        // Loading freed the components' bytes and, if they compiled, all that the compiler
        // used. Left to mimalloc's purge delay, that memory went piecemeal to the app's small
        // blocks and stayed resident, raising the idle footprint after an uncached start.
        crate::memory::return_freed_memory();
        loaded.sort_unstable_by_key(|(index, _)| *index);
        loaded.into_iter().map(|(_, result)| result).collect()
    }

    fn load_from(
        cache: Option<&Self>,
        engine: &Engine,
        wasm_path: &Path,
    ) -> anyhow::Result<(Component, CacheOutcome)> {
        let read_source = || {
            std::fs::read(wasm_path)
                .with_context(|| format!("reading component {}", wasm_path.display()))
        };
        let Some(cache) = cache else {
            let bytes = read_source()?;
            let compiled = precompile(engine, &bytes, wasm_path)?;
            // SAFETY: the bytes were produced just above for this engine.
            let component = unsafe { Component::deserialize(engine, &compiled) }
                .map_err(|e| anyhow::anyhow!("loading compiled {}: {e}", wasm_path.display()))?;
            return Ok((component, CacheOutcome::Disabled));
        };
        crate::private_fs::prepare_dir(&cache.dir)
            .with_context(|| format!("creating cache dir {}", cache.dir.display()))?;
        let key = cache
            .key()
            .with_context(|| format!("cache key in {}", cache.dir.display()))?;
        let uid = cache
            .uid()
            .with_context(|| format!("creating a file in {}", cache.dir.display()))?;
        let source = SourceIndex::new(&cache.dir, &key, engine, wasm_path);
        let (name, mut bytes) = match source.name() {
            Some(name) => (name, None),
            None => {
                let bytes = read_source()?;
                let name = cache_key(engine, &bytes);
                source.remember(&name);
                (name, Some(bytes))
            }
        };
        let entry = cache.dir.join(format!("{name}.cwasm"));
        let load_entry = || match open_verified(&key, uid, &name, &entry) {
            // SAFETY: the tag proves that this runtime's cache wrote these bytes under this
            // name, and it writes only what `precompile_component` of an engine with the same
            // compatibility hash (part of the name) produced; and the file can change no more.
            Ok(Some(file)) => match unsafe { map_verified(engine, file) } {
                Ok(component) => Some(component),
                Err(e) => {
                    tracing::warn!(entry = %entry.display(), "ignoring unusable cache entry: {e}");
                    None
                }
            },
            Ok(None) => None,
            Err(why) => {
                tracing::warn!(
                    entry = %entry.display(),
                    "not loading compiled-component cache entry: {why}; compiling it again"
                );
                None
            }
        };
        if let Some(component) = load_entry() {
            return Ok((component, CacheOutcome::Hit));
        }
        let bytes = match bytes.take() {
            Some(bytes) => bytes,
            None => read_source()?,
        };
        cache.compile_into(engine, (&key, uid), wasm_path, &bytes)
    }

    /// Compiles `bytes` (the component at `wasm_path`) into a tagged entry of this cache, and
    /// loads it from there.
    fn compile_into(
        &self,
        engine: &Engine,
        (key, uid): (&[u8; KEY_LEN], u32),
        wasm_path: &Path,
        bytes: &[u8],
    ) -> anyhow::Result<(Component, CacheOutcome)> {
        // Named by the bytes compiled, should the source have changed since it was looked up.
        let name = cache_key(engine, bytes);
        let entry = self.dir.join(format!("{name}.cwasm"));
        let load_entry = || match open_verified(key, uid, &name, &entry) {
            // SAFETY: as in `load_from`: a verified tag and a file only this user can change.
            Ok(Some(file)) => unsafe { map_verified(engine, file) }.ok(),
            _ => None,
        };
        let compiled = precompile(engine, bytes, wasm_path)?;
        let mut tag = keyed(key, &name);
        tag.update(&compiled);
        let tag = tag.finalize().into_bytes();
        // Write then rename, so a concurrent reader never sees half an entry. A reader that
        // comes between the two renames finds a tag that does not match, and compiles too.
        for (path, content) in [(tag_path(&entry), &tag[..]), (entry.clone(), &compiled[..])] {
            let partial = partial_path(&path);
            crate::private_fs::write_new(&partial, content)
                .with_context(|| format!("writing {}", partial.display()))?;
            std::fs::rename(&partial, &path)
                .with_context(|| format!("writing {}", path.display()))?;
        }
        // Loaded as a hit would be, so that this start too maps the code instead of copying it.
        // (The entry may have been replaced meanwhile by a process compiling the same bytes.)
        if let Some(component) = load_entry() {
            return Ok((component, CacheOutcome::Compiled));
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

    fn uid(&self) -> std::io::Result<u32> {
        if let Some(uid) = self.uid.get() {
            return Ok(*uid);
        }
        // An unnamed file, gone when closed: the owner the kernel gives this process's files.
        let uid = tempfile::tempfile_in(&self.dir)?.metadata()?.uid();
        Ok(*self.uid.get_or_init(|| uid))
    }
}

fn tag_path(entry: &Path) -> PathBuf {
    entry.with_extension("cwasm.tag")
}

/// The tag of an entry named `name`, before its content is added.
fn keyed(key: &[u8; KEY_LEN], name: &str) -> Tag {
    let mut mac = <Tag as Mac>::new_from_slice(key).expect("HMAC takes a key of any length");
    // The name is fixed-length hex, so name and content cannot be split another way.
    mac.update(name.as_bytes());
    mac
}

/// The entry, open, if its tag is right and only `uid` can change it; `None` if there is no
/// entry.
fn open_verified(
    key: &[u8; KEY_LEN],
    uid: u32,
    name: &str,
    entry: &Path,
) -> Result<Option<File>, Rejected> {
    // Everything below looks at this one open file, never at the name again: the name may be
    // given to another file meanwhile, the file itself can change only by its owner's hand.
    let mut file = match File::open(entry) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let meta = file.metadata()?;
    if !meta.is_file() || meta.uid() != uid || meta.mode() & 0o022 != 0 {
        return Err(Rejected::Writable {
            uid: meta.uid(),
            mode: meta.mode() & 0o7777,
        });
    }
    let expected = match std::fs::read(tag_path(entry)) {
        Ok(tag) => tag,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Rejected::NoTag),
        Err(e) => return Err(e.into()),
    };
    let seen = Seen::of(key, name, &meta, &expected, entry);
    if seen.matches() {
        return Ok(Some(file));
    }
    // In pieces: the whole entry in the heap at once would be the copy that mapping avoids.
    let mut tag = keyed(key, name);
    let mut piece = vec![0u8; 64 << 10];
    loop {
        match file.read(&mut piece)? {
            0 => break,
            read => tag.update(&piece[..read]),
        }
    }
    tag.verify_slice(&expected).map_err(|_| Rejected::BadTag)?;
    seen.remember();
    Ok(Some(file))
}

/// Where `path` is written before it is renamed into place: a name of this write's own, since
/// other processes sharing the cache, and other threads of this one, may be writing the same
/// file at the same moment.
fn partial_path(path: &Path) -> PathBuf {
    static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    path.with_extension(format!(
        "{}-{}.partial",
        std::process::id(),
        WRITES.fetch_add(1, Ordering::Relaxed)
    ))
}

/// What tells one version of a file from another without reading it: device and inode, size,
/// and modification and change times. A write, truncation, `chmod` or rename changes the change
/// time, which no process can set back; a new file has a new inode.
fn stamp(meta: &std::fs::Metadata) -> String {
    format!(
        "{}:{}:{}:{}.{}:{}.{}",
        meta.dev(),
        meta.ino(),
        meta.len(),
        meta.mtime(),
        meta.mtime_nsec(),
        meta.ctime(),
        meta.ctime_nsec()
    )
}

/// Writes `content` to `path` as the cache writes everything: private, whole or not at all.
/// Best effort: what it records only saves work on a later start.
fn record(path: &Path, content: &[u8]) {
    let partial = partial_path(path);
    let written = crate::private_fs::write_new(&partial, content)
        .and_then(|_| std::fs::rename(&partial, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
}

/// An entry whose tag was verified against its content, remembered with the entry's stamp
/// (`<name>.cwasm.seen`, itself tagged with the key): while the file and its tag are as they
/// were, a later start trusts it without hashing megabytes of code again. Verifying the tags
/// was most of a start from a warm cache.
struct Seen {
    tag: Tag,
    path: PathBuf,
}

impl Seen {
    fn of(
        key: &[u8; KEY_LEN],
        name: &str,
        meta: &std::fs::Metadata,
        tag: &[u8],
        entry: &Path,
    ) -> Self {
        let mut mac = keyed(key, name);
        // Apart from every entry's content, which starts with an object file's magic number.
        mac.update(b"\0seen\0");
        mac.update(stamp(meta).as_bytes());
        mac.update(tag);
        Self {
            tag: mac,
            path: entry.with_extension("cwasm.seen"),
        }
    }

    fn matches(&self) -> bool {
        std::fs::read(&self.path)
            .is_ok_and(|recorded| self.tag.clone().verify_slice(&recorded).is_ok())
    }

    fn remember(self) {
        record(&self.path, &self.tag.finalize().into_bytes());
    }
}

/// The entry name of a component's source, remembered with the source's stamp
/// (`source-<hash of its path>.name`, tagged with the key and the engine's compatibility): an
/// unchanged source is not read and hashed again on every start.
struct SourceIndex {
    tag: Tag,
    path: PathBuf,
}

impl SourceIndex {
    fn new(dir: &Path, key: &[u8; KEY_LEN], engine: &Engine, source: &Path) -> Self {
        let where_ = Sha256::digest(source.as_os_str().as_encoded_bytes());
        let where_: String = where_.iter().map(|b| format!("{b:02x}")).collect();
        let mut mac = <Tag as Mac>::new_from_slice(key).expect("HMAC takes a key of any length");
        mac.update(b"\0source\0");
        mac.update(&compatibility(engine).finalize());
        mac.update(source.as_os_str().as_encoded_bytes());
        mac.update(b"\0");
        // No stamp (the source is gone or unreadable): nothing recorded can match.
        let stamp = std::fs::metadata(source)
            .map(|meta| stamp(&meta))
            .unwrap_or_default();
        mac.update(stamp.as_bytes());
        Self {
            tag: mac,
            path: dir.join(format!("source-{where_}.name")),
        }
    }

    /// The name recorded for the source as it is now.
    fn name(&self) -> Option<String> {
        let recorded = std::fs::read(&self.path).ok()?;
        let (name, tag) = recorded.split_at_checked(64)?;
        let mut mac = self.tag.clone();
        mac.update(name);
        mac.verify_slice(tag).ok()?;
        String::from_utf8(name.to_vec()).ok()
    }

    fn remember(&self, name: &str) {
        let mut mac = self.tag.clone();
        mac.update(name.as_bytes());
        let mut content = name.as_bytes().to_vec();
        content.extend_from_slice(&mac.finalize().into_bytes());
        record(&self.path, &content);
    }
}

/// Loads the component in an entry that [`open_verified`] returned.
///
/// # Safety
/// `file` must hold what `precompile_component` of an engine compatible with `engine` wrote, and
/// never change while the component lives.
unsafe fn map_verified(engine: &Engine, mut file: File) -> wasmtime::Result<Component> {
    // wasmtime maps a component's file by path only; the descriptor's own path opens the file
    // that was verified, whatever the entry's name leads to by now.
    let own_path = PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd()));
    if own_path.exists() {
        // SAFETY: the caller's contract; `file` stays open until wasmtime has opened it too.
        return unsafe { Component::deserialize_file(engine, &own_path) };
    }
    // No procfs (a sandbox without /proc): a copy, read from the same file.
    let mut compiled = Vec::new();
    file.rewind()?;
    file.read_to_end(&mut compiled)?;
    // SAFETY: the caller's contract.
    unsafe { Component::deserialize(engine, &compiled) }
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
    let partial = partial_path(path);
    // Left by a process that had this id before and died between the two steps.
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

fn cache_key(engine: &Engine, bytes: &[u8]) -> String {
    let mut hasher = compatibility(engine);
    hasher.update(bytes);
    let digest = hasher.finalize();
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::super::{EngineOptions, build_engine, compiler_for};
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

    /// A cache in a directory of its own, and `a.wasm` (`EMPTY`) beside it.
    struct Fixture {
        work: tempfile::TempDir,
        wasm: PathBuf,
        dir: PathBuf,
        cache: CompileCache,
        engine: Engine,
    }

    impl Fixture {
        fn new() -> Self {
            let work = tempfile::tempdir().expect("dir");
            let wasm = work.path().join("a.wasm");
            std::fs::write(&wasm, EMPTY).expect("a");
            let dir = work.path().join("cache");
            Self {
                cache: CompileCache::new(dir.clone()),
                engine: unpooled_engine(),
                work,
                wasm,
                dir,
            }
        }

        fn load(&self) -> CacheOutcome {
            CompileCache::load(Some(&self.cache), &self.engine, &self.wasm)
                .expect("loads")
                .1
        }
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
    fn unchanged_sources_and_entries_are_known_by_their_stamps_and_changed_ones_hashed_again() {
        let fixture = Fixture::new();
        let (dir, wasm, load) = (&fixture.dir, &fixture.wasm, || fixture.load());
        assert_eq!(load(), CacheOutcome::Compiled);
        let entry = entries(dir, "cwasm").pop().expect("the entry");
        let seen = entry.with_extension("cwasm.seen");
        let index = entries(dir, "name").pop().expect("the source's record");
        assert!(seen.exists(), "a verified entry is remembered");
        assert_eq!(load(), CacheOutcome::Hit);
        for record in [&seen, &index] {
            assert_eq!(mode(record), 0o600, "{}", record.display());
        }

        // A record that does not match is no shortcut: the entry is verified in full (and the
        // record written again), the source read and hashed again.
        std::fs::write(&seen, [0u8; 32]).expect("forged record");
        std::fs::write(&index, [b'0'; 96]).expect("forged record");
        assert_eq!(load(), CacheOutcome::Hit);
        assert_ne!(std::fs::read(&seen).expect("seen"), [0u8; 32]);

        // A changed source has another name, whatever its record says.
        std::fs::write(wasm, named("b")).expect("b in a's place");
        assert_eq!(load(), CacheOutcome::Compiled);
        assert_eq!(entries(dir, "cwasm").len(), 2);
        assert_eq!(load(), CacheOutcome::Hit);

        // A changed entry with its old record: the record no longer matches its stamp.
        std::fs::write(wasm, EMPTY).expect("a again");
        assert_eq!(load(), CacheOutcome::Hit);
        let mut bytes = std::fs::read(&entry).expect("entry");
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&entry, bytes).expect("changed entry");
        assert_eq!(load(), CacheOutcome::Compiled);
    }

    #[test]
    fn components_loaded_together_into_a_new_cache_share_one_key() {
        // The loads run on several threads; each of them once found no key and made its own,
        // and one thread removed what another was about to link into place.
        for round in 0..10 {
            let work = tempfile::tempdir().expect("dir");
            let sources: Vec<PathBuf> = (0..8)
                .map(|i| {
                    let path = work.path().join(format!("{i}.wasm"));
                    std::fs::write(&path, named(&format!("c{round}-{i}"))).expect("source");
                    path
                })
                .collect();
            let paths: Vec<&Path> = sources.iter().map(PathBuf::as_path).collect();
            let cache = CompileCache::new(work.path().join("cache"));
            let engine = unpooled_engine();
            for loaded in CompileCache::load_all(Some(&cache), &engine, &paths) {
                assert_eq!(loaded.expect("loads").1, CacheOutcome::Compiled);
            }
            let again = CompileCache::new(work.path().join("cache"));
            for loaded in CompileCache::load_all(Some(&again), &engine, &paths) {
                assert_eq!(loaded.expect("loads").1, CacheOutcome::Hit, "round {round}");
            }
        }
    }

    #[test]
    fn a_hit_is_mapped_from_its_entry_not_copied() {
        let Fixture {
            work: _work,
            wasm,
            dir,
            cache,
            engine,
        } = Fixture::new();
        let mapped = |entry: &Path| {
            let maps = std::fs::read_to_string("/proc/self/maps").expect("maps");
            let entry = entry.to_str().expect("a UTF-8 path");
            maps.lines().any(|line| line.ends_with(entry))
        };
        let (compiled, outcome) = CompileCache::load(Some(&cache), &engine, &wasm).expect("loads");
        assert_eq!(outcome, CacheOutcome::Compiled);
        let entry = entries(&dir, "cwasm").pop().expect("the entry");
        assert!(mapped(&entry), "the entry just compiled is not mapped");
        drop(compiled);
        assert!(!mapped(&entry), "the mapping outlived its component");

        let (hit, outcome) = CompileCache::load(Some(&cache), &engine, &wasm).expect("loads");
        assert_eq!(outcome, CacheOutcome::Hit);
        assert!(mapped(&entry), "a hit is not mapped from its entry");
        drop(hit);
    }

    #[test]
    fn an_entry_others_could_change_is_compiled_again() {
        let fixture = Fixture::new();
        let (dir, load) = (&fixture.dir, || fixture.load());
        assert_eq!(load(), CacheOutcome::Compiled);
        let entry = entries(dir, "cwasm").pop().expect("the entry");
        // Tag and content are right, but a mapped file that others may write could be
        // rewritten under the running code after it was verified.
        for writable in [0o620, 0o602] {
            std::fs::set_permissions(&entry, std::fs::Permissions::from_mode(writable))
                .expect("chmod");
            assert_eq!(
                load(),
                CacheOutcome::Compiled,
                "mode {writable:o} was loaded"
            );
            assert_eq!(mode(&entry), 0o600);
            assert_eq!(load(), CacheOutcome::Hit);
        }
    }

    #[test]
    fn components_compile_on_an_engine_that_the_serving_engine_can_load_from() {
        let pooled = build_engine(&EngineOptions::default()).expect("engine");
        let compiler = compiler_for(&pooled).expect("a compiling engine");
        let compiled = compiler.precompile_component(EMPTY).expect("compiles");
        // SAFETY: compiled just above, for an engine with the same compatibility hash.
        unsafe { Component::deserialize(&pooled, &compiled) }.expect("loads");
    }

    #[test]
    fn a_key_others_can_read_is_replaced() {
        let Fixture {
            work: _work,
            wasm,
            dir,
            cache,
            engine,
        } = Fixture::new();
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
