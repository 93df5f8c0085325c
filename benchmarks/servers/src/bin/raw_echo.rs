//! The floor of the benchmark suite: the least a shared-memory call can cost a pure-Python client.
//! No protocol, no registry, no heap, no sleeping: a file the parent created (in /dev/shm) holds
//! one request and one response cache line per client slot, and one thread polls every request
//! line in a busy loop. Run as `raw_echo PATH`; prints `READY` once the file is mapped and exits
//! when stdin closes (the parent closed it or died), so it never outlives the benchmark.
//!
//! Layout, 64-byte lines of little-endian u64/i64 words (the file length gives the slot count):
//!
//! | line | words |
//! |---|---|
//! | 0 | unused (header room) |
//! | 1 + 2k: request of slot k | `seq`, `op`, `a`, `b` |
//! | 2 + 2k: response of slot k | `seq`, `status`, `r0`, `r1` |
//!
//! A client writes `op`, `a`, `b`, then `seq` (one aligned 8-byte store, the last); seeing a new
//! `seq`, the server writes `status`, `r0`, `r1`, then `seq` (release). Ops: 1 = add (`r0` = a + b,
//! status 1 on i64 overflow), 2 = multi_return (`r0`, `r1` = 1, 2); any other op gets status 2.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

const LINE: usize = 64;
const OP_ADD: u64 = 1;
const OP_MULTI_RETURN: u64 = 2;

/// The words of one line, as atomics (the other side is another process).
fn words(map: &memmap2::MmapMut, line: usize) -> &[AtomicU64; 8] {
    assert!((line + 1) * LINE <= map.len());
    // SAFETY: the map is page-aligned and at least (line + 1) * 64 bytes long (checked above), so
    // this 64-byte line is in bounds and 8-aligned; AtomicU64 has the layout of u64 and every bit
    // pattern is valid; all access, ours and the client's, is through aligned 8-byte loads/stores.
    unsafe { &*map.as_ptr().add(line * LINE).cast::<[AtomicU64; 8]>() }
}

/// (status, r0, r1) of one request.
fn answer(op: u64, a: i64, b: i64) -> (u64, i64, i64) {
    match op {
        OP_ADD => match a.checked_add(b) {
            Some(r) => (0, r, 0),
            None => (1, 0, 0),
        },
        OP_MULTI_RETURN => (0, 1, 2),
        _ => (2, 0, 0),
    }
}

fn serve(map: &memmap2::MmapMut, stop: &AtomicBool) {
    let slots = (map.len() / LINE).saturating_sub(1) / 2;
    let lines: Vec<(&[AtomicU64; 8], &[AtomicU64; 8])> = (0..slots)
        .map(|k| (words(map, 1 + 2 * k), words(map, 2 + 2 * k)))
        .collect();
    // A fresh session continues its slot's sequence, so the last answered seq is the response's.
    let mut seen: Vec<u64> = lines
        .iter()
        .map(|(_, resp)| resp[0].load(Ordering::Acquire))
        .collect();
    let mut idle = shmcall_bench_servers::IdleSweeps::default();
    while !stop.load(Ordering::Relaxed) {
        let mut busy = false;
        for ((req, resp), last) in lines.iter().zip(seen.iter_mut()) {
            let seq = req[0].load(Ordering::Acquire);
            if seq == *last {
                continue;
            }
            let as_i64 = |w: &AtomicU64| w.load(Ordering::Relaxed) as i64;
            let (status, r0, r1) = answer(
                req[1].load(Ordering::Relaxed),
                as_i64(&req[2]),
                as_i64(&req[3]),
            );
            resp[1].store(status, Ordering::Relaxed);
            // i64 results travel as their two's-complement bits.
            resp[2].store(r0 as u64, Ordering::Relaxed);
            resp[3].store(r1 as u64, Ordering::Relaxed);
            resp[0].store(seq, Ordering::Release);
            *last = seq;
            busy = true;
        }
        idle.after_sweep(busy);
    }
}

fn main() -> std::io::Result<()> {
    shmcall_bench_servers::serve_file("usage: raw_echo PATH", serve)
}
