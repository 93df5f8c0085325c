//! How the control view reaches the shared words of a segment: [`SharedWords`], a load, a store and a
//! fence per word width, at byte offsets. The daemon's code of the ordering protocol (SPEC §5) is
//! written once, over this trait: in production over [`MappedWords`], the mapping itself; in the
//! integration tests over words of a model checker, which cannot be laid over raw memory, so that
//! the protocol it checks is the code the daemon runs and not a copy of it.

use crate::sync::{fence, AtomicU32, AtomicU64, Ordering};

/// The shared words of one control segment, addressed by byte offset from its start. Every access
/// is one atomic operation of the word's full width with the ordering the caller names (SPEC §1.4);
/// `copy_out` reads the plain bytes that published words hand over (payloads).
///
/// The offset methods are `unsafe` because the mapped implementation trusts its caller for bounds:
/// the view computes each offset from a validated configuration and checks nothing on the hot path.
pub trait SharedWords {
    /// Loads the u64 word at `off`.
    ///
    /// # Safety
    /// `off` is a multiple of 8 and the word lies inside the segment.
    unsafe fn load_u64(&self, off: usize, order: Ordering) -> u64;

    /// Stores the u64 word at `off`.
    ///
    /// # Safety
    /// As for [`SharedWords::load_u64`].
    unsafe fn store_u64(&self, off: usize, value: u64, order: Ordering);

    /// Loads the u32 word at `off`.
    ///
    /// # Safety
    /// `off` is a multiple of 4 and the word lies inside the segment.
    unsafe fn load_u32(&self, off: usize, order: Ordering) -> u32;

    /// Stores the u32 word at `off`.
    ///
    /// # Safety
    /// As for [`SharedWords::load_u32`].
    unsafe fn store_u32(&self, off: usize, value: u32, order: Ordering);

    /// A fence of `order` between this thread's accesses to the words before and after it.
    fn fence(&self, order: Ordering);

    /// Copies `dst.len()` plain (non-word) bytes from `off` into `dst`.
    ///
    /// # Safety
    /// The bytes lie inside the segment, and `dst` is not part of it.
    unsafe fn copy_out(&self, off: usize, dst: &mut [u8]);
}

/// The words of a mapped segment: each access casts the address to a std atomic, which has the
/// layout of the plain integer, and may be used on memory another process accesses atomically.
/// Made only by `ControlView::new`, whose caller vouches for the mapping.
#[derive(Debug, Clone, Copy)]
pub struct MappedWords {
    base: *mut u8,
}

// SAFETY: a pointer into a shared mapping whose lifetime the view's owner (ring::Channel) guarantees;
// all cross-thread access follows the protocol's ordering rules.
unsafe impl Send for MappedWords {}

impl MappedWords {
    /// # Safety
    /// `base` is 4096-aligned and stays mapped, readable and writable, for the life of the value.
    pub(super) unsafe fn new(base: *mut u8) -> MappedWords {
        MappedWords { base }
    }

    /// The first byte of the mapping.
    #[inline(always)]
    pub(super) fn base(&self) -> *mut u8 {
        self.base
    }

    #[inline(always)]
    unsafe fn u64_at(&self, off: usize) -> &AtomicU64 {
        // SAFETY: the caller keeps the word in bounds and 8-aligned (the mapping is page-aligned);
        // AtomicU64 has the layout of u64.
        unsafe { &*(self.base.add(off) as *const AtomicU64) }
    }

    #[inline(always)]
    unsafe fn u32_at(&self, off: usize) -> &AtomicU32 {
        // SAFETY: as for `u64_at`, with 4-byte alignment.
        unsafe { &*(self.base.add(off) as *const AtomicU32) }
    }
}

// Every method is a single instruction once inlined into the view's (the ordering is a constant at
// each call site), as the direct casts were before the trait.
impl SharedWords for MappedWords {
    #[inline(always)]
    unsafe fn load_u64(&self, off: usize, order: Ordering) -> u64 {
        // SAFETY: forwarded from the caller.
        unsafe { self.u64_at(off) }.load(order)
    }

    #[inline(always)]
    unsafe fn store_u64(&self, off: usize, value: u64, order: Ordering) {
        // SAFETY: forwarded from the caller.
        unsafe { self.u64_at(off) }.store(value, order)
    }

    #[inline(always)]
    unsafe fn load_u32(&self, off: usize, order: Ordering) -> u32 {
        // SAFETY: forwarded from the caller.
        unsafe { self.u32_at(off) }.load(order)
    }

    #[inline(always)]
    unsafe fn store_u32(&self, off: usize, value: u32, order: Ordering) {
        // SAFETY: forwarded from the caller.
        unsafe { self.u32_at(off) }.store(value, order)
    }

    #[inline(always)]
    fn fence(&self, order: Ordering) {
        fence(order)
    }

    #[inline(always)]
    unsafe fn copy_out(&self, off: usize, dst: &mut [u8]) {
        // SAFETY: the caller keeps the source in bounds and `dst` outside the mapping; a racing
        // client write can only change the bytes copied, which the daemon validates afterwards.
        unsafe { std::ptr::copy_nonoverlapping(self.base.add(off), dst.as_mut_ptr(), dst.len()) }
    }
}
