//! A best-fit free-list allocator over numbered segments, with coalescing. Pure bookkeeping: it never
//! touches memory, which keeps it exhaustively testable.
//!
//! Invariants (checked by `check` in tests): free ranges of a segment are disjoint, non-adjacent
//! (always coalesced) and disjoint from allocated blocks; `by_size` indexes exactly the free ranges.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::layout::constants::BLOCK_ALIGN;

/// Why an allocator operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AllocError {
    /// No free range is large enough; the caller may add a segment and retry.
    #[error("no free range of {0} bytes")]
    NoSpace(u64),
    /// A release named something that is not the start of an allocated block.
    #[error("segment {segment} offset {offset} is not an allocated block")]
    NotAllocated {
        /// Segment named by the release.
        segment: u32,
        /// Offset named by the release.
        offset: u64,
    },
}

/// Block bookkeeping for all segments of one heap.
#[derive(Debug, Default)]
pub struct Allocator {
    /// Per segment: free ranges, offset -> length.
    free: HashMap<u32, BTreeMap<u64, u64>>,
    /// Every free range ordered by (length, segment, offset), for best fit.
    by_size: BTreeSet<(u64, u32, u64)>,
    /// Allocated blocks: (segment, offset) -> rounded length.
    used: HashMap<(u32, u64), u64>,
    used_bytes: u64,
}

/// The size actually reserved for a request of `len` bytes (at least one block).
pub fn rounded(len: u64) -> Option<u64> {
    let a = BLOCK_ALIGN as u64;
    len.max(1).checked_add(a - 1).map(|v| v / a * a)
}

impl Allocator {
    /// An allocator with no segments.
    pub fn new() -> Allocator {
        Allocator::default()
    }

    /// Adds a segment of `size` bytes (a multiple of the block alignment), wholly free.
    pub fn add_segment(&mut self, segment: u32, size: u64) {
        assert!(size % BLOCK_ALIGN as u64 == 0 && size > 0, "segment size must be whole blocks");
        assert!(!self.free.contains_key(&segment), "segment {segment} added twice");
        self.free.insert(segment, BTreeMap::from([(0, size)]));
        self.by_size.insert((size, segment, 0));
    }

    /// Allocates `len` bytes; returns `(segment, offset, reserved_len)`.
    pub fn alloc(&mut self, len: u64) -> Result<(u32, u64, u64), AllocError> {
        let want = rounded(len).ok_or(AllocError::NoSpace(len))?;
        let &(flen, seg, off) = self.by_size.range((want, 0, 0)..).next().ok_or(AllocError::NoSpace(len))?;
        self.by_size.remove(&(flen, seg, off));
        let ranges = self.free.get_mut(&seg).expect("indexed segment exists");
        ranges.remove(&off);
        if flen > want {
            ranges.insert(off + want, flen - want);
            self.by_size.insert((flen - want, seg, off + want));
        }
        self.used.insert((seg, off), want);
        self.used_bytes += want;
        Ok((seg, off, want))
    }

    /// Frees the block starting at `(segment, offset)`; returns its reserved length.
    pub fn free(&mut self, segment: u32, offset: u64) -> Result<u64, AllocError> {
        let len = self.used.remove(&(segment, offset)).ok_or(AllocError::NotAllocated { segment, offset })?;
        self.used_bytes -= len;
        let ranges = self.free.get_mut(&segment).expect("allocated block's segment exists");
        let (mut start, mut size) = (offset, len);
        if let Some((&poff, &plen)) = ranges.range(..offset).next_back() {
            if poff + plen == offset {
                ranges.remove(&poff);
                self.by_size.remove(&(plen, segment, poff));
                start = poff;
                size += plen;
            }
        }
        if let Some(&nlen) = ranges.get(&(offset + len)) {
            ranges.remove(&(offset + len));
            self.by_size.remove(&(nlen, segment, offset + len));
            size += nlen;
        }
        ranges.insert(start, size);
        self.by_size.insert((size, segment, start));
        Ok(len)
    }

