//! The data heap of one connection (SPEC §4.4): shared segments plus a daemon-private allocator.
//!
//! Allocation metadata never lives in shared memory, so the client cannot corrupt it: the client asks
//! for blocks through the ring (`FN_ALLOC`), receives results the daemon allocated, and gives blocks
//! back through its release queue. Only block contents are shared.

pub mod allocator;
mod committed;
mod segments;

pub use allocator::{AllocError, Allocator};
pub use segments::{Heap, HeapError, SegmentSink};
