//! The atomics every shared word is accessed through (std's, re-exported so shared-memory code takes
//! them from one place), and a prefetch hint. Nothing swaps them for loom's under `cfg(loom)`: the
//! control views cast raw shared memory to these atomics, and loom's atomics cannot be overlaid on
//! memory, so `tests/handshake.rs` models the handshake on a copy instead.

pub use std::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};

/// Asks the CPU for the cache line at `line` in a state to be written (x86-64 `PREFETCHW`; nothing
/// elsewhere). A hint only: it reads and writes nothing, and cannot fault, whatever the address.
#[inline(always)]
pub fn prefetch_for_write(line: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: PREFETCHW neither reads, writes nor faults (CPUs without it, Intel before Broadwell,
    // execute it as a NOP), and touches no register but its operand.
    unsafe {
        std::arch::asm!("prefetchw [{}]", in(reg) line, options(nostack, preserves_flags, readonly));
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = line;
}