    /// The reserved length of the allocated block at `(segment, offset)`, if there is one.
    pub fn block_len(&self, segment: u32, offset: u64) -> Option<u64> {
        self.used.get(&(segment, offset)).copied()
    }

    /// Bytes currently allocated.
    pub fn used_bytes(&self) -> u64 {
        self.used_bytes
    }

    /// Number of allocated blocks.
    pub fn used_blocks(&self) -> usize {
        self.used.len()
    }

    #[cfg(test)]
    fn check(&self, sizes: &HashMap<u32, u64>) {
        let mut indexed = 0;
        for (&seg, ranges) in &self.free {
            let mut spans: Vec<(u64, u64)> = ranges.iter().map(|(&o, &l)| (o, l)).collect();
            spans.extend(self.used.iter().filter(|((s, _), _)| *s == seg).map(|(&(_, o), &l)| (o, l)));
            spans.sort();
            let mut end = 0;
            for (o, l) in &spans {
                assert_eq!(*o, end, "ranges tile the segment without gaps or overlap");
                end = o + l;
            }
            assert_eq!(end, sizes[&seg]);
            let mut prev_end = None;
            for (&o, &l) in ranges {
                assert_ne!(prev_end, Some(o), "adjacent free ranges must be coalesced");
                prev_end = Some(o + l);
                assert!(self.by_size.contains(&(l, seg, o)));
                indexed += 1;
            }
        }
        assert_eq!(indexed, self.by_size.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn best_fit_and_coalescing() {
        let mut a = Allocator::new();
        a.add_segment(1, 4096);
        let (s, x, _) = a.alloc(100).unwrap();
        assert_eq!((s, x), (1, 0));
        let (_, y, ylen) = a.alloc(64).unwrap();
        assert_eq!((y, ylen), (128, 64));
        assert_eq!(a.free(1, x).unwrap(), 128);
        assert_eq!(a.alloc(64).unwrap().1, 0, "best fit takes the 128-byte hole");
        assert!(matches!(a.free(1, 5), Err(AllocError::NotAllocated { .. })));
        assert!(matches!(a.alloc(1 << 20), Err(AllocError::NoSpace(_))));
    }

    #[test]
    fn double_free_is_refused() {
        let mut a = Allocator::new();
        a.add_segment(1, 4096);
        let (_, off, _) = a.alloc(10).unwrap();
        a.free(1, off).unwrap();
        assert!(a.free(1, off).is_err());
    }

    proptest! {
        #[test]
        fn random_alloc_free_keeps_invariants(ops in prop::collection::vec((any::<bool>(), 1u64..5000, any::<prop::sample::Index>()), 1..200)) {
            let mut a = Allocator::new();
            let sizes = HashMap::from([(1, 64 * 1024), (2, 8 * 1024)]);
            a.add_segment(1, sizes[&1]);
            a.add_segment(2, sizes[&2]);
            let mut live: Vec<(u32, u64, u64)> = Vec::new();
            for (is_alloc, len, pick) in ops {
                if is_alloc || live.is_empty() {
                    if let Ok((s, o, l)) = a.alloc(len) {
                        prop_assert!(l >= len && o % 64 == 0);
                        for &(s2, o2, l2) in &live {
                            prop_assert!(s != s2 || o + l <= o2 || o2 + l2 <= o, "blocks overlap");
                        }
                        live.push((s, o, l));
                    }
                } else {
                    let (s, o, l) = live.swap_remove(pick.index(live.len()));
                    prop_assert_eq!(a.free(s, o).unwrap(), l);
                }
                a.check(&sizes);
            }
            for (s, o, _) in live.drain(..) {
                a.free(s, o).unwrap();
            }
            prop_assert_eq!(a.used_bytes(), 0);
            a.check(&sizes);
        }
    }
}
