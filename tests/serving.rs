//! The daemon's end of a ring (`ChannelServer`) on a real channel, with this test as the client:
//! a request is served once, and only once, its slot's seq word is published (SPEC §5.2).

use std::sync::Arc;
use std::time::Duration;

use shmcall::kernels;
use shmcall::layout::constants::{self as c, off, slot};
use shmcall::layout::ControlConfig;
use shmcall::ring::{Channel, ChannelServer, ServiceTimes};

use crate::support::{heap, read_segment, write_segment};

/// A channel with the default configuration and its server (no poller), and the client's hand on
/// its bytes.
struct Ring {
    channel: Arc<Channel>,
    server: ChannelServer,
    add: u32,
}

/// Slots of the test ring: more than the default two, as a client that pipelines would ask for
/// (`shmcalld serve --slots N`), so that several requests can be in flight.
const SLOTS: u32 = 8;

fn config() -> ControlConfig {
    ControlConfig { slot_count: SLOTS, ..Default::default() }
}

impl Ring {
    fn new() -> Ring {
        let registry = Arc::new(kernels::registry());
        let add = registry.id("add").expect("add is built in");
        let times = Arc::new(ServiceTimes::new(registry.functions().len()));
        let channel = Arc::new(Channel::create(0, config(), "shmcall-serving").expect("channel"));
        let server = ChannelServer::new(channel.clone(), registry, heap(), times, "test".into(), Duration::ZERO);
        Ring { channel, server, add }
    }

    fn slot_base(&self, seq: u64) -> usize {
        let cfg = config();
        cfg.slots_offset() + ((seq - 1) % cfg.slot_count as u64) as usize * cfg.slot_size()
    }

    /// The server runs on this thread only when called, so the copies race with nothing.
    fn read_u64(&self, at: usize) -> u64 {
        u64::from_le_bytes(read_segment(&self.channel.control, at, 8).try_into().unwrap())
    }

    /// Writes the request half of `add(a, b)` for `seq`, with `word` in its seq word.
    fn write_add(&self, seq: u64, a: i64, b: i64, word: u64) {
        let mut half = Vec::new();
        half.extend_from_slice(&self.add.to_le_bytes());
        half.extend_from_slice(&16u32.to_le_bytes());
        half.extend_from_slice(&word.to_le_bytes());
        half.extend_from_slice(&a.to_le_bytes());
        half.extend_from_slice(&b.to_le_bytes());
        write_segment(&self.channel.control, self.slot_base(seq), &half);
    }

    /// The response of `seq`: (its seq word, the i64 result).
    fn response(&self, seq: u64) -> (u64, i64) {
        let rb = self.slot_base(seq) + c::REQUEST_HEADER_SIZE + c::DEFAULT_REQUEST_CAPACITY as usize;
        (self.read_u64(rb + slot::RESPONSE_SEQ), self.read_u64(rb + c::RESPONSE_HEADER_SIZE) as i64)
    }
}

#[test]
fn a_request_is_served_only_when_its_seq_word_holds_its_seq() {
    let mut ring = Ring::new();
    ring.server.serve_pending(false);
    assert_eq!(ring.server.consumed(), 0, "a fresh ring has no request");
    let n = SLOTS as u64;
    // Written but not published: zero (as pack_into leaves it), the next lap's seq, garbage.
    for word in [0, 1 + n, u64::MAX] {
        ring.write_add(1, 2, 3, word);
        ring.server.serve_pending(false);
        assert_eq!(ring.server.consumed(), 0, "seq word {word} does not publish request 1");
        assert_eq!(ring.response(1).0, 0, "no response is published");
    }
    assert_eq!(ring.read_u64(off::STARTED), 0, "nothing started");
    ring.write_add(1, 2, 3, 1);
    ring.server.serve_pending(false);
    assert_eq!(ring.server.consumed(), 1);
    assert_eq!(ring.response(1), (1, 5));
    assert_eq!(ring.read_u64(off::STARTED), 1, "the daemon announces what it serves (SPEC §5.4)");
}

#[test]
fn pipelined_requests_are_served_in_one_pass_and_a_gap_stops_it() {
    let mut ring = Ring::new();
    let n = SLOTS as u64;
    // Two laps of the ring, a few requests at a time: 1..=3 published, 4 written but not published.
    let mut seq = 1;
    while seq <= 2 * n {
        for s in seq..seq + 3 {
            ring.write_add(s, s as i64, 1000, s);
        }
        ring.write_add(seq + 3, 0, 0, (seq + 3).saturating_sub(n)); // the slot's previous lap (0 at first)
        ring.server.serve_pending(false);
        assert_eq!(ring.server.consumed(), seq + 2, "served up to the unpublished request");
        for s in seq..seq + 3 {
            assert_eq!(ring.response(s), (s, s as i64 + 1000));
        }
        seq += 3;
    }
}

#[test]
fn a_full_lap_is_served_and_the_ring_wraps_around() {
    let mut ring = Ring::new();
    let n = SLOTS as u64;
    for s in 1..=n {
        ring.write_add(s, 1, 1, s);
    }
    ring.server.serve_pending(false);
    assert_eq!(ring.server.consumed(), n);
    // The client has read the responses and publishes the next lap into the same slots.
    for s in n + 1..=2 * n {
        ring.write_add(s, 2, 2, s);
    }
    ring.server.serve_pending(false);
    assert_eq!(ring.server.consumed(), 2 * n);
    assert_eq!(ring.response(2 * n), (2 * n, 4));
}
