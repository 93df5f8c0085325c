//! A connection's heap: its segments (numbered from 1) and the allocator over them.
//!
//! A new segment is announced to the client (the [`SegmentSink`], i.e. the control socket) before any
//! response that references it is published, so the client always finds the descriptor waiting.

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use super::allocator::{AllocError, Allocator};
use super::committed::Committed;
use crate::layout::constants::{align_up, INITIAL_SEGMENT_SIZE};
use crate::layout::BufRef;
use crate::sys::Segment;

/// Segments grow in steps of at least this (virtual size: pages are committed per block).
const SEGMENT_GRANULE: u64 = 2 << 20;
/// Blocks at least this large give their pages back to the system when freed. Smaller freed blocks
/// keep their pages, so a block reused by the next call is not zeroed and faulted in again (a
/// 1 MiB temporary per call cost more in page faults than in copying); huge ones are returned.
const DECOMMIT_THRESHOLD: u64 = 64 << 20;

/// Commits `range` of `seg`, giving the whole huge pages of `block` (its part of the range, which
/// no other block shares; empty for none) huge pages where the kernel can, 4 KiB pages elsewhere.
fn commit(seg: &Segment, range: (u64, u64), block: (u64, u64)) -> io::Result<()> {
    let (from, end) = (range.0, range.0 + range.1);
    let (start, stop) = (block.0.max(from), (block.0 + block.1).min(end));
    match seg.make_huge(start, stop.saturating_sub(start)) {
        Ok(Some((huge, n))) => {
            seg.commit(from, huge - from)?;
            seg.commit(huge + n, end - (huge + n))
        }
        Ok(None) => seg.commit(from, end - from),
        Err(e) => {
            log::debug!("no huge pages for [{start}, {stop}): {e}");
            seg.commit(from, end - from)
        }
    }
}

/// Receives each new segment so the client can map it.
pub trait SegmentSink: Send + Sync {
    /// Sends segment `id` to the client; must complete before the id is used in a response.
    fn announce(&self, id: u32, segment: &Segment) -> io::Result<()>;
}

/// Why the heap refused an operation.
#[derive(Debug, thiserror::Error)]
pub enum HeapError {
    /// The system could not supply the memory (or the configured limit was reached).
    #[error("out of shared memory: {0}")]
    OutOfMemory(String),
    /// A release or reference named a block that is not allocated.
    #[error(transparent)]
    Alloc(#[from] AllocError),
}

struct Inner {
    segments: Vec<Arc<Segment>>,
    /// Which chunks of each segment (same index) have their pages committed.
    committed: Vec<Committed>,
    alloc: Allocator,
    reserved_bytes: u64,
}

/// The heap of one connection; shared by its channel threads.
pub struct Heap {
    inner: Mutex<Inner>,
    sink: Box<dyn SegmentSink>,
    limit: u64,
    name: String,
    count: AtomicUsize,
    huge_pages: bool,
    /// Blocks the heap may have allocated at once: each costs private bookkeeping.
    max_blocks: usize,
}

impl Heap {
    /// An empty heap whose segments are announced through `sink`; `limit` caps the total virtual
    /// size of its segments (0 = no cap beyond the machine's memory).
    pub fn new(name: String, sink: Box<dyn SegmentSink>, limit: u64) -> Heap {
        Heap {
            inner: Mutex::new(Inner {
                segments: Vec::new(),
                committed: Vec::new(),
                alloc: Allocator::new(),
                reserved_bytes: 0,
            }),
            sink,
            limit,
            name,
            count: AtomicUsize::new(0),
            huge_pages: true,
            max_blocks: usize::MAX,
        }
    }

    /// The heap refusing a block past `max` allocated at once (`shmcalld serve --max-blocks`): a
    /// client holding a million tiny arrays must not grow the daemon's private memory without end.
    pub fn with_block_limit(mut self, max: usize) -> Heap {
        self.max_blocks = max;
        self
    }

    /// The heap with 4 KiB pages only (`shmcalld serve --no-huge-pages`): see [`Segment::make_huge`].
    pub fn without_huge_pages(mut self) -> Heap {
        self.huge_pages = false;
        self
    }

    /// The current segments, index `i` holding segment `i + 1`; channels cache this list.
    pub fn segments(&self) -> Vec<Arc<Segment>> {
        self.inner.lock().unwrap().segments.clone()
    }

