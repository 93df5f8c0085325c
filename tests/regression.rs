//! One test per fixed bug, named by what broke.

use std::sync::Arc;
use std::time::Duration;

use shmcall::codec::Failure;
use shmcall::heap::{Heap, HeapError, SegmentSink};
use shmcall::kernels;
use shmcall::layout::constants::{self as c, FN_BATCH};
use shmcall::layout::{BufRef, ControlConfig};
use shmcall::ring::{Channel, ChannelServer, ServiceTimes};
use shmcall::sys::Segment;

use crate::support::{call, heap, read_segment, write_segment};

/// `divmod(i64::MIN, -1)` overflows in Rust's `/`; it must be an error, not a panic.
#[test]
fn divmod_min_by_minus_one_is_an_error() {
    let mut payload = i64::MIN.to_le_bytes().to_vec();
    payload.extend_from_slice(&(-1i64).to_le_bytes());
    assert!(matches!(call(&kernels::registry(), &heap(), "divmod", &payload), Err(Failure::Error(_))));
}

/// Found by `decoding::arbitrary_payloads_never_panic`: `circle_points(3_000_000_000)` made the
/// daemon abort on allocation failure. Client-chosen sizes are bounded and reserved fallibly.
#[test]
fn client_chosen_sizes_cannot_abort_the_daemon() {
    let payload = 3_000_000_000u32.to_le_bytes();
    assert!(matches!(call(&kernels::registry(), &heap(), "circle_points", &payload), Err(Failure::Error(_))));
}

/// Found by `decoding::arbitrary_payloads_never_panic` (a debug-build run spinning for 15 minutes):
/// `repeat_bytes(b"", 2**64 - 1)` passed the 1 GiB bound (0 bytes) and then looped `count` times, so
/// one call could hold a daemon thread for good. Empty data now returns at once.
#[test]
fn repeat_bytes_of_nothing_returns_at_once() {
    let mut payload = [0u8; 32];
    BufRef { segment: 0, offset: 32, length: 0 }.encode((&mut payload[..24]).try_into().unwrap());
    payload[24..].copy_from_slice(&u64::MAX.to_le_bytes());
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(call(&kernels::registry(), &heap(), "repeat_bytes", &payload));
    });
    let out = finished.recv_timeout(std::time::Duration::from_secs(30)).expect("repeat_bytes returns");
    let out = out.expect("an empty result");
    assert_eq!(&out[16..24], &0u64.to_le_bytes(), "the result's length is 0");
}

/// Found by the `release` fuzz target: under `--heap-limit`, growing the heap could map a segment
/// twice the size the limit left room for (the smaller size was computed in an inner scope and
/// dropped), so a heap reached up to twice its limit.
#[test]
fn a_heap_never_maps_more_than_its_limit() {
    let limit = 8 << 20;
    let heap = Heap::new("limited".into(), Box::new(Nobody), limit);
    while heap.alloc(1 << 20).is_ok() {
        let mapped: usize = heap.segments().iter().map(|s| s.len()).sum();
        assert!(mapped as u64 <= limit, "{mapped} bytes mapped under a {limit}-byte limit");
    }
    assert!(heap.usage().0 > 0, "the limit leaves room for some blocks");
}

/// Found by the `release` fuzz target: an allocation of nearly 2^64 bytes (`FN_ALLOC`, a size the
/// client picks) overflowed the heap-limit check, a panic outside the daemon's catch of function
/// panics. It is an out-of-memory answer, with a limit or without.
#[test]
fn a_size_near_two_to_the_64_is_out_of_memory() {
    for limit in [8 << 20, 0] {
        let heap = Heap::new("huge".into(), Box::new(Nobody), limit);
        heap.alloc(64).unwrap();
        let huge = u64::MAX - (3 << 20);
        assert!(matches!(heap.alloc(huge), Err(HeapError::OutOfMemory(_))), "limit {limit}");
        assert_eq!(heap.usage().1, 1, "the heap is as it was");
    }
}

/// A heap whose segments go nowhere.
struct Nobody;

impl SegmentSink for Nobody {
    fn announce(&self, _: u32, _: &Segment) -> std::io::Result<()> {
        Ok(())
    }
}

/// Found by the `batch` fuzz target: a batch of 2^60 - 1 calls of a function without parameters (so
/// no argument bytes) asks for 2^64 - 16 bytes of 16-byte results, and the writer's bounds check
/// wrapped around: the results were placed "inline" and zeroed across the daemon's memory (a crash
/// in a release build). It is an out-of-memory answer.
#[test]
fn a_batch_whose_results_cannot_be_addressed_is_refused() {
    let registry = Arc::new(kernels::registry());
    let function = registry.id("multi_return").unwrap();
    let times = Arc::new(ServiceTimes::new(registry.functions().len()));
    let config = ControlConfig::default();
    let channel = Arc::new(Channel::create(0, config, "shmcall-regression").unwrap());
    let mut server = ChannelServer::new(channel.clone(), registry, heap(), times, "test".into(), Duration::ZERO);
    let mut request = Vec::new();
    request.extend_from_slice(&FN_BATCH.to_le_bytes());
    request.extend_from_slice(&40u32.to_le_bytes());
    request.extend_from_slice(&1u64.to_le_bytes()); // seq 1: published
    request.extend_from_slice(&function.to_le_bytes());
    request.extend_from_slice(&0u32.to_le_bytes());
    request.extend_from_slice(&((1u64 << 60) - 1).to_le_bytes()); // count
    let mut records = [0u8; 24];
    BufRef { segment: 0, offset: 40, length: 0 }.encode(&mut records);
    request.extend_from_slice(&records);
    let slot = config.slots_offset();
    write_segment(&channel.control, slot, &request);
    server.serve_pending(false);
    let response = slot + c::REQUEST_HEADER_SIZE + config.request_capacity as usize;
    let header = read_segment(&channel.control, response, c::RESPONSE_HEADER_SIZE);
    assert_eq!(header[8], 1, "the batch is answered");
    assert_eq!(u32::from_le_bytes(header[..4].try_into().unwrap()), c::status::OUT_OF_MEMORY);
}
