//! Request decoding: any bytes, as the payload of any function (plain, generic overload or struct),
//! decode to a call or to a clean failure; never a panic, an out-of-bounds access or an oversized
//! answer. The input is a request half as on the wire (SPEC §3.3, the golden request vectors): a
//! 16-byte header whose function id picks the function (modulo their count), then the payload.
//! Buffer references may point into the payload or into heap segment 1, a 64 KiB segment that holds
//! the payload too; results the functions allocate come from a small heap of their own.

#![no_main]

use std::cell::RefCell;
use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use shmcall::codec::{ArgReader, Failure, RetWriter, Scratch};
use shmcall::heap::Heap;
use shmcall::layout::constants::{DEFAULT_REQUEST_CAPACITY, DEFAULT_RESPONSE_CAPACITY, REQUEST_HEADER_SIZE};
use shmcall::sys::Segment;
use shmcall_fuzz::{by_design, heap, registry, u64_at, write};

/// Size of heap segment 1: arrays in it stay small enough for thousands of runs a second.
const SEGMENT: usize = 64 << 10;

/// Segment 1 and the heap results are allocated from, made once (each run frees what it allocates).
fn memory() -> &'static (Vec<Arc<Segment>>, Arc<Heap>) {
    static MEMORY: OnceLock<(Vec<Arc<Segment>>, Arc<Heap>)> = OnceLock::new();
    MEMORY.get_or_init(|| {
        let segment = Segment::create("shmcall-fuzz-decode", SEGMENT, true).expect("a segment");
        (vec![Arc::new(segment)], heap(4 << 20))
    })
}

fuzz_target!(|data: &[u8]| {
    let registry = registry();
    let id = (u64_at(data, 0) as u32) % registry.functions().len() as u32;
    if by_design(id) {
        return;
    }
    let f = registry.get(id).expect("ids are dense");
    let payload = data.get(REQUEST_HEADER_SIZE..).unwrap_or(&[]);
    let payload = &payload[..payload.len().min(DEFAULT_REQUEST_CAPACITY as usize)];
    let (segments, heap) = memory();
    let mut contents = vec![0u8; SEGMENT];
    contents[..payload.len()].copy_from_slice(payload);
    write(&segments[0], 0, &contents);
    // The daemon decodes from an 8-byte-aligned private copy.
    let mut words = vec![0u64; payload.len().div_ceil(8)];
    let aligned = &mut bytemuck::cast_slice_mut::<u64, u8>(&mut words)[..payload.len()];
    aligned.copy_from_slice(payload);
    let (scratch, borrows) = (Scratch::default(), RefCell::default());
    let mut area = vec![0u8; DEFAULT_RESPONSE_CAPACITY as usize];
    let mut allocated = Vec::new();
    let outcome = ArgReader::new(aligned, f.args.fixed_size, segments, &scratch, &borrows).and_then(|reader| {
        let mut writer = RetWriter::new(&mut area, f.results.fixed_size, heap, &mut allocated);
        (f.invoke)(&reader, &mut writer).map(|()| writer.len())
    });
    match outcome {
        Ok(n) => assert!(n <= DEFAULT_RESPONSE_CAPACITY as usize, "{}: answer of {n} bytes", f.name),
        Err(Failure::BadRequest(_) | Failure::Error(_) | Failure::OutOfMemory(_)) => {}
        Err(other) => panic!("{}: unexpected failure {other:?}", f.name),
    }
    for b in allocated {
        heap.free(b.segment, b.offset).expect("a block the call allocated");
    }
});