    /// Segment `id` (numbered from 1).
    pub fn segment(&self, id: u32) -> Option<Arc<Segment>> {
        self.inner.lock().unwrap().segments.get((id as usize).wrapping_sub(1)).cloned()
    }

    /// How many segments exist; a channel refreshes its cached list when this changes.
    pub fn segment_count(&self) -> usize {
        self.count.load(Ordering::Acquire)
    }

    /// Allocates `len` bytes with committed pages and returns a reference to them.
    pub fn alloc(&self, len: u64) -> Result<BufRef, HeapError> {
        let mut inner = self.inner.lock().unwrap();
        if inner.alloc.used_blocks() >= self.max_blocks {
            return Err(HeapError::OutOfMemory(format!(
                "this connection holds {} shared blocks, the most the daemon allows: free some (drop \
                 arrays) or raise the limit (`serve --max-blocks N`)",
                self.max_blocks
            )));
        }
        let (segment, offset, reserved) = match inner.alloc.alloc(len) {
            Ok(b) => b,
            Err(AllocError::NoSpace(_)) => {
                self.grow(&mut inner, len)?;
                inner.alloc.alloc(len)?
            }
            Err(e) => return Err(e.into()),
        };
        let i = segment as usize - 1;
        if let Some((from, n)) = inner.committed[i].missing(offset, reserved) {
            let n = n.min(inner.segments[i].len() as u64 - from);
            let block = if self.huge_pages { (offset, reserved) } else { (0, 0) };
            if let Err(e) = commit(&inner.segments[i], (from, n), block) {
                inner.alloc.free(segment, offset).expect("block just allocated");
                return Err(HeapError::OutOfMemory(format!("cannot commit {reserved} bytes: {e}")));
            }
            inner.committed[i].mark(from, n);
        }
        Ok(BufRef { segment, offset, length: len })
    }

    /// Frees the block at `(segment, offset)`, returning large blocks' pages to the system.
    pub fn free(&self, segment: u32, offset: u64) -> Result<(), HeapError> {
        let mut inner = self.inner.lock().unwrap();
        let len = inner.alloc.free(segment, offset)?;
        if len >= DECOMMIT_THRESHOLD {
            // Best effort: failing to punch a hole only means the memory stays committed.
            let _ = inner.segments[segment as usize - 1].decommit(offset, len);
            inner.committed[segment as usize - 1].clear(offset, len);
        }
        Ok(())
    }

    /// `(allocated bytes, allocated blocks)`, for tests and logs.
    pub fn usage(&self) -> (u64, usize) {
        let inner = self.inner.lock().unwrap();
        (inner.alloc.used_bytes(), inner.alloc.used_blocks())
    }

