//! The atomics every shared word is accessed through (std's, re-exported so shared-memory code takes
//! them from one place), and a prefetch hint. The control view casts the mapping to these atomics
//! only in `layout::words::MappedWords`; the protocol code above it is generic over
//! `layout::SharedWords`, which the model checks of `tests/handshake.rs` implement over their own
//! atomics (a model checker's atomics cannot be laid over raw memory), so nothing here is swapped.

pub use std::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};

/// Asks the CPU for the cache line at `line` in a state to be written (x86-64 `PREFETCHW`; nothing
/// elsewhere). A hint only: it reads and writes nothing, and cannot fault, whatever the address.
#[inline(always)]
pub fn prefetch_for_write(line: *const u8) {
    // Not under the interpreter that checks unsafe code in tests, which runs no inline assembly: a
    // hint changes nothing it checks.
    #[cfg(all(target_arch = "x86_64", not(miri)))]
    // SAFETY: PREFETCHW neither reads, writes nor faults (CPUs without it, Intel before Broadwell,
    // execute it as a NOP), and touches no register but its operand.
    unsafe {
        std::arch::asm!("prefetchw [{}]", in(reg) line, options(nostack, preserves_flags, readonly));
    }
    #[cfg(any(not(target_arch = "x86_64"), miri))]
    let _ = line;
}
