//! How the binaries that host the runtime (`wasmshop-spin`, `loadgen`) keep their allocator,
//! mimalloc, from holding memory the runtime no longer uses: a server that sits idle most of the
//! time should not keep what its last burst took (issue #16; the figures: ARCHITECTURE.md,
//! "Memory").
//!
//! - No transparent huge pages. mimalloc reserves its heap as one 1 GiB arena and advises the
//!   kernel to back it with huge pages, so the first touch of any 4 KiB in a fresh 2 MiB costs
//!   the whole 2 MiB (a third of the resident memory was such pages). This is the crate's `no_thp`
//!   feature (Cargo.toml), not a runtime option: the Rust runtime allocates before `main`, so
//!   the arena and its advice exist before any code of ours runs (setting `allow_thp` from
//!   `main` left many huge pages). On a host whose THP mode is `always` the kernel
//!   gives huge pages unasked, and only its own setting helps.
//! - Freed memory goes back to the kernel once the process is idle. mimalloc returns freed
//!   pages 10 s after they were freed (1 s purge delay, times 10 for arenas), and only when a
//!   later allocation notices the time is up: a runtime that goes idle after a burst allocates
//!   nothing more, so what the burst freed stayed resident for good. A shorter delay is no
//!   answer: with none, the benchmarks made several times the `madvise` calls and page faults,
//!   as pages freed now are wanted again a moment later. So a thread of its own watches the process's CPU time and, once an interval passes
//!   with next to none, has mimalloc return everything freed (`mi_collect(true)` purges every
//!   arena, whichever thread freed into it).

use std::time::Duration;

use libmimalloc_sys::{mi_collect, mi_process_info};

/// How often the process's CPU time is looked at.
const IDLE_CHECK: Duration = Duration::from_millis(250);
/// CPU time (all threads) below which an interval counts as idle: well above what the epoch
/// ticker and timers of an idle runtime take, below what one request takes.
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
                    return_freed_memory();
                    returned = true;
                }
            }
        });
    if let Err(e) = started {
        tracing::warn!("not returning freed memory when idle: {e}");
    }
}

/// Has mimalloc return to the kernel, now, the memory that is free in its arenas, whichever
/// thread freed it. For after a burst that will not come again (compiling a component), so that
/// what it freed is not taken again piecemeal and kept resident by a few small blocks each.
/// Does nothing of consequence in a process whose global allocator is another one.
pub fn return_freed_memory() {
    // SAFETY: callable from any thread at any time.
    unsafe { mi_collect(true) };
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

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use libmimalloc_sys::{mi_free, mi_malloc};

    use super::*;

    /// Resident KiB of the mapping that holds `address`, from /proc/self/smaps.
    fn resident_kib_around(address: usize) -> u64 {
        let smaps = std::fs::read_to_string("/proc/self/smaps").expect("smaps");
        let mut inside = false;
        for line in smaps.lines() {
            let range = line
                .split_once(' ')
                .and_then(|(range, _)| range.split_once('-'));
            if let Some((start, end)) = range
                && let (Ok(start), Ok(end)) = (
                    usize::from_str_radix(start, 16),
                    usize::from_str_radix(end, 16),
                )
            {
                inside = (start..end).contains(&address);
            } else if inside && let Some(rss) = line.strip_prefix("Rss:") {
                return rss
                    .trim()
                    .trim_end_matches(" kB")
                    .parse()
                    .expect("a number");
            }
        }
        panic!("no mapping holds {address:#x}");
    }

    #[test]
    fn freed_memory_is_returned_at_once_not_after_the_purge_delay() {
        // Through mimalloc directly: this test binary's global allocator is the system's, so
        // mimalloc's arena holds these blocks only.
        const BLOCKS: usize = 4096;
        const BLOCK: usize = 16 << 10;
        // SAFETY: each block is written within its size and freed once.
        let first = unsafe {
            let blocks: Vec<*mut u8> = (0..BLOCKS)
                .map(|_| {
                    let block = mi_malloc(BLOCK).cast::<u8>();
                    assert!(!block.is_null());
                    block.write_bytes(1, BLOCK);
                    block
                })
                .collect();
            let first = blocks[0] as usize;
            for block in blocks {
                mi_free(block.cast());
            }
            first
        };
        let freed = resident_kib_around(first);
        assert!(
            freed >= 32 << 10,
            "only {freed} KiB resident after writing 64 MiB"
        );
        return_freed_memory();
        let returned = resident_kib_around(first);
        assert!(
            returned < freed / 4,
            "{returned} of {freed} KiB still resident"
        );
    }

    #[test]
    fn cpu_time_counts_this_process_working() {
        let before = cpu_ms();
        let started = Instant::now();
        let mut spins = 0u64;
        while cpu_ms().saturating_sub(before) < 50 && started.elapsed() < Duration::from_secs(20) {
            spins = std::hint::black_box(spins.wrapping_add(1));
        }
        assert!(
            cpu_ms().saturating_sub(before) >= 50,
            "{spins} spins in {:?} counted as idle",
            started.elapsed()
        );
    }
}
