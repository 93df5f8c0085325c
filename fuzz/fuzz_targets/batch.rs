//! Batch records (`FN_BATCH`, SPEC §3.3) through a real channel: any batch request, its records
//! inline or in heap segment 1, runs every call or fails cleanly (a status the protocol has, the
//! failing call named), and a batch that succeeds answers exactly `count` result records.
//! The input is a request half as on the wire: its function id is replaced by the batch id, and
//! the batch's own function id (the payload's first word) is taken modulo the function count.

#![no_main]

use libfuzzer_sys::fuzz_target;
use shmcall::layout::constants::{status, BUF_SIZE, FN_BATCH, REQUEST_HEADER_SIZE};
use shmcall::layout::{BufRef, ControlConfig};
use shmcall_fuzz::{by_design, registry, u64_at, write, Ring};

fuzz_target!(|data: &[u8]| {
    let mut payload = data.get(REQUEST_HEADER_SIZE..).unwrap_or(&[]).to_vec();
    let count_of_functions = registry().functions().len() as u32;
    let id = (u64_at(&payload, 0) as u32) % count_of_functions;
    if by_design(id) {
        return;
    }
    if payload.len() < 4 {
        payload.resize(4, 0);
    }
    payload[..4].copy_from_slice(&id.to_le_bytes());
    // Segment 1 is 2 MiB: up to 256 Ki records of 8 bytes.
    let mut ring = Ring::new(ControlConfig::default(), 2 << 20);
    // Heap segment 1 holds the payload too, for records the request places there.
    let block = ring.heap.alloc(4096).expect("a first block");
    let segment = ring.heap.segment(block.segment).expect("segment 1");
    write(&segment, block.offset as usize, &payload[..payload.len().min(4096)]);
    let len = (u64_at(data, 4) as u32).min(ring.config.request_capacity + 1);
    let answer = ring.call(FN_BATCH, len, &payload);
    let f = registry().get(id).expect("ids are dense");
    match answer.status {
        status::OK => {
            assert!(f.batchable, "{} is not batchable, yet its batch ran", f.name);
            let results: &[u8; BUF_SIZE] = answer.payload[..BUF_SIZE].try_into().expect("a buffer reference");
            let results = BufRef::decode(results).expect("reserved word 0");
            let count = u64_at(&payload, 8);
            assert_eq!(results.length, count * f.results.fixed_size.next_multiple_of(8) as u64, "{}", f.name);
        }
        status::ERROR | status::BAD_REQUEST | status::OUT_OF_MEMORY => {}
        other => panic!("batch of {}: status {other}", f.name),
    }
});
