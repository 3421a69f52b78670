//! Process-wide SQLite settings, made once before the runtime opens its first connection.
//! Nothing here is visible to a guest: they change how SQLite's C code takes memory, not what
//! any statement does.
//!
//! - Memory statistics off. With them on (the build's default) every allocation of every
//!   connection takes one global mutex; with instances on both cores each running statements,
//!   that mutex was contended on every statement (a futex wake-up each time).
//! - SQLite allocates through Rust's global allocator (mimalloc in `wasmshop-spin`) instead of
//!   glibc's `malloc`. A connection per guest `open` allocates and frees its page cache and
//!   schema on every instance, from many threads; glibc's arenas spent a tenth of the host's
//!   time on that (`malloc_consolidate`, arena locks).

use std::alloc::{Layout, alloc, dealloc, realloc};
use std::ffi::{c_int, c_void};

use rusqlite::ffi;

/// Bytes in front of each block, holding its total size (SQLite's `xSize` must answer it).
/// Sixteen keeps the block as aligned as `malloc`'s.
const HEADER: usize = 16;
const ALIGN: usize = 16;

/// Applies the settings above; later calls do nothing. If SQLite was initialised already
/// (something in this process opened a database first), SQLite refuses and keeps its own.
///
/// `sqlite3_config` is not thread-safe: a thread opening a database while it runs may have
/// its first blocks taken from one allocator and freed to the other. Only a binary's `main`,
/// before it starts any thread, may call this; a library never does it behind a caller's back.
pub fn configure_before_threads() {
    static CONFIGURED: std::sync::Once = std::sync::Once::new();
    CONFIGURED.call_once(|| {
        // SAFETY: each option is passed the one argument of the type it takes, before any
        // connection of this runtime exists; `METHODS` lives for the whole process (SQLite copies
        // it anyway).
        let codes = unsafe {
            [
                ffi::sqlite3_config(ffi::SQLITE_CONFIG_MEMSTATUS, c_int::from(0u8)),
                ffi::sqlite3_config(
                    ffi::SQLITE_CONFIG_MALLOC,
                    &METHODS.0 as *const ffi::sqlite3_mem_methods,
                ),
            ]
        };
        if codes.iter().any(|&code| code != ffi::SQLITE_OK) {
            tracing::debug!("sqlite keeps its own memory settings (sqlite3_config: {codes:?})");
        }
    });
}

/// The table SQLite calls; its only pointer (`pAppData`) is null.
struct Methods(ffi::sqlite3_mem_methods);

// SAFETY: the table is never written, and its data pointer is null.
unsafe impl Sync for Methods {}

static METHODS: Methods = Methods(ffi::sqlite3_mem_methods {
    xMalloc: Some(sqlite_malloc),
    xFree: Some(sqlite_free),
    xRealloc: Some(sqlite_realloc),
    xSize: Some(sqlite_size),
    xRoundup: Some(sqlite_roundup),
    xInit: Some(sqlite_init),
    xShutdown: Some(sqlite_shutdown),
    pAppData: std::ptr::null_mut(),
});

fn layout(total: usize) -> Option<Layout> {
    Layout::from_size_align(total, ALIGN).ok()
}

/// The block's start, from the pointer SQLite holds.
///
/// # Safety
/// `user` must have come from [`sqlite_malloc`] or [`sqlite_realloc`].
unsafe fn block_of(user: *mut c_void) -> (*mut u8, usize) {
    // SAFETY: the caller's pointer is HEADER bytes into a block whose first word is its size.
    unsafe {
        let block = user.cast::<u8>().sub(HEADER);
        (block, block.cast::<usize>().read())
    }
}

/// Writes the size header and returns what SQLite gets.
///
/// # Safety
/// `block` must be a live allocation of `total` (≥ HEADER) bytes, aligned to ALIGN.
unsafe fn hand_out(block: *mut u8, total: usize) -> *mut c_void {
    // SAFETY: see the function's contract.
    unsafe {
        block.cast::<usize>().write(total);
        block.add(HEADER).cast()
    }
}

unsafe extern "C" fn sqlite_malloc(bytes: c_int) -> *mut c_void {
    let Some(layout) = usize::try_from(bytes)
        .ok()
        .and_then(|bytes| bytes.checked_add(HEADER))
        .and_then(layout)
    else {
        return std::ptr::null_mut();
    };
    // SAFETY: the layout has a non-zero size (HEADER at least).
    let block = unsafe { alloc(layout) };
    if block.is_null() {
        return std::ptr::null_mut();
    }
    // SAFETY: `block` was just allocated with `layout.size()` bytes, aligned to ALIGN.
    unsafe { hand_out(block, layout.size()) }
}

unsafe extern "C" fn sqlite_free(user: *mut c_void) {
    if user.is_null() {
        return;
    }
    // SAFETY: SQLite frees only what its xMalloc/xRealloc returned.
    unsafe {
        let (block, total) = block_of(user);
        if let Some(layout) = layout(total) {
            dealloc(block, layout);
        }
    }
}

unsafe extern "C" fn sqlite_realloc(user: *mut c_void, bytes: c_int) -> *mut c_void {
    if user.is_null() {
        // SAFETY: a plain allocation.
        return unsafe { sqlite_malloc(bytes) };
    }
    let Some(total) = usize::try_from(bytes)
        .ok()
        .and_then(|bytes| bytes.checked_add(HEADER))
        .filter(|&total| layout(total).is_some())
    else {
        return std::ptr::null_mut();
    };
    // SAFETY: `user` came from this allocator; the old layout is the one it was made with and
    // the new size is a valid layout size for the same alignment.
    unsafe {
        let (block, old_total) = block_of(user);
        let Some(old) = layout(old_total) else {
            return std::ptr::null_mut();
        };
        let moved = realloc(block, old, total);
        if moved.is_null() {
            return std::ptr::null_mut();
        }
        hand_out(moved, total)
    }
}

unsafe extern "C" fn sqlite_size(user: *mut c_void) -> c_int {
    if user.is_null() {
        return 0;
    }
    // SAFETY: `user` came from this allocator.
    let (_, total) = unsafe { block_of(user) };
    c_int::try_from(total - HEADER).unwrap_or(c_int::MAX)
}

unsafe extern "C" fn sqlite_roundup(bytes: c_int) -> c_int {
    bytes.saturating_add(7) & !7
}

unsafe extern "C" fn sqlite_init(_: *mut c_void) -> c_int {
    ffi::SQLITE_OK
}

unsafe extern "C" fn sqlite_shutdown(_: *mut c_void) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_know_their_size_and_survive_growth() {
        // SAFETY: the allocator's own contract, exercised as SQLite uses it.
        unsafe {
            let first = sqlite_malloc(10);
            assert!(!first.is_null());
            assert_eq!(sqlite_size(first), 10);
            first.cast::<u8>().copy_from(b"0123456789".as_ptr(), 10);
            let grown = sqlite_realloc(first, 4_000);
            assert_eq!(sqlite_size(grown), 4_000);
            assert_eq!(
                std::slice::from_raw_parts(grown.cast::<u8>(), 10),
                b"0123456789"
            );
            assert_eq!(grown as usize % ALIGN, 0);
            sqlite_free(grown);
            sqlite_free(std::ptr::null_mut());
            assert!(sqlite_malloc(-1).is_null());
        }
    }
}
