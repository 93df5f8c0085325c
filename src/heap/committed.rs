//! Which parts of a segment have their pages committed, so an allocation commits only what is not.
//!
//! Committing (`fallocate`) walks the page cache over the whole range even where every page is
//! there already: for a 4 MB result per call that walk was a tenth of the daemon's time. Freed blocks
//! keep their pages (below the decommit threshold), so most allocations land on committed memory.
//!
//! The record is conservative: a chunk is marked only when all of it was committed, and any
//! decommit clears every chunk it touches. Marking less than is committed only costs a spare commit.

/// Granularity of the record: one bit per chunk of this many bytes.
pub const CHUNK: u64 = 64 << 10;

/// One bit per chunk of a segment.
#[derive(Debug, Clone)]
pub struct Committed {
    bits: Vec<u64>,
}

impl Committed {
    /// Nothing committed, for a segment of `len` bytes.
    pub fn new(len: u64) -> Committed {
        Committed { bits: vec![0; len.div_ceil(CHUNK).div_ceil(64) as usize] }
    }

    /// The chunk range wholly or partly covered by `[offset, offset + len)`.
    fn touched(offset: u64, len: u64) -> std::ops::Range<u64> {
        offset / CHUNK..(offset + len).div_ceil(CHUNK)
    }

    fn get(&self, chunk: u64) -> bool {
        self.bits.get((chunk / 64) as usize).is_some_and(|w| w >> (chunk % 64) & 1 == 1)
    }

    fn set(&mut self, chunk: u64, on: bool) {
        if let Some(w) = self.bits.get_mut((chunk / 64) as usize) {
            if on {
                *w |= 1 << (chunk % 64);
            } else {
                *w &= !(1 << (chunk % 64));
            }
        }
    }

    /// The smallest chunk-aligned range that must be committed for `[offset, offset + len)` to be,
    /// or None if it already is.
    pub fn missing(&self, offset: u64, len: u64) -> Option<(u64, u64)> {
        let chunks = Self::touched(offset, len);
        let first = chunks.clone().find(|&c| !self.get(c))?;
        let last = chunks.rev().find(|&c| !self.get(c)).expect("first is missing");
        Some((first * CHUNK, (last + 1) * CHUNK - first * CHUNK))
    }

    /// Records that `[offset, offset + len)` is committed: marks the chunks it covers wholly.
    pub fn mark(&mut self, offset: u64, len: u64) {
        for c in offset.div_ceil(CHUNK)..(offset + len) / CHUNK {
            self.set(c, true);
        }
    }

    /// Records that pages in `[offset, offset + len)` were returned: clears every chunk it touches.
    pub fn clear(&mut self, offset: u64, len: u64) {
        for c in Self::touched(offset, len) {
            self.set(c, false);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn commits_once_then_finds_nothing_missing() {
        let mut c = Committed::new(16 << 20);
        assert_eq!(c.missing(100, 10), Some((0, CHUNK)));
        c.mark(0, CHUNK);
        assert_eq!(c.missing(100, 10), None);
        assert_eq!(c.missing(CHUNK - 1, 2), Some((CHUNK, CHUNK)));
        c.clear(10, 1);
        assert_eq!(c.missing(100, 10), Some((0, CHUNK)), "a decommit anywhere in a chunk clears it");
    }

    #[test]
    fn a_partly_committed_chunk_is_not_marked() {
        let mut c = Committed::new(1 << 20);
        c.mark(10, CHUNK);
        assert_eq!(c.missing(0, 1), Some((0, CHUNK)));
        assert_eq!(c.missing(CHUNK, 1), Some((CHUNK, CHUNK)));
    }

    proptest! {
        /// Against a byte-exact model (one bool per 4 KiB page): whatever is reported committed
        /// really is, after any sequence of commits of what was missing and of decommits.
        #[test]
        fn never_reports_uncommitted_memory_as_committed(
            ops in prop::collection::vec((any::<bool>(), 0u64..(4 << 20), 1u64..(1 << 20)), 1..40)
        ) {
            const PAGE: u64 = 4096;
            let size = 5u64 << 20;
            let mut c = Committed::new(size);
            let mut pages = vec![false; (size / PAGE) as usize];
            for (alloc, offset, len) in ops {
                if alloc {
                    if let Some((o, l)) = c.missing(offset, len) {
                        for p in o / PAGE..((o + l) / PAGE).min(pages.len() as u64) {
                            pages[p as usize] = true;
                        }
                        c.mark(o, l);
                    }
                    for p in offset / PAGE..(offset + len).div_ceil(PAGE) {
                        prop_assert!(pages[p as usize], "page {p} reported committed but is not");
                    }
                } else {
                    // decommit punches the pages wholly inside the range, as Segment::decommit does
                    for p in offset.div_ceil(PAGE)..(offset + len) / PAGE {
                        pages[p as usize] = false;
                    }
                    c.clear(offset, len);
                }
            }
        }
    }
}
