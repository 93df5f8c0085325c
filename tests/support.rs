//! Invoking registered functions directly on payload bytes, with a real heap, as a channel would;
//! copying bytes in and out of shared segments, as a client would.

use std::cell::RefCell;
use std::io;
use std::sync::Arc;

use shmcall::codec::{ArgReader, Failure, RetWriter, Scratch};
use shmcall::heap::{Heap, SegmentSink};
use shmcall::layout::constants::DEFAULT_RESPONSE_CAPACITY;
use shmcall::sys::Segment;
use shmcall::Registry;

/// A heap whose segments are announced to nobody.
pub fn heap() -> Arc<Heap> {
    struct Nobody;
    impl SegmentSink for Nobody {
        fn announce(&self, _: u32, _: &Segment) -> io::Result<()> {
            Ok(())
        }
    }
    Arc::new(Heap::new("test".into(), Box::new(Nobody), 0))
}

/// Copies `len` bytes at `at` out of `segment` (no reference into shared memory is kept).
pub fn read_segment(segment: &Segment, at: usize, len: usize) -> Vec<u8> {
    assert!(at + len <= segment.len());
    let mut out = vec![0u8; len];
    // SAFETY:
    // - source in bounds (asserted) of a live mapping; destination is a private buffer of len bytes;
    // - the tests call this while no other thread uses the segment, so the copy races with nothing.
    unsafe { std::ptr::copy_nonoverlapping(segment.as_ptr().add(at), out.as_mut_ptr(), len) };
    out
}

/// Copies `bytes` into `segment` at `at`, as a client would write them.
pub fn write_segment(segment: &Segment, at: usize, bytes: &[u8]) {
    assert!(at + bytes.len() <= segment.len());
    // SAFETY:
    // - destination in bounds (asserted) of a live, writable mapping; the source is private memory;
    // - the tests call this while no other thread uses the segment and no Rust reference into it is alive.
    unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), segment.as_ptr().add(at), bytes.len()) };
}

/// Runs function `name` on `payload`; returns the response payload or the failure.
pub fn call(registry: &Registry, heap: &Heap, name: &str, payload: &[u8]) -> Result<Vec<u8>, Failure> {
    let f = registry.get(registry.id(name).expect("function exists")).unwrap();
    let segments = heap.segments();
    let scratch = Scratch::default();
    let borrows = RefCell::default();
    // The daemon decodes from an 8-byte-aligned private copy.
    let mut words = vec![0u64; payload.len().div_ceil(8)];
    let aligned = &mut bytemuck::cast_slice_mut::<u64, u8>(&mut words)[..payload.len()];
    aligned.copy_from_slice(payload);
    let reader = ArgReader::new(aligned, f.args.fixed_size, &segments, &scratch, &borrows)?;
    let mut area = vec![0u8; DEFAULT_RESPONSE_CAPACITY as usize];
    let mut allocated = Vec::new();
    let mut writer = RetWriter::new(&mut area, f.results.fixed_size, heap, &mut allocated);
    (f.invoke)(&reader, &mut writer)?;
    let n = writer.len();
    area.truncate(n);
    Ok(area)
}
