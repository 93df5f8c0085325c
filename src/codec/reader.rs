//! Decoding one request's argument record (SPEC §4.1, §4.3) from a daemon-private copy of the
//! payload, resolving buffer references into that copy or into the connection's heap segments.

use std::cell::{Cell, RefCell};
use std::mem::{align_of, size_of};
use std::ptr::NonNull;
use std::sync::Arc;

use super::{Failure, Scratch};
use crate::layout::constants::{BUF_ALIGN, BUF_SIZE, INLINE_SEGMENT};
use crate::layout::{BufRef, Plain};
use crate::sys::Segment;

/// A heap range lent to the current call.
#[derive(Debug, Clone, Copy)]
pub struct Borrow {
    segment: u32,
    start: u64,
    end: u64,
    mutable: bool,
}

/// Reads one argument record. Shared (`&self`) and covariant so that every parameter of a call can
/// be decoded with its own borrow of the same reader.
pub struct ArgReader<'a> {
    payload: &'a [u8],
    segments: &'a [Arc<Segment>],
    scratch: &'a Scratch,
    borrows: &'a RefCell<Vec<Borrow>>,
    pos: Cell<usize>,
    fixed_size: usize,
}

impl<'a> ArgReader<'a> {
    /// A reader over `payload` (the request's bytes, private) whose argument record is `fixed_size`
    /// bytes. `borrows` is cleared; it only avoids an allocation per call.
    #[inline]
    pub fn new(
        payload: &'a [u8],
        fixed_size: usize,
        segments: &'a [Arc<Segment>],
        scratch: &'a Scratch,
        borrows: &'a RefCell<Vec<Borrow>>,
    ) -> Result<ArgReader<'a>, Failure> {
        if payload.len() < fixed_size {
            return Err(Failure::bad(format!(
                "argument record is {} bytes, the signature needs {fixed_size}",
                payload.len()
            )));
        }
        borrows.borrow_mut().clear();
        Ok(ArgReader { payload, segments, scratch, borrows, pos: Cell::new(0), fixed_size })
    }

    /// Reserves the next value of `(size, align)` in the record and returns its offset.
    #[inline]
    pub fn next(&self, size: usize, align: usize) -> Result<usize, Failure> {
        let at = self.pos.get().next_multiple_of(align);
        if at + size > self.fixed_size {
            return Err(Failure::bad("argument record overrun: more arguments decoded than the signature has"));
        }
        self.pos.set(at + size);
        Ok(at)
    }

    /// Checks that every value of the record was decoded.
    #[inline]
    pub fn finish(&self) -> Result<(), Failure> {
        if self.pos.get() != self.fixed_size {
            return Err(Failure::bad(format!(
                "argument record of {} bytes, decoded {}",
                self.fixed_size,
                self.pos.get()
            )));
        }
        Ok(())
    }

    #[inline]
    fn fixed(&self, at: usize, len: usize) -> Result<&'a [u8], Failure> {
        at.checked_add(len)
            .filter(|&end| end <= self.fixed_size)
            .map(|end| &self.payload[at..end])
            .ok_or_else(|| Failure::bad(format!("value at {at}+{len} lies outside the argument record")))
    }

    /// Reads a plain number at record offset `at`.
    #[inline]
    pub fn scalar<T: Plain + bytemuck::Pod>(&self, at: usize) -> Result<T, Failure> {
        Ok(bytemuck::pod_read_unaligned(self.fixed(at, size_of::<T>())?))
    }

    /// Reads a bool at `at`: exactly 0 or 1.
    pub fn boolean(&self, at: usize) -> Result<bool, Failure> {
        match self.fixed(at, 1)?[0] {
            0 => Ok(false),
            1 => Ok(true),
            b => Err(Failure::bad(format!("bool must be 0 or 1, found {b}"))),
        }
    }

    /// Reads the buffer reference at `at`.
    pub fn buf(&self, at: usize) -> Result<BufRef, Failure> {
        debug_assert!(at % BUF_ALIGN == 0);
        let bytes: &[u8; BUF_SIZE] = self.fixed(at, BUF_SIZE)?.try_into().expect("length checked");
        BufRef::decode(bytes).map_err(|r| Failure::bad(format!("buffer reference reserved word must be 0, found {r}")))
    }

    fn inline(&self, b: BufRef) -> Result<&'a [u8], Failure> {
        b.offset
            .checked_add(b.length)
            .filter(|&end| end <= self.payload.len() as u64)
            .map(|end| &self.payload[b.offset as usize..end as usize])
            .ok_or_else(|| {
                Failure::bad(format!(
                    "inline data at {}+{} exceeds the {}-byte payload",
                    b.offset,
                    b.length,
                    self.payload.len()
                ))
            })
    }

    /// Checks a heap reference for `T` elements and lends its range to this call.
    fn heap<T>(&self, b: BufRef, mutable: bool) -> Result<NonNull<T>, Failure> {
        let seg = self
            .segments
            .get((b.segment as usize).wrapping_sub(1))
            .ok_or_else(|| Failure::bad(format!("unknown heap segment {}", b.segment)))?;
        let end = b.offset.checked_add(b.length).filter(|&e| e <= seg.len() as u64).ok_or_else(|| {
            Failure::bad(format!(
                "reference {}+{} exceeds heap segment {} of {} bytes",
                b.offset,
                b.length,
                b.segment,
                seg.len()
            ))
        })?;
        if b.offset % align_of::<T>() as u64 != 0 {
            return Err(Failure::bad(format!("offset {} is not aligned to {}", b.offset, align_of::<T>())));
        }
        let mut borrows = self.borrows.borrow_mut();
        if b.length > 0 {
            if let Some(o) = borrows
                .iter()
                .find(|o| o.segment == b.segment && o.start < end && b.offset < o.end && (mutable || o.mutable))
            {
                return Err(Failure::bad(format!(
                    "array arguments overlap in heap segment {} ([{}, {}) and [{}, {})) and one is written",
                    b.segment, o.start, o.end, b.offset, end
                )));
            }
            borrows.push(Borrow { segment: b.segment, start: b.offset, end, mutable });
        }
        // SAFETY: offset + length <= segment length (checked above), so the pointer is in bounds.
        let ptr = unsafe { seg.as_ptr().add(b.offset as usize) };
        Ok(NonNull::new(ptr.cast()).expect("mapping is non-null"))
    }

    fn element_count<T>(b: BufRef) -> Result<usize, Failure> {
        let size = size_of::<T>().max(1) as u64;
        if b.length % size != 0 {
            return Err(Failure::bad(format!(
                "array of {} bytes is not a whole number of {size}-byte elements",
                b.length
            )));
        }
        Ok((b.length / size) as usize)
    }

    /// Resolves the reference at `at` as a read-only array of `T`, inline or in the heap.
    pub fn slice<T: Plain>(&self, at: usize) -> Result<&'a [T], Failure> {
        let b = self.buf(at)?;
        let n = Self::element_count::<T>(b)?;
        if n == 0 {
            return Ok(&[]);
        }
        if b.segment == INLINE_SEGMENT {
            let bytes = self.inline(b)?;
            if bytes.as_ptr() as usize % align_of::<T>() != 0 {
                return Err(Failure::bad(format!(
                    "inline array at {} is not aligned to {}",
                    b.offset,
                    align_of::<T>()
                )));
            }
            // SAFETY:
            // - in bounds: `bytes` is exactly n * size_of::<T>() bytes of the private payload copy;
            // - aligned: checked just above;
            // - valid values: T is Plain, so any bytes are a valid T;
            // - lifetime: the payload copy is borrowed for 'a and nobody writes it meanwhile.
            return Ok(unsafe { std::slice::from_raw_parts(bytes.as_ptr().cast::<T>(), n) });
        }
        let ptr = self.heap::<T>(b, false)?;
        // SAFETY:
        // - in bounds and aligned: checked by `heap`;
        // - valid values: T is Plain;
        // - no `&mut` alias inside the daemon: `heap` refused any overlapping mutable borrow of this call,
        //   and other channels only reach this block if the client shares it between in-flight calls,
        //   which the protocol forbids (SPEC §4.4); the mapping lives as long as the segment list 'a.
        Ok(unsafe { std::slice::from_raw_parts(ptr.as_ptr(), n) })
    }

    /// Resolves the reference at `at` as an array of `T` the function may write: it must be in the heap.
    pub fn slice_mut<T: Plain>(&self, at: usize) -> Result<&'a mut [T], Failure> {
        let b = self.buf(at)?;
        let n = Self::element_count::<T>(b)?;
        if n == 0 {
            return Ok(&mut []);
        }
        if b.segment == INLINE_SEGMENT {
            return Err(Failure::bad("an in-out array must be in the shared heap, not inline"));
        }
        let ptr = self.heap::<T>(b, true)?;
        // SAFETY: as for `slice`, and this is the only borrow of the range in this call (`heap` checked).
        Ok(unsafe { std::slice::from_raw_parts_mut(ptr.as_ptr(), n) })
    }

    /// Resolves the reference at `at` as bytes: a borrow of the private copy (inline) or of the heap.
    pub fn bytes(&self, at: usize) -> Result<&'a [u8], Failure> {
        self.slice::<u8>(at)
    }

    /// Resolves the reference at `at` as UTF-8 text. Heap text is copied first so it cannot change
    /// after validation.
    pub fn str(&self, at: usize) -> Result<&'a str, Failure> {
        let b = self.buf(at)?;
        let utf8 = |bytes: &[u8]| {
            std::str::from_utf8(bytes)
                .map(|_| ())
                .map_err(|e| Failure::bad(format!("string argument is not UTF-8: {e}")))
        };
        if b.segment == INLINE_SEGMENT || b.length == 0 {
            let bytes = self.bytes(at)?;
            utf8(bytes)?;
            // SAFETY: validated as UTF-8 just above, and the private copy cannot change during 'a.
            return Ok(unsafe { std::str::from_utf8_unchecked(bytes) });
        }
        let copy: Box<[u8]> = self.bytes(at)?.into();
        self.borrows.borrow_mut().pop(); // the copy, not the heap range, is what the call uses
        let text = String::from_utf8(copy.into_vec())
            .map_err(|e| Failure::bad(format!("string argument is not UTF-8: {}", e.utf8_error())))?;
        Ok(self.scratch.keep(text.into_boxed_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::constants::BUF_SIZE;

    fn with_buf(segment: u32, offset: u64, length: u64) -> Vec<u8> {
        let mut p = vec![0u8; 64];
        let mut b = [0u8; BUF_SIZE];
        BufRef { segment, offset, length }.encode(&mut b);
        p[..BUF_SIZE].copy_from_slice(&b);
        p
    }

    fn reader<'a>(p: &'a [u8], segs: &'a [Arc<Segment>], s: &'a Scratch, b: &'a RefCell<Vec<Borrow>>) -> ArgReader<'a> {
        ArgReader::new(p, BUF_SIZE, segs, s, b).unwrap()
    }

    #[test]
    fn inline_string_and_bounds() {
        let mut p = with_buf(0, 32, 5);
        p[32..37].copy_from_slice(b"hello");
        let (s, b) = (Scratch::default(), RefCell::default());
        assert_eq!(reader(&p, &[], &s, &b).str(0).unwrap(), "hello");
        let p = with_buf(0, 60, 5);
        assert!(matches!(reader(&p, &[], &s, &b).str(0), Err(Failure::BadRequest(_))));
        let p = with_buf(0, u64::MAX, 2);
        assert!(reader(&p, &[], &s, &b).str(0).is_err(), "offset + length overflow is refused");
    }

    #[test]
    fn invalid_utf8_is_refused() {
        let mut p = with_buf(0, 32, 2);
        p[32..34].copy_from_slice(&[0xff, 0xfe]);
        let (s, b) = (Scratch::default(), RefCell::default());
        assert!(reader(&p, &[], &s, &b).str(0).is_err());
    }

    #[test]
    #[cfg_attr(miri, ignore = "creates a memfd segment: system calls the interpreter does not run")]
    fn heap_references_are_checked() {
        let seg = Arc::new(Segment::create("t", 4096, true).unwrap());
        let segs = [seg];
        let (s, b) = (Scratch::default(), RefCell::default());
        let p = with_buf(1, 64, 80);
        assert_eq!(reader(&p, &segs, &s, &b).slice::<f64>(0).unwrap().len(), 10);
        for (seg, off, len) in [(2, 0, 8), (1, 4090, 16), (1, 4, 8), (1, 0, 12)] {
            let p = with_buf(seg, off, len);
            assert!(reader(&p, &segs, &s, &b).slice::<f64>(0).is_err(), "{seg} {off} {len}");
        }
        let p = with_buf(0, 32, 8);
        assert!(reader(&p, &segs, &s, &b).slice_mut::<f64>(0).is_err(), "in-out arrays must be in the heap");
    }

    #[test]
    #[cfg_attr(miri, ignore = "creates a memfd segment: system calls the interpreter does not run")]
    fn overlapping_mutable_borrows_are_refused() {
        let seg = Arc::new(Segment::create("t", 4096, true).unwrap());
        let segs = [seg];
        let mut p = vec![0u8; 128];
        for (i, (off, len)) in [(0u64, 64u64), (32, 64)].iter().enumerate() {
            let mut b = [0u8; BUF_SIZE];
            BufRef { segment: 1, offset: *off, length: *len }.encode(&mut b);
            p[i * BUF_SIZE..(i + 1) * BUF_SIZE].copy_from_slice(&b);
        }
        let (s, b) = (Scratch::default(), RefCell::default());
        let r = ArgReader::new(&p, 2 * BUF_SIZE, &segs, &s, &b).unwrap();
        let _x = r.slice_mut::<u8>(0).unwrap();
        assert!(r.slice::<u8>(BUF_SIZE).is_err());
        let r = ArgReader::new(&p, 2 * BUF_SIZE, &segs, &s, &b).unwrap();
        let _x = r.slice::<u8>(0).unwrap();
        assert!(r.slice::<u8>(BUF_SIZE).is_ok(), "two readers may overlap");
    }

    #[test]
    fn bad_bool_is_refused() {
        let p = [2u8; 8];
        let (s, b) = (Scratch::default(), RefCell::default());
        let r = ArgReader::new(&p, 1, &[], &s, &b).unwrap();
        assert!(r.boolean(0).is_err());
    }
}
