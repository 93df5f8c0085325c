//! Release-queue entries (SPEC §3.4, §5.3) through a real channel: whatever a client writes in the
//! queue and in `release_tail`, the daemon frees exactly the live blocks that valid entries name,
//! skips the rest, never frees a block twice, and moves `release_head` only over a possible tail.
//! The input is a little program: allocate, write entries, move the tail, serve a request (which
//! drains the queue first); after each request the heap is compared with a model of it.

#![no_main]

use std::collections::BTreeSet;

use libfuzzer_sys::fuzz_target;
use shmcall::layout::constants::{status, BUF_SIZE, FN_ALLOC, FN_NOP};
use shmcall::layout::{BufRef, ControlConfig};
use shmcall_fuzz::Ring;

/// A small queue, so that programs wrap around it and overfill it.
const CAPACITY: u32 = 16;

/// What the daemon's heap and queue must hold.
struct Model {
    live: BTreeSet<(u32, u64)>,
    entries: [(u32, u32, u64); CAPACITY as usize],
    head: u64,
    tail: u64,
}

impl Model {
    /// The drain the daemon does before serving a request.
    fn drain(&mut self) {
        if self.tail < self.head || self.tail - self.head > CAPACITY as u64 {
            return; // impossible: ignored
        }
        for i in self.head..self.tail {
            let (segment, reserved, offset) = self.entries[(i % CAPACITY as u64) as usize];
            if reserved == 0 {
                self.live.remove(&(segment, offset));
            }
        }
        self.head = self.tail;
    }
}

struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }

    fn word(&mut self, n: usize) -> u64 {
        (0..n).map_while(|_| self.byte()).enumerate().fold(0, |w, (i, b)| w | (b as u64) << (8 * i))
    }
}

fn serve(ring: &mut Ring, model: &mut Model, function: u32, payload: &[u8]) -> Option<BufRef> {
    let answer = ring.call(function, payload.len() as u32, payload);
    model.drain();
    assert_eq!(ring.release_head(), model.head, "release_head moves over a possible tail only");
    let allocated = (answer.status == status::OK && function == FN_ALLOC).then(|| {
        let b: &[u8; BUF_SIZE] = answer.payload[..BUF_SIZE].try_into().expect("a buffer reference");
        BufRef::decode(b).expect("reserved word 0")
    });
    if let Some(b) = allocated {
        assert!(model.live.insert((b.segment, b.offset)), "block {b:?} handed out while live");
    } else if function == FN_ALLOC {
        assert!(matches!(answer.status, status::OUT_OF_MEMORY | status::BAD_REQUEST), "alloc: {}", answer.status);
    }
    assert_eq!(ring.heap.usage().1, model.live.len(), "the heap's live blocks are the model's");
    allocated
}

fuzz_target!(|data: &[u8]| {
    // Segments of 2 MiB, four at most: programs fill them, grow the heap and reach its limit.
    let mut ring = Ring::new(ControlConfig { release_capacity: CAPACITY, ..ControlConfig::default() }, 8 << 20);
    let mut model = Model { live: BTreeSet::new(), entries: [(0, 0, 0); CAPACITY as usize], head: 0, tail: 0 };
    let mut blocks: Vec<BufRef> = Vec::new();
    let mut input = Input(data);
    while let Some(op) = input.byte() {
        match op % 5 {
            0 => {
                // Allocate up to 64 KiB, or any size at all (rarely possible).
                let size = match input.byte().unwrap_or(0) {
                    0xFF => input.word(8),
                    _ => input.word(2),
                };
                blocks.extend(serve(&mut ring, &mut model, FN_ALLOC, &size.to_le_bytes()));
            }
            1 => {
                // Release entries: blocks handed out (live or freed) or anything at all.
                for _ in 0..input.byte().unwrap_or(0) % 8 {
                    let pick = input.byte().unwrap_or(0) as usize;
                    let entry = match blocks.get(pick) {
                        Some(b) => (b.segment, 0, b.offset),
                        None => (input.word(1) as u32, input.word(1) as u32 % 2, input.word(3)),
                    };
                    ring.write_release(model.tail, entry);
                    model.entries[(model.tail % CAPACITY as u64) as usize] = entry;
                    model.tail = model.tail.wrapping_add(1);
                    ring.set_release_tail(model.tail);
                }
            }
            2 => {
                // Any tail at all: behind the head, past the capacity, or anywhere.
                model.tail = model.head.wrapping_add(input.word(1).wrapping_sub(CAPACITY as u64 * 2));
                ring.set_release_tail(model.tail);
            }
            3 => {
                model.tail = model.head;
                ring.set_release_tail(model.tail);
            }
            _ => {
                serve(&mut ring, &mut model, FN_NOP, &[]);
            }
        }
    }
    serve(&mut ring, &mut model, FN_NOP, &[]);
});