    fn grow(&self, inner: &mut Inner, len: u64) -> Result<(), HeapError> {
        let last = inner.segments.last().map_or(INITIAL_SEGMENT_SIZE / 2, |s| s.len() as u64);
        let need = super::allocator::rounded(len)
            .and_then(|n| n.checked_add(SEGMENT_GRANULE - 1))
            .map(|n| n / SEGMENT_GRANULE * SEGMENT_GRANULE)
            .ok_or_else(|| HeapError::OutOfMemory(format!("{len} bytes cannot be addressed")))?;
        let mut size = need.max(last.saturating_mul(2).min(1 << 32)).max(INITIAL_SEGMENT_SIZE);
        // Saturating: `need` may be near 2^64 (a client-chosen size), and the sum must not wrap.
        if self.limit != 0 && inner.reserved_bytes.saturating_add(size) > self.limit {
            size = need; // the smaller segment that may still fit under the limit
            if inner.reserved_bytes.saturating_add(size) > self.limit {
                return Err(HeapError::OutOfMemory(format!(
                    "{len} bytes requested, {} of the {}-byte heap limit in use (`serve --heap-limit BYTES` \
                     raises it)",
                    inner.reserved_bytes, self.limit
                )));
            }
        }
        let id = inner.segments.len() as u32 + 1;
        let seg = Segment::create(&format!("{}-heap{id}", self.name), align_up(size as usize, 4096), false)
            .map_err(|e| HeapError::OutOfMemory(format!("cannot create a {size}-byte segment: {e}")))?;
        self.sink
            .announce(id, &seg)
            .map_err(|e| HeapError::OutOfMemory(format!("cannot hand segment {id} to the client: {e}")))?;
        inner.alloc.add_segment(id, seg.len() as u64);
        inner.reserved_bytes += seg.len() as u64;
        inner.committed.push(Committed::new(seg.len() as u64));
        inner.segments.push(Arc::new(seg));
        self.count.store(inner.segments.len(), Ordering::Release);
        log::debug!("{}: heap segment {id} of {} bytes", self.name, inner.reserved_bytes);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;

    struct Count(Arc<AtomicU32>);
    impl SegmentSink for Count {
        fn announce(&self, _: u32, _: &Segment) -> io::Result<()> {
            self.0.fetch_add(1, Ordering::Relaxed);
            Ok(())
        }
    }

    #[test]
    #[cfg_attr(miri, ignore = "creates a memfd segment: system calls the interpreter does not run")]
    fn grows_on_demand_and_announces_each_segment() {
        let n = Arc::new(AtomicU32::new(0));
        let heap = Heap::new("t".into(), Box::new(Count(n.clone())), 0);
        let a = heap.alloc(10).unwrap();
        assert_eq!((a.segment, a.offset, a.length), (1, 0, 10));
        let big = heap.alloc(INITIAL_SEGMENT_SIZE * 3).unwrap();
        assert_eq!(big.segment, 2);
        assert_eq!(n.load(Ordering::Relaxed), 2);
        heap.free(2, big.offset).unwrap();
        heap.free(1, 0).unwrap();
        assert!(heap.free(1, 0).is_err());
        assert_eq!(heap.usage(), (0, 0));
    }

    #[test]
    #[cfg_attr(miri, ignore = "creates a memfd segment: system calls the interpreter does not run")]
    fn a_large_block_gets_huge_pages_unless_the_heap_has_none() {
        use crate::sys::mapping::huge_mapped_kib;
        // Whether the machine can make a huge page just now (it may have no free one; the portable
        // backend never makes one).
        let can = matches!(Segment::create("probe", 2 << 20, false).unwrap().make_huge(0, 2 << 20), Ok(Some(_)));
        for huge in [true, false] {
            let heap = Heap::new("t".into(), Box::new(Count(Arc::default())), 0);
            let heap = if huge { heap } else { heap.without_huge_pages() };
            let b = heap.alloc(INITIAL_SEGMENT_SIZE * 2).unwrap();
            let seg = heap.segment(b.segment).unwrap();
            let kib = huge_mapped_kib(seg.as_ptr());
            // A fresh segment holds the block at offset 0: every whole 2 MiB of it can be huge.
            assert_eq!(b.offset, 0);
            assert_eq!(kib, if huge && can { INITIAL_SEGMENT_SIZE * 2 / 1024 } else { 0 });
            // SAFETY: the block is ours and this long; committed, so touching it cannot fault for memory.
            let bytes = unsafe { std::slice::from_raw_parts_mut(seg.as_ptr(), b.length as usize) };
            bytes.iter_mut().step_by(4096).for_each(|x| *x = 1);
            heap.free(b.segment, b.offset).unwrap();
        }
    }

    #[test]
    #[cfg_attr(miri, ignore = "creates a memfd segment: system calls the interpreter does not run")]
    fn block_limit_counts_live_blocks_and_frees_make_room() {
        let heap = Heap::new("t".into(), Box::new(Count(Arc::default())), 0).with_block_limit(3);
        let blocks: Vec<BufRef> = (0..3).map(|_| heap.alloc(100).unwrap()).collect();
        let Err(HeapError::OutOfMemory(why)) = heap.alloc(1) else { panic!("a fourth block is refused") };
        assert!(why.contains("holds 3 shared blocks") && why.contains("--max-blocks"), "{why}");
        assert_eq!(heap.usage().1, 3, "the refusal allocated nothing");
        heap.free(blocks[1].segment, blocks[1].offset).unwrap();
        let again = heap.alloc(1).expect("a freed block makes room");
        assert!(heap.alloc(1).is_err());
        for b in [blocks[0], blocks[2], again] {
            heap.free(b.segment, b.offset).unwrap();
        }
        assert_eq!(heap.usage(), (0, 0));
    }

    #[test]
    #[cfg_attr(miri, ignore = "creates a memfd segment: system calls the interpreter does not run")]
    fn limit_is_a_clean_error() {
        let heap = Heap::new("t".into(), Box::new(Count(Arc::default())), INITIAL_SEGMENT_SIZE);
        heap.alloc(1000).unwrap();
        let Err(HeapError::OutOfMemory(why)) = heap.alloc(INITIAL_SEGMENT_SIZE) else { panic!("over the limit") };
        assert!(why.contains("heap limit") && why.contains("--heap-limit"), "{why}");
    }
}
