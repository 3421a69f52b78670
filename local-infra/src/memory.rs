//! How the binaries that host the runtime (`wasmshop-spin`, `loadgen`) keep their allocator,
//! mimalloc, from holding memory the runtime no longer uses: a server that sits idle most of the
//! time should not keep what its last burst took (issue #16, idle RSS after the README's walk).
//!
//! - No transparent huge pages. mimalloc reserves its heap as one 1 GiB arena and advises the
//!   kernel to back it with huge pages, so the first touch of any 4 KiB in a fresh 2 MiB costs
//!   the whole 2 MiB: 70 of the 181 MiB resident were such pages. This is the crate's `no_thp`
//!   feature (Cargo.toml), not a runtime option: the Rust runtime allocates before `main`, so
//!   the arena and its advice exist before any code of ours runs (setting `allow_thp` from
//!   `main` left 38 of 134 MiB in huge pages). On a host whose THP mode is `always` the kernel
//!   gives huge pages unasked, and only its own setting helps.
//! - Freed memory goes back to the kernel once the process is idle. mimalloc returns freed
//!   pages 10 s after they were freed (1 s purge delay, times 10 for arenas), and only when a
//!   later allocation notices the time is up: a runtime that goes idle after a burst allocates
//!   nothing more, so what the burst freed stayed resident for good. A shorter delay is no
//!   answer: with none, a checkout load made eight times the `madvise` calls and five times
//!   the page faults, since pages freed now are wanted again a moment later. So a thread of its
//!   own watches the process's CPU time and, once an interval passes with next to none, has
//!   mimalloc return everything freed (`mi_collect(true)` purges every arena, whichever thread
//!   freed into it).

use std::time::Duration;

use libmimalloc_sys::{mi_collect, mi_process_info};

/// How often the process's CPU time is looked at.
const IDLE_CHECK: Duration = Duration::from_millis(250);
/// CPU time (all threads) below which an interval counts as idle: the epoch ticker and timers
/// of an idle runtime take a fraction of this, one request takes more.
const IDLE_CPU_MS: usize = 10;

/// Starts the thread that returns freed memory whenever the process goes idle (see above).
/// Once per process: a binary's `main` calls it.
pub fn return_freed_memory_when_idle() {
    let started = std::thread::Builder::new()
        .name("idle-purge".into())
        .spawn(|| {
            let mut last = cpu_ms();
            // Start-up itself frees much (compiling, loading), so the first idle interval
            // returns it.
            let mut returned = false;
            loop {
                std::thread::sleep(IDLE_CHECK);
                let now = cpu_ms();
                let idle = now.saturating_sub(last) < IDLE_CPU_MS;
                last = now;
                if !idle {
                    returned = false;
                } else if !returned {
                    // SAFETY: callable from any thread at any time.
                    unsafe { mi_collect(true) };
                    returned = true;
                }
            }
        });
    if let Err(e) = started {
        tracing::warn!("not returning freed memory when idle: {e}");
    }
}

/// User and system time of all threads of the process, in milliseconds.
fn cpu_ms() -> usize {
    let (mut user, mut system) = (0, 0);
    let none = std::ptr::null_mut();
    // SAFETY: mimalloc writes through the two pointers to this frame's `usize`s and skips the
    // null ones.
    unsafe { mi_process_info(none, &mut user, &mut system, none, none, none, none, none) };
    user + system
}
