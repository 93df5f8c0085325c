//! What the fuzz targets share: the built-in functions, a heap whose segments go nowhere, and a
//! real channel driven from this side as a client would drive it (`Ring`).

use std::io;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use shmcall::heap::{Heap, SegmentSink};
use shmcall::kernels;
use shmcall::layout::constants::{self as c, off, slot, status};
use shmcall::layout::ControlConfig;
use shmcall::ring::{Channel, ChannelServer, ServiceTimes};
use shmcall::sys::Segment;
use shmcall::Registry;

/// The built-in functions, made once.
pub fn registry() -> &'static Arc<Registry> {
    static REGISTRY: OnceLock<Arc<Registry>> = OnceLock::new();
    REGISTRY.get_or_init(|| Arc::new(kernels::registry()))
}

/// True for the functions that panic or sleep by design (`panic`, `sleep_ms`): the daemon catches
/// the first and a client asks for the second; neither says anything about decoding.
pub fn by_design(id: u32) -> bool {
    registry().get(id).is_some_and(|f| f.name == "panic" || f.name == "sleep_ms")
}

/// A heap of at most `limit` bytes whose new segments are announced to nobody. A small limit keeps
/// each run quick: a client-chosen size beyond it is an `OUT_OF_MEMORY` answer, and a segment is no
/// larger than the limit, so arrays in it are small.
pub fn heap(limit: u64) -> Arc<Heap> {
    struct Nobody;
    impl SegmentSink for Nobody {
        fn announce(&self, _: u32, _: &Segment) -> io::Result<()> {
            Ok(())
        }
    }
    Arc::new(Heap::new("fuzz".into(), Box::new(Nobody), limit).without_huge_pages())
}

/// Copies `bytes` into `segment` at `at`, as a client writes shared memory.
pub fn write(segment: &Segment, at: usize, bytes: &[u8]) {
    assert!(at + bytes.len() <= segment.len());
    // SAFETY: in bounds (asserted) of a live mapping; the daemon's side runs on this thread only
    // when called, so nothing reads or writes the range meanwhile.
    unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), segment.as_ptr().add(at), bytes.len()) };
}

/// Copies `len` bytes at `at` out of `segment`.
pub fn read(segment: &Segment, at: usize, len: usize) -> Vec<u8> {
    assert!(at + len <= segment.len());
    let mut out = vec![0u8; len];
    // SAFETY: as in `write`, with the private buffer as the destination.
    unsafe { std::ptr::copy_nonoverlapping(segment.as_ptr().add(at), out.as_mut_ptr(), len) };
    out
}

/// A little-endian u64 at `at` of `bytes`, zero past their end.
pub fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    let got = bytes.get(at..).unwrap_or(&[]);
    let n = got.len().min(8);
    w[..n].copy_from_slice(&got[..n]);
    u64::from_le_bytes(w)
}

/// One answered request: its status and payload.
#[derive(Debug)]
pub struct Answer {
    /// The response status.
    pub status: u32,
    /// The response payload.
    pub payload: Vec<u8>,
}

/// A fresh channel and its server (no poller), with this side as the client.
pub struct Ring {
    /// The channel.
    pub channel: Arc<Channel>,
    /// Its server, driven by [`Ring::call`].
    pub server: ChannelServer,
    /// The connection's heap.
    pub heap: Arc<Heap>,
    /// The channel's sizes.
    pub config: ControlConfig,
    heap_limit: u64,
    seq: u64,
}

impl Ring {
    /// A channel of `config` on a fresh heap of at most `heap_limit` bytes.
    pub fn new(config: ControlConfig, heap_limit: u64) -> Ring {
        let registry = registry().clone();
        let times = Arc::new(ServiceTimes::new(registry.functions().len()));
        let channel = Arc::new(Channel::create(0, config, "shmcall-fuzz").expect("channel"));
        let heap = heap(heap_limit);
        let server = ChannelServer::new(channel.clone(), registry, heap.clone(), times, "fuzz".into(), Duration::ZERO);
        Ring { channel, server, heap, config, heap_limit, seq: 0 }
    }

    fn slot_base(&self, seq: u64) -> usize {
        self.config.slots_offset() + ((seq - 1) % self.config.slot_count as u64) as usize * self.config.slot_size()
    }

    /// Publishes the next request (`len` as its length word, `payload` as far as the slot holds it)
    /// and serves it; the server must answer it, and only it.
    pub fn call(&mut self, function: u32, len: u32, payload: &[u8]) -> Answer {
        self.seq += 1;
        let base = self.slot_base(self.seq);
        let control = &self.channel.control;
        let payload = &payload[..payload.len().min(self.config.request_capacity as usize)];
        write(control, base + c::REQUEST_HEADER_SIZE, payload);
        write(control, base + slot::FUNCTION_ID, &function.to_le_bytes());
        write(control, base + slot::REQUEST_LEN, &len.to_le_bytes());
        write(control, base + slot::REQUEST_SEQ, &self.seq.to_le_bytes());
        self.server.serve_pending(false);
        assert_eq!(self.server.consumed(), self.seq, "a published request is served at once");
        let half = base + c::REQUEST_HEADER_SIZE + self.config.request_capacity as usize;
        let header = read(control, half, c::RESPONSE_HEADER_SIZE);
        assert_eq!(u64_at(&header, slot::RESPONSE_SEQ), self.seq, "the response is published");
        let (status, n) = (u64_at(&header, slot::STATUS) as u32, u64_at(&header, slot::RESPONSE_LEN) as u32);
        assert!(status <= status::OUT_OF_MEMORY, "status {status} is none the protocol has");
        assert!(n <= self.config.response_capacity, "response of {n} bytes overflows its slot");
        let mapped: usize = self.heap.segments().iter().map(|s| s.len()).sum();
        assert!(
            mapped as u64 <= self.heap_limit,
            "{mapped} bytes of heap segments, over the {}-byte limit",
            self.heap_limit
        );
        Answer { status, payload: read(control, half + c::RESPONSE_HEADER_SIZE, n as usize) }
    }

    /// Writes release entry `index` (mod the queue's capacity): `(segment, reserved, offset)`.
    pub fn write_release(&self, index: u64, (segment, reserved, offset): (u32, u32, u64)) {
        let at = c::RELEASE_OFFSET + (index % self.config.release_capacity as u64) as usize * c::RELEASE_ENTRY_SIZE;
        let mut entry = [0u8; c::RELEASE_ENTRY_SIZE];
        entry[..4].copy_from_slice(&segment.to_le_bytes());
        entry[4..8].copy_from_slice(&reserved.to_le_bytes());
        entry[8..].copy_from_slice(&offset.to_le_bytes());
        write(&self.channel.control, at, &entry);
    }

    /// Publishes `release_tail`.
    pub fn set_release_tail(&self, tail: u64) {
        write(&self.channel.control, off::RELEASE_TAIL, &tail.to_le_bytes());
    }

    /// The daemon's `release_head`.
    pub fn release_head(&self) -> u64 {
        u64_at(&read(&self.channel.control, off::RELEASE_HEAD, 8), 0)
    }
}
