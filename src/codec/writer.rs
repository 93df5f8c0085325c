//! Encoding a call's results into the response payload (SPEC §4.1): the result record first, then
//! inline tail data; data that does not fit inline goes to a heap block the client then owns.

use bytemuck::Pod;

use super::Failure;
use crate::heap::Heap;
use crate::layout::constants::{BUF_SIZE, TAIL_ALIGN};
use crate::layout::{BufRef, Plain};

/// Writes one response payload.
pub struct RetWriter<'a> {
    area: &'a mut [u8],
    pos: usize,
    fixed_size: usize,
    tail: usize,
    heap: &'a Heap,
    allocated: &'a mut Vec<BufRef>,
}

impl<'a> RetWriter<'a> {
    /// A writer over `area` (the slot's response payload, which the client leaves alone until the
    /// response is published) for a result record of `fixed_size` bytes. Heap blocks it hands out are
    /// pushed on `allocated`, so the caller can free them if the call fails after all.
    #[inline]
    pub fn new(area: &'a mut [u8], fixed_size: usize, heap: &'a Heap, allocated: &'a mut Vec<BufRef>) -> Self {
        assert!(fixed_size <= area.len(), "result record larger than the response area (checked at registration)");
        let tail = fixed_size.next_multiple_of(TAIL_ALIGN);
        RetWriter { area, pos: 0, fixed_size, tail, heap, allocated }
    }

    /// Reserves the next value of `(size, align)` in the result record and returns its offset.
    #[inline]
    pub fn next(&mut self, size: usize, align: usize) -> usize {
        let at = self.pos.next_multiple_of(align);
        assert!(at + size <= self.fixed_size, "result record overrun (signature and encoders disagree)");
        self.pos = at + size;
        at
    }

    /// Writes raw bytes at record offset `at`.
    #[inline]
    pub fn put(&mut self, at: usize, bytes: &[u8]) {
        self.area[at..at + bytes.len()].copy_from_slice(bytes);
    }

    /// Writes `len` zero bytes at `at` (an absent value's place).
    #[inline]
    pub fn zero(&mut self, at: usize, len: usize) {
        self.area[at..at + len].fill(0);
    }

    /// Writes a number at `at`.
    #[inline]
    pub fn scalar<T: Pod>(&mut self, at: usize, v: T) {
        self.put(at, bytemuck::bytes_of(&v));
    }

    /// Writes `data` inline if it fits, else into a new heap block, and its reference at `at`.
    pub fn data(&mut self, at: usize, data: &[u8]) -> Result<(), Failure> {
        self.elements(at, data)
    }

    /// Writes the elements of `xs` inline if they fit, else into a new heap block, and their
    /// reference at `at`. Copied as values, so padding inside plain structs is never read as bytes.
    pub fn elements<T: Plain>(&mut self, at: usize, xs: &[T]) -> Result<(), Failure> {
        self.elements_filled(at, xs.len(), |out| out.copy_from_slice(xs))
    }

    /// Reserves `len` elements inline if they fit, else in a new heap block, lets `fill` write them
    /// in place, and writes their reference at `at`.
    pub fn elements_filled<T: Plain>(
        &mut self,
        at: usize,
        len: usize,
        fill: impl FnOnce(&mut [T]),
    ) -> Result<(), Failure> {
        let bytes = len
            .checked_mul(std::mem::size_of::<T>())
            .ok_or_else(|| Failure::OutOfMemory(format!("a result of {len} elements cannot be addressed")))?;
        let start = self.tail.next_multiple_of(TAIL_ALIGN);
        // Checked: `len` may come from a client (a batch's count), and a wrapped sum would pass.
        let (b, dst) = if start.checked_add(bytes).is_some_and(|end| end <= self.area.len()) {
            self.tail = start + bytes;
            (BufRef { segment: 0, offset: start as u64, length: bytes as u64 }, self.area[start..].as_mut_ptr())
        } else {
            let b = self.heap.alloc(bytes as u64)?;
            self.allocated.push(b);
            let seg = self.heap.segment(b.segment).expect("segment of a fresh block exists");
            // SAFETY: the allocator handed out [offset, offset + bytes) inside the segment.
            (b, unsafe { seg.as_ptr().add(b.offset as usize) })
        };
        assert!(dst.align_offset(std::mem::align_of::<T>()) == 0, "tail and heap blocks are 8-aligned");
        // SAFETY:
        // - in bounds and aligned: `bytes` bytes at `dst`, checked above;
        // - any bytes are a valid `T` (`Plain`), so stale contents are no hazard before `fill` writes;
        // - exclusive: the response area is the daemon's until published; a heap block is new and the
        //   client learns of it only from this response.
        let out = unsafe { std::slice::from_raw_parts_mut(dst.cast::<T>(), len) };
        fill(out);
        let mut encoded = [0u8; BUF_SIZE];
        b.encode(&mut encoded);
        self.put(at, &encoded);
        Ok(())
    }

    /// The payload length to publish: the record plus any inline tail data.
    pub fn len(&self) -> usize {
        self.tail.max(self.fixed_size)
    }

    /// True when nothing at all was written (a function with no results).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
